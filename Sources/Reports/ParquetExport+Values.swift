import BinlogApply
import BinlogFormat
import CSQLiteHooks
import Foundation
import GRDBSQLite
import LogshipSystem
import Parquet

extension TableExporter {
    /// Column `i` of the current row as its Parquet value, hashed into `encoder` as stored.
    /// A value that does not fit the column's kind (TEXT in an INTEGER column, a REAL in an
    /// INTEGER one, a BLOB in a TEXT one) stops the export, naming the row: never skipped,
    /// never changed.
    func value(_ stmt: OpaquePointer, _ index: Int32, column i: Int, rowid: Int64?, _ encoder: inout RowEncoder) throws -> ParquetValue {
        let kind = columns[i].kind
        switch sqlite3_column_type(stmt, index) {
        case SQLITE_NULL:
            encoder.null()
            return .null
        case SQLITE_INTEGER:
            let v = sqlite3_column_int64(stmt, index)
            encoder.integer(v)
            switch kind {
            case .int64: return .int64(v)
            case .double where Swift.abs(v) <= 1 << 53: return .double(Double(v))
            case .boolean where v == 0 || v == 1: return .boolean(v == 1)
            default: throw mismatch(i, rowid, "the integer \(v)")
            }
        case SQLITE_FLOAT:
            let d = sqlite3_column_double(stmt, index)
            encoder.real(d)
            guard kind == .double else { throw mismatch(i, rowid, "the real \(d)") }
            return .double(d)
        case SQLITE_TEXT:
            let p = sqlite3_column_text(stmt, index)   // before _bytes, as SQLite documents
            let n = Int(sqlite3_column_bytes(stmt, index))
            encoder.data(tag: 3, p.map { UnsafeRawPointer($0) }, count: n)
            let bytes = p.map { Array(UnsafeBufferPointer(start: $0, count: n)) } ?? []
            switch kind {
            case .string: return .bytes(bytes)
            case .date, .timestampMicros: return try time(bytes, kind, i, rowid)
            default: throw mismatch(i, rowid, "text")
            }
        default:
            let p = sqlite3_column_blob(stmt, index)
            let n = Int(sqlite3_column_bytes(stmt, index))
            encoder.data(tag: 4, p, count: n)
            guard kind == .binary else { throw mismatch(i, rowid, "a BLOB") }
            return .bytes(p.map { Array(UnsafeRawBufferPointer(start: $0, count: n)) } ?? [])
        }
    }

    /// DATE columns take `YYYY-MM-DD`; DATETIME and TIMESTAMP columns what `parseTimestamp`
    /// reads (UTC unless an offset is given).
    private func time(_ bytes: [UInt8], _ kind: ParquetColumnKind, _ i: Int, _ rowid: Int64?) throws -> ParquetValue {
        let text = String(decoding: bytes, as: UTF8.self)
        guard let micros = parseTimestamp(text) else { throw mismatch(i, rowid, "the text '\(text)' (not a time)") }
        if kind == .timestampMicros { return .int64(micros) }
        guard bytes.count == 10, micros % 86_400_000_000 == 0, let days = Int32(exactly: micros / 86_400_000_000) else {
            throw mismatch(i, rowid, "the text '\(text)' (not a date YYYY-MM-DD)")
        }
        return .int32(days)
    }

    private func mismatch(_ i: Int, _ rowid: Int64?, _ what: String) -> ReportError {
        let c = columns[i]
        let declared = c.declared.isEmpty ? "no declared type" : "declared type \(c.declared)"
        return ReportError(.invalid, "unable to export table \(shape.name): row \(rowid.map(String.init) ?? "?") has \(what) in column \(c.name), whose \(declared) maps to Parquet \(c.kind.rawValue)",
                           hint: "correct that value on the master, or give the column a declared type that fits its values")
    }
}
