import Foundation
import LogshipTestSupport
import XCTest

/// `--json` output of rotate, ship and snapshot checked against docs/JSON.md: every documented
/// key present with its type, nothing else; and `--quiet` prints nothing on success (issue 17).
final class JSONOutputTests: XCTestCase {
    enum Kind { case string, int, bool, array, object, nullableString, nullableInt, nullableObject }

    private func check(_ value: Any?, _ kind: Kind, _ at: String, file: StaticString = #filePath, line: UInt = #line) {
        let ok: Bool
        switch kind {
        case .string: ok = value is String
        // JSONSerialization gives NSNumber for both; its type code tells a bool ("c") from an integer.
        case .int: ok = (value as? NSNumber).map { ["q", "i", "l", "s", "Q"].contains(String(cString: $0.objCType)) } ?? false
        case .bool: ok = (value as? NSNumber).map { String(cString: $0.objCType) == "c" } ?? false
        case .array: ok = value is [Any]
        case .object: ok = value is [String: Any]
        case .nullableString: ok = value is NSNull || value is String
        case .nullableInt: ok = value is NSNull || value is NSNumber
        case .nullableObject: ok = value is NSNull || value is [String: Any]
        }
        XCTAssertTrue(ok, "\(at): expected \(kind), got \(String(describing: value))", file: file, line: line)
    }

    private func object(_ text: String) throws -> [String: Any] {
        try XCTUnwrap(JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed]) as? [String: Any], text)
    }

    private func keys(_ o: [String: Any], _ expected: [String: Kind], _ at: String) {
        XCTAssertEqual(Set(o.keys), Set(expected.keys), "\(at): keys")
        for (k, kind) in expected { check(o[k], kind, "\(at).\(k)") }
    }

    func testRotateShipAndSnapshotPrintTheDocumentedSchemas() throws {
        let f = try ReplicaCLIFixture("json-output")
        try f.master.exec("CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT); INSERT INTO t VALUES (1, 'a'); INSERT INTO t VALUES (2, 'b');")
        let csv = f.dir.sub("rows.csv")
        try "id,v\n3,c\n4,d\n5,e\n".write(toFile: csv, atomically: true, encoding: .utf8)
        let load = try ToolRunner.run("binlog-writer", ["load", f.master.path, "-t", "t", csv, "--batch", "2", "--json"])
        XCTAssertEqual(load.status, 0, load.stderr)
        let loaded = try object(load.stdout)
        keys(loaded, ["table": .string, "rows": .int, "transactions": .int, "firstLSN": .nullableInt, "lastLSN": .nullableInt], "load")
        XCTAssertEqual([loaded["rows"] as? Int, loaded["transactions"] as? Int], [3, 2])
        XCTAssertEqual([loaded["firstLSN"] as? Int, loaded["lastLSN"] as? Int], [4, 5])
        let rotate = try ToolRunner.run("binlog-writer", ["rotate", f.master.path, "--json"])
        XCTAssertEqual(rotate.status, 0, rotate.stderr)
        let sealed = try XCTUnwrap(try object(rotate.stdout)["sealed"] as? [String: Any], rotate.stdout)
        keys(sealed, ["segment": .string, "lastLSN": .int, "transactions": .int], "rotate.sealed")
        XCTAssertEqual(sealed["transactions"] as? Int, 5)
        let again = try ToolRunner.run("binlog-writer", ["rotate", f.master.path, "--json"])
        XCTAssertTrue(try object(again.stdout)["sealed"] is NSNull, again.stdout)
        let quiet = try ToolRunner.run("binlog-writer", ["rotate", f.master.path, "--quiet"])
        XCTAssertEqual([quiet.status.description, quiet.stdout, quiet.stderr], ["0", "", ""])

        let ship = try ToolRunner.run("binlog-ship", ["--source", f.master.path, "--target", "a=" + f.inbox, "--json"])
        XCTAssertEqual(ship.status, 0, ship.stderr)
        let run = try object(ship.stdout)
        keys(run, ["targets": .array, "sourceError": .nullableString], "ship")
        let target = try XCTUnwrap((run["targets"] as? [[String: Any]])?.first, ship.stdout)
        keys(target, ["name": .string, "path": .string, "shipped": .array, "alreadyPresent": .array, "removed": .array,
                      "partial": .nullableString, "lastSegment": .nullableString, "lastLSN": .nullableInt, "error": .nullableString], "ship.targets[0]")
        XCTAssertEqual(target["shipped"] as? [String], [sealed["segment"] as? String ?? "?"])

        let apply = try f.apply("--json")
        XCTAssertEqual(apply.status, 0, apply.stderr)
        let applied = try object(apply.stdout)
        keys(applied, ["fromLSN": .int, "toLSN": .int, "transactions": .int, "events": .int, "lastCommitTime": .nullableString, "stop": .string], "apply")
        XCTAssertEqual(applied["transactions"] as? Int, 5)
        check(applied["lastCommitTime"], .string, "apply.lastCommitTime")
        let idle = try object(try f.apply("--json").stdout)
        XCTAssertEqual(idle["transactions"] as? Int, 0)
        let check = try f.tool(["check", f.replica, "--max-lag", "1h", "--json"])
        XCTAssertEqual(check.status, 0, check.stderr)
        let verdict = try object(check.stdout)
        keys(verdict, ["ok": .bool, "appliedLSN": .int, "pending": .int, "lagSeconds": .nullableInt, "maxLagSeconds": .nullableInt, "problems": .array], "check")
        XCTAssertEqual(verdict["ok"] as? Bool, true)
        XCTAssertEqual(verdict["maxLagSeconds"] as? Double, 3600)
        let quietCheck = try f.tool(["check", f.replica, "--max-lag", "1h", "--quiet"])
        XCTAssertEqual([quietCheck.status.description, quietCheck.stdout, quietCheck.stderr], ["0", "", ""])
        let snap = try f.tool(["snapshot", f.replica, "--json"])
        XCTAssertEqual(snap.status, 0, snap.stderr)
        let s = try object(snap.stdout)
        keys(s, ["snapshot": .object, "deleted": .array, "uploaded": .nullableString], "snapshot")
        keys(try XCTUnwrap(s["snapshot"] as? [String: Any]), ["path": .string, "lsn": .int, "commitTime": .string, "bytes": .int, "created": .bool], "snapshot.snapshot")
        let quietSnap = try f.tool(["snapshot", f.replica, "--quiet"])
        XCTAssertEqual([quietSnap.status.description, quietSnap.stdout, quietSnap.stderr], ["0", "", ""])
    }

    /// logship.yml's `ship: {config: ship.yml}` is the documented way to keep a ship.yml: the run
    /// ships the ship.yml's targets whether the deployment file comes from --config or LOGSHIP_CONFIG.
    func testShipReadsItsShipYmlThroughTheDeploymentFile() throws {
        let f = try ReplicaCLIFixture("json-ship-config")
        try f.master.exec("CREATE TABLE t(id INTEGER PRIMARY KEY); INSERT INTO t VALUES (1);")
        try f.master.rotate()
        let shipYml = f.dir.sub("ship.yml"), deployment = f.dir.sub("logship.yml")
        try "source: \(f.master.path)\ntargets:\n  - name: a\n    path: \(f.inbox)\n".write(toFile: shipYml, atomically: true, encoding: .utf8)
        try "ship:\n  config: \(shipYml)\n  json: true\n".write(toFile: deployment, atomically: true, encoding: .utf8)
        var env = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("LOGSHIP_") }
        env["LOGSHIP_CONFIG"] = deployment
        let first = try ToolRunner.run("binlog-ship", [], environment: env)
        XCTAssertEqual(first.status, 0, first.stderr)
        let target = try XCTUnwrap((try object(first.stdout)["targets"] as? [[String: Any]])?.first, first.stdout)
        XCTAssertEqual(target["name"] as? String, "a")
        XCTAssertEqual((target["shipped"] as? [String])?.count, 1, first.stdout)
        env["LOGSHIP_CONFIG"] = ""
        let second = try ToolRunner.run("binlog-ship", ["--config", deployment], environment: env)
        XCTAssertEqual(second.status, 0, second.stderr)
        let again = try XCTUnwrap((try object(second.stdout)["targets"] as? [[String: Any]])?.first, second.stdout)
        XCTAssertEqual((again["shipped"] as? [String])?.count, 0, second.stdout)
        XCTAssertEqual(again["lastSegment"] as? String, target["lastSegment"] as? String)
        // The cron commands' --quiet: nothing on stdout or stderr when all is well.
        let check = try ToolRunner.run("binlog-ship", ["check", "--config", shipYml, "--max-lag", "1h", "--quiet"], environment: env)
        let purge = try ToolRunner.run("binlog-ship", ["purge", "--config", shipYml, "--older-than", "0", "--confirm", "--quiet"], environment: env)
        for r in [check, purge] { XCTAssertEqual([r.status.description, r.stdout, r.stderr], ["0", "", ""]) }
    }
}
