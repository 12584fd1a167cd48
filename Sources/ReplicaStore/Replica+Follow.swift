import Foundation

extension Replica {
    /// Keeps applying: one `applyAvailable` pass, then a wait of `pollInterval` seconds for new
    /// segments, again and again, until `options.shouldStop()` returns true (checked every
    /// quarter second while waiting) or a pass reaches `untilLSN` or `untilTime`. `onPass` is
    /// called after every pass that did not throw, with its result (also when it applied
    /// nothing); an error of a pass, or of `onPass`, ends the loop and is thrown.
    public func follow(_ options: ApplyOptions, pollInterval: Double = 1, onPass: (ApplyResult) throws -> Void) throws {
        let slice = 0.25
        while true {
            try options.beforePass?()
            let result = try applyAvailable(options)
            try onPass(result)
            if result.stop == .untilLSN || result.stop == .untilTime || result.stop == .interrupted { return }
            var waited = 0.0
            while waited < pollInterval {
                if options.shouldStop() { return }
                usleep(UInt32(slice * 1_000_000))
                waited += slice
            }
            if options.shouldStop() { return }
        }
    }
}
