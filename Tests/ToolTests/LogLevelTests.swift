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
        XCTAssertEqual(logLines.map { $0.replacingOccurrences(of: line, with: "", options: .regularExpression)
                                        .replacingOccurrences(of: #"[0-9.]+ s$"#, with: "", options: .regularExpression) },
                       ["configuration from \(file) (LOGSHIP_CONFIG)", "--store from LOGSHIP_REPORT_STORE", "--max-lag from \(file):2 'max_lag'", "report monthly-expenses finished with exit 15 in "], r.stderr)
        XCTAssertFalse(logLines.joined().contains("secret-store"), "a value reached the log: \(r.stderr)")
        // The default level (warning) prints none of these; LOGSHIP_LOG_LEVEL sets it too.
        XCTAssertFalse(try report([], env).stderr.contains("[LogshipCLI]"))
        let info = try report([], env.merging(["LOGSHIP_LOG_LEVEL": "info"]) { _, new in new })
        XCTAssertEqual(info.stderr.split(separator: "\n").filter { $0.contains("[LogshipCLI] configuration from") }.count, 1, info.stderr)
        XCTAssertTrue(info.stderr.contains("[LogshipCLI] report monthly-expenses finished with exit 15 in "), info.stderr)
    }

    /// What a run did goes to the log at info, with time and level, while stdout keeps the printed
    /// result unchanged and a failure keeps its `tool: message` line; the default level logs none of it.
    func testARunLogsWhatItDidAtInfoAndStdoutStaysTheSame() throws {
        let f = try ReplicaCLIFixture("log-lines")
        try f.master.exec("CREATE TABLE t(id INTEGER PRIMARY KEY); INSERT INTO t VALUES (1);")
        try f.master.rotate()
        var env = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("LOGSHIP_") }
        env["LOGSHIP_CONFIG"] = ""
        let args = ["--source", f.master.path, "--target", "a=" + f.inbox]
        let quietRun = try ToolRunner.run("binlog-ship", args + ["--quiet", "--log-level", "info"], environment: env)
        XCTAssertEqual(quietRun.status, 0, quietRun.stderr)
        XCTAssertEqual(quietRun.stdout, "", "--quiet keeps stdout empty; the log goes to stderr")
        let shipLine = #"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}[+-][0-9]{4} info binlog-ship: \[[a-z_]+\] a: shipped \S+ "#
        let lines = quietRun.stderr.split(separator: "\n").map(String.init)
        XCTAssertEqual(lines.filter { $0.range(of: shipLine, options: .regularExpression) != nil }.count, 1, quietRun.stderr)
        XCTAssertTrue(lines.last?.contains("info binlog-ship: [LogshipCLI] binlog-ship ship finished with exit 0 in ") ?? false, quietRun.stderr)
        let plain = try ToolRunner.run("binlog-ship", args, environment: env)
        XCTAssertEqual(plain.stderr, "")
        XCTAssertTrue(plain.stdout.hasPrefix("a: "), plain.stdout)
        let failing = try ToolRunner.run("binlog-writer", ["status", f.dir.sub("nowhere"), "--log-level", "info"], environment: env)
        XCTAssertEqual(failing.status, 15)
        XCTAssertTrue(failing.stderr.hasPrefix("binlog-writer: "), failing.stderr)
        XCTAssertTrue(failing.stderr.contains("info binlog-writer: [LogshipCLI] binlog-writer status finished with exit 15 in "), failing.stderr)
    }

    func testAnUnknownLevelIsAUsageError() throws {
        let r = try report(["--log-level=loud"], ["LOGSHIP_CONFIG": ""])
        XCTAssertEqual(r.status, 64)
        XCTAssertEqual(r.stderr, "report: unable to use --log-level loud: not a log level\nHINT: levels: trace, debug, info, notice, warning, error, critical\n")
    }
}
