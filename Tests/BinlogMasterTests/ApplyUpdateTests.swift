import BinlogMaster
import Foundation
import LogshipTestSupport
import XCTest

/// The apply engine's UPDATE sets only the columns whose value changed (and the rowid only
/// when it changed), with one prepared statement per changed-column set: a replay must still
/// equal the master whatever the set, storage class and bit pattern changes included.
final class ApplyUpdateTests: XCTestCase {
    func testUpdatesThatChangeOnlyStorageClassBitsOrNothing() throws {
        let f = try MasterFixture("apply-update-kinds")
        let m = f.master
        try m.execute("""
            CREATE TABLE t(id INTEGER PRIMARY KEY, a, b, c);
            CREATE TABLE n(a, b);
            CREATE TABLE w(k TEXT, j INTEGER, v, PRIMARY KEY (k, j)) WITHOUT ROWID;
            CREATE INDEX t_b ON t(b);
            INSERT INTO t VALUES (1, 0.0, 'x', 1), (2, NULL, X'78', 2), (3, 'same', 'same', 3);
            INSERT INTO n VALUES (1, 'one'), (2, 'two');
            INSERT INTO w VALUES ('a', 1, 'v1'), ('b', 2, 'v2');
            """)
        try m.execute("""
            UPDATE t SET a = -0.0 WHERE id = 1;
            UPDATE t SET b = CAST(b AS BLOB) WHERE id = 1;
            UPDATE t SET c = 1.0 WHERE id = 1;
            UPDATE t SET a = '', b = CAST(b AS TEXT) WHERE id = 2;
            UPDATE t SET a = a, b = b WHERE id = 3;
            UPDATE t SET id = 30 WHERE id = 3;
            UPDATE t SET id = 4, a = 'moved' WHERE id = 30;
            UPDATE n SET rowid = 10 WHERE a = 1;
            UPDATE n SET rowid = 11, b = 'two!' WHERE a = 2;
            UPDATE w SET j = 3 WHERE k = 'a';
            UPDATE w SET k = 'c', v = 'v3' WHERE k = 'b';
            UPDATE w SET v = v;
            """)
        try f.assertReplayEquals()
    }

    func testSeededRandomUpdatesOverManyColumnSets() throws {
        var rng = suiteRandom(0xA991_2026)
        let seed = rng.seed
        let f = try MasterFixture("apply-update-random")
        let m = f.master
        let columns = (0..<8).map { "c\($0)" }
        try m.execute("CREATE TABLE r(id INTEGER PRIMARY KEY, \(columns.joined(separator: ", "))); CREATE INDEX r_c0 ON r(c0, c1)")
        let values = ["NULL", "0", "1", "1.0", "-0.0", "'1'", "''", "X''", "X'31'", "'Zoë'", "2.5", "9223372036854775807"]
        for id in 1...40 {
            try m.execute("INSERT INTO r VALUES (\(id), \(columns.map { _ in values.randomElement(using: &rng)! }.joined(separator: ", ")))")
        }
        var ids = Array(1...40)
        var next = 1000
        // Far more distinct changed-column sets (up to 2^8, with or without the rowid) than the
        // engine keeps statements for per table.
        for round in 0..<300 {
            let i = Int.random(in: 0..<ids.count, using: &rng)
            var sets = columns.filter { _ in Bool.random(using: &rng) }.map { "\($0) = \(values.randomElement(using: &rng)!)" }
            if Int.random(in: 0..<5, using: &rng) == 0 {
                sets.append("id = \(next)")
                defer { ids[i] = next; next += 1 }
            }
            if sets.isEmpty { sets = ["c3 = c3"] }
            try m.execute("UPDATE r SET \(sets.joined(separator: ", ")) WHERE id = \(ids[i])")
            if round % 100 == 99 { try f.assertReplayEquals("seed \(seed) (LOGSHIP_SEED=\(seed) to replay), round \(round)") }
        }
    }
}
