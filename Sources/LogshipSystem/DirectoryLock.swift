import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// One process at a time per directory: an exclusive `flock` on a lock file, which the kernel
/// releases when the holder dies (kill -9 included), so a lock is never stale. The holder
/// writes its pid into the file so that a waiter can name it. Used by the master (one
/// writer), the shipper (one run per source) and replicas (one applier).
public final class DirectoryLock {
    /// Thrown when the lock stays held past the timeout.
    public struct Busy: Error, CustomStringConvertible, Sendable {
        public var path: String
        public var holderPID: Int32?
        public var description: String {
            "\(path) is locked by another process" + (holderPID.map { " (pid \($0))" } ?? "")
        }
    }

    public let path: String
    private var fd: Int32

    /// Waits up to `timeout` for the lock (`.zero` = try once).
    public convenience init(path: String, timeout: Duration) throws {
        try self.init(path: path, timeout: timeout.timeInterval)
    }

    /// Waits up to `timeout` seconds for the lock (0 = try once).
    public init(path: String, timeout: Double) throws {
        self.path = path
        // O_NOFOLLOW: a symbolic link planted under the lock's name is refused, so the pid written
        // below can never truncate and overwrite the file the link points at. Mode 0600 (0640 with group
        // read, FilePermissions): only the owner needs to open a lock file.
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, FilePermissions.file)
        guard fd >= 0 else {
            let code = errno
            if code == ELOOP {
                throw SystemError(.io, "unable to open lock file: it is a symbolic link", path: path,
                                  hint: "a lock file is always a regular file its tool creates; remove the link, then rerun")
            }
            throw ioError("open lock file", path: path, errno: code)
        }
        var st = stat()
        guard fstat(fd, &st) == 0, st.st_mode & S_IFMT == S_IFREG else {
            close(fd)
            throw SystemError(.io, "unable to open lock file: it is not a regular file", path: path,
                              hint: "a lock file is always a regular file its tool creates; move this one away, then rerun")
        }
        let deadline = Date().addingTimeInterval(timeout)
        while flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let code = errno
            guard code == EWOULDBLOCK || code == EINTR else {
                close(fd)
                throw ioError("lock", path: path, errno: code)
            }
            if Date() >= deadline {
                let holder = DirectoryLock.holder(fd: fd)
                close(fd)
                throw Busy(path: path, holderPID: holder)
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
    public func release() { Self.unlock(&fd) }

    /// Unlocks and closes `fd` once (-1 afterwards).
    fileprivate static func unlock(_ fd: inout Int32) {
        guard fd >= 0 else { return }
        flock(fd, LOCK_UN)
        close(fd)
        fd = -1
    }

    /// A shared hold on a lock that no tool holds: while it lasts, a tool that wants the lock
    /// waits (its usual retry, every 20 ms up to its timeout).
    public final class SharedHold {
        private var fd: Int32

        fileprivate init(fd: Int32) { self.fd = fd }
        deinit { release() }

        public func release() { DirectoryLock.unlock(&fd) }
    }

    /// Holds the lock at `path` shared if no tool holds it: nil when one does, and when the file
    /// is missing (it is not created: a hold on nothing would not keep a starting tool out),
    /// cannot be opened for reading (another user's, without group read) or is not a regular file.
    public static func holdSharedIfFree(path: String) -> SharedHold? {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        guard fd >= 0 else { return nil }
        var st = stat()
        guard fstat(fd, &st) == 0, st.st_mode & S_IFMT == S_IFREG, flock(fd, LOCK_SH | LOCK_NB) == 0 else {
            close(fd)
            return nil
        }
        return SharedHold(fd: fd)
    }

    private static func holder(fd: Int32) -> Int32? {
        var buffer = [UInt8](repeating: 0, count: 32)
        let n = pread(fd, &buffer, buffer.count, 0)
        guard n > 0 else { return nil }
        return Int32(String(decoding: buffer[0..<n], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
    }
}
