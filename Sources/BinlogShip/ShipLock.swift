import BinlogFormat
import Foundation

/// One shipping run per source: the shared `DirectoryLock` (an `flock` on `<state dir>/lock`,
/// released by the kernel when the holder dies, holding the holder's pid), with the shipper's
/// own message for an overlapping run.
public enum ShipLock {
    /// Takes the lock, waiting up to `timeout` seconds (0: one try, as cron wants).
    public static func acquire(path: String, timeout: Double = 0) throws -> DirectoryLock {
        do {
            return try DirectoryLock(path: path, timeout: timeout)
        } catch let busy as DirectoryLock.Busy {
            throw ShipError(.busy, "another binlog-ship run holds \(path)" + (busy.holderPID.map { " (pid \($0))" } ?? ""),
                            hint: "it ships the same segments; this run can stop. The lock is released when that process exits, even by kill -9")
        } catch let e as FormatError {
            throw shipError(e)
        } catch let e as SystemError {
            throw shipError(e)
        }
    }
}
