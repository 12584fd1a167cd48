import Foundation
import LogshipSystem
#if canImport(Glibc)
import Glibc
#endif

/// Which LSNs each epoch of a source owns: the record a promotion leaves, like PostgreSQL's
/// timeline history files (docs/FORMAT.md §10, docs/FAILOVER.md).
///
/// Epoch 1 starts at LSN 1. When a replica at LSN L is promoted, epoch N ends at L (the fork
/// point) and epoch N+1 begins at L+1; every LSN after L that epoch N wrote is not part of the
/// history from then on. The file for epoch N is `EEEEEEEE.history` (the epoch in the same
/// lower-case hex as segment names), holds every epoch up to N, and is immutable: it lives
/// beside the segments in the new master's binlog and in every replica inbox and shipping
/// target that was fenced, where it also serves as the fence. A source without a history file
/// is in epoch 1.
public struct EpochHistory: Codable, Equatable, Sendable {
    public var format = "logship-epoch-history"
    public var version = 1
    public var sourceID: UUID
    /// Every epoch, in order, from 1 to the newest; consecutive.
    public var epochs: [Entry]

    /// One epoch: where it begins and, once a later epoch forked from it, where it ends.
    public struct Entry: Codable, Equatable, Sendable {
        public var epoch: UInt32
        /// The first LSN this epoch wrote (1 for epoch 1; the fork point + 1 after that).
        public var firstLSN: UInt64
        /// The last LSN of this epoch that belongs to the history: the fork point of the
        /// next epoch. Nil for the newest epoch, which is still open.
        public var lastLSN: UInt64?
        /// When the epoch began (master commit clock of the promoting host, UTC).
        public var startedAt: String
        /// Where the epoch began: the replica that was promoted (path and host).
        public var promotedFrom: String?

        public init(epoch: UInt32, firstLSN: UInt64, lastLSN: UInt64? = nil, startedAt: String, promotedFrom: String? = nil) {
            self.epoch = epoch
            self.firstLSN = firstLSN
            self.lastLSN = lastLSN
            self.startedAt = startedAt
            self.promotedFrom = promotedFrom
        }
    }

    public init(sourceID: UUID, epochs: [Entry]) {
        self.sourceID = sourceID
        self.epochs = epochs
    }

    /// The implicit history of a source that was never promoted: epoch 1 from LSN 1, open.
    public static func initial(sourceID: UUID) -> EpochHistory {
        EpochHistory(sourceID: sourceID, epochs: [Entry(epoch: 1, firstLSN: 1, startedAt: "")])
    }

    /// The newest epoch.
    public var epoch: UInt32 { epochs.last?.epoch ?? 1 }

    /// The newest epoch's entry.
    public var current: Entry { epochs.last ?? Entry(epoch: 1, firstLSN: 1, startedAt: "") }

    /// The entry of `epoch`, nil when this history does not know it (a later epoch).
    public func entry(_ epoch: UInt32) -> Entry? {
        guard epoch >= 1, Int(epoch) <= epochs.count else { return nil }
        return epochs[Int(epoch) - 1]
    }

    /// The last LSN of `epoch` that belongs to this history: nil when the epoch is the open
    /// newest one (no end yet) or unknown.
    public func end(of epoch: UInt32) -> UInt64? { entry(epoch)?.lastLSN }

    /// True when LSN `lsn` written in `epoch` is part of this history.
    public func owns(lsn: UInt64, epoch: UInt32) -> Bool {
        guard let e = entry(epoch) else { return false }
        return lsn >= e.firstLSN && e.lastLSN.map { lsn <= $0 } ?? true
    }

    /// The history after promoting, at LSN `forkLSN`, a replica that follows this history's
    /// newest epoch: that epoch ends at `forkLSN` and the next begins at `forkLSN + 1`.
    public func promoted(at forkLSN: UInt64, startedAt: Int64, from origin: String) throws -> EpochHistory {
        let last = current
        guard forkLSN + 1 >= last.firstLSN else {
            throw FormatError(.invalidArgument, "cannot fork epoch \(last.epoch) at LSN \(forkLSN): it begins at LSN \(last.firstLSN)")
        }
        guard last.epoch < UInt32.max else { throw FormatError(.invalidArgument, "no epoch after \(last.epoch)") }
        var next = self
        next.epochs[next.epochs.count - 1].lastLSN = forkLSN
        next.epochs.append(Entry(epoch: last.epoch + 1, firstLSN: forkLSN + 1, startedAt: formatTimestamp(startedAt), promotedFrom: origin))
        return next
    }

    /// True when `self` is `other` or an earlier state of the same line of epochs: every
    /// epoch `self` has closed, `other` closed at the same LSN.
    public func isAncestor(of other: EpochHistory) -> Bool {
        guard sourceID == other.sourceID, epochs.count <= other.epochs.count else { return false }
        for (mine, theirs) in zip(epochs, other.epochs) {
            guard mine.epoch == theirs.epoch, mine.firstLSN == theirs.firstLSN else { return false }
            if let end = mine.lastLSN, end != theirs.lastLSN { return false }
        }
        return true
    }

    /// Checks the shape: epochs 1…N consecutive, each closed one ends at or after its start
    /// minus one (an epoch may end without writing anything), the next starting right after.
    public func validate(path: String? = nil) throws {
        func bad(_ why: String) -> FormatError { FormatError(.corrupted, "epoch history: \(why)", path: path) }
        guard format == "logship-epoch-history" else { throw bad("format is \"\(format)\"") }
        guard version == 1 else { throw FormatError(.unsupported, "epoch history version \(version); this build reads version 1", path: path) }
        guard let first = epochs.first, first.epoch == 1, first.firstLSN == 1 else { throw bad("it must begin with epoch 1 at LSN 1") }
        for (i, e) in epochs.enumerated() {
            guard e.epoch == UInt32(i + 1) else { throw bad("epoch \(e.epoch) is listed in place \(i + 1)") }
            let isLast = i == epochs.count - 1
            guard isLast == (e.lastLSN == nil) else { throw bad(isLast ? "the newest epoch \(e.epoch) has an end" : "epoch \(e.epoch) has no end but epoch \(e.epoch + 1) follows") }
            if let end = e.lastLSN {
                guard end + 1 >= e.firstLSN else { throw bad("epoch \(e.epoch) ends at LSN \(end), before it begins at \(e.firstLSN)") }
                guard epochs[i + 1].firstLSN == end + 1 else { throw bad("epoch \(e.epoch + 1) begins at LSN \(epochs[i + 1].firstLSN), not \(end + 1)") }
            }
        }
    }

    // MARK: - Files

    public static let suffix = ".history"

    /// `EEEEEEEE.history` for `epoch`.
    public static func fileName(epoch: UInt32) -> String { hex(UInt64(epoch), width: 8) + suffix }

    /// The epoch a history file name stands for; nil for anything `fileName` would not produce.
    public static func parseFileName(_ name: String) -> UInt32? {
        guard name.hasSuffix(suffix) else { return nil }
        let stem = Array(name.utf8.dropLast(suffix.utf8.count))
        guard stem.count == 8, let v = SegmentName.parseHex(stem[...]), v >= 1 else { return nil }
        return UInt32(v)
    }

    /// The file's bytes: indented JSON with sorted keys, so the same history is the same bytes.
    public func encoded() -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        // Encoding plain strings and integers cannot fail.
        return Array((try? encoder.encode(self)) ?? Data()) + [0x0A]
    }

    /// Reads and validates one history file; its name must match its newest epoch.
    public static func load(path: String) throws -> EpochHistory {
        let data = Data(try RegularFile.contents(path))
        let history: EpochHistory
        do { history = try JSONDecoder().decode(EpochHistory.self, from: data) } catch {
            throw FormatError(.corrupted, "epoch history is not valid: \(error)", path: path)
        }
        try history.validate(path: path)
        let name = (path as NSString).lastPathComponent
        if let named = parseFileName(name), named != history.epoch {
            throw FormatError(.corrupted, "file name says epoch \(named), the history ends at epoch \(history.epoch)", path: path)
        }
        return history
    }

    /// The newest history file in `directory` (the highest epoch), validated; nil when there is
    /// none. Every older file must be an ancestor of it: two histories that disagree about
    /// where an epoch ended mean two promotions, and that is refused as a split brain.
    public static func newest(in directory: String) throws -> (history: EpochHistory, path: String)? {
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).filter { parseFileName($0) != nil }.sorted()
        guard let newestName = names.last else { return nil }
        let newest = try load(path: directory + "/" + newestName)
        for name in names.dropLast() {
            let older = try load(path: directory + "/" + name)
            guard older.isAncestor(of: newest) else {
                throw FormatError(.splitBrain, "epoch histories disagree: \(name) and \(newestName) describe different forks"
                                  + " (\(older.difference(from: newest)))", path: directory + "/" + name,
                                  hint: "two promotions were made from this source; keep the history of the master you trust and rebuild the other side")
            }
        }
        return (newest, directory + "/" + newestName)
    }

    /// Where `self` and `other` part, for messages: the source, the first epoch whose end
    /// differs, or how many epochs each knows.
    public func difference(from other: EpochHistory) -> String {
        if sourceID != other.sourceID { return "sources \(sourceID) and \(other.sourceID)" }
        for (a, b) in zip(epochs, other.epochs) where a != b {
            return "epoch \(a.epoch) ends at LSN \(a.lastLSN.map(String.init) ?? "open") in one, \(b.lastLSN.map(String.init) ?? "open") in the other"
        }
        return "epochs 1…\(epoch) in one, 1…\(other.epoch) in the other"
    }

    /// Publishes this history as `EEEEEEEE.history` in `directory`, durably, without ever
    /// replacing a file: when one is already there it must hold the same history (a rerun of
    /// the same promotion); a different one means another promotion made the same epoch.
    public func publish(in directory: String) throws {
        let path = directory + "/" + Self.fileName(epoch: epoch)
        if let existing = try existingHistory(at: path) {
            guard existing == self else {
                throw FormatError(.splitBrain, "\(path) already holds another epoch \(epoch) (\(existing.difference(from: self)))", path: path,
                                  hint: "epoch \(epoch) was already created by another promotion; do not start a second master")
            }
            return
        }
        let temp = DurableFile.temporaryPath(for: path)
        do {
            let file = try FileDescriptor(path: temp, flags: O_WRONLY | O_CREAT | O_EXCL, mode: FilePermissions.file)
            try file.write(encoded(), at: 0)
            try file.sync()
            // link(2) publishes without replacing: it fails if another process won the race.
            if link(temp, path) != 0 {
                let failure = errno
                unlink(temp)
                if failure == EEXIST { return try publish(in: directory) }
                throw ioError("link to \(path)", path: temp, errno: failure)
            }
            unlink(temp)
            try DurableFile.syncDirectory(directory)
        } catch {
            unlink(temp)
            throw error
        }
    }

    private func existingHistory(at path: String) throws -> EpochHistory? {
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        return try Self.load(path: path)
    }
}
