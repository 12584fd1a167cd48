import Foundation

/// A simulated power loss: processes run under the LD_PRELOAD shim `tools/faults/powerloss.c`,
/// which logs the old bytes of every write, every size change, creation, rename and unlink under
/// a root directory, and every fsync; after they are killed, `cut` undoes, newest first, every
/// change that no fsync made durable. What the model covers: docs/RELIABILITY.md.
public struct PowerLoss {
    /// What one cut took back: the proof that the fault fired.
    public struct Dropped: CustomStringConvertible {
        public var writes = 0, bytes = 0, tornWrites = 0, sizeChanges = 0, creations = 0, renames = 0, unlinks = 0
        /// Changes kept although not synced (`keepPrefix`: each file keeps a random prefix of its writes).
        public var keptUnsynced = 0
        public var syncsSeen = 0, directorySyncsSeen = 0
        public init() {}
        public var description: String {
            "\(writes) writes (\(bytes) bytes, \(tornWrites) torn), \(sizeChanges) size changes, \(creations) creations, \(renames) renames, \(unlinks) unlinks undone; \(keptUnsynced) unsynced kept; \(syncsSeen)+\(directorySyncsSeen) syncs seen"
        }
        public static func += (a: inout Dropped, b: Dropped) {
            a.writes += b.writes; a.bytes += b.bytes; a.tornWrites += b.tornWrites; a.sizeChanges += b.sizeChanges; a.creations += b.creations
            a.renames += b.renames; a.unlinks += b.unlinks; a.keptUnsynced += b.keptUnsynced
            a.syncsSeen += b.syncsSeen; a.directorySyncsSeen += b.directorySyncsSeen
        }
    }

    public let root: String
    public let logDirectory: String
    public let shim: String
    public var logPath: String { logDirectory + "/log" }

    /// Compiles the shim with `cc` into `scratch` and prepares an empty log directory beside
    /// `root` (the same file system, for the hard links that keep replaced files).
    public init(root: String, scratch: String) throws {
        self.root = root
        logDirectory = scratch + "/powerloss-log"
        shim = try FaultShim.compile("powerloss", into: scratch)
        try? FileManager.default.removeItem(atPath: logDirectory)
        try FileManager.default.createDirectory(atPath: logDirectory, withIntermediateDirectories: true)
    }

    /// The environment for a process that runs under the shim.
    public var environment: [String: String] {
        var env = ProcessInfo.processInfo.environment
        env["LD_PRELOAD"] = shim
        env["LOGSHIP_POWERLOSS_ROOT"] = root
        env["LOGSHIP_POWERLOSS_LOG"] = logDirectory
        return env
    }

    private struct Record {
        enum Kind { case write(ino: UInt64, offset: Int64, size: Int64, length: Int), size(ino: UInt64, before: Int64, after: Int64)
                    case sync(ino: UInt64), dirSync(String), create(String), rename(String, String, kept: String?), unlink(String, kept: String) }
        var kind: Kind
        var old: Data
    }

    /// Cuts the power: every process writing under the root must be dead. Undoes what was not
    /// durable, removes SQLite's `-shm` files (shared memory through mmap, outside the model),
    /// and empties the log for the next run. `cut(keepingPrefixes:)` instead lets each file keep
    /// a random prefix of its unsynced changes (write-back in order per file, torn at a write
    /// boundary).
    @discardableResult
    public func cut() throws -> Dropped { try cut(keep: { _ in 0 }) }

    /// Cuts the power, each file keeping a random prefix of its unsynced changes; the first
    /// write it loses may be torn: its first sectors (512 bytes, aligned) kept, the rest lost.
    @discardableResult
    public func cut(keepingPrefixes rng: inout SeededRandom) throws -> Dropped {
        var r = rng
        defer { rng = r }
        return try cut(keep: { Int.random(in: 0...$0, using: &r) }, tear: { Int.random(in: 0...$0, using: &r) })
    }

    private func cut(keep choose: (Int) -> Int, tear: ((Int) -> Int)? = nil) throws -> Dropped {
        var dropped = Dropped()
        let records = try parse()
        var data: [UInt64: [Record]] = [:]
        var entries: [String: [(Int, Record)]] = [:]
        for (seq, r) in records.enumerated() {
            switch r.kind {
            case .write(let ino, _, _, _), .size(let ino, _, _): data[ino, default: []].append(r)
            case .sync(let ino): data[ino] = []; dropped.syncsSeen += 1
            case .dirSync(let dir): entries[dir] = []; dropped.directorySyncsSeen += 1
            case .create(let p), .unlink(let p, _): entries[Self.parent(p), default: []].append((seq, r))
            case .rename(_, let to, _): entries[Self.parent(to), default: []].append((seq, r))
            }
        }
        for (_, r) in entries.values.joined().sorted(by: { $0.0 > $1.0 }) { try undoEntry(r, &dropped) }
        let paths = inodePaths()
        for (ino, pending) in data where !pending.isEmpty {
            guard let path = paths[ino] else { continue }   // removed: its creation was not durable
            let keep = choose(pending.count)
            dropped.keptUnsynced += keep
            try undoData(Array(pending[keep...].reversed()), path: path, tear: tear, &dropped)
        }
        for (_, path) in paths where path.hasSuffix("-shm") { unlink(path) }
        try FileManager.default.removeItem(atPath: logDirectory)
        try FileManager.default.createDirectory(atPath: logDirectory, withIntermediateDirectories: true)
        return dropped
    }

    private func undoEntry(_ r: Record, _ dropped: inout Dropped) throws {
        switch r.kind {
        case .create(let p):
            if unlink(p) == 0 { dropped.creations += 1 }
        case .rename(let from, let to, let kept):
            guard Foundation.rename(to, from) == 0 else { throw ToolMaster.Failure(description: "power loss: undo rename \(to) → \(from): errno \(errno)") }
            if let kept, link(kept, to) != 0 { throw ToolMaster.Failure(description: "power loss: restore \(to): errno \(errno)") }
            dropped.renames += 1
        case .unlink(let p, let kept):
            // A file at that name now was created after the unlink, in a directory not fsynced
            // since (or this record would not be pending): it is lost with the unlink's undo.
            // (Its creation record is missing when its process died between the open and the log.)
            unlink(p)
            guard link(kept, p) == 0 else { throw ToolMaster.Failure(description: "power loss: restore unlinked \(p): errno \(errno)") }
            dropped.unlinks += 1
        default: break
        }
    }

    /// Undoes `records` (newest first). With `tear`, the last one (the oldest change lost), if
    /// a write, keeps its first sectors (512 bytes, aligned): a torn write.
    private func undoData(_ records: [Record], path: String, tear: ((Int) -> Int)?, _ dropped: inout Dropped) throws {
        let fd = open(path, O_RDWR)
        guard fd >= 0 else { throw ToolMaster.Failure(description: "power loss: open \(path): errno \(errno)") }
        defer { close(fd) }
        for (i, r) in records.enumerated() {
            switch r.kind {
            case .write(_, let offset, let size, let length):
                var torn = Data()
                if let tear, i == records.count - 1 {
                    let sector: Int64 = 512
                    let first = (offset / sector + 1) * sector, end = offset + Int64(length)
                    if first < end {
                        let keep = first + Int64(tear(Int((end - 1 - first) / sector))) * sector - offset
                        torn = Data(count: Int(keep))
                        let n = torn.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, off_t(offset)) }
                        if n != torn.count { torn = Data() }
                    }
                }
                try put(r.old, fd: fd, at: offset, path: path)
                guard ftruncate(fd, off_t(size)) == 0 else { throw ToolMaster.Failure(description: "power loss: truncate \(path)") }
                try put(torn, fd: fd, at: offset, path: path)
                if !torn.isEmpty { dropped.tornWrites += 1 }
                dropped.writes += 1
                dropped.bytes += length - torn.count
            case .size(_, let before, let after):
                guard ftruncate(fd, off_t(before)) == 0 else { throw ToolMaster.Failure(description: "power loss: truncate \(path)") }
                try put(r.old, fd: fd, at: after, path: path)
                dropped.sizeChanges += 1
            default: break
            }
        }
    }

    private func put(_ bytes: Data, fd: Int32, at offset: Int64, path: String) throws {
        guard !bytes.isEmpty else { return }
        let n = bytes.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, off_t(offset)) }
        guard n == bytes.count else { throw ToolMaster.Failure(description: "power loss: restore bytes of \(path) at \(offset)") }
    }

    /// Inode → path of every regular file under the root.
    private func inodePaths() -> [UInt64: String] {
        var result: [UInt64: String] = [:]
        let e = FileManager.default.enumerator(atPath: root)
        while let rel = e?.nextObject() as? String {
            let p = root + "/" + rel
            var st = stat()
            if lstat(p, &st) == 0 && (st.st_mode & S_IFMT) == S_IFREG { result[UInt64(st.st_ino)] = p }
        }
        return result
    }

    private static func parent(_ path: String) -> String { (path as NSString).deletingLastPathComponent }

    private func parse() throws -> [Record] {
        guard let log = FileManager.default.contents(atPath: logPath) else { return [] }
        var records: [Record] = []
        var i = log.startIndex
        while i < log.endIndex {
            guard let nl = log[i...].firstIndex(of: 0x0A) else { throw ToolMaster.Failure(description: "power loss log: torn header at \(i)") }
            let f = String(decoding: log[i..<nl], as: UTF8.self).split(separator: " ").map(String.init)
            i = nl + 1
            func num(_ k: Int) throws -> Int64 {
                guard k < f.count, let v = Int64(f[k]) else { throw ToolMaster.Failure(description: "power loss log: bad record \(f)") }
                return v
            }
            var old = Data()
            if f.first == "W" || f.first == "T" {
                let n = Int(try num(f.count - 1))
                old = log[i..<(i + n)]
                i += n
            }
            let kind: Record.Kind
            switch f.first {
            case "W": kind = .write(ino: UInt64(try num(1)), offset: try num(2), size: try num(4), length: Int(try num(3)))
            case "T": kind = .size(ino: UInt64(try num(1)), before: try num(2), after: try num(3))
            case "S": kind = .sync(ino: UInt64(try num(1)))
            case "D" where f.count == 2: kind = .dirSync(f[1])
            case "C" where f.count == 2: kind = .create(f[1])
            case "R" where f.count == 4: kind = .rename(f[1], f[2], kept: f[3] == "-" ? nil : f[3])
            case "U" where f.count == 3: kind = .unlink(f[1], kept: f[2])
            default: throw ToolMaster.Failure(description: "power loss log: unknown record \(f) (paths must not hold spaces)")
            }
            records.append(Record(kind: kind, old: Data(old)))
        }
        return records
    }
}
