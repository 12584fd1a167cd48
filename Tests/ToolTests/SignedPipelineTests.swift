import BinlogFormat
import Foundation
import LogshipTestSupport
import XCTest

/// Issue 14 through the built tools: `binlog-writer keygen`, a master that signs what it seals,
/// and `verify`, `binlog-ship`, `replica-apply` and `restore` that require signatures and refuse
/// (exit 3) a segment that is unsigned, signed by another key, or changed and re-sealed.
final class SignedPipelineTests: XCTestCase {
    private func run(_ tool: String, _ args: [String]) throws -> ToolRunner.Result { try ToolRunner.run(tool, args) }

    private func assertExit(_ r: ToolRunner.Result, _ status: Int32, containing: [String] = [], _ what: String,
                            file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(r.status, status, "\(what): stdout \(r.stdout) stderr \(r.stderr)", file: file, line: line)
        for s in containing { XCTAssertTrue(r.stderr.contains(s) || r.stdout.contains(s), "\(what): no \"\(s)\" in \(r.stderr)", file: file, line: line) }
    }

    func testSignedMasterShipsAndAppliesAndForgeriesAreRefused() throws {
        let dir = TestDirectory("signed")
        let master = try ToolMaster(dir)
        let keygen = try run("binlog-writer", ["keygen", master.path])
        assertExit(keygen, 0, containing: ["key id"], "keygen")
        let secret = try String(contentsOfFile: master.path + "/signing.key", encoding: .utf8).split(separator: "\n")[2]
        XCTAssertFalse(keygen.stdout.contains(secret) || keygen.stderr.contains(secret), "keygen never prints the key")
        assertExit(try run("binlog-writer", ["keygen", master.path]), 15, containing: ["already exists"], "a second keygen")

        try master.exec("CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT); INSERT INTO t VALUES (1, 'one'), (2, 'two');")
        try master.rotate()
        try master.exec("INSERT INTO t VALUES (3, 'three');")
        try master.rotate()
        let sealed = try master.sealedSegments()
        XCTAssertEqual(sealed.count, 2)
        for s in sealed {
            let r = try SegmentReader(path: s.path)
            XCTAssertEqual(r.header.version, SegmentHeader.signedVersion, s.name)
            XCTAssertTrue(r.footer?.isSigned ?? false, s.name)
        }
        let pub = master.path + "/signing.pub"
        assertExit(try run("binlog-writer", ["verify", master.path, "--verify-key", pub]), 0, containing: ["clean"], "verify with the key")
        assertExit(try run("binlog-writer", ["verify", master.path]), 0, containing: ["clean"], "verify without a key (integrity only)")
        let other = dir.sub("other")
        try FileManager.default.createDirectory(atPath: other, withIntermediateDirectories: false)
        assertExit(try run("binlog-writer", ["keygen", other]), 0, "keygen of another key")
        assertExit(try run("binlog-writer", ["verify", master.path, "--verify-key", other + "/signing.pub"]), 3, containing: ["not trusted"], "verify with another key")

        // Ship with the key, apply on a replica that requires signatures.
        let replica = dir.sub("replica")
        assertExit(try run("replica-apply", ["init", replica, "--verify-key", pub]), 0, containing: ["signatures required"], "replica init")
        assertExit(try run("binlog-ship", ["--source", master.path, "--target", replica + "/inbox", "--verify-key", pub]), 0, "ship")
        assertExit(try run("replica-apply", [replica]), 0, "apply")
        XCTAssertEqual(try appliedLSN(ofStore: replica + "/store.db"), master.lastLSN)
        try FileManager.default.createDirectory(atPath: dir.sub("inbox2"), withIntermediateDirectories: false)
        assertExit(try run("binlog-ship", ["--source", master.path, "--target", dir.sub("inbox2"), "--verify-key", other + "/signing.pub"]), 3,
                   containing: ["not trusted"], "ship with another key")

        // Forgeries: a frame byte changed and every checksum recomputed; the signature stripped;
        // each into a fresh replica that requires signatures. Nothing of them is applied.
        let genuine = try [UInt8](Data(contentsOf: URL(fileURLWithPath: sealed[0].path)))
        // 'two' becomes 'owt' (same length): a value changed, every frame still decodes.
        let at = try XCTUnwrap((0..<(genuine.count - 3)).first { Array(genuine[$0..<($0 + 3)]) == Array("two".utf8) }, "the value is in the segment")
        var changed = genuine
        changed.replaceSubrange(at..<(at + 3), with: Array("owt".utf8))
        SegmentSurgery.repairSignedChecksums(&changed)
        var stripped = genuine
        for i in (genuine.count - 80)..<(genuine.count - 8) { stripped[i] = 0 }
        SegmentSurgery.repairSignedChecksums(&stripped)
        for (name, bytes, says) in [("changed", changed, "bad signature"), ("stripped", stripped, "not signed")] {
            let r = dir.sub("forged-\(name)")
            assertExit(try run("replica-apply", ["init", r, "--verify-key", pub]), 0, "init \(name)")
            try Data(bytes).write(to: URL(fileURLWithPath: r + "/inbox/" + sealed[0].name))
            let checked = try SegmentReader(path: r + "/inbox/" + sealed[0].name)
            XCTAssertNoThrow(try checked.verifyAll(), "\(name): the forgery passes every checksum")
            assertExit(try run("replica-apply", [r]), 3, containing: [says, sealed[0].name], "apply of a \(name) segment")
            XCTAssertEqual((try? appliedLSN(ofStore: r + "/store.db")) ?? 0, 0, "\(name): nothing applied")
            assertExit(try run("replica-apply", ["restore", r, "--latest", "--output", dir.sub("restored-\(name).db")]), 3, containing: [says],
                       "restore from a \(name) segment")
        }

        // A replica without keys applies the same unsigned segment: signatures are opt-in.
        let open = dir.sub("open")
        assertExit(try run("replica-apply", ["init", open]), 0, "init without keys")
        try Data(stripped).write(to: URL(fileURLWithPath: open + "/inbox/" + sealed[0].name))
        assertExit(try run("replica-apply", [open]), 0, "apply without keys")
    }

    /// A replica that requires signatures does not apply a .partial copy (unsigned) until the
    /// segment is sealed and shipped.
    func testPartialCopiesWaitForTheSealedSegment() throws {
        let dir = TestDirectory("signed-partial")
        let master = try ToolMaster(dir)
        assertExit(try run("binlog-writer", ["keygen", master.path]), 0, "keygen")
        let pub = master.path + "/signing.pub"
        let replica = dir.sub("replica")
        assertExit(try run("replica-apply", ["init", replica, "--verify-key", pub]), 0, "init")
        try master.exec("CREATE TABLE t(id INTEGER PRIMARY KEY); INSERT INTO t VALUES (1);")
        assertExit(try run("binlog-ship", ["--source", master.path, "--target", replica + "/inbox", "--include-active"]), 0, "ship partial")
        XCTAssertTrue(try FileManager.default.contentsOfDirectory(atPath: replica + "/inbox").contains { $0.hasSuffix(".partial") })
        assertExit(try run("replica-apply", [replica]), 0, "apply with only a partial copy")
        XCTAssertEqual((try? appliedLSN(ofStore: replica + "/store.db")) ?? 0, 0, "a partial copy is not applied")
        try master.rotate()
        assertExit(try run("binlog-ship", ["--source", master.path, "--target", replica + "/inbox", "--verify-key", pub]), 0, "ship sealed")
        assertExit(try run("replica-apply", [replica]), 0, "apply sealed")
        XCTAssertEqual(try appliedLSN(ofStore: replica + "/store.db"), master.lastLSN)
    }

    /// Issue 14, "snapshot files carry a signature too": a replica that requires signatures signs
    /// its snapshots with a key of its own (made by the first one); its restore starts from an
    /// intact signed snapshot and refuses (exit 3) one whose bytes were changed, one without its
    /// .sig, one whose .sig was edited, and one signed by a key it does not trust.
    func testSnapshotsAreSignedAndATamperedSnapshotIsRefusedByRestore() throws {
        let dir = TestDirectory("signed-snapshot")
        let master = try ToolMaster(dir)
        assertExit(try run("binlog-writer", ["keygen", master.path]), 0, "keygen")
        let pub = master.path + "/signing.pub"
        let replica = dir.sub("replica")
        assertExit(try run("replica-apply", ["init", replica, "--verify-key", pub]), 0, "init")
        try master.exec("CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT); INSERT INTO t VALUES (1, 'genuine-one'), (2, 'genuine-two');")
        try master.rotate()
        assertExit(try run("binlog-ship", ["--source", master.path, "--target", replica + "/inbox", "--verify-key", pub]), 0, "ship")
        assertExit(try run("replica-apply", [replica]), 0, "apply")
        let snap = try run("replica-apply", ["snapshot", replica])
        assertExit(snap, 0, containing: ["signed with snapshot key id", "the key is new"], "first snapshot")
        let snapshotLSN = master.lastLSN
        let name = "snapshot-" + String(format: "%016llx", snapshotLSN)
        let snapPath = replica + "/snapshots/\(name).db", sigPath = replica + "/snapshots/\(name).sig"
        XCTAssertTrue(FileManager.default.fileExists(atPath: sigPath), "the .sig is written beside the snapshot")
        let mode = try XCTUnwrap(FileManager.default.attributesOfItem(atPath: replica + "/keys/snapshot.key")[.posixPermissions] as? Int)
        XCTAssertEqual(mode & 0o077, 0, "the snapshot key is the owner's only")
        XCTAssertFalse(snap.stdout.contains(String(try String(contentsOfFile: replica + "/keys/snapshot.key", encoding: .utf8).split(separator: "\n")[2])), "the key is never printed")

        try master.exec("INSERT INTO t VALUES (3, 'three'); UPDATE t SET v = 'changed' WHERE id = 2;")
        try master.rotate()
        assertExit(try run("binlog-ship", ["--source", master.path, "--target", replica + "/inbox", "--verify-key", pub]), 0, "ship 2")
        assertExit(try run("replica-apply", [replica]), 0, "apply 2")

        // Intact: the restore starts from the signed snapshot and equals the master.
        let intact = dir.sub("intact.db")
        let ok = try run("replica-apply", ["restore", replica, "--latest", "--output", intact])
        assertExit(ok, 0, containing: ["start from  snapshot \(snapPath)"], "restore from the intact snapshot")
        XCTAssertEqual(try TableDigest.digest(path: intact), try master.digest(at: master.lastLSN, scratch: dir))

        let genuine = try Data(contentsOf: URL(fileURLWithPath: snapPath))
        let genuineSig = try Data(contentsOf: URL(fileURLWithPath: sigPath))
        func restoreRefused(_ what: String, _ says: String) throws {
            let out = dir.sub("refused-\(what.replacingOccurrences(of: " ", with: "-")).db")
            assertExit(try run("replica-apply", ["restore", replica, "--latest", "--output", out]), 3, containing: [says, name], what)
            XCTAssertFalse(FileManager.default.fileExists(atPath: out), "\(what): nothing published")
            try genuine.write(to: URL(fileURLWithPath: snapPath))
            try genuineSig.write(to: URL(fileURLWithPath: sigPath))
        }
        // A value changed inside the SQLite file (same length; SQLite has no page checksums, and
        // the content-digest check starts from the snapshot's own rows, so only the signature
        // tells).
        var bytes = [UInt8](genuine)
        let needle = Array("genuine-one".utf8)
        let at = try XCTUnwrap((0..<(bytes.count - needle.count)).first { Array(bytes[$0..<($0 + needle.count)]) == needle }, "the value is in the snapshot")
        bytes.replaceSubrange(at..<(at + needle.count), with: Array("forged--one".utf8))
        try Data(bytes).write(to: URL(fileURLWithPath: snapPath))
        try restoreRefused("changed snapshot", "SHA-256")
        unlink(sigPath)
        try restoreRefused("missing sig", "not signed")
        let edited = String(decoding: genuineSig, as: UTF8.self).replacingOccurrences(of: "\"commitTime\" : ", with: "\"commitTime\" : 1")
        XCTAssertNotEqual(edited, String(decoding: genuineSig, as: UTF8.self))
        try Data(edited.utf8).write(to: URL(fileURLWithPath: sigPath))
        try restoreRefused("edited sig", "bad signature")
        // Signed by a key this replica does not trust (another replica's, or a forger's).
        let other = dir.sub("other")
        try FileManager.default.createDirectory(atPath: other, withIntermediateDirectories: false)
        assertExit(try run("binlog-writer", ["keygen", other]), 0, "another key")
        let record = try JSONDecoder().decode(SnapshotSignature.self, from: genuineSig)
        let forged = try SnapshotSignature.sign(file: record.file, sha256: record.sha256, bytes: record.bytes, lsn: record.lsn, epoch: record.epoch,
                                                sourceID: record.sourceID, commitTime: record.commitTime, with: try SigningKeyFile.readPrivate(other + "/signing.key"))
        try JSONEncoder().encode(forged).write(to: URL(fileURLWithPath: sigPath))
        try restoreRefused("other key", "not trusted for snapshots")

        // After all that, the intact snapshot restores again.
        assertExit(try run("replica-apply", ["restore", replica, "--latest", "--output", dir.sub("again.db")]), 0, "restore after the refusals")
        // A second snapshot reuses the key and does not announce a new one.
        try master.exec("INSERT INTO t VALUES (4, 'four');")
        try master.rotate()
        assertExit(try run("binlog-ship", ["--source", master.path, "--target", replica + "/inbox", "--verify-key", pub]), 0, "ship 3")
        assertExit(try run("replica-apply", [replica]), 0, "apply 3")
        let second = try run("replica-apply", ["snapshot", replica, "--keep", "1"])
        assertExit(second, 0, containing: ["signed with snapshot key id \(record.keyID)"], "second snapshot")
        XCTAssertFalse(second.stdout.contains("the key is new"), second.stdout)
        XCTAssertFalse(FileManager.default.fileExists(atPath: sigPath), "--keep deletes an old snapshot's .sig with it")
    }

    /// Snapshot key rotation: `snapshot --new-key` signs with a new key; the old key's private
    /// half is gone, its public half stays trusted under its id, so the snapshots it signed still
    /// restore; taking that public key away (a stolen key) makes them refused.
    func testANewSnapshotKeyKeepsOldSnapshotsRestorable() throws {
        let dir = TestDirectory("signed-snapshot-rotation")
        let master = try ToolMaster(dir)
        assertExit(try run("binlog-writer", ["keygen", master.path]), 0, "keygen")
        let pub = master.path + "/signing.pub"
        let replica = dir.sub("replica")
        assertExit(try run("replica-apply", ["init", replica, "--verify-key", pub]), 0, "init")
        func shipAndApply(_ sql: String) throws {
            try master.exec(sql)
            try master.rotate()
            assertExit(try run("binlog-ship", ["--source", master.path, "--target", replica + "/inbox", "--verify-key", pub]), 0, "ship")
            assertExit(try run("replica-apply", [replica]), 0, "apply")
        }
        func keyID(_ path: String) throws -> String {
            try XCTUnwrap(try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n")[1].split(separator: " ").last.map(String.init))
        }
        try shipAndApply("CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT); INSERT INTO t VALUES (1, 'one');")
        let firstLSN = master.lastLSN
        assertExit(try run("replica-apply", ["snapshot", replica]), 0, "first snapshot")
        let first = try keyID(replica + "/keys/snapshot.key")
        try shipAndApply("INSERT INTO t VALUES (2, 'two');")
        let rotated = try run("replica-apply", ["snapshot", replica, "--new-key"])
        let second = try keyID(replica + "/keys/snapshot.key")
        XCTAssertNotEqual(first, second)
        assertExit(rotated, 0, containing: ["retired snapshot key id \(first)", "signed with snapshot key id \(second)", "the key is new"], "snapshot --new-key")
        XCTAssertEqual(try keyID(replica + "/keys/snapshots/\(first).pub"), first, "the old public key stays trusted under its id")
        XCTAssertEqual(try keyID(replica + "/keys/snapshots/snapshot.pub"), second)
        XCTAssertFalse(rotated.stdout.contains(String(try String(contentsOfFile: replica + "/keys/snapshot.key", encoding: .utf8).split(separator: "\n")[2])), "the key is never printed")

        // Both snapshots restore: the old one at its LSN, the new one at the latest.
        let old = dir.sub("old.db"), new = dir.sub("new.db")
        assertExit(try run("replica-apply", ["restore", replica, "--to-lsn", "\(firstLSN)", "--output", old]), 0, containing: ["start from  snapshot"], "restore from the old key's snapshot")
        XCTAssertEqual(try TableDigest.digest(path: old), try master.digest(at: firstLSN, scratch: dir))
        assertExit(try run("replica-apply", ["restore", replica, "--latest", "--output", new]), 0, "restore from the new key's snapshot")
        XCTAssertEqual(try TableDigest.digest(path: new), try master.digest(at: master.lastLSN, scratch: dir))

        // Distrusting the old key refuses its snapshots.
        XCTAssertEqual(unlink(replica + "/keys/snapshots/\(first).pub"), 0)
        assertExit(try run("replica-apply", ["restore", replica, "--to-lsn", "\(firstLSN)", "--output", dir.sub("refused.db")]), 3,
                   containing: ["key id \(first)", "not trusted for snapshots"], "restore from a distrusted key's snapshot")
    }

    /// A signing key others can read stops the master (exit 14, naming file and mode) before it
    /// writes anything; a trusted key others can write is refused by replica-apply init.
    func testKeyFilesOpenToOthersAreRefusedByTheTools() throws {
        let dir = TestDirectory("signed-modes")
        let master = try ToolMaster(dir)
        assertExit(try run("binlog-writer", ["keygen", master.path]), 0, "keygen")
        chmod(master.path + "/signing.key", 0o644)
        assertExit(try run("binlog-writer", ["exec", master.path, "CREATE TABLE t(id INTEGER PRIMARY KEY)"]), 14,
                   containing: ["signing.key has mode 644", "chmod 600"], "exec with a readable signing key")
        XCTAssertEqual(try master.sealedSegments().count, 0)
        chmod(master.path + "/signing.key", 0o600)
        try master.exec("CREATE TABLE t(id INTEGER PRIMARY KEY)")
        chmod(master.path + "/signing.pub", 0o666)
        assertExit(try run("replica-apply", ["init", dir.sub("replica"), "--verify-key", master.path + "/signing.pub"]), 14,
                   containing: ["must not be writable by group or others"], "init with a writable public key")
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.sub("replica") + "/replica.json"), "no half-made replica")
    }

    /// Rotation of the signing key: segments signed before and after both apply on a replica that
    /// trusts both public keys; a replica that trusts only the new key refuses the old segment.
    func testSegmentsSignedBeforeAndAfterRotationApplyAndARemovedKeyIsRefused() throws {
        let dir = TestDirectory("signed-rotation")
        let master = try ToolMaster(dir)
        assertExit(try run("binlog-writer", ["keygen", master.path]), 0, "keygen A")
        try master.exec("CREATE TABLE t(id INTEGER PRIMARY KEY); INSERT INTO t VALUES (1);")
        try master.rotate()
        let oldPub = dir.sub("old-signing.pub")
        XCTAssertEqual(rename(master.path + "/signing.pub", oldPub), 0)
        XCTAssertEqual(rename(master.path + "/signing.key", dir.sub("old-signing.key")), 0)
        assertExit(try run("binlog-writer", ["keygen", master.path]), 0, "keygen B")
        try master.exec("INSERT INTO t VALUES (2);")
        try master.rotate()
        let ids = try master.sealedSegments().map { try SegmentReader(path: $0.path) }.map { r -> String in
            try r.verifyAll(decode: false)
            return SegmentSignature.keyIDText(r.footer!.keyID)
        }
        XCTAssertEqual(ids.count, 2)
        XCTAssertNotEqual(ids[0], ids[1], "the second segment is signed by the new key")
        let both = dir.sub("both")
        assertExit(try run("replica-apply", ["init", both, "--verify-key", oldPub, "--verify-key", master.path + "/signing.pub"]), 0, "init trusting both")
        assertExit(try run("binlog-ship", ["--source", master.path, "--target", both + "/inbox"]), 0, "ship")
        assertExit(try run("replica-apply", [both]), 0, "apply across the rotation")
        XCTAssertEqual(try appliedLSN(ofStore: both + "/store.db"), master.lastLSN)
        let newOnly = dir.sub("new-only")
        assertExit(try run("replica-apply", ["init", newOnly, "--verify-key", master.path + "/signing.pub"]), 0, "init trusting the new key only")
        assertExit(try run("binlog-ship", ["--source", master.path, "--target", newOnly + "/inbox"]), 0, "ship")
        assertExit(try run("replica-apply", [newOnly]), 3, containing: ["key id \(ids[0])", "not trusted"], "apply with the old key removed")
        XCTAssertEqual((try? appliedLSN(ofStore: newOnly + "/store.db")) ?? 0, 0, "nothing applied")
    }
}
