import BinlogApply
import BinlogFormat
import BinlogMaster
import Foundation
import GRDB
import LogshipTestSupport
import XCTest

/// `Master.load`: rows from CSV or JSON Lines, in batches, each batch one LSN.
final class LoadTests: XCTestCase {
    private let table = "CREATE TABLE people(id INTEGER PRIMARY KEY, name TEXT, note TEXT, amount REAL)"

    func testCSVLoadsInBatchesOfThree() throws {
        let f = try MasterFixture("load-csv")
        let m = f.master
        try m.execute(table)
        let csv = f.dir.sub("people.csv")
        try writeFile(csv, #"""
            id,name,note,amount
            1,Alice,"hello, world",10
            2,Bjørn,"two
            lines",
            3,,"quote ""inside""",3.5
            4,日本語,plain,7
            5,Zoë,,8
            6,Émile,"a,b,c",-1.25
            7,last,y,0

            """#)
        var source = try CSVRowSource(path: csv)
        XCTAssertEqual(source.columns, ["id", "name", "note", "amount"])
        var progress: [Int] = []
        let result = try m.load(table: "people", from: &source, batchSize: 3, progress: { progress.append($0) })
        XCTAssertEqual(result.rows, 7)
        XCTAssertEqual(result.transactions, 3, "7 rows in batches of 3 make ceil(7/3) = 3 transactions")
        XCTAssertEqual(result.firstLSN, 2)
        XCTAssertEqual(result.lastLSN, 4)
        XCTAssertEqual(progress.last, 7)
        XCTAssertEqual(m.lastLSN, 4)
        XCTAssertEqual(try f.transactions().dropFirst().map(\.labels), [
            ["insert people", "insert people", "insert people"],
            ["insert people", "insert people", "insert people"],
            ["insert people"],
        ])
        let rows = try m.read { db in
            try Row.fetchAll(db, sql: "SELECT id, name, note, amount, typeof(amount) FROM people ORDER BY id").map(\.description)
        }
        XCTAssertEqual(rows, [
            "[id:1 name:\"Alice\" note:\"hello, world\" amount:10.0 typeof(amount):\"real\"]",
            "[id:2 name:\"Bjørn\" note:\"two\\nlines\" amount:NULL typeof(amount):\"null\"]",
            "[id:3 name:NULL note:\"quote \\\"inside\\\"\" amount:3.5 typeof(amount):\"real\"]",
            "[id:4 name:\"日本語\" note:\"plain\" amount:7.0 typeof(amount):\"real\"]",
            "[id:5 name:\"Zoë\" note:NULL amount:8.0 typeof(amount):\"real\"]",
            "[id:6 name:\"Émile\" note:\"a,b,c\" amount:-1.25 typeof(amount):\"real\"]",
            "[id:7 name:\"last\" note:\"y\" amount:0.0 typeof(amount):\"real\"]",
        ])
        try f.assertReplayEquals()
    }

    func testJSONLinesLoad() throws {
        let f = try MasterFixture("load-jsonl")
        let m = f.master
        try m.execute("CREATE TABLE events(id INTEGER PRIMARY KEY, kind TEXT, ok, score, tags TEXT)")
        let jsonl = f.dir.sub("events.jsonl")
        try writeFile(jsonl, """
            {"id": 1, "kind": "signup", "ok": true, "score": 1.5, "tags": ["a", "b"]}
            {"id": 2, "kind": "Ünïcode \\u00e9 ✓", "score": null}

            {"id": 3, "kind": "comma, \\"quoted\\"", "ok": false, "score": 9223372036854775807, "tags": {"k": 1}}
            {"id": 4}
            {"id": 5, "kind": "last", "score": -2}
            """)
        var source = try JSONLinesRowSource(path: jsonl)
        XCTAssertEqual(source.columns, ["id", "kind", "ok", "score", "tags"])
        let result = try m.load(table: "events", from: &source, batchSize: 3)
        XCTAssertEqual(result.rows, 5)
        XCTAssertEqual(result.transactions, 2)
        XCTAssertEqual(result.firstLSN, 2)
        XCTAssertEqual(result.lastLSN, 3)
        let rows = try m.read { db in
            try Row.fetchAll(db, sql: "SELECT id, kind, ok, score, typeof(score), tags FROM events ORDER BY id").map(\.description)
        }
        XCTAssertEqual(rows, [
            "[id:1 kind:\"signup\" ok:1 score:1.5 typeof(score):\"real\" tags:\"[\\\"a\\\",\\\"b\\\"]\"]",
            "[id:2 kind:\"Ünïcode é ✓\" ok:NULL score:NULL typeof(score):\"null\" tags:NULL]",
            "[id:3 kind:\"comma, \\\"quoted\\\"\" ok:0 score:9223372036854775807 typeof(score):\"integer\" tags:\"{\\\"k\\\":1}\"]",
            "[id:4 kind:NULL ok:NULL score:NULL typeof(score):\"null\" tags:NULL]",
            "[id:5 kind:\"last\" ok:NULL score:-2 typeof(score):\"integer\" tags:NULL]",
        ])
        try f.assertReplayEquals()
    }

    func testCSVRowWithWrongFieldCountStopsTheLoadAndKeepsEarlierBatches() throws {
        let f = try MasterFixture("load-csv-bad")
        let m = f.master
        try m.execute(table)
        let csv = f.dir.sub("bad.csv")
        try writeFile(csv, """
            id,name,note,amount
            1,a,x,1
            2,b,x,2
            3,c,x,3
            4,d,x,4
            5,e,x
            6,f,x,6
            """)
        var source = try CSVRowSource(path: csv)
        expectMasterError(.input, containing: ["line 6", "3 fields", "4"]) {
            try m.load(table: "people", from: &source, batchSize: 3)
        }
        XCTAssertEqual(m.lastLSN, 2, "only the first batch may be committed")
        XCTAssertEqual(try m.read { db in try Int.fetchAll(db, sql: "SELECT id FROM people ORDER BY id") }, [1, 2, 3])
        XCTAssertFalse(try m.read { db in db.isInsideTransaction })
        try f.assertReplayEquals()
    }

    func testConstraintViolationNamesTheLineAndKeepsEarlierBatches() throws {
        let f = try MasterFixture("load-notnull")
        let m = f.master
        try m.execute("CREATE TABLE people(id INTEGER PRIMARY KEY, name TEXT NOT NULL, note TEXT, amount REAL)")
        let csv = f.dir.sub("nulls.csv")
        try writeFile(csv, """
            id,name,note,amount
            1,a,x,1
            2,b,x,2
            3,c,x,3
            4,d,x,4
            5,,x,5
            6,f,x,6
            7,g,x,7
            """)
        var source = try CSVRowSource(path: csv)
        let error = expectMasterError(.sql, containing: ["line 6", "NOT NULL", "people.name"]) {
            try m.load(table: "people", from: &source, batchSize: 3)
        }
        XCTAssertNotNil(error?.hint)
        XCTAssertTrue(error?.hint?.contains("LSN 2") ?? false, "the hint should name the last committed LSN: \(String(describing: error?.hint))")
        XCTAssertEqual(m.lastLSN, 2)
        XCTAssertEqual(try m.read { db in try Int.fetchAll(db, sql: "SELECT id FROM people ORDER BY id") }, [1, 2, 3])
        try f.assertReplayEquals()
    }

    func testJSONLinesBadLineNamesTheLine() throws {
        let f = try MasterFixture("load-jsonl-bad")
        let m = f.master
        try m.execute(table)
        let jsonl = f.dir.sub("bad.jsonl")
        try writeFile(jsonl, """
            {"id": 1, "name": "a"}
            {"id": 2, "name": "b"}
            {"id": 3, "name": "c"}
            {"id": 4, "name": "d"}
            [not an object]
            {"id": 6, "name": "f"}
            """)
        var source = try JSONLinesRowSource(path: jsonl)
        expectMasterError(.input, containing: ["line 5"]) { try m.load(table: "people", from: &source, batchSize: 3) }
        XCTAssertEqual(try m.read { db in try Int.fetchAll(db, sql: "SELECT id FROM people ORDER BY id") }, [1, 2, 3])

        try writeFile(jsonl, "{\"id\": 10, \"name\": \"a\"}\n{\"id\": 11, \"nickname\": \"b\"}\n")
        var unknownKey = try JSONLinesRowSource(path: jsonl)
        expectMasterError(.input, containing: ["line 2", "nickname"]) { try m.load(table: "people", from: &unknownKey, batchSize: 3) }
        XCTAssertEqual(m.lastLSN, 2)
        try f.assertReplayEquals()
    }

    func testLoadRefusesUnknownTablesAndColumns() throws {
        let f = try MasterFixture("load-refuse")
        let m = f.master
        try m.execute(table)
        let csv = f.dir.sub("x.csv")
        try writeFile(csv, "id,colour\n1,red\n")
        var source = try CSVRowSource(path: csv)
        expectMasterError(.invalid, containing: ["no such table: nope"]) { try m.load(table: "nope", from: &source) }
        expectMasterError(.input, containing: ["colour"]) { try m.load(table: "people", from: &source) }
        expectMasterError(.notFound) { try CSVRowSource(path: f.dir.sub("missing.csv")) }
        XCTAssertEqual(m.lastLSN, 1)
    }

    /// JSON Lines stored 18446744073709551615 as -1 and 12345678901234567890 as a wrong
    /// negative integer (NSNumber.int64Value wraps). Integers beyond 64 bits load as REAL, as
    /// SQLite's own JSON functions read them; CSV leaves the conversion to SQLite's affinity.
    func testIntegersBeyond64BitsLoadAsRealNeverWrapped() throws {
        let f = try MasterFixture("load-big-integers")
        try f.master.execute("CREATE TABLE n(id INTEGER PRIMARY KEY, v INTEGER, w)")
        let numbers = ["18446744073709551615", "12345678901234567890", "9223372036854775807", "-9223372036854775808",
                       "9223372036854775808", "-9223372036854775809", "100000000000000000000000000000", "42",
                       "-9223372036854775807", "12345678901234567.0", "-1.5"]
        let jsonl = f.dir.sub("n.jsonl")
        try writeFile(jsonl, numbers.enumerated().map { "{\"id\": \($0.offset + 1), \"v\": \($0.element), \"w\": \($0.element)}" }.joined(separator: "\n") + "\n")
        var json = try JSONLinesRowSource(path: jsonl)
        try f.master.load(table: "n", from: &json)
        let csv = f.dir.sub("n.csv")
        try writeFile(csv, "id,v,w\n" + numbers.enumerated().map { "\($0.offset + 101),\($0.element),\($0.element)" }.joined(separator: "\n") + "\n")
        var rows = try CSVRowSource(path: csv)
        try f.master.load(table: "n", from: &rows)
        let loaded = try f.master.read { db in
            try Row.fetchAll(db, sql: "SELECT id, v, typeof(v), w, typeof(w) FROM n ORDER BY id").map { row in "\(row[0] as Int) \(row[1] as DatabaseValue) \(row[2] as String) \(row[3] as DatabaseValue) \(row[4] as String)" }
        }
        // The oracle: plain SQLite reading the same text with its JSON functions (JSON Lines) and
        // binding it as text (CSV), into the same table.
        let plain = try DatabaseQueue()
        let expected = try plain.write { db in
            try db.execute(sql: "CREATE TABLE n(id INTEGER PRIMARY KEY, v INTEGER, w)")
            for (i, text) in numbers.enumerated() {
                try db.execute(sql: "INSERT INTO n VALUES (?1, json_extract(?2, '$'), json_extract(?2, '$'))", arguments: [i + 1, text])
                try db.execute(sql: "INSERT INTO n VALUES (?1, ?2, ?2)", arguments: [i + 101, text])
            }
            return try Row.fetchAll(db, sql: "SELECT id, v, typeof(v), w, typeof(w) FROM n ORDER BY id").map { row in "\(row[0] as Int) \(row[1] as DatabaseValue) \(row[2] as String) \(row[3] as DatabaseValue) \(row[4] as String)" }
        }
        XCTAssertEqual(loaded, expected)
        XCTAssertEqual(loaded.first, "1 1.8446744073709552e+19 real 1.8446744073709552e+19 real")
        XCTAssertFalse(loaded.contains { $0.contains(" -1 ") || $0.contains("-6101065172474983726") }, "\(loaded)")
        try f.assertReplayEquals()
    }
}
