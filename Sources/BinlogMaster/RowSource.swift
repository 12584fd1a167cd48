import BinlogApply
import CSV
import Foundation
import GRDB

/// Rows to load: a header of column names, then values in that order.
public protocol RowSource {
    var columns: [String] { get }
    /// Where the last row came from (a line number), for error messages.
    var position: String { get }
    mutating func next() throws -> [DatabaseValue]?
}

/// RFC 4180 CSV with a header row, streamed through yaslab/CSV.swift. An empty field
/// loads as NULL; SQLite's column affinity turns numeric text into numbers.
public struct CSVRowSource: RowSource {
    public let columns: [String]
    private let reader: CSVReader
    private var line = 1
    private var recordLine = 1

    public init(path: String) throws {
        guard let handle = path == "-" ? FileHandle.standardInput : FileHandle(forReadingAtPath: path) else {
            throw MasterError(.notFound, "cannot read \(path)")
        }
        let stream = EOFAwareInputStream(handle: handle)
        do {
            reader = try CSVReader(stream: stream, hasHeaderRow: true)
        } catch {
            throw MasterError(.input, "\(path): cannot read the CSV header: \(error)")
        }
        guard let header = reader.headerRow, !header.isEmpty, !header.contains(where: { $0.isEmpty }) else {
            throw MasterError(.input, "\(path): the first line must name the columns")
        }
        columns = header
    }

    public var position: String { "line \(recordLine)" }

    public mutating func next() throws -> [DatabaseValue]? {
        guard let row = reader.next() else {
            if let error = reader.error { throw MasterError(.input, "CSV \(position): \(error)") }
            return nil
        }
        line += 1
        recordLine = line
        // A quoted field may span lines: keep counting physical lines, as an editor shows them.
        line += row.reduce(0) { $0 + $1.utf8.reduce(0) { $1 == 10 ? $0 + 1 : $0 } }
        guard row.count == columns.count else {
            throw MasterError(.input, "CSV line \(recordLine) has \(row.count) fields, the header has \(columns.count)")
        }
        return row.map { $0.isEmpty ? .null : $0.databaseValue }
    }
}

/// JSON Lines: one object per line; the first object's keys name the columns (in sorted
/// order), a later key not among them is an error, a missing key loads as NULL.
public struct JSONLinesRowSource: RowSource {
    public private(set) var columns: [String] = []
    private var lines: LineReader
    private var pending: [String: Any]?
    private var line = 0

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
            guard let object = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] else {
                throw MasterError(.input, "JSON Lines line \(line) is not a JSON object")
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
            let info = try transaction { tx in
                let statement = try tx.prepare(sql)
                while inBatch < batchSize {
                    guard let row = try source.next() else { done = true; break }
                    do { try tx.execute(statement, arguments: StatementArguments(row)) } catch let e as MasterError {
                        throw MasterError(e.kind, "\(source.position): \(e.message)", hint: "rows before this batch were committed (LSN \(result.lastLSN.map(String.init) ?? "none")); fix the row and load the rest")
                    }
                    inBatch += 1
                }
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

/// An InputStream over a FileHandle whose `hasBytesAvailable` turns false at end of file.
/// Foundation's own file InputStream on Linux keeps answering true at EOF, and CSV.swift
/// then reports a spurious `cannotReadFile` after the last row; this stream reads ahead
/// one chunk so it knows.
final class EOFAwareInputStream: InputStream {
    private let handle: FileHandle
    private var buffer = Data()
    private var eof = false
    private var status: Stream.Status = .notOpen

    init(handle: FileHandle) {
        self.handle = handle
        super.init(data: Data())
    }

    override func open() { status = .open }
    override func close() { status = .closed }
    override var streamStatus: Stream.Status { status }
    override var streamError: Error? { nil }

    private func fill() {
        if buffer.isEmpty && !eof {
            let chunk = handle.readData(ofLength: 1 << 16)
            if chunk.isEmpty { eof = true } else { buffer = chunk }
        }
    }

    override var hasBytesAvailable: Bool {
        fill()
        return !buffer.isEmpty
    }

    override func read(_ out: UnsafeMutablePointer<UInt8>, maxLength: Int) -> Int {
        fill()
        let n = min(maxLength, buffer.count)
        if n == 0 { status = .atEnd; return 0 }
        buffer.copyBytes(to: out, count: n)
        buffer.removeFirst(n)
        return n
    }
}
