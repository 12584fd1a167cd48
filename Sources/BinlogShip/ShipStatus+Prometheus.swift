import BinlogFormat
import Foundation
import LogshipSystem

extension ShipStatus {
    /// Prometheus text exposition format (for node_exporter's textfile collector): the source's
    /// newest transaction and last run, labelled `source="<binlog directory>"`, and each
    /// target's position, lag and health, labelled with `target="<name>"` as well.
    public var prometheus: String {
        var text = PrometheusText()
        let src = [("source", source)]
        text.gauge("logship_ship_source_last_lsn", "Newest committed LSN in the source binlog (0 when none).", [.init(src, .uint(lastLSN ?? 0))])
        text.gauge("logship_ship_source_last_commit_time_seconds", "Commit time of the source's newest transaction, Unix seconds (0 when none).",
                   [.init(src, PrometheusText.seconds(lastCommitTime.flatMap(parseTimestamp)))])
        text.gauge("logship_ship_source_problem", "1 when the source's newest segments could not be read.", [.init(src, PrometheusText.flag(sourceProblem != nil))])
        text.gauge("logship_ship_last_run_time_seconds", "When the last binlog-ship run started, Unix seconds (0 when never).",
                   [.init(src, PrometheusText.seconds(lastRun.flatMap { parseTimestamp($0.startedAt) }))])
        text.gauge("logship_ship_last_run_failed", "1 when the last binlog-ship run failed for any target.",
                   [.init(src, PrometheusText.flag(lastRun?.outcome.map { $0 != "ok" } ?? false))])
        targetMetrics(into: &text)
        return text.text
    }

    private func targetMetrics(into text: inout PrometheusText) {
        func family(_ name: String, _ help: String, _ value: (Target) -> PrometheusText.Value) {
            text.gauge("logship_ship_" + name, help, targets.map { .init([("source", source), ("target", $0.name)], value($0)) })
        }
        family("target_configured", "1 for a target in the configuration, 0 for one that only has state left.") { PrometheusText.flag($0.configured) }
        family("last_lsn", "Last LSN of the newest sealed segment the target holds (0 when none).") { .uint($0.lastLSN ?? 0) }
        family("last_commit_time_seconds", "Master commit time of that LSN, Unix seconds (0 when none).") {
            PrometheusText.seconds($0.lastCommitTime.flatMap(parseTimestamp))
        }
        family("last_success_time_seconds", "When a run last finished the target without error, Unix seconds (0 when never).") {
            PrometheusText.seconds($0.lastSuccessAt.flatMap(parseTimestamp))
        }
        family("last_attempt_time_seconds", "When a run last tried the target, Unix seconds (0 when never).") {
            PrometheusText.seconds($0.lastAttemptAt.flatMap(parseTimestamp))
        }
        family("last_attempt_failed", "1 when the last run that tried the target failed for it.") { PrometheusText.flag($0.lastAttemptFailed) }
        family("last_error_time_seconds", "When the target's last error happened, Unix seconds (0 when none is kept).") {
            PrometheusText.seconds($0.lastErrorAt.flatMap(parseTimestamp))
        }
        family("lag_seconds", "Master commit time of the source's newest transaction minus the target's (+Inf while the target holds nothing).") {
            .double($0.secondsBehind ?? .infinity)
        }
        family("behind_lsns", "Transactions the source has and the target lacks.") { .uint($0.lsnsBehind) }
        family("behind_segments", "Sealed segments the source has and the target lacks.") { .int(Int64($0.segmentsBehind)) }
        family("behind_bytes", "Bytes of those segments plus the committed bytes of the active segment not yet shipped.") { .int($0.bytesBehind) }
        func counter(_ name: String, _ help: String, _ value: (Target) -> PrometheusText.Value) {
            text.counter("logship_ship_" + name, help, targets.map { .init([("source", source), ("target", $0.name)], value($0)) })
        }
        counter("shipped_segments_total", "Sealed segments copied to the target, from its state (since it was first shipped to or forgotten).") { .uint($0.segmentsShipped) }
        counter("shipped_bytes_total", "Bytes of those segments.") { .int($0.bytesShipped) }
        counter("errors_total", "Runs (or --follow passes) that ended with an error for the target.") { .uint($0.errors) }
        text.gauge("logship_ship_target_guarantee", "1 for each guarantee the target's backend gives beyond the contract.",
                   targets.flatMap { t in (t.guarantees ?? []).map { PrometheusText.Sample([("source", source), ("target", t.name), ("guarantee", $0)], .int(1)) } })
    }
}

extension ShipStatus.Target {
    /// The last run that tried this target failed for it: an error newer than the last success
    /// (a run that succeeded with a warning records both at the same time).
    var lastAttemptFailed: Bool {
        guard let error = lastErrorAt.flatMap(parseTimestamp) else { return false }
        guard let success = lastSuccessAt.flatMap(parseTimestamp) else { return true }
        return error > success
    }
}
