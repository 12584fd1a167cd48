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

/// What a streamed body's bytes hash to. Computed only when asked (one pass of part-sized reads):
/// an upload that finds nothing under its key needs none of them, since the parts' own MD5s
/// give the multipart ETag it checks (`knownMultipartETag`).
final class BodyDigests: @unchecked Sendable {
    private let source: S3BodySource
    private let client: S3Client
    /// The multipart ETag of the parts just uploaded (from their MD5s), when there was an upload.
    var knownMultipartETag: String?
    private var computed: (sha256: String, md5Hex: String, multipartETag: String)?

    init(_ source: S3BodySource, client: S3Client) {
        self.source = source
        self.client = client
    }

    /// SHA-256 (base64), MD5 (hex) and multipart ETag of the whole body: one pass, on first use.
    func values() throws -> (sha256: String, md5Hex: String, multipartETag: String) {
        if let computed { return computed }
        let v = try client.digestPass(source)
        computed = v
        return v
    }

    /// The ETag S3 gives the object when it is uploaded in parts of the client's part size.
    func multipartETag() throws -> String { try knownMultipartETag ?? values().multipartETag }
}

extension S3Client {
    /// `putIfAbsent` for a body read in pieces: at or under the multipart threshold it is read
    /// once and sent as one PUT; above, its parts are read and sent `partConcurrency` at a time, so
    /// memory stays at that many parts whatever the body's size. Same outcomes as the in-memory call.
    public func putIfAbsent(_ key: String, source: S3BodySource, support: ConditionalPutSupport) throws -> PutResult {
        if source.size <= Int64(configuration.multipartThreshold) {
            return try putIfAbsent(key, try source.read(0, Int(source.size)), support: support)
        }
        let digests = BodyDigests(source, client: self)
        if let existing = try head(key) { return try existingResult(existing, source, digests, support) }
        return try completeIfAbsent(stageParts(key, source: source), source, digests, support)
    }

    /// `put` (replacing what is there) for a body read in pieces, `partConcurrency` parts in memory at a time.
    public func put(_ key: String, source: S3BodySource) throws -> PutResult {
        if source.size <= Int64(configuration.multipartThreshold) { return try put(key, try source.read(0, Int(source.size))) }
        return try uploadStreamed(key, source, BodyDigests(source, client: self), conditional: false)
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
    func digestPass(_ source: S3BodySource) throws -> (sha256: String, md5Hex: String, multipartETag: String) {
        var sha = SHA256(), md5 = Insecure.MD5(), partDigests = Data()
        let ranges = partRanges(source.size)
        for range in ranges {
            let part = try readPart(source, range, key: "")
            sha.update(data: part)
            md5.update(data: part)
            partDigests.append(contentsOf: Insecure.MD5.hash(data: part))
        }
        return (Data(sha.finalize()).base64EncodedString(), SigV4Signer.hex(md5.finalize()),
                Self.multipartETag(partDigests: partDigests, parts: ranges.count))
    }

    /// A multipart upload whose parts are read from the source and sent `partConcurrency` at a
    /// time (each part's MD5 and SHA-256 computed once, for its Content-MD5, its signature and
    /// the check of its ETag); aborted on any failure, so nothing is visible under the key unless
    /// it completed. The object's multipart ETag, from the parts' MD5s, is checked against the
    /// completed object's.
    func uploadStreamed(_ key: String, _ source: S3BodySource, _ digests: BodyDigests, conditional: Bool) throws -> PutResult {
        try finish(stageParts(key, source: source), source, digests, conditional: conditional)
    }

    /// Starts a multipart upload of `source` under `key` and sends every part, but does not
    /// complete it: nothing is visible under the key until `putIfAbsent(staged:)` completes it.
    /// This lets a caller send the next object's parts while the one before is still being
    /// published, without a reader ever seeing them out of order. A failure aborts the upload.
    /// Only for bodies above the multipart threshold.
    public func stageParts(_ key: String, source: S3BodySource) throws -> S3StagedUpload {
        let uploadId = try createMultipartUpload(key)
        do {
            let parts = try uploadParts(key, uploadId: uploadId, ranges: partRanges(source.size)) { try self.readPart(source, $0, key: key) }
            return S3StagedUpload(key: key, uploadId: uploadId, parts: parts)
        } catch {
            try? abortMultipartUpload(key, uploadId: uploadId)
            throw error
        }
    }

    /// Drops a staged upload and its parts (nothing was visible).
    public func abort(_ staged: S3StagedUpload) {
        try? abortMultipartUpload(staged.key, uploadId: staged.uploadId)
    }

    /// `putIfAbsent` for parts already sent by `stageParts`: the same outcomes as the streamed
    /// call (the same bytes already there are `created: false`, other bytes `.alreadyExists`),
    /// the staged upload completed only when nothing holds the key, and aborted otherwise.
    public func putIfAbsent(staged: S3StagedUpload, source: S3BodySource, support: ConditionalPutSupport) throws -> PutResult {
        let key = staged.key
        let digests = BodyDigests(source, client: self)
        digests.knownMultipartETag = staged.multipartETag
        if support == .headThenPut, let existing = try head(key) {
            abort(staged)
            return try existingResult(existing, source, digests, support)
        }
        return try completeIfAbsent(staged, source, digests, support)
    }

    /// Completes `staged` with `If-None-Match: *`, under put-if-absent's rules (`ifAbsent`).
    private func completeIfAbsent(_ staged: S3StagedUpload, _ source: S3BodySource, _ digests: BodyDigests,
                                  _ support: ConditionalPutSupport) throws -> PutResult {
        try ifAbsent(staged.key, support, put: { try finish(staged, source, digests, conditional: true) },
                     same: { try sameContent($0, source, digests) != nil },
                     existing: { try existingResult($0, source, digests, support) })
    }

    /// Completes a staged upload (aborting it when completion fails) and checks the object's
    /// ETag against the parts' MD5s, or reads it back when the server gives another kind of ETag.
    private func finish(_ staged: S3StagedUpload, _ source: S3BodySource, _ digests: BodyDigests, conditional: Bool) throws -> PutResult {
        let key = staged.key
        let etag: String
        do {
            etag = try completeMultipartUpload(key, uploadId: staged.uploadId, parts: staged.parts, conditional: conditional)
        } catch {
            abort(staged)
            throw error
        }
        digests.knownMultipartETag = staged.multipartETag
        if etag == (try digests.multipartETag()) {
            let how: PutVerification = staged.parts.allSatisfy(\.checkedByServer) ? .partChecksumSHA256 : .multipartETag
            return PutResult(created: true, etag: etag, verification: how, guarantee: nil)
        }
        guard try readBackMatches(key, source) else {
            throw makeError(.checksumMismatch, "unable to verify put: the stored object reads back differently from the bytes sent", key: key,
                            hint: "the object is damaged in the store or in flight; delete it and ship again")
        }
        return PutResult(created: true, etag: etag, verification: .readBack, guarantee: nil)
    }

    /// Uploads `ranges` as parts 1…n, up to `configuration.partConcurrency` at a time (each on a
    /// thread of its own: the transport is synchronous); returns their ETags in order. The first
    /// failure stops new parts from starting and is thrown once the running ones end.
    func uploadParts(_ key: String, uploadId: String, ranges: [Range<Int64>], read: @escaping (Range<Int64>) throws -> Data) throws -> [S3UploadedPart] {
        final class Shared: @unchecked Sendable {
            let lock = NSLock()
            var etags: [S3UploadedPart?]
            var failure: Error?
            let read: (Range<Int64>) throws -> Data
            init(count: Int, read: @escaping (Range<Int64>) throws -> Data) { etags = Array(repeating: nil, count: count); self.read = read }
            var failed: Bool { lock.lock(); defer { lock.unlock() }; return failure != nil }
        }
        let shared = Shared(count: ranges.count, read: read)
        let slots = DispatchSemaphore(value: max(1, configuration.partConcurrency))
        let group = DispatchGroup()
        for (i, range) in ranges.enumerated() {
            slots.wait()
            if shared.failed { slots.signal(); break }
            group.enter()
            Thread.detachNewThread { [self] in
                defer { slots.signal(); group.leave() }
                do {
                    let etag = try self.uploadPart(key, uploadId: uploadId, number: i + 1, try shared.read(range))
                    shared.lock.lock(); shared.etags[i] = etag; shared.lock.unlock()
                } catch {
                    shared.lock.lock(); if shared.failure == nil { shared.failure = error }; shared.lock.unlock()
                }
            }
        }
        group.wait()
        if let failure = shared.failure { throw failure }
        return shared.etags.map { $0! }
    }

    /// How an existing object was found to hold exactly the source's bytes, or nil.
    func sameContent(_ info: S3ObjectInfo, _ source: S3BodySource, _ digests: BodyDigests) throws -> PutVerification? {
        guard info.size == source.size else { return nil }
        // A multipart object's checksum is of its parts' checksums (moto leaves out the "-N"
        // that says so), never the body's SHA-256.
        if let sum = info.checksumSHA256, !sum.contains("-"), !info.etag.contains("-") {
            return sum == (try digests.values().sha256) ? .checksumSHA256 : nil
        }
        if info.etag.count == 32, !info.etag.contains("-") { return info.etag == (try digests.values().md5Hex) ? .etagMD5 : nil }
        if info.etag == (try digests.multipartETag()) { return .multipartETag }
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

/// A multipart upload whose parts are all on the server but which is not completed: nothing is
/// visible under `key` (`S3Client.stageParts`).
public struct S3StagedUpload: Sendable {
    public let key: String
    public let uploadId: String
    /// The parts, in part order.
    public let parts: [S3UploadedPart]

    /// The ETag S3 gives the object once complete, from the parts' ETags (their MD5s).
    var multipartETag: String {
        var partDigests = Data()
        for part in parts { partDigests.append(contentsOf: SigV4Signer.bytes(hex: part.etag) ?? []) }
        return S3Client.multipartETag(partDigests: partDigests, parts: parts.count)
    }
}
