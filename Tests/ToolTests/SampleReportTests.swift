import Foundation
import LogshipTestSupport
import XCTest

/// The samples as a user meets them: the generator reproduces expenses.csv, the workload
/// changes rows and the schema, and every samples/reports/*.sql runs with the `report query`
/// command written in its header, giving the rows the sqlite3 shell gives for the same SQL and
/// parameters on the same store.
final class SampleReportTests: XCTestCase {
    func testTheGeneratorReproducesTheSampleData() throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/python3") else { throw XCTSkip("python3 is not installed") }
        let r = try ToolRunner.runSystem("/usr/bin/python3", [SampleSetup.sample("generate_expenses.py"), "--rows", "2000", "--seed", "42"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stdout, try String(contentsOfFile: SampleSetup.sample("expenses.csv"), encoding: .utf8),
                       "samples/expenses.csv is what its docstring's command generates")
    }

    /// JPY has no minor unit (ISO 4217), so a yen amount is whole yen: each JPY row of the
    /// sample lies within its category's range (the generator's, in euro cents) at 1.5 yen per
    /// cent, recomputed here from the generator's own table. The sample once had hundredths
    /// of a yen (100× too large), which the reports then printed as whole yen.
    func testSampleYenAmountsAreWholeYen() throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/python3") else { throw XCTSkip("python3 is not installed") }
        let script = "import json, sys; sys.path.insert(0, sys.argv[1]); import generate_expenses as g; print(json.dumps(g.CATEGORIES))"
        let r = try ToolRunner.runSystem("/usr/bin/python3", ["-c", script, SampleSetup.sample("")])
        XCTAssertEqual(r.status, 0, r.stderr)
        let ranges = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: [Int]])
        let lines = try String(contentsOfFile: SampleSetup.sample("expenses.csv"), encoding: .utf8).components(separatedBy: "\r\n")
        XCTAssertEqual(lines.first, "id,spent_at,category,merchant,amount_cents,currency,note")
        var yenRows = 0
        for line in lines.dropFirst() where !line.isEmpty {
            let f = line.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
            guard f.count >= 6, f[5] == "JPY" else { continue }
            yenRows += 1
            let range = try XCTUnwrap(ranges[f[2]], line), amount = try XCTUnwrap(Int(f[4]), line)
            XCTAssertTrue((range[0] * 150 / 100...range[1] * 150 / 100).contains(amount), "not whole yen in \(f[2])'s range: \(line)")
        }
        XCTAssertGreaterThan(yenRows, 100, "the sample has JPY rows")
    }

    func testTheReportSamplesRunAsTheirHeadersSay() throws {
        let setup = try SampleSetup("sample-reports")
        try setup.createMasterAndReplicas()
        try setup.tool("binlog-writer", ["rotate", setup.master])
        try setup.tool("binlog-ship", ["--config", setup.root + "/etc/logship/ship.yml", "--quiet"])
        try setup.tool("replica-apply", [setup.replica("a")])
        try assertWorkloadKinds(setup)

        let files = try FileManager.default.contentsOfDirectory(atPath: SampleSetup.sample("reports")).filter { $0.hasSuffix(".sql") }.sorted()
        XCTAssertGreaterThanOrEqual(files.count, 3)
        let path = ToolRunner.productsDirectory + ":/usr/bin:/bin"
        for file in files {
            let usage = try XCTUnwrap(Self.usage(SampleSetup.sample("reports/" + file)), "\(file) has no `--   report query …` line")
            let command = setup.substitute(usage.replacingOccurrences(of: "samples/", with: SampleSetup.repository + "/samples/"))
            let run = try setup.shell(command, path: path)
            XCTAssertEqual(run.status, 0, "\(file): \(command)\n\(run.stderr)")
            let store = setup.replica("a") + "/store.db"
            let params = Self.params(usage)
            let expected = try sqliteRows(store: store, file: SampleSetup.sample("reports/" + file), params: params)
            XCTAssertGreaterThan(expected.count, 0, "\(file) selects nothing on the sample data")
            XCTAssertEqual(try reportRows(setup, file: SampleSetup.sample("reports/" + file), params: params), expected, file)
        }
    }

    /// The usage command in a report's header comment (`--   report query …`, `\` continues a line).
    static func usage(_ path: String) throws -> String? {
        var command: String?
        for line in try String(contentsOfFile: path, encoding: .utf8).components(separatedBy: "\n") {
            guard line.hasPrefix("--") else { break }
            let text = line.dropFirst(2).trimmingCharacters(in: .whitespaces)
            if command == nil, text.hasPrefix("report query ") { command = text } else if command != nil, command!.hasSuffix("\\") {
                command = String(command!.dropLast()) + " " + text
            }
        }
        return command
    }

    /// The `--param name=value` pairs of a command line.
    static func params(_ command: String) -> [(String, String)] {
        let words = command.split(separator: " ").map(String.init)
        return zip(words, words.dropFirst()).filter { $0.0 == "--param" }.compactMap { _, kv in
            guard let eq = kv.firstIndex(of: "=") else { return nil }
            return (String(kv[..<eq]), String(kv[kv.index(after: eq)...]))
        }
    }

    /// The result rows as the sqlite3 shell computes them. Its `.parameter set` evaluates the
    /// value as SQL after stripping one level of quotes, so text goes in as "'…'"; an integer
    /// stays a number, which is how `report` binds it.
    private func sqliteRows(store: String, file: String, params: [(String, String)]) throws -> NSArray {
        let sets = params.map { name, value in
            ".parameter set :\(name) " + (Int64(value) != nil ? value : "\"'" + value.replacingOccurrences(of: "'", with: "''") + "'\"")
        }
        // The shell has no money(): the same SQL with each money(…) spelt out in plain SQL.
        let plain = NSTemporaryDirectory() + "/\(UUID().uuidString)-" + (file as NSString).lastPathComponent
        try Self.withoutMoney(try String(contentsOfFile: file, encoding: .utf8)).write(toFile: plain, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: plain) }
        let r = try ToolRunner.runSystem("/usr/bin/sqlite3", ["-readonly", "-json", store] + sets + [".read " + plain])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stderr, "", file)
        guard !r.stdout.isEmpty else { return [] }   // the shell prints nothing for no rows
        return try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? NSArray ?? []
    }

    /// `sql` with every `money(amount, currency)` replaced by a plain-SQL oracle written
    /// independently of `report`'s function, for the currencies the sample data holds: JPY has no
    /// decimals, BHD three, the others two (ISO 4217); NULL stays NULL; the sign is kept.
    static func withoutMoney(_ sql: String) throws -> String {
        var out = "", rest = Substring(sql)
        while let start = rest.range(of: "money(") {
            out += rest[..<start.lowerBound]
            // "money()" in a comment names the function: left as it is.
            if rest[start.upperBound...].hasPrefix(")") { out += "money()"; rest = rest[rest.index(after: start.upperBound)...]; continue }
            var depth = 1, i = start.upperBound, comma: Substring.Index?
            while depth > 0 {
                guard i < rest.endIndex else { throw NSError(domain: "withoutMoney", code: 1, userInfo: [NSLocalizedDescriptionKey: "unbalanced money( in \(sql)"]) }
                switch rest[i] {
                case "(": depth += 1
                case ")": depth -= 1
                case "," where depth == 1: comma = i
                default: break
                }
                if depth > 0 { i = rest.index(after: i) }
            }
            guard let comma else { throw NSError(domain: "withoutMoney", code: 2, userInfo: [NSLocalizedDescriptionKey: "money() without two arguments in \(sql)"]) }
            let x = "(" + rest[start.upperBound..<comma] + ")", c = "upper(" + rest[rest.index(after: comma)..<i] + ")"
            let sign = "CASE WHEN \(x) < 0 THEN '-' ELSE '' END"
            out += "(CASE WHEN \(x) IS NULL THEN NULL WHEN \(c) = 'JPY' THEN printf('%d', \(x))"
                + " WHEN \(c) = 'BHD' THEN printf('%s%d.%03d', \(sign), abs(\(x)) / 1000, abs(\(x)) % 1000)"
                + " ELSE printf('%s%d.%02d', \(sign), abs(\(x)) / 100, abs(\(x)) % 100) END)"
            rest = rest[rest.index(after: i)...]
        }
        return out + rest
    }

    /// Money in the saved reports is written in each currency's minor unit, as the built-in
    /// reports write it: on the sample data (which has yen), top-merchants and payment-methods
    /// print yen totals without decimals and euro totals with two, each equal to the exact sum
    /// of the rows. Both printed two decimals for yen before `money()` (a 1,250 yen total read
    /// "12.50").
    func testTheSavedReportsPrintMoneyInTheCurrencysMinorUnit() throws {
        let setup = try SampleSetup("sample-money")
        try setup.createMasterAndReplicas()
        try setup.tool("binlog-writer", ["rotate", setup.master])
        try setup.tool("binlog-ship", ["--config", setup.root + "/etc/logship/ship.yml", "--quiet"])
        try setup.tool("replica-apply", [setup.replica("a")])
        let store = setup.replica("a") + "/store.db"
        let cases: [(file: String, params: [(String, String)], key: String, filter: String)] = [
            ("top-merchants.sql", [("from", "2000-01-01"), ("to", "2999-12-31")], "merchant", "merchant"),
            ("payment-methods.sql", [], "paid_with", "coalesce(paid_with, 'unknown')"),
        ]
        for c in cases {
            for (currency, pattern) in [("JPY", #"^[0-9]+$"#), ("EUR", #"^[0-9]+\.[0-9]{2}$"#)] {
                let rows = try reportRows(setup, file: SampleSetup.sample("reports/" + c.file), params: c.params + [("currency", currency)])
                XCTAssertGreaterThan(rows.count, 0, "\(c.file) \(currency) selects nothing on the sample data")
                for case let row as [String: Any] in rows {
                    let total = "\(row["total"] ?? "")", key = "\(row[c.key] ?? "")"
                    XCTAssertNotNil(total.range(of: pattern, options: .regularExpression), "\(c.file) \(currency) \(key): \(total)")
                    let sum = try ToolRunner.runSystem("/usr/bin/sqlite3", ["-readonly", store,
                        "SELECT sum(amount_cents) FROM expenses WHERE currency = '\(currency)' AND \(c.filter) = '\(key.replacingOccurrences(of: "'", with: "''"))'"])
                    XCTAssertEqual(Int64(total.replacingOccurrences(of: ".", with: "")), Int64(sum.stdout.trimmingCharacters(in: .whitespacesAndNewlines)),
                                   "\(c.file) \(currency) \(key): \(total)")
                }
            }
        }
    }

    /// The result rows of `report query -f json`.
    private func reportRows(_ setup: SampleSetup, file: String, params: [(String, String)]) throws -> NSArray {
        let args = ["query", "--store", setup.replica("a"), "--file", file, "-f", "json"] + params.flatMap { ["--param", "\($0)=\($1)"] }
        let r = try setup.tool("report", args)
        let json = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any]
        let sections = json?["sections"] as? [[String: Any]]
        return sections?.first?["rows"] as? NSArray ?? []
    }

    /// samples/workload.sql logs updates, deletes and a schema change (read back with `dump`).
    private func assertWorkloadKinds(_ setup: SampleSetup) throws {
        let last = try setup.masterLastLSN()
        let dump = try setup.tool("binlog-writer", ["dump", setup.master, "--from-lsn", "\(last - 5)", "--format", "jsonl"]).stdout
        for kind in ["\"type\":\"update\"", "\"type\":\"delete\"", "\"type\":\"insert\"", "ALTER TABLE expenses ADD COLUMN"] {
            XCTAssertTrue(dump.contains(kind), "the workload's transactions have no \(kind)")
        }
        let updated = try ToolRunner.runSystem("/usr/bin/sqlite3", ["-readonly", setup.master + "/master.db",
                                                                    "SELECT count(*) FROM expenses WHERE merchant = 'Uber' AND category = 'travel'"])
        XCTAssertGreaterThan(Int(updated.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0, 0, "the reclassification changed rows")
    }
}
