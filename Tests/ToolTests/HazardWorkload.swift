import Foundation
import LogshipTestSupport

/// The classes of statements the hazard workload mixes. Each class but `ordinary` is an edge of
/// SQLite that a change-capturing master can get wrong (issue 12); `HazardDifferentialTests`
/// holds the table of which classes the master may refuse.
enum Hazard: String, CaseIterable, Comparable {
    case ordinary
    case vacuum
    case virtualTable = "virtual-table"
    case sqliteSequence = "sqlite-sequence"
    case deferredForeignKey = "deferred-fk"
    case orConflict = "or-conflict"
    case invalidUTF8 = "invalid-utf8"
    case bigInteger = "big-integer"
    case legacyAlter = "legacy-alter"
    case internalTable = "internal-table"

    static func < (a: Hazard, b: Hazard) -> Bool { a.rawValue < b.rawValue }
}

/// A seeded workload of small scripts, each run by one `binlog-writer exec`: the schema first
/// (rowid tables with and without an INTEGER PRIMARY KEY, AUTOINCREMENT, WITHOUT ROWID, a
/// deferred foreign key, a view over a table that gets renamed), then ordinary inserts, updates
/// and deletes mixed with hazard statements (`Hazard`). Every value is a literal or computed
/// from the rows (no random(), no clock), so the same script gives the same database on the
/// master and on plain SQLite. `only` keeps the hazards to some classes (ordinary statements
/// always run). `note` tells the workload whether a script committed, for the few things it
/// tracks (the renamed table's name, the virtual tables that exist).
struct HazardWorkload {
    /// One script: its SQL, its class, and a short label naming the variant.
    struct Script {
        var sql: String
        var hazard: Hazard
        var label: String
    }

    static let schema = [
        "CREATE TABLE plain_rows (a INTEGER, b TEXT, c REAL);",
        "CREATE TABLE keyed (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, n INTEGER NOT NULL DEFAULT 0 CHECK (n <> 13), t TEXT);",
        "CREATE TABLE seqd (id INTEGER PRIMARY KEY AUTOINCREMENT, label TEXT);",
        "CREATE TABLE wr (k TEXT PRIMARY KEY, n INTEGER, t TEXT) WITHOUT ROWID;",
        "CREATE TABLE parent (id INTEGER PRIMARY KEY, name TEXT);",
        "CREATE TABLE child (id INTEGER PRIMARY KEY, parent INTEGER REFERENCES parent (id) DEFERRABLE INITIALLY DEFERRED, note TEXT);",
        "CREATE TABLE bigkeys (id INTEGER PRIMARY KEY, v);",
        "CREATE TABLE ren_0 (x INTEGER, y TEXT);",
        "CREATE VIEW ren_view AS SELECT x, y FROM ren_0;",
        "CREATE INDEX keyed_n ON keyed (n);",
    ]

    private(set) var rng: SeededRandom
    private let length: Int
    private let hazards: [Hazard]
    private var index = 0
    private var counter = 0
    /// The renamed table's current number (ren_<n>), and the virtual tables created so far.
    private var renamed = 0
    var virtualTables: Set<String> = []
    /// What the script being run changes when it commits (see `note`).
    var pending: (rename: Int?, created: String?) = (nil, nil)

    /// `length` scripts after the schema, hazards drawn from `only` (default: every class).
    init(seed: UInt64, length: Int, only: Set<Hazard>? = nil) {
        rng = SeededRandom(seed: seed)
        self.length = length
        hazards = Hazard.allCases.filter { $0 != .ordinary && (only?.contains($0) ?? true) }
    }

    mutating func int(_ range: ClosedRange<Int>) -> Int { Int.random(in: range, using: &rng) }
    mutating func chance(_ p: Double) -> Bool { Double.random(in: 0..<1, using: &rng) < p }
    mutating func pick<T>(_ items: [T]) -> T { items[int(0...items.count - 1)] }
    /// A fresh number for names and values, unique in the run.
    mutating func fresh() -> Int {
        counter += 1
        return counter
    }

    var renTable: String { "ren_\(renamed)" }

    /// The next script, or nil when the workload is over.
    mutating func next() -> Script? {
        defer { index += 1 }
        pending = (nil, nil)
        if index < Self.schema.count { return Script(sql: Self.schema[index], hazard: .ordinary, label: "schema") }
        let i = index - Self.schema.count
        guard i < length else { return nil }
        if i < 6 || hazards.isEmpty || chance(0.5) { return ordinary() }
        return hazard(coverage.isEmpty ? pick(hazards) : coverage.removeFirst())
    }

    /// The first hazards go through every class once, in a seeded order, so that a short run
    /// exercises each; then they are drawn at random.
    private lazy var coverage: [Hazard] = hazards.shuffled(using: &rng)

    /// Tells the workload whether the last script committed (on the master and on plain SQLite).
    mutating func note(committed: Bool) {
        guard committed else { return }
        if let rename = pending.rename { renamed = rename }
        if let created = pending.created { virtualTables.insert(created) }
    }

    private mutating func hazard(_ h: Hazard) -> Script {
        switch h {
        case .ordinary: return ordinary()
        case .vacuum: return vacuum()
        case .virtualTable: return virtualTable()
        case .sqliteSequence: return sqliteSequence()
        case .deferredForeignKey: return deferredForeignKey()
        case .orConflict: return orConflict()
        case .invalidUTF8: return invalidUTF8()
        case .bigInteger: return bigInteger()
        case .legacyAlter: return rename(legacy: true)
        case .internalTable: return internalTable()
        }
    }

    /// A row offset for "the k-th row" subqueries; past the end they select nothing (or NULL).
    mutating func offset() -> Int { int(0...6) }

    private mutating func text() -> String {
        pick(["Zoë", "山田", "O''Brien", "Ørsted", "Алёна", "🎉", "tab\there", "plain"]) + " \(fresh())"
    }

    /// Inserts, updates and deletes that must behave on the master exactly as on plain SQLite.
    private mutating func ordinary() -> Script {
        let n = fresh(), k = offset()
        switch int(0...14) {
        case 0, 1:
            let rows = (0..<int(1...3)).map { _ in "(\(int(-99...999)), '\(text())', \(Double(int(0...9999)) / 8))" }
            return Script(sql: "INSERT INTO plain_rows (a, b, c) VALUES \(rows.joined(separator: ", "));", hazard: .ordinary, label: "insert-no-ipk")
        case 2:
            return Script(sql: "UPDATE plain_rows SET b = b || '+', c = c + 1 WHERE rowid = (SELECT rowid FROM plain_rows ORDER BY rowid LIMIT 1 OFFSET \(k));",
                          hazard: .ordinary, label: "update-no-ipk-by-rowid")
        case 3:
            return Script(sql: "DELETE FROM plain_rows WHERE rowid IN (SELECT rowid FROM plain_rows ORDER BY rowid LIMIT 2 OFFSET \(k));",
                          hazard: .ordinary, label: "delete-no-ipk")
        case 14:
            let table = pick(["plain_rows", renTable])
            return Script(sql: "DELETE FROM \(table) WHERE rowid = (SELECT min(rowid) FROM \(table));", hazard: .ordinary, label: "delete-first-no-ipk")
        case 4, 5:
            return Script(sql: "INSERT INTO keyed (name, n, t) VALUES ('k\(n)', \(int(0...12)), '\(text())');", hazard: .ordinary, label: "insert-ipk")
        case 6:
            return Script(sql: "UPDATE keyed SET n = n + 1 WHERE id % 3 = \(int(0...2)) AND n <> 12;", hazard: .ordinary, label: "update-ipk")
        case 7:
            return Script(sql: "DELETE FROM keyed WHERE id = (SELECT id FROM keyed ORDER BY id LIMIT 1 OFFSET \(k));", hazard: .ordinary, label: "delete-ipk")
        case 8:
            let delete = chance(0.3) ? " DELETE FROM seqd WHERE id = (SELECT max(id) FROM seqd);" : ""
            return Script(sql: "INSERT INTO seqd (label) VALUES ('s\(n)');" + delete, hazard: .ordinary, label: "autoincrement")
        case 9:
            return Script(sql: "INSERT INTO wr (k, n, t) VALUES ('w\(n % 40)', 1, '\(text())') ON CONFLICT (k) DO UPDATE SET n = n + 1;",
                          hazard: .ordinary, label: "upsert-without-rowid")
        case 10:
            return Script(sql: "UPDATE wr SET k = k || '′' WHERE k = (SELECT k FROM wr ORDER BY k LIMIT 1 OFFSET \(k));", hazard: .ordinary, label: "key-change-without-rowid")
        case 11:
            return Script(sql: "INSERT INTO parent (name) VALUES ('p\(n)'); INSERT INTO child (parent, note) VALUES ((SELECT max(id) FROM parent), '\(text())');",
                          hazard: .ordinary, label: "parent-child")
        case 12:
            return Script(sql: "INSERT INTO \(renTable) (x, y) VALUES (\(n), '\(text())');", hazard: .ordinary, label: "insert-renamed")
        default:
            return chance(0.5) ? rename(legacy: false) : Script(sql: """
                BEGIN; INSERT INTO keyed (name, n) VALUES ('m\(n)', 1); UPDATE plain_rows SET a = a + 1 WHERE rowid % 4 = \(int(0...3));
                DELETE FROM wr WHERE k = (SELECT max(k) FROM wr); COMMIT;
                """, hazard: .ordinary, label: "multi-statement")
        }
    }

    /// Renames the table under `ren_view` (the view is recreated first: a legacy rename leaves
    /// it pointing at the old name). With legacy_alter_table the view text is not rewritten.
    private mutating func rename(legacy: Bool) -> Script {
        let next = fresh()
        pending.rename = next
        let body = "BEGIN; DROP VIEW IF EXISTS ren_view; CREATE VIEW ren_view AS SELECT x, y FROM \(renTable); ALTER TABLE \(renTable) RENAME TO ren_\(next); COMMIT;"
        guard legacy else { return Script(sql: body, hazard: .ordinary, label: "rename") }
        let pragma = pick(["PRAGMA legacy_alter_table = ON;", "PRAGMA legacy_alter_table=1;", "pragma main.legacy_alter_table = true;"])
        return Script(sql: pragma + " " + body, hazard: .legacyAlter, label: "legacy-rename")
    }
}
