import Foundation

/// Appends little-endian integers, varints and length-prefixed bytes to a growable buffer.
public struct ByteWriter {
    public private(set) var bytes: [UInt8]

    public init(capacity: Int = 256) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    public var count: Int { bytes.count }

    public mutating func removeAll(keepingCapacity: Bool = true) {
        bytes.removeAll(keepingCapacity: keepingCapacity)
    }

    public mutating func truncate(to count: Int) {
        if count < bytes.count { bytes.removeSubrange(count...) }
    }

    public mutating func u8(_ v: UInt8) { bytes.append(v) }

    public mutating func u16(_ v: UInt16) {
        bytes.append(UInt8(truncatingIfNeeded: v))
        bytes.append(UInt8(truncatingIfNeeded: v >> 8))
    }

    public mutating func u32(_ v: UInt32) {
        for shift in stride(from: 0, to: 32, by: 8) { bytes.append(UInt8(truncatingIfNeeded: v >> UInt32(shift))) }
    }

    public mutating func u64(_ v: UInt64) {
        for shift in stride(from: 0, to: 64, by: 8) { bytes.append(UInt8(truncatingIfNeeded: v >> UInt64(shift))) }
    }

    public mutating func i64(_ v: Int64) { u64(UInt64(bitPattern: v)) }

    /// Unsigned LEB128.
    public mutating func uvarint(_ value: UInt64) {
        var v = value
        while v >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(v))
    }

    /// Zigzag-encoded signed LEB128.
    public mutating func svarint(_ v: Int64) {
        uvarint(UInt64(bitPattern: (v << 1) ^ (v >> 63)))
    }

    public mutating func raw<C: Collection>(_ data: C) where C.Element == UInt8 { bytes.append(contentsOf: data) }

    public mutating func raw(pointer: UnsafeRawPointer?, count: Int) {
        guard count > 0, let pointer else { return }
        bytes.append(contentsOf: UnsafeRawBufferPointer(start: pointer, count: count))
    }

    /// A uvarint length followed by the bytes.
    public mutating func lengthPrefixed<C: Collection>(_ data: C) where C.Element == UInt8 {
        uvarint(UInt64(data.count))
        bytes.append(contentsOf: data)
    }

    /// A uvarint length followed by the bytes, copied in one block (the generic path goes
    /// byte by byte through Data's iterator).
    public mutating func lengthPrefixed(_ data: Data) {
        uvarint(UInt64(data.count))
        data.withUnsafeBytes { raw(pointer: $0.baseAddress, count: $0.count) }
    }

    public mutating func lengthPrefixed(pointer: UnsafeRawPointer?, count: Int) {
        uvarint(UInt64(count))
        raw(pointer: pointer, count: count)
    }

    public mutating func string(_ s: String) {
        var s = s
        s.withUTF8 { lengthPrefixed(pointer: $0.baseAddress, count: $0.count) }
    }

    public mutating func uuid(_ id: UUID) {
        let u = id.uuid
        raw([u.0, u.1, u.2, u.3, u.4, u.5, u.6, u.7, u.8, u.9, u.10, u.11, u.12, u.13, u.14, u.15])
    }

    /// Overwrites a u64 already written at `offset`.
    public mutating func patchU64(_ v: UInt64, at offset: Int) {
        for i in 0..<8 { bytes[offset + i] = UInt8(truncatingIfNeeded: v >> UInt64(8 * i)) }
    }
}

/// Reads what `ByteWriter` writes, checking the remaining length before every read so that
/// no declared length can read past the end or allocate more than the input holds.
public struct ByteReader {
    public let bytes: UnsafeRawBufferPointer
    public private(set) var position: Int
    /// Added to `position` in error offsets, so they name a place in the file.
    public let baseOffset: Int64

    public init(_ bytes: UnsafeRawBufferPointer, baseOffset: Int64 = 0) {
        self.bytes = bytes
        self.position = 0
        self.baseOffset = baseOffset
    }

    public var remaining: Int { bytes.count - position }
    public var isAtEnd: Bool { position >= bytes.count }
    public var fileOffset: Int64 { baseOffset + Int64(position) }

    private func need(_ n: Int, _ what: String) throws {
        if n < 0 || n > remaining {
            throw FormatError(.corrupted, "\(what) needs \(n) bytes but only \(remaining) remain", offset: fileOffset)
        }
    }

    public mutating func u8(_ what: String = "byte") throws -> UInt8 {
        try need(1, what)
        defer { position += 1 }
        return bytes[position]
    }

    public mutating func u16(_ what: String = "u16") throws -> UInt16 {
        try need(2, what)
        defer { position += 2 }
        return UInt16(bytes[position]) | UInt16(bytes[position + 1]) << 8
    }

    public mutating func u32(_ what: String = "u32") throws -> UInt32 {
        try need(4, what)
        var v: UInt32 = 0
        for i in 0..<4 { v |= UInt32(bytes[position + i]) << UInt32(8 * i) }
        position += 4
        return v
    }

    public mutating func u64(_ what: String = "u64") throws -> UInt64 {
        try need(8, what)
        var v: UInt64 = 0
        for i in 0..<8 { v |= UInt64(bytes[position + i]) << UInt64(8 * i) }
        position += 8
        return v
    }

    public mutating func i64(_ what: String = "i64") throws -> Int64 { Int64(bitPattern: try u64(what)) }

    public mutating func uvarint(_ what: String = "varint") throws -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            let start = fileOffset
            let byte = try u8(what)
            if shift == 63 && byte > 1 {
                throw FormatError(.corrupted, "\(what) overflows 64 bits", offset: start)
            }
            result |= UInt64(byte & 0x7F) << shift
            if byte & 0x80 == 0 { return result }
            shift += 7
            if shift > 63 { throw FormatError(.corrupted, "\(what) is longer than 10 bytes", offset: start) }
        }
    }

    public mutating func svarint(_ what: String = "varint") throws -> Int64 {
        let u = try uvarint(what)
        return Int64(bitPattern: (u >> 1) ^ (0 &- (u & 1)))
    }

    /// A length that must fit in what remains of the input.
    public mutating func length(_ what: String) throws -> Int {
        let start = fileOffset
        let n = try uvarint(what)
        guard n <= UInt64(remaining) else {
            throw FormatError(.corrupted, "\(what) declares \(n) bytes but only \(remaining) remain", offset: start)
        }
        return Int(n)
    }

    public mutating func rawBytes(_ n: Int, _ what: String) throws -> UnsafeRawBufferPointer {
        try need(n, what)
        defer { position += n }
        return UnsafeRawBufferPointer(rebasing: bytes[position..<(position + n)])
    }

    public mutating func data(_ n: Int, _ what: String) throws -> Data {
        let slice = try rawBytes(n, what)
        return Data(slice)
    }

    public mutating func lengthPrefixedData(_ what: String) throws -> Data {
        try data(try length(what), what)
    }

    public mutating func string(_ what: String) throws -> String {
        let start = fileOffset
        let n = try length(what)
        let raw = try rawBytes(n, what)
        guard let s = String(validating: raw, as: UTF8.self) else {
            throw FormatError(.corrupted, "\(what) is not valid UTF-8", offset: start)
        }
        return s
    }

    public mutating func uuid(_ what: String = "uuid") throws -> UUID {
        let raw = try rawBytes(16, what)
        return UUID(uuid: (raw[0], raw[1], raw[2], raw[3], raw[4], raw[5], raw[6], raw[7],
                           raw[8], raw[9], raw[10], raw[11], raw[12], raw[13], raw[14], raw[15]))
    }
}
