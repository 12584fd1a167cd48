import ArgumentParser
import BinlogFormat
import BinlogMaster
import Foundation
import LogshipCLI

struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show the master's identity, last LSN and commit time, active and sealed segments (takes no lock).")

    @Argument(help: "The master data directory.")
    var directory: String

    @Flag(help: "Print JSON.")
    var json = false

    @Flag(help: "List every sealed segment.")
    var segments = false

    @Flag(help: "Print Prometheus text format (for node_exporter's textfile collector).")
    var prometheus = false

    @Option(help: "Write the Prometheus text to this file instead, atomically (for node_exporter's textfile collector; name it *.prom).")
    var metricsFile: String?

    func run() throws {
        try runReporting("binlog-writer") {
            let s = try MasterStatus.read(directory)
            if let metricsFile { try MetricsFile.write(s.prometheus, to: metricsFile); return }
            if json { printLine(try jsonText(s)); return }
            if prometheus { FileHandle.standardOutput.write(Data(s.prometheus.utf8)); return }
            printLine("master      \(s.directory)")
            printLine("source id   \(s.sourceID)")
            printLine("epoch       \(s.epoch)" + (s.epochFirstLSN > 1 ? " (began at LSN \(s.epochFirstLSN), after a promotion)" : ""))
            if let fence = s.fencedBy { printLine("FENCED      \(fence): this master refuses to write (split brain guard; docs/FAILOVER.md)") }
            printLine("last LSN    \(s.lastLSN)" + (s.lastCommitTime.map { "  committed \($0)" } ?? ""))
            if s.databaseLSN != s.lastLSN { printLine("database    at LSN \(s.databaseLSN): recovery will redo the rest on the next open") }
            if let a = s.activeSegment {
                printLine("active      \(a.name)  \(formatBytes(a.bytes))  \(a.transactions) transactions" + (a.lastLSN.map { "  LSN \(a.firstLSN)…\($0)" } ?? "") + "  started \(a.createdAt)")
            } else {
                printLine("active      none (the next commit starts a segment)")
            }
            let range = s.sealedSegments.first.map { "  LSN \($0.firstLSN)…\(s.sealedSegments.last!.lastLSN ?? 0)" } ?? ""
            printLine("sealed      \(s.sealedSegments.count) segments, \(formatBytes(s.sealedBytes))\(range)")
            if segments {
                for seg in s.sealedSegments {
                    printLine("  \(seg.name)  \(formatBytes(seg.bytes))  LSN \(seg.firstLSN)…\(seg.lastLSN ?? 0)  last commit \(seg.lastCommitTime ?? "-")")
                }
            }
            printLine("settings    segment size \(formatBytes(s.segmentSizeBytes)), sync-binlog \(s.syncBinlog)")
            printLine("markers     \(describeDigestMarkers(every: s.digestEveryTransactions, interval: s.digestIntervalSeconds))"
                      + (s.lastMarkerLSN.map { "; last at LSN \($0)" } ?? ""))
            if let semi = s.semiSync {
                let st = semi.settings
                let mode = st.degraded ? "DEGRADED since \(st.degradedSince ?? "?") at LSN \(st.degradedAtLSN.map(String.init) ?? "?"): commits are acknowledged without their replicas until they catch up"
                    : "synchronous"
                printLine("semi-sync   \(st.replicas) replica\(st.replicas == 1 ? "" : "s"), timeout \(st.timeoutSeconds) s, fallback \(st.fallback.rawValue); \(mode); acknowledged LSN \(semi.acknowledgedLSN)")
                for ack in semi.acks { printLine("  ack       \(ack.target) at LSN \(ack.lsn)  \(ack.at)") }
            }
        }
    }
}
