import BinlogFormat
import Crypto
import Foundation
import XCTest

/// Key files: created 0600 whatever the umask, never overwritten, refused when too open, and a
/// signature they make is checked by an independent implementation (Python `cryptography`).
final class SigningKeyFileTests: XCTestCase {
    func testGeneratedPrivateKeyIs0600EvenUnderUmask0AndSignsWhatItsPublicKeyVerifies() throws {
        let dir = try TemporaryDirectory("keys")
        let old = umask(0)
        defer { umask(old) }
        let id = try SigningKeyFile.generate(privatePath: dir.file("signing.key"), publicPath: dir.file("signing.pub"))
        var st = stat()
        XCTAssertEqual(stat(dir.file("signing.key"), &st), 0)
        XCTAssertEqual(st.st_mode & 0o777, 0o600)
        XCTAssertEqual(stat(dir.file("signing.pub"), &st), 0)
        XCTAssertEqual(st.st_mode & 0o777, 0o644)
        let signer = try SigningKeyFile.readPrivate(dir.file("signing.key"))
        let pub = try SigningKeyFile.readPublic(dir.file("signing.pub"))
        XCTAssertEqual(SegmentSignature.keyIDText(signer.keyID), id)
        XCTAssertEqual(signer.publicKey.rawRepresentation, pub.rawRepresentation)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted(), ["signing.key", "signing.pub"], "no temp file left")
    }

    func testKeysAreNeverOverwritten() throws {
        let dir = try TemporaryDirectory("keys-exist")
        try SigningKeyFile.generate(privatePath: dir.file("signing.key"), publicPath: dir.file("signing.pub"))
        let before = try readBytes(dir.file("signing.key"))
        XCTAssertThrowsError(try SigningKeyFile.generate(privatePath: dir.file("signing.key"), publicPath: dir.file("other.pub"))) { e in
            XCTAssertTrue("\(e)".contains("already exists"), "\(e)")
        }
        XCTAssertEqual(try readBytes(dir.file("signing.key")), before)
    }

    func testLooseKeyFilePermissionsAreRefusedWithoutPrintingTheKey() throws {
        let dir = try TemporaryDirectory("keys-mode")
        try SigningKeyFile.generate(privatePath: dir.file("signing.key"), publicPath: dir.file("signing.pub"))
        let secret = try String(contentsOfFile: dir.file("signing.key"), encoding: .utf8).split(separator: "\n")[2]
        for mode: mode_t in [0o640, 0o604, 0o644, 0o660] {
            chmod(dir.file("signing.key"), mode)
            XCTAssertThrowsError(try SigningKeyFile.readPrivate(dir.file("signing.key"))) { e in
                XCTAssertTrue("\(e)".contains("has mode \(String(mode, radix: 8))"), "\(e)")
                XCTAssertTrue("\(e)".contains("chmod 600"), "\(e)")
                XCTAssertFalse("\(e)".contains(secret), "the key itself must never be in a message")
            }
        }
        chmod(dir.file("signing.key"), 0o400)
        XCTAssertNoThrow(try SigningKeyFile.readPrivate(dir.file("signing.key")))
        for mode: mode_t in [0o664, 0o646] {
            chmod(dir.file("signing.pub"), mode)
            XCTAssertThrowsError(try SigningKeyFile.readPublic(dir.file("signing.pub"))) { e in
                XCTAssertTrue("\(e)".contains("must not be writable by group or others"), "\(e)")
            }
        }
        chmod(dir.file("signing.pub"), 0o644)
        XCTAssertNoThrow(try SigningKeyFile.readPublic(dir.file("signing.pub")))
        // A symbolic link to a key is not followed.
        XCTAssertEqual(symlink(dir.file("signing.key"), dir.file("link.key")), 0)
        XCTAssertThrowsError(try SigningKeyFile.readPrivate(dir.file("link.key"))) { e in
            XCTAssertTrue("\(e)".contains("symbolic link"), "\(e)")
        }
    }

    func testDamagedKeyFilesAreRefused() throws {
        let dir = try TemporaryDirectory("keys-damaged")
        try SigningKeyFile.generate(privatePath: dir.file("signing.key"), publicPath: dir.file("signing.pub"))
        var lines = try String(contentsOfFile: dir.file("signing.pub"), encoding: .utf8).split(separator: "\n").map(String.init)
        lines[1] = "key-id 0000000000000000"
        try writeBytes(Array((lines.joined(separator: "\n") + "\n").utf8), to: dir.file("wrong-id.pub"))
        chmod(dir.file("wrong-id.pub"), 0o644)
        XCTAssertThrowsError(try SigningKeyFile.readPublic(dir.file("wrong-id.pub"))) { e in XCTAssertTrue("\(e)".contains("says key id 0000000000000000"), "\(e)") }
        XCTAssertThrowsError(try SigningKeyFile.readPublic(dir.file("signing.key"))) { e in XCTAssertTrue("\(e)".contains("not a logship key file"), "\(e)") }
    }

    /// Python's `cryptography` (OpenSSL's Ed25519) verifies the signature of a segment signed
    /// with a generated key file, from the public key file and the bytes laid out as FORMAT.md §5.1.
    func testPythonCryptographyVerifiesARealSegmentSignature() throws {
        guard let python = ["/usr/bin/python3", "/usr/local/bin/python3"].first(where: FileManager.default.isExecutableFile(atPath:)) else {
            throw XCTSkip("python3 is not installed (tools/test installs it)")
        }
        guard run(python, ["-c", "import cryptography"]).status == 0 else {
            throw XCTSkip("python3 cannot import cryptography (tools/test installs it with pip)")
        }
        let dir = try TemporaryDirectory("keys-python")
        try SigningKeyFile.generate(privatePath: dir.file("signing.key"), publicPath: dir.file("signing.pub"))
        let signer = try SigningKeyFile.readPrivate(dir.file("signing.key"))
        let bytes = try GoldenV3.build(in: dir.path, signer: signer)
        let script = """
            import base64, hashlib, sys
            from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
            from cryptography.exceptions import InvalidSignature
            lines = open(sys.argv[1]).read().split("\\n")
            assert lines[0] == "logship-ed25519-public-key 1", lines[0]
            raw = base64.b64decode(lines[2])
            assert hashlib.sha256(raw).digest()[:8].hex() == lines[1].split(" ")[1], "key id"
            seg = open(sys.argv[2], "rb").read()
            assert seg[8] == 3, "version"
            f = len(seg) - 160
            assert int.from_bytes(seg[f + 48:f + 56], "little") == f, "footer offset"
            assert seg[f + 80:f + 88] == hashlib.sha256(raw).digest()[:8], "key id in footer"
            msg = b"LSHPSIG1" + seg[0:80] + hashlib.sha256(seg[0:f]).digest() + seg[f:f + 88]
            key = Ed25519PublicKey.from_public_bytes(raw)
            key.verify(seg[f + 88:f + 152], msg)
            bad = bytearray(seg); bad[100] ^= 1
            try:
                key.verify(seg[f + 88:f + 152], b"LSHPSIG1" + bytes(bad[0:80]) + hashlib.sha256(bytes(bad[0:f])).digest() + bytes(bad[f:f + 88]))
                print("forgery accepted")
            except InvalidSignature:
                print("ok")
            """
        let r = run(python, ["-c", script, dir.file("signing.pub"), dir.file(GoldenV3.fileName)])
        XCTAssertEqual(r.status, 0, r.output)
        XCTAssertEqual(r.output.trimmingCharacters(in: .whitespacesAndNewlines), "ok")
        XCTAssertEqual(bytes.count, GoldenV3.length)
    }

    private func run(_ tool: String, _ arguments: [String]) -> (status: Int32, output: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: tool)
        p.arguments = arguments
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = pipe
        do { try p.run() } catch { return (-1, "\(error)") }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: data, as: UTF8.self))
    }
}
