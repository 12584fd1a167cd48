import BinlogApply
import BinlogFormat
import Foundation
import GRDB

/// Rows read byte for byte (`ExactValues`): GRDB's strings stop TEXT at a NUL and repair
/// invalid UTF-8, so a report would print "a\0b" as "a" and could not tell such groups apart
/// (issue 12). Text is decoded for printing only, NULs kept (writers escape them).
enum ExactRows {
    /// Runs `statement` with `arguments` and calls `body` with each row's values.
    static func forEach(_ statement: Statement, arguments: StatementArguments, _ db: Database, _ body: ([Value]) throws -> Void) throws {
        try statement.setArguments(arguments)
        defer { ExactValues.reset(statement) }
        let count = Int32(statement.columnCount)
        while try ExactValues.step(statement, db) {
            try body((0..<count).map { ExactValues.column(statement, $0) })
        }
    }

    /// `forEach` for SQL text.
    static func forEach(_ db: Database, sql: String, arguments: StatementArguments, _ body: ([Value]) throws -> Void) throws {
        try forEach(try db.makeStatement(sql: sql), arguments: arguments, db, body)
    }
}

extension Cell {
    /// A stored value as a cell; TEXT decoded as UTF-8 whole (a NUL stays a character, an
    /// invalid sequence becomes U+FFFD).
    init(_ v: Value) {
        switch v {
        case .null: self = .null
        case .integer(let i): self = .integer(i)
        case .real(let d): self = .real(d)
        case .text(let d): self = .text(String(decoding: d, as: UTF8.self))
        case .blob(let b): self = .blob(b)
        }
    }

    /// The text of a grouping column ("" for NULL), as the report shows it.
    static func label(_ v: Value) -> String {
        if case .null = v { return "" }
        return Cell(v).text
    }
}
