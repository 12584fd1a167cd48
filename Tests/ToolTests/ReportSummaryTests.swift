import BinlogFormat
import Foundation
import GRDB
import LogshipTestSupport
import XCTest

/// The summary replica-apply keeps for `report monthly-expenses` (replica-apply summarize):
/// after every apply of a seeded random workload (updates of amounts, dates moved across
/// months, merchants and categories changed, deletes of minima and maxima, inserts, NULL
/// amounts, a schema change), the report read from the summary equals the report from a full
/// scan of the table, and the summary is at the store's LSN.
final class ReportSummaryTests: XCTestCase {
    /// The summary itself against a GROUP BY over the store, group by group: per month, category
    /// and currency the count, total, minimum and maximum; per merchant too the count and total
    /// (read through the views the report reads, which decode the packed keys and the names);
    /// the report's comparison alone would not see a wrong figure of one merchant hidden under
    /// its category's.
    static func assertSummaryEqualsGroupBy(_ store: String, _ context: String, file: StaticString = #filePath, line: UInt = #line) throws {
        var config = Configuration()
        config.readonly = true
        let q = try DatabaseQueue(path: store, configuration: config)
        defer { try? q.close() }
        let (kept, scanned) = try q.read { db in
            (try String.fetchAll(db, sql: """
                SELECT quote(month) || '|' || quote(category) || '|' || quote(currency) || '|' || n || '|' || total || '|' || mn || '|' || mx
                FROM _logship_summary_groups
                UNION ALL
                SELECT quote(month) || '|' || quote(category) || '|' || quote(currency) || '|' || quote(merchant) || '|' || n || '|' || total
                FROM _logship_summary_by_merchant ORDER BY 1
                """),
             try String.fetchAll(db, sql: """
                SELECT quote(substr(spent_at, 1, 7)) || '|' || quote(category) || '|' || quote(currency) || '|' || count(*) || '|' || sum(amount_cents) || '|' || min(amount_cents) || '|' || max(amount_cents)
                FROM expenses WHERE amount_cents IS NOT NULL GROUP BY substr(spent_at, 1, 7), category, currency
                UNION ALL
                SELECT quote(substr(spent_at, 1, 7)) || '|' || quote(category) || '|' || quote(currency) || '|' || quote(merchant) || '|' || count(*) || '|' || sum(amount_cents)
                FROM expenses WHERE amount_cents IS NOT NULL GROUP BY substr(spent_at, 1, 7), category, currency, merchant ORDER BY 1
                """))
        }
        XCTAssertEqual(kept.count, scanned.count, "groups \(context)", file: file, line: line)
        for (k, s) in zip(kept, scanned) where k != s { XCTFail("summary \(k), table \(s) \(context)", file: file, line: line); break }
    }

    func testSummaryKeptByApplyMatchesAFullScanAfterEveryBatch() throws {
        var rng = SeededRandom()
        let seed = rng.seed
        let dir = TestDirectory("summary")
        let master = dir.sub("master"), replica = dir.sub("replica")
        func tool(_ name: String, _ args: [String], stdin: String? = nil) throws -> ToolRunner.Result {
            try ToolRunner.expectSuccess(name, args, stdin: stdin, context: "seed \(seed)")
        }
        _ = try tool("binlog-writer", ["init", master, "--segment-size", "64KiB"])
        _ = try tool("binlog-writer", ["exec", master, """
            CREATE TABLE expenses (id INTEGER PRIMARY KEY, spent_at TEXT NOT NULL, category TEXT, merchant TEXT, amount_cents INTEGER, currency TEXT);
            """])
        let categories = ["rent", "food", "travel", "office"], currencies = ["EUR", "USD", "JPY"], merchants = ["A", "B", "C", "D", "E", "F"]
        func date() -> String { String(format: "2024-%02d-%02d", Int.random(in: 1...12, using: &rng), Int.random(in: 1...28, using: &rng)) }
        var sql = "BEGIN;\n"
        for _ in 0..<1500 {
            sql += "INSERT INTO expenses (spent_at, category, merchant, amount_cents, currency) VALUES ('\(date())', '\(categories.randomElement(using: &rng)!)', '\(merchants.randomElement(using: &rng)!)', \(Int.random(in: 1...100_000, using: &rng)), '\(currencies.randomElement(using: &rng)!)');\n"
        }
        _ = try tool("binlog-writer", ["exec", master, "-"], stdin: sql + "COMMIT;")
        _ = try tool("replica-apply", ["init", replica])

        func ship() throws {
            _ = try tool("binlog-writer", ["rotate", master])
            try Shipping.shipSealed(binlog: master + "/binlog", to: replica + "/inbox")
            _ = try tool("replica-apply", [replica])
        }
        func compare(_ context: String, options: [String] = []) throws {
            func normalized(_ extra: [String]) throws -> String {
                let out = try tool("report", ["monthly-expenses", "--store", replica, "-f", "json"] + options + extra).stdout
                return out.replacingOccurrences(of: #""(ageSeconds|reportedAt)":[^,]*,"#, with: "", options: .regularExpression)
            }
            XCTAssertEqual(try normalized([]), try normalized(["--no-summary"]), "summary differs from a full scan \(context); seed \(seed)")
        }
        func summaryState() throws -> (lsn: Int64, valid: Int64, position: Int64) {
            var config = Configuration()
            config.readonly = true
            let q = try DatabaseQueue(path: replica + "/store.db", configuration: config)
            defer { try? q.close() }
            return try q.read { db in
                let row = try Row.fetchOne(db, sql: "SELECT lsn, valid, (SELECT lsn FROM _logship_position) FROM _logship_summary_config")!
                return (row[0], row[1], row[2])
            }
        }

        try ship()
        _ = try tool("replica-apply", ["summarize", replica])
        try compare("right after summarize")
        // Prove the report reads the summary: a changed summary row changes the report.
        func bumpSummary(_ delta: Int) throws {
            let q = try DatabaseQueue(path: replica + "/store.db")
            try q.write { db in try db.execute(sql: "UPDATE _logship_summary SET total = total + ? WHERE rowid = (SELECT min(rowid) FROM _logship_summary)", arguments: [delta]) }
            try q.close()
        }
        try bumpSummary(1)
        let read = { (extra: [String]) in try tool("report", ["monthly-expenses", "--store", replica, "-f", "csv"] + extra).stdout.components(separatedBy: "\r\n").dropFirst(2).joined(separator: "\n") }
        XCTAssertNotEqual(try read([]), try read(["--no-summary"]), "the report did not read the summary")
        try bumpSummary(-1)
        XCTAssertEqual(try read([]), try read(["--no-summary"]))
        for round in 1...6 {
            var w = "BEGIN;\n"
            for _ in 0..<40 {
                let id = Int.random(in: 1...1600, using: &rng)
                switch Int.random(in: 0..<7, using: &rng) {
                case 0: w += "UPDATE expenses SET amount_cents = \(Int.random(in: 1...200_000, using: &rng)) WHERE id = \(id);\n"
                case 1: w += "UPDATE expenses SET spent_at = '\(date())' WHERE id = \(id);\n"
                case 2: w += "UPDATE expenses SET merchant = '\(merchants.randomElement(using: &rng)!)', category = '\(categories.randomElement(using: &rng)!)' WHERE id = \(id);\n"
                case 3: w += "DELETE FROM expenses WHERE id = \(id);\n"
                case 4: w += "DELETE FROM expenses WHERE id = (SELECT id FROM expenses WHERE currency = 'EUR' ORDER BY amount_cents DESC LIMIT 1);\n"
                case 5: w += "UPDATE expenses SET amount_cents = NULL WHERE id = \(id);\n"
                default: w += "INSERT INTO expenses (spent_at, category, merchant, amount_cents, currency) VALUES ('\(date())', '\(categories.randomElement(using: &rng)!)', '\(merchants.randomElement(using: &rng)!)', \(Int.random(in: 1...100_000, using: &rng)), 'USD');\n"
                }
            }
            if round == 3 { w += "ALTER TABLE expenses ADD COLUMN note TEXT;\n" }
            _ = try tool("binlog-writer", ["exec", master, "-"], stdin: w + "COMMIT;")
            try ship()
            let s = try summaryState()
            XCTAssertEqual(s.valid, 1, "round \(round); seed \(seed)")
            XCTAssertEqual(s.lsn, s.position, "the summary is at the store's LSN; round \(round); seed \(seed)")
            try compare("after round \(round)")
            try Self.assertSummaryEqualsGroupBy(replica + "/store.db", "after round \(round); seed \(seed)")
            try compare("after round \(round), filtered", options: ["--from", "2024-03", "--to", "2024-08", "--category", "rent", "--category", "food", "--currency", "EUR"])
        }
        // A date the summary cannot file by month: it turns invalid and reports scan the table.
        _ = try tool("binlog-writer", ["exec", master, "INSERT INTO expenses (spent_at, category, merchant, amount_cents, currency) VALUES ('2024/05/01', 'rent', 'A', 5, 'EUR')"])
        try ship()
        XCTAssertEqual(try summaryState().valid, 0, "seed \(seed)")
        try compare("with an invalid summary")
    }

    /// UPDATEs that leave a row's group and amount alone (here of each group's extreme rows, which
    /// the summary skips), DELETEs of the maxima, raised minima and more minimum deletions than
    /// the summary keeps extremes keep it equal to a full scan; the table keeps its own indexes
    /// and gets none from the summary.
    func testSummaryStaysExactWhenExtremesChange() throws {
        let dir = TestDirectory("summary-index")
        let master = dir.sub("master"), replica = dir.sub("replica")
        func tool(_ name: String, _ args: [String], stdin: String? = nil) throws -> ToolRunner.Result {
            try ToolRunner.expectSuccess(name, args, stdin: stdin)
        }
        _ = try tool("binlog-writer", ["init", master])
        _ = try tool("binlog-writer", ["exec", master, """
            CREATE TABLE expenses (id INTEGER PRIMARY KEY, spent_at TEXT NOT NULL, category TEXT, merchant TEXT, amount_cents INTEGER, currency TEXT, note TEXT);
            CREATE INDEX expenses_spent_at ON expenses (spent_at);
            """])
        var sql = "BEGIN;\n"
        for i in 0..<400 {
            sql += "INSERT INTO expenses (spent_at, category, merchant, amount_cents, currency) VALUES ('2024-0\(1 + i % 3)-1\(i % 10)', '\(["rent", "food"][i % 2])', 'M\(i % 5)', \(1 + (i * 7919) % 10_000), 'EUR');\n"
        }
        _ = try tool("binlog-writer", ["exec", master, "-"], stdin: sql + "COMMIT;")
        _ = try tool("replica-apply", ["init", replica])
        func ship() throws {
            _ = try tool("binlog-writer", ["rotate", master])
            try Shipping.shipSealed(binlog: master + "/binlog", to: replica + "/inbox")
            _ = try tool("replica-apply", [replica])
        }
        func indexes() throws -> [String] {
            let q = try DatabaseQueue(path: replica + "/store.db")
            defer { try? q.close() }
            return try q.read { db in try String.fetchAll(db, sql: "SELECT name FROM sqlite_schema WHERE type = 'index' AND tbl_name = 'expenses' ORDER BY name") }
        }
        func compare(_ context: String) throws {
            func normalized(_ extra: [String]) throws -> String {
                try tool("report", ["monthly-expenses", "--store", replica, "-f", "json"] + extra).stdout
                    .replacingOccurrences(of: #""(ageSeconds|reportedAt)":[^,]*,"#, with: "", options: .regularExpression)
            }
            XCTAssertEqual(try normalized([]), try normalized(["--no-summary"]), "summary differs from a full scan \(context)")
        }
        try ship()
        _ = try tool("replica-apply", ["summarize", replica])
        XCTAssertEqual(try indexes(), ["expenses_spent_at"], "the summary adds no index to the table (issue 16)")
        try compare("after summarize")
        let extremes = """
            SELECT id FROM expenses e WHERE amount_cents = (SELECT max(amount_cents) FROM expenses f WHERE substr(f.spent_at, 1, 7) = substr(e.spent_at, 1, 7)
              AND f.category = e.category AND f.merchant = e.merchant)
            """
        _ = try tool("binlog-writer", ["exec", master, "UPDATE expenses SET note = 'checked' WHERE id IN (\(extremes))"])
        try ship()
        try compare("after notes on the extreme rows")
        _ = try tool("binlog-writer", ["exec", master, "DELETE FROM expenses WHERE id IN (\(extremes))"])
        try ship()
        try compare("after deleting the extreme rows")
        _ = try tool("binlog-writer", ["exec", master, "UPDATE expenses SET amount_cents = amount_cents + 1 WHERE id IN (\(extremes.replacingOccurrences(of: "max(", with: "min(")))"])
        try ship()
        try compare("after raising the minimum rows")
        try Self.assertSummaryEqualsGroupBy(replica + "/store.db", "after raising the minimum rows")
        // More minimum deletions per group than the summary keeps extremes: it must read the
        // next ones from the table (KeptExtremes.capacity is 8), one batch per deletion and
        // then several in one batch.
        let minima = extremes.replacingOccurrences(of: "max(", with: "min(")
        for round in 0..<10 {
            _ = try tool("binlog-writer", ["exec", master, "DELETE FROM expenses WHERE id IN (\(minima))"])
            if round % 3 == 2 { try ship(); try Self.assertSummaryEqualsGroupBy(replica + "/store.db", "after \(round + 1) minimum deletions") }
        }
        _ = try tool("binlog-writer", ["exec", master, "-"], stdin: "BEGIN;\n" + String(repeating: "DELETE FROM expenses WHERE id IN (\(minima));\n", count: 10) + "COMMIT;")
        try ship()
        try Self.assertSummaryEqualsGroupBy(replica + "/store.db", "after ten minimum deletions in one batch")
        try compare("after many minimum deletions")
        XCTAssertEqual(try indexes(), ["expenses_spent_at"])
    }

    /// One replica-apply run of many small batches (`--batch 2`, autocommit statements: one
    /// transaction each) over a few groups, so that the summary rows the maintainer keeps in
    /// memory from batch to batch are reused many times: groups emptied and refilled, minima and
    /// maxima deleted past the kept extremes, rows moved between groups. The summary equals a
    /// GROUP BY of the table after each run, and the report from it equals a full scan.
    func testSummaryRowsCachedAcrossBatchesOfOneRunStayExact() throws {
        var rng = SeededRandom()
        let seed = rng.seed
        let dir = TestDirectory("summary-cache")
        let master = dir.sub("master"), replica = dir.sub("replica")
        func tool(_ name: String, _ args: [String], stdin: String? = nil) throws -> ToolRunner.Result {
            try ToolRunner.expectSuccess(name, args, stdin: stdin, context: "seed \(seed)")
        }
        _ = try tool("binlog-writer", ["init", master])
        _ = try tool("binlog-writer", ["exec", master, """
            CREATE TABLE expenses (id INTEGER PRIMARY KEY, spent_at TEXT NOT NULL, category TEXT, merchant TEXT, amount_cents INTEGER, currency TEXT);
            INSERT INTO expenses (spent_at, category, merchant, amount_cents, currency) VALUES ('2024-01-05', 'rent', 'A', 100, 'EUR');
            """])
        _ = try tool("replica-apply", ["init", replica])
        func ship() throws {
            _ = try tool("binlog-writer", ["rotate", master])
            try Shipping.shipSealed(binlog: master + "/binlog", to: replica + "/inbox")
            _ = try tool("replica-apply", [replica, "--batch", "2"])
        }
        try ship()
        _ = try tool("replica-apply", ["summarize", replica])
        let group = "category = 'rent' AND merchant = 'A' AND substr(spent_at, 1, 7) = '2024-01'"
        for round in 1...4 {
            var w = ""
            for _ in 0..<120 {
                let month = Int.random(in: 1...2, using: &rng), merchant = ["A", "B"].randomElement(using: &rng)!
                let date = String(format: "2024-%02d-%02d", month, Int.random(in: 1...28, using: &rng))
                switch Int.random(in: 0..<8, using: &rng) {
                case 0: w += "DELETE FROM expenses WHERE id = (SELECT id FROM expenses WHERE \(group) ORDER BY amount_cents LIMIT 1);\n"
                case 1: w += "DELETE FROM expenses WHERE id = (SELECT id FROM expenses ORDER BY amount_cents DESC LIMIT 1);\n"
                case 2: w += "UPDATE expenses SET spent_at = '\(date)', merchant = '\(merchant)' WHERE id = (SELECT max(id) FROM expenses);\n"
                case 3: w += "UPDATE expenses SET amount_cents = \(Int.random(in: 1...1000, using: &rng)) WHERE id = (SELECT min(id) FROM expenses);\n"
                case 4 where round == 3: w += "DELETE FROM expenses WHERE \(group);\n"
                default: w += "INSERT INTO expenses (spent_at, category, merchant, amount_cents, currency) VALUES ('\(date)', 'rent', '\(merchant)', \(Int.random(in: 1...1000, using: &rng)), 'EUR');\n"
                }
            }
            _ = try tool("binlog-writer", ["exec", master, "-"], stdin: w)
            try ship()
            try Self.assertSummaryEqualsGroupBy(replica + "/store.db", "after round \(round); seed \(seed)")
        }
        let report = { (extra: [String]) in
            try tool("report", ["monthly-expenses", "--store", replica, "-f", "json"] + extra).stdout
                .replacingOccurrences(of: #""(ageSeconds|reportedAt)":[^,]*,"#, with: "", options: .regularExpression)
        }
        XCTAssertEqual(try report([]), try report(["--no-summary"]), "seed \(seed)")
    }

    /// A summary made by the version before the packed keys (text key columns, an index on them,
    /// kept extremes per merchant, no names table) is rebuilt by the next apply: the new tables
    /// and views are there, the old index is gone, and the summary equals the table.
    func testASummaryOfTheTextKeyedVersionIsRebuiltByTheNextApply() throws {
        let dir = TestDirectory("summary-upgrade")
        let master = dir.sub("master"), replica = dir.sub("replica")
        func tool(_ name: String, _ args: [String], stdin: String? = nil) throws -> ToolRunner.Result {
            try ToolRunner.expectSuccess(name, args, stdin: stdin, context: "summary upgrade")
        }
        _ = try tool("binlog-writer", ["init", master])
        _ = try tool("binlog-writer", ["exec", master, """
            CREATE TABLE expenses (id INTEGER PRIMARY KEY, spent_at TEXT NOT NULL, category TEXT, merchant TEXT, amount_cents INTEGER, currency TEXT);
            INSERT INTO expenses (spent_at, category, merchant, amount_cents, currency) VALUES
              ('2024-01-05', 'rent', 'A', 100, 'EUR'), ('2024-01-09', 'rent', 'B', 300, 'EUR'), ('2024-02-01', NULL, 'A', 50, NULL);
            """])
        _ = try tool("replica-apply", ["init", replica])
        _ = try tool("binlog-writer", ["rotate", master])
        try Shipping.shipSealed(binlog: master + "/binlog", to: replica + "/inbox")
        _ = try tool("replica-apply", [replica])
        // The older version's summary, at the store's LSN, as that version left it.
        let q = try DatabaseQueue(path: replica + "/store.db")
        try q.write { db in
            let lsn = try Int64.fetchOne(db, sql: "SELECT lsn FROM _logship_position")!
            try db.execute(sql: """
                CREATE TABLE _logship_summary_config (id INTEGER PRIMARY KEY CHECK (id = 1), source_table TEXT NOT NULL, date_column TEXT NOT NULL,
                  amount_column TEXT NOT NULL, category_column TEXT NOT NULL, currency_column TEXT NOT NULL, merchant_column TEXT NOT NULL,
                  lsn INTEGER NOT NULL, valid INTEGER NOT NULL);
                INSERT INTO _logship_summary_config VALUES (1, 'expenses', 'spent_at', 'amount_cents', 'category', 'currency', 'merchant', \(lsn), 1);
                CREATE TABLE _logship_summary (month TEXT, category, currency, merchant, n INTEGER NOT NULL, total INTEGER NOT NULL, mn INTEGER, mx INTEGER, lo TEXT, hi TEXT);
                CREATE INDEX _logship_summary_key ON _logship_summary (month, category, currency, merchant);
                INSERT INTO _logship_summary (month, category, currency, merchant, n, total, mn, mx)
                  SELECT substr(spent_at, 1, 7), category, currency, merchant, count(*), sum(amount_cents), min(amount_cents), max(amount_cents)
                  FROM expenses GROUP BY 1, 2, 3, 4;
                """)
        }
        try q.close()
        _ = try tool("binlog-writer", ["exec", master, "INSERT INTO expenses (spent_at, category, merchant, amount_cents, currency) VALUES ('2024-01-20', 'rent', 'A', 7, 'EUR')"])
        _ = try tool("binlog-writer", ["rotate", master])
        try Shipping.shipSealed(binlog: master + "/binlog", to: replica + "/inbox")
        _ = try tool("replica-apply", [replica])
        let objects = try DatabaseQueue(path: replica + "/store.db").read { db in
            try String.fetchAll(db, sql: "SELECT type || ' ' || name FROM sqlite_schema WHERE name LIKE '\\_logship\\_summary%' ESCAPE '\\' ORDER BY name")
        }
        XCTAssertEqual(objects, ["table _logship_summary", "view _logship_summary_by_merchant", "table _logship_summary_config", "view _logship_summary_groups",
                                 "table _logship_summary_merchants", "table _logship_summary_names"])
        try Self.assertSummaryEqualsGroupBy(replica + "/store.db", "after the upgrade")
        let report = { (extra: [String]) in
            try tool("report", ["monthly-expenses", "--store", replica, "-f", "json"] + extra).stdout
                .replacingOccurrences(of: #""(ageSeconds|reportedAt)":[^,]*,"#, with: "", options: .regularExpression)
        }
        XCTAssertEqual(try report([]), try report(["--no-summary"]))
    }
}
