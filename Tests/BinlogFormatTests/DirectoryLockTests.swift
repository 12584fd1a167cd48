import XCTest
import BinlogFormat
#if canImport(Glibc)
import Glibc
#endif

/// The lock file of every tool: a symbolic link or a non-regular file planted under its name is
/// refused, and the file a link points at is never truncated by the pid the holder writes.
final class DirectoryLockTests: XCTestCase {
    private var dir = ""

    override func setUpWithError() throws {
        dir = NSTemporaryDirectory() + "logship-lock-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    func testASymlinkedLockFileIsRefusedAndItsTargetKeptIntact() throws {
        let victim = dir + "/precious.txt"
        try Data("keep me\n".utf8).write(to: URL(fileURLWithPath: victim))
        XCTAssertEqual(symlink(victim, dir + "/.lock"), 0)
        XCTAssertThrowsError(try DirectoryLock(path: dir + "/.lock", timeout: 0)) { error in
            let e = error as? SystemError
            XCTAssertEqual(e?.kind, .io)
            XCTAssertEqual(e?.message, "unable to open lock file: it is a symbolic link")
            XCTAssertEqual(e?.path, dir + "/.lock")
        }
        XCTAssertEqual(try String(contentsOfFile: victim, encoding: .utf8), "keep me\n")
    }

    func testAFIFOUnderTheLockNameIsRefusedWithoutBlocking() throws {
        XCTAssertEqual(mkfifo(dir + "/.lock", 0o600), 0)
        // O_RDWR on a FIFO does not block on Linux; the type check must still refuse it.
        XCTAssertThrowsError(try DirectoryLock(path: dir + "/.lock", timeout: 0)) { error in
            XCTAssertEqual((error as? SystemError)?.message, "unable to open lock file: it is not a regular file")
        }
    }

    func testANewLockFileIsOwnerOnlyWhateverTheUmask() throws {
        let old = umask(0o000)
        defer { umask(old) }
        let lock = try DirectoryLock(path: dir + "/.lock", timeout: 0)
        defer { lock.release() }
        var st = stat()
        XCTAssertEqual(stat(dir + "/.lock", &st), 0)
        XCTAssertEqual(st.st_mode & 0o777, 0o600)
        XCTAssertEqual(try String(contentsOfFile: dir + "/.lock", encoding: .utf8), "\(getpid())\n")
    }
}
