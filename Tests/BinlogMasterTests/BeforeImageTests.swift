import BinlogApply
import BinlogFormat
import BinlogMaster
import Foundation
import GRDB
import LogshipTestSupport
import XCTest

/// The apply engine compares each UPDATE's and DELETE's logged before-image with the stored row
/// (issue 12): a row that differs is a divergence naming LSN, table, key and the differing
/// columns; the rows the pre-update hook logs differently from how SQLite stores them (integral
/// REALs, columns added with a default, generated columns) never raise a false alarm.
final class BeforeImageTests: XCTestCase {
    /// Replays the master's binlog up to `lsn` into a new database, lets `tamper` change it, then
    /// applies every later transaction; returns the error of the first that fails (nil: none).
    private func applyAfterTampering(_ f: MasterFixture, upTo lsn: UInt64, _ tamper: String) throws -> ApplyError? {
        let path = f.dir.sub("replica-\(UUID().uuidString).db")
        let all = try f.transactions()
        var config = Configuration()
        config.foreignKeysEnabled = false
        // A scratch copy, applied in autocommit mode: an fsync per transaction bought nothing.
        config.prepareDatabase { db in try db.execute(sql: "PRAGMA synchronous = OFF; PRAGMA journal_mode = MEMORY") }
        let queue = try DatabaseQueue(path: path, configuration: config)
        defer { try? queue.close() }
        let engine = ApplyEngine()
        defer { engine.reset() }
        return try queue.inDatabase { db -> ApplyError? in
            try ApplyEngine.prepareConnection(db)
            for tx in all where tx.lsn <= lsn { try engine.apply(tx, in: db) }
            try db.execute(sql: tamper)
            for tx in all where tx.lsn > lsn {
                do { try engine.apply(tx, in: db) } catch let e as ApplyError { return e }
            }
            return nil
        }
    }

    private func assertDivergence(_ e: ApplyError?, lsn: UInt64, table: String, key: String, _ parts: [String],
                                  file: StaticString = #filePath, line: UInt = #line) {
        guard let e else { return XCTFail("apply did not stop: the changed row was applied over silently", file: file, line: line) }
        XCTAssertEqual(e.kind, .divergence, "\(e)", file: file, line: line)
        XCTAssertEqual(e.lsn, lsn, "\(e)", file: file, line: line)
        XCTAssertEqual(e.table, table, "\(e)", file: file, line: line)
        XCTAssertEqual(e.key, key, "\(e)", file: file, line: line)
        for p in parts { XCTAssertTrue(e.message.contains(p), "expected \(p) in: \(e)", file: file, line: line) }
    }

    func testARowChangedBehindApplysBackStopsTheNextUpdateOrDeleteNamingTheColumns() throws {
        let f = try MasterFixture("before-image-tamper")
        try f.master.execute("""
            CREATE TABLE acct (id INTEGER PRIMARY KEY, owner TEXT COLLATE NOCASE, balance INTEGER, note BLOB);
            CREATE TABLE tag (name TEXT PRIMARY KEY, uses INTEGER) WITHOUT ROWID;
            INSERT INTO acct VALUES (1, 'ann', 10, NULL), (2, 'bob', 20, X'00'), (3, CAST(X'61006200FF' AS TEXT), 30, NULL);
            INSERT INTO tag VALUES ('a', 1), ('b', 2);
            CREATE TABLE free (id INTEGER PRIMARY KEY, v);
            INSERT INTO free VALUES (1, 1), (2, 2.0);
            """)
        let setup = f.master.lastLSN
        let lsns = try f.master.execute("""
            UPDATE acct SET balance = 11 WHERE id = 1;
            DELETE FROM acct WHERE id = 2;
            UPDATE tag SET uses = 5 WHERE name = 'b';
            UPDATE acct SET balance = 31 WHERE id = 3;
            UPDATE free SET v = 'one' WHERE id = 1;
            DELETE FROM free WHERE id = 2;
            """).map(\.lsn)
        XCTAssertEqual(lsns.count, 6)
        try f.assertReplayEquals("untouched, the replay equals the master")

        // A changed value: the UPDATE of another column still stops, naming stored and logged values.
        assertDivergence(try applyAfterTampering(f, upTo: setup, "UPDATE acct SET balance = 9 WHERE id = 1"),
                         lsn: lsns[0], table: "acct", key: "id=1", ["UPDATE", "balance: stored 9, logged 10"])
        // Only the case of a NOCASE column: still different bytes.
        assertDivergence(try applyAfterTampering(f, upTo: setup, "UPDATE acct SET owner = 'ANN' WHERE id = 1"),
                         lsn: lsns[0], table: "acct", key: "id=1", ["owner: stored 'ANN', logged 'ann'"])
        // A DELETE of a row whose BLOB changed; a NULL that became a value.
        assertDivergence(try applyAfterTampering(f, upTo: setup, "UPDATE acct SET note = X'01' WHERE id = 2"),
                         lsn: lsns[1], table: "acct", key: "id=2", ["DELETE", "note: stored X'01', logged X'00'"])
        assertDivergence(try applyAfterTampering(f, upTo: setup, "UPDATE acct SET note = 'x' WHERE id = 2"),
                         lsn: lsns[1], table: "acct", key: "id=2", ["note: stored 'x'"])
        // A WITHOUT ROWID table.
        assertDivergence(try applyAfterTampering(f, upTo: setup, "UPDATE tag SET uses = 3 WHERE name = 'b'"),
                         lsn: lsns[2], table: "tag", key: "name='b'", ["uses: stored 3, logged 2"])
        // TEXT is compared as bytes, past a NUL and through invalid UTF-8.
        assertDivergence(try applyAfterTampering(f, upTo: setup, "UPDATE acct SET owner = CAST(X'61006300FF' AS TEXT) WHERE id = 3"),
                         lsn: lsns[3], table: "acct", key: "id=3", ["owner: stored 'a\\u{0}c\\u{0}\u{FFFD}', logged 'a\\u{0}b\\u{0}\u{FFFD}'"])
        // The storage class counts: INTEGER 10 and TEXT '10' differ.
        assertDivergence(try applyAfterTampering(f, upTo: setup, "UPDATE acct SET note = 0 WHERE id = 2"),
                         lsn: lsns[1], table: "acct", key: "id=2", ["note: stored 0, logged X'00'"])
        // In a column without affinity INTEGER 1 and REAL 1.0 are different values too.
        assertDivergence(try applyAfterTampering(f, upTo: setup, "UPDATE free SET v = 1.0 WHERE id = 1"),
                         lsn: lsns[4], table: "free", key: "id=1", ["v: stored 1.0, logged 1"])
        // A missing row is still said to be missing.
        assertDivergence(try applyAfterTampering(f, upTo: setup, "DELETE FROM acct WHERE id = 1"),
                         lsn: lsns[0], table: "acct", key: "id=1", ["UPDATE of a row that is not there"])
        // A change the master's later transactions never touch is not an event's business.
        XCTAssertNil(try applyAfterTampering(f, upTo: lsns[3], "UPDATE acct SET balance = 0 WHERE id = 1"))
    }

    /// SQLite 3.40's pre-update hook logs NULL for a column added by ALTER TABLE … ADD COLUMN …
    /// DEFAULT in a row stored before the ALTER, and integral REALs of a REAL column as INTEGERs
    /// on insert; generated columns are computed, not written. None of them is a divergence, and
    /// a value other than the ones a logged NULL can stand for still is.
    func testCaptureQuirksAreNoFalseAlarmsAndAddedColumnsAreStillChecked() throws {
        let f = try MasterFixture("before-image-quirks")
        try f.master.execute("""
            CREATE TABLE t (id INTEGER PRIMARY KEY, r REAL, v, g TEXT GENERATED ALWAYS AS (r || 'x') STORED,
                            h GENERATED ALWAYS AS (r * 2) VIRTUAL);
            CREATE TABLE w (k TEXT, j INTEGER, r DOUBLE, PRIMARY KEY (k, j)) WITHOUT ROWID;
            INSERT INTO t (id, r, v) VALUES (1, 1.0, 1), (2, 2, 2.0), (3, -0.0, NULL), (4, 4.5, 'x'), (5, 5, 5), (6, 6, 6), (7, 7, 7);
            INSERT INTO w VALUES ('a', 1, 3.0), ('b', 2, 4), ('c', 3, 5);
            """)
        let before = f.master.lastLSN
        try f.master.execute("""
            ALTER TABLE t ADD COLUMN d1 INTEGER NOT NULL DEFAULT 7;
            ALTER TABLE t ADD COLUMN d2 TEXT DEFAULT 'dflt';
            ALTER TABLE t ADD COLUMN d3 REAL DEFAULT -1;
            ALTER TABLE t ADD COLUMN d4 DEFAULT X'ABCD';
            ALTER TABLE t ADD COLUMN d5 NUMERIC DEFAULT 2.0;
            ALTER TABLE w ADD COLUMN d TEXT DEFAULT 'w';
            """)
        let altered = f.master.lastLSN
        let lsns = try f.master.execute("""
            UPDATE t SET r = r + 1 WHERE id = 1;
            UPDATE t SET d2 = 'set' WHERE id = 2;
            DELETE FROM t WHERE id = 3;
            UPDATE t SET v = 'y' WHERE id = 4;
            UPDATE t SET r = 8 WHERE id = 5;
            UPDATE t SET d1 = 9 WHERE id = 5;
            INSERT INTO t (id, r, v, d2) VALUES (8, 8, 8, NULL);
            UPDATE t SET v = 'z' WHERE id = 8;
            UPDATE w SET r = r + 1;
            DELETE FROM w WHERE k = 'c';
            UPDATE t SET v = 'later' WHERE id = 6;
            UPDATE t SET v = 'later' WHERE id = 7;
            """).map(\.lsn)
        try f.assertReplayEquals("every quirk replays without a false divergence")
        XCTAssertNil(try applyAfterTampering(f, upTo: before, "SELECT 1"), "from before the ALTER")
        XCTAssertNil(try applyAfterTampering(f, upTo: altered, "SELECT 1"), "from after the ALTER")

        // Row 6 was stored before the ALTER: its logged d1 is NULL and the store reads 7. Any
        // other stored value is a divergence.
        assertDivergence(try applyAfterTampering(f, upTo: altered, "UPDATE t SET d1 = 8 WHERE id = 6"),
                         lsn: lsns[10], table: "t", key: "id=6", ["d1: stored 8, logged NULL"])
        assertDivergence(try applyAfterTampering(f, upTo: altered, "UPDATE t SET d2 = 'other' WHERE id = 6"),
                         lsn: lsns[10], table: "t", key: "id=6", ["d2: stored 'other', logged NULL"])
        // Row 8 was inserted after the ALTER with d2 NULL: its logged NULL is exact, and the
        // default is a different value... which the check accepts for a logged NULL (the one
        // case it cannot tell apart, see TableStatements+BeforeImage.swift), while any other
        // value is caught.
        assertDivergence(try applyAfterTampering(f, upTo: lsns[6], "UPDATE t SET d2 = 'x' WHERE id = 8"),
                         lsn: lsns[7], table: "t", key: "id=8", ["d2: stored 'x', logged NULL"])
        // A REAL compared with the REAL the store holds.
        assertDivergence(try applyAfterTampering(f, upTo: altered, "UPDATE t SET r = 7.5 WHERE id = 7"),
                         lsn: lsns[11], table: "t", key: "id=7", ["r: stored 7.5, logged 7.0"])
    }
}
