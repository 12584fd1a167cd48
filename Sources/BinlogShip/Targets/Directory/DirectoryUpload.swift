import BinlogFormat
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// An upload into a `DirectoryStore`: a temp file `.tmp-<pid>-<random>-<key>` in the target
/// directory (so the final rename or link stays on one file system), written with
/// `copy_file_range` where the file systems allow it, fsynced and read back through a mapping,
/// then linked under its key (never replacing a file) or, for a partial copy, renamed over it;
/// the directory is fsynced either way.
final class DirectoryUpload: TargetUpload {
    let key: String
    let temp: String
    private let store: DirectoryStore
    private let output: FileDescriptor

    init(store: DirectoryStore, key: String) throws {
        self.store = store
        self.key = key
        temp = DurableFile.temporaryPath(for: store.file(key))
        output = try FileDescriptor(path: temp, flags: O_WRONLY | O_CREAT | O_EXCL, mode: FilePermissions.file)
    }

    func write(_ bytes: UnsafeRawBufferPointer, at offset: Int64) throws {
        try output.write(bytes, at: offset)
        Writeback.start(output, offset: offset, length: bytes.count)
    }

    func copy(from file: FileDescriptor, at offset: Int64, count: Int) throws -> Int {
        let copied = try copyStaged(from: file, at: offset, count: count, into: output)
        if copied.byKernel { Writeback.start(output, offset: offset, length: copied.count) }
        return copied.count
    }

    /// fsyncs the temp file and maps it: the bytes are checked where they sit in the page cache,
    /// without a copy (nothing else writes a temp file, so the mapping cannot shrink).
    func seal(length: Int64, check: (UnsafeRawBufferPointer) throws -> Bool) throws -> Bool {
        try output.sync()
        let file = try FileDescriptor(path: temp, flags: O_RDONLY)
        let size = try file.size()
        guard size == length else {
            throw FormatError(.corrupted, "copy is \(size) bytes after fsync, expected \(length)", path: temp,
                              hint: "the target's file system lost data; check it before shipping there again")
        }
        guard size > 0 else { return try [UInt8]().withUnsafeBytes { try check($0) } }
        guard let base = mmap(nil, Int(size), PROT_READ, MAP_SHARED | MAP_POPULATE, file.fd, 0), base != MAP_FAILED else {
            throw ioError("map for reading back", path: temp)
        }
        defer { munmap(base, Int(size)) }
        return try check(UnsafeRawBufferPointer(start: base, count: Int(size)))
    }

    /// With `replace: false` (sealed segments) an existing file is never overwritten: `link`
    /// fails when the name exists; on file systems without hard links the name is checked
    /// first (the run holds the source's lock). A file that appeared meanwhile with the same
    /// bytes is success; with other bytes, a conflict.
    func publish(replace: Bool) throws -> TargetPublication {
        let final = store.file(key)
        var outcome = TargetPublication.published
        do {
            if replace {
                try DurableFile.rename(temp, to: final)
            } else if link(temp, final) == 0 {
                unlink(temp)
            } else {
                let code = errno
                guard code != EEXIST else {
                    outcome = try settle(onto: final)
                    try DurableFile.syncDirectory(store.path)
                    return outcome
                }
                guard [EPERM, EOPNOTSUPP, ENOTSUP, ENOSYS, EMLINK, EXDEV].contains(code) else {
                    unlink(temp)
                    throw ioError("link to \(final)", path: temp, errno: code)
                }
                if access(final, F_OK) == 0 {
                    outcome = try settle(onto: final)
                } else {
                    try DurableFile.rename(temp, to: final)
                }
            }
            try DurableFile.syncDirectory(store.path)
        } catch {
            throw shipError(error, target: store.name)
        }
        return outcome
    }

    /// `final` appeared while the temp file was being shipped: the same bytes are the object
    /// already there (made durable here too, since the run that wrote it may have died before
    /// its directory fsync); other bytes are a conflict naming the first differing offset. The
    /// temp file goes either way; `final` is never touched.
    private func settle(onto final: String) throws -> TargetPublication {
        defer { unlink(temp) }
        let sizes = (try FileDescriptor(path: final, flags: O_RDONLY).size(), try FileDescriptor(path: temp, flags: O_RDONLY).size())
        if let at = try FileComparison.firstDifference(final, temp, length: max(sizes.0, sizes.1)) {
            throw ShipError(.corruption, "conflict: \(key) appeared in the target while it was being shipped, with other bytes (\(sizes.0) bytes, the source's \(sizes.1); they differ from offset \(at)); nothing was overwritten",
                            target: store.name, path: final, offset: at,
                            hint: "another program or master writes into this target; compare the files, move the wrong one aside, and rerun")
        }
        try FileDescriptor(path: final, flags: O_RDONLY).sync()
        return .alreadyThere
    }

    func abort() { unlink(temp) }
}

/// Byte comparisons between local files, read in large chunks.
enum FileComparison {
    static let chunk = 4 << 20

    /// True when the first `length` bytes of `a` and `b` are equal (both must have them).
    static func samePrefix(_ a: String, _ b: String, length: Int64) throws -> Bool {
        try firstDifference(a, b, length: length) == nil
    }

    /// The offset of the first byte among the first `length` where `a` and `b` differ (or
    /// where one of them ends), nil when they agree.
    static func firstDifference(_ a: String, _ b: String, length: Int64) throws -> Int64? {
        let fa = try RegularFile.open(a)
        let fb = try RegularFile.open(b)
        var at: Int64 = 0
        while at < length {
            let n = Int(min(Int64(chunk), length - at))
            let x = try fa.read(at: at, count: n), y = try fb.read(at: at, count: n)
            if x != y {
                let same = zip(x, y).prefix { $0 == $1 }.count
                return at + Int64(same)
            }
            guard x.count == n else { return at + Int64(x.count) }
            at += Int64(n)
        }
        return nil
    }

    /// True when `a` and `b` hold the same bytes.
    static func identical(_ a: String, _ b: String) throws -> Bool {
        let sa = try RegularFile.open(a).size(), sb = try RegularFile.open(b).size()
        return sa == sb ? try samePrefix(a, b, length: sa) : false
    }
}
