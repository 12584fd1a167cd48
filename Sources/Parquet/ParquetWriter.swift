#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// Writes one Parquet file row by row, in row groups of bounded size, so memory is bounded by
/// one row group whatever the file's length.
///
/// Written for logship because no Parquet library is available to it: no Swift package for
/// Parquet or Thrift among the packages this project can use, and Debian 12 packages no
/// Arrow or Parquet C/C++ library (apt-cache finds none). A minimal writer of the subset
/// below, checked against pyarrow and DuckDB in ParquetOracleTests; the facts come from the
/// Parquet format specification (parquet.thrift, Encodings.md).
///
/// | part | what is written |
/// |---|---|
/// | file | `PAR1`, row groups, the footer (Thrift compact `FileMetaData`), its 4-byte little-endian length, `PAR1` |
/// | schema | flat: one REQUIRED or OPTIONAL leaf per column (`ParquetColumnKind` has the type mapping) |
/// | pages | format v1 data pages, Snappy-compressed (libsnappy) or uncompressed; a PLAIN dictionary page when the chunk is dictionary-encoded |
/// | values | PLAIN, or RLE_DICTIONARY indexes; definition levels in the RLE/bit-packing hybrid |
/// | statistics | per chunk: null_count, min_value, max_value (BYTE_ARRAY bounds over 4 KiB left out) |
///
/// The file is created exclusively (an existing file is refused), fsynced by `close` unless
/// `syncOnClose` is off; a durable publish (rename, directory fsync) is the caller's, who
/// knows the directory.
public final class ParquetWriter {
    /// Bounds and encoding choices.
    public struct Options: Sendable {
        /// A row group is closed at this many rows…
        public var rowGroupRows = 128 * 1024
        /// …or when its columns hold this many bytes, whichever comes first.
        public var rowGroupBytes = 64 << 20
        /// Rows per data page.
        public var pageRows = 20_000
        /// Dictionary encoding off (0) or at most this many entries per chunk.
        public var maxDictionaryEntries = 65_536
        public var maxDictionaryBytes = 1 << 20
        /// fsync the file in `close` (off when the caller makes a whole directory durable at
        /// once, as `report export` does with one syncfs).
        public var syncOnClose = true
        /// How pages are compressed.
        public var compression = ParquetCompression.snappy
        public init() {}
    }

    public let path: String
    public let columns: [ParquetColumn]
    public let options: Options
    /// Rows appended so far.
    public private(set) var rowCount: Int64 = 0
    /// Bytes written so far (the whole file after `close`).
    public private(set) var fileSize: Int64 = 0

    private var fd: Int32
    private var buffers: [ColumnChunkBuffer]
    private var groups: [RowGroupRecord] = []
    private var pending: [UInt8] = []
    private var closed = false

    /// Creates `path` (which must not exist) for a file of `columns`, with `mode` (owner only by
    /// default; logship passes its file mode, docs/OPERATIONS.md "Files and permissions").
    public init(path: String, columns: [ParquetColumn], options: Options = Options(), mode: mode_t = 0o600) throws {
        guard !columns.isEmpty else { throw ParquetError(.invalid, "unable to write \(path): a Parquet file needs at least one column") }
        let names = columns.map(\.name)
        guard Set(names).count == names.count else { throw ParquetError(.invalid, "unable to write \(path): two columns share a name in \(names)") }
        self.path = path
        self.columns = columns
        self.options = options
        buffers = columns.map(ColumnChunkBuffer.init)
        fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
        guard fd >= 0 else { throw Self.ioError("create", path, errno) }
        try emit(Array("PAR1".utf8))
    }

    deinit { if fd >= 0 { _ = Glibc.close(fd) } }

    /// Appends one row: one value per column, in schema order.
    public func append(_ row: [ParquetValue]) throws {
        guard row.count == columns.count else {
            throw ParquetError(.invalid, "unable to write \(path): row \(rowCount) has \(row.count) values for \(columns.count) columns")
        }
        for i in row.indices {
            do { try buffers[i].append(row[i]) } catch let e as ParquetError {
                throw ParquetError(.invalid, "unable to write \(path) row \(rowCount): \(e.message)")
            }
        }
        rowCount += 1
        if buffers[0].rows >= options.rowGroupRows || buffers.reduce(0, { $0 + $1.bufferedBytes }) >= options.rowGroupBytes {
            try flushRowGroup()
        }
    }

    /// Bytes the open row group holds now.
    public var bufferedBytes: Int { buffers.reduce(0) { $0 + $1.bufferedBytes } }

    /// Writes the open row group out now (a caller keeping several files open bounds their
    /// memory together this way).
    public func flushRowGroup() throws {
        guard buffers[0].rows > 0 else { return }
        let start = fileSize + Int64(pending.count)
        var chunks: [ChunkRecord] = []
        for i in buffers.indices {
            let encoded: EncodedChunk
            do { encoded = try ChunkEncoder.encode(buffers[i], options) } catch let e as ParquetError {
                throw ParquetError(e.kind, "unable to write \(path) column \(columns[i].name): \(e.message)")
            }
            let offset = fileSize + Int64(pending.count)
            chunks.append(ChunkRecord(column: columns[i], fileOffset: offset, dataPageOffset: offset + Int64(encoded.dataPageStart),
                                      dictionaryPageOffset: encoded.hasDictionary ? offset : nil, size: Int64(encoded.bytes.count),
                                      codec: options.compression, encoded: encoded))
            try emit(encoded.bytes)
            buffers[i].reset()
        }
        groups.append(RowGroupRecord(rows: Int64(chunks[0].encoded.numValues), fileOffset: start, chunks: chunks))
    }

    /// Writes the last row group and the footer, fsyncs and closes the file.
    public func close() throws {
        guard !closed else { return }
        try flushRowGroup()
        let footer = FileMetadata.encode(columns: columns, rowGroups: groups, createdBy: "logship version 1.0.0")
        var tail: [UInt8] = []
        Encodings.le32(UInt32(footer.count), into: &tail)
        try emit(footer + tail + Array("PAR1".utf8))
        try drain()
        if options.syncOnClose { guard fsync(fd) == 0 else { throw Self.ioError("fsync", path, errno) } }
        let rc = Glibc.close(fd)
        fd = -1
        closed = true
        guard rc == 0 else { throw Self.ioError("close", path, errno) }
    }

    /// Row groups written so far.
    public var rowGroupCount: Int { groups.count }

    private func emit(_ bytes: [UInt8]) throws {
        pending += bytes
        if pending.count >= 1 << 20 { try drain() }
    }

    private func drain() throws {
        var done = 0
        while done < pending.count {
            let n = pending.withUnsafeBytes { write(fd, $0.baseAddress! + done, $0.count - done) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw Self.ioError("write", path, n < 0 ? errno : EIO) }
            done += n
        }
        fileSize += Int64(pending.count)
        pending.removeAll(keepingCapacity: true)
    }

    static func ioError(_ operation: String, _ path: String, _ code: Int32) -> ParquetError {
        let kind: ParquetError.Kind = code == ENOSPC || code == EDQUOT ? .diskFull : .io
        return ParquetError(kind, "unable to \(operation) \(path): \(String(cString: strerror(code)))",
                            hint: kind == .diskFull ? "free space on that file system and export again" : nil)
    }
}
