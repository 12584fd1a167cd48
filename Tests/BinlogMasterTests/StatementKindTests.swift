@testable import BinlogMaster
import XCTest

/// The statement loop decides from a statement's leading words whether it begins, commits or
/// rolls back, which must hold through comments, quotes and case (a COMMIT taken for DML would
/// commit past the binlog).
final class StatementKindTests: XCTestCase {
    func testTransactionControlIsRecognisedThroughCommentsAndCase() {
        XCTAssertEqual(StatementKind.classify("  begin immediate"), .begin)
        XCTAssertEqual(StatementKind.classify("/* long\n comment; COMMIT */ -- and another\n  Commit TRANSACTION"), .commit)
        XCTAssertEqual(StatementKind.classify("END"), .commit)
        XCTAssertEqual(StatementKind.classify("ROLLBACK"), .rollback)
        XCTAssertEqual(StatementKind.classify("rollback transaction"), .rollback)
        XCTAssertEqual(StatementKind.classify("ROLLBACK TRANSACTION TO SAVEPOINT \"s p\""), .rollbackTo("s p"))
        XCTAssertEqual(StatementKind.classify("rollback to sp1"), .rollbackTo("sp1"))
        XCTAssertEqual(StatementKind.classify("SAVEPOINT [naïve]"), .savepoint("naïve"))
        XCTAssertEqual(StatementKind.classify("release savepoint a"), .release("a"))
        XCTAssertEqual(StatementKind.classify("-- " + String(repeating: "x", count: 10_000) + "\nCOMMIT"), .commit, "a long comment does not hide COMMIT")
    }

    func testOtherKinds() {
        XCTAssertEqual(StatementKind.classify("create table t(x)"), .ddl)
        XCTAssertEqual(StatementKind.classify("ALTER TABLE t ADD COLUMN y"), .ddl)
        XCTAssertEqual(StatementKind.classify("drop index i"), .ddl)
        XCTAssertEqual(StatementKind.classify("VACUUM"), .outsideTransaction)
        XCTAssertEqual(StatementKind.classify("pragma user_version = 3"), .outsideTransaction)
        XCTAssertEqual(StatementKind.classify("INSERT INTO commit_log VALUES ('COMMIT')"), .other)
        XCTAssertEqual(StatementKind.classify("WITH x AS (SELECT 1) UPDATE t SET y = 1"), .other)
        XCTAssertEqual(StatementKind.classify("\"COMMIT\""), .other, "a quoted identifier is not a keyword")
        XCTAssertEqual(StatementKind.classify("beginning_table_value"), .other)
    }

    func testLeadingWordsKeepNonASCIIIdentifiers() {
        XCTAssertEqual(StatementKind.leadingWords("INSERT INTO dépenses_été VALUES (1)", count: 3), ["INSERT", "INTO", "dépenses_été"])
        XCTAssertEqual(StatementKind.leadingWords("/* unterminated", count: 2), [])
        XCTAssertEqual(StatementKind.leadingWords("SAVEPOINT 'unterminated", count: 2), ["SAVEPOINT", "'unterminated"])
    }
}
