import BinlogFormat
import Foundation

/// One shipping run, as cron starts it: takes the source's lock, ships every sealed segment
/// each target lacks, in order, verified before and after the copy, optionally the committed
/// prefix of the active segment, records each target's progress durably, and returns what
/// happened. A target that fails stops; the others go on (docs/SHIPPING.md "Contract").
public final class Shipper {
    public let config: ShipConfig
    public let source: ShipSource
    public let stateDirectory: String
    /// Seconds to wait for another run's lock; 0 (the default) gives up at once.
    public var lockTimeout: Double = 0
    /// Called as things happen, so a long run shows its progress.
    public var onEvent: (ShipEvent) -> Void = { _ in }

    public init(config: ShipConfig) throws {
        guard let path = config.source else {
            throw ShipError(.config, "no source given", hint: "pass --source DIR (the master data directory) or set `source:` in the config file")
        }
        guard !config.targets.isEmpty else {
            throw ShipError(.config, "no targets given", hint: "pass --target DIR (repeatable) or list `targets:` in the config file")
        }
        self.config = config
        (source, stateDirectory) = try config.resolveSource(path)
    }

    /// Forgets what was shipped to a target (after it was wiped or replaced on purpose, or
    /// to drop it for good): its next run ships it everything the source holds, comparing
    /// files already there, and `purge` no longer waits for it. Returns the forgotten state.
    public static func forget(target name: String, config: ShipConfig, lockTimeout: Double = 0) throws -> ShipState.TargetState {
        guard let path = config.source else { throw ShipError(.config, "no source given", hint: "pass --source DIR or set `source:` in the config file") }
        let (_, stateDirectory) = try config.resolveSource(path)
        guard FileManager.default.fileExists(atPath: stateDirectory + "/" + ShipState.fileName) else {
            throw ShipError(.notFound, "no shipping state in \(stateDirectory): nothing was shipped from this source yet", path: stateDirectory)
        }
        let lock = try ShipLock.acquire(path: stateDirectory + "/lock", timeout: lockTimeout)
        defer { lock.release() }
        guard var state = try ShipState.load(directory: stateDirectory),
              let key = state.targets[name] != nil ? name : config.target(name)?.name ?? state.targets.first(where: { $0.value.path == ShipTarget.normalize(name) })?.key,
              let removed = state.targets.removeValue(forKey: key) else {
            throw ShipError(.notFound, "no shipping state for target \(name)", path: stateDirectory + "/" + ShipState.fileName)
        }
        try state.save(directory: stateDirectory)
        return removed
    }

    /// Ships, and returns what happened per target. Throws only for what stops every target
    /// before anything is shipped: no source, another run holding the lock, unreadable state.
    public func run() throws -> ShipReport {
        try ShipState.prepareDirectory(stateDirectory)
        let lock = try ShipLock.acquire(path: stateDirectory + "/lock", timeout: lockTimeout)
        defer { lock.release() }
        return try runLocked()
    }

    /// One run, the lock held by the caller (`run`, or `follow` for its whole life).
    func runLocked() throws -> ShipReport {
        let listing = try source.list()
        let run = try ShipRun(shipper: self, state: ShipState.load(directory: stateDirectory) ?? ShipState(source: source.binlogPath))
        try run.begin()
        run.exchangeHistories()
        try run.shipSealed(listing)
        if config.includeActive && run.sourceError == nil { try run.shipActive(listing) }
        try run.finish()
        return run.report
    }
}

/// Something a run did, for the command line to print.
public enum ShipEvent: Sendable {
    case shipped(target: String, file: String, bytes: Int64, firstLSN: UInt64, lastLSN: UInt64)
    case alreadyPresent(target: String, file: String)
    case shippedPartial(target: String, file: String, bytes: Int64, firstLSN: UInt64, lastLSN: UInt64)
    case removed(target: String, file: String, reason: String)
    case failed(ShipError)
}

/// What a run did, per target.
public struct ShipReport: Sendable {
    public struct TargetResult: Sendable {
        public var name: String
        public var path: String
        public var shipped: [String] = []
        public var alreadyPresent: [String] = []
        public var partial: String?
        public var removed: [String] = []
        /// The newest sealed segment the target holds after the run.
        public var lastSegment: String?
        public var lastLSN: UInt64?
        /// The highest LSN the target holds durably after this run, sealed or in the partial copy
        /// (nil when the run failed for it): what `--follow` acknowledges to a semi-sync master.
        public var durableLSN: UInt64?
        public var error: ShipError?
        /// Problems that did not stop the target (a partial that disagreed with the sealed segment).
        public var warnings: [ShipError] = []
    }

    public var targets: [TargetResult]
    /// A problem in the source (a damaged segment, a gap): nothing after it was shipped anywhere.
    public var sourceError: ShipError?

    /// Every problem, the source's first.
    public var failures: [ShipError] {
        (sourceError.map { [$0] } ?? []) + targets.flatMap { ($0.error.map { [$0] } ?? []) + $0.warnings }
    }

    /// The kind of problem the run exits with: the most serious one (`ShipError.severityOrder`).
    public var worstKind: ShipError.Kind? {
        let kinds = Set(failures.map(\.kind))
        return ShipError.severityOrder.first { kinds.contains($0) }
    }
}
