import BinlogFormat
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// File operations on one target directory. Segments appear in it only through `publish`:
/// a verified temp file linked under its final name, which never replaces an existing file.
struct TargetDirectory {
    let target: ShipTarget
    var path: String { target.path }

    /// The suffix of a shipped committed prefix of the active segment: `<sealed name>.partial`.
    /// `SegmentName.parse` rejects it, so nothing takes a partial for a sealed segment.
    static let partialSuffix = SegmentName.partialSuffix

    static func partialName(for segment: SegmentName) -> String { segment.sealed.description + partialSuffix }

    /// The sealed segment a partial file stands for, or nil for any other name.
    static func segment(ofPartial file: String) -> SegmentName? {
        SegmentName.parsePartial(file)
    }

    /// A missing directory is never created: an unmounted file system often leaves an empty
    /// mount point behind, and filling the disk under it would hide the problem.
    func checkExists() throws {
        var st = stat()
        guard stat(path, &st) == 0 else {
            let code = errno
            if code == ENOENT || code == ENOTDIR {
                throw ShipError(.notFound, "target directory \(path) does not exist", target: target.name, path: path,
                                hint: "create it (mkdir -p) or mount the file system it lives on; binlog-ship never creates a target")
            }
            throw shipError(ioError("stat", path: path, errno: code), target: target.name)
        }
        guard st.st_mode & S_IFMT == S_IFDIR else {
            throw ShipError(.notFound, "target \(path) is not a directory", target: target.name, path: path)
        }
    }

    /// The target's file names, sorted. A name that is a segment's or a partial copy's but not a
    /// regular file (a FIFO, a directory) is an error naming it: reading it could block forever.
    func names() throws -> [String] {
        let names: [String]
        do { names = try FileManager.default.contentsOfDirectory(atPath: path).sorted() } catch {
            throw shipError(ioError("list directory", path: path), target: target.name)
        }
        for name in names where SegmentName.parse(name) != nil || Self.segment(ofPartial: name) != nil {
            do { try RegularFile.check(path + "/" + name) } catch { throw shipError(error, target: target.name) }
        }
        return names
    }

    /// Size of `name` in the target, nil when there is no such file; an error when it is not a
    /// regular file.
    func size(of name: String) throws -> Int64? {
        var st = stat()
        guard stat(path + "/" + name, &st) == 0 else {
            if errno == ENOENT { return nil }
            throw shipError(ioError("stat", path: path + "/" + name), target: target.name)
        }
        do { try RegularFile.require(st.st_mode, path: path + "/" + name) } catch { throw shipError(error, target: target.name) }
        return Int64(st.st_size)
    }

    /// Deletes temp files of shipping runs that died (`.tmp-<pid>-<random>-<segment or
    /// partial name>` whose pid is gone); anything else in the directory is left alone.
    func removeStaleTemporaries() -> [String] {
        var removed: [String] = []
        for name in (try? names()) ?? [] where name.hasPrefix(".tmp-") {
            let parts = name.dropFirst(5).split(separator: "-", maxSplits: 2, omittingEmptySubsequences: false)
            guard parts.count == 3, let pid = Int32(parts[0]) else { continue }
            let final = String(parts[2])
            guard SegmentName.parse(final) != nil || Self.segment(ofPartial: final) != nil else { continue }
            if pid != getpid(), kill(pid, 0) == 0 || errno == EPERM { continue }
            if unlink(path + "/" + name) == 0 { removed.append(name) }
        }
        if !removed.isEmpty { try? DurableFile.syncDirectory(path) }
        return removed
    }

    /// What `publish` did with a temp file.
    enum Publication: Equatable {
        /// The temp file is now `name`.
        case published
        /// Another run (a second state directory shipping into this target) published the same
        /// bytes under `name` first: the segment is there, which is success (issue 12).
        case alreadyThere
    }

    /// Moves a verified temp file to `name`. With `replace: false` (sealed segments) an
    /// existing file is never overwritten: `link` fails when the name exists; on file systems
    /// without hard links the name is checked first (the run holds the source's lock). A file
    /// that appeared meanwhile with the same bytes is success; with other bytes, a conflict.
    @discardableResult
    func publish(temp: String, as name: String, replace: Bool) throws -> Publication {
        let final = path + "/" + name
        var outcome = Publication.published
        do {
            if replace {
                try DurableFile.rename(temp, to: final)
            } else if link(temp, final) == 0 {
                unlink(temp)
            } else {
                let code = errno
                guard code != EEXIST else {
                    outcome = try settle(temp: temp, onto: final)
                    try DurableFile.syncDirectory(path)
                    return outcome
                }
                guard [EPERM, EOPNOTSUPP, ENOTSUP, ENOSYS, EMLINK, EXDEV].contains(code) else {
                    unlink(temp)
                    throw ioError("link to \(final)", path: temp, errno: code)
                }
                if access(final, F_OK) == 0 {
                    outcome = try settle(temp: temp, onto: final)
                } else {
                    try DurableFile.rename(temp, to: final)
                }
            }
            try DurableFile.syncDirectory(path)
        } catch {
            throw shipError(error, target: target.name)
        }
        return outcome
    }

    /// `final` appeared while `temp` was being shipped: the same bytes are the segment already
    /// there (made durable here too, since the run that wrote it may have died before its
    /// directory fsync); other bytes are a conflict naming the first differing offset. The temp
    /// file goes either way; `final` is never touched.
    private func settle(temp: String, onto final: String) throws -> Publication {
        defer { unlink(temp) }
        let sizes = (try FileDescriptor(path: final, flags: O_RDONLY).size(), try FileDescriptor(path: temp, flags: O_RDONLY).size())
        if let at = try FileComparison.firstDifference(final, temp, length: max(sizes.0, sizes.1)) {
            let name = (final as NSString).lastPathComponent
            throw ShipError(.corruption, "conflict: \(name) appeared in the target while it was being shipped, with other bytes (\(sizes.0) bytes, the source's \(sizes.1); they differ from offset \(at)); nothing was overwritten",
                            target: target.name, path: final, offset: at,
                            hint: "another program or master writes into this target; compare the files, move the wrong one aside, and rerun")
        }
        try FileDescriptor(path: final, flags: O_RDONLY).sync()
        return .alreadyThere
    }

    /// Deletes `name` (a superseded partial) and makes the deletion durable.
    func remove(_ name: String) throws {
        guard unlink(path + "/" + name) == 0 || errno == ENOENT else {
            throw shipError(ioError("delete", path: path + "/" + name), target: target.name)
        }
        try DurableFile.syncDirectory(path)
    }
}

/// Byte comparisons between files, read in large chunks.
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
