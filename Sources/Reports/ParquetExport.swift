import BinlogApply
import BinlogFormat
import Foundation
import GRDB
import LogshipSystem
import Parquet

/// `report export --format parquet`: every user table of a store as Parquet files, read in one
/// read transaction (so all tables are the master's state at one LSN), with a manifest, and
/// published whole: written into a temp directory beside the target, fsynced, renamed.
///
/// Layout (docs/REPORTS.md):
///
///     DIR/manifest.json
///     DIR/<table>/part-0.parquet
///     DIR/<expense table>/month=YYYY-MM/part-0.parquet     (Hive-style partitions by month)
public enum ParquetExport {
    /// What to export and how.
    public struct Options {
        /// The expense table, partitioned by the month of its date column (nil: no partitioning).
        public var partition: ExpenseMapping? = ExpenseMapping()
        /// The LSN the store must be at (a copy restored by `AsOfRestore` for `--as-of-lsn`); nil
        /// is whatever the store has applied. A store at another LSN is refused.
        public var asOfLSN: UInt64?
        /// A previous export (its directory) to reuse unchanged files of (`--incremental`).
        public var previous: String?
        public var writer = ParquetWriter.Options()
        /// Bytes the open row groups of all partitions may hold together; past it the largest
        /// is written out, so memory stays bounded however many months there are.
        public var memoryBudget = 256 << 20
        public init() {}
    }

    /// The manifest: where the data came from and what each file holds.
    public struct Manifest: Codable, Equatable {
        public var format = "logship-parquet-export"
        public var version = 1
        public var sourceID: String
        public var epoch: UInt32
        public var lsn: UInt64
        public var commitTime: String
        public var exportedAt: String
        /// With `--incremental`: the previous export this one reused files of, and its LSN (the
        /// changes of LSN previous.lsn+1 … lsn are in the files written by this export).
        public var previousExport: Previous?
        public var tables: [Table]

        /// The export an incremental one started from.
        public struct Previous: Codable, Equatable {
            public var path: String
            public var lsn: UInt64
        }

        /// One exported table.
        public struct Table: Codable, Equatable {
            public var name: String
            public var directory: String
            public var rows: Int
            /// `ContentDigest` of the rows exported (rowid and every stored column), in hex.
            public var contentDigest: String
            public var partitionedBy: String?
            public var columns: [Column]
            public var files: [File]
        }

        public struct Column: Codable, Equatable {
            public var name: String
            public var declaredType: String
            public var parquetType: String
            public var nullable: Bool
        }

        public struct File: Codable, Equatable {
            public var path: String
            public var partition: String?
            public var rows: Int
            public var bytes: Int64
            /// `ContentDigest` of this file's rows, in hex (absent in exports before incremental ones).
            public var contentDigest: String?
            /// The LSN of the export that wrote these bytes (a reused file keeps its writer's).
            public var writtenAtLSN: UInt64?
            /// The previous export's file this one is a hard link of (absolute path), if reused.
            public var linkedFrom: String?
        }
    }

    /// Exports `store` into `directory`, which must not exist; returns the manifest written.
    public static func run(_ store: ReportStore, to directory: String, _ options: Options) throws -> Manifest {
        let target = URL(fileURLWithPath: directory).standardizedFileURL.path
        let parent = (target as NSString).deletingLastPathComponent
        let name = (target as NSString).lastPathComponent
        guard !FileManager.default.fileExists(atPath: target) else {
            throw ReportError(.exists, "unable to export to \(target): it exists", hint: "export into a new directory (an export is never overwritten)")
        }
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: parent, isDirectory: &isDir), isDir.boolValue else {
            throw ReportError(.notFound, "unable to export to \(target): no directory \(parent)", hint: "create \(parent) first")
        }
        let temp = parent + "/.\(name).tmp-\(getpid())"
        try? FileManager.default.removeItem(atPath: temp)   // a leftover of this same pid, never published
        try makeDirectory(temp)
        do {
            let previous = try options.previous.map(PreviousExport.init)
            let manifest = try store.read { db, freshness in try export(db, freshness, into: temp, options, previous) }
            try writeManifest(manifest, to: temp + "/manifest.json")
            try publish(temp, as: target)
            return manifest
        } catch {
            try? FileManager.default.removeItem(atPath: temp)
            throw error
        }
    }

    private static func export(_ db: Database, _ freshness: Freshness, into temp: String, _ options: Options, _ previous: PreviousExport?) throws -> Manifest {
        if let asOf = options.asOfLSN, asOf != freshness.lsn {
            throw ReportError(.invalid, "unable to export as of LSN \(asOf): the store is at LSN \(freshness.lsn)",
                              hint: "export with report export --as-of-lsn \(asOf), which restores a copy of the replica to that LSN")
        }
        try previous?.check(freshness)
        var tables: [Manifest.Table] = []
        var encoder = RowEncoder()
        let shapes = try TableShape.all(db)
        if let p = options.partition {
            guard let shape = shapes.first(where: { $0.name.lowercased() == p.table.lowercased() }) else {
                throw ReportError(.invalid, "unable to partition table \(p.table) by month: the store has no such table",
                                  hint: "name the expense table with --table, or export without partitions with --no-partition")
            }
            guard shape.columns.contains(where: { $0.lowercased() == p.date.lowercased() }) else {
                throw ReportError(.invalid, "unable to partition table \(shape.name) by month: it has no column \(p.date)",
                                  hint: "map it with --date-column (columns: \(shape.columns.joined(separator: ", ")))")
            }
        }
        for shape in shapes {
            let partitionColumn = options.partition.flatMap { $0.table.lowercased() == shape.name.lowercased() ? $0.date : nil }
            let exporter = try TableExporter(db, shape, directory: temp, partitionColumn: partitionColumn, options, lsn: freshness.lsn)
            exporter.reusable = previous?.reusable(exporter) ?? [:]
            tables.append(try exporter.run(db, &encoder))
        }
        return Manifest(sourceID: freshness.sourceID, epoch: freshness.epoch, lsn: freshness.lsn, commitTime: freshness.commitTime,
                        exportedAt: formatTimestamp(microsecondsNow()), previousExport: previous.map { .init(path: $0.path, lsn: $0.manifest.lsn) },
                        tables: tables)
    }

    /// Writes the manifest (made durable by `publish`).
    private static func writeManifest(_ manifest: Manifest, to path: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let data = try encoder.encode(manifest) + Data("\n".utf8)
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, FilePermissions.file)
        guard fd >= 0 else { throw ioError("create", path, errno) }
        var open = true
        defer { if open { _ = close(fd) } }
        try data.withUnsafeBytes { buf in
            var done = 0
            while done < buf.count {
                let n = write(fd, buf.baseAddress! + done, buf.count - done)
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else { throw ioError("write", path, n < 0 ? errno : EIO) }
                done += n
            }
        }
        open = false
        guard close(fd) == 0 else { throw ioError("close", path, errno) }
    }

    /// Makes every file and directory of the export durable with one syncfs(2) of its file
    /// system, renames the temp directory to its name, fsyncs the parent: all of the export or
    /// none of it. One syncfs instead of an fsync per file and directory (each waiting for its
    /// own journal commit): 20,000 rows into 36 month files took 9.7 s with 73 fsyncs and 6.4 s
    /// with one syncfs (`tools/bench/parquet --rows 20000`, debug build, 2 cores at load 13).
    private static func publish(_ temp: String, as target: String) throws {
        let fd = open(temp, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw ioError("open directory", temp, errno) }
        defer { _ = close(fd) }
        guard let syncfs = syncfsFunction else {
            throw ReportError(.io, "unable to make \(temp) durable: this C library has no syncfs(2)", hint: "run on Linux with glibc 2.14 or later")
        }
        guard syncfs(fd) == 0 else { throw ioError("sync the file system of", temp, errno) }
        CrashPoint.reach("export.before-rename")
        guard rename(temp, target) == 0 else {
            let code = errno
            if code == EEXIST || code == ENOTEMPTY {
                throw ReportError(.exists, "unable to export to \(target): it appeared while exporting", hint: "export into a new directory")
            }
            throw ioError("rename \(temp) to", target, code)
        }
        try syncDirectory((target as NSString).deletingLastPathComponent)
    }

    /// syncfs(2), looked up at run time: Swift's Glibc module does not import it (glibc
    /// declares it only under _GNU_SOURCE), and a C target for one call is more than it is worth.
    private typealias SyncFS = @convention(c) (Int32) -> Int32
    private static let syncfsFunction: SyncFS? = {
        guard let handle = dlopen(nil, RTLD_NOW), let symbol = dlsym(handle, "syncfs") else { return nil }
        return unsafeBitCast(symbol, to: SyncFS.self)
    }()

    static func makeDirectory(_ path: String) throws {
        guard mkdir(path, FilePermissions.directory) == 0, chmod(path, FilePermissions.directory) == 0 else { throw ioError("create directory", path, errno) }
    }

    static func syncDirectory(_ path: String) throws {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw ioError("open directory", path, errno) }
        defer { _ = close(fd) }
        guard fsync(fd) == 0 else { throw ioError("fsync directory", path, errno) }
    }

    static func ioError(_ operation: String, _ path: String, _ code: Int32) -> ReportError {
        let full = code == ENOSPC || code == EDQUOT
        return ReportError(full ? .diskFull : .io, "unable to \(operation) \(path): \(String(cString: strerror(code)))",
                           hint: full ? "free space on that file system and export again" : nil)
    }

    /// A table name as one path component: bytes outside `A-Z a-z 0-9 _ -` as `%XX`, so that
    /// any SQLite table name (with `/`, `..` or spaces) stays inside the export.
    static func pathComponent(_ name: String) -> String {
        var out = ""
        for b in name.utf8 {
            let c = Character(UnicodeScalar(b))
            if (b < 0x80) && (c.isLetter || c.isNumber || c == "_" || c == "-") { out.append(c) } else { out += String(format: "%%%02X", b) }
        }
        return out.isEmpty ? "%" : out
    }
}
