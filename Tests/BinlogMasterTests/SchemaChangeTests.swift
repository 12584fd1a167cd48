import BinlogApply
import BinlogFormat
import BinlogMaster
import Foundation
import GRDB
import LogshipTestSupport
import XCTest

/// DDL reaches the binlog as SQL, in order with the row changes around it, and row events
/// after a schema change carry the new table descriptor.
final class SchemaChangeTests: XCTestCase {
    func testEachSchemaChangeIsOneDDLEventAndReplays() throws {
        let f = try MasterFixture("ddl")
        let m = f.master

        /// Runs one DDL statement and checks it got its own LSN holding just that statement.
        func ddl(_ sql: String, file: StaticString = #filePath, line: UInt = #line) throws {
            let commits = try m.execute(sql)
            XCTAssertEqual(commits.count, 1, "\(sql) should get one LSN", file: file, line: line)
            guard let commit = commits.first else { return }
            let tx = try f.transaction(commit.lsn, file: file, line: line)
            XCTAssertEqual(tx.labels, ["ddl"], sql, file: file, line: line)
            XCTAssertEqual(tx.events.first?.ddlSQL?.trimmingCharacters(in: CharacterSet(charactersIn: " ;\n")), sql, file: file, line: line)
        }

        try ddl("CREATE TABLE items(id INTEGER PRIMARY KEY, name TEXT NOT NULL)")
        try m.execute("INSERT INTO items(name) VALUES ('bolt'), ('nut')")

        try ddl("ALTER TABLE items ADD COLUMN price REAL DEFAULT 1.5")
        let afterAdd = try XCTUnwrap(m.execute("INSERT INTO items(name, price) VALUES ('screw', 0.25)").first)
        guard case .insert(let widened, _, let values) = try XCTUnwrap(f.transaction(afterAdd.lsn).events.first) else { return XCTFail("expected an insert") }
        XCTAssertEqual(widened.columns.map(\.name), ["id", "name", "price"])
        XCTAssertEqual(values, [.integer(3), .text("screw"), .real(0.25)])
        try m.execute("UPDATE items SET price = 2.5 WHERE name = 'bolt'")

        try ddl("ALTER TABLE items RENAME COLUMN name TO title")
        let afterRename = try XCTUnwrap(m.execute("INSERT INTO items(title) VALUES ('washer')").first)
        XCTAssertEqual(try f.transaction(afterRename.lsn).events.first.flatMap { event -> [String]? in
            if case .insert(let t, _, _) = event { return t.columns.map(\.name) } else { return nil }
        }, ["id", "title", "price"])

        try ddl("CREATE INDEX items_title ON items(title)")
        try ddl("CREATE UNIQUE INDEX items_price_title ON items(price, title)")
        try ddl("DROP INDEX items_title")
        try ddl("CREATE VIEW cheap_items AS SELECT title FROM items WHERE price < 2")

        let ctas = try XCTUnwrap(m.execute("CREATE TABLE cheap AS SELECT id, title, price FROM items WHERE price < 2").first)
        let ctasTx = try f.transaction(ctas.lsn)
        // Logged as the table's plain definition, then its rows: a replica never re-runs the SELECT.
        XCTAssertEqual(ctasTx.events.first?.ddlSQL, "CREATE TABLE cheap(id INT,title TEXT,price REAL)",
                       "the table must be created before anything is written to it")
        XCTAssertEqual(ctasTx.events.dropFirst().map { $0.tableName }, ["cheap", "cheap", "cheap"])
        XCTAssertEqual(try m.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM cheap") }, 3, "nut (default 1.5), screw and washer")

        try ddl("CREATE TABLE gone(x)")
        try m.execute("INSERT INTO gone VALUES (1), (2)")
        try ddl("DROP TABLE gone")
        try ddl("ALTER TABLE items RENAME TO products")
        try m.execute("INSERT INTO products(title, price) VALUES ('rivet', 0.1); UPDATE products SET price = price * 2")

        try f.assertReplayEquals()
        XCTAssertNil(try TableDigest.digest(path: f.databasePath)["gone"])
    }

    func testSchemaChangesInsideOneTransactionKeepTheirOrder() throws {
        let f = try MasterFixture("ddl-tx")
        let m = f.master
        let commits = try m.execute("""
            BEGIN;
            CREATE TABLE x(id INTEGER PRIMARY KEY, a TEXT);
            INSERT INTO x(a) VALUES ('one');
            ALTER TABLE x ADD COLUMN b INTEGER;
            INSERT INTO x(a, b) VALUES ('two', 2);
            UPDATE x SET b = 1 WHERE id = 1;
            CREATE INDEX x_b ON x(b);
            COMMIT;
            """)
        XCTAssertEqual(commits.count, 1)
        let tx = try f.transaction(try XCTUnwrap(commits.first).lsn)
        XCTAssertEqual(tx.labels, ["ddl", "insert x", "ddl", "insert x", "update x", "ddl"])
        guard case .insert(let before, _, let v1) = tx.events[1], case .insert(let after, _, let v2) = tx.events[3],
              case .update(_, _, _, let old, let new) = tx.events[4] else { return XCTFail("unexpected events \(tx.events)") }
        XCTAssertEqual(before.columns.count, 2)
        XCTAssertEqual(v1, [.integer(1), .text("one")])
        XCTAssertEqual(after.columns.count, 3)
        XCTAssertEqual(v2, [.integer(2), .text("two"), .integer(2)])
        XCTAssertEqual(old, [.integer(1), .text("one"), .null])
        XCTAssertEqual(new, [.integer(1), .text("one"), .integer(1)])
        try f.assertReplayEquals()
    }

    func testDroppingAParentTableLogsTheCascadeBeforeTheDrop() throws {
        let f = try MasterFixture("ddl-drop-parent")
        let m = f.master
        try m.execute("""
            CREATE TABLE parent(id INTEGER PRIMARY KEY);
            CREATE TABLE child(id INTEGER PRIMARY KEY, parent_id REFERENCES parent(id) ON DELETE CASCADE);
            INSERT INTO parent VALUES (1), (2);
            INSERT INTO child VALUES (10, 1), (11, 2), (12, NULL);
            """)
        let drop = try XCTUnwrap(m.execute("DROP TABLE parent").first)
        let tx = try f.transaction(drop.lsn)
        XCTAssertEqual(tx.labels.last, "ddl")
        XCTAssertEqual(tx.labels.filter { $0 == "delete child" }.count, 2)
        XCTAssertEqual(try m.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM child") }, 1)
        try f.assertReplayEquals()
    }
}
