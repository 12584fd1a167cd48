import Foundation
import LogshipSystem
#if canImport(Glibc)
import Glibc
#endif

/// Where a master's segments are shipped, kept inside the master data directory
/// (`<master>/ship/targets.json`) by every `binlog-ship` run, whatever its state directory, so
/// that the master finds a promotion's fence (a newer epoch history) at any of them and refuses
/// to write (docs/FAILOVER.md "Fencing"). Before this record the master read only
/// `<master>/ship/state.json`, and a master shipped with `state_dir` elsewhere kept
/// acknowledging writes after a promotion (issue 12).
///
/// One list of target directories per shipping configuration, keyed by its state directory:
/// a run replaces its own list and leaves the others. Written with a durable publish under an
/// `flock` of `<master>/ship`, so two configurations shipping at once never lose each other's
/// entries.
///
/// ```json
/// { "format" : "logship-ship-targets", "version" : 1,
///   "shippers" : { "/var/lib/logship/ship" : [ "/mnt/nas/inbox", "/media/usb/inbox" ] } }
/// ```
public struct ShipTargetsRecord: Codable, Equatable, Sendable {
    public static let directoryName = "ship"
    public static let fileName = "targets.json"

    public var format = "logship-ship-targets"
    public var version = 1
    /// Target directories, by the state directory of the configuration that ships to them.
    public var shippers: [String: [String]] = [:]

    public init() {}

    /// Every target directory any configuration ships to, sorted, without repeats.
    public var allTargets: [String] { Array(Set(shippers.values.joined())).sorted() }

    /// `<master>/ship/targets.json`.
    public static func path(inMaster master: String) -> String { master + "/" + directoryName + "/" + fileName }

    /// Reads the record of the master at `master`; nil when there is none. A record that
    /// cannot be read is an error: the fence must not silently fall away.
    public static func load(master: String) throws -> ShipTargetsRecord? {
        let path = path(inMaster: master)
        guard let data = FileManager.default.contents(atPath: path) else {
            if access(path, F_OK) != 0 && errno == ENOENT { return nil }
            throw ioError("read the shipping targets record", path: path)
        }
        do {
            let record = try JSONDecoder().decode(ShipTargetsRecord.self, from: data)
            guard record.format == "logship-ship-targets", record.version == 1 else {
                throw FormatError(.unsupported, "\(path) is \(record.format) version \(record.version); this build reads logship-ship-targets version 1", path: path)
            }
            return record
        } catch let e as FormatError {
            throw e
        } catch {
            throw FormatError(.corrupted, "the shipping targets record cannot be read: \(error)", path: path,
                              hint: "the next binlog-ship run from this master rewrites it; until then this master cannot tell whether a promotion fenced it")
        }
    }

    /// Records that the configuration with state directory `stateDirectory` ships to `targets`,
    /// durably, before it ships anything. Does nothing when the record already says so.
    public static func record(targets: [String], stateDirectory: String, master: String) throws {
        // A master on a read-only file system (a dead master's disk mounted to rescue its
        // segments) cannot write either, so it needs no record to find a fence.
        if access(master, W_OK) != 0 && errno == EROFS { return }
        let directory = master + "/" + directoryName
        if mkdir(directory, FilePermissions.directory) == 0 {
            _ = chmod(directory, FilePermissions.directory)
            try DurableFile.syncDirectory(master)
        } else if errno != EEXIST {
            throw ioError("create the directory", path: directory)
        }
        let lock = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard lock >= 0 else { throw ioError("open directory", path: directory) }
        defer { close(lock) }
        while flock(lock, LOCK_EX) != 0 {
            guard errno == EINTR else { throw ioError("lock", path: directory) }
        }
        var record: ShipTargetsRecord
        do { record = try load(master: master) ?? ShipTargetsRecord() } catch let e as FormatError where e.kind == .corrupted {
            record = ShipTargetsRecord()   // rewritten whole: each configuration re-adds its own on its next run
        }
        let wanted = Array(Set(targets)).sorted()
        guard record.shippers[stateDirectory] != wanted else { return }
        record.shippers[stateDirectory] = wanted
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        try DurableFile.publish(Array(try encoder.encode(record)) + [0x0A], to: path(inMaster: master))
    }
}
