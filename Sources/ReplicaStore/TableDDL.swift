import Foundation

/// What a logged schema change does to the rows of tables, as restore's logical check follows
/// it (RestoreCheck): read from the statement's leading words only.
enum TableDDL: Equatable {
    /// `CREATE TABLE`: a new, empty table (the master logs `CREATE TABLE … AS SELECT` as the
    /// plain definition followed by INSERT events).
    case create(String, ifNotExists: Bool)
    case drop(String)
    /// `ALTER TABLE a RENAME TO b`: the same rows under another name.
    case rename(String, to: String)
    /// `ALTER TABLE … ADD / DROP / RENAME COLUMN`: the rows change shape.
    case alter(String)
    /// Indexes, views, triggers, TEMP objects: no main table's rows change.
    case none
    /// A table statement this reader does not follow (a virtual table, an unusual spelling).
    case unknown

    /// Reads `sql`; names come back unquoted, a `main.` qualifier dropped.
    static func parse(_ sql: String) -> TableDDL {
        var t = Tokens(sql)
        switch t.keyword() {
        case "CREATE":
            let next = t.keyword()
            if next == "TEMP" || next == "TEMPORARY" { return .none }
            guard next == "TABLE" else { return next == "VIRTUAL" ? .unknown : .none }
            let ifNotExists = t.accept("IF", "NOT", "EXISTS")
            return t.tableName().map { $0.main ? .create($0.name, ifNotExists: ifNotExists) : .none } ?? .unknown
        case "DROP":
            guard t.keyword() == "TABLE" else { return .none }
            _ = t.accept("IF", "EXISTS")
            return t.tableName().map { $0.main ? .drop($0.name) : .none } ?? .unknown
        case "ALTER":
            guard t.keyword() == "TABLE", let table = t.tableName() else { return .unknown }
            guard table.main else { return .none }
            if t.accept("RENAME", "TO") { return t.identifier().map { .rename(table.name, to: $0) } ?? .unknown }
            return .alter(table.name)
        default:
            return .unknown
        }
    }

    /// A minimal SQL tokenizer: words, quoted identifiers, single punctuation characters;
    /// whitespace and comments skipped.
    private struct Tokens {
        private let bytes: [UInt8]
        private var i = 0

        init(_ sql: String) { bytes = Array(sql.utf8) }

        enum Token: Equatable { case word(String), quoted(String), symbol(UInt8) }

        mutating func next() -> Token? {
            skipSpaceAndComments()
            guard i < bytes.count else { return nil }
            let c = bytes[i]
            let closing: UInt8? = c == 0x22 ? 0x22 : c == 0x60 ? 0x60 : c == 0x27 ? 0x27 : c == 0x5B ? 0x5D : nil
            if let closing { return quoted(until: closing) }
            if Self.isWordByte(c) {
                let start = i
                while i < bytes.count, Self.isWordByte(bytes[i]) { i += 1 }
                return .word(String(decoding: bytes[start..<i], as: UTF8.self))
            }
            i += 1
            return .symbol(c)
        }

        /// The next token as an upper-case keyword, nil when it is not a bare word.
        mutating func keyword() -> String? {
            if case .word(let w)? = next() { return w.uppercased() }
            return nil
        }

        /// Consumes `words` when they come next, in order; otherwise consumes nothing.
        mutating func accept(_ words: String...) -> Bool {
            let saved = i
            for w in words where keyword() != w { i = saved; return false }
            return true
        }

        mutating func identifier() -> String? {
            switch next() {
            case .word(let w)?: return w
            case .quoted(let q)?: return q
            default: return nil
            }
        }

        /// `name` or `schema.name`; `main` is false for a schema other than main.
        mutating func tableName() -> (name: String, main: Bool)? {
            guard let first = identifier() else { return nil }
            let saved = i
            if next() == .symbol(0x2E) {
                guard let second = identifier() else { return nil }
                return (second, first.lowercased() == "main")
            }
            i = saved
            return (first, true)
        }

        private mutating func quoted(until closing: UInt8) -> Token? {
            i += 1
            var out: [UInt8] = []
            while i < bytes.count {
                if bytes[i] == closing {
                    // A doubled closing quote stands for itself (not inside [brackets]).
                    if closing != 0x5D, i + 1 < bytes.count, bytes[i + 1] == closing { out.append(closing); i += 2; continue }
                    i += 1
                    return .quoted(String(decoding: out, as: UTF8.self))
                }
                out.append(bytes[i])
                i += 1
            }
            return nil
        }

        private mutating func skipSpaceAndComments() {
            while i < bytes.count {
                let c = bytes[i]
                if c == 0x20 || (0x09...0x0D).contains(c) { i += 1; continue }
                if c == 0x2D, i + 1 < bytes.count, bytes[i + 1] == 0x2D {
                    while i < bytes.count, bytes[i] != 0x0A { i += 1 }
                    continue
                }
                if c == 0x2F, i + 1 < bytes.count, bytes[i + 1] == 0x2A {
                    i += 2
                    while i + 1 < bytes.count, !(bytes[i] == 0x2A && bytes[i + 1] == 0x2F) { i += 1 }
                    i = min(bytes.count, i + 2)
                    continue
                }
                return
            }
        }

        /// Letters, digits, `_`, `$` and every non-ASCII byte, as SQLite's identifiers allow.
        private static func isWordByte(_ c: UInt8) -> Bool {
            (0x30...0x39).contains(c) || (0x41...0x5A).contains(c) || (0x61...0x7A).contains(c) || c == 0x5F || c == 0x24 || c >= 0x80
        }
    }
}
