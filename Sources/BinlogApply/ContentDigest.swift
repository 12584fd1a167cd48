import BinlogFormat
import CSQLiteHooks
import Foundation
import GRDB
import GRDBSQLite

/// An order-independent digest of a table's content: its row count and the sum, modulo 2^64, of
/// XXH3-64 over each row's canonical encoding (`RowEncoder`). A multiset hash: inserting a row
/// adds its hash and deleting one subtracts it, so the digest a binlog implies can be carried
/// forward event by event without reading the table, then compared with one computed from the
/// table's rows (restore's logical check, docs/REPLICA.md).
public struct ContentDigest: Equatable, Sendable, CustomStringConvertible {
    public var rows = 0
    public var sum: UInt64 = 0

    public init(rows: Int = 0, sum: UInt64 = 0) {
        self.rows = rows
        self.sum = sum
    }

    /// Counts a row in.
    public mutating func insert(_ rowHash: UInt64) { rows += 1; sum &+= rowHash }

    /// Counts a row out.
    public mutating func remove(_ rowHash: UInt64) { rows -= 1; sum &-= rowHash }

    public var description: String { "\(rows) rows, digest \(String(sum, radix: 16))" }

    /// Digests of every user table of `db` (logship's own and SQLite's tables excluded), keyed
    /// by table name, each read row by row.
    public static func tables(_ db: Database) throws -> [String: ContentDigest] {
        var result: [String: ContentDigest] = [:]
        var encoder = RowEncoder()
        for shape in try TableShape.all(db) { result[shape.name] = try shape.digest(db, &encoder) }
        return result
    }
}

/// The canonical encoding of a row that `ContentDigest` hashes: `R` and the rowid (8 bytes,
/// little-endian) for a rowid table or `W` for a WITHOUT ROWID table, then each stored column
/// that is not generated, in column order, as a tag byte and its bytes: 0 NULL; 1 and 8 bytes
/// INTEGER; 2 and the 8-byte bit pattern REAL; 3 (TEXT) or 4 (BLOB), a 4-byte length and the
/// exact bytes. Little-endian throughout. One buffer, reused row after row.
public struct RowEncoder {
    private var bytes: [UInt8] = []

    public init() { bytes.reserveCapacity(256) }

    /// Starts a row.
    public mutating func begin(rowid: Int64?) {
        bytes.removeAll(keepingCapacity: true)
        if let rowid { bytes.append(0x52); u64(UInt64(bitPattern: rowid)) } else { bytes.append(0x57) }
    }

    public mutating func null() { bytes.append(0) }
    public mutating func integer(_ v: Int64) { bytes.append(1); u64(UInt64(bitPattern: v)) }
    public mutating func real(_ v: Double) { bytes.append(2); u64(v.bitPattern) }

    /// TEXT (`tag` 3) or BLOB (`tag` 4) bytes.
    public mutating func data(tag: UInt8, _ p: UnsafeRawPointer?, count: Int) {
        bytes.append(tag)
        u64(UInt64(count), width: 4)
        if let p, count > 0 { bytes.append(contentsOf: UnsafeRawBufferPointer(start: p, count: count)) }
    }

    /// A binlog value as the column stores it: with REAL affinity an integer reads back as a
    /// REAL (the pre-update hook gives inserted integral REALs as the INTEGERs SQLite stores).
    public mutating func value(_ v: Value, realAffinity: Bool) {
        switch v {
        case .null: null()
        case .integer(let i): if realAffinity { real(Double(i)) } else { integer(i) }
        case .real(let d): real(d)
        case .text(let d): d.withUnsafeBytes { data(tag: 3, $0.baseAddress, count: $0.count) }
        case .blob(let d): d.withUnsafeBytes { data(tag: 4, $0.baseAddress, count: $0.count) }
        }
    }

    /// The current column of `stmt`, as stored.
    mutating func column(_ stmt: OpaquePointer, _ i: Int32) {
        switch sqlite3_column_type(stmt, i) {
        case SQLITE_INTEGER: integer(sqlite3_column_int64(stmt, i))
        case SQLITE_FLOAT: real(sqlite3_column_double(stmt, i))
        case SQLITE_TEXT:
            let p = sqlite3_column_text(stmt, i)   // before _bytes, as SQLite documents
            data(tag: 3, p.map { UnsafeRawPointer($0) }, count: Int(sqlite3_column_bytes(stmt, i)))
        case SQLITE_BLOB:
            let p = sqlite3_column_blob(stmt, i)
            data(tag: 4, p, count: Int(sqlite3_column_bytes(stmt, i)))
        default: null()
        }
    }

    /// XXH3-64 of the row so far.
    public var hash: UInt64 { bytes.withUnsafeBytes { Checksum.xxh3($0) } }

    private mutating func u64(_ v: UInt64, width: Int = 8) {
        for i in 0..<width { bytes.append(UInt8(truncatingIfNeeded: v >> (8 * UInt64(i)))) }
    }
}

/// How a table's rows are read for `ContentDigest`: its stored, non-generated columns, whether
/// it has a rowid (and under which name), its primary key, and which columns have a default.
public struct TableShape: Sendable {
    public var name: String
    public var columns: [String]
    public var withoutRowid: Bool
    /// `rowid`, or `_rowid_` / `oid` when a column shadows it.
    public var rowidName: String
    /// Indexes into `columns` of the primary key, in key order.
    public var primaryKey: [Int]
    /// Per column: true when it has a default other than none (an `ALTER TABLE … ADD COLUMN`
    /// default is read back for rows stored before the column existed).
    public var hasDefault: [Bool]

    /// Every user table of `db`'s main schema (not views, virtual or shadow tables).
    public static func all(_ db: Database) throws -> [TableShape] {
        try Row.fetchAll(db, sql: """
            SELECT name, wr FROM pragma_table_list WHERE schema = 'main' AND type = 'table'
              AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND name NOT LIKE '\\_logship%' ESCAPE '\\'
            ORDER BY name
            """).map { try TableShape(name: $0[0], withoutRowid: $0[1], db) }
    }

    /// The shape of table `name`, nil when `db` has no such table.
    public static func named(_ name: String, _ db: Database) throws -> TableShape? {
        guard let row = try Row.fetchOne(db, sql: "SELECT name, wr FROM pragma_table_list WHERE schema = 'main' AND type = 'table' AND name = ? COLLATE NOCASE",
                                         arguments: [name]) else { return nil }
        return try TableShape(name: row[0], withoutRowid: row[1], db)
    }

    private init(name: String, withoutRowid: Bool, _ db: Database) throws {
        self.name = name
        self.withoutRowid = withoutRowid
        let info = try Row.fetchAll(db, sql: "SELECT name, pk, dflt_value IS NOT NULL FROM pragma_table_xinfo(?) WHERE hidden = 0 ORDER BY cid", arguments: [name])
        columns = info.map { $0[0] }
        hasDefault = info.map { $0[2] }
        primaryKey = info.indices.filter { (info[$0][1] as Int) > 0 }.sorted { (info[$0][1] as Int) < (info[$1][1] as Int) }
        let lower = Set(columns.map { $0.lowercased() })
        rowidName = ["rowid", "_rowid_", "oid"].first { !lower.contains($0) } ?? "rowid"
    }

    private var selectList: String {
        ((withoutRowid ? [] : [rowidName]) + columns.map(quotedIdentifier)).joined(separator: ", ")
    }

    /// The digest of the table's rows, read from `db`.
    public func digest(_ db: Database, _ encoder: inout RowEncoder) throws -> ContentDigest {
        let statement = try db.makeStatement(sql: "SELECT \(selectList) FROM \(quotedIdentifier(name))")
        var digest = ContentDigest()
        while let h = try nextRowHash(statement, db, &encoder) { digest.insert(h) }
        return digest
    }

    /// The hash of the row with rowid `rowid` (rowid tables) or primary key `key` (values in key
    /// order, WITHOUT ROWID tables) as `db` holds it now; nil when there is no such row.
    public func rowHash(rowid: Int64?, key: [Value], _ db: Database, _ encoder: inout RowEncoder) throws -> UInt64? {
        let condition = withoutRowid ? primaryKey.map { "\(quotedIdentifier(columns[$0])) = ?" }.joined(separator: " AND ") : "\(rowidName) = ?"
        let statement = try db.cachedStatement(sql: "SELECT \(selectList) FROM \(quotedIdentifier(name)) WHERE \(condition)")
        let stmt = statement.sqliteStatement
        sqlite3_reset(stmt)
        if withoutRowid {
            for (i, v) in key.enumerated() { try Self.bind(v, stmt, Int32(i + 1), table: name) }
        } else {
            try Self.check(sqlite3_bind_int64(stmt, 1, rowid ?? 0), table: name)
        }
        defer { sqlite3_reset(stmt) }
        return try nextRowHash(statement, db, &encoder)
    }

    private func nextRowHash(_ statement: Statement, _ db: Database, _ encoder: inout RowEncoder) throws -> UInt64? {
        let stmt = statement.sqliteStatement
        let rc = sqlite3_step(stmt)
        if rc == SQLITE_DONE { return nil }
        guard rc == SQLITE_ROW else {
            throw ApplyError(.database, "reading \(name) for its digest: \(String(cString: sqlite3_errmsg(db.sqliteConnection)))",
                             table: name, sqliteCode: sqlite3_extended_errcode(db.sqliteConnection))
        }
        encoder.begin(rowid: withoutRowid ? nil : sqlite3_column_int64(stmt, 0))
        let first: Int32 = withoutRowid ? 0 : 1
        for i in 0..<Int32(columns.count) { encoder.column(stmt, first + i) }
        return encoder.hash
    }

    private static func bind(_ value: Value, _ stmt: OpaquePointer, _ index: Int32, table: String) throws {
        try check(ExactValues.bind(value, stmt, index), table: table)
    }

    private static func check(_ rc: Int32, table: String) throws {
        guard rc == SQLITE_OK else { throw ApplyError(.database, "bind failed with code \(rc)", table: table, sqliteCode: rc) }
    }
}

/// How a binlog row image of one table descriptor is hashed so that it equals the hash of the
/// row as the table stores it: generated columns left out (the replica computes them), REAL
/// affinity applied.
public struct ImageShape {
    public let table: TableDescriptor
    /// Indexes of the stored, non-generated columns.
    public let stored: [Int]
    private let realAffinity: [Bool]

    public init(_ table: TableDescriptor) {
        self.table = table
        stored = table.columns.indices.filter { !table.columns[$0].isGenerated }
        realAffinity = table.columns.map { Self.hasRealAffinity($0.declaredType) }
    }

    /// The row's hash; nil when the image does not hold every column of the descriptor.
    public func hash(rowid: Int64?, values: [Value], _ encoder: inout RowEncoder) -> UInt64? {
        guard values.count == table.columns.count else { return nil }
        encoder.begin(rowid: table.withoutRowid ? nil : rowid)
        for i in stored { encoder.value(values[i], realAffinity: realAffinity[i]) }
        return encoder.hash
    }

    /// SQLite's affinity rules (§3.1 of its datatype documentation): REAL when the declared
    /// type holds none of INT, CHAR, CLOB, TEXT, BLOB and one of REAL, FLOA, DOUB.
    static func hasRealAffinity(_ declared: String) -> Bool {
        let t = declared.uppercased()
        if t.isEmpty || ["INT", "CHAR", "CLOB", "TEXT", "BLOB"].contains(where: t.contains) { return false }
        return ["REAL", "FLOA", "DOUB"].contains(where: t.contains)
    }
}
