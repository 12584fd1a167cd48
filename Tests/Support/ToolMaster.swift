import BinlogFormat
import Foundation
import LogshipSystem

/// A master driven through the built `binlog-writer`, as a user drives it, for the replica
/// tests: every commit it acknowledges (LSN and commit time, parsed from `exec`'s output),
/// its sealed segments, and "ship" copies of them into a replica inbox (until `binlog-ship`
/// exists: a temp name in the inbox, then a rename, as the shipper will do).
public final class ToolMaster {
    public let path: String
    public var binlogPath: String { path + "/binlog" }
    public var databasePath: String { path + "/master.db" }

    /// One acknowledged transaction, from a `lsn=… commit_time=… events=…` line.
    public struct Commit: Equatable {
        public var lsn: UInt64
        public var commitTime: Int64
        public var events: Int
    }

    /// What a failed tool run said, thrown by the helpers below so a test stops at the first surprise.
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
        public init(description: String) { self.description = description }
    }

    /// Every commit acknowledged so far, in LSN order.
    public private(set) var commits: [Commit] = []
    /// The environment `exec` and `rotate` run under (nil: the test's own), e.g. a `SkewedClock`'s.
    public var environment: [String: String]?

    /// Runs `binlog-writer init` in `dir/name`, markers off unless `initArguments` turn them on.
    public init(_ dir: TestDirectory, name: String = "master", segmentSize: String = "16KiB", initArguments: [String] = []) throws {
        path = dir.sub(name)
        // Digest markers (on by default) only where a test asks for them: the marker-only
        // transaction each rotate adds would shift the LSNs most tests count.
        let r = try ToolRunner.run("binlog-writer", ["init", path, "--segment-size", segmentSize, "--digest-interval", "0"] + initArguments)
        guard r.status == 0 else { throw Failure(description: "binlog-writer init: \(r.status) \(r.stderr)") }
    }

    /// Runs SQL through `binlog-writer exec` (from a file, so scripts can be large) and returns
    /// the commits it acknowledged. `--sync-binlog 0`: the tests never lose power.
    @discardableResult
    public func exec(_ sql: String) throws -> [Commit] {
        let (r, new) = try execWhateverTheStatus(sql)
        guard r.status == 0 else { throw Failure(description: "binlog-writer exec: \(r.status) \(r.stderr)") }
        return new
    }

    /// Runs SQL like `exec` and returns the run whatever its exit status, with the commits it
    /// acknowledged (recorded too: a script can commit transactions before a later one fails).
    public func execWhateverTheStatus(_ sql: String) throws -> (run: ToolRunner.Result, commits: [Commit]) {
        let file = path + "-script-\(UUID().uuidString).sql"
        try Data(sql.utf8).write(to: URL(fileURLWithPath: file))
        defer { unlink(file) }
        let r = try ToolRunner.run("binlog-writer", ["exec", path, "--file", file, "--sync-binlog", "0"], environment: environment)
        let new = try Self.parseCommits(r.stdout)
        commits += new
        return (r, new)
    }

    /// Parses `exec`'s acknowledgement lines.
    public static func parseCommits(_ stdout: String) throws -> [Commit] {
        var result: [Commit] = []
        for line in stdout.split(separator: "\n") where line.hasPrefix("lsn=") {
            var lsn: UInt64?, time: Int64?, events: Int?
            for field in line.split(separator: " ") {
                let kv = field.split(separator: "=", maxSplits: 1).map(String.init)
                guard kv.count == 2 else { continue }
                switch kv[0] {
                case "lsn": lsn = UInt64(kv[1])
                case "commit_time": time = parseTimestamp(kv[1])
                case "events": events = Int(kv[1])
                default: break
                }
            }
            guard let lsn, let time, let events else { throw Failure(description: "cannot read \(line)") }
            result.append(Commit(lsn: lsn, commitTime: time, events: events))
        }
        return result
    }

    /// Seals the active segment (nothing to do when it is empty).
    public func rotate() throws {
        let r = try ToolRunner.run("binlog-writer", ["rotate", path], environment: environment)
        guard r.status == 0 else { throw Failure(description: "binlog-writer rotate: \(r.status) \(r.stderr)") }
        // With digest markers on (the default), rotate commits a marker-only transaction before
        // it seals: an acknowledged transaction like any other, so it is counted here too.
        guard let newest = try sealedSegments().last, newest.lastLSN > lastLSN else { return }
        let reader = try SegmentReader(path: newest.path)
        let known = lastLSN
        while let tx = try reader.next() {
            if tx.lsn > known { commits.append(Commit(lsn: tx.lsn, commitTime: tx.commitTime, events: tx.events.count)) }
        }
    }

    /// The last acknowledged LSN (0 before any).
    public var lastLSN: UInt64 { commits.last?.lsn ?? 0 }

    /// Sealed segment file names in log order, with their LSN ranges (from their footers).
    public func sealedSegments() throws -> [(name: String, path: String, firstLSN: UInt64, lastLSN: UInt64)] {
        try BinlogDirectory(path: binlogPath).list().segments.filter { !$0.name.isActive }.map { entry in
            let reader = try SegmentReader(path: entry.path)
            return (entry.name.description, entry.path, reader.header.firstLSN, reader.footer?.lastLSN ?? 0)
        }
    }

    /// The master's tables at `lsn`, by replaying its binlog into a fresh database with the
    /// apply engine and digesting it with `TableDigest` (the independent oracle).
    public func digest(at lsn: UInt64, scratch: TestDirectory) throws -> [String: String] {
        let file = scratch.sub("oracle-\(lsn)-\(UUID().uuidString).db")
        defer { for suffix in ["", "-wal", "-shm", "-journal"] { unlink(file + suffix) } }
        let reached = try BinlogReplay.replay(binlog: binlogPath, into: file, upTo: lsn)
        guard reached == lsn else { throw Failure(description: "the binlog reaches LSN \(reached), not \(lsn)") }
        return try TableDigest.digest(path: file)
    }
}

/// Copies files into a replica inbox the way a shipper publishes them: a `.tmp-` name in the
/// inbox, then a rename, so apply never sees half a file.
public enum Shipping {
    /// Ships `source` into `inbox` under `name` (default: the source's own name).
    public static func ship(_ source: String, to inbox: String, as name: String? = nil) throws {
        let final = inbox + "/" + (name ?? (source as NSString).lastPathComponent)
        let temp = inbox + "/.tmp-test-\(UUID().uuidString)"
        try FileManager.default.copyItem(atPath: source, toPath: temp)
        guard rename(temp, final) == 0 else { throw ToolMaster.Failure(description: "rename \(temp) → \(final): errno \(errno)") }
    }

    /// Ships every sealed segment of the binlog directory `binlog` not yet in `inbox`.
    public static func shipSealed(binlog: String, to inbox: String) throws {
        for entry in try BinlogDirectory(path: binlog).list().segments where !entry.name.isActive {
            if FileManager.default.fileExists(atPath: inbox + "/" + entry.name.description) { continue }
            try ship(entry.path, to: inbox)
        }
    }

    /// Ships every sealed segment of `master` not yet in `inbox`; returns the names shipped.
    @discardableResult
    public static func shipAll(_ master: ToolMaster, to inbox: String, upToLSN: UInt64? = nil) throws -> [String] {
        var shipped: [String] = []
        for s in try master.sealedSegments() where !FileManager.default.fileExists(atPath: inbox + "/" + s.name) {
            if let upToLSN, s.firstLSN > upToLSN { break }
            try ship(s.path, to: inbox)
            shipped.append(s.name)
        }
        return shipped
    }
}
