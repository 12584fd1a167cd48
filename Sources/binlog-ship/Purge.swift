import ArgumentParser
import BinlogShip
import Foundation
import LogshipCLI
import BinlogFormat

struct Purge: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Delete master segments older than a retention once every target holds a verified copy (dry run unless --confirm).",
        discussion: """
            Only the oldest segments go, never one in the middle, never the active segment and never the
            newest sealed one (the master chains the next segment to it). A segment stays while any
            configured target lacks it, holds a copy that differs, or a target with state is no longer
            configured. Prints what would go (or went) and why the rest stays.
            """)

    @OptionGroup var options: ShipOptions

    @Option(help: "Keep segments sealed less than this long ago, e.g. 7d (default: `retention` in the config file).")
    var olderThan: String?

    @Option(help: "Also keep every segment holding a commit in this window, e.g. 14d, and the one before it (default: `retention_window` in the config file).")
    var window: String?

    @Option(help: "Purge inside this target instead of the master: delete its segments a restore of the --window's oldest moment from it no longer needs (default window: the target's `retention` in logship.yml).")
    var inTarget: String?

    @Flag(help: "Delete; without it nothing is deleted.")
    var confirm = false

    @Option(help: "Seconds to wait for a running ship to finish (default 0: exit 12 at once).")
    var lockTimeout: Double = 0

    @Flag(name: .shortAndLong, help: "Print nothing when it succeeds (for cron).")
    var quiet = false

    @Flag(help: "Print the result as JSON (docs/JSON.md).")
    var json = false

    func validate() throws {
        if let olderThan, parseDuration(olderThan) == nil { throw ValidationError("--older-than takes a duration like 12h or 7d") }
        if let window, (parseDuration(window) ?? 0) <= 0 { throw ValidationError("--window takes a duration more than 0s, like 36h or 14d") }
    }

    func run() throws {
        try runReporting("binlog-ship") {
            let config = try options.load()
            if let inTarget { return try purgeTarget(inTarget, config: config) }
            let window = self.window.flatMap(parseDuration) ?? config.retentionWindow
            guard let retention = olderThan.flatMap(parseDuration) ?? config.retention ?? (window == nil ? nil : 0) else {
                throw ShipError(.config, "purge needs a retention", hint: "pass --older-than 7d or --window 14d, or set `retention:` or `retention_window:` in the config file")
            }
            let plan = confirm ? try Purger.execute(config: config, retention: retention, window: window, lockTimeout: lockTimeout)
                               : try Purger.plan(config: config, retention: retention, window: window)
            if json { printLine(try jsonText(PurgeJSON(plan, deleted: confirm))); return }
            if quiet { return }
            let verb = confirm ? "deleted" : "would delete"
            for s in plan.delete {
                printLine("\(verb) \(s.name) (\(formatBytes(s.bytes)), sealed \(s.sealedAt), LSN ≤ \(s.lastLSN)): every target holds a verified copy")
            }
            if let why = plan.keptBecause { printLine("keeping \(segments(plan.kept)): \(why)") }
            if confirm {
                printLine("deleted \(segments(plan.delete.count)) (\(formatBytes(plan.bytes)))")
            } else {
                printLine("dry run: nothing deleted" + (plan.delete.isEmpty ? "" : "; rerun with --confirm to delete \(segments(plan.delete.count)) (\(formatBytes(plan.bytes)))"))
            }
        }
    }
}

extension Purge {
    /// `--in-target NAME`: the target's own window; the master's segments are not touched.
    func purgeTarget(_ name: String, config: ShipConfig) throws {
        guard olderThan == nil else { throw ShipError(.config, "--older-than applies to the master's segments, not with --in-target", hint: "give the target's --window") }
        guard let window = self.window.flatMap(parseDuration) else {
            throw ShipError(.config, "purge --in-target \(name) needs a window", hint: "pass --window 14d, or set `targets: {\(name): {retention: {window: 14d}}}` in logship.yml")
        }
        let plan = confirm ? try TargetPurger.execute(config: config, target: name, window: window, lockTimeout: lockTimeout)
                           : try TargetPurger.plan(config: config, target: name, window: window)
        if json { printLine(try jsonText(TargetPurgeJSON(plan, deleted: confirm))); return }
        if quiet { return }
        let verb = confirm ? "deleted" : "would delete"
        printLine("target \(name): every moment since \(formatTimestamp(plan.windowStart)) stays restorable"
                  + (plan.anchorLSN.map { " (restores start at LSN \($0)" + (plan.anchorSnapshot.map { ", \($0)" } ?? "") + ")" } ?? ""))
        for s in plan.delete { printLine("\(verb) \(s.key) (\(formatBytes(s.bytes)), LSN \(s.firstLSN)…\(s.lastLSN)): before the window's anchor") }
        if let why = plan.keptBecause { printLine("keeping \(segments(plan.kept)): \(why)") }
        printLine(confirm ? "deleted \(segments(plan.delete.count)) (\(formatBytes(plan.bytes))) from target \(name)"
                          : "dry run: nothing deleted" + (plan.delete.isEmpty ? "" : "; rerun with --confirm to delete \(segments(plan.delete.count)) (\(formatBytes(plan.bytes)))"))
    }
}

/// `purge --in-target --json` (docs/JSON.md).
struct TargetPurgeJSON: Encodable {
    struct Segment: Encodable { var key: String; var bytes: Int64; var firstLSN: UInt64; var lastLSN: UInt64 }
    var confirmed: Bool
    var target: String
    var windowStart: String
    var anchorLSN: UInt64?
    var anchorSnapshot: String?
    var segments: [Segment]
    var bytes: Int64
    var kept: Int
    var keptBecause: String?

    init(_ plan: TargetPurger.Plan, deleted: Bool) {
        confirmed = deleted
        target = plan.target
        windowStart = formatTimestamp(plan.windowStart)
        anchorLSN = plan.anchorLSN
        anchorSnapshot = plan.anchorSnapshot
        segments = plan.delete.map { .init(key: $0.key, bytes: $0.bytes, firstLSN: $0.firstLSN, lastLSN: $0.lastLSN) }
        bytes = plan.bytes
        kept = plan.kept
        keptBecause = plan.keptBecause
    }
}

/// `purge --json` (docs/JSON.md): the segments deleted (or that would be) and why the rest stay.
struct PurgeJSON: Encodable {
    struct Segment: Encodable { var segment: String; var path: String; var bytes: Int64; var sealedAt: String; var lastLSN: UInt64 }
    var confirmed: Bool
    var segments: [Segment]
    var bytes: Int64
    var kept: Int
    var keptBecause: String?

    init(_ plan: Purger.Plan, deleted: Bool) {
        confirmed = deleted
        segments = plan.delete.map { .init(segment: $0.name, path: $0.path, bytes: $0.bytes, sealedAt: $0.sealedAt, lastLSN: $0.lastLSN) }
        bytes = plan.bytes
        kept = plan.kept
        keptBecause = plan.keptBecause
    }
}

struct Forget: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Forget what was shipped to a target: the next run ships it everything the source holds; purge stops waiting for it.",
        discussion: "For a target that was wiped or replaced on purpose, or that is gone for good. Files already in the target are compared, not rewritten.")

    @OptionGroup var options: ShipOptions

    @Argument(help: "The target's name (or directory).")
    var name: String

    @Flag(help: "Print the result as JSON (docs/JSON.md).")
    var json = false

    struct Output: Encodable { var target: String; var path: String; var lastSegment: String?; var lastLSN: UInt64? }

    func run() throws {
        try runReporting("binlog-ship") {
            let old = try Shipper.forget(target: name, config: try options.load())
            if json { printLine(try jsonText(Output(target: name, path: old.path, lastSegment: old.lastSegment, lastLSN: old.lastLSN))); return }
            printLine("forgot target \(name) (\(old.path)), which held up to " + (old.lastSegment.map { "\($0), LSN \(old.lastLSN ?? 0)" } ?? "nothing"))
        }
    }
}
