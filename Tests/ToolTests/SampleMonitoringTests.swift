import Foundation
import LogshipTestSupport
import XCTest
import Yams

/// samples/prometheus/logship-alerts.yml and samples/grafana/logship-dashboard.json cannot name a
/// metric the tools do not write: the names are collected from the three tools' `--prometheus`
/// output on the sample setup (a master, shipping to two replicas, both applied), and every
/// `logship_…` name in an alert or a panel must be one of them.
final class SampleMonitoringTests: XCTestCase {
    /// Every metric family the tools write for the sample setup, from their HELP/TYPE lines.
    private func liveMetricNames() throws -> Set<String> {
        let setup = try SampleSetup("monitoring")
        try setup.createMasterAndReplicas()
        try setup.tool("binlog-writer", ["rotate", setup.master])
        let config = setup.root + "/etc/logship/ship.yml"
        try setup.tool("binlog-ship", ["--config", config, "--quiet"])
        for name in ["a", "b"] { try setup.tool("replica-apply", [setup.replica(name), "--quiet"]) }
        var names: Set<String> = []
        for (tool, args) in [("binlog-writer", ["status", setup.master, "--prometheus"]),
                             ("binlog-ship", ["status", "--config", config, "--prometheus"]),
                             ("replica-apply", ["status", setup.replica("a"), "--prometheus"])] {
            let parsed = try PrometheusExposition.parse(try setup.tool(tool, args).stdout)
            XCTAssertFalse(parsed.samples.isEmpty, "\(tool) wrote no sample")
            names.formUnion(parsed.names)
        }
        // A report run's own metrics (report --metrics-file).
        let file = setup.root + "/report.prom"
        try setup.tool("report", ["query", "--store", setup.replica("a"), "--metrics-file", file, "SELECT 1 AS one"])
        names.formUnion(try PrometheusExposition.parse(try String(contentsOfFile: file, encoding: .utf8)).names)
        // `binlog-writer serve --metrics-listen`'s own families (the fsync histogram, commit groups).
        let listen = "127.0.0.1:\(try FollowMetricsTests.freePort())"
        let server = try FollowMetricsTests.Background("binlog-writer", ["serve", setup.master, "--metrics-listen", listen])
        let served = try XCTUnwrap(try FollowMetricsTests.scrape(listen) { $0.names.contains("logship_master_sync_duration_seconds") }, "serve's /metrics").1
        XCTAssertEqual(server.stop().0, 0)
        names.formUnion(served.names)
        // A histogram's series carry suffixes in PromQL.
        for family in served.families where family.type == "histogram" { names.formUnion(["_bucket", "_sum", "_count"].map { family.name + $0 }) }
        return names
    }

    /// The `logship_…` metric names a PromQL expression uses.
    static func metricNames(in expr: String) -> Set<String> {
        guard let regex = try? NSRegularExpression(pattern: #"\blogship_[a-z0-9_]+"#) else { return [] }
        return Set(regex.matches(in: expr, range: NSRange(expr.startIndex..., in: expr)).compactMap { m in
            Range(m.range, in: expr).map { String(expr[$0]) }
        })
    }

    /// The alert rules: `groups`, each with `rules`, each with an `alert` name and an `expr`.
    private func alertExpressions() throws -> [String: String] {
        let text = try String(contentsOfFile: SampleSetup.sample("prometheus/logship-alerts.yml"), encoding: .utf8)
        let root = try XCTUnwrap(try Yams.load(yaml: text) as? [String: Any], "the alerts file is a YAML mapping")
        let groups = try XCTUnwrap(root["groups"] as? [[String: Any]], "the alerts file has `groups`")
        var rules: [String: String] = [:]
        for group in groups {
            XCTAssertNotNil(group["name"] as? String, "a group without a name")
            for rule in try XCTUnwrap(group["rules"] as? [[String: Any]], "a group without `rules`") {
                let name = try XCTUnwrap(rule["alert"] as? String, "a rule without `alert`: \(rule)")
                XCTAssertNil(rules[name], "\(name) twice")
                rules[name] = try XCTUnwrap(rule["expr"] as? String, "\(name) has no expr")
                XCTAssertNotNil((rule["annotations"] as? [String: Any])?["summary"], "\(name) has no summary")
            }
        }
        return rules
    }

    /// Every `expr` in the dashboard's panels.
    private func dashboardExpressions() throws -> [String] {
        let data = try Data(contentsOf: URL(fileURLWithPath: SampleSetup.sample("grafana/logship-dashboard.json")))
        let root = try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [String: Any], "the dashboard is a JSON object")
        let panels = try XCTUnwrap(root["panels"] as? [[String: Any]])
        return panels.flatMap { ($0["targets"] as? [[String: Any]] ?? []).compactMap { $0["expr"] as? String } }
    }

    func testAlertsAndDashboardNameOnlyMetricsTheToolsWrite() throws {
        let rules = try alertExpressions()
        // What the samples promise to watch.
        for alert in ["LogshipReplicaLagging", "LogshipTargetLagging", "LogshipReplicaStale", "LogshipTargetStale",
                      "LogshipMasterNotCommitting", "LogshipVerificationFails", "LogshipMasterSlowFsync", "LogshipShippingErrorsRepeat"] {
            XCTAssertNotNil(rules[alert], "no \(alert) rule")
        }
        let exprs = try dashboardExpressions()
        XCTAssertGreaterThanOrEqual(exprs.count, 8)
        let live = try liveMetricNames()
        XCTAssertTrue(live.contains("logship_master_last_lsn") && live.contains("logship_ship_lag_seconds") && live.contains("logship_replica_lag_seconds"),
                      "\(live.sorted())")
        for (name, expr) in rules {
            let used = Self.metricNames(in: expr)
            // node_exporter's own metric for the textfile collector's files is the one other name allowed.
            XCTAssertFalse(used.isEmpty && !expr.contains("node_textfile_mtime_seconds"), "alert \(name) names no logship metric")
            XCTAssertEqual(used.subtracting(live), [], "alert \(name) uses metrics no tool writes")
        }
        for expr in exprs {
            let used = Self.metricNames(in: expr)
            XCTAssertFalse(used.isEmpty, "panel expr \(expr) names no logship metric")
            XCTAssertEqual(used.subtracting(live), [], "dashboard expr \(expr) uses metrics no tool writes")
        }
    }

    /// promtool checks the rules' PromQL, runs their unit tests (logship-alerts.test.yml) and
    /// parses every dashboard expression (as recording rules), where it is installed (Debian's
    /// `prometheus` package; tools/deps does not install it). Elsewhere the test says so and skips.
    func testPromtoolAcceptsTheRulesAndTheDashboardWhereInstalled() throws {
        let candidates = ["/usr/bin/promtool", "/usr/local/bin/promtool"]
        guard let promtool = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            throw XCTSkip("promtool is not installed: the rules' and the dashboard's PromQL are not checked here")
        }
        let rules = SampleSetup.sample("prometheus/logship-alerts.yml")
        let check = try ToolRunner.runProcess(promtool, ["check", "rules", rules])
        XCTAssertEqual(check.status, 0, check.stdout + check.stderr)
        let unit = try ToolRunner.runProcess(promtool, ["test", "rules", "logship-alerts.test.yml"], directory: SampleSetup.sample("prometheus"))
        XCTAssertEqual(unit.status, 0, unit.stdout + unit.stderr)

        let dir = TestDirectory("dashboard-promql")
        let records = try dashboardExpressions().enumerated().map { i, expr in
            "      - record: logship_dashboard_panel_\(i)\n        expr: '\(expr.replacingOccurrences(of: "'", with: "''"))'"
        }
        let file = dir.sub("dashboard-rules.yml")
        try ("groups:\n  - name: dashboard\n    rules:\n" + records.joined(separator: "\n") + "\n").write(toFile: file, atomically: true, encoding: .utf8)
        let dashboard = try ToolRunner.runProcess(promtool, ["check", "rules", file])
        XCTAssertEqual(dashboard.status, 0, dashboard.stdout + dashboard.stderr)
    }
}
