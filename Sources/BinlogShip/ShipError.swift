import BinlogFormat
import Foundation

/// Every failure of shipping: what went wrong, where (target, file, byte offset) and, where
/// the operator can act, a hint. The kinds map one to one onto the shared exit codes
/// (docs/SHIPPING.md "Exit codes").
public struct ShipError: LogshipError, Sendable {
    public enum Kind: String, CaseIterable, Sendable {
        /// Another run holds the source's lock (exit 12).
        case busy
        /// A segment or LSN range is missing in the source or a target (exit 2).
        case gap
        /// A damaged source segment, a conflicting file in a target, a broken chain (exit 3).
        case corruption
        /// A partial file a replica may have applied disagrees with the sealed segment (exit 4).
        case divergence
        /// A target is further behind than allowed (exit 5).
        case lagging = "lag"
        /// A file system is full (exit 13).
        case diskFull = "disk full"
        /// Any other I/O failure: read-only file system, permissions (exit 14).
        case io = "i/o error"
        /// A path that does not exist, an unknown target, a target that lost what it held (exit 15).
        case notFound = "not found"
        /// A target is fenced by a newer epoch and the segment belongs past its fork point (exit 6).
        case splitBrain = "split brain"
        /// A bad configuration file or flag (exit 64).
        case config = "configuration error"
    }

    public var kind: Kind
    public var message: String
    /// The target this concerns, when it concerns one.
    public var target: String?
    public var path: String?
    public var offset: Int64?
    public var hint: String?

    public init(_ kind: Kind, _ message: String, target: String? = nil, path: String? = nil, offset: Int64? = nil, hint: String? = nil) {
        self.kind = kind
        self.message = message
        self.target = target
        self.path = path
        self.offset = offset
        self.hint = hint
    }

    /// Lifts a format error, keeping its file, offset and hint.
    public init(_ error: FormatError, target: String? = nil, context: String? = nil) {
        let kind: Kind
        switch error.kind {
        case .gap: kind = .gap
        case .truncated, .corrupted, .checksumMismatch, .unsupported: kind = .corruption
        case .diskFull: kind = .diskFull
        case .io: kind = .io
        case .invalidArgument: kind = .notFound
        case .splitBrain: kind = .splitBrain
        }
        let what = error.kind == .io || error.kind == .diskFull ? error.message : "\(error.kind.rawValue): \(error.message)"
        self.init(kind, context.map { "\($0): \(what)" } ?? what, target: target, path: error.path, offset: error.offset, hint: error.hint)
    }

    /// Lifts a system error, keeping its file and hint: disk full 13, I/O 14, a FIFO or
    /// directory where a segment belongs 3 (as when these were format errors).
    public init(_ error: SystemError, target: String? = nil, context: String? = nil) {
        let kind: Kind
        switch error.kind {
        case .diskFull: kind = .diskFull
        case .io: kind = .io
        case .notRegularFile: kind = .corruption
        }
        let what = error.kind == .notRegularFile ? "\(error.kind.rawValue): \(error.message)" : error.message
        self.init(kind, context.map { "\($0): \(what)" } ?? what, target: target, path: error.path, hint: error.hint)
    }

    /// A copy that names the target, keeping one already set.
    public func on(target name: String) -> ShipError {
        var copy = self
        if copy.target == nil { copy.target = name }
        return copy
    }

    /// Shipping kinds map one to one onto the shared exit codes (`Kind.exitStatus`).
    public var exitStatus: ExitStatus { kind.exitStatus }

    public var description: String {
        var text = (target.map { "target \($0): " } ?? "") + message
        if let path { text += " (file \(path)" + (offset.map { ", offset \($0)" } ?? "") + ")" }
        if let hint { text += "\nHINT: \(hint)" }
        return text
    }

    /// When several targets fail differently, the run exits with the most serious:
    /// the first of corruption, divergence, gap, disk full, I/O, not found, lag.
    public static let severityOrder: [Kind] = [.splitBrain, .corruption, .divergence, .gap, .diskFull, .io, .notFound, .lagging, .busy, .config]
}

extension ShipError.Kind {
    /// The shared exit code of this kind; a run that failed on several targets leaves with its
    /// worst kind's (`ShipError.severityOrder`).
    public var exitStatus: ExitStatus {
        switch self {
        case .busy: return .busy
        case .gap: return .gap
        case .corruption: return .corruption
        case .divergence: return .divergence
        case .lagging: return .lagging
        case .diskFull: return .diskFull
        case .io: return .ioError
        case .notFound: return .notFound
        case .config: return .usage
        case .splitBrain: return .splitBrain
        }
    }
}

/// Wraps anything thrown below as a `ShipError` (format errors keep file and offset).
func shipError(_ error: Error, target: String? = nil, context: String? = nil) -> ShipError {
    if let e = error as? ShipError { return target.map { e.on(target: $0) } ?? e }
    if let e = error as? FormatError { return ShipError(e, target: target, context: context) }
    if let e = error as? SystemError { return ShipError(e, target: target, context: context) }
    return ShipError(.io, (context.map { "\($0): " } ?? "") + "\(error)", target: target)
}
