/// What one column of a Parquet file holds, as the writer supports it: the physical type and
/// the annotation (logical type) readers use to present it.
///
/// | kind | physical type | annotation | value |
/// |---|---|---|---|
/// | `int64` | INT64 (2) | none (signed 64-bit) | `.int64` |
/// | `double` | DOUBLE (5) | none | `.double` |
/// | `boolean` | BOOLEAN (0) | none | `.boolean` |
/// | `string` | BYTE_ARRAY (6) | STRING, converted UTF8 | `.bytes` (UTF-8) |
/// | `binary` | BYTE_ARRAY (6) | none | `.bytes` |
/// | `date` | INT32 (1) | DATE, converted DATE: days since 1970-01-01 | `.int32` |
/// | `timestampMicros` | INT64 (2) | TIMESTAMP(UTC, MICROS), converted TIMESTAMP_MICROS | `.int64` |
public enum ParquetColumnKind: String, Sendable, Equatable, CaseIterable {
    case int64, double, boolean, string, binary, date, timestampMicros = "timestamp_micros"

    /// The Parquet physical type code (parquet.thrift `Type`).
    var physicalType: Int32 {
        switch self {
        case .boolean: return 0
        case .date: return 1
        case .int64, .timestampMicros: return 2
        case .double: return 5
        case .string, .binary: return 6
        }
    }

    /// The legacy converted type code, for readers that predate logical types.
    var convertedType: Int32? {
        switch self {
        case .string: return 0      // UTF8
        case .date: return 6        // DATE
        case .timestampMicros: return 10  // TIMESTAMP_MICROS
        default: return nil
        }
    }

    /// Whether a dictionary can be tried for the column (booleans are bit-packed already).
    var allowsDictionary: Bool { self != .boolean }
}

/// One column of a Parquet schema: name, kind, and whether NULLs may appear (an OPTIONAL
/// column with definition levels) or not (REQUIRED).
public struct ParquetColumn: Sendable, Equatable {
    public var name: String
    public var kind: ParquetColumnKind
    public var nullable: Bool

    /// A column named `name` of `kind`; `nullable` columns are OPTIONAL.
    public init(_ name: String, _ kind: ParquetColumnKind, nullable: Bool = true) {
        self.name = name
        self.kind = kind
        self.nullable = nullable
    }
}

/// A value of one cell; `bytes` carries STRING (UTF-8) and BINARY columns.
public enum ParquetValue: Sendable, Equatable {
    case null
    case int64(Int64)
    case int32(Int32)
    case double(Double)
    case boolean(Bool)
    case bytes([UInt8])
}

/// Every failure of the Parquet writer: what it was doing, on which file and column, and why.
public struct ParquetError: Error, CustomStringConvertible, Equatable {
    public enum Kind: String, Sendable {
        /// A value that does not fit its column, or a schema the writer cannot write.
        case invalid
        /// The file could not be written (open, write, fsync, close).
        case io = "i/o error"
        /// The file system is full.
        case diskFull = "disk full"
    }

    public var kind: Kind
    public var message: String
    public var hint: String?

    public init(_ kind: Kind, _ message: String, hint: String? = nil) {
        self.kind = kind
        self.message = message
        self.hint = hint
    }

    public var description: String { "\(kind.rawValue): \(message)" + (hint.map { "\nHINT: \($0)" } ?? "") }
}
