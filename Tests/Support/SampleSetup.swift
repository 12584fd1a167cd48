import Foundation
import XCTest

/// The sample setup of samples/crontab, built in a temp directory with the built tools: the
/// paths the samples use (`/srv/…`, `/etc/logship/…`, node_exporter's textfile directory) are
/// mapped under the temp directory, the master holds the sample expenses and workload, and two
/// replicas wait for shipping.
public final class SampleSetup {
    public static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
    public static func sample(_ name: String) -> String { repository + "/samples/" + name }

    public let dir: TestDirectory
    public var root: String { dir.path }
    public var master: String { root + "/srv/master" }
    public func replica(_ name: String) -> String { root + "/srv/replica-" + name }
    public var alerts: String { root + "/alerts.log" }
    public var stubs: String { root + "/bin" }

    /// Absolute path prefixes the samples use, and where they live in the test.
    public var pathMap: [(String, String)] {
        [("/srv/", root + "/srv/"), ("/etc/logship/", root + "/etc/logship/"),
         ("/var/lib/node_exporter/textfile/", root + "/textfile/")]
    }

    public init(_ label: String) throws {
        dir = TestDirectory(label)
        for sub in ["srv/www", "etc/logship/reports", "textfile", "bin"] {
            try FileManager.default.createDirectory(atPath: root + "/" + sub, withIntermediateDirectories: true)
        }
        // `notify-ops` stands for the operator's alerting command: here it records its message.
        let stub = "#!/bin/sh\nprintf '%s\\n' \"$*\" >> '\(alerts)'\n"
        try stub.write(toFile: stubs + "/notify-ops", atomically: true, encoding: .utf8)
        chmod(stubs + "/notify-ops", 0o755)
        try substitute(String(contentsOfFile: Self.sample("ship.yml"), encoding: .utf8)).write(toFile: root + "/etc/logship/ship.yml", atomically: true, encoding: .utf8)
        for file in try FileManager.default.contentsOfDirectory(atPath: Self.sample("reports")) where file.hasSuffix(".sql") {
            try FileManager.default.copyItem(atPath: Self.sample("reports/" + file), toPath: root + "/etc/logship/reports/" + file)
        }
    }

    /// Replaces the samples' absolute paths with the test's.
    public func substitute(_ text: String) -> String {
        pathMap.reduce(text) { $0.replacingOccurrences(of: $1.0, with: $1.1) }
    }

    /// Runs a tool and fails the test (throwing) unless it exits 0.
    @discardableResult
    public func tool(_ name: String, _ args: [String]) throws -> ToolRunner.Result {
        let r = try ToolRunner.run(name, args)
        guard r.status == 0 else { throw ToolMaster.Failure(description: "\(name) \(args.joined(separator: " ")): exit \(r.status): \(r.stderr)") }
        return r
    }

    /// The master with the sample schema, expenses and workload (README's binlog-writer
    /// section), and two replicas made by `replica-apply init`.
    public func createMasterAndReplicas(segmentSize: String = "64KiB") throws {
        try tool("binlog-writer", ["init", master, "--segment-size", segmentSize])
        try tool("binlog-writer", ["exec", master, "--file", Self.sample("expenses.sql")])
        try tool("binlog-writer", ["load", master, "--table", "expenses", Self.sample("expenses.csv"), "--batch", "500"])
        try tool("binlog-writer", ["exec", master, "--file", Self.sample("workload.sql")])
        for name in ["a", "b"] { try tool("replica-apply", ["init", replica(name)]) }
    }

    /// The master's last LSN, from `binlog-writer status --json`.
    public func masterLastLSN() throws -> UInt64 {
        let json = try JSONSerialization.jsonObject(with: Data(try tool("binlog-writer", ["status", master, "--json"]).stdout.utf8)) as? [String: Any]
        return UInt64((json?["lastLSN"] as? Int) ?? -1)
    }

    /// Runs `command` with `/bin/sh -c`, as cron does, with `path` as PATH.
    public func shell(_ command: String, path: String) throws -> ToolRunner.Result {
        try ToolRunner.runProcess("/bin/sh", ["-c", command], environment: ["PATH": path, "HOME": root, "SHELL": "/bin/sh", "LANG": "C.UTF-8"],
                                  directory: root)
    }

    /// Alerts `notify-ops` received so far.
    public func alertLines() -> [String] {
        ((try? String(contentsOfFile: alerts, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
    }
}
