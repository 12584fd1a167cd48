import Foundation
#if canImport(Glibc)
import Glibc
#endif

// Reading a time back: one a user typed (`dump --since/--until`, `apply --until-time`, `restore
// --to-time`) or one a state file holds. Strict, so that a date that does not exist is refused
// with a reason instead of rolled over into another one.

/// Parses `2024-05-01`, `2024-05-01T12:00:00Z`, `2024-05-01 12:00:00.123456` (UTC unless an
/// offset is given) into microseconds since 1970-01-01 UTC; nil for anything else, including a
/// date or time that does not exist (see `timestampProblem`).
public func parseTimestamp(_ text: String) -> Int64? {
    guard case .success(let micros) = readTimestamp(text) else { return nil }
    return micros
}

/// Why `text` is not a timestamp `parseTimestamp` accepts, for error messages ("February 2026
/// has 28 days"); nil when it is one.
public func timestampProblem(_ text: String) -> String? {
    guard case .failure(let problem) = readTimestamp(text) else { return nil }
    return problem.reason
}

/// A timestamp that does not parse, and why.
private struct TimestampProblem: Error {
    var reason: String
}

/// Days in `month` (1…12) of `year` in the proleptic Gregorian calendar.
func daysInMonth(_ month: Int, of year: Int) -> Int {
    switch month {
    case 2: return year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) ? 29 : 28
    case 4, 6, 9, 11: return 30
    default: return 31
    }
}

/// Every field is checked against the calendar before it is converted: timegm would roll
/// `2026-02-30` over to March 2 and `24:00` to the next day, and a restore would silently
/// target another time than the one asked for (issue 12).
private func readTimestamp(_ text: String) -> Result<Int64, TimestampProblem> {
    let s = text.trimmingCharacters(in: .whitespaces)
    let pattern = #"^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6}))?)?)?(Z|[+-]\d{2}:?\d{2})?$"#
    guard let re = try? NSRegularExpression(pattern: pattern),
          let m = re.firstMatch(in: s, range: NSRange(s.startIndex..., in: s)) else {
        return .failure(TimestampProblem(reason: "not a time (use 2026-11-27, 2026-11-27T12:00:00Z or 2026-11-27 12:00:00.123456+01:00)"))
    }
    func number(_ i: Int) -> Int? {
        guard let r = Range(m.range(at: i), in: s) else { return nil }
        return Int(s[r])
    }
    let y = number(1) ?? 0, mo = number(2) ?? 0, d = number(3) ?? 0
    let h = number(4) ?? 0, mi = number(5) ?? 0, sec = number(6) ?? 0
    guard (1...12).contains(mo) else { return .failure(TimestampProblem(reason: "month \(mo) does not exist")) }
    guard (1...daysInMonth(mo, of: y)).contains(d) else {
        return .failure(TimestampProblem(reason: "day \(d) does not exist: month \(mo) of \(y) has \(daysInMonth(mo, of: y)) days"))
    }
    guard h < 24, mi < 60, sec < 60 else {
        return .failure(TimestampProblem(reason: "\(h):\(mi):\(sec) is not a time of day (hours 00-23, minutes and seconds 00-59)"))
    }
    var micros = 0
    if let r = Range(m.range(at: 7), in: s) {
        let f = String(s[r])
        micros = Int(f + String(repeating: "0", count: 6 - f.count)) ?? 0
    }
    var tmv = tm()
    tmv.tm_year = Int32(y - 1900); tmv.tm_mon = Int32(mo - 1); tmv.tm_mday = Int32(d)
    tmv.tm_hour = Int32(h); tmv.tm_min = Int32(mi); tmv.tm_sec = Int32(sec)
    var seconds = Int64(timegm(&tmv))
    if let r = Range(m.range(at: 8), in: s), s[r] != "Z" {
        let z = s[r]
        let sign: Int64 = z.hasPrefix("-") ? -1 : 1
        let digits = z.dropFirst().replacingOccurrences(of: ":", with: "")
        let oh = Int64(digits.prefix(2)) ?? 0, om = Int64(digits.suffix(2)) ?? 0
        guard oh < 24, om < 60 else { return .failure(TimestampProblem(reason: "UTC offset \(z) does not exist (hours 00-23, minutes 00-59)")) }
        seconds -= sign * (oh * 3600 + om * 60)
    }
    return .success(seconds * 1_000_000 + Int64(micros))
}
