import BinlogFormat
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Copies one verified source segment to temp files in several targets at once, reading the
/// source once, then proves every copy: the bytes copied hash to the checksum the
/// verification computed, a sealed copy ends with the verified footer, and each temp file,
/// fsynced and read back, hashes the same. Only a proven temp file is handed back for
/// publication; a target that fails loses its temp file and the others go on.
struct SegmentCopier {
    static let chunkSize = 8 << 20

    struct Destination {
        let directory: TargetDirectory
        let finalName: String
    }

    /// One result per destination, in order: the path of the proven temp file, or the error.
    /// `source`, when given, is the segment already open (the active segment, which the master
    /// may rename while it is copied); otherwise the segment's path is opened.
    static func copy(_ segment: VerifiedSegment, from source: FileDescriptor? = nil, to destinations: [Destination]) -> [Result<String, ShipError>] {
        var results = [Result<String, ShipError>?](repeating: nil, count: destinations.count)
        var open: [(index: Int, file: FileDescriptor)] = []
        for (i, d) in destinations.enumerated() {
            let temp = DurableFile.temporaryPath(for: d.directory.path + "/" + d.finalName)
            do {
                open.append((i, try FileDescriptor(path: temp, flags: O_WRONLY | O_CREAT | O_EXCL, mode: 0o644)))
            } catch {
                results[i] = .failure(shipError(error, target: d.directory.target.name, context: "unable to create a temp file"))
            }
        }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: chunkSize, alignment: 4096)
        defer { buffer.deallocate() }
        do {
            try stream(segment, from: source ?? FileDescriptor(path: segment.path, flags: O_RDONLY), into: &open, results: &results,
                       buffer: buffer, destinations: destinations)
        } catch {
            // The source itself failed or changed: no copy can be trusted.
            let e = shipError(error)
            for (i, file) in open { unlink(file.path); results[i] = .failure(e.on(target: destinations[i].directory.target.name)) }
            open = []
        }
        // Each target's fsync and read-back run side by side: one slow disk does not hold up the
        // others, and several flushes keep one disk busier than one at a time.
        let finished = UnsafeMutableBufferPointer<Result<String, ShipError>?>.allocate(capacity: open.count)
        finished.initialize(repeating: nil)
        defer { finished.deallocate() }
        DispatchQueue.concurrentPerform(iterations: open.count) { k in
            let (i, file) = open[k]
            do {
                try file.sync()
                try readBack(file.path, segment)
                finished[k] = .success(file.path)
            } catch {
                unlink(file.path)
                finished[k] = .failure(shipError(error, target: destinations[i].directory.target.name))
            }
        }
        for (k, entry) in open.enumerated() { results[entry.index] = finished[k] }
        return results.map { $0! }
    }

    /// Reads the source once and writes every chunk to each open temp file.
    private static func stream(_ segment: VerifiedSegment, from source: FileDescriptor, into open: inout [(index: Int, file: FileDescriptor)],
                               results: inout [Result<String, ShipError>?], buffer: UnsafeMutableRawBufferPointer,
                               destinations: [Destination]) throws {
        let hash = StreamingChecksum()
        var footerBytes: [UInt8] = []
        var at: Int64 = 0
        while at < segment.length {
            let n = try readFully(source, at: at, into: buffer, count: Int(min(Int64(buffer.count), segment.length - at)))
            guard n > 0 else {
                throw FormatError(.truncated, "source segment ended at \(at) bytes while being copied; \(segment.length) were verified", path: segment.path, offset: at)
            }
            let chunk = UnsafeRawBufferPointer(rebasing: buffer[0..<n])
            let inData = Int(max(0, min(Int64(n), segment.dataEnd - at)))
            hash.update(UnsafeRawBufferPointer(rebasing: chunk[0..<inData]))
            footerBytes.append(contentsOf: chunk[inData...])
            open.removeAll { (i, file) in
                do {
                    try file.write(chunk, at: at)
                    Writeback.start(file, offset: at, length: n)
                    return false
                } catch {
                    unlink(file.path)
                    results[i] = .failure(shipError(error, target: destinations[i].directory.target.name))
                    return true
                }
            }
            at += Int64(n)
        }
        guard hash.digest == segment.checksum else {
            throw FormatError(.corrupted, "source segment changed between verification and copy", path: segment.path,
                              hint: "sealed segments are immutable; something rewrites this binlog directory")
        }
        if let footer = segment.footer {
            let copied = try? footerBytes.withUnsafeBytes { try SegmentFooter.decode($0, offset: segment.dataEnd) }
            guard copied == footer else {
                throw FormatError(.corrupted, "source segment's footer changed between verification and copy", path: segment.path, offset: segment.dataEnd)
            }
        }
    }

    /// Reads the fsynced temp file back and checks it against the verified segment. The file
    /// is mapped rather than read: the bytes are hashed where they sit in the page cache,
    /// without a copy (nothing else writes to a temp file, so the mapping cannot shrink).
    private static func readBack(_ path: String, _ segment: VerifiedSegment) throws {
        let file = try FileDescriptor(path: path, flags: O_RDONLY)
        let size = try file.size()
        guard size == segment.length else {
            throw FormatError(.corrupted, "copy is \(size) bytes after fsync, expected \(segment.length)", path: path,
                              hint: "the target's file system lost data; check it before shipping there again")
        }
        var matches = true
        if size > 0 {
            guard let base = mmap(nil, Int(size), PROT_READ, MAP_SHARED | MAP_POPULATE, file.fd, 0), base != MAP_FAILED else {
                throw ioError("map for reading back", path: path)
            }
            defer { munmap(base, Int(size)) }
            let bytes = UnsafeRawBufferPointer(start: base, count: Int(size))
            matches = Checksum.xxh3(UnsafeRawBufferPointer(rebasing: bytes[0..<Int(segment.dataEnd)])) == segment.checksum
            if let footer = segment.footer {
                let tail = UnsafeRawBufferPointer(rebasing: bytes[Int(segment.dataEnd)...])
                matches = matches && (try? SegmentFooter.decode(tail, offset: segment.dataEnd)) == footer
            }
        }
        guard matches else {
            throw FormatError(.corrupted, "copy reads back differently from the verified source", path: path,
                              hint: "the target's storage returned other bytes than were written; check it before shipping there again")
        }
        // The pages are clean now; dropping them keeps shipping from crowding out the cache.
        _ = posix_fadvise(file.fd, 0, 0, POSIX_FADV_DONTNEED)
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

/// Starts writing a file's dirty pages to disk without waiting (Linux `sync_file_range` with
/// `SYNC_FILE_RANGE_WRITE`), so that the fsync before publication finds little left to do and
/// copying overlaps with the disk's work. Swift's Glibc module does not export the call, so it
/// is looked up once; where it is missing this does nothing, and the fsync does all the work.
enum Writeback {
    private typealias SyncFileRange = @convention(c) (Int32, Int64, Int64, UInt32) -> Int32
    private static let syncFileRange: SyncFileRange? = {
        guard let handle = dlopen(nil, RTLD_NOW), let symbol = dlsym(handle, "sync_file_range") else { return nil }
        return unsafeBitCast(symbol, to: SyncFileRange.self)
    }()
    /// `SYNC_FILE_RANGE_WRITE` from <fcntl.h>.
    private static let write: UInt32 = 2

    static func start(_ file: FileDescriptor, offset: Int64, length: Int) {
        _ = syncFileRange?(file.fd, offset, Int64(length), write)
    }
}
