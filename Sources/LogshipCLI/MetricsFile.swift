import BinlogFormat
import Foundation

/// `--metrics-file PATH`: Prometheus text for node_exporter's textfile collector, published
/// atomically (temp file in the same directory, fsync, rename, fsync the directory). The temp
/// name ends in `.tmp`, not `.prom`, so the collector never reads a half-written file.
public enum MetricsFile {
    public static func write(_ text: String, to path: String) throws {
        let temp = path + ".\(getpid()).tmp"
        let directory = (path as NSString).deletingLastPathComponent
        do {
            let file = try FileDescriptor(path: temp, flags: O_WRONLY | O_CREAT | O_TRUNC, mode: 0o644)
            try file.write(Array(text.utf8), at: 0)
            try file.sync()
            try DurableFile.rename(temp, to: path)
            try DurableFile.syncDirectory(directory.isEmpty ? "." : directory)
        } catch {
            unlink(temp)
            throw error
        }
    }

    /// The metrics of one run of a command (`report monthly-expenses`): when it ran, how long it
    /// took, its exit code, and when it last succeeded (carried over from `previous`, the file's
    /// old text, when this run failed; 0 when never).
    public static func runMetrics(command: String, startedAt: Date, duration: Double, exitCode: Int32, previous: String?) -> String {
        let labels = [("command", command)]
        var lastSuccess = exitCode == 0 ? startedAt.timeIntervalSince1970 + duration : 0
        if exitCode != 0, let previous {
            for line in previous.split(separator: "\n") where line.hasPrefix("logship_run_last_success_time_seconds{") {
                lastSuccess = Double(line.split(separator: " ").last ?? "") ?? 0
            }
        }
        var text = PrometheusText()
        text.gauge("logship_run_last_run_time_seconds", "When the command last ran, Unix seconds.", [.init(labels, .double(startedAt.timeIntervalSince1970))])
        text.gauge("logship_run_duration_seconds", "How long its last run took.", [.init(labels, .double(duration))])
        text.gauge("logship_run_last_exit_code", "The exit code of its last run (docs/OPERATIONS.md).", [.init(labels, .int(Int64(exitCode)))])
        text.gauge("logship_run_last_success_time_seconds", "When a run of it last succeeded, Unix seconds (0 when never).", [.init(labels, .double(lastSuccess))])
        return text.text
    }
}
