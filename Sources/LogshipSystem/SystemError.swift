import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A failure of the operating system under one of logship's files: a system call refused
/// (permissions, a read-only or unmounted file system), a full file system, or something that is
/// not a regular file where a data file belongs. Thrown by the OS helpers of this module
/// (`FileDescriptor`, `RegularFile`, `DurableFile`, `DirectoryLock`); every module's error type
/// lifts it with the same exit codes the format module's errors had for the same failures
/// before these helpers moved here (disk full 13, other I/O 14, a non-regular file 3).
public struct SystemError: LogshipError, Sendable {
    public enum Kind: String, CaseIterable, Sendable {
        /// The file system refused an operation (exit 14).
        case io = "i/o error"
        /// The file system is full: ENOSPC or EDQUOT (exit 13).
        case diskFull = "disk full"
        /// A FIFO, socket, device or directory where a segment, history or lock file belongs
        /// (exit 3, as corruption: something was put where logship's data belongs).
        case notRegularFile = "wrong file type"
    }

    public var kind: Kind
    public var message: String
    public var path: String?
    public var hint: String?

    public init(_ kind: Kind, _ message: String, path: String? = nil, hint: String? = nil) {
        self.kind = kind
        self.message = message
        self.path = path
        self.hint = hint
    }

    public var exitStatus: ExitStatus {
        switch kind {
        case .io: return .ioError
        case .diskFull: return .diskFull
        case .notRegularFile: return .corruption
        }
    }

    public var description: String {
        var text = "\(kind.rawValue): \(message)"
        if let path { text += " (file \(path))" }
        if let hint { text += "\nHINT: \(hint)" }
        return text
    }
}

/// Wraps a failed system call in a `SystemError`, telling a full disk from other failures.
public func ioError(_ operation: String, path: String, errno code: Int32 = errno) -> SystemError {
    let reason = String(cString: strerror(code))
    if code == ENOSPC || code == EDQUOT {
        return SystemError(.diskFull, "unable to \(operation): \(reason)", path: path,
                           hint: "free space on this file system; nothing acknowledged was lost, and the next run resumes")
    }
    return SystemError(.io, "unable to \(operation): \(reason)", path: path)
}

/// True when the file system holding `path` has less than 1 MiB free. SQLite reports some writes
/// that failed for want of space (opening a database in WAL mode, a checkpoint, a WAL index that
/// cannot grow) as SQLITE_IOERR, not SQLITE_FULL: on a file system this full, such an error is
/// taken for a full disk (exit 13), which is what freeing space cures.
public func fileSystemIsNearlyFull(_ path: String) -> Bool {
    var st = statvfs()
    guard statvfs(path, &st) == 0 else { return false }
    return Int64(st.f_bavail) * Int64(st.f_frsize) < 1 << 20
}
