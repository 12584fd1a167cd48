import BinlogApply
import BinlogFormat
import BinlogMaster
import BinlogShip
import Failover
import GRDB
import ReplicaStore
import Reports
import XCTest

/// Every kind of every logship error type leaves with the exit code the docs promise
/// (docs/OPERATIONS.md "Exit codes"). The tables below are that contract written out by hand:
/// a new kind that is not added here fails `testEveryKindHasItsExitCode`, so no kind can reach
/// the tools without someone deciding its code.
final class ErrorShapeTests: XCTestCase {
    private let formatCodes: [FormatError.Kind: Int32] = [
        .truncated: 3, .corrupted: 3, .checksumMismatch: 3, .unsupported: 3, .gap: 2, .io: 14, .diskFull: 13,
        .invalidArgument: 15, .splitBrain: 6,
    ]
    private let masterCodes: [MasterError.Kind: Int32] = [
        .sql: 10, .busy: 12, .notFound: 15, .exists: 16, .binlog: 3, .diskFull: 13, .io: 14, .input: 11,
        .splitBrain: 6, .invalid: 64, .unacknowledged: 5,
    ]
    private let shipCodes: [ShipError.Kind: Int32] = [
        .busy: 12, .gap: 2, .corruption: 3, .divergence: 4, .lagging: 5, .diskFull: 13, .io: 14, .notFound: 15,
        .splitBrain: 6, .config: 64,
    ]
    private let replicaCodes: [ReplicaError.Kind: Int32] = [
        .gap: 2, .corruption: 3, .divergence: 4, .splitBrain: 6, .busy: 12, .diskFull: 13, .io: 14, .notFound: 15,
        .exists: 16, .invalid: 64, .lagging: 5,
    ]
    private let reportCodes: [ReportError.Kind: Int32] = [
        .stale: 5, .notFound: 15, .refused: 64, .sql: 10, .io: 14, .diskFull: 13, .exists: 16, .invalid: 64, .limit: 7, .mismatch: 4, .busy: 12,
    ]
    private let failoverCodes: [FailoverError.Kind: Int32] = [
        .splitBrain: 6, .notFound: 15, .exists: 16, .invalid: 64, .io: 14, .diskFull: 13,
    ]
    /// Without a SQLite code; a full disk (SQLITE_FULL) is 13 whatever the kind.
    private let applyCodes: [ApplyError.Kind: Int32] = [.divergence: 4, .conflict: 4, .mismatch: 4, .database: 4]

    /// Checks `make(kind)` against `table` for every case of `Kind`, through the protocol.
    private func check<Kind: CaseIterable & Hashable>(_ type: String, _ table: [Kind: Int32], _ make: (Kind) -> LogshipError,
                                                      file: StaticString = #filePath, line: UInt = #line) {
        for kind in Kind.allCases {
            guard let expected = table[kind] else {
                XCTFail("\(type).\(kind) has no exit code in this test's table: decide one and add it", file: file, line: line)
                continue
            }
            let error = make(kind)
            XCTAssertEqual(error.exitStatus.rawValue, expected, "\(type).\(kind)", file: file, line: line)
            XCTAssertEqual(ExitStatus(error).rawValue, expected, "ExitStatus(\(type).\(kind))", file: file, line: line)
        }
        XCTAssertEqual(table.count, Kind.allCases.count, "\(type): the table lists a kind that no longer exists", file: file, line: line)
    }

    func testEveryKindHasItsExitCode() {
        check("FormatError", formatCodes) { FormatError($0, "m") }
        check("MasterError", masterCodes) { MasterError($0, "m") }
        check("ShipError", shipCodes) { ShipError($0, "m") }
        check("ReplicaError", replicaCodes) { ReplicaError($0, "m") }
        check("ReportError", reportCodes) { ReportError($0, "m") }
        check("FailoverError", failoverCodes) { FailoverError($0, "m") }
        check("ApplyError", applyCodes) { ApplyError($0, "m") }
    }

    /// A master's binlog error leaves with its format error's code; a full disk reported by SQLite
    /// through the apply engine is a full disk.
    func testNestedCausesChooseTheCode() {
        for kind in FormatError.Kind.allCases {
            let e = MasterError(.binlog, "m", formatError: FormatError(kind, "f"))
            XCTAssertEqual(e.exitStatus.rawValue, formatCodes[kind], "MasterError.binlog wrapping \(kind)")
        }
        for kind in ApplyError.Kind.allCases {
            // 13 = SQLITE_FULL; 13 | 1 << 8 is not an extended code SQLite has, but the primary code counts.
            XCTAssertEqual(ApplyError(kind, "m", sqliteCode: 13).exitStatus, .diskFull, "\(kind)")
            XCTAssertEqual(ApplyError(kind, "m", sqliteCode: 13 | 1 << 8).exitStatus, .diskFull, "\(kind)")
            XCTAssertEqual(ApplyError(kind, "m", sqliteCode: 5).exitStatus, .divergence, "\(kind)")
        }
    }

    /// SQLite's result codes are classified in one place (BinlogApply); an unlifted DatabaseError
    /// leaves with 13 for a full disk and 14 otherwise, as replica-apply mapped it before.
    func testDatabaseErrorsAreClassifiedInOnePlace() {
        let cases: [(Int32, SQLiteFailure, Int32)] = [
            (13, .diskFull, 13), (5, .busy, 14), (517, .busy, 14), (6, .busy, 14), (19, .constraint, 14),
            (2067, .constraint, 14), (10, .io, 14), (778, .io, 14), (14, .io, 14), (8, .io, 14), (1, .other, 14),
            (11, .other, 14), (26, .other, 14),
        ]
        for (code, failure, status) in cases {
            let e = DatabaseError(resultCode: ResultCode(rawValue: code), message: "m")
            XCTAssertEqual(e.failure, failure, "SQLite code \(code)")
            XCTAssertEqual(ExitStatus(e).rawValue, status, "SQLite code \(code)")
        }
        struct Unknown: Error {}
        XCTAssertEqual(ExitStatus(Unknown()), .internalError)
    }

    /// What the tools print is the message and, on its own line, the hint: each type's exact
    /// layout is pinned so that the protocol changed no message.
    func testDescriptionsKeepMessageAndHint() {
        let errors: [(LogshipError, String)] = [
            (FormatError(.gap, "missing", path: "/b/s", offset: 7, hint: "h"), "gap: missing (file /b/s, offset 7)\nHINT: h"),
            (FormatError(.checksumMismatch, "bad", offset: 9), "checksum mismatch: bad (offset 9)"),
            (ApplyError(.divergence, "row", lsn: 5, table: "t", key: "1", hint: "h"), "divergence: row (LSN 5, table t, key 1)\nHINT: h"),
            (MasterError(.sql, "no such table", hint: "h"), "SQL error: no such table\nHINT: h"),
            (ShipError(.gap, "missing", target: "a", path: "/t", offset: 3, hint: "h"), "target a: missing (file /t, offset 3)\nHINT: h"),
            (ReplicaError(.notFound, "no replica", hint: "h"), "not found: no replica\nHINT: h"),
            (ReportError(.stale, "old", hint: "h"), "stale: old\nHINT: h"),
            (FailoverError(.exists, "there", hint: "h"), "already exists: there\nHINT: h"),
            (ReportError(.sql, "bad"), "SQL error: bad"),
        ]
        for (error, text) in errors {
            XCTAssertEqual(error.description, text)
            XCTAssertTrue(error.description.contains(error.message), "\(error) keeps its message")
            if let hint = error.hint {
                XCTAssertTrue(error.description.hasSuffix("\nHINT: \(hint)"), "\(error) ends with its hint")
            } else {
                XCTAssertFalse(error.description.contains("HINT:"), "\(error) has no hint")
            }
        }
    }

    /// Every kind of every type, with and without a hint, prints its message and its hint once.
    func testEveryKindPrintsMessageAndHint() {
        var all: [LogshipError] = []
        for hint in [nil, "do this"] as [String?] {
            all += FormatError.Kind.allCases.map { FormatError($0, "the message", hint: hint) }
            all += MasterError.Kind.allCases.map { MasterError($0, "the message", hint: hint) }
            all += ShipError.Kind.allCases.map { ShipError($0, "the message", hint: hint) }
            all += ReplicaError.Kind.allCases.map { ReplicaError($0, "the message", hint: hint) }
            all += ReportError.Kind.allCases.map { ReportError($0, "the message", hint: hint) }
            all += FailoverError.Kind.allCases.map { FailoverError($0, "the message", hint: hint) }
            all += ApplyError.Kind.allCases.map { ApplyError($0, "the message", hint: hint) }
        }
        for e in all {
            let lines = e.description.components(separatedBy: "\n")
            XCTAssertTrue(lines[0].hasSuffix("the message"), "\(type(of: e)): \(e.description)")
            XCTAssertEqual(lines.count, e.hint == nil ? 1 : 2, "\(type(of: e)): \(e.description)")
            if let hint = e.hint { XCTAssertEqual(lines.last, "HINT: \(hint)") }
        }
    }

    /// Code that embeds the library sees the same words through Foundation: `localizedDescription`
    /// is the printed line without the hint (not "The operation could not be completed"), and
    /// `recoverySuggestion` is the hint. Failed before LogshipError conformed to LocalizedError.
    func testLocalizedDescriptionIsTheMessage() {
        let errors: [LogshipError] = [
            FormatError(.gap, "missing", path: "/b/s", offset: 7, hint: "h"), MasterError(.sql, "no such table"),
            ShipError(.gap, "missing", target: "a", hint: "rerun"), ReplicaError(.notFound, "no replica", hint: "h"),
            ReportError(.stale, "old"), FailoverError(.exists, "there", hint: "h"), ApplyError(.divergence, "row", lsn: 5, table: "t", key: "1"),
        ]
        for e in errors {
            let asError: Error = e
            XCTAssertEqual(asError.localizedDescription, e.description.components(separatedBy: "\n")[0], "\(type(of: e))")
            XCTAssertTrue(asError.localizedDescription.contains(e.message), "\(type(of: e))")
            XCTAssertEqual((asError as? LocalizedError)?.recoverySuggestion, e.hint, "\(type(of: e))")
        }
        XCTAssertEqual((FormatError(.gap, "missing", path: "/b/s", offset: 7, hint: "h") as Error).localizedDescription, "gap: missing (file /b/s, offset 7)")
    }
}
