import Foundation

/// A seeded workload for the whole-pipeline tests, one transaction at a time, on several tables:
/// inserts, updates that change primary keys (with an ON UPDATE CASCADE child and in a WITHOUT
/// ROWID table), deletes (cascading, and firing a trigger), multi-row statements, multi-statement
/// transactions with savepoints, upserts and REPLACE, NULLs, reals, non-ASCII text, small and
/// large BLOBs (a few MiB, on a rowid table without an alias), schema changes at fixed points
/// (ALTER TABLE ADD COLUMN, CREATE INDEX, CREATE TABLE), statements that change nothing (no
/// LSN), and transactions that fail (exit 10, nothing logged).
public struct PipelineWorkload {
    /// One transaction: its SQL, what it exercises, and whether `binlog-writer exec` must refuse it.
    public struct Transaction {
        public var sql: String
        public var kind: String
        public var fails = false
        /// Statements with a condition may match no row: then nothing is logged and no LSN is used.
        public var mayChangeNothing: Bool { ["no-change", "without-rowid-key-change", "multi-row-update", "multi-row-delete", "blob-update", "blob-delete"].contains(kind) }
    }

    public static let schema: [String] = [
        "CREATE TABLE people (id INTEGER PRIMARY KEY, name TEXT NOT NULL, email TEXT UNIQUE, score REAL, photo BLOB);",
        """
        CREATE TABLE orders (id INTEGER PRIMARY KEY AUTOINCREMENT, person INTEGER NOT NULL REFERENCES people (id) ON UPDATE CASCADE ON DELETE CASCADE,
          amount INTEGER NOT NULL, note TEXT);
        """,
        "CREATE TABLE tags (name TEXT PRIMARY KEY, uses INTEGER NOT NULL DEFAULT 0, weight REAL) WITHOUT ROWID;",
        "CREATE TABLE audit (seq INTEGER PRIMARY KEY, person INTEGER, what TEXT NOT NULL);",
        "CREATE TABLE files (name TEXT NOT NULL, content BLOB, size INTEGER);",
        """
        CREATE TRIGGER people_score AFTER UPDATE OF score ON people BEGIN
          INSERT INTO audit (person, what) VALUES (new.id, 'score ' || coalesce(old.score, 'NULL') || ' → ' || coalesce(new.score, 'NULL'));
        END;
        """,
        "CREATE TRIGGER people_gone AFTER DELETE ON people BEGIN INSERT INTO audit (person, what) VALUES (old.id, 'gone: ' || old.name); END;",
    ]

    private var rng: SeededRandom
    private let length: Int
    private var index = 0
    private var people: [Int64] = []
    private var nextID: Int64 = 1
    private var nickname = false
    private var late = false
    private let bigBlob: Int

    /// `length` transactions after the schema; the big BLOB is 1–3 MiB.
    public init(seed: UInt64, length: Int) {
        rng = SeededRandom(seed: seed)
        self.length = length
        bigBlob = Int.random(in: 1...3, using: &rng) << 20
    }

    private mutating func int(_ range: ClosedRange<Int>) -> Int { Int.random(in: range, using: &rng) }
    private mutating func chance(_ p: Double) -> Bool { Double.random(in: 0..<1, using: &rng) < p }
    private mutating func person() -> Int64 { people[int(0...people.count - 1)] }

    private mutating func text() -> String {
        let words = ["Zoë", "Łukasz", "山田 太郎", "O''Brien", "Ana", "Émile", "Ngozi", "Ørsted", "Алёна", "🎉 party", "tab\there", "line\nbreak"]
        return words[int(0...words.count - 1)] + " \(index)"
    }

    /// The next transaction (the schema first, one statement each).
    public mutating func next() -> Transaction? {
        defer { index += 1 }
        if index < Self.schema.count { return Transaction(sql: Self.schema[index], kind: "schema") }
        let i = index - Self.schema.count
        guard i < length else { return nil }
        if let scheduled = scheduled(i) { return scheduled }
        if people.count < 5 { return insertPerson() }
        return random()
    }

    /// Schema changes and the big BLOB's life, at fixed fractions of the run.
    private mutating func scheduled(_ i: Int) -> Transaction? {
        switch i {
        case length / 4:
            nickname = true
            return Transaction(sql: "ALTER TABLE people ADD COLUMN nickname TEXT DEFAULT 'ß';", kind: "alter-add-column")
        case length / 3:
            return Transaction(sql: "INSERT INTO files (name, content, size) VALUES ('big', randomblob(\(bigBlob)), \(bigBlob));", kind: "big-blob")
        case length / 2:
            return Transaction(sql: "CREATE INDEX orders_by_amount ON orders (amount, person);", kind: "create-index")
        case length * 3 / 5:
            late = true
            return Transaction(sql: "BEGIN; CREATE TABLE late (k INTEGER PRIMARY KEY, v TEXT, b BLOB); INSERT INTO late VALUES (1, 'ü', x'00ff'); COMMIT;",
                               kind: "create-table")
        case length * 2 / 3:
            return Transaction(sql: "UPDATE files SET content = randomblob(\(1 << 20)), size = \(1 << 20) WHERE name = 'big';", kind: "big-blob-update")
        case length * 9 / 10:
            return Transaction(sql: "DELETE FROM files WHERE name = 'big';", kind: "big-blob-delete")
        default:
            return nil
        }
    }

    private mutating func insertPerson() -> Transaction {
        let id = nextID
        nextID += 1
        people.append(id)
        let email = chance(0.3) ? "NULL" : "'p\(id)@exämple.org'"
        let score = chance(0.2) ? "NULL" : "\(Double(int(0...100_000)) / 7.0)"
        let photo = chance(0.5) ? "NULL" : "randomblob(\(int(0...3000)))"
        let nick = nickname ? (chance(0.5) ? ", NULL" : ", 'n\(id)'") : ""
        return Transaction(sql: "INSERT INTO people (id, name, email, score, photo\(nickname ? ", nickname" : "")) VALUES (\(id), '\(text())', \(email), \(score), \(photo)\(nick));",
                           kind: "insert")
    }

    /// One roll from each kind's range below: the first rolls go through all of them, in a
    /// seeded order, so that every run exercises every kind; then rolls are random.
    private static let everyKind = [0, 16, 26, 31, 36, 50, 60, 68, 71, 74, 78, 81, 86, 89, 91, 94, 96]
    private lazy var coverage: [Int] = Self.everyKind.shuffled(using: &rng)

    /// Kinds every run must have logged (or, for "failing", had refused).
    public static let requiredKinds = ["insert", "update-trigger", "key-change", "delete-cascade", "multi-row-insert", "multi-statement", "upsert",
                                "replace", "blob", "failing", "alter-add-column", "big-blob", "create-index", "create-table",
                                "big-blob-update", "big-blob-delete"]

    private mutating func random() -> Transaction {
        let roll = coverage.isEmpty ? int(0...99) : coverage.removeFirst()
        switch roll {
        case 0..<16: return insertPerson()
        case 16..<26:
            return Transaction(sql: "UPDATE people SET score = \(chance(0.2) ? "NULL" : "score + 1.5") WHERE id = \(person());", kind: "update-trigger")
        case 26..<31: return changeKey()
        case 31..<36: return deletePerson()
        case 36..<50:
            let rows = (0..<int(2...4)).map { _ in "(\(person()), \(int(-500...5000)), \(chance(0.3) ? "NULL" : "'\(text())'"))" }
            return Transaction(sql: "INSERT INTO orders (person, amount, note) VALUES \(rows.joined(separator: ", "));", kind: "multi-row-insert")
        case 50..<60: return multiStatement()
        case 60..<68:
            let tag = "t\(int(0...30))"
            return Transaction(sql: "INSERT INTO tags (name, uses, weight) VALUES ('\(tag)', 1, \(Double(index) / 3)) ON CONFLICT (name) DO UPDATE SET uses = uses + 1, weight = excluded.weight;",
                               kind: "upsert")
        case 68..<71:
            let tag = "t\(int(0...30))"
            return Transaction(sql: "UPDATE tags SET name = name || '′' WHERE name = '\(tag)' AND NOT EXISTS (SELECT 1 FROM tags WHERE name = '\(tag)′');",
                               kind: "without-rowid-key-change")
        case 71..<74: return Transaction(sql: "REPLACE INTO tags (name, uses, weight) VALUES ('t\(int(0...30))', \(int(0...9)), NULL);", kind: "replace")
        case 74..<78:
            return Transaction(sql: "UPDATE orders SET amount = amount + 1, note = NULL WHERE person % 3 = \(int(0...2));", kind: "multi-row-update")
        case 78..<81: return Transaction(sql: "DELETE FROM orders WHERE amount % 7 = \(int(0...6));", kind: "multi-row-delete")
        case 81..<86:
            let size = int(0...20_000)
            return Transaction(sql: "INSERT INTO files (name, content, size) VALUES ('名前-\(index).bin', randomblob(\(size)), \(size));", kind: "blob")
        case 86..<89:
            return Transaction(sql: "UPDATE files SET content = zeroblob(\(int(0...5000))), size = NULL WHERE rowid = (SELECT min(rowid) FROM files WHERE name <> 'big');",
                               kind: "blob-update")
        case 89..<91: return Transaction(sql: "DELETE FROM files WHERE rowid = (SELECT max(rowid) FROM files WHERE name <> 'big');", kind: "blob-delete")
        case 91..<94: return Transaction(sql: "UPDATE people SET name = 'nobody' WHERE id < 0;", kind: "no-change")
        case 94..<96: return failing()
        default:
            guard late else { return insertPerson() }
            return Transaction(sql: "INSERT INTO late (v, b) VALUES ('\(text())', \(chance(0.5) ? "NULL" : "x'c3a9'"));", kind: "late-insert")
        }
    }

    /// An UPDATE of a primary key: the orders follow through ON UPDATE CASCADE.
    private mutating func changeKey() -> Transaction {
        let at = int(0...people.count - 1)
        let old = people[at], new = nextID
        nextID += 1
        people[at] = new
        return Transaction(sql: "UPDATE people SET id = \(new) WHERE id = \(old);", kind: "key-change")
    }

    /// A DELETE that cascades to orders and fires the audit trigger.
    private mutating func deletePerson() -> Transaction {
        let id = people.remove(at: int(0...people.count - 1))
        return Transaction(sql: "DELETE FROM people WHERE id = \(id);", kind: "delete-cascade")
    }

    /// BEGIN … COMMIT with several statements and a savepoint rolled back to.
    private mutating func multiStatement() -> Transaction {
        let p = person(), q = person()
        return Transaction(sql: """
            BEGIN;
            INSERT INTO orders (person, amount, note) VALUES (\(p), \(int(1...900)), '\(text())');
            UPDATE people SET score = coalesce(score, 0) - 1 WHERE id = \(q);
            SAVEPOINT s;
            DELETE FROM orders WHERE person = \(p);
            INSERT INTO tags (name, uses) VALUES ('sp\(index)', 1);
            ROLLBACK TO s;
            RELEASE s;
            INSERT INTO tags (name, uses, weight) VALUES ('mt\(index)', 2, NULL);
            COMMIT;
            """, kind: "multi-statement")
    }

    /// A transaction whose second statement violates the primary key: rolled back, exit 10.
    private mutating func failing() -> Transaction {
        Transaction(sql: "BEGIN; INSERT INTO tags (name, uses) VALUES ('never\(index)', 1); INSERT INTO people (id, name) VALUES (\(person()), 'dup'); COMMIT;",
                    kind: "failing", fails: true)
    }
}
