import BinlogApply
import Foundation
import GRDB
import LogshipTestSupport
import XCTest

/// `report export --incremental PREV` and `report export --as-of-lsn N` through the built tools,
/// read back by DuckDB (docs/REPORTS.md, "Export to Parquet").
final class ReportExportIncrementalTests: XCTestCase {
    private static let months = ["2024-01", "2024-02", "2024-03", "2024-04", "2024-05", "2024-06"]

    /// The store's monthly summary and row count, as SQLite computes them.
    private func storeFigures(_ replica: String) throws -> (summary: String, digest: String) {
        let queue = try DatabaseQueue(path: replica + "/store.db")
        defer { try? queue.close() }
        return try queue.read { db in
            let summary = try String.fetchAll(db, sql: """
                SELECT substr(spent_at, 1, 7) || '|' || category || '|' || currency || '|' || count(*) || '|' || sum(amount_cents) || '|' || min(amount_cents) || '|' || max(amount_cents)
                FROM expenses GROUP BY substr(spent_at, 1, 7), category, currency ORDER BY 1
                """).joined(separator: "\n")
            let d = try ContentDigest.tables(db)["expenses"] ?? ContentDigest()
            return (summary, String(format: "%016llx", d.sum))
        }
    }

    /// DuckDB's monthly summary over every file of an export's expense table.
    private func duckSummary(_ export: String) throws -> String? {
        try PythonOracle.json("""
            import sys, json, duckdb
            e = "read_parquet('" + sys.argv[1] + "/expenses/*/*.parquet', hive_partitioning=true)"
            rows = duckdb.connect().execute("SELECT month || '|' || category || '|' || currency || '|' || count(*) || '|' || sum(amount_cents) || '|' || min(amount_cents) || '|' || max(amount_cents) FROM " + e + " GROUP BY month, category, currency ORDER BY 1").fetchall()
            print(json.dumps("\\n".join(r[0] for r in rows)))
            """, [export]) as? String
    }

    private func manifest(_ dir: String) throws -> [String: Any] {
        try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/manifest.json"))) as? [String: Any])
    }

    /// Updates, deletes (one row, and a whole month), a date moved between months and new rows
    /// after a full export: the incremental export writes the touched months only, hard-links
    /// the others and the unchanged table, has no file for the emptied month, and DuckDB reading
    /// all its files gets the store's figures at the new LSN.
    func testIncrementalExportWritesOnlyChangedMonths() throws {
        if let reason = PythonOracle.unavailableReason { throw XCTSkip(reason) }
        var rng = SeededRandom()
        let seed = "seed \(rng.seed) (LOGSHIP_SEED=\(rng.seed) replays)"
        let p = try ReportPipeline("export-incremental")
        var sql = "CREATE TABLE rates (currency TEXT PRIMARY KEY, per_eur REAL); INSERT INTO rates VALUES ('EUR', 1.0), ('JPY', 161.5); BEGIN;"
        for i in 0..<300 {
            let month = Self.months[i % Self.months.count]
            sql += "INSERT INTO expenses (spent_at, category, merchant, amount_cents, currency, note) VALUES ('\(month)-\(String(format: "%02d", Int.random(in: 1...28, using: &rng)))', '\(["food", "rent", "travel"].randomElement(using: &rng)!)', 'Café \(i % 7)', \(Int.random(in: 1...90_000, using: &rng)), '\(["EUR", "JPY"].randomElement(using: &rng)!)', NULL);"
        }
        try p.execAll(sql + "COMMIT;")
        try p.rotate(); try p.ship(); try p.apply()
        let lake = p.dir.sub("lake")
        try FileManager.default.createDirectory(atPath: lake, withIntermediateDirectories: true)
        let first = try ToolRunner.run("report", ["export", "--store", p.replica, lake + "/e1"])
        XCTAssertEqual(first.status, 0, first.stderr)

        try p.execAll("""
            UPDATE expenses SET amount_cents = amount_cents + 7 WHERE id = (SELECT min(id) FROM expenses WHERE spent_at LIKE '2024-02%');
            DELETE FROM expenses WHERE spent_at LIKE '2024-03%';
            DELETE FROM expenses WHERE id = (SELECT max(id) FROM expenses WHERE spent_at LIKE '2024-04%');
            UPDATE expenses SET spent_at = '2024-01-15' WHERE id = (SELECT min(id) FROM expenses WHERE spent_at LIKE '2024-05%');
            INSERT INTO expenses (spent_at, category, merchant, amount_cents, currency) VALUES ('2024-07-01', 'food', 'Neu', 990, 'EUR');
            """)
        try p.rotate(); try p.ship(); try p.apply()
        let second = try ToolRunner.run("report", ["export", "--store", p.replica, "--incremental", lake + "/e1", lake + "/e2"])
        XCTAssertEqual(second.status, 0, second.stderr + seed)

        let m1 = try manifest(lake + "/e1"), m2 = try manifest(lake + "/e2")
        let previous = try XCTUnwrap(m2["previousExport"] as? [String: Any])
        XCTAssertEqual(previous["lsn"] as? Int, m1["lsn"] as? Int)
        XCTAssertEqual(previous["path"] as? String, lake + "/e1")
        XCTAssertTrue(second.stdout.contains("(2 hard-linked from the export at LSN \(m1["lsn"] as? Int ?? -1))"), second.stdout)
        let tables = try XCTUnwrap(m2["tables"] as? [[String: Any]])
        let expenses = try XCTUnwrap(tables.first { $0["name"] as? String == "expenses" }), rates = try XCTUnwrap(tables.first { $0["name"] as? String == "rates" })
        let files = try XCTUnwrap(expenses["files"] as? [[String: Any]])
        // Touched: 01 (a row moved in), 02 (update), 04 (delete), 05 (a row moved out), 07 (new); 03 emptied; 06 untouched.
        XCTAssertEqual(files.compactMap { $0["partition"] as? String }, ["2024-01", "2024-02", "2024-04", "2024-05", "2024-06", "2024-07"], seed)
        for f in files {
            let path = try XCTUnwrap(f["path"] as? String), untouched = f["partition"] as? String == "2024-06"
            XCTAssertEqual(f["linkedFrom"] as? String, untouched ? lake + "/e1/" + path : nil, path)
            XCTAssertEqual(f["writtenAtLSN"] as? Int, (untouched ? m1 : m2)["lsn"] as? Int, path)
            let before = FileManager.default.fileExists(atPath: lake + "/e1/" + path) ? try inode(lake + "/e1/" + path) : nil
            XCTAssertEqual(try inode(lake + "/e2/" + path) == before, untouched, "same file as the first export's: \(path)")
        }
        let rateFile = try XCTUnwrap((rates["files"] as? [[String: Any]])?.first)
        XCTAssertEqual(rateFile["linkedFrom"] as? String, lake + "/e1/rates/part-0.parquet")

        let store = try storeFigures(p.replica)
        XCTAssertEqual(expenses["contentDigest"] as? String, store.digest, seed)
        XCTAssertEqual(try duckSummary(lake + "/e2"), store.summary, seed)
        XCTAssertNotEqual(try duckSummary(lake + "/e1"), store.summary, "the first export is the older state " + seed)
    }

    /// A previous export that is not one (no manifest) is refused before anything is written.
    func testIncrementalRefusesADirectoryWithoutManifest() throws {
        let p = try ReportPipeline("export-incremental-refuse")
        try p.execAll("INSERT INTO expenses VALUES (1, '2024-01-05', 'food', 'shop', 100, 'EUR', NULL);")
        try p.rotate(); try p.ship(); try p.apply()
        let lake = p.dir.sub("lake")
        try FileManager.default.createDirectory(atPath: lake + "/empty", withIntermediateDirectories: true)
        let r = try ToolRunner.run("report", ["export", "--store", p.replica, "--incremental", lake + "/empty", lake + "/out"])
        XCTAssertEqual(r.status, 15)
        XCTAssertEqual(r.stderr, "report: not found: unable to read the previous export's manifest \(lake)/empty/manifest.json\nHINT: give --incremental the directory of an earlier report export\n")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: lake), ["empty"])
    }

    /// `--as-of-lsn` exports the data as it stood at that LSN (restored from a snapshot plus
    /// the inbox), with that LSN in the manifest; pinned flags and LSNs outside the window are refused.
    func testExportAsOfLSN() throws {
        if let reason = PythonOracle.unavailableReason { throw XCTSkip(reason) }
        let p = try ReportPipeline("export-as-of")
        let c1 = try p.exec("INSERT INTO expenses (spent_at, category, merchant, amount_cents, currency) VALUES ('2024-01-02', 'food', 'A', 1250, 'EUR'), ('2024-02-09', 'rent', 'B', 90000, 'EUR')")
        try p.rotate(); try p.ship(); try p.apply()
        try ReportPipeline.check(ToolRunner.run("replica-apply", ["snapshot", p.replica]))
        let c2 = try p.exec("INSERT INTO expenses (spent_at, category, merchant, amount_cents, currency) VALUES ('2024-02-03', 'food', 'A', 700, 'EUR')")
        try p.rotate(); try p.ship(); try p.apply()
        let c3 = try p.exec("UPDATE expenses SET amount_cents = amount_cents + 1")
        try p.rotate(); try p.ship(); try p.apply()
        let lake = p.dir.sub("lake")
        try FileManager.default.createDirectory(atPath: lake, withIntermediateDirectories: true)

        let r = try ToolRunner.run("report", ["export", "--store", p.replica, "--as-of-lsn", "\(c2.lsn)", lake + "/at-c2"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let m = try manifest(lake + "/at-c2")
        XCTAssertEqual(m["lsn"] as? Int, Int(c2.lsn))
        XCTAssertEqual(m["commitTime"] as? String, c2.commitTime)
        XCTAssertEqual(try duckSummary(lake + "/at-c2"), "2024-01|food|EUR|1|1250|1250|1250\n2024-02|food|EUR|1|700|700|700\n2024-02|rent|EUR|1|90000|90000|90000")
        XCTAssertLessThan(c1.lsn, c2.lsn)
        XCTAssertLessThan(c2.lsn, c3.lsn)

        let lag = try ToolRunner.run("report", ["export", "--store", p.replica, "--as-of-lsn", "\(c2.lsn)", "--max-lag", "1h", lake + "/x"])
        XCTAssertEqual(lag.status, 64)
        XCTAssertEqual(lag.stderr, "report: invalid request: --max-lag and --min-lsn do not apply to an as-of export: its data is pinned\nHINT: an as-of export reads one replica's snapshots and inbox\n")
        let far = try ToolRunner.run("report", ["export", "--store", p.replica, "--as-of-lsn", "\(c3.lsn + 50)", lake + "/y"])
        XCTAssertEqual(far.status, 2, far.stderr)
        XCTAssertTrue(far.stderr.contains("cannot be restored"), far.stderr)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: lake), ["at-c2"])
    }

    private func inode(_ path: String) throws -> UInt64 {
        var st = stat()
        guard stat(path, &st) == 0 else { throw ReportPipeline.Failure(description: "stat \(path): errno \(errno)") }
        return UInt64(st.st_ino)
    }
}
