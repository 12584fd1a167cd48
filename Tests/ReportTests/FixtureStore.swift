import BinlogApply
import BinlogFormat
import Foundation
import GRDB
import LogshipSystem
import LogshipTestSupport
@testable import Reports

/// Builds small replica stores for report tests, deterministically: the sample schema
/// (samples/expenses.sql) or another one, rows from SQL, and a `_logship_position` row with a
/// fixed source, epoch, LSN and commit time.
enum FixtureStore {
    static let sourceID = UUID(uuidString: "5EED0000-0000-4000-8000-000000000005")!
    /// 2024-05-01T12:00:00.123456Z.
    static let commitTime: Int64 = 1_714_564_800_123_456
    static let commitTimeText = "2024-05-01T12:00:00.123456Z"

    static let testsDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    static let fixtures = testsDirectory.appendingPathComponent("Fixtures").path
    static let repositoryRoot = testsDirectory.deletingLastPathComponent().deletingLastPathComponent().path

    static func sampleSchema() throws -> String {
        try String(contentsOfFile: repositoryRoot + "/samples/expenses.sql", encoding: .utf8)
    }

    /// Creates `path` with `schema` (default: the sample schema), then `rows`, then the position.
    @discardableResult
    static func create(at path: String, schema: String? = nil, rows: String = "", lsn: UInt64 = 1234, epoch: UInt32 = 3,
                       commitTime: Int64 = commitTime, wal: Bool = false) throws -> String {
        let queue = try DatabaseQueue(path: path)
        defer { try? queue.close() }
        if wal { try queue.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA journal_mode = WAL") } }
        try queue.write { db in
            try db.execute(sql: try schema ?? sampleSchema())
            if !rows.isEmpty { try db.execute(sql: rows) }
            try AppliedPosition.createTable(db, initial: AppliedPosition(sourceID: sourceID, epoch: epoch, lsn: lsn,
                                                                         commitTime: commitTime, appliedAt: commitTime))
        }
        return path
    }

    /// The golden store: samples/expenses.sql with Fixtures/golden-rows.sql.
    static func golden(at path: String) throws -> String {
        try create(at: path, rows: try String(contentsOfFile: fixtures + "/golden-rows.sql", encoding: .utf8))
    }

    /// Moves a store's position, as replica-apply does after applying a transaction.
    static func advance(_ path: String, to lsn: UInt64, commitTime: Int64) throws {
        let queue = try DatabaseQueue(path: path)
        defer { try? queue.close() }
        try queue.write { db in try AppliedPosition.write(db, lsn: lsn, commitTime: commitTime, appliedAt: microsecondsNow()) }
    }
}

/// Runs reports in this process and returns their text.
enum Render {
    /// Runs `body` with a writer of `format` that writes to a file, and returns the file's text.
    static func text(_ format: ReportFormat, in dir: TestDirectory, csv: CSVOptions = .init(), _ body: (ReportWriter) throws -> Void) throws -> String {
        let out = dir.sub("out-\(UInt32.random(in: 0...UInt32.max)).\(format.rawValue)")
        let writer = ReportSink.make(format, sink: try ReportSink(outputPath: out, force: false), csv: csv)
        try body(writer)
        return try String(contentsOfFile: out, encoding: .utf8)
    }

    static func monthly(_ store: String, _ format: ReportFormat, in dir: TestDirectory, options: MonthlyExpenses.Options = .init()) throws -> String {
        let s = try ReportStore(path: store, allowMaster: false)
        return try text(format, in: dir) { try MonthlyExpenses.run(s, options, to: $0) }
    }

    static func query(_ store: String, _ sql: String, _ parameters: [String: DatabaseValue] = [:], _ format: ReportFormat,
                      in dir: TestDirectory) throws -> String {
        let s = try ReportStore(path: store, allowMaster: false)
        return try text(format, in: dir) { try CustomQuery.run(s, sql: sql, parameters: parameters, to: $0) }
    }

    /// Replaces what changes from run to run: the age and "reported at" of the freshness stamp
    /// (text and JSON), and the temporary directory in the store path.
    static func normalized(_ text: String, directory: String) -> String {
        var t = text.replacingOccurrences(of: directory, with: "<dir>")
        t = t.replacingOccurrences(of: #"\([0-9.]+ (s|min|h|days) old when reported at [0-9T:.\-]+Z\)"#,
                                   with: "(<age> old when reported at <now>)", options: .regularExpression)
        t = t.replacingOccurrences(of: #""ageSeconds":[0-9.eE+\-]+"#, with: #""ageSeconds":"<age>""#, options: .regularExpression)
        t = t.replacingOccurrences(of: #""reportedAt":"[0-9T:.\-]+Z""#, with: #""reportedAt":"<now>""#, options: .regularExpression)
        return t
    }
}
