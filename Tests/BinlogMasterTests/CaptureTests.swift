import BinlogApply
import BinlogFormat
import BinlogMaster
import Foundation
import GRDB
import LogshipTestSupport
import XCTest

/// Capture completeness: every row change the master makes reaches the binlog, whatever
/// made it (a trigger, a cascade, REPLACE, a multi-row statement), with the values SQLite
/// actually stored; and replaying the binlog gives the master's tables.
final class CaptureTests: XCTestCase {
    func testRowsWrittenByTriggersAreCaptured() throws {
        let f = try MasterFixture("capture-trigger")
        let m = f.master
        try m.execute("""
            CREATE TABLE orders(id INTEGER PRIMARY KEY, item TEXT NOT NULL, qty INTEGER);
            CREATE TABLE audit(id INTEGER PRIMARY KEY, order_id INTEGER, note TEXT, at TEXT, salt INTEGER);
            CREATE TRIGGER orders_created AFTER INSERT ON orders BEGIN
              INSERT INTO audit(order_id, note, at, salt)
              VALUES (NEW.id, 'created ' || NEW.item, strftime('%Y-%m-%d %H:%M:%f', 'now'), random());
            END;
            CREATE TRIGGER orders_changed AFTER UPDATE OF qty ON orders BEGIN
              INSERT INTO audit(order_id, note, at, salt) VALUES (NEW.id, 'qty ' || OLD.qty || '->' || NEW.qty, NULL, random());
            END;
            """)
        let inserted = try m.execute("INSERT INTO orders(item, qty) VALUES ('apple', 3), ('pear', 5)")
        XCTAssertEqual(inserted.count, 1)
        let tx = try f.transaction(try XCTUnwrap(inserted.first).lsn)
        XCTAssertEqual(tx.labels, ["insert orders", "insert audit", "insert orders", "insert audit"])
        XCTAssertEqual(inserted.first?.events, 4)

        let updated = try m.execute("UPDATE orders SET qty = qty + 1")
        XCTAssertEqual(try f.transaction(try XCTUnwrap(updated.first).lsn).labels,
                       ["update orders", "insert audit", "update orders", "insert audit"])

        // The audit rows in the binlog are the ones the trigger stored (random() and 'now' included).
        let stored = try m.read { db in try Row.fetchAll(db, sql: "SELECT id, order_id, note, at, salt FROM audit ORDER BY id") }
        let logged = try f.transactions().flatMap(\.events).filter { $0.label == "insert audit" }.compactMap(\.newValues)
        XCTAssertEqual(logged.count, 4)
        XCTAssertEqual(stored.count, 4)
        for (row, values) in zip(stored, logged) {
            XCTAssertEqual(values, [.integer(row[0]), .integer(row[1]), .text(row[2] as String),
                                    (row[3] as String?).map { Value.text($0) } ?? .null, .integer(row[4])])
        }
        // The replica must not fire the triggers again: replay gives exactly 4 audit rows.
        try f.assertReplayEquals()
    }

    func testInsertOrReplaceAndUpsertAreCaptured() throws {
        let f = try MasterFixture("capture-upsert")
        let m = f.master
        try m.execute("""
            CREATE TABLE kv(k TEXT PRIMARY KEY, v INTEGER, n INTEGER NOT NULL DEFAULT 0);
            CREATE TABLE person(id INTEGER PRIMARY KEY, email TEXT UNIQUE, name TEXT);
            INSERT INTO kv VALUES ('a', 1, 0), ('b', 2, 0);
            INSERT INTO person VALUES (1, 'x@example.org', 'old'), (2, 'y@example.org', 'other');
            """)

        let replace = try XCTUnwrap(m.execute("INSERT OR REPLACE INTO kv VALUES ('a', 10, 5)").first)
        let replaceTx = try f.transaction(replace.lsn)
        XCTAssertEqual(replaceTx.labels, ["delete kv", "insert kv"])
        XCTAssertEqual(replaceTx.events[0].oldValues, [.text("a"), .integer(1), .integer(0)])
        XCTAssertEqual(replaceTx.events[1].newValues, [.text("a"), .integer(10), .integer(5)])

        let upsert = try XCTUnwrap(m.execute("""
            INSERT INTO kv(k, v) VALUES ('b', 20), ('c', 30)
              ON CONFLICT(k) DO UPDATE SET v = excluded.v, n = n + 1
            """).first)
        let upsertTx = try f.transaction(upsert.lsn)
        XCTAssertEqual(upsertTx.labels, ["update kv", "insert kv"])
        XCTAssertEqual(upsertTx.events[0].oldValues, [.text("b"), .integer(2), .integer(0)])
        XCTAssertEqual(upsertTx.events[0].newValues, [.text("b"), .integer(20), .integer(1)])
        XCTAssertEqual(upsertTx.events[1].newValues, [.text("c"), .integer(30), .integer(0)])

        // A UNIQUE conflict on another column replaces a row with a different rowid.
        let unique = try XCTUnwrap(m.execute("REPLACE INTO person(id, email, name) VALUES (5, 'x@example.org', 'new')").first)
        let uniqueTx = try f.transaction(unique.lsn)
        XCTAssertEqual(uniqueTx.labels, ["delete person", "insert person"])
        guard case .delete(_, let oldRowid, _) = uniqueTx.events[0], case .insert(_, let newRowid, _) = uniqueTx.events[1] else {
            return XCTFail("unexpected events \(uniqueTx.events)")
        }
        XCTAssertEqual(oldRowid, 1)
        XCTAssertEqual(newRowid, 5)

        // A rowid conflict (INTEGER PRIMARY KEY) with REPLACE.
        let rowidReplace = try XCTUnwrap(m.execute("INSERT OR REPLACE INTO person VALUES (2, 'z@example.org', 'newer')").first)
        XCTAssertEqual(try f.transaction(rowidReplace.lsn).labels, ["delete person", "insert person"])

        // DO NOTHING on conflict changes nothing and gets no LSN.
        let before = m.lastLSN
        XCTAssertEqual(try m.execute("INSERT INTO kv VALUES ('a', 99, 9) ON CONFLICT DO NOTHING").count, 0)
        XCTAssertEqual(m.lastLSN, before)
        try f.assertReplayEquals()
    }

    func testForeignKeyCascadesAreCaptured() throws {
        let f = try MasterFixture("capture-cascade")
        let m = f.master
        try m.execute("""
            CREATE TABLE author(id INTEGER PRIMARY KEY, name TEXT);
            CREATE TABLE book(id INTEGER PRIMARY KEY, author_id INTEGER REFERENCES author(id) ON DELETE CASCADE ON UPDATE CASCADE, title TEXT);
            CREATE TABLE review(id INTEGER PRIMARY KEY, book_id INTEGER REFERENCES book(id) ON DELETE CASCADE, stars INTEGER);
            INSERT INTO author VALUES (1, 'Ada'), (2, 'Brontë');
            INSERT INTO book VALUES (10, 1, 'Notes'), (11, 1, 'Letters'), (12, 2, 'Jane Eyre');
            INSERT INTO review VALUES (100, 10, 5), (101, 10, 4), (102, 11, 3), (103, 12, 5);
            """)
        let delete = try XCTUnwrap(m.execute("DELETE FROM author WHERE id = 1").first)
        let deleteTx = try f.transaction(delete.lsn)
        XCTAssertEqual(countLabels(deleteTx), ["delete author": 1, "delete book": 2, "delete review": 3])
        XCTAssertEqual(try m.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM review") }, 1, "the cascade did not run on the master")

        let rekey = try XCTUnwrap(m.execute("UPDATE author SET id = 20 WHERE id = 2").first)
        let rekeyTx = try f.transaction(rekey.lsn)
        XCTAssertEqual(countLabels(rekeyTx), ["update author": 1, "update book": 1])
        let bookUpdate = try XCTUnwrap(rekeyTx.events.first { $0.label == "update book" })
        XCTAssertEqual(bookUpdate.newValues, [.integer(12), .integer(20), .text("Jane Eyre")])
        try f.assertReplayEquals()
    }

    func testMultiRowStatementsLogEveryRow() throws {
        var rng = suiteRandom(0x0C0F_FEE1)
        let f = try MasterFixture("capture-multirow")
        let m = f.master
        try m.execute("CREATE TABLE t(id INTEGER PRIMARY KEY, v INTEGER, s TEXT)")
        let values = (1...20).map { i in "(\(i), \(Int64.random(in: -1_000_000...1_000_000, using: &rng)), 'row \(UInt32.random(in: 0...UInt32.max, using: &rng))')" }
        let insert = try XCTUnwrap(m.execute("INSERT INTO t VALUES " + values.joined(separator: ", ")).first)
        XCTAssertEqual(insert.events, 20, "seed \(rng.seed)")
        XCTAssertEqual(try f.transaction(insert.lsn).labels, Array(repeating: "insert t", count: 20), "seed \(rng.seed)")

        let update = try XCTUnwrap(m.execute("UPDATE t SET v = v * 2, s = s || '!' WHERE id % 2 = 0").first)
        let updateTx = try f.transaction(update.lsn)
        XCTAssertEqual(updateTx.labels, Array(repeating: "update t", count: 10), "seed \(rng.seed)")
        for event in updateTx.events {
            guard case .update(_, let oldRowid, let newRowid, let old, let new) = event else { continue }
            XCTAssertEqual(oldRowid, newRowid)
            guard case .integer(let before) = old[1], case .integer(let after) = new[1] else { return XCTFail("not integers: \(event)") }
            XCTAssertEqual(after, before * 2, "seed \(rng.seed)")
        }

        let delete = try XCTUnwrap(m.execute("DELETE FROM t WHERE id > 15").first)
        let deleteTx = try f.transaction(delete.lsn)
        XCTAssertEqual(deleteTx.labels, Array(repeating: "delete t", count: 5))
        XCTAssertEqual(Set(deleteTx.events.compactMap { event -> Int64? in
            if case .delete(_, let rowid, _) = event { return rowid } else { return nil }
        }), Set(16...20))
        try f.assertReplayEquals("seed \(rng.seed)")
    }

    func testUpdateThatChangesIntegerPrimaryKey() throws {
        let f = try MasterFixture("capture-rekey")
        let m = f.master
        try m.execute("CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT); INSERT INTO t VALUES (1, 'a'), (2, 'b'), (3, 'c')")
        let shift = try XCTUnwrap(m.execute("UPDATE t SET id = id + 100").first)
        let shiftTx = try f.transaction(shift.lsn)
        XCTAssertEqual(shiftTx.labels, ["update t", "update t", "update t"])
        var moves: [Int64: Int64] = [:]
        for event in shiftTx.events {
            if case .update(_, let oldRowid?, let newRowid?, let old, let new) = event {
                moves[oldRowid] = newRowid
                XCTAssertEqual(old[0], .integer(oldRowid))
                XCTAssertEqual(new[0], .integer(newRowid))
            }
        }
        XCTAssertEqual(moves, [1: 101, 2: 102, 3: 103])
        try m.execute("UPDATE t SET id = 7 WHERE id = 101")
        try m.execute("UPDATE t SET v = 'moved' WHERE id = 7")
        try m.execute("DELETE FROM t WHERE id = 102")
        try f.assertReplayEquals()
    }

    func testTextPrimaryKeyAndWithoutRowidTables() throws {
        let f = try MasterFixture("capture-keys")
        let m = f.master
        try m.execute("""
            CREATE TABLE code(code TEXT PRIMARY KEY, label TEXT);
            CREATE TABLE stock(region TEXT, n INTEGER, qty, PRIMARY KEY(region, n)) WITHOUT ROWID;
            INSERT INTO code VALUES ('EUR', 'euro'), ('NOK', 'krone');
            INSERT INTO stock VALUES ('north', 1, 10), ('north', 2, 20), ('süd', 1, 30);
            """)
        // TEXT PRIMARY KEY is a rowid table: events carry the rowid, and a key change is an update.
        let rekey = try XCTUnwrap(m.execute("UPDATE code SET code = 'SEK' WHERE code = 'NOK'").first)
        guard case .update(let table, let oldRowid, let newRowid, let old, let new) = try XCTUnwrap(f.transaction(rekey.lsn).events.first) else {
            return XCTFail("expected an update")
        }
        XCTAssertFalse(table.withoutRowid)
        XCTAssertNil(table.rowidAliasColumn)
        XCTAssertEqual(oldRowid, 2)
        XCTAssertEqual(newRowid, 2)
        XCTAssertEqual(old, [.text("NOK"), .text("krone")])
        XCTAssertEqual(new, [.text("SEK"), .text("krone")])

        // WITHOUT ROWID, composite key: no rowids, key columns in the descriptor, key changes too.
        let move = try XCTUnwrap(m.execute("UPDATE stock SET n = 5 WHERE region = 'north' AND n = 2").first)
        guard case .update(let stock, let r1, let r2, let sOld, let sNew) = try XCTUnwrap(f.transaction(move.lsn).events.first) else {
            return XCTFail("expected an update")
        }
        XCTAssertTrue(stock.withoutRowid)
        XCTAssertEqual(stock.primaryKeyColumns, [0, 1])
        XCTAssertNil(r1)
        XCTAssertNil(r2)
        XCTAssertEqual(sOld, [.text("north"), .integer(2), .integer(20)])
        XCTAssertEqual(sNew, [.text("north"), .integer(5), .integer(20)])

        try m.execute("""
            UPDATE stock SET region = 'nord' WHERE region = 'north';
            UPDATE stock SET qty = qty * 3;
            DELETE FROM stock WHERE n = 1 AND region = 'süd';
            INSERT INTO stock VALUES ('süd', 1, 99);
            DELETE FROM code WHERE code = 'EUR';
            INSERT INTO code VALUES ('EUR', 'euro again');
            """)
        try f.assertReplayEquals()
    }

    func testRowidTableWithoutDeclaredPrimaryKey() throws {
        let f = try MasterFixture("capture-plain")
        let m = f.master
        try m.execute("CREATE TABLE plain(a, b)")
        // Identical rows are told apart only by their rowids.
        let insert = try XCTUnwrap(m.execute("INSERT INTO plain VALUES ('same', 1), ('same', 1), ('other', 2)").first)
        let rowids = try f.transaction(insert.lsn).events.map { event -> Int64? in
            if case .insert(_, let rowid, _) = event { return rowid } else { return nil }
        }
        XCTAssertEqual(rowids, [1, 2, 3])
        let delete = try XCTUnwrap(m.execute("DELETE FROM plain WHERE rowid = 2").first)
        guard case .delete(_, let deleted, let old) = try XCTUnwrap(f.transaction(delete.lsn).events.first) else { return XCTFail("expected a delete") }
        XCTAssertEqual(deleted, 2)
        XCTAssertEqual(old, [.text("same"), .integer(1)])
        let move = try XCTUnwrap(m.execute("UPDATE plain SET rowid = 50, b = 3 WHERE rowid = 3").first)
        guard case .update(_, let from, let to, _, _) = try XCTUnwrap(f.transaction(move.lsn).events.first) else { return XCTFail("expected an update") }
        XCTAssertEqual(from, 3)
        XCTAssertEqual(to, 50)
        try m.execute("INSERT INTO plain VALUES ('after', 4); UPDATE plain SET a = 'first' WHERE rowid = 1")
        try f.assertReplayEquals()
    }

    func testNonDeterministicSQLIsLoggedAsProduced() throws {
        let f = try MasterFixture("capture-nondeterministic")
        let m = f.master
        try m.execute("""
            CREATE TABLE nd(id INTEGER PRIMARY KEY, r INTEGER, ts TEXT, b BLOB,
              d TEXT DEFAULT (strftime('%Y-%m-%d %H:%M:%f', 'now')),
              u TEXT DEFAULT (lower(hex(randomblob(8)))))
            """)
        try m.execute("INSERT INTO nd(r, ts, b) SELECT random(), datetime('now'), randomblob(16) FROM (VALUES (1), (2), (3), (4), (5))")
        try m.execute("UPDATE nd SET r = random(), b = randomblob(4) WHERE id % 2 = 0")
        try m.execute("INSERT INTO nd(id, r) VALUES (100, abs(random()) % 1000)")

        // The binlog holds the values the master stored, row for row.
        var image: [Int64: [Value]] = [:]
        for event in try f.transactions().flatMap(\.events) {
            guard event.tableName == "nd" else { continue }
            if case .insert(_, let rowid?, let values) = event { image[rowid] = values }
            if case .update(_, _, let rowid?, _, let values) = event { image[rowid] = values }
        }
        let stored = try m.read { db in try Row.fetchAll(db, sql: "SELECT id, r, ts, b, d, u FROM nd ORDER BY id") }
        XCTAssertEqual(stored.count, 6)
        for row in stored {
            let id: Int64 = row[0]
            let expected: [Value] = row.databaseValues.map(Self.value)
            XCTAssertEqual(image[id], expected, "row \(id)")
        }
        XCTAssertEqual(Set(stored.map { $0[1] as Int64 }).count, 6, "random() gave equal values: the check is too weak")
        try f.assertReplayEquals()
    }

    func testValueFidelity() throws {
        let f = try MasterFixture("capture-values")
        let m = f.master
        try m.execute("CREATE TABLE vals(id INTEGER PRIMARY KEY, i INTEGER, r REAL, any_col, t TEXT, b BLOB)")
        let text = "Grüße, 日本語, emoji 🎉, ﷽"
        let info = try XCTUnwrap(m.transaction { tx in
            try tx.execute("INSERT INTO vals VALUES (?, ?, ?, ?, ?, ?)",
                           arguments: [1, Int64.min, -1.5e-300, -0.0, text, Data([0, 1, 2, 255])])
            try tx.execute("INSERT INTO vals VALUES (?, ?, ?, ?, ?, ?)",
                           arguments: [2, Int64.max, 1.0e308, Int64.min, "", Data()])
            try tx.execute("INSERT INTO vals VALUES (3, NULL, NULL, NULL, NULL, NULL)")
            // Bytes that are not valid UTF-8, and an embedded NUL, stored as TEXT.
            try tx.execute("INSERT INTO vals VALUES (4, 0, 3.0, 3.0, CAST(x'61006200FF' AS TEXT), x'')")
            try tx.execute("INSERT INTO vals VALUES (5, -1, -0.0, '12', '0042', 1.25)")
        })
        XCTAssertEqual(info.events, 5)
        let tx = try f.transaction(info.lsn)
        XCTAssertEqual(tx.events[0].newValues, [.integer(1), .integer(.min), .real(-1.5e-300), .real(-0.0), .text(text), .blob(Data([0, 1, 2, 255]))])
        XCTAssertEqual(tx.events[1].newValues, [.integer(2), .integer(.max), .real(1.0e308), .integer(.min), .text(""), .blob(Data())])
        XCTAssertEqual(tx.events[2].newValues, [.integer(3), .null, .null, .null, .null, .null])
        XCTAssertEqual(tx.events[3].newValues?[4], .text(Data([0x61, 0x00, 0x62, 0x00, 0xFF])))
        XCTAssertEqual(tx.events[3].newValues?[3], .real(3.0), "a REAL in an untyped column stays REAL")
        if case .real(let z) = tx.events[0].newValues?[3] {
            XCTAssertEqual(z.sign, .minus, "-0.0 lost its sign in the binlog")
        }

        // Byte for byte on the replica: hex of every text and blob, storage class, and REAL bits.
        try f.assertReplayEquals()
        let replica = f.dir.sub("values-replica.db")
        try BinlogReplay.replay(binlogPath: f.binlogPath, into: replica)
        let probe = """
            SELECT id, typeof(i), i, typeof(r), typeof(any_col), typeof(t), hex(t), typeof(b), hex(b), length(t), length(b) FROM vals ORDER BY id
            """
        let queue = try DatabaseQueue(path: replica)
        let onReplica = try queue.read { db in try Row.fetchAll(db, sql: probe).map(\.description) }
        let realsOnReplica = try queue.read { db in try Row.fetchAll(db, sql: "SELECT r, any_col FROM vals ORDER BY id").map(Self.realBits) }
        try queue.close()
        let onMaster = try m.read { db in try Row.fetchAll(db, sql: probe).map(\.description) }
        let realsOnMaster = try m.read { db in try Row.fetchAll(db, sql: "SELECT r, any_col FROM vals ORDER BY id").map(Self.realBits) }
        XCTAssertEqual(onReplica, onMaster)
        XCTAssertEqual(realsOnReplica, realsOnMaster)
        XCTAssertTrue(realsOnMaster[0].contains(String((-0.0).bitPattern)), "the master itself lost -0.0: \(realsOnMaster[0])")
    }

    func testFiftyMiBBlobRoundTripsThroughTheBinlog() throws {
        var rng = suiteRandom(0xB10B)
        let blob = randomBytes(50 << 20, &rng)
        let f = try MasterFixture("capture-blob")
        let m = f.master
        try m.execute("CREATE TABLE blobs(id INTEGER PRIMARY KEY, name TEXT, data BLOB)")
        let info = try XCTUnwrap(m.transaction { tx in
            try tx.execute("INSERT INTO blobs(id, name, data) VALUES (?, ?, ?)", arguments: [1, "big", blob])
        })
        XCTAssertEqual(info.events, 1)
        XCTAssertGreaterThan(try f.binlogBytes(), Int64(50 << 20), "an incompressible 50 MiB blob cannot take less room")
        let tx = try f.transaction(info.lsn)
        XCTAssertEqual(tx.events.count, 1)
        guard case .insert(let table, let rowid, let values) = tx.events[0] else { return XCTFail("expected an insert") }
        XCTAssertEqual(table.name, "blobs")
        XCTAssertEqual(rowid, 1)
        XCTAssertEqual(values.count, 3)
        XCTAssertEqual(values[1], .text("big"))
        guard case .blob(let logged) = values[2] else { return XCTFail("expected a blob, got \(values[2])") }
        XCTAssertEqual(logged.count, blob.count)
        XCTAssertTrue(logged == blob, "the decoded blob differs from the one inserted (seed \(rng.seed))")
        try f.assertReplayEquals("seed \(rng.seed)")
    }

    // MARK: -

    private func countLabels(_ tx: Transaction) -> [String: Int] {
        tx.labels.reduce(into: [:]) { $0[$1, default: 0] += 1 }
    }

    static func value(_ v: DatabaseValue) -> Value {
        switch v.storage {
        case .null: return .null
        case .int64(let i): return .integer(i)
        case .double(let d): return .real(d)
        case .string(let s): return .text(s)
        case .blob(let b): return .blob(b)
        }
    }

    static func realBits(_ row: Row) -> String {
        row.databaseValues.map { v -> String in
            if case .double(let d) = v.storage { return String(d.bitPattern) }
            return v.description
        }.joined(separator: "|")
    }
}

/// The seeded generator of a test: LOGSHIP_SEED from the environment replays a failure,
/// otherwise a fixed default keeps the suite deterministic.
func suiteRandom(_ defaultSeed: UInt64) -> SeededRandom {
    SeededRandom(seed: ProcessInfo.processInfo.environment["LOGSHIP_SEED"].flatMap(UInt64.init) ?? defaultSeed)
}
