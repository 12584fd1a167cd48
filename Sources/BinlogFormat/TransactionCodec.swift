import Foundation

/// Event type bytes on the wire (docs/FORMAT.md §4.1).
enum EventType: UInt8 {
    case table = 1, insert = 2, update = 3, delete = 4, ddl = 5
}

/// SQLite's limit on columns per table; a larger count in a descriptor is corruption.
let maxColumns = 32_767

/// Encodes transactions into frame payloads. Table descriptors are scoped to one segment:
/// a descriptor is written before the first event that uses the table in the segment,
/// and again after it changes, so every segment decodes alone (docs/FORMAT.md §4.2).
public struct TransactionEncoder {
    /// Payloads are cut into frames of about this many raw bytes, at event boundaries.
    public var chunkSize: Int

    private var tables: [String: (id: UInt64, descriptor: TableDescriptor)] = [:]
    private var staged: [String: (id: UInt64, descriptor: TableDescriptor)] = [:]
    private var nextID: UInt64 = 1
    private var stagedNextID: UInt64 = 1

    public init(chunkSize: Int = 1 << 20) { self.chunkSize = chunkSize }

    /// Forgets every descriptor: the next segment starts a new table map.
    public mutating func startSegment() {
        tables = [:]
        staged = [:]
        nextID = 1
        stagedNextID = 1
    }

    /// Encodes `events` into one or more raw payload chunks. Descriptors written here take
    /// effect for later transactions only after `commitStaged()`, so a transaction that
    /// fails to reach the file leaves the segment's table map as it was.
    public mutating func encode(_ events: [Event]) -> [[UInt8]] {
        staged = [:]
        stagedNextID = nextID
        var chunks: [[UInt8]] = []
        var w = ByteWriter(capacity: min(chunkSize, 64 * 1024))
        for event in events {
            if w.count >= chunkSize {
                chunks.append(w.bytes)
                w = ByteWriter(capacity: min(chunkSize, 64 * 1024))
            }
            encode(event, into: &w)
        }
        chunks.append(w.bytes)
        return chunks
    }

    public mutating func commitStaged() {
        for (name, entry) in staged { tables[name] = entry }
        nextID = stagedNextID
        staged = [:]
    }

    private mutating func tableID(_ table: TableDescriptor, _ w: inout ByteWriter) -> UInt64 {
        if let entry = staged[table.name] ?? tables[table.name], entry.descriptor == table { return entry.id }
        let id = stagedNextID
        stagedNextID += 1
        staged[table.name] = (id, table)
        w.u8(EventType.table.rawValue)
        w.uvarint(id)
        w.string(table.name)
        w.u8(table.withoutRowid ? 1 : 0)
        w.uvarint(UInt64(table.columns.count))
        for c in table.columns {
            w.string(c.name)
            w.string(c.declaredType)
            w.uvarint(UInt64(c.primaryKeyPosition))
            w.u8(c.isGenerated ? 1 : 0)
        }
        return id
    }

    private mutating func encode(_ event: Event, into w: inout ByteWriter) {
        switch event {
        case .insert(let table, let rowid, let values):
            let id = tableID(table, &w)
            w.u8(EventType.insert.rawValue)
            w.uvarint(id)
            if !table.withoutRowid { w.svarint(rowid ?? 0) }
            encodeValues(values, &w)
        case .update(let table, let oldRowid, let newRowid, let old, let new):
            let id = tableID(table, &w)
            w.u8(EventType.update.rawValue)
            w.uvarint(id)
            if !table.withoutRowid { w.svarint(oldRowid ?? 0); w.svarint(newRowid ?? 0) }
            encodeValues(old, &w)
            encodeValues(new, &w)
        case .delete(let table, let rowid, let old):
            let id = tableID(table, &w)
            w.u8(EventType.delete.rawValue)
            w.uvarint(id)
            if !table.withoutRowid { w.svarint(rowid ?? 0) }
            encodeValues(old, &w)
        case .ddl(let sql):
            w.u8(EventType.ddl.rawValue)
            w.string(sql)
        }
    }

    private func encodeValues(_ values: [Value], _ w: inout ByteWriter) {
        w.uvarint(UInt64(values.count))
        for v in values { v.encode(into: &w) }
    }
}

/// Decodes frame payloads back into events, with the segment's table map.
public struct TransactionDecoder {
    private var tables: [UInt64: TableDescriptor] = [:]

    public init() {}

    /// Appends the events of one raw payload to `events`. `offset` is the payload's
    /// position in the file, for error messages.
    public mutating func decode(_ payload: UnsafeRawBufferPointer, offset: Int64, into events: inout [Event]) throws {
        var r = ByteReader(payload, baseOffset: offset)
        while !r.isAtEnd {
            let start = r.fileOffset
            let type = try r.u8("event type")
            switch EventType(rawValue: type) {
            case .table:
                let id = try r.uvarint("table id")
                let name = try r.string("table name")
                let flags = try r.u8("table flags")
                guard flags & ~1 == 0 else { throw FormatError(.corrupted, "unknown table flags \(flags)", offset: start) }
                let n = try r.uvarint("column count")
                guard n >= 1, n <= UInt64(maxColumns), n <= UInt64(r.remaining) else {
                    throw FormatError(.corrupted, "table \(name) declares \(n) columns", offset: start)
                }
                var columns: [ColumnDescriptor] = []
                columns.reserveCapacity(Int(n))
                for _ in 0..<n {
                    let cname = try r.string("column name")
                    let ctype = try r.string("column type")
                    let pk = try r.uvarint("primary key position")
                    let cflags = try r.u8("column flags")
                    guard pk <= n, cflags & ~1 == 0 else {
                        throw FormatError(.corrupted, "column \(cname) of \(name) has key position \(pk), flags \(cflags)", offset: start)
                    }
                    columns.append(ColumnDescriptor(name: cname, declaredType: ctype, primaryKeyPosition: Int(pk), isGenerated: cflags & 1 != 0))
                }
                tables[id] = TableDescriptor(name: name, columns: columns, withoutRowid: flags & 1 != 0)
            case .insert:
                let table = try lookup(&r, start)
                let rowid = table.withoutRowid ? nil : try r.svarint("rowid")
                let values = try decodeValues(&r, table, start)
                events.append(.insert(table: table, rowid: rowid, values: values))
            case .update:
                let table = try lookup(&r, start)
                let oldRowid = table.withoutRowid ? nil : try r.svarint("old rowid")
                let newRowid = table.withoutRowid ? nil : try r.svarint("new rowid")
                let old = try decodeValues(&r, table, start)
                let new = try decodeValues(&r, table, start)
                events.append(.update(table: table, oldRowid: oldRowid, newRowid: newRowid, old: old, new: new))
            case .delete:
                let table = try lookup(&r, start)
                let rowid = table.withoutRowid ? nil : try r.svarint("rowid")
                let old = try decodeValues(&r, table, start)
                events.append(.delete(table: table, rowid: rowid, old: old))
            case .ddl:
                events.append(.ddl(sql: try r.string("DDL statement")))
            case nil:
                throw FormatError(.corrupted, "unknown event type \(type)", offset: start)
            }
        }
    }

    private func lookup(_ r: inout ByteReader, _ start: Int64) throws -> TableDescriptor {
        let id = try r.uvarint("table id")
        guard let table = tables[id] else {
            throw FormatError(.corrupted, "row event names table id \(id), which this segment never described", offset: start)
        }
        return table
    }

    private func decodeValues(_ r: inout ByteReader, _ table: TableDescriptor, _ start: Int64) throws -> [Value] {
        let n = try r.uvarint("value count")
        guard n <= UInt64(table.columns.count) else {
            throw FormatError(.corrupted, "row of \(table.name) has \(n) values for \(table.columns.count) columns", offset: start)
        }
        var values: [Value] = []
        values.reserveCapacity(Int(n))
        for _ in 0..<n { values.append(try Value.decode(&r)) }
        return values
    }
}
