import ArgumentParser
import LogshipSystem

/// `--pass-interval` and `--pass-batch`: how `binlog-ship --follow` and `replica-apply --follow`
/// space their passes (`PassPacer`; docs/OPERATIONS.md, "Trading lag for the master's rate").
public struct PassPacingOptions: ParsableArguments {
    @Option(help: "With --follow: the least time between two passes that carried transactions (e.g. 5ms; default 0, a pass as soon as there is something new). What arrives meanwhile goes in one pass, with one fsync for all of it: less of a shared disk taken from the master, up to this much more lag.")
    public var passInterval: String = "0s"

    @Option(help: "With --pass-interval: wait between passes only while transactions arrive at N or more per interval (a busy master); slower than that, each pass runs at once (default 1: always wait).")
    public var passBatch: Int = 1

    public init() {}

    /// The interval in seconds (0 when not given).
    public var interval: Double { parseDuration(passInterval) ?? 0 }

    /// Refuses values out of range, and pacing without `--follow` (exit 64).
    public func check(follow: Bool) throws {
        guard let pass = parseDuration(passInterval), pass >= 0, pass <= 60 else { throw ValidationError("--pass-interval takes a duration from 0s to 60s, like 5ms") }
        if pass > 0 && !follow { throw ValidationError("--pass-interval paces --follow; without it there is one pass") }
        guard (1...1_000_000).contains(passBatch) else { throw ValidationError("--pass-batch takes a number of transactions from 1 to 1000000") }
        if passBatch > 1 && pass == 0 { throw ValidationError("--pass-batch says when --pass-interval applies; give --pass-interval too (e.g. --pass-interval 5ms --pass-batch 10)") }
    }
}
