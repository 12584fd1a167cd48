import BinlogApply
import BinlogFormat
import Foundation
import GRDB
import LogshipSystem

extension Replica {
    /// Where to stop applying. All bounds are inclusive: `untilLSN` N applies N and stops;
    /// `untilTime` T applies every transaction committed at or before T; `delay` D applies only
    /// transactions committed at least D seconds before now.
    public struct ApplyOptions {
        public var untilLSN: UInt64?
        public var untilTime: Int64?
        public var delay: Double?
        /// Source transactions per SQLite transaction (one fsync per batch). 5,000: at 1,000 a
        /// run of single-row transactions paid a commit per 1,000 changes, and the expense
        /// summary rewrote most of its pages at every one (tools/bench/summary, docs/BENCHMARKS.md).
        public var batchTransactions = 5000
        /// Close a batch early once it holds this many events.
        public var batchEvents = 200_000
        /// SQLite's page cache for the store while applying, in KiB (nil: SQLite's default,
        /// 2,000 KiB). Inserts into a large table's indexes read pages the default cache has
        /// evicted (tools/bench/scale).
        public var cacheKiB: Int?
        /// Called after each committed batch with the applied LSN.
        public var progress: ((UInt64) -> Void)?
        /// Checked between transactions; return true to stop at the next boundary.
        public var shouldStop: () -> Bool = { false }
        /// `follow` only: while the master is busy (`passBatch`), the least time from the start
        /// of a pass that applied something to the start of the next pass (0: a pass as soon as
        /// the inbox changes). Transactions that arrive meanwhile are applied in one pass, one
        /// store commit and fsync for all of them, at up to this much more lag. Default 5 ms
        /// (`PassPacer.defaultInterval`).
        public var passInterval: Double = PassPacer.defaultInterval
        /// `follow` only: the master is busy while transactions arrive at `passBatch` or more
        /// per `passInterval`; slower than that, each pass runs at once (`PassPacer`). Default
        /// 10; 1: always wait the interval.
        public var passBatch: Int = PassPacer.defaultBatch
        /// What is kept in step with the rows (a report's summary): each is asked at the start of
        /// a run, on the apply connection, with the store's applied LSN, and may decline (nil).
        /// Observers write in the same SQLite transaction as the rows and the position.
        public var observers: [(Database, UInt64) throws -> ReplayObserver?] = []
        /// Run by `follow` before each pass (a remote source's fetch into the inbox); its error
        /// ends the loop like a pass's.
        public var beforePass: (() throws -> Void)?
        /// Kept across passes by `follow`: a partial copy read to its end last time is read on
        /// from there, not from its first frame (`PartialCursor`). Nil: every run reads the
        /// copy from the start, as a one-shot `replica-apply` does.
        public var partialCursor: PartialCursor?

        public init(untilLSN: UInt64? = nil, untilTime: Int64? = nil, delay: Double? = nil) {
            self.untilLSN = untilLSN
            self.untilTime = untilTime
            self.delay = delay
        }
    }

    /// Why an apply run stopped without an error.
    public enum StopReason: String, Codable, Sendable {
        /// Every complete transaction in the inbox is applied.
        case caughtUp = "caught up"
        case untilLSN = "reached --until-lsn"
        case untilTime = "reached --until-time"
        case delay = "held back by --delay"
        case interrupted
    }

    public struct ApplyResult: Sendable {
        public var transactions = 0
        public var events = 0
        public var fromLSN: UInt64 = 0
        public var toLSN: UInt64 = 0
        public var lastCommitTime: Int64?
        public var stop: StopReason = .caughtUp
        /// Set when a later segment is a partial copy whose tail is still being written.
        public var incompleteTail: String?
        /// Bytes of segment files read to find, verify and decode this run's transactions (the
        /// inbox listing's header and footer reads are not counted).
        public var bytesRead: Int64 = 0
    }

    /// Applies every complete transaction the inbox holds beyond the applied LSN, in order,
    /// exactly once, then returns. Stops at the first gap, damaged frame or divergence and
    /// throws, after committing everything before it: the store is always at a transaction
    /// boundary, and its position is in the same SQLite transaction as the rows.
    public func applyAvailable(_ options: ApplyOptions = ApplyOptions()) throws -> ApplyResult {
        // The position and the segment it came from, read together in one transaction, and not
        // through `queue.read`: GRDB's read-only access switches PRAGMA query_only on and off,
        // which expires every statement the connection has prepared, so each follower's pass
        // prepared all of its statements again (issue 15: a third of a pass's CPU).
        var position: AppliedPosition?, applied: AppliedSegment?
        try queue.inDatabase { db in
            try db.inTransaction(.deferred) {
                position = try AppliedPosition.read(db)
                applied = try AppliedSegment.read(db)
                return .commit
            }
        }
        let start = position?.lsn ?? 0
        var result = ApplyResult()
        result.fromLSN = start
        result.toLSN = start
        if let until = options.untilLSN, start >= until { result.stop = .untilLSN; return result }

        // Segments this store still needs, up to the first that cannot follow (gap, damage,
        // another source): everything before that problem is applied, then it is reported.
        let chain = try Inbox(path: directory.inboxPath).follow(after: start, source: position.map { ($0.sourceID, $0.epoch) }, applied: applied)
        var source = InboxReplaySource(segments: chain.segments, verifier: try directory.verifier(), cursor: options.partialCursor, storeLSN: start)
        let outcome = try queue.inDatabase { db -> ReplayOutcome in
            if let kib = options.cacheKiB { try db.execute(sql: "PRAGMA cache_size = -\(max(1, kib))") }
            let observers = try options.observers.compactMap { try $0(db, start) }
            // The segment of each batch's last transaction is written with its position (AppliedSegment).
            let driver = ReplayDriver<InboxReplaySource>(engine: engine, options: options.replay, observers: observers,
                                                         beforePosition: { segment, db in try segment.write(db) })
            do { return try driver.run(&source, in: db) } catch { throw Self.lift(error) }
        }
        if let failure = outcome.failure {
            // The failed transaction's batch was rolled back whole (ReplayDriver): apply again up
            // to the transaction before it, so that everything before the failure stays applied,
            // then report the failure.
            if failure.lsn > outcome.toLSN + 1 {
                var redo = options
                redo.untilLSN = failure.lsn - 1
                _ = try applyAvailable(redo)
            }
            throw Self.lift(failure.error, lsn: failure.lsn)
        }
        result.transactions = outcome.transactions
        result.events = outcome.events
        result.toLSN = outcome.toLSN
        result.lastCommitTime = outcome.lastCommitTime
        result.stop = StopReason(outcome.stop)
        result.incompleteTail = source.incompleteTail
        result.bytesRead = source.bytesRead
        // The cursor gave its reader up to this run (`take`); it gets one back only from a run
        // that read a partial copy to its end and applied all of it.
        if let cursor = options.partialCursor, let partial = source.finishedPartial, partial.reader.lastLSN == outcome.toLSN {
            cursor.keep(partial.reader, path: partial.path)
        }
        if result.stop == .caughtUp, let problem = chain.problem {
            // Everything before the problem is applied; what follows cannot be, in order.
            throw problem.stopped(at: result.toLSN)
        }
        // An older epoch's writes past its fork point are never applied; say so loudly.
        if let alarm = chain.divergedAlarm { throw alarm }
        return result
    }

    /// The replica's terms for what stopped a replay run.
    static func lift(_ error: Error) -> Error {
        switch error {
        case ReplayFault.begin(let lsn, let cause):
            return lift(cause, lsn: lsn)
        case ReplayFault.batchLost(let lsn):
            return ReplicaError(.io, "the batch of LSNs up to \(lsn) was rolled back by SQLite; nothing of it is applied")
        case ReplayFault.gap(let after, let found):
            return ReplicaError(.gap, "unable to apply: LSN \(found) follows LSN \(after) in the inbox; LSN \(after + 1) is missing",
                                hint: "ship the missing segments to the inbox and rerun: apply resumes from the store's position")
        default:
            return error
        }
    }

    /// The replica's terms for a failure to apply LSN `lsn`.
    static func lift(_ error: Error, lsn: UInt64) -> Error {
        let code = (error as? DatabaseError)?.resultCode.rawValue ?? (error as? ApplyError)?.sqliteCode.map { $0 & 0xFF }
        if code == ResultCode.SQLITE_BUSY.rawValue || code == ResultCode.SQLITE_LOCKED.rawValue {
            // Another process (an analyst's write transaction, a program writing to the store)
            // held SQLite's write lock for the whole busy timeout: LSN `lsn` on is not applied.
            return ReplicaError(.busy, "unable to apply: store.db is locked by another process (SQLite: \((error as? DatabaseError)?.message ?? "database is locked"); LSN \(lsn) and later not applied)",
                                hint: "a connection holds a write transaction on the store; end it (COMMIT or ROLLBACK, or close it) and rerun: apply resumes from the store's position")
        }
        if let e = error as? ApplyError { return ReplicaError(e) }
        if let e = error as? DatabaseError {
            return ReplicaError(e.resultCode == .SQLITE_FULL ? .diskFull : .io, "applying LSN \(lsn): \(e.message ?? "\(e)")")
        }
        return error
    }
}

extension Replica.ApplyOptions {
    /// The driver's terms for these options (the delay becomes a cutoff time, now).
    var replay: ReplayOptions {
        var o = ReplayOptions(untilLSN: untilLSN, untilTime: untilTime, notAfter: delay.map { microsecondsNow() - Int64($0 * 1_000_000) })
        o.batchTransactions = batchTransactions
        o.batchEvents = batchEvents
        o.progress = progress
        o.shouldStop = shouldStop
        return o
    }
}

extension Replica.StopReason {
    init(_ stop: ReplayStop) {
        switch stop {
        case .caughtUp: self = .caughtUp
        case .untilLSN: self = .untilLSN
        case .untilTime: self = .untilTime
        case .delay: self = .delay
        case .interrupted: self = .interrupted
        }
    }
}

/// The inbox's segments as a replay source: in order, an ended epoch's segment up to its fork
/// point only (Inbox.follow); each transaction carries its segment, which the store records.
struct InboxReplaySource: ReplaySource {
    let segments: [Inbox.Segment]
    private var index = 0
    private var reader: SegmentReader?
    /// The current reader's segment as each of its transactions records it (made once per
    /// segment: building it per transaction, file name and all, was 8 % of an apply's CPU).
    private var origin: AppliedSegment?
    /// Set when a segment read to its end is a partial copy whose tail is still being written.
    private(set) var incompleteTail: String?
    /// `follow`'s reader of the partial copy from its last pass, and the store's LSN.
    private let cursor: PartialCursor?
    private let storeLSN: UInt64
    /// The partial copy read to its end in this run, with its reader: the cursor's for the next pass.
    private(set) var finishedPartial: (reader: SegmentReader, path: String)?
    /// Bytes read by the segment readers (see `ApplyResult.bytesRead`).
    private(set) var bytesRead: Int64 = 0
    /// The current reader's `bytesRead` when this run began with it (a resumed reader's earlier passes).
    private var readerBase: Int64 = 0

    /// Set when the replica requires signatures: a segment is read once in full and its
    /// signature checked before any of its transactions is applied; a partial copy of an active
    /// segment (unsigned) ends the run, as its tail would (applied once sealed and shipped).
    let verifier: SegmentVerifier?

    /// Tests only: runs between the signature check and the read that applies.
    nonisolated(unsafe) static var afterCheck: ((String) -> Void)?

    init(segments: [Inbox.Segment], verifier: SegmentVerifier? = nil, cursor: PartialCursor? = nil, storeLSN: UInt64 = 0) {
        self.segments = segments
        self.verifier = verifier
        self.cursor = cursor
        self.storeLSN = storeLSN
    }

    mutating func next() throws -> ReplayItem<AppliedSegment>? {
        while index < segments.count {
            let segment = segments[index]
            let r: SegmentReader
            if let reader { r = reader } else {
                var checked: SegmentReader?
                if let verifier {
                    do {
                        let check = try SegmentReader(path: segment.path)
                        if segment.isPartial || !check.isSealed {
                            incompleteTail = segment.fileName
                            index = segments.count
                            return nil
                        }
                        try check.verifyAll(decode: false)
                        try verifier.check(check)
                        checked = check
                    } catch let e as FormatError { throw ReplicaError(e, while: "checking the signature of \(segment.fileName)") } catch let e as SystemError { throw ReplicaError(e, while: "checking the signature of \(segment.fileName)") }
                }
                if segment.isPartial, let resumed = cursor?.take(path: segment.path, storeLSN: storeLSN) {
                    r = resumed.reader
                    readerBase = resumed.bytesBefore
                } else {
                    // The transactions come from the file whose signature was checked, not from whatever
                    // the name points at by now (a segment replaced between check and read).
                    Self.afterCheck?(segment.path)
                    do { r = try checked.map(SegmentReader.init(sameFileAs:)) ?? SegmentReader(path: segment.path) } catch let e as FormatError { throw ReplicaError(e, while: "opening \(segment.fileName)") } catch let e as SystemError { throw ReplicaError(e, while: "opening \(segment.fileName)") }
                    // The transactions up to the store's position are passed, not applied: read, not built.
                    r.skimThroughLSN = storeLSN
                    readerBase = 0
                }
                reader = r
                origin = AppliedSegment(fileName: segment.fileName, header: r.header, footer: r.footer)
            }
            let tx: Transaction?
            do {
                defer { bytesRead += r.bytesRead - readerBase; readerBase = r.bytesRead }
                tx = try r.next()
            } catch let e as FormatError { throw ReplicaError(e, while: "reading \(segment.fileName)") } catch let e as SystemError { throw ReplicaError(e, while: "reading \(segment.fileName)") }
            if let tx, tx.lsn <= (segment.end ?? .max) {
                return ReplayItem(tx, sourceID: r.header.sourceID, epoch: r.header.epoch,
                                  origin: origin ?? AppliedSegment(fileName: segment.fileName, header: r.header, footer: r.footer))
            }
            if r.tornTailOffset != nil || segment.isPartial { incompleteTail = segment.fileName }
            if tx == nil, segment.isPartial, !r.isSealed, r.path == segment.path { finishedPartial = (r, segment.path) }
            reader = nil
            origin = nil
            index += 1
        }
        return nil
    }
}
