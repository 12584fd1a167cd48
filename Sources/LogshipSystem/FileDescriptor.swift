import Foundation
#if canImport(Glibc)
import Glibc
#endif


/// An owned POSIX file descriptor; every system call's result goes through `check`.
/// Closed in `deinit`, so an error path can never leak it.
public final class FileDescriptor {
    public let fd: Int32
    public let path: String

    public init(path: String, flags: Int32, mode: mode_t = FilePermissions.file) throws {
        let fd = open(path, flags | O_CLOEXEC, mode)
        guard fd >= 0 else { throw ioError("open", path: path) }
        self.fd = fd
        self.path = path
    }

    /// Takes ownership of an open descriptor (closed in `deinit`).
    init(owning fd: Int32, path: String) {
        self.fd = fd
        self.path = path
    }

    deinit { close(fd) }

    public func size() throws -> Int64 {
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw ioError("stat", path: path) }
        return Int64(st.st_size)
    }

    /// Reads exactly `count` bytes at `offset`, or fewer at end of file.
    public func read(at offset: Int64, count: Int) throws -> [UInt8] {
        guard count > 0 else { return [] }
        var failure: Int32 = 0
        // Not zero-filled first: pread fills it, and only the bytes read are kept.
        let buffer = [UInt8](unsafeUninitializedCapacity: count) { raw, initialized in
            var done = 0
            while done < count {
                let n = pread(fd, raw.baseAddress! + done, count - done, off_t(offset) + off_t(done))
                if n < 0 {
                    if errno == EINTR { continue }
                    failure = errno
                    break
                }
                if n == 0 { break }
                done += n
            }
            initialized = done
        }
        if failure != 0 { throw ioError("read", path: path, errno: failure) }
        return buffer
    }

    /// Writes all of `bytes` at `offset`.
    public func write(_ bytes: UnsafeRawBufferPointer, at offset: Int64) throws {
        var done = 0
        while done < bytes.count {
            let n = pwrite(fd, bytes.baseAddress! + done, bytes.count - done, off_t(offset) + off_t(done))
            if n < 0 {
                if errno == EINTR { continue }
                throw ioError("write", path: path)
            }
            done += n
        }
    }

    public func write(_ bytes: [UInt8], at offset: Int64) throws {
        try bytes.withUnsafeBytes { try write($0, at: offset) }
    }

    /// fdatasync: the data and the file size reach the disk.
    public func sync() throws {
        guard fdatasync(fd) == 0 else { throw ioError("fsync", path: path) }
    }

    public func truncate(to length: Int64) throws {
        guard ftruncate(fd, off_t(length)) == 0 else { throw ioError("truncate", path: path) }
    }
}
