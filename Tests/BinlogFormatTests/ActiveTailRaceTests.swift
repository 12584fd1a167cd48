import BinlogFormat
import Foundation
import XCTest

/// Issue 15: a reader of the active segment while the master appends to it (a tight loop of
/// `binlog-ship --include-active`, `binlog-ship --follow`) must take a frame being written
/// for "not yet", never for corruption: it exited 3 with a false "bad frame magic" in 0.7–6%
/// of one-shot runs. A writer thread appends transactions of random sizes (several frames,
/// pages and preallocation steps each, as the master does) while readers read: fresh ones
/// from the start, and one that resumes where it stopped (`SegmentReader.resume`).
final class ActiveTailRaceTests: XCTestCase {
    private var dir: TemporaryDirectory!

    override func setUpWithError() throws { dir = try TemporaryDirectory("active-tail-race") }
    override func tearDown() { dir = nil }

    private static func transaction(_ lsn: UInt64, _ rng: inout SeededGenerator) -> Transaction {
        let eventCount = Int.random(in: 1...40, using: &rng)
        var events: [Event] = []
        for i in 0..<eventCount {
            // Random bytes: LZ4 cannot shrink them, so frames are as long as they look.
            let length = Int.random(in: 0...3_000, using: &rng)
            let blob: [UInt8] = (0..<length).map { _ in UInt8.random(in: 0...255, using: &rng) }
            let id = Int64(lsn) * 100 + Int64(i)
            let values: [Value] = [.integer(id), .text("tx \(lsn)"), .real(1.5), .blob(Data(blob))]
            events.append(.insert(table: Sample.items, rowid: id, values: values))
        }
        return Transaction(lsn: lsn, commitTime: Sample.t0 + Int64(lsn) * 1_000, events: events)
    }

    func testReadersNeverMistakeAFrameBeingWrittenForCorruption() throws {
        let seed = testSeed(default: 0x15_ac71_7e)
        var rng = SeededGenerator(seed: seed)
        let count: UInt64 = 300
        let plan = (1...count).map { Self.transaction($0, &rng) }
        // nonisolated(unsafe): once the thread starts, only the thread uses the writer.
        nonisolated(unsafe) let writer = try SegmentWriter.create(directory: dir.path, header: Sample.header(), chunkSize: 8 << 10)
        writer.preallocationStep = 64 << 10
        let path = writer.path
        let done = Atomic()
        let writing = Thread {
            for tx in plan {
                do { try writer.append(lsn: tx.lsn, commitTime: tx.commitTime, events: tx.events) } catch { done.fail("writer: \(error)"); break }
            }
            done.set()
        }
        writing.start()
        var fresh = 0
        var resumed: SegmentReader?
        var resumedLSN: UInt64 = 0
        while true {
            let finished = done.isSet
            do {
                // A fresh reader from the start, as a one-shot ship run reads.
                let r = try SegmentReader(path: path)
                try r.verifyAll(decode: false)
                fresh += 1
                // A reader kept open that only reads what is new.
                if resumed == nil { resumed = try SegmentReader(path: path) } else { try resumed!.resume() }
                while let tx = try resumed!.next(decode: false) {
                    XCTAssertEqual(tx.lsn, resumedLSN + 1, "seed \(seed)")
                    resumedLSN = tx.lsn
                }
            } catch {
                XCTFail("a reader reported damage while the writer appended (seed \(seed), replay with LOGSHIP_SEED=\(seed)): \(error)")
                break
            }
            if finished { break }
        }
        writing.cancel()
        while !done.isSet { usleep(1000) }
        XCTAssertNil(done.failure, "seed \(seed)")
        XCTAssertGreaterThan(fresh, 1)
        XCTAssertEqual(resumedLSN, count, "the resumed reader read every transaction once, in order (seed \(seed))")
    }
}

/// A flag and a message shared between the test and its writer thread.
private final class Atomic: @unchecked Sendable {
    private let lock = NSLock()
    private var flag = false
    private var message: String?
    var isSet: Bool { lock.withLock { flag } }
    var failure: String? { lock.withLock { message } }
    func set() { lock.withLock { flag = true } }
    func fail(_ m: String) { lock.withLock { message = m; flag = true } }
}
