import Crypto
import Foundation

/// A body the client reads in pieces (a spool file, a segment): an upload above the multipart
/// threshold holds one part in memory at a time, never the whole body.
public struct S3BodySource {
    /// The body's length in bytes.
    public let size: Int64
    /// `count` bytes at `offset` (fewer only past the end).
    public let read: (_ offset: Int64, _ count: Int) throws -> Data

    public init(size: Int64, read: @escaping (_ offset: Int64, _ count: Int) throws -> Data) {
        self.size = size
        self.read = read
    }
}

/// What a streamed body's bytes hash to, computed in one pass of part-sized reads.
struct BodyDigests {
    let sha256: String
    let md5Hex: String
    /// The ETag S3 gives the object when it is uploaded in parts of the client's part size.
    let multipartETag: String
}

extension S3Client {
    /// `putIfAbsent` for a body read in pieces: at or under the multipart threshold it is read
    /// once and sent as one PUT; above, its parts are read and sent one at a time, so memory stays
    /// at one part whatever the body's size. Same outcomes as the in-memory call.
    public func putIfAbsent(_ key: String, source: S3BodySource, support: ConditionalPutSupport) throws -> PutResult {
        if source.size <= Int64(configuration.multipartThreshold) {
            return try putIfAbsent(key, try source.read(0, Int(source.size)), support: support)
        }
        let digests = try self.digests(source)
        if let existing = try head(key) { return try existingResult(existing, source, digests, support) }
        do {
            var result = try uploadStreamed(key, source, digests, conditional: true)
            result.guarantee = support
            if support == .headThenPut, let after = try head(key), try sameContent(after, source, digests) == nil {
                throw makeError(.alreadyExists, "unable to put: another writer replaced the object right after this put", key: key,
                                hint: "two writers ship to one prefix; the server ignores If-None-Match, so only one writer per prefix is safe")
            }
            return result
        } catch let e as ObjectStorageError where e.kind == .alreadyExists {
            guard let existing = try head(key) else { throw e }
            return try existingResult(existing, source, digests, support)
        }
    }

    /// `put` (replacing what is there) for a body read in pieces, one part in memory at a time.
    public func put(_ key: String, source: S3BodySource) throws -> PutResult {
        if source.size <= Int64(configuration.multipartThreshold) { return try put(key, try source.read(0, Int(source.size))) }
        return try uploadStreamed(key, source, try digests(source), conditional: false)
    }

    /// The part ranges of a body of `size` bytes.
    func partRanges(_ size: Int64) -> [Range<Int64>] {
        stride(from: Int64(0), to: size, by: configuration.partSize).map { $0..<min($0 + Int64(configuration.partSize), size) }
    }

    /// Reads exactly `range` of the source (a short read is the source shrinking under us).
    func readPart(_ source: S3BodySource, _ range: Range<Int64>, key: String) throws -> Data {
        let data = try source.read(range.lowerBound, Int(range.count))
        guard data.count == Int(range.count) else {
            throw makeError(.rejected, "unable to read bytes \(range.lowerBound)..<\(range.upperBound) of the body: got \(data.count)",
                            key: key, hint: "the local file shrank while it was uploaded; rerun")
        }
        return data
    }

    /// SHA-256, MD5 and the multipart ETag of the source, in one pass of part-sized reads.
    func digests(_ source: S3BodySource) throws -> BodyDigests {
        var sha = SHA256(), md5 = Insecure.MD5(), partDigests = Data()
        let ranges = partRanges(source.size)
        for range in ranges {
            let part = try readPart(source, range, key: "")
            sha.update(data: part)
            md5.update(data: part)
            partDigests.append(contentsOf: Insecure.MD5.hash(data: part))
        }
        return BodyDigests(sha256: Data(sha.finalize()).base64EncodedString(), md5Hex: SigV4Signer.hex(md5.finalize()),
                           multipartETag: SigV4Signer.hex(Insecure.MD5.hash(data: partDigests)) + "-\(ranges.count)")
    }

    /// A multipart upload whose parts are read from the source one at a time; aborted on any
    /// failure, so nothing is visible under the key unless it completed.
    func uploadStreamed(_ key: String, _ source: S3BodySource, _ digests: BodyDigests, conditional: Bool) throws -> PutResult {
        let uploadId = try createMultipartUpload(key)
        let etag: String
        do {
            var etags: [String] = []
            for range in partRanges(source.size) {
                etags.append(try uploadPart(key, uploadId: uploadId, number: etags.count + 1, try readPart(source, range, key: key)))
            }
            etag = try completeMultipartUpload(key, uploadId: uploadId, etags: etags, conditional: conditional)
        } catch {
            try? abortMultipartUpload(key, uploadId: uploadId)
            throw error
        }
        if etag == digests.multipartETag { return PutResult(created: true, etag: etag, verification: .multipartETag, guarantee: nil) }
        guard try readBackMatches(key, source) else {
            throw makeError(.checksumMismatch, "unable to verify put: the stored object reads back differently from the bytes sent", key: key,
                            hint: "the object is damaged in the store or in flight; delete it and ship again")
        }
        return PutResult(created: true, etag: etag, verification: .readBack, guarantee: nil)
    }

    /// How an existing object was found to hold exactly the source's bytes, or nil.
    func sameContent(_ info: S3ObjectInfo, _ source: S3BodySource, _ digests: BodyDigests) throws -> PutVerification? {
        guard info.size == source.size else { return nil }
        if let sum = info.checksumSHA256, !sum.contains("-") { return sum == digests.sha256 ? .checksumSHA256 : nil }
        if info.etag.count == 32, !info.etag.contains("-") { return info.etag == digests.md5Hex ? .etagMD5 : nil }
        if info.etag == digests.multipartETag { return .multipartETag }
        return try readBackMatches(info.key, source) ? .readBack : nil
    }

    /// Compares the stored object with the source part by part (ranged GETs).
    func readBackMatches(_ key: String, _ source: S3BodySource) throws -> Bool {
        for range in partRanges(source.size) {
            let stored = try get(key, range: range.lowerBound...(range.upperBound - 1))
            guard stored == (try readPart(source, range, key: key)) else { return false }
        }
        return true
    }

    private func existingResult(_ info: S3ObjectInfo, _ source: S3BodySource, _ digests: BodyDigests,
                                _ support: ConditionalPutSupport) throws -> PutResult {
        guard let how = try sameContent(info, source, digests) else {
            throw makeError(.alreadyExists, "unable to put: an object with different content already holds the key", key: info.key,
                            hint: "logship never overwrites; find out which writer put it there (two masters shipping to one prefix?)")
        }
        return PutResult(created: false, etag: info.etag, verification: how, guarantee: support)
    }
}
