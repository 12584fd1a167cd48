import Foundation

/// An oracle that shares no code with logship or GRDB: the sqlite3 shell's `sha3_query` (SHA3-256
/// over every value with its storage class) of each user table, rowid included, in rowid order
/// (WITHOUT ROWID tables: ordered by every column), of `sqlite_sequence` by name, and of the
/// schema (every table, index, trigger and view with its SQL text). Virtual tables (FTS, R*Tree)
/// are read through their module and their shadow tables (the full-text index) like tables.
/// logship's own `_logship*` tables are left out.
public enum ShellDigest {
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    /// One query computes every digest: `sha3_query` takes the query it hashes as a value, so
    /// each table's is built from `pragma_table_list` in SQL.
    public static let digestSQL = """
        SELECT name || '|' || hex(sha3_query(CASE
            WHEN name = 'sqlite_sequence' THEN 'SELECT name, seq FROM sqlite_sequence ORDER BY name'
            WHEN wr THEN 'SELECT * FROM "' || replace(name, '"', '""') || '" ORDER BY '
                         || (SELECT group_concat(cid + 1, ', ') FROM pragma_table_info(t.name))
            ELSE 'SELECT rowid, * FROM "' || replace(name, '"', '""') || '" ORDER BY rowid' END))
        FROM pragma_table_list AS t
        WHERE schema = 'main' AND type IN ('table', 'virtual', 'shadow') AND name <> 'sqlite_schema' AND name NOT LIKE '\\_logship%' ESCAPE '\\'
        UNION ALL
        SELECT 'schema|' || hex(sha3_query('SELECT type, name, tbl_name, sql FROM sqlite_schema
            WHERE name NOT LIKE ''\\_logship%'' ESCAPE ''\\'' AND tbl_name NOT LIKE ''\\_logship%'' ESCAPE ''\\'' ORDER BY type, name'))
        UNION ALL
        SELECT '_position|' || count(*) FROM sqlite_schema WHERE name = '_logship_position';
        """

    /// The LSN a database claims (0 when it has no position table) and its digest: table name
    /// (and "schema") → hex SHA3-256. One run of the sqlite3 shell, two when there is a position.
    public static func inspect(_ database: String, position: Bool = true) throws -> (lsn: UInt64, digest: [String: String]) {
        guard FileManager.default.fileExists(atPath: database) else { throw Failure(description: "\(database) does not exist") }
        var digest: [String: String] = [:]
        for line in try shell(database, digestSQL) {
            guard let bar = line.lastIndex(of: "|") else { throw Failure(description: "unexpected digest line \(line)") }
            digest[String(line[..<bar])] = String(line[line.index(after: bar)...])
        }
        guard digest["schema"] != nil, let hasPosition = digest.removeValue(forKey: "_position") else {
            throw Failure(description: "\(database): no digest read")
        }
        guard position, hasPosition == "1" else { return (0, digest) }
        let lines = try shell(database, "SELECT lsn FROM _logship_position")
        guard lines.count == 1, let lsn = UInt64(lines[0]) else { throw Failure(description: "\(database): position \(lines)") }
        return (lsn, digest)
    }

    /// Runs SQL in `sqlite3 -readonly` and returns its output lines.
    private static func shell(_ database: String, _ sql: String) throws -> [String] {
        let r = try ToolRunner.runSystem("/usr/bin/sqlite3", ["-readonly", "-batch", "-cmd", ".timeout 5000", database, sql])
        guard r.status == 0, r.stderr.isEmpty else { throw Failure(description: "sqlite3 \(database): exit \(r.status): \(r.stderr)") }
        return r.stdout.split(separator: "\n", omittingEmptySubsequences: true).map(String.init)
    }
}
