import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Durable file publication (DEVELOPERS.md principle 2): temp file in the same directory,
/// fsync, rename, fsync the directory.
public enum DurableFile {
    /// fsyncs a directory so that a rename or a new file in it survives power loss.
    public static func syncDirectory(_ directory: String) throws {
        let fd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw ioError("open directory", path: directory) }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw ioError("fsync directory", path: directory) }
    }

    public static func rename(_ from: String, to: String) throws {
        guard Glibc.rename(from, to) == 0 else { throw ioError("rename to \(to)", path: from) }
    }

    /// Writes `data` to `path` atomically and durably; a crash leaves the old file or the new
    /// one, never a mix, and at worst a `.tmp-*` file that `removeStaleTemporaries` deletes.
    /// The file gets `FilePermissions.file` (0600, or 0640 with group read). `durable: false`
    /// leaves out both fsyncs (atomic, not durable): only for a file that records nothing that is
    /// not durable elsewhere (`SyncAcks`).
    public static func publish(_ data: [UInt8], to path: String, durable: Bool = true) throws {
        let directory = (path as NSString).deletingLastPathComponent
        let temp = temporaryPath(for: path)
        do {
            let file = try FileDescriptor(path: temp, flags: O_WRONLY | O_CREAT | O_TRUNC, mode: FilePermissions.file)
            try file.write(data, at: 0)
            if durable { try file.sync() }
            try rename(temp, to: path)
            if durable { try syncDirectory(directory.isEmpty ? "." : directory) }
        } catch {
            unlink(temp)
            throw error
        }
    }

    /// A temp name in the same directory as `path`, marked so no reader takes it for data.
    public static func temporaryPath(for path: String) -> String {
        let directory = (path as NSString).deletingLastPathComponent
        let name = (path as NSString).lastPathComponent
        let prefix = directory.isEmpty ? "" : directory + "/"
        return prefix + ".tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))-" + name
    }

    /// Deletes temp files left by a crashed writer (names starting `.tmp-`).
    @discardableResult
    public static func removeStaleTemporaries(in directory: String) -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        var removed: [String] = []
        for name in names where name.hasPrefix(".tmp-") {
            if unlink(directory + "/" + name) == 0 { removed.append(name) }
        }
        return removed
    }
}
