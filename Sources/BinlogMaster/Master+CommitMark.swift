import BinlogFormat
import Foundation

extension Master {
    /// Opens `binlog/.committed` and writes the position recovery left (every frame in the
    /// binlog is committed once recovery is done, and durable after one fdatasync of the
    /// active segment). Called once, when the master opens.
    func openCommitMark() throws {
        do {
            try writer?.sync()
            durableLSN = lastLSN
            commitMark = try CommitMarkWriter(binlogDirectory: directory.binlogPath)
        } catch let e as SystemError {
            throw MasterError(e, while: "opening the committed mark")
        } catch let e as FormatError {
            throw MasterError(e, while: "syncing the active segment")
        }
        try writeCommitMark()
    }

    /// Tells shippers that everything up to `lastLSN` is committed (docs/FORMAT.md §12): called
    /// after SQLite's COMMIT succeeded, before the segment is sealed and before a semi-sync wait.
    /// Frames appended but not yet committed stay beyond the mark, so a group the master undoes
    /// (its fsync or COMMIT failed) never leaves the machine.
    func publishCommitMark() {
        // The transaction is committed whatever happens here; a mark that could not be written
        // only holds followers back until the next commit (or the next open) writes it.
        try? writeCommitMark()
    }

    private func writeCommitMark() throws {
        guard let commitMark else { return }
        let name = writer?.name ?? lastSealed?.name
        let mark = CommitMark(epoch: name?.epoch ?? identity.epoch, sequence: name?.sequence ?? 0, lastLSN: lastLSN, durableLSN: durableLSN)
        do { try commitMark.publish(mark) } catch let e as SystemError {
            throw MasterError(e, while: "writing the committed mark")
        }
    }
}
