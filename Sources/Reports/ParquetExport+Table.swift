import BinlogApply
import BinlogFormat
import CSQLiteHooks
import Foundation
import GRDB
import GRDBSQLite
import LogshipSystem
import Parquet

/// One table of an export: its columns mapped to Parquet kinds, its rows read once (each
/// value both converted for Parquet and hashed into the table's `ContentDigest`), written to
/// one file or, for the expense table, one file per month.
final class TableExporter {
    struct Column { var name: String; var declared: String; var kind: ParquetColumnKind; var nullable: Bool }

    let shape: TableShape
    let columns: [Column]
    let directory: String
    let relativeDirectory: String
    let partitionIndex: Int?
    let options: ParquetExport.Options
    /// The LSN this export is at (each file written records it).
    let lsn: UInt64
    /// Files of a previous export this one may hard-link instead of writing, by partition key
    /// ("" for an unpartitioned table): used when the rows of that partition are unchanged.
    var reusable: [String: PreviousExport.File] = [:]
    private var writers: [String: ParquetWriter] = [:]
    private var files: [String: (relative: String, rows: Int)] = [:]

    init(_ db: Database, _ shape: TableShape, directory: String, partitionColumn: String?, _ options: ParquetExport.Options, lsn: UInt64) throws {
        self.shape = shape
        self.lsn = lsn
        var o = options
        o.writer.syncOnClose = false   // ParquetExport.publish syncs the whole export at once
        self.options = o
        let info = try Row.fetchAll(db, sql: "SELECT name, type, \"notnull\" FROM pragma_table_xinfo(?) WHERE hidden = 0 ORDER BY cid", arguments: [shape.name])
        columns = info.map { row in
            let declared: String = row[1] ?? ""
            return Column(name: row[0], declared: declared, kind: Self.kind(declared), nullable: !(row[2] as Bool))
        }
        relativeDirectory = ParquetExport.pathComponent(shape.name)
        self.directory = directory + "/" + relativeDirectory
        let mapped = columns
        partitionIndex = partitionColumn.flatMap { p in mapped.firstIndex { $0.name.lowercased() == p.lowercased() } }
        try ParquetExport.makeDirectory(self.directory)
    }

    /// The Parquet kind of a declared SQLite type: DATE, DATETIME/TIMESTAMP and BOOL… by name,
    /// the rest by SQLite's affinity rules (INT → int64; CHAR, CLOB, TEXT → string; BLOB or
    /// none → binary; REAL, FLOA, DOUB and NUMERIC → double).
    static func kind(_ declared: String) -> ParquetColumnKind {
        let t = declared.uppercased().trimmingCharacters(in: .whitespaces)
        if t == "DATE" { return .date }
        if t == "DATETIME" || t == "TIMESTAMP" { return .timestampMicros }
        if t.hasPrefix("BOOL") { return .boolean }
        if t.contains("INT") { return .int64 }
        if ["CHAR", "CLOB", "TEXT"].contains(where: t.contains) { return .string }
        if t.isEmpty || t.contains("BLOB") { return .binary }
        return .double
    }

    /// Reads every row, writes the files (or links unchanged ones of a previous export), and
    /// returns the table's manifest entry.
    func run(_ db: Database, _ encoder: inout RowEncoder) throws -> ParquetExport.Manifest.Table {
        let linked = reusable.isEmpty ? [:] : try linkUnchanged(db, &encoder)
        var digest = ContentDigest(), digests: [String: ContentDigest] = [:]
        var count = 0
        try scan(db, &encoder) { key, row, rowid, hash in
            digest.insert(hash)
            digests[key, default: ContentDigest()].insert(hash)
            guard linked[key] == nil else { return }
            try writer(for: key).append(row)
            count += 1
            if count % 4096 == 0 { try boundMemory() }
        }
        if partitionIndex == nil, writers.isEmpty, linked.isEmpty { _ = try writer(for: "") }   // an empty table still gets its schema
        var written: [ParquetExport.Manifest.File] = []
        for key in Set(writers.keys).union(linked.keys).sorted() {
            if let f = linked[key] { written.append(f); continue }
            guard let w = writers[key], let f = files[key] else { continue }
            do { try w.close() } catch let e as ParquetError { throw Self.reportError(e) }
            CrashPoint.reach("export.after-file")
            written.append(.init(path: f.relative, partition: partitionIndex == nil ? nil : key, rows: Int(w.rowCount), bytes: w.fileSize,
                                 contentDigest: Self.hex(digests[key] ?? ContentDigest()), writtenAtLSN: lsn))
        }
        return .init(name: shape.name, directory: relativeDirectory, rows: digest.rows, contentDigest: Self.hex(digest),
                     partitionedBy: partitionIndex.map { "month of \(columns[$0].name)" },
                     columns: columns.map { .init(name: $0.name, declaredType: $0.declared, parquetType: $0.kind.rawValue, nullable: $0.nullable) },
                     files: written)
    }

    static func hex(_ d: ContentDigest) -> String { String(format: "%016llx", d.sum) }

    /// Every row of the table once: its partition key, its Parquet values, rowid and row hash.
    func scan(_ db: Database, _ encoder: inout RowEncoder, _ body: (String, [ParquetValue], Int64?, UInt64) throws -> Void) throws {
        let rowid = shape.withoutRowid ? "" : shape.rowidName + ", "
        let sql = "SELECT \(rowid)\(columns.map { quotedIdentifier($0.name) }.joined(separator: ", ")) FROM \(quotedIdentifier(shape.name))"
        let statement = try db.makeStatement(sql: sql)
        let stmt = statement.sqliteStatement
        defer { sqlite3_reset(stmt) }
        let first: Int32 = shape.withoutRowid ? 0 : 1
        var row = [ParquetValue](repeating: .null, count: columns.count)
        while true {
            let rc = sqlite3_step(stmt)
            if rc == SQLITE_DONE { break }
            guard rc == SQLITE_ROW else {
                throw ReportError(.sql, "unable to read table \(shape.name): \(String(cString: sqlite3_errmsg(db.sqliteConnection)))")
            }
            let id: Int64? = shape.withoutRowid ? nil : sqlite3_column_int64(stmt, 0)
            encoder.begin(rowid: id)
            for i in columns.indices { row[i] = try value(stmt, first + Int32(i), column: i, rowid: id, &encoder) }
            let key = try partitionIndex.map { try month(row[$0], rowid: id) } ?? ""
            try body(key, row, id, encoder.hash)
        }
    }

    /// The file of partition `key` (a month, or "" for the table's one file).
    private func writer(for key: String) throws -> ParquetWriter {
        if let w = writers[key] { return w }
        var relative = relativeDirectory
        if !key.isEmpty {
            relative += "/month=" + key
            try ParquetExport.makeDirectory(directory + "/month=" + key)
        }
        relative += "/part-0.parquet"
        let parquetColumns = columns.map { ParquetColumn($0.name, $0.kind, nullable: $0.nullable) }
        do {
            let w = try ParquetWriter(path: (directory as NSString).deletingLastPathComponent + "/" + relative, columns: parquetColumns, options: options.writer, mode: FilePermissions.file)
            writers[key] = w
            files[key] = (relative, 0)
            return w
        } catch let e as ParquetError { throw Self.reportError(e) }
    }

    /// `YYYY-MM` from a date value that starts with one; anything else stops the export.
    private func month(_ v: ParquetValue, rowid: Int64?) throws -> String {
        if case .bytes(let b) = v, b.count >= 7, b[4] == UInt8(ascii: "-"),
           b[0..<4].allSatisfy({ $0 >= 48 && $0 <= 57 }), b[5...6].allSatisfy({ $0 >= 48 && $0 <= 57 }),
           let m = Int(String(decoding: b[5...6], as: UTF8.self)), (1...12).contains(m) {
            return String(decoding: b[0..<7], as: UTF8.self)
        }
        guard let p = partitionIndex else { return "" }
        throw ReportError(.invalid, "unable to partition table \(shape.name) by month: row \(rowid.map(String.init) ?? "?") has \(columns[p].name) = \(v), which does not start with a month YYYY-MM",
                          hint: "correct that row on the master, map another date column with --date-column, or export with --no-partition")
    }

    /// Keeps the open row groups of all partitions under the memory budget.
    private func boundMemory() throws {
        guard writers.count > 1 else { return }
        var total = 0
        for w in writers.values { total += w.bufferedBytes }
        while total > options.memoryBudget, let largest = writers.values.max(by: { $0.bufferedBytes < $1.bufferedBytes }), largest.bufferedBytes > 0 {
            total -= largest.bufferedBytes
            do { try largest.flushRowGroup() } catch let e as ParquetError { throw Self.reportError(e) }
        }
    }

    static func reportError(_ e: ParquetError) -> ReportError {
        ReportError(e.kind == .diskFull ? .diskFull : e.kind == .io ? .io : .invalid, e.message, hint: e.hint)
    }
}
