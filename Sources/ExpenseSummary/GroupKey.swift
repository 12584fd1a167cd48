import BinlogApply
import BinlogFormat
import Foundation
import GRDB

/// A summary group as one integer, the rowid of its summary row: the month (year × 12 + month −
/// 1) in bits 46…62, the category's name id in 32…45, the currency's in 20…31, the merchant's
/// in 0…19 (0 in `_logship_summary`, which has no merchants). Name ids come from
/// `SummaryNames`; 0 stands for NULL. A name whose id does not fit its field (more than 16,383
/// categories, 4,095 currencies or 1,048,575 merchants) makes the summary invalid: the report
/// then scans the table.
enum GroupKey {
    enum Field: Int, CaseIterable {
        case category = 1, currency = 2, merchant = 3

        var shift: Int {
            switch self {
            case .category: return 32
            case .currency: return 20
            case .merchant: return 0
            }
        }
        var bits: Int {
            switch self {
            case .category: return 14
            case .currency: return 12
            case .merchant: return 20
            }
        }
        var mask: Int64 { (Int64(1) << Int64(bits)) - 1 }
    }

    static let monthShift = 46

    static func pack(month: Int64, category: Int64, currency: Int64, merchant: Int64) -> Int64 {
        month << Int64(monthShift) | category << Int64(Field.category.shift) | currency << Int64(Field.currency.shift) | merchant
    }

    /// The group without its merchant: the key of its `_logship_summary` row.
    static func withoutMerchant(_ k: Int64) -> Int64 { k & ~Field.merchant.mask }

    static func month(_ k: Int64) -> Int64 { k >> Int64(monthShift) }
    static func id(_ k: Int64, _ field: Field) -> Int64 { (k >> Int64(field.shift)) & field.mask }

    /// The month index of a date's first 7 bytes ("YYYY-MM", already checked as ISO 8601).
    static func monthIndex(bytes d: Data) -> Int64? {
        guard d.count >= 7 else { return nil }
        return d.withUnsafeBytes { (u: UnsafeRawBufferPointer) -> Int64? in
            var year: Int64 = 0
            for i in 0..<4 {
                guard (48...57).contains(u[i]) else { return nil }
                year = year * 10 + Int64(u[i] - 48)
            }
            guard u[4] == UInt8(ascii: "-"), (48...57).contains(u[5]), (48...57).contains(u[6]) else { return nil }
            let month = Int64(u[5] - 48) * 10 + Int64(u[6] - 48)
            guard (1...12).contains(month) else { return nil }
            return year * 12 + month - 1
        }
    }

    /// "YYYY-MM-01" of a month index, and of the month after it (the bounds of a date range).
    static func monthStart(_ index: Int64) -> String { String(format: "%04lld-%02lld-01", index / 12, index % 12 + 1) }
}

/// The name ids of a summary (`_logship_summary_names`): each distinct category, currency and
/// merchant value, byte for byte (a value with a NUL or invalid UTF-8 is its own name, as in
/// SQL's GROUP BY), numbered from 1 per field. Ids handed out since the last `writeNew` are
/// pending until it writes them in the batch's transaction; after a rollback the maintainer
/// reads the names from the table again.
struct SummaryNames {
    private var ids: [Int: [Value: Int64]] = [:]
    private var values: [Int: [Int64: Value]] = [:]
    private var next: [Int: Int64] = [:]
    private var pending: [(field: GroupKey.Field, id: Int64, value: Value)] = []

    /// The names stored in `db`.
    static func load(_ db: Database) throws -> SummaryNames {
        var names = SummaryNames()
        let select = try db.makeStatement(sql: "SELECT field, id, v FROM \(Summaries.namesTable)")
        try ExactValues.bind([], to: select)
        while try ExactValues.step(select, db) {
            guard case .integer(let f) = ExactValues.column(select, 0), let field = GroupKey.Field(rawValue: Int(f)),
                  case .integer(let id) = ExactValues.column(select, 1) else { continue }
            let v = ExactValues.column(select, 2)
            names.ids[field.rawValue, default: [:]][v] = id
            names.values[field.rawValue, default: [:]][id] = v
            names.next[field.rawValue] = max(names.next[field.rawValue] ?? 1, id + 1)
        }
        return names
    }

    /// The id of `value` in `field` (0 for NULL), a new one when it has none; nil when the
    /// field is full.
    mutating func id(_ field: GroupKey.Field, _ value: Value) -> Int64? {
        if case .null = value { return 0 }
        if let id = ids[field.rawValue]?[value] { return id }
        let id = next[field.rawValue] ?? 1
        guard id <= field.mask else { return nil }
        next[field.rawValue] = id + 1
        ids[field.rawValue, default: [:]][value] = id
        values[field.rawValue, default: [:]][id] = value
        pending.append((field, id, value))
        return id
    }

    /// The value of an id (NULL for 0).
    func value(_ field: GroupKey.Field, _ id: Int64) -> Value {
        id == 0 ? .null : values[field.rawValue]?[id] ?? .null
    }

    /// Writes the ids handed out since the last call.
    mutating func writeNew(_ db: Database) throws {
        guard !pending.isEmpty else { return }
        let insert = try db.cachedStatement(sql: "INSERT INTO \(Summaries.namesTable) (field, id, v) VALUES (?, ?, ?)")
        for p in pending {
            try ExactValues.bind([.integer(Int64(p.field.rawValue)), .integer(p.id), p.value], to: insert)
            _ = try ExactValues.step(insert, db)
        }
        pending.removeAll()
    }
}
