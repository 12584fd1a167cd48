import BinlogFormat
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Copies one verified source segment into a temp file in each target, then proves every
/// copy: fsynced and read back, its bytes before the footer hash (XXH3-64) to the checksum the
/// verification computed, and a sealed copy ends with the verified footer. Only a proven temp
/// file is handed back for publication; a target that fails loses its temp file and the others
/// go on.
///
/// Writing and proving are separate steps, so that a run can write the next segment while the
/// last one is flushed. Each target is written, flushed and read back on a thread of its own,
/// so a slow disk does not hold up the others. The copy is made in the kernel (`copy_file_range`, no pass through
/// user memory) where the file systems allow it, else with read and write.
struct SegmentCopier {
    static let chunkSize = 8 << 20

    struct Destination {
        let directory: TargetDirectory
        let finalName: String
    }

    /// A temp file written but not yet proven: `prove` flushes it and reads it back.
    final class Pending {
        let temp: String
        let target: String
        let segment: VerifiedSegment
        fileprivate let input: FileDescriptor
        fileprivate let output: FileDescriptor

        fileprivate init(temp: String, target: String, segment: VerifiedSegment, input: FileDescriptor, output: FileDescriptor) {
            self.temp = temp
            self.target = target
            self.segment = segment
            self.input = input
            self.output = output
        }

        /// Deletes the temp file (a copy that will not be published).
        func discard() { unlink(temp) }
    }

    /// Writes and proves in one go: one result per destination, in order, the path of the
    /// proven temp file or the error.
    static func copy(_ segment: VerifiedSegment, from source: FileDescriptor? = nil, to destinations: [Destination]) -> [Result<String, ShipError>] {
        let written = write(segment, from: source, to: destinations)
        let proven = prove(written.compactMap { try? $0.get() })
        var next = proven.makeIterator()
        return written.map { w in w.flatMap { _ in next.next()! } }
    }

    /// Copies `segment` into a temp file in each destination, side by side, starting the
    /// disk's writeback as it goes. `source`, when given, is the segment already open (the
    /// active segment, which the master may rename meanwhile); otherwise its path is opened.
    static func write(_ segment: VerifiedSegment, from source: FileDescriptor? = nil, to destinations: [Destination]) -> [Result<Pending, ShipError>] {
        let input: FileDescriptor
        do { input = try source ?? RegularFile.open(segment.path) } catch {
            let e = shipError(error)
            return destinations.map { .failure(e.on(target: $0.directory.target.name)) }
        }
        return parallel(destinations.count) { i in
            let d = destinations[i]
            let temp = DurableFile.temporaryPath(for: d.directory.path + "/" + d.finalName)
            do {
                let output = try FileDescriptor(path: temp, flags: O_WRONLY | O_CREAT | O_EXCL, mode: 0o644)
                try write(segment, from: input, to: output)
                return .success(Pending(temp: temp, target: d.directory.target.name, segment: segment, input: input, output: output))
            } catch {
                unlink(temp)
                return .failure(shipError(error, target: d.directory.target.name))
            }
        }
    }

    /// fsyncs each written temp file and reads it back against the verified segment, side by
    /// side. A temp file that fails is deleted.
    static func prove(_ pending: [Pending]) -> [Result<String, ShipError>] {
        parallel(pending.count) { i in
            let p = pending[i]
            do {
                try p.output.sync()
                try check(p)
                return .success(p.temp)
            } catch {
                unlink(p.temp)
                return .failure(shipError(error, target: p.target))
            }
        }
    }

    /// Runs `body` for 0..<count on as many threads, and returns the results in order.
    private static func parallel<T>(_ count: Int, _ body: (Int) -> T) -> [T] {
        let results = UnsafeMutableBufferPointer<T?>.allocate(capacity: count)
        results.initialize(repeating: nil)
        defer { results.deallocate() }
        DispatchQueue.concurrentPerform(iterations: count) { results[$0] = body($0) }
        return results.map { $0! }
    }

    private static func write(_ segment: VerifiedSegment, from input: FileDescriptor, to output: FileDescriptor) throws {
        var at: Int64 = 0
        var buffer: UnsafeMutableRawBufferPointer?
        defer { buffer?.deallocate() }
        while at < segment.length {
            let want = Int(min(Int64(chunkSize), segment.length - at))
            var n = KernelCopy.copy(from: input, at: at, to: output, count: want)
            if n == nil {
                if buffer == nil { buffer = .allocate(byteCount: chunkSize, alignment: 4096) }
                n = try readFully(input, at: at, into: buffer!, count: want)
                try output.write(UnsafeRawBufferPointer(rebasing: buffer![0..<n!]), at: at)
            }
            guard let done = n, done > 0 else {
                throw FormatError(.truncated, "source segment ended at \(at) bytes while being copied; \(segment.length) were verified", path: segment.path, offset: at)
            }
            Writeback.start(output, offset: at, length: done)
            at += Int64(done)
        }
    }

    private static func check(_ p: Pending) throws {
        guard try readBack(p.temp, p.segment) else {
            // Tell a source that changed under the copy from a target that stores other bytes.
            if try !sourceStillMatches(p.input, p.segment) {
                throw FormatError(.corrupted, "source segment changed between verification and copy", path: p.segment.path,
                                  hint: "sealed segments are immutable; something rewrites this binlog directory")
            }
            throw FormatError(.corrupted, "copy reads back differently from the verified source", path: p.temp,
                              hint: "the target's storage returned other bytes than were written; check it before shipping there again")
        }
    }

    /// Maps the fsynced temp file and checks it against the verified segment: the bytes are
    /// hashed where they sit in the page cache, without a copy (nothing else writes a temp
    /// file, so the mapping cannot shrink under the hash).
    private static func readBack(_ path: String, _ segment: VerifiedSegment) throws -> Bool {
        let file = try FileDescriptor(path: path, flags: O_RDONLY)
        let size = try file.size()
        guard size == segment.length else {
            throw FormatError(.corrupted, "copy is \(size) bytes after fsync, expected \(segment.length)", path: path,
                              hint: "the target's file system lost data; check it before shipping there again")
        }
        guard size > 0 else { return segment.dataEnd == 0 }
        guard let base = mmap(nil, Int(size), PROT_READ, MAP_SHARED | MAP_POPULATE, file.fd, 0), base != MAP_FAILED else {
            throw ioError("map for reading back", path: path)
        }
        defer { munmap(base, Int(size)) }
        let bytes = UnsafeRawBufferPointer(start: base, count: Int(size))
        guard Checksum.xxh3(UnsafeRawBufferPointer(rebasing: bytes[0..<Int(segment.dataEnd)])) == segment.checksum else { return false }
        guard let footer = segment.footer else { return true }
        return (try? SegmentFooter.decode(UnsafeRawBufferPointer(rebasing: bytes[Int(segment.dataEnd)...]), offset: segment.dataEnd)) == footer
    }

    /// Hashes the source's bytes again (only after a copy failed its check).
    private static func sourceStillMatches(_ input: FileDescriptor, _ segment: VerifiedSegment) throws -> Bool {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: chunkSize, alignment: 4096)
        defer { buffer.deallocate() }
        let hash = StreamingChecksum()
        var at: Int64 = 0
        while at < segment.dataEnd {
            let n = try readFully(input, at: at, into: buffer, count: Int(min(Int64(chunkSize), segment.dataEnd - at)))
            guard n > 0 else { return false }
            hash.update(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
            at += Int64(n)
        }
        return hash.digest == segment.checksum
    }

    /// pread until `count` bytes or end of file; returns the bytes read.
    static func readFully(_ file: FileDescriptor, at offset: Int64, into buffer: UnsafeMutableRawBufferPointer, count: Int) throws -> Int {
        var done = 0
        while done < count {
            let n = pread(file.fd, buffer.baseAddress! + done, count - done, off_t(offset) + off_t(done))
            if n < 0 {
                if errno == EINTR { continue }
                throw ioError("read", path: file.path)
            }
            if n == 0 { break }
            done += n
        }
        return done
    }
}

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
