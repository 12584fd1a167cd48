import Foundation

/// A SQLite value with exact fidelity: TEXT keeps its bytes as stored (no UTF-8 repair),
/// REAL keeps its bit pattern (NaN payloads and -0.0 included).
public enum Value: Hashable, Sendable, CustomStringConvertible {
    case null
    case integer(Int64)
    case real(Double)
    case text(Data)
    case blob(Data)

    /// Tags on the wire (docs/FORMAT.md §4.3).
    enum Tag: UInt8 { case null = 0, integer = 1, real = 2, text = 3, blob = 4 }

    public static func text(_ s: String) -> Value { .text(Data(s.utf8)) }

    public var textString: String? {
        if case .text(let d) = self { return String(decoding: d, as: UTF8.self) }
        return nil
    }

    public static func == (a: Value, b: Value) -> Bool {
        switch (a, b) {
        case (.null, .null): return true
        case (.integer(let x), .integer(let y)): return x == y
        case (.real(let x), .real(let y)): return x.bitPattern == y.bitPattern
        case (.text(let x), .text(let y)): return x == y
        case (.blob(let x), .blob(let y)): return x == y
        default: return false
        }
    }

    public func hash(into h: inout Hasher) {
        switch self {
        case .null: h.combine(0)
        case .integer(let v): h.combine(1); h.combine(v)
        case .real(let v): h.combine(2); h.combine(v.bitPattern)
        case .text(let d): h.combine(3); h.combine(d)
        case .blob(let d): h.combine(4); h.combine(d)
        }
    }

    /// SQL-literal rendering for dumps: strings quoted, blobs as X'..' (long ones elided).
    public var description: String {
        switch self {
        case .null: return "NULL"
        case .integer(let v): return String(v)
        case .real(let v): return v.isFinite ? "\(v)" : (v.isNaN ? "NaN" : (v > 0 ? "Inf" : "-Inf"))
        case .text(let d):
            return "'" + String(decoding: d, as: UTF8.self).replacingOccurrences(of: "'", with: "''") + "'"
        case .blob(let d):
            let shown = d.prefix(32).map { hex(UInt64($0), width: 2) }.joined()
            return d.count > 32 ? "X'\(shown)…' (\(d.count) bytes)" : "X'\(shown)'"
        }
    }

    func encode(into w: inout ByteWriter) {
        switch self {
        case .null: w.u8(Tag.null.rawValue)
        case .integer(let v): w.u8(Tag.integer.rawValue); w.svarint(v)
        case .real(let v): w.u8(Tag.real.rawValue); w.u64(v.bitPattern)
        case .text(let d): w.u8(Tag.text.rawValue); w.lengthPrefixed(d)
        case .blob(let d): w.u8(Tag.blob.rawValue); w.lengthPrefixed(d)
        }
    }

    static func decode(_ r: inout ByteReader) throws -> Value {
        let start = r.fileOffset
        let tag = try r.u8("value tag")
        switch Tag(rawValue: tag) {
        case .null: return .null
        case .integer: return .integer(try r.svarint("integer value"))
        case .real: return .real(Double(bitPattern: try r.u64("real value")))
        case .text: return .text(try r.lengthPrefixedData("text value"))
        case .blob: return .blob(try r.lengthPrefixedData("blob value"))
        case nil: throw FormatError(.corrupted, "unknown value tag \(tag)", offset: start)
        }
    }

    /// Reads past one value with the checks `decode` makes, building nothing.
    static func skip(_ r: inout ByteReader) throws {
        let start = r.fileOffset
        let tag = try r.u8("value tag")
        switch Tag(rawValue: tag) {
        case .null: return
        case .integer: _ = try r.svarint("integer value")
        case .real: _ = try r.u64("real value")
        case .text: _ = try r.rawBytes(try r.length("text value"), "text value")
        case .blob: _ = try r.rawBytes(try r.length("blob value"), "blob value")
        case nil: throw FormatError(.corrupted, "unknown value tag \(tag)", offset: start)
        }
    }
}

/// Writing values straight from their source (the master's capture reads them from SQLite
/// without building `Value`s): the same bytes `Value.encode` writes (docs/FORMAT.md §4.3).
extension ByteWriter {
    public mutating func valueNull() { u8(Value.Tag.null.rawValue) }
    public mutating func valueInteger(_ v: Int64) { u8(Value.Tag.integer.rawValue); svarint(v) }
    public mutating func valueReal(_ v: Double) { u8(Value.Tag.real.rawValue); u64(v.bitPattern) }
    public mutating func valueText(_ pointer: UnsafeRawPointer?, count: Int) { u8(Value.Tag.text.rawValue); lengthPrefixed(pointer: pointer, count: count) }
    public mutating func valueBlob(_ pointer: UnsafeRawPointer?, count: Int) { u8(Value.Tag.blob.rawValue); lengthPrefixed(pointer: pointer, count: count) }
}
