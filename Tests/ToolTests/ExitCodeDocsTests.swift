import Foundation
import LogshipTestSupport
import XCTest

/// Every copy of the exit-code table agrees with `ExitStatus`, as the tools print it in
/// `--help`: the shared table in docs/OPERATIONS.md lists every code, and each tool's own table
/// (docs/MASTER.md, SHIPPING.md, REPLICA.md, REPORTS.md) lists only codes that exist, under the
/// same name ("gap", "corruption", …) as the shared one.
final class ExitCodeDocsTests: XCTestCase {
    /// The codes and their summaries, from `binlog-writer --help` (ExitStatus.table).
    private func printedTable(_ tool: String) throws -> [Int: String] {
        let help = try ToolRunner.run(tool, ["--help"])
        XCTAssertEqual(help.status, 0, help.stderr)
        var table: [Int: String] = [:]
        for line in help.stdout.split(separator: "\n") {
            let trimmed = line.drop { $0 == " " }
            guard let space = trimmed.firstIndex(of: " "), let code = Int(trimmed[..<space]),
                  trimmed[space...].hasPrefix("  ") else { continue }
            table[code] = trimmed[space...].trimmingCharacters(in: .whitespaces)
        }
        return table
    }

    /// The name of a code: its summary up to the first colon ("gap", "split brain").
    private func label(_ meaning: String) -> String {
        String(meaning.prefix { $0 != ":" && $0 != "(" }).trimmingCharacters(in: .whitespaces).lowercased()
    }

    /// Rows `| code | meaning |…` of the "## Exit codes" section of `file`.
    private func documentedRows(_ file: String) throws -> [(code: Int, meaning: String)] {
        let text = try String(contentsOfFile: SampleSetup.repository + "/" + file, encoding: .utf8)
        guard let start = text.range(of: "\n## Exit codes\n") else { return [] }
        let section = text[start.upperBound...].components(separatedBy: "\n## ")[0]
        return section.split(separator: "\n").compactMap { line in
            let cells = line.split(separator: "|", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            guard cells.count >= 3, let code = Int(cells[1]) else { return nil }
            return (code, cells[2])
        }
    }

    func testEveryToolPrintsTheSameTable() throws {
        let reference = try printedTable("binlog-writer")
        XCTAssertGreaterThanOrEqual(reference.count, 15)
        for tool in ["binlog-ship", "replica-apply", "report"] {
            XCTAssertEqual(try printedTable(tool), reference, "\(tool) --help prints another exit-code table")
        }
    }

    func testEveryDocumentedCopyAgreesWithExitStatus() throws {
        let printed = try printedTable("binlog-writer")
        let labels = Dictionary(uniqueKeysWithValues: printed.map { ($0.key, label($0.value)) })
        let shared = try documentedRows("docs/OPERATIONS.md")
        XCTAssertEqual(Set(shared.map(\.code)), Set(printed.keys), "docs/OPERATIONS.md lists exactly the codes the tools know")
        for (code, meaning) in shared {
            XCTAssertEqual(label(meaning), labels[code], "docs/OPERATIONS.md names exit \(code) otherwise than the tools do")
        }
        let perTool = ["README.md", "docs/MASTER.md", "docs/SHIPPING.md", "docs/REPLICA.md", "docs/REPORTS.md", "docs/FAILOVER.md"]
        var tables = 0
        for file in perTool {
            let rows = try documentedRows(file)
            if !rows.isEmpty { tables += 1 }
            for (code, meaning) in rows {
                XCTAssertNotNil(printed[code], "\(file) documents exit \(code), which no tool returns")
                // A row that names its code ("gap: …") must use the shared name of that code.
                let named = label(meaning)
                if let other = labels.first(where: { $0.value == named && meaning.lowercased().hasPrefix(named + ":") }) {
                    XCTAssertEqual(other.key, code, "\(file): exit \(code) is described as \"\(named)\", the name of exit \(other.key)")
                }
            }
        }
        XCTAssertGreaterThanOrEqual(tables, 4, "each tool's reference has its exit-code table")
    }
}
