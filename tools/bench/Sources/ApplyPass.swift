import ArgumentParser
import BinlogFormat
import BinlogMaster
import ExpenseSummary
import Foundation
import ReplicaStore
#if canImport(Glibc)
import Glibc
#endif

/// What one pass of `replica-apply --follow` costs (issue 15: at a master's full rate the applier
/// took two-thirds of a core, one pass per commit or two). In one process: a master commits K
/// single-row transactions, their bytes are appended to the replica's partial copy (as
/// `binlog-ship --follow` does, untimed and without its fsync), and one `applyAvailable` pass
/// with the follower's options (incremental partial cursor, the summary observer) applies them.
/// Per pass: the process's CPU time and the wall time (which includes the store's fsync).
struct ApplyPass: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "apply-pass",
        abstract: "CPU and wall time of one replica-apply --follow pass, with K transactions per pass (library, one process).")

    @Option(help: "Passes per K.") var passes: Int = 2000
    @Option(help: "Transactions per pass (K), one run each.") var perPass: [Int] = [1, 5, 25]
    @Option(help: "Directory of binlog-writer and replica-apply, for their init (default: this executable's).") var bin: String?

    func run() throws {
        let tools = bin ?? (ChildProcess.selfPath() as NSString).deletingLastPathComponent
        print("load      \(Machine.loadAverage())")
        for k in perPass {
            let dir = NSTemporaryDirectory() + "apply-pass-\(getpid())-\(k)"
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let r = try measure(k: k, dir: dir, tools: tools)
            print(String(format: "K %3d  %d passes  CPU per pass p50 %.0f µs mean %.0f µs (%.1f µs a transaction)  wall p50 %.0f µs p99 %.0f µs",
                         k, passes, percentile(r.cpu, 0.5), mean(r.cpu), mean(r.cpu) / Double(k), percentile(r.wall, 0.5), percentile(r.wall, 0.99)))
        }
        print("load      \(Machine.loadAverage())")
    }

    private func measure(k: Int, dir: String, tools: String) throws -> (cpu: [Double], wall: [Double]) {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        for (tool, args) in [("binlog-writer", ["init", dir + "/master", "--digest-interval", "0"]), ("replica-apply", ["init", dir + "/replica"])] {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: tools + "/" + tool)
            p.arguments = args
            p.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
            try p.run()
            p.waitUntilExit()
            guard p.terminationStatus == 0 else { throw BenchError("\(tool) \(args) failed") }
        }
        let master = try Master.open(dir + "/master")
        defer { try? master.close() }
        var lsn = try master.execute("CREATE TABLE stamps(id INTEGER PRIMARY KEY, note TEXT)")[0].lsn
        let binlog = dir + "/master/binlog"
        guard let active = try FileManager.default.contentsOfDirectory(atPath: binlog).first(where: { $0.hasSuffix(".binlog.active") }) else {
            throw BenchError("no active segment in \(binlog)")
        }
        // The master preallocates its active file: only whole frames are copied, up to where a
        // reader of the active segment (as the shipper's) finds the last one.
        let source = try FileHandle(forReadingFrom: URL(fileURLWithPath: binlog + "/" + active))
        let frames = try SegmentReader(path: binlog + "/" + active)
        var copied: UInt64 = 0
        let partialPath = dir + "/replica/inbox/" + String(active.dropLast(".active".count)) + ".partial"
        FileManager.default.createFile(atPath: partialPath, contents: nil)
        let partial = try FileHandle(forWritingTo: URL(fileURLWithPath: partialPath))
        /// Appends the master's frames up to LSN `lsn` to the partial copy.
        func ship(upTo lsn: UInt64) throws {
            try frames.resume()
            while frames.lastLSN < lsn, try frames.next(decode: false) != nil {}
            let end = UInt64(frames.offset)
            guard end > copied else { return }
            try source.seek(toOffset: copied)
            let bytes = try source.read(upToCount: Int(end - copied)) ?? Data()
            try partial.seekToEnd()
            try partial.write(contentsOf: bytes)
            copied = end
        }
        let replica = try Replica.open(dir + "/replica")
        defer { replica.close() }
        var options = Replica.ApplyOptions()
        options.partialCursor = PartialCursor()
        options.observers = [Summaries.observer]
        try ship(upTo: lsn)
        _ = try replica.applyAvailable(options)
        var cpu: [Double] = [], wall: [Double] = []
        for pass in 0..<passes {
            for i in 0..<k { lsn = try master.execute("INSERT INTO stamps(note) VALUES ('\(pass).\(i)')")[0].lsn }
            try ship(upTo: lsn)
            let c0 = cpuSeconds(), w0 = monotonicSeconds()
            let result = try replica.applyAvailable(options)
            wall.append((monotonicSeconds() - w0) * 1e6)
            cpu.append((cpuSeconds() - c0) * 1e6)
            guard result.transactions == k else {
                let sizes = [binlog + "/" + active, partialPath].map { (try? FileManager.default.attributesOfItem(atPath: $0)[.size] as? Int) ?? -1 }
                throw BenchError("pass \(pass) applied \(result.transactions) transactions, not \(k) (store at LSN \(result.toLSN), stop \(result.stop), active \(sizes[0]) bytes, partial \(sizes[1]), tail \(result.incompleteTail ?? "-"))")
            }
        }
        return (cpu, wall)
    }

    private func cpuSeconds() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    private func mean(_ xs: [Double]) -> Double { xs.isEmpty ? 0 : xs.reduce(0, +) / Double(xs.count) }

    private func percentile(_ xs: [Double], _ p: Double) -> Double {
        guard !xs.isEmpty else { return 0 }
        let s = xs.sorted()
        return s[min(s.count - 1, Int(Double(s.count - 1) * p + 0.5))]
    }
}
