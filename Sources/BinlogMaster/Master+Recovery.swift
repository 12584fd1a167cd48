import BinlogApply
import BinlogFormat
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
        do { entries = try binlog.list().segments } catch let e as FormatError { throw MasterError(e, while: "listing the binlog") } catch let e as SystemError { throw MasterError(e, while: "listing the binlog") }
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
        } catch let e as SystemError {
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
                writer = try SegmentWriter.reopen(directory: directory.binlogPath, verified: active, eventCount: activeEvents,
                                                  cipher: active.header.encryptionKeyID.flatMap(SegmentKeyring.cipher(for:)) ?? self.cipher)
                writer?.preallocationStep = preallocationStep
            } catch let e as FormatError {
                throw MasterError(e, while: "reopening the active segment")
            } catch let e as SystemError {
                throw MasterError(e, while: "reopening the active segment")
            }
        }
    }

    private func checkSource(_ header: SegmentHeader, _ path: String) throws {
        guard header.sourceID == identity.sourceID else {
            throw FormatError(.corrupted, "segment belongs to source \(header.sourceID), this master is \(identity.sourceID)", path: path, offset: 16)
        }
    }

    /// Replays binlog transactions `first...last` into the database with the shared replay
    /// driver, capture off, the connection prepared by the engine (triggers and foreign keys
    /// off: their effects are in the binlog, and both are back on afterwards).
    private func redo(from first: UInt64, through last: UInt64, entries: [BinlogDirectory.Entry]) throws {
        let engine = ApplyEngine()
        var source = BinlogReplaySource(entries: entries, first: first)
        var options = ReplayOptions(untilLSN: last)
        // The position keeps the epoch the master's promotion wrote (Master+Epochs).
        options.tracksEpoch = false
        let outcome = try queue.inDatabase { db -> ReplayOutcome in
            defer { engine.reset() }
            return try ApplyEngine.withPreparedConnection(db) {
                let driver = ReplayDriver<BinlogReplaySource>(engine: engine, options: options)
                do { return try driver.run(&source, in: db) } catch { throw Self.recoveryError(error) }
            }
        }
        if let failure = outcome.failure { throw Self.recoveryError(failure.error) }
        guard outcome.toLSN >= last else { throw MasterError(.binlog, "recovery stopped at LSN \(outcome.toLSN + 1); the binlog should reach \(last)") }
    }

    /// Recovery's terms for what stopped the replay.
    static func recoveryError(_ error: Error) -> Error {
        switch error {
        case let e as FormatError: return MasterError(e, while: "recovery")
        case let e as SystemError: return MasterError(e, while: "recovery")
        case let e as ApplyError: return MasterError(.binlog, "recovery could not redo the binlog into the database: \(e)")
        case ReplayFault.begin(_, let cause): return cause
        case ReplayFault.batchLost(let lsn):
            return MasterError(.io, "recovery's batch of LSNs up to \(lsn) was rolled back by SQLite; nothing of it is applied")
        case ReplayFault.gap(let after, let found):
            return MasterError(.binlog, "recovery needs LSN \(after + 1) but the binlog continues at \(found)")
        default: return error
        }
    }
}

/// The master's binlog segments as a replay source, from the segment that holds `first`.
struct BinlogReplaySource: ReplaySource {
    let entries: [BinlogDirectory.Entry]
    /// The next LSN recovery needs.
    private var needed: UInt64
    private var index = 0
    private var reader: SegmentReader?

    init(entries: [BinlogDirectory.Entry], first: UInt64) {
        self.entries = entries
        needed = first
    }

    mutating func next() throws -> ReplayItem<Void>? {
        while index < entries.count {
            let r: SegmentReader
            if let reader { r = reader } else {
                r = try SegmentReader(path: entries[index].path)
                if let footer = r.footer, footer.lastLSN < needed { index += 1; continue }
                if r.header.firstLSN > needed {
                    throw MasterError(.binlog, "recovery needs LSN \(needed) but the binlog starts at \(r.header.firstLSN)")
                }
                reader = r
            }
            if let tx = try r.next() {
                needed = max(needed, tx.lsn + 1)
                return ReplayItem(tx, sourceID: r.header.sourceID, epoch: r.header.epoch, origin: ())
            }
            reader = nil
            index += 1
        }
        return nil
    }
}
