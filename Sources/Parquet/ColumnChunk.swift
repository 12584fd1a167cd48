#if canImport(Glibc)
import Glibc
#endif

/// One column's values for the row group being built, with the statistics kept as they
/// arrive. Memory is what the row group holds; `encode` turns it into pages and `reset`
/// starts the next row group.
struct ColumnChunkBuffer {
    let column: ParquetColumn
    /// Per row: 1 when a value is present, 0 for NULL (only for nullable columns).
    private(set) var definitionLevels: [UInt32] = []
    /// int64, date, timestamp and boolean (0/1) values.
    private(set) var integers: [Int64] = []
    private(set) var doubles: [Double] = []
    /// BYTE_ARRAY values, back to back; `offsets[i]` is where value i starts.
    private(set) var heap: [UInt8] = []
    private(set) var offsets: [Int] = []
    private(set) var rows = 0
    private(set) var nullCount = 0
    private var minInteger = Int64.max, maxInteger = Int64.min
    private var minDouble = Double.infinity, maxDouble = -Double.infinity, sawNumber = false
    private var minIndex = -1, maxIndex = -1

    init(_ column: ParquetColumn) { self.column = column }

    var valueCount: Int { column.kind == .double ? doubles.count : (isBytes ? offsets.count : integers.count) }
    var isBytes: Bool { column.kind == .string || column.kind == .binary }

    /// Bytes held, for the row group's memory bound.
    var bufferedBytes: Int { definitionLevels.count * 4 + integers.count * 8 + doubles.count * 8 + heap.count + offsets.count * 8 }

    /// Appends one cell; refuses a value of the wrong kind and NULL in a required column.
    mutating func append(_ value: ParquetValue) throws {
        if case .null = value {
            guard column.nullable else { throw ParquetError(.invalid, "NULL in required column \(column.name)") }
            definitionLevels.append(0)
            nullCount += 1
            rows += 1
            return
        }
        switch (column.kind, value) {
        case (.int64, .int64(let v)), (.timestampMicros, .int64(let v)): addInteger(v)
        case (.date, .int32(let v)): addInteger(Int64(v))
        case (.boolean, .boolean(let b)): addInteger(b ? 1 : 0)
        case (.double, .double(let d)): addDouble(d)
        case (.string, .bytes(let b)), (.binary, .bytes(let b)): addBytes(b)
        default: throw ParquetError(.invalid, "column \(column.name) is \(column.kind.rawValue) and cannot hold \(value)")
        }
        if column.nullable { definitionLevels.append(1) }
        rows += 1
    }

    private mutating func addInteger(_ v: Int64) {
        integers.append(v)
        minInteger = min(minInteger, v)
        maxInteger = max(maxInteger, v)
    }

    /// NaN is stored but left out of min and max, as the format asks.
    private mutating func addDouble(_ d: Double) {
        doubles.append(d)
        guard !d.isNaN else { return }
        sawNumber = true
        minDouble = min(minDouble, d)
        maxDouble = max(maxDouble, d)
    }

    private mutating func addBytes(_ b: [UInt8]) {
        let index = offsets.count
        if minIndex < 0 {
            minIndex = index
            maxIndex = index
        } else {
            if compare(b, minIndex) < 0 { minIndex = index }
            if compare(b, maxIndex) > 0 { maxIndex = index }
        }
        offsets.append(heap.count)
        heap += b
    }

    /// `b` against stored value `i` in unsigned lexicographic order (memcmp, then length):
    /// comparing slices element by element was a tenth of an export's CPU time.
    private func compare(_ b: [UInt8], _ i: Int) -> Int {
        let start = offsets[i], end = i + 1 < offsets.count ? offsets[i + 1] : heap.count
        let other = end - start, n = min(b.count, other)
        let c: Int32 = n == 0 ? 0 : b.withUnsafeBytes { bp in heap.withUnsafeBytes { hp in memcmp(bp.baseAddress!, hp.baseAddress! + start, n) } }
        if c != 0 { return Int(c) }
        return b.count == other ? 0 : (b.count < other ? -1 : 1)
    }

    /// Value `i` of a BYTE_ARRAY column.
    func bytes(_ i: Int) -> ArraySlice<UInt8> { heap[offsets[i]..<(i + 1 < offsets.count ? offsets[i + 1] : heap.count)] }

    /// min and max as the format encodes them (plain encoding without a length), nil when
    /// the chunk has no non-NULL value or a BYTE_ARRAY bound is longer than `maxStatBytes`.
    func statisticsBounds(maxStatBytes: Int = 4096) -> (min: [UInt8], max: [UInt8])? {
        switch column.kind {
        case .int64, .timestampMicros, .boolean, .date:
            guard !integers.isEmpty else { return nil }
            return (PlainEncoder.integer(minInteger, column.kind), PlainEncoder.integer(maxInteger, column.kind))
        case .double:
            guard sawNumber else { return nil }
            // The format's rule for zeros: a min of zero is written -0.0 and a max of zero +0.0.
            let lo = minDouble == 0 ? -0.0 : minDouble, hi = maxDouble == 0 ? 0.0 : maxDouble
            var a: [UInt8] = [], b: [UInt8] = []
            Encodings.le64(lo.bitPattern, into: &a)
            Encodings.le64(hi.bitPattern, into: &b)
            return (a, b)
        case .string, .binary:
            guard minIndex >= 0, bytes(minIndex).count <= maxStatBytes, bytes(maxIndex).count <= maxStatBytes else { return nil }
            return (Array(bytes(minIndex)), Array(bytes(maxIndex)))
        }
    }

    /// Empties the buffer for the next row group, keeping its capacity.
    mutating func reset() {
        definitionLevels.removeAll(keepingCapacity: true)
        integers.removeAll(keepingCapacity: true)
        doubles.removeAll(keepingCapacity: true)
        heap.removeAll(keepingCapacity: true)
        offsets.removeAll(keepingCapacity: true)
        rows = 0
        nullCount = 0
        minInteger = .max; maxInteger = .min
        minDouble = .infinity; maxDouble = -.infinity; sawNumber = false
        minIndex = -1; maxIndex = -1
    }
}

/// PLAIN encoding: INT32 and INT64 little-endian, DOUBLE its IEEE 754 bits little-endian,
/// BOOLEAN one bit each (LSB first), BYTE_ARRAY a 4-byte little-endian length and the bytes.
enum PlainEncoder {
    static func integer(_ v: Int64, _ kind: ParquetColumnKind) -> [UInt8] {
        var out: [UInt8] = []
        switch kind {
        case .date: Encodings.le32(UInt32(bitPattern: Int32(truncatingIfNeeded: v)), into: &out)
        case .boolean: out.append(v != 0 ? 1 : 0)
        default: Encodings.le64(UInt64(bitPattern: v), into: &out)
        }
        return out
    }

    /// Values `range` (indexes into the chunk's non-NULL values) of `chunk`, PLAIN.
    static func values<S: Sequence>(_ chunk: ColumnChunkBuffer, _ range: S, into out: inout [UInt8]) where S.Element == Int {
        switch chunk.column.kind {
        case .int64, .timestampMicros: for i in range { Encodings.le64(UInt64(bitPattern: chunk.integers[i]), into: &out) }
        case .date: for i in range { Encodings.le32(UInt32(bitPattern: Int32(truncatingIfNeeded: chunk.integers[i])), into: &out) }
        case .double: for i in range { Encodings.le64(chunk.doubles[i].bitPattern, into: &out) }
        case .boolean:
            var byte: UInt8 = 0, bit = 0
            for i in range {
                if chunk.integers[i] != 0 { byte |= 1 << UInt8(bit) }
                bit += 1
                if bit == 8 { out.append(byte); byte = 0; bit = 0 }
            }
            if bit > 0 { out.append(byte) }
        case .string, .binary:
            for i in range {
                let b = chunk.bytes(i)
                Encodings.le32(UInt32(b.count), into: &out)
                out += b
            }
        }
    }
}
