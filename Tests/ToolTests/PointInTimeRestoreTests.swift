import Foundation
import LogshipTestSupport
import XCTest

/// Point-in-time restore against the master's recorded history: after a seeded workload that
/// was shipped and applied in steps, with snapshots of replica A along the way,
/// `replica-apply restore` to many random LSNs and times (and to the edges: the empty state, each
/// snapshot's LSN, the newest LSN) gives exactly the master's state there, from replica A (which
/// starts from snapshots) and from replica B (which has none and replays from empty). A target
/// beyond the inbox fails with exit 2 and writes nothing.
final class PointInTimeRestoreTests: XCTestCase {
    func testRestoresToRandomLSNsAndTimesEqualTheMaster() {
        let seed = SeededRandom().seed
        do {
            let h = try PipelineHarness("pitr", seed: seed, transactions: PipelineDifferentialTests.length)
            var i = 0
            while try h.step() {
                i += 1
                if i % 12 == 0 {
                    try h.rotate()
                    try h.ship()
                    try h.apply("a")
                    try h.snapshot("a")
                }
            }
            try h.catchUp()
            try restores(h)
            print(h.summary)
        } catch {
            XCTFail("\(error)\n(rerun with LOGSHIP_SEED=\(seed))")
        }
    }

    private func restores(_ h: PipelineHarness) throws {
        let last = h.master.lastLSN
        let snapshots = try FileManager.default.contentsOfDirectory(atPath: h.replica("a") + "/snapshots")
            .compactMap { name -> UInt64? in
                guard name.hasPrefix("snapshot-"), name.hasSuffix(".db") else { return nil }
                return UInt64(name.dropFirst("snapshot-".count).dropLast(".db".count), radix: 16)
            }
        try h.check(snapshots.count >= 3, "replica A has only \(snapshots.count) snapshots")
        var lsns: [UInt64] = [0, 1, last] + snapshots + snapshots.map { $0 + 1 }
        lsns += (0..<12).map { _ in UInt64.random(in: 0...last, using: &h.rng) }
        var n = 0
        for lsn in Set(lsns).sorted() where lsn <= last {
            n += 1
            try restore(h, from: n % 4 == 0 ? "b" : "a", ["--to-lsn", "\(lsn)"], expecting: lsn, n)
        }
        // Times: a commit's own time (inclusive), and a moment between two commits.
        for _ in 0..<10 {
            let k = Int.random(in: 0..<h.master.commits.count, using: &h.rng)
            let commit = h.master.commits[k]
            // After the newest commit the time is exactly its own: a later one is refused (below).
            let gap = k + 1 < h.master.commits.count ? h.master.commits[k + 1].commitTime - commit.commitTime : 1
            let time = commit.commitTime + (gap > 1 ? Int64.random(in: 0..<gap, using: &h.rng) : 0)
            n += 1
            try restore(h, from: n % 3 == 0 ? "b" : "a", ["--to-time", PipelineHarness.timestamp(time)], expecting: commit.lsn, n)
        }
        // Outside the window: refused with the window named, nothing written, no fallback to the
        // latest. A time after the newest commit is outside too: a transaction committed by then
        // may not have been shipped yet.
        let out = h.dir.sub("beyond.db")
        let after = PipelineHarness.timestamp(h.master.commits.last!.commitTime + 1)
        for target in [["--to-lsn", "\(last + 3)"], ["--to-time", after]] {
            let r = try h.run("replica-apply", ["restore", h.replica("a")] + target + ["-o", out], expect: 2)
            try h.check(r.stderr.contains("LSN 0…\(last)"), "the refusal names the window: \(r.stderr)")
            try h.check(!FileManager.default.fileExists(atPath: out), "a refused restore wrote \(out)")
        }
    }

    private func restore(_ h: PipelineHarness, from name: String, _ target: [String], expecting lsn: UInt64, _ n: Int) throws {
        let out = h.dir.sub("restored-\(n).db")
        try h.run("replica-apply", ["restore", h.replica(name)] + target + ["-o", out])
        try h.compare(out, at: lsn, "restore of \(name) \(target.joined(separator: " "))")
        for suffix in ["", "-wal", "-shm", "-journal"] { unlink(out + suffix) }
    }
}
