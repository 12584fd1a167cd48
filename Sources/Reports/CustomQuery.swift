import Foundation
import GRDB

/// Custom read-only SQL with named parameters bound, never spliced.
public enum CustomQuery {
    /// The statements `report query` runs: those that read and return rows. SQLite's own
    /// read-only flag is not enough: it calls ATTACH, DETACH, SAVEPOINT and PRAGMA setters
    /// (`query_only = OFF`, `writable_schema = ON`) read-only, since they change the
    /// connection rather than the file.
    static let allowedKeywords: Set<String> = ["SELECT", "WITH", "VALUES", "EXPLAIN"]

    /// Runs one SELECT (or WITH, VALUES, EXPLAIN) statement and streams its rows.
    @discardableResult
    public static func run(_ store: ReportStore, sql: String, parameters: [String: DatabaseValue], title: String = "Query", to writer: ReportWriter) throws -> Freshness {
        try store.read { db, freshness in
            let statements = try db.allStatements(sql: sql)
            guard let statement = try statements.next() else { throw ReportError(.invalid, "no SQL statement given") }
            // A second statement that does not even compile (refused by the guard, or bad SQL)
            // is still a second statement.
            let more: Bool
            do { more = try statements.next() != nil } catch { more = true }
            guard !more else {
                throw ReportError(.invalid, "give one statement; report query runs a single read-only statement")
            }
            try checkReadOnly(statement)
            let arguments = try bind(statement, parameters)
            try writer.begin(title: title, freshness: freshness)
            try writer.beginSection("Result", columns: statement.columnNames.map(ReportColumn.init))
            var rows = 0
            let maxRows = store.limits.maxRows
            try ExactRows.forEach(statement, arguments: arguments, db) {
                rows += 1
                if let maxRows, rows > maxRows {
                    throw ReportError(.limit, "the query returns more than --max-rows \(maxRows) rows; the output stops after row \(maxRows)",
                                      hint: "narrow the query (WHERE, LIMIT, an aggregate), or raise --max-rows (0: no limit)")
                }
                try writer.row($0.map(Cell.init))
            }
            try writer.endSection()
            try writer.end()
            return freshness
        }
    }

    /// Refuses anything but a statement that reads and returns rows, before it runs.
    static func checkReadOnly(_ statement: Statement) throws {
        let keyword = leadingKeyword(statement.sql)
        guard statement.isReadonly, allowedKeywords.contains(keyword) else {
            let hint = keyword == "PRAGMA"
                ? "for a PRAGMA that reads, use its table-valued form, e.g. SELECT * FROM pragma_table_info('expenses')"
                : "report query runs SELECT, WITH, VALUES and EXPLAIN only; write on the master with binlog-writer exec"
            throw ReportError(.refused, "report query is read-only and refuses this \(keyword.isEmpty ? "statement" : keyword) statement: \(statement.sql)",
                              hint: hint)
        }
    }

    /// Binds `parameters` by name: every :name, $name or @name the statement uses must be
    /// given, every one given must be used, and positional `?` / `?NNN` are refused (a value
    /// bound by position to the wrong place would go unnoticed).
    static func bind(_ statement: Statement, _ parameters: [String: DatabaseValue]) throws -> StatementArguments {
        let count = Int(sqlite3BindParameterCount(statement))
        var names: [String] = []
        for index in 0..<count {
            guard let name = sqlite3BindParameterName(statement, Int32(index + 1)), !name.hasPrefix("?") else {
                throw ReportError(.invalid, "the query uses a positional parameter (? or ?NNN, number \(index + 1)); report query binds by name only",
                                  hint: "write :name in the SQL and pass --param name=value")
            }
            names.append(name)
        }
        var named: [String: DatabaseValueConvertible?] = [:]
        for n in names {
            let key = String(n.dropFirst())
            guard let v = parameters[key] else {
                throw ReportError(.invalid, "the query uses parameter \(n) but no --param \(key)=… was given")
            }
            named[key] = v
        }
        if let extra = parameters.keys.sorted().first(where: { k in !names.contains { $0.dropFirst() == k } }) {
            throw ReportError(.invalid, "--param \(extra) is not used by the query (it uses: \(names.isEmpty ? "none" : names.joined(separator: ", ")))")
        }
        return StatementArguments(named)
    }

    /// The first keyword of `sql`, upper-cased, after white space and comments.
    static func leadingKeyword(_ sql: String) -> String {
        var s = Substring(sql)
        while true {
            s = s.drop { $0.isWhitespace }
            if s.hasPrefix("--") {
                s = s.drop { $0 != "\n" }
            } else if s.hasPrefix("/*") {
                guard let end = s.range(of: "*/") else { return "" }
                s = s[end.upperBound...]
            } else {
                break
            }
        }
        return String(s.prefix { $0.isLetter }).uppercased()
    }

    /// Infers a parameter's type from its text: an integer or a real when the text is one
    /// as SQLite would print it, text otherwise (so `007` and `+5` stay text: compared with a
    /// TEXT column, 7 would not match '007'). `'…'` forces text.
    public static func parameterValue(_ text: String) -> DatabaseValue {
        if text.count >= 2, text.hasPrefix("'"), text.hasSuffix("'") { return String(text.dropFirst().dropLast()).databaseValue }
        if let i = Int64(text), String(i) == text { return i.databaseValue }
        if text.range(of: #"^-?(0|[1-9][0-9]*)\.[0-9]+$"#, options: .regularExpression) != nil, let d = Double(text) { return d.databaseValue }
        return text.databaseValue
    }
}
