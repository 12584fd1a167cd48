import ArgumentParser
import BinlogMaster
import Foundation
import GRDB

/// One contender of `tools/bench/writers`: N threads of this process committing single-row
/// transactions through one `Master` (group commit), each commit timed from the call to its
/// durable return. Prints one JSON line.
struct ChildWriters: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "child-writers",
        abstract: "(used by tools/bench/writers) N threads committing single-row transactions through one Master; prints one JSON line.")

    @Option(help: "An initialized master directory.")
    var master: String

    @Option(help: "Writer threads.")
    var threads: Int = 1

    @Option(help: "Commits per thread.")
    var commits: Int = 1000

    func run() throws {
        let m = try Master.open(master)
        try m.execute("CREATE TABLE IF NOT EXISTS w(id INTEGER PRIMARY KEY, writer INTEGER NOT NULL, n INTEGER NOT NULL, note TEXT)")
        let lock = NSLock()
        nonisolated(unsafe) var latencies: [Double] = []
        nonisolated(unsafe) var failures: [String] = []
        let done = DispatchGroup()
        let start = monotonicSeconds()
        for t in 0..<threads {
            done.enter()
            let thread = Thread {
                var mine: [Double] = []
                mine.reserveCapacity(commits)
                do {
                    for i in 0..<commits {
                        let t0 = monotonicSeconds()
                        try m.transaction { tx in try tx.execute("INSERT INTO w(writer, n, note) VALUES (?, ?, 'expense')", arguments: [t, i]) }
                        mine.append(monotonicSeconds() - t0)
                    }
                } catch {
                    lock.lock(); failures.append("\(error)"); lock.unlock()
                }
                lock.lock(); latencies += mine; lock.unlock()
                done.leave()
            }
            thread.start()
        }
        done.wait()
        let seconds = monotonicSeconds() - start
        let groups = m.groupStatistics
        try m.close()
        guard failures.isEmpty else { throw BenchError("child-writers: \(failures.count) writers failed: \(failures[0])") }
        latencies.sort()
        func pct(_ p: Double) -> Double { latencies.isEmpty ? 0 : latencies[min(latencies.count - 1, Int(Double(latencies.count) * p))] * 1000 }
        print(String(format: "{\"commits\":%d,\"seconds\":%.4f,\"p50_ms\":%.3f,\"p99_ms\":%.3f,\"peak_kib\":%d,\"groups\":%d}",
                     latencies.count, seconds, pct(0.5), pct(0.99), peakResidentKiB(), groups.groups))
    }
}
