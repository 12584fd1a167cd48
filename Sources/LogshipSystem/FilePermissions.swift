import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Who may read what logship writes (docs/OPERATIONS.md "Files and permissions"). By default the
/// owner alone: directories 0700, files 0600, like PostgreSQL's data directory. With group read
/// (`--group-read`, `LOGSHIP_GROUP_READ=true`, or `files: {group_read: true}` in logship.yml) the
/// owner's group may read too: directories 0750, files 0640, like PostgreSQL's group access.
///
/// A tool chooses once, first thing (`apply`), which also sets the process umask to 077 (or
/// 027): every file the tool then creates, SQLite's databases and their -wal and -shm files
/// included, gets these modes whatever umask it was started with. The helpers that create files
/// and directories (`DurableFile`, `FileDescriptor`, `createDirectory`) pass the modes themselves
/// as well, so a program using the libraries under a looser umask gets them too.
public enum FilePermissions {
    nonisolated(unsafe) private static var groupReadSetting = false
    nonisolated(unsafe) private static var warned = false
    /// The name the warning line starts with (the tool's).
    nonisolated(unsafe) public static var toolName = "logship"
    /// Where the one warning line goes (stderr; a test may catch it).
    nonisolated(unsafe) public static var warningSink: (String) -> Void = { line in
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }

    /// True when the owner's group may read (0750 / 0640).
    public static var groupRead: Bool { groupReadSetting }
    /// The mode of every file logship creates: 0600, or 0640 with group read.
    public static var file: mode_t { groupReadSetting ? 0o640 : 0o600 }
    /// The mode of every directory logship creates: 0700, or 0750 with group read.
    public static var directory: mode_t { groupReadSetting ? 0o750 : 0o700 }

    /// Sets the policy and the process umask (077, or 027 with group read).
    public static func apply(groupRead: Bool) {
        groupReadSetting = groupRead
        umask(groupRead ? 0o027 : 0o077)
    }

    /// Creates `path` and any missing parents with `directory`'s mode (chmod after mkdir, so the
    /// umask cannot widen or narrow it); a directory already there is left as it is.
    public static func createDirectory(_ path: String) throws {
        var st = stat()
        if stat(path, &st) == 0 {
            guard st.st_mode & S_IFMT == S_IFDIR else { throw SystemError(.io, "unable to create the directory: a file is in the way", path: path) }
            return
        }
        // The parent computed by hand: Foundation's deletingLastPathComponent traps on some
        // one-letter names.
        var trimmed = Substring(path)
        while trimmed.count > 1, trimmed.hasSuffix("/") { trimmed = trimmed.dropLast() }
        if let slash = trimmed.lastIndex(of: "/") {
            let parent = String(trimmed[..<slash])
            if !parent.isEmpty, stat(parent, &st) != 0 { try createDirectory(parent) }
        }
        if mkdir(path, directory) != 0 {
            guard errno == EEXIST else { throw ioError("create the directory", path: path) }
            return
        }
        _ = chmod(path, directory)
    }

    /// Creates the empty file `path` with `file`'s mode when it does not exist (before SQLite
    /// opens it: SQLite gives a new database the umask's mode, and its -wal and -shm files the
    /// database file's mode).
    public static func createFileIfMissing(_ path: String) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, file)
        if fd < 0 {
            guard errno == EEXIST else { throw ioError("create", path: path) }
            return
        }
        _ = fchmod(fd, file)
        close(fd)
    }

    /// Warns, once per run, when the existing data directory `path` is open to more than the
    /// policy allows (group or others can read or enter it). One line on stderr; nothing is
    /// changed: the operator decides (chmod, or group read).
    public static func warnIfOpen(_ path: String) {
        guard !warned else { return }
        var st = stat()
        guard stat(path, &st) == 0, st.st_mode & S_IFMT == S_IFDIR else { return }
        let extra = st.st_mode & 0o777 & ~directory
        guard extra != 0 else { return }
        warned = true
        let mode = String(st.st_mode & 0o777, radix: 8)
        let wanted = String(directory, radix: 8)
        let who = extra & 0o007 != 0 ? "other users" : "its group"
        warningSink("\(toolName): warning: \(path) is mode 0\(mode): \(who) can read or enter it; logship keeps data directories 0\(wanted)"
                    + " (chmod 0\(wanted) \(path)" + (groupReadSetting ? ")" : ", or --group-read for 0750)"))
    }
}
