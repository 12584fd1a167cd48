import Foundation

/// A seeded workload of mixed transactions for replica tests: inserts, updates, deletes,
/// upserts on a WITHOUT ROWID table, multi-row statements, multi-statement transactions with
/// savepoints, blobs, non-ASCII text, NULLs and reals, and (when asked) schema changes.
/// Tests take LSNs and commit times from what `binlog-writer exec` acknowledges, not from
/// counting statements (a multi-row UPDATE may match nothing and log nothing).
public struct ReplicaWorkload {
    public var rng: SeededRandom
    private var live: [Int64] = []
    private var nextID: Int64 = 1
    private var counter = 0
    private var addedColumns = 0

    public init(seed: UInt64) { rng = SeededRandom(seed: seed) }

    /// The schema, as one transaction per statement.
    public static let schema = """
        CREATE TABLE accounts (id INTEGER PRIMARY KEY, owner TEXT NOT NULL, balance INTEGER NOT NULL, rate REAL, note TEXT);
        CREATE TABLE ledger (id INTEGER PRIMARY KEY AUTOINCREMENT, account INTEGER NOT NULL, amount INTEGER NOT NULL, memo BLOB);
        CREATE TABLE tags (name TEXT PRIMARY KEY, uses INTEGER NOT NULL, weight REAL) WITHOUT ROWID;
        CREATE INDEX ledger_account ON ledger (account);

        """

    /// `count` transactions of SQL (each a statement or a BEGIN … COMMIT block).
    /// With `schemaChanges`, about one in 400 is an ALTER TABLE or CREATE INDEX.
    public mutating func sql(transactions count: Int, schemaChanges: Bool = false) -> String {
        var out = ""
        for _ in 0..<count { out += next(schemaChanges: schemaChanges) + "\n" }
        return out
    }

    private mutating func pick() -> Int64 { live[Int.random(in: 0..<live.count, using: &rng)] }

    private mutating func insertAccount() -> String {
        let id = nextID
        nextID += 1
        live.append(id)
        let owners = ["Zoë", "Łukasz", "山田", "O'Brien", "Ana", "Émile", "Ngozi"]
        let owner = owners[Int.random(in: 0..<owners.count, using: &rng)].replacingOccurrences(of: "'", with: "''")
        let note = Bool.random(using: &rng) ? "NULL" : "'n\(counter) ✓'"
        let rate = Double(Int.random(in: 0...10_000, using: &rng)) / 7.0
        return "INSERT INTO accounts (id, owner, balance, rate, note) VALUES (\(id), '\(owner)', \(Int.random(in: 0...100_000, using: &rng)), \(rate), \(note));"
    }

    private mutating func next(schemaChanges: Bool) -> String {
        counter += 1
        if live.count < 20 { return insertAccount() }
        let roll = Int.random(in: 0..<1000, using: &rng)
        if schemaChanges && roll < 3 {
            addedColumns += 1
            if addedColumns % 2 == 1 { return "ALTER TABLE accounts ADD COLUMN extra\(addedColumns) INTEGER DEFAULT \(addedColumns);" }
            return "CREATE INDEX accounts_by_balance_\(addedColumns) ON accounts (balance, id);"
        }
        switch roll {
        case 0..<350:
            return insertAccount()
        case 350..<550:
            let id = pick()
            return "UPDATE accounts SET balance = balance + \(Int.random(in: 1...500, using: &rng)), note = 'u\(counter)' WHERE id = \(id);"
        case 550..<650:
            let index = Int.random(in: 0..<live.count, using: &rng)
            let id = live.remove(at: index)
            return "BEGIN; DELETE FROM ledger WHERE account = \(id); DELETE FROM accounts WHERE id = \(id); COMMIT;"
        case 650..<850:
            let id = pick()
            let amount = Int.random(in: -500...500, using: &rng)
            let blob = Int.random(in: 0...64, using: &rng)
            return """
                BEGIN; INSERT INTO ledger (account, amount, memo) VALUES (\(id), \(amount), randomblob(\(blob))); \
                SAVEPOINT s; UPDATE accounts SET balance = balance + \(amount) WHERE id = \(id); RELEASE s; COMMIT;
                """
        case 850..<960:
            let tag = "t\(Int.random(in: 0..<60, using: &rng))"
            return "INSERT INTO tags (name, uses, weight) VALUES ('\(tag)', 1, \(Double(counter) / 3)) ON CONFLICT (name) DO UPDATE SET uses = uses + 1, weight = excluded.weight;"
        default:
            // A multi-row statement: every account whose id ends in a digit (≥ 2 rows once 20 exist).
            return "UPDATE accounts SET rate = coalesce(rate, 0) + 1, note = NULL WHERE id % 10 = \(Int.random(in: 0...9, using: &rng)) AND id <= \(nextID);"
        }
    }
}

/// A test fixture with a master (driven through the built `binlog-writer`) and a seeded
/// workload: both replica fixtures run their workloads through this one implementation.
public protocol ReplicaWorkloadFixture: AnyObject {
    var master: ToolMaster { get }
    var workload: ReplicaWorkload { get set }
}

extension ReplicaWorkloadFixture {
    /// Creates the schema and runs `transactions` workload transactions on the master, sealing
    /// the last segment so that everything can be shipped.
    @discardableResult
    public func runWorkload(_ transactions: Int, schema: Bool = true, schemaChanges: Bool = false, seal: Bool = true) throws -> [ToolMaster.Commit] {
        var sql = schema ? ReplicaWorkload.schema : ""
        sql += workload.sql(transactions: transactions, schemaChanges: schemaChanges)
        let commits = try master.exec(sql)
        if seal { try master.rotate() }
        return commits
    }
}
