import BinlogApply
import BinlogFormat
import CSQLiteHooks
import Foundation
import GRDB
import GRDBSQLite
import LogshipSystem

/// Where the statement loop is inside a transaction.
struct TransactionState {
    /// True inside BEGIN … COMMIT, or a transaction the loop opened.
    var open = false
    /// True when the loop began the transaction for a SAVEPOINT issued in autocommit mode:
    /// releasing the outermost savepoint then commits it.
    var openedForSavepoint = false
    var savepoints: [(name: String, mark: ChangeCapture.Mark)] = []
    var isIdle: Bool { !open }
}

extension Master {
    /// Runs SQL text: statements in autocommit mode, or explicit BEGIN … COMMIT blocks
    /// (SAVEPOINT, RELEASE and ROLLBACK TO included). Each committed transaction that changed
    /// something gets an LSN, reported through `onCommit` once it is durable. Result rows of
    /// queries go to `onRow`. At the first failing statement the open transaction is rolled
    /// back, nothing of it is logged, and the error names the statement; transactions
    /// committed before it stay committed. A transaction still open at the end of the text
    /// is rolled back and reported as an error.
    @discardableResult
    public func execute(_ sql: String, onRow: ((Row) -> Void)? = nil, onCommit: ((CommitInfo) -> Void)? = nil) throws -> [CommitInfo] {
        try ensureOpen()
        var commits: [CommitInfo] = []
        try exclusive { try queue.inDatabase { db in
            let cursor: SQLStatementCursor
            do { cursor = try db.allStatements(sql: sql) } catch { throw sqlError(error, statement: sql, db: db) }
            while true {
                let next: (Statement, StatementKind)?
                do {
                    next = try statementGuard.prepare(db) { try cursor.next() }
                } catch {
                    try abortTransaction(db)
                    throw sqlError(error, statement: nil, db: db)
                }
                guard let (statement, kind) = next else { break }
                do {
                    if let info = try run(statement, kind, db, onRow: onRow) {
                        if let unacknowledged = awaitAcknowledgement(info.lsn) { throw unacknowledged }
                        commits.append(info)
                        onCommit?(info)
                    }
                } catch let kept as KeptRowsFailure {
                    if let unacknowledged = awaitAcknowledgement(kept.info.lsn) { throw unacknowledged }
                    commits.append(kept.info)
                    onCommit?(kept.info)
                    throw kept.error
                }
            }
            if state.open {
                try abortTransaction(db)
                throw MasterError(.sql, "the input ends inside a transaction that was never committed; it was rolled back",
                                  hint: "end the block with COMMIT")
            }
        } }
        return commits
    }

    /// Runs `body` in one transaction and commits it through the binlog. Statements in
    /// `body` go through the same capture as `execute`; a thrown error rolls back (this
    /// transaction only). Calls from concurrent threads share fsyncs (group commit); the call
    /// returns once the transaction is durable and committed.
    @discardableResult
    public func transaction(_ body: (MasterTransaction) throws -> Void) throws -> CommitInfo? {
        try write(body).commit
    }

    /// One statement of the loop, of `kind` (StatementGuard); returns commit info when it
    /// committed a logged transaction.
    func run(_ statement: Statement, _ kind: StatementKind, _ db: Database, onRow: ((Row) -> Void)?) throws -> CommitInfo? {
        // GRDB's `sql` trims the text, which costs more than the rest of a single-row statement's
        // handling: only messages and DDL use it.
        var sql: String { statement.sql }
        switch kind {
        case .begin:
            guard !state.open else { throw failure(MasterError(.sql, "cannot BEGIN inside a transaction: \(sql)"), db) }
            try step(statement, db, onRow: nil)
            state.open = true
            return nil
        case .commit:
            guard state.open else { throw MasterError(.sql, "COMMIT without BEGIN: \(sql)") }
            return try commit(db)
        case .rollback:
            guard state.open else { throw MasterError(.sql, "ROLLBACK without BEGIN: \(sql)") }
            try abortTransaction(db)
            return nil
        case .savepoint(let name):
            if !state.open {
                try beginTransaction(db)
                state.openedForSavepoint = true
            }
            let mark = capture.mark
            try step(statement, db, onRow: nil)
            state.savepoints.append((name, mark))
            return nil
        case .release(let name):
            guard let index = state.savepoints.lastIndex(where: { StatementKind.sameName($0.name, name) }) else {
                throw failure(MasterError(.sql, "no such savepoint: \(name)"), db)
            }
            try step(statement, db, onRow: nil)
            state.savepoints.removeSubrange(index...)
            if state.savepoints.isEmpty && state.openedForSavepoint { return try commit(db) }
            return nil
        case .rollbackTo(let name):
            guard let index = state.savepoints.lastIndex(where: { StatementKind.sameName($0.name, name) }) else {
                throw failure(MasterError(.sql, "no such savepoint: \(name)"), db)
            }
            try step(statement, db, onRow: nil)
            let droppedDDL = capture.ddlCount > state.savepoints[index].mark.ddl
            capture.rollback(to: state.savepoints[index].mark)
            state.savepoints.removeSubrange((index + 1)...)
            if droppedDDL { try reloadDescriptors(db) }
            return nil
        case .outsideTransaction:
            // SQLite refuses those that cannot run inside a transaction (ATTACH, VACUUM INTO).
            try step(statement, db, onRow: onRow)
            return nil
        case .ddl(let creates):
            let autocommit = !state.open
            if autocommit { try beginTransaction(db) }
            let schemaBefore = try schemaVersion(db)
            let tablesBefore = try userTables(db)
            try step(statement, db, onRow: onRow)
            db.clearSchemaCache()   // GRDB's authorizer, which would clear it, is replaced by the guard
            if try schemaVersion(db) != schemaBefore {
                // ALTER TABLE … RENAME TO names its new name to no authorizer: a table renamed into
                // logship's reserved prefix would no longer be captured.
                if let reserved = try userTables(db).keys.first(where: { tablesBefore[$0] == nil && $0.lowercased().hasPrefix(AppliedPosition.internalTablePrefix) }) {
                    throw failure(StatementGuard.internalTableRefusal(reserved), db)
                }
                do { try recordDDL(sql, creates: creates, tablesBefore: tablesBefore, db) } catch { throw failure(sqlError(error, statement: sql, db: db), db) }
            }
            do { try capture.checkDescribed() } catch { throw failure(error, db) }
            return autocommit ? try commit(db) : nil
        case .other:
            if statement.isReadonly {
                try step(statement, db, onRow: onRow)
                return nil
            }
            let autocommit = !state.open
            if autocommit { try beginTransaction(db) }
            do { try stepRows(statement, onRow: onRow) } catch {
                let failed = sqlError(error, statement: sql, db: db)
                if autocommit { try commitKeptRows(failed, db) }
                throw failure(failed, db)
            }
            do { try capture.checkDescribed() } catch { throw failure(error, db) }
            return autocommit ? try commit(db) : nil
        }
    }

    /// Steps a statement to completion; on failure rolls back the open transaction.
    func step(_ statement: Statement, _ db: Database, onRow: ((Row) -> Void)?) throws {
        do { try stepRows(statement, onRow: onRow) } catch {
            throw failure(sqlError(error, statement: statement.sql, db: db), db)
        }
    }

    private func stepRows(_ statement: Statement, onRow: ((Row) -> Void)?) throws {
        if statement.columnCount > 0 {
            let rows = try Row.fetchCursor(statement)
            while let row = try rows.next() { onRow?(row) }
        } else {
            try statement.execute()
        }
    }

    /// In autocommit mode SQLite keeps, and commits, what a failing statement changed before
    /// the failure when the conflict resolution that stopped it is FAIL (INSERT OR FAIL,
    /// UPDATE OR FAIL, a constraint's ON CONFLICT FAIL, RAISE(FAIL) in a trigger); under ABORT
    /// it undoes the statement and under ROLLBACK the transaction. The master does the same:
    /// sqlite3_changes() is the failed statement's kept row count (0 when SQLite undid it), and
    /// the rows captured are exactly the ones kept. Throws `KeptRowsFailure` after committing
    /// them; returns when nothing was kept.
    private func commitKeptRows(_ failed: Error, _ db: Database) throws {
        guard db.isInsideTransaction, sqlite3_changes(db.sqliteConnection) > 0, !capture.isEmpty else { return }
        do { try capture.checkDescribed() } catch { throw failure(error, db) }
        guard let info = try commit(db) else { return }
        let base = failed as? MasterError ?? MasterError(.sql, "\(failed)")
        throw KeptRowsFailure(info: info, error: MasterError(.sql, base.message + " (as SQLite does under ON CONFLICT FAIL, the rows the statement changed before the failure were kept: committed at LSN \(info.lsn))",
                                                          hint: "the statements after it did not run"))
    }

    private func failure(_ error: Error, _ db: Database) -> Error {
        // Inside a commit group, the member is rolled back to its savepoint by its caller: a
        // plain ROLLBACK here would drop the other members' transactions.
        if inGroupMember { return error }
        try? abortTransaction(db)
        return error
    }

    func beginTransaction(_ db: Database) throws {
        do { try db.cachedStatement(sql: "BEGIN IMMEDIATE").execute() } catch { throw sqlError(error, statement: "BEGIN IMMEDIATE", db: db) }
        state.open = true
        capture.clear()
    }

    func abortTransaction(_ db: Database) throws {
        let hadDDL = capture.ddlCount > 0
        defer {
            state = TransactionState()
            capture.clear()
        }
        if db.isInsideTransaction { try db.execute(sql: "ROLLBACK") }
        // The schema went back to what it was: so must the descriptors.
        if hadDDL { try reloadDescriptors(db) }
    }

    func reloadDescriptors(_ db: Database) throws {
        capture.descriptors = try ChangeCapture.loadDescriptors(db)
    }

    /// The commit protocol: LSN and position row, frame appended and fsynced, then the
    /// SQLite COMMIT. If the commit fails the frame is cut off again; if appending fails
    /// the database rolls back. Either way nothing is acknowledged.
    func commit(_ db: Database) throws -> CommitInfo? {
        precondition(!inGroupMember, "a group member commits with its group")
        if capture.isEmpty && !digestSchedule.forced {
            defer { state = TransactionState() }
            do { try db.execute(sql: "COMMIT") } catch { throw failure(sqlError(error, statement: "COMMIT", db: db), db) }
            return nil
        }
        // SQLite checks deferred foreign keys only when COMMIT runs, after the frame is durable:
        // a crash in between would have recovery redo a transaction SQLite refuses. Refused here,
        // before anything reaches the binlog.
        var deferredViolations: Int32 = 0
        let rc = lsh_deferred_foreign_keys(db.sqliteConnection, &deferredViolations)
        guard rc == SQLITE_OK, deferredViolations == 0 else {
            throw failure(MasterError(.sql, rc == SQLITE_OK ? "FOREIGN KEY constraint failed: COMMIT (\(deferredViolations) deferred foreign key violation\(deferredViolations == 1 ? "" : "s") outstanding)"
                                        : "unable to count deferred foreign key violations: \(String(cString: sqlite3_errstr(rc)))",
                                      hint: "the transaction was rolled back; nothing was logged"), db)
        }
        let lsn = lastLSN + 1
        // Commit times never go back, even when the clock does, so a time indexes into LSNs.
        let commitTime = max(microsecondsNow(), lastCommitTime)
        do { try appendDigestIfDue(db, lsn: lsn, commitTime: commitTime) } catch { throw failure(liftFormat(error, "computing the digest marker of LSN \(lsn)"), db) }
        let encoded = capture.encoder.finish()
        let w: SegmentWriter
        let before: (length: Int64, lsn: UInt64, time: Int64, frames: UInt64)
        do {
            try writePosition(db, lsn: lsn, commitTime: commitTime)
            w = try activeWriter()
            before = (w.length, w.lastLSN, w.lastCommitTime, w.frameCount)
            try w.append(lsn: lsn, commitTime: commitTime, encoded: encoded)
        } catch {
            throw failure(liftFormat(error, "appending LSN \(lsn) to the binlog"), db)
        }
        let events = encoded.eventCount
        commitsSinceSync += 1
        var synced = false
        do {
            if syncBinlog == 1 || (syncBinlog > 1 && commitsSinceSync >= syncBinlog) {
                try syncLatency.time { try w.sync() }
                commitsSinceSync = 0
                synced = true
            }
        } catch {
            undoAppend(w, before, events: events)
            throw failure(liftFormat(error, "syncing LSN \(lsn) to the binlog"), db)
        }
        CrashPoint.reach("master.before-commit")   // fault injection, see CrashPoint
        do {
            try db.cachedStatement(sql: "COMMIT").execute()
        } catch {
            // SQLite refused the commit (a deferred foreign key, a full disk): the frame is not
            // acknowledged, so it is cut off again and the LSN is reused.
            undoAppend(w, before, events: events)
            throw failure(sqlError(error, statement: "COMMIT", db: db), db)
        }
        state = TransactionState()
        capture.encoder.commitStaged()
        capture.clear()
        lastLSN = lsn
        lastCommitTime = commitTime
        digestCommitted(lsn: lsn, commitTime: commitTime)
        // Durable as far as this master knows only once committed: an fsync of frames that are
        // then undone says nothing about the LSN's next transaction.
        if synced { durableLSN = lsn }
        publishCommitMark()
        if w.length >= segmentSize {
            // The transaction is committed and durable; a failed seal is retried on the next commit.
            _ = try? sealActive()
        }
        return CommitInfo(lsn: lsn, commitTime: commitTime, events: events)
    }

    /// The master's position row (AppliedPosition's row and columns), written in every logged
    /// transaction: bound and stepped through the C API, as GRDB's argument handling was half
    /// the cost of this write on each durable single-row commit.
    func writePosition(_ db: Database, lsn: UInt64, commitTime: Int64) throws {
        let sql = "UPDATE \(AppliedPosition.tableName) SET lsn = ?1, commit_time = ?2, applied_at = ?2 WHERE id = 1"
        let stmt = try db.cachedStatement(sql: sql).sqliteStatement
        var rc = sqlite3_bind_int64(stmt, 1, Int64(bitPattern: lsn))
        if rc == SQLITE_OK { rc = sqlite3_bind_int64(stmt, 2, commitTime) }
        guard rc == SQLITE_OK else { throw DatabaseError(resultCode: ResultCode(rawValue: rc), message: "cannot bind the position", sql: sql) }
        rc = sqlite3_step(stmt)
        let failure = rc == SQLITE_DONE ? nil
            : DatabaseError(resultCode: ResultCode(rawValue: sqlite3_extended_errcode(db.sqliteConnection)),
                            message: String(cString: sqlite3_errmsg(db.sqliteConnection)), sql: sql)
        sqlite3_reset(stmt)
        if let failure { throw failure }
        guard sqlite3_changes(db.sqliteConnection) == 1 else { throw MasterError(.binlog, "the database's position row is missing") }
    }

    private func undoAppend(_ w: SegmentWriter, _ before: (length: Int64, lsn: UInt64, time: Int64, frames: UInt64), events: Int) {
        try? w.undoLastAppend(previousLength: before.length, previousLSN: before.lsn, previousCommitTime: before.time,
                              frames: w.frameCount - before.frames, events: UInt64(events))
        // The descriptors this transaction introduced never reached the file.
        capture.encoder.startSegment()
    }

    func liftFormat(_ error: Error, _ operation: String) -> Error {
        if let e = error as? FormatError { return MasterError(e, while: operation) }
        if let e = error as? SystemError { return MasterError(e, while: operation) }
        if let e = error as? DatabaseError { return MasterError(isDiskFull(e, under: directory.path) ? .diskFull : .io, "\(operation): \(e)") }
        return error
    }

    func sqlError(_ error: Error, statement: String?, db: Database) -> Error {
        guard let e = error as? DatabaseError else { return error }
        let shown = (statement ?? e.sql).map { ": " + ($0.count > 300 ? String($0.prefix(300)) + "…" : $0) } ?? ""
        if isDiskFull(e, under: directory.path) {
            return MasterError(.diskFull, "\(e.message ?? "database or disk is full")\(shown)",
                               hint: "free space and run again; the transaction was rolled back and nothing was logged")
        }
        if e.resultCode == .SQLITE_IOERR { return MasterError(.io, "\(e.message ?? "\(e)")\(shown)") }
        return MasterError(.sql, "\(e.message ?? "\(e)")\(shown)", hint: "the transaction was rolled back; nothing was logged")
    }
}

/// A statement failed after SQLite kept part of its changes (ON CONFLICT FAIL in autocommit
/// mode): they were committed as `info`; `error` is the statement's failure.
struct KeptRowsFailure: Error {
    var info: Master.CommitInfo
    var error: MasterError
}

/// Writes inside `Master.transaction { … }`: statements go through the master's capture.
public struct MasterTransaction {
    let master: Master
    let db: Database

    /// Runs one or more statements (no BEGIN, COMMIT, ROLLBACK or SAVEPOINT here).
    public func execute(_ sql: String, arguments: StatementArguments = StatementArguments()) throws {
        let statements = try db.allStatements(sql: sql, arguments: arguments)
        while let (statement, kind) = try master.statementGuard.prepare(db, { try statements.next() }) {
            switch kind {
            case .begin, .commit, .rollback, .savepoint, .release, .rollbackTo, .outsideTransaction:
                throw MasterError(.invalid, "transaction control is not allowed inside Master.transaction: \(statement.sql)")
            case .ddl, .other:
                _ = try master.run(statement, kind, db, onRow: nil)
            }
        }
    }

    /// Prepares a statement for repeated writes (bulk loads).
    public func prepare(_ sql: String) throws -> Statement {
        guard let (statement, kind) = try master.statementGuard.prepare(db, { try db.makeStatement(sql: sql) }), kind == .other else {
            throw MasterError(.invalid, "only data statements can be prepared for repeated writes: \(sql)")
        }
        return statement
    }

    /// Executes a prepared data statement with `arguments`.
    public func execute(_ statement: Statement, arguments: StatementArguments) throws {
        do { try statement.execute(arguments: arguments) } catch {
            throw master.sqlError(error, statement: statement.sql, db: db)
        }
    }

    /// Steps a prepared data statement whose parameters were bound through the C API
    /// (`RowSource.bindNext`), then resets it for the next row.
    func stepBound(_ statement: Statement) throws {
        let stmt = statement.sqliteStatement
        var rc = sqlite3_step(stmt)
        while rc == SQLITE_ROW { rc = sqlite3_step(stmt) }
        if rc == SQLITE_DONE {
            sqlite3_reset(stmt)
            try master.capture.checkDescribed()
            return
        }
        let error = DatabaseError(resultCode: ResultCode(rawValue: sqlite3_extended_errcode(db.sqliteConnection)),
                                  message: String(cString: sqlite3_errmsg(db.sqliteConnection)), sql: statement.sql)
        sqlite3_reset(stmt)
        throw master.sqlError(error, statement: statement.sql, db: db)
    }

    /// Read access inside the transaction.
    public var database: Database { db }
}
