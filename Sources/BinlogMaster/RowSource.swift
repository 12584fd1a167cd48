import BinlogApply
import Foundation
import GRDB
import GRDBSQLite

/// Rows to load: a header of column names, then values in that order.
public protocol RowSource {
    var columns: [String] { get }
    /// Where the last row came from (a line number), for error messages.
    var position: String { get }
    mutating func next() throws -> [DatabaseValue]?
    /// Binds the next row's values to parameters 1…`columns.count` of `statement` (the
    /// loader's prepared INSERT) and returns true, or returns false at the end. The values
    /// must stay valid until the next call. The default binds what `next()` returns; a
    /// source may bind straight from its own buffers instead.
    mutating func bindNext(to statement: Statement) throws -> Bool
}

extension RowSource {
    public mutating func bindNext(to statement: Statement) throws -> Bool {
        guard let row = try next() else { return false }
        let stmt = statement.sqliteStatement
        for (i, value) in row.enumerated() {
            let index = Int32(i + 1)
            let rc: Int32
            switch value.storage {
            case .null: rc = sqlite3_bind_null(stmt, index)
            case .int64(let v): rc = sqlite3_bind_int64(stmt, index, v)
            case .double(let v): rc = sqlite3_bind_double(stmt, index, v)
            case .string(var s):
                rc = s.withUTF8 { utf8 in
                    utf8.withMemoryRebound(to: CChar.self) { sqlite3_bind_text(stmt, index, $0.baseAddress ?? emptyText, Int32(clamping: $0.count), sqliteTransient) }
                }
            case .blob(let d): rc = d.withUnsafeBytes { sqlite3_bind_blob(stmt, index, $0.baseAddress ?? UnsafeRawPointer(emptyText), Int32(clamping: $0.count), sqliteTransient) }
            }
            try checkBind(rc, column: i, position)
        }
        return true
    }
}

/// A NUL byte: SQLite binds a NULL pointer as NULL, so an empty text or blob needs an address.
/// nonisolated(unsafe): written once when initialized, then only read (SQLite copies from it).
nonisolated(unsafe) private let emptyText: UnsafePointer<CChar> = {
    let p = UnsafeMutablePointer<CChar>.allocate(capacity: 1)
    p.initialize(to: 0)
    return UnsafePointer(p)
}()

/// SQLite copies the value at bind time (SQLITE_TRANSIENT).
private let sqliteTransient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

private func checkBind(_ rc: Int32, column: Int, _ position: @autoclosure () -> String) throws {
    guard rc == SQLITE_OK else {
        throw MasterError(rc == SQLITE_TOOBIG ? .input : .sql, "\(position()): cannot bind field \(column + 1): \(String(cString: sqlite3_errstr(rc)))")
    }
}

/// RFC 4180 CSV with a header row (CSVRecordReader). An empty field loads as NULL; SQLite's
/// column affinity turns numeric text into numbers. Fields must be UTF-8.
public struct CSVRowSource: RowSource {
    public let columns: [String]
    private let reader: CSVRecordReader

    public init(path: String) throws {
        let reader = try CSVRecordReader(path: path)
        guard try reader.next(), (0..<reader.fieldCount).allSatisfy({ !reader.field($0).isEmpty }) else {
            throw MasterError(.input, "\(path): the first line must name the columns")
        }
        try reader.checkUTF8()
        columns = (0..<reader.fieldCount).map(reader.string)
        self.reader = reader
    }

    public var position: String { "line \(reader.recordLine)" }

    public mutating func next() throws -> [DatabaseValue]? {
        guard try nextRecord() else { return nil }
        return (0..<columns.count).map { reader.field($0).isEmpty ? .null : reader.string($0).databaseValue }
    }

    /// Binds the fields as TEXT straight from the reader's record buffer (no copy: it stays
    /// put until the next record is read), an empty field as NULL.
    public mutating func bindNext(to statement: Statement) throws -> Bool {
        guard try nextRecord() else { return false }
        let stmt = statement.sqliteStatement
        for i in 0..<columns.count {
            let field = reader.field(i)
            let index = Int32(i + 1)
            let rc: Int32
            if field.isEmpty {
                rc = sqlite3_bind_null(stmt, index)
            } else {
                guard field.count <= Int32.max else { throw MasterError(.input, "CSV \(position): field \(i + 1) is too long") }
                rc = field.baseAddress!.withMemoryRebound(to: CChar.self, capacity: field.count) {
                    sqlite3_bind_text(stmt, index, $0, Int32(field.count), nil)
                }
            }
            try checkBind(rc, column: i, "CSV \(position)")
        }
        return true
    }

    private func nextRecord() throws -> Bool {
        guard try reader.next() else { return false }
        guard reader.fieldCount == columns.count else {
            throw MasterError(.input, "CSV line \(reader.recordLine) has \(reader.fieldCount) fields, the header has \(columns.count)")
        }
        try reader.checkUTF8()
        return true
    }
}

/// JSON Lines: one object per line; the first object's keys name the columns (in sorted
/// order), a later key not among them is an error, a missing key loads as NULL.
public struct JSONLinesRowSource: RowSource {
    public private(set) var columns: [String] = []
    private var lines: LineReader
    private var pending: [String: Any]?
    private var line = 0
    private let sqliteReader = SQLiteJSONReader()

    public init(path: String) throws {
        lines = try LineReader(path: path)
        if let first = try readObject() {
            columns = first.keys.sorted()
            pending = first
        }
        guard !columns.isEmpty else { throw MasterError(.input, "\(path): no JSON object to take column names from") }
    }

    public var position: String { "line \(line)" }

    private mutating func readObject() throws -> [String: Any]? {
        while let text = try lines.next() {
            line += 1
            if text.allSatisfy({ $0.isWhitespace }) { continue }
            guard var object = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] else {
                throw MasterError(.input, "JSON Lines line \(line) is not a JSON object")
            }
            if object.values.contains(where: Self.isWideNumber) {
                let exact = try sqliteReader.members(of: text)
                for (key, value) in object where Self.isWideNumber(value) { object[key] = exact[key] ?? .null }
            }
            return object
        }
        return nil
    }

    public mutating func next() throws -> [DatabaseValue]? {
        let object: [String: Any]
        if let p = pending { object = p; pending = nil } else if let o = try readObject() { object = o } else { return nil }
        if let unknown = object.keys.first(where: { !columns.contains($0) }) {
            throw MasterError(.input, "JSON Lines line \(line) has key \"\(unknown)\", which the first line does not have")
        }
        return columns.map { Self.value(object[$0]) }
    }

    static func value(_ any: Any?) -> DatabaseValue {
        switch any {
        case nil, is NSNull: return .null
        case let v as DatabaseValue: return v
        case let s as String: return s.databaseValue
        case let n as NSNumber:
            let type = String(cString: n.objCType)
            if type == "c" || type == "B" { return n.boolValue ? 1.databaseValue : 0.databaseValue }
            if type == "d" || type == "f" { return n.doubleValue.databaseValue }
            return n.int64Value.databaseValue
        default:
            if let data = try? JSONSerialization.data(withJSONObject: any!, options: [.sortedKeys]) {
                return String(decoding: data, as: UTF8.self).databaseValue
            }
            return .null
        }
    }
}

extension JSONLinesRowSource {
    /// Numbers Foundation reads as unsigned 64-bit (beyond Int64.max: int64Value wraps them) or
    /// as NSDecimalNumber (long mantissas, integers near Int64.min): their JSON text decides
    /// whether SQLite reads an INTEGER or a REAL, and Foundation no longer has it.
    static func isWideNumber(_ any: Any) -> Bool {
        guard let n = any as? NSNumber else { return false }
        if n is NSDecimalNumber { return true }
        let type = n.objCType.pointee
        return type == CChar(UInt8(ascii: "Q")) || type == CChar(UInt8(ascii: "L")) || type == CChar(UInt8(ascii: "I"))
    }
}

/// Reads a JSON object's top-level members the way SQLite's JSON functions do (json_each):
/// an integer beyond 64 bits is a REAL, never wrapped. Used only for the rare lines holding such
/// numbers; its in-memory connection is opened once, on first use.
final class SQLiteJSONReader {
    private var queue: DatabaseQueue?

    func members(of text: String) throws -> [String: DatabaseValue] {
        let queue = try self.queue ?? DatabaseQueue()
        self.queue = queue
        let rows = try queue.inDatabase { db in try Row.fetchAll(db, sql: "SELECT key, value FROM json_each(?)", arguments: [text]) }
        return Dictionary(rows.map { ($0[0] as String, $0[1] as DatabaseValue) }, uniquingKeysWith: { _, last in last })
    }
}

/// Reads a file line by line with bounded memory.
struct LineReader {
    private let handle: FileHandle
    private var buffer = Data()
    private var eof = false

    init(path: String) throws {
        guard let h = path == "-" ? FileHandle.standardInput : FileHandle(forReadingAtPath: path) else {
            throw MasterError(.notFound, "cannot read \(path)")
        }
        handle = h
    }

    mutating func next() throws -> String? {
        while true {
            if let nl = buffer.firstIndex(of: 10) {
                let line = buffer[buffer.startIndex..<nl]
                buffer.removeSubrange(buffer.startIndex...nl)
                return String(decoding: line, as: UTF8.self)
            }
            if eof {
                if buffer.isEmpty { return nil }
                defer { buffer.removeAll() }
                return String(decoding: buffer, as: UTF8.self)
            }
            let chunk = handle.readData(ofLength: 1 << 16)
            if chunk.isEmpty { eof = true } else { buffer.append(chunk) }
        }
    }
}

extension Master {
    /// What a load did.
    public struct LoadResult: Sendable {
        public var rows = 0
        public var transactions = 0
        public var firstLSN: UInt64?
        public var lastLSN: UInt64?
    }

    /// Inserts every row of `source` into `table` in transactions of `batchSize` rows, each
    /// through the binlog. A bad row stops the load: its batch is rolled back, the batches
    /// before it stay committed (their LSNs are in the result), and the error names the row.
    public func load(table: String, from source: inout some RowSource, batchSize: Int = 1000,
                     progress: ((Int) -> Void)? = nil) throws -> LoadResult {
        guard batchSize >= 1 else { throw MasterError(.invalid, "batch size must be at least 1") }
        let known = try read { db in try db.tableExists(table) ? try db.columns(in: table).map(\.name) : nil }
        guard let known else { throw MasterError(.invalid, "no such table: \(table)", hint: "create it first with `binlog-writer exec`") }
        if let missing = source.columns.first(where: { c in !known.contains(where: { $0.caseInsensitiveCompare(c) == .orderedSame }) }) {
            throw MasterError(.input, "column \"\(missing)\" of the input is not in table \(table) (\(known.joined(separator: ", ")))")
        }
        let q = quotedIdentifier
        let sql = "INSERT INTO \(q(table)) (\(source.columns.map(q).joined(separator: ", "))) VALUES (\(Array(repeating: "?", count: source.columns.count).joined(separator: ", ")))"
        var result = LoadResult()
        var done = false
        while !done {
            var inBatch = 0
            let info: CommitInfo?
            do { info = try transaction { tx in
                let statement = try tx.prepare(sql)
                // Bound through the C API: GRDB's StatementArguments(some Sequence) was 17 % of a
                // CSV load's CPU time (docs/BENCHMARKS.md).
                while inBatch < batchSize {
                    guard try source.bindNext(to: statement) else { done = true; break }
                    do { try tx.stepBound(statement) } catch let e as MasterError {
                        throw MasterError(e.kind, "\(source.position): \(e.message)", hint: "rows before this batch were committed (LSN \(result.lastLSN.map(String.init) ?? "none")); fix the row and load the rest")
                    }
                    inBatch += 1
                }
            } } catch let e as MasterError where e.kind == .unacknowledged {
                // Semi-sync timed out: this batch IS committed; say how far the load got.
                throw MasterError(.unacknowledged, e.message + "; the load stopped there: \(result.rows + inBatch) rows committed, this batch included, up to \(source.position)",
                                  hint: e.hint)
            }
            result.rows += inBatch
            if let info {
                result.transactions += 1
                result.firstLSN = result.firstLSN ?? info.lsn
                result.lastLSN = info.lsn
            }
            progress?(result.rows)
        }
        return result
    }
}
