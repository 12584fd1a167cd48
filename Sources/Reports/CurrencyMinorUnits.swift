/// How many decimals each currency's minor unit has, so that amounts stored as integer minor
/// units print as the currency is written: 1250 JPY is "1250", 1250 EUR "12.50", 1250 BHD
/// "1.250".
///
/// Source: ISO 4217 "List One: Currency, fund and precious metal codes", column "Minor unit",
/// as published by its maintenance agency, SIX Group (six-group.com, "list-one.xml"). Only the codes
/// whose minor unit is not 2 are listed; every other code, and any value that is not a known
/// code, is printed with 2 decimals. Codes without a minor unit in the standard ("N.A.": XAU,
/// XDR, XXX, …) also get 2.
///
/// A table rather than Foundation's `NumberFormatter`/`Locale`: those follow CLDR, whose digits
/// differ from ISO 4217 for some currencies (CLDR gives IQD, LBP and RSD no decimals where ISO
/// 4217 gives 3, 2 and 2), and swift-corelibs-foundation's ICU data varies with the toolchain; the report
/// must print the same bytes everywhere.
public enum CurrencyMinorUnits {
    /// Codes whose minor unit has no decimals.
    static let zero: Set<String> = ["BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "UYI",
                                    "VND", "VUV", "XAF", "XOF", "XPF"]
    /// Codes whose minor unit is a thousandth.
    static let three: Set<String> = ["BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"]
    /// Codes whose minor unit is a ten-thousandth (unidades de fomento, unidad previsional).
    static let four: Set<String> = ["CLF", "UYW"]

    /// The number of decimals of `code`'s minor unit (0, 2, 3 or 4); 2 for an unknown code.
    /// Codes are matched without regard to case ("jpy" is JPY).
    public static func digits(_ code: String) -> Int {
        let upper = code.uppercased()
        if zero.contains(upper) { return 0 }
        if three.contains(upper) { return 3 }
        if four.contains(upper) { return 4 }
        return 2
    }
}
