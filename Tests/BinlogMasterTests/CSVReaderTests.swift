@testable import BinlogMaster
import Foundation
import GRDB
import LogshipTestSupport
import XCTest

/// The byte-level CSV reader behind `binlog-writer load`: RFC 4180 quoting, line endings,
/// chunk boundaries, line numbers in errors.
final class CSVReaderTests: XCTestCase {
    private let dir = TestDirectory("csv")

    /// Every record of `path`, as field strings with the line each record starts on.
    private func records(_ path: String, chunkSize: Int) throws -> [(line: Int, fields: [[UInt8]])] {
        let reader = try CSVRecordReader(path: path, chunkSize: chunkSize)
        var result: [(Int, [[UInt8]])] = []
        while try reader.next() {
            result.append((reader.recordLine, (0..<reader.fieldCount).map { Array(reader.field($0)) }))
        }
        return result
    }

    func testSeededRandomRoundTrip() throws {
        var rng = suiteRandom(0xC5F_2026)
        let seed = rng.seed
        let pieces = ["a", "Zoë", "日本語", "☕", "😀", " ", ",", "\"", "\"\"", "\n", "\r\n", "\r", "x y", "12.50", "-3", "'"]
        for file in 0..<40 {
            let lineEnd = ["\n", "\r\n", "\r"][Int.random(in: 0...2, using: &rng)]
            let bom = Bool.random(using: &rng)
            let finalNewline = Bool.random(using: &rng)
            let width = Int.random(in: 1...6, using: &rng)
            var expected: [(line: Int, fields: [String])] = []
            var text = bom ? "\u{FEFF}" : ""
            var line = 1
            let count = Int.random(in: 1...60, using: &rng)
            for r in 0..<count {
                let fields = (0..<width).map { _ -> String in
                    (0..<Int.random(in: 0...4, using: &rng)).map { _ in pieces.randomElement(using: &rng)! }.joined()
                }
                expected.append((line, fields))
                let isLast = r == count - 1
                let rendered = fields.map { f -> String in
                    let quote = f.unicodeScalars.contains { ",\"\r\n".unicodeScalars.contains($0) }
                        || (isLast && !finalNewline && width == 1 && f.isEmpty)
                    return quote ? "\"" + f.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : f
                }
                text += rendered.joined(separator: ",")
                // Lines as an editor counts them: LF, CRLF and lone CR each end one.
                line += lineBreaks(rendered.joined()) + 1
                if !isLast || finalNewline { text += lineEnd }
            }
            let path = dir.sub("random-\(file).csv")
            try Data(text.utf8).write(to: URL(fileURLWithPath: path))
            for chunkSize in [4, 5, 7, 64, 256 << 10] {
                let got = try records(path, chunkSize: chunkSize)
                let context = "seed \(seed) (LOGSHIP_SEED=\(seed) to replay), file \(file), chunk size \(chunkSize), line end \(lineEnd.debugDescription), BOM \(bom)"
                XCTAssertEqual(got.count, expected.count, context)
                for (g, e) in zip(got, expected) {
                    XCTAssertEqual(g.fields.map { String(decoding: $0, as: UTF8.self) }, e.fields, context)
                    XCTAssertEqual(g.fields.map { $0.count }, e.fields.map { $0.utf8.count }, context)
                    XCTAssertEqual(g.line, e.line, "record line; \(context)")
                }
                if got.count != expected.count { return }
            }
        }
    }

    /// Line breaks in `text`, counting CRLF once.
    private func lineBreaks(_ text: String) -> Int {
        var n = 0
        var afterCR = false
        for b in text.utf8 {
            if b == 13 || (b == 10 && !afterCR) { n += 1 }
            afterCR = b == 13
        }
        return n
    }

    func testUTF8ValidationAgreesWithTheStandardLibrary() {
        var rng = suiteRandom(0x0DF8_2026)
        let seed = rng.seed
        // Bytes near the edges of the UTF-8 table (overlongs, surrogates, > U+10FFFF, stray continuations).
        let interesting: [UInt8] = [0x00, 0x41, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xC1, 0xC2, 0xDF, 0xE0, 0xE1,
                                    0xEC, 0xED, 0xEE, 0xEF, 0xF0, 0xF1, 0xF3, 0xF4, 0xF5, 0xFF]
        for _ in 0..<20_000 {
            let bytes = (0..<Int.random(in: 0...6, using: &rng)).map { _ in
                Bool.random(using: &rng) ? interesting.randomElement(using: &rng)! : UInt8.random(in: 0...255, using: &rng)
            }
            let expected = String(validating: bytes, as: UTF8.self) != nil
            let got = bytes.withUnsafeBufferPointer(isValidUTF8)
            XCTAssertEqual(got, expected, "bytes \(bytes.map { String($0, radix: 16) }); seed \(seed) (LOGSHIP_SEED=\(seed) to replay)")
            if got != expected { return }
        }
    }

    func testQuotingAndLineEndings() throws {
        let path = dir.sub("edge.csv")
        try Data("\u{FEFF}a,b,c\r\n\"x, \"\"y\"\"\",,\"\"\r\n\"multi\nline\",2,\"\"\"\"\rplain\"quote,\"\",z".utf8).write(to: URL(fileURLWithPath: path))
        let got = try records(path, chunkSize: 3)
        XCTAssertEqual(got.map(\.line), [1, 2, 3, 5])
        XCTAssertEqual(got.map { $0.fields.map { String(decoding: $0, as: UTF8.self) } }, [
            ["a", "b", "c"],
            ["x, \"y\"", "", ""],
            ["multi\nline", "2", "\""],
            ["plain\"quote", "", "z"],
        ])
    }

    func testEmptyFieldsLoadAsNullAndHeaderIsRequired() throws {
        let path = dir.sub("nulls.csv")
        try Data("id,name\n1,\n2,\"\"\n3,c".utf8).write(to: URL(fileURLWithPath: path))
        var source = try CSVRowSource(path: path)
        XCTAssertEqual(source.columns, ["id", "name"])
        var rows: [[DatabaseValue]] = []
        while let row = try source.next() { rows.append(row) }
        XCTAssertEqual(rows, [["1".databaseValue, .null], ["2".databaseValue, .null], ["3".databaseValue, "c".databaseValue]])

        for (name, text) in [("empty", ""), ("blank-name", "id,,note\n1,2,3\n"), ("bom-only", "\u{FEFF}")] {
            let p = dir.sub(name + ".csv")
            try Data(text.utf8).write(to: URL(fileURLWithPath: p))
            expectMasterError(.input, containing: ["first line must name the columns"], name) { try CSVRowSource(path: p) }
        }
    }

    func testBadInputNamesTheLine() throws {
        let cases: [(String, String, [String])] = [
            ("unclosed", "id,note\n1,ok\n2,\"never\nclosed\n", ["line 3", "never closed"]),
            ("after-quote", "id,note\n1,\"a\nb\"c\n", ["line 3", "closing quote"]),
            ("width", "id,note\n1,\"two\nlines\"\n2\n", ["line 4", "1 fields", "header has 2"]),
            ("utf8", "id,note\n1,ok\n2,\u{FFFD}\n", ["line 3", "field 2", "UTF-8"]),
        ]
        for (name, text, expected) in cases {
            let p = dir.sub(name + ".csv")
            var bytes = Array(text.utf8)
            if name == "utf8", let i = bytes.firstIndex(of: 0xEF) { bytes.replaceSubrange(i..<i + 3, with: [0xC3, 0x28]) }
            try Data(bytes).write(to: URL(fileURLWithPath: p))
            var source = try CSVRowSource(path: p)
            expectMasterError(.input, containing: expected, name) { while try source.next() != nil {} }
        }
    }
}
