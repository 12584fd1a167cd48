import CSQLiteHooks
import Foundation
import GRDB
import GRDBSQLite

/// How a statement affects the transaction state, as SQLite's authorizer reported it while the
/// statement was prepared (StatementGuard): not read from the text, so comments, quoting,
/// schema names and spelling cannot hide a COMMIT, a schema change or a VACUUM. The statement
/// loop needs this to log exactly the changes that commit: SAVEPOINT marks, ROLLBACK TO drops,
/// COMMIT triggers the binlog write.
enum StatementKind: Equatable {
    case begin
    case commit
    case rollback
    case savepoint(String)
    case release(String)
    case rollbackTo(String)
    /// Schema changes: logged as DDL events. `creates`: CREATE TABLE (which may fill the new
    /// table from a SELECT).
    case ddl(creates: Bool)
    /// PRAGMA, ATTACH, DETACH, ANALYZE, REINDEX and VACUUM INTO: run as they are, without a
    /// transaction of the loop's (some pragmas do nothing inside one).
    case outsideTransaction
    case other

    /// The kind of a statement just prepared under the guard, from the authorizer's `facts`.
    /// Throws the refusal of a VACUUM of the main database, the one write SQLite makes without
    /// telling the authorizer (recognised by its OP_Vacuum opcode).
    static func of(_ statement: Statement, facts f: lsh_statement_facts, _ db: Database) throws -> StatementKind {
        if f.transaction != 0 {
            return f.transaction == LSH_TX_BEGIN ? .begin : f.transaction == LSH_TX_END ? .commit : .rollback
        }
        if f.savepoint != 0 {
            let name = withUnsafeBytes(of: f.name) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
            return f.savepoint == LSH_TX_BEGIN ? .savepoint(name) : f.savepoint == LSH_TX_END ? .release(name) : .rollbackTo(name)
        }
        // CREATE INDEX reports a REINDEX of its new index too: the schema change decides.
        if f.schema_change != 0 { return .ddl(creates: f.creates != 0) }
        if f.outside != 0 { return .outsideTransaction }
        let stmt = statement.sqliteStatement
        if f.explained == 0 && sqlite3_stmt_readonly(stmt) == 0 && sqlite3_stmt_isexplain(stmt) == 0 {
            guard let vacuum = try vacuumTarget(stmt, db) else { return .other }
            if vacuum.database == 0 && !vacuum.into { throw StatementGuard.vacuumRefusal(statement.sql) }
            return .outsideTransaction
        }
        return .other
    }

    /// The database (0: main) and INTO-ness of a VACUUM statement, from its program's
    /// OP_Vacuum (p1: database index, p2: the register of the INTO file name, or 0); nil when the
    /// program has no OP_Vacuum.
    private static func vacuumTarget(_ stmt: OpaquePointer, _ db: Database) throws -> (database: Int, into: Bool)? {
        let sql = "EXPLAIN " + String(cString: sqlite3_sql(stmt))
        for row in try Row.fetchAll(db, sql: sql) where (row["opcode"] as String?) == "Vacuum" {
            return ((row["p1"] as Int?) ?? 0, ((row["p2"] as Int?) ?? 0) != 0)
        }
        return nil
    }

    /// Savepoint names compare case-insensitively in SQLite.
    static func sameName(_ a: String, _ b: String) -> Bool { a.lowercased() == b.lowercased() }
}
