import Foundation
import LogshipTestSupport
import XCTest

/// The whole pipeline, differentially: a seeded random workload runs on a master through
/// `binlog-writer exec`, one transaction at a time, and the master's state is digested with the
/// sqlite3 shell at every LSN. `rotate`, `binlog-ship` (to two replicas, sometimes one, sometimes
/// with partial copies) and `replica-apply` (sometimes bounded by an LSN or a time) run
/// interleaved in three orders; after every apply, each replica must equal the master's state at
/// the LSN it reached. `tools/pipeline-differential` runs the same with more transactions and seeds.
///
/// LOGSHIP_PIPELINE_TRANSACTIONS sets the workload length (default 40 per interleaving).
final class PipelineDifferentialTests: XCTestCase {
    static var length: Int { ProcessInfo.processInfo.environment["LOGSHIP_PIPELINE_TRANSACTIONS"].flatMap(Int.init) ?? 40 }

    /// Runs `body` on a fresh harness; any failure names the seed to replay it.
    private func withHarness(_ label: String, transactions: Int = length, _ body: (PipelineHarness) throws -> Void) {
        let seed = SeededRandom().seed
        var harness: PipelineHarness?
        do {
            let h = try PipelineHarness(label, seed: seed, transactions: transactions)
            harness = h
            try body(h)
            let missing = PipelineWorkload.requiredKinds.filter { h.kinds[$0, default: 0] == 0 }
            try h.check(missing.isEmpty, "the workload never exercised \(missing): \(h.kinds)")
            print(h.summary)
        } catch {
            XCTFail("\(error)\n(\(label): rerun with LOGSHIP_SEED=\(seed); kinds \(harness?.kinds ?? [:]))")
        }
    }

    /// Interleaving 1: every third transaction ships to both and applies on both; every sixth rotates first.
    func testLockstepInterleaving() {
        withHarness("lockstep") { h in
            var i = 0
            while try h.step() {
                i += 1
                guard i % 3 == 0 else { continue }
                if i % 6 == 0 { try h.rotate() }
                try h.ship()
                try h.apply("a")
                try h.apply("b")
            }
            try h.catchUp()
            try h.check(h.comparedLSNs.count >= Self.length / 6, "only \(h.comparedLSNs.count) distinct LSNs compared")
        }
    }

    /// Interleaving 2: replica A follows partial copies of the active segment (applying mid-segment),
    /// replica B lags and applies in bounded steps (--until-lsn, --until-time) from sealed segments.
    func testPartialCopiesAndALaggingReplica() {
        withHarness("partials") { h in
            var i = 0
            while try h.step() {
                i += 1
                if i % 2 == 0 {
                    try h.ship(["a"], includeActive: true)
                    try h.apply("a")
                }
                if i % 7 == 0 { try h.rotate() }
                if i % 10 == 0 {
                    try h.ship(["b"])
                    let target = UInt64.random(in: h.applied["b"]!...max(h.applied["b"]!, h.shipped["b"]!), using: &h.rng)
                    try h.apply("b", untilLSN: target)
                    if let commit = h.master.commits.last(where: { $0.lsn <= h.shipped["b"]! && $0.lsn > h.applied["b"]! }) {
                        try h.apply("b", untilTime: commit.commitTime)
                    }
                }
                if i % 25 == 0 { try h.snapshot("a") }
            }
            try h.catchUp()
        }
    }

    /// Interleaving 3: after each transaction, zero to three actions in a seeded random order:
    /// rotate, ship (one or both targets, with or without partials), apply (unbounded, to an LSN
    /// or to a time, possibly before anything new arrived), snapshot.
    func testRandomInterleaving() {
        withHarness("random") { h in
            while try h.step() {
                for _ in 0..<Int.random(in: 0...3, using: &h.rng) { try randomAction(h) }
            }
            try h.catchUp()
        }
    }

    private func randomAction(_ h: PipelineHarness) throws {
        let name = Bool.random(using: &h.rng) ? "a" : "b"
        switch Int.random(in: 0..<10, using: &h.rng) {
        case 0, 1: try h.rotate()
        case 2, 3: try h.ship(Bool.random(using: &h.rng) ? ["a", "b"] : [name], includeActive: Int.random(in: 0..<3, using: &h.rng) == 0)
        case 4, 5, 6: try h.apply(name)
        case 7:
            try h.apply(name, untilLSN: UInt64.random(in: 0...h.master.lastLSN, using: &h.rng))
        case 8:
            if let commit = h.master.commits.randomElement(using: &h.rng) {
                try h.apply(name, untilTime: commit.commitTime + Int64.random(in: 0...200, using: &h.rng))
            }
        default: try h.snapshot(name)
        }
    }
}
