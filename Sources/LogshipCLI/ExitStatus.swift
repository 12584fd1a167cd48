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
/// `ParsableCommand.run()` so that commands call it without a workaround.
public func runReporting(_ tool: String, _ body: () throws -> Void) throws {
    do {
        try body()
    } catch let e as ReportedFailure {
        throw ExitCode(e.status.rawValue)
    } catch let e as ExitCode {
        throw e
    } catch {
        printError(tool, "\(error)")
        throw ExitCode(ExitStatus(error).rawValue)
    }
}
