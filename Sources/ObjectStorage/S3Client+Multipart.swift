import Crypto
import Foundation

extension S3Client {
    /// Uploads `data` in parts of `configuration.partSize`: create, upload each part (with its
    /// Content-MD5, the returned ETag checked), complete (with `If-None-Match: *` when
    /// `conditional`). Any failure aborts the upload so no parts are left billed; the object
    /// appears only when complete succeeds, so a reader never sees a partial object.
    func putMultipart(_ key: String, _ data: Data, conditional: Bool, extra: [(String, String)] = []) throws -> PutResult {
        let uploadId = try createMultipartUpload(key, headers: extra)
        do {
            var etags: [String] = []
            var offset = 0
            while offset < data.count {
                let end = min(offset + configuration.partSize, data.count)
                etags.append(try uploadPart(key, uploadId: uploadId, number: etags.count + 1, data.subdata(in: offset..<end)))
                offset = end
            }
            let etag = try completeMultipartUpload(key, uploadId: uploadId, etags: etags, conditional: conditional)
            return PutResult(created: true, etag: etag, verification: try verify(key, data, etag: etag, checksum: nil, parts: etags.count), guarantee: nil)
        } catch {
            try? abortMultipartUpload(key, uploadId: uploadId)
            throw error
        }
    }

    /// Starts an upload (with `headers` such as an object lock's) and returns its id.
    public func createMultipartUpload(_ key: String, headers: [(String, String)] = []) throws -> String {
        let r = try perform(Call(method: "POST", key: key, query: [("uploads", "")], headers: headers, operation: "create multipart upload"))
        guard let root = XMLNode.parse(r.body), let id = root.value("UploadId"), !id.isEmpty else {
            throw makeError(.notS3, "unable to create multipart upload: no UploadId in the answer", key: key,
                            hint: "check that \(configuration.endpoint.absoluteString) is an S3 endpoint that supports multipart uploads")
        }
        return id
    }

    /// Uploads one part (numbered from 1) and returns its ETag, checked against the part's MD5.
    public func uploadPart(_ key: String, uploadId: String, number: Int, _ part: Data) throws -> String {
        let md5 = Insecure.MD5.hash(data: part)
        let r = try perform(Call(method: "PUT", key: key, query: [("partNumber", String(number)), ("uploadId", uploadId)],
                                 headers: [("content-md5", Data(md5).base64EncodedString())], body: part,
                                 operation: "upload part \(number)", bodySHA256Hex: SigV4Signer.sha256Hex(part)))
        let etag = unquote(r.header("etag") ?? "")
        guard etag.isEmpty || etag == SigV4Signer.hex(md5) else {
            throw makeError(.checksumMismatch, "unable to upload part \(number): ETag \(etag) is not the part's MD5", key: key,
                            hint: "the part was damaged in flight or in the store; ship again")
        }
        return etag.isEmpty ? SigV4Signer.hex(md5) : etag
    }

    /// Joins the parts into the object; returns the object's ETag.
    public func completeMultipartUpload(_ key: String, uploadId: String, etags: [String], conditional: Bool) throws -> String {
        let parts = etags.enumerated().map { "<Part><PartNumber>\($0.offset + 1)</PartNumber><ETag>\"\(xmlEscape($0.element))\"</ETag></Part>" }
        let body = Data(("<CompleteMultipartUpload>" + parts.joined() + "</CompleteMultipartUpload>").utf8)
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
