import Foundation
import LogshipSystem

extension Replica {
    /// Keeps applying: one `applyAvailable` pass, then a wait for the inbox to change, again
    /// and again, until `options.shouldStop()` returns true (checked at least every quarter
    /// second while waiting, and at once on a signal) or a pass reaches `untilLSN` or
    /// `untilTime`. `onPass` is called after every pass that did not throw, with its result
    /// (also when it applied nothing); an error of a pass, or of `onPass`, ends the loop and
    /// is thrown.
    ///
    /// The wait is woken by file notifications on the inbox (`FileWatcher`: a shipper
    /// publishing a segment or replacing a partial copy), so a shipped transaction is applied
    /// milliseconds after it lands and an idle follower sleeps. Notifications are only a hint:
    /// each pass reads the inbox as it is, and without a notification a pass runs anyway after
    /// `pollInterval` seconds: a safety net for a file system that does not report, and the
    /// heartbeat `replica-apply --follow` records after each pass, which `check` reads as "a
    /// successful run within --max-lag" (an idle pass reads only the inbox's headers). A partial copy
    /// of the active segment is read incrementally (`PartialCursor`): each pass reads only the
    /// frames appended since the last one.
    public func follow(_ options: ApplyOptions, pollInterval: Double = 1, onPass: (ApplyResult) throws -> Void) throws {
        let watcher = FileWatcher(directories: [directory.inboxPath])
        let recheck = pollInterval
        // A partial copy the shipper appends to is read on from where the last pass stopped.
        var options = options
        if options.partialCursor == nil { options.partialCursor = PartialCursor() }
        // Passes that applied something are spaced by the pass interval (an idle pass does not count).
        var pacer = PassPacer(interval: options.passInterval, batch: options.passBatch)
        while true {
            let wait = pacer.delay()
            if wait > 0, sleepUnlessStopped(wait, shouldStop: options.shouldStop) { return }
            let passStarted = PassPacer.now()
            try options.beforePass?()
            // Changes made before the pass (a remote fetch included) are seen by it; changes made
            // during it wake the next wait.
            watcher.drain()
            let result = try applyAvailable(options)
            pacer.passed(start: passStarted, transactions: result.transactions)
            try onPass(result)
            if result.stop == .untilLSN || result.stop == .untilTime || result.stop == .interrupted { return }
            if Self.waitForChange(watcher, upTo: recheck, shouldStop: options.shouldStop) == .stopped { return }
        }
    }

    enum WaitOutcome { case changed, timedOut, stopped }

    /// Waits on `watcher` for up to `seconds`, in slices of a quarter second so that `shouldStop`
    /// (set by a signal handler) is seen soon even if the signal came just before the wait.
    static func waitForChange(_ watcher: FileWatcher, upTo seconds: Double, shouldStop: () -> Bool) -> WaitOutcome {
        let deadline = Date().addingTimeInterval(seconds)
        while true {
            if shouldStop() { return .stopped }
            let left = deadline.timeIntervalSinceNow
            if left <= 0 { return .timedOut }
            if watcher.wait(timeout: min(0.25, left)) { return shouldStop() ? .stopped : .changed }
        }
    }
}
