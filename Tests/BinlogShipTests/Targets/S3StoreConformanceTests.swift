import BinlogFormat
@testable import BinlogShip
import Foundation
import LogshipTestSupport
import ObjectStorage
import XCTest

/// A real S3-compatible server on the loopback with one bucket, and `S3Store`s on fresh
/// prefixes in it, with credentials given the way a user gives them (AWS variables).
final class S3TargetFixture {
    let server: S3TestServer
    let bucket = "logship-target"
    let home: TestDirectory
    private var stores = 0

    /// Starts a server of `kind` and creates the bucket; `XCTSkip` with the reason when the
    /// server cannot start (not installed, does not come up). Any other failure fails.
    init(_ kind: S3TestServer.Kind) throws {
        do { server = try S3TestServer.start(kind) } catch let e as S3TestServer.Unavailable {
            throw XCTSkip("\(kind.rawValue) cannot start: \(e.description)")
        }
        home = TestDirectory("s3-home")
        try S3Client(configuration(bucket: bucket)).createBucket()
    }

    /// The variables a user would export; `secret` overrides the server's secret key.
    func environment(secret: String? = nil) -> [String: String] {
        ["AWS_ACCESS_KEY_ID": server.accessKey, "AWS_SECRET_ACCESS_KEY": secret ?? server.secretKey,
         "AWS_ENDPOINT_URL": server.endpoint.absoluteString, "AWS_REGION": server.region]
    }

    func configuration(bucket: String) -> S3Configuration {
        S3Configuration(name: "setup", endpoint: server.endpoint, region: server.region, bucket: bucket, addressing: .path,
                        credentials: S3Credentials(accessKeyId: server.accessKey, secretAccessKey: server.secretKey))
    }

    /// A store on a prefix no other store of this fixture uses.
    func store(bucket: String? = nil, secret: String? = nil) -> S3Store {
        stores += 1
        let target = ShipTarget(name: "s3", path: "s3://\(bucket ?? self.bucket)/run/p\(stores)")
        return S3Store(target: target, environment: environment(secret: secret), home: home.path)
    }
}

/// The conformance suite against S3Store on each server: moto and SeaweedFS honour
/// `If-None-Match: *`; `rclone serve s3` ignores it, so there the store falls back to HEAD-then-put.
class S3StoreConformance: TargetStoreConformance {
    var fixture: S3TargetFixture?

    override func makeStore() throws -> TargetStore {
        guard let fixture else { throw ShipError(.config, "no server") }
        return fixture.store()
    }

    override func makeUnreachableStore() throws -> TargetStore {
        guard let fixture else { throw ShipError(.config, "no server") }
        return fixture.store(bucket: "no-such-bucket")
    }

    /// Runs the suite on `kind`; checks the guarantee the store claims for it.
    func run(_ kind: S3TestServer.Kind, expecting guarantee: TargetCapabilities) throws {
        let fixture = try S3TargetFixture(kind)
        self.fixture = fixture
        let store = fixture.store()
        XCTAssertTrue(store.capabilities.contains(guarantee), "\(kind.rawValue): \(store.capabilities)")
        // What `binlog-ship status` prints on its guarantees line for this server.
        let put = guarantee == .conditionalPut ? "conditional put, " : ""
        let fallback = guarantee == .headThenPut ? ", head-then-put (one writer per target)" : ""
        XCTAssertEqual(store.capabilities.description, put + "server-side checksum, object lock" + fallback, kind.rawValue)
        XCTAssertEqual(try store.list(), [], "the probe leaves nothing")
        runConformance()
    }
}

final class S3StoreMotoConformanceTests: S3StoreConformance {
    func testConformance() throws { try run(.moto, expecting: .conditionalPut) }
}

final class S3StoreSeaweedFSConformanceTests: S3StoreConformance {
    func testConformance() throws { try run(.seaweedfs, expecting: .conditionalPut) }
}

final class S3StoreRcloneConformanceTests: S3StoreConformance {
    func testConformance() throws { try run(.rclone, expecting: .headThenPut) }
}
