import Foundation
import GRDB

/// A plain SQLite database beside the master, the reference the hazard test compares it with.
/// Each script runs on a fresh connection (as each `binlog-writer exec` opens its own, so a
/// PRAGMA lasts one script), with foreign keys on (as on the master), statement by statement.
/// At the first failing statement the open transaction is rolled back and the rest of the
/// script is skipped, which is what `exec` documents; transactions committed before it stay.
public struct PlainSQLite {
    public let path: String

    public init(path: String) { self.path = path }

    /// What a script did: ran to its end, or stopped at an error (SQLite's message).
    public enum Outcome: Equatable {
        case succeeded
        case failed(String)

        public var succeeded: Bool { self == .succeeded }
    }

    public func run(_ sql: String) throws -> Outcome {
        let queue = try DatabaseQueue(path: path, configuration: Configuration())
        defer { try? queue.close() }
        return try queue.inDatabase { db in
            do {
                let statements = try db.allStatements(sql: sql)
                while let statement = try statements.next() {
                    if statement.columnCount > 0 { _ = try Row.fetchAll(statement) } else { try statement.execute() }
                }
            } catch {
                if db.isInsideTransaction { try db.execute(sql: "ROLLBACK") }
                return .failed((error as? DatabaseError)?.message ?? "\(error)")
            }
            guard !db.isInsideTransaction else {
                try db.execute(sql: "ROLLBACK")
                return .failed("the script ends inside a transaction")
            }
            return .succeeded
        }
    }
}
