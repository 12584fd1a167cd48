import BinlogFormat
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Linux calls that Swift's Glibc module does not export, looked up once by name. Where one is
/// missing, callers fall back to portable code.
private enum LinuxCall {
    static func lookup<T>(_ name: String, as type: T.Type) -> T? {
        guard let handle = dlopen(nil, RTLD_NOW), let symbol = dlsym(handle, name) else { return nil }
        return unsafeBitCast(symbol, to: type)
    }
}

/// `copy_file_range`: the kernel copies from one file to another without the bytes passing
/// through this process.
enum KernelCopy {
    private typealias CopyFileRange = @convention(c) (Int32, UnsafeMutablePointer<Int64>?, Int32, UnsafeMutablePointer<Int64>?, Int, UInt32) -> Int
    private static let call = LinuxCall.lookup("copy_file_range", as: CopyFileRange.self)

    /// Copies up to `count` bytes at `offset` to the same offset; nil when the kernel or the
    /// file systems cannot (then the caller reads and writes). Errors that would also fail a
    /// write (a full disk, an I/O error) surface on the fallback's write.
    static func copy(from input: FileDescriptor, at offset: Int64, to output: FileDescriptor, count: Int) -> Int? {
        guard let call else { return nil }
        var done = 0
        while done < count {
            var inOffset = offset + Int64(done), outOffset = offset + Int64(done)
            let n = call(input.fd, &inOffset, output.fd, &outOffset, count - done, 0)
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { return done > 0 ? done : (n == 0 ? 0 : nil) }
            done += n
        }
        return done
    }
}

/// Starts writing a file's dirty pages to disk without waiting (`sync_file_range` with
/// `SYNC_FILE_RANGE_WRITE`), so that the fsync before publication finds little left to do
/// and the disk works while the copy goes on.
enum Writeback {
    private typealias SyncFileRange = @convention(c) (Int32, Int64, Int64, UInt32) -> Int32
    private static let call = LinuxCall.lookup("sync_file_range", as: SyncFileRange.self)
    /// `SYNC_FILE_RANGE_WRITE` from <fcntl.h>.
    private static let write: UInt32 = 2

    static func start(_ file: FileDescriptor, offset: Int64, length: Int) {
        _ = call?(file.fd, offset, Int64(length), write)
    }
}

extension TargetUpload {
    /// `copy(from:at:count:)` for a backend that stages into a local file `output`: the kernel
    /// copies where it can (`byKernel`), else the bytes are read and written through `write`.
    func copyStaged(from file: FileDescriptor, at offset: Int64, count: Int, into output: FileDescriptor) throws -> (count: Int, byKernel: Bool) {
        if let n = KernelCopy.copy(from: file, at: offset, to: output, count: count) { return (n, true) }
        let bytes = try file.read(at: offset, count: count)
        try bytes.withUnsafeBytes { try write($0, at: offset) }
        return (bytes.count, false)
    }
}
