import BinlogFormat
import Foundation
import GRDB
import LogshipTestSupport
import XCTest

/// The corruption run (issue 7): mutants of shipped, sealed segments in a replica's inbox, every
/// class of `MutantClass` in turn, each fed to the built `replica-apply`. Each mutant must be
/// refused before anything of it is applied: the documented exit code (3, or 2 for a missing
/// LSN range), the file and the offset of the damage in the message, and the store exactly as
/// it was: its position, its schema and the digest of every table (`TableDigest`, plain GRDB
/// queries, no logship code).
///
/// The store is placed where the damage begins: at the end of the segment before the damaged
/// one, or, for a damaged frame, right before that frame's transaction (every transaction before
/// a damaged frame may be applied, docs/REPLICA.md). So "unchanged" is the whole claim: nothing
/// after that point may reach the store. Each store position is first checked against the
/// master's binlog replayed to it (`TableDigest`).
///
/// `LOGSHIP_CORRUPT_MUTANTS` sets the number of mutants (the suite: 32, two per class;
/// `tools/torture corrupt --mutants 1000` for the long run). The seed is printed.
final class CorruptionTortureTests: XCTestCase {
    private struct Tally {
        var mutants = 0, rejected = 0
        var exits: [Int32: Int] = [:]
    }

    func testEveryMutantOfAShippedSegmentIsRefusedAndTheStoreIsUnchanged() throws {
        let count = ProcessInfo.processInfo.environment["LOGSHIP_CORRUPT_MUTANTS"].flatMap(Int.init) ?? 32
        let started = Date()
        let f = try ReplicaCLIFixture("corrupt")
        try f.runWorkload(900)
        let mutator = try makeMutator(f)
        XCTAssertGreaterThanOrEqual(mutator.segments.count, 4, f.context)
        var rng = SeededRandom(seed: f.seed)
        let mutants = (0..<count).map { mutator.mutant($0, using: &rng) }.sorted { $0.storeAt < $1.storeAt }

        // The template replica holds every pristine segment; it is brought forward to each
        // mutant's store position in turn and copied for each mutant.
        let template = try f.newReplica("template")
        for s in mutator.segments { try Shipping.ship(f.master.binlogPath + "/" + s.name, to: template + "/inbox") }
        let work = f.dir.sub("work")
        var tally: [MutantClass: Tally] = [:]
        var problems: [String] = []
        var position: UInt64 = 0, positions = 0
        for m in mutants {
            if m.storeAt != position {
                f.assertExit(try f.tool([template, "--until-lsn", String(m.storeAt)]), 0, "template to LSN \(m.storeAt)")
                position = m.storeAt
                positions += 1
                try f.assertStore(at: position, "template replica")
            }
            try? FileManager.default.removeItem(atPath: work)
            try FileManager.default.copyItem(atPath: template, toPath: work)
            let outcome = try run(m, in: work, context: f.context)
            var t = tally[m.kind, default: Tally()]
            t.mutants += 1
            t.exits[outcome.status, default: 0] += 1
            if outcome.problems.isEmpty { t.rejected += 1 }
            tally[m.kind] = t
            problems += outcome.problems
        }
        print("figures: corrupt segments=\(mutator.segments.count) transactions=\(f.master.lastLSN) store-positions=\(positions) (each checked against a replay of the master's binlog)")
        report(tally, seconds: Date().timeIntervalSince(started), seed: f.seed)
        XCTAssertEqual(problems.count, 0, "\(problems.count) problems, first: \(problems.prefix(20).joined(separator: "\n")); \(f.context)")
    }

    /// The master's sealed segments (read back from disk, frames found by `SegmentSurgery`), and
    /// another master's after the same workload.
    private func makeMutator(_ f: ReplicaCLIFixture) throws -> SegmentMutator {
        let segments = try f.master.sealedSegments().map { s -> SegmentMutator.Segment in
            let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: s.path)))
            let frames = try XCTUnwrap(SegmentSurgery.frames(ofSealed: bytes), "frames of \(s.name)")
            return SegmentMutator.Segment(name: s.name, bytes: bytes, firstLSN: s.firstLSN, lastLSN: s.lastLSN, frames: frames)
        }
        let other = try ToolMaster(f.dir, name: "other-master", segmentSize: "16KiB")
        var workload = ReplicaWorkload(seed: f.seed)
        try other.exec(ReplicaWorkload.schema + workload.sql(transactions: 900))
        try other.rotate()
        var foreign: [String: [UInt8]] = [:]
        for s in try other.sealedSegments() { foreign[s.name] = [UInt8](try Data(contentsOf: URL(fileURLWithPath: s.path))) }
        // The foreign class needs another master's segment under every name it may damage.
        XCTAssertTrue(segments.dropLast().allSatisfy { foreign[$0.name] != nil }, "the other master has fewer segments")
        return SegmentMutator(segments: segments, foreign: foreign)
    }

    /// Puts the mutant into the replica's inbox, runs replica-apply, and says what was wrong.
    private func run(_ m: SegmentMutant, in replica: String, context: String) throws -> (status: Int32, problems: [String]) {
        let inbox = replica + "/inbox"
        for (name, bytes) in m.files {
            if let bytes {
                let original = try Data(contentsOf: URL(fileURLWithPath: inbox + "/" + name))
                guard [UInt8](original) != bytes else { return (-1, ["\(m.kind.rawValue): \(m.detail): the mutant equals the original"]) }
                let temp = inbox + "/.tmp-mutant"
                try Data(bytes).write(to: URL(fileURLWithPath: temp))
                guard rename(temp, inbox + "/" + name) == 0 else { throw ToolMaster.Failure(description: "rename into \(inbox): errno \(errno)") }
            } else {
                try FileManager.default.removeItem(atPath: inbox + "/" + name)
            }
        }
        let store = replica + "/store.db"
        let before = try Self.state(of: store)
        let r = try ToolRunner.run("replica-apply", [replica])
        let after = try Self.state(of: store)
        var problems: [String] = []
        let what = "\(m.kind.rawValue): \(m.detail), store at LSN \(m.storeAt)"
        if r.status != m.exit { problems.append("\(what): exit \(r.status), expected \(m.exit): \(r.stderr)") }
        if before.lsn != m.storeAt { problems.append("\(what): the store was at \(before.lsn) before the run") }
        if after != before {
            problems.append("\(what): the store changed (LSN \(before.lsn) → \(after.lsn)): \(r.stdout) \(r.stderr)")
        }
        if !r.stderr.contains(m.file) { problems.append("\(what): the message does not name \(m.file): \(r.stderr)") }
        for text in m.mentions where !r.stderr.contains(text) { problems.append("\(what): the message does not say \"\(text)\": \(r.stderr)") }
        if let range = m.offsets, !Self.offsets(in: r.stderr).contains(where: range.contains) {
            problems.append("\(what): the message names no offset in \(range): \(r.stderr)")
        }
        return (r.status, problems)
    }

    /// What "unchanged" compares: the position, the schema (every object's SQL) and every table.
    struct StoreState: Equatable {
        var lsn: UInt64
        var schema: [String]
        var digest: [String: String]
    }

    static func state(of store: String) throws -> StoreState {
        var config = Configuration()
        config.readonly = true
        let queue = try DatabaseQueue(path: store, configuration: config)
        defer { try? queue.close() }
        let schema = try queue.read { db in
            try String.fetchAll(db, sql: "SELECT type || ' ' || name || ' ' || coalesce(sql, '') FROM sqlite_schema ORDER BY type, name")
        }
        return StoreState(lsn: try appliedLSN(ofStore: store), schema: schema, digest: try TableDigest.digest(path: store))
    }

    /// Every "offset N" in a message.
    static func offsets(in text: String) -> [Int64] {
        let parts = text.components(separatedBy: "offset ")
        return parts.dropFirst().compactMap { Int64($0.prefix { $0.isNumber }) }
    }

    private func report(_ tally: [MutantClass: Tally], seconds: Double, seed: UInt64) {
        var total = Tally()
        for kind in MutantClass.allCases {
            guard let t = tally[kind] else { continue }
            let exits = t.exits.sorted { $0.key < $1.key }.map { "exit\($0.key)=\($0.value)" }.joined(separator: " ")
            print("figures: corrupt class=\(kind.rawValue) mutants=\(t.mutants) rejected=\(t.rejected) \(exits)")
            total.mutants += t.mutants
            total.rejected += t.rejected
            for (k, v) in t.exits { total.exits[k, default: 0] += v }
        }
        let percent = total.mutants == 0 ? 0 : Double(total.rejected) * 100 / Double(total.mutants)
        let exits = total.exits.sorted { $0.key < $1.key }.map { "exit\($0.key)=\($0.value)" }.joined(separator: " ")
        print("figures: corrupt mutants=\(total.mutants) rejected=\(total.rejected) (\(String(format: "%.1f", percent))%) \(exits) seconds=\(Int(seconds)) seed=\(seed)")
    }
}
