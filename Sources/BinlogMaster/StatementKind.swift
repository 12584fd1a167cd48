import Foundation

/// How a statement affects the transaction state, read from its leading keywords
/// (after comments and white space). The statement loop needs this to log exactly the
/// changes that commit: SAVEPOINT marks, ROLLBACK TO drops, COMMIT triggers the binlog write.
enum StatementKind: Equatable {
    case begin
    case commit
    case rollback
    case savepoint(String)
    case release(String)
    case rollbackTo(String)
    /// Schema changes: logged as DDL events.
    case ddl
    /// Statements SQLite refuses inside a transaction (VACUUM, some PRAGMAs): run as they are.
    case outsideTransaction
    case other

    static func classify(_ sql: String) -> StatementKind {
        let words = leadingWords(sql, count: 6)
        guard let first = words.first?.uppercased() else { return .other }
        func name(after index: Int) -> String { words.count > index ? unquote(words[index]) : "" }
        switch first {
        case "BEGIN": return .begin
        case "COMMIT", "END": return .commit
        case "ROLLBACK":
            var i = 1
            if words.count > i && words[i].uppercased() == "TRANSACTION" { i += 1 }
            guard words.count > i && words[i].uppercased() == "TO" else { return .rollback }
            i += 1
            if words.count > i && words[i].uppercased() == "SAVEPOINT" { i += 1 }
            return .rollbackTo(name(after: i))
        case "SAVEPOINT": return .savepoint(name(after: 1))
        case "RELEASE":
            let i = words.count > 1 && words[1].uppercased() == "SAVEPOINT" ? 2 : 1
            return .release(name(after: i))
        case "CREATE", "ALTER", "DROP": return .ddl
        case "VACUUM", "PRAGMA", "ATTACH", "DETACH", "ANALYZE", "REINDEX": return .outsideTransaction
        default: return .other
        }
    }

    /// Savepoint names compare case-insensitively in SQLite.
    static func sameName(_ a: String, _ b: String) -> Bool { a.lowercased() == b.lowercased() }

    private static func unquote(_ word: String) -> String {
        guard let f = word.first, "\"'`[".contains(f), word.count >= 2 else { return word }
        return String(word.dropFirst().dropLast())
    }

    /// The first `count` words, skipping `--` and `/* */` comments. Works on UTF-8 bytes:
    /// keywords are ASCII, and a byte of a non-ASCII character counts as part of a word
    /// (Unicode property lookups per character were a visible share of a durable commit).
    static func leadingWords(_ sql: String, count: Int) -> [String] {
        var text = sql
        return text.withUTF8 { u -> [String] in
            var words: [String] = []
            var i = 0
            let n = u.count
            func isSpace(_ b: UInt8) -> Bool { b == 0x20 || (0x09...0x0D).contains(b) }
            func isWordByte(_ b: UInt8) -> Bool {
                (0x30...0x39).contains(b) || (0x41...0x5A).contains(b) || (0x61...0x7A).contains(b) || b == 0x5F || b == 0x24 || b >= 0x80
            }
            while i < n && words.count < count {
                let c = u[i]
                if isSpace(c) || c == 0x3B { i += 1; continue }                          // white space, ';'
                if c == 0x2D && i + 1 < n && u[i + 1] == 0x2D {                            // -- comment
                    while i < n && u[i] != 0x0A { i += 1 }
                    continue
                }
                if c == 0x2F && i + 1 < n && u[i + 1] == 0x2A {                            // /* comment */
                    i += 2
                    while i + 1 < n && !(u[i] == 0x2A && u[i + 1] == 0x2F) { i += 1 }
                    i += 2
                    continue
                }
                let start = i
                if c == 0x22 || c == 0x27 || c == 0x60 || c == 0x5B {                    // " ' ` [
                    let close: UInt8 = c == 0x5B ? 0x5D : c
                    i += 1
                    while i < n && u[i] != close { i += 1 }
                    if i < n { i += 1 }
                } else if isWordByte(c) {
                    while i < n && isWordByte(u[i]) { i += 1 }
                } else {
                    i += 1
                }
                words.append(String(decoding: UnsafeBufferPointer(rebasing: u[start..<min(i, n)]), as: UTF8.self))
            }
            return words
        }
    }
}
