import BinlogFormat
import Foundation
import GRDB
import LogshipTestSupport
import XCTest

/// A report taken while `replica-apply --follow` applies always matches the master's state
/// at the LSN it prints: the oracle replays the master's binlog up to that LSN (the apply
/// engine, through BinlogReplay) and computes the expected figures with plain SQL.
final class ReportCommandFollowTests: XCTestCase {
    /// A seeded workload: inserts, updates, deletes, and multi-statement transactions that a
    /// report must see whole or not at all.
    struct Workload {
        var rng: SeededRandom
        var inserted = 0

        mutating func statement() -> String {
            let roll = Int.random(in: 0..<10, using: &rng)
            if roll < 6 || inserted < 5 {
                inserted += 1
                let month = Int.random(in: 1...4, using: &rng), day = Int.random(in: 1...28, using: &rng)
                let category = ["food", "rent", "travel"].randomElement(using: &rng)!
                let merchant = ["Edeka", "Lidl", "SNCF", "Acme", "Migros", "Tesco"].randomElement(using: &rng)!
                let currency = ["EUR", "USD"].randomElement(using: &rng)!
                return "INSERT INTO expenses (spent_at, category, merchant, amount_cents, currency) VALUES "
                    + "('2024-0\(month)-\(String(format: "%02d", day))', '\(category)', '\(merchant)', \(Int.random(in: 0...250_000, using: &rng)), '\(currency)');"
            }
            let id = Int.random(in: 1...inserted, using: &rng)
            if roll < 8 { return "UPDATE expenses SET amount_cents = \(Int.random(in: 0...99_999, using: &rng)) WHERE id = \(id);" }
            if roll < 9 { return "DELETE FROM expenses WHERE id = \(id);" }
            // Moves money between two rows in one transaction: the total only changes by the insert.
            let other = Int.random(in: 1...inserted, using: &rng)
            inserted += 1
            return "BEGIN; UPDATE expenses SET amount_cents = amount_cents + 500 WHERE id = \(id); "
                + "UPDATE expenses SET amount_cents = max(0, amount_cents - 500) WHERE id = \(other); "
                + "INSERT INTO expenses (spent_at, category, merchant, amount_cents, currency) VALUES ('2024-04-30', 'food', 'Edeka', 1, 'EUR'); COMMIT;"
        }
    }

    /// What the reporting threads share, behind a lock.
    final class Shared: @unchecked Sendable {
        struct State { var observations: [Observation] = []; var failures: [String] = []; var running = true }
        private var state = State()
        private let lock = NSLock()
        func locked<T>(_ body: (inout State) -> T) -> T {
            lock.lock()
            defer { lock.unlock() }
            return body(&state)
        }
    }

    /// What one report printed: its LSN and the JSON sections.
    struct Observation { var lsn: UInt64; var sections: [String: [[String: Any]]] }

    func testReportsDuringFollowMatchTheStateAtTheirLSN() throws {
        var workload = Workload(rng: SeededRandom())
        let seed = workload.rng.seed
        let context = "seed \(seed) (rerun with LOGSHIP_SEED=\(seed))"
        let p = try ReportPipeline("report-follow", segmentSize: "4KiB")
        try p.rotate(); try p.ship(); try p.apply()   // the schema, so every report finds the table
        let follower = try ReportBackgroundTool("replica-apply", [p.replica, "--follow"])
        defer { follower.terminate(); _ = follower.finish() }

        let shared = Shared()
        let replica = p.replica
        let reporters = DispatchGroup()
        for kind in 0..<2 {
            reporters.enter()
            DispatchQueue.global().async {
                defer { reporters.leave() }
                while shared.locked({ $0.running }) {
                    let args = kind == 0 ? ["monthly-expenses", "--store", replica, "-f", "json", "--top", "100"]
                        : ["query", "--store", replica, "-f", "json", "SELECT count(*) AS n, coalesce(sum(amount_cents), 0) AS total FROM expenses"]
                    do {
                        let r = try ToolRunner.run("report", args)
                        let o = try Self.observation(r)
                        shared.locked { $0.observations.append(o) }
                    } catch {
                        shared.locked { $0.failures.append("\(args[0]): \(error)") }
                    }
                }
            }
        }
        var lastLSN: UInt64 = 0
        for _ in 0..<10 {
            let sql = (0..<25).map { _ in workload.statement() }.joined(separator: "\n")
            lastLSN = try p.execAll(sql).last?.lsn ?? lastLSN
            try p.rotate()
            try p.ship()
            usleep(250_000)
        }
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline, try Self.storeLSN(p.replica + "/store.db") < lastLSN { usleep(100_000) }
        usleep(300_000)
        shared.locked { $0.running = false }
        reporters.wait()
        XCTAssertEqual(try Self.storeLSN(p.replica + "/store.db"), lastLSN, "the follower caught up; \(context)")
        let (observations, failures) = shared.locked { ($0.observations, $0.failures) }
        XCTAssertEqual(failures, [], context)

        // Check each observed LSN against the master's binlog replayed up to it.
        let lsns = Set(observations.map(\.lsn)).sorted()
        XCTAssertGreaterThanOrEqual(lsns.count, 4, "reports saw the replica at several positions while it applied: \(lsns); \(context)")
        XCTAssertTrue(lsns.contains { $0 > 1 && $0 < lastLSN }, "some reports ran mid-way: \(lsns); \(context)")
        var expected: [UInt64: [String: [[String]]]] = [:]
        for lsn in lsns {
            let file = p.dir.sub("replay-\(lsn).db")
            XCTAssertEqual(try BinlogReplay.replay(binlog: p.master + "/binlog", into: file, upTo: lsn), lsn, context)
            expected[lsn] = try Self.expectedFigures(file)
        }
        for o in observations {
            let actual = Self.figures(o.sections)
            for (section, rows) in actual {
                XCTAssertEqual(rows, expected[o.lsn]?[section], "\(section) at LSN \(o.lsn); \(context)")
            }
        }
        print("report/follow: \(observations.count) reports at \(lsns.count) LSNs \(lsns.prefix(12))…, last \(lastLSN); \(context)")
    }

    static func observation(_ r: ToolRunner.Result) throws -> Observation {
        guard r.status == 0 else { throw ReportPipeline.Failure(description: "exit \(r.status): \(r.stderr)") }
        let object = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any]
        guard let freshness = object?["freshness"] as? [String: Any], let lsn = freshness["lsn"] as? Int,
              let sections = object?["sections"] as? [[String: Any]] else { throw ReportPipeline.Failure(description: "unexpected JSON: \(r.stdout.prefix(300))") }
        var byName: [String: [[String: Any]]] = [:]
        for s in sections { byName[s["name"] as? String ?? "?"] = s["rows"] as? [[String: Any]] ?? [] }
        return Observation(lsn: UInt64(lsn), sections: byName)
    }

    /// The report's rows as text, for comparison with the oracle's.
    static func figures(_ sections: [String: [[String: Any]]]) -> [String: [[String]]] {
        let columns = ["By month, category and currency": ["month", "category", "currency", "count", "total", "average", "minimum", "maximum"],
                       "Month totals": ["month", "currency", "count", "total"],
                       "Top merchants": ["currency", "rank", "merchant", "count", "total"],
                       "Result": ["n", "total"]]
        var out: [String: [[String]]] = [:]
        for (name, rows) in sections {
            guard let names = columns[name] else { continue }
            out[name] = rows.map { row in names.map { row[$0].map { "\($0)" } ?? "nil" } }
        }
        return out
    }

    /// The same figures from a replayed database, with plain SQL and integer arithmetic.
    static func expectedFigures(_ path: String) throws -> [String: [[String]]] {
        var config = Configuration()
        config.readonly = true
        let queue = try DatabaseQueue(path: path, configuration: config)
        defer { try? queue.close() }
        func money(_ c: Int64) -> String { (c < 0 ? "-" : "") + String(c.magnitude / 100) + "." + String(format: "%02d", Int(c.magnitude % 100)) }
        func average(_ total: Int64, _ count: Int64) -> String { money((2 * total + count) / (2 * count)) }   // totals are ≥ 0 here
        return try queue.read { db in
            var out: [String: [[String]]] = [:]
            out["By month, category and currency"] = try Row.fetchAll(db, sql: """
                SELECT substr(spent_at, 1, 7) AS m, category, currency, count(*), sum(amount_cents), min(amount_cents), max(amount_cents)
                FROM expenses GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
                """).map { r in
                    let count: Int64 = r[3], total: Int64 = r[4]
                    return [r[0], r[1], r[2], String(count), money(total), average(total, count), money(r[5]), money(r[6])]
                }
            out["Month totals"] = try Row.fetchAll(db, sql: """
                SELECT substr(spent_at, 1, 7), currency, count(*), sum(amount_cents) FROM expenses GROUP BY 1, 2 ORDER BY 1, 2
                """).map { r in [r[0], r[1], String(r[2] as Int64), money(r[3])] }
            out["Top merchants"] = try Row.fetchAll(db, sql: """
                SELECT currency, row_number() OVER (PARTITION BY currency ORDER BY sum(amount_cents) DESC, merchant), merchant, count(*), sum(amount_cents)
                FROM expenses GROUP BY currency, merchant ORDER BY 1, 2
                """).map { r in [r[0], String(r[1] as Int64), r[2], String(r[3] as Int64), money(r[4])] }
            out["Result"] = try Row.fetchAll(db, sql: "SELECT count(*), coalesce(sum(amount_cents), 0) FROM expenses").map { r in
                [String(r[0] as Int64), String(r[1] as Int64)]
            }
            return out
        }
    }

    static func storeLSN(_ path: String) throws -> UInt64 {
        guard FileManager.default.fileExists(atPath: path) else { return 0 }
        var config = Configuration()
        config.readonly = true
        config.busyMode = .timeout(5)
        let queue = try DatabaseQueue(path: path, configuration: config)
        defer { try? queue.close() }
        return try queue.read { db in UInt64(try Int64.fetchOne(db, sql: "SELECT lsn FROM _logship_position") ?? 0) }
    }
}
