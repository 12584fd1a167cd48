import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The one way segment and history files are opened for reading: only a regular file is ever
/// read, and opening never blocks. A FIFO named like a segment made every reader (apply, status,
/// check, ship, verify) wait forever in open(2) for a writer that never came, and each later
/// cron run then exited 12 on the lock the hung one held (issue 12). A socket, a device or a
/// directory under a segment's name is refused the same way.
///
/// The path is looked at with stat first (a socket cannot be opened at all, and a device may act
/// on open), then opened with `O_NONBLOCK` (a FIFO created between the two does not block the
/// open), checked again with fstat on what was opened, and only then made blocking again for
/// ordinary reads. Symbolic links are followed (`O_NOFOLLOW` is not used): a link to a regular
/// segment is a legitimate layout, and the checks apply to the file the link leads to.
public enum RegularFile {
    /// Opens `path` read-only, refusing anything but a regular file (`SystemError.notRegularFile`,
    /// exit 3, naming the file and what it is).
    public static func open(_ path: String) throws -> FileDescriptor {
        var st = stat()
        if stat(path, &st) == 0 { try require(st.st_mode, path: path) }
        let fd = Glibc.open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else { throw ioError("open", path: path) }
        let file = FileDescriptor(owning: fd, path: path)
        guard fstat(fd, &st) == 0 else { throw ioError("stat", path: path) }
        try require(st.st_mode, path: path)
        let flags = fcntl(fd, F_GETFL)
        guard flags >= 0, fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) == 0 else { throw ioError("clear O_NONBLOCK on", path: path) }
        return file
    }

    /// Reads the whole of the regular file `path`.
    public static func contents(_ path: String) throws -> [UInt8] {
        let file = try open(path)
        return try file.read(at: 0, count: Int(try file.size()))
    }

    /// For directory listings: throws when `path` exists and is not a regular file (it is then
    /// named, never skipped: something put it where a segment belongs). A missing path passes.
    public static func check(_ path: String) throws {
        var st = stat()
        guard stat(path, &st) == 0 else { return }
        try require(st.st_mode, path: path)
    }

    /// Throws unless `mode` (from stat) is a regular file's.
    public static func require(_ mode: mode_t, path: String) throws {
        guard mode & S_IFMT != S_IFREG else { return }
        throw SystemError(.notRegularFile, "unable to read \((path as NSString).lastPathComponent): it is \(describe(mode)), not a regular file",
                           path: path, hint: "segments and epoch histories are always regular files; move this one out of the directory, then rerun")
    }

    /// What a non-regular file is, in words.
    static func describe(_ mode: mode_t) -> String {
        switch mode & S_IFMT {
        case S_IFIFO: return "a FIFO (named pipe)"
        case S_IFSOCK: return "a socket"
        case S_IFCHR: return "a character device"
        case S_IFBLK: return "a block device"
        case S_IFDIR: return "a directory"
        case S_IFLNK: return "a symbolic link"
        default: return "not a file (mode \(String(mode, radix: 8)))"
        }
    }
}
