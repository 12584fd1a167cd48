import BinlogFormat
import BinlogMaster
@testable import BinlogShip
import Foundation
import GRDB
import GRDBSQLite
import LogshipTestSupport
import XCTest

/// A master appends a transaction's frames before SQLite's COMMIT; when that COMMIT (or the
/// fsync before it) fails, it cuts the frames off again and reuses the LSN. A shipper that
/// copied the active segment in between used to ship the undone transaction, and a replica
/// following the partial copy applied a transaction the master never committed. Shippers now
/// stop at the master's committed mark (docs/FORMAT.md §12). Each test ships from inside the
/// failing COMMIT (SQLite's commit hook runs after the frames are appended and synced), then
/// checks what the target holds.
final class UndoneFramesTests: XCTestCase {
    /// What the commit hook does, then it refuses the commit (SQLite turns it into a ROLLBACK).
    nonisolated(unsafe) static var duringCommit: (() -> Void)?

    private func refuseNextCommits(_ master: Master, running body: @escaping () -> Void) throws {
        Self.duringCommit = body
        try master.read { db in
            _ = sqlite3_commit_hook(db.sqliteConnection, { _ in
                UndoneFramesTests.duringCommit?()
                return 1
            }, nil)
        }
    }

    private func acceptCommits(_ master: Master) throws {
        Self.duringCommit = nil
        try master.read { db in _ = sqlite3_commit_hook(db.sqliteConnection, nil, nil) }
    }

    private struct Setup {
        let fixture: MasterFixture
        let target: String
        let shipper: Shipper
    }

    /// A master with a table and one row (LSNs 1 and 2), shipped with its active segment to one target.
    private func setUp(_ label: String) throws -> Setup {
        let f = try MasterFixture(label)
        try f.master.execute("CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT NOT NULL)")
        try f.master.execute("INSERT INTO t VALUES (1, 'committed')")
        let target = f.dir.sub("target")
        try FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: true)
        var config = ShipConfig()
        config.source = f.path
        config.targets = [ShipTarget(name: "a", path: target)]
        config.includeActive = true
        let shipper = try Shipper(config: config)
        let first = try shipper.run()
        XCTAssertNil(first.worstKind, "\(first.failures)")
        let setup = Setup(fixture: f, target: target, shipper: shipper)
        XCTAssertEqual(try partial(setup).lsns, [1, 2])
        return setup
    }

    /// The target's partial copy: the LSNs it holds, and whether its bytes are a prefix of the
    /// master's active segment now.
    private func partial(_ s: Setup) throws -> (lsns: [UInt64], isPrefix: Bool) {
        let listing = try BinlogDirectory(path: s.fixture.binlogPath).list()
        let active = try XCTUnwrap(listing.segments.last(where: { $0.name.isActive }))
        let path = s.target + "/" + active.name.partialFileName
        let reader = try SegmentReader(path: path)
        var lsns: [UInt64] = []
        while let tx = try reader.next(decode: false) { lsns.append(tx.lsn) }
        let copy = try XCTUnwrap(FileManager.default.contents(atPath: path))
        let master = try XCTUnwrap(FileManager.default.contents(atPath: active.path))
        return (lsns, master.count >= copy.count && master.prefix(copy.count) == copy)
    }

    func testAFullRunDuringAFailedCommitShipsOnlyWhatTheMasterCommitted() throws {
        let s = try setUp("undone-full")
        var inside: ShipReport?
        try refuseNextCommits(s.fixture.master) { inside = try? s.shipper.run() }
        XCTAssertThrowsError(try s.fixture.master.execute("INSERT INTO t VALUES (2, 'undone')"), "the commit hook refuses the COMMIT")
        try acceptCommits(s.fixture.master)
        let run = try XCTUnwrap(inside, "the shipper ran inside the COMMIT")
        XCTAssertNil(run.worstKind, "\(run.failures)")
        XCTAssertEqual(try partial(s).lsns, [1, 2], "LSN 3 was appended, then undone: it must not reach the target")

        // The master reuses LSN 3 for another transaction; the target follows without divergence.
        try s.fixture.master.execute("INSERT INTO t VALUES (3, 'reused LSN')")
        let after = try s.shipper.run()
        XCTAssertNil(after.worstKind, "no divergence: the target never held the undone frame (\(after.failures))")
        let p = try partial(s)
        XCTAssertEqual(p.lsns, [1, 2, 3])
        XCTAssertTrue(p.isPrefix)
    }

    func testAFollowerPassDuringAFailedGroupCommitShipsNothingOfIt() throws {
        let s = try setUp("undone-follow")
        let tail = try XCTUnwrap(ActiveTail(after: try s.shipper.run(), shipper: s.shipper), "the follower follows the active segment")
        var inside: ActiveTail.Outcome?
        try refuseNextCommits(s.fixture.master) { inside = tail.shipNew(s.shipper) }
        XCTAssertThrowsError(try s.fixture.master.write { tx in try tx.execute("INSERT INTO t VALUES (2, 'undone')") })
        try acceptCommits(s.fixture.master)
        switch try XCTUnwrap(inside, "the follower passed inside the COMMIT") {
        case .nothingNew: break
        case .shipped(let r): XCTFail("the follower shipped LSN \(r.targets.map { $0.lastLSN ?? 0 }) from a group the master undid")
        case .needsFullRun: XCTFail("the follower gave up instead of waiting for the commit")
        }
        XCTAssertEqual(try partial(s).lsns, [1, 2])

        _ = try s.fixture.master.write { tx in try tx.execute("INSERT INTO t VALUES (3, 'reused LSN')") }
        switch tail.shipNew(s.shipper) {
        case .shipped(let r): XCTAssertEqual(r.targets.first?.lastLSN, 3)
        case let other: XCTFail("expected LSN 3 shipped, got \(other)")
        }
        let p = try partial(s)
        XCTAssertEqual(p.lsns, [1, 2, 3])
        XCTAssertTrue(p.isPrefix)
    }

    func testAFollowerShipsACommittedTransactionOnTheFirstPassAfterTheMark() throws {
        // The follower wakes when the frame is appended (before the mark moves): that pass ships
        // nothing; the pass after the mark's rewrite must ship it without waiting for more frames.
        let s = try setUp("undone-mark")
        let tail = try XCTUnwrap(ActiveTail(after: try s.shipper.run(), shipper: s.shipper))
        for id in 10..<14 {
            try s.fixture.master.execute("INSERT INTO t VALUES (\(id), 'row')")
            switch tail.shipNew(s.shipper) {
            case .shipped(let r): XCTAssertEqual(r.targets.first?.lastLSN, s.fixture.master.lastLSN)
            case let other: XCTFail("commit \(id): expected it shipped at once, got \(other)")
            }
        }
        XCTAssertTrue(try partial(s).isPrefix)
    }

    func testTheMarkSaysHowFarTheMasterMadeItsFramesDurable() throws {
        // With --sync-binlog 1 every committed frame is fsynced by the master, and a shipper
        // need not fsync the master's file again; with a relaxed setting the mark says less.
        let f = try MasterFixture("mark-durable")
        try f.master.execute("CREATE TABLE t(id INTEGER PRIMARY KEY)")
        try f.master.execute("INSERT INTO t VALUES (1)")
        guard case .mark(let strict) = CommitMark.read(binlogDirectory: f.binlogPath) else { return XCTFail("no mark") }
        XCTAssertEqual(strict.lastLSN, 2)
        XCTAssertEqual(strict.durableLSN, 2)
        f.master.syncBinlog = 0
        try f.master.execute("INSERT INTO t VALUES (2)")
        _ = try f.master.write { tx in try tx.execute("INSERT INTO t VALUES (3)") }
        guard case .mark(let relaxed) = CommitMark.read(binlogDirectory: f.binlogPath) else { return XCTFail("no mark") }
        XCTAssertEqual(relaxed.lastLSN, 4)
        XCTAssertEqual(relaxed.durableLSN, 2, "LSNs 3 and 4 were committed without an fsync")
        try f.reopen()
        guard case .mark(let reopened) = CommitMark.read(binlogDirectory: f.binlogPath) else { return XCTFail("no mark") }
        XCTAssertEqual(reopened.durableLSN, 4, "the master fsyncs its active segment when it opens")
    }

    func testAMasterWithoutAMarkShipsNoneOfItsActiveSegmentAndSaysWhy() throws {
        let s = try setUp("undone-nomark")
        try s.fixture.master.execute("INSERT INTO t VALUES (2, 'after the mark vanished')")
        try FileManager.default.removeItem(atPath: CommitMark.path(binlogDirectory: s.fixture.binlogPath))
        let report = try s.shipper.run()
        XCTAssertTrue(report.targets[0].warnings.contains { $0.message.contains("committed mark") }, "\(report.targets[0].warnings)")
        XCTAssertEqual(try partial(s).lsns, [1, 2], "nothing beyond what was shipped while the mark was there")
        // A master that stops: its complete transactions are committed (recovery keeps them).
        try s.fixture.master.close()
        XCTAssertEqual(try s.shipper.run().targets[0].warnings.map(\.message), [])
        XCTAssertEqual(try partial(s).lsns, [1, 2, 3])
        // Opening the master writes the mark again.
        try s.fixture.reopen()
        XCTAssertEqual(CommitMark.read(binlogDirectory: s.fixture.binlogPath), .mark(CommitMark(epoch: 1, sequence: 1, lastLSN: 3, durableLSN: 3)))
        try s.fixture.master.execute("INSERT INTO t VALUES (3, 'after the reopen')")
        XCTAssertEqual(try s.shipper.run().targets[0].warnings.map(\.message), [])
        XCTAssertEqual(try partial(s).lsns, [1, 2, 3, 4])
    }

    func testAStoppedMasterShipsWhatItAppendedEvenIfItDiedBeforeTheMark() throws {
        // A master killed between its COMMIT and the mark's rewrite (or before its COMMIT, after
        // the fsync: recovery redoes that transaction) leaves the mark behind its binlog. With no
        // master running, every complete transaction is committed, and ships.
        let s = try setUp("undone-stopped")
        try s.fixture.master.execute("INSERT INTO t VALUES (2, 'x')")
        try s.fixture.master.execute("INSERT INTO t VALUES (3, 'y')")
        try CommitMarkWriter(binlogDirectory: s.fixture.binlogPath).publish(CommitMark(epoch: 1, sequence: 1, lastLSN: 2, durableLSN: 2))
        XCTAssertNil(try s.shipper.run().worstKind)
        XCTAssertEqual(try partial(s).lsns, [1, 2], "while the master runs, the mark is the limit")
        try s.fixture.master.close()
        XCTAssertNil(try s.shipper.run().worstKind)
        XCTAssertEqual(try partial(s).lsns, [1, 2, 3, 4])
    }

    func testAMasterOpeningBehindADeadMastersMarkLeavesWhatShippedMeanwhileInPlace() throws {
        // A master killed after appending LSN 4 but before its COMMIT: its mark says 3. With no
        // master running the shipper ships 4 (recovery keeps it). The next master takes the lock
        // and redoes 4, and until it writes its own mark the old one (3) is all a shipper sees.
        // A run in that moment took the partial for a divergence and cut LSN 4, which semi-sync
        // had acknowledged, off the target; `binlog-ship --follow` then exited (issue 15).
        let s = try setUp("undone-opening")
        try s.fixture.master.execute("INSERT INTO t VALUES (2, 'x')")
        try s.fixture.master.execute("INSERT INTO t VALUES (3, 'y')")
        try s.fixture.master.close()
        let stale = CommitMark(epoch: 1, sequence: 1, lastLSN: 3, durableLSN: 3)
        try CommitMarkWriter(binlogDirectory: s.fixture.binlogPath).publish(stale)
        XCTAssertNil(try s.shipper.run().worstKind)
        XCTAssertEqual(try partial(s).lsns, [1, 2, 3, 4], "no master runs: every complete transaction ships")

        // A master opening: it holds the lock, its mark is not written yet.
        let opening = try DirectoryLock(path: s.fixture.path + "/lock", timeout: 1)
        let report = try s.shipper.run()
        XCTAssertEqual(report.targets[0].warnings.map(\.message), [], "a partial ahead of a stale mark is no divergence")
        XCTAssertNil(report.worstKind)
        let held = try partial(s)
        XCTAssertEqual(held.lsns, [1, 2, 3, 4], "what shipped while no master ran stays on the target")
        XCTAssertTrue(held.isPrefix)
        opening.release()

        // The master opened for real writes its mark past LSN 4; shipping goes on from there.
        try s.fixture.reopen()
        try s.fixture.master.execute("INSERT INTO t VALUES (4, 'after the reopen')")
        let after = try s.shipper.run()
        XCTAssertEqual(after.targets[0].warnings.map(\.message), [])
        XCTAssertEqual(try partial(s).lsns, [1, 2, 3, 4, 5])
        XCTAssertEqual(after.targets[0].durableLSN, 5)
    }

    func testAPartialThatIsNotAPrefixOfTheActiveSegmentIsStillADivergence() throws {
        // The partial is longer than the committed prefix, as above, but its last bytes differ
        // from the master's: that is a divergence, and it is still reported.
        let s = try setUp("undone-notprefix")
        try s.fixture.master.execute("INSERT INTO t VALUES (2, 'x')")
        XCTAssertNil(try s.shipper.run().worstKind)
        let listing = try BinlogDirectory(path: s.fixture.binlogPath).list()
        let active = try XCTUnwrap(listing.segments.last(where: { $0.name.isActive }))
        let path = s.target + "/" + active.name.partialFileName
        var copy = try XCTUnwrap(FileManager.default.contents(atPath: path))
        copy[copy.count - 3] ^= 0x40
        try copy.write(to: URL(fileURLWithPath: path))
        try CommitMarkWriter(binlogDirectory: s.fixture.binlogPath).publish(CommitMark(epoch: 1, sequence: 1, lastLSN: 2, durableLSN: 2))
        let report = try s.shipper.run()
        XCTAssertEqual(report.worstKind, .divergence, "\(report.targets[0].warnings)")
    }
}
