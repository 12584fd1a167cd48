import ArgumentParser
import BinlogFormat
import BinlogShip
import Foundation
import LogshipCLI

struct BinlogShipCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "binlog-ship",
        abstract: "Ship sealed binlog segments from a master to replica inboxes: verified, atomic, in order; for cron.",
        discussion: """
            Without a subcommand, `binlog-ship` runs `ship`. Typical crontab:
              * * * * *   binlog-writer rotate /srv/master --if-older-than 5m
              * * * * *   binlog-ship --config /etc/logship/ship.yml --quiet
              */5 * * * * binlog-ship check --config /etc/logship/ship.yml --max-lag 15m
              30 3 * * *  binlog-ship purge --config /etc/logship/ship.yml --older-than 7d --confirm
            docs/SHIPPING.md has the contract, the config file and the state file.

            """ + deploymentHelp(tool: "binlog-ship") + "\n\nExit codes (shared by binlog-writer, binlog-ship, replica-apply and report):\n" + exitCodeHelp(),
        version: versionText(tool: "binlog-ship"),
        subcommands: [Ship.self, Status.self, Check.self, Purge.self, Verify.self, Forget.self],
        defaultSubcommand: Ship.self)
}

/// Where to ship from and to: a config file, flags, or both (flags add targets).
struct ShipOptions: ParsableArguments {
    @Option(name: [.customShort("c"), .long], help: "YAML config file (see docs/SHIPPING.md).")
    var config: String?

    @Option(help: "The master data directory (or its binlog directory).")
    var source: String?

    @Option(help: ArgumentHelp("A target directory (a replica inbox) or an S3 bucket prefix (s3://bucket/prefix; endpoint and credentials from the AWS variables), as DIR or NAME=DIR; repeat for several. Added to the config file's targets.", valueName: "[name=]dir"))
    var target: [String] = []

    @Option(help: "Where the state file and the lock live (default: <master>/ship).")
    var stateDir: String?

    @Option(name: .customLong("verify-key"), help: "A public key file (signing.pub): ship only sealed segments with a good signature by one of these keys (repeatable).")
    var verifyKeys: [String] = []

    @Option(help: ArgumentHelp("For S3 targets: the most bytes per second to and from the bucket, with a unit (10MiB/s, 512KiB/s); overrides ship.yml's max-bandwidth.", valueName: "rate"))
    var maxBandwidth: String?

    func validate() throws {
        if let maxBandwidth, S3TargetSettings.parseBandwidth(maxBandwidth) == nil {
            throw ValidationError("--max-bandwidth takes bytes per second with a unit, like 10MiB/s or 512KiB/s (not \(maxBandwidth))")
        }
    }

    func load() throws -> ShipConfig {
        var c = try config.map { try ShipConfig.load(path: absolute($0), parseDuration: parseDuration) } ?? ShipConfig()
        if let source { c.source = absolute(source) }
        if let stateDir { c.stateDirectory = absolute(stateDir) }
        if !verifyKeys.isEmpty { c.verifier = SegmentVerifier(keys: try verifyKeys.map(SigningKeyFile.readPublic)) }
        try c.addTargets(target.map { flag in
            guard let eq = flag.firstIndex(of: "="), !flag[..<eq].contains("/") else { return absolute(flag) }
            let dir = String(flag[flag.index(after: eq)...])
            return dir.isEmpty ? flag : String(flag[...eq]) + absolute(dir)
        })
        if let limit = maxBandwidth.flatMap(S3TargetSettings.parseBandwidth) {
            for i in c.targets.indices where c.targets[i].isS3 {
                var settings = c.targets[i].s3 ?? S3TargetSettings()
                settings.maxBandwidth = limit
                c.targets[i].s3 = settings
            }
        }
        return c
    }
}

/// A path made absolute against the working directory; an `s3://` address stays as written.
func absolute(_ path: String) -> String {
    path.hasPrefix("/") || path.hasPrefix("s3://") ? path : FileManager.default.currentDirectoryPath + "/" + path
}

func printLine(_ s: String) {
    FileHandle.standardOutput.write(Data((s + "\n").utf8))
}

func segments(_ n: Int) -> String { n == 1 ? "1 segment" : "\(n) segments" }

func lsnRange(_ first: UInt64, _ last: UInt64) -> String { first > last ? "no transactions" : "LSN \(first)…\(last)" }

// logship.yml and LOGSHIP_BINLOG_SHIP_* fill in what the command line leaves out (LogshipCLI/ToolMain).
runTool(BinlogShipCommand.self, tool: "binlog-ship")
