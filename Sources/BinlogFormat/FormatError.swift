import Foundation

/// Every failure the format module reports: what went wrong, where (file and byte offset),
/// and, where the operator can act, a hint.
public struct FormatError: LogshipError, Sendable {
    /// The four kinds of decode failure, plus I/O and usage problems around them.
    public enum Kind: String, CaseIterable, Sendable {
        /// The data ends before a structure it declares (a torn tail in an active segment).
        case truncated
        /// A structure is malformed: bad magic, an impossible length, an unknown tag.
        case corrupted
        /// Stored and computed checksums differ.
        case checksumMismatch = "checksum mismatch"
        /// A newer format version or an unknown flag.
        case unsupported
        /// Sequence numbers or LSNs do not follow on (a missing segment or transaction).
        case gap
        /// The file system refused an operation.
        case io = "i/o error"
        /// The file system is full (ENOSPC or EDQUOT).
        case diskFull = "disk full"
        /// A name or argument that the format does not accept.
        case invalidArgument = "invalid argument"
        /// Two histories of the same source disagree: a fenced epoch, or two promotions (§10).
        case splitBrain = "split brain"
    }

    public var kind: Kind
    public var message: String
    public var path: String?
    public var offset: Int64?
    public var hint: String?

    public init(_ kind: Kind, _ message: String, path: String? = nil, offset: Int64? = nil, hint: String? = nil) {
        self.kind = kind
        self.message = message
        self.path = path
        self.offset = offset
        self.hint = hint
    }

    /// A copy that names the file, keeping an offset already set.
    public func at(path: String, offset: Int64? = nil) -> FormatError {
        var copy = self
        if copy.path == nil { copy.path = path }
        if copy.offset == nil { copy.offset = offset }
        return copy
    }

    /// Gaps are gaps; every decode failure is corruption; a name the format refuses is a wrong path.
    public var exitStatus: ExitStatus {
        switch kind {
        case .gap: return .gap
        case .truncated, .corrupted, .checksumMismatch, .unsupported: return .corruption
        case .diskFull: return .diskFull
        case .io: return .ioError
        case .invalidArgument: return .notFound
        case .splitBrain: return .splitBrain
        }
    }

    public var description: String {
        var text = "\(kind.rawValue): \(message)"
        if let path { text += " (file \(path)" + (offset.map { ", offset \($0)" } ?? "") + ")" }
        else if let offset { text += " (offset \(offset))" }
        if let hint { text += "\nHINT: \(hint)" }
        return text
    }
}

/// Wraps a failed system call in a `FormatError`, telling a full disk from other failures.
public func ioError(_ operation: String, path: String, errno code: Int32 = errno) -> FormatError {
    let reason = String(cString: strerror(code))
    if code == ENOSPC || code == EDQUOT {
        return FormatError(.diskFull, "unable to \(operation): \(reason)", path: path,
                           hint: "free space on this file system; nothing acknowledged was lost, and the next run resumes")
    }
    return FormatError(.io, "unable to \(operation): \(reason)", path: path)
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
