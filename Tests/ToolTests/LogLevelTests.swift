import Foundation
import LogshipTestSupport
import XCTest

/// `--log-level` and LOGSHIP_LOG_LEVEL: log lines on stderr through swift-log, with a timestamp
/// and a level (issue 17); the values of options never appear, only where they came from.
final class LogLevelTests: XCTestCase {
    private let line = #"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}[+-][0-9]{4} (debug|info) report: \[LogshipCLI\] "#

    private func report(_ args: [String], _ env: [String: String]) throws -> ToolRunner.Result {
        var environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("LOGSHIP_") }
        environment.merge(env) { _, new in new }
        return try ToolRunner.run("report", ["monthly-expenses"] + args, environment: environment)
    }

    func testDebugShowsWhereEachOptionCameFromWithTimestampAndLevel() throws {
        let dir = TestDirectory("log-level")
        let file = dir.path + "/logship.yml"
        try "reports:\n  max_lag: 15m\n".write(toFile: file, atomically: true, encoding: .utf8)
        let env = ["LOGSHIP_CONFIG": file, "LOGSHIP_REPORT_STORE": dir.path + "/secret-store"]
        let r = try report(["--log-level", "debug"], env)
        XCTAssertEqual(r.status, 15, r.stderr)
        let logLines = r.stderr.split(separator: "\n").map(String.init).filter { $0.range(of: line, options: .regularExpression) != nil }
        XCTAssertEqual(logLines.map { $0.replacingOccurrences(of: line, with: "", options: .regularExpression) },
                       ["configuration from \(file) (LOGSHIP_CONFIG)", "--store from LOGSHIP_REPORT_STORE", "--max-lag from \(file):2 'max_lag'"], r.stderr)
        XCTAssertFalse(logLines.joined().contains("secret-store"), "a value reached the log: \(r.stderr)")
        // The default level (warning) prints none of these; LOGSHIP_LOG_LEVEL sets it too.
        XCTAssertFalse(try report([], env).stderr.contains("[LogshipCLI]"))
        let info = try report([], env.merging(["LOGSHIP_LOG_LEVEL": "info"]) { _, new in new })
        XCTAssertEqual(info.stderr.split(separator: "\n").filter { $0.contains("[LogshipCLI]") }.count, 1, info.stderr)
    }

    func testAnUnknownLevelIsAUsageError() throws {
        let r = try report(["--log-level=loud"], ["LOGSHIP_CONFIG": ""])
        XCTAssertEqual(r.status, 64)
        XCTAssertEqual(r.stderr, "report: unable to use --log-level loud: not a log level\nHINT: levels: trace, debug, info, notice, warning, error, critical\n")
    }
}
