import BinlogFormat
import Foundation
import LogshipSystem

/// Renders transactions for `binlog-writer dump`: readable text like `mysqlbinlog -v`,
/// or one JSON object per transaction (JSON Lines).
public enum DumpFormat: String, CaseIterable, Sendable {
    case text
    case jsonl
}

/// Which transactions and events a dump shows.
public struct DumpFilter: Sendable {
    public var fromLSN: UInt64?
    public var toLSN: UInt64?
    public var since: Int64?
    public var until: Int64?
    public var tables: Set<String> = []

    public init() {}

    public func includes(_ tx: Transaction) -> Bool {
        if let fromLSN, tx.lsn < fromLSN { return false }
        if let toLSN, tx.lsn > toLSN { return false }
        if let since, tx.commitTime < since { return false }
        if let until, tx.commitTime > until { return false }
        return true
    }

    public func includes(_ event: Event) -> Bool {
        guard !tables.isEmpty else { return true }
        guard let t = event.tableName else { return false }
        return tables.contains(t)
    }
}

public struct DumpPrinter {
    public var format: DumpFormat
    public init(format: DumpFormat) { self.format = format }

    public func render(_ tx: Transaction, events: [Event], segment: String) -> String {
        switch format {
        case .text: return text(tx, events, segment)
        case .jsonl: return json(tx, events, segment)
        }
    }

    private func text(_ tx: Transaction, _ events: [Event], _ segment: String) -> String {
        var out = "# LSN \(tx.lsn)  commit \(formatTimestamp(tx.commitTime))  segment \(segment)  events \(tx.events.count)\n"
        for e in events {
            switch e {
            case .insert(let t, let rowid, let values):
                out += "### INSERT INTO \(t.name)\(rowid.map { " (rowid \($0))" } ?? "")\n"
                out += columns(t, values, "SET")
            case .update(let t, let oldRowid, let newRowid, let old, let new):
                let moved = oldRowid != newRowid ? " (rowid \(oldRowid.map(String.init) ?? "?") -> \(newRowid.map(String.init) ?? "?"))" : (oldRowid.map { " (rowid \($0))" } ?? "")
                out += "### UPDATE \(t.name)\(moved)\n### WHERE\n" + columns(t, old, "") + "### SET\n" + columns(t, new, "")
            case .delete(let t, let rowid, let old):
                out += "### DELETE FROM \(t.name)\(rowid.map { " (rowid \($0))" } ?? "")\n### WHERE\n" + columns(t, old, "")
            case .ddl(let sql):
                out += "### DDL \(sql)\n"
            }
        }
        if let marker = tx.digest {
            out += "### DIGEST MARKER (\(marker.tables.count) tables, \(marker.totalRows) rows after this transaction)\n"
            for t in marker.tables { out += "###   \(t.name) rows=\(t.rows) digest=\(Self.hex16(t.sum))\n" }
        }
        return out
    }

    /// 16 lower-case hex digits, as digests are shown everywhere.
    static func hex16(_ v: UInt64) -> String {
        let digits = String(v, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }

    private func columns(_ t: TableDescriptor, _ values: [Value], _ label: String) -> String {
        var out = ""
        for (i, v) in values.enumerated() {
            let name = i < t.columns.count ? t.columns[i].name : "@\(i + 1)"
            out += "###   \(name)=\(v)\n"
        }
        _ = label
        return out
    }

    private func json(_ tx: Transaction, _ events: [Event], _ segment: String) -> String {
        var items: [[String: Any]] = []
        for e in events {
            switch e {
            case .insert(let t, let rowid, let values):
                var o: [String: Any] = ["type": "insert", "table": t.name, "values": object(t, values)]
                if let rowid { o["rowid"] = rowid }
                items.append(o)
            case .update(let t, let oldRowid, let newRowid, let old, let new):
                var o: [String: Any] = ["type": "update", "table": t.name, "before": object(t, old), "after": object(t, new)]
                if let oldRowid { o["old_rowid"] = oldRowid }
                if let newRowid { o["new_rowid"] = newRowid }
                items.append(o)
            case .delete(let t, let rowid, let old):
                var o: [String: Any] = ["type": "delete", "table": t.name, "before": object(t, old)]
                if let rowid { o["rowid"] = rowid }
                items.append(o)
            case .ddl(let sql):
                items.append(["type": "ddl", "sql": sql])
            }
        }
        var root: [String: Any] = ["lsn": tx.lsn, "commit_time": formatTimestamp(tx.commitTime), "commit_time_us": tx.commitTime,
                                   "segment": segment, "events": items]
        if let marker = tx.digest {
            root["digest"] = marker.tables.map { ["table": $0.name, "rows": $0.rows, "digest": Self.hex16($0.sum)] as [String: Any] }
        }
        let data = (try? JSONSerialization.data(withJSONObject: root, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data()
        return String(decoding: data, as: UTF8.self) + "\n"
    }

    private func object(_ t: TableDescriptor, _ values: [Value]) -> [String: Any] {
        var o: [String: Any] = [:]
        for (i, v) in values.enumerated() {
            let name = i < t.columns.count ? t.columns[i].name : "@\(i + 1)"
            o[name] = jsonValue(v)
        }
        return o
    }

    /// JSON has no blobs or exact 64-bit reals: blobs become {"blob_hex": …}, non-finite reals strings.
    private func jsonValue(_ v: Value) -> Any {
        switch v {
        case .null: return NSNull()
        case .integer(let i): return i
        case .real(let d): return d.isFinite ? d : "\(d)"
        case .text(let data): return String(decoding: data, as: UTF8.self)
        case .blob(let data): return ["blob_hex": data.map { String(format: "%02x", $0) }.joined()]
        }
    }
}
