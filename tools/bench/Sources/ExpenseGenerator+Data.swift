import Foundation

/// The fixed vocabulary of the generator; the seed only changes which values rows take.
extension ExpenseGenerator {
    struct Category {
        var name: String
        /// Median amount in euro cents and the log-normal spread around it.
        var medianCents: Double
        var sigma: Double
        /// Earliest hour of the day an expense of this kind happens.
        var openingHour: Int
        var weight: Double
        var stems: [String]
    }

    struct Currency {
        var code: String
        var weight: Double
        /// Minor units per euro cent: cents for EUR/USD/GBP/CHF, yen for JPY (no minor unit).
        var minorUnitsPerEuroCent: Double
    }

    static let categories: [Category] = [
        Category(name: "groceries", medianCents: 3800, sigma: 0.6, openingHour: 7, weight: 22,
                 stems: ["Migros", "Rewe", "Carrefour", "Tesco", "Bäckerei Müller", "Épicerie du Marché"]),
        Category(name: "restaurants", medianCents: 2900, sigma: 0.55, openingHour: 11, weight: 14,
                 stems: ["Trattoria Da Gino", "Brasserie Lipp", "Sushi Kō", "Zum Goldenen Hirschen", "Pho 24", "The Crown"]),
        Category(name: "coffee", medianCents: 420, sigma: 0.3, openingHour: 6, weight: 16,
                 stems: ["Café de Flore", "Sprüngli", "Blue Bottle", "Konditorei Schöne", "Caffè Nero", "Tim Hortons"]),
        Category(name: "transport", medianCents: 280, sigma: 0.5, openingHour: 5, weight: 12,
                 stems: ["SBB CFF FFS", "RATP", "BVG", "TfL", "Uber", "Deutsche Bahn"]),
        Category(name: "fuel", medianCents: 6200, sigma: 0.3, openingHour: 6, weight: 5,
                 stems: ["Shell", "Aral", "TotalÉnergies", "BP", "Esso", "Agip"]),
        Category(name: "travel", medianCents: 18000, sigma: 0.9, openingHour: 6, weight: 3,
                 stems: ["Lufthansa", "easyJet", "SWISS", "Eurostar", "ANA 全日空", "Ryanair"]),
        Category(name: "lodging", medianCents: 13500, sigma: 0.5, openingHour: 8, weight: 2,
                 stems: ["Hôtel Le Meurice", "Motel One", "Ibis", "Premier Inn", "Hotel Schweizerhof", "Ryokan Sakura 桜"]),
        Category(name: "utilities", medianCents: 8500, sigma: 0.4, openingHour: 8, weight: 3,
                 stems: ["EWZ", "Vattenfall", "EDF", "Thames Water", "Swisscom", "Telekom"]),
        Category(name: "entertainment", medianCents: 2200, sigma: 0.7, openingHour: 10, weight: 6,
                 stems: ["Kino Babylon", "Opéra Bastille", "Tonhalle", "Odeon", "FNAC Spectacles", "Philharmonie"]),
        Category(name: "health", medianCents: 3500, sigma: 0.9, openingHour: 8, weight: 4,
                 stems: ["Apotheke am Markt", "Pharmacie Centrale", "Boots", "Dr. Nüssli", "Amavita", "dm-drogerie markt"]),
        Category(name: "shopping", medianCents: 5500, sigma: 1.0, openingHour: 9, weight: 9,
                 stems: ["Manor", "Galeries Lafayette", "IKEA", "Jelmoli", "Muji 無印良品", "Decathlon"]),
        Category(name: "subscriptions", medianCents: 1199, sigma: 0.5, openingHour: 0, weight: 4,
                 stems: ["Spotify", "Netflix", "iCloud", "NZZ Abo", "Le Monde", "The Guardian", "GitHub", "Backblaze"]),
    ]

    static let locations = ["Zürich", "Berlin", "Paris", "London", "Genève", "München", "Lyon", "Wien", "Tokyo", "Basel", "Köln", "New York"]

    /// Six shops of each category in three cities each (online subscriptions have no city): 206 merchants.
    static let merchants: [String: [String]] = {
        var result: [String: [String]] = [:]
        for category in categories {
            if category.name == "subscriptions" { result[category.name] = category.stems; continue }
            var names: [String] = []
            for (i, stem) in category.stems.enumerated() {
                for j in 0..<3 { names.append(stem + " " + locations[(i * 3 + j + category.name.count) % locations.count]) }
            }
            result[category.name] = names
        }
        return result
    }()

    static let categoryWeights: [Double] = cumulative(categories.map(\.weight))

    static let currencies: [Currency] = [
        Currency(code: "EUR", weight: 55, minorUnitsPerEuroCent: 1),
        Currency(code: "USD", weight: 18, minorUnitsPerEuroCent: 1.08),
        Currency(code: "GBP", weight: 12, minorUnitsPerEuroCent: 0.86),
        Currency(code: "CHF", weight: 9, minorUnitsPerEuroCent: 0.95),
        Currency(code: "JPY", weight: 6, minorUnitsPerEuroCent: 1.62),
    ]

    static let currencyWeights: [Double] = cumulative(currencies.map(\.weight))

    static let notes = [
        "team lunch", "Café au lait ☕", "Déjeuner d'affaires", "Größere Bestellung fürs Büro", "出張 東京 — タクシー",
        "Smørrebrød & øl", "reimbursable", "split with Zoë", "Überweisung ausstehend", "cash, receipt lost",
        "conference “Swift on Server”", "naïve café, tip incl.", "Ça coûte cher!", "gift for Ana-María 🎁",
        "monthly", "refund expected", "Zürich → Genève", "client dinner, 4 people", "parking 🚗", "late fee",
    ]

    static let firstDay = 17897 // 2019-01-01
    static let dayCount = 2192 // through 2024-12-31

    static func cumulative(_ weights: [Double]) -> [Double] {
        var total = 0.0
        return weights.map { total += $0; return total }
    }
}
