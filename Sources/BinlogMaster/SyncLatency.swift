import BinlogFormat
import Foundation

/// How long the binlog's fsyncs take in this process: a histogram of every `sync` a commit
/// (or a commit group) waited for, for `binlog-writer serve --metrics-listen` (issue 17). Held
/// in memory only: it restarts with the process, as a Prometheus histogram may.
public final class SyncLatency: @unchecked Sendable {
    /// Upper bounds in seconds: 100 µs to 2.5 s, the range between a fast SSD and a stalled disk.
    public static let bounds: [Double] = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5]

    private let lock = NSLock()
    private var counts = [UInt64](repeating: 0, count: SyncLatency.bounds.count)
    private var total: UInt64 = 0
    private var sum = 0.0

    public init() {}

    /// Records one fsync of `seconds`.
    public func observe(_ seconds: Double) {
        lock.lock()
        defer { lock.unlock() }
        if let i = Self.bounds.firstIndex(where: { seconds <= $0 }) { counts[i] += 1 }
        total += 1
        sum += seconds
    }

    /// Cumulative bucket counts, the sum of the observations and their number.
    public var snapshot: (buckets: [(Double, UInt64)], sum: Double, count: UInt64) {
        lock.lock()
        defer { lock.unlock() }
        var running: UInt64 = 0
        let buckets = zip(Self.bounds, counts).map { bound, n -> (Double, UInt64) in running += n; return (bound, running) }
        return (buckets, sum, total)
    }

    /// Runs `body` (one fsync) and records how long it took, also when it throws.
    func time(_ body: () throws -> Void) rethrows {
        let start = DispatchTime.now().uptimeNanoseconds
        defer { observe(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9) }
        try body()
    }
}

extension Master {
    /// The master's process metrics beside `MasterStatus.prometheus`: the fsync latency
    /// histogram and the commit groups this process committed (the commit rate is the rate of
    /// `logship_master_transactions_total`, in `MasterStatus.prometheus`).
    public var processMetrics: String {
        var text = PrometheusText()
        let labels = [("master", directory.path)]
        let s = syncLatency.snapshot
        text.histogram("logship_master_sync_duration_seconds", "Time of each binlog fsync a commit waited for, in this process.",
                       labels: labels, buckets: s.buckets, sum: s.sum, count: s.count)
        let groups = groupStatistics
        text.counter("logship_master_commit_groups_total", "Commit groups (one fsync each) committed by this process.",
                     [.init(labels, .int(Int64(groups.groups)))])
        return text.text
    }
}
