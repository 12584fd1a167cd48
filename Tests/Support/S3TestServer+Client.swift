import ObjectStorage
import XCTest

extension S3TestServer {
    /// A server of `kind` with `bucket` created, or an `XCTSkip` naming why the server cannot start
    /// (the only reason an S3 test may skip).
    public static func startWithBucket(_ kind: Kind, bucket: String) throws -> S3TestServer {
        let server: S3TestServer
        do { server = try start(kind) } catch let e as Unavailable {
            throw XCTSkip("\(kind.rawValue) cannot start: \(e.description)")
        }
        try server.client(bucket: bucket).createBucket()
        return server
    }

    /// A client of `bucket` on this server with its credentials (path-style addressing), for a
    /// test to plant, read or delete objects beside the tools.
    public func client(bucket: String, name: String = "test") throws -> S3Client {
        try S3Client(S3Configuration(name: name, endpoint: endpoint, region: region, bucket: bucket, addressing: .path,
                                     credentials: S3Credentials(accessKeyId: accessKey, secretAccessKey: secretKey)))
    }
}
