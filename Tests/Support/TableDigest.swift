import Foundation
import GRDB

/// The independent oracle of the test suite: a digest of every user table of a SQLite file,
/// read with plain GRDB queries (no logship code), rows in rowid or primary-key order, each
/// value rendered with its storage class so that 1, 1.0 and '1' differ.
public enum TableDigest {
    /// Table name → digest text (SHA-free: a canonical rendering, hashed with Hasher would be
    /// seeded per process, so we keep a stable FNV-1a 64 over the rendering instead).
    public static func digest(path: String) throws -> [String: String] {
        var config = Configuration()
        config.readonly = true
        let queue = try DatabaseQueue(path: path, configuration: config)
        defer { try? queue.close() }
        return try queue.read { db in try digest(db) }
    }

    public static func digest(_ db: Database) throws -> [String: String] {
        var result: [String: String] = [:]
        let tables = try Row.fetchAll(db, sql: """
            SELECT name, sql FROM sqlite_schema WHERE type = 'table'
              AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND name NOT LIKE '\\_logship%' ESCAPE '\\'
            ORDER BY name
            """)
        for t in tables {
            let name: String = t[0]
            let sql: String = (t[1] as String?) ?? ""
            let withoutRowid = sql.uppercased().replacingOccurrences(of: " ", with: "").contains("WITHOUTROWID")
            let quoted = "\"" + name.replacingOccurrences(of: "\"", with: "\"\"") + "\""
            let columns = try Row.fetchAll(db, sql: "SELECT name FROM pragma_table_info(?) ORDER BY cid", arguments: [name]).map { $0[0] as String }
            let select = columns.map { "\"\($0.replacingOccurrences(of: "\"", with: "\"\""))\"" }.joined(separator: ", ")
            let order = withoutRowid ? "" : " ORDER BY rowid"
            let rowidColumn = withoutRowid ? "" : "rowid AS __rowid, "
            var hash = FNV()
            hash.add("columns:" + columns.joined(separator: ","))
            var count = 0
            let rows = try Row.fetchCursor(db, sql: "SELECT \(rowidColumn)\(select) FROM \(quoted)\(order)")
            var rendered: [String] = []
            while let row = try rows.next() {
                let line = row.databaseValues.map(render).joined(separator: "|")
                if withoutRowid { rendered.append(line) } else { hash.add(line) }
                count += 1
            }
            for line in rendered.sorted() { hash.add(line) }
            result[name] = "\(count) rows \(String(hash.value, radix: 16))"
        }
        return result
    }

    static func render(_ v: DatabaseValue) -> String {
        switch v.storage {
        case .null: return "N"
        case .int64(let i): return "I\(i)"
        case .double(let d): return "R\(d.bitPattern)"
        case .string(let s): return "T" + s.utf8.map { String($0, radix: 16) }.joined(separator: ".")
        case .blob(let b): return "B" + String(b.count) + ":" + String(fnv(b), radix: 16)
        }
    }

    static func fnv(_ d: Data) -> UInt64 {
        var h = FNV()
        h.add(d)
        return h.value
    }

    struct FNV {
        var value: UInt64 = 0xcbf2_9ce4_8422_2325
        mutating func add(_ s: String) { add(Data(s.utf8)); add(Data([0x0A])) }
        mutating func add(_ d: Data) {
            for b in d { value = (value ^ UInt64(b)) &* 0x100_0000_01b3 }
        }
    }
}

/// The LSN a store (or restored database) claims, read with plain GRDB: 0 when the file or
/// its position table does not exist yet.
public func appliedLSN(ofStore path: String) throws -> UInt64 {
    guard FileManager.default.fileExists(atPath: path) else { return 0 }
    var config = Configuration()
    config.readonly = true
    config.busyMode = .timeout(5)   // the store is created, and its WAL reset, under a brief exclusive lock
    let q = try DatabaseQueue(path: path, configuration: config)
    defer { try? q.close() }
    return try q.read { db in
        guard try db.tableExists("_logship_position") else { return 0 }
        return UInt64(try Int64.fetchOne(db, sql: "SELECT lsn FROM _logship_position") ?? 0)
    }
}
