import BinlogFormat
@testable import BinlogShip
import Foundation
import LogshipTestSupport
import XCTest

/// `RemoteFetch`: a replica's inbox filled from a source store, verified, stopping at the first
/// gap or damaged object and naming it.
final class RemoteFetchTests: XCTestCase {
    final class Fixture {
        let dir = TestDirectory("remote-fetch")
        let master: FakeMaster
        let store = MemoryStore(name: "bucket")
        let inbox: String

        init(segments: Int) throws {
            master = try FakeMaster(root: dir.sub("master"))
            try master.sealedSegments(segments)
            inbox = dir.sub("inbox")
            try FileManager.default.createDirectory(atPath: inbox, withIntermediateDirectories: true)
        }

        func upload(_ sequences: [UInt64], damage: (UInt64, Int)? = nil) throws {
            for s in sequences {
                var b = Array(try bytes(master.segmentPath(s)))
                if let (seq, offset) = damage, seq == s { b[offset] ^= 0xFF }
                try store.put(segmentName(s), b)
            }
        }

        func inboxFiles() throws -> [String] { try FileManager.default.contentsOfDirectory(atPath: inbox).sorted() }
        func fetch() throws -> RemoteFetch.Outcome { try RemoteFetch(store: store, inbox: inbox).run() }
    }

    func testFetchesEverySealedSegmentOnceByteForByte() throws {
        let f = try Fixture(segments: 3)
        try f.upload([1, 2, 3])
        let first = try f.fetch()
        XCTAssertEqual(first.fetched, [segmentName(1), segmentName(2), segmentName(3)])
        XCTAssertEqual(first.present, [])
        XCTAssertEqual(try f.inboxFiles(), [segmentName(1), segmentName(2), segmentName(3)])
        for s in [1, 2, 3] as [UInt64] {
            XCTAssertEqual(try bytes(f.inbox + "/" + segmentName(s)), try bytes(f.master.segmentPath(s)))
        }
        let second = try f.fetch()
        XCTAssertEqual(second, RemoteFetch.Outcome(fetched: [], present: [segmentName(1), segmentName(2), segmentName(3)]))
    }

    func testGapInTheBucketStopsNamingTheMissingSegment() throws {
        let f = try Fixture(segments: 4)
        try f.upload([1, 2, 4])
        XCTAssertThrowsError(try f.fetch()) { error in
            guard let e = error as? ShipError else { return XCTFail("\(error)") }
            XCTAssertEqual(e.kind, .gap)
            XCTAssertTrue(e.message.contains("segments 3…3 of epoch 1 are missing before \(segmentName(4))"), e.message)
        }
        XCTAssertEqual(try f.inboxFiles(), [segmentName(1), segmentName(2)], "nothing after the gap, no temp file left")
    }

    func testCorruptedObjectIsRefusedAndNotPublished() throws {
        let f = try Fixture(segments: 3)
        let size = Int(try bytes(f.master.segmentPath(2)).count)
        try f.upload([1, 2, 3], damage: (2, size / 2))
        XCTAssertThrowsError(try f.fetch()) { error in
            guard let e = error as? ShipError else { return XCTFail("\(error)") }
            XCTAssertEqual(e.kind, .corruption, e.message)
        }
        XCTAssertEqual(try f.inboxFiles(), [segmentName(1)], "the damaged copy never appears under its name")
    }

    func testInboxFileOfAnotherSizeIsAConflictNeverOverwritten() throws {
        let f = try Fixture(segments: 2)
        try f.upload([1, 2])
        let local = f.inbox + "/" + segmentName(1)
        try Data([1, 2, 3]).write(to: URL(fileURLWithPath: local))
        XCTAssertThrowsError(try f.fetch()) { error in
            guard let e = error as? ShipError else { return XCTFail("\(error)") }
            XCTAssertEqual(e.kind, .divergence)
            XCTAssertTrue(e.message.contains("unable to fetch \(segmentName(1)): the inbox holds 3 bytes under that name"), e.message)
        }
        XCTAssertEqual(try bytes(local), Data([1, 2, 3]))
        XCTAssertEqual(try f.inboxFiles(), [segmentName(1)])
    }
}
