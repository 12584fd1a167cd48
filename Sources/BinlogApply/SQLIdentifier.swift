/// `name` as a quoted SQL identifier, embedded quotes doubled, for every statement logship
/// builds from table and column names. (GRDB's `quotedDatabaseIdentifier` does not double
/// embedded quotes, so a name holding `"` would break out of it.)
public func quotedIdentifier(_ name: String) -> String {
    "\"" + name.replacingOccurrences(of: "\"", with: "\"\"") + "\""
}
