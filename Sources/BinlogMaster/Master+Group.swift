import BinlogFormat
import CSQLiteHooks
import Foundation
import GRDB
import GRDBSQLite
import LogshipSystem

/// One transaction of a commit group: filled in by whoever commits the group, read by the
/// caller that waits for it (both under `Master.groupCondition`).
final class GroupTicket {
    let info: Master.CommitInfo
    var error: Error?
    var done = false
    init(info: Master.CommitInfo) { self.info = info }
}

/// The commit group open in SQLite: one `BEGIN IMMEDIATE` transaction whose members are
/// savepoints, their frames appended to `writer` but not yet synced.
struct OpenGroup {
    var tickets: [GroupTicket] = []
    var lastLSN: UInt64
    var lastCommitTime: Int64
    var events = 0
    var writer: SegmentWriter?
    /// The active segment before the group's first append (to cut the group off again).
    var before: (length: Int64, lsn: UInt64, time: Int64, frames: UInt64)?
}

extension Master {
    /// What `write` returns: the body's value and the commit it made (nil when it changed nothing).
    public struct Committed<Value> {
        public var value: Value
        public var commit: CommitInfo?
    }

    /// Runs `body` in one transaction, commits it through the binlog and returns the body's value
    /// with the commit (as GRDB's `write` does). Concurrent callers are group-committed: each body
    /// runs on its caller's thread, as a savepoint of the group's SQLite transaction; the group's
    /// frames are appended, fsynced once, then SQLite commits, and only then does each call return.
    /// A body that throws rolls back its own changes only; LSNs are gapless, in commit order.
    public func write<T>(_ body: (MasterTransaction) throws -> T) throws -> Committed<T> {
        try ensureOpen()
        let me = pthread_self()
        groupCondition.lock()
        if slotBusy, let owner = slotOwner, pthread_equal(owner, me) != 0 {
            groupCondition.unlock()
            throw MasterError(.invalid, "a transaction is already open")
        }
        waitingMembers += 1
        while slotBusy || waitingExclusive > 0 { groupCondition.wait() }
        waitingMembers -= 1
        slotBusy = true
        slotOwner = me
        groupCondition.unlock()

        var outcome: Result<(T, GroupTicket?), Error>
        do {
            try ensureOpen()
            outcome = .success(try queue.inDatabase { db in try runMember(db, body) })
        } catch { outcome = .failure(error) }

        // The last of the members waiting now commits the group; the others leave it open for them.
        groupCondition.lock()
        let commitNow = openGroup != nil && (waitingMembers == 0 || waitingExclusive > 0 || openGroup!.tickets.count >= maxGroupSize)
        groupCondition.unlock()
        if commitNow { queue.inDatabase { db in commitGroup(db) } }

        groupCondition.lock()
        slotBusy = false
        slotOwner = nil
        groupCondition.broadcast()
        if case .success(let (_, ticket?)) = outcome {
            while !ticket.done { groupCondition.wait() }
        }
        groupCondition.unlock()
        switch outcome {
        case .failure(let error): throw error
        case .success(let (value, ticket)):
            if let error = ticket?.error { throw error }
            return Committed(value: value, commit: ticket?.info)
        }
    }

    /// Commit groups made durable by this open master and the logged transactions in them
    /// (`execute`'s commits, which are not grouped, are not counted).
    public var groupStatistics: (groups: Int, transactions: Int) {
        groupCondition.lock()
        defer { groupCondition.unlock() }
        return groupCounts
    }

    /// Threads waiting to run a transaction body (tests wait on it to build a group deterministically).
    var waitingMemberCount: Int {
        groupCondition.lock()
        defer { groupCondition.unlock() }
        return waitingMembers
    }

    /// Runs `work` with the connection to itself, after committing the open group (if any).
    func exclusive<R>(_ work: () throws -> R) throws -> R {
        let me = pthread_self()
        groupCondition.lock()
        if slotBusy, let owner = slotOwner, pthread_equal(owner, me) != 0 {
            groupCondition.unlock()
            throw MasterError(.invalid, "cannot run this inside a transaction of the same master")
        }
        waitingExclusive += 1
        while slotBusy { groupCondition.wait() }
        waitingExclusive -= 1
        slotBusy = true
        slotOwner = me
        groupCondition.unlock()
        defer {
            groupCondition.lock()
            slotBusy = false
            slotOwner = nil
            groupCondition.broadcast()
            groupCondition.unlock()
        }
        if openGroup != nil { queue.inDatabase { db in commitGroup(db) } }
        return try work()
    }

    /// One member: BEGIN (the group's first) or SAVEPOINT, the body, then its frame appended.
    private func runMember<T>(_ db: Database, _ body: (MasterTransaction) throws -> T) throws -> (T, GroupTicket?) {
        let joining = openGroup != nil
        if joining {
            do { try db.cachedStatement(sql: "SAVEPOINT logship_member").execute() } catch { throw sqlError(error, statement: "SAVEPOINT", db: db) }
            capture.clear()
            state.open = true
        } else {
            try beginTransaction(db)
            openGroup = OpenGroup(lastLSN: lastLSN, lastCommitTime: lastCommitTime)
        }
        inGroupMember = true
        defer {
            inGroupMember = false
            state = TransactionState()
        }
        let value: T
        let ticket: GroupTicket?
        do {
            value = try body(MasterTransaction(master: self, db: db))
            ticket = try appendMember(db)
        } catch {
            rollbackMember(db, joining: joining, error)
            throw error
        }
        if joining {
            do { try db.cachedStatement(sql: "RELEASE logship_member").execute() } catch {
                let e = sqlError(error, statement: "RELEASE", db: db)
                failGroup(db, e)
                throw e
            }
        }
        return (value, ticket)
    }

    /// The member's LSN, position row, digest marker and frame (appended, not synced).
    private func appendMember(_ db: Database) throws -> GroupTicket? {
        if capture.isEmpty && !digestSchedule.forced { return nil }
        try capture.checkDescribed()
        // Deferred foreign keys: SQLite counts them per savepoint, so a nonzero count here is this
        // member's (the members before it left none). Refused before anything is logged.
        var deferredViolations: Int32 = 0
        let rc = lsh_deferred_foreign_keys(db.sqliteConnection, &deferredViolations)
        guard rc == SQLITE_OK, deferredViolations == 0 else {
            throw MasterError(.sql, rc == SQLITE_OK ? "FOREIGN KEY constraint failed: COMMIT (\(deferredViolations) deferred foreign key violation\(deferredViolations == 1 ? "" : "s") outstanding)"
                                : "unable to count deferred foreign key violations: \(String(cString: sqlite3_errstr(rc)))",
                              hint: "the transaction was rolled back; nothing was logged")
        }
        guard var group = openGroup else { throw MasterError(.invalid, "no commit group is open") }
        let lsn = group.lastLSN + 1
        let commitTime = max(microsecondsNow(), group.lastCommitTime)
        do { try appendDigestIfDue(db, lsn: lsn, commitTime: commitTime) } catch { throw liftFormat(error, "computing the digest marker of LSN \(lsn)") }
        let encoded = capture.encoder.finish()
        do {
            try writePosition(db, lsn: lsn, commitTime: commitTime)
            let w = try activeWriter()
            if group.before == nil {
                group.before = (w.length, w.lastLSN, w.lastCommitTime, w.frameCount)
                group.writer = w
            }
            try w.append(lsn: lsn, commitTime: commitTime, encoded: encoded)
        } catch {
            throw liftFormat(error, "appending LSN \(lsn) to the binlog")
        }
        // Later members of the group may use the tables this one described.
        capture.encoder.commitStaged()
        // The schedule moves on at append time (a group undone later only shifts the next marker).
        digestCommitted(lsn: lsn, commitTime: commitTime)
        let ticket = GroupTicket(info: CommitInfo(lsn: lsn, commitTime: commitTime, events: encoded.eventCount))
        group.tickets.append(ticket)
        group.lastLSN = lsn
        group.lastCommitTime = commitTime
        group.events += encoded.eventCount
        openGroup = group
        return ticket
    }

    /// Undoes a failed member: ROLLBACK TO its savepoint, or a plain ROLLBACK when it opened the
    /// group (nobody else is in it). If SQLite rolled back the whole transaction itself (a full
    /// disk, ON CONFLICT ROLLBACK), the whole group fails.
    private func rollbackMember(_ db: Database, joining: Bool, _ error: Error) {
        let hadDDL = capture.ddlCount > 0
        capture.clear()
        if !db.isInsideTransaction {
            failGroup(db, MasterError(.sql, "SQLite rolled back the whole transaction at a failing statement of another transaction in its commit group (\(error))",
                                      hint: "nothing of it was logged; run it again"))
        } else if joining {
            do {
                try db.cachedStatement(sql: "ROLLBACK TO logship_member").execute()
                try db.cachedStatement(sql: "RELEASE logship_member").execute()
            } catch {
                failGroup(db, sqlError(error, statement: "ROLLBACK TO", db: db))
                return
            }
        } else {
            try? db.execute(sql: "ROLLBACK")
            openGroup = nil
        }
        if hadDDL { try? reloadDescriptors(db) }
    }

    /// The group's one fsync and one COMMIT; then every member is answered.
    func commitGroup(_ db: Database) {
        guard let group = openGroup else { return }
        guard let w = group.writer, !group.tickets.isEmpty else {
            openGroup = nil
            do { try db.cachedStatement(sql: "COMMIT").execute() } catch { try? db.execute(sql: "ROLLBACK") }
            return
        }
        commitsSinceSync += group.tickets.count
        var synced = false
        do {
            CrashPoint.reach("master.group-before-sync")   // fault injection, see CrashPoint
            if syncBinlog == 1 || (syncBinlog > 1 && commitsSinceSync >= syncBinlog) {
                try syncLatency.time { try w.sync() }
                commitsSinceSync = 0
                synced = true
            }
        } catch {
            failGroup(db, liftFormat(error, "syncing LSN \(group.tickets[0].info.lsn)…\(group.lastLSN) to the binlog"))
            return
        }
        CrashPoint.reach("master.before-commit")   // fault injection, see CrashPoint
        do {
            try db.cachedStatement(sql: "COMMIT").execute()
        } catch {
            failGroup(db, sqlError(error, statement: "COMMIT", db: db))
            return
        }
        openGroup = nil
        lastLSN = group.lastLSN
        lastCommitTime = group.lastCommitTime
        if synced { durableLSN = group.lastLSN }
        publishCommitMark()
        // Semi-sync: one wait for the whole group, after its fsync and COMMIT (durable here).
        let unacknowledged = awaitAcknowledgement(group.lastLSN)
        groupCondition.lock()
        groupCounts.groups += 1
        groupCounts.transactions += group.tickets.count
        for t in group.tickets {
            t.error = unacknowledged
            t.done = true
        }
        groupCondition.broadcast()
        groupCondition.unlock()
        if w.length >= segmentSize {
            // The group is committed and durable; a failed seal is retried on the next commit.
            _ = try? sealActive()
        }
    }

    /// The group could not be made durable or committed: its frames are cut off again, SQLite
    /// rolls back, and every member gets `error` (none was acknowledged; their LSNs are reused).
    private func failGroup(_ db: Database, _ error: Error) {
        guard let group = openGroup else { return }
        openGroup = nil
        if let w = group.writer, let before = group.before, !group.tickets.isEmpty {
            try? w.undoLastAppend(previousLength: before.length, previousLSN: before.lsn, previousCommitTime: before.time,
                                  frames: w.frameCount - before.frames, events: UInt64(group.events), transactions: UInt64(group.tickets.count))
        }
        // The descriptors the group introduced never reached the file.
        capture.encoder.startSegment()
        if db.isInsideTransaction { try? db.execute(sql: "ROLLBACK") }
        try? reloadDescriptors(db)
        state = TransactionState()
        capture.clear()
        groupCondition.lock()
        for t in group.tickets {
            t.error = error
            t.done = true
        }
        groupCondition.broadcast()
        groupCondition.unlock()
    }
}

// MARK: - SQL text in a group

/// A statement a commit group cannot take (SAVEPOINT, ROLLBACK, ATTACH …), or a block left open.
private struct NotGroupable: Error {}

/// Query rows of one unit, held until it commits.
private final class RowBuffer { var rows: [Row] = [] }

extension Master {
    /// Runs SQL text with `execute`'s results and messages, each transaction of it joining the
    /// commit group: the text is cut into statements (`sqlite3_complete`), and each autocommit
    /// statement or `BEGIN … COMMIT` block is one `write`, in order, so concurrent callers share
    /// fsyncs. At the first unit that fails or that a group cannot take (SAVEPOINT, ROLLBACK,
    /// ATTACH, a block without COMMIT), that unit is rolled back to its savepoint and the rest of
    /// the text runs alone through `execute`, which gives its exact semantics and error (a failing
    /// statement therefore runs twice). `onRow` sees a unit's query rows once the unit committed;
    /// `onCommit` each commit once it is durable.
    @discardableResult
    public func executeGrouped(_ sql: String, onRow: ((Row) -> Void)? = nil, onCommit: ((CommitInfo) -> Void)? = nil) throws -> [CommitInfo] {
        let statements = Self.splitStatements(sql)
        var commits: [CommitInfo] = []
        var index = 0
        while index < statements.count {
            let rows = RowBuffer()
            var consumed = 0
            let attempt: Committed<Void>
            do {
                attempt = try write { tx in consumed = try runUnit(statements, from: index, tx.db, rows: rows) }
            } catch let e as MasterError where e.kind == .unacknowledged {
                // Committed, only not acknowledged by the replicas in time: never run it again.
                throw e
            } catch {
                try ensureOpen()
                return commits + (try execute(statements[index...].joined(), onRow: onRow, onCommit: onCommit))
            }
            if let onRow { rows.rows.forEach(onRow) }
            if let info = attempt.commit {
                commits.append(info)
                onCommit?(info)
            }
            index += max(consumed, 1)
        }
        return commits
    }

    /// Cuts SQL text into complete statements (a trigger's inner semicolons stay inside its
    /// statement); a trailing statement without a semicolon is the last one.
    static func splitStatements(_ sql: String) -> [String] {
        var out: [String] = []
        var current: [UInt8] = []
        for byte in sql.utf8 {
            current.append(byte)
            guard byte == UInt8(ascii: ";") else { continue }
            current.append(0)
            let complete = current.withUnsafeBufferPointer { p in p.baseAddress!.withMemoryRebound(to: CChar.self, capacity: p.count) { sqlite3_complete($0) } }
            current.removeLast()
            if complete != 0 {
                out.append(String(decoding: current, as: UTF8.self))
                current.removeAll(keepingCapacity: true)
            }
        }
        if current.contains(where: { !($0 == 32 || ($0 >= 9 && $0 <= 13)) }) { out.append(String(decoding: current, as: UTF8.self)) }
        return out
    }

    /// One unit of `executeGrouped` inside a member: an autocommit statement, or BEGIN … COMMIT.
    /// Returns how many of `statements` it used.
    private func runUnit(_ statements: [String], from start: Int, _ db: Database, rows: RowBuffer) throws -> Int {
        var i = start, block = false
        repeat {
            let cursor = try db.allStatements(sql: statements[i])
            while let (statement, kind) = try statementGuard.prepare(db, { try cursor.next() }) {
                switch kind {
                case .begin where !block && i == start:
                    block = true
                case .commit where block:
                    return i - start + 1
                case .ddl, .other:
                    _ = try run(statement, kind, db, onRow: { rows.rows.append($0.copy()) })
                default:
                    throw NotGroupable()
                }
            }
            i += 1
            if !block { return i - start }
        } while i < statements.count
        throw NotGroupable()
    }
}

// MARK: - async

extension Master {
    /// A serial-free pool for the blocking calls of the async variants (they wait on the group).
    private static let asyncQueue = DispatchQueue(label: "logship-master-async", attributes: .concurrent)

    private func offload<R: Sendable>(_ work: @escaping @Sendable () throws -> R) async throws -> R {
        try await withCheckedThrowingContinuation { continuation in
            Master.asyncQueue.async { continuation.resume(with: Result { try work() }) }
        }
    }

    /// `write` for async callers: the body runs on a pool thread; the call resumes once durable.
    public func write<T: Sendable>(_ body: @escaping @Sendable (MasterTransaction) throws -> T) async throws -> Committed<T> {
        try await offload { try self.write(body) }
    }

    /// `transaction` for async callers.
    @discardableResult
    public func transaction(_ body: @escaping @Sendable (MasterTransaction) throws -> Void) async throws -> CommitInfo? {
        try await offload { try self.transaction(body) }
    }

    /// `execute` for async callers (commits are returned once durable).
    @discardableResult
    public func execute(_ sql: String) async throws -> [CommitInfo] {
        try await offload { try self.execute(sql) }
    }
}

extension Master.Committed: Sendable where Value: Sendable {}
