import Foundation
import GRDB

extension ReplicaDirectory {
    /// The file name of the segment the store applied last (`_logship_segment`), read without a
    /// lock through a read-only connection; nil for a new store or one that cannot be read.
    /// A remote fetch skips the segments before it: the store holds their transactions, and
    /// downloading them again after `prune` removed them from the inbox only costs GETs.
    public func appliedSegmentName() -> String? {
        guard FileManager.default.fileExists(atPath: storePath),
              let queue = try? DatabaseQueue(path: storePath, configuration: ReplicaDirectory.storeConfiguration(readonly: true)) else { return nil }
        defer { try? queue.close() }
        return (try? queue.read { db in try AppliedSegment.read(db) })??.fileName
    }
}
