import Foundation
#if canImport(Glibc)
import Glibc
#endif

// The binlog's clock and the one way every tool prints a time: microseconds since 1970-01-01
// UTC, shown as ISO 8601 with microseconds in UTC (docs/FORMAT.md: commit times).

/// Microseconds since 1970-01-01 UTC, the binlog's clock unit.
public func microsecondsNow() -> Int64 {
    var ts = timespec()
    clock_gettime(CLOCK_REALTIME, &ts)
    return Int64(ts.tv_sec) * 1_000_000 + Int64(ts.tv_nsec) / 1_000
}

/// ISO 8601 with microseconds in UTC, the way every tool prints a commit time.
public func formatTimestamp(_ micros: Int64) -> String {
    var bytes: [UInt8] = []
    bytes.reserveCapacity(32)
    appendTimestamp(micros, to: &bytes)
    return String(decoding: bytes, as: UTF8.self)
}

/// Appends `formatTimestamp(micros)`'s bytes. Built by hand, without gmtime_r (which takes the
/// time-zone lock) or String pieces: exec prints one of these per durable commit, and
/// String(format:) alone cost tens of microseconds on Linux.
public func appendTimestamp(_ micros: Int64, to out: inout [UInt8]) {
    let seconds = micros >= 0 ? micros / 1_000_000 : (micros - 999_999) / 1_000_000
    let fraction = Int(micros - seconds * 1_000_000)
    let days = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
    let secondOfDay = Int(seconds - days * 86_400)
    // Civil date from days since 1970-01-01 (proleptic Gregorian; eras of 400 years).
    let z = days + 719_468
    let era = (z >= 0 ? z : z - 146_096) / 146_097
    let dayOfEra = z - era * 146_097
    let yearOfEra = (dayOfEra - dayOfEra / 1_460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
    let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
    let mp = (5 * dayOfYear + 2) / 153
    let day = Int(dayOfYear - (153 * mp + 2) / 5 + 1)
    let month = Int(mp < 10 ? mp + 3 : mp - 9)
    let year = Int(yearOfEra + era * 400 + (month <= 2 ? 1 : 0))
    func number(_ value: Int, _ width: Int) {
        var v = value
        if v < 0 { out.append(UInt8(ascii: "-")); v = -v }
        var divisor = 1, digits = 1
        while divisor <= v / 10 { divisor *= 10; digits += 1 }
        for _ in digits..<max(digits, width) { out.append(UInt8(ascii: "0")) }
        while divisor > 0 {
            out.append(UInt8(48 + v / divisor))
            v %= divisor
            divisor /= 10
        }
    }
    number(year, 4); out.append(UInt8(ascii: "-")); number(month, 2); out.append(UInt8(ascii: "-")); number(day, 2)
    out.append(UInt8(ascii: "T")); number(secondOfDay / 3_600, 2); out.append(UInt8(ascii: ":"))
    number(secondOfDay / 60 % 60, 2); out.append(UInt8(ascii: ":")); number(secondOfDay % 60, 2)
    out.append(UInt8(ascii: ".")); number(fraction, 6); out.append(UInt8(ascii: "Z"))
}
