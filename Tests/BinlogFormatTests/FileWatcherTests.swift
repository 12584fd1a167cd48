import Foundation
import LogshipSystem
import XCTest

/// `FileWatcher`, the wake-up of the `--follow` loops: a change in a watched directory wakes
/// a waiter; without one the wait ends at its timeout; without inotify it degrades to a sleep.
final class FileWatcherTests: XCTestCase {
    private var dir: TemporaryDirectory!

    override func setUpWithError() throws { dir = try TemporaryDirectory("file-watcher") }
    override func tearDown() { dir = nil }

    func testAWriteInTheDirectoryWakesTheWaiter() throws {
        let watcher = FileWatcher(directories: [dir.path])
        XCTAssertFalse(watcher.isPolling, "inotify is available on Linux")
        XCTAssertFalse(watcher.wait(timeout: 0), "nothing happened yet")
        let file = dir.file("segment")
        let writer = Thread {
            let fd = open(file, O_CREAT | O_WRONLY, 0o644)
            _ = write(fd, [1, 2, 3], 3)
            close(fd)
        }
        writer.start()
        // Generous timeout: the assertion is that the wake came from the event, not the clock.
        XCTAssertTrue(watcher.wait(timeout: 60))
        while (try? FileManager.default.attributesOfItem(atPath: file)[.size] as? Int) != 3 { usleep(1000) }
        // An append to an existing file (the master writing a frame) wakes it too.
        watcher.drain()
        let fd = open(file, O_WRONLY | O_APPEND)
        XCTAssertEqual(write(fd, [4], 1), 1)
        close(fd)
        XCTAssertTrue(watcher.wait(timeout: 60))
        XCTAssertFalse(watcher.wait(timeout: 0), "a burst of events wakes the waiter once")
    }

    func testAMissingDirectoryFallsBackToATimedWait() {
        let watcher = FileWatcher(directories: [dir.file("missing")])
        XCTAssertTrue(watcher.isPolling)
        XCTAssertEqual(watcher.unwatched, [dir.file("missing")])
        XCTAssertFalse(watcher.wait(timeout: 0.01))
    }
}
