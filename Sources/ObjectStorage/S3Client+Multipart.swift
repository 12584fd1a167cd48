import Crypto
import Foundation

extension S3Client {
    /// Uploads `data` in parts of `configuration.partSize`: create, upload each part (its
    /// SHA-256 checked by the server, or its ETag by this client), complete (with
    /// `If-None-Match: *` when `conditional`). Any failure aborts the upload so no parts are
    /// left billed; the object appears only when complete succeeds, so a reader never sees a
    /// partial object.
    func putMultipart(_ key: String, _ data: Data, conditional: Bool, extra: [(String, String)] = []) throws -> PutResult {
        let uploadId = try createMultipartUpload(key, headers: extra)
        do {
            var parts: [S3UploadedPart] = []
            var offset = 0
            while offset < data.count {
                let end = min(offset + configuration.partSize, data.count)
                parts.append(try uploadPart(key, uploadId: uploadId, number: parts.count + 1, data.subdata(in: offset..<end)))
                offset = end
            }
            let etag = try completeMultipartUpload(key, uploadId: uploadId, parts: parts, conditional: conditional)
            return PutResult(created: true, etag: etag, verification: try verify(key, data, etag: etag, checksum: nil, parts: parts.count), guarantee: nil)
        } catch {
            try? abortMultipartUpload(key, uploadId: uploadId)
            throw error
        }
    }

    /// Starts an upload (with `headers` such as an object lock's) and returns its id. The upload
    /// declares SHA-256 part checksums (`x-amz-checksum-algorithm`), as `uploadPart` sends them.
    public func createMultipartUpload(_ key: String, headers: [(String, String)] = []) throws -> String {
        let r = try perform(Call(method: "POST", key: key, query: [("uploads", "")], headers: headers + [("x-amz-checksum-algorithm", "SHA256")],
                                 operation: "create multipart upload"))
        guard let root = XMLNode.parse(r.body), let id = root.value("UploadId"), !id.isEmpty else {
            throw makeError(.notS3, "unable to create multipart upload: no UploadId in the answer", key: key,
                            hint: "check that \(configuration.endpoint.absoluteString) is an S3 endpoint that supports multipart uploads")
        }
        return id
    }

    /// Uploads one part (numbered from 1) with its SHA-256 in `x-amz-checksum-sha256`: the same
    /// digest the signature needs, so the part is hashed once. A server that checks it echoes
    /// it (and refuses a part that does not match), which verifies the part. A server that
    /// ignores it gets its ETag checked against the part's MD5, computed only then: MD5 was
    /// a fifth of a large upload's CPU when every part was hashed both ways.
    public func uploadPart(_ key: String, uploadId: String, number: Int, _ part: Data) throws -> S3UploadedPart {
        let sha = Data(SHA256.hash(data: part))
        let sha256 = sha.base64EncodedString()
        let r = try perform(Call(method: "PUT", key: key, query: [("partNumber", String(number)), ("uploadId", uploadId)],
                                 headers: [("x-amz-checksum-sha256", sha256)], body: part,
                                 operation: "upload part \(number)", bodySHA256Hex: SigV4Signer.hex(sha)))
        let etag = unquote(r.header("etag") ?? "")
        if let echoed = r.header("x-amz-checksum-sha256") {
            guard echoed == sha256 else {
                throw makeError(.checksumMismatch, "unable to upload part \(number): the server's x-amz-checksum-sha256 \(echoed) is not the part's", key: key,
                                hint: "the part was damaged in flight or in the store; ship again")
            }
            if !etag.isEmpty { return S3UploadedPart(etag: etag, checksumSHA256: sha256, checkedByServer: true) }
        }
        let md5 = SigV4Signer.hex(Insecure.MD5.hash(data: part))
        guard etag.isEmpty || etag == md5 else {
            throw makeError(.checksumMismatch, "unable to upload part \(number): ETag \(etag) is not the part's MD5", key: key,
                            hint: "the part was damaged in flight or in the store; ship again")
        }
        return S3UploadedPart(etag: etag.isEmpty ? md5 : etag, checksumSHA256: sha256, checkedByServer: r.header("x-amz-checksum-sha256") != nil)
    }

    /// Joins the parts into the object; returns the object's ETag.
    public func completeMultipartUpload(_ key: String, uploadId: String, parts: [S3UploadedPart], conditional: Bool) throws -> String {
        let list = parts.enumerated().map {
            "<Part><PartNumber>\($0.offset + 1)</PartNumber><ETag>\"\(xmlEscape($0.element.etag))\"</ETag>"
                + "<ChecksumSHA256>\(xmlEscape($0.element.checksumSHA256))</ChecksumSHA256></Part>"
        }
        let body = Data(("<CompleteMultipartUpload>" + list.joined() + "</CompleteMultipartUpload>").utf8)
        let r = try perform(Call(method: "POST", key: key, query: [("uploadId", uploadId)],
                                 headers: conditional ? [("if-none-match", "*")] : [], body: body,
                                 operation: "complete multipart upload"), accept: conditional ? [409, 412] : [])
        if r.status == 412 || r.status == 409 {
            throw makeError(.alreadyExists, "unable to complete multipart upload: an object already holds the key", key: key, code: "PreconditionFailed")
        }
        // S3 may answer 200 with an <Error> document when completion fails late. The result's root
        // is CompleteMultipartUploadResult on AWS, CompleteMultipartUploadResponse on moto.
        guard let root = XMLNode.parse(r.body), root.name.hasPrefix("CompleteMultipartUpload") else {
            let doc = S3ErrorDocument(r.body)
            throw makeError(.unavailable, "unable to complete multipart upload" + (doc.map { ": \($0.code): \($0.message)" } ?? ": no result document"),
                            key: key, code: doc?.code, hint: "rerun; the upload was aborted and nothing is visible under the key")
        }
        return unquote(root.value("ETag") ?? r.header("etag") ?? "")
    }

    /// Drops an upload and its parts.
    public func abortMultipartUpload(_ key: String, uploadId: String) throws {
        _ = try perform(Call(method: "DELETE", key: key, query: [("uploadId", uploadId)], operation: "abort multipart upload"), accept: [404])
    }

    /// The ETag S3 gives a multipart object: hex MD5 of the concatenated binary part MD5s, "-", part count.
    func multipartETag(_ data: Data, parts: Int) -> String {
        var digests = Data()
        var offset = 0
        while offset < data.count {
            let end = min(offset + configuration.partSize, data.count)
            digests.append(contentsOf: Insecure.MD5.hash(data: data.subdata(in: offset..<end)))
            offset = end
        }
        return Self.multipartETag(partDigests: digests, parts: parts)
    }

    /// The multipart ETag from the parts' binary MD5s, concatenated in part order.
    static func multipartETag(partDigests: Data, parts: Int) -> String {
        SigV4Signer.hex(Insecure.MD5.hash(data: partDigests)) + "-\(parts)"
    }
}

/// One uploaded part: the server's ETag (its MD5) and the SHA-256 sent with it.
public struct S3UploadedPart: Sendable, Equatable {
    public let etag: String
    /// Base64, as in `x-amz-checksum-sha256`.
    public let checksumSHA256: String
    /// The server echoed the SHA-256 (it checked the part); otherwise this client checked the ETag.
    public let checkedByServer: Bool
}

/// A multipart upload the server still holds (started, neither completed nor aborted).
public struct S3PendingUpload: Equatable, Sendable {
    public let key: String
    public let uploadId: String

    public init(key: String, uploadId: String) {
        self.key = key
        self.uploadId = uploadId
    }
}

extension S3Client {
    /// The unfinished multipart uploads under `prefix` (ListMultipartUploads, following markers).
    public func listMultipartUploads(prefix: String) throws -> [S3PendingUpload] {
        var uploads: [S3PendingUpload] = []
        var markers: (key: String, id: String)?
        repeat {
            var query = [("uploads", ""), ("prefix", prefix)]
            if let markers { query += [("key-marker", markers.key), ("upload-id-marker", markers.id)] }
            let r = try perform(Call(method: "GET", key: nil, query: query, operation: "list multipart uploads under \"\(prefix)\""))
            guard let root = XMLNode.parse(r.body), root.name == "ListMultipartUploadsResult" else {
                throw makeError(.notS3, "unable to list multipart uploads under \"\(prefix)\": the answer is not a ListMultipartUploadsResult",
                                key: nil, hint: "check that \(configuration.endpoint.absoluteString) is an S3 endpoint that supports multipart uploads")
            }
            for item in root.all("Upload") {
                guard let key = item.value("Key"), let id = item.value("UploadId") else { continue }
                uploads.append(S3PendingUpload(key: key, uploadId: id))
            }
            let next = (root.value("NextKeyMarker") ?? "", root.value("NextUploadIdMarker") ?? "")
            markers = root.value("IsTruncated") == "true" && !next.0.isEmpty ? (next.0, next.1) : nil
        } while markers != nil
        return uploads
    }
}
