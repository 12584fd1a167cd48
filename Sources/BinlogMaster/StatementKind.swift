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
        let words = leadingWords(sql, count: 4)
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

    /// The first `count` words, skipping `--` and `/* */` comments.
    static func leadingWords(_ sql: String, count: Int) -> [String] {
        var words: [String] = []
        let chars = Array(sql.unicodeScalars)
        var i = 0
        while i < chars.count && words.count < count {
            let c = chars[i]
            if c.properties.isWhitespace || c == ";" { i += 1; continue }
            if c == "-" && i + 1 < chars.count && chars[i + 1] == "-" {
                while i < chars.count && chars[i] != "\n" { i += 1 }
                continue
            }
            if c == "/" && i + 1 < chars.count && chars[i + 1] == "*" {
                i += 2
                while i + 1 < chars.count && !(chars[i] == "*" && chars[i + 1] == "/") { i += 1 }
                i += 2
                continue
            }
            var word = ""
            if "\"'`[".unicodeScalars.contains(c) {
                let close: Unicode.Scalar = c == "[" ? "]" : c
                word.unicodeScalars.append(c)
                i += 1
                while i < chars.count && chars[i] != close { word.unicodeScalars.append(chars[i]); i += 1 }
                if i < chars.count { word.unicodeScalars.append(chars[i]); i += 1 }
            } else {
                while i < chars.count && (chars[i].properties.isAlphabetic || chars[i].properties.numericType != nil || chars[i] == "_" || chars[i] == "$") {
                    word.unicodeScalars.append(chars[i]); i += 1
                }
                if word.isEmpty { word.unicodeScalars.append(chars[i]); i += 1 }
            }
            words.append(word)
        }
        return words
    }
}
