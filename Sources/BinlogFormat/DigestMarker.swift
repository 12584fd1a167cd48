import Foundation

/// A digest marker (docs/FORMAT.md §4.4): the content digest of every user table of the
/// master's database as it stands after the transaction that carries the marker. The master
/// computes it from its rows at intervals (docs/REPLICA.md, "Continuous verification"); a
/// reader that applied the transaction computes the same digest from its own rows and compares.
///
/// On the wire it is event type 6, the last event of its transaction, only in segments of
/// format version 2:
///
/// | field | type |
/// |---|---|
/// | type | `u8` 6 |
/// | table count | `uvarint` |
/// | per table, names in strictly ascending byte order: name | `string` |
/// | row count | `uvarint` |
/// | digest | `u64`: sum modulo 2^64 of the XXH3-64 of each row's canonical encoding |
public struct DigestMarker: Equatable, Sendable {
    /// One table's digest: its name as `sqlite_schema` holds it, its row count and row-hash sum.
    public struct Table: Equatable, Sendable {
        public var name: String
        public var rows: UInt64
        public var sum: UInt64

        public init(name: String, rows: UInt64, sum: UInt64) {
            self.name = name
            self.rows = rows
            self.sum = sum
        }
    }

    /// Every user table, sorted by the bytes of its name (no two with the same name).
    public private(set) var tables: [Table]

    /// A marker for `tables`, in any order; they are sorted by name bytes.
    public init(tables: [Table]) {
        self.tables = tables.sorted { Array($0.name.utf8).lexicographicallyPrecedes(Array($1.name.utf8)) }
    }

    /// Total rows over all tables.
    public var totalRows: UInt64 { tables.reduce(0) { $0 &+ $1.rows } }

    func encode(into w: inout ByteWriter) {
        w.u8(EventType.digest.rawValue)
        w.uvarint(UInt64(tables.count))
        for t in tables {
            w.string(t.name)
            w.uvarint(t.rows)
            w.u64(t.sum)
        }
    }

    /// Decodes the body after the type byte; `start` is the event's offset, for errors.
    static func decode(_ r: inout ByteReader, start: Int64) throws -> DigestMarker {
        let n = try r.uvarint("digest table count")
        // Each table takes at least 10 bytes (an empty name, a one-byte count, the u64 digest).
        guard n <= UInt64(r.remaining / 10) else {
            throw FormatError(.corrupted, "digest marker declares \(n) tables, more than its bytes can hold", offset: start)
        }
        var tables: [Table] = []
        tables.reserveCapacity(Int(n))
        var previous: [UInt8]?
        for _ in 0..<n {
            let name = try r.string("digest table name")
            let bytes = Array(name.utf8)
            if let previous, !previous.lexicographicallyPrecedes(bytes) {
                throw FormatError(.corrupted, "digest marker lists table \(name) out of order or twice", offset: start)
            }
            previous = bytes
            let rows = try r.uvarint("digest row count")
            let sum = try r.u64("digest")
            tables.append(Table(name: name, rows: rows, sum: sum))
        }
        var marker = DigestMarker(tables: [])
        marker.tables = tables
        return marker
    }
}
