import BinlogFormat
@testable import BinlogShip
import Foundation
import LogshipTestSupport
import XCTest

/// Mistakes that must never cost the only copy or hide a wrong one (issue 12, "Trust"): a target
/// that is the source, a source that is not a binlog, two state directories shipping into one
/// target, and a target copy that differs from the source.
final class ShipSafetyTests: XCTestCase {
    private func configError(_ body: () throws -> Void, file: StaticString = #filePath, line: UInt = #line) -> ShipError? {
        expectError(ShipError.self, file: file, line: line, body)
    }

    // MARK: a target that is the source

    /// The master's binlog, the master itself, a directory inside it, one that contains it, and the
    /// same directory by a symlink or a `..` spelling: each is refused before anything is created.
    func testATargetThatIsTheSourceInsideItOrContainingItIsRefused() throws {
        let f = try ShipFixture(targets: [])
        try f.master.sealedSegments(2)
        try FileManager.default.createDirectory(atPath: f.master.binlog + "/inbox", withIntermediateDirectories: false)
        try FileManager.default.createSymbolicLink(atPath: f.dir.sub("link"), withDestinationPath: f.master.binlog)
        try FileManager.default.createDirectory(atPath: f.dir.sub("x"), withIntermediateDirectories: false)
        let spellings = [
            f.master.binlog: "is the source",
            f.master.root: "is the source",
            f.master.binlog + "/inbox": "is inside the source",
            f.master.root + "/ship": "is inside the source",
            f.dir.path: "contains the source",
            f.dir.sub("link"): "is the source",
            f.dir.sub("x") + "/../master/binlog": "is the source",
        ]
        for (path, why) in spellings.sorted(by: { $0.key < $1.key }) {
            var config = f.config
            config.targets = [ShipTarget(name: "t", path: path)]
            let e = configError { _ = try Shipper(config: config) }
            XCTAssertEqual(e?.kind, .config, path)
            XCTAssertTrue(e?.message.contains(why) ?? false, "\(path): \(String(describing: e))")
            XCTAssertTrue(e?.message.contains(ShipTarget.normalize(path)) ?? false, "names the target: \(String(describing: e))")
            XCTAssertTrue(e?.message.contains(f.master.root) ?? false, "names the source: \(String(describing: e))")
            XCTAssertThrowsError(try ShipStatus.read(config: config), path)
            XCTAssertThrowsError(try Purger.plan(config: config, retention: 0), path)
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: f.stateDirectory), "nothing was created")
        XCTAssertEqual(try f.files(f.master.binlog + "/inbox"), [])
    }

    /// A bind mount is the same directory under another path: device and inode tell.
    func testATargetThatIsTheSourceThroughABindMountIsRefused() throws {
        let f = try ShipFixture(targets: [])
        try f.master.sealedSegments(1)
        let point = f.dir.sub("mnt")
        try FileManager.default.createDirectory(atPath: point, withIntermediateDirectories: false)
        let r = try ToolRunner.runSystem("/bin/mount", ["--bind", f.master.root, point])
        guard r.status == 0 else { throw XCTSkip("cannot bind-mount here (\(r.stderr)); this test needs root, as in CI") }
        defer { _ = try? ToolRunner.runSystem("/bin/umount", ["-l", point]) }
        for (path, why) in [(point, "is the source"), (point + "/binlog", "is the source")] {
            var config = f.config
            config.targets = [ShipTarget(name: "t", path: path)]
            let e = configError { _ = try Shipper(config: config) }
            XCTAssertEqual(e?.kind, .config, path)
            XCTAssertTrue(e?.message.contains(why) ?? false, "\(path): \(String(describing: e))")
        }
    }

    /// Purge checks again under its lock, and never counts a file that is the source segment
    /// itself (a hard link in a target) as a copy.
    func testPurgeNeverCountsTheSourceAsACopy() throws {
        let f = try ShipFixture(targets: ["a"])
        try f.master.sealedSegments(3, transactions: 1)
        try f.ship()
        // Segment 1's copy in a is replaced by a hard link to the source segment itself.
        let copy = f.a + "/" + segmentName(1)
        try FileManager.default.removeItem(atPath: copy)
        XCTAssertEqual(link(f.master.segmentPath(1), copy), 0)
        let plan = try Purger.plan(config: f.config, retention: 0, now: f.master.clock + 86_400_000_000)
        XCTAssertEqual(plan.delete.map(\.name), [])
        XCTAssertTrue(plan.keptBecause?.contains("is the source segment itself") ?? false, plan.keptBecause ?? "")

        // The state names a target that a changed config now points at the source: refused.
        var config = f.config
        config.targets = [ShipTarget(name: "a", path: f.master.binlog)]
        XCTAssertEqual(configError { _ = try Purger.execute(config: config, retention: 0) }?.kind, .config)
        XCTAssertTrue(FileManager.default.fileExists(atPath: f.master.segmentPath(1)))
    }

    // MARK: a source that says it is one

    func testASourceMustBeAMasterOrABinlogDirectory() throws {
        let dir = TestDirectory("ship-source")
        let plain = dir.sub("photos")
        try FileManager.default.createDirectory(atPath: plain, withIntermediateDirectories: true)
        FileManager.default.createFile(atPath: plain + "/notes.txt", contents: Data("hello".utf8))
        try FileManager.default.createDirectory(atPath: dir.sub("inbox"), withIntermediateDirectories: true)
        var config = ShipConfig()
        config.source = plain
        config.targets = [ShipTarget(name: "t", path: dir.sub("inbox"))]
        let e = configError { _ = try Shipper(config: config) }
        XCTAssertEqual(e?.kind, .notFound)
        XCTAssertTrue(e?.message.contains("is not a master data directory or a binlog directory") ?? false, "\(String(describing: e))")
        XCTAssertNotNil(e?.hint)
        XCTAssertThrowsError(try ShipStatus.read(config: config))
        XCTAssertFalse(FileManager.default.fileExists(atPath: plain + ".ship"), "nothing is created for it")

        // A binlog directory says so with its segments or its epoch history; a master with master.json.
        let f = try ShipFixture(targets: ["a"])
        try f.master.sealedSegments(1)
        for source in [f.master.root, f.master.binlog] {
            config = f.config
            config.source = source
            XCTAssertEqual(try Shipper(config: config).source.binlogPath, f.master.binlog)
        }
        try f.ship()
        config.source = f.a
        config.targets = [ShipTarget(name: "t", path: dir.sub("inbox"))]
        XCTAssertEqual(try Shipper(config: config).source.binlogPath, f.a, "an inbox holding segments is a source")
        let empty = dir.sub("empty")
        try FileManager.default.createDirectory(atPath: empty, withIntermediateDirectories: true)
        config.source = empty
        XCTAssertEqual(configError { _ = try Shipper(config: config) }?.kind, .notFound, "an empty directory is not a binlog")
    }

    // MARK: two state directories, one target

    func testIdenticalBytesAlreadyPublishedByAnotherStateDirectoryAreSuccess() throws {
        let f = try ShipFixture(targets: ["a"])
        try f.master.sealedSegments(3)
        var first = f.config
        first.stateDirectory = f.dir.sub("state-1")
        var second = f.config
        second.stateDirectory = f.dir.sub("state-2")
        XCTAssertNil(try Shipper(config: first).run().worstKind)
        let report = try Shipper(config: second).run()
        XCTAssertNil(report.worstKind, "\(report.failures)")
        XCTAssertEqual(report.targets[0].alreadyPresent, [1, 2, 3].map(segmentName))
        XCTAssertEqual(try ShipState.load(directory: f.dir.sub("state-2"))?.targets["a"]?.lastSegment, segmentName(3))
    }

    /// Another run (another state directory) publishes segment 2 while this run has its copy
    /// written and is about to link it: the same bytes are success, recorded as shipped.
    func testASegmentPublishedByAnotherRunMeanwhileIsSuccess() throws {
        let f = try ShipFixture(targets: ["a"])
        try f.master.sealedSegments(2)
        let shipper = try Shipper(config: f.config)
        shipper.onEvent = { event in
            // Segment 2 is already written to a temp file when segment 1 is published.
            if case .shipped(_, let file, _, _, _) = event, file == segmentName(1) {
                try? FileManager.default.copyItem(atPath: f.master.segmentPath(2), toPath: f.a + "/" + segmentName(2))
            }
        }
        let report = try shipper.run()
        XCTAssertNil(report.worstKind, "\(report.failures)")
        XCTAssertEqual(report.targets[0].shipped, [segmentName(1)])
        XCTAssertEqual(report.targets[0].alreadyPresent, [segmentName(2)])
        XCTAssertEqual(try f.state().targets["a"]?.lastSegment, segmentName(2))
        XCTAssertEqual(try f.files(f.a), [segmentName(1), segmentName(2)], "no temp file left")
    }

    /// The race itself: another run publishes the same name between this run's check and its link.
    func testPublishingOntoIdenticalBytesIsSuccessAndOntoOtherBytesAConflict() throws {
        let f = try ShipFixture(targets: ["a"])
        try f.master.sealedSegments(1)
        let target = DirectoryStore(target: f.config.targets[0])
        let name = segmentName(1)
        let source = f.master.segmentPath(1)
        // Staged before another run's file appears under the name.
        let first = try target.beginUpload(name)
        try FileManager.default.copyItem(atPath: source, toPath: f.a + "/" + name)
        var sourceBytes = try bytes(source)
        try sourceBytes.withUnsafeBytes { try first.write($0, at: 0) }
        XCTAssertEqual(try first.publish(replace: false), .alreadyThere)
        XCTAssertEqual(try f.files(f.a), [name], "the temp file is removed")

        sourceBytes[100] ^= 0xFF
        let second = try target.beginUpload(name)
        try sourceBytes.withUnsafeBytes { try second.write($0, at: 0) }
        let e = configError { _ = try second.publish(replace: false) }
        XCTAssertEqual(e?.kind, .corruption)
        XCTAssertEqual(e?.offset, 100)
        XCTAssertEqual(try bytes(f.a + "/" + name), try bytes(source), "nothing was overwritten")
        XCTAssertEqual(try f.files(f.a), [name], "the temp file is removed")
    }

    // MARK: verify compares with the source

    /// A substituted chain that is valid on its own (segments of another master with the same
    /// source id, names and LSNs) passes the target's own checks; compared with the source it is
    /// corruption, naming the first segment and offset that differ.
    func testVerifyComparesTheTargetsCopiesWithTheSource() throws {
        let f = try ShipFixture(targets: ["a"])
        try f.master.sealedSegments(3)
        try f.ship()
        XCTAssertEqual(try TargetVerification.run("a", config: f.config).outcome, .clean)

        let forger = try FakeMaster(root: f.dir.sub("forger"), seed: 7, sourceID: f.master.sourceID)
        try forger.sealedSegments(3)
        for s in [1, 2, 3] as [UInt64] {
            try FileManager.default.removeItem(atPath: f.a + "/" + segmentName(s))
            try FileManager.default.copyItem(atPath: forger.segmentPath(s), toPath: f.a + "/" + segmentName(s))
        }
        XCTAssertEqual(try TargetVerification.run(f.a, config: ShipConfig()).outcome, .clean, "the target alone cannot tell")
        let v = try TargetVerification.run("a", config: f.config)
        XCTAssertEqual(v.outcome, .corruption)
        XCTAssertEqual(v.file, f.a + "/" + segmentName(1))
        let at = try FileComparison.firstDifference(f.a + "/" + segmentName(1), f.master.segmentPath(1), length: 1 << 20)
        XCTAssertEqual(v.offset, at)
        XCTAssertTrue(v.problem?.contains("differs from the source") ?? false, v.problem ?? "")
        XCTAssertTrue(v.problem?.contains(segmentName(1)) ?? false, v.problem ?? "")
    }
}
