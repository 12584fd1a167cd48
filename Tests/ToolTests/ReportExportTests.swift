import BinlogApply
import Foundation
import GRDB
import LogshipTestSupport
import XCTest

/// `report export --format parquet` on a replica built through the real tools, read back by
/// DuckDB and pyarrow (PyPI, installed by tools/test): the counts, sums and monthly summary
/// DuckDB computes from the Parquet files equal the store's, and the manifest names the
/// store's LSN and digests.
final class ReportExportTests: XCTestCase {
    /// A seeded workload on the master: expenses over 14 months (non-ASCII merchants, NULL
    /// notes, deletes and updates), a table of every other type, an empty table.
    private func makeReplica(_ rng: inout SeededRandom) throws -> ReportPipeline {
        let p = try ReportPipeline("export")
        try p.execAll("""
            CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT, raw BLOB, score REAL, day DATE, done BOOLEAN);
            CREATE TABLE "empty table" (k TEXT PRIMARY KEY, n INTEGER) WITHOUT ROWID;
            """)
        let merchants = ["Café Zürich", "東京ストア", "Bäckerei", "plain shop", "O'Reilly \"books\""]
        var sql = "BEGIN;"
        for i in 0..<600 {
            let month = 1 + Int.random(in: 0..<14, using: &rng)
            let date = String(format: "%04d-%02d-%02d", 2024 + (month - 1) / 12, (month - 1) % 12 + 1, Int.random(in: 1...28, using: &rng))
            let note = Bool.random(using: &rng) ? "NULL" : "'note \(i)'"
            sql += "INSERT INTO expenses (spent_at, category, merchant, amount_cents, currency, note) VALUES ('\(date)', '\(["food", "rent", "travel"].randomElement(using: &rng)!)', '\(merchants.randomElement(using: &rng)!.replacingOccurrences(of: "'", with: "''"))', \(Int.random(in: 0...500_000, using: &rng)), '\(["EUR", "USD", "JPY"].randomElement(using: &rng)!)', \(note));"
        }
        sql += "COMMIT; DELETE FROM expenses WHERE id % 17 = 0; UPDATE expenses SET amount_cents = amount_cents + 1 WHERE id % 5 = 0;"
        sql += "INSERT INTO notes VALUES (1, 'ünïcödé ✓', x'00ff7f', 1.5, '2024-02-29', 1), (2, NULL, NULL, NULL, NULL, NULL), (3, '', x'', -0.25, '1969-12-31', 0);"
        try p.execAll(sql)
        try p.rotate()
        try p.ship()
        try p.apply()
        return p
    }

    func testExportMatchesTheStoreInDuckDB() throws {
        if let reason = PythonOracle.unavailableReason { throw XCTSkip(reason) }
        var rng = SeededRandom()
        let seed = "seed \(rng.seed) (LOGSHIP_SEED=\(rng.seed) replays)"
        let p = try makeReplica(&rng)
        let out = p.dir.sub("lake/export-1")
        try FileManager.default.createDirectory(atPath: p.dir.sub("lake"), withIntermediateDirectories: true)
        let r = try ToolRunner.run("report", ["export", "--store", p.replica, "--format", "parquet", "--row-group-rows", "100", out])
        XCTAssertEqual(r.status, 0, r.stderr + seed)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: p.dir.sub("lake")), ["export-1"], "no temp directory left")

        let queue = try DatabaseQueue(path: p.replica + "/store.db")
        defer { try? queue.close() }
        let (position, digests, summary, counts) = try queue.read { db in
            (try AppliedPosition.read(db), try ContentDigest.tables(db),
             try String.fetchAll(db, sql: """
                SELECT substr(spent_at, 1, 7) || '|' || category || '|' || currency || '|' || count(*) || '|' || sum(amount_cents) || '|' || min(amount_cents) || '|' || max(amount_cents)
                FROM expenses GROUP BY substr(spent_at, 1, 7), category, currency ORDER BY 1
                """).joined(separator: "\n"),
             try String.fetchOne(db, sql: "SELECT (SELECT count(*) FROM expenses) || '|' || (SELECT sum(amount_cents) FROM expenses) || '|' || (SELECT count(note) FROM expenses) || '|' || (SELECT count(*) FROM notes)"))
        }
        let manifest = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/manifest.json"))) as? [String: Any])
        XCTAssertEqual(manifest["lsn"] as? Int, position.map { Int($0.lsn) })
        XCTAssertEqual(manifest["epoch"] as? Int, position.map { Int($0.epoch) })
        XCTAssertEqual(manifest["sourceID"] as? String, try p.sourceID())
        XCTAssertEqual(r.stdout, "exported 3 tables, \(digests.values.reduce(0) { $0 + $1.rows }) rows in \(2 + Set(summary.split(separator: "\n").map { $0.prefix(7) }).count) files to \(out) at LSN \(position?.lsn ?? 0) (committed \(manifest["commitTime"] as? String ?? "?"))\n")
        let tables = try XCTUnwrap(manifest["tables"] as? [[String: Any]])
        XCTAssertEqual(tables.map { $0["name"] as? String }, ["empty table", "expenses", "notes"])
        for t in tables {
            let name = try XCTUnwrap(t["name"] as? String), d = try XCTUnwrap(digests[name])
            XCTAssertEqual(t["rows"] as? Int, d.rows, name)
            XCTAssertEqual(t["contentDigest"] as? String, String(format: "%016llx", d.sum), name)
        }
        XCTAssertEqual(tables[0]["directory"] as? String, "empty%20table")

        let duck = try XCTUnwrap(PythonOracle.json("""
            import sys, json, duckdb
            d = sys.argv[1]
            c = duckdb.connect()
            e = "read_parquet('" + d + "/expenses/*/*.parquet', hive_partitioning=true)"
            summary = c.execute("SELECT month || '|' || category || '|' || currency || '|' || count(*) || '|' || sum(amount_cents) || '|' || min(amount_cents) || '|' || max(amount_cents) FROM " + e + " GROUP BY month, category, currency ORDER BY 1").fetchall()
            counts = c.execute("SELECT (SELECT count(*) FROM " + e + ") || '|' || (SELECT sum(amount_cents) FROM " + e + ") || '|' || (SELECT count(note) FROM " + e + ") || '|' || (SELECT count(*) FROM read_parquet('" + d + "/notes/part-0.parquet'))").fetchone()[0]
            bad = c.execute("SELECT count(*) FROM " + e + " WHERE substr(spent_at, 1, 7) <> month").fetchone()[0]
            notes = c.execute("SELECT id, body, hex(raw), score, CAST(day AS VARCHAR), done FROM read_parquet('" + d + "/notes/part-0.parquet') ORDER BY id").fetchall()
            empty = c.execute("SELECT count(*) FROM read_parquet('" + d + "/empty%20table/part-0.parquet')").fetchone()[0]
            print(json.dumps({"summary": "\\n".join(r[0] for r in summary), "counts": counts, "bad": bad, "notes": [[str(x) for x in r] for r in notes], "empty": empty}))
            """, [out]) as? [String: Any])
        XCTAssertEqual(duck["summary"] as? String, summary, seed)
        XCTAssertEqual(duck["counts"] as? String, counts, seed)
        XCTAssertEqual(duck["bad"] as? Int, 0, "rows in the wrong month partition " + seed)
        XCTAssertEqual(duck["empty"] as? Int, 0)
        XCTAssertEqual(duck["notes"] as? [[String]], [["1", "ünïcödé ✓", "00FF7F", "1.5", "2024-02-29", "True"],
                                                       ["2", "None", "None", "None", "None", "None"],
                                                       ["3", "", "", "-0.25", "1969-12-31", "False"]])
    }

    /// An existing DIR is refused (exit 16) and left as it was; a value that does not fit its
    /// column stops the export (exit 64) with the row named, and leaves neither DIR nor a temp
    /// directory behind; a missing expense table is refused unless --no-partition.
    func testRefusalsLeaveNothingBehind() throws {
        let p = try ReportPipeline("export-refuse")
        try p.execAll("INSERT INTO expenses VALUES (1, '2024-01-05', 'food', 'shop', 100, 'EUR', NULL);")
        try p.rotate(); try p.ship(); try p.apply()
        let lake = p.dir.sub("lake")
        try FileManager.default.createDirectory(atPath: lake + "/taken", withIntermediateDirectories: true)
        let taken = try ToolRunner.run("report", ["export", "--store", p.replica, lake + "/taken"])
        XCTAssertEqual(taken.status, 16)
        XCTAssertEqual(taken.stderr, "report: already exists: unable to export to \(lake)/taken: it exists\nHINT: export into a new directory (an export is never overwritten)\n")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: lake + "/taken"), [])

        let noTable = try ToolRunner.run("report", ["export", "--store", p.replica, "--table", "ledger", lake + "/a"])
        XCTAssertEqual(noTable.status, 64)
        XCTAssertEqual(noTable.stderr, "report: invalid request: unable to partition table ledger by month: the store has no such table\nHINT: name the expense table with --table, or export without partitions with --no-partition\n")

        try p.execAll("INSERT INTO expenses VALUES (2, '2024-01-06', 'food', 'shop', 'twelve', 'EUR', NULL);")
        try p.rotate(); try p.ship(); try p.apply()
        let bad = try ToolRunner.run("report", ["export", "--store", p.replica, lake + "/b"])
        XCTAssertEqual(bad.status, 64)
        XCTAssertEqual(bad.stderr, "report: invalid request: unable to export table expenses: row 2 has text in column amount_cents, whose declared type INTEGER maps to Parquet int64\nHINT: correct that value on the master, or give the column a declared type that fits its values\n")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: lake), ["taken"])
    }

    /// kill -9 while the files are written and just before the rename: DIR never appears
    /// half-written (only the temp directory is left), and the next run exports it whole.
    func testKill9NeverLeavesAHalfWrittenExport() throws {
        let p = try ReportPipeline("export-crash")
        try p.execAll("INSERT INTO expenses VALUES (1, '2024-01-05', 'food', 'shop', 100, 'EUR', NULL), (2, '2024-02-05', 'rent', 'flat', 900, 'EUR', NULL), (3, '2024-03-05', 'food', 'shop', 50, 'USD', 'x');")
        try p.rotate(); try p.ship(); try p.apply()
        let lake = p.dir.sub("lake")
        try FileManager.default.createDirectory(atPath: lake, withIntermediateDirectories: true)
        for point in ["export.after-file:2", "export.before-rename"] {
            let r = try ToolRunner.run("report", ["export", "--store", p.replica, lake + "/out"], environment: ProcessInfo.processInfo.environment.merging(["LOGSHIP_CRASH_AT": point]) { $1 })
            XCTAssertEqual(r.status, 9, "killed by SIGKILL at \(point): \(r.stderr)")
            XCTAssertTrue(r.stderr.contains("logship: crash point \(point.split(separator: ":")[0]) reached"), r.stderr)
            XCTAssertFalse(FileManager.default.fileExists(atPath: lake + "/out"), point)
        }
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: lake)
        XCTAssertEqual(leftovers.count, 2, "\(leftovers)")
        XCTAssertTrue(leftovers.allSatisfy { $0.hasPrefix(".out.tmp-") }, "\(leftovers)")
        let r = try ToolRunner.run("report", ["export", "--store", p.replica, lake + "/out"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let manifest = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: lake + "/out/manifest.json"))) as? [String: Any])
        let files = try XCTUnwrap((manifest["tables"] as? [[String: Any]])?.first?["files"] as? [[String: Any]])
        XCTAssertEqual(files.compactMap { $0["path"] as? String }, ["expenses/month=2024-01/part-0.parquet", "expenses/month=2024-02/part-0.parquet", "expenses/month=2024-03/part-0.parquet"])
        for f in files { XCTAssertTrue(FileManager.default.fileExists(atPath: lake + "/out/" + ((f["path"] as? String) ?? "?"))) }
    }
}
