import Foundation
import GRDB

/// One value in a report. Money is integer minor units (cents) and prints with exactly two
/// decimals, computed from the integer, never through floating point.
public enum Cell: Equatable, Sendable {
    case null
    case integer(Int64)
    case real(Double)
    case text(String)
    case blob(Data)
    case money(Int64)
    /// An exact ratio shown as a percentage with one decimal (nil denominator = no value).
    case percent(numerator: Int64, denominator: Int64)
    /// Money averaged: total / count shown with two decimals, rounded half away from zero.
    case moneyAverage(total: Int64, count: Int64)

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
    public var text: String {
        switch self {
        case .null: return ""
        case .integer(let i): return String(i)
        case .real(let d): return d == d.rounded() && abs(d) < 1e15 ? String(format: "%.1f", d) : "\(d)"
        case .text(let s): return s
        case .blob(let b): return "x'" + b.map { String(format: "%02x", $0) }.joined() + "'"
        case .money(let c): return Cell.money(c)
        case .percent(let n, let d):
            guard d != 0 else { return "" }
            // One decimal, rounded half away from zero, in integers: 1000 * n / d tenths of a percent.
            let tenths = Cell.roundedDivision(n * 1000, d)
            return (tenths < 0 ? "-" : "+") + "\(abs(tenths) / 10).\(abs(tenths) % 10)%"
        case .moneyAverage(let total, let count):
            guard count > 0 else { return "" }
            // Hundredths of a cent, then rounded to the cent: exact for any integer inputs.
            return Cell.money(Cell.roundedDivision(total, count))
        }
    }

    public var isNumeric: Bool {
        switch self {
        case .integer, .real, .money, .percent, .moneyAverage: return true
        default: return false
        }
    }

    static func money(_ cents: Int64) -> String {
        let sign = cents < 0 ? "-" : ""
        let m = cents.magnitude
        let frac = m % 100
        return sign + String(m / 100) + "." + (frac < 10 ? "0" : "") + String(frac)
    }

    /// a / b rounded half away from zero, in integers.
    static func roundedDivision(_ a: Int64, _ b: Int64) -> Int64 {
        let q = a / b, r = a % b
        if 2 * r.magnitude >= b.magnitude { return q + ((a < 0) != (b < 0) ? -1 : 1) }
        return q
    }

    /// JSON: numbers stay numbers; money stays exact as a decimal string and integer cents.
    public var jsonValue: Any {
        switch self {
        case .null: return NSNull()
        case .integer(let i): return i
        case .real(let d): return d.isFinite ? d : "\(d)"
        case .text(let s): return s
        case .blob(let b): return b.base64EncodedString()
        case .money, .moneyAverage, .percent: return text
        }
    }
}

/// A column of a report table.
public struct ReportColumn: Sendable, Equatable {
    public var name: String
    public init(_ name: String) { self.name = name }
}
