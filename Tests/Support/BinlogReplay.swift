import BinlogApply
import BinlogFormat
import Foundation
import GRDB

/// Replays a directory of segments into a new SQLite file with the apply engine, for
/// comparing a master with "what its binlog says" through `TableDigest`.
public enum BinlogReplay {
    /// Replays every complete transaction (up to `lastLSN` when given) into `databasePath`.
    /// Returns the last LSN applied.
    @discardableResult
    public static func replay(binlog: String, into databasePath: String, upTo lastLSN: UInt64? = nil) throws -> UInt64 {
        var config = Configuration()
        config.foreignKeysEnabled = false
        let queue = try DatabaseQueue(path: databasePath, configuration: config)
        defer { try? queue.close() }
        let engine = ApplyEngine()
        var applied: UInt64 = 0
        try queue.inDatabase { db in
            try ApplyEngine.prepareConnection(db)
            // Whether the first segment was seen is its own fact: `applied` stays 0 after a whole
            // segment when `lastLSN` is 0 (a store killed before its first commit), and the next
            // segment must not then pass for the binlog's start (it did, in ReplicaPowerLossTests).
            var first = true
            for entry in try BinlogDirectory(path: binlog).list().segments {
                let reader = try SegmentReader(path: entry.path)
                if let lastLSN, reader.header.firstLSN > lastLSN, !first { break }
                if first, reader.header.firstLSN > 1 {
                    // What the directory holds, to tell a purge from a file that vanished.
                    let names = ((try? FileManager.default.contentsOfDirectory(atPath: binlog)) ?? []).sorted()
                    throw ReplayFailure(description: "the binlog begins at LSN \(reader.header.firstLSN) (\(entry.name)): a replay into an empty database needs every transaction from LSN 1 (were segments purged?); \(binlog) holds \(names)")
                }
                first = false
                try db.execute(sql: "BEGIN")
                do {
                    while let tx = try reader.next() {
                        if let lastLSN, tx.lsn > lastLSN { break }
                        try engine.apply(tx, in: db)
                        applied = tx.lsn
                    }
                    try db.execute(sql: "COMMIT")
                } catch {
                    // A transaction left open at the end of the access is a GRDB precondition (a crash).
                    try? db.execute(sql: "ROLLBACK")
                    throw ReplayFailure(description: "replaying \(entry.name) after LSN \(applied): \(error)")
                }
            }
            engine.reset()
        }
        return applied
    }
}

/// Why `BinlogReplay` could not give the binlog's tables.
public struct ReplayFailure: Error, CustomStringConvertible {
    public var description: String
}
