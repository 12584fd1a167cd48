import BinlogApply
import BinlogFormat
import Foundation
import GRDB

/// The segment a store applied its last transaction from, with the checksums that place it in
/// the hash chain (docs/FORMAT.md §9). Kept in `_logship_segment`, written in the same SQLite
/// transaction as the position (`AppliedPosition`), so that the next run can check that the
/// segment it continues with links to the one the store's rows came from, also when that
/// segment has since left the inbox or been replaced (issue 12: a forged or substituted
/// segment was found only by a fresh replica). Snapshots and restored copies carry it.
public struct AppliedSegment: Equatable, Sendable {
    public var fileName: String
    public var epoch: UInt32
    public var sequence: UInt64
    /// The previous segment's checksum, from the header (the same in a partial copy).
    public var previousChecksum: UInt64
    /// The segment checksum from the footer; nil when the store applied from a partial or
    /// active copy, which has no footer yet.
    public var checksum: UInt64?

    public init(fileName: String, epoch: UInt32, sequence: UInt64, previousChecksum: UInt64, checksum: UInt64?) {
        self.fileName = fileName
        self.epoch = epoch
        self.sequence = sequence
        self.previousChecksum = previousChecksum
        self.checksum = checksum
    }

    /// The segment `fileName` with this header and (when sealed) footer.
    public init(fileName: String, header: SegmentHeader, footer: SegmentFooter?) {
        self.init(fileName: fileName, epoch: header.epoch, sequence: header.sequence, previousChecksum: header.previousChecksum,
                  checksum: footer?.segmentChecksum)
    }

    public static let tableName = "_logship_segment"

    /// Reads the record; nil for a store that has none yet (a new store, or one an older
    /// binary kept: its first batch after the upgrade writes it).
    public static func read(_ db: Database) throws -> AppliedSegment? {
        guard try db.hasTable(tableName),
              let row = try Row.fetchOne(db.cachedStatement(sql: "SELECT file, epoch, sequence, previous_checksum, checksum FROM \(tableName) WHERE id = 1")) else { return nil }
        return AppliedSegment(fileName: row[0], epoch: UInt32(truncatingIfNeeded: row[1] as Int64), sequence: UInt64(bitPattern: row[2] as Int64),
                              previousChecksum: UInt64(bitPattern: row[3] as Int64), checksum: (row[4] as Int64?).map { UInt64(bitPattern: $0) })
    }

    /// Records `self`; must run inside the transaction that writes the position. Creates the
    /// table on first use (stores made before it existed get it with their next batch).
    public func write(_ db: Database) throws {
        if try !db.hasTable(Self.tableName) { try db.execute(sql: """
            CREATE TABLE \(Self.tableName) (
              id INTEGER PRIMARY KEY CHECK (id = 1), file TEXT NOT NULL, epoch INTEGER NOT NULL, sequence INTEGER NOT NULL,
              previous_checksum INTEGER NOT NULL, checksum INTEGER)
            """) }
        let statement = try db.cachedStatement(sql: "INSERT OR REPLACE INTO \(Self.tableName) VALUES (1, ?, ?, ?, ?, ?)")
        try statement.execute(arguments: [fileName, Int64(epoch), Int64(bitPattern: sequence), Int64(bitPattern: previousChecksum),
                                          checksum.map { Int64(bitPattern: $0) }])
    }

    /// The checksum as the format prints it.
    static func hex16(_ v: UInt64?) -> String { v.map(hex) ?? "unknown (applied from a partial copy)" }

    /// 16 lowercase hex digits, as FORMAT.md prints checksums.
    static func hex(_ v: UInt64) -> String {
        let digits = String(v, radix: 16)
        return String(repeating: "0", count: max(0, 16 - digits.count)) + digits
    }
}

extension Inbox {
    /// The check `follow` makes against `applied`, on its own: for a restore that continues a
    /// snapshot at `start` with the inbox's segments (the snapshot carries the record).
    public func appliedLinkProblem(_ applied: AppliedSegment, after start: UInt64) throws -> ReplicaError? {
        let entries: [Result<Segment, UnreadableError>]
        do { entries = try list().entries } catch let e as FormatError { throw ReplicaError(e, while: "reading the inbox") } catch let e as SystemError { throw ReplicaError(e, while: "reading the inbox") }
        let next = entries.lazy.compactMap { try? $0.get() }.first { $0.lastLSN.map { $0 > start } ?? true }
        return appliedLinkProblem(applied, entries: entries, next: next)
    }

    /// Checks the segments the inbox holds against the one the store applied last: the same
    /// segment (epoch and sequence) must have the same header link and, when both are sealed,
    /// the same checksum; the segment the chain continues with must link to it (same epoch,
    /// next sequence: its previous-segment checksum equals the applied one's checksum).
    func appliedLinkProblem(_ applied: AppliedSegment, entries: [Result<Segment, UnreadableError>], next: Segment?) -> ReplicaError? {
        let same = entries.lazy.compactMap { try? $0.get() }.first { $0.name.epoch == applied.epoch && $0.header.sequence == applied.sequence }
        if let same {
            let differs = same.header.previousChecksum != applied.previousChecksum
                || (applied.checksum != nil && same.footer != nil && same.footer?.segmentChecksum != applied.checksum)
            if differs {
                return ReplicaError(.corruption, "unable to continue: \(same.fileName) is not the segment this store applied: the store applied \(applied.fileName) with checksum \(AppliedSegment.hex16(applied.checksum)) after \(AppliedSegment.hex(applied.previousChecksum)), the inbox holds one with checksum \(AppliedSegment.hex16(same.footer?.segmentChecksum)) after \(AppliedSegment.hex(same.header.previousChecksum))",
                                    hint: "one of the two was substituted or forged; find which is the master's (binlog-ship verify against the source), then rebuild this replica from a snapshot taken before it")
            }
        }
        guard let next, next.name.epoch == applied.epoch, next.header.sequence == applied.sequence &+ 1,
              let expected = applied.checksum ?? same?.footer?.segmentChecksum else { return nil }
        guard next.header.previousChecksum == expected else {
            return ReplicaError(.corruption, "unable to continue: hash chain broken across runs: \(next.fileName) expects previous checksum \(AppliedSegment.hex(next.header.previousChecksum)), but this store applied \(applied.fileName) whose checksum is \(AppliedSegment.hex(expected))",
                                hint: "a segment was substituted or comes from a forked master; find which is the master's (binlog-ship verify against the source), then rebuild this replica from a snapshot taken before it")
        }
        return nil
    }
}
