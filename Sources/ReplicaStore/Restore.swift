import BinlogApply
import BinlogFormat
import Foundation
import GRDB
import LogshipSystem

/// Point-in-time restore: a new database from the best snapshot (or from empty) plus inbox
/// segments, up to an LSN or a time. The plan is computed and checked against the
/// recoverable window first; a target outside it fails with the window in the message and
/// never falls back to the latest state.
public enum Restore {
    /// What to restore to. Bounds are inclusive: `.lsn(N)` includes N; `.time(T)` is the last
    /// transaction committed at or before T; `.latest` is the newest restorable LSN.
    public enum Target: Sendable {
        case lsn(UInt64)
        case time(Int64)
        case latest
    }

    public struct Plan: Codable, Sendable {
        public var replica: String
        public var targetLSN: UInt64
        public var targetCommitTime: String?
        public var requestedTime: String?
        /// The snapshot to start from; nil means an empty database and the inbox from LSN 1.
        public var snapshot: Snapshot?
        public var fromLSN: UInt64
        public var segments: [String]
        public var transactions: UInt64
        public var windowFromLSN: UInt64
        public var windowToLSN: UInt64
        public var windowFromTime: String?
        public var windowToTime: String?
    }

    struct SegmentSpan {
        var segment: Inbox.Segment
        var first: UInt64
        var last: UInt64
        var firstTime: Int64
        var lastTime: Int64
    }

    /// Computes the plan for `target` (read-only; takes no lock).
    public static func plan(replica path: String, target: Target) throws -> Plan {
        let dir = try ReplicaDirectory.open(path)
        // The unbroken run of segments from the inbox's first one; a damaged or missing
        // segment ends the recoverable window there.
        let listing = try Inbox(path: dir.inboxPath).chain(after: nil, source: nil).segments
        var spans: [SegmentSpan] = []
        let verifier = try dir.verifier()
        for seg in listing {
            // A replica that requires signatures restores from signed sealed segments only: an
            // unsigned active copy ends the window; a bad or missing signature is corruption.
            if let verifier {
                if seg.isPartial || seg.footer == nil { break }
                do {
                    let check = try SegmentReader(path: seg.path)
                    try check.verifyAll(decode: false)
                    try verifier.check(check)
                } catch let e as FormatError { throw ReplicaError(e, while: "checking the signature of \(seg.fileName)") }
            }
            let reader = try SegmentReader(path: seg.path)
            guard let firstTx = try reader.next(decode: false) else { continue }
            var last = firstTx.lsn, lastTime = firstTx.commitTime
            // An ended epoch's segment counts up to its fork point only (Inbox.follow).
            if let f = seg.footer, f.lastLSN <= (seg.end ?? .max) { last = f.lastLSN; lastTime = f.lastCommitTime } else {
                while let tx = try reader.next(decode: false), tx.lsn <= (seg.end ?? .max) { last = tx.lsn; lastTime = tx.commitTime }
            }
            spans.append(SegmentSpan(segment: seg, first: firstTx.lsn, last: last, firstTime: firstTx.commitTime, lastTime: lastTime))
        }
        // Only snapshots of the master whose segments the inbox holds: another master's snapshot
        // at a plausible LSN would take this master's transactions on top and give a database
        // that passes every check and is nobody's state. (Without segments, the newest
        // snapshot's master decides.)
        let all = Snapshot.list(dir)
        let source = listing.first?.header.sourceID ?? all.last?.sourceID
        let snapshots = all.filter { $0.sourceID == source }
        let inboxFirst = spans.first?.first, inboxLast = spans.last?.last
        // Starting points: every snapshot, and the empty database when the inbox has LSN 1.
        var starts: [(lsn: UInt64, time: Int64?, snapshot: Snapshot?)] = snapshots.map { ($0.lsn, $0.commitTime, $0) }
        if inboxFirst == 1 { starts.insert((0, nil, nil), at: 0) }
        func connects(_ s: UInt64) -> Bool {
            guard let a = inboxFirst, let b = inboxLast else { return false }
            return a <= s + 1 && s <= b
        }
        guard let earliest = starts.map(\.lsn).min() else {
            throw ReplicaError(.gap, "nothing is restorable: no snapshot, and the inbox does not start at LSN 1" + (inboxFirst.map { " (it starts at LSN \($0))" } ?? " (it is empty)"),
                               hint: "take snapshots with `replica-apply snapshot`, and keep segments from LSN 1 until the first one")
        }
        let latest = max(starts.contains { connects($0.lsn) } ? (inboxLast ?? 0) : 0, starts.map(\.lsn).max() ?? 0)
        func time(of lsn: UInt64) throws -> Int64? {
            if lsn == 0 { return nil }
            if let s = snapshots.first(where: { $0.lsn == lsn }) { return s.commitTime }
            guard let span = spans.first(where: { $0.first <= lsn && lsn <= $0.last }) else { return nil }
            if lsn == span.last { return span.lastTime }
            let reader = try SegmentReader(path: span.segment.path)
            while let tx = try reader.next(decode: false) { if tx.lsn == lsn { return tx.commitTime } }
            return nil
        }
        let earliestTime = try time(of: max(earliest, 1))
        let latestTime = try time(of: latest)
        func window() -> String {
            "the recoverable window is LSN \(earliest)…\(latest)" + (earliestTime.map { " (\(formatTimestamp($0)) … " } ?? " (… ") + (latestTime.map { "\(formatTimestamp($0)))" } ?? "…)")
        }

        var requested: Int64?
        let targetLSN: UInt64
        switch target {
        case .latest:
            targetLSN = latest
        case .lsn(let n):
            targetLSN = n
        case .time(let t):
            requested = t
            guard let lt = latestTime, t <= lt else {
                throw ReplicaError(.gap, "no restorable transaction is known to be the last before \(formatTimestamp(t)): \(window())",
                                   hint: "a later time may be reached once more segments are shipped; use --to-lsn or --latest to restore the newest state on purpose")
            }
            // The last LSN committed at or before t, among snapshots and the inbox.
            var best: UInt64?
            for s in snapshots where s.commitTime <= t { best = max(best ?? 0, s.lsn) }
            for span in spans where span.firstTime <= t {
                if span.lastTime <= t { best = max(best ?? 0, span.last); continue }
                let reader = try SegmentReader(path: span.segment.path)
                while let tx = try reader.next(decode: false), tx.commitTime <= t, tx.lsn <= span.last { best = max(best ?? 0, tx.lsn) }
            }
            // A time before the earliest restorable commit fails, also when the window starts
            // with the empty database: nothing says the master existed then, and an empty
            // result would be a silent fallback (use --to-lsn 0 for the empty state).
            guard let b = best else {
                throw ReplicaError(.gap, "\(formatTimestamp(t)) is before the earliest restorable commit: \(window())",
                                   hint: "restore to a time inside the window; nothing was written")
            }
            // b is the state at t only if the transaction after b is known to be later than t:
            // with the segments after a snapshot gone (pruned, or moved away by hand), commits
            // between it and the next thing the replica holds may be at or before t, and b would
            // be an older state than the master's at t.
            if b < latest, !spans.contains(where: { $0.first <= b + 1 && b + 1 <= $0.last }), !snapshots.contains(where: { $0.lsn == b + 1 }) {
                throw ReplicaError(.gap, "\(formatTimestamp(t)) cannot be restored: the replica holds LSN \(b) but not the transactions after it, so the state at that time is unknown: \(window())",
                                   hint: "restore to LSN \(b) with --to-lsn if that state is what you need; nothing was written")
            }
            targetLSN = b
        }
        // The best start: the newest snapshot at or before the target that connects to it.
        let usable = starts.filter { $0.lsn == targetLSN || ($0.lsn < targetLSN && connects($0.lsn) && targetLSN <= (inboxLast ?? 0)) }
        guard let start = usable.max(by: { $0.lsn < $1.lsn }) else {
            throw ReplicaError(.gap, "LSN \(targetLSN) cannot be restored: \(window())",
                               hint: "restore to a point inside the window; nothing was written")
        }
        // A replica that requires signatures starts only from a snapshot signed by a trusted
        // snapshot key whose bytes and position are the ones signed (Snapshots+Signature).
        if verifier != nil, let snapshot = start.snapshot { try Snapshot.verifySignature(snapshot, in: dir) }
        let needed = spans.filter { $0.last > start.lsn && $0.first <= targetLSN }
        return Plan(replica: dir.path, targetLSN: targetLSN, targetCommitTime: try time(of: targetLSN).map(formatTimestamp),
                    requestedTime: requested.map(formatTimestamp), snapshot: start.snapshot, fromLSN: start.lsn,
                    segments: needed.map(\.segment.fileName), transactions: targetLSN - start.lsn,
                    windowFromLSN: earliest, windowToLSN: latest, windowFromTime: earliestTime.map(formatTimestamp),
                    windowToTime: latestTime.map(formatTimestamp))
    }

    public struct Result: Sendable {
        public var output: String
        public var lsn: UInt64
        public var transactions: Int
        public var rows: [String: Int]
        /// Tables checked by row count only, and why ("digest check skipped for t after ALTER …").
        public var notes: [String] = []
    }

    /// Carries out `plan` into `output`: builds the database in a temp file beside it, checks it
    /// (PRAGMA quick_check, the position, and each table's content digest against the one the
    /// snapshot and the binlog imply, RestoreCheck), then publishes it durably.
    public static func execute(_ plan: Plan, output: String, force: Bool = false, progress: ((UInt64) -> Void)? = nil) throws -> Result {
        try execute(plan, output: output, force: force, progress: progress, beforeCheck: nil)
    }

    /// `execute`, with `beforeCheck` run on the built database before it is checked (tests
    /// tamper with it there to show that the check catches it).
    static func execute(_ plan: Plan, output: String, force: Bool, progress: ((UInt64) -> Void)?, beforeCheck: ((Database) throws -> Void)?) throws -> Result {
        try checkOutput(output, force: force, replica: plan.replica)
        let dir = try ReplicaDirectory.open(plan.replica)
        let temp = DurableFile.temporaryPath(for: output)
        defer { for suffix in ["", "-wal", "-shm", "-journal"] { unlink(temp + suffix) } }
        let queue: DatabaseQueue
        do {
            try FilePermissions.createFileIfMissing(temp)   // before SQLite, which would use the umask
            if let snapshot = plan.snapshot, dir.identity?.requireSignatures == true {
                // Signed: the bytes copied are the bytes checked. `plan` checked the file by name,
                // and a snapshot replaced since would otherwise be restored unverified.
                Self.afterPlan?(snapshot.path)
                try Snapshot.copyVerified(snapshot, to: temp, in: dir)
            } else if let snapshot = plan.snapshot {
                var config = Configuration()
                config.readonly = true
                let source = try DatabaseQueue(path: snapshot.path, configuration: config)
                let target = try DatabaseQueue(path: temp)
                try source.backup(to: target)
                try source.close()
                try target.close()
            }
            queue = try DatabaseQueue(path: temp, configuration: ReplicaDirectory.storeConfiguration())
            // No fsync per batch while building: a crash leaves only a temp file to delete, and
            // the finished file is fsynced once before it is published.
            try queue.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA synchronous = OFF") }
        } catch let e as ReplicaError {
            throw e
        } catch {
            throw ReplicaError(.io, "preparing \(temp): \(error)")
        }
        var expected = try queue.read { db in try RestoreCheck(db) }
        // A snapshot continues only with segments that link to the one it applied last.
        if plan.snapshot != nil, !plan.segments.isEmpty, let applied = try queue.read({ db in try AppliedSegment.read(db) }),
           let problem = try Inbox(path: dir.inboxPath).appliedLinkProblem(applied, after: plan.fromLSN) {
            throw problem
        }
        let engine = ApplyEngine()
        let checking = RestoreCheckObserver(expected)
        var source = PlanReplaySource(inbox: dir.inboxPath, names: plan.segments,
                                      history: try? EpochHistory.newest(in: dir.inboxPath)?.history, verifier: try dir.verifier())
        var options = ReplayOptions(untilLSN: plan.targetLSN)
        options.progress = progress
        let outcome = try queue.inDatabase { db -> ReplayOutcome in
            // Prepared statements must be finalized before the connection closes.
            defer { engine.reset() }
            // The restored copy continues the chain like the store it is a copy of (AppliedSegment).
            let driver = ReplayDriver<PlanReplaySource>(engine: engine, options: options, observers: [checking],
                                                        beforePosition: { segment, db in try segment.write(db) })
            do { return try driver.run(&source, in: db) } catch { throw restoreError(error) }
        }
        if let failure = outcome.failure { throw restoreError(failure.error) }
        expected = checking.check
        let applied = outcome.transactions
        // Checks before publishing.
        if let beforeCheck { try queue.writeWithoutTransaction(beforeCheck) }
        let (check, finalPosition, actual) = try queue.read { db -> (String, AppliedPosition?, [String: Int]) in
            (try String.fetchOne(db, sql: "PRAGMA quick_check") ?? "", try AppliedPosition.read(db), try tableCounts(db))
        }
        guard check == "ok" else { throw ReplicaError(.corruption, "the restored database fails PRAGMA quick_check: \(check)") }
        guard finalPosition?.lsn == plan.targetLSN || (plan.targetLSN == 0 && finalPosition == nil) else {
            throw ReplicaError(.gap, "restore reached LSN \(finalPosition?.lsn ?? 0), not the target \(plan.targetLSN); the inbox changed while restoring?")
        }
        let notes = try queue.read { db in try expected.verify(db) }
        do {
            try queue.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA journal_mode = DELETE") }
            try queue.close()
            try FileDescriptor(path: temp, flags: O_RDONLY).sync()
            // A -wal or -journal left beside the path by a previous database would be replayed
            // into the new one when it is opened (SQLite opens a -wal it finds): remove them.
            for suffix in Self.companionSuffixes where unlink(output + suffix) != 0 && errno != ENOENT {
                throw ioError("remove the stale \(output + suffix)", path: output + suffix)
            }
            try DurableFile.rename(temp, to: output)
            let parent = (output as NSString).deletingLastPathComponent
            try DurableFile.syncDirectory(parent.isEmpty ? "." : parent)
        } catch let e as FormatError {
            throw ReplicaError(e, while: "publishing \(output)")
        } catch let e as SystemError {
            throw ReplicaError(e, while: "publishing \(output)")
        }
        return Result(output: output, lsn: plan.targetLSN, transactions: applied, rows: actual, notes: notes)
    }

    /// Tests: runs in `execute` just before a signed snapshot is copied and checked.
    nonisolated(unsafe) static var afterPlan: ((String) -> Void)?

    /// Restore's terms for what stopped the replay.
    static func restoreError(_ error: Error) -> Error {
        switch error {
        case let e as ApplyError: return ReplicaError(e)
        case let e as FormatError: return ReplicaError(e, while: "restoring")
        case let e as SystemError: return ReplicaError(e, while: "restoring")
        case ReplayFault.begin(_, let cause): return cause
        case ReplayFault.batchLost(let lsn):
            return ReplicaError(.io, "the batch of LSNs up to \(lsn) was rolled back by SQLite; nothing was published")
        case ReplayFault.gap(let after, let found):
            return ReplicaError(.gap, "unable to restore: LSN \(found) follows LSN \(after) in the inbox; nothing was published",
                                hint: "the inbox changed while restoring? rerun the restore")
        default: return error
        }
    }

    /// Files SQLite keeps beside a database.
    static let companionSuffixes = ["-wal", "-shm", "-journal"]

    /// Refuses an output path where a database, or the WAL or journal of one, already is,
    /// unless `force`: restore never overwrites by surprise, and never publishes a file beside a
    /// -wal or -journal that SQLite would replay into it.
    public static func checkOutput(_ output: String, force: Bool, replica: String? = nil) throws {
        try checkNotLive(output, replica: replica)
        guard !force else { return }
        let present = ([""] + companionSuffixes).map { output + $0 }.filter { FileManager.default.fileExists(atPath: $0) }
        guard let first = present.first else { return }
        throw ReplicaError(.exists, "\(first) exists" + (first == output ? "" : " (left by an earlier database at that path)"),
                           hint: "restore never overwrites; choose another path or pass --force (which also removes its -wal, -shm and -journal)")
    }

    /// Row count of every user table.
    static func tableCounts(_ db: Database) throws -> [String: Int] {
        var result: [String: Int] = [:]
        for name in try String.fetchAll(db, sql: """
            SELECT name FROM sqlite_schema WHERE type = 'table'
              AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND name NOT LIKE '\\_logship%' ESCAPE '\\'
            """) {
            let quoted = quotedIdentifier(name)
            result[name] = try Int.fetchOne(db, sql: "SELECT count(*) FROM \(quoted)") ?? 0
        }
        return result
    }
}

/// The plan's segments as a replay source: an ended epoch's segment up to its fork point only,
/// each transaction with its segment, which the restored copy records (AppliedSegment).
/// A replica that requires signatures has each segment's signature checked again here, when it
/// is replayed, and the transactions read from the very file that was checked: `plan` checked
/// them too, but a segment replaced in the inbox since (or between this check and the read) would
/// otherwise be restored unverified.
struct PlanReplaySource: ReplaySource {
    let inbox: String
    let names: [String]
    let history: EpochHistory?
    let verifier: SegmentVerifier?
    private var index = 0
    private var reader: (SegmentReader, end: UInt64)?
    /// Tests: runs between a segment's signature check and the read that replays it.
    nonisolated(unsafe) static var afterCheck: ((String) -> Void)?

    init(inbox: String, names: [String], history: EpochHistory?, verifier: SegmentVerifier? = nil) {
        self.inbox = inbox
        self.names = names
        self.history = history
        self.verifier = verifier
    }

    /// The segment's reader: when signatures are required, of the file just verified.
    private func open(_ name: String) throws -> SegmentReader {
        let path = inbox + "/" + name
        guard let verifier else { return try SegmentReader(path: path) }
        do {
            let check = try SegmentReader(path: path)
            try check.verifyAll(decode: false)
            try verifier.check(check)
            Self.afterCheck?(path)
            return try SegmentReader(sameFileAs: check)
        } catch let e as FormatError {
            throw ReplicaError(e, while: "checking the signature of \(name)")
        } catch let e as SystemError {
            throw ReplicaError(e, while: "checking the signature of \(name)")
        }
    }

    mutating func next() throws -> ReplayItem<AppliedSegment>? {
        while index < names.count {
            let current: (SegmentReader, end: UInt64)
            if let reader { current = reader } else {
                let r = try open(names[index])
                current = (r, history?.end(of: r.header.epoch) ?? .max)
                reader = current
            }
            let r = current.0
            if let tx = try r.next(), tx.lsn <= current.end {
                return ReplayItem(tx, sourceID: r.header.sourceID, epoch: r.header.epoch,
                                  origin: AppliedSegment(fileName: names[index], header: r.header, footer: r.footer))
            }
            reader = nil
            index += 1
        }
        return nil
    }
}
