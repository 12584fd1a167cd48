@testable import BinlogMaster
import GRDB
import XCTest

/// The statement loop learns from SQLite's authorizer (StatementGuard) whether a statement
/// begins, commits or rolls back, changes the schema or must run outside a transaction. That
/// must hold through comments, quotes, case and schema names (a COMMIT taken for DML would
/// commit past the binlog; a VACUUM taken for DML would renumber rowids unlogged).
final class StatementKindTests: XCTestCase {
    private var queue: DatabaseQueue!
    private let statementGuard = StatementGuard()

    override func setUpWithError() throws {
        queue = try DatabaseQueue()
        try queue.inDatabase { db in
            try db.execute(sql: "CREATE TABLE t(x); CREATE TABLE commit_log(x); CREATE TABLE \"COMMIT\"(x)")
            try statementGuard.install(on: db)
        }
    }

    private func kind(_ sql: String) throws -> StatementKind? {
        try queue.inDatabase { db in try statementGuard.prepare(db) { try db.makeStatement(sql: sql) }?.1 }
    }

    func testTransactionControlIsRecognisedThroughCommentsAndCase() throws {
        XCTAssertEqual(try kind("  begin immediate"), .begin)
        XCTAssertEqual(try kind("/* long\n comment; COMMIT */ -- and another\n  Commit TRANSACTION"), .commit)
        XCTAssertEqual(try kind("END"), .commit)
        XCTAssertEqual(try kind("ROLLBACK"), .rollback)
        XCTAssertEqual(try kind("rollback transaction"), .rollback)
        XCTAssertEqual(try kind("ROLLBACK TRANSACTION TO SAVEPOINT \"s p\""), .rollbackTo("s p"))
        XCTAssertEqual(try kind("rollback to sp1"), .rollbackTo("sp1"))
        XCTAssertEqual(try kind("SAVEPOINT [naïve]"), .savepoint("naïve"))
        XCTAssertEqual(try kind("SAVEPOINT \"a\"\"b\""), .savepoint("a\"b"), "SQLite's own dequoting")
        XCTAssertEqual(try kind("release savepoint a"), .release("a"))
        XCTAssertEqual(try kind("-- " + String(repeating: "x", count: 10_000) + "\nCOMMIT"), .commit, "a long comment does not hide COMMIT")
    }

    func testOtherKinds() throws {
        XCTAssertEqual(try kind("create table u(x)"), .ddl(creates: true))
        XCTAssertEqual(try kind("ALTER TABLE t ADD COLUMN y"), .ddl(creates: false))
        XCTAssertEqual(try kind("CREATE INDEX i ON t(x)"), .ddl(creates: false))
        XCTAssertEqual(try kind("VACUUM INTO '/nonexistent/x.db'"), .outsideTransaction)
        XCTAssertEqual(try kind("pragma user_version = 3"), .outsideTransaction)
        XCTAssertEqual(try kind("INSERT INTO commit_log VALUES ('COMMIT')"), .other)
        XCTAssertEqual(try kind("WITH x AS (SELECT 1) UPDATE t SET x = 1"), .other)
        XCTAssertEqual(try kind("INSERT INTO \"COMMIT\" VALUES (1)"), .other, "a quoted identifier is not a keyword")
        XCTAssertEqual(try kind("EXPLAIN VACUUM"), .other, "EXPLAIN runs nothing")
        XCTAssertEqual(try kind("ANALYZE"), .outsideTransaction, "its sqlite_stat1 is SQLite's, not the user's schema")
    }

    /// Every spelling of a VACUUM of the main database is refused before it runs.
    func testVacuumOfMainIsRefusedInEverySpelling() throws {
        for sql in ["VACUUM", "vacuum main", "VACUUM \"main\"", "/* c */ Vacuum [MAIN];", "VACUUM 'main'"] {
            XCTAssertThrowsError(try kind(sql), sql) { error in
                XCTAssertTrue("\(error)".contains("refused: "), "\(error)")
                XCTAssertTrue("\(error)".contains("rowid"), "\(error)")
            }
        }
    }
}
