import BinlogFormat
import Foundation

extension Restore {
    /// Refuses an output that is a live database: a replica's store (`store.db` in a directory
    /// holding `replica.json`, through any path or symbolic link, or the very file that is
    /// `replica`'s store, by device and inode) or a master's database. `--force` does not lift
    /// this: publishing over a store replaced it under a running `replica-apply --follow`, which
    /// went on applying into the unlinked file while `status` showed it stalled (issue 12).
    /// Exit 64 (`.invalid`): the path is wrong whether or not a follower runs at the moment.
    public static func checkNotLive(_ output: String, replica: String?) throws {
        var paths = [output]
        if let resolved = realpath(output, nil) {
            paths.append(String(cString: resolved))
            free(resolved)
        } else if let parent = realpath((output as NSString).deletingLastPathComponent.isEmpty ? "." : (output as NSString).deletingLastPathComponent, nil) {
            paths.append(String(cString: parent) + "/" + (output as NSString).lastPathComponent)
            free(parent)
        }
        for path in paths {
            let directory = (path as NSString).deletingLastPathComponent, name = (path as NSString).lastPathComponent
            let fm = FileManager.default
            if name == "store.db" && fm.fileExists(atPath: (directory.isEmpty ? "." : directory) + "/replica.json") {
                throw liveStore(output, "the store of the replica \(directory.isEmpty ? "." : directory)")
            }
            if name == "master.db" && fm.fileExists(atPath: (directory.isEmpty ? "." : directory) + "/master.json") {
                throw liveStore(output, "the database of the master \(directory.isEmpty ? "." : directory)")
            }
        }
        var out = stat(), store = stat()
        if let replica, stat(output, &out) == 0, stat(ReplicaDirectory(path: replica).storePath, &store) == 0,
           out.st_dev == store.st_dev, out.st_ino == store.st_ino {
            throw liveStore(output, "the store of the replica \(replica) (the same file)")
        }
    }

    private static func liveStore(_ output: String, _ what: String) -> ReplicaError {
        ReplicaError(.invalid, "refusing to restore into \(output): it is \(what), which replica-apply (or the master) writes",
                     hint: "restore into a new path and read that one; to rebuild this store, stop its replica-apply first "
                         + "(docs/OPERATIONS.md, \"Rebuild a replica\")")
    }
}
