import Foundation

/// A streaming RFC 4180 reader over bytes: fields separated by commas, records by LF, CRLF
/// or a lone CR; a field in double quotes may hold commas, line breaks and doubled quotes
/// (`""` for one `"`). A quote inside an unquoted field is kept as it is. A UTF-8 byte
/// order mark at the very start is skipped.
///
/// Hand-written rather than a CSV package: `binlog-writer load` on 1,000,000 rows ran at
/// 15 % of plain SQLite's rate with yaslab/CSV.swift, which decodes one Unicode scalar at a
/// time and builds a `String` per field (45 % of the load's CPU time, docs/BENCHMARKS.md).
/// This reader scans bytes in 256 KiB chunks and keeps the current record's field bytes in
/// one buffer that the loader binds straight into SQLite; memory is bounded by the longest
/// record.
final class CSVRecordReader {
    private let ownsDescriptor: Bool
    /// The reader's state, in a struct so that a record costs one exclusive access to it:
    /// its fields, as stored properties of this class, cost a runtime exclusivity check on
    /// every access (4 % of a load's CPU time when they were).
    private var scan: Scanner

    /// Line of the input (1-based) on which the current record starts.
    var recordLine: Int { scan.recordLine }
    /// The number of fields in the current record.
    var fieldCount: Int { scan.fieldEnds.count }

    /// Opens `path` ("-" for standard input); `chunkSize` is for tests of chunk boundaries.
    init(path: String, chunkSize: Int = 256 << 10) throws {
        let fd: Int32
        if path == "-" {
            fd = STDIN_FILENO
            ownsDescriptor = false
        } else {
            fd = open(path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { throw MasterError(.notFound, "cannot read \(path): \(String(cString: strerror(errno)))") }
            ownsDescriptor = true
        }
        scan = Scanner(fd: fd, path: path, chunk: .allocate(byteCount: max(chunkSize, 4), alignment: 16))
    }

    deinit {
        scan.chunk.deallocate()
        scan.record.deallocate()
        if ownsDescriptor { close(scan.fd) }
    }

    /// The bytes of field `index` of the current record, valid until the next `next()`.
    func field(_ index: Int) -> UnsafeBufferPointer<UInt8> { scan.field(index) }

    /// Field `index` of the current record as a string (after `checkUTF8`, exactly its bytes).
    func string(_ index: Int) -> String {
        String(decoding: field(index), as: UTF8.self)
    }

    /// Throws unless every field of the current record is valid UTF-8.
    func checkUTF8() throws {
        guard !isASCII(UnsafeBufferPointer(start: scan.record, count: scan.recordCount)) else { return }
        // Per field: a sequence split by a comma is two invalid fields, not one valid one.
        for i in 0..<fieldCount where !isValidUTF8(field(i)) {
            throw MasterError(.input, "CSV line \(recordLine): field \(i + 1) is not valid UTF-8")
        }
    }

    /// Reads the next record; false at the end of the input.
    func next() throws -> Bool { try scan.next() }
}

/// The byte scanner behind CSVRecordReader.
private struct Scanner {
    let fd: Int32
    let path: String
    let chunk: UnsafeMutableRawBufferPointer
    var position = 0
    var filled = 0
    var atEOF = false
    /// The line the reader is on (1-based), counted as an editor shows them.
    var line = 1
    var started = false
    var recordLine = 0
    /// Where each field of the current record ends in `record` (it starts where the
    /// previous one ends).
    var fieldEnds: [Int] = []
    /// The current record's field bytes, unquoted, one after another. Its own allocation,
    /// so pointers into it stay valid until the next record is read.
    var record: UnsafeMutablePointer<UInt8>
    var recordCapacity = 4096
    var recordCount = 0

    init(fd: Int32, path: String, chunk: UnsafeMutableRawBufferPointer) {
        self.fd = fd
        self.path = path
        self.chunk = chunk
        record = .allocate(capacity: recordCapacity)
    }

    func field(_ index: Int) -> UnsafeBufferPointer<UInt8> {
        let start = index == 0 ? 0 : fieldEnds[index - 1]
        return UnsafeBufferPointer(start: record + start, count: fieldEnds[index] - start)
    }

    mutating func next() throws -> Bool {
        if !started {
            started = true
            try skipByteOrderMark()
        }
        recordCount = 0
        fieldEnds.removeAll(keepingCapacity: true)
        guard try fill() else { return false }
        recordLine = line
        while true {
            // At the start of a field (after a comma the input may end: an empty last field).
            let ended: Bool
            if try fill(), chunk[position] == UInt8(ascii: "\"") {
                position += 1
                ended = try readQuoted()
            } else {
                ended = try readUnquoted()
            }
            fieldEnds.append(recordCount)
            if ended { return true }
        }
    }

    /// Reads into the chunk at `offset`; returns the byte count (0 at end of input).
    private func readChunk(at offset: Int) throws -> Int {
        while true {
            let n = read(fd, chunk.baseAddress! + offset, chunk.count - offset)
            if n >= 0 { return n }
            if errno != EINTR { throw MasterError(.io, "unable to read \(path): \(String(cString: strerror(errno)))") }
        }
    }

    /// Makes at least one unread byte available; false at the end of the input.
    private mutating func fill() throws -> Bool {
        if position < filled { return true }
        if atEOF { return false }
        filled = try readChunk(at: 0)
        position = 0
        atEOF = filled == 0
        return !atEOF
    }

    private mutating func skipByteOrderMark() throws {
        // Gather the first three bytes (a pipe may deliver fewer at a time).
        while filled < 3 && !atEOF {
            let n = try readChunk(at: filled)
            if n == 0 { atEOF = true } else { filled += n }
        }
        if filled >= 3 && chunk[0] == 0xEF && chunk[1] == 0xBB && chunk[2] == 0xBF { position = 3 }
    }

    /// Appends chunk bytes `start..<position` to the record.
    private mutating func take(from start: Int) {
        let n = position - start
        guard n > 0 else { return }
        reserve(n)
        (record + recordCount).initialize(from: chunk.baseAddress!.assumingMemoryBound(to: UInt8.self) + start, count: n)
        recordCount += n
    }

    private mutating func append(_ byte: UInt8) {
        reserve(1)
        record[recordCount] = byte
        recordCount += 1
    }

    private mutating func reserve(_ n: Int) {
        guard recordCount + n > recordCapacity else { return }
        var capacity = recordCapacity * 2
        while capacity < recordCount + n { capacity *= 2 }
        let grown = UnsafeMutablePointer<UInt8>.allocate(capacity: capacity)
        grown.initialize(from: record, count: recordCount)
        record.deallocate()
        record = grown
        recordCapacity = capacity
    }

    /// An unquoted field, up to a comma (false), or a line break or the end of input (true).
    private mutating func readUnquoted() throws -> Bool {
        while try fill() {
            // Locals in the scan: stored properties of a class cost an exclusivity check each.
            let base = chunk.baseAddress!.assumingMemoryBound(to: UInt8.self)
            let start = position, end = filled
            var p = start
            while p < end {
                let c = base[p]
                if c <= 44 && (c == 44 || c == 10 || c == 13) { break } // ',' '\n' '\r'
                p += 1
            }
            position = p
            take(from: start)
            if p < end {
                if base[p] == 44 {
                    position = p + 1
                    return false
                }
                try endOfLine()
                return true
            }
        }
        return true
    }

    /// Consumes LF, CRLF or CR at `position`, counting one line.
    private mutating func endOfLine() throws {
        let c = chunk[position]
        position += 1
        line += 1
        if c == 13, try fill(), chunk[position] == 10 { position += 1 }
    }

    /// A quoted field after its opening quote; returns whether the record ended after it.
    private mutating func readQuoted() throws -> Bool {
        let opened = line
        var afterCR = false
        while true {
            guard try fill() else {
                throw MasterError(.input, "CSV line \(opened): a quoted field is never closed (the input ends inside it)")
            }
            let base = chunk.baseAddress!.assumingMemoryBound(to: UInt8.self)
            let start = position, end = filled
            var p = start
            var closed = false
            var lines = 0
            while p < end {
                let c = base[p]
                if c == 34 { closed = true; break } // '"'
                // Line breaks inside quotes belong to the field; count them as an editor would.
                if c == 13 || (c == 10 && !afterCR) { lines += 1 }
                afterCR = c == 13
                p += 1
            }
            position = p
            line += lines
            take(from: start)
            guard closed else { continue }
            position += 1
            afterCR = false
            // A quote: doubled, it is one quote of the field; else the field ends here.
            guard try fill() else { return true }
            switch chunk[position] {
            case UInt8(ascii: "\""):
                append(UInt8(ascii: "\""))
                position += 1
            case UInt8(ascii: ","):
                position += 1
                return false
            case 10, 13:
                try endOfLine()
                return true
            default:
                throw MasterError(.input, "CSV line \(line): a closing quote must be followed by a comma or a line break",
                                  hint: "write a quote inside a quoted field as two quotes (\"\")")
            }
        }
    }
}

/// True when every byte is below 0x80 (eight at a time).
private func isASCII(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
    guard let base = bytes.baseAddress else { return true }
    var i = 0
    let n = bytes.count
    while i + 8 <= n {
        if UnsafeRawPointer(base + i).loadUnaligned(as: UInt64.self) & 0x8080_8080_8080_8080 != 0 { return false }
        i += 8
    }
    while i < n {
        if base[i] >= 0x80 { return false }
        i += 1
    }
    return true
}

/// True when `bytes` is well-formed UTF-8 (Unicode 15, table 3-7: no overlong forms, no
/// surrogates, nothing above U+10FFFF). Hand-written: `String(validating:)` instantiates
/// generic metadata on every call, and was 14 % of a load's CPU time.
func isValidUTF8(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
    var i = 0
    let n = bytes.count
    while i < n {
        let b0 = bytes[i]
        if b0 < 0x80 { i += 1; continue }
        let length: Int
        var low: UInt8 = 0x80, high: UInt8 = 0xBF
        switch b0 {
        case 0xC2...0xDF: length = 2
        case 0xE0: length = 3; low = 0xA0
        case 0xE1...0xEC, 0xEE...0xEF: length = 3
        case 0xED: length = 3; high = 0x9F
        case 0xF0: length = 4; low = 0x90
        case 0xF1...0xF3: length = 4
        case 0xF4: length = 4; high = 0x8F
        default: return false
        }
        guard i + length <= n, bytes[i + 1] >= low, bytes[i + 1] <= high else { return false }
        for k in 2..<length where bytes[i + k] & 0xC0 != 0x80 { return false }
        i += length
    }
    return true
}
