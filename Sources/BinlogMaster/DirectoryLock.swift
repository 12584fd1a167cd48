import BinlogFormat
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// One writer per data directory: an exclusive `flock` on `<dir>/lock`, which the kernel
/// releases when the holder dies (kill -9 included), so a lock is never stale. The holder
/// writes its pid into the file so that a waiter can name it.
public final class DirectoryLock {
    public let path: String
    private var fd: Int32

    /// Waits up to `timeout` seconds for the lock (0 = try once).
    public init(path: String, timeout: Double) throws {
        self.path = path
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw MasterError(ioError("open lock file", path: path), while: "locking") }
        let deadline = Date().addingTimeInterval(timeout)
        while flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let code = errno
            guard code == EWOULDBLOCK || code == EINTR else {
                close(fd)
                throw MasterError(ioError("lock", path: path, errno: code), while: "locking")
            }
            if Date() >= deadline {
                let holder = DirectoryLock.holder(fd: fd)
                close(fd)
                throw MasterError(.busy, "the data directory is locked by another binlog-writer" + (holder.map { " (pid \($0))" } ?? ""),
                                  hint: "wait for it to finish, or raise --lock-timeout; the lock is released automatically when that process exits")
            }
            usleep(20_000)
        }
        self.fd = fd
        let pid = "\(getpid())\n"
        _ = ftruncate(fd, 0)
        _ = pid.withCString { pwrite(fd, $0, strlen($0), 0) }
    }

    deinit { release() }

    /// Releases the lock now (idempotent); the kernel would on exit anyway.
    public func release() {
        guard fd >= 0 else { return }
        flock(fd, LOCK_UN)
        close(fd)
        fd = -1
    }

    private static func holder(fd: Int32) -> Int32? {
        var buffer = [UInt8](repeating: 0, count: 32)
        let n = pread(fd, &buffer, buffer.count, 0)
        guard n > 0 else { return nil }
        return Int32(String(decoding: buffer[0..<n], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
    }
}
