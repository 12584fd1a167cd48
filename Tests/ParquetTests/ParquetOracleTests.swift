import Foundation
import LogshipTestSupport
@testable import Parquet
import XCTest

/// Files written by `ParquetWriter` read back by two independent readers, pyarrow and DuckDB
/// (PyPI, installed by tools/test): every cell, the types each reader sees, the statistics
/// and the encodings. Skipped, with the reason, only where python cannot import them.
final class ParquetOracleTests: XCTestCase {
    static let allKinds: [ParquetColumn] = [
        ParquetColumn("id", .int64, nullable: false), ParquetColumn("n", .int64), ParquetColumn("x", .double),
        ParquetColumn("flag", .boolean), ParquetColumn("name", .string), ParquetColumn("raw", .binary),
        ParquetColumn("day", .date), ParquetColumn("at", .timestampMicros), ParquetColumn("category", .string),
    ]

    override func setUpWithError() throws {
        if let reason = PythonOracle.unavailableReason { throw XCTSkip(reason) }
    }

    /// Random rows over every kind: NULLs, non-ASCII text (and a NUL inside), empty strings,
    /// BLOBs with every byte, integer extremes, several row groups and pages per group.
    func testEveryKindNullsNonASCIIAndBlobsReadBackExactly() throws {
        var rng = SeededRandom()
        let rows = (0..<700).map { Self.randomRow($0, &rng) }
        var options = ParquetWriter.Options()
        options.rowGroupRows = 256
        options.pageRows = 50
        let out = try write(rows, Self.allKinds, options, label: "kinds")
        let message = "seed \(rng.seed) (LOGSHIP_SEED=\(rng.seed) replays)"
        try assertCells(out.result, rows, message)
        XCTAssertEqual(out.result["pyarrowTypes"] as? [String],
                       ["int64", "int64", "double", "bool", "string", "binary", "date32[day]", "timestamp[us, tz=UTC]", "string"], message)
        XCTAssertEqual(out.result["duckdbTypes"] as? [String],
                       ["BIGINT", "BIGINT", "DOUBLE", "BOOLEAN", "VARCHAR", "BLOB", "DATE", "TIMESTAMP WITH TIME ZONE", "VARCHAR"], message)
        XCTAssertEqual(out.result["nullable"] as? [Bool], [false] + Array(repeating: true, count: 8), message)
        XCTAssertEqual(out.result["rowGroups"] as? [Int], [256, 256, 188], message)
        try assertStatistics(out.result, rows, groupRows: 256, columns: Self.allKinds.count, message)
        // category has 5 values: a dictionary; id is all distinct: plain.
        let encodings = try XCTUnwrap(out.result["encodings"] as? [[String]])
        XCTAssertEqual(encodings[8], ["PLAIN", "RLE", "RLE_DICTIONARY"], message)
        XCTAssertEqual(encodings[0], ["PLAIN", "RLE"], message)
        XCTAssertEqual(out.result["codecs"] as? [String], ["SNAPPY"], message)
    }

    func testEmptyFileHasTheSchemaAndNoRows() throws {
        let out = try write([], Self.allKinds, ParquetWriter.Options(), label: "empty")
        XCTAssertEqual((out.result["pyarrow"] as? [[Any]])?.map(\.count), Array(repeating: 0, count: 9))
        XCTAssertEqual((out.result["duckdb"] as? [[Any]])?.map(\.count), Array(repeating: 0, count: 9))
        XCTAssertEqual(out.result["rowGroups"] as? [Int], [])
        XCTAssertEqual(out.result["duckdbTypes"] as? [String],
                       ["BIGINT", "BIGINT", "DOUBLE", "BOOLEAN", "VARCHAR", "BLOB", "DATE", "TIMESTAMP WITH TIME ZONE", "VARCHAR"])
    }

    /// A column that is NULL in every row, and one NULL in none, through dictionary and plain,
    /// in uncompressed pages.
    func testAllNullAndNoNullColumnsUncompressed() throws {
        let columns = [ParquetColumn("a", .string), ParquetColumn("b", .int64), ParquetColumn("c", .double)]
        let rows: [[ParquetValue]] = (0..<40).map { [.null, .int64(Int64($0 % 3)), $0 % 2 == 0 ? .null : .double(Double($0) / 4)] }
        var options = ParquetWriter.Options()
        options.compression = .uncompressed
        let out = try write(rows, columns, options, label: "nulls")
        XCTAssertEqual(out.result["codecs"] as? [String], ["UNCOMPRESSED"])
        try assertCells(out.result, rows, "")
        try assertStatistics(out.result, rows, groupRows: 40, columns: 3, "")
    }

    /// 150,000 rows in row groups of 32,768: DuckDB's aggregates equal the ones computed here.
    func testLargeFileInSeveralRowGroups() throws {
        let dir = TestDirectory("parquet-large")
        let path = dir.sub("large.parquet")
        var options = ParquetWriter.Options()
        options.rowGroupRows = 32_768
        let w = try ParquetWriter(path: path, columns: [ParquetColumn("id", .int64, nullable: false), ParquetColumn("cat", .string),
                                                        ParquetColumn("cents", .int64)], options: options)
        var sum: Int64 = 0, nulls = 0
        for i in 0..<150_000 {
            let cents: ParquetValue = i % 7 == 0 ? .null : .int64(Int64(i % 10_007) * 3)
            if case .int64(let c) = cents { sum += c } else { nulls += 1 }
            try w.append([.int64(Int64(i)), .bytes(Array("catégorie \(i % 40)".utf8)), cents])
        }
        try w.close()
        XCTAssertEqual(w.rowGroupCount, 5)
        let r = try PythonOracle.json("""
            import sys, json, duckdb, pyarrow.parquet as pq
            c = duckdb.connect()
            row = c.execute("SELECT count(*), sum(cents), count(cents), sum(id), count(DISTINCT cat), max(cat) FROM read_parquet($1)", [sys.argv[1]]).fetchone()
            print(json.dumps([int(x) if not isinstance(x, str) else x for x in row] + [pq.ParquetFile(sys.argv[1]).metadata.num_row_groups]))
            """, [path]) as? [Any]
        XCTAssertEqual(r?.count, 7)
        XCTAssertEqual(r?[0] as? Int, 150_000)
        XCTAssertEqual(r?[1] as? Int, Int(sum))
        XCTAssertEqual(r?[2] as? Int, 150_000 - nulls)
        XCTAssertEqual(r?[3] as? Int, 149_999 * 150_000 / 2)
        XCTAssertEqual(r?[4] as? Int, 40)
        XCTAssertEqual(r?[5] as? String, "catégorie 9")
        XCTAssertEqual(r?[6] as? Int, 5)
    }

    // MARK: helpers

    struct Written { var path: String; var result: [String: Any]; var dir: TestDirectory }

    func write(_ rows: [[ParquetValue]], _ columns: [ParquetColumn], _ options: ParquetWriter.Options, label: String) throws -> Written {
        let dir = TestDirectory("parquet-\(label)")
        let path = dir.sub("t.parquet")
        let w = try ParquetWriter(path: path, columns: columns, options: options)
        for r in rows { try w.append(r) }
        try w.close()
        let result = try XCTUnwrap(PythonOracle.json(OracleScripts.readBoth, [path]) as? [String: Any])
        return Written(path: path, result: result, dir: dir)
    }

    func assertCells(_ result: [String: Any], _ rows: [[ParquetValue]], _ message: String, file: StaticString = #filePath, line: UInt = #line) throws {
        for reader in ["pyarrow", "duckdb"] {
            let cols = try XCTUnwrap(result[reader] as? [[Any]], reader)
            for (c, col) in cols.enumerated() {
                XCTAssertEqual(col.count, rows.count, "\(reader) column \(c) \(message)", file: file, line: line)
                for (r, cell) in col.enumerated() where r < rows.count {
                    let want = rows[r][c].token
                    if !((want as? NSObject)?.isEqual(cell) ?? false) {
                        XCTFail("\(reader) row \(r) column \(c): \(cell) != \(want) \(message)", file: file, line: line)
                        return
                    }
                }
            }
        }
    }

    /// Per row group and column: null_count, min and max as pyarrow reads them.
    func assertStatistics(_ result: [String: Any], _ rows: [[ParquetValue]], groupRows: Int, columns: Int, _ message: String) throws {
        let stats = try XCTUnwrap(result["stats"] as? [[Any]])
        var k = 0
        for start in stride(from: 0, to: rows.count, by: groupRows) {
            let group = rows[start..<min(rows.count, start + groupRows)]
            for c in 0..<columns {
                let values = group.map { $0[c] }.filter { $0 != .null }
                XCTAssertEqual(stats[k][0] as? Int, group.count - values.count, "null_count group \(start) column \(c) \(message)")
                let bounds = Self.bounds(values)
                XCTAssertEqual("\(stats[k][1])", "\(bounds.map { $0.min.token } ?? NSNull())", "min group \(start) column \(c) \(message)")
                XCTAssertEqual("\(stats[k][2])", "\(bounds.map { $0.max.token } ?? NSNull())", "max group \(start) column \(c) \(message)")
                k += 1
            }
        }
    }

    static func bounds(_ values: [ParquetValue]) -> (min: ParquetValue, max: ParquetValue)? {
        func less(_ a: ParquetValue, _ b: ParquetValue) -> Bool {
            switch (a, b) {
            case (.int64(let x), .int64(let y)): return x < y
            case (.int32(let x), .int32(let y)): return x < y
            case (.double(let x), .double(let y)): return x < y
            case (.boolean(let x), .boolean(let y)): return !x && y
            case (.bytes(let x), .bytes(let y)): return x.lexicographicallyPrecedes(y)
            default: return false
            }
        }
        guard let first = values.first else { return nil }
        return (values.reduce(first) { less($1, $0) ? $1 : $0 }, values.reduce(first) { less($0, $1) ? $1 : $0 })
    }

    static func randomRow(_ i: Int, _ rng: inout SeededRandom) -> [ParquetValue] {
        func maybe(_ v: ParquetValue) -> ParquetValue { Int.random(in: 0..<5, using: &rng) == 0 ? .null : v }
        let texts = ["", "plain", "café", "日本語のテキスト", "emoji 🧾", "a\u{0}b", "tab\tand\nnewline", "ümlaut ß"]
        let ints: [Int64] = [.min, .max, 0, -1, 1, Int64.random(in: -1_000_000...1_000_000, using: &rng)]
        let blob = (0..<Int.random(in: 0...40, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
        return [
            .int64(Int64(i)),
            maybe(.int64(ints.randomElement(using: &rng)!)),
            maybe(.double(Double(Int.random(in: -1_000_000...1_000_000, using: &rng)) / 64)),
            maybe(.boolean(Bool.random(using: &rng))),
            maybe(.bytes(Array(texts.randomElement(using: &rng)!.utf8))),
            maybe(.bytes(blob)),
            maybe(.int32(Int32.random(in: -25_000...50_000, using: &rng))),
            maybe(.int64(Int64.random(in: -60_000_000_000_000_000...250_000_000_000_000_000, using: &rng))),
            maybe(.bytes(Array(["food", "rent", "travel", "bücher", "其他"].randomElement(using: &rng)!.utf8))),
        ]
    }
}
