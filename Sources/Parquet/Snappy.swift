import CSnappy

/// Page compression. Snappy through Debian's libsnappy (its C API), the codec DuckDB and
/// pyarrow write by default; UNCOMPRESSED for readers that lack it.
public enum ParquetCompression: Int32, Sendable {
    /// parquet.thrift `CompressionCodec` codes.
    case uncompressed = 0, snappy = 1

    /// `page` compressed with this codec.
    func compress(_ page: [UInt8]) throws -> [UInt8] {
        guard self == .snappy, !page.isEmpty else { return page }
        var length = snappy_max_compressed_length(page.count)
        var out = [UInt8](repeating: 0, count: length)
        let status = page.withUnsafeBytes { input in
            out.withUnsafeMutableBytes { output in
                snappy_compress(input.baseAddress?.assumingMemoryBound(to: CChar.self), input.count,
                                output.baseAddress?.assumingMemoryBound(to: CChar.self), &length)
            }
        }
        guard status == SNAPPY_OK, length <= out.count else {
            throw ParquetError(.invalid, "unable to compress a page of \(page.count) bytes with snappy: status \(status.rawValue)")
        }
        out.removeLast(out.count - length)
        return out
    }
}
