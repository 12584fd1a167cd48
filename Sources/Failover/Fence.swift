import BinlogFormat
import Foundation
import ReplicaStore

/// Where a promotion writes the new epoch's history so that the old epoch can no longer reach
/// past the fork point (docs/FAILOVER.md "Fencing"): a shipping target (a replica's inbox, as
/// `binlog-ship` sees it), a replica directory (its inbox), or a master data directory (its
/// binlog, so the old master refuses to write when it comes back).
public struct FenceTarget: Sendable, Equatable {
    public enum Kind: String, Sendable { case inbox, replica, master }
    /// The path as given.
    public var given: String
    public var kind: Kind
    /// The directory the history file goes into.
    public var directory: String

    /// Classifies `path`: a master data directory (`master.json`), a replica (`replica.json`),
    /// or any other existing directory (an inbox).
    public init(path: String) throws {
        let p = absolutePath(path)
        given = p
        let fm = FileManager.default
        var isDir: ObjCBool = false
        guard fm.fileExists(atPath: p, isDirectory: &isDir), isDir.boolValue else {
            throw FailoverError(.notFound, "cannot fence \(p): no such directory", hint: "give a replica inbox (a binlog-ship target), a replica directory or the old master's data directory")
        }
        if fm.fileExists(atPath: p + "/master.json") {
            kind = .master
            directory = p + "/binlog"
        } else if fm.fileExists(atPath: p + "/replica.json") {
            kind = .replica
            directory = try ReplicaDirectory.open(p).inboxPath
        } else {
            kind = .inbox
            directory = p
        }
    }

    /// The newest history already there, if any.
    public func existingHistory() throws -> EpochHistory? {
        do { return try EpochHistory.newest(in: directory)?.history } catch let e as FormatError {
            throw FailoverError(e, while: "reading the epoch history in \(directory)")
        } catch let e as SystemError {
            throw FailoverError(e, while: "reading the epoch history in \(directory)")
        }
    }

    /// Refuses a fence that a newer or different promotion already holds.
    public func check(against history: EpochHistory) throws {
        guard let existing = try existingHistory() else { return }
        if existing.isAncestor(of: history) { return }
        throw FailoverError(.splitBrain, "\(given) is already fenced by epoch \(existing.epoch) (\(existing.difference(from: history)))",
                            hint: "another promotion of this source happened; do not start a second master. Compare the histories with `cat \(directory)/*.history`")
    }

    /// Writes `history` here, durably, never replacing a different one.
    public func write(_ history: EpochHistory) throws {
        do { try history.publish(in: directory) } catch let e as FormatError {
            throw FailoverError(e, while: "fencing \(given)")
        } catch let e as SystemError {
            throw FailoverError(e, while: "fencing \(given)")
        }
    }
}
