import Foundation
import LogshipTestSupport
import XCTest

/// `--version` on every tool (issue 17): release, the commit the build was made from, and the
/// format versions it reads and writes.
final class VersionTests: XCTestCase {
    func testEveryToolPrintsItsVersionCommitAndFormats() throws {
        let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
        var commit = "unknown"   // what the build says without git or outside a checkout
        if FileManager.default.isExecutableFile(atPath: "/usr/bin/git") {
            let git = try ToolRunner.runProcess("/usr/bin/git", ["-C", repository, "rev-parse", "--short=12", "HEAD"])
            if git.status == 0 { commit = git.stdout.trimmingCharacters(in: .whitespacesAndNewlines) }
        }
        for tool in ["binlog-writer", "binlog-ship", "replica-apply", "report"] {
            let r = try ToolRunner.run(tool, ["--version"])
            XCTAssertEqual(r.status, 0, r.stderr)
            let lines = r.stdout.split(separator: "\n").map(String.init)
            XCTAssertEqual(lines.first?.range(of: #"^\#(tool) [0-9]+\.[0-9]+\.[0-9]+ \(commit ([0-9a-f]{12}|unknown)\)$"#,
                                              options: .regularExpression) != nil, true, r.stdout)
            XCTAssertTrue(lines.first?.contains("(commit \(commit))") ?? false,
                          "\(tool) was built from \(commit) (rebuild after a commit to restamp): \(r.stdout)")
            XCTAssertTrue(r.stdout.contains("binlog segments: reads versions 1-4, writes 2"), r.stdout)
        }
    }
}
