import BinlogFormat
import Foundation

/// Epochs in shipping (docs/FAILOVER.md): a promoted master's history travels to every target
/// before its segments, and a target fenced by a newer epoch takes nothing of an older epoch
/// past that epoch's fork point.
extension ShipRun {
    /// Reads each live target's fence (its newest history) and gives it the source's history
    /// when the target lacks it. A target whose history contradicts the source's fails with a
    /// split-brain error; the others go on.
    func exchangeHistories() {
        let source: EpochHistory?
        do { source = try EpochHistory.newest(in: shipper.source.binlogPath)?.history } catch {
            sourceError = shipError(error, context: "the source's epoch history cannot be read")
            emit(.failed(sourceError!))
            return
        }
        for run in targets where run.isLive {
            do {
                run.fence = try run.store.newestHistory()
                guard let source else { continue }
                if let fence = run.fence, !fence.isAncestor(of: source) {
                    // The target knows a newer epoch (fenced) or another fork: segments decide below.
                    if source.isAncestor(of: fence) { continue }
                    throw ShipError(.splitBrain, "the target's epoch history (epoch \(fence.epoch)) and the source's (epoch \(source.epoch)) describe different forks",
                                    target: run.name, path: run.store.location,
                                    hint: "two promotions were made from this source; only one master may ship into this target")
                }
                try run.store.publish(source)
                run.fence = source
            } catch let e as FormatError {
                fail(run, ShipError(e, target: run.name, context: "shipping the epoch history"))
            } catch let e as SystemError {
                fail(run, ShipError(e, target: run.name, context: "shipping the epoch history"))
            } catch {
                fail(run, error)
            }
        }
    }

    /// Refuses `segment` for a target fenced by a newer epoch when the segment reaches past its
    /// epoch's fork point: those transactions would fork the replica's data.
    func checkFence(_ run: TargetRun, name: SegmentName, firstLSN: UInt64, lastLSN: UInt64, path: String) throws {
        guard let fence = run.fence, fence.epoch > name.epoch, let end = fence.end(of: name.epoch), lastLSN > end else { return }
        let next = fence.entry(name.epoch + 1)
        throw ShipError(.splitBrain,
                        "refusing to ship \(name) (epoch \(name.epoch), LSNs \(firstLSN)…\(lastLSN)): the target is fenced by epoch \(fence.epoch); epoch \(name.epoch + 1) took over after LSN \(end)"
                        + (next?.promotedFrom.map { " (promoted from \($0) at \(next?.startedAt ?? ""))" } ?? "")
                        + ". LSNs \(max(firstLSN, end + 1))…\(lastLSN) were written by a superseded master and are not in the new history",
                        target: run.name, path: path,
                        hint: "stop this master: another one took over. Its transactions after LSN \(end) need reconciling by hand (`binlog-writer dump` from LSN \(end + 1)); docs/FAILOVER.md")
    }
}
