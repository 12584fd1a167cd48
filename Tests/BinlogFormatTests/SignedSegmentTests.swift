import BinlogFormat
import Crypto
import Foundation
import XCTest

/// The version-3 (signed) golden segment: the transactions of the version-1 golden segment,
/// header version 3, sealed and signed with a fixed test key. Ed25519 (RFC 8032) is
/// deterministic, so the bytes are pinned like the other golden files.
enum GoldenV3 {
    static let fileName = Golden.fileName
    /// The test key: seed bytes 1...32. Never a real key.
    /// nonisolated(unsafe): an immutable value that swift-crypto does not mark Sendable.
    nonisolated(unsafe) static let privateKey = try! Curve25519.Signing.PrivateKey(rawRepresentation: (1...32).map { UInt8($0) })
    static let signer = SegmentSigner(privateKey)
    static let verifier = SegmentVerifier(keys: [privateKey.publicKey])

    static var fixturePath: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/golden-v3-signed/\(fileName)").path
    }

    static var header: SegmentHeader {
        var h = Golden.header
        h.version = SegmentHeader.signedVersion
        return h
    }

    static func build(in directory: String, signer: SegmentSigner? = GoldenV3.signer) throws -> [UInt8] {
        let writer = try SegmentWriter.create(directory: directory, header: header, chunkSize: Golden.chunkSize)
        for tx in Golden.transactions { try writer.append(lsn: tx.lsn, commitTime: tx.commitTime, events: tx.events) }
        try writer.sync()
        _ = try writer.seal(now: Golden.sealedAt, signer: signer)
        return try readBytes(directory + "/" + fileName)
    }

    // Pinned once from the writer's output; a change here is a format change.
    static let length = 1_337
    static let checksum: UInt64 = 0x5849_4D0A_1E4C_8551
}

/// Reads `bytes` as segment `GoldenV3.fileName` and checks its signature with `verifier`;
/// returns the error that refused it, or nil when it was accepted.
func refusal(_ bytes: [UInt8], verifier: SegmentVerifier = GoldenV3.verifier, in dir: String) -> Error? {
    let path = dir + "/" + GoldenV3.fileName
    do {
        unlink(path)
        try writeBytes(bytes, to: path)
        let reader = try SegmentReader(path: path)
        try reader.verifyAll()
        try verifier.check(reader)
        return nil
    } catch {
        return error
    }
}

/// Checksum repair for version-3 segments (160-byte footer), from the byte layout of
/// docs/FORMAT.md §2, §3, §5.1: header checksum, each frame's, footer offset, segment checksum,
/// footer checksum. The signature is left as it is: only a key holder can make a new one.
enum V3Surgery {
    static let footerSize = 160

    static func frames(_ bytes: [UInt8]) -> [(start: Int, end: Int, flags: UInt8, lsn: UInt64)] {
        var out: [(Int, Int, UInt8, UInt64)] = []
        var at = 80
        let dataEnd = bytes.count - footerSize
        while at + 40 <= dataEnd {
            let end = at + 40 + Int(u32(bytes, at + 24))
            guard end <= dataEnd else { break }
            out.append((at, end, bytes[at + 5], u64(bytes, at + 8)))
            at = end
        }
        return out
    }

    static func repair(_ bytes: inout [UInt8]) {
        put(&bytes, 72, Checksum.xxh3(Array(bytes[0..<72])))
        let footerAt = bytes.count - footerSize
        for f in frames(bytes) {
            put(&bytes, f.start + 32, Checksum.xxh3(Array(bytes[f.start..<(f.start + 32)]) + bytes[(f.start + 40)..<f.end]))
        }
        put(&bytes, footerAt + 48, UInt64(footerAt))
        put(&bytes, footerAt + 56, Checksum.xxh3(Array(bytes[0..<footerAt])))
        put(&bytes, footerAt + 152, Checksum.xxh3(Array(bytes[footerAt..<(footerAt + 152)])))
    }

    static func u32(_ b: [UInt8], _ at: Int) -> UInt32 { (0..<4).reduce(0) { $0 | UInt32(b[at + $1]) << (8 * $1) } }
    static func u64(_ b: [UInt8], _ at: Int) -> UInt64 { (0..<8).reduce(0) { $0 | UInt64(b[at + $1]) << (8 * $1) } }
    static func put(_ b: inout [UInt8], _ at: Int, _ v: UInt64) { for i in 0..<8 { b[at + i] = UInt8(truncatingIfNeeded: v >> (8 * i)) } }
}

final class SignedSegmentTests: XCTestCase {
    func testGoldenV3BytesArePinnedAndTheFixtureMatches() throws {
        let dir = try TemporaryDirectory("golden-v3")
        let bytes = try GoldenV3.build(in: dir.path)
        let checksum = Checksum.xxh3(bytes)
        if ProcessInfo.processInfo.environment["LOGSHIP_UPDATE_GOLDEN"] == "1" {
            try? FileManager.default.createDirectory(atPath: (GoldenV3.fixturePath as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try writeBytes(bytes, to: GoldenV3.fixturePath)
            print("golden v3 segment rewritten: length \(bytes.count), checksum 0x\(String(checksum, radix: 16))")
        }
        XCTAssertEqual(bytes.count, GoldenV3.length, "golden v3 segment length changed: this is a format change")
        XCTAssertEqual(checksum, GoldenV3.checksum, "golden v3 segment XXH3 is 0x\(String(checksum, radix: 16)): this is a format change")
        XCTAssertEqual(try readBytes(GoldenV3.fixturePath), bytes, "writer output differs from the committed golden-v3-signed fixture")
        // Same frames as the version-1 golden segment: only the header's version (and checksum) and the footer differ.
        let v1 = try readBytes(Golden.fixturePath)
        XCTAssertEqual(Array(bytes[80..<(bytes.count - 160)]), Array(v1[80..<(v1.count - 96)]))
    }

    func testFixtureVerifiesAndItsLayoutMatchesTheSpec() throws {
        let bytes = try readBytes(GoldenV3.fixturePath)
        let reader = try SegmentReader(path: GoldenV3.fixturePath)
        var read: [Transaction] = []
        while let tx = try reader.next() { read.append(tx) }
        XCTAssertEqual(read, Golden.transactions)
        try GoldenV3.verifier.check(reader)
        let footerAt = bytes.count - 160
        XCTAssertEqual(bytes[8], 3, "header version")
        XCTAssertEqual(V3Surgery.u64(bytes, footerAt + 48), UInt64(footerAt), "footer offset")
        let keyID = Array(SHA256.hash(data: GoldenV3.privateKey.publicKey.rawRepresentation).prefix(8))
        XCTAssertEqual(Array(bytes[(footerAt + 80)..<(footerAt + 88)]), keyID, "key id at footer offset 80")
        // The message of §5.1, built here from the bytes, verifies with the public key.
        let message = Array("LSHPSIG1".utf8) + Array(bytes[0..<80]) + Array(SHA256.hash(data: bytes[0..<footerAt])) + Array(bytes[footerAt..<(footerAt + 88)])
        XCTAssertTrue(GoldenV3.privateKey.publicKey.isValidSignature(Array(bytes[(footerAt + 88)..<(footerAt + 152)]), for: message))
        XCTAssertEqual(V3Surgery.u64(bytes, footerAt + 152), Checksum.xxh3(Array(bytes[footerAt..<(footerAt + 152)])))
    }

    func testVersion1And2SegmentsStillRead() throws {
        for path in [Golden.fixturePath, DigestMarkerTestsPaths.v2] {
            let reader = try SegmentReader(path: path)
            try reader.verifyAll()
            XCTAssertFalse(reader.footer!.isSigned)
            XCTAssertNil(reader.contentSHA256)
            XCTAssertNoThrow(try SegmentVerifier(required: false).check(reader))
            XCTAssertThrowsError(try GoldenV3.verifier.check(reader)) { e in
                XCTAssertTrue("\(e)".contains("not signed"), "\(e)")
            }
        }
    }

    func testUnsignedVersion3IsRefusedWhenSignaturesAreRequired() throws {
        let dir = try TemporaryDirectory("v3-unsigned")
        let bytes = try GoldenV3.build(in: dir.path, signer: nil)
        let e = refusal(bytes, in: dir.path)
        XCTAssertTrue("\(e.map { "\($0)" } ?? "accepted")".contains("not signed"), "\(String(describing: e))")
        XCTAssertEqual((e as? FormatError)?.exitStatus, .corruption)
        XCTAssertNil(refusal(bytes, verifier: SegmentVerifier(required: false), in: dir.path))
    }

    func testAnotherKeyIsRefusedAndRotationTrustsBoth() throws {
        let dir = try TemporaryDirectory("v3-otherkey")
        let other = Curve25519.Signing.PrivateKey()
        let bytes = try GoldenV3.build(in: dir.path, signer: SegmentSigner(other))
        let e = refusal(bytes, in: dir.path)
        XCTAssertTrue("\(e.map { "\($0)" } ?? "accepted")".contains("not trusted"), "\(String(describing: e))")
        XCTAssertNil(refusal(bytes, verifier: SegmentVerifier(keys: [GoldenV3.privateKey.publicKey, other.publicKey]), in: dir.path))
    }

    /// 1,000 seeded tamper mutants of the signed golden segment, each made to pass every
    /// checksum again: all are refused, by the reader or by the signature check.
    func testThousandTamperMutantsAreAllRefused() throws {
        let seed = ProcessInfo.processInfo.environment["LOGSHIP_SEED"].flatMap(UInt64.init) ?? UInt64.random(in: 1...UInt64.max)
        print("SignedSegmentTests tamper seed \(seed) (rerun with LOGSHIP_SEED=\(seed))")
        var rng = SeededGenerator(seed: seed)
        let dir = try TemporaryDirectory("v3-tamper")
        let good = try readBytes(GoldenV3.fixturePath)
        XCTAssertNil(refusal(good, in: dir.path), "the untouched segment must verify")
        let attacker = Curve25519.Signing.PrivateKey()
        let frames = V3Surgery.frames(good)
        let footerAt = good.count - 160
        var counts: [String: Int] = [:]
        var accepted: [String] = []
        var onlySignature: [String: Int] = [:]
        for i in 0..<1_000 {
            var m = good
            let kind: String
            switch i % 7 {
            case 0: // one byte of a frame payload or frame header changed, checksums recomputed
                kind = "frame byte"
                // Not a frame checksum: the repair below would write the true value back.
                let checksums = Set(frames.flatMap { ($0.start + 32)..<($0.start + 40) })
                var at = Int.random(in: 80..<footerAt, using: &rng)
                while checksums.contains(at) { at = Int.random(in: 80..<footerAt, using: &rng) }
                m[at] ^= UInt8.random(in: 1...255, using: &rng)
                V3Surgery.repair(&m)
            case 1: // a header field (source id, epoch, sequence, first LSN, times, previous checksum)
                kind = "header field"
                let at = Int.random(in: 16..<72, using: &rng)
                m[at] ^= UInt8.random(in: 1...255, using: &rng)
                V3Surgery.repair(&m)
            case 2: // a footer field (counts, sealed-at, key id, signature)
                kind = "footer field"
                let at = [Int.random(in: 72..<80, using: &rng), Int.random(in: 80..<152, using: &rng)][Int.random(in: 0...1, using: &rng)]
                m[footerAt + at] ^= UInt8.random(in: 1...255, using: &rng)
                V3Surgery.repair(&m)
            case 3: // two frames swapped
                kind = "frames swapped"
                var a = Int.random(in: 0..<frames.count, using: &rng), b = Int.random(in: 0..<frames.count, using: &rng)
                while Array(good[frames[a].start..<frames[a].end]) == Array(good[frames[b].start..<frames[b].end]) { b = Int.random(in: 0..<frames.count, using: &rng); a = Int.random(in: 0..<frames.count, using: &rng) }
                if a > b { swap(&a, &b) }
                let fa = Array(good[frames[a].start..<frames[a].end]), fb = Array(good[frames[b].start..<frames[b].end])
                m = Array(good[0..<frames[a].start]) + fb + Array(good[frames[a].end..<frames[b].start]) + fa + Array(good[frames[b].end...])
                V3Surgery.repair(&m)
            case 4: // truncated at a transaction boundary and re-sealed with consistent counts, old signature kept
                kind = "truncated at a frame boundary"
                let commits = frames.enumerated().filter { $0.element.flags & 0x02 != 0 }.map(\.offset)
                let keep = commits[Int.random(in: 0..<(commits.count - 1), using: &rng)]
                let cut = frames[keep].end
                var footer = Array(good[footerAt...])
                V3Surgery.put(&footer, 8, frames[keep].lsn)
                footer.replaceSubrange(16..<24, with: good[(frames[keep].start + 16)..<(frames[keep].start + 24)])
                let kept = commits.firstIndex(of: keep)! + 1
                V3Surgery.put(&footer, 24, UInt64(kept))
                V3Surgery.put(&footer, 32, UInt64(Golden.transactions.prefix(kept).map(\.events.count).reduce(0, +)))
                V3Surgery.put(&footer, 40, UInt64(keep + 1))
                m = Array(good[0..<cut]) + footer
                V3Surgery.repair(&m)
            case 5: // signature stripped (key id and signature zero), as an unsigned version-3 segment
                kind = "signature stripped"
                for j in 80..<152 { m[footerAt + j] = 0 }
                V3Surgery.repair(&m)
            default: // changed and signed again, by a key that is not trusted
                kind = "signed by another key"
                let at = Int.random(in: 80..<footerAt, using: &rng)
                m[at] ^= UInt8.random(in: 1...255, using: &rng)
                V3Surgery.repair(&m)
                m = resign(m, with: attacker)
            }
            XCTAssertTrue(m != good, "mutant \(i) (\(kind)) is the genuine segment, seed \(seed)")
            counts[kind, default: 0] += 1
            if refusal(m, in: dir.path) == nil { accepted.append("mutant \(i) (\(kind))") }
            // Which mutants pass every checksum and structure check, so that only the signature refuses them.
            if refusal(m, verifier: SegmentVerifier(required: false), in: dir.path) == nil { onlySignature[kind, default: 0] += 1 }
        }
        XCTAssertEqual(accepted, [], "accepted mutants, seed \(seed)")
        XCTAssertEqual(counts.values.reduce(0, +), 1_000)
        print("SignedSegmentTests tamper: 1000 mutants refused: \(counts.sorted { $0.key < $1.key }); refused by the signature alone: \(onlySignature.sorted { $0.key < $1.key })")
        // Re-sealed edits pass every checksum: the signature is what refuses them.
        XCTAssertEqual(onlySignature["truncated at a frame boundary"], counts["truncated at a frame boundary"], "seed \(seed)")
        XCTAssertEqual(onlySignature["signature stripped"], counts["signature stripped"], "seed \(seed)")
        XCTAssertGreaterThan(onlySignature["header field"] ?? 0, 0, "seed \(seed)")
        XCTAssertGreaterThan(onlySignature["frame byte"] ?? 0, 0, "seed \(seed)")
    }

    /// `bytes` (already consistent) with key id and signature made by `key`, correctly.
    private func resign(_ bytes: [UInt8], with key: Curve25519.Signing.PrivateKey) -> [UInt8] {
        var m = bytes
        let footerAt = m.count - 160
        m.replaceSubrange((footerAt + 80)..<(footerAt + 88), with: SegmentSignature.keyID(of: key.publicKey))
        let message = Array("LSHPSIG1".utf8) + Array(m[0..<80]) + Array(SHA256.hash(data: m[0..<footerAt])) + Array(m[footerAt..<(footerAt + 88)])
        m.replaceSubrange((footerAt + 88)..<(footerAt + 152), with: Array(try! key.signature(for: message)))
        V3Surgery.repair(&m)
        return m
    }
}

enum DigestMarkerTestsPaths {
    static var v2: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/golden-v2/00000001-0000000000000001.binlog").path
    }
}
