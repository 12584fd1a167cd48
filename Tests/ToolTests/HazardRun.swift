import Foundation
import LogshipTestSupport

/// One seeded run of `HazardDifferentialTests`: the workload's scripts on a master (through the
/// `PipelineHarness`, which drives the built tools and keeps the master's state at every LSN)
/// and on plain SQLite, then the replica brought forward and compared. The first surprise
/// throws, naming the seed, the script (its class, label, SQL) and what differed.
final class HazardRun {
    typealias Script = HazardWorkload.Script

    let seed: UInt64
    let harness: PipelineHarness
    let plain: PlainSQLite
    private var workload: HazardWorkload
    private(set) var scripts: [Script] = []
    /// The script each LSN came from (an index into `scripts`).
    private var scriptOfLSN: [UInt64: Int] = [:]
    /// Per class: scripts run, refused by the master, failed on both sides with SQLite's error.
    private var counts: [Hazard: [String: Int]] = [:]
    private var points = 0

    /// The master writes a digest marker every this-many transactions; replica-apply checks its
    /// rows against each, and the test compares the replica with the master at each as well.
    static let markerEvery = 5

    init(seed: UInt64, statements: Int, only: Set<Hazard>?) throws {
        self.seed = seed
        harness = try PipelineHarness("hazards", seed: seed, transactions: 0, initArguments: ["--digest-every", "\(Self.markerEvery)"])
        plain = PlainSQLite(path: harness.dir.sub("plain.db"))
        workload = HazardWorkload(seed: seed, length: statements, only: only)
    }

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// Throws unless `condition` holds, naming the script and the seed.
    private func expect(_ condition: Bool, _ script: Script, _ message: @autoclosure () -> String) throws {
        guard !condition else { return }
        throw Failure(description: "[\(script.hazard.rawValue) / \(script.label)] script #\(scripts.count) on the master at LSN \(harness.master.lastLSN): "
                      + "\(message())\nSQL: \(script.sql)\n(seed \(seed))")
    }

    /// Runs every script on the master and on plain SQLite, comparing after each.
    func runWorkload() throws {
        while let script = workload.next() {
            scripts.append(script)
            try run(script)
        }
    }

    private func run(_ script: Script) throws {
        let master = harness.master
        let before = master.lastLSN
        let (result, commits) = try harness.timed("exec") { try master.execWhateverTheStatus(script.sql) }
        for commit in commits { scriptOfLSN[commit.lsn] = scripts.count - 1 }
        let rule = HazardDifferentialTests.refusals[script.hazard] ?? .never
        counts[script.hazard, default: [:]]["run", default: 0] += 1
        if HazardDifferentialTests.isRefusal(result) {
            try expect(rule != .never, script, "the master refused a statement it must run: \(result.stderr)")
            try expect(commits.isEmpty, script, "a refused script was logged: \(result.stdout)")
            try expect(try masterDigest() == harness.states[before], script, "a refused script changed the master")
            counts[script.hazard, default: [:]]["refused", default: 0] += 1
            workload.note(committed: false)
            return
        }
        try expect(rule != .required, script, "the master ran a statement it must refuse: exit \(result.status)\nstdout: \(result.stdout)\nstderr: \(result.stderr)")
        try expect(result.status == 0 || result.status == 10, script, "binlog-writer exec exited \(result.status): \(result.stderr)")
        let outcome = try harness.timed("plain") { try plain.run(script.sql) }
        try expect(outcome.succeeded == (result.status == 0), script,
                   "the master exited \(result.status) (\(result.stderr.trimmingCharacters(in: .whitespacesAndNewlines))), plain SQLite: \(outcome)")
        if !outcome.succeeded { counts[script.hazard, default: [:]]["failed", default: 0] += 1 }
        let digest = try masterDigest()
        let reference = try harness.timed("digest") { try ShellDigest.inspect(plain.path, position: false).digest }
        try expect(digest == reference, script, "the master and plain SQLite differ in \(Self.differences(digest, reference)) (\(outcome))")
        if master.lastLSN == before {
            try expect(digest == harness.states[before], script,
                       "the master changed \(Self.differences(digest, harness.states[before] ?? [:])) without logging a transaction (exit \(result.status))")
        } else {
            try harness.record(digest)
        }
        workload.note(committed: result.status == 0)
    }

    private func masterDigest() throws -> [String: String] {
        try harness.timed("digest") { try ShellDigest.inspect(harness.master.databasePath, position: false).digest }
    }

    static func differences(_ a: [String: String], _ b: [String: String]) -> [String] {
        Set(a.keys).union(b.keys).filter { a[$0] != b[$0] }.sorted()
    }

    /// The LSNs at which the replica is compared with the master: those of the digest markers
    /// whose state was recorded (a marker-only transaction of `rotate` changes nothing and has
    /// none of its own), and the last recorded LSN; so the test checks the replica wherever apply
    /// checks itself against the master's digest.
    static func comparisonPoints(markers: [UInt64], recorded: [UInt64]) -> [UInt64] {
        let known = Set(recorded)
        var points = markers.filter { known.contains($0) }.sorted()
        if let last = recorded.max(), points.last != last { points.append(last) }
        return points
    }

    /// The LSNs of the digest markers in the master's binlog (`binlog-writer dump --format jsonl`).
    func markerLSNs() throws -> [UInt64] {
        let r = try ToolRunner.run("binlog-writer", ["dump", harness.master.path, "--format", "jsonl"])
        guard r.status == 0 else { throw Failure(description: "binlog-writer dump exited \(r.status): \(r.stderr)") }
        return r.stdout.split(separator: "\n").compactMap { line in
            guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                  object["digest"] != nil, let lsn = object["lsn"] as? Int else { return nil }
            return UInt64(lsn)
        }
    }

    /// Seals, ships everything to replica "a" and applies it in steps, to each comparison point;
    /// the replica must equal the master at each. A failure names the scripts since the previous
    /// point and, from point-in-time restores, the first LSN at which the replica differs.
    func replicate() throws {
        try harness.rotate()
        try harness.ship(["a"])
        var previous: UInt64 = 0
        let markers = try markerLSNs()
        // Proof that the markers fired: about one every `markerEvery` LSNs.
        try harness.check(markers.count >= max(1, Int(harness.master.lastLSN) / (Self.markerEvery + 1)),
                          "the master wrote only \(markers.count) digest markers in \(harness.master.lastLSN) LSNs")
        for point in Self.comparisonPoints(markers: markers, recorded: harness.states.keys.filter { $0 > 0 }.sorted()) {
            do {
                try harness.apply("a", untilLSN: point)
            } catch {
                throw Failure(description: "\(error)\n\(pinpoint(after: previous, through: point))")
            }
            previous = point
            points += 1
        }
    }

    /// The first LSN in `after+1 ... through` at which a restore of the shipped binlog differs
    /// from the master (or fails), with the script it came from.
    private func pinpoint(after: UInt64, through: UInt64) -> String {
        let out = harness.dir.sub("pinpoint.db")
        for lsn in (after + 1)...max(after + 1, through) {
            guard let expected = harness.states[lsn] else { continue }
            let what = scriptOfLSN[lsn].map { "script #\($0 + 1) [\(scripts[$0].hazard.rawValue) / \(scripts[$0].label)]: \(scripts[$0].sql)" } ?? "no script"
            guard let r = try? ToolRunner.run("replica-apply", ["restore", harness.replica("a"), "--to-lsn", "\(lsn)", "-o", out, "--force"]) else { break }
            guard r.status == 0 else { return "restore --to-lsn \(lsn) exited \(r.status): \(r.stderr)\nLSN \(lsn) came from \(what)" }
            guard let actual = try? ShellDigest.inspect(out, position: false).digest else { break }
            if actual != expected { return "first differing LSN \(lsn) (in \(Self.differences(actual, expected))) came from \(what)" }
        }
        let range = Set(((after + 1)...max(after + 1, through)).compactMap { scriptOfLSN[$0] }).sorted()
        return "scripts in LSNs \(after + 1)…\(through):\n" + range.map { "#\($0 + 1) [\(scripts[$0].hazard.rawValue)] \(scripts[$0].sql)" }.joined(separator: "\n")
    }

    /// One line: seed, scripts, LSNs, comparisons, per class run/refused/failed, and the time.
    var summary: String {
        let classes = counts.keys.sorted().map { h in
            "\(h.rawValue) \(counts[h]!["run", default: 0])/\(counts[h]!["refused", default: 0])/\(counts[h]!["failed", default: 0])"
        }
        return "hazards (seed \(seed)): \(scripts.count) scripts, \(harness.master.lastLSN) LSNs, replica compared at \(points) points (its digest markers and the last LSN); "
            + "run/refused/failed: \(classes.joined(separator: ", ")); \(harness.summary)"
    }
}
