/// A column chunk as bytes: an optional dictionary page, then data pages (format v1 data
/// pages, uncompressed), with what the footer says about it.
struct EncodedChunk {
    var bytes: [UInt8] = []
    /// What `bytes` would take with every page uncompressed (the footer's total_uncompressed_size).
    var uncompressedSize = 0
    /// Where the first data page starts within `bytes` (after the dictionary page, if any).
    var dataPageStart = 0
    var hasDictionary = false
    var encodings: [Int32] = []
    var numValues = 0
    var nullCount = 0
    var bounds: (min: [UInt8], max: [UInt8])?
}

extension EncodedChunk {
    /// Appends a page: its header (made by `header` from the uncompressed and compressed
    /// sizes), then its body compressed with `codec` (a v1 page compresses levels and values
    /// together).
    mutating func append(page body: [UInt8], _ codec: ParquetCompression, header: (Int, Int) -> [UInt8]) throws {
        let stored = try codec.compress(body)
        let h = header(body.count, stored.count)
        bytes += h
        bytes += stored
        uncompressedSize += h.count + body.count
    }
}

/// Turns a `ColumnChunkBuffer` into pages.
///
/// Dictionary encoding is chosen per chunk: when the distinct non-NULL values number at most
/// half the values and at most `maxDictionaryEntries`, and their PLAIN bytes fit in
/// `maxDictionaryBytes`, the chunk gets a PLAIN dictionary page and RLE_DICTIONARY data pages;
/// otherwise PLAIN data pages. Deciding after the row group is buffered needs no fallback
/// pages half-way through a chunk.
enum ChunkEncoder {
    static let dataPage: Int32 = 0, dictionaryPage: Int32 = 2

    static func encode(_ chunk: ColumnChunkBuffer, _ options: ParquetWriter.Options) throws -> EncodedChunk {
        var out = EncodedChunk()
        out.numValues = chunk.rows
        out.nullCount = chunk.nullCount
        out.bounds = chunk.statisticsBounds()
        let dictionary = buildDictionary(chunk, maxEntries: options.maxDictionaryEntries, maxBytes: options.maxDictionaryBytes)
        if let dictionary {
            var body: [UInt8] = []
            PlainEncoder.values(chunk, dictionary.firsts, into: &body)
            try out.append(page: body, options.compression) { pageHeader(type: dictionaryPage, size: $0, compressed: $1, dictionaryEntries: dictionary.firsts.count) }
            out.hasDictionary = true
            out.encodings = [Encodings.plain, Encodings.rle, Encodings.rleDictionary]
        } else {
            out.encodings = [Encodings.plain, Encodings.rle]
        }
        out.dataPageStart = out.bytes.count
        var row = 0, value = 0
        repeat {
            let end = min(chunk.rows, row + max(1, options.pageRows))
            let present = chunk.column.nullable ? chunk.definitionLevels[row..<end].reduce(0) { $0 + Int($1) } : end - row
            let body = pageBody(chunk, rows: row..<end, values: value..<(value + present), dictionary: dictionary)
            let encoding = dictionary == nil ? Encodings.plain : Encodings.rleDictionary
            try out.append(page: body, options.compression) { pageHeader(type: dataPage, size: $0, compressed: $1, dataPage: (end - row, encoding)) }
            row = end
            value += present
        } while row < chunk.rows
        return out
    }

    /// PageHeader: 1 type, 2 uncompressed_page_size, 3 compressed_page_size, then 5 DataPageHeader (1 num_values, 2 encoding, 3 definition and 4
    /// repetition level encodings, both RLE) or 7 DictionaryPageHeader (1 num_values, 2 encoding PLAIN).
    private static func pageHeader(type: Int32, size: Int, compressed: Int, dataPage: (values: Int, encoding: Int32)? = nil, dictionaryEntries: Int? = nil) -> [UInt8] {
        var h = ThriftCompactWriter()
        h.i32(1, type)
        h.i32(2, Int32(size))
        h.i32(3, Int32(compressed))
        if let dataPage {
            h.structBegin(5)
            h.i32(1, Int32(dataPage.values))
            h.i32(2, dataPage.encoding)
            h.i32(3, Encodings.rle)
            h.i32(4, Encodings.rle)
            h.structEnd()
        }
        if let dictionaryEntries {
            h.structBegin(7)
            h.i32(1, Int32(dictionaryEntries))
            h.i32(2, Encodings.plain)
            h.structEnd()
        }
        h.structEnd()
        return h.bytes
    }

    /// A v1 data page: definition levels (4-byte length, then the hybrid at bit width 1) for
    /// a nullable column, no repetition levels (flat schema), then the values.
    private static func pageBody(_ chunk: ColumnChunkBuffer, rows: Range<Int>, values: Range<Int>, dictionary: Dictionary?) -> [UInt8] {
        var body: [UInt8] = []
        if chunk.column.nullable {
            var levels: [UInt8] = []
            Encodings.hybrid(Array(chunk.definitionLevels[rows]), bitWidth: 1, into: &levels)
            Encodings.le32(UInt32(levels.count), into: &body)
            body += levels
        }
        if let dictionary {
            let width = Encodings.bitWidth(dictionary.firsts.count - 1)
            body.append(UInt8(width))
            Encodings.hybrid(Array(dictionary.indices[values]), bitWidth: width, into: &body)
        } else {
            PlainEncoder.values(chunk, values, into: &body)
        }
        return body
    }

    struct Dictionary {
        /// Per non-NULL value, its entry.
        var indices: [UInt32]
        /// Per entry, the index of its first value (entries in order of first appearance).
        var firsts: [Int]
    }

    static func buildDictionary(_ chunk: ColumnChunkBuffer, maxEntries: Int, maxBytes: Int) -> Dictionary? {
        let n = chunk.valueCount
        guard chunk.column.kind.allowsDictionary, n > 0, maxEntries > 0 else { return nil }
        let limit = min(maxEntries, max(1, n / 2))
        switch chunk.column.kind {
        case .string, .binary:
            var bytes = 0
            return build(n, limit: limit, key: { chunk.bytes($0) }, tooBig: { bytes += chunk.bytes($0).count + 4; return bytes > maxBytes })
        case .double:
            return build(n, limit: limit, key: { chunk.doubles[$0].bitPattern }, tooBig: { _ in false })
        default:
            return build(n, limit: limit, key: { chunk.integers[$0] }, tooBig: { _ in false })
        }
    }

    private static func build<K: Hashable>(_ n: Int, limit: Int, key: (Int) -> K, tooBig: (Int) -> Bool) -> Dictionary? {
        var map: [K: UInt32] = [:]
        var d = Dictionary(indices: [], firsts: [])
        d.indices.reserveCapacity(n)
        for i in 0..<n {
            let k = key(i)
            if let e = map[k] {
                d.indices.append(e)
                continue
            }
            guard d.firsts.count < limit, !tooBig(i) else { return nil }
            map[k] = UInt32(d.firsts.count)
            d.indices.append(UInt32(d.firsts.count))
            d.firsts.append(i)
        }
        return d
    }
}
