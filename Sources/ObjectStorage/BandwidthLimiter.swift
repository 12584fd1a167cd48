import Foundation

/// Keeps the average transfer rate at or under a limit by sleeping before each request body in
/// proportion to the bytes already moved. It works per request (or per part), not per packet:
/// a single request still goes at full speed (the limit is shared by the parts in flight, which
/// a per-transfer cap in the transport would not see), and the average over a transfer of
/// several requests is what is bounded.
final class BandwidthLimiter: @unchecked Sendable {
    private let bytesPerSecond: Double
    private let lock = NSLock()
    private var started: Date?
    private var moved: Double = 0

    init(bytesPerSecond: Int) { self.bytesPerSecond = Double(bytesPerSecond) }

    /// Sleeps until sending `bytes` more keeps the average under the limit, then counts them.
    func acquire(_ bytes: Int) {
        lock.lock()
        let now = Date()
        let start = started ?? now
        started = start
        let due = start.addingTimeInterval(moved / bytesPerSecond)
        moved += Double(bytes)
        lock.unlock()
        let wait = due.timeIntervalSince(now)
        if wait > 0 { Thread.sleep(forTimeInterval: wait) }
    }

    /// Counts bytes received after the fact (their time is paid before the next request).
    func account(_ bytes: Int) {
        lock.lock()
        if started == nil { started = Date() }
        moved += Double(bytes)
        lock.unlock()
    }
}
