import Foundation
import LogshipSystem
import LogshipTestSupport
@testable import ReplicaStore
import XCTest

/// Age-class selection (`AgeClasses.select`) on hand-made calendars: which snapshot each UTC
/// day, ISO week and month keeps, counted back from now's own period.
final class AgeClassTests: XCTestCase {
    private func t(_ text: String) -> Int64 { parseTimestamp(text)! }

    /// Indices kept, with the periods that keep each.
    private func kept(_ times: [String], daily: Int = 0, weekly: Int = 0, monthly: Int = 0, now: String) -> [Int: [String]] {
        let periods = AgeClasses.select(times.map(t), daily: daily, weekly: weekly, monthly: monthly, now: t(now))
        var result: [Int: [String]] = [:]
        for (i, p) in periods.enumerated() where !p.isEmpty { result[i] = p.map(AgeClasses.describe) }
        return result
    }

    func testDailyKeepsTheNewestOfEachOfTheLastNDaysCountingToday() {
        let times = ["2026-12-01T01:00:00Z", "2026-12-01T23:00:00Z",    // Dec 1: the second stays
                     "2026-12-02T10:00:00Z",                            // Dec 2
                     "2026-12-03T00:00:00Z", "2026-12-03T05:00:00Z"]    // today: the newest stays
        XCTAssertEqual(kept(times, daily: 3, now: "2026-12-03T06:00:00Z"),
                       [1: ["daily 2026-12-01"], 2: ["daily 2026-12-02"], 4: ["daily 2026-12-03"]])
        // Two days: Dec 1 falls out of the class.
        XCTAssertEqual(kept(times, daily: 2, now: "2026-12-03T06:00:00Z"), [2: ["daily 2026-12-02"], 4: ["daily 2026-12-03"]])
        // A day without a snapshot still counts as one of the N: classes are calendar days, not "N snapshots".
        XCTAssertEqual(kept(times, daily: 2, now: "2026-12-04T00:00:00Z"), [4: ["daily 2026-12-03"]])
    }

    func testWeeklyUsesISOWeeksStartingMonday() {
        // 2026-11-29 is a Sunday, 2026-11-30 a Monday.
        let times = ["2026-11-23T12:00:00Z", "2026-11-29T23:59:59Z", "2026-11-30T00:00:00Z", "2026-12-02T12:00:00Z"]
        XCTAssertEqual(kept(times, weekly: 2, now: "2026-12-03T00:00:00Z"),
                       [1: ["weekly from 2026-11-23"], 3: ["weekly from 2026-11-30"]])
        XCTAssertEqual(kept(times, weekly: 1, now: "2026-11-30T00:00:00Z"), [2: ["weekly from 2026-11-30"]])
    }

    func testMonthlyAcrossAYearAndClassesCombine() {
        let times = ["2025-12-31T23:00:00Z", "2026-01-15T00:00:00Z", "2026-01-31T00:00:00Z", "2026-02-01T00:00:00Z", "2026-02-28T12:00:00Z"]
        XCTAssertEqual(kept(times, monthly: 3, now: "2026-02-28T13:00:00Z"),
                       [0: ["monthly 2025-12"], 2: ["monthly 2026-01"], 4: ["monthly 2026-02"]])
        // The newest snapshot is kept by every class at once.
        XCTAssertEqual(kept(times, daily: 1, weekly: 1, monthly: 1, now: "2026-02-28T13:00:00Z"),
                       [4: ["daily 2026-02-28", "weekly from 2026-02-23", "monthly 2026-02"]])
    }

    func testSnapshotsAfterNowEqualTimesAndZeroCounts() {
        let times = ["2026-12-03T05:00:00Z", "2026-12-03T05:00:00Z", "2026-12-04T00:00:00Z"]
        // Equal commit times (two snapshots at one time): the later one (higher LSN) stays; after now: no class.
        XCTAssertEqual(kept(times, daily: 7, now: "2026-12-03T06:00:00Z"), [1: ["daily 2026-12-03"]])
        XCTAssertEqual(kept(times, now: "2026-12-03T06:00:00Z"), [:])
    }

    func testCalendarArithmeticAgreesWithFoundation() {
        var rng = SeededRandom()
        let seed = "seed \(rng.seed) (rerun with LOGSHIP_SEED=\(rng.seed))"
        var calendar = Calendar(identifier: .iso8601)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        for _ in 0..<2000 {
            let seconds = Int64.random(in: -2_000_000_000...4_000_000_000, using: &rng)
            let date = Date(timeIntervalSince1970: TimeInterval(seconds))
            let c = calendar.dateComponents([.year, .month, .day], from: date)
            let (y, m, d) = AgeClasses.civil(AgeClasses.day(seconds * 1_000_000))
            XCTAssertEqual([y, m, d], [Int64(c.year!), Int64(c.month!), Int64(c.day!)], "\(seconds); \(seed)")
            // The week's Monday is a Monday and at most 6 days before.
            let monday = AgeClasses.week(seconds * 1_000_000) * 7 - 3
            let mondayDate = Date(timeIntervalSince1970: TimeInterval(monday * 86_400))
            XCTAssertEqual(calendar.component(.weekday, from: mondayDate), 2, "\(seconds); \(seed)")
            XCTAssert((0...6).contains(AgeClasses.day(seconds * 1_000_000) - monday), "\(seconds); \(seed)")
        }
    }
}
