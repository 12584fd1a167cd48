import BinlogApply
import BinlogFormat
import BinlogMaster
import Foundation
import GRDB
import LogshipTestSupport
import XCTest

/// Regression tests for bugs found in Sources while writing this suite, all fixed. Each
/// comment describes the bug as it was; each test asserts the correct behaviour.
final class RegressionTests: XCTestCase {
    /// Master+Execute.swift `abortTransaction` (and the ROLLBACK TO case of `run`) roll the
    /// schema back in SQLite but keep `capture.descriptors` loaded after the DDL: after a
    /// rolled-back DROP TABLE the table has no descriptor, and every later write to it fails
    /// with "no schema for table t" until the master is reopened.
    func testRegression_rollbackOfDropTableLeavesTheTableUnwritable() throws {
        let f = try MasterFixture("bug-drop-rollback")
        let m = f.master
        try m.execute("CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)")
        XCTAssertEqual(try m.execute("BEGIN; DROP TABLE t; ROLLBACK;"), [])
        XCTAssertNoThrow(try m.execute("INSERT INTO t VALUES (1, 'after rollback')"), "plain ROLLBACK")

        try m.execute("BEGIN; SAVEPOINT s; DROP TABLE t; ROLLBACK TO s; RELEASE s; COMMIT;")
        XCTAssertNoThrow(try m.execute("INSERT INTO t VALUES (2, 'after rollback to')"), "ROLLBACK TO")

        XCTAssertThrowsError(try m.execute("BEGIN; DROP TABLE t; SELECT * FROM no_such_table; COMMIT;"))
        XCTAssertNoThrow(try m.execute("INSERT INTO t VALUES (3, 'after failed statement')"), "statement failure")
        try f.assertReplayEquals()
    }

    /// Same root cause: after a rolled-back ALTER TABLE ADD COLUMN, row events keep being
    /// logged with the descriptor of the rolled-back schema (3 columns for a 2-column table),
    /// so the binlog describes a column that exists nowhere.
    func testRegression_rollbackOfAddColumnLeavesAStaleDescriptorInTheBinlog() throws {
        let f = try MasterFixture("bug-alter-rollback")
        let m = f.master
        try m.execute("CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)")
        try m.execute("BEGIN; ALTER TABLE t ADD COLUMN ghost INTEGER; ROLLBACK;")
        let info = try XCTUnwrap(m.execute("INSERT INTO t VALUES (1, 'x')").first)
        guard case .insert(let table, _, let values) = try XCTUnwrap(f.transaction(info.lsn).events.first) else { return XCTFail("expected an insert") }
        XCTAssertEqual(values.count, 2)
        XCTAssertEqual(table.columns.map(\.name), ["id", "v"], "the logged descriptor names a column the table does not have")
    }

    /// CREATE TABLE … AS SELECT is logged as its SQL text only (SQLite fires no pre-update
    /// hook for the rows it inserts), and the replica runs the SELECT again: non-deterministic
    /// functions give other values there. ChangeCapture's promise of "the values that
    /// non-deterministic SQL actually produced" does not hold for CTAS.
    func testRegression_createTableAsSelectWithRandomIsNotReplayable() throws {
        let f = try MasterFixture("bug-ctas")
        let m = f.master
        try m.execute("CREATE TABLE s(id INTEGER PRIMARY KEY); INSERT INTO s VALUES (1), (2), (3)")
        try m.execute("CREATE TABLE r AS SELECT id, random() AS x, randomblob(8) AS y FROM s")
        try f.assertReplayEquals()
    }

    /// CREATE TABLE … AS SELECT logs the rows it made as INSERT events, read back from the new
    /// table. They were read through GRDB's String and DatabaseValue, which stop TEXT at a NUL
    /// and replace invalid UTF-8, so the replica got other bytes than the master holds.
    func testRegression_createTableAsSelectLogsTextBytesExactly() throws {
        let f = try MasterFixture("bug-ctas-bytes")
        let m = f.master
        try m.execute("CREATE TABLE s(id INTEGER PRIMARY KEY, t TEXT); INSERT INTO s VALUES (1, CAST(x'61006263' AS TEXT)), (2, CAST(x'ff41fe' AS TEXT)), (3, 'plain')")
        let ctas = try XCTUnwrap(m.execute("CREATE TABLE c AS SELECT id, t FROM s").first)
        let logged = try f.transaction(ctas.lsn).events.compactMap { event -> Data? in
            guard case .insert(_, _, let values) = event, values.count == 2, case .text(let d) = values[1] else { return nil }
            return d
        }
        XCTAssertEqual(logged, [Data([0x61, 0x00, 0x62, 0x63]), Data([0xFF, 0x41, 0xFE]), Data("plain".utf8)])
        try f.assertReplayEquals()
    }

    /// VACUUM (allowed by `execute`, logged as nothing) may renumber the rowids of tables
    /// without an INTEGER PRIMARY KEY; the binlog addresses their rows by rowid, so every
    /// later UPDATE or DELETE of such a row misses on a replica.
    func testVacuumIsRefusedBecauseItRenumbersRowids() throws {
        let f = try MasterFixture("bug-vacuum")
        let m = f.master
        try m.execute("CREATE TABLE t(v); INSERT INTO t VALUES ('a'), ('b'), ('c'), ('d'); DELETE FROM t WHERE v IN ('a', 'c')")
        XCTAssertThrowsError(try m.execute("VACUUM")) { error in
            XCTAssertEqual((error as? MasterError)?.kind, .sql)
            XCTAssertTrue("\(error)".contains("rowid"), "\(error)")
        }
        try m.execute("UPDATE t SET v = v || '!'")
        try f.assertReplayEquals()
    }

    /// ChangeCapture.record reads sqlite3_preupdate_old/new with indexes 0..<count and
    /// maps them onto the columns of pragma_table_xinfo. On this SQLite (3.40) the hook's
    /// values skip VIRTUAL generated columns (storage order), so for
    /// `g(a, b AS (a*2) VIRTUAL, c, d AS (a+1) STORED, e)` the values land one column off:
    /// the replica gets c = 6 and e = NULL instead of c = 'c' and e = 'E'.
    func testRegression_virtualGeneratedColumnShiftsCapturedValues() throws {
        let f = try MasterFixture("bug-generated")
        let m = f.master
        try m.execute("CREATE TABLE g(a, b GENERATED ALWAYS AS (a * 2) VIRTUAL, c, d AS (a + 1) STORED, e)")
        try m.execute("INSERT INTO g(a, c, e) VALUES (1, 'c', 'e')")
        try m.execute("UPDATE g SET e = 'E', a = 5")
        let insert = try f.transaction(2)
        // VIRTUAL columns are not stored and not described; STORED ones are, marked generated.
        XCTAssertEqual(insert.events.first?.newValues, [.integer(1), .text("c"), .integer(2), .text("e")])
        try f.assertReplayEquals()
    }

    /// TableDescriptor.rowidAliasColumn (Event.swift) treats every single-column INTEGER
    /// primary key as a rowid alias, but `INTEGER PRIMARY KEY DESC` is not one (a SQLite
    /// quirk). The apply engine then inserts without the rowid, so the replica's rowids differ
    /// and the next UPDATE by rowid finds no row ("divergence").
    func testRegression_integerPrimaryKeyDescIsTreatedAsARowidAlias() throws {
        let f = try MasterFixture("bug-pk-desc")
        let m = f.master
        try m.execute("CREATE TABLE d(id INTEGER PRIMARY KEY DESC, v TEXT)")
        try m.execute("INSERT INTO d(rowid, id, v) VALUES (100, 1, 'a')")
        try m.execute("UPDATE d SET v = 'b'")
        try f.assertReplayEquals()
    }

    /// Master+Execute.swift `commit`: when SQLite refuses COMMIT (a deferred foreign key
    /// still violated) the transaction is still open, and `db.isInsideTransaction` is taken to
    /// mean "the fsync failed": the error comes out as `i/o error: syncing LSN n: … FOREIGN KEY
    /// constraint failed` instead of a SQL error naming the constraint. (The binlog is undone
    /// correctly; only the report is wrong, and it sends the operator after a disk problem.)
    func testRegression_deferredForeignKeyFailureAtCommitIsReportedAsIOError() throws {
        let f = try MasterFixture("bug-deferred-fk")
        let m = f.master
        try m.execute("""
            CREATE TABLE parent(id INTEGER PRIMARY KEY);
            CREATE TABLE child(id INTEGER PRIMARY KEY, parent_id REFERENCES parent(id) DEFERRABLE INITIALLY DEFERRED);
            """)
        let error = expectMasterError(.sql, containing: ["FOREIGN KEY"]) {
            try m.execute("BEGIN; INSERT INTO child VALUES (1, 99); COMMIT;")
        }
        XCTAssertFalse(error?.message.contains("syncing") ?? true, "\(String(describing: error))")
    }

    /// RowSource.swift CSVRowSource counts records, not lines: after a quoted field that
    /// spans two lines, "CSV line 4" is reported for the bad record that starts on line 5.
    func testRegression_csvErrorNamesTheRecordNumberNotTheLine() throws {
        let f = try MasterFixture("bug-csv-line")
        let m = f.master
        try m.execute("CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT, note TEXT)")
        let csv = f.dir.sub("multiline.csv")
        try writeFile(csv, "id,name,note\n1,a,\"two\nlines\"\n2,b,ok\n3,c\n")
        var source = try CSVRowSource(path: csv)
        expectMasterError(.input, containing: ["line 5"]) { try m.load(table: "t", from: &source, batchSize: 10) }
    }

    /// Master.swift `open`: when `recover()` throws, the catch closes the queue and rethrows,
    /// but the half-built `Master` is then deinitialized with `closed == false`; `deinit` calls
    /// `close()`, which runs `capture.uninstall(from:)` on the closed connection:
    /// `sqlite3_preupdate_hook(NULL, …)` → SIGSEGV (Master.swift deinit → close →
    /// ChangeCapture.uninstall → hooks.c lsh_preupdate_hook). Every recovery failure (binlog
    /// behind the database, foreign database, damaged segment) kills the process instead of
    /// reporting the error. Reproduced here with a database that has no position table, run in
    /// a child process so the crash does not take the suite down.
    func testRegression_failedRecoveryCrashesTheProcess() throws {
        let f = try MasterFixture("bug-open-crash")
        try f.master.execute("CREATE TABLE t(x); INSERT INTO t VALUES (1)")
        try f.master.close()
        let queue = try DatabaseQueue(path: f.databasePath)
        try queue.write { db in try db.execute(sql: "DROP TABLE _logship_position") }
        try queue.close()
        let outcome = try OpenProbe.open(f.path)
        XCTAssertFalse(outcome.crashed, "Master.open crashed instead of throwing: \(outcome)")
        XCTAssertEqual(outcome.result?.hasPrefix("error notFound: "), true, "\(outcome)")
        XCTAssertEqual(outcome.result?.contains("no logship position table"), true, "\(outcome)")
    }

    /// Master.close() closes the GRDB queue, and a later `execute` reaches SQLite's
    /// closed-connection path: the error reads "SQL error: out of memory: …", with the hint
    /// "the transaction was rolled back", instead of saying the master is closed.
    func testRegression_executeAfterCloseReportsOutOfMemory() throws {
        let f = try MasterFixture("bug-closed")
        try f.master.close()
        XCTAssertThrowsError(try f.master.execute("CREATE TABLE t(x)")) { error in
            XCTAssertTrue("\(error)".contains("closed"), "the error does not say the master is closed: \(error)")
            XCTAssertFalse("\(error)".contains("out of memory"), "\(error)")
        }
    }
}
