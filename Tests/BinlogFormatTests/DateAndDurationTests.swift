import BinlogFormat
import Foundation
import LogshipSystem
import XCTest

/// Commit times as `Date` and timeouts as `Duration` (issue 17): the conversions the API's
/// `commitDate` properties and `Duration` overloads go through.
final class DateAndDurationTests: XCTestCase {
    func testBinlogMicrosecondsSurviveTheTripThroughDate() {
        let seed = testSeed(default: 0xDA7E_0017)
        var rng = SeededGenerator(seed: seed)
        let year2100: Int64 = 4_102_444_800_000_000
        var samples: [Int64] = [0, 1, 999_999, 1_000_000, 978_307_200_000_000, 978_307_199_999_999, 1_764_758_400_123_456, year2100]
        for _ in 0..<100_000 { samples.append(Int64.random(in: 0...year2100, using: &rng)) }
        var failures = 0
        for micros in samples where Date(binlogMicroseconds: micros).binlogMicroseconds != micros {
            failures += 1
            if failures <= 5 { XCTFail("\(micros) µs came back as \(Date(binlogMicroseconds: micros).binlogMicroseconds) (seed \(seed))") }
        }
    }

    func testDateMeansTheSameInstantAsTheTimestampText() throws {
        // 2025-12-03T08:30:15.250000Z: the text every tool prints, read back by Foundation.
        let micros: Int64 = 1_764_750_615_250_000
        XCTAssertEqual(formatTimestamp(micros), "2025-12-03T08:30:15.250000Z")
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        let parsed = try XCTUnwrap(formatter.date(from: "2025-12-03T08:30:15.250Z"))
        XCTAssertEqual(Date(binlogMicroseconds: micros), parsed)
        XCTAssertEqual(Date(binlogMicroseconds: 0), Date(timeIntervalSince1970: 0))
    }

    func testTransactionAndSegmentTimesAsDates() {
        let tx = Transaction(lsn: 7, commitTime: 1_764_750_615_250_001, events: [])
        XCTAssertEqual(tx.commitDate.binlogMicroseconds, tx.commitTime)
        XCTAssertEqual(tx.commitDate.timeIntervalSince1970, 1_764_750_615.250_001, accuracy: 1e-6)
    }

    func testDurationInSeconds() {
        XCTAssertEqual(Duration.zero.timeInterval, 0)
        XCTAssertEqual(Duration.seconds(90).timeInterval, 90)
        XCTAssertEqual(Duration.milliseconds(1500).timeInterval, 1.5)
        XCTAssertEqual(Duration.microseconds(250).timeInterval, 0.000_25, accuracy: 1e-12)
        XCTAssertEqual(Duration.seconds(-2).timeInterval, -2)
    }
}
