import GRDB
import GRDBSQLite

extension Database {
    /// Whether the main schema has a table named `name` (case-insensitive, as SQLite's names
    /// are), through a statement prepared once per connection. GRDB's `tableExists` loads the
    /// schema's list of objects again on each call made outside a transaction. A follower's pass
    /// asks this several times (the position, the applied segment, the summary), and with the
    /// statements prepared anew each pass it came to a fifth of the pass's CPU (issue 15;
    /// `logship-bench apply-pass` measures a pass).
    public func hasTable(_ name: String) throws -> Bool {
        try Bool.fetchOne(cachedStatement(sql: "SELECT 1 FROM main.sqlite_master WHERE type = 'table' AND name = ? COLLATE NOCASE"),
                          arguments: [name]) != nil
    }

    /// Runs `sql`, one statement without arguments (BEGIN, COMMIT), through the connection's
    /// statement cache: `execute(sql:)` parses and prepares it again each time.
    public func executeCached(_ sql: String) throws {
        try cachedStatement(sql: sql).execute()
    }
}

extension Database {
    /// How many times SQLite has prepared again the statements this connection holds now
    /// (SQLITE_STMTSTATUS_REPREPARE, summed). SQLite prepares a statement again when the schema
    /// changed, or when something expired every statement of the connection, as a flag pragma
    /// does (GRDB's read-only access sets PRAGMA query_only). Tests use it to show that a
    /// follower's passes reuse their statements.
    public var statementReprepares: Int {
        var total: Int32 = 0
        var statement = sqlite3_next_stmt(sqliteConnection, nil)
        while let s = statement {
            total += sqlite3_stmt_status(s, SQLITE_STMTSTATUS_REPREPARE, 0)
            statement = sqlite3_next_stmt(sqliteConnection, s)
        }
        return Int(total)
    }
}
