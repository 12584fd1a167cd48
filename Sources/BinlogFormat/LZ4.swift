import CLZ4
import Foundation

/// LZ4 block compression from Debian's liblz4 (the reference implementation).
public enum LZ4 {
    /// The largest input liblz4's block API accepts.
    public static let maxInputSize = Int(LZ4_MAX_INPUT_SIZE)

    /// Compresses `input` into `output`; returns false when compression would not save space
    /// (the frame then stores the bytes as they are).
    public static func compress(_ input: UnsafeRawBufferPointer, into output: inout [UInt8]) -> Bool {
        guard input.count > 0, input.count <= maxInputSize else { return false }
        let bound = Int(LZ4_compressBound(Int32(input.count)))
        if output.count < bound { output = [UInt8](repeating: 0, count: bound) }
        let written = output.withUnsafeMutableBytes { out in
            LZ4_compress_default(input.baseAddress!.assumingMemoryBound(to: CChar.self),
                                 out.baseAddress!.assumingMemoryBound(to: CChar.self),
                                 Int32(input.count), Int32(bound))
        }
        guard written > 0, Int(written) < input.count else { return false }
        output.removeSubrange(Int(written)...)
        return true
    }

    /// Decompresses into exactly `rawLength` bytes; anything else is corruption.
    /// LZ4_decompress_safe never writes past the output buffer or reads past the input.
    public static func decompress(_ input: UnsafeRawBufferPointer, rawLength: Int) throws -> [UInt8] {
        var output = [UInt8](repeating: 0, count: rawLength)
        let n = output.withUnsafeMutableBytes { out -> Int32 in
            guard let inBase = input.baseAddress, let outBase = out.baseAddress else { return -1 }
            return LZ4_decompress_safe(inBase.assumingMemoryBound(to: CChar.self),
                                       outBase.assumingMemoryBound(to: CChar.self),
                                       Int32(input.count), Int32(rawLength))
        }
        guard n == Int32(rawLength) else {
            throw FormatError(.corrupted, "LZ4 block does not decompress to its declared \(rawLength) bytes")
        }
        return output
    }
}
