import Foundation
import GRDB

/// xoshiro256** seeded through SplitMix64: small, fast, and the same sequence on every
/// platform for a given seed (Swift's SystemRandomNumberGenerator cannot be seeded).
struct SeededGenerator: RandomNumberGenerator {
    private var s: (UInt64, UInt64, UInt64, UInt64)

    init(seed: UInt64) {
        var x = seed
        func splitMix() -> UInt64 {
            x &+= 0x9E37_79B9_7F4A_7C15
            var z = x
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        s = (splitMix(), splitMix(), splitMix(), splitMix())
    }

    mutating func next() -> UInt64 {
        let result = ((s.1 &* 5) << 7 | (s.1 &* 5) >> 57) &* 9
        let t = s.1 << 17
        s.2 ^= s.0
        s.3 ^= s.1
        s.1 ^= s.2
        s.0 ^= s.3
        s.2 ^= t
        s.3 = s.3 << 45 | s.3 >> 19
        return result
    }

    /// A uniform double in [0, 1).
    mutating func unit() -> Double { Double(next() >> 11) * 0x1.0p-53 }

    /// A standard normal deviate (Box–Muller; one of the pair is dropped to stay simple).
    mutating func normal() -> Double {
        let u1 = max(unit(), 1e-300)
        return (-2 * log(u1)).squareRoot() * cos(2 * Double.pi * unit())
    }
}

/// One row of the `expenses` table.
struct ExpenseRow {
    var id: Int64
    var spentAt: String
    var category: String
    var merchant: String
    var amountCents: Int64
    var currency: String
    var note: String?

    /// Values in the column order of `ExpenseSchema.insertSQL`.
    var arguments: StatementArguments {
        let values: [(any DatabaseValueConvertible)?] = [id, spentAt, category, merchant, amountCents, currency, note]
        return StatementArguments(values)
    }

    /// An autocommit INSERT statement with SQL literals (for `binlog-writer exec --file`).
    var insertStatement: String {
        let noteLiteral = note.map(ExpenseSchema.literal) ?? "NULL"
        return "INSERT INTO expenses (id, spent_at, category, merchant, amount_cents, currency, note) VALUES ("
            + "\(id), \(ExpenseSchema.literal(spentAt)), \(ExpenseSchema.literal(category)), \(ExpenseSchema.literal(merchant)), "
            + "\(amountCents), '\(currency)', \(noteLiteral));\n"
    }

    /// A CSV record (RFC 4180); a NULL note is an empty field, which `binlog-writer load` reads as NULL.
    var csvLine: String {
        [String(id), spentAt, category, merchant, String(amountCents), currency, note ?? ""].map(ExpenseSchema.csvField).joined(separator: ",") + "\n"
    }
}

/// The benchmark table, its insert statement and the literal rules used to write input files.
enum ExpenseSchema {
    static let createSQL = """
        CREATE TABLE expenses(id INTEGER PRIMARY KEY, spent_at TEXT NOT NULL, category TEXT NOT NULL, \
        merchant TEXT NOT NULL, amount_cents INTEGER NOT NULL, currency TEXT NOT NULL, note TEXT)
        """
    static let insertSQL = "INSERT INTO expenses (id, spent_at, category, merchant, amount_cents, currency, note) VALUES (?, ?, ?, ?, ?, ?, ?)"
    static let csvHeader = "id,spent_at,category,merchant,amount_cents,currency,note\n"
    /// A digest of the loaded table, compared across contenders so a fast run that loaded
    /// something else cannot pass.
    static let fingerprintSQL = """
        SELECT count(*), total(amount_cents), count(note), total(length(note)), total(length(merchant)), \
        min(spent_at), max(spent_at), count(DISTINCT merchant) FROM expenses
        """

    static func literal(_ s: String) -> String { "'" + s.replacingOccurrences(of: "'", with: "''") + "'" }

    static func csvField(_ s: String) -> String {
        guard s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return s }
        return "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    static func fingerprint(_ db: Database) throws -> String {
        guard let row = try Row.fetchOne(db, sql: fingerprintSQL) else { return "empty" }
        return (0..<row.count).map { "\(row[$0] as DatabaseValue)" }.joined(separator: "|")
    }
}

/// Realistic personal-expense rows, the same sequence for the same seed: six years of
/// dates, twelve categories with their own amount distributions (log-normal, so a long
/// tail of large amounts), ~200 merchants picked with a skew towards the usual ones,
/// five currencies, and notes that are NULL about a third of the time and otherwise
/// often non-ASCII.
struct ExpenseGenerator {
    private var random: SeededGenerator
    private var nextID: Int64 = 1

    init(seed: UInt64) { random = SeededGenerator(seed: seed) }

    mutating func next() -> ExpenseRow {
        let category = Self.categories[pick(Self.categoryWeights)]
        let merchants = Self.merchants[category.name]!
        // u² skews the pick towards the first merchants: a few regular shops, a long tail.
        let merchant = merchants[min(merchants.count - 1, Int(Double(merchants.count) * pow(random.unit(), 2)))]
        let currency = Self.currencies[pick(Self.currencyWeights)]
        let eurCents = category.medianCents * exp(category.sigma * random.normal())
        let amount = max(1, Int64((eurCents * currency.minorUnitsPerEuroCent).rounded()))
        let row = ExpenseRow(id: nextID, spentAt: timestamp(hourFrom: category.openingHour), category: category.name,
                             merchant: merchant, amountCents: amount, currency: currency.code, note: note())
        nextID += 1
        return row
    }

    private mutating func pick(_ cumulative: [Double]) -> Int {
        let u = random.unit() * cumulative.last!
        return cumulative.firstIndex(where: { u < $0 }) ?? cumulative.count - 1
    }

    private mutating func timestamp(hourFrom opening: Int) -> String {
        let day = Self.firstDay + Int(random.next() % UInt64(Self.dayCount))
        let (y, m, d) = Self.civil(fromDays: day)
        let hour = opening + Int(random.next() % UInt64(23 - opening))
        let minute = Int(random.next() % 60), second = Int(random.next() % 60)
        return Self.pad(y, 4) + "-" + Self.pad(m, 2) + "-" + Self.pad(d, 2) + "T" + Self.pad(hour, 2) + ":" + Self.pad(minute, 2) + ":" + Self.pad(second, 2)
    }

    private mutating func note() -> String? {
        let u = random.unit()
        if u < 0.35 { return nil }
        let template = Self.notes[Int(random.next() % UInt64(Self.notes.count))]
        // A third of the notes carry a number, so they are not all drawn from one small set.
        return u < 0.55 ? template + " #\(random.next() % 10_000)" : template
    }

    static func pad(_ n: Int, _ width: Int) -> String {
        let s = String(n)
        return s.count >= width ? s : String(repeating: "0", count: width - s.count) + s
    }

    /// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's civil_from_days).
    static func civil(fromDays z0: Int) -> (Int, Int, Int) {
        let z = z0 + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (m <= 2 ? 1 : 0), m, d)
    }
}
