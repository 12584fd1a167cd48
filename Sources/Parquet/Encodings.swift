/// The value encodings the writer emits (Parquet's Encodings.md).
enum Encodings {
    /// Encoding codes (parquet.thrift `Encoding`).
    static let plain: Int32 = 0, rle: Int32 = 3, rleDictionary: Int32 = 8

    /// The RLE / bit-packing hybrid for values of `bitWidth` bits: a sequence of runs, each a
    /// ULEB128 header then its data.
    ///
    /// | run | header | data |
    /// |---|---|---|
    /// | repeated | `count << 1` | the value in `ceil(bitWidth / 8)` bytes, little-endian |
    /// | bit-packed | `groups << 1 \| 1` | `groups × 8` values, `bitWidth` bits each, least significant bit first |
    ///
    /// Eight or more equal values make a repeated run; anything else goes out in bit-packed
    /// groups of eight, the last group padded with zeros (readers stop at the page's value
    /// count, so padding only ever ends the data).
    static func hybrid(_ values: [UInt32], bitWidth: Int, into out: inout [UInt8]) {
        let n = values.count
        var i = 0
        while i < n {
            let run = runLength(values, from: i)
            if run >= 8 {
                varint(UInt64(run) << 1, into: &out)
                for b in 0..<((bitWidth + 7) / 8) { out.append(UInt8(truncatingIfNeeded: values[i] >> (8 * UInt32(b)))) }
                i += run
                continue
            }
            let start = i
            var groups = 0
            while i < n && (groups == 0 || runLength(values, from: i) < 8) && groups < 1 << 20 {
                i += 8
                groups += 1
            }
            varint(UInt64(groups) << 1 | 1, into: &out)
            bitPack(values, from: start, count: groups * 8, bitWidth: bitWidth, into: &out)
            i = min(i, n)
        }
    }

    private static func runLength(_ values: [UInt32], from i: Int) -> Int {
        var j = i + 1
        while j < values.count && values[j] == values[i] { j += 1 }
        return j - i
    }

    /// `count` values from `start` (zeros past the end), packed LSB first.
    private static func bitPack(_ values: [UInt32], from start: Int, count: Int, bitWidth: Int, into out: inout [UInt8]) {
        var acc: UInt64 = 0
        var bits = 0
        for k in 0..<count {
            let v = start + k < values.count ? UInt64(values[start + k]) : 0
            acc |= v << UInt64(bits)
            bits += bitWidth
            while bits >= 8 {
                out.append(UInt8(truncatingIfNeeded: acc))
                acc >>= 8
                bits -= 8
            }
        }
        if bits > 0 { out.append(UInt8(truncatingIfNeeded: acc)) }
    }

    /// The bits needed for values up to `maxValue` (at least 1: some readers refuse width 0).
    static func bitWidth(_ maxValue: Int) -> Int {
        var w = 1
        while (1 << w) <= maxValue { w += 1 }
        return w
    }

    static func varint(_ value: UInt64, into out: inout [UInt8]) {
        var v = value
        while v >= 0x80 {
            out.append(UInt8(v & 0x7F) | 0x80)
            v >>= 7
        }
        out.append(UInt8(v))
    }

    static func le32(_ v: UInt32, into out: inout [UInt8]) {
        for i in 0..<4 { out.append(UInt8(truncatingIfNeeded: v >> (8 * UInt32(i)))) }
    }

    static func le64(_ v: UInt64, into out: inout [UInt8]) {
        for i in 0..<8 { out.append(UInt8(truncatingIfNeeded: v >> (8 * UInt64(i)))) }
    }
}
