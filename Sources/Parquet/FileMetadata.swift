/// The footer of a Parquet file (parquet.thrift `FileMetaData`), as the writer fills it.
struct ChunkRecord {
    var column: ParquetColumn
    var fileOffset: Int64
    var dataPageOffset: Int64
    var dictionaryPageOffset: Int64?
    var size: Int64
    var codec: ParquetCompression
    var encoded: EncodedChunk
}

struct RowGroupRecord {
    var rows: Int64
    var fileOffset: Int64
    var chunks: [ChunkRecord]
    var compressedSize: Int64 { chunks.reduce(0) { $0 + $1.size } }
    var uncompressedSize: Int64 { chunks.reduce(0) { $0 + Int64($1.encoded.uncompressedSize) } }
}

enum FileMetadata {
    /// FileMetaData: 1 version, 2 schema (a root element with the columns as children),
    /// 3 num_rows, 4 row_groups, 6 created_by, 7 column_orders (TYPE_ORDER for every column,
    /// without which readers ignore `min_value`/`max_value`).
    static func encode(columns: [ParquetColumn], rowGroups: [RowGroupRecord], createdBy: String) -> [UInt8] {
        var w = ThriftCompactWriter()
        w.i32(1, 2)
        w.structList(2, count: columns.count + 1) { w, i in
            if i == 0 {
                w.string(4, "schema")
                w.i32(5, Int32(columns.count))
            } else {
                schemaElement(&w, columns[i - 1])
            }
        }
        w.i64(3, rowGroups.reduce(0) { $0 + $1.rows })
        w.structList(4, count: rowGroups.count) { w, i in rowGroup(&w, rowGroups[i], ordinal: i) }
        w.string(6, createdBy)
        w.structList(7, count: columns.count) { w, _ in
            w.structBegin(1)   // ColumnOrder.TYPE_ORDER: TypeDefinedOrder {}
            w.structEnd()
        }
        w.structEnd()
        return w.bytes
    }

    /// SchemaElement: 1 type, 3 repetition_type (0 REQUIRED, 1 OPTIONAL), 4 name,
    /// 6 converted_type, 10 logicalType.
    private static func schemaElement(_ w: inout ThriftCompactWriter, _ c: ParquetColumn) {
        w.i32(1, c.kind.physicalType)
        w.i32(3, c.nullable ? 1 : 0)
        w.string(4, c.name)
        if let converted = c.kind.convertedType { w.i32(6, converted) }
        switch c.kind {
        case .string:   // LogicalType.STRING (1): StringType {}
            w.structBegin(10); w.structBegin(1); w.structEnd(); w.structEnd()
        case .date:     // LogicalType.DATE (6): DateType {}
            w.structBegin(10); w.structBegin(6); w.structEnd(); w.structEnd()
        case .timestampMicros:  // LogicalType.TIMESTAMP (8): isAdjustedToUTC, unit MICROS (2)
            w.structBegin(10); w.structBegin(8)
            w.bool(1, true)
            w.structBegin(2); w.structBegin(2); w.structEnd(); w.structEnd()
            w.structEnd(); w.structEnd()
        default: break
        }
    }

    /// RowGroup: 1 columns, 2 total_byte_size, 3 num_rows, 5 file_offset,
    /// 6 total_compressed_size, 7 ordinal.
    private static func rowGroup(_ w: inout ThriftCompactWriter, _ g: RowGroupRecord, ordinal: Int) {
        w.structList(1, count: g.chunks.count) { w, i in columnChunk(&w, g.chunks[i]) }
        w.i64(2, g.uncompressedSize)
        w.i64(3, g.rows)
        w.i64(5, g.fileOffset)
        w.i64(6, g.compressedSize)
        w.i16(7, Int16(truncatingIfNeeded: ordinal))
    }

    /// ColumnChunk: 2 file_offset, 3 meta_data. ColumnMetaData: 1 type, 2 encodings,
    /// 3 path_in_schema, 4 codec, 5 num_values, 6 uncompressed and 7 compressed size,
    /// 9 data_page_offset, 11 dictionary_page_offset, 12 statistics.
    private static func columnChunk(_ w: inout ThriftCompactWriter, _ c: ChunkRecord) {
        w.i64(2, c.fileOffset)
        w.structBegin(3)
        w.i32(1, c.column.kind.physicalType)
        w.i32List(2, c.encoded.encodings)
        w.stringList(3, [c.column.name])
        w.i32(4, c.codec.rawValue)
        w.i64(5, Int64(c.encoded.numValues))
        w.i64(6, Int64(c.encoded.uncompressedSize))
        w.i64(7, c.size)
        w.i64(9, c.dataPageOffset)
        if let d = c.dictionaryPageOffset { w.i64(11, d) }
        // Statistics: 3 null_count, 5 max_value, 6 min_value (the deprecated 1 max / 2 min
        // had an undefined order for BYTE_ARRAY and are not written).
        w.structBegin(12)
        w.i64(3, Int64(c.encoded.nullCount))
        if let b = c.encoded.bounds {
            w.binary(5, b.max)
            w.binary(6, b.min)
        }
        w.structEnd()
        w.structEnd()
    }
}
