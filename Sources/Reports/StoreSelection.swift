import BinlogApply
import BinlogFormat
import Foundation
import GRDB

/// Picks the store to report from: the freshest (highest applied LSN) that meets `maxLag`,
/// waiting up to `wait` seconds for one to reach `minLSN`; stores of different masters are
/// refused. A store that cannot be opened is passed over with a note, so a dead replica does
/// not stop reporting.
public enum StoreSelection {
    public struct Choice {
        public var store: ReportStore
        public var freshness: Freshness
        public var notes: [String]
    }

    public static func choose(paths: [String], allowMaster: Bool, maxLag: Double?, minLSN: UInt64?, wait: Double) throws -> Choice {
        let deadline = Date().addingTimeInterval(wait)
        var opened: [String: ReportStore] = [:]
        while true {
            var notes: [String] = []
            var candidates: [(ReportStore, Freshness)] = []
            for path in paths {
                do {
                    let store = try opened[path] ?? ReportStore(path: path, allowMaster: allowMaster)
                    opened[path] = store
                    candidates.append((store, try store.freshness()))
                } catch let e as ReportError where e.kind == .refused {
                    throw e
                } catch {
                    notes.append("skipped \(path): \(error)")
                }
            }
            try checkOneSource(candidates)
            let fresh = candidates.filter { maxLag == nil || $0.1.ageSeconds <= maxLag! }
            let reached = fresh.filter { minLSN == nil || $0.1.lsn >= minLSN! }
            if let best = reached.max(by: { $0.1.lsn < $1.1.lsn }) {
                for other in candidates where other.0 !== best.0 {
                    notes.append("not used: \(other.0.path) at LSN \(other.1.lsn) (\(Freshness.age(other.1.ageSeconds)) old)")
                }
                return Choice(store: best.0, freshness: best.1, notes: notes)
            }
            if Date() < deadline, minLSN != nil {
                usleep(100_000)
                continue
            }
            if candidates.isEmpty {
                throw ReportError(.notFound, "no store could be opened: " + notes.joined(separator: "; "))
            }
            let summary = candidates.map { "\($0.0.path) at LSN \($0.1.lsn), \(Freshness.age($0.1.ageSeconds)) old" }.joined(separator: "; ")
            if let minLSN, fresh.contains(where: { _ in true }) {
                throw ReportError(.stale, "no store reached LSN \(minLSN) within \(Int(wait)) s (\(summary))",
                                  hint: "the replica may be behind or stopped: check `replica-apply status`; raise --wait")
            }
            throw ReportError(.stale, "every store is staler than --max-lag \(Int(maxLag ?? 0)) s (\(summary))",
                              hint: "the replicas are behind or stopped: check `replica-apply status`")
        }
    }

    /// Refuses stores that follow different masters: their LSNs count different histories, so
    /// "the highest" would pick whichever master is busier, not the freshest copy of one.
    static func checkOneSource(_ candidates: [(ReportStore, Freshness)]) throws {
        guard Set(candidates.map(\.1.sourceID)).count > 1 else { return }
        let listing = candidates.map { "\($0.0.path) follows source \($0.1.sourceID)" }.joined(separator: "; ")
        throw ReportError(.invalid, "the stores are replicas of different masters, whose LSNs cannot be compared: \(listing)",
                          hint: "give --store only replicas of one master; each report's freshness stamp and `replica-apply status` show a store's source")
    }
}
