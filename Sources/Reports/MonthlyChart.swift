import Foundation

/// One stacked bar chart of monthly totals by category for one currency, as inline SVG: a bar
/// per month of the axis the caller gives (shared by every currency, empty months included),
/// a y axis with rounded ticks, gridlines and the currency as unit, and a legend. Series keep
/// their colour by position, so the caller passes the same series order in every chart.
struct MonthlyChart {
    var currency: String
    var months: [String]
    var series: [(name: String, totals: [Int64])]

    /// Tableau 10 (Tableau's default categorical palette, chosen for telling ten hues apart).
    /// The grey comes last: the caller groups categories beyond nine into a last series,
    /// "other", which is drawn in it. (A 14-colour list was not distinguishable in practice.)
    static let palette = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"]

    static let left = 96, top = 34, plotHeight = 300, bottom = 72
    /// A positive total is drawn at least this high, so that a cent beside thousands stays visible.
    static let minimumBar = 1.5
    /// A month whose bar is lower than this gets its total written above it.
    static let labelBelow = 4.0

    static func colour(_ index: Int) -> String { palette[index % palette.count] }

    /// Stacked positive totals per month, saturating: the chart only needs their scale, and a
    /// month can hold several category totals near Int64.max.
    var stacked: [Int64] {
        (0..<months.count).map { m in
            series.reduce(Int64(0)) { sum, serie in
                let (next, overflow) = sum.addingReportingOverflow(max(0, serie.totals[m]))
                return overflow ? Int64.max : next
            }
        }
    }

    /// The tick step for a largest total: 1, 2 or 5 × 10^k minor units, about five ticks.
    static func tickStep(_ maximum: Int64) -> Int64 {
        let raw = max(1, maximum / 5 + (maximum % 5 == 0 ? 0 : 1))
        var magnitude: Int64 = 1
        while magnitude <= raw / 10 { magnitude *= 10 }
        for factor: Int64 in [1, 2, 5, 10] {
            let (step, overflow) = magnitude.multipliedReportingOverflow(by: factor)
            if overflow { return magnitude }
            if step >= raw { return step }
        }
        return magnitude * 10
    }

    /// The tick values from 0 to the first multiple of `step` at or above `maximum`.
    static func ticks(_ maximum: Int64, step: Int64) -> [Int64] {
        var ticks: [Int64] = [0]
        while let last = ticks.last, last < maximum {
            let (next, overflow) = last.addingReportingOverflow(step)
            if overflow { break }
            ticks.append(next)
        }
        return ticks
    }

    /// A tick label: whole units when the step is, else with the currency's decimals.
    static func tickLabel(_ value: Int64, step: Int64, digits: Int) -> String {
        var scale: Int64 = 1
        for _ in 0..<digits { scale *= 10 }
        if step % scale == 0 { return Cell.groupThousands(String(value / scale)) }
        return Cell.money(value, digits: digits, grouped: true)
    }

    /// The `<svg>` element.
    func svg() -> String {
        let digits = CurrencyMinorUnits.digits(currency)
        let barWidth = max(6, min(40, 900 / max(1, months.count)))
        let gap = max(2, barWidth / 5)
        let plotWidth = months.count * (barWidth + gap) + gap
        let (left, top, height) = (Self.left, Self.top, Double(Self.plotHeight))
        let baseline = Double(top) + height   // whole: labels and the picture's height print as integers
        let totals = stacked
        let step = Self.tickStep(max(1, totals.max() ?? 1))
        let ticks = Self.ticks(max(1, totals.max() ?? 1), step: step)
        let axisTop = Double(ticks.last ?? 1)
        let unit = HTMLWriter.escape(currency)
        var svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(left + plotWidth + 24)\" height=\"\(Int(baseline) + Self.bottom)\" role=\"img\" aria-label=\"Monthly totals by category, \(unit)\" font-family=\"system-ui,sans-serif\">"
        svg += "<text class=\"unit\" x=\"\(left - 8)\" y=\"\(top - 16)\" font-size=\"11\" text-anchor=\"end\" font-weight=\"bold\">\(unit)</text>"
        for tick in ticks {
            let y = baseline - Double(tick) / axisTop * height
            svg += "<line class=\"grid\" x1=\"\(left)\" y1=\(q(y)) x2=\"\(left + plotWidth)\" y2=\(q(y)) stroke=\"\(tick == 0 ? "#888" : "#e3e3e3")\"/>"
            svg += "<text class=\"tick\" x=\"\(left - 6)\" y=\(q(y + 3.5)) font-size=\"10\" text-anchor=\"end\">\(Self.tickLabel(tick, step: step, digits: digits))</text>"
        }
        svg += "<line class=\"axis\" x1=\"\(left)\" y1=\"\(top)\" x2=\"\(left)\" y2=\(q(baseline)) stroke=\"#888\"/>"
        let everyLabel = months.count <= 24 ? 1 : (months.count + 23) / 24
        for (m, month) in months.enumerated() {
            let x = left + gap + m * (barWidth + gap)
            svg += bar(m, month: month, x: x, width: barWidth, baseline: baseline, scale: height / axisTop, total: totals[m], digits: digits)
            if m % everyLabel == 0 {
                let y = Int(baseline) + 14
                svg += "<text class=\"month-label\" x=\"\(x)\" y=\"\(y)\" font-size=\"10\" transform=\"rotate(45 \(x) \(y))\">\(HTMLWriter.escape(month))</text>"
            }
        }
        return svg + "</svg>"
    }

    /// One month's stacked segments in a group that names the month; a bar too low to see
    /// gets its total written above it.
    private func bar(_ m: Int, month: String, x: Int, width: Int, baseline: Double, scale: Double, total: Int64, digits: Int) -> String {
        let name = HTMLWriter.escape(month), unit = HTMLWriter.escape(currency)
        var out = "<g class=\"month\" data-month=\"\(name)\">"
        var y = baseline
        for (s, serie) in series.enumerated() where serie.totals[m] > 0 {
            let h = max(Self.minimumBar, Double(serie.totals[m]) * scale)
            y -= h
            out += "<rect x=\"\(x)\" y=\(q(y)) width=\"\(width)\" height=\(q(h)) fill=\"\(Self.colour(s))\"><title>\(name) \(HTMLWriter.escape(serie.name)): \(Cell.money(serie.totals[m], digits: digits, grouped: true)) \(unit)</title></rect>"
        }
        if total > 0 && Double(total) * scale < Self.labelBelow {
            let cx = x + width / 2
            out += "<text class=\"small-total\" x=\"\(cx)\" y=\(q(y - 3)) font-size=\"9\" text-anchor=\"start\" transform=\"rotate(-90 \(cx) \(q(y - 3, quoted: false)))\">\(Cell.money(total, digits: digits, grouped: true))</text>"
        }
        return out + "</g>"
    }

    /// The legend: the series with a positive total in this chart, in stacking order.
    func legend() -> String {
        series.enumerated().filter { $0.element.totals.contains { $0 > 0 } }.map {
            "<span><i style=\"background:\(Self.colour($0.offset))\"></i>\(HTMLWriter.escape($0.element.name))</span>"
        }.joined()
    }

    private func q(_ v: Double, quoted: Bool = true) -> String {
        let text = String(format: "%.2f", v)
        return quoted ? "\"" + text + "\"" : text
    }
}
