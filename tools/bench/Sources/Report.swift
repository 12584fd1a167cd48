import Foundation

/// The printed result of a run: the machine, one table per workload, then the targets.
struct BenchReport {
    var machine: Machine
    var workdir: String
    var seed: UInt64
    var rounds: Int
    /// 1-minute load average before and after the run.
    var load: (before: String, after: String)
    var bulk: [(rows: Int, results: [Measurement])]
    var durable: [Measurement]

    /// A target from the issue: a ratio or a bound, and whether the run met it.
    struct Target {
        var text: String
        var met: Bool
    }

    func render() -> String {
        var out = ""
        out += "machine   \(machine.cpus) CPUs, \(machine.cpuModel), Linux \(machine.kernel), SQLite \(machine.sqliteVersion)\n"
        out += "workdir   \(workdir) (\(machine.filesystem)); 4 KiB append + fdatasync: \(String(format: "%.2f", machine.fsyncMilliseconds)) ms\n"
        out += "load      1-minute load average \(load.before) before the run, \(load.after) after (other processes share this machine)\n"
        out += "seed      \(seed); each figure is the median of \(rounds) run(s), interleaved; 'range' is the lowest and highest rate\n"
        for (rows, results) in bulk {
            out += "\nbulk load: \(rows) rows in transactions of 1000\n" + table(results, plain: results.first { $0.label.hasPrefix("plain") })
        }
        if !durable.isEmpty {
            out += "\ndurable single-row transactions: \(durable.first?.rows ?? 0) autocommit INSERTs, one fsync'ed commit each\n"
            out += table(durable, plain: durable.first { $0.label.hasPrefix("plain") })
        }
        out += "\ntiming: db = database work only (transactions and close) in a child process, rows generated off the clock;\n"
        out += "        gen = generating the rows only; process = the whole process, spawn to exit\n"
        let sources = Set((bulk.flatMap(\.results) + durable).map(\.peakSource)).sorted().joined(separator: "; ")
        out += "peak:   RSS high-water mark of each contender's own process: \(sources)\n"
        out += "\ntargets\n"
        for t in targets() { out += "  [\(t.met ? "met   " : "MISSED")] \(t.text)\n" }
        return out
    }

    private func table(_ results: [Measurement], plain: Measurement?) -> String {
        var out = pad("contender", 42) + lpad("rows", 9) + lpad("time", 10) + lpad("timing", 9) + lpad("rows/s", 10)
            + lpad("vs plain", 10) + lpad("binlog B/row", 14) + lpad("peak RSS", 12) + "  range\n"
        for m in results {
            let ratio = plain.map { String(format: "%.0f%%", 100 * m.rate / $0.rate) } ?? "-"
            out += pad(m.label, 42) + lpad(String(m.rows), 9) + lpad(String(format: "%.2f s", m.seconds), 10) + lpad(m.timing, 9)
                + lpad(String(format: "%.0f", m.rate), 10) + lpad(m.label.hasPrefix("generator") ? "-" : ratio, 10)
                + lpad(m.binlogBytesPerRow.map { String(format: "%.1f", $0) } ?? "-", 14) + lpad(mib(m.peakKiB), 12)
                + (m.rates.count > 1 ? String(format: "  %.0f–%.0f", m.rates.min()!, m.rates.max()!) : "") + "\n"
        }
        return out
    }

    func targets() -> [Target] {
        var out: [Target] = []
        for (rows, results) in bulk {
            guard let plain = results.first(where: { $0.label.hasPrefix("plain") }) else { continue }
            for m in results where !m.diagnostic && (m.label.hasPrefix("master") || m.label.hasPrefix("binlog-writer")) {
                let r = m.rate / plain.rate
                out.append(Target(text: String(format: "bulk capture ≥ 50%% of plain: %@ at %d rows: %.0f%%", m.label, rows, 100 * r), met: r >= 0.5))
            }
            // The skeptic's peer (issue 15): both whole processes on the same CSV.
            if let c = results.first(where: { $0.label.hasPrefix("plain SQLite C API") }),
               let load = results.first(where: { $0.label.hasPrefix("binlog-writer load") }) {
                let r = load.rate / c.rate
                out.append(Target(text: String(format: "bulk capture ≥ 50%% of plain: %@ vs %@ at %d rows: %.0f%%", load.label, c.label, rows, 100 * r),
                                  met: r >= 0.5))
            }
        }
        if let plain = durable.first(where: { $0.label.hasPrefix("plain") }) {
            for m in durable where !m.diagnostic && !m.label.hasPrefix("plain") {
                let r = m.rate / plain.rate
                out.append(Target(text: String(format: "durable single-row ≥ 80%% of plain: %@: %.0f%%", m.label, 100 * r), met: r >= 0.8))
            }
        }
        out += memoryTargets()
        return out
    }

    /// Peak memory independent of the row count: the peak at N may exceed the peak at N/4 by
    /// at most 10% (noise in allocator arenas; a per-row leak would show as ~4× growth of the
    /// row-dependent part).
    private func memoryTargets() -> [Target] {
        guard bulk.count == 2 else { return [] }
        let (big, small) = bulk[0].rows > bulk[1].rows ? (bulk[0], bulk[1]) : (bulk[1], bulk[0])
        var out: [Target] = []
        for m in big.results where !m.diagnostic && (m.label.hasPrefix("master") || m.label.hasPrefix("binlog-writer")) {
            guard let s = small.results.first(where: { $0.label == m.label }) else { continue }
            let growth = Double(m.peakKiB) / Double(max(1, s.peakKiB)) - 1
            out.append(Target(text: String(format: "peak memory independent of rows: %@: %@ at %d rows, %@ at %d rows (%+.0f%%)",
                                           m.label, mib(m.peakKiB), big.rows, mib(s.peakKiB), small.rows, 100 * growth), met: growth <= 0.10))
        }
        return out
    }

    private func mib(_ kib: Int) -> String { String(format: "%.1f MiB", Double(kib) / 1024) }
    private func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s : s + String(repeating: " ", count: n - s.count) }
    private func lpad(_ s: String, _ n: Int) -> String { s.count >= n ? " " + s : String(repeating: " ", count: n - s.count) + s }
}
