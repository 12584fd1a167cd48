import ArgumentParser
import LogshipSystem

/// `--pass-interval` and `--pass-batch`: how `binlog-ship --follow` and `replica-apply --follow`
/// space their passes (`PassPacer`; docs/OPERATIONS.md, "Trading lag for the master's rate").
public struct PassPacingOptions: ParsableArguments {
    @Option(help: "With --follow: the least time between two passes that carried transactions while the master is busy (see --pass-batch; e.g. 10ms, 0 for a pass as soon as there is something new; default 5ms). What arrives meanwhile goes in one pass, with one fsync for all of it: less of a shared disk taken from the master, up to this much more lag.")
    public var passInterval: String?

    @Option(help: "With --follow: the master counts as busy, and --pass-interval applies, while transactions arrive at N or more per interval; slower than that, each pass runs at once (default 10; 1: always wait the interval).")
    public var passBatch: Int?

    public init() {}

    /// The interval in seconds (`PassPacer.defaultInterval`, 5 ms, when not given).
    public var interval: Double { passInterval.flatMap(parseDuration) ?? PassPacer.defaultInterval }

    /// The batch in transactions (`PassPacer.defaultBatch`, 10, when not given).
    public var batch: Int { passBatch ?? PassPacer.defaultBatch }

    /// Refuses values out of range, and pacing without `--follow` (exit 64).
    public func check(follow: Bool) throws {
        if let passInterval {
            guard let pass = parseDuration(passInterval), pass >= 0, pass <= 60 else { throw ValidationError("--pass-interval takes a duration from 0s to 60s, like 5ms") }
            if !follow { throw ValidationError("--pass-interval paces --follow; without it there is one pass") }
        }
        if let passBatch {
            guard (1...1_000_000).contains(passBatch) else { throw ValidationError("--pass-batch takes a number of transactions from 1 to 1000000") }
            if !follow { throw ValidationError("--pass-batch paces --follow; without it there is one pass") }
            if interval == 0 { throw ValidationError("--pass-batch says when --pass-interval applies, and --pass-interval 0 never waits; leave one of them out") }
        }
    }
}
