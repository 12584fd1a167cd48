import BinlogFormat
import Foundation
import LogshipSystem
import XCTest

/// `formatTimestamp` is built by hand for speed; it must print what `String(format:)` would.
final class TimestampTests: XCTestCase {
    /// The slow, obvious rendering of the same fields.
    private func reference(_ micros: Int64) -> String {
        let seconds = micros >= 0 ? micros / 1_000_000 : (micros - 999_999) / 1_000_000
        var t = time_t(seconds)
        var tmv = tm()
        gmtime_r(&t, &tmv)
        return String(format: "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ", Int(tmv.tm_year) + 1900, Int(tmv.tm_mon) + 1, Int(tmv.tm_mday),
                      Int(tmv.tm_hour), Int(tmv.tm_min), Int(tmv.tm_sec), Int(micros - seconds * 1_000_000))
    }

    func testFormatMatchesTheReference() {
        XCTAssertEqual(formatTimestamp(0), "1970-01-01T00:00:00.000000Z")
        XCTAssertEqual(formatTimestamp(1_795_782_040_436_224), "2026-11-27T12:20:40.436224Z")
        XCTAssertEqual(formatTimestamp(-1), "1969-12-31T23:59:59.999999Z")
        XCTAssertEqual(formatTimestamp(253_402_300_799_999_999), "9999-12-31T23:59:59.999999Z")
        var state: UInt64 = 0x7157_2026
        for _ in 0..<5_000 {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            // Years 1 to 9999, in microseconds around the epoch.
            let micros = Int64(bitPattern: state >> 1) % 253_402_300_800_000_000 - (state & 1 == 0 ? 62_135_596_800_000_000 : 0)
            XCTAssertEqual(formatTimestamp(micros), reference(micros), "micros \(micros)")
        }
        XCTAssertEqual(parseTimestamp(formatTimestamp(1_795_782_040_436_224)), 1_795_782_040_436_224)
    }

    /// timegm rolls impossible fields over (2026-02-30 became 2026-03-02): every field is now
    /// checked against the calendar first, and the reason is given (issue 12).
    func testImpossibleDatesAndTimesAreRefused() {
        XCTAssertEqual(parseTimestamp("2024-02-29"), 1_709_164_800_000_000, "leap day of a leap year")
        XCTAssertEqual(parseTimestamp("2000-02-29T00:00:00Z"), 951_782_400_000_000, "2000 is a leap year (divisible by 400)")
        XCTAssertEqual(parseTimestamp("2026-04-30T23:59:59.999999Z"), 1_777_593_599_999_999)
        XCTAssertEqual(parseTimestamp("2026-12-31 23:59:59+01:00"), 1_798_757_999_000_000)
        for bad in ["2026-02-29", "1900-02-29", "2026-02-30T00:00:00Z", "2026-04-31T12:00:00Z", "2026-06-31", "2026-09-31", "2026-11-31",
                    "2026-01-32", "2026-00-10", "2026-13-01", "2026-01-00", "2026-01-01T24:00:00Z", "2026-01-01T23:60:00Z",
                    "2026-01-01T23:59:60Z", "2026-01-01T12:00:00+24:00", "2026-01-01T12:00:00+01:60", "2026-1-01", "yesterday", ""] {
            XCTAssertNil(parseTimestamp(bad), bad)
            XCTAssertNotNil(timestampProblem(bad), bad)
        }
        XCTAssertEqual(timestampProblem("2026-02-30T00:00:00Z"), "day 30 does not exist: month 2 of 2026 has 28 days")
        XCTAssertEqual(timestampProblem("2024-02-30"), "day 30 does not exist: month 2 of 2024 has 29 days")
        XCTAssertNil(timestampProblem("2024-02-29T12:00:00Z"))
    }
}
