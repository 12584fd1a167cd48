import Foundation

/// The hazard statements, one generator per class (`Hazard`). Each script that the master may
/// refuse is one statement or one BEGIN … COMMIT block, so that a refusal leaves nothing behind.
extension HazardWorkload {
    /// VACUUM in the spellings SQLite accepts: it renumbers the rowids of `plain_rows`
    /// (no INTEGER PRIMARY KEY) once deletes left gaps.
    mutating func vacuum() -> Script {
        let spelling = pick(["VACUUM;", "VACUUM main;", "VACUUM \"main\";", "VACUUM [main];", "vacuum `main`;", "/* tidy */ VACUUM main;",
                             "  Vacuum   Main ;", "VACUUM 'main';", "-- compact\nVACUUM;", "VACUUM temp;"])
        return Script(sql: spelling, hazard: .vacuum, label: "vacuum")
    }

    /// FTS4, FTS5 and R*Tree tables, writes into them (the FTS index is written at COMMIT), and
    /// their special commands ('optimize', 'rebuild').
    mutating func virtualTable() -> Script {
        let definitions = ["docs4": "fts4(title, body)", "docs5": "fts5(title, body)", "boxes": "rtree(id, minx, maxx, miny, maxy)"]
        let name = pick(definitions.keys.sorted())
        guard virtualTables.contains(name) else {
            pending.created = name
            return Script(sql: "CREATE VIRTUAL TABLE \(name) USING \(definitions[name]!);", hazard: .virtualTable, label: "create-\(definitions[name]!.prefix { $0 != "(" })")
        }
        let n = fresh()
        let sql: String
        switch (name, int(0...5)) {
        case ("boxes", 0...2):
            sql = "INSERT INTO boxes (minx, maxx, miny, maxy) VALUES (\(n), \(n + int(1...9)), \(-n), \(-n + int(1...9)));"
        case ("boxes", 3):
            sql = "UPDATE boxes SET maxx = maxx + 1 WHERE id = (SELECT min(id) FROM boxes);"
        case ("boxes", _):
            sql = "DELETE FROM boxes WHERE id = (SELECT max(id) FROM boxes);"
        case (_, 0...1):
            sql = "INSERT INTO \(name) (title, body) VALUES ('t\(n)', '\(pick(["alpha beta", "gamma delta alpha", "straße", "Zoë and Ørsted"])) \(n)');"
        case (_, 2):
            sql = "BEGIN; INSERT INTO \(name) (title, body) VALUES ('tx\(n)', 'inside a transaction'); INSERT INTO keyed (name, n) VALUES ('v\(n)', 2); COMMIT;"
        case (_, 3):
            sql = "UPDATE \(name) SET body = body || ' more' WHERE rowid = (SELECT min(rowid) FROM \(name));"
        case (_, 4):
            sql = "DELETE FROM \(name) WHERE rowid = (SELECT max(rowid) FROM \(name));"
        default:
            sql = "INSERT INTO \(name) (\(name)) VALUES ('\(pick(["optimize", "rebuild"]))');"
        }
        return Script(sql: sql, hazard: .virtualTable, label: "write-\(name)")
    }

    /// Writes to sqlite_sequence, SQLite's own table behind AUTOINCREMENT.
    mutating func sqliteSequence() -> Script {
        let sql = pick([
            "UPDATE sqlite_sequence SET seq = seq + \(int(1...500)) WHERE name = 'seqd';",
            "DELETE FROM sqlite_sequence WHERE name = 'seqd';",
            "INSERT INTO sqlite_sequence (name, seq) VALUES ('seqd', \(int(1000...5000)));",
            "UPDATE sqlite_sequence SET seq = 0;",
            "BEGIN; INSERT INTO seqd (label) VALUES ('before'); UPDATE sqlite_sequence SET seq = seq + 10 WHERE name = 'seqd'; COMMIT;",
        ])
        return Script(sql: sql, hazard: .sqliteSequence, label: "sqlite_sequence")
    }

    /// Deferred foreign-key violations, repaired before COMMIT or not (then COMMIT fails).
    mutating func deferredForeignKey() -> Script {
        let p = 100_000 + fresh()
        let (sql, label) = pick([
            ("BEGIN; INSERT INTO child (parent, note) VALUES (\(p), 'early'); INSERT INTO parent (id, name) VALUES (\(p), 'late'); COMMIT;", "repaired"),
            ("BEGIN; INSERT INTO child (parent, note) VALUES (\(p), 'orphan'); COMMIT;", "violated"),
            ("INSERT INTO child (parent, note) VALUES (\(p), 'orphan autocommit');", "violated-autocommit"),
            ("BEGIN; DELETE FROM parent WHERE id = (SELECT max(parent) FROM child WHERE parent < 100000); COMMIT;", "parent-deleted"),
            ("BEGIN; DELETE FROM parent WHERE id = (SELECT max(parent) FROM child); DELETE FROM child WHERE parent NOT IN (SELECT id FROM parent); COMMIT;",
             "parent-deleted-repaired"),
            ("BEGIN; INSERT INTO child (parent, note) VALUES (\(p), 'sp'); SAVEPOINT s; INSERT INTO parent (id) VALUES (\(p)); ROLLBACK TO s; RELEASE s; COMMIT;",
             "repair-rolled-back"),
        ])
        return Script(sql: sql, hazard: .deferredForeignKey, label: label)
    }

    /// INSERT and UPDATE OR FAIL/IGNORE/ABORT/ROLLBACK/REPLACE whose second row conflicts
    /// (UNIQUE, PRIMARY KEY, NOT NULL with a default, CHECK), alone or inside BEGIN … COMMIT.
    mutating func orConflict() -> Script {
        let mode = pick(["FAIL", "IGNORE", "ABORT", "ROLLBACK", "REPLACE"])
        let n = fresh(), k = offset()
        let second = "(SELECT name FROM keyed ORDER BY id LIMIT 1 OFFSET \(k))"
        let (statement, kind) = pick([
            ("INSERT OR \(mode) INTO keyed (name, n) VALUES ('a\(n)', 1), (\(second), 2), ('b\(n)', 3);", "unique"),
            ("INSERT OR \(mode) INTO keyed (name, n) VALUES ('a\(n)', 1), ('c\(n)', 13), ('b\(n)', 3);", "check"),
            ("INSERT OR \(mode) INTO keyed (name, n) VALUES ('a\(n)', 1), ('c\(n)', NULL), ('b\(n)', 3);", "not-null-default"),
            ("INSERT OR \(mode) INTO keyed (id, name, n) VALUES (\(n + 500_000), 'a\(n)', 1), ((SELECT max(id) FROM keyed), 'b\(n)', 2);", "primary-key"),
            ("UPDATE OR \(mode) keyed SET name = 'same\(n)' WHERE id IN (SELECT id FROM keyed ORDER BY id LIMIT 3 OFFSET \(k));", "update-unique"),
            ("UPDATE OR \(mode) keyed SET n = 13 - id % 2 WHERE id IN (SELECT id FROM keyed ORDER BY id LIMIT 4 OFFSET \(k));", "update-check"),
            ("INSERT OR \(mode) INTO wr (k, n, t) VALUES ('x\(n)', 1, NULL), ((SELECT k FROM wr ORDER BY k LIMIT 1 OFFSET \(k)), 2, 'dup'), ('y\(n)', 3, NULL);",
             "without-rowid"),
            ("INSERT OR \(mode) INTO wr (k, n, t) SELECT name, n, t FROM keyed ORDER BY id LIMIT 5 OFFSET \(k);", "select"),
        ])
        let inTransaction = chance(0.4)
        let sql = inTransaction
            ? "BEGIN; INSERT INTO plain_rows (a, b) VALUES (\(n), 'before'); \(statement) INSERT INTO plain_rows (a, b) VALUES (\(n), 'after'); COMMIT;"
            : statement
        return Script(sql: sql, hazard: .orConflict, label: "or-\(mode.lowercased())-\(kind)\(inTransaction ? "-in-transaction" : "")")
    }

    /// TEXT that is not valid UTF-8 or holds NULs, made with CAST(x'…' AS TEXT) and char(0),
    /// stored, used as a WITHOUT ROWID key, matched and updated.
    mutating func invalidUTF8() -> Script {
        let bytes = pick(["ff", "c328", "fe", "e282", "eda080", "f4908080", "c080", "61006200", "00", "f0", "e28228a1", "80", "6b6579ff00", "41c3"])
        let value = "CAST(x'\(bytes)' AS TEXT)"
        let n = fresh()
        let (sql, label) = pick([
            ("INSERT INTO keyed (name, n, t) VALUES ('u\(n)', 0, \(value));", "insert"),
            ("INSERT INTO keyed (name, n, t) VALUES (\(value) || '\(n)', 0, 'invalid name');", "unique-key"),
            ("INSERT INTO wr (k, n, t) VALUES (\(value), \(n), 'invalid key') ON CONFLICT (k) DO UPDATE SET n = excluded.n;", "without-rowid-key"),
            ("UPDATE wr SET t = 'matched ' || \(n) WHERE k = \(value);", "match-key"),
            ("DELETE FROM wr WHERE k = \(value);", "delete-by-key"),
            ("UPDATE keyed SET t = \(value) || coalesce(t, '') WHERE id = (SELECT max(id) FROM keyed);", "update"),
            ("INSERT INTO plain_rows (a, b) VALUES (\(n), 'nul' || char(0) || 'inside');", "nul"),
            ("INSERT INTO parent (name) VALUES (\(value));", "ipk-table"),
        ])
        return Script(sql: sql, hazard: .invalidUTF8, label: label)
    }

    /// Integers at and beyond 64 bits: literals SQLite reads as REAL, hex literals that wrap,
    /// arithmetic that overflows into REAL, abs() that overflows into an error, and rowids at
    /// the ends of the 64-bit range.
    mutating func bigInteger() -> Script {
        let literal = pick(["9223372036854775807", "-9223372036854775808", "9223372036854775808", "-9223372036854775809", "18446744073709551615",
                            "18446744073709551616", "12345678901234567890", "0x7fffffffffffffff", "0xffffffffffffffff", "0x8000000000000000",
                            "9223372036854775807 + 1", "-9223372036854775808 - 1", "CAST('18446744073709551615' AS INTEGER)",
                            "CAST(9223372036854775807 AS REAL)", "1e19", "abs(-9223372036854775808)", "'18446744073709551615'"])
        let n = fresh()
        let (sql, label) = pick([
            ("INSERT INTO keyed (name, n) VALUES ('big\(n)', \(literal));", "integer-column"),
            ("INSERT INTO wr (k, n) VALUES ('big\(n)', \(literal));", "without-rowid"),
            ("INSERT INTO plain_rows (a, b) VALUES (\(literal), 'big');", "no-ipk"),
            ("INSERT INTO bigkeys (id, v) VALUES (\(literal), 'rowid \(n)');", "rowid"),
            ("UPDATE bigkeys SET v = \(literal) WHERE id = (SELECT max(id) FROM bigkeys);", "untyped-update"),
            ("UPDATE keyed SET n = n + 9223372036854775000 WHERE id = (SELECT min(id) FROM keyed);", "overflow"),
            ("INSERT INTO plain_rows (a, b) SELECT sum(n), 'sum' FROM keyed;", "sum"),
        ])
        return Script(sql: sql, hazard: .bigInteger, label: label)
    }

    /// Writes to logship's own position table: never allowed through `exec`.
    mutating func internalTable() -> Script {
        let sql = pick([
            "UPDATE _logship_position SET lsn = lsn;",
            "UPDATE _logship_position SET commit_time = commit_time + 1;",
            "DELETE FROM _logship_position;",
            "INSERT OR REPLACE INTO _logship_position SELECT * FROM _logship_position;",
            "BEGIN; INSERT INTO keyed (name, n) VALUES ('i\(fresh())', 1); UPDATE _logship_position SET lsn = lsn + 1; COMMIT;",
        ])
        return Script(sql: sql, hazard: .internalTable, label: "write-position")
    }
}
