import Foundation
import LogshipTestSupport
@testable import ObjectStorage
import XCTest

/// An endpoint that is not S3: nothing listening, or a plain web server.
final class S3EndpointTests: XCTestCase {
    func configuration(port: Int) -> S3Configuration {
        var config = S3Configuration(name: "offsite", endpoint: URL(string: "http://127.0.0.1:\(port)")!, region: "us-east-1", bucket: "logs",
                                     credentials: S3Credentials(accessKeyId: "AKID", secretAccessKey: "secret"))
        config.retry = RetryPolicy(maxAttempts: 2, baseDelay: 0.01, maxDelay: 0.02)
        return config
    }

    func testNothingListeningSaysSoWithTheEndpoint() throws {
        let port = try S3TestServer.freePort()
        XCTAssertThrowsError(try S3Client(configuration(port: port)).head("seg/1")) { error in
            let e = error as? ObjectStorageError
            XCTAssertEqual(e?.kind, .notS3, "\(error)")
            XCTAssertTrue(e?.message.hasPrefix("unable to head: cannot connect to http://127.0.0.1:\(port) (") ?? false, "\(error)")
            XCTAssertEqual(e?.key, "seg/1")
        }
    }

    func testAPlainWebServerIsNotS3() throws {
        let dir = TestDirectory("not-s3")
        let port = try S3TestServer.freePort()
        let web = Process()
        web.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        web.arguments = ["python3", "-m", "http.server", "--bind", "127.0.0.1", String(port)]
        web.currentDirectoryURL = URL(fileURLWithPath: dir.path)
        web.standardOutput = FileHandle.nullDevice
        web.standardError = FileHandle.nullDevice
        do { try web.run() } catch { throw XCTSkip("python3 cannot start: \(error)") }
        defer { web.terminate(); web.waitUntilExit() }
        let deadline = Date().addingTimeInterval(10)
        func refused() -> Bool {
            do { _ = try S3Client(configuration(port: port)).head("x"); return false } catch { return (error as? ObjectStorageError)?.kind == .notS3 }
        }
        while Date() < deadline, refused() { Thread.sleep(forTimeInterval: 0.1) }
        XCTAssertThrowsError(try S3Client(configuration(port: port)).list(prefix: "seg/")) { error in
            let e = error as? ObjectStorageError
            XCTAssertEqual(e?.kind, .notS3, "\(error)")
            XCTAssertEqual(e?.message, "unable to list prefix \"seg/\": HTTP 404 with a body that is not an S3 error document")
        }
    }
}
