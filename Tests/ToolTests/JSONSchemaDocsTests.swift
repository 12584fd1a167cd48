import Foundation
import LogshipTestSupport
import XCTest

/// Every `--json` command against its schema in docs/JSON.md, read from the doc itself: each
/// `## \`command --json\`` section's table lists key paths (`targets[].name`) and types
/// (`string`, `integer`, `number`, `bool`, `array`, `array of strings`, `object`, each maybe
/// `or null`). Every documented key must be present with its type (null only where the doc says
/// so), an object the doc describes may hold no undocumented key, and every section must be run
/// here (issue 17: one documented schema per command, keys always present).
final class JSONSchemaDocsTests: XCTestCase {
    struct Row { var path: String; var type: String }

    /// The sections of docs/JSON.md: heading (without backticks) → rows.
    static func documented() throws -> [String: [Row]] {
        let text = try String(contentsOfFile: SampleSetup.repository + "/docs/JSON.md", encoding: .utf8)
        var schemas: [String: [Row]] = [:]
        for section in text.components(separatedBy: "\n## ").dropFirst() {
            let heading = String(section.prefix { $0 != "\n" })
            guard heading.hasPrefix("`"), heading.contains("--json`") else { continue }
            var rows: [Row] = []
            for line in section.split(separator: "\n") where line.hasPrefix("| `") {
                let cells = line.split(separator: "|", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
                guard cells.count >= 4 else { continue }
                for key in cells[1].split(separator: ",") {
                    rows.append(Row(path: key.trimmingCharacters(in: .whitespaces).trimmingCharacters(in: CharacterSet(charactersIn: "`")), type: cells[2]))
                }
            }
            schemas[heading.trimmingCharacters(in: CharacterSet(charactersIn: "`"))] = rows
        }
        return schemas
    }

    /// The values at a documented path (`a[].b`): every element of an array step, none past a null.
    static func values(_ path: String, in root: Any, missing: inout [String]) -> [Any] {
        var current: [Any] = [root]
        for step in path.split(separator: ".").map(String.init) {
            let name = step.hasSuffix("[]") ? String(step.dropLast(2)) : step
            var next: [Any] = []
            for value in current where !(value is NSNull) {
                guard let object = value as? [String: Any] else { missing.append("\(path): \(name) is not inside an object"); continue }
                guard let v = object[name] else { missing.append(path); continue }
                if step.hasSuffix("[]") { next += (v as? [Any]) ?? [] } else { next.append(v) }
            }
            current = next
        }
        return current
    }

    static func matches(_ value: Any, _ type: String) -> Bool {
        var type = type
        if type.hasSuffix(" or null") {
            if value is NSNull { return true }
            type = String(type.dropLast(" or null".count))
        }
        let number = value as? NSNumber
        let code = number.map { String(cString: $0.objCType) }
        switch type {
        case "string": return value is String
        case "bool": return code == "c"
        case "integer": return code.map { ["q", "i", "l", "s", "Q"].contains($0) } ?? false
        case "number": return code != nil && code != "c"
        case "object": return value is [String: Any]
        case "array": return value is [Any]
        case "array of strings": return (value as? [Any]).map { $0.allSatisfy { $0 is String } } ?? false
        default: return false
        }
    }

    /// Checks one output against its rows; returns the problems.
    static func validate(_ output: Any, _ rows: [Row]) -> [String] {
        var problems: [String] = []
        for row in rows {
            for v in values(row.path, in: output, missing: &problems) where !matches(v, row.type) {
                problems.append("\(row.path): expected \(row.type), got \(v)")
            }
        }
        // Objects the doc describes (the root, and any path with documented children) hold no other key.
        let paths = rows.map(\.path)
        var parents: Set<String> = [""]
        for p in paths { var parts = p.split(separator: ".").map(String.init); while parts.count > 1 { parts.removeLast(); parents.insert(parts.joined(separator: ".")) } }
        for parent in parents {
            let children = Set(paths.compactMap { p -> String? in
                let rest = parent.isEmpty ? p : (p.hasPrefix(parent + ".") ? String(p.dropFirst(parent.count + 1)) : nil)
                guard let first = rest?.split(separator: ".").first.map(String.init) else { return nil }
                return first.hasSuffix("[]") ? String(first.dropLast(2)) : first
            })
            var ignored: [String] = []
            let objects = parent.isEmpty ? [output] : values(parent, in: output, missing: &ignored)
            for case let object as [String: Any] in objects {
                let extra = Set(object.keys).subtracting(children)
                if !extra.isEmpty { problems.append("\(parent.isEmpty ? "top level" : parent): undocumented keys \(extra.sorted())") }
            }
        }
        return problems
    }

    func testEveryJSONCommandPrintsItsDocumentedSchema() throws {
        let schemas = try Self.documented()
        let f = try ReplicaCLIFixture("json-schemas")
        let m = f.master.path
        try f.master.exec("""
            CREATE TABLE expenses(id INTEGER PRIMARY KEY, spent_at TEXT, amount_cents INTEGER, category TEXT, currency TEXT, merchant TEXT);
            INSERT INTO expenses VALUES (1, '2026-01-03', 1250, 'food', 'EUR', 'Bakery');
            INSERT INTO expenses VALUES (2, '2026-02-11', 4000, 'travel', 'EUR', 'Rail');
            """)
        let csv = f.dir.sub("rows.csv"), restored = f.dir.sub("restored.db"), report = f.dir.sub("expenses.csv")
        try "id,spent_at,amount_cents,category,currency,merchant\n3,2026-02-12,700,food,EUR,Cafe\n".write(toFile: csv, atomically: true, encoding: .utf8)
        let ship = ["--source", m, "--target", "a=" + f.inbox]
        // In order: each run leaves what the next one reads. (section, tool, arguments, exit status)
        let runs: [(String, String, [String], Int32)] = [
            ("binlog-writer load --json", "binlog-writer", ["load", m, "-t", "expenses", csv, "--json"], 0),
            ("binlog-writer rotate --json", "binlog-writer", ["rotate", m, "--json"], 0),
            ("binlog-writer status --json", "binlog-writer", ["status", m, "--json"], 0),
            ("binlog-writer verify --json", "binlog-writer", ["verify", m, "--json"], 0),
            ("binlog-ship [ship] --json", "binlog-ship", ship + ["--json"], 0),
            ("binlog-ship status --json", "binlog-ship", ["status"] + ship + ["--json"], 0),
            ("binlog-ship check --json", "binlog-ship", ["check"] + ship + ["--max-lag", "1h", "--json"], 0),
            ("binlog-ship verify --json", "binlog-ship", ["verify"] + ship + ["a", "--json"], 0),
            ("binlog-ship purge --json", "binlog-ship", ["purge"] + ship + ["--older-than", "0", "--json"], 0),
            ("binlog-ship purge --in-target --json", "binlog-ship", ["purge"] + ship + ["--in-target", "a", "--window", "1d", "--json"], 0),
            ("replica-apply [apply] --json", "replica-apply", [f.replica, "--json"], 0),
            ("replica-apply status --json", "replica-apply", ["status", f.replica, "--json"], 0),
            ("replica-apply check --json", "replica-apply", ["check", f.replica, "--max-lag", "1h", "--json"], 0),
            ("replica-apply snapshot --json", "replica-apply", ["snapshot", f.replica, "--json"], 0),
            ("replica-apply restore --json", "replica-apply", ["restore", f.replica, "--latest", "-o", restored, "--json"], 0),
            ("replica-apply prune --json", "replica-apply", ["prune", f.replica, "--window", "14d", "--json"], 0),
            ("replica-apply summarize --json", "replica-apply", ["summarize", f.replica, "--json"], 0),
            ("replica-apply candidates --json", "replica-apply", ["candidates", f.replica, "--json"], 0),
            ("replica-apply promote --json", "replica-apply", ["promote", f.replica, "--to", f.dir.sub("new-master"), "--dry-run", "--json"], 0),
            ("report verify --json", "report", ["verify", report, "--json"], 0),
            ("binlog-ship forget --json", "binlog-ship", ["forget"] + ship + ["a", "--json"], 0),
        ]
        // Checked elsewhere, against a real S3 server: ReplicaFetchS3Tests.
        let elsewhere: Set<String> = ["replica-apply fetch --json"]
        XCTAssertEqual(Set(runs.map(\.0)).union(elsewhere), Set(schemas.keys), "docs/JSON.md sections and the commands run here")
        for (section, tool, arguments, status) in runs {
            if section == "report verify --json" {
                let made = try ToolRunner.run("report", ["monthly-expenses", "--store", f.replica, "--as-of-lsn", "2", "-f", "csv", "--out", report])
                XCTAssertEqual(made.status, 0, made.stderr)
            }
            let r = try ToolRunner.run(tool, arguments)
            XCTAssertEqual(r.status, status, "\(section): \(r.stderr)")
            guard let rows = schemas[section] else { XCTFail("docs/JSON.md has no section `\(section)`"); continue }
            XCTAssertFalse(rows.isEmpty, "\(section): no rows")
            guard let output = try? JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) else {
                XCTFail("\(section): not one JSON value: \(r.stdout) \(r.stderr)"); continue
            }
            let problems = Self.validate(output, rows)
            XCTAssertTrue(problems.isEmpty, "\(section):\n" + problems.joined(separator: "\n") + "\n" + r.stdout)
        }
    }

    /// The validator itself: a missing key, a null where the doc allows none, a wrong type and an
    /// undocumented key are each caught.
    func testTheValidatorCatchesEachKindOfDeparture() {
        let rows = [Row(path: "a", type: "integer"), Row(path: "b", type: "string or null"), Row(path: "c[].d", type: "bool")]
        XCTAssertEqual(Self.validate(["a": 1, "b": NSNull(), "c": [["d": true]]], rows), [])
        XCTAssertEqual(Self.validate(["b": "x", "c": []], rows), ["a"])
        XCTAssertEqual(Self.validate(["a": NSNull(), "b": "x", "c": []], rows).count, 1)
        XCTAssertEqual(Self.validate(["a": 1, "b": 2, "c": []], rows).count, 1)
        XCTAssertEqual(Self.validate(["a": 1, "b": "x", "c": [["d": true, "e": 1]]], rows), ["c[]: undocumented keys [\"e\"]"])
        XCTAssertEqual(Self.validate(["a": 1, "b": "x", "c": [], "z": 0], rows), ["top level: undocumented keys [\"z\"]"])
    }
}
