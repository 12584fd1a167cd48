import ArgumentParser
import Foundation
import LogshipCLI
import LogshipTestSupport
import XCTest

/// A stand-in tool for the configuration rules: a `run` subcommand with an option, a repeating
/// option, a flag and a defaulted option, and a `check` subcommand of its own.
private struct Fake: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "fake-tool", subcommands: [Run.self, Check.self], defaultSubcommand: Run.self)

    struct Run: ParsableCommand {
        @Option var maxLag: String?
        @Option var target: [String] = []
        @Flag var quiet = false
        @Option var lockTimeout: String = "default"
        @Argument var directory: String?
    }

    struct Check: ParsableCommand {
        @Option var maxLag: String?
    }
}

/// logship.yml, `LOGSHIP_<TOOL>_<OPTION>` and `${VAR}` (issue 17, docs/OPERATIONS.md "Configuration").
final class DeploymentConfigTests: XCTestCase {
    private var scratch = TestDirectory("deployment")

    private func rewrite(_ args: [String], yaml: String?, env: [String: String] = [:]) throws -> [String] {
        var environment = env
        if let yaml {
            let file = scratch.path + "/logship.yml"
            try yaml.write(toFile: file, atomically: true, encoding: .utf8)
            environment["LOGSHIP_CONFIG"] = file
        } else {
            environment["LOGSHIP_CONFIG"] = ""
        }
        let options = try ToolOptions(Fake.self)
        return try DeploymentArguments(tool: "fake-tool", options: options, environment: environment).rewrite(args)
    }

    private func run(_ args: [String], yaml: String?, env: [String: String] = [:]) throws -> Fake.Run {
        let rewritten = try rewrite(args, yaml: yaml, env: env)
        let parsed = try Fake.parseAsRoot(rewritten)
        return try XCTUnwrap(parsed as? Fake.Run, "\(rewritten)")
    }

    private func configError(_ args: [String], yaml: String?, env: [String: String] = [:]) -> ConfigError? {
        do {
            let rewritten = try rewrite(args, yaml: yaml, env: env)
            XCTFail("expected a configuration error, got \(rewritten)")
            return nil
        } catch {
            return error as? ConfigError
        }
    }

    func testFlagBeatsEnvironmentBeatsFileBeatsDefault() throws {
        let yaml = "fake_tool_unused: 1\n"
        XCTAssertEqual(configError([], yaml: yaml)?.message.contains("logship.yml:1: unknown key 'fake_tool_unused'"), true)
        // No section maps to the stand-in tool, so its values come from a real tool's rules:
        // the precedence itself is the same code for every tool, tested through `report` below.
        let run = try self.run(["run", "--lock-timeout", "9s", "dir"], yaml: nil,
                               env: ["LOGSHIP_FAKE_TOOL_LOCK_TIMEOUT": "3s", "LOGSHIP_FAKE_TOOL_MAX_LAG": "2m",
                                     "LOGSHIP_FAKE_TOOL_TARGET": "a, b", "LOGSHIP_FAKE_TOOL_QUIET": "true"])
        XCTAssertEqual(run.lockTimeout, "9s")      // the flag wins over the variable
        XCTAssertEqual(run.maxLag, "2m")           // the variable fills a missing option
        XCTAssertEqual(run.target, ["a", "b"])     // a repeating option: comma-separated
        XCTAssertTrue(run.quiet)
        XCTAssertEqual(run.directory, "dir")       // arguments stay where they were
        let plain = try self.run([], yaml: nil)
        XCTAssertEqual(plain.lockTimeout, "default")
        XCTAssertNil(plain.maxLag)
    }

    func testSubcommandVariableBeatsToolWideVariable() throws {
        let env = ["LOGSHIP_FAKE_TOOL_MAX_LAG": "2m", "LOGSHIP_FAKE_TOOL_CHECK_MAX_LAG": "7m"]
        XCTAssertEqual(try rewrite(["check"], yaml: nil, env: env), ["check", "--max-lag", "7m"])
        XCTAssertEqual(try self.run(["run"], yaml: nil, env: env).maxLag, "2m")
        XCTAssertEqual(try self.run(["--max-lag=1s"], yaml: nil, env: env).maxLag, "1s")
    }

    func testVariableNamingNoOptionIsRefused() {
        let e = configError([], yaml: nil, env: ["LOGSHIP_FAKE_TOOL_MAXLAG": "2m"])
        XCTAssertEqual(e?.message, "unable to use the environment variable LOGSHIP_FAKE_TOOL_MAXLAG: fake-tool has no option it names")
        XCTAssertEqual(e?.exitStatus, .usage)
        XCTAssertEqual(configError([], yaml: nil, env: ["LOGSHIP_FAKE_TOOL_QUIET": "maybe"])?.message,
                       "LOGSHIP_FAKE_TOOL_QUIET: unable to read 'maybe' as a flag")
    }

    func testMissingExplicitFileIsNotFound() {
        XCTAssertThrowsError(try DeploymentFile.load(path: "/nonexistent/logship.yml", environment: [:])) { error in
            XCTAssertEqual((error as? ConfigError)?.message, "unable to open the config file /nonexistent/logship.yml: no such file")
            XCTAssertEqual((error as? ConfigError)?.exitStatus, .notFound)
        }
    }

    func testUnknownKeysAndBadRetentionNameTheirLine() throws {
        func message(_ yaml: String) -> String? {
            do { _ = try DeploymentFile.parse(yaml: yaml, path: "l.yml", environment: [:]); return nil } catch {
                return (error as? ConfigError)?.message
            }
        }
        XCTAssertEqual(message("reports:\n  store: /r\nreplicas:\n  x: 1\n"), "l.yml:3: unknown key 'replicas' in the config file")
        XCTAssertEqual(message("retention:\n  window: 14\n"), "l.yml:2: 'retention.window' must be a duration like 14d")
        XCTAssertEqual(message("retention:\n  daily: -1\n"), "l.yml:2: 'retention.daily' must be a whole number of snapshots to keep")
        XCTAssertEqual(message("retention:\n  hourly: 3\n"), "l.yml:2: unknown key 'hourly' in 'retention'")
        XCTAssertNil(message("retention:\n  window: 14d\n  daily: 7\n  weekly: 4\n  monthly: 12\n  pins: [a, b]\n"))
    }

    /// `binlog-ship --config` and `report site --config` keep taking ship.yml and site.yml.
    func testOldShipAndSiteFilesAreNotTakenForTheDeploymentFile() {
        XCTAssertFalse(DeploymentFile.looksLikeDeployment(yaml: "source: /m\nretention: 7d\ntargets: [/t]\n"))
        XCTAssertFalse(DeploymentFile.looksLikeDeployment(yaml: "retention: 7d\n"))
        XCTAssertFalse(DeploymentFile.looksLikeDeployment(yaml: "stores: [/r]\nreports:\n  - monthly-expenses\n"))
        XCTAssertFalse(DeploymentFile.looksLikeDeployment(yaml: ""))
        XCTAssertTrue(DeploymentFile.looksLikeDeployment(yaml: "ship:\n  config: /etc/logship/ship.yml\nretention:\n  window: 14d\n"))
    }

    func testVariablesExpandAndAnUnsetOneNamesTheLine() throws {
        let env = ["SECRET": "s3cr3t"]
        let file = try DeploymentFile.parse(yaml: "reports:\n  store: /x/${SECRET}/y\n", path: "l.yml", environment: env)
        XCTAssertEqual(file.sectionNodes["reports"]?.mapping?["store"]?.string, "/x/s3cr3t/y")
        XCTAssertThrowsError(try DeploymentFile.parse(yaml: "reports:\n\n  store: ${MISSING_SECRET}\n", path: "l.yml", environment: env)) { error in
            XCTAssertEqual((error as? ConfigError)?.message,
                           "l.yml:3: unable to expand ${MISSING_SECRET}: the environment variable MISSING_SECRET is not set")
            XCTAssertEqual((error as? ConfigError)?.exitStatus, .usage)
        }
    }

    /// The rules through a real binary: `report`'s `--store` from the file, the environment and
    /// the flag; the store that does not exist is named in the error, showing which one won.
    func testReportTakesStoreFromFlagThenEnvironmentThenFile() throws {
        let dir = scratch.path
        let file = dir + "/logship.yml"
        try "reports:\n  store: \(dir)/file-store\n  monthly-expenses:\n    max_lag: 15m\n".write(toFile: file, atomically: true, encoding: .utf8)
        func store(_ args: [String], _ env: [String: String]) throws -> ToolRunner.Result {
            var environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("LOGSHIP_REPORT_") }
            environment.merge(env) { _, new in new }
            return try ToolRunner.run("report", ["monthly-expenses"] + args, environment: environment)
        }
        let fromFile = try store([], ["LOGSHIP_CONFIG": file])
        let fromEnv = try store([], ["LOGSHIP_CONFIG": file, "LOGSHIP_REPORT_STORE": dir + "/env-store"])
        let fromFlag = try store(["--store", dir + "/flag-store"], ["LOGSHIP_CONFIG": file, "LOGSHIP_REPORT_STORE": dir + "/env-store"])
        let viaFlag = try store(["--config", file], ["LOGSHIP_CONFIG": "/nonexistent/logship.yml"])
        for (r, name) in [(fromFile, "file-store"), (fromEnv, "env-store"), (fromFlag, "flag-store"), (viaFlag, "file-store")] {
            XCTAssertEqual(r.status, 15, r.stderr)
            XCTAssertTrue(r.stderr.contains(dir + "/" + name), "expected \(name) in: \(r.stderr)")
        }
        let missing = try store([], ["LOGSHIP_CONFIG": dir + "/none.yml"])
        XCTAssertEqual(missing.status, 15)
        XCTAssertEqual(missing.stderr, "report: unable to open the config file \(dir)/none.yml: no such file\nHINT: fix --config or LOGSHIP_CONFIG, or set LOGSHIP_CONFIG= (empty) to run without a file\n")
        try "reports:\n  stores: /x\n".write(toFile: file, atomically: true, encoding: .utf8)
        let unknown = try store([], ["LOGSHIP_CONFIG": file])
        XCTAssertEqual(unknown.status, 64)
        XCTAssertTrue(unknown.stderr.hasPrefix("report: \(file):2: unknown key 'stores' in 'reports' (report)"), unknown.stderr)
    }
}
