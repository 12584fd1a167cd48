import BinlogFormat
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A file's identity on its file system, device and inode: the same directory reached by two
/// paths (a symlink, a bind mount, a `..` spelling) has one identity, which no path comparison
/// can promise.
struct FileIdentity: Hashable, Sendable {
    let device: UInt64
    let inode: UInt64

    /// The identity of what `path` names (symlinks followed); nil when it does not exist.
    init?(path: String) {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        device = UInt64(st.st_dev)
        inode = UInt64(st.st_ino)
    }

    /// `path` and each of its ancestors up to `/`, physically (symlinks and `..` resolved by the
    /// kernel), those that exist: a path that does not exist yet starts at its nearest existing
    /// ancestor.
    static func lineage(of path: String) -> [(path: String, id: FileIdentity)] {
        var existing = path
        var resolved: String?
        while resolved == nil {
            if let r = realpath(existing, nil) {
                resolved = String(cString: r)
                free(r)
            } else {
                let up = (existing as NSString).deletingLastPathComponent
                if up == existing || up.isEmpty { return [] }
                existing = up
            }
        }
        var out: [(String, FileIdentity)] = []
        var at = resolved ?? "/"
        while true {
            if let id = FileIdentity(path: at) { out.append((at, id)) }
            let up = (at as NSString).deletingLastPathComponent
            if up == at || up.isEmpty { break }
            at = up
        }
        return out
    }
}

extension ShipSource {
    /// Refuses a target that is this source (the master data directory or its binlog, by any
    /// path), lies inside it, or contains it. Shipping there would "copy" segments onto
    /// themselves, report the target as holding every one, and let `purge` delete the only copy
    /// (issue 12). Compared by device and inode, so symlinks, bind mounts and `..` spellings
    /// are caught; a target that does not exist is judged by its nearest existing ancestor.
    public func checkNotOverlapping(_ target: ShipTarget) throws {
        guard let relation = overlap(of: target.path) else { return }
        throw ShipError(.config, "target \(target.path) \(relation); a target must be a directory of its own, or purge could delete the only copy of a segment",
                        target: target.name, path: target.path,
                        hint: "ship to a directory outside \(root) (a replica inbox, on another disk), and remove this one from --target or ship.yml")
    }

    /// How `target` overlaps this source, in words, or nil when it does not.
    func overlap(of target: String) -> String? {
        guard let rootID = FileIdentity(path: root) else { return nil }
        let binlogID = FileIdentity(path: binlogPath)
        let targetLine = FileIdentity.lineage(of: target)
        let targetID = FileIdentity(path: target)
        if let targetID, targetID == rootID || targetID == binlogID {
            return "is the source: the same directory as \(targetID == rootID ? root : binlogPath)"
        }
        if let inside = targetLine.first(where: { $0.id == rootID || $0.id == binlogID }) {
            return "is inside the source \(root) (through \(inside.path))"
        }
        if let targetID, let contained = FileIdentity.lineage(of: root).first(where: { $0.id == targetID }) {
            return "contains the source \(root) (as \(contained.path))"
        }
        return nil
    }
}
