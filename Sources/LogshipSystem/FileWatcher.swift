import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Wakes a long-running loop (`binlog-ship --follow`, `replica-apply --follow`,
/// `replica-apply wait`) when something changes in the directories it watches, instead of a
/// fixed poll: the master appending a frame, a shipper publishing a segment into an inbox,
/// an apply committing a batch into `store.db`.
///
/// inotify through Glibc directly, not a library: no package on this machine wraps inotify
/// (swift-system has no notification API; FileMonitor-style packages are macOS FSEvents or
/// absent from the mirror), and the part needed here is three calls.
///
/// Notifications are a hint, never the truth: a caller always re-reads the files after a wake
/// (sequence numbers decide), and `wait` returns at the latest after its timeout, so a missed
/// event (inotify queue overflow, a file system that does not report, NFS, a platform without
/// inotify) costs at most one timeout of latency. When inotify cannot be set up at all, `wait`
/// simply sleeps for the timeout (`isPolling` is true): the loop degrades to a timed poll.
public final class FileWatcher {
    private var fd: Int32 = -1
    /// True when no notification could be set up and `wait` only sleeps.
    public private(set) var isPolling = true
    /// Directories given to `init` that could not be watched (missing, or the kernel's watch limit).
    public private(set) var unwatched: [String] = []

    /// Watches each of `directories` (not recursively) for files created, written, closed
    /// after writing, renamed in or out, and deleted.
    public init(directories: [String]) {
        #if os(Linux)
        let fd = inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC))
        guard fd >= 0 else { unwatched = directories; return }
        self.fd = fd
        let mask = UInt32(IN_MODIFY | IN_CLOSE_WRITE | IN_CREATE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | IN_ATTRIB)
        var any = false
        for d in directories {
            if inotify_add_watch(fd, d, mask) >= 0 { any = true } else { unwatched.append(d) }
        }
        if any { isPolling = false } else { close(fd); self.fd = -1 }
        #else
        unwatched = directories
        #endif
    }

    deinit { if fd >= 0 { close(fd) } }

    /// Waits until something changed in a watched directory since the last call (true), or
    /// `timeout` seconds passed (false). Events that queued up meanwhile are consumed, so a
    /// burst of writes wakes the caller once.
    @discardableResult
    public func wait(timeout: Double) -> Bool {
        let ms = Int32(max(0, min(timeout, 86_400)) * 1000)
        guard fd >= 0 else {
            if ms > 0 { usleep(UInt32(ms) * 1000) }
            return false
        }
        var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        let r = poll(&p, 1, ms)
        guard r > 0 else { return false }   // timeout, or EINTR (a signal: the caller checks its stop flag)
        drain()
        return true
    }

    /// Consumes every queued event without waiting (so the next `wait` waits for new ones).
    public func drain() {
        guard fd >= 0 else { return }
        var buffer = [UInt8](repeating: 0, count: 16 << 10)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n <= 0 { return }
        }
    }
}

/// Sleeps `seconds` in slices of at most a quarter second, so that `shouldStop` (set by a signal
/// handler) is seen soon; true when asked to stop meanwhile. Notifications do not cut it short.
public func sleepUnlessStopped(_ seconds: Double, shouldStop: () -> Bool) -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while !shouldStop() {
        let left = deadline.timeIntervalSinceNow
        if left <= 0 { return false }
        usleep(UInt32(min(0.25, left) * 1_000_000))
    }
    return true
}
