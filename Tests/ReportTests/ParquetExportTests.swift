import BinlogApply
import Foundation
import GRDB
import LogshipTestSupport
@testable import Reports
import XCTest

/// `ParquetExport` as a library: the memory bound across month files, the as-of refusal,
/// and the manifest, with pyarrow reading the files back.
final class ParquetExportTests: XCTestCase {
    /// 20,000 rows over 6 months in random order with a memory budget of one byte: every 4,096
    /// rows all open month files write their row group out, so each file holds several row
    /// groups, and still every month's rows are all there, in its own partition.
    func testMemoryBudgetFlushesEveryMonthFileAndLosesNoRow() throws {
        if let reason = PythonOracle.unavailableReason { throw XCTSkip(reason) }
        var rng = SeededRandom()
        let dir = TestDirectory("parquet-budget")
        let a = 6 * Int.random(in: 1...100_000, using: &rng) + 1, b = Int.random(in: 1...1_000_003, using: &rng)   // a prime to 6: all six months
        let rows = """
            WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < 20000)
            INSERT INTO expenses SELECT n, '2025-0' || (1 + (n * \(a)) % 6) || '-1' || ((n * \(b)) % 10), 'food', 'shop', (n * \(b)) % 10000, 'EUR', NULL FROM c;
            """
        let store = try FixtureStore.create(at: dir.sub("store.db"), rows: rows)
        var options = ParquetExport.Options()
        options.memoryBudget = 1
        let manifest = try ParquetExport.run(try ReportStore(path: store, allowMaster: false), to: dir.sub("out"), options)
        let expected = try DatabaseQueue(path: store).read { db in
            try Row.fetchAll(db, sql: "SELECT substr(spent_at, 1, 7), count(*), sum(amount_cents) FROM expenses GROUP BY 1 ORDER BY 1")
                .map { "\($0[0] as String) \($0[1] as Int) \($0[2] as Int)" }
        }
        let got = try XCTUnwrap(PythonOracle.json("""
            import sys, json, glob, pyarrow.parquet as pq
            out = []
            for f in sorted(glob.glob(sys.argv[1] + "/expenses/month=*/part-0.parquet")):
                t = pq.read_table(f)
                month = f.split("month=")[1].split("/")[0]
                bad = sum(1 for d in t.column("spent_at").to_pylist() if not d.startswith(month))
                out.append([month, t.num_rows, sum(t.column("amount_cents").to_pylist()), pq.ParquetFile(f).metadata.num_row_groups, bad])
            print(json.dumps(out))
            """, [dir.sub("out")]) as? [[Any]])
        let message = "seed \(rng.seed)"
        XCTAssertEqual(got.map { "\($0[0]) \($0[1]) \($0[2])" }, expected, message)
        XCTAssertEqual(got.map { $0[4] as? Int }, Array(repeating: 0, count: 6), "rows in the wrong partition, " + message)
        XCTAssertTrue(got.allSatisfy { ($0[3] as? Int ?? 0) >= 4 }, "row groups per file: \(got.map { $0[3] }) " + message)
        XCTAssertEqual(manifest.tables.map(\.rows), [20_000])
        XCTAssertEqual(manifest.tables[0].files.map(\.partition), ["2025-01", "2025-02", "2025-03", "2025-04", "2025-05", "2025-06"])
    }

    /// The manifest carries the store's position and the digest restore computes; a store at
    /// another LSN than the one asked for is refused (the library; the command restores a copy), and leaves nothing behind.
    func testManifestNamesThePositionAndAsOfIsRefused() throws {
        let dir = TestDirectory("parquet-manifest")
        let store = try FixtureStore.create(at: dir.sub("store.db"), rows: "INSERT INTO expenses VALUES (1, '2024-04-30', 'rent', 'Wohnbau Nord', 120000, 'EUR', 'April');")
        let reportStore = try ReportStore(path: store, allowMaster: false)
        var options = ParquetExport.Options()
        options.asOfLSN = 1233
        XCTAssertThrowsError(try ParquetExport.run(reportStore, to: dir.sub("old"), options)) {
            XCTAssertEqual(($0 as? ReportError)?.description, """
                invalid request: unable to export as of LSN 1233: the store is at LSN 1234
                HINT: export with report export --as-of-lsn 1233, which restores a copy of the replica to that LSN
                """)
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted(), ["store.db"])
        options.asOfLSN = 1234
        let m = try ParquetExport.run(reportStore, to: dir.sub("now"), options)
        let digest = try DatabaseQueue(path: store).read { try ContentDigest.tables($0) }
        XCTAssertEqual([m.sourceID, "\(m.epoch)", "\(m.lsn)", m.commitTime], [FixtureStore.sourceID.uuidString, "3", "1234", FixtureStore.commitTimeText])
        XCTAssertEqual(m.tables.map(\.contentDigest), [String(format: "%016llx", digest["expenses"]?.sum ?? 0)])
        XCTAssertEqual(m.tables[0].files.map(\.path), ["expenses/month=2024-04/part-0.parquet"])
        XCTAssertEqual(m.tables[0].columns.map(\.parquetType), ["int64", "string", "string", "string", "int64", "string", "string"])
        let onDisk = try JSONDecoder().decode(ParquetExport.Manifest.self, from: Data(contentsOf: URL(fileURLWithPath: dir.sub("now/manifest.json"))))
        XCTAssertEqual(onDisk, m)
    }
}
