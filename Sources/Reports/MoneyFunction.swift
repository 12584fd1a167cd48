import Foundation
import GRDB

/// `money(amount, currency)`, a SQL function every report connection has: an integer amount in
/// minor units written in its currency's minor unit (ISO 4217, `CurrencyMinorUnits`), as the
/// built-in reports print it: `money(1250, 'JPY')` is "1250", `money(1250, 'EUR')` "12.50",
/// `money(1250, 'BHD')` "1.250", `money(-5, 'EUR')` "-0.05". Saved queries use it
/// (samples/reports/*.sql) so that a yen total is not printed with two decimals.
///
/// NULL amount → NULL (as `sum` of no rows). Any other amount that is not an integer (a real,
/// text, a blob) is an SQL error naming the value, never a rounded figure. The text is built
/// from the integer alone, never through floating point; no thousands separators (the result is
/// a cell that CSV and JSON readers take as a number).
enum MoneyFunction {
    static let function = DatabaseFunction("money", argumentCount: 2, pure: true) { values in
        let amount = values[0], currency = values[1]
        if amount.isNull { return nil }
        guard case .int64(let minor) = amount.storage else {
            throw DatabaseError(resultCode: .SQLITE_MISMATCH,
                                message: "money(): the amount must be an integer in minor units (cents), got \(amount)")
        }
        let code = String.fromDatabaseValue(currency) ?? ""
        return Cell.money(minor, digits: CurrencyMinorUnits.digits(code))
    }
}
