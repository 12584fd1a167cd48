import Foundation

/// Event type bytes on the wire (docs/FORMAT.md §4.1).
enum EventType: UInt8 {
    case table = 1, insert = 2, update = 3, delete = 4, ddl = 5, digest = 6
}

/// SQLite's limit on columns per table; a larger count in a descriptor is corruption.
let maxColumns = 32_767

/// A transaction's encoded events, ready to be cut into frames at `eventStarts`.
public struct EncodedTransaction {
    /// Raw payload bytes of every event (TABLE descriptors included), in order.
    public var bytes: [UInt8]
    /// Offsets in `bytes` where an event (or a descriptor) starts: the places a frame may be cut.
    public var eventStarts: [Int]
    /// Row and DDL events (descriptors and digest markers are not counted), as the footer counts them.
    public var eventCount: Int
    /// True when the transaction ends with a digest marker (only a version-2 segment takes it).
    public var hasDigest = false

    /// Cuts the payload into chunks of about `chunkSize` bytes at event boundaries.
    public func chunks(of chunkSize: Int) -> [Range<Int>] {
        var result: [Range<Int>] = []
        var start = 0
        for cut in eventStarts where cut - start >= chunkSize && cut > start {
            result.append(start..<cut)
            start = cut
        }
        result.append(start..<bytes.count)
        return result
    }
}

/// Encodes transactions into frame payloads, event by event, so that a master can encode
/// each row change as it happens instead of building it up in memory first. Table
/// descriptors are scoped to one segment: a descriptor is written before the first event
/// that uses the table in the segment, and again after it changes, so every segment decodes
/// alone (docs/FORMAT.md §4.2).
public struct TransactionEncoder {
    private var tables: [String: (id: UInt64, descriptor: TableDescriptor)] = [:]
    private var staged: [String: (id: UInt64, descriptor: TableDescriptor)] = [:]
    private var nextID: UInt64 = 1
    private var stagedNextID: UInt64 = 1
    private var w = ByteWriter(capacity: 64 * 1024)
    private var starts: [Int] = []
    public private(set) var eventCount = 0
    /// True once `appendDigest` ended the transaction with a marker.
    public private(set) var hasDigest = false
    /// The last table looked up, to skip the dictionary on runs of rows of one table.
    private var lastTable: (descriptor: TableDescriptor, id: UInt64)?

    public init() {}

    /// Forgets every descriptor: the next segment starts a new table map.
    public mutating func startSegment() {
        tables = [:]
        nextID = 1
        begin()
    }

    /// Starts a transaction: drops whatever an unfinished one had encoded and staged.
    public mutating func begin() {
        staged = [:]
        stagedNextID = nextID
        w.removeAll()
        starts.removeAll(keepingCapacity: true)
        eventCount = 0
        hasDigest = false
        lastTable = nil
    }

    public var isEmpty: Bool { eventCount == 0 }

    /// A point to roll back to (ROLLBACK TO a savepoint).
    public struct Mark {
        var bytes: Int, starts: Int, events: Int, stagedNextID: UInt64
        var staged: [String: (id: UInt64, descriptor: TableDescriptor)]
    }

    public var mark: Mark { Mark(bytes: w.count, starts: starts.count, events: eventCount, stagedNextID: stagedNextID, staged: staged) }

    public mutating func rollback(to m: Mark) {
        w.truncate(to: m.bytes)
        starts.removeSubrange(m.starts...)
        eventCount = m.events
        stagedNextID = m.stagedNextID
        staged = m.staged
        lastTable = nil
    }

    /// The encoded transaction so far. Descriptors it introduced take effect for later
    /// transactions only after `commitStaged()`, so one that fails to reach the file leaves
    /// the segment's table map as it was.
    public func finish() -> EncodedTransaction {
        EncodedTransaction(bytes: w.bytes, eventStarts: starts, eventCount: eventCount, hasDigest: hasDigest)
    }

    public mutating func commitStaged() {
        for (name, entry) in staged { tables[name] = entry }
        nextID = stagedNextID
        staged = [:]
    }

    /// Encodes a whole transaction (begin, every event, the digest marker if any, finish).
    public mutating func encode(_ events: [Event], digest: DigestMarker? = nil) -> EncodedTransaction {
        begin()
        for e in events { append(e) }
        if let digest { appendDigest(digest) }
        return finish()
    }

    /// Ends the transaction with a digest marker (docs/FORMAT.md §4.4): nothing may follow it.
    /// It is not counted as an event. Only a version-2 segment takes it (`SegmentWriter.append`).
    public mutating func appendDigest(_ marker: DigestMarker) {
        precondition(!hasDigest, "a transaction carries at most one digest marker")
        starts.append(w.count)
        marker.encode(into: &w)
        hasDigest = true
        lastTable = nil
    }

    /// The kinds of row event, for `appendRow`.
    public enum RowKind: UInt8 { case insert = 2, update = 3, delete = 4 }

    /// Appends a row event; `body` writes what follows the table id: the rowid(s) when the
    /// table has rowids, then the value count and values of each image (docs/FORMAT.md §4.1, §4.3).
    @inline(__always)
    public mutating func appendRow(_ kind: RowKind, table: TableDescriptor, body: (inout ByteWriter) -> Void) {
        let id = tableID(table)
        starts.append(w.count)
        w.u8(kind.rawValue)
        w.uvarint(id)
        body(&w)
        eventCount += 1
    }

    public mutating func appendDDL(_ sql: String) {
        starts.append(w.count)
        w.u8(EventType.ddl.rawValue)
        w.string(sql)
        eventCount += 1
        lastTable = nil
    }

    public mutating func append(_ event: Event) {
        switch event {
        case .insert(let table, let rowid, let values):
            appendRow(.insert, table: table) { w in
                if !table.withoutRowid { w.svarint(rowid ?? 0) }
                Self.encodeValues(values, &w)
            }
        case .update(let table, let oldRowid, let newRowid, let old, let new):
            appendRow(.update, table: table) { w in
                if !table.withoutRowid { w.svarint(oldRowid ?? 0); w.svarint(newRowid ?? 0) }
                Self.encodeValues(old, &w)
                Self.encodeValues(new, &w)
            }
        case .delete(let table, let rowid, let old):
            appendRow(.delete, table: table) { w in
                if !table.withoutRowid { w.svarint(rowid ?? 0) }
                Self.encodeValues(old, &w)
            }
        case .ddl(let sql):
            appendDDL(sql)
        }
    }

    private mutating func tableID(_ table: TableDescriptor) -> UInt64 {
        if let last = lastTable, last.descriptor == table { return last.id }
        if let entry = staged[table.name] ?? tables[table.name], entry.descriptor == table {
            lastTable = (table, entry.id)
            return entry.id
        }
        let id = stagedNextID
        stagedNextID += 1
        staged[table.name] = (id, table)
        starts.append(w.count)
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
        lastTable = (table, id)
        return id
    }

    static func encodeValues(_ values: [Value], _ w: inout ByteWriter) {
        w.uvarint(UInt64(values.count))
        for v in values { v.encode(into: &w) }
    }
}

/// Decodes frame payloads back into events, with the segment's table map.
public struct TransactionDecoder {
    private var tables: [UInt64: TableDescriptor] = [:]
    /// True for segments of format version 2 and later, the first that may carry digest markers.
    public var allowsDigest = false

    public init() {}

    /// Appends the events of one raw payload to `events`. `offset` is the payload's
    /// position in the file, for error messages. A digest marker in it is checked and dropped;
    /// `decode(_:offset:into:digest:)` keeps it.
    public mutating func decode(_ payload: UnsafeRawBufferPointer, offset: Int64, into events: inout [Event]) throws {
        var digest: DigestMarker?
        try decode(payload, offset: offset, into: &events, digest: &digest)
    }

    /// Appends the events of one raw payload of a transaction to `events`; a digest marker goes
    /// to `digest`, which must be nil on entry (nothing follows a marker in its transaction).
    public mutating func decode(_ payload: UnsafeRawBufferPointer, offset: Int64, into events: inout [Event], digest: inout DigestMarker?) throws {
        var skimmed = 0
        try decode(payload, offset: offset, into: &events, digest: &digest, skim: false, skimmed: &skimmed)
    }

    /// Reads one raw payload as `decode` does, with the same checks, but builds no events: the
    /// table descriptors in it are kept (later payloads refer to them) and its events are only
    /// counted into `skimmed` (insert, update, delete and DDL events, as `decode` appends them).
    /// For transactions a reader has to pass to reach a position.
    public mutating func skim(_ payload: UnsafeRawBufferPointer, offset: Int64, skimmed: inout Int) throws {
        var events: [Event] = []
        var digest: DigestMarker?
        try decode(payload, offset: offset, into: &events, digest: &digest, skim: true, skimmed: &skimmed)
    }

    private mutating func decode(_ payload: UnsafeRawBufferPointer, offset: Int64, into events: inout [Event], digest: inout DigestMarker?,
                                 skim: Bool, skimmed: inout Int) throws {
        var r = ByteReader(payload, baseOffset: offset)
        while !r.isAtEnd {
            let start = r.fileOffset
            let type = try r.u8("event type")
            if digest != nil {
                throw FormatError(.corrupted, "event type \(type) follows the transaction's digest marker, which must be its last event", offset: start)
            }
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
            case .insert where skim, .delete where skim:
                let table = try lookup(&r, start)
                if !table.withoutRowid { _ = try r.svarint("rowid") }
                try skipValues(&r, table, start)
                skimmed += 1
            case .update where skim:
                let table = try lookup(&r, start)
                if !table.withoutRowid { _ = try r.svarint("old rowid"); _ = try r.svarint("new rowid") }
                try skipValues(&r, table, start)
                try skipValues(&r, table, start)
                skimmed += 1
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
                let sql = try r.string("DDL statement")
                if skim { skimmed += 1 } else { events.append(.ddl(sql: sql)) }
            case .digest:
                guard allowsDigest else {
                    throw FormatError(.corrupted, "digest marker (event type 6) in a version-1 segment, which cannot hold one", offset: start)
                }
                digest = try DigestMarker.decode(&r, start: start)
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
        let n = try valueCount(&r, table, start)
        var values: [Value] = []
        values.reserveCapacity(Int(n))
        for _ in 0..<n { values.append(try Value.decode(&r)) }
        return values
    }

    private func skipValues(_ r: inout ByteReader, _ table: TableDescriptor, _ start: Int64) throws {
        for _ in 0..<(try valueCount(&r, table, start)) { try Value.skip(&r) }
    }

    private func valueCount(_ r: inout ByteReader, _ table: TableDescriptor, _ start: Int64) throws -> UInt64 {
        let n = try r.uvarint("value count")
        guard n <= UInt64(table.columns.count) else {
            throw FormatError(.corrupted, "row of \(table.name) has \(n) values for \(table.columns.count) columns", offset: start)
        }
        return n
    }
}
