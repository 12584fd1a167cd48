import BinlogApply
import BinlogFormat
import Foundation
import GRDB
import LogshipSystem

/// When the master writes digest markers (docs/REPLICA.md, "Continuous verification"): every
/// `every` transactions, or on the first commit `interval` seconds after the last marker, and
/// on `rotate` when transactions came after the last marker. 0 turns a trigger off; with both 0
/// the master writes no markers and its segments stay format version 1.
struct DigestSchedule {
    /// Transactions between markers; 0 = off.
    var every = 0
    /// Seconds between markers; 0 = off.
    var interval: Double = 0
    /// The last marker's LSN and commit time (0 before the first), from `_logship_verified`.
    var lastLSN: UInt64 = 0
    var lastTime: Int64 = 0
    /// Set by `rotate`: the next commit writes a marker even though it changed nothing.
    var forced = false
    /// The open transaction ends with a marker (bookkeeping once it commits).
    var pending = false

    var enabled: Bool { every > 0 || interval > 0 }

    /// True when transaction `lsn`, committed at `time`, is due to carry a marker.
    func isDue(lsn: UInt64, time: Int64) -> Bool {
        if forced { return true }
        if every > 0 && lsn >= lastLSN + UInt64(every) { return true }
        return interval > 0 && Double(time - lastTime) >= interval * 1_000_000
    }
}

extension Master {
    /// Called once at open, after recovery and before capture is installed: reads the settings
    /// and the last marker, and creates `_logship_verified` now, so that no commit changes the
    /// schema under the capture's table cache.
    func prepareDigestMarkers(_ db: Database, options: Options) throws {
        digestSchedule.every = options.digestEvery ?? identity.digestEveryTransactions ?? 0
        digestSchedule.interval = options.digestInterval ?? identity.digestIntervalSeconds ?? 0
        guard digestSchedule.enabled else { return }
        if let last = try VerifiedPosition.read(db) {
            digestSchedule.lastLSN = last.lsn
            digestSchedule.lastTime = last.commitTime
        } else {
            try VerifiedPosition.createTable(db)
        }
    }

    /// The header version of a new segment: 3 when the master has a signing key (docs/FORMAT.md
    /// §5.1), else 2 when markers are on (§2), else 1.
    var newSegmentVersion: UInt16 {
        if signer != nil { return SegmentHeader.signedVersion }
        return digestSchedule.enabled ? SegmentHeader.digestVersion : SegmentHeader.currentVersion
    }

    /// Commit hook, inside the open SQLite transaction before its frames are encoded: when a
    /// marker is due, reads every user table (the rows this transaction leaves, as SQLite will
    /// commit them), ends the transaction's events with the marker and records it in
    /// `_logship_verified` (same transaction). A segment started before markers were turned on
    /// (version 1) cannot hold one: markers begin with the next segment.
    func appendDigestIfDue(_ db: Database, lsn: UInt64, commitTime: Int64) throws {
        digestSchedule.pending = false
        guard digestSchedule.enabled, digestSchedule.isDue(lsn: lsn, time: commitTime),
              try activeWriter().header.version >= SegmentHeader.digestVersion else { return }
        let marker: DigestMarker
        do { marker = try DigestMarker.of(db) } catch let e as ApplyError {
            // A read failure, not a divergence: the master's own rows could not be read.
            throw MasterError(e.isDiskFull ? .diskFull : .io, "unable to compute the digest marker of LSN \(lsn): \(e.message)",
                              hint: "the transaction was rolled back and nothing was logged; run it again")
        }
        try VerifiedPosition.write(db, VerifiedPosition(lsn: lsn, commitTime: commitTime, verifiedAt: microsecondsNow(),
                                                        tables: marker.tables.count, rows: marker.totalRows))
        capture.encoder.appendDigest(marker)
        digestSchedule.pending = true
    }

    /// Commit hook, after SQLite committed transaction `lsn`.
    func digestCommitted(lsn: UInt64, commitTime: Int64) {
        guard digestSchedule.pending else { return }
        digestSchedule.pending = false
        digestSchedule.lastLSN = lsn
        digestSchedule.lastTime = commitTime
    }

    /// Rotate hook, before the active segment is sealed: when transactions came after the last
    /// marker, commits a marker-only transaction (the next LSN, no row events), so a sealed
    /// segment ends at a verified point. Nothing new since the last marker: nothing written.
    func writeRotationMarker() throws {
        guard digestSchedule.enabled, lastLSN > digestSchedule.lastLSN,
              let writer, writer.header.version >= SegmentHeader.digestVersion else { return }
        try queue.inDatabase { db in
            try beginTransaction(db)
            digestSchedule.forced = true
            defer { digestSchedule.forced = false }
            do { _ = try commit(db) } catch {
                try? abortTransaction(db)
                throw error
            }
        }
    }
}

extension MasterDirectory {
    /// Changes the digest-marker settings in `master.json` (nil leaves a setting as it is; 0 turns
    /// it off), under the directory lock so that no writer is running. A running master keeps the
    /// settings it opened with; the next open takes the new ones.
    @discardableResult
    public func configureDigestMarkers(every: Int?, interval: Double?, lockTimeout: Double = 10) throws -> Identity {
        if let every, every < 0 { throw MasterError(.invalid, "--digest-every must be 0 (off) or more") }
        if let interval, interval < 0 || !interval.isFinite { throw MasterError(.invalid, "--digest-interval must be 0 (off) or more") }
        var identity = try readIdentity()
        let lock: DirectoryLock
        do { lock = try DirectoryLock(path: lockPath, timeout: lockTimeout) } catch {
            throw MasterError(.busy, "unable to change \(identityPath): another binlog-writer holds \(path)",
                              hint: "wait for it to finish (or raise --lock-timeout) and run again")
        }
        defer { lock.release() }
        if let every { identity.digestEveryTransactions = every }
        if let interval { identity.digestIntervalSeconds = interval }
        do { try writeIdentity(identity) } catch let e as FormatError { throw MasterError(e, while: "writing \(identityPath)") } catch let e as SystemError { throw MasterError(e, while: "writing \(identityPath)") }
        return identity
    }
}
