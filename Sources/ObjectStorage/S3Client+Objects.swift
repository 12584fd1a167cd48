import Crypto
import Foundation

extension S3Client {
    /// Creates the configured bucket (in the configured region), with object lock enabled if asked.
    public func createBucket(objectLock: Bool = false) throws {
        let body = configuration.region == "us-east-1" ? Data() : Data(
            "<CreateBucketConfiguration><LocationConstraint>\(xmlEscape(configuration.region))</LocationConstraint></CreateBucketConfiguration>".utf8)
        let headers = objectLock ? [("x-amz-bucket-object-lock-enabled", "true")] : []
        _ = try perform(Call(method: "PUT", key: nil, headers: headers, body: body, operation: "create bucket"))
    }

    /// Every key under `prefix`, following continuation tokens (ListObjectsV2), in key order;
    /// `pageSize` keys at most per request (S3's own limit is 1000).
    public func list(prefix: String = "", pageSize: Int = 1000) throws -> [S3ListEntry] {
        var entries: [S3ListEntry] = []
        var token: String?
        repeat {
            var query = [("list-type", "2"), ("prefix", prefix), ("max-keys", String(pageSize))]
            if let token { query.append(("continuation-token", token)) }
            let r = try perform(Call(method: "GET", key: nil, query: query, operation: "list prefix \"\(prefix)\""))
            guard let root = XMLNode.parse(r.body), root.name == "ListBucketResult" else {
                throw makeError(.notS3, "unable to list prefix \"\(prefix)\": the answer is not a ListBucketResult", key: nil,
                                hint: "check that \(configuration.endpoint.absoluteString) is an S3 endpoint and the addressing style")
            }
            for item in root.all("Contents") {
                guard let key = item.value("Key") else { continue }
                entries.append(S3ListEntry(key: key, size: Int64(item.value("Size") ?? "") ?? 0, etag: unquote(item.value("ETag") ?? "")))
            }
            token = root.value("IsTruncated") == "true" ? root.value("NextContinuationToken") : nil
        } while token != nil
        return entries
    }

    /// What the server holds under `key`, or nil when there is nothing there.
    public func head(_ key: String) throws -> S3ObjectInfo? {
        let r = try perform(Call(method: "HEAD", key: key, headers: [("x-amz-checksum-mode", "ENABLED")], operation: "head"), accept: [404])
        if r.status == 404 { return nil }
        let iso = ISO8601DateFormatter()
        iso.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        let plain = ISO8601DateFormatter()
        let until = r.header("x-amz-object-lock-retain-until-date").flatMap { iso.date(from: $0) ?? plain.date(from: $0) }
        return S3ObjectInfo(key: key, size: Int64(r.header("content-length") ?? "") ?? 0, etag: unquote(r.header("etag") ?? ""),
                            checksumSHA256: r.header("x-amz-checksum-sha256"), lockMode: r.header("x-amz-object-lock-mode"),
                            retainUntil: until, legalHold: r.header("x-amz-object-lock-legal-hold") == "ON")
    }

    /// The object's bytes, all of them or `range` (inclusive offsets, as HTTP counts them).
    public func get(_ key: String, range: ClosedRange<Int64>? = nil) throws -> Data {
        var headers: [(String, String)] = []
        if let range { headers.append(("range", "bytes=\(range.lowerBound)-\(range.upperBound)")) }
        let r = try perform(Call(method: "GET", key: key, headers: headers, operation: range.map { "get range \($0)" } ?? "get"), accept: [404])
        if r.status == 404 { throw makeError(.noSuchKey, "unable to get: no object", key: key) }
        if let range, r.status != 206, r.body.count != Int(range.count) {
            throw makeError(.notS3, "unable to get range \(range): the server answered HTTP \(r.status) with \(r.body.count) bytes",
                            key: key, hint: "the endpoint does not honour Range requests")
        }
        return r.body
    }

    /// Removes `key` (S3 answers success for a key that is not there). An object under an object
    /// lock is reported as `.retained` and left alone: on a versioned bucket a DELETE would only
    /// hide it behind a delete marker, which is not what a purge means.
    public func delete(_ key: String) throws {
        if let info = try head(key), info.isRetained(at: now()) {
            throw retained(info)
        }
        do { _ = try perform(Call(method: "DELETE", key: key, operation: "delete"), accept: [404]) } catch let e as ObjectStorageError where e.kind == .accessDenied {
            if let info = try? head(key), info.isRetained(at: now()) { throw retained(info) }
            throw e
        }
    }

    private func retained(_ info: S3ObjectInfo) -> ObjectStorageError {
        let until = info.retainUntil.map { " until \(ISO8601DateFormatter().string(from: $0))" } ?? ""
        return makeError(.retained, "unable to delete: object locked (\(info.legalHold ? "legal hold" : info.lockMode ?? "retention")\(until))",
                         key: info.key, hint: "the object is kept by its object lock; it can be removed once the retention ends")
    }

    /// Stores `data` under `key`, replacing what is there: single PUT with x-amz-checksum-sha256
    /// and Content-MD5, or multipart above the threshold; then checks what the server says it stored.
    public func put(_ key: String, _ data: Data, retention: S3Retention? = nil) throws -> PutResult {
        try store(key, data, conditional: false, extra: retention?.headers ?? [])
    }

    /// Stores `data` under `key` only if nothing is there. An object with the same content already
    /// there counts as success (`created == false`); different content throws `.alreadyExists`.
    public func putIfAbsent(_ key: String, _ data: Data, support: ConditionalPutSupport) throws -> PutResult {
        let digests = DataDigests(data)
        // A HEAD first costs one request; a multipart body found already there saves its upload.
        if support == .headThenPut || data.count > configuration.multipartThreshold, let existing = try head(key) {
            return try existingResult(existing, data, support, digests)
        }
        return try ifAbsent(key, support, put: { try store(key, data, conditional: true, digests: digests) },
                            same: { try sameContent($0, data, digests) != nil },
                            existing: { try existingResult($0, data, support, digests) })
    }

    /// What put-if-absent promises, around one conditional write (`put`, with `If-None-Match: *`):
    /// without the server's guarantee, a HEAD after the write looks again, so a writer racing
    /// into the window between HEAD and PUT shows up as different content (reported; it cannot
    /// be undone). An object found under the key is judged by `existing`: the same bytes are
    /// success, other bytes `.alreadyExists`.
    func ifAbsent(_ key: String, _ support: ConditionalPutSupport, put: () throws -> PutResult,
                  same: (S3ObjectInfo) throws -> Bool, existing: (S3ObjectInfo) throws -> PutResult) throws -> PutResult {
        do {
            var result = try put()
            result.guarantee = support
            if support == .headThenPut, let after = try head(key), try !same(after) {
                throw makeError(.alreadyExists, "unable to put: another writer replaced the object right after this put", key: key,
                                hint: "two writers ship to one prefix; the server ignores If-None-Match, so only one writer per prefix is safe")
            }
            return result
        } catch let e as ObjectStorageError where e.kind == .alreadyExists {
            guard let found = try head(key) else { throw e }
            return try existing(found)
        }
    }

    /// Finds out whether the server honours `If-None-Match: *` by writing `probeKey` twice with
    /// different bodies; removes the probe after.
    public func probeConditionalPut(probeKey: String) throws -> ConditionalPutSupport {
        defer { try? delete(probeKey) }
        _ = try perform(Call(method: "PUT", key: probeKey, headers: [("if-none-match", "*")], body: Data("probe 1".utf8), operation: "probe conditional put"), accept: [409, 412])
        let second = try perform(Call(method: "PUT", key: probeKey, headers: [("if-none-match", "*")], body: Data("probe 2".utf8), operation: "probe conditional put"), accept: [409, 412])
        return second.status == 412 || second.status == 409 ? .enforced : .headThenPut
    }

    func store(_ key: String, _ data: Data, conditional: Bool, extra: [(String, String)] = [], digests: DataDigests? = nil) throws -> PutResult {
        if data.count > configuration.multipartThreshold { return try putMultipart(key, data, conditional: conditional, extra: extra) }
        // Each digest once per body: the checksum header, Content-MD5, the signature's payload
        // hash and the check of the answer share them (they were computed four to six times).
        let digests = digests ?? DataDigests(data)
        var headers = extra + [("x-amz-checksum-sha256", digests.sha256Base64), ("content-md5", digests.md5Base64)]
        if conditional { headers.append(("if-none-match", "*")) }
        let r = try perform(Call(method: "PUT", key: key, headers: headers, body: data, operation: "put", bodySHA256Hex: digests.sha256Hex),
                            accept: conditional ? [409, 412] : [])
        if r.status == 412 || r.status == 409 {
            throw makeError(.alreadyExists, "unable to put: an object already holds the key", key: key, code: "PreconditionFailed")
        }
        let etag = unquote(r.header("etag") ?? "")
        return PutResult(created: true, etag: etag, verification: try verify(key, data, etag: etag, checksum: r.header("x-amz-checksum-sha256"), digests: digests),
                         guarantee: nil)
    }

    /// Confirms the stored content from the returned checksum or ETag, else by reading it back.
    func verify(_ key: String, _ data: Data, etag: String, checksum: String?, parts: Int? = nil, digests: DataDigests? = nil) throws -> PutVerification {
        let digests = digests ?? DataDigests(data)
        if let checksum, !checksum.contains("-") {
            guard checksum == digests.sha256Base64 else { throw mismatch(key, "x-amz-checksum-sha256 \(checksum)") }
            return .checksumSHA256
        }
        if parts == nil, etag.count == 32, !etag.contains("-") {
            guard etag == digests.md5Hex else { throw mismatch(key, "ETag \(etag)") }
            return .etagMD5
        }
        if let parts, etag == multipartETag(data, parts: parts) { return .multipartETag }
        guard try get(key) == data else { throw mismatch(key, "read-back content") }
        return .readBack
    }

    /// How an existing object was found to hold exactly `data`, or nil when it holds something else.
    func sameContent(_ info: S3ObjectInfo, _ data: Data, _ digests: DataDigests? = nil) throws -> PutVerification? {
        guard info.size == Int64(data.count) else { return nil }
        let digests = digests ?? DataDigests(data)
        // A multipart object's checksum is of its parts' checksums (moto leaves out the "-N"
        // that says so), never the body's SHA-256.
        if let sum = info.checksumSHA256, !sum.contains("-"), !info.etag.contains("-") {
            return sum == digests.sha256Base64 ? .checksumSHA256 : nil
        }
        if info.etag.count == 32, !info.etag.contains("-") {
            return info.etag == digests.md5Hex ? .etagMD5 : nil
        }
        return try get(info.key) == data ? .readBack : nil
    }

    /// Success for the same content already there, `.alreadyExists` for different content.
    private func existingResult(_ info: S3ObjectInfo, _ data: Data, _ support: ConditionalPutSupport, _ digests: DataDigests) throws -> PutResult {
        guard let how = try sameContent(info, data, digests) else {
            throw makeError(.alreadyExists, "unable to put: an object with different content already holds the key", key: info.key,
                            hint: "logship never overwrites; find out which writer put it there (two masters shipping to one prefix?)")
        }
        return PutResult(created: false, etag: info.etag, verification: how, guarantee: support)
    }

    private func mismatch(_ key: String, _ what: String) -> ObjectStorageError {
        makeError(.checksumMismatch, "unable to verify put: the server's \(what) does not match the bytes sent", key: key,
                  hint: "the object is damaged in the store or in flight; delete it and ship again")
    }
}

func unquote(_ s: String) -> String { s.trimmingCharacters(in: CharacterSet(charactersIn: "\"")) }

/// A body's SHA-256 and MD5, each computed on first use and then kept: one put needs them for
/// its headers, its signature and the check of the server's answer.
final class DataDigests {
    private let data: Data
    init(_ data: Data) { self.data = data }
    private lazy var sha256: SHA256.Digest = SHA256.hash(data: data)
    private lazy var md5: Insecure.MD5.Digest = Insecure.MD5.hash(data: data)
    var sha256Base64: String { Data(sha256).base64EncodedString() }
    var sha256Hex: String { SigV4Signer.hex(sha256) }
    var md5Base64: String { Data(md5).base64EncodedString() }
    var md5Hex: String { SigV4Signer.hex(md5) }
}
