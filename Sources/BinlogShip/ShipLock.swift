import BinlogFormat
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// One shipping run per source: an exclusive `flock` on `<state dir>/lock`, released by the
/// kernel when the holder dies (kill -9 included), so it is never stale. The holder writes its
/// pid into the file so that an overlapping run can name it.
///
/// This repeats the few lines of BinlogMaster's `DirectoryLock` on purpose: shipping must not
/// depend on the module that owns SQLite (STYLE.md "Shape of the package").
public final class ShipLock {
    public let path: String
    private var fd: Int32

    /// Takes the lock, waiting up to `timeout` seconds (0: one try, as cron wants).
    public init(path: String, timeout: Double = 0) throws {
        self.path = path
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw shipError(ioError("open lock file", path: path)) }
        let deadline = Date().addingTimeInterval(timeout)
        while flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let code = errno
            guard code == EWOULDBLOCK || code == EINTR else {
                close(fd)
                throw shipError(ioError("lock", path: path, errno: code))
            }
            if Date() >= deadline {
                let holder = ShipLock.holder(fd: fd)
                close(fd)
                throw ShipError(.busy, "another binlog-ship run holds \(path)" + (holder.map { " (pid \($0))" } ?? ""),
                                hint: "it ships the same segments; this run can stop. The lock is released when that process exits, even by kill -9")
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
