/// Holds a section's first rows until it is known which columns hold numbers, so that a writer
/// can align a header with its numbers before the first row goes out (the header comes first).
/// A column is numeric when every value that is not NULL among the first `limit` rows is a
/// number; later rows stream, so memory stays bounded.
struct SectionBuffer {
    static let limit = 1000
    private var pending: [[Cell]] = []
    private var width = 0
    /// The decision, once made; nil while rows are still held.
    private(set) var numeric: [Bool]?

    /// Starts a section of `columns` columns.
    mutating func start(columns: Int) {
        pending = []
        width = columns
        numeric = nil
    }

    /// Takes a row. Returns the numeric flags when they have just been decided, with the rows
    /// to write now (the held ones, or this one once streaming).
    mutating func add(_ row: [Cell]) -> (decided: [Bool]?, rows: [[Cell]]) {
        if numeric != nil { return (nil, [row]) }
        pending.append(row)
        return pending.count >= Self.limit ? finish() : (nil, [])
    }

    /// Decides (if not yet decided) and hands back the held rows.
    mutating func finish() -> (decided: [Bool]?, rows: [[Cell]]) {
        guard numeric == nil else { return (nil, []) }
        var flags = Array(repeating: true, count: width)
        var seen = Array(repeating: false, count: width)
        for row in pending {
            for (i, cell) in row.enumerated() where i < width && cell != .null {
                seen[i] = true
                if !cell.isNumeric { flags[i] = false }
            }
        }
        // A column of NULLs only is not a number column.
        let decided = zip(flags, seen).map { $0 && $1 }
        numeric = decided
        let rows = pending
        pending = []
        return (decided, rows)
    }
}
