import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Semi-synchronous acknowledgement (docs/OPERATIONS.md, "Semi-synchronous acknowledgement"):
/// the files through which a follower shipper tells the master how far each target holds its
/// frames durably. One file per target, `<master>/acks/<target>.ack`, one JSON object:
///
///     {"at":"2026-12-03T09:00:00.000000Z","lsn":42,"sourceID":"…","target":"nas"}
///
/// The shipper rewrites it after every pass that made frames durable on that target (fsync of
/// the target's copy first, then this file, replaced atomically by a rename), and only when the
/// master's directory has an `acks/` directory (the master makes it when it runs with
/// `--sync-replicas`). The master waits on it with inotify (`FileWatcher`), never by polling.
/// The file is a report of a fact the target already holds; the target's copy is the truth.
public enum SyncAcks {
    public struct Ack: Codable, Equatable, Sendable {
        public var target: String
        public var sourceID: String
        public var lsn: UInt64
        public var at: String

        public init(target: String, sourceID: String, lsn: UInt64, at: String) {
            self.target = target
            self.sourceID = sourceID
            self.lsn = lsn
            self.at = at
        }

    }

    /// `<master>/acks`.
    public static func directory(master: String) -> String { master + "/acks" }

    /// `<master>/semisync.json`: the settings of the writer running with `--sync-replicas`
    /// (written when it opens, removed when a writer opens without it).
    public static func settingsPath(master: String) -> String { master + "/semisync.json" }

    /// True while the master's writer runs with semi-sync (its settings file is there): its
    /// commits wait for the followers' acks, so a follower passes as soon as frames are
    /// committed instead of pacing itself (`Shipper.FollowOptions.passInterval`).
    public static func masterWaits(master: String) -> Bool { access(settingsPath(master: master), F_OK) == 0 }

    /// The ack file of one target (its name with anything but letters, digits, `-`, `_`, `.` as `_`).
    public static func path(master: String, target: String) -> String {
        let safe = String(target.map { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" || $0 == "." ? $0 : "_" })
        return directory(master: master) + "/" + (safe.hasPrefix(".") ? "_" + safe.dropFirst() : safe) + ".ack"
    }

    /// Every readable ack of `sourceID` in the master's `acks/` (files that do not parse, or that
    /// belong to another source, are ignored: they acknowledge nothing).
    public static func read(master: String, sourceID: String) -> [Ack] {
        let dir = directory(master: master)
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: dir) else { return [] }
        var acks: [Ack] = []
        for name in names where name.hasSuffix(".ack") && !name.hasPrefix(".tmp-") {
            guard let data = FileManager.default.contents(atPath: dir + "/" + name),
                  let ack = try? JSONDecoder().decode(Ack.self, from: data), ack.sourceID == sourceID else { continue }
            acks.append(ack)
        }
        return acks.sorted { $0.target < $1.target }
    }

    /// The highest LSN that at least `count` targets acknowledged (0 when fewer than `count` did).
    public static func acknowledged(by count: Int, in acks: [Ack]) -> UInt64 {
        guard count > 0 else { return UInt64.max }
        let lsns = acks.map(\.lsn).sorted(by: >)
        return lsns.count >= count ? lsns[count - 1] : 0
    }

    /// Publishes one target's ack atomically (a temp file renamed over the old one; a reader sees
    /// the old ack or the new one), without fsyncs. Unlike every file `DurableFile` publishes, it
    /// holds nothing that is not already durable elsewhere: the target's copy was fsynced before
    /// it is written, and it only wakes the master. After a power loss it may be older than the
    /// target or missing, or not parse (then it acknowledges nothing), never ahead of the target.
    /// The file's fsync and that of `acks/` were two of the three syncs of a semi-sync commit.
    public static func write(_ ack: Ack, master: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let data = try encoder.encode(ack)
        try DurableFile.publish(Array(data) + [10], to: path(master: master, target: ack.target), durable: false)
    }
}
