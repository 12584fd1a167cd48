import BinlogFormat
import Foundation
import XCTest

/// Epoch history files (docs/FORMAT.md §10): names, shape rules, ancestry, and publication
/// that never replaces a different history.
final class EpochHistoryTests: XCTestCase {
    private let source = UUID(uuidString: "6F1C2A57-0D1E-4B7B-9A51-0B9C2D3E4F50")!

    private func scratch() throws -> String {
        let path = NSTemporaryDirectory() + "epoch-history-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: path) }
        return path
    }

    func testNamesRoundTripAndTheParserRejectsWhatTheFormatterWouldNotWrite() {
        for epoch: UInt32 in [1, 2, 0xff, 0xdead_beef, .max] {
            XCTAssertEqual(EpochHistory.parseFileName(EpochHistory.fileName(epoch: epoch)), epoch)
        }
        XCTAssertEqual(EpochHistory.fileName(epoch: 2), "00000002.history")
        for bad in ["00000000.history", "0000002.history", "000000002.history", "0000000A.history", "00000002.History",
                    "00000002.history.tmp", "x0000002.history", "00000002-0000000000000001.binlog", ".history"] {
            XCTAssertNil(EpochHistory.parseFileName(bad), bad)
        }
    }

    func testPromotionEndsTheOpenEpochAtTheForkAndTheShapeIsChecked() throws {
        let one = EpochHistory.initial(sourceID: source)
        let two = try one.promoted(at: 40, startedAt: 1_700_000_000_000_000, from: "replica /r on h")
        try two.validate()
        XCTAssertEqual(two.epoch, 2)
        XCTAssertEqual(two.end(of: 1), 40)
        XCTAssertNil(two.end(of: 2))
        XCTAssertEqual(two.current.firstLSN, 41)
        XCTAssertTrue(two.owns(lsn: 40, epoch: 1))
        XCTAssertFalse(two.owns(lsn: 41, epoch: 1), "epoch 1 past its fork is not history")
        XCTAssertTrue(two.owns(lsn: 41, epoch: 2))
        XCTAssertTrue(one.isAncestor(of: two))
        XCTAssertFalse(two.isAncestor(of: one))
        // An epoch may end without writing: promoted again at the same LSN.
        let three = try two.promoted(at: 40, startedAt: 1_700_000_001_000_000, from: "replica /s on h")
        try three.validate()
        XCTAssertEqual(three.entry(3)?.firstLSN, 41)
        XCTAssertThrowsError(try two.promoted(at: 39, startedAt: 0, from: "x"), "a fork before the epoch began")

        var broken = two
        broken.epochs[1].firstLSN = 42
        XCTAssertThrowsError(try broken.validate()) { XCTAssertEqual(($0 as? FormatError)?.kind, .corrupted) }
        broken = two
        broken.epochs[0].lastLSN = nil
        XCTAssertThrowsError(try broken.validate())
        broken = two
        broken.epochs[1].lastLSN = 50
        XCTAssertThrowsError(try broken.validate(), "the newest epoch is open")
        broken = two
        broken.version = 2
        XCTAssertThrowsError(try broken.validate()) { XCTAssertEqual(($0 as? FormatError)?.kind, .unsupported) }
    }

    func testPublishNeverReplacesAnotherHistoryAndARerunIsHarmless() throws {
        let dir = try scratch()
        let one = EpochHistory.initial(sourceID: source)
        let mine = try one.promoted(at: 10, startedAt: 1, from: "replica /b")
        let theirs = try one.promoted(at: 12, startedAt: 2, from: "replica /c")
        try mine.publish(in: dir)
        try mine.publish(in: dir)
        XCTAssertThrowsError(try theirs.publish(in: dir)) { error in
            XCTAssertEqual((error as? FormatError)?.kind, .splitBrain, "\(error)")
        }
        XCTAssertEqual(try EpochHistory.newest(in: dir)?.history, mine)
        let names = try FileManager.default.contentsOfDirectory(atPath: dir)
        XCTAssertEqual(names, ["00000002.history"], "no temp file is left behind")
    }

    func testNewestRefusesOlderFilesThatDisagreeAndDamagedOnes() throws {
        let dir = try scratch()
        XCTAssertNil(try EpochHistory.newest(in: dir))
        let two = try EpochHistory.initial(sourceID: source).promoted(at: 10, startedAt: 1, from: "b")
        let three = try two.promoted(at: 20, startedAt: 2, from: "c")
        try two.publish(in: dir)
        try three.publish(in: dir)
        XCTAssertEqual(try EpochHistory.newest(in: dir)?.history.epoch, 3)

        let other = try scratch()
        let forkedTwo = try EpochHistory.initial(sourceID: source).promoted(at: 11, startedAt: 1, from: "d")
        try forkedTwo.publish(in: other)
        try three.publish(in: other)
        XCTAssertThrowsError(try EpochHistory.newest(in: other)) { XCTAssertEqual(($0 as? FormatError)?.kind, .splitBrain) }

        let damaged = try scratch()
        try Data("{\"format\": \"logship-epoch-history\"".utf8).write(to: URL(fileURLWithPath: damaged + "/00000002.history"))
        XCTAssertThrowsError(try EpochHistory.newest(in: damaged)) { XCTAssertEqual(($0 as? FormatError)?.kind, .corrupted) }
        let misnamed = try scratch()
        try Data(two.encoded()).write(to: URL(fileURLWithPath: misnamed + "/00000003.history"))
        XCTAssertThrowsError(try EpochHistory.newest(in: misnamed), "the name must match the newest epoch")
    }
}
