import Foundation
import LogshipTestSupport
import XCTest

/// Help text wraps at the terminal width (COLUMNS when set), the exit-code table included, its
/// continuation lines under the summary (issue 17).
final class HelpWidthTests: XCTestCase {
    func testHelpFitsTheWidthAndTheExitTableKeepsItsColumns() throws {
        for width in [60, 100] {
            for tool in ["binlog-writer", "binlog-ship", "replica-apply", "report"] {
                var env = ProcessInfo.processInfo.environment
                env["COLUMNS"] = "\(width)"
                let r = try ToolRunner.run(tool, ["--help"], environment: env)
                XCTAssertEqual(r.status, 0, r.stderr)
                let lines = r.stdout.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
                // ArgumentParser's own closing line is not wrapped by it; everything else is.
                for line in lines where line.count > width && !line.contains("help <subcommand>' for detailed help") {
                    XCTFail("\(tool) --help at COLUMNS=\(width): \(line.count) columns: \(line)")
                }
                // The options runTool reads before ArgumentParser are in every tool's help too.
                for piece in ["--config FILE", "/etc/logship/logship.yml", "LOGSHIP_CONFIG", "--log-level LEVEL", "--group-read", "LOGSHIP_GROUP_READ"] {
                    XCTAssertTrue(r.stdout.replacingOccurrences(of: "\n", with: " ").contains(piece), "\(tool) --help does not mention \(piece)")
                }
                let start = try XCTUnwrap(lines.firstIndex { $0.hasPrefix("  0  success") }, r.stdout)
                let end = try XCTUnwrap(lines.firstIndex { $0.hasPrefix(" 64  usage error") }, r.stdout)
                for line in lines[start...end] {
                    XCTAssertNotNil(line.range(of: #"^(( {2}[0-9]| [0-9]{2}) {2}| {5})\S"#, options: .regularExpression),
                                    "\(tool) at COLUMNS=\(width): a table line out of its columns: '\(line)'")
                }
            }
        }
        var env = ProcessInfo.processInfo.environment
        env["COLUMNS"] = "60"
        let narrow = try ToolRunner.run("binlog-writer", ["--help"], environment: env).stdout
        XCTAssertTrue(narrow.contains("  3  corruption: checksum, frame, footer or hash-chain\n     failure, or a foreign segment\n"), narrow)
    }
}
