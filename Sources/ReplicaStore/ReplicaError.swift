import BinlogApply
import BinlogFormat
import Foundation

/// Every failure of a replica: what, where (segment, offset, LSN, table, key), and a hint.
public struct ReplicaError: LogshipError {
    public enum Kind: String, CaseIterable, Sendable {
        /// LSNs are missing from the inbox while later ones are there (lost, not just late).
        case gap
        /// A segment is damaged, comes from another source, or breaks the hash chain.
        case corruption
        /// The store disagrees with the binlog (row missing or differing from the before-image,
        /// key already there).
        case divergence
        /// Segments of an epoch past its fork point, a store that applied past a fork, or two
        /// histories that disagree (docs/FAILOVER.md).
        case splitBrain = "split brain"
        /// Another replica-apply holds the replica's lock, or another process holds the store's
        /// SQLite write lock past the busy timeout.
        case busy
        case diskFull = "disk full"
        case io = "i/o error"
        /// No such replica directory, store or snapshot.
        case notFound = "not found"
        /// Refused to overwrite (restore output, init).
        case exists = "already exists"
        /// A restore target outside the recoverable window, or a bad request.
        case invalid = "invalid request"
        /// The store has not applied an LSN within the time asked (`waitUntilApplied`, `replica-apply wait`).
        case lagging
    }

    public var kind: Kind
    public var message: String
    public var hint: String?
    public var format: FormatError?
    public var apply: ApplyError?

    public init(_ kind: Kind, _ message: String, hint: String? = nil, format: FormatError? = nil, apply: ApplyError? = nil) {
        self.kind = kind
        self.message = message
        self.hint = hint
        self.format = format
        self.apply = apply
    }

    /// Lifts a format error into the replica's terms.
    public init(_ e: FormatError, while operation: String) {
        let kind: Kind
        switch e.kind {
        case .gap: kind = .gap
        case .diskFull: kind = .diskFull
        case .io: kind = .io
        case .invalidArgument: kind = .notFound
        case .splitBrain: kind = .splitBrain
        default: kind = .corruption
        }
        self.init(kind, "\(operation): \(e)", format: e)
    }

    /// Lifts a system error (a file the OS refused, a full disk, a FIFO where a segment belongs)
    /// with the exit code it had as a format error: disk full 13, I/O 14, a non-regular file 3.
    public init(_ e: SystemError, while operation: String) {
        let kind: Kind
        switch e.kind {
        case .diskFull: kind = .diskFull
        case .io: kind = .io
        case .notRegularFile: kind = .corruption
        }
        self.init(kind, "\(operation): \(e)", format: FormatError(e))
    }

    /// Lifts an apply error (divergence and conflicts stop the replica; a full disk is a full disk).
    public init(_ e: ApplyError) {
        if e.isDiskFull {
            self.init(.diskFull, "\(e)", hint: "free space on the store's file system; the replica resumes from its applied LSN", apply: e)
        } else if e.kind == .mismatch {
            self.init(.corruption, "\(e)", apply: e)
        } else if e.kind == .database {
            self.init(.io, "\(e)", apply: e)
        } else if e.kind == .divergence {
            // "divergence: divergence: …" says nothing twice.
            self.init(.divergence, String("\(e)".dropFirst("divergence: ".count)), apply: e)
        } else {
            self.init(.divergence, "\(e)", apply: e)
        }
    }

    /// The same error, saying where the store stopped because of it.
    func stopped(at lsn: UInt64) -> ReplicaError {
        var copy = self
        copy.message = "stopped at LSN \(lsn): " + message
        return copy
    }

    /// Replica kinds map one to one onto the shared exit codes; a bad request is a usage error.
    public var exitStatus: ExitStatus {
        switch kind {
        case .gap: return .gap
        case .corruption: return .corruption
        case .divergence: return .divergence
        case .busy: return .busy
        case .diskFull: return .diskFull
        case .io: return .ioError
        case .notFound: return .notFound
        case .exists: return .alreadyExists
        case .invalid: return .usage
        case .splitBrain: return .splitBrain
        case .lagging: return .lagging
        }
    }

    public var description: String {
        var text = "\(kind.rawValue): \(message)"
        if let hint, format?.hint == nil, apply?.hint == nil { text += "\nHINT: \(hint)" }
        return text
    }
}
