extension Summaries.Mapping {
    /// A mapping naming every column (the command-line tools build it from their flags).
    public init(table: String, date: String, amount: String, category: String, currency: String, merchant: String) {
        self.init()
        self.table = table
        self.date = date
        self.amount = amount
        self.category = category
        self.currency = currency
        self.merchant = merchant
    }
}
