import BinlogApply
import BinlogFormat
import Foundation
import GRDB
import GRDBSQLite

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
        try queue.inDatabase { db in
            let cursor: SQLStatementCursor
            do { cursor = try db.allStatements(sql: sql) } catch { throw sqlError(error, statement: sql, db: db) }
            while true {
                let statement: Statement
                do {
                    guard let next = try cursor.next() else { break }
                    statement = next
                } catch {
                    try abortTransaction(db)
                    throw sqlError(error, statement: nil, db: db)
                }
                if let info = try run(statement, db, onRow: onRow) {
                    commits.append(info)
                    onCommit?(info)
                }
            }
            if state.open {
                try abortTransaction(db)
                throw MasterError(.sql, "the input ends inside a transaction that was never committed; it was rolled back",
                                  hint: "end the block with COMMIT")
            }
        }
        return commits
    }

    /// Runs `body` in one transaction and commits it through the binlog. Statements in
    /// `body` go through the same capture as `execute`; a thrown error rolls back.
    @discardableResult
    public func transaction(_ body: (MasterTransaction) throws -> Void) throws -> CommitInfo? {
        try ensureOpen()
        return try queue.inDatabase { db in
            guard state.isIdle else { throw MasterError(.invalid, "a transaction is already open") }
            try beginTransaction(db)
            do {
                try body(MasterTransaction(master: self, db: db))
                return try commit(db)
            } catch {
                try? abortTransaction(db)
                throw error
            }
        }
    }

    /// One statement of the loop; returns commit info when it committed a logged transaction.
    func run(_ statement: Statement, _ db: Database, onRow: ((Row) -> Void)?) throws -> CommitInfo? {
        // Classified from SQLite's own copy of the text: GRDB's `sql` trims it, which costs more
        // than the rest of the classification; messages and DDL use the trimmed text.
        let kind = StatementKind.classify(String(cString: sqlite3_sql(statement.sqliteStatement)))
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
            if StatementKind.leadingWords(sql, count: 2).map({ $0.uppercased() }) == ["VACUUM"] || sql.uppercased().trimmingCharacters(in: .whitespaces) == "VACUUM" {
                throw failure(MasterError(.sql, "VACUUM is refused on a master: it renumbers the rowids of tables without an INTEGER PRIMARY KEY, and replicas address rows by rowid",
                                          hint: "use VACUUM INTO for a compacted copy, or PRAGMA incremental_vacuum (with auto_vacuum) to return free pages"), db)
            }
            if state.open && !sql.uppercased().hasPrefix("PRAGMA") {
                throw failure(MasterError(.sql, "\(sql.prefix(20)) cannot run inside a transaction"), db)
            }
            try step(statement, db, onRow: onRow)
            return nil
        case .ddl, .other:
            if statement.isReadonly && kind == .other {
                try step(statement, db, onRow: onRow)
                return nil
            }
            let autocommit = !state.open
            if autocommit { try beginTransaction(db) }
            let schemaBefore = kind == .ddl ? try schemaVersion(db) : 0
            let tablesBefore = kind == .ddl ? try userTables(db) : [:]
            try step(statement, db, onRow: onRow)
            if kind == .ddl, try schemaVersion(db) != schemaBefore {
                do { try recordDDL(sql, tablesBefore: tablesBefore, db) } catch { throw failure(sqlError(error, statement: sql, db: db), db) }
            }
            do { try capture.checkDescribed() } catch { throw failure(error, db) }
            return autocommit ? try commit(db) : nil
        }
    }

    /// Steps a statement to completion; on failure rolls back the open transaction.
    func step(_ statement: Statement, _ db: Database, onRow: ((Row) -> Void)?) throws {
        do {
            if statement.columnCount > 0 {
                let rows = try Row.fetchCursor(statement)
                while let row = try rows.next() { onRow?(row) }
            } else {
                try statement.execute()
            }
        } catch {
            throw failure(sqlError(error, statement: statement.sql, db: db), db)
        }
    }

    private func failure(_ error: Error, _ db: Database) -> Error {
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

    /// Logs a schema change. A table created with rows in the same statement (CREATE TABLE …
    /// AS SELECT, whose inserts SQLite does not pass to the pre-update hook) is logged as its
    /// plain definition from sqlite_schema followed by INSERT events for the rows it got, so a
    /// replica never re-runs the SELECT (which may read random() or other tables).
    private func recordDDL(_ sql: String, tablesBefore: [String: String], _ db: Database) throws {
        try reloadDescriptors(db)
        // Only CREATE can fill a new table; ALTER TABLE … RENAME makes a "new" name with old rows.
        let isCreate = StatementKind.leadingWords(sql, count: 1).first?.uppercased() == "CREATE"
        let created = isCreate ? try userTables(db).filter { tablesBefore[$0.key] == nil } : [:]
        var filled: [(String, String)] = []
        for (name, definition) in created.sorted(by: { $0.key < $1.key }) where try hasRows(name, db) {
            filled.append((name, definition))
        }
        guard !filled.isEmpty else {
            capture.recordDDL(sql)
            return
        }
        for (name, definition) in filled {
            capture.recordDDL(definition)
            guard let table = capture.descriptors[name] else { continue }
            let quoted = quotedIdentifier(name)
            let rows = try Row.fetchCursor(db, sql: "SELECT rowid, * FROM \(quoted) ORDER BY rowid")
            while let row = try rows.next() {
                let all = Array(row.databaseValues)
                capture.recordInsert(table: table, rowid: row[0], values: all.dropFirst().map(ChangeCapture.value))
            }
        }
    }

    private func userTables(_ db: Database) throws -> [String: String] {
        var result: [String: String] = [:]
        for row in try Row.fetchAll(db, sql: "SELECT name, sql FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'") {
            result[row[0]] = row[1]
        }
        return result
    }

    private func hasRows(_ table: String, _ db: Database) throws -> Bool {
        let quoted = quotedIdentifier(table)
        return try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM \(quoted))") ?? false
    }

    private func schemaVersion(_ db: Database) throws -> Int64 {
        try Int64.fetchOne(db, sql: "PRAGMA main.schema_version") ?? 0
    }

    /// The commit protocol: LSN and position row, frame appended and fsynced, then the
    /// SQLite COMMIT. If the commit fails the frame is cut off again; if appending fails
    /// the database rolls back. Either way nothing is acknowledged.
    func commit(_ db: Database) throws -> CommitInfo? {
        if capture.isEmpty && !digestSchedule.forced {
            defer { state = TransactionState() }
            do { try db.execute(sql: "COMMIT") } catch { throw failure(sqlError(error, statement: "COMMIT", db: db), db) }
            return nil
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
        do {
            if syncBinlog == 1 || (syncBinlog > 1 && commitsSinceSync >= syncBinlog) {
                try w.sync()
                commitsSinceSync = 0
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
        if w.length >= segmentSize {
            // The transaction is committed and durable; a failed seal is retried on the next commit.
            _ = try? sealActive()
        }
        return CommitInfo(lsn: lsn, commitTime: commitTime, events: events)
    }

    /// The master's position row (AppliedPosition's row and columns), written in every logged
    /// transaction: bound and stepped through the C API, as GRDB's argument handling was half
    /// the cost of this write on each durable single-row commit.
    private func writePosition(_ db: Database, lsn: UInt64, commitTime: Int64) throws {
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

    private func liftFormat(_ error: Error, _ operation: String) -> Error {
        if let e = error as? FormatError { return MasterError(e, while: operation) }
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

/// True when `e` means the file system under `directory` is full: SQLITE_FULL, or SQLITE_IOERR
/// on a nearly full file system (`fileSystemIsNearlyFull`).
func isDiskFull(_ e: DatabaseError, under directory: String) -> Bool {
    e.resultCode == .SQLITE_FULL || (e.resultCode == .SQLITE_IOERR && fileSystemIsNearlyFull(directory))
}

/// Writes inside `Master.transaction { … }`: statements go through the master's capture.
public struct MasterTransaction {
    let master: Master
    let db: Database

    /// Runs one or more statements (no BEGIN, COMMIT, ROLLBACK or SAVEPOINT here).
    public func execute(_ sql: String, arguments: StatementArguments = StatementArguments()) throws {
        let statements = try db.allStatements(sql: sql, arguments: arguments)
        while let statement = try statements.next() {
            switch StatementKind.classify(statement.sql) {
            case .begin, .commit, .rollback, .savepoint, .release, .rollbackTo, .outsideTransaction:
                throw MasterError(.invalid, "transaction control is not allowed inside Master.transaction: \(statement.sql)")
            case .ddl, .other:
                _ = try master.run(statement, db, onRow: nil)
            }
        }
    }

    /// Prepares a statement for repeated writes (bulk loads).
    public func prepare(_ sql: String) throws -> Statement {
        let statement = try db.makeStatement(sql: sql)
        guard StatementKind.classify(sql) == .other else {
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
