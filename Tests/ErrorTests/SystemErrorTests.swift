import BinlogApply
import BinlogFormat
import BinlogMaster
import BinlogShip
import Failover
import LogshipSystem
import ReplicaStore
import Reports
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// The OS helpers (FileDescriptor, RegularFile, DurableFile, DirectoryLock) moved from
/// BinlogFormat to LogshipSystem and throw `SystemError` instead of `FormatError`. Every module's
/// converter lifts it with the exit code the same failure had as a format error: a full disk 13,
/// another I/O failure 14, a FIFO or directory where a segment belongs 3 (where the module has a
/// corruption kind; failover and reports had no such mapping and keep 14).
final class SystemErrorTests: XCTestCase {
    private let systemCodes: [SystemError.Kind: Int32] = [.io: 14, .diskFull: 13, .notRegularFile: 3]

    private func sample(_ kind: SystemError.Kind) -> SystemError {
        SystemError(kind, "unable to write: reason", path: "/d/f", hint: kind == .diskFull ? "free space" : nil)
    }

    func testEveryKindHasItsExitCode() {
        for kind in SystemError.Kind.allCases {
            let expected = try? XCTUnwrap(systemCodes[kind], "SystemError.\(kind) has no exit code in this table")
            XCTAssertEqual(sample(kind).exitStatus.rawValue, expected, "\(kind)")
            XCTAssertEqual(ExitStatus(sample(kind)).rawValue, expected, "ExitStatus(\(kind))")
        }
        XCTAssertEqual(systemCodes.count, SystemError.Kind.allCases.count)
    }

    /// The bridge to FormatError (a verify report keeps a FormatError) keeps the code.
    func testTheFormatErrorBridgeKeepsTheCode() {
        for kind in SystemError.Kind.allCases {
            XCTAssertEqual(FormatError(sample(kind)).exitStatus, sample(kind).exitStatus, "\(kind)")
            XCTAssertEqual(FormatError(sample(kind)).path, "/d/f")
        }
    }

    func testReplicaErrorKeepsTheCode() {
        for kind in SystemError.Kind.allCases {
            let lifted = ReplicaError(sample(kind), while: "reading")
            XCTAssertEqual(lifted.exitStatus.rawValue, systemCodes[kind], "\(kind)")
            XCTAssertEqual(lifted.exitStatus, ReplicaError(FormatError(sample(kind)), while: "reading").exitStatus, "\(kind): as the format error it was")
            XCTAssertEqual(lifted.description.components(separatedBy: "HINT:").count, kind == .diskFull ? 2 : 1, "hint printed once: \(lifted)")
        }
    }

    func testShipErrorKeepsTheCode() {
        for kind in SystemError.Kind.allCases {
            let lifted = ShipError(sample(kind), target: "nas", context: "copying")
            XCTAssertEqual(lifted.exitStatus.rawValue, systemCodes[kind], "\(kind)")
            XCTAssertEqual(lifted.exitStatus, ShipError(FormatError(sample(kind)), target: "nas", context: "copying").exitStatus, "\(kind)")
            XCTAssertEqual(lifted.path, "/d/f")
            XCTAssertEqual(lifted.target, "nas")
        }
    }

    func testMasterErrorKeepsTheCode() {
        for kind in SystemError.Kind.allCases {
            let lifted = MasterError(sample(kind), while: "sealing")
            XCTAssertEqual(lifted.exitStatus.rawValue, systemCodes[kind], "\(kind)")
            XCTAssertEqual(lifted.exitStatus, MasterError(FormatError(sample(kind)), while: "sealing").exitStatus, "\(kind)")
        }
    }

    /// Failover mapped every format error other than a full disk, a split brain or a bad name to
    /// I/O (14): a FIFO where a history belongs stays 14 there.
    func testFailoverErrorKeepsTheCode() {
        for kind in SystemError.Kind.allCases {
            let lifted = FailoverError(sample(kind), while: "fencing")
            XCTAssertEqual(lifted.exitStatus.rawValue, kind == .diskFull ? 13 : 14, "\(kind)")
            XCTAssertEqual(lifted.exitStatus, FailoverError(FormatError(sample(kind)), while: "fencing").exitStatus, "\(kind)")
        }
    }

    /// Reports write outputs and locks, never read segments: a full disk 13, anything else 14.
    func testReportErrorKeepsTheCode() {
        XCTAssertEqual(ReportError(sample(.diskFull), while: "writing").exitStatus, .diskFull)
        XCTAssertEqual(ReportError(sample(.io), while: "writing").exitStatus, .ioError)
        XCTAssertEqual(ReportError(sample(.notRegularFile), while: "writing").exitStatus, .ioError)
    }

    /// The apply engine's disk-full test sees a SystemError as it saw a FormatError.
    func testApplyTakesASystemDiskFullForAFullDisk() {
        XCTAssertTrue(isDiskFull(sample(.diskFull), under: "/"))
        XCTAssertFalse(isDiskFull(sample(.io), under: NSTemporaryDirectory()))
    }

    /// Real system calls: ENOSPC and EDQUOT are a full disk, anything else I/O; a FIFO opened as a
    /// data file is refused without blocking, exit 3.
    func testRealFailuresAreClassified() throws {
        XCTAssertEqual(ioError("write", path: "/x", errno: ENOSPC).kind, .diskFull)
        XCTAssertEqual(ioError("write", path: "/x", errno: EDQUOT).kind, .diskFull)
        XCTAssertEqual(ioError("write", path: "/x", errno: EACCES).kind, .io)
        let dir = NSTemporaryDirectory() + "logship-syserr-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        XCTAssertThrowsError(try FileDescriptor(path: dir + "/missing/f", flags: O_RDONLY)) { error in
            XCTAssertEqual((error as? SystemError)?.kind, .io)
            XCTAssertEqual(ExitStatus(error), .ioError)
        }
        XCTAssertEqual(mkfifo(dir + "/00000001-0000000000000001.binlog", 0o600), 0)
        XCTAssertThrowsError(try RegularFile.open(dir + "/00000001-0000000000000001.binlog")) { error in
            XCTAssertEqual((error as? SystemError)?.kind, .notRegularFile)
            XCTAssertEqual(ExitStatus(error), .corruption)
            XCTAssertTrue("\(error)".contains("a FIFO (named pipe), not a regular file"), "\(error)")
        }
    }
}
