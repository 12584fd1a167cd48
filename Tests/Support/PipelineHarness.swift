import Foundation

/// The whole pipeline driven through the built tools, for the differential and point-in-time
/// tests: a master fed one transaction per `binlog-writer exec`, its state digested with the
/// sqlite3 shell after each LSN (`ShellDigest`: no logship or GRDB code), and two replicas that
/// `binlog-ship` and `replica-apply` bring forward. Every action checks what it must: exit 0,
/// the LSN a replica reaches, and that the replica then equals the master's state at that LSN.
/// The first surprise throws, naming the seed.
public final class PipelineHarness {
    public let label: String
    public let seed: UInt64
    public let dir: TestDirectory
    public let master: ToolMaster
    public var rng: SeededRandom
    private var workload: PipelineWorkload
    /// The master's digest at every LSN it reached (0: empty).
    public private(set) var states: [UInt64: [String: String]] = [:]
    /// What each LSN's transaction exercised.
    public private(set) var kinds: [String: Int] = [:]
    /// The last LSN each inbox holds (sealed segments or a partial copy), and each store's LSN.
    public private(set) var shipped: [String: UInt64] = ["a": 0, "b": 0]
    public private(set) var applied: [String: UInt64] = ["a": 0, "b": 0]
    /// Replica comparisons made (each: a store or snapshot or restored file against a state).
    public private(set) var comparisons = 0
    public private(set) var comparedLSNs: Set<UInt64> = []

    public var context: String { "\(label), seed \(seed) (rerun with LOGSHIP_SEED=\(seed))" }

    public init(_ label: String, seed: UInt64, transactions: Int, segmentSize: String = "16KiB", initArguments: [String] = []) throws {
        self.label = label
        self.seed = seed
        rng = SeededRandom(seed: seed)
        workload = PipelineWorkload(seed: seed &+ 1, length: transactions)
        dir = TestDirectory("pipeline-\(label)")
        master = try ToolMaster(dir, segmentSize: segmentSize, initArguments: initArguments)
        states[0] = try ShellDigest.inspect(master.databasePath, position: false).digest
        for name in ["a", "b"] { try run("replica-apply", ["init", replica(name)]) }
    }

    public func replica(_ name: String) -> String { dir.sub("replica-" + name) }

    /// Throws a failure naming the seed unless `condition` holds.
    public func check(_ condition: Bool, _ message: @autoclosure () -> String) throws {
        if !condition { throw ToolMaster.Failure(description: "\(message()); \(context)") }
    }

    @discardableResult
    public func run(_ tool: String, _ args: [String], expect status: Int32 = 0) throws -> ToolRunner.Result {
        let r = try timed(tool + (args.first.map { $0.hasPrefix("-") || $0.hasPrefix("/") ? "" : " " + $0 } ?? "")) { try ToolRunner.run(tool, args) }
        try check(r.status == status, "\(tool) \(args.joined(separator: " ")): exit \(r.status), expected \(status)\nstdout: \(r.stdout)\nstderr: \(r.stderr)")
        return r
    }

    /// Runs the workload's next transaction on the master and records the state it leaves.
    /// Returns false when the workload is over.
    @discardableResult
    public func step() throws -> Bool {
        guard let tx = workload.next() else { return false }
        let before = master.lastLSN
        if tx.fails {
            let r = try run("binlog-writer", ["exec", master.path, "--sync-binlog", "0", tx.sql], expect: 10)
            try check(!r.stdout.contains("lsn="), "a failed transaction printed an LSN: \(r.stdout)")
            try check(try ShellDigest.inspect(master.databasePath, position: false).digest == states[before], "the failed transaction left changes behind")
        } else {
            let commits = try master.exec(tx.sql)
            try check(commits.count <= 1, "one transaction got \(commits.count) LSNs: \(tx.sql)")
            try check(commits.first.map { $0.lsn == before + 1 } ?? true, "LSN \(commits.first!.lsn) after \(before)")
            if commits.isEmpty { try check(tx.mayChangeNothing, "\(tx.kind) logged nothing: \(tx.sql)") }
        }
        try noteSeal()
        if master.lastLSN != before { states[master.lastLSN] = try timed("digest") { try ShellDigest.inspect(master.databasePath, position: false).digest } }
        kinds[tx.kind, default: 0] += master.lastLSN != before || tx.fails || tx.kind == "no-change" ? 1 : 0
        return true
    }

    /// Records the master's state after a transaction run outside `step` (`digest`: its
    /// `ShellDigest` at the master's last LSN), and whether that sealed a segment.
    public func record(_ digest: [String: String]) throws {
        try noteSeal()
        states[master.lastLSN] = digest
    }

    /// Seals the active segment.
    public func rotate() throws {
        try run("binlog-writer", ["rotate", master.path])
        try noteSeal()
    }

    /// The last LSN in a sealed segment. The master seals on `rotate`, and by itself right after
    /// the commit that fills a segment; either way no `.binlog.active` file is left (the next
    /// commit starts one), which `noteSeal` watches for.
    public private(set) var sealedThrough: UInt64 = 0

    private func noteSeal() throws {
        let names = try FileManager.default.contentsOfDirectory(atPath: master.binlogPath)
        if !names.contains(where: { $0.hasSuffix(".binlog.active") }) { sealedThrough = master.lastLSN }
    }

    /// `binlog-ship` to `targets` (default both), with `--include-active` when asked.
    public func ship(_ targets: [String] = ["a", "b"], includeActive: Bool = false) throws {
        var args = ["--source", master.path, "--quiet"] + targets.flatMap { ["--target", "\($0)=\(replica($0))/inbox"] }
        if includeActive { args.append("--include-active") }
        try run("binlog-ship", args)
        let reach = includeActive ? master.lastLSN : sealedThrough
        for t in targets { shipped[t] = max(shipped[t]!, reach) }
    }

    /// `replica-apply` on replica `name`, bounded by an LSN or a time (inclusive), then checks
    /// the LSN it reached and that the store equals the master there.
    public func apply(_ name: String, untilLSN: UInt64? = nil, untilTime: Int64? = nil) throws {
        var args = [replica(name), "--quiet"]
        var bound = UInt64.max
        if let untilLSN { args += ["--until-lsn", "\(untilLSN)"]; bound = untilLSN }
        if let untilTime {
            args += ["--until-time", Self.timestamp(untilTime)]
            bound = master.commits.last { $0.commitTime <= untilTime }?.lsn ?? 0
        }
        try run("replica-apply", args)
        let expected = max(applied[name]!, min(shipped[name]!, bound))
        try compare(replica(name) + "/store.db", at: expected, "replica \(name) after `replica-apply \(args.joined(separator: " "))`")
        applied[name] = expected
    }

    /// `replica-apply snapshot` on `name`; the snapshot equals the master at the store's LSN.
    public func snapshot(_ name: String) throws {
        guard applied[name]! > 0 else { return }   // a store that applied nothing claims no source to snapshot
        try run("replica-apply", ["snapshot", replica(name)])
        let file = replica(name) + "/snapshots/" + String(format: "snapshot-%016llx.db", applied[name]!)
        try compare(file, at: applied[name]!, "snapshot of \(name)")
    }

    /// Brings everything sealed to both replicas; both must reach the master's last LSN.
    public func catchUp() throws {
        try rotate()
        try ship()
        for name in ["a", "b"] {
            try apply(name)
            try check(applied[name] == master.lastLSN, "replica \(name) at \(applied[name]!) after catching up, master at \(master.lastLSN)")
        }
    }

    /// Checks that `file` claims `lsn` and holds exactly the master's tables and schema there.
    public func compare(_ file: String, at lsn: UInt64, _ what: String) throws {
        let (claimed, actual) = try timed("digest") { try ShellDigest.inspect(file) }
        try check(claimed == lsn, "\(what): \(file) claims LSN \(claimed), expected \(lsn)")
        guard let expected = states[lsn] else { throw ToolMaster.Failure(description: "no recorded master state at LSN \(lsn); \(context)") }
        let differing = Set(expected.keys).union(actual.keys).filter { expected[$0] != actual[$0] }.sorted()
        try check(differing.isEmpty, "\(what) differs from the master at LSN \(lsn) in \(differing)")
        comparisons += 1
        comparedLSNs.insert(lsn)
    }

    /// Seconds spent per tool and subcommand (and in digests), for the summary line.
    public private(set) var seconds: [String: Double] = [:]

    public func timed<T>(_ what: String, _ body: () throws -> T) rethrows -> T {
        let start = Date()
        defer { seconds[what, default: 0] += Date().timeIntervalSince(start) }
        return try body()
    }

    /// One line saying what the run did and where its time went.
    public var summary: String {
        let spent = seconds.sorted { $0.value > $1.value }.map { String(format: "%@ %.1fs", $0.key, $0.value) }.joined(separator: ", ")
        return "\(label): \(master.lastLSN) LSNs (seed \(seed)), \(comparisons) comparisons at \(comparedLSNs.count) LSNs; \(spent)"
    }

    /// A master commit time as `--until-time` and `--to-time` take it (UTC, microseconds).
    public static func timestamp(_ micros: Int64) -> String {
        var seconds = time_t(micros / 1_000_000)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        return String(format: "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ", parts.tm_year + 1900, parts.tm_mon + 1, parts.tm_mday,
                      parts.tm_hour, parts.tm_min, parts.tm_sec, Int32(micros % 1_000_000))
    }
}
