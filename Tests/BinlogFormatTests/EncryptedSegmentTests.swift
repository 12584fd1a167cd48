import BinlogFormat
import Crypto
import Foundation
import XCTest

/// The version-4 (encrypted, signed) golden segment: the transactions of the version-1 golden
/// segment, encrypted with a fixed test key and fixed nonces, and signed with the v3 test key.
/// Fixed key and nonces are for this test only: the writer draws a random nonce per frame.
enum GoldenV4 {
    static let fileName = Golden.fileName
    /// The test key: bytes 101...132. Never a real key.
    static let cipher = SegmentCipher(keyBytes: (101...132).map { UInt8($0) })

    static var fixturePath: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/golden-v4-encrypted/\(fileName)").path
    }

    static var header: SegmentHeader {
        var h = Golden.header
        h.version = SegmentHeader.encryptedVersion
        h.encryptionKeyID = cipher.keyID
        return h
    }

    static func build(in directory: String, cipher: SegmentCipher = GoldenV4.cipher, fixedNonces: Bool = true) throws -> [UInt8] {
        var h = header
        h.encryptionKeyID = cipher.keyID
        let writer = try SegmentWriter.create(directory: directory, header: h, chunkSize: Golden.chunkSize, cipher: cipher)
        if fixedNonces {
            var n: UInt8 = 0
            writer.nonceSource = { n += 1; return [UInt8](repeating: n, count: 12) }
        }
        for tx in Golden.transactions { try writer.append(lsn: tx.lsn, commitTime: tx.commitTime, events: tx.events) }
        try writer.sync()
        _ = try writer.seal(now: Golden.sealedAt, signer: GoldenV3.signer)
        return try readBytes(directory + "/" + fileName)
    }

    // Pinned once from the writer's output; a change here is a format change.
    static let length = 1_505
    static let checksum: UInt64 = 0xDD7E_432D_BBD7_A7D1
}

final class EncryptedSegmentTests: XCTestCase {
    override func setUp() {
        SegmentKeyring.removeAll()
    }

    override func tearDown() {
        SegmentKeyring.removeAll()
    }

    func testGoldenV4BytesArePinnedAndTheFixtureMatches() throws {
        let dir = try TemporaryDirectory("golden-v4")
        let bytes = try GoldenV4.build(in: dir.path)
        let checksum = Checksum.xxh3(bytes)
        if ProcessInfo.processInfo.environment["LOGSHIP_UPDATE_GOLDEN"] == "1" {
            try? FileManager.default.createDirectory(atPath: (GoldenV4.fixturePath as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try writeBytes(bytes, to: GoldenV4.fixturePath)
            print("golden v4 segment rewritten: length \(bytes.count), checksum 0x\(String(checksum, radix: 16))")
        }
        XCTAssertEqual(bytes.count, GoldenV4.length, "golden v4 segment length changed: this is a format change")
        XCTAssertEqual(checksum, GoldenV4.checksum, "golden v4 segment XXH3 is 0x\(String(checksum, radix: 16)): this is a format change")
        XCTAssertEqual(try readBytes(GoldenV4.fixturePath), bytes, "writer output differs from the committed golden-v4-encrypted fixture")
    }

    /// The layout of docs/FORMAT.md §3.1, checked from the bytes with swift-crypto directly:
    /// header flag and key id, per-segment key by HKDF, nonce ‖ ciphertext ‖ tag, header prefix as AAD.
    func testFixtureLayoutMatchesTheSpecAndDecryptsByHand() throws {
        let bytes = try readBytes(GoldenV4.fixturePath)
        XCTAssertEqual(bytes[8], 4, "header version")
        XCTAssertEqual(V3Surgery.u32(bytes, 12), 1, "flag bit 0: encrypted")
        XCTAssertEqual(Array(bytes[36..<40]), GoldenV4.cipher.keyID, "key id at header offset 36")
        let expectedID = Array(HMAC<SHA256>.authenticationCode(for: Array("logship key id 1".utf8), using: SymmetricKey(data: (101...132).map { UInt8($0) })).prefix(4))
        XCTAssertEqual(GoldenV4.cipher.keyID, expectedID)
        let segmentKey = HKDF<SHA256>.deriveKey(inputKeyMaterial: SymmetricKey(data: (101...132).map { UInt8($0) }), salt: Array(bytes[16..<48]),
                                                info: Array("logship frame key 1".utf8), outputByteCount: 32)
        let frames = V3Surgery.frames(bytes)
        XCTAssertGreaterThan(frames.count, 3)
        var plainFrames: [[UInt8]] = []
        for f in frames {
            XCTAssertNotEqual(bytes[f.start + 5] & 8, 0, "frame flag bit 3: encrypted")
            let sealed = Array(bytes[(f.start + 40)..<f.end])
            let box = try ChaChaPoly.SealedBox(combined: sealed)
            let plain = Array(try ChaChaPoly.open(box, using: segmentKey, authenticating: Array(bytes[f.start..<(f.start + 32)])))
            XCTAssertEqual(sealed.count, plain.count + 28)
            plainFrames.append(plain)
        }
        // The clear frames of the v1 golden segment hold the same payloads (this one is not compressed when v1's is not).
        let v1 = try readBytes(Golden.fixturePath)
        var at = 80
        var v1Payloads: [[UInt8]] = []
        while at + 40 <= v1.count - 96 {
            let end = at + 40 + Int(V3Surgery.u32(v1, at + 24))
            v1Payloads.append(Array(v1[(at + 40)..<end]))
            at = end
        }
        XCTAssertEqual(plainFrames, v1Payloads)
        // No clear text of the data is in the file.
        XCTAssertNil(String(decoding: bytes, as: UTF8.self).range(of: "banana"))
        XCTAssertNotNil(String(decoding: v1, as: UTF8.self).range(of: "banana"))
    }

    func testWithTheKeyItReadsLikeTheClearSegment() throws {
        SegmentKeyring.add(GoldenV4.cipher)
        let reader = try SegmentReader(path: GoldenV4.fixturePath)
        var read: [Transaction] = []
        while let tx = try reader.next() { read.append(tx) }
        XCTAssertEqual(read, Golden.transactions)
        try GoldenV3.verifier.check(reader)
    }

    /// Integrity (checksums, chain, counts) and the signature check work without the key; decoding
    /// says which key id it needs, as an exit-3 refusal.
    func testWithoutTheKeyIntegrityAndSignatureVerifyButDecodingNamesTheKey() throws {
        let reader = try SegmentReader(path: GoldenV4.fixturePath)
        XCTAssertEqual(try reader.verifyAll(decode: false), UInt64(Golden.transactions.count))
        try GoldenV3.verifier.check(reader)
        let decoding = try SegmentReader(path: GoldenV4.fixturePath)
        let id = GoldenV4.cipher.keyIDText
        XCTAssertThrowsError(try decoding.next()) { e in
            XCTAssertTrue("\(e)".contains("encrypted with key id \(id)") && "\(e)".contains("no decryption key was given"), "\(e)")
            XCTAssertEqual((e as? FormatError)?.exitStatus, .corruption)
        }
        let other = SegmentCipher(keyBytes: (1...32).map { UInt8($0) })
        SegmentKeyring.add(other)
        XCTAssertThrowsError(try SegmentReader(path: GoldenV4.fixturePath).next()) { e in
            XCTAssertTrue("\(e)".contains("encrypted with key id \(id)") && "\(e)".contains("ids \(other.keyIDText)"), "\(e)")
        }
    }

    func testRandomNoncesDifferBetweenWritesOfTheSameData() throws {
        let a = try TemporaryDirectory("v4-nonce-a"), b = try TemporaryDirectory("v4-nonce-b")
        let x = try GoldenV4.build(in: a.path, fixedNonces: false), y = try GoldenV4.build(in: b.path, fixedNonces: false)
        XCTAssertEqual(x.count, y.count)
        let fx = V3Surgery.frames(x), fy = V3Surgery.frames(y)
        for (p, q) in zip(fx, fy) { XCTAssertNotEqual(Array(x[(p.start + 40)..<(p.start + 52)]), Array(y[(q.start + 40)..<(q.start + 52)])) }
        SegmentKeyring.add(GoldenV4.cipher)
        XCTAssertNil(refusal(x, in: a.path))
    }

    /// 1,000 seeded tamper mutants of the signed and encrypted golden segment, every checksum
    /// recomputed: all refused. Mutants of frame bytes are refused by decryption alone too.
    func testThousandTamperMutantsOfSignedEncryptedSegmentsAreAllRefused() throws {
        let seed = ProcessInfo.processInfo.environment["LOGSHIP_SEED"].flatMap(UInt64.init) ?? UInt64.random(in: 1...UInt64.max)
        print("EncryptedSegmentTests tamper seed \(seed) (rerun with LOGSHIP_SEED=\(seed))")
        var rng = SeededGenerator(seed: seed)
        SegmentKeyring.add(GoldenV4.cipher)
        let dir = try TemporaryDirectory("v4-tamper")
        let good = try readBytes(GoldenV4.fixturePath)
        XCTAssertNil(refusal(good, in: dir.path), "the untouched segment must verify")
        // Another segment of the same key: the same transactions as sequence 2 (a frame from another segment).
        let otherDir = try TemporaryDirectory("v4-tamper-other")
        var h2 = GoldenV4.header
        h2.sequence = 2
        let w2 = try SegmentWriter.create(directory: otherDir.path, header: h2, chunkSize: Golden.chunkSize, cipher: GoldenV4.cipher)
        for tx in Golden.transactions { try w2.append(lsn: tx.lsn, commitTime: tx.commitTime, events: tx.events) }
        _ = try w2.seal(now: Golden.sealedAt, signer: GoldenV3.signer)
        let foreign = try readBytes(otherDir.path + "/00000001-0000000000000002.binlog")
        let foreignFrames = V3Surgery.frames(foreign)
        let frames = V3Surgery.frames(good)
        let footerAt = good.count - 160
        var counts: [String: Int] = [:]
        var accepted: [String] = []
        var byDecryption: [String: Int] = [:]
        for i in 0..<1_000 {
            var m = good
            let kind: String
            switch i % 5 {
            case 0, 1: // one byte of a frame (header prefix, nonce, ciphertext or tag) changed, checksums recomputed
                kind = "frame byte"
                let checksums = Set(frames.flatMap { ($0.start + 32)..<($0.start + 40) })
                var at = Int.random(in: 80..<footerAt, using: &rng)
                while checksums.contains(at) { at = Int.random(in: 80..<footerAt, using: &rng) }
                m[at] ^= UInt8.random(in: 1...255, using: &rng)
                V3Surgery.repair(&m)
            case 2: // a header field, the key id included
                kind = "header field"
                let at = Int.random(in: 16..<72, using: &rng)
                m[at] ^= UInt8.random(in: 1...255, using: &rng)
                V3Surgery.repair(&m)
            case 3: // a frame replaced by the same LSN's frame of another segment under the same key
                kind = "frame from another segment"
                let k = Int.random(in: 0..<min(frames.count, foreignFrames.count), using: &rng)
                m = Array(good[0..<frames[k].start]) + Array(foreign[foreignFrames[k].start..<foreignFrames[k].end]) + Array(good[frames[k].end...])
                V3Surgery.repair(&m)
            default: // two frames swapped
                kind = "frames swapped"
                var a = Int.random(in: 0..<frames.count, using: &rng), b = Int.random(in: 0..<frames.count, using: &rng)
                while a == b { b = Int.random(in: 0..<frames.count, using: &rng) }
                if a > b { swap(&a, &b) }
                let fa = Array(good[frames[a].start..<frames[a].end]), fb = Array(good[frames[b].start..<frames[b].end])
                m = Array(good[0..<frames[a].start]) + fb + Array(good[frames[a].end..<frames[b].start]) + fa + Array(good[frames[b].end...])
                V3Surgery.repair(&m)
            }
            XCTAssertTrue(m != good, "mutant \(i) (\(kind)) is the genuine segment, seed \(seed)")
            counts[kind, default: 0] += 1
            if refusal(m, in: dir.path) == nil { accepted.append("mutant \(i) (\(kind))") }
            // Without any signature check: what decryption (and the structure checks) refuse on their own.
            if let e = refusal(m, verifier: SegmentVerifier(required: false), in: dir.path), "\(e)".contains("does not decrypt") {
                byDecryption[kind, default: 0] += 1
            }
        }
        XCTAssertEqual(accepted, [], "accepted mutants, seed \(seed)")
        XCTAssertEqual(counts.values.reduce(0, +), 1_000)
        print("EncryptedSegmentTests tamper: 1000 mutants refused: \(counts.sorted { $0.key < $1.key }); refused by decryption: \(byDecryption.sorted { $0.key < $1.key })")
        XCTAssertEqual(byDecryption["frame from another segment"], counts["frame from another segment"], "the per-segment key refuses a moved frame, seed \(seed)")
        XCTAssertGreaterThan(byDecryption["frame byte"] ?? 0, counts["frame byte"]! / 2, "seed \(seed)")
    }

    func testEncryptionKeyFilesAreOwnerOnlyAndNeverOverwritten() throws {
        let dir = try TemporaryDirectory("enc-keyfile")
        let path = dir.path + "/encryption.key"
        let id = try EncryptionKeyFile.generate(path)
        var st = stat()
        XCTAssertEqual(stat(path, &st), 0)
        XCTAssertEqual(st.st_mode & 0o777, 0o600)
        XCTAssertEqual(try EncryptionKeyFile.read(path).keyIDText, id)
        XCTAssertThrowsError(try EncryptionKeyFile.generate(path)) { e in XCTAssertTrue("\(e)".contains("never overwritten"), "\(e)") }
        chmod(path, 0o640)
        XCTAssertThrowsError(try EncryptionKeyFile.read(path)) { e in
            XCTAssertTrue("\(e)".contains("has mode 640"), "\(e)")
            XCTAssertEqual((e as? FormatError)?.exitStatus, .ioError)
            // The message names the file and key rules, never the key.
            let key = (try? String(contentsOfFile: path, encoding: .utf8))?.split(separator: "\n").last.map(String.init) ?? "?"
            XCTAssertFalse("\(e)".contains(key))
        }
    }
}
