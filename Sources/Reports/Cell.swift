import Foundation
import GRDB

/// One value in a report. Money is integer minor units and prints with its currency's number of
/// decimals (`CurrencyMinorUnits`: two for EUR, none for JPY, three for BHD), computed from the
/// integer, never through floating point.
public enum Cell: Equatable, Sendable {
    case null
    case integer(Int64)
    case real(Double)
    case text(String)
    case blob(Data)
    /// An amount in minor units, printed with `digits` decimals.
    case money(Int64, digits: Int = 2)
    /// The change from one total to the next, as a percentage of |from| with one decimal,
    /// rounded half away from zero; no value when `from` is 0.
    case change(from: Int64, to: Int64)
    /// Money averaged: total / count in minor units, rounded half away from zero, shown with
    /// `digits` decimals.
    case moneyAverage(total: Int64, count: Int64, digits: Int = 2)

    public init(_ v: DatabaseValue) {
        switch v.storage {
        case .null: self = .null
        case .int64(let i): self = .integer(i)
        case .double(let d): self = .real(d)
        case .string(let s): self = .text(s)
        case .blob(let b): self = .blob(b)
        }
    }

    /// The text every format shows (JSON keeps numbers as numbers, see `jsonValue`).
    public var text: String { rendered(grouped: false) }

    /// The text for a reader rather than a program: money with thousands separators
    /// (1,234,567.89). The table, Markdown and HTML formats use it; CSV and JSON use `text`.
    public var groupedText: String { rendered(grouped: true) }

    private func rendered(grouped: Bool) -> String {
        switch self {
        case .null: return ""
        case .integer(let i): return String(i)
        case .real(let d): return d == d.rounded() && abs(d) < 1e15 ? String(format: "%.1f", d) : "\(d)"
        case .text(let s): return s
        case .blob(let b): return "x'" + b.map { String(format: "%02x", $0) }.joined() + "'"
        case .money(let c, let digits): return Cell.money(c, digits: digits, grouped: grouped)
        case .change(let from, let to): return Cell.change(from: from, to: to)
        case .moneyAverage(let total, let count, let digits):
            guard count > 0 else { return "" }
            // Rounded to the minor unit in integers: exact for any integer inputs.
            return Cell.money(Cell.roundedDivision(total, count), digits: digits, grouped: grouped)
        }
    }

    public var isNumeric: Bool {
        switch self {
        case .integer, .real, .money, .change, .moneyAverage: return true
        default: return false
        }
    }

    /// `minor` units as a decimal with `digits` (0...4) decimals, from the integer alone;
    /// `grouped` puts a comma between groups of three digits of the whole part.
    static func money(_ minor: Int64, digits: Int = 2, grouped: Bool = false) -> String {
        let sign = minor < 0 ? "-" : ""
        let m = minor.magnitude
        var scale: UInt64 = 1
        for _ in 0..<max(0, min(digits, 18)) { scale *= 10 }
        let whole = String(m / scale)
        let wholeText = grouped ? Cell.groupThousands(whole) : whole
        guard scale > 1 else { return sign + wholeText }
        let frac = String(m % scale)
        return sign + wholeText + "." + String(repeating: "0", count: digits - frac.count) + frac
    }

    /// "1234567" → "1,234,567" (digits only).
    static func groupThousands(_ digits: String) -> String {
        guard digits.count > 3 else { return digits }
        var out = ""
        out.reserveCapacity(digits.count + digits.count / 3)
        for (i, c) in digits.enumerated() {
            if i > 0 && (digits.count - i) % 3 == 0 { out.append(",") }
            out.append(c)
        }
        return out
    }

    /// (to - from) / |from| in percent with one decimal, rounded half away from zero, exact for
    /// any two Int64: their difference needs up to 64 bits of magnitude and × 1000 would not
    /// fit (totals of 10^16 cents crashed with an overflow), so the whole multiples of |from|
    /// and the tenths of a percent in the remainder are divided separately, in UInt64.
    static func change(from: Int64, to: Int64) -> String {
        guard from != 0 else { return "" }
        let negative = to < from
        // The true difference lies in 0...2^64-1, so the wrapping subtraction's bits are it.
        let difference = negative ? UInt64(bitPattern: from &- to) : UInt64(bitPattern: to &- from)
        let base = from.magnitude
        var whole = difference / base
        // rest < base, so rest × 1000 / base fits and gives tenths of a percent (0..<1000).
        let product = (difference % base).multipliedFullWidth(by: 1000)
        var (tenths, remainder) = base.dividingFullWidth((product.high, product.low))
        if remainder >= base - remainder { tenths += 1 }
        if tenths == 1000 { tenths = 0; whole += 1 }   // whole < 2^63 here: base ≥ 2 when there is a remainder
        let percent = whole == 0 ? String(tenths / 10) : String(whole) + (tenths < 100 ? "0" : "") + String(tenths / 10)
        let sign = negative && (whole != 0 || tenths != 0) ? "-" : "+"
        return sign + percent + "." + String(tenths % 10) + "%"
    }

    /// a / b rounded half away from zero, in integers.
    static func roundedDivision(_ a: Int64, _ b: Int64) -> Int64 {
        let q = a / b, r = a % b
        if 2 * r.magnitude >= b.magnitude { return q + ((a < 0) != (b < 0) ? -1 : 1) }
        return q
    }
}

/// A column of a report table.
public struct ReportColumn: Sendable, Equatable {
    public var name: String
    public init(_ name: String) { self.name = name }
}
