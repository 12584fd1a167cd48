import BinlogFormat
import Foundation
import LogshipSystem

/// Month closing (issue 16): a month is complete only once the replica's applied commit time
/// is at or past the first instant of the next month (UTC). A report lists the months of its
/// range that are still open in a section "Open months", and, given the state a previous run
/// left (`--month-state FILE`), lists in "Restatements" every month that was closed then and
/// whose count or total per currency has changed since: data that arrived late.
public struct MonthClosing: Codable, Sendable, Equatable {
    /// One month and currency of a closed month, as reported.
    public struct Figure: Codable, Sendable, Equatable {
        public var month: String
        public var currency: String
        public var count: Int64
        public var total: Int64
    }

    /// Bumped when the fields change; an unknown version is refused.
    public static let currentVersion = 1

    public var version = MonthClosing.currentVersion
    /// What the report covered (range, filters, mapping): figures of another selection do not compare.
    public var selection: String
    /// The LSN and commit time the figures are as of.
    public var lsn: UInt64
    public var commitTime: String
    public var commitTimeMicros: Int64
    /// The figures of every month that was closed at `commitTimeMicros`.
    public var closed: [Figure]

    /// The first instant of the month after `month` (YYYY-MM), in microseconds since the epoch.
    static func end(of month: String) -> Int64? {
        MonthlyExpenses.nextMonth(month).flatMap { parseTimestamp($0 + "-01T00:00:00Z") }
    }

    /// Whether `month` is complete at commit time `micros`; a month that is not YYYY-MM is never.
    static func isClosed(_ month: String, at micros: Int64) -> Bool {
        guard let end = end(of: month) else { return false }
        return micros >= end
    }

    /// Reads the state a previous run wrote at `path`; nil when there is none yet.
    public static func read(_ path: String) throws -> MonthClosing? {
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ReportError(.io, "unable to read the month state \(path)")
        }
        let state: MonthClosing
        do { state = try JSONDecoder().decode(MonthClosing.self, from: data) } catch {
            throw ReportError(.invalid, "unable to read the month state \(path): \(error)",
                              hint: "it is written by report monthly-expenses --month-state; remove it to start over (no restatements are flagged then)")
        }
        guard state.version == currentVersion else {
            throw ReportError(.invalid, "unable to read the month state \(path): version \(state.version) is not \(currentVersion)")
        }
        return state
    }

    /// Writes the state durably (temp file, fsync, rename, fsync the directory).
    public func write(_ path: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        do { try DurableFile.publish([UInt8](try encoder.encode(self) + Data("\n".utf8)), to: path) } catch {
            throw ReportError(.io, "unable to write the month state \(path): \(error)")
        }
    }
}

extension MonthlyExpenses {
    /// The selection a month state is valid for: the options that change which rows count.
    static func selectionKey(_ o: Options) -> String {
        let m = o.mapping
        return ["from=\(o.fromMonth ?? "")", "to=\(o.toMonth ?? "")", "categories=\(o.categories.sorted())", "currencies=\(o.currencies.sorted())",
                "table=\(m.table)", "date=\(m.date)", "amount=\(m.amount)", "category=\(m.category)", "currency=\(m.currency)"].joined(separator: " ")
    }

    /// This run's state: the totals of every closed month.
    static func closing(_ totals: [MonthTotal], _ options: Options, _ freshness: Freshness) -> MonthClosing {
        let closed = totals.filter { MonthClosing.isClosed($0.month, at: freshness.commitTimeMicros) }
            .map { MonthClosing.Figure(month: $0.month, currency: $0.currency, count: $0.count, total: $0.total) }
        return MonthClosing(selection: selectionKey(options), lsn: freshness.lsn, commitTime: freshness.commitTime,
                            commitTimeMicros: freshness.commitTimeMicros, closed: closed)
    }

    /// "Open months": the months of the axis not complete at the data's commit time, with the
    /// instant they close. Left out when every month is closed.
    static func writeOpenMonths(_ axis: [String], _ freshness: Freshness, to writer: ReportWriter) throws {
        let open = axis.filter { !MonthClosing.isClosed($0, at: freshness.commitTimeMicros) }
        guard !open.isEmpty else { return }
        try writer.beginSection("Open months", columns: ["month", "closes_at"].map(ReportColumn.init))
        for month in open { try writer.row([.text(month), MonthClosing.end(of: month).map { Cell.text(formatTimestamp($0)) } ?? Cell.null]) }
        try writer.endSection()
    }

    /// Refuses a month state of another selection before anything is written: its figures
    /// count other rows, so every month would look restated.
    static func checkSelection(_ now: MonthClosing, previous: MonthClosing?) throws {
        guard let previous, previous.selection != now.selection else { return }
        throw ReportError(.invalid, "the month state was written by a report of another selection (\(previous.selection)), not this one (\(now.selection))",
                          hint: "give each saved report its own --month-state file")
    }

    /// "Restatements": months closed in `previous` whose count or total per currency differs
    /// now. Left out when there are none.
    static func writeRestatements(_ now: MonthClosing, previous: MonthClosing?, to writer: ReportWriter) throws {
        guard let previous else { return }
        let key = { (f: MonthClosing.Figure) in "\(f.month)\u{0}\(f.currency)" }
        let before = Dictionary(previous.closed.map { (key($0), $0) }, uniquingKeysWith: { a, _ in a })
        let after = Dictionary(now.closed.map { (key($0), $0) }, uniquingKeysWith: { a, _ in a })
        // A month closed then with no expenses in a currency was 0; one that lost all is 0 now.
        let changed = Set(before.keys).union(after.keys).sorted().compactMap { k -> (MonthClosing.Figure?, MonthClosing.Figure?)? in
            let (b, a) = (before[k], after[k])
            guard let figure = b ?? a, MonthClosing.isClosed(figure.month, at: previous.commitTimeMicros) else { return nil }
            return (b?.count, b?.total) == (a?.count, a?.total) ? nil : (b, a)
        }
        guard !changed.isEmpty else { return }
        try writer.beginSection("Restatements", columns: ["month", "currency", "previous_count", "previous_total", "count", "total", "previous_lsn"].map(ReportColumn.init))
        for (b, a) in changed {
            guard let f = b ?? a else { continue }
            try writer.row([.text(f.month), .text(f.currency), .integer(b?.count ?? 0), money(b?.total ?? 0, f.currency),
                            .integer(a?.count ?? 0), money(a?.total ?? 0, f.currency), .integer(Int64(clamping: previous.lsn))])
        }
        try writer.endSection()
    }
}
