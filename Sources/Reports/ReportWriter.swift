import Foundation
import LogshipSystem

/// The output formats of every report.
public enum ReportFormat: String, CaseIterable, Sendable {
    case table, csv, json, markdown, html
}

/// Receives a report section by section and row by row, so that large results stream with
/// memory that does not grow with the number of rows (the aligned table measures its widths
/// on the first rows only, see `AlignedTableWriter`).
public protocol ReportWriter: AnyObject {
    func begin(title: String, freshness: Freshness) throws
    func beginSection(_ name: String, columns: [ReportColumn]) throws
    func row(_ cells: [Cell]) throws
    func endSection() throws
    /// Data for the HTML chart (month → category → total minor units), per currency, on one
    /// month axis shared by every currency. Others ignore it.
    func chart(currency: String, months: [String], series: [(name: String, totals: [Int64])]) throws
    /// Called before `begin` by a report of several sections: the columns that identify a
    /// figure (month, category, …), for formats that put every section in one long table
    /// (CSV). Others ignore it.
    func longFormat(keys: [String])
    func end() throws
}

extension ReportWriter {
    public func chart(currency: String, months: [String], series: [(name: String, totals: [Int64])]) throws {}
    public func longFormat(keys: [String]) {}
}

/// Where report text goes: standard output, or a file published durably at the end
/// (temp file in the same directory, fsync, rename, fsync the directory).
public final class ReportSink {
    private let handle: FileHandle
    private let tempPath: String?
    private let finalPath: String?
    private var buffer = Data()

    public init(outputPath: String?, force: Bool) throws {
        if let outputPath {
            if FileManager.default.fileExists(atPath: outputPath) && !force {
                throw ReportError(.exists, "\(outputPath) exists", hint: "choose another --out, or pass --force")
            }
            let dir = (outputPath as NSString).deletingLastPathComponent
            let name = (outputPath as NSString).lastPathComponent
            let temp = (dir.isEmpty ? "" : dir + "/") + ".tmp-\(getpid())-" + name
            guard FileManager.default.createFile(atPath: temp, contents: nil, attributes: [.posixPermissions: Int(FilePermissions.file)]), let h = FileHandle(forWritingAtPath: temp) else {
                throw ReportError(.io, "unable to create \(temp)")
            }
            handle = h
            tempPath = temp
            finalPath = outputPath
        } else {
            handle = FileHandle.standardOutput
            tempPath = nil
            finalPath = nil
        }
    }

    deinit { if let tempPath { unlink(tempPath) } }

    public func write(_ s: String) throws {
        buffer.append(contentsOf: s.utf8)
        if buffer.count >= 1 << 16 { try flush() }
    }

    func flush() throws {
        guard !buffer.isEmpty else { return }
        do { try handle.write(contentsOf: buffer) } catch {
            let code = (error as NSError).code
            throw ReportError(code == Int(ENOSPC) ? .diskFull : .io, "writing the report: \(error.localizedDescription)")
        }
        buffer.removeAll(keepingCapacity: true)
    }

    /// Flushes, and for a file makes it durable and visible under its name.
    public func finish() throws {
        try flush()
        guard let tempPath, let finalPath else { return }
        do {
            try handle.synchronize()
            try handle.close()
        } catch {
            throw ReportError(.io, "syncing \(tempPath): \(error.localizedDescription)")
        }
        guard rename(tempPath, finalPath) == 0 else { throw ReportError(.io, "unable to rename \(tempPath) to \(finalPath): \(String(cString: strerror(errno)))") }
        let dir = (finalPath as NSString).deletingLastPathComponent
        let fd = open(dir.isEmpty ? "." : dir, O_RDONLY | O_DIRECTORY)
        if fd >= 0 { fsync(fd); close(fd) }
    }

    /// The writer of `format` into `sink`; `csv` lays out and guards CSV.
    public static func make(_ format: ReportFormat, sink: ReportSink, csv: CSVOptions = .init()) -> ReportWriter {
        switch format {
        case .table: return AlignedTableWriter(sink)
        case .csv: return CSVWriter(sink, options: csv)
        case .json: return JSONReportWriter(sink)
        case .markdown: return MarkdownWriter(sink)
        case .html: return HTMLWriter(sink)
        }
    }

    /// CSV with one file per section in `directory` (created when missing), published when
    /// the report is complete; an existing file is refused unless `force`.
    public static func csvDirectory(_ directory: String, force: Bool, csv: CSVOptions = .init()) throws -> ReportWriter {
        try CSVDirectoryWriter(directory: directory, force: force, options: csv)
    }
}
