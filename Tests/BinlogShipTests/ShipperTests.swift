import BinlogFormat
@testable import BinlogShip
import Foundation
import LogshipTestSupport
import XCTest

/// The shipping contract (docs/SHIPPING.md "Contract"), one behaviour per test, against
/// segments written by `SegmentWriter` and checked byte for byte.
final class ShipperTests: XCTestCase {
    func testShipsEverySealedSegmentToEveryTargetInOrderAndIsIdempotent() throws {
        let f = try ShipFixture()
        try f.master.sealedSegments(3)
        try f.master.commit()   // an active segment, not shipped without --include-active
        let report = try f.ship()
        XCTAssertNil(report.worstKind, "\(report.failures)")
        for t in [f.a, f.b] {
            XCTAssertEqual(try f.files(t), [segmentName(1), segmentName(2), segmentName(3)])
            for s in 1...3 as ClosedRange<UInt64> {
                XCTAssertEqual(try bytes(t + "/" + segmentName(s)), try bytes(f.master.segmentPath(s)))
            }
        }
        XCTAssertEqual(report.targets.map(\.shipped), [[1, 2, 3].map(segmentName), [1, 2, 3].map(segmentName)])
        let state = try f.state()
        XCTAssertEqual(state.targets["a"]?.lastSegment, segmentName(3))
        XCTAssertEqual(state.targets["a"]?.lastLSN, 9)
        XCTAssertEqual(state.targets["a"]?.segmentsShipped, 3)
        XCTAssertNotNil(state.targets["b"]?.lastSuccessAt)
        XCTAssertNil(state.targets["b"]?.lastError)
        XCTAssertEqual(state.lastRun?.outcome, "ok")

        // A second run ships nothing and rewrites nothing.
        let before = inode(f.a + "/" + segmentName(2))
        let again = try f.ship()
        XCTAssertEqual(again.targets.flatMap(\.shipped), [])
        XCTAssertEqual(again.targets.flatMap(\.alreadyPresent), [])
        XCTAssertTrue(inode(f.a + "/" + segmentName(2)) == before)
    }

    func testAnIdenticalFileAlreadyInTheTargetCountsAsShippedAndIsNotRewritten() throws {
        let f = try ShipFixture()
        try f.master.sealedSegments(2)
        try FileManager.default.copyItem(atPath: f.master.segmentPath(1), toPath: f.a + "/" + segmentName(1))
        let before = inode(f.a + "/" + segmentName(1))
        let report = try f.ship()
        XCTAssertNil(report.worstKind)
        XCTAssertEqual(report.targets[0].alreadyPresent, [segmentName(1)])
        XCTAssertEqual(report.targets[0].shipped, [segmentName(2)])
        XCTAssertTrue(inode(f.a + "/" + segmentName(1)) == before, "an identical file is not rewritten")
    }

    func testAConflictingFileIsNeverOverwrittenAndTheOtherTargetsGoOn() throws {
        let f = try ShipFixture()
        try f.master.sealedSegments(3)
        let conflicting = f.b + "/" + segmentName(2)
        try FileManager.default.copyItem(atPath: f.master.segmentPath(2), toPath: conflicting)
        try flipByte(conflicting, at: 300)
        let planted = try bytes(conflicting)

        let report = try f.ship()
        let b = report.targets[1]
        XCTAssertEqual(b.error?.kind, .corruption)
        XCTAssertEqual(b.error?.path, conflicting)
        XCTAssertEqual(b.error?.offset, 300, "names where the files differ")
        XCTAssertTrue(b.error?.message.contains("conflict") ?? false, "\(String(describing: b.error))")
        XCTAssertEqual(try bytes(conflicting), planted, "nothing was overwritten")
        XCTAssertEqual(try f.files(f.b), [segmentName(1), segmentName(2)], "b stops at the conflict: no segment 3 after it")
        XCTAssertEqual(try f.files(f.a), [1, 2, 3].map(segmentName), "a is complete")
        XCTAssertEqual(report.worstKind, .corruption)
        XCTAssertEqual(try f.state().targets["b"]?.lastError?.kind, "corruption")
        XCTAssertEqual(try f.state().targets["b"]?.lastSegment, segmentName(1))
    }

    func testACorruptSourceSegmentIsNeverShippedAndIsReportedWithFileAndOffset() throws {
        let f = try ShipFixture()
        try f.master.sealedSegments(3)
        try flipByte(f.master.segmentPath(2), at: 500)
        let report = try f.ship()
        let e = try XCTUnwrap(report.sourceError)
        XCTAssertEqual(e.kind, .corruption)
        XCTAssertEqual(e.path, f.master.segmentPath(2))
        XCTAssertNotNil(e.offset)
        for t in [f.a, f.b] { XCTAssertEqual(try f.files(t), [segmentName(1)], "nothing from the damaged segment on, no temp files") }
        XCTAssertEqual(report.worstKind, .corruption)
        XCTAssertNil(try f.state().targets["a"]?.lastSuccessAt, "a run stopped by the source is not a success")
    }

    func testADeletedMiddleSegmentIsAGapAndNothingAfterItIsShipped() throws {
        let f = try ShipFixture()
        try f.master.sealedSegments(4)
        let saved = try bytes(f.master.segmentPath(2))
        try FileManager.default.removeItem(atPath: f.master.segmentPath(2))
        let report = try f.ship()
        let e = try XCTUnwrap(report.sourceError)
        XCTAssertEqual(e.kind, .gap)
        XCTAssertTrue(e.message.contains(segmentName(2)), e.message)
        XCTAssertEqual(report.worstKind, .gap)
        XCTAssertEqual(try f.files(f.a), [segmentName(1)])

        // The segment comes back (restored from another copy): the next run continues.
        try saved.write(to: URL(fileURLWithPath: f.master.segmentPath(2)))
        XCTAssertNil(try f.ship().worstKind)
        XCTAssertEqual(try f.files(f.b), [1, 2, 3, 4].map(segmentName))
    }

    func testATargetMissingItsLastShippedSegmentFailsUntilForgotten() throws {
        let f = try ShipFixture()
        try f.master.sealedSegments(2)
        try f.ship()
        // Looks like an unmounted file system: the mount point is there, empty.
        try FileManager.default.removeItem(atPath: f.a)
        try FileManager.default.createDirectory(atPath: f.a, withIntermediateDirectories: false)
        try f.master.sealedSegments(1)
        let report = try f.ship()
        XCTAssertEqual(report.targets[0].error?.kind, .notFound)
        XCTAssertTrue(report.targets[0].error?.description.contains("not mounted") ?? false, "\(String(describing: report.targets[0].error))")
        XCTAssertEqual(try f.files(f.a), [], "nothing is shipped into what may be an empty mount point")
        XCTAssertEqual(report.targets[1].shipped, [segmentName(3)], "b goes on")

        let forgotten = try Shipper.forget(target: "a", config: f.config)
        XCTAssertEqual(forgotten.lastSegment, segmentName(2))
        XCTAssertNil(try f.ship().worstKind)
        XCTAssertEqual(try f.files(f.a), [1, 2, 3].map(segmentName))
        XCTAssertThrowsError(try Shipper.forget(target: "nope", config: f.config)) { XCTAssertEqual(($0 as? ShipError)?.kind, .notFound) }
    }

    func testAMissingTargetDirectoryIsNotFoundAndNeverCreated() throws {
        let f = try ShipFixture()
        try f.master.sealedSegments(1)
        f.config.targets.append(ShipTarget(name: "gone", path: f.dir.sub("gone/inbox")))
        let report = try f.ship()
        XCTAssertEqual(report.targets[2].error?.kind, .notFound)
        XCTAssertFalse(FileManager.default.fileExists(atPath: f.dir.sub("gone")))
        XCTAssertEqual(report.targets[0].shipped, [segmentName(1)])
        XCTAssertEqual(report.worstKind, .notFound)
    }

    func testTheSourceNoLongerHoldingWhatATargetNeedsIsAGapForThatTarget() throws {
        let f = try ShipFixture(targets: ["a"])
        try f.master.sealedSegments(1)
        try f.ship()
        try f.master.sealedSegments(3)
        // Purged by hand, say, while target a was away: the source now starts at segment 4.
        for s in [1, 2, 3] as [UInt64] { try FileManager.default.removeItem(atPath: f.master.segmentPath(s)) }
        let report = try f.ship()
        XCTAssertNil(report.sourceError, "the source itself is consistent from segment 4 on")
        XCTAssertEqual(report.targets[0].error?.kind, .gap)
        XCTAssertTrue(report.targets[0].error?.hint?.contains("forget") ?? false)
        XCTAssertEqual(try f.files(f.a), [segmentName(1)])
    }

    func testOneRunPerSourceAtATime() throws {
        let f = try ShipFixture()
        try f.master.sealedSegments(1)
        try ShipState.prepareDirectory(f.stateDirectory)
        let held = try ShipLock.acquire(path: f.stateDirectory + "/lock")
        XCTAssertThrowsError(try f.ship()) { error in
            let e = error as? ShipError
            XCTAssertEqual(e?.kind, .busy)
            XCTAssertTrue(e?.message.contains("pid \(getpid())") ?? false, "\(String(describing: e))")
        }
        XCTAssertEqual(try f.files(f.a), [])
        held.release()
        XCTAssertNil(try f.ship().worstKind)
    }

    func testStaleTempFilesOfDeadRunsAreRemovedAndOthersLeftAlone() throws {
        let f = try ShipFixture(targets: ["a"])
        try f.master.sealedSegments(1)
        let dead = ".tmp-99999999-1-" + segmentName(1)          // above any pid_max: no such process
        let alive = ".tmp-1-2-" + segmentName(1)                // pid 1 is always running
        let foreign = ".tmp-99999999-3-notes.txt"               // not ours: not a segment name
        for n in [dead, alive, foreign] { FileManager.default.createFile(atPath: f.a + "/" + n, contents: Data("junk".utf8)) }
        let report = try f.ship()
        XCTAssertEqual(report.targets[0].removed, [dead])
        XCTAssertEqual(try f.files(f.a), [alive, foreign, segmentName(1)].sorted())
    }

    func testIncludeActiveShipsTheCommittedPrefixAsAPartialThatTheSealedSegmentReplaces() throws {
        let f = try ShipFixture()
        try f.master.sealedSegments(1)
        try f.master.commit()
        try f.master.commit()
        let partial = segmentName(2) + ".partial"
        XCTAssertNil(SegmentName.parse(partial), "nothing takes a partial for a sealed segment")

        var report = try f.ship(includeActive: true)
        XCTAssertNil(report.worstKind, "\(report.failures)")
        XCTAssertEqual(report.targets[0].partial, partial)
        var reader = try SegmentReader(path: f.a + "/" + partial)
        XCTAssertEqual(try reader.verifyAll(), 2)
        XCTAssertNil(reader.tornTailOffset, "a partial copy holds whole transactions only")
        XCTAssertEqual(reader.lastLSN, 5)
        XCTAssertEqual(try f.state().targets["a"]?.partial?.lastLSN, 5)

        // Without new commits the partial is left as it is; with them it grows.
        let before = inode(f.a + "/" + partial)
        XCTAssertNil(try f.ship(includeActive: true).targets[0].partial)
        XCTAssertTrue(inode(f.a + "/" + partial) == before)
        try f.master.commit()
        report = try f.ship(includeActive: true)
        reader = try SegmentReader(path: f.b + "/" + partial)
        XCTAssertEqual(try reader.verifyAll(), 3)

        // Sealed: the sealed copy arrives, then the partial goes.
        try f.master.seal()
        report = try f.ship(includeActive: true)
        XCTAssertNil(report.worstKind, "\(report.failures)")
        XCTAssertEqual(report.targets[0].shipped, [segmentName(2)])
        XCTAssertEqual(report.targets[0].removed, [partial])
        XCTAssertEqual(try f.files(f.a), [segmentName(1), segmentName(2)])
        XCTAssertNil(try f.state().targets["a"]?.partial)
    }

    func testAPartialThatIsNotAPrefixOfTheSealedSegmentIsReportedAsDivergence() throws {
        let f = try ShipFixture(targets: ["a"])
        try f.master.commit()
        try f.master.commit()
        try f.ship(includeActive: true)
        let partial = f.a + "/" + segmentName(1) + ".partial"
        // As if the master had undone its last transaction after the partial was shipped.
        try flipByte(partial, at: Int(try FileDescriptor(path: partial, flags: O_RDONLY).size()) - 10)
        try f.master.seal()
        let report = try f.ship(includeActive: true)
        XCTAssertEqual(report.worstKind, .divergence)
        XCTAssertEqual(report.targets[0].warnings.first?.kind, .divergence)
        XCTAssertEqual(report.targets[0].shipped, [segmentName(1)], "the sealed segment is the truth and is shipped")
        XCTAssertEqual(try f.files(f.a), [segmentName(1)])
    }

    func testAnActiveSegmentSealedWhileTheRunLooksAtItIsLeftForTheNextRun() throws {
        // cron starts `binlog-writer rotate` and `binlog-ship` in the same second.
        let f = try ShipFixture(targets: ["a"])
        try f.master.commit()
        var config = f.config
        config.includeActive = true
        let shipper = try Shipper(config: config)
        let listing = try shipper.source.list()
        XCTAssertNotNil(listing.active)
        try f.master.seal()
        try ShipState.prepareDirectory(f.stateDirectory)
        let run = try ShipRun(shipper: shipper, state: ShipState(source: shipper.source.binlogPath))
        try run.begin()
        try run.shipSealed(listing)
        try run.shipActive(listing)
        XCTAssertNil(run.sourceError, "a segment sealed meanwhile is not an error")
        XCTAssertEqual(try f.files(f.a), [])
        XCTAssertNil(try f.ship(includeActive: true).worstKind)
        XCTAssertEqual(try f.files(f.a), [segmentName(1)])
    }

    func testAPartialIsShippedOnlyToTargetsThatHoldEverySealedSegmentBeforeIt() throws {
        let f = try ShipFixture()
        try f.master.sealedSegments(2)
        try f.master.commit()
        let conflicting = f.b + "/" + segmentName(2)
        FileManager.default.createFile(atPath: conflicting, contents: Data("not a segment".utf8))
        let report = try f.ship(includeActive: true)
        XCTAssertEqual(report.targets[0].partial, segmentName(3) + ".partial")
        XCTAssertNil(report.targets[1].partial)
        XCTAssertEqual(try f.files(f.b), [segmentName(1), segmentName(2)], "no partial 3 after a missing 2")
    }
}

/// The copier's own checks, below the run.
final class SegmentCopierTests: XCTestCase {
    func testASourceThatChangesAfterVerificationIsNeverPublishedAndIsBlamed() throws {
        let f = try ShipFixture(targets: ["a"])
        try f.master.sealedSegments(1)
        let entry = try XCTUnwrap(try ShipSource(path: f.master.root).list().sealed.first)
        let segment = try VerifiedSegment(entry: entry)
        try flipByte(entry.path, at: 200)
        let results = SegmentCopier.copy(segment, to: [SegmentCopier.Destination(store: DirectoryStore(target: f.config.targets[0]), finalName: entry.name.description)])
        guard case .failure(let e) = results[0] else { return XCTFail("a changed source was copied") }
        XCTAssertEqual(e.kind, .corruption)
        XCTAssertTrue(e.message.contains("source segment changed"), e.message)
        XCTAssertEqual(e.path, entry.path)
        XCTAssertEqual(try f.files(f.a), [], "the temp file is gone")
    }
}
