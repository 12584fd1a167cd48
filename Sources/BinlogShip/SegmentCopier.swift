import BinlogFormat
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Copies one verified source segment into an upload in each target, then proves every copy:
/// sealed (fsynced, for a directory) and read back, its bytes before the footer hash (XXH3-64)
/// to the checksum the verification computed, and a sealed copy ends with the verified footer.
/// Only a proven upload is handed back for publication; a target that fails loses its upload
/// and the others go on.
///
/// Writing and proving are separate steps, so that a run can write the next segment while the
/// last one is flushed. Each target is written, flushed and read back on a thread of its own,
/// so a slow target does not hold up the others. How bytes travel (`copy_file_range` for a
/// directory) is the backend's business (`TargetUpload.copy`).
struct SegmentCopier {
    static let chunkSize = 8 << 20

    struct Destination {
        let store: TargetStore
        let finalName: String
    }

    /// An upload written but not yet proven: `prove` seals it and reads it back.
    final class Pending {
        let upload: TargetUpload
        let target: String
        /// Where the object will be, for messages.
        let address: String
        let segment: VerifiedSegment
        fileprivate let input: FileDescriptor

        fileprivate init(upload: TargetUpload, store: TargetStore, segment: VerifiedSegment, input: FileDescriptor) {
            self.upload = upload
            target = store.name
            address = store.address(of: upload.key)
            self.segment = segment
            self.input = input
        }

        /// Drops the upload (a copy that will not be published).
        func discard() { upload.abort() }
    }

    /// Writes and proves in one go: one result per destination, in order, the proven upload
    /// or the error.
    static func copy(_ segment: VerifiedSegment, from source: FileDescriptor? = nil, to destinations: [Destination]) -> [Result<TargetUpload, ShipError>] {
        let written = write(segment, from: source, to: destinations)
        var proven = prove(written.compactMap { try? $0.get() }).makeIterator()
        return written.map { w in w.flatMap { _ in proven.next() ?? .failure(ShipError(.io, "unable to prove the copy of \(segment.name)")) } }
    }

    /// Copies `segment` into an upload in each destination, side by side. `source`, when
    /// given, is the segment already open (the active segment, which the master may rename
    /// meanwhile); otherwise its path is opened.
    static func write(_ segment: VerifiedSegment, from source: FileDescriptor? = nil, to destinations: [Destination]) -> [Result<Pending, ShipError>] {
        let input: FileDescriptor
        do { input = try source ?? RegularFile.open(segment.path) } catch {
            let e = shipError(error)
            return destinations.map { .failure(e.on(target: $0.store.name)) }
        }
        return parallel(destinations.count) { i in
            let d = destinations[i]
            var upload: TargetUpload?
            do {
                upload = try d.store.beginUpload(d.finalName)
                try write(segment, from: input, to: upload!)
                return .success(Pending(upload: upload!, store: d.store, segment: segment, input: input))
            } catch {
                upload?.abort()
                return .failure(shipError(error, target: d.store.name))
            }
        }
    }

    /// Seals each written upload and reads it back against the verified segment, side by
    /// side, then, with `stage`, sends what it can before publication (`TargetUpload.stage`).
    /// An upload that fails is dropped.
    static func prove(_ pending: [Pending], stage: Bool = false) -> [Result<TargetUpload, ShipError>] {
        parallel(pending.count) { i in
            let p = pending[i]
            do {
                try check(p)
                if stage { try p.upload.stage() }
                return .success(p.upload)
            } catch {
                p.upload.abort()
                return .failure(shipError(error, target: p.target))
            }
        }
    }

    /// Runs `body` for 0..<count on as many threads, and returns the results in order.
    private static func parallel<T>(_ count: Int, _ body: (Int) -> T) -> [T] {
        // nonisolated(unsafe): concurrentPerform returns only after every iteration ran, each
        // iteration writes its own slot of `results` alone, and `body` is only called, never changed.
        nonisolated(unsafe) let results = UnsafeMutableBufferPointer<T?>.allocate(capacity: count)
        results.initialize(repeating: nil)
        defer { results.deallocate() }
        nonisolated(unsafe) let body = body
        DispatchQueue.concurrentPerform(iterations: count) { results[$0] = body($0) }
        return results.map { $0! }
    }

    private static func write(_ segment: VerifiedSegment, from input: FileDescriptor, to upload: TargetUpload) throws {
        var at: Int64 = 0
        while at < segment.length {
            let want = Int(min(Int64(chunkSize), segment.length - at))
            let done = try upload.copy(from: input, at: at, count: want)
            guard done > 0 else {
                throw FormatError(.truncated, "source segment ended at \(at) bytes while being copied; \(segment.length) were verified", path: segment.path, offset: at)
            }
            at += Int64(done)
        }
    }

    private static func check(_ p: Pending) throws {
        let segment = p.segment
        let matches = try p.upload.seal(length: segment.length) { bytes in
            guard Checksum.xxh3(UnsafeRawBufferPointer(rebasing: bytes[0..<Int(segment.dataEnd)])) == segment.checksum else { return false }
            guard let footer = segment.footer else { return true }
            return (try? SegmentFooter.decode(UnsafeRawBufferPointer(rebasing: bytes[Int(segment.dataEnd)...]), offset: segment.dataEnd, version: segment.header.version)) == footer
        }
        guard matches else {
            // Tell a source that changed under the copy from a target that stores other bytes.
            if try !sourceStillMatches(p.input, segment) {
                throw FormatError(.corrupted, "source segment changed between verification and copy", path: segment.path,
                                  hint: "sealed segments are immutable; something rewrites this binlog directory")
            }
            throw FormatError(.corrupted, "copy reads back differently from the verified source", path: p.address,
                              hint: "the target's storage returned other bytes than were written; check it before shipping there again")
        }
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
