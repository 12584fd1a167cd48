import BinlogFormat
import Foundation
import LogshipTestSupport
import XCTest

/// Issue 14, encryption at rest, through the built tools: `binlog-writer keygen --encryption`, a
/// master that encrypts its frames, shipping and integrity verification without the key, and
/// replicas, restore and dump that read with `--decrypt-key` and refuse (exit 3, naming the key id)
/// without it or with another key, applying nothing.
final class EncryptedPipelineTests: XCTestCase {
    private func run(_ tool: String, _ args: [String]) throws -> ToolRunner.Result { try ToolRunner.run(tool, args) }

    private func assertExit(_ r: ToolRunner.Result, _ status: Int32, containing: [String] = [], _ what: String,
                            file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(r.status, status, "\(what): stdout \(r.stdout) stderr \(r.stderr)", file: file, line: line)
        for s in containing { XCTAssertTrue(r.stderr.contains(s) || r.stdout.contains(s), "\(what): no \"\(s)\" in \(r.stderr)", file: file, line: line) }
    }

    func testEncryptedMasterShipsWithoutTheKeyAndAppliesOnlyWithIt() throws {
        let dir = TestDirectory("encrypted")
        let master = try ToolMaster(dir)
        assertExit(try run("binlog-writer", ["keygen", master.path]), 0, "keygen (signing)")
        let keygen = try run("binlog-writer", ["keygen", "--encryption", master.path])
        assertExit(keygen, 0, containing: ["encryption.key", "key id"], "keygen --encryption")
        let keyPath = master.path + "/encryption.key"
        let secret = try String(contentsOfFile: keyPath, encoding: .utf8).split(separator: "\n")[2]
        XCTAssertFalse(keygen.stdout.contains(secret) || keygen.stderr.contains(secret), "keygen never prints the key")
        let keyID = try XCTUnwrap(try String(contentsOfFile: keyPath, encoding: .utf8).split(separator: "\n")[1].split(separator: " ").last.map(String.init))
        var st = stat()
        XCTAssertEqual(stat(keyPath, &st), 0)
        XCTAssertEqual(st.st_mode & 0o777, 0o600)
        assertExit(try run("binlog-writer", ["keygen", "--encryption", master.path]), 15, containing: ["already exists"], "a second keygen --encryption")

        try master.exec("CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT); INSERT INTO t VALUES (1, 'secret-one'), (2, 'secret-two');")
        try master.rotate()
        try master.exec("INSERT INTO t VALUES (3, 'secret-three'); UPDATE t SET v = 'secret-changed' WHERE id = 1;")
        try master.rotate()
        let sealed = try master.sealedSegments()
        XCTAssertEqual(sealed.count, 2)
        for s in sealed {
            let r = try SegmentReader(path: s.path)
            XCTAssertEqual(r.header.version, SegmentHeader.encryptedVersion, s.name)
            XCTAssertEqual(r.header.encryptionKeyID.map(SegmentSignature.keyIDText), keyID, s.name)
            XCTAssertTrue(r.footer?.isSigned ?? false, s.name)
            let bytes = try Data(contentsOf: URL(fileURLWithPath: s.path))
            XCTAssertNil(bytes.range(of: Data("secret".utf8)), "\(s.name) holds no clear text of the rows")
        }
        let pub = master.path + "/signing.pub"
        // Integrity, signatures and shipping need no encryption key.
        assertExit(try run("binlog-writer", ["verify", master.path, "--verify-key", pub]), 0, containing: ["clean"], "verify without the encryption key")
        assertExit(try run("binlog-writer", ["status", master.path]), 0, "status without the key")
        assertExit(try run("binlog-writer", ["dump", master.path]), 3, containing: ["key id \(keyID)"], "dump without the key")
        let dump = try run("binlog-writer", ["dump", master.path, "--decrypt-key", keyPath])
        assertExit(dump, 0, containing: ["secret-changed"], "dump with the key")

        // The key travels to the replica's machine (here: a copy, 0600).
        let copied = dir.sub("replica-encryption.key")
        try FileManager.default.copyItem(atPath: keyPath, toPath: copied)
        let replica = dir.sub("replica")
        assertExit(try run("replica-apply", ["init", replica, "--verify-key", pub, "--decrypt-key", copied]), 0, containing: ["decrypt"], "init with the key")
        let identity = try String(contentsOfFile: replica + "/replica.json", encoding: .utf8)
        XCTAssertTrue(identity.contains(copied), identity)
        XCTAssertFalse(identity.contains(secret), "replica.json records the path, never the key")
        assertExit(try run("binlog-ship", ["--source", master.path, "--target", replica + "/inbox", "--verify-key", pub]), 0, "ship without the key")
        assertExit(try run("replica-apply", [replica]), 0, "apply with the key")
        XCTAssertEqual(try appliedLSN(ofStore: replica + "/store.db"), master.lastLSN)
        // This process replays the master's binlog for the expected tables: it needs the key too.
        SegmentKeyring.add(try EncryptionKeyFile.read(keyPath))
        defer { SegmentKeyring.removeAll() }
        let expected = try master.digest(at: master.lastLSN, scratch: dir)
        XCTAssertEqual(try TableDigest.digest(path: replica + "/store.db"), expected, "the replica equals the master")

        // No key: refused with the key id, nothing applied; restore likewise, and with --decrypt-key it works.
        let bare = dir.sub("bare")
        assertExit(try run("replica-apply", ["init", bare, "--verify-key", pub]), 0, "init without a key")
        assertExit(try run("binlog-ship", ["--source", master.path, "--target", bare + "/inbox"]), 0, "ship to the bare replica")
        assertExit(try run("replica-apply", [bare]), 3, containing: ["encrypted with key id \(keyID)", "--decrypt-key"], "apply without the key")
        XCTAssertEqual((try? appliedLSN(ofStore: bare + "/store.db")) ?? 0, 0, "nothing applied without the key")
        assertExit(try run("replica-apply", ["restore", bare, "--latest", "--output", dir.sub("r1.db")]), 3, containing: ["key id \(keyID)"], "restore without the key")
        assertExit(try run("replica-apply", ["restore", bare, "--latest", "--output", dir.sub("r2.db"), "--decrypt-key", copied]), 0, "restore with the key")
        XCTAssertEqual(try TableDigest.digest(path: dir.sub("r2.db")), expected, "the restored copy equals the master")

        // Another key: refused, naming both ids.
        let otherDir = dir.sub("other")
        try FileManager.default.createDirectory(atPath: otherDir, withIntermediateDirectories: false)
        assertExit(try run("binlog-writer", ["keygen", "--encryption", otherDir]), 0, "another key")
        let wrong = dir.sub("wrong")
        assertExit(try run("replica-apply", ["init", wrong, "--decrypt-key", otherDir + "/encryption.key"]), 0, "init with another key")
        assertExit(try run("binlog-ship", ["--source", master.path, "--target", wrong + "/inbox"]), 0, "ship to the wrong-key replica")
        assertExit(try run("replica-apply", [wrong]), 3, containing: ["encrypted with key id \(keyID)", "the keys given have ids"], "apply with another key")
        XCTAssertEqual((try? appliedLSN(ofStore: wrong + "/store.db")) ?? 0, 0, "nothing applied with another key")

        // A key file others can read is refused (exit 14) by init and by the master.
        chmod(copied, 0o644)
        assertExit(try run("replica-apply", ["init", dir.sub("loose"), "--decrypt-key", copied]), 14, containing: ["has mode 644"], "init with a readable key")
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.sub("loose") + "/replica.json"), "no half-made replica")
        assertExit(try run("replica-apply", [replica]), 14, containing: ["has mode 644"], "apply with a key made readable")
        chmod(keyPath, 0o640)
        assertExit(try run("binlog-writer", ["exec", master.path, "INSERT INTO t VALUES (9, 'x')"]), 14, containing: ["encryption.key has mode 640"], "master with a readable key")
    }

    /// Key rotation as documented: `keygen --encryption --rotate` retires the key into the
    /// master's encryption-keys/ and writes a new one. The master goes on opening (it used to
    /// exit 3 once the key of its active segment was moved aside, as the procedure said), finishes
    /// that segment with the old key, starts the next with the new one; a replica given the new key
    /// in its encryption-keys/ applies across the change without stopping.
    func testKeyRotationKeepsTheMasterOpenAndTheReplicaApplying() throws {
        let dir = TestDirectory("encrypted-rotation")
        let master = try ToolMaster(dir)
        assertExit(try run("binlog-writer", ["keygen", "--encryption", master.path]), 0, "keygen --encryption")
        let keyPath = master.path + "/encryption.key"
        func keyID(_ path: String) throws -> String {
            try XCTUnwrap(try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n")[1].split(separator: " ").last.map(String.init))
        }
        let first = try keyID(keyPath)
        let copied = dir.sub("first.key")
        try FileManager.default.copyItem(atPath: keyPath, toPath: copied)
        let replica = dir.sub("replica")
        assertExit(try run("replica-apply", ["init", replica, "--decrypt-key", copied]), 0, "init with the first key")
        try master.exec("CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT); INSERT INTO t VALUES (1, 'one');")

        let rotated = try run("binlog-writer", ["keygen", "--encryption", "--rotate", master.path])
        assertExit(rotated, 0, containing: ["retired key id \(first)"], "keygen --encryption --rotate")
        let second = try keyID(keyPath)
        XCTAssertNotEqual(first, second)
        let retired = master.path + "/encryption-keys/\(first).key"
        XCTAssertEqual(try keyID(retired), first)
        for (path, mode) in [(retired, 0o600), (master.path + "/encryption-keys", 0o700), (keyPath, 0o600)] {
            var st = stat()
            XCTAssertEqual(stat(path, &st), 0, path)
            XCTAssertEqual(st.st_mode & 0o777, mode_t(mode), path)
        }
        XCTAssertFalse(rotated.stdout.contains(try String(contentsOfFile: keyPath, encoding: .utf8).split(separator: "\n")[2]), "never prints a key")

        // The active segment (first key) goes on; after a seal the next one has the second key.
        try master.exec("INSERT INTO t VALUES (2, 'two');")
        try master.rotate()
        try master.exec("INSERT INTO t VALUES (3, 'three'); UPDATE t SET v = 'uno' WHERE id = 1;")
        try master.rotate()
        let ids = try master.sealedSegments().map { try SegmentReader(path: $0.path).header.encryptionKeyID.map(SegmentSignature.keyIDText) }
        XCTAssertEqual(ids, [first, second], "the segment started before the rotation keeps its key")

        // Dump needs both keys; the replica, given the new one in encryption-keys/, applies all.
        assertExit(try run("binlog-writer", ["dump", master.path, "--decrypt-key", keyPath]), 3, containing: ["key id \(first)"], "dump with the new key only")
        assertExit(try run("binlog-writer", ["dump", master.path, "--decrypt-key", keyPath, "--decrypt-key", retired]), 0, containing: ["uno"], "dump with both")
        try FileManager.default.createDirectory(atPath: replica + "/encryption-keys", withIntermediateDirectories: false)
        try FileManager.default.copyItem(atPath: keyPath, toPath: replica + "/encryption-keys/\(second).key")
        assertExit(try run("binlog-ship", ["--source", master.path, "--target", replica + "/inbox"]), 0, "ship")
        assertExit(try run("replica-apply", [replica]), 0, "apply across the rotation")
        XCTAssertEqual(try appliedLSN(ofStore: replica + "/store.db"), master.lastLSN)
        for key in [keyPath, retired] { SegmentKeyring.add(try EncryptionKeyFile.read(key)) }
        defer { SegmentKeyring.removeAll() }
        XCTAssertEqual(try TableDigest.digest(path: replica + "/store.db"), try master.digest(at: master.lastLSN, scratch: dir))
    }
}
