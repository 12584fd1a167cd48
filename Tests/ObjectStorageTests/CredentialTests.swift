import Foundation
import LogshipTestSupport
@testable import ObjectStorage
import XCTest

/// Where credentials come from, in the AWS tools' order, and that they are never printed.
final class CredentialTests: XCTestCase {
    func testEnvironmentComesFirst() throws {
        let dir = TestDirectory("s3creds")
        try "[default]\naws_access_key_id = FILEKEY\naws_secret_access_key = FILESECRET\n".write(toFile: dir.sub("credentials"), atomically: true, encoding: .utf8)
        let resolver = S3CredentialResolver(environment: ["AWS_ACCESS_KEY_ID": "ENVKEY", "AWS_SECRET_ACCESS_KEY": "ENVSECRET",
                                                          "AWS_SESSION_TOKEN": "TOKEN", "AWS_SHARED_CREDENTIALS_FILE": dir.sub("credentials")], home: dir.path)
        XCTAssertEqual(try resolver.credentials(), S3Credentials(accessKeyId: "ENVKEY", secretAccessKey: "ENVSECRET", sessionToken: "TOKEN", source: "environment"))
    }

    func testNamedProfileFromCredentialsFileThenConfigFile() throws {
        let dir = TestDirectory("s3creds")
        try FileManager.default.createDirectory(atPath: dir.sub(".aws"), withIntermediateDirectories: true)
        try """
        # comment
        [default]
        aws_access_key_id = DEFKEY
        aws_secret_access_key = DEFSECRET
        [work]
        aws_access_key_id=WORKKEY
        aws_secret_access_key = WORK SECRET
        """.write(toFile: dir.sub(".aws/credentials"), atomically: true, encoding: .utf8)
        try "[profile other]\naws_access_key_id = CFGKEY\naws_secret_access_key = CFGSECRET\nregion = eu-west-3\n[default]\nregion = us-west-2\n"
            .write(toFile: dir.sub(".aws/config"), atomically: true, encoding: .utf8)
        let work = S3CredentialResolver(environment: ["AWS_PROFILE": "work"], home: dir.path)
        XCTAssertEqual(try work.credentials().accessKeyId, "WORKKEY")
        XCTAssertEqual(try work.credentials().secretAccessKey, "WORK SECRET")
        XCTAssertEqual(try work.credentials().source, "profile work in \(dir.path)/.aws/credentials")
        let other = S3CredentialResolver(environment: ["AWS_PROFILE": "other"], home: dir.path)
        XCTAssertEqual(try other.credentials().accessKeyId, "CFGKEY")
        XCTAssertEqual(try other.region(), "eu-west-3")
        XCTAssertEqual(try S3CredentialResolver(environment: [:], home: dir.path).region(), "us-west-2")
        XCTAssertEqual(try S3CredentialResolver(environment: ["AWS_REGION": "ap-south-1"], home: dir.path).region(), "ap-south-1")
    }

    func testMissingCredentialsNameWhereTheyWereLookedFor() {
        let dir = TestDirectory("s3creds")
        let resolver = S3CredentialResolver(environment: ["AWS_PROFILE": "nope"], home: dir.path)
        XCTAssertThrowsError(try resolver.credentials()) { error in
            let e = error as? ObjectStorageError
            XCTAssertEqual(e?.kind, .config)
            XCTAssertEqual(e?.message, "unable to find S3 credentials: AWS_ACCESS_KEY_ID is not set and profile nope has no keys in \(dir.path)/.aws/credentials or \(dir.path)/.aws/config")
        }
        XCTAssertThrowsError(try S3CredentialResolver(environment: ["AWS_ACCESS_KEY_ID": "K"], home: dir.path).credentials()) { error in
            XCTAssertEqual((error as? ObjectStorageError)?.message, "unable to use AWS_ACCESS_KEY_ID: AWS_SECRET_ACCESS_KEY is not set")
        }
    }

    func testSecretsAreNeverPrinted() {
        let secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
        let creds = S3Credentials(accessKeyId: "AKIDEXAMPLE", secretAccessKey: secret, sessionToken: "SESSIONTOKENVALUE")
        let config = S3Configuration(name: "off", endpoint: URL(string: "http://127.0.0.1:1")!, region: "us-east-1", bucket: "b", credentials: creds)
        var dumped = ""
        dump(config, to: &dumped)
        for text in [String(describing: creds), String(reflecting: creds), "\(creds)", dumped] {
            XCTAssertFalse(text.contains(secret), text)
            XCTAssertFalse(text.contains("SESSIONTOKENVALUE"), text)
            XCTAssertFalse(text.contains("AKIDEXAMPLE"), text)
        }
        XCTAssertEqual(creds.description, "S3Credentials(accessKeyId: …MPLE, secretAccessKey: <redacted>, sessionToken: <redacted>, source: explicit)")
    }
}
