import BinlogFormat
@testable import BinlogShip
import Foundation
import LogshipTestSupport
import XCTest

/// The contract every target backend keeps (docs/SHIPPING.md "Target backends"). Each backend
/// has a subclass that overrides `makeStore` and `makeUnreachableStore` and runs
/// `runConformance()` from its one test; the checks are the same for all. (A list rather than
/// inherited `test…` methods: XCTest on Linux does not discover inherited tests.)
class TargetStoreConformance: XCTestCase {
    /// Every check, by name; each runs on fresh stores and fails naming itself.
    static let checks: [(name: String, run: @Sendable (TargetStoreConformance) throws -> Void)] = [
        ("AnEmptyTargetIsReachableAndHoldsNothing", { try $0.checkAnEmptyTargetIsReachableAndHoldsNothing() }),
        ("AnUnreachableTargetIsNotFound", { try $0.checkAnUnreachableTargetIsNotFound() }),
        ("PutPublishesAndReadsBackWholeAndByRange", { try $0.checkPutPublishesAndReadsBackWholeAndByRange() }),
        ("ListIsSortedByKeyWithSizes", { try $0.checkListIsSortedByKeyWithSizes() }),
        ("AnUploadIsInvisibleUntilPublished", { try $0.checkAnUploadIsInvisibleUntilPublished() }),
        ("AChunkedCopyFromAFileIsTheFile", { try $0.checkAChunkedCopyFromAFileIsTheFile() }),
        ("SealingWithAnotherLengthFails", { try $0.checkSealingWithAnotherLengthFails() }),
        ("AnAbortedUploadLeavesNothing", { try $0.checkAnAbortedUploadLeavesNothing() }),
        ("PuttingTheSameBytesAgainIsAlreadyThere", { try $0.checkPuttingTheSameBytesAgainIsAlreadyThere() }),
        ("PuttingOtherBytesIsAConflictAndNothingIsOverwritten", { try $0.checkPuttingOtherBytesIsAConflictAndNothingIsOverwritten() }),
        ("ConcurrentUploadsOfOneKeyNeverOverwrite", { try $0.checkConcurrentUploadsOfOneKeyNeverOverwrite() }),
        ("ReplaceSwapsThePartialCopy", { try $0.checkReplaceSwapsThePartialCopy() }),
        ("DeleteRemovesAndIsIdempotent", { try $0.checkDeleteRemovesAndIsIdempotent() }),
        ("ReadingAMissingObjectIsNotFound", { try $0.checkReadingAMissingObjectIsNotFound() }),
        ("EpochHistoriesArePublishedOnceAndReadBack", { try $0.checkEpochHistoriesArePublishedOnceAndReadBack() })
    ]

    /// The check running now, for failure messages.
    private(set) var currentCheck: String?

    /// Runs every check against this backend.
    func runConformance(file: StaticString = #filePath, line: UInt = #line) {
        defer { currentCheck = nil }
        for check in Self.checks {
            currentCheck = check.name
            do { try check.run(self) } catch {
                XCTFail("conformance check \(check.name) failed on \(String(describing: type(of: self))): \(error)", file: file, line: line)
            }
        }
    }

    /// A new, empty, reachable target.
    func makeStore() throws -> TargetStore { throw ShipError(.config, "the conformance suite runs in a backend's subclass") }
    /// A target that is not there (an unmounted directory, a missing bucket).
    func makeUnreachableStore() throws -> TargetStore { throw ShipError(.config, "the conformance suite runs in a backend's subclass") }

    /// Seeded bytes; the seed is in every failure message.
    func randomBytes(_ count: Int, seed: UInt64) -> [UInt8] {
        var rng = SeededRandom(seed: seed)
        var out: [UInt8] = []
        out.reserveCapacity(count + 8)
        while out.count < count { withUnsafeBytes(of: rng.next()) { out += $0 } }
        return Array(out.prefix(count))
    }

    func shipError(_ body: () throws -> Void, file: StaticString = #filePath, line: UInt = #line) -> ShipError? {
        do { try body() } catch let e as ShipError { return e } catch { XCTFail("not a ShipError: \(error)", file: file, line: line); return nil }
        XCTFail("no error", file: file, line: line)
        return nil
    }

    func checkAnEmptyTargetIsReachableAndHoldsNothing() throws {
        let store = try makeStore()
        try store.checkReachable()
        XCTAssertEqual(try store.list(), [])
        XCTAssertNil(try store.stat(segmentName(1)))
    }

    func checkAnUnreachableTargetIsNotFound() throws {
        let store = try makeUnreachableStore()
        XCTAssertEqual(shipError { try store.checkReachable() }?.kind, .notFound)
    }

    func checkPutPublishesAndReadsBackWholeAndByRange() throws {
        let store = try makeStore()
        let seed: UInt64 = 11, data = randomBytes(70_000, seed: seed)
        XCTAssertEqual(try store.put(segmentName(1), data), .published)
        XCTAssertEqual(try store.stat(segmentName(1)), TargetObject(key: segmentName(1), size: 70_000))
        XCTAssertEqual(try store.read(segmentName(1)), data, "seed \(seed)")
        XCTAssertEqual(try store.read(segmentName(1), range: 100..<164), Array(data[100..<164]), "seed \(seed)")
        XCTAssertEqual(try store.read(segmentName(1), range: 69_990..<80_000), Array(data[69_990...]), "a range past the end is cut")
        XCTAssertTrue(store.address(of: segmentName(1)).contains(segmentName(1)))
    }

    func checkListIsSortedByKeyWithSizes() throws {
        let store = try makeStore()
        for (i, s) in [3, 1, 2].enumerated() { try store.put(segmentName(UInt64(s)), randomBytes(10 + i, seed: UInt64(s))) }
        try store.put(TargetKeys.partialName(for: SegmentName(epoch: 1, sequence: 4)), [1, 2, 3], replace: true)
        let listed = try store.list()
        XCTAssertEqual(listed.map(\.key), listed.map(\.key).sorted())
        XCTAssertEqual(listed.first { $0.key == segmentName(3) }?.size, 10)
        XCTAssertEqual(listed.first { $0.key == segmentName(2) }?.size, 12)
        XCTAssertEqual(listed.count, 4)
    }

    /// A reader never sees a partial object: nothing is under the key until `publish`.
    func checkAnUploadIsInvisibleUntilPublished() throws {
        let store = try makeStore()
        let data = randomBytes(600_000, seed: 5)
        let upload = try store.beginUpload(segmentName(1))
        try data.withUnsafeBytes { try upload.write(UnsafeRawBufferPointer(rebasing: $0[0..<200_000]), at: 0) }
        XCTAssertNil(try store.stat(segmentName(1)), "half written")
        XCTAssertEqual(try store.list(), [], "half written")
        try data.withUnsafeBytes { try upload.write(UnsafeRawBufferPointer(rebasing: $0[200_000...]), at: 200_000) }
        XCTAssertTrue(try upload.seal(length: Int64(data.count)) { Array($0) == data }, "the staged bytes read back")
        XCTAssertNil(try store.stat(segmentName(1)), "sealed, not published")
        XCTAssertEqual(try upload.publish(replace: false), .published)
        XCTAssertEqual(try store.read(segmentName(1)), data)
    }

    func checkAChunkedCopyFromAFileIsTheFile() throws {
        let store = try makeStore()
        let dir = TestDirectory("conformance")
        let data = randomBytes(600_000, seed: 9), path = dir.sub("source")
        try Data(data).write(to: URL(fileURLWithPath: path))
        let file = try RegularFile.open(path)
        let upload = try store.beginUpload(segmentName(1))
        var at: Int64 = 0
        while at < Int64(data.count) { at += Int64(try upload.copy(from: file, at: at, count: 250_000)) }
        XCTAssertEqual(try upload.copy(from: file, at: at, count: 10), 0, "end of file")
        XCTAssertTrue(try upload.seal(length: at) { Array($0) == data })
        try upload.publish(replace: false)
        XCTAssertEqual(try store.read(segmentName(1)), data)
    }

    func checkSealingWithAnotherLengthFails() throws {
        let store = try makeStore()
        let upload = try store.beginUpload(segmentName(1))
        try [1, 2, 3].withUnsafeBytes { try upload.write($0, at: 0) }
        XCTAssertThrowsError(try upload.seal(length: 4) { _ in true }, "3 bytes staged")
        upload.abort()
        XCTAssertEqual(try store.list(), [])
    }

    func checkAnAbortedUploadLeavesNothing() throws {
        let store = try makeStore()
        let upload = try store.beginUpload(segmentName(1))
        try [1, 2, 3].withUnsafeBytes { try upload.write($0, at: 0) }
        upload.abort()
        upload.abort()
        XCTAssertEqual(try store.list(), [])
        XCTAssertEqual(store.removeStaleUploads(), [], "an aborted upload leaves nothing to clean up")
    }

    func checkPuttingTheSameBytesAgainIsAlreadyThere() throws {
        let store = try makeStore()
        let data = randomBytes(5000, seed: 3)
        try store.put(segmentName(1), data)
        XCTAssertEqual(try store.put(segmentName(1), data), .alreadyThere)
        XCTAssertEqual(try store.read(segmentName(1)), data)
    }

    /// Put-if-absent never overwrites: other bytes are a conflict naming the first differing offset.
    func checkPuttingOtherBytesIsAConflictAndNothingIsOverwritten() throws {
        let store = try makeStore()
        let data = randomBytes(5000, seed: 4)
        var other = data
        other[1234] ^= 0xFF
        try store.put(segmentName(1), data)
        let e = shipError { try store.put(segmentName(1), other) }
        XCTAssertEqual(e?.kind, .corruption)
        XCTAssertEqual(e?.offset, 1234)
        XCTAssertTrue(e?.message.contains("nothing was overwritten") ?? false, e?.message ?? "")
        XCTAssertEqual(try store.read(segmentName(1)), data)
        XCTAssertEqual(try store.list().map(\.key), [segmentName(1)], "no staged object left")
    }

    /// Two uploads of one key race: the first publish wins, the second is compared with it.
    func checkConcurrentUploadsOfOneKeyNeverOverwrite() throws {
        let store = try makeStore()
        let a = randomBytes(4000, seed: 21), b = randomBytes(4000, seed: 22)
        let ua = try store.beginUpload(segmentName(1)), ub = try store.beginUpload(segmentName(1))
        try a.withUnsafeBytes { try ua.write($0, at: 0) }
        try b.withUnsafeBytes { try ub.write($0, at: 0) }
        XCTAssertEqual(try ua.publish(replace: false), .published)
        XCTAssertEqual(shipError { _ = try ub.publish(replace: false) }?.kind, .corruption)
        XCTAssertEqual(try store.read(segmentName(1)), a)
    }

    /// `replace: true` is how a newer partial copy of the active segment takes the old one's place.
    func checkReplaceSwapsThePartialCopy() throws {
        let store = try makeStore()
        let key = TargetKeys.partialName(for: SegmentName(epoch: 1, sequence: 1))
        try store.put(key, [1, 2, 3], replace: true)
        XCTAssertEqual(try store.put(key, [1, 2, 3, 4], replace: true), .published)
        XCTAssertEqual(try store.read(key), [1, 2, 3, 4])
    }

    func checkDeleteRemovesAndIsIdempotent() throws {
        let store = try makeStore()
        try store.put(segmentName(1), [1])
        try store.put(segmentName(2), [2])
        try store.delete(segmentName(1))
        try store.delete(segmentName(1))
        XCTAssertEqual(try store.list().map(\.key), [segmentName(2)])
        XCTAssertNil(try store.stat(segmentName(1)))
    }

    func checkReadingAMissingObjectIsNotFound() throws {
        let store = try makeStore()
        let e = shipError { _ = try store.read(segmentName(7)) }
        XCTAssertEqual(e?.kind, .notFound)
        XCTAssertTrue(e?.message.contains(segmentName(7)) ?? false, e?.message ?? "")
    }

    /// Fencing through the store: a history is published once; another history of the same
    /// epoch is a split brain and leaves the first in place.
    func checkEpochHistoriesArePublishedOnceAndReadBack() throws {
        let store = try makeStore()
        XCTAssertNil(try store.newestHistory())
        let source = UUID()
        let one = EpochHistory(sourceID: source, epochs: [.init(epoch: 1, firstLSN: 1, lastLSN: 10, startedAt: "2026-01-01T00:00:00Z"),
                                                          .init(epoch: 2, firstLSN: 11, startedAt: "2026-01-02T00:00:00Z")])
        let other = EpochHistory(sourceID: source, epochs: [.init(epoch: 1, firstLSN: 1, lastLSN: 12, startedAt: "2026-01-01T00:00:00Z"),
                                                            .init(epoch: 2, firstLSN: 13, startedAt: "2026-01-02T00:00:00Z")])
        try store.publish(one)
        try store.publish(one)
        XCTAssertEqual(try store.newestHistory(), one)
        do { try store.publish(other); XCTFail("a second epoch 2 was published") } catch let e as FormatError {
            XCTAssertEqual(e.kind, .splitBrain)
        }
        XCTAssertEqual(try store.newestHistory(), one)
    }
}

/// The conformance suite against a directory.
final class DirectoryStoreConformanceTests: TargetStoreConformance {
    private var directories: [TestDirectory] = []

    override func makeStore() throws -> TargetStore {
        let dir = TestDirectory("directory-store")
        directories.append(dir)
        return DirectoryStore(target: ShipTarget(name: "d", path: dir.path))
    }

    override func makeUnreachableStore() throws -> TargetStore {
        let dir = TestDirectory("directory-store")
        directories.append(dir)
        return DirectoryStore(target: ShipTarget(name: "d", path: dir.sub("not-mounted")))
    }

    func testConformance() { runConformance() }
}

/// The conformance suite against the in-memory fake.
final class MemoryStoreConformanceTests: TargetStoreConformance {
    override func makeStore() throws -> TargetStore { MemoryStore(name: "m") }

    override func makeUnreachableStore() throws -> TargetStore {
        let store = MemoryStore(name: "m")
        store.inject { $0.unreachable = true }
        return store
    }

    func testConformance() { runConformance() }
}

/// The suite rejects a broken backend: a store that overwrites an existing object on publish
/// (as an S3 server that ignores `If-None-Match` would) fails exactly the never-overwrite checks.
final class BrokenStoreConformanceTests: TargetStoreConformance {
    private var failedChecks: Set<String> = []

    override func makeStore() throws -> TargetStore {
        let store = MemoryStore(name: "broken")
        store.inject { $0.overwriteExisting = true }
        return store
    }

    override func makeUnreachableStore() throws -> TargetStore {
        let store = MemoryStore(name: "broken")
        store.inject { $0.unreachable = true }
        return store
    }

    /// Collects the failures of the checks instead of failing this test.
    override func recordFailure(withDescription description: String, inFile filePath: String, atLine lineNumber: Int, expected: Bool) {
        guard let check = currentCheck else {
            return super.recordFailure(withDescription: description, inFile: filePath, atLine: lineNumber, expected: expected)
        }
        failedChecks.insert(check)
    }

    func testTheSuiteRejectsAStoreThatOverwrites() {
        runConformance()
        // Histories survive it (publishing one looks first), but not the race the lock guards.
        XCTAssertEqual(failedChecks, ["PuttingOtherBytesIsAConflictAndNothingIsOverwritten", "ConcurrentUploadsOfOneKeyNeverOverwrite",
                                      "PuttingTheSameBytesAgainIsAlreadyThere"])
    }
}
