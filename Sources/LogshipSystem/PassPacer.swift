#if canImport(Glibc)
import Glibc
#endif

/// How a follower (`binlog-ship --follow`, `replica-apply --follow`) spaces its passes (issue 15).
///
/// Each pass that carries transactions costs an fsync: of each partial copy for the shipper, of
/// the store's commit for the applier. A master committing as fast as its disk lets it loses
/// about one commit for each fsync its followers add to the same disk, so a follower that passes
/// once per commit or two halves the master's rate. On the other hand, a pass as soon as the
/// master commits is what keeps the lag at a few milliseconds.
///
/// `interval` is the least time from the start of one pass that carried something to the start
/// of the next. With `batch` at 1 it always applies. With a larger `batch` it applies only while
/// the master is busy: while transactions arrive at `batch` or more per `interval`, measured over
/// windows of at least `interval`. Slower than that, each pass runs as soon as it is woken. So a
/// busy master's followers make at most one fsync per `batch` of its commits, and a master at
/// moderate rates gets the lag of followers that do not wait. PostgreSQL's `commit_delay` with
/// `commit_siblings` makes the same trade for its own WAL flushes: it waits only when others
/// are about to commit too.
public struct PassPacer: Sendable {
    /// What both followers use unless told otherwise: busy from ten transactions per 5 ms
    /// (2,000/s), then a pass at most every 5 ms. Measured on 2 cores beside a master at its
    /// full rate (docs/BENCHMARKS.md): the followers then cost the master a few percent, and at
    /// 1,000 commits/s they pass at once (lag 1.4× PostgreSQL streaming replication's).
    public static let defaultInterval = 0.005
    public static let defaultBatch = 10

    public let interval: Double
    public let batch: Int
    /// When the last pass that carried something began (monotonic seconds).
    private var lastStart = -Double.infinity
    /// The window over which the arrival rate is measured: from the start of a pass that carried
    /// something, with the transactions of the passes after it.
    private var windowStart: Double?
    private var windowTransactions = 0
    /// Whether transactions arrived at `batch` or more per `interval` in the last whole window.
    public private(set) var busy = false

    public init(interval: Double, batch: Int = 1) {
        self.interval = max(0, interval)
        self.batch = max(1, batch)
    }

    /// Seconds to wait before the next pass may start, at monotonic time `now` (0: at once).
    public func delay(now: Double = PassPacer.now()) -> Double {
        guard interval > 0, batch == 1 || busy else { return 0 }
        return max(0, lastStart + interval - now)
    }

    /// Records a pass that began at `start` and carried `transactions` (a pass that found
    /// nothing new does not count).
    public mutating func passed(start: Double, transactions: Int) {
        guard transactions > 0 else { return }
        lastStart = start
        guard batch > 1 else { return }
        guard let from = windowStart else {
            // The first pass's transactions arrived before anything was measured.
            windowStart = start
            return
        }
        windowTransactions += transactions
        let span = start - from
        if span >= interval {
            busy = Double(windowTransactions) * interval >= Double(batch) * span
            windowStart = start
            windowTransactions = 0
        }
    }

    /// Monotonic seconds.
    public static func now() -> Double {
        var t = timespec()
        clock_gettime(CLOCK_MONOTONIC, &t)
        return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
    }
}
