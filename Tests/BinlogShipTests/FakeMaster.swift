import BinlogFormat
@testable import BinlogShip
import Foundation
import LogshipTestSupport
import XCTest

/// A master's binlog written directly with `SegmentWriter` (no SQLite): sealed segments and an
/// active one, with commit and seal times the test chooses, so lag and retention are exact.
final class FakeMaster {
    let root: String
    var binlog: String { root + "/binlog" }
    let sourceID: UUID
    private(set) var lastLSN: UInt64 = 0
    private var sequence: UInt64 = 0
    private var previousChecksum: UInt64 = 0
    private(set) var writer: SegmentWriter?
    /// Commit time of the next transaction (µs); each commit advances it by a minute.
    var clock: Int64 = 1_780_000_000_000_000
    private var rng: SeededRandom
    private let table = TableDescriptor(name: "t", columns: [ColumnDescriptor(name: "id", declaredType: "INTEGER", primaryKeyPosition: 1),
                                                             ColumnDescriptor(name: "v", declaredType: "BLOB")])

    init(root: String, seed: UInt64 = 42, sourceID: UUID = UUID()) throws {
        self.root = root
        self.sourceID = sourceID
        rng = SeededRandom(seed: seed)
        try FileManager.default.createDirectory(atPath: root + "/binlog", withIntermediateDirectories: true)
        try Data("{}".utf8).write(to: URL(fileURLWithPath: root + "/master.json"))
    }

    /// Appends one durable transaction inserting a random blob of `bytes` bytes.
    func commit(bytes: Int = 2000) throws {
        if writer == nil {
            sequence += 1
            let header = SegmentHeader(sourceID: sourceID, epoch: 1, sequence: sequence, firstLSN: lastLSN + 1, createdAt: clock, previousChecksum: previousChecksum)
            writer = try SegmentWriter.create(directory: binlog, header: header)
        }
        let blob = Data((0..<bytes).map { _ in UInt8.random(in: 0...255, using: &rng) })
        lastLSN += 1
        try writer!.append(lsn: lastLSN, commitTime: clock, events: [.insert(table: table, rowid: Int64(lastLSN), values: [.integer(Int64(lastLSN)), .blob(blob)])])
        try writer!.sync()
        clock += 60_000_000
        // Committed, as a master says after SQLite's COMMIT (docs/FORMAT.md §12).
        try markCommitted()
    }

    /// Writes the committed mark for everything appended so far (`commit` does it itself).
    func markCommitted() throws {
        try CommitMarkWriter(binlogDirectory: binlog).publish(CommitMark(epoch: 1, sequence: sequence, lastLSN: lastLSN, durableLSN: lastLSN))
    }

    /// Appends one transaction as `commit` does but does not mark it committed: a frame the
    /// master may still undo.
    func appendUncommitted(bytes: Int = 2000) throws {
        let mark = CommitMark.read(binlogDirectory: binlog)
        try commit(bytes: bytes)
        if case .mark(let m) = mark { try CommitMarkWriter(binlogDirectory: binlog).publish(m) }
    }

    /// Seals the active segment at `sealedAt` (default: the clock).
    func seal(at sealedAt: Int64? = nil) throws {
        guard let w = writer else { return }
        let footer = try w.seal(now: sealedAt ?? clock)
        previousChecksum = footer.segmentChecksum
        writer = nil
    }

    /// `count` sealed segments of `transactions` transactions each.
    func sealedSegments(_ count: Int, transactions: Int = 3, bytes: Int = 2000) throws {
        for _ in 0..<count {
            for _ in 0..<transactions { try commit(bytes: bytes) }
            try seal()
        }
    }

    func segmentPath(_ sequence: UInt64, active: Bool = false) -> String {
        binlog + "/" + SegmentName(epoch: 1, sequence: sequence, isActive: active).description
    }
}

func segmentName(_ sequence: UInt64) -> String { SegmentName(epoch: 1, sequence: sequence).description }

/// A test's directories: the master, targets a and b, and a config shipping from one to the others.
final class ShipFixture {
    let dir = TestDirectory("ship")
    let master: FakeMaster
    var a: String { dir.sub("a") }
    var b: String { dir.sub("b") }
    var config = ShipConfig()
    var stateDirectory: String { master.root + "/ship" }

    init(targets: [String] = ["a", "b"], seed: UInt64 = 42) throws {
        master = try FakeMaster(root: dir.sub("master"), seed: seed)
        config.source = master.root
        for t in targets {
            try FileManager.default.createDirectory(atPath: dir.sub(t), withIntermediateDirectories: true)
            config.targets.append(ShipTarget(name: t, path: dir.sub(t)))
        }
    }

    @discardableResult
    func ship(includeActive: Bool = false) throws -> ShipReport {
        var c = config
        c.includeActive = includeActive
        return try Shipper(config: c).run()
    }

    func state() throws -> ShipState { try XCTUnwrap(try ShipState.load(directory: stateDirectory)) }

    func files(_ target: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: target).sorted()
    }
}

func bytes(_ path: String) throws -> Data { try Data(contentsOf: URL(fileURLWithPath: path)) }

func flipByte(_ path: String, at offset: Int) throws {
    var d = try bytes(path)
    d[offset] ^= 0x20
    try d.write(to: URL(fileURLWithPath: path))
}

func inode(_ path: String) -> (ino: UInt, mtime: Int) {
    var st = stat()
    stat(path, &st)
    return (UInt(st.st_ino), Int(st.st_mtim.tv_sec) * 1_000_000_000 + Int(st.st_mtim.tv_nsec))
}
