import BinlogFormat
import Foundation

/// Why applying a transaction stopped: which LSN, which table and key, and what was found.
public struct ApplyError: LogshipError, Sendable {
    public enum Kind: String, CaseIterable, Sendable {
        /// An UPDATE or DELETE of a row that is not there or does not hold the logged
        /// before-image, or an INSERT of a key that is.
        case divergence
        /// Another constraint or a DDL statement failed on this database.
        case conflict
        /// The store follows another source, or an LSN does not follow the applied one.
        case mismatch
        /// SQLite failed for a reason unrelated to the data (I/O, full disk, busy).
        case database
    }

    public var kind: Kind
    public var lsn: UInt64?
    public var table: String?
    public var key: String?
    public var message: String
    public var hint: String?
    /// The SQLite result code, where SQLite reported the failure.
    public var sqliteCode: Int32?

    public init(_ kind: Kind, _ message: String, lsn: UInt64? = nil, table: String? = nil, key: String? = nil,
                hint: String? = nil, sqliteCode: Int32? = nil) {
        self.kind = kind
        self.message = message
        self.lsn = lsn
        self.table = table
        self.key = key
        self.hint = hint
        self.sqliteCode = sqliteCode
    }

    /// True when SQLite reported a full disk or quota.
    public var isDiskFull: Bool { sqliteCode.map { $0 & 0xFF == 13 } ?? false }

    /// A full disk is a full disk; anything else stops the replica as a divergence.
    public var exitStatus: ExitStatus { isDiskFull ? .diskFull : .divergence }

    public var description: String {
        var parts = ["\(kind.rawValue): \(message)"]
        var at: [String] = []
        if let lsn { at.append("LSN \(lsn)") }
        if let table { at.append("table \(table)") }
        if let key { at.append("key \(key)") }
        if !at.isEmpty { parts[0] += " (" + at.joined(separator: ", ") + ")" }
        if let hint { parts.append("HINT: \(hint)") }
        return parts.joined(separator: "\n")
    }
}
