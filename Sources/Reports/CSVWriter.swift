import Foundation
import LogshipSystem

/// How CSV output is laid out and guarded.
public struct CSVOptions: Sendable, Equatable {
    /// Title, freshness and section names as `#` comment lines before the table (pandas:
    /// `comment='#'`). Off by default: `csv.DictReader` and spreadsheets would read them as rows.
    public var comments = false
    /// Text cells that a spreadsheet would run as a formula (leading `=`, `+`, `-`, `@`, tab or
    /// CR) get a `'` in front (OWASP's advice against CSV injection). Numbers are never touched,
    /// nor is text that is a plain number ("-12.5").
    public var neutraliseFormulas = true
    public init() {}
}

/// RFC 4180 CSV, one table per file: CRLF line ends, fields quoted when they hold a comma,
/// quote, CR, LF or '#'. A report of one section (`report query`) is that section's table. A
/// report of several sections that declares its key columns (`longFormat(keys:)`) is one
/// table in long format: `section, <keys>, measure, value`, one line per figure, so that every
/// line has the same columns. A second section without declared keys is refused (use
/// `CSVDirectoryWriter`, one file per section).
final class CSVWriter: ReportWriter {
    private let sink: ReportSink
    private let options: CSVOptions
    private var keys: [String]?
    private var headerWritten = false
    private var sections = 0
    private var section = ""
    /// Long format: the column index of each key in the current section (nil: not in it), and
    /// the indices of the other columns, the measures, with their names.
    private var keyColumns: [Int?] = []
    private var measures: [(index: Int, name: String)] = []

    init(_ sink: ReportSink, options: CSVOptions = .init()) {
        self.sink = sink
        self.options = options
    }

    func longFormat(keys: [String]) { self.keys = keys }

    /// Quotes a field that holds a comma, quote, CR or LF, and one that holds '#': a first field
    /// starting with it would read as a comment line, and pandas (comment='#') cuts a line at
    /// any unquoted '#'. Bytes, not Characters: "\r\n" is one Character, equal to neither "\r"
    /// nor "\n", and went out unquoted.
    /// Bytes, not Foundation: replacingOccurrences bridged every quoted value through NSString
    /// and made CSV slower than JSON (7.6 s against 3.3 s for 1.2M rows). The ASCII bytes looked
    /// for never occur inside a multi-byte UTF-8 sequence.
    static func field(_ s: String) -> String {
        let utf8 = s.utf8
        guard utf8.contains(where: { $0 == 0x2C || $0 == 0x22 || $0 == 0x0D || $0 == 0x0A || $0 == 0x23 }) else { return s }
        var out = "\""
        out.reserveCapacity(utf8.count + 4)
        for scalar in s.unicodeScalars {
            if scalar == "\"" { out += "\"\"" } else { out.unicodeScalars.append(scalar) }
        }
        out += "\""
        return out
    }

    /// `s` with a `'` in front when a spreadsheet would run it as a formula: it starts with
    /// `=`, `+`, `-`, `@`, tab or CR and is not a plain decimal number.
    static func neutralised(_ s: String) -> String {
        guard let first = s.utf8.first, [0x3D, 0x2B, 0x2D, 0x40, 0x09, 0x0D].contains(first), !isPlainNumber(s) else { return s }
        return "'" + s
    }

    /// [+-]digits[.digits][e[+-]digits] (or .digits): what spreadsheets read as a number.
    static func isPlainNumber(_ s: String) -> Bool {
        var bytes = Array(s.utf8)[...]
        func digits() -> Int {
            let n = bytes.prefix { (0x30...0x39).contains($0) }.count
            bytes = bytes.dropFirst(n)
            return n
        }
        if bytes.first == 0x2B || bytes.first == 0x2D { bytes = bytes.dropFirst() }
        var mantissa = digits()
        if bytes.first == 0x2E { bytes = bytes.dropFirst(); mantissa += digits() }
        guard mantissa > 0 else { return false }
        if bytes.first == 0x65 || bytes.first == 0x45 {
            bytes = bytes.dropFirst()
            if bytes.first == 0x2B || bytes.first == 0x2D { bytes = bytes.dropFirst() }
            guard digits() > 0 else { return false }
        }
        return bytes.isEmpty
    }

    /// A comment line: line ends inside (a title, a store path) become spaces.
    static func comment(_ s: String) -> String {
        "# " + String(String.UnicodeScalarView(s.unicodeScalars.map { $0 == "\r" || $0 == "\n" ? " " : $0 })) + "\r\n"
    }

    /// A section name as a lowercase ASCII identifier ("By month, category and currency" →
    /// "by-month-category-and-currency"): the `section` value of the long format and the file
    /// name of `CSVDirectoryWriter`.
    static func slug(_ name: String) -> String {
        var out = ""
        for scalar in name.lowercased().unicodeScalars {
            if scalar.isASCII && (scalar.properties.isAlphabetic || ("0"..."9").contains(scalar)) {
                out.unicodeScalars.append(scalar)
            } else if !out.isEmpty && !out.hasSuffix("-") {
                out += "-"
            }
        }
        while out.hasSuffix("-") { out.removeLast() }
        return out.isEmpty ? "section" : out
    }

    /// A text value as a field: neutralised (unless turned off), then quoted where needed.
    private func textField(_ s: String) -> String {
        Self.field(options.neutraliseFormulas ? Self.neutralised(s) : s)
    }

    private func cellField(_ cell: Cell) -> String {
        if case .text(let s) = cell { return textField(s) }
        return Self.field(cell.text)
    }

    func begin(title: String, freshness: Freshness) throws {
        if options.comments { try sink.write(Self.comment(title) + Self.comment(freshness.line)) }
    }

    func beginSection(_ name: String, columns: [ReportColumn]) throws {
        defer { sections += 1 }
        section = textField(Self.slug(name))
        if let keys {
            keyColumns = keys.map { key in columns.firstIndex { $0.name == key } }
            measures = columns.enumerated().filter { !keys.contains($0.element.name) }.map { ($0.offset, textField($0.element.name)) }
            guard !headerWritten else { return }
            headerWritten = true
            try sink.write((["section"] + keys + ["measure", "value"]).map(textField).joined(separator: ",") + "\r\n")
            return
        }
        guard sections == 0 else {
            throw ReportError(.invalid, "unable to write section \"\(name)\" into the same CSV table as the one before it",
                              hint: "write one file per section with --out-dir")
        }
        try sink.write((options.comments ? Self.comment(name) : "") + columns.map { textField($0.name) }.joined(separator: ",") + "\r\n")
    }

    func row(_ cells: [Cell]) throws {
        guard keys != nil else { return try sink.write(cells.map(cellField).joined(separator: ",") + "\r\n") }
        var prefix = section
        for k in keyColumns {
            prefix += ","
            if let k, k < cells.count { prefix += cellField(cells[k]) }
        }
        var lines = ""
        for m in measures where m.index < cells.count {
            lines += prefix + "," + m.name + "," + cellField(cells[m.index]) + "\r\n"
        }
        try sink.write(lines)
    }

    func endSection() throws {}
    func end() throws { try sink.finish() }
}

/// CSV with one file per section in a directory (`--out-dir`): `<slug of the section>.csv`,
/// each a plain table with its own header. Every file is written to a temporary name and
/// published (fsync, rename, fsync the directory) only when the whole report has been written,
/// so a failed report leaves no new file.
final class CSVDirectoryWriter: ReportWriter {
    private let directory: String
    private let force: Bool
    private let options: CSVOptions
    private var title = ""
    private var freshness: Freshness?
    private var current: CSVWriter?
    private var sinks: [ReportSink] = []

    /// Creates `directory` when it does not exist (its parent must).
    init(directory: String, force: Bool, options: CSVOptions) throws {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else {
                throw ReportError(.exists, "unable to write CSV files into \(directory): it is a file", hint: "give --out-dir a directory")
            }
        } else if mkdir(directory, FilePermissions.directory) != 0 || chmod(directory, FilePermissions.directory) != 0 {
            let code = errno
            throw ReportError(code == ENOENT ? .notFound : .io, "unable to create \(directory): \(String(cString: strerror(code)))",
                              hint: code == ENOENT ? "create its parent directory first" : nil)
        }
        self.directory = directory
        self.force = force
        self.options = options
    }

    func begin(title: String, freshness: Freshness) throws {
        self.title = title
        self.freshness = freshness
    }

    func beginSection(_ name: String, columns: [ReportColumn]) throws {
        let sink = try ReportSink(outputPath: directory + "/" + CSVWriter.slug(name) + ".csv", force: force)
        sinks.append(sink)
        let writer = CSVWriter(sink, options: options)
        if let freshness { try writer.begin(title: title, freshness: freshness) }
        try writer.beginSection(name, columns: columns)
        current = writer
    }

    func row(_ cells: [Cell]) throws { try current?.row(cells) }
    func endSection() throws { current = nil }

    func end() throws {
        for sink in sinks { try sink.finish() }
    }
}
