import ArgumentParser
import BinlogFormat
import Foundation

// `ExitStatus` itself lives in LogshipSystem (LogshipError.swift), next to the error protocol whose
// conformances choose it; this file holds how a tool reports a failure and leaves.

/// An error already reported to the user, carrying the exit status to leave with.
public struct ReportedFailure: Error {
    public var status: ExitStatus
    public init(_ status: ExitStatus) { self.status = status }
}

/// Prints `message` to stderr prefixed with the tool's name, as every failure is reported.
public func printError(_ tool: String, _ message: String) {
    FileHandle.standardError.write(Data("\(tool): \(message)\n".utf8))
}

/// Runs a command's `body` for the tool named `tool`, turning a thrown error into a message on
/// stderr (`tool: <description>`) and the exit code `ExitStatus(error)`: the error's own for a
/// logship error or a classified SQLite error, 1 (a bug) for anything else. Named apart from
/// `ParsableCommand.run()` so that commands call it without a workaround. At `--log-level info`
/// it logs how the command ended and how long it took (ToolLog); with `metricsFile` it also
/// writes them as Prometheus text (MetricsFile.runMetrics), whatever the outcome.
/// With `metricsFile`, the run's metrics (`MetricsFile.runMetrics`) are written there when it
/// ends, followed by what `extraMetrics` gives then (a master's fsync latency histogram).
public func runReporting(_ tool: String, metricsFile: String? = nil, extraMetrics: (() -> String)? = nil, _ body: () throws -> Void) throws {
    let started = Date()
    func finished(_ status: Int32) {
        let duration = Date().timeIntervalSince(started)
        ToolLog.logger.info("\(ToolLog.command) finished with exit \(status) in \(String(format: "%.3f", duration)) s")
        guard let metricsFile else { return }
        let previous = try? String(contentsOfFile: metricsFile, encoding: .utf8)
        do {
            try MetricsFile.write(MetricsFile.runMetrics(command: ToolLog.command, startedAt: started, duration: duration,
                                                         exitCode: status, previous: previous) + (extraMetrics?() ?? ""), to: metricsFile)
        } catch {
            printError(tool, "unable to write --metrics-file \(metricsFile): \(error)")
        }
    }
    do {
        try body()
        finished(0)
    } catch let e as ReportedFailure {
        finished(e.status.rawValue)
        throw ExitCode(e.status.rawValue)
    } catch let e as ExitCode {
        finished(e.rawValue)
        throw e
    } catch {
        printError(tool, "\(error)")
        finished(ExitStatus(error).rawValue)
        throw ExitCode(ExitStatus(error).rawValue)
    }
}
