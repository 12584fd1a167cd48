import BinlogFormat
import Foundation
import LogshipSystem

/// What a replica keeps (docs/OPERATIONS.md "Retention"): a point-in-time window that must stay
/// restorable, snapshots kept by age class (the newest of each of the last `daily` UTC days,
/// `weekly` ISO weeks and `monthly` months, as pgBackRest's and Barman's retention keep one backup
/// per period), and pinned snapshots that stay whatever their age.
public struct RetentionPolicy: Sendable, Equatable, Codable {
    /// Every moment in the last `window` microseconds must stay restorable; nil: no window, and
    /// the inbox is never trimmed.
    public var window: Int64?
    public var daily: Int
    public var weekly: Int
    public var monthly: Int
    /// Snapshots that stay: a file name (`snapshot-000000000000002a.db`, `.db` optional) or an LSN.
    public var pins: [String]

    public init(window: Int64? = nil, daily: Int = 0, weekly: Int = 0, monthly: Int = 0, pins: [String] = []) {
        self.window = window
        self.daily = daily
        self.weekly = weekly
        self.monthly = monthly
        self.pins = pins
    }

    /// True when `snapshot` is named by one of the pins.
    func pinned(_ snapshot: Snapshot) -> Bool {
        let name = (snapshot.path as NSString).lastPathComponent
        return pins.contains { pin in
            pin == name || pin + Snapshot.suffix == name || UInt64(pin) == snapshot.lsn
        }
    }
}

/// Age classes: which snapshots each period keeps. Periods are calendar periods in UTC counted
/// back from `now`'s own (today is the first of `daily` days); a period keeps its newest snapshot.
public enum AgeClasses {
    /// A period an age class keeps a snapshot for, e.g. "daily 2026-12-01".
    public enum Period: Hashable, Sendable {
        case day(Int64), week(Int64), month(Int64)
    }

    static let microsPerDay: Int64 = 86_400_000_000

    static func floorDiv(_ a: Int64, _ b: Int64) -> Int64 { a >= 0 ? a / b : -((-a + b - 1) / b) }

    /// Days since 1970-01-01 (UTC).
    static func day(_ t: Int64) -> Int64 { floorDiv(t, microsPerDay) }
    /// ISO weeks (Monday first) since the week of 1970-01-01, a Thursday.
    static func week(_ t: Int64) -> Int64 { floorDiv(day(t) + 3, 7) }
    /// Months since January 1970.
    static func month(_ t: Int64) -> Int64 {
        let (y, m, _) = civil(day(t))
        return (y - 1970) * 12 + (m - 1)
    }

    /// Year, month and day of a day number (Howard Hinnant's civil_from_days).
    static func civil(_ days: Int64) -> (Int64, Int64, Int64) {
        let z = days + 719_468
        let era = floorDiv(z, 146_097)
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (m <= 2 ? 1 : 0), m, d)
    }

    /// How a period reads in output: "daily 2026-12-01", "weekly from 2026-11-30", "monthly 2026-11".
    public static func describe(_ p: Period) -> String {
        func date(_ d: Int64) -> String { let (y, m, dd) = civil(d); return String(format: "%04lld-%02lld-%02lld", y, m, dd) }
        switch p {
        case .day(let d): return "daily " + date(d)
        case .week(let w): return "weekly from " + date(w * 7 - 3)
        case .month(let m): return String(format: "monthly %04lld-%02lld", 1970 + floorDiv(m, 12), m - floorDiv(m, 12) * 12 + 1)
        }
    }

    /// For each snapshot time in `times` (commit times, microseconds), the periods that keep it.
    /// Times after `now` belong to no period (the caller keeps them for that reason).
    public static func select(_ times: [Int64], daily: Int, weekly: Int, monthly: Int, now: Int64) -> [[Period]] {
        var keep = Array(repeating: [Period](), count: times.count)
        func run(_ count: Int, _ bucket: (Int64) -> Int64, _ make: (Int64) -> Period) {
            guard count > 0 else { return }
            let current = bucket(now)
            var newest: [Int64: Int] = [:]   // period → index of its newest snapshot
            for (i, t) in times.enumerated() where t <= now {
                let b = bucket(t)
                guard b > current - Int64(count) else { continue }
                if let j = newest[b], times[j] > t { continue }   // equal times: the later LSN
                newest[b] = i
            }
            for (b, i) in newest { keep[i].append(make(b)) }
        }
        run(daily, day, Period.day)
        run(weekly, week, Period.week)
        run(monthly, month, Period.month)
        return keep
    }
}
