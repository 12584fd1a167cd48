import Foundation

// Date and Duration at the edge of the public API (issue 17, "The Swift library"). The binlog keeps
// commit times as microseconds since 1970 (Int64, docs/FORMAT.md) and the older options take
// seconds as a Double; these are the one conversion each way, so every `commitDate` and every
// `Duration` overload agrees with the raw value next to it.

extension Date {
    /// 2001-01-01 UTC (Foundation's reference date) in microseconds since 1970.
    private static let referenceMicroseconds: Int64 = 978_307_200_000_000

    /// The instant `micros` microseconds after 1970-01-01 UTC, the binlog's clock unit.
    /// Built from the reference date (which `Date` stores) in one rounding, so that
    /// `binlogMicroseconds` gives `micros` back exactly for every time from 1970 to 2100.
    public init(binlogMicroseconds micros: Int64) {
        self.init(timeIntervalSinceReferenceDate: Double(micros &- Date.referenceMicroseconds) / 1_000_000)
    }

    /// Microseconds since 1970-01-01 UTC, rounded to the nearest.
    public var binlogMicroseconds: Int64 {
        Int64((timeIntervalSinceReferenceDate * 1_000_000).rounded()) &+ Date.referenceMicroseconds
    }
}

extension Duration {
    /// This duration in seconds, as the `Double` timeouts that predate `Duration` take it.
    public var timeInterval: TimeInterval {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}
