import Foundation
import LogshipTestSupport
import XCTest

/// The master against plain SQLite, and the replica against the master, on seeded random
/// workloads full of SQLite's edges (`HazardWorkload`: VACUUM, virtual tables, sqlite_sequence,
/// deferred foreign keys, OR-conflict clauses, invalid UTF-8, 64-bit limits, legacy renames,
/// logship's own tables) mixed with ordinary writes. Each script runs through `binlog-writer
/// exec` and, unless the master refuses it, on a plain SQLite file (`PlainSQLite`): both must
/// succeed or both fail, and then hold the same tables, schema and sqlite_sequence
/// (`ShellDigest`). A change the master makes without an LSN is a failure at once. The binlog
/// is then shipped (`binlog-ship`) and applied (`replica-apply --until-lsn`) step by step, and
/// the replica must equal the master at each comparison point (`HazardRun.comparisonPoints`).
///
/// LOGSHIP_HAZARD_SEEDS (default 2) runs, from LOGSHIP_SEED (default fresh) upwards;
/// LOGSHIP_HAZARD_STATEMENTS (default 50: each `binlog-writer exec` costs about 0.1-0.3 s) scripts each; LOGSHIP_HAZARD_CLASSES (comma-separated
/// `Hazard` names) keeps the hazards to some classes. `tools/torture hazards` runs it long.
final class HazardDifferentialTests: XCTestCase {
    /// What the master may answer to each class of statement instead of running it.
    enum Refusal { case never, allowed, required }

    /// The expected refusals. `never`: the statement must run exactly as on plain SQLite
    /// (SQLite's own errors included). `allowed`: the master may refuse it instead (issue 12
    /// lets it refuse or replicate each of these). `required`: it must refuse it.
    static let refusals: [Hazard: Refusal] = [
        .ordinary: .never, .deferredForeignKey: .never, .invalidUTF8: .never, .bigInteger: .never,
        .vacuum: .allowed, .virtualTable: .allowed, .sqliteSequence: .allowed, .orConflict: .allowed, .legacyAlter: .allowed,
        .internalTable: .required,
    ]

    /// A refusal as the tools document it: exit 10 (SQL error: rolled back, nothing logged)
    /// with a message saying the statement is refused or not supported. An exit 10 without
    /// such words is an ordinary SQL error, which plain SQLite must then give too.
    static func isRefusal(_ run: ToolRunner.Result) -> Bool {
        let message = run.stderr.lowercased()
        return run.status == 10 && (message.contains("refus") || message.contains("not supported"))
    }

    static var environment: [String: String] { ProcessInfo.processInfo.environment }
    static var seeds: Int { environment["LOGSHIP_HAZARD_SEEDS"].flatMap(Int.init) ?? 2 }
    static var statements: Int { environment["LOGSHIP_HAZARD_STATEMENTS"].flatMap(Int.init) ?? 50 }
    static var classes: Set<Hazard>? {
        environment["LOGSHIP_HAZARD_CLASSES"].map { Set($0.split(separator: ",").compactMap { Hazard(rawValue: String($0)) }) }
    }

    func testMasterMatchesPlainSQLiteAndReplicaMatchesMaster() {
        let base = SeededRandom().seed
        for i in 0..<Self.seeds {
            let seed = base &+ UInt64(i)
            do {
                let run = try HazardRun(seed: seed, statements: Self.statements, only: Self.classes)
                try run.runWorkload()
                try run.replicate()
                print("figures: " + run.summary)
            } catch {
                XCTFail("\(error)\n(rerun with LOGSHIP_SEED=\(seed) LOGSHIP_HAZARD_SEEDS=1\(Self.classes.map { " LOGSHIP_HAZARD_CLASSES=" + $0.map(\.rawValue).sorted().joined(separator: ",") } ?? ""))")
            }
        }
    }

    /// The workload is what the test says it is: every class appears in a run of the suite's length.
    func testEveryClassIsGenerated() {
        var workload = HazardWorkload(seed: SeededRandom().seed, length: 50)
        var seen: Set<Hazard> = []
        while let script = workload.next() {
            seen.insert(script.hazard)
            workload.note(committed: true)
        }
        XCTAssertEqual(seen, Set(Hazard.allCases), "seed \(workload.rng.seed)")
        XCTAssertEqual(Set(Self.refusals.keys), Set(Hazard.allCases))
    }

    func testComparisonPointsAreTheRecordedMarkersAndTheLast() {
        XCTAssertEqual(HazardRun.comparisonPoints(markers: [5, 10, 16], recorded: [1, 2, 5, 6, 10, 11, 15]), [5, 10, 15])
        XCTAssertEqual(HazardRun.comparisonPoints(markers: [], recorded: [4]), [4])
        XCTAssertEqual(HazardRun.comparisonPoints(markers: [3], recorded: []), [])
    }
}
