import Foundation
import LogshipSystem

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
        /// A writer that cannot go on (a failed append it could not undo). System calls that fail
        /// throw `SystemError` (LogshipSystem), not this.
        case io = "i/o error"
        /// The file system is full (kept for callers that build one; system calls throw `SystemError`).
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

    /// A system failure recorded where a format problem is kept (a verify report's first
    /// problem), keeping its exit code: disk full 13, other I/O 14, a non-regular file 3.
    public init(_ e: SystemError) {
        let kind: Kind
        switch e.kind {
        case .io: kind = .io
        case .diskFull: kind = .diskFull
        case .notRegularFile: kind = .corrupted
        }
        self.init(kind, e.message, path: e.path, hint: e.hint)
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
