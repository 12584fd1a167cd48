import ArgumentParser

/// The column mapping of an expenses table, shared by `report monthly-expenses` and
/// `replica-apply summarize` so that both read the same flags with the same defaults (the
/// defaults of `Summaries.Mapping`, the sample schema's names).
public struct ExpenseColumns: ParsableArguments {
    @Option(help: "The expenses table.") public var table: String = "expenses"
    @Option(help: "Column with the date (ISO 8601 text, YYYY-MM-DD…).") public var dateColumn: String = "spent_at"
    @Option(help: "Column with the amount in minor units (integer).") public var amountColumn: String = "amount_cents"
    @Option(help: "Column with the category.") public var categoryColumn: String = "category"
    @Option(help: "Column with the currency.") public var currencyColumn: String = "currency"
    @Option(help: "Column with the merchant.") public var merchantColumn: String = "merchant"

    public init() {}
}
