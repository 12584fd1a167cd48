import LogshipSystem
import XCTest

/// `PassPacer`, how the followers space their passes (issue 15), on made-up clocks: a master
/// committing at a steady rate, passes taking a fixed time, and the delay the pacer asks for
/// before each pass.
final class PassPacerTests: XCTestCase {
    /// Runs a follower against a master committing `rate` transactions a second for `seconds`:
    /// each pass starts when the pacer allows (and a transaction is waiting), takes `passTime`,
    /// and carries every transaction committed before it began. Returns the passes and each
    /// transaction's wait from its commit to the start of the pass that carried it.
    private func simulate(_ pacer: PassPacer, rate: Double, seconds: Double, passTime: Double = 0.0005) -> (passes: Int, waits: [Double]) {
        var pacer = pacer
        let commits = (0..<Int(rate * seconds)).map { Double($0) / rate }
        var next = 0, now = 0.0, passes = 0
        var waits: [Double] = []
        while next < commits.count {
            now = max(now, commits[next])                 // woken by the next commit
            now += pacer.delay(now: now)                   // then held back, if the pacer says so
            let carried = commits[next...].prefix { $0 <= now }
            waits += carried.map { now - $0 }
            pacer.passed(start: now, transactions: carried.count)
            next += carried.count
            passes += 1
            now += passTime
        }
        return (passes, waits)
    }

    private func median(_ xs: [Double]) -> Double { xs.sorted()[xs.count / 2] }

    func testWithABatchOfOneEveryPassWaitsTheInterval() {
        let pacer = PassPacer(interval: 0.005)
        // 1,000 commits/s: one pass per 5 ms, each carrying five.
        let r = simulate(pacer, rate: 1000, seconds: 2)
        XCTAssertEqual(Double(r.passes), 2 / 0.005, accuracy: 5)
        XCTAssertGreaterThan(median(r.waits), 0.0015)
        // A commit after a quiet spell goes at once.
        var p = pacer
        p.passed(start: 10, transactions: 3)
        XCTAssertEqual(p.delay(now: 10.001), 0.004, accuracy: 1e-9)
        XCTAssertEqual(p.delay(now: 11), 0)
    }

    func testBelowTheBatchRateEachPassRunsAtOnce() {
        // Ten per 5 ms is 2,000/s: at 1,000/s the follower does not wait.
        let r = simulate(PassPacer(interval: 0.005, batch: 10), rate: 1000, seconds: 2)
        XCTAssertEqual(r.passes, 2000, "one pass per commit")
        XCTAssertEqual(r.waits.max() ?? 1, 0, accuracy: 1e-9)
    }

    func testAboveTheBatchRatePassesAreSpacedByTheInterval() {
        // 5,000/s: at most one pass per 5 ms after the first window, each carrying about 25.
        let r = simulate(PassPacer(interval: 0.005, batch: 10), rate: 5000, seconds: 2)
        XCTAssertLessThanOrEqual(Double(r.passes), 2 / 0.005 + 10)
        XCTAssertGreaterThanOrEqual(Double(r.passes), 2 / 0.006)
        XCTAssertLessThanOrEqual(r.waits.max() ?? 1, 0.005 + 1e-9, "no transaction waits longer than the interval")
    }

    func testTheRateIsMeasuredAgainAfterABurstAndAfterAQuietSpell() {
        var p = PassPacer(interval: 0.005, batch: 10)
        // A burst at 10,000/s: passes every 0.5 ms carrying five each; busy once a window closes.
        var t = 0.0
        for _ in 0..<40 { p.passed(start: t, transactions: 5); t += 0.0005 }
        XCTAssertTrue(p.busy)
        XCTAssertGreaterThan(p.delay(now: t), 0)
        // Then 200/s: the first window that closes says so, and passes run at once again.
        for _ in 0..<3 { t += 0.005; p.passed(start: t, transactions: 1) }
        XCTAssertFalse(p.busy)
        XCTAssertEqual(p.delay(now: t + 0.0001), 0)
        // A pass that carried nothing changes nothing.
        p.passed(start: t + 1, transactions: 0)
        XCTAssertFalse(p.busy)
    }

    func testNoIntervalNeverWaits() {
        var p = PassPacer(interval: 0, batch: 10)
        for i in 0..<100 { p.passed(start: Double(i) * 0.0001, transactions: 50) }
        XCTAssertEqual(p.delay(now: 0.01), 0)
        XCTAssertEqual(PassPacer(interval: 0).delay(now: 1), 0)
    }
}
