import BinlogFormat
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A target that is a directory (another disk, an NFS mount, a replica's inbox). Objects are
/// files named by their keys, and appear only through `DirectoryUpload.publish`: a proven temp
/// file in the same directory, linked under its final name, which never replaces an existing
/// file, then an fsync of the directory. This is the only place that turns keys into paths.
public final class DirectoryStore: TargetStore {
    public let name: String
    public let path: String
    public var location: String { path }
    public var localDirectory: String? { path }
    /// link(2) refuses an existing name; file and directory are fsynced before `publish` returns.
    public let capabilities: TargetCapabilities = [.conditionalPut, .durablePublish]

    /// The directory store for a configured target.
    public init(target: ShipTarget) {
        name = target.name
        path = target.path
    }

    func file(_ key: String) -> String { path + "/" + key }

    public func address(of key: String) -> String { file(key) }

    /// A missing directory is never created: an unmounted file system often leaves an empty
    /// mount point behind, and filling the disk under it would hide the problem.
    public func checkReachable() throws {
        var st = Glibc.stat()
        guard fileStatus(path, &st) == 0 else {
            let code = errno
            if code == ENOENT || code == ENOTDIR {
                throw ShipError(.notFound, "target directory \(path) does not exist", target: name, path: path,
                                hint: "create it (mkdir -p) or mount the file system it lives on; binlog-ship never creates a target")
            }
            throw shipError(ioError("stat", path: path, errno: code), target: name)
        }
        guard st.st_mode & S_IFMT == S_IFDIR else {
            throw ShipError(.notFound, "target \(path) is not a directory", target: name, path: path)
        }
    }

    /// The directory's files, sorted (temp files included: `removeStaleUploads` reads them).
    /// A name that is a segment's or a partial copy's but not a regular file (a FIFO, a
    /// directory) is an error naming it: reading it could block forever.
    func names() throws -> [String] {
        let names: [String]
        do { names = try FileManager.default.contentsOfDirectory(atPath: path).sorted() } catch {
            throw shipError(ioError("list directory", path: path), target: name)
        }
        for key in names where TargetKeys.isRead(key) {
            do { try RegularFile.check(file(key)) } catch { throw shipError(error, target: name) }
        }
        return names
    }

    public func list() throws -> [TargetObject] {
        try names().filter { !$0.hasPrefix(".tmp-") }.compactMap { key in try stat(key) }
    }

    /// Size of `key`, nil when there is no such file; an error when it is not a regular file.
    public func stat(_ key: String) throws -> TargetObject? {
        var st = Glibc.stat()
        guard fileStatus(file(key), &st) == 0 else {
            if errno == ENOENT { return nil }
            throw shipError(ioError("stat", path: file(key)), target: name)
        }
        // Only a shipped key that is not a regular file is an error; other entries are no objects.
        if st.st_mode & S_IFMT != S_IFREG && !TargetKeys.isRead(key) { return nil }
        do { try RegularFile.require(st.st_mode, path: file(key)) } catch { throw shipError(error, target: name) }
        return TargetObject(key: key, size: Int64(st.st_size))
    }

    public func read(_ key: String, range: Range<Int64>?) throws -> [UInt8] {
        do {
            let f = try RegularFile.open(file(key))
            let r = try range ?? 0..<f.size()
            return try f.read(at: r.lowerBound, count: Int(r.upperBound - r.lowerBound))
        } catch where access(file(key), F_OK) != 0 {
            throw ShipError(.notFound, "unable to read \(key): the target has no such object", target: name, path: file(key))
        } catch {
            throw shipError(error, target: name)
        }
    }

    public func beginUpload(_ key: String) throws -> TargetUpload {
        do { return try DirectoryUpload(store: self, key: key) } catch { throw shipError(error, target: name) }
    }

    /// Deletes `key` (a superseded partial) and makes the deletion durable.
    public func delete(_ key: String) throws {
        guard unlink(file(key)) == 0 || errno == ENOENT else {
            throw shipError(ioError("delete", path: file(key)), target: name)
        }
        do { try DurableFile.syncDirectory(path) } catch { throw shipError(error, target: name) }
    }

    /// Deletes temp files of shipping runs that died (`.tmp-<pid>-<random>-<segment or
    /// partial name>` whose pid is gone); anything else in the directory is left alone.
    public func removeStaleUploads() -> [String] {
        var removed: [String] = []
        for key in (try? names()) ?? [] where key.hasPrefix(".tmp-") {
            let parts = key.dropFirst(5).split(separator: "-", maxSplits: 2, omittingEmptySubsequences: false)
            guard parts.count == 3, let pid = Int32(parts[0]) else { continue }
            guard TargetKeys.isShipped(String(parts[2])) else { continue }
            if pid != getpid(), kill(pid, 0) == 0 || errno == EPERM { continue }
            if unlink(file(key)) == 0 { removed.append(key) }
        }
        if !removed.isEmpty { try? DurableFile.syncDirectory(path) }
        return removed
    }

    public func isSameFile(_ key: String, as other: String) -> Bool {
        guard let id = FileIdentity(path: file(key)) else { return false }
        return id == FileIdentity(path: other)
    }
}

/// stat(2), named apart from `DirectoryStore.stat` (the protocol's method hides it inside the class).
private func fileStatus(_ path: String, _ st: inout stat) -> Int32 { stat(path, &st) }
