import BinlogMaster
import Foundation
import XCTest

/// Runs `Master.open` in a child process (this same test bundle, one test method), so that
/// a crash while opening (see KnownBugTests.testBUG_failedRecoveryCrashesTheProcess) fails
/// one test instead of killing the whole suite.
enum OpenProbe {
    static let environmentKey = "LOGSHIP_OPEN_PROBE_PATH"

    struct Outcome: CustomStringConvertible {
        /// The child died of this signal (a crash) instead of exiting.
        var signal: Int32?
        var exitStatus: Int32
        /// "opened lastLSN=… tornTailBytes=… redone=…" or "error <kind>: <message>", nil if the child printed neither.
        var result: String?
        var output: String

        var crashed: Bool { signal != nil }
        var description: String {
            if let signal { return "child crashed with signal \(signal)" }
            return result ?? "child printed no result (exit \(exitStatus)): \(output.suffix(2000))"
        }
    }

    /// Opens the master at `path` in a child process and reports what happened.
    static func open(_ path: String) throws -> Outcome {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: CommandLine.arguments[0])
        process.arguments = ["BinlogMasterTests.OpenProbeChild/testOpenInChildProcess"]
        var environment = ProcessInfo.processInfo.environment
        environment[environmentKey] = path
        environment["SWIFT_BACKTRACE"] = "enable=no"
        process.environment = environment
        let out = Pipe()
        process.standardOutput = out
        process.standardError = out
        try process.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let output = String(decoding: data, as: UTF8.self)
        let result = output.split(separator: "\n").first { $0.hasPrefix("PROBE ") }.map { String($0.dropFirst(6)) }
        return Outcome(signal: process.terminationReason == .uncaughtSignal ? process.terminationStatus : nil,
                       exitStatus: process.terminationStatus, result: result, output: output)
    }
}

/// The child side of `OpenProbe`: does nothing unless the probe's environment variable is set.
final class OpenProbeChild: XCTestCase {
    func testOpenInChildProcess() throws {
        guard let path = ProcessInfo.processInfo.environment[OpenProbe.environmentKey] else { return }
        var line: String
        do {
            let master = try Master.open(path, options: Master.Options(lockTimeout: 0.5))
            line = "opened lastLSN=\(master.lastLSN) tornTailBytes=\(master.recovery.tornTailBytes) redone=\(master.recovery.redone.map { "\($0)" } ?? "nil")"
            try master.close()
        } catch let e as MasterError {
            line = "error \(e.kind): \(e.message)"
        } catch {
            line = "error other: \(error)"
        }
        print("PROBE " + line.replacingOccurrences(of: "\n", with: " "))
        fflush(nil)   // every output stream: Swift 6 refuses the C global `stdout` (shared mutable state)
    }
}
