import ArgumentParser
import BinlogFormat
import Foundation
import LogshipCLI
import LogshipSystem
import ReplicaStore
import Reports

/// `--as-of-lsn` / `--as-of-time`: the report as the data stood then, from a restored copy of
/// the replica (Reports/AsOfRestore.swift).
struct AsOfOptions: ParsableArguments {
    @Option(name: .customLong("as-of-lsn"), help: "Report the data as it stood at this LSN (restored into a temporary copy; the replica is only read).")
    var asOfLSN: UInt64?

    @Option(name: .customLong("as-of-time"), help: "Report the data as of the last transaction committed at or before this time (with its zone: 2026-03-01T00:00:00Z or +01:00; a time without one is refused).")
    var asOfTime: String?

    func validate() throws {
        if asOfLSN != nil && asOfTime != nil { throw ValidationError("give --as-of-lsn or --as-of-time, not both") }
        if let asOfTime, let problem = typedTimeProblem(asOfTime) { throw ValidationError("--as-of-time: cannot read \(asOfTime): \(problem)") }
    }

    /// The flags an as-of report or export cannot take, with a reason each (exit 64).
    static func check(stores: Int, maxLag: String?, minLSN: UInt64?, allowMaster: Bool, what: String = "report") throws {
        let hint = "an as-of \(what) reads one replica's snapshots and inbox"
        guard stores == 1 else { throw ReportError(.invalid, "--as-of-lsn/--as-of-time take one --store (a replica directory), not \(stores)", hint: hint) }
        guard maxLag == nil, minLSN == nil else { throw ReportError(.invalid, "--max-lag and --min-lsn do not apply to an as-of \(what): its data is pinned", hint: hint) }
        guard !allowMaster else { throw ReportError(.invalid, "--allow-master does not apply to an as-of \(what)", hint: hint) }
    }

    var target: Restore.Target? {
        if let asOfLSN { return .lsn(asOfLSN) }
        return asOfTime.flatMap(parseTimestamp).map { .time($0) }
    }
}

extension ReportOptions {
    /// Runs `body` (the report) on the store the flags choose, or for an as-of report on a
    /// restored copy of the one --store, then writes the stamp `report verify` reads beside --out.
    func runReport(_ asOf: AsOfOptions, command: String, _ body: (ReportStore, ReportWriter) throws -> Freshness) throws {
        guard let target = asOf.target else {
            let (choice, writer) = try prepare()
            noteFreshness(try body(choice.store, writer))
            return
        }
        try checkAsOf()
        let limits = self.limits
        limits.applyMemoryLimit()
        if let timeout = limits.timeout { Watchdog.start(after: timeout) }
        try AsOfRestore.withStore(replica: store[0], target: target) { (copy: ReportStore, plan: Restore.Plan) -> Void in
            copy.limits = limits
            let freshness = try body(copy, try openWriter())
            noteFreshness(freshness)
            guard let out else { return }
            let size = ((try? FileManager.default.attributesOfItem(atPath: out))?[.size] as? NSNumber)?.intValue ?? 0
            try ReportStamp(command: command, arguments: Self.pinnedArguments(CommandLine.arguments, command: command, lsn: plan.targetLSN),
                            replica: freshness.store, lsn: freshness.lsn, commitTime: freshness.commitTime, bytes: size).write(besides: out)
        }
    }

    /// The flags an as-of report cannot take with a reason each (exit 64).
    func checkAsOf() throws {
        try AsOfOptions.check(stores: store.count, maxLag: maxLag, minLSN: minLSN, allowMaster: allowMaster)
    }

    /// The report's own arguments, made to give the same bytes from anywhere later: stores and
    /// SQL files absolute, `--as-of-time` replaced by the LSN it resolved to, no --out/--force.
    static func pinnedArguments(_ argv: [String], command: String, lsn: UInt64) -> [String] {
        guard let start = argv.firstIndex(of: command) else { return [] }
        var result: [String] = [], i = start + 1
        let dropWithValue: Set = ["--out", "--as-of-lsn", "--as-of-time"], absolute: Set = ["--store", "--file"]
        while i < argv.count {
            let a = argv[i]
            let name = String(a.prefix { $0 != "=" }), inline = a.contains("=") && a.hasPrefix("--")
            if a == "--" { result += argv[i...]; break }
            if a == "--force" { i += 1; continue }
            if dropWithValue.contains(name) { i += inline ? 1 : 2; continue }
            if absolute.contains(name) {
                let value = inline ? String(a.dropFirst(name.count + 1)) : (i + 1 < argv.count ? argv[i + 1] : "")
                result += [name, URL(fileURLWithPath: value).standardizedFileURL.path]
                i += inline ? 1 : 2
                continue
            }
            result.append(a)
            i += 1
        }
        return result + ["--as-of-lsn", String(lsn)]
    }
}
