/// The Thrift compact protocol, encode side only: what a Parquet footer and page headers need.
///
/// Written here rather than taken from a library: no Swift Thrift or Parquet package is among
/// the ones this project can use (see Sources/Parquet/ParquetWriter.swift). The facts come
/// from the Thrift compact protocol specification:
///
/// | item | bytes |
/// |---|---|
/// | field header | `delta << 4 \| type` when the id grows by 1…15, else `type` then the id as a zigzag varint |
/// | i16, i32, i64 | zigzag, then ULEB128 varint |
/// | i8 | one byte |
/// | bool field | no value: the header's type is 1 (true) or 2 (false) |
/// | binary, string | varint length, then the bytes |
/// | list | `size << 4 \| elementType` when size < 15, else `0xF0 \| elementType` then the size as a varint |
/// | struct | its fields, then a stop byte 0; field ids restart from 0 inside it |
struct ThriftCompactWriter {
    /// Compact protocol type codes.
    enum FieldType: UInt8 {
        case boolTrue = 1, boolFalse = 2, i8 = 3, i16 = 4, i32 = 5, i64 = 6, double = 7, binary = 8, list = 9, set = 10, map = 11, `struct` = 12
    }

    private(set) var bytes: [UInt8] = []
    /// The last field id written, per open struct (the outermost first).
    private var lastFieldID: [Int16] = [0]

    init() { bytes.reserveCapacity(256) }

    mutating func i32(_ id: Int16, _ v: Int32) { header(id, .i32); varint(zigzag(Int64(v))) }
    mutating func i64(_ id: Int16, _ v: Int64) { header(id, .i64); varint(zigzag(v)) }
    mutating func i16(_ id: Int16, _ v: Int16) { header(id, .i16); varint(zigzag(Int64(v))) }
    mutating func i8(_ id: Int16, _ v: Int8) { header(id, .i8); bytes.append(UInt8(bitPattern: v)) }
    mutating func bool(_ id: Int16, _ v: Bool) { header(id, v ? .boolTrue : .boolFalse) }
    mutating func binary(_ id: Int16, _ v: [UInt8]) { header(id, .binary); varint(UInt64(v.count)); bytes += v }
    mutating func string(_ id: Int16, _ v: String) { binary(id, Array(v.utf8)) }

    /// Opens a struct-valued field; `structEnd` closes it.
    mutating func structBegin(_ id: Int16) { header(id, .struct); lastFieldID.append(0) }

    /// Ends the innermost open struct (or the top-level one) with a stop byte.
    mutating func structEnd() {
        bytes.append(0)
        if lastFieldID.count > 1 { lastFieldID.removeLast() }
    }

    /// A list field of `count` structs, each written by `element`.
    mutating func structList(_ id: Int16, count: Int, _ element: (inout ThriftCompactWriter, Int) -> Void) {
        header(id, .list)
        listHeader(count, .struct)
        for i in 0..<count {
            lastFieldID.append(0)
            element(&self, i)
            structEnd()
        }
    }

    /// A list field of i32 values (Parquet enums are i32).
    mutating func i32List(_ id: Int16, _ values: [Int32]) {
        header(id, .list)
        listHeader(values.count, .i32)
        for v in values { varint(zigzag(Int64(v))) }
    }

    /// A list field of strings.
    mutating func stringList(_ id: Int16, _ values: [String]) {
        header(id, .list)
        listHeader(values.count, .binary)
        for v in values { let b = Array(v.utf8); varint(UInt64(b.count)); bytes += b }
    }

    private mutating func listHeader(_ count: Int, _ type: FieldType) {
        if count < 15 {
            bytes.append(UInt8(count) << 4 | type.rawValue)
        } else {
            bytes.append(0xF0 | type.rawValue)
            varint(UInt64(count))
        }
    }

    private mutating func header(_ id: Int16, _ type: FieldType) {
        let last = lastFieldID[lastFieldID.count - 1]
        let delta = Int(id) - Int(last)
        if delta > 0 && delta <= 15 {
            bytes.append(UInt8(delta) << 4 | type.rawValue)
        } else {
            bytes.append(type.rawValue)
            varint(zigzag(Int64(id)))
        }
        lastFieldID[lastFieldID.count - 1] = id
    }

    private func zigzag(_ v: Int64) -> UInt64 { UInt64(bitPattern: (v << 1) ^ (v >> 63)) }

    /// ULEB128: seven bits a byte, low bits first, high bit set on every byte but the last.
    mutating func varint(_ value: UInt64) {
        var v = value
        while v >= 0x80 {
            bytes.append(UInt8(v & 0x7F) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(v))
    }
}
