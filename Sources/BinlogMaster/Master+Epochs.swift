import BinlogFormat
import Foundation

/// Epochs on the master side (docs/FAILOVER.md): a promoted master starts from its history's
/// fork point, and a master whose epoch was superseded refuses to write.
extension Master {
    /// The epoch history this master writes under: the newest history file in its binlog
    /// directory, which must be this master's own epoch. A newer one means a promotion fenced
    /// this master; an older one (or none, past epoch 1) means the directory lost its history.
    func ownHistory() throws -> EpochHistory {
        let found: (history: EpochHistory, path: String)?
        do { found = try EpochHistory.newest(in: directory.binlogPath) } catch let e as FormatError { throw MasterError(e, while: "reading the epoch history") } catch let e as SystemError { throw MasterError(e, while: "reading the epoch history") }
        guard let found else {
            guard identity.epoch == 1 else {
                throw MasterError(.binlog, "master.json says epoch \(identity.epoch) but \(directory.binlogPath) holds no \(EpochHistory.fileName(epoch: identity.epoch))",
                                  hint: "restore the history file from a replica inbox (every target got a copy)")
            }
            return EpochHistory.initial(sourceID: identity.sourceID)
        }
        guard found.history.sourceID == identity.sourceID else {
            throw MasterError(.binlog, "\(found.path) belongs to source \(found.history.sourceID), this master is \(identity.sourceID)")
        }
        if found.history.epoch > identity.epoch {
            throw fenced(by: found.history, at: found.path)
        }
        guard found.history.epoch == identity.epoch else {
            throw MasterError(.binlog, "master.json says epoch \(identity.epoch) but the newest history in the binlog is \(found.path)",
                              hint: "restore \(EpochHistory.fileName(epoch: identity.epoch)) from a replica inbox")
        }
        return found.history
    }

    /// Refuses to write when any shipping target of this master holds a history of a later
    /// epoch (a replica was promoted, and writing here would fork the data), or when a place
    /// that could hold such a fence cannot be read (`Master.fence(at:)`).
    func checkTargetsForFence() throws {
        switch Self.fence(at: directory, sourceID: identity.sourceID, epoch: identity.epoch) {
        case nil: return
        case .fenced(let history, let path)?: throw fenced(by: history, at: path)
        case .unreadable(let error)?: throw error
        }
    }
    /// The split-brain error for a master of an epoch that `history` ended.
    func fenced(by history: EpochHistory, at path: String) -> MasterError {
        let end = history.end(of: identity.epoch)
        let next = history.entry(identity.epoch + 1)
        let lost = end.map { lastLSN > $0 ? " This master acknowledged LSNs \($0 + 1)…\(lastLSN) after the fork; the new master never received them." : "" } ?? ""
        return MasterError(.splitBrain,
                           "this master (epoch \(identity.epoch)) was superseded: epoch \(history.epoch) exists (\(path))"
                           + (end.map { "; epoch \(identity.epoch + 1) took over after LSN \($0)" } ?? "")
                           + (next?.promotedFrom.map { ", promoted from \($0) at \(next?.startedAt ?? "")" } ?? "")
                           + ". Refusing to write: it would fork the data." + lost,
                           hint: "make this directory a replica of the new master (docs/FAILOVER.md, \"Rejoining\")"
                           + (end.map { "; list its transactions after the fork with `binlog-writer dump \(directory.path) --from-lsn \($0 + 1)`" } ?? ""))
    }

    /// What stops a master of `epoch` from writing, found at its shipping targets.
    enum Fence {
        /// A target holds a history of a later epoch of this source.
        case fenced(EpochHistory, path: String)
        /// A place that could hold a fence cannot be read: the master cannot tell, so it refuses.
        case unreadable(MasterError)
    }

    /// The one fence predicate, shared by the writer (`checkTargetsForFence`, which refuses)
    /// and `MasterStatus` (which reports): every target this master ships to, as recorded by
    /// binlog-ship whatever its state directory (`ShipTargetsRecord`) and in the default
    /// shipping state, is searched for a newer epoch's history. A target that is not there
    /// (unmounted) is skipped, as binlog-ship reports it; a history or record that is there but
    /// cannot be read is `.unreadable`, because a fence that cannot be read must still hold.
    static func fence(at directory: MasterDirectory, sourceID: UUID, epoch: UInt32) -> Fence? {
        let targets: [String]
        do { targets = try shipTargets(of: directory) } catch let e as FormatError {
            return .unreadable(MasterError(e, while: "reading where this master ships (to look for a fence)"))
        } catch let e as SystemError {
            return .unreadable(MasterError(e, while: "reading where this master ships (to look for a fence)"))
        } catch {
            return .unreadable(MasterError(.io, "unable to read where this master ships: \(error)"))
        }
        for target in targets {
            do {
                if let found = try EpochHistory.newest(in: target), found.history.sourceID == sourceID, found.history.epoch > epoch {
                    return .fenced(found.history, path: found.path)
                }
            } catch let e as FormatError {
                return .unreadable(MasterError(e, while: "reading the epoch history at target \(target)"))
            } catch let e as SystemError {
                return .unreadable(MasterError(e, while: "reading the epoch history at target \(target)"))
            } catch {
                return .unreadable(MasterError(.io, "unable to read the epoch history at target \(target): \(error)"))
            }
        }
        return nil
    }

    /// Target directories this master ships to: those binlog-ship recorded in the master
    /// directory (every configuration, whatever its state directory), and those of the default
    /// shipping state `<master>/ship/state.json` (written before the record existed; read
    /// leniently, binlog-ship itself reports a damaged state file).
    static func shipTargets(of directory: MasterDirectory) throws -> [String] {
        struct State: Decodable {
            struct Target: Decodable { var path: String }
            var targets: [String: Target]
        }
        var targets = Set(try ShipTargetsRecord.load(master: directory.path)?.allTargets ?? [])
        if let data = FileManager.default.contents(atPath: directory.path + "/ship/state.json"),
           let state = try? JSONDecoder().decode(State.self, from: data) {
            targets.formUnion(state.targets.values.map(\.path))
        }
        return targets.sorted()
    }
}
