import Foundation
@testable import ExpenseSummary
import LogshipTestSupport
import XCTest

/// The few extremes a summary group keeps (`KeptExtremes`), against a plain multiset of the
/// group's amounts: after every batch of random adds and removes (repeats, the same amount added
/// and removed in one batch, runs of minimum deletions that empty the kept list), the kept values
/// are a prefix of the sorted multiset, so the minimum and maximum are exact whenever known.
final class KeptExtremesTests: XCTestCase {
    func testKeptValuesAreAlwaysAPrefixOfTheSortedAmounts() {
        var rng = SeededRandom()
        let seed = "seed \(rng.seed) (LOGSHIP_SEED=\(rng.seed) replays)"
        var refills = 0
        for _ in 0..<200 {
            var amounts: [Int64] = []
            var lows = KeptExtremes(largest: false, values: []), highs = KeptExtremes(largest: true, values: [])
            for _ in 0..<60 {
                var added: [Int64] = [], removed: [Int64] = []
                var batch = amounts
                for _ in 0..<Int.random(in: 1...12, using: &rng) {
                    switch Int.random(in: 0..<5, using: &rng) {
                    case 0, 1:
                        let v = Int64.random(in: 1...30, using: &rng)   // a small range: many repeats
                        added.append(v); batch.append(v)
                    case 2 where !batch.isEmpty:                         // remove the minimum (or maximum)
                        let v = Bool.random(using: &rng) ? batch.min()! : batch.max()!
                        removed.append(v); batch.remove(at: batch.firstIndex(of: v)!)
                    case 3 where !batch.isEmpty:
                        let v = batch.remove(at: Int.random(in: 0..<batch.count, using: &rng))
                        removed.append(v)
                    default: break
                    }
                }
                let before = Int64(amounts.count)
                amounts = batch
                lows.apply(added: added, removed: removed, count: before)
                highs.apply(added: added, removed: removed, count: before)
                let sorted = amounts.sorted()
                if !amounts.isEmpty, lows.extreme == nil { lows = KeptExtremes(largest: false, values: Array(sorted.prefix(KeptExtremes.capacity))); refills += 1 }
                if !amounts.isEmpty, highs.extreme == nil { highs = KeptExtremes(largest: true, values: Array(sorted.reversed().prefix(KeptExtremes.capacity))); refills += 1 }
                XCTAssertEqual(lows.values, Array(sorted.prefix(lows.values.count)), seed)
                XCTAssertEqual(highs.values, Array(sorted.reversed().prefix(highs.values.count)), seed)
                XCTAssertEqual(lows.extreme, sorted.first, seed)
                XCTAssertEqual(highs.extreme, sorted.last, seed)
                XCTAssertLessThanOrEqual(lows.values.count, KeptExtremes.capacity)
            }
        }
        XCTAssertGreaterThan(refills, 0, "the workload emptied a kept list at least once " + seed)
    }

    func testStoredFormRoundTripsAndRejectsGarbage() {
        let k = KeptExtremes(largest: true, values: [3, -9, 12, 3])
        XCTAssertEqual(k.values, [12, 3, 3, -9])
        XCTAssertEqual(k.blob.count, 32)
        XCTAssertEqual(Array(k.blob.prefix(8)), [12, 0, 0, 0, 0, 0, 0, 0], "little-endian, most extreme first")
        XCTAssertEqual(KeptExtremes.parse(k.blob, largest: true), k)
        XCTAssertNil(KeptExtremes.parse(Data([1, 2, 3]), largest: false), "not a whole number of integers")
        XCTAssertEqual(KeptExtremes.parse(Data(), largest: false)?.values, [])
        XCTAssertEqual(KeptExtremes.cancel([1, 2, 2, 5], [2, 3, 5]).0, [1, 2])
        XCTAssertEqual(KeptExtremes.cancel([1, 2, 2, 5], [2, 3, 5]).1, [3])
    }
}
