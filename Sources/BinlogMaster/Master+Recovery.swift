import BinlogApply
import BinlogFormat
import CSQLiteHooks
import Foundation
import GRDB
import LogshipSystem

extension Master {
    /// Brings the binlog and the database into agreement after any stop, clean or not:
    /// completes an interrupted seal, drops a torn tail from the active segment, and redoes
    /// into the database every transaction the binlog has and the database lacks.
    func recover() throws {
        let binlog = BinlogDirectory(path: directory.binlogPath)
        recovery.removedTemporaries = DurableFile.removeStaleTemporaries(in: directory.binlogPath)
        var entries: [BinlogDirectory.Entry]
        do { entries = try binlog.list().segments } catch let e as FormatError { throw MasterError(e, while: "listing the binlog") }
        var activeReader: SegmentReader?
        var activeEvents: UInt64 = 0
        do {
            if let last = entries.last, last.name.isActive {
                let reader = try SegmentReader(path: last.path)
                try checkSource(reader.header, last.path)
                while let tx = try reader.next() { activeEvents += UInt64(tx.events.count) }
                if reader.isSealed {
                    // Crashed between writing the footer and the rename: finish the seal.
                    let sealedPath = directory.binlogPath + "/" + last.name.sealed.description
                    try DurableFile.rename(last.path, to: sealedPath)
                    try DurableFile.syncDirectory(directory.binlogPath)
                    recovery.completedSeal = last.name.sealed.description
                    entries[entries.count - 1] = BinlogDirectory.Entry(name: last.name.sealed, path: sealedPath, size: last.size)
                } else {
                    activeReader = reader
                    if let torn = reader.tornTailOffset, !reader.tornTailIsZeros {
                        recovery.tornTailBytes = reader.fileSize - torn
                        recovery.tornTailReason = reader.tornTailReason
                    }
                }
            }
            if entries.dropLast().contains(where: { $0.name.isActive }) {
                throw FormatError(.corrupted, "more than one active segment in the binlog", path: directory.binlogPath)
            }
            if let lastSealedEntry = entries.last(where: { !$0.name.isActive }) {
                let reader = try SegmentReader(path: lastSealedEntry.path)
                try checkSource(reader.header, lastSealedEntry.path)
                guard let footer = reader.footer else {
                    throw FormatError(.corrupted, "sealed segment has no footer", path: lastSealedEntry.path)
                }
                lastSealed = (lastSealedEntry.name, footer)
            }
        } catch let e as FormatError {
            throw MasterError(e, while: "recovering the binlog")
        }
        if let active = activeReader, active.transactionCount > 0 {
            lastLSN = active.lastLSN
            lastCommitTime = active.lastCommitTime
        } else if let sealed = lastSealed {
            lastLSN = sealed.footer.lastLSN
            lastCommitTime = sealed.footer.lastCommitTime
        }
        if let active = activeReader, let sealed = lastSealed, active.header.firstLSN != sealed.footer.lastLSN + 1 {
            throw MasterError(.binlog, "active segment starts at LSN \(active.header.firstLSN) but the last sealed one ends at \(sealed.footer.lastLSN)")
        }

        // A promotion elsewhere may have superseded this master: refuse before writing anything.
        let history = try ownHistory()
        try checkTargetsForFence()

        let position = try queue.inDatabase { db in try AppliedPosition.read(db) }
        guard let position else {
            throw MasterError(.notFound, "\(directory.databasePath) has no logship position table; it was not created by binlog-writer init")
        }
        if entries.isEmpty && history.current.firstLSN > 1 {
            // A promoted master before its first commit: it continues from the fork point.
            lastLSN = history.current.firstLSN - 1
            lastCommitTime = position.commitTime
        }
        guard position.sourceID == identity.sourceID else {
            throw MasterError(.binlog, "database belongs to source \(position.sourceID), master.json says \(identity.sourceID)")
        }
        if position.lsn > lastLSN {
            throw MasterError(.binlog, "the database holds LSN \(position.lsn) but the binlog ends at LSN \(lastLSN)",
                              hint: "the binlog lost transactions (a relaxed --sync-binlog and a power loss, or deleted segments); rebuild this master from a replica")
        }
        if position.lsn < lastLSN {
            try redo(from: position.lsn + 1, through: lastLSN, entries: entries)
            recovery.redone = (position.lsn + 1)...lastLSN
        }
        if let active = activeReader {
            do {
                writer = try SegmentWriter.reopen(directory: directory.binlogPath, verified: active, eventCount: activeEvents)
                writer?.preallocationStep = preallocationStep
            } catch let e as FormatError {
                throw MasterError(e, while: "reopening the active segment")
            }
        }
    }

    private func checkSource(_ header: SegmentHeader, _ path: String) throws {
        guard header.sourceID == identity.sourceID else {
            throw FormatError(.corrupted, "segment belongs to source \(header.sourceID), this master is \(identity.sourceID)", path: path, offset: 16)
        }
    }

    /// Replays binlog transactions `first...last` into the database with the shared apply
    /// engine, capture off, triggers and foreign keys off (their effects are in the binlog).
    private func redo(from first: UInt64, through last: UInt64, entries: [BinlogDirectory.Entry]) throws {
        let engine = ApplyEngine()
        var next = first
        try queue.inDatabase { db in
            try db.execute(sql: "PRAGMA foreign_keys = OFF")
            guard lsh_enable_triggers(db.sqliteConnection, 0) == 0 else { throw MasterError(.io, "unable to disable triggers for recovery") }
            defer {
                _ = lsh_enable_triggers(db.sqliteConnection, 1)
                try? db.execute(sql: "PRAGMA foreign_keys = ON")
                engine.reset()
            }
            for entry in entries {
                let reader: SegmentReader
                do { reader = try SegmentReader(path: entry.path) } catch let e as FormatError { throw MasterError(e, while: "recovery") }
                if let footer = reader.footer, footer.lastLSN < next { continue }
                if reader.header.firstLSN > next {
                    throw MasterError(.binlog, "recovery needs LSN \(next) but the binlog starts at \(reader.header.firstLSN)")
                }
                try db.execute(sql: "BEGIN IMMEDIATE")
                do {
                    var appliedAny = false
                    var lastTx: (UInt64, Int64) = (0, 0)
                    while let tx = try reader.next(), tx.lsn <= last {
                        if tx.lsn < next { continue }
                        try engine.apply(tx, in: db)
                        lastTx = (tx.lsn, tx.commitTime)
                        next = tx.lsn + 1
                        appliedAny = true
                    }
                    if appliedAny { try AppliedPosition.write(db, lsn: lastTx.0, commitTime: lastTx.1, appliedAt: microsecondsNow()) }
                    try db.execute(sql: "COMMIT")
                } catch {
                    try? db.execute(sql: "ROLLBACK")
                    if let e = error as? FormatError { throw MasterError(e, while: "recovery") }
                    if let e = error as? ApplyError { throw MasterError(.binlog, "recovery could not redo the binlog into the database: \(e)") }
                    throw error
                }
                if next > last { break }
            }
        }
        guard next > last else { throw MasterError(.binlog, "recovery stopped at LSN \(next); the binlog should reach \(last)") }
    }
}
