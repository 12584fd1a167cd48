import BinlogFormat
import BinlogMaster
import Foundation
import LogshipTestSupport
import XCTest

/// The library example of docs/MASTER.md, verbatim in spirit: open a master, write in a transaction,
/// run SQL text, and find every change in the binlog.
final class ReadmeExampleTests: XCTestCase {
    func testLibraryExampleFromTheReadme() throws {
        let dir = TestDirectory("readme")
        let path = dir.sub("master")
        try MasterDirectory.initialize(at: path)
        do {
            let setup = try Master.open(path)
            try setup.execute(String(contentsOfFile: samplesPath("expenses.sql"), encoding: .utf8))
            try setup.execute("INSERT INTO expenses (spent_at, category, merchant, amount_cents, currency) VALUES ('2026-01-01', 'x', 'y', 1, 'EUR'), ('2026-01-02', 'x', 'y', 2, 'EUR')")
            try setup.close()
        }

        // --- the docs/MASTER.md example ---
        let master = try Master.open(path)
        defer { try? master.close() }
        let info = try master.transaction { tx in
            try tx.execute("INSERT INTO expenses (spent_at, category, merchant, amount_cents, currency) VALUES (?, ?, ?, ?, ?)",
                           arguments: ["2026-11-27", "travel", "SNCF", 8900, "EUR"])
        }
        var lines: [String] = []
        for commit in try master.execute("UPDATE expenses SET note = 'checked' WHERE id = 1; DELETE FROM expenses WHERE id = 2") {
            lines.append("\(commit.lsn) \(commit.events)")
        }
        // ---

        XCTAssertEqual(info?.lsn, 4)
        XCTAssertEqual(lines, ["5 1", "6 1"])
        try master.close()
        var kinds: [String] = []
        for entry in try BinlogDirectory(path: path + "/binlog").list().segments {
            let reader = try SegmentReader(path: entry.path)
            while let tx = try reader.next() {
                guard tx.lsn >= 4 else { continue }
                for e in tx.events {
                    switch e {
                    case .insert(let t, _, let values): kinds.append("insert \(t.name) \(values[3])")
                    case .update(_, _, _, _, let new): kinds.append("update \(new[6])")
                    case .delete(_, let rowid, _): kinds.append("delete \(rowid ?? -1)")
                    case .ddl: kinds.append("ddl")
                    }
                }
            }
        }
        XCTAssertEqual(kinds, ["insert expenses 'SNCF'", "update 'checked'", "delete 2"])
    }

    private func samplesPath(_ name: String) -> String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("samples").appendingPathComponent(name).path
    }
}
