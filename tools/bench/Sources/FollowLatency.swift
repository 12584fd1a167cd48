import ArgumentParser
import BinlogFormat
import BinlogMaster
import Foundation
import GRDB

/// Issue 15's latency bench: commit → visible on a replica with `binlog-ship --follow` and
/// `replica-apply --follow` running, at several commit rates. The writer commits one stamped
/// row per transaction through the master in this process and notes when each commit was
/// acknowledged; a reader thread polls the replica's store (read-only, every 0.5 ms) and notes
/// when each row became visible. Also: the followers' CPU while idle, and the master's durable
/// commit rate with and without the followers beside it. The physical floor (one fdatasync of
/// 4 KiB) is printed beside it. Where the time goes: the reader also notes when the replica's
/// inbox partial copy first holds each commit's frame (its size reaches the master's active file
/// size after the commit), so each latency splits into commit → inbox (the shipper) and inbox →
/// visible (the applier). `tools/bench/lag` runs this beside PostgreSQL streaming replication.
struct FollowLatency: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "follow-latency",
        abstract: "Commit → visible latency with binlog-ship --follow and replica-apply --follow (p50/p99 per rate), idle CPU, commit rate with and without followers.")

    @Option(help: "Commit rates to measure, commits per second.") var rates: [Int] = [10, 100, 1000]
    @Option(help: "Commits per rate.") var commits: Int = 500
    @Option(help: "Directory of binlog-writer, binlog-ship and replica-apply (default: this executable's).") var bin: String?
    @Option(help: "Work directory (default: a new one under /tmp, removed afterwards).") var workdir: String?
    @Option(help: "Seconds over which the followers' idle CPU is taken.") var idleSeconds: Double = 10
    @Option(help: "Passed to both followers as --pass-interval (e.g. 5ms): the least time between two passes.") var passInterval: String?
    @Option(help: "binlog-ship's own --pass-interval (overrides --pass-interval for the shipper).") var shipPassInterval: String?
    @Option(help: "replica-apply's own --pass-interval (overrides --pass-interval for the applier).") var applyPassInterval: String?
    @Option(help: "Passed to both followers as --pass-batch (with a pass interval): wait between passes only while this many or more transactions arrive per interval.") var passBatch: Int?
    @Option(help: "Passed to binlog-ship as --nice (its own CPU niceness while following; it defaults to 19).") var shipNice: Int?
    @Option(help: "Commits of each window of the master's as-fast-as-it-goes rate, with and without the followers.") var burst: Int = 2000
    @Option(help: "Other processes to stop and continue with the followers in the paired windows (a synthetic load to compare with them).") var contender: [Int32] = []
    @Option(help: "Pairs of windows (followers running, followers stopped), in alternating order.") var pairs: Int = 8
    @Option(help: "Runs both followers under nice(1) with this niceness (e.g. 19), so that a busy CPU goes to the master first.") var followerNice: Int?
    @ArgumentParser.Flag(help: "Only the master's commit rate with and without the followers (no latency rounds, no idle CPU).") var rateOnly = false

    func run() throws {
        let tools = bin ?? (ChildProcess.selfPath() as NSString).deletingLastPathComponent
        let dir = workdir ?? NSTemporaryDirectory() + "follow-latency-\(getpid())"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { if workdir == nil { try? FileManager.default.removeItem(atPath: dir) } }
        print("load      \(Machine.loadAverage())")
        print("floor     fdatasync of 4 KiB: \(String(format: "%.2f", try Machine.fsyncLatency(in: dir))) ms (mean of 50)")
        let floor = try Machine.shippingFloor(in: dir)
        print(String(format: "floor     commit → replica, physical (fdatasync master + copy fdatasynced + fdatasync store, 200 rounds): p50 %.2f ms p99 %.2f ms",
                     percentile(floor, 0.5), percentile(floor, 0.99)))
        let shipInterval = shipPassInterval ?? passInterval, applyInterval = applyPassInterval ?? passInterval
        let batchArgs = passBatch.map { ["--pass-batch", String($0)] } ?? []
        let followerArgs = FollowerArgs(ship: (shipInterval.map { ["--pass-interval", $0] } ?? []) + batchArgs + (shipNice.map { ["--nice", String($0)] } ?? []),
                                        apply: (applyInterval.map { ["--pass-interval", $0] } ?? []) + batchArgs)
        if shipInterval != nil || applyInterval != nil {
            print("followers --pass-interval \(shipInterval ?? "0") (binlog-ship), \(applyInterval ?? "0") (replica-apply)"
                  + (passBatch.map { ", --pass-batch \($0)" } ?? ""))
        }
        if let followerNice { print("followers under nice -n \(followerNice)") }
        for rate in rates where !rateOnly {
            let run = try Pipeline(dir: dir + "/rate-\(rate)", tools: tools, followerArgs: followerArgs, nice: followerNice)
            defer { run.stop() }
            let m = try run.measure(rate: rate, commits: commits)
            let latencies = m.total
            print(String(format: "rate %5d/s  commits %d  p50 %.2f ms  p99 %.2f ms  max %.2f ms", rate, latencies.count,
                         percentile(latencies, 0.5), percentile(latencies, 0.99), latencies.max() ?? 0))
            print(String(format: "stages %5d/s  commit→inbox p50 %.2f ms p99 %.2f ms  inbox→visible p50 %.2f ms p99 %.2f ms", rate,
                         percentile(m.shipped, 0.5), percentile(m.shipped, 0.99), percentile(m.applied, 0.5), percentile(m.applied, 0.99)))
            if rate == rates.last {
                let idle = run.idleCPU(seconds: idleSeconds)
                print(String(format: "idle CPU over %.0f s: binlog-ship --follow %.2f %%, replica-apply --follow %.2f %%", idleSeconds, idle.ship, idle.apply))
            }
        }
        // The master's own rate, as fast as it goes, with the followers running beside it and
        // with them stopped (SIGSTOP), in alternating windows on one master: the machine's own
        // drift (other tenants, the disk) moves both sides of a pair alike, where two separate
        // bursts a few seconds apart differed by up to 30 %. After each window the followers
        // catch up before the next one begins, so a window with them running sees them in step.
        let pipe = try Pipeline(dir: dir + "/rate", tools: tools, followerArgs: followerArgs, nice: followerNice)
        defer { pipe.stop() }
        try pipe.waitCaughtUp()
        var with: [Double] = [], without: [Double] = [], cpu = [0.0, 0.0], withSeconds = 0.0
        for pair in 0..<pairs {
            for running in pair % 2 == 0 ? [true, false] : [false, true] {
                if !running { pipe.signalFollowers(SIGSTOP); for pid in contender { kill(pid, SIGSTOP) } }
                let cpuBefore = pipe.followerCPUSeconds()
                let start = monotonicSeconds()
                let rate = try pipe.burst(commits: burst)
                if running {
                    withSeconds += monotonicSeconds() - start
                    for (i, (b, a)) in zip(cpuBefore, pipe.followerCPUSeconds()).enumerated() where i < 2 { cpu[i] += a - b }
                    with.append(rate)
                } else {
                    without.append(rate)
                    pipe.signalFollowers(SIGCONT)
                    for pid in contender { kill(pid, SIGCONT) }
                }
                try pipe.waitCaughtUp()
            }
        }
        let changes = zip(with, without).map { ($0 / $1 - 1) * 100 }
        print("pairs     " + zip(without, with).map { String(format: "%.0f/%.0f", $0, $1) }.joined(separator: ", ")
              + " (without/with, commits/s; \(burst) commits a window)")
        print(String(format: "followers' CPU during the windows with them: binlog-ship --follow %.0f %%, replica-apply --follow %.0f %% of one core",
                     cpu[0] / withSeconds * 100, cpu[1] / withSeconds * 100))
        print(String(format: "master durable commits/s: %.0f without followers, %.0f with both followers running (median change per pair %+.1f %%)",
                     median(without), median(with), median(changes)))
        print("load      \(Machine.loadAverage())")
    }

    func median(_ xs: [Double]) -> Double { percentile(xs, 0.5) }

    func percentile(_ xs: [Double], _ p: Double) -> Double {
        guard !xs.isEmpty else { return 0 }
        let s = xs.sorted()
        return s[min(s.count - 1, Int(Double(s.count - 1) * p + 0.5))]
    }
}

/// Extra arguments for each follower.
struct FollowerArgs {
    var ship: [String] = []
    var apply: [String] = []
}

/// A master, a replica, and the two followers between them.
final class Pipeline {
    let master: Master
    let storePath: String
    let masterBinlog: String
    let inbox: String
    var followers: [Process] = []

    init(dir: String, tools: String, followers start: Bool = true, followerArgs: FollowerArgs = FollowerArgs(), nice: Int? = nil) throws {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        for (tool, args) in [("binlog-writer", ["init", dir + "/master", "--digest-interval", "0"]), ("replica-apply", ["init", dir + "/replica"])] {
            let p = try Process.run(URL(fileURLWithPath: tools + "/" + tool), arguments: args)
            p.waitUntilExit()
            guard p.terminationStatus == 0 else { throw BenchError("\(tool) \(args) failed") }
        }
        master = try Master.open(dir + "/master")
        _ = try master.execute("CREATE TABLE stamps(id INTEGER PRIMARY KEY, note TEXT)")
        storePath = dir + "/replica/store.db"
        masterBinlog = dir + "/master/binlog"
        inbox = dir + "/replica/inbox"
        if start {
            let null = FileHandle(forWritingAtPath: "/dev/null")
            for (tool, args) in [("binlog-ship", ["--source", dir + "/master", "--target", dir + "/replica/inbox", "--follow", "--quiet"] + followerArgs.ship),
                                 ("replica-apply", [dir + "/replica", "--follow", "--quiet"] + followerArgs.apply)] {
                let p = Process()
                if let nice {
                    // nice(1) execs the tool: the PID stays the follower's, for its CPU figures.
                    p.executableURL = URL(fileURLWithPath: "/usr/bin/nice")
                    p.arguments = ["-n", String(nice), tools + "/" + tool] + args
                } else {
                    p.executableURL = URL(fileURLWithPath: tools + "/" + tool)
                    p.arguments = args
                }
                p.standardOutput = null
                try p.run()
                followers.append(p)
            }
        }
    }

    /// Rows committed to `stamps` so far (the CREATE's warm-up excluded).
    private(set) var rows = 0
    private var storeQueue: DatabaseQueue?

    /// Sends `signal` to both followers (SIGSTOP, SIGCONT).
    func signalFollowers(_ signal: Int32) {
        for p in followers { kill(p.processIdentifier, signal) }
    }

    /// Waits until the replica's store shows every row committed so far.
    func waitCaughtUp() throws {
        let queue = try storeQueue ?? waitForStore(lsn: 0)
        storeQueue = queue
        let deadline = monotonicSeconds() + 120
        while try queue.read({ db in try Int.fetchOne(db, sql: "SELECT count(*) FROM stamps") ?? 0 }) < rows {
            guard monotonicSeconds() < deadline else { throw BenchError("the replica did not catch up with \(rows) rows within 120 s") }
            usleep(2_000)
        }
    }

    func stop() {
        try? storeQueue?.close()
        storeQueue = nil
        signalFollowers(SIGCONT)
        for p in followers where p.isRunning { p.terminate(); p.waitUntilExit() }
        followers = []
        try? master.close()
    }

    /// Per commit, in ms: commit → visible on the replica (`total`), commit → its frame in the
    /// inbox's partial copy (`shipped`), and partial copy → visible (`applied`).
    struct Latencies {
        var total: [Double]
        var shipped: [Double]
        var applied: [Double]
    }

    /// Commits `commits` stamped rows at `rate` per second; each one's latencies.
    func measure(rate: Int, commits: Int) throws -> Latencies {
        // Wait for the store to exist and hold the table (the followers' first passes).
        let first = try master.execute("INSERT INTO stamps(note) VALUES ('warm-up')")[0].lsn
        let queue = try waitForStore(lsn: first)
        // No rotation within a run (64 MiB segments): one active file, one partial copy.
        guard let active = try FileManager.default.contentsOfDirectory(atPath: masterBinlog).first(where: { $0.hasSuffix(".binlog.active") }) else {
            throw BenchError("no active segment in \(masterBinlog)")
        }
        let activePath = masterBinlog + "/" + active
        let partialPath = inbox + "/" + String(active.dropLast(".active".count)) + ".partial"
        var acked = [Double](repeating: 0, count: commits + 1)
        // nonisolated(unsafe): only the reader thread writes `seen` and `grown`; this thread reads them
        // only after `done.isSet`, and Flag's lock orders the reader's writes before that read.
        nonisolated(unsafe) var seen = [Double](repeating: 0, count: commits + 1)
        // (time, size) each time the partial copy's size changed.
        nonisolated(unsafe) var grown: [(Double, Int64)] = []
        let done = Flag()
        let reader = Thread {
            var visible = 0, size: Int64 = -1
            while visible < commits {
                var st = stat()
                if stat(partialPath, &st) == 0, Int64(st.st_size) != size {
                    size = Int64(st.st_size)
                    grown.append((monotonicSeconds(), size))
                }
                let n = (try? queue.read { db in try Int.fetchOne(db, sql: "SELECT count(*) - 1 FROM stamps") ?? 0 }) ?? 0
                let now = monotonicSeconds()
                while visible < n && visible < commits { visible += 1; seen[visible] = now }
                usleep(500)
            }
            done.set()
        }
        reader.start()
        let interval = 1.0 / Double(rate)
        let start = monotonicSeconds()
        for i in 1...commits {
            let due = start + Double(i - 1) * interval
            let wait = due - monotonicSeconds()
            if wait > 0 { usleep(UInt32(wait * 1_000_000)) }
            _ = try master.execute("INSERT INTO stamps(note) VALUES ('\(i)')")
            acked[i] = monotonicSeconds()
        }
        rows += 1 + commits
        let deadline = monotonicSeconds() + 60
        while !done.isSet && monotonicSeconds() < deadline { usleep(10_000) }
        guard done.isSet else { throw BenchError("the replica did not show every commit within 60 s") }
        try queue.close()
        // Where each commit's frame ends in the active segment (read after the run, untimed):
        // commit i is LSN first + i.
        var ends = [Int64](repeating: .max, count: commits + 1)
        let segment = try SegmentReader(path: activePath)
        while let tx = try segment.next(decode: false) {
            let i = Int(tx.lsn) - Int(first)
            if i >= 1 && i <= commits { ends[i] = segment.offset }
        }
        var inInbox = [Double](repeating: 0, count: commits + 1)
        var g = 0
        for i in 1...commits {
            while g < grown.count && grown[g].1 < ends[i] { g += 1 }
            if g < grown.count { inInbox[i] = grown[g].0 }
        }
        let total = (1...commits).map { max(0, seen[$0] - acked[$0]) * 1000 }
        // A frame seen in the inbox before the reader's clock passed its acknowledgement counts
        // from the acknowledgement; one never seen there (the partial replaced by a full run
        // between two looks) is left out of the stages.
        let shipped = (1...commits).filter { inInbox[$0] > 0 }.map { max(0, inInbox[$0] - acked[$0]) * 1000 }
        let applied = (1...commits).filter { inInbox[$0] > 0 }.map { max(0, seen[$0] - max(inInbox[$0], acked[$0])) * 1000 }
        return Latencies(total: total, shipped: shipped, applied: applied)
    }

    private func waitForStore(lsn: UInt64) throws -> DatabaseQueue {
        let deadline = monotonicSeconds() + 60
        while monotonicSeconds() < deadline {
            if FileManager.default.fileExists(atPath: storePath) {
                var config = Configuration()
                config.readonly = true
                if let q = try? DatabaseQueue(path: storePath, configuration: config),
                   (try? q.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM stamps") }) != nil { return q }
            }
            usleep(10_000)
        }
        throw BenchError("the replica's store did not appear within 60 s")
    }

    /// CPU % of each follower over `seconds` with nothing written.
    func idleCPU(seconds: Double) -> (ship: Double, apply: Double) {
        let before = followerCPUSeconds()
        usleep(UInt32(seconds * 1_000_000))
        let after = followerCPUSeconds()
        let pct = zip(before, after).map { ($1 - $0) / seconds * 100 }
        return (pct.first ?? 0, pct.last ?? 0)
    }

    /// User + system CPU seconds each follower has used so far (/proc/PID/stat).
    func followerCPUSeconds() -> [Double] {
        let hz = Double(sysconf(Int32(_SC_CLK_TCK)))
        return followers.map { p in
            guard let stat = try? String(contentsOfFile: "/proc/\(p.processIdentifier)/stat", encoding: .utf8) else { return 0 }
            let fields = stat.split(separator: ")").last?.split(separator: " ") ?? []
            return fields.count > 13 ? ((Double(fields[11]) ?? 0) + (Double(fields[12]) ?? 0)) / hz : 0
        }
    }

    /// Commits as fast as the master goes; commits per second.
    func burst(commits: Int) throws -> Double {
        let start = monotonicSeconds()
        for i in 1...commits { _ = try master.execute("INSERT INTO stamps(note) VALUES ('burst \(i)')") }
        rows += commits
        return Double(commits) / (monotonicSeconds() - start)
    }
}

private final class Flag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    var isSet: Bool { lock.withLock { value } }
    func set() { lock.withLock { value = true } }
}
