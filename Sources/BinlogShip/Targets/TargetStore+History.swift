import BinlogFormat
import Foundation

/// Epoch histories in a target (docs/FAILOVER.md): `EEEEEEEE.history` objects, read and
/// published through the store, so fencing works on every backend.
extension TargetStore {
    /// The newest history in the target (the highest epoch), validated; nil when there is none.
    /// Every older one must be an ancestor of it, else two promotions were made: split brain.
    func newestHistory() throws -> EpochHistory? {
        let keys = try list().map(\.key).filter { EpochHistory.parseFileName($0) != nil }
        guard let newestKey = keys.last else { return nil }
        let newest = try history(newestKey)
        for key in keys.dropLast() {
            let older = try history(key)
            guard older.isAncestor(of: newest) else {
                throw FormatError(.splitBrain, "epoch histories disagree: \(key) and \(newestKey) describe different forks"
                                  + " (\(older.difference(from: newest)))", path: address(of: key),
                                  hint: "two promotions were made from this source; keep the history of the master you trust and rebuild the other side")
            }
        }
        return newest
    }

    /// Reads and validates the history under `key`; its key must match its newest epoch.
    func history(_ key: String) throws -> EpochHistory {
        let bytes = try read(key)
        let history: EpochHistory
        do { history = try JSONDecoder().decode(EpochHistory.self, from: Data(bytes)) } catch {
            throw FormatError(.corrupted, "epoch history is not valid: \(error)", path: address(of: key))
        }
        try history.validate(path: address(of: key))
        if let named = EpochHistory.parseFileName(key), named != history.epoch {
            throw FormatError(.corrupted, "file name says epoch \(named), the history ends at epoch \(history.epoch)", path: address(of: key))
        }
        return history
    }

    /// Publishes `history` under its key, never replacing an object: one already there must
    /// hold the same history (a rerun of the same promotion); another one is a split brain.
    func publish(_ history: EpochHistory) throws {
        let key = EpochHistory.fileName(epoch: history.epoch)
        if try stat(key) == nil {
            do {
                try put(key, history.encoded())
                return
            } catch let e as ShipError where e.kind == .corruption {
                // Another promotion published this epoch meanwhile: compared below.
            }
        }
        let existing = try self.history(key)
        guard existing == history else {
            throw FormatError(.splitBrain, "\(address(of: key)) already holds another epoch \(history.epoch) (\(existing.difference(from: history)))", path: address(of: key),
                              hint: "epoch \(history.epoch) was already created by another promotion; do not start a second master")
        }
    }
}
