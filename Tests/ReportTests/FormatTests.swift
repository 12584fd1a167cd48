import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import GRDB
import LogshipTestSupport
@testable import Reports
import XCTest

/// Each format read back by an independent reader: an RFC 4180 parser written here, Foundation's
/// JSONSerialization, a Markdown pipe counter, and HTML checked for being self-contained.
final class FormatTests: XCTestCase {
    /// Awkward values: separators, quotes, both line ends, a lone CR, a leading '#' (the CSV
    /// comment marker of the freshness lines), pipes, backslashes, markup, non-ASCII.
    static let awkward = ["#1 Cabs", "a,b", "say \"hi\"", "two\r\nlines", "lf\nonly", "cr\ronly", "pipe | and \\| and \\", "<b>&amp;</b>",
                          "Zoë 東京 🚕", "tab\tand\u{1}control", "Room #12", " padded ", ""]

    private func awkwardStore(_ dir: TestDirectory) throws -> String {
        let store = try FixtureStore.create(at: dir.sub("store.db"), schema: "CREATE TABLE t (n INTEGER PRIMARY KEY, v TEXT)")
        let queue = try DatabaseQueue(path: store)
        defer { try? queue.close() }
        try queue.write { db in
            for (i, v) in Self.awkward.enumerated() { try db.execute(sql: "INSERT INTO t VALUES (?, ?)", arguments: [i, v]) }
        }
        return store
    }

    /// A strict RFC 4180 reader: records end with CRLF, quoted fields may hold anything with
    /// quotes doubled, an unquoted field holds no quote, CR or LF. Lines that start with '#'
    /// at a record boundary are the documented comment lines and are returned apart.
    static func parseCSV(_ text: String) throws -> (records: [[String]], comments: [String]) {
        struct Bad: Error, CustomStringConvertible { var description: String }
        var records: [[String]] = [], comments: [String] = []
        let s = Array(text.unicodeScalars)
        var i = 0
        func atEnd() -> Bool { i >= s.count }
        while !atEnd() {
            if s[i] == "#" {
                var line = ""
                while !atEnd() && !(s[i] == "\r" && i + 1 < s.count && s[i + 1] == "\n") {
                    guard s[i] != "\n" && s[i] != "\r" else { throw Bad(description: "bare line end in a comment at \(i)") }
                    line.unicodeScalars.append(s[i]); i += 1
                }
                guard !atEnd() else { throw Bad(description: "comment without CRLF") }
                i += 2
                comments.append(line)
                continue
            }
            var record: [String] = []
            while true {
                var field = ""
                if !atEnd() && s[i] == "\"" {
                    i += 1
                    while true {
                        guard !atEnd() else { throw Bad(description: "unterminated quoted field") }
                        if s[i] == "\"" {
                            if i + 1 < s.count && s[i + 1] == "\"" { field.unicodeScalars.append("\""); i += 2; continue }
                            i += 1
                            break
                        }
                        field.unicodeScalars.append(s[i]); i += 1
                    }
                } else {
                    while !atEnd() && s[i] != "," && s[i] != "\r" {
                        guard s[i] != "\"" && s[i] != "\n" else { throw Bad(description: "quote or bare LF in an unquoted field at scalar \(i): \(field)") }
                        field.unicodeScalars.append(s[i]); i += 1
                    }
                }
                record.append(field)
                guard !atEnd() else { throw Bad(description: "record without CRLF") }
                if s[i] == "," { i += 1; continue }
                guard s[i] == "\r", i + 1 < s.count, s[i + 1] == "\n" else { throw Bad(description: "expected CRLF at scalar \(i)") }
                i += 2
                break
            }
            records.append(record)
        }
        return (records, comments)
    }

    func testCSVIsRFC4180() throws {
        let dir = TestDirectory("format")
        let store = try awkwardStore(dir)
        // The awkward value first, where a leading '#' could pass for a comment; comment lines
        // asked for (by default there are none).
        let sql = "SELECT v AS \"value, \"\"quoted\"\"\", n FROM t ORDER BY n"
        XCTAssertEqual(try Self.parseCSV(try Render.query(store, sql, [:], .csv, in: dir)).comments, [])
        var withComments = CSVOptions()
        withComments.comments = true
        let s = try ReportStore(path: store, allowMaster: false)
        let text = try Render.text(.csv, in: dir, csv: withComments) { try CustomQuery.run(s, sql: sql, parameters: [:], to: $0) }
        let (records, comments) = try Self.parseCSV(text)
        XCTAssertEqual(comments.count, 3, "title, freshness, section: \(comments)")
        XCTAssertEqual(records.first, ["value, \"quoted\"", "n"])
        XCTAssertEqual(records.dropFirst().map { $0.first ?? "<none>" }, Self.awkward)
        XCTAssertEqual(records.dropFirst().map { $0.count > 1 ? $0[1] : "<none>" }, Self.awkward.indices.map(String.init))
        // Python's csv module agrees (a second, independent reader).
        let file = dir.sub("python.csv")
        try text.write(toFile: file, atomically: true, encoding: .utf8)
        let python = try ToolRunner.runSystem("/usr/bin/env", ["python3", "-c", """
            import csv, io, json, sys
            text = open(sys.argv[1], newline='', encoding='utf-8').read()
            rows = list(csv.reader(io.StringIO(text, newline=''), strict=True))
            print(json.dumps([r[0] for r in rows[4:]]))  # after title, freshness, section name, header
            """, file])
        if python.status == 0 {
            let values = try JSONSerialization.jsonObject(with: Data(python.stdout.utf8)) as? [String]
            XCTAssertEqual(values, Self.awkward, python.stderr)
        }
        // pandas with comment='#', as the README suggests, where pandas is installed: it cuts a
        // line at any unquoted '#', so the writer quotes every value holding one.
        let pandas = try ToolRunner.runSystem("/usr/bin/env", ["python3", "-c", """
            import json, sys
            import pandas as pd
            frame = pd.read_csv(sys.argv[1], comment='#', dtype=str, keep_default_na=False)
            print(json.dumps(list(frame.iloc[:, 0])))
            """, file])
        if pandas.status == 0 {
            XCTAssertEqual(try JSONSerialization.jsonObject(with: Data(pandas.stdout.utf8)) as? [String], Self.awkward, pandas.stderr)
        } else {
            print("FormatTests: pandas not available, its check skipped: \(pandas.stderr.suffix(120))")
        }
    }

    func testMonthlyCSVIsRFC4180() throws {
        let dir = TestDirectory("format")
        let store = try FixtureStore.golden(at: dir.sub("store.db"))
        let (records, comments) = try Self.parseCSV(try Render.monthly(store, .csv, in: dir))
        XCTAssertEqual(comments.count, 0)
        XCTAssertTrue(records.contains(["top-merchants", "", "", "GBP", "Line\nBreak Ltd", "1", "total", "19.99"]), "\(records)")
    }

    func testJSONParsesWithJSONSerialization() throws {
        let dir = TestDirectory("format")
        let store = try awkwardStore(dir)
        let text = try Render.query(store, "SELECT n, v, n / 2.0 AS half, NULL AS empty FROM t ORDER BY n", [:], .json, in: dir)
        let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        let rows = try XCTUnwrap(((object["sections"] as? [[String: Any]])?.first)?["rows"] as? [[String: Any]])
        XCTAssertEqual(rows.map { $0["v"] as? String }, Self.awkward)
        XCTAssertEqual(rows.map { $0["n"] as? Int }, Array(Self.awkward.indices))
        XCTAssertEqual(rows[3]["half"] as? Double, 1.5)
        XCTAssertTrue(rows[0]["empty"] is NSNull)
        // Reals that JSON cannot hold as numbers are text; the others round-trip exactly.
        let reals = try Render.query(store, "SELECT 0.1 AS a, 1e300 * 1e300 AS b, -2.5e-7 AS c, 1e20 AS d", [:], .json, in: dir)
        let r = try XCTUnwrap((((try JSONSerialization.jsonObject(with: Data(reals.utf8)) as? [String: Any])?["sections"] as? [[String: Any]])?.first?["rows"] as? [[String: Any]])?.first)
        XCTAssertEqual(r["a"] as? Double, 0.1)
        XCTAssertEqual(r["b"] as? String, "inf")
        XCTAssertEqual(r["c"] as? Double, -2.5e-7)
        XCTAssertEqual(r["d"] as? Double, 1e20)

        let golden = try FixtureStore.golden(at: dir.sub("golden.db"))
        let monthly = try JSONSerialization.jsonObject(with: Data(try Render.monthly(golden, .json, in: dir).utf8)) as? [String: Any]
        XCTAssertEqual((monthly?["sections"] as? [[String: Any]])?.map { $0["name"] as? String }, ["By month, category and currency", "Month totals", "Period totals", "Top merchants"])
    }

    func testMarkdownEscapesPipes() throws {
        let dir = TestDirectory("format")
        let store = try awkwardStore(dir)
        let text = try Render.query(store, "SELECT n, v AS \"a|b\" FROM t ORDER BY n", [:], .markdown, in: dir)
        let tableLines = text.components(separatedBy: "\n").filter { $0.hasPrefix("|") }
        XCTAssertEqual(tableLines.count, 2 + Self.awkward.count, "one line per row: line ends inside values are <br>\n\(text)")
        for line in tableLines {
            // Unescaped pipes: a pipe preceded by an even number of backslashes.
            var count = 0, backslashes = 0
            for c in line {
                if c == "|" && backslashes % 2 == 0 { count += 1 }
                backslashes = c == "\\" ? backslashes + 1 : 0
            }
            XCTAssertEqual(count, 3, "two columns → three cell borders: \(line)")
        }
        XCTAssertTrue(text.contains("| a\\|b |"), text)
        XCTAssertTrue(text.contains("| pipe \\| and \\\\\\| and \\\\ |"), text)
        XCTAssertTrue(text.contains("| two<br>lines |") && text.contains("| cr<br>only |"), text)
    }

    /// Self-contained: no scripts, no external references (the only "http" is the SVG
    /// namespace name, which is never fetched), a chart, and well-formed as XML apart from the
    /// doctype (checked with XMLParser).
    func testHTMLIsSelfContainedAndWellFormed() throws {
        let dir = TestDirectory("format")
        let store = try FixtureStore.golden(at: dir.sub("store.db"))
        let html = try Render.monthly(store, .html, in: dir)
        XCTAssertTrue(html.hasPrefix("<!DOCTYPE html>"))
        XCTAssertTrue(html.contains("<svg") && html.contains("</svg>"))
        for forbidden in ["<script", "<link", "src=", "href=", "url(", "@import", "<iframe", "<img"] {
            XCTAssertFalse(html.lowercased().contains(forbidden), forbidden)
        }
        let withoutNamespace = html.replacingOccurrences(of: "xmlns=\"http://www.w3.org/2000/svg\"", with: "")
        XCTAssertFalse(withoutNamespace.contains("http"), "no network reference")
        XCTAssertFalse(withoutNamespace.contains("//"), "no protocol-relative reference")
        let body = html.replacingOccurrences(of: "<!DOCTYPE html>", with: "").replacingOccurrences(of: "<meta charset=\"utf-8\">", with: "<meta charset=\"utf-8\"/>")
        let parser = XMLParser(data: Data(body.utf8))
        XCTAssertTrue(parser.parse(), "not well-formed: \(parser.parserError.map { "\($0)" } ?? "") line \(parser.lineNumber)")
        XCTAssertTrue(html.contains("&lt;Tesco &amp; Co&gt;"), "text is escaped")
        // A category has one colour in every chart, and a chart's legend lists only its own.
        func fill(_ category: String, _ currency: String) -> String? {
            guard let r = html.range(of: "fill=\"(#[0-9a-f]{6})\"><title>[0-9-]+ \(category): [0-9.]+ \(currency)</title>", options: .regularExpression) else { return nil }
            return String(html[r].dropFirst(6).prefix(7))
        }
        XCTAssertNotNil(fill("transport", "EUR"))
        XCTAssertEqual(fill("transport", "EUR"), fill("transport", "GBP"))
        XCTAssertNotEqual(fill("software", "GBP"), fill("groceries", "EUR"))
        let gbpChart = String(html[html.range(of: "Monthly totals by category, GBP</h2>")!.upperBound...].prefix { $0 != "\n" })
        XCTAssertTrue(gbpChart.contains("</i>software</span>") && !gbpChart.contains("</i>groceries</span>"), gbpChart)
        // The rotated month labels (10 px, 7 characters, at 45°) fit inside the picture.
        for svg in html.components(separatedBy: "<svg ").dropFirst() {
            let height = Int(svg.firstMatch(#"height="([0-9]+)""#) ?? "") ?? 0
            let labelY = Int(svg.firstMatch(#"rotate\(45 [0-9]+ ([0-9]+)\)"#) ?? "") ?? Int.max
            XCTAssertGreaterThanOrEqual(height - labelY, 40, "labels at y \(labelY) in a picture \(height) high")
        }
        let query = try Render.query(store, "SELECT '<script>alert(1)</script>' AS \"<x>\"", [:], .html, in: dir)
        XCTAssertFalse(query.contains("<script>") || query.contains("<x>"), query)
    }

    /// Every format carries the freshness: source id, epoch, LSN and commit time. CSV carries it
    /// in comment lines when asked (`report` prints it on stderr otherwise).
    func testEveryFormatCarriesTheFreshness() throws {
        let dir = TestDirectory("format")
        let store = try FixtureStore.create(at: dir.sub("store.db"), lsn: 987_654, epoch: 7)
        for format in ReportFormat.allCases {
            var csv = CSVOptions()
            csv.comments = true
            let s = try ReportStore(path: store, allowMaster: false)
            for text in [try Render.text(format, in: dir, csv: csv) { try MonthlyExpenses.run(s, .init(), to: $0) },
                         try Render.text(format, in: dir, csv: csv) { try CustomQuery.run(s, sql: "SELECT 1 AS one", parameters: [:], to: $0) }] {
                if format == .json {
                    let f = (try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])?["freshness"] as? [String: Any]
                    XCTAssertEqual(f?["sourceID"] as? String, FixtureStore.sourceID.uuidString)
                    XCTAssertEqual(f?["epoch"] as? Int, 7)
                    XCTAssertEqual(f?["lsn"] as? Int, 987_654)
                    XCTAssertEqual(f?["commitTime"] as? String, FixtureStore.commitTimeText)
                    XCTAssertEqual(f?["commitTimeMicros"] as? Int, Int(FixtureStore.commitTime))
                    XCTAssertGreaterThan(f?["ageSeconds"] as? Double ?? 0, 365 * 86400.0)
                    XCTAssertNotNil(f?["reportedAt"] as? String)
                } else {
                    XCTAssertTrue(text.contains("data as of LSN 987654, committed \(FixtureStore.commitTimeText) on source \(FixtureStore.sourceID.uuidString) epoch 7 ("),
                                  "\(format): \(text.prefix(400))")
                }
            }
        }
    }

    /// The aligned table keeps one line per row: control characters inside values are shown
    /// escaped, and no line ends in spaces.
    func testAlignedTableKeepsOneLinePerRow() throws {
        let dir = TestDirectory("format")
        let store = try awkwardStore(dir)
        let text = try Render.query(store, "SELECT n, v FROM t ORDER BY n", [:], .table, in: dir)
        let lines = text.components(separatedBy: "\n")
        XCTAssertEqual(lines.count, 6 + Self.awkward.count + 1, text)
        XCTAssertTrue(lines.contains(" 3  two\\r\\nlines"), text)
        for line in lines { XCTAssertFalse(line.hasSuffix(" "), "trailing spaces: '\(line)'") }
    }
}

extension String {
    /// The first capture group of `pattern`, or nil.
    func firstMatch(_ pattern: String) -> String? {
        guard let regex = try? NSRegularExpression(pattern: pattern),
              let m = regex.firstMatch(in: self, range: NSRange(startIndex..., in: self)), m.numberOfRanges > 1,
              let r = Range(m.range(at: 1), in: self) else { return nil }
        return String(self[r])
    }
}
