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

/// Stand-ins for the two commands that act on a retention policy, with their real names (the
/// policy is looked up by tool and subcommand).
private struct FakeReplicaApply: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "replica-apply", subcommands: [Apply.self, Prune.self], defaultSubcommand: Apply.self)
    struct Apply: ParsableCommand {
        @Argument var replica: String
        @Flag var follow = false
        @Option var pruneWindow: String?
        @Option var pruneDaily = 0
    }
    struct Prune: ParsableCommand {
        @Argument var replica: String
        @Option var window: String?
        @Option var daily = 0
        @Option var pin: [String] = []
    }
}

private struct FakeBinlogShip: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "binlog-ship", subcommands: [Purge.self])
    struct Purge: ParsableCommand {
        @Option var target: [String] = []
        @Option var window: String?
        @Option var inTarget: String?
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
        XCTAssertEqual(message("reports:\n  store: /r\nreplica_sets:\n  x: 1\n"), "l.yml:3: unknown key 'replica_sets' in the config file")
        XCTAssertEqual(message("retention:\n  window: 14\n"), "l.yml:2: 'retention.window' must be a duration like 14d")
        XCTAssertEqual(message("retention:\n  daily: -1\n"), "l.yml:2: 'retention.daily' must be a whole number of snapshots to keep")
        XCTAssertEqual(message("retention:\n  hourly: 3\n"), "l.yml:2: unknown key 'hourly' in 'retention'")
        XCTAssertNil(message("retention:\n  window: 14d\n  daily: 7\n  weekly: 4\n  monthly: 12\n  pins: [a, b]\n"))
    }

    /// `replicas:` and `targets:` sections: each entry checked with its line, like the rest.
    func testReplicaAndTargetSectionsAreCheckedWithTheirLines() {
        func message(_ yaml: String) -> String? {
            do { _ = try DeploymentFile.parse(yaml: yaml, path: "l.yml", environment: [:]); return nil } catch {
                return (error as? ConfigError)?.message
            }
        }
        XCTAssertNil(message("replicas:\n  a:\n    path: /srv/a\n    retention: {window: 4d, daily: 3}\ntargets:\n  nas:\n    retention: {window: 14d}\n"))
        XCTAssertEqual(message("replicas:\n  a:\n    path: /srv/a\n    keep: 3\n"), "l.yml:4: unknown key 'keep' in 'replicas.a'")
        XCTAssertEqual(message("replicas:\n  a:\n    retention: {window: 4d}\n"), "l.yml:2: 'replicas.a' needs a path")
        XCTAssertEqual(message("replicas:\n  a:\n    path: /srv/a\n    retention:\n      window: 4\n"), "l.yml:5: 'replicas.a.retention.window' must be a duration like 14d")
        XCTAssertEqual(message("targets:\n  nas:\n    retention:\n      daily: 3\n"), "l.yml:4: unknown key 'daily' in 'targets.nas.retention'")
        XCTAssertEqual(message("targets: [/t]\n"), "l.yml:1: 'targets' must be a mapping of names to their settings")
        XCTAssertEqual(message("replicas:\n  a:\n    path: /a\n    prune: yes\n"), "l.yml:4: 'replicas.a.prune' must be auto or off")
        XCTAssertTrue(DeploymentFile.looksLikeDeployment(yaml: "replicas:\n  a: {path: /a}\ntargets:\n  b: {path: /b}\n"))
    }

    /// samples/logship.yml reads, and gives each replica and target its own policy.
    func testTheSampleFileReads() throws {
        let file = try DeploymentFile.load(path: SampleSetup.sample("logship.yml"), environment: [:])
        XCTAssertEqual(file.replica(directory: "/srv/replica-b")?.name, "replica-b")
        XCTAssertEqual(file.replica(directory: "/srv/replica-a")?.pruneAuto, true)
        XCTAssertEqual(Set(file.entries("targets").map(\.name)), ["replica-a", "replica-b", "offsite"])
    }

    /// Two replicas and two targets with different windows in one file: `prune DIR` takes the
    /// policy of the replica at DIR, `purge --in-target NAME` the target's; anything else the
    /// `retention` section; a flag still wins.
    func testPruneAndPurgeTakeThePolicyOfWhatTheyActOn() throws {
        let yaml = """
            retention:
              window: 30d
            replicas:
              a:
                path: /srv/replica-a
                prune: auto
                retention: {window: 4d, daily: 3, pins: [snapshot-1]}
              b:
                path: /srv/replica-b/
                retention: {window: 20d}
            targets:
              nas:
                path: /mnt/nas
                retention: {window: 7d}
              s3:
                retention: {window: 90d}

            """
        let file = scratch.path + "/logship.yml"
        try yaml.write(toFile: file, atomically: true, encoding: .utf8)
        let env = ["LOGSHIP_CONFIG": file]
        func prune(_ args: [String]) throws -> FakeReplicaApply.Prune {
            let rewritten = try DeploymentArguments(tool: "replica-apply", options: try ToolOptions(FakeReplicaApply.self), environment: env).rewrite(args)
            return try XCTUnwrap(try FakeReplicaApply.parseAsRoot(rewritten) as? FakeReplicaApply.Prune, "\(rewritten)")
        }
        func purge(_ args: [String]) throws -> FakeBinlogShip.Purge {
            let rewritten = try DeploymentArguments(tool: "binlog-ship", options: try ToolOptions(FakeBinlogShip.self), environment: env).rewrite(args)
            return try XCTUnwrap(try FakeBinlogShip.parseAsRoot(rewritten) as? FakeBinlogShip.Purge, "\(rewritten)")
        }
        let a = try prune(["prune", "/srv/replica-a"])
        XCTAssertEqual([a.window, String(a.daily)], ["4d", "3"])
        XCTAssertEqual(a.pin, ["snapshot-1"])
        // The follower prunes only by a replica's own policy marked `prune: auto`.
        func apply(_ args: [String]) throws -> FakeReplicaApply.Apply {
            let rewritten = try DeploymentArguments(tool: "replica-apply", options: try ToolOptions(FakeReplicaApply.self), environment: env).rewrite(args)
            return try XCTUnwrap(try FakeReplicaApply.parseAsRoot(rewritten) as? FakeReplicaApply.Apply, "\(rewritten)")
        }
        XCTAssertEqual(try apply(["/srv/replica-a", "--follow"]).pruneWindow, "4d")
        XCTAssertEqual(try apply(["/srv/replica-a", "--follow"]).pruneDaily, 3)
        XCTAssertNil(try apply(["/srv/replica-b", "--follow"]).pruneWindow, "no prune: auto")
        XCTAssertNil(try apply(["/srv/replica-a"]).pruneWindow, "a cron apply (no --follow) of the same replica does not prune")
        XCTAssertNil(try apply(["/srv/other", "--follow"]).pruneWindow, "the retention section never prunes a follower")
        let b = try prune(["prune", "/srv/replica-b"])
        XCTAssertEqual([b.window, String(b.daily)], ["20d", "0"])
        XCTAssertEqual(try prune(["prune", "/srv/other"]).window, "30d", "a replica not in the file: the retention section")
        XCTAssertEqual(try prune(["prune", "--window", "1d", "/srv/replica-b"]).window, "1d", "a flag wins")
        XCTAssertEqual(try prune(["prune", "/srv/replica-b/../replica-a/"]).window, "4d", "paths are compared standardized")

        XCTAssertEqual(try purge(["purge", "--in-target", "nas"]).window, "7d")
        XCTAssertEqual(try purge(["purge", "--in-target=s3"]).window, "90d", "a target named only for its retention (its address in ship.yml)")
        XCTAssertEqual(try purge(["purge"]).window, "30d", "the master's segments: the retention section")
        XCTAssertEqual(try purge(["purge"]).target, ["nas=/mnt/nas"], "a target's path becomes --target NAME=PATH")
        XCTAssertEqual(try purge(["purge", "--target", "x=/x"]).target, ["x=/x"], "--target on the command line wins")
    }

    /// A follower made by the file (`replica: {follow: true}`) or the environment
    /// (`LOGSHIP_REPLICA_APPLY_FOLLOW`) prunes by its replica's `prune: auto`
    /// policy as one made by `--follow` does (it used to get no pruning options).
    func testFollowFromTheFileOrTheEnvironmentPrunesLikeTheFlag() throws {
        let yaml = """
            replica:
              follow: true
            replicas:
              a:
                path: /srv/replica-a
                prune: auto
                retention: {window: 4d, daily: 3}

            """
        let file = scratch.path + "/follow.yml"
        try yaml.write(toFile: file, atomically: true, encoding: .utf8)
        func apply(_ args: [String], _ env: [String: String]) throws -> FakeReplicaApply.Apply {
            let rewritten = try DeploymentArguments(tool: "replica-apply", options: try ToolOptions(FakeReplicaApply.self), environment: env).rewrite(args)
            return try XCTUnwrap(try FakeReplicaApply.parseAsRoot(rewritten) as? FakeReplicaApply.Apply, "\(rewritten)")
        }
        let fromFile = try apply(["/srv/replica-a"], ["LOGSHIP_CONFIG": file])
        XCTAssertTrue(fromFile.follow)
        XCTAssertEqual(fromFile.pruneWindow, "4d")
        XCTAssertEqual(fromFile.pruneDaily, 3)

        let plain = scratch.path + "/plain.yml"
        try yaml.replacingOccurrences(of: "replica:\n  follow: true\n", with: "").write(toFile: plain, atomically: true, encoding: .utf8)
        XCTAssertNil(try apply(["/srv/replica-a"], ["LOGSHIP_CONFIG": plain]).pruneWindow, "a cron apply still does not prune")
        let fromEnv = try apply(["/srv/replica-a"], ["LOGSHIP_CONFIG": plain, "LOGSHIP_REPLICA_APPLY_FOLLOW": "true"])
        XCTAssertTrue(fromEnv.follow)
        XCTAssertEqual(fromEnv.pruneWindow, "4d")
        XCTAssertNil(try apply(["/srv/replica-a"], ["LOGSHIP_CONFIG": plain, "LOGSHIP_REPLICA_APPLY_FOLLOW": "false"]).pruneWindow)
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

    /// runTool builds the options tree (ArgumentParser's whole help dump) only when a file or a
    /// variable can add to the line; the command's name for the log comes from the types alone.
    func testTheCommandPathFromTheTypesEqualsTheOneFromTheOptionsTree() throws {
        let tree = try ToolOptions(Fake.self)
        for args in [[], ["run"], ["check"], ["check", "--max-lag", "5m"], ["--quiet"], ["dir"], ["run", "check"], ["nonsense", "run"]] {
            XCTAssertEqual(ToolOptions.commandPath(Fake.self, args), tree.resolve(args).path.map(\.name), "\(args)")
        }
        XCTAssertEqual(ToolOptions.commandPath(FakeBinlogShip.self, ["purge", "--window", "7d"]), ["binlog-ship", "purge"])
        XCTAssertEqual(ToolOptions.commandPath(FakeBinlogShip.self, ["--help"]), ["binlog-ship"])
    }

    func testOnlyAConfigFlagAConfigVariableOrTheToolsOwnVariablesCanRewriteTheLine() throws {
        // /etc/logship/logship.yml would count as well; a test machine has none.
        try XCTSkipIf(FileManager.default.fileExists(atPath: DeploymentArguments.defaultPath), "this machine has \(DeploymentArguments.defaultPath)")
        let may = { (args: [String], env: [String: String]) in DeploymentArguments.mayRewrite(args, tool: "fake-tool", environment: env) }
        XCTAssertFalse(may(["run", "--max-lag", "5m"], ["PATH": "/bin", "LOGSHIP_OTHER_TOOL_MAX_LAG": "1m"]))
        XCTAssertFalse(may(["run", "--", "--config", "x.yml"], [:]), "after -- it is an argument")
        XCTAssertTrue(may(["run", "--config", "x.yml"], [:]))
        XCTAssertTrue(may(["run", "--config=x.yml"], [:]))
        XCTAssertTrue(may(["run"], ["LOGSHIP_CONFIG": ""]), "an empty LOGSHIP_CONFIG is read (it means: no file)")
        XCTAssertTrue(may(["run"], ["LOGSHIP_FAKE_TOOL_MAX_LAG": "1m"]))
        XCTAssertTrue(may(["run"], ["LOGSHIP_FAKE_TOOL_TYPO": "1"]), "an unknown variable must still be refused")
        // And where it says no, the full rewrite leaves the line as it is.
        let args = ["check", "--max-lag", "5m"]
        XCTAssertEqual(try DeploymentArguments(tool: "fake-tool", options: try ToolOptions(Fake.self), environment: ["PATH": "/bin"]).rewrite(args), args)
    }
}
