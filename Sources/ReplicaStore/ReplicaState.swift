import BinlogFormat
import Foundation
import LogshipSystem

/// What the last runs of replica-apply did, kept in `state.json` (written durably after each
/// run) so that `status` and `check` can tell a replica that stopped applying.
public struct ReplicaState: Codable, Equatable, Sendable {
    public var lastRunAt: Int64?
    public var lastSuccessAt: Int64?
    public var lastError: String?
    public var lastErrorAt: Int64?
    public var lastExitCode: Int32?

    public init() {}

    public static func read(_ dir: ReplicaDirectory) -> ReplicaState {
        guard let data = FileManager.default.contents(atPath: dir.statePath),
              let state = try? JSONDecoder().decode(ReplicaState.self, from: data) else { return ReplicaState() }
        return state
    }

    /// Records a run's outcome durably; a failure to write it is reported but never hides the
    /// run's own result.
    public static func record(_ dir: ReplicaDirectory, error: String?, exitCode: Int32) throws {
        var state = read(dir)
        let now = microsecondsNow()
        state.lastRunAt = now
        state.lastExitCode = exitCode
        if let error {
            state.lastError = error
            state.lastErrorAt = now
        } else {
            state.lastSuccessAt = now
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try DurableFile.publish(Array(try encoder.encode(state)) + [10], to: dir.statePath)
    }
}
