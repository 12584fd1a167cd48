import Crypto
import Foundation
@testable import ObjectStorage
import XCTest

/// Signature V4 against the published AWS vectors: the generic test suite (credentials AKIDEXAMPLE,
/// 2015-08-30T12:36:00Z, us-east-1, service "service"), the signing-key example of the signing
/// docs, and the S3 documentation's GET-with-Range example. Each intermediate step is compared
/// where the vector publishes it, so a failure says which step is wrong.
final class SigV4VectorTests: XCTestCase {
    let suiteSigner = SigV4Signer(credentials: S3Credentials(accessKeyId: "AKIDEXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"),
                                  region: "us-east-1", service: "service")
    let suiteDate = Date(timeIntervalSince1970: 1_440_938_160) // 2015-08-30T12:36:00Z
    let emptyHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

    func suiteRequest(_ path: String, method: String = "GET", query: [(String, String)] = [], extra: [(String, String)] = [],
                      payload: String = "") -> SignableRequest {
        SignableRequest(method: method, encodedPath: path, query: query,
                        headers: [("Host", "example.amazonaws.com")] + extra + [("X-Amz-Date", "20150830T123600Z")],
                        payloadHash: SigV4Signer.sha256Hex(Data(payload.utf8)))
    }

    func testGetVanillaEveryStep() {
        let request = suiteRequest("/")
        let canonical = suiteSigner.canonicalRequest(request)
        XCTAssertEqual(canonical, "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n\(emptyHash)")
        XCTAssertEqual(suiteSigner.stringToSign(canonicalRequest: canonical, date: suiteDate),
                       "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\nbb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63")
        XCTAssertEqual(suiteSigner.authorization(request, date: suiteDate),
                       "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31")
    }

    func testQueryIsSortedByName() {
        let request = suiteRequest("/", query: [("Param2", "value2"), ("Param1", "value1")])
        let canonical = suiteSigner.canonicalRequest(request)
        XCTAssertEqual(canonical.split(separator: "\n", omittingEmptySubsequences: false)[2], "Param1=value1&Param2=value2")
        XCTAssertEqual(SigV4Signer.sha256Hex(Data(canonical.utf8)), "816cd5b414d056048ba4f7c5386d6e0533120fb1fcfa93762cf0fc39e2cf19e0")
        XCTAssertEqual(suiteSigner.signature(request, date: suiteDate), "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500")
    }

    func testRepeatedQueryNameIsSortedByValue() {
        let request = suiteRequest("/", query: [("Param1", "value2"), ("Param1", "value1")])
        XCTAssertEqual(suiteSigner.signature(request, date: suiteDate), "5772eed61e12b33fae39ee5e7012498b51d56abc0abb7c60486157bd471c4694")
    }

    func testUnreservedCharactersAreNotEncoded() {
        let path = "/" + S3Encoding.encode("-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", keepSlash: true)
        XCTAssertEqual(suiteSigner.signature(suiteRequest(path), date: suiteDate), "07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f")
    }

    func testRepeatedHeaderValuesAreJoinedInArrivalOrder() {
        let request = suiteRequest("/", extra: [("My-Header1", "value2"), ("My-Header1", "value2"), ("My-Header1", "value1")])
        XCTAssertTrue(suiteSigner.canonicalRequest(request).contains("my-header1:value2,value2,value1\n"))
        XCTAssertEqual(suiteSigner.signature(request, date: suiteDate), "c9d5ea9f3f72853aea855b47ea873832890dbdd183b4468f858259531a5138ea")
    }

    func testSignedPayloadAndContentType() {
        let request = suiteRequest("/", method: "POST", extra: [("Content-Type", "application/x-www-form-urlencoded")], payload: "Param1=value1")
        XCTAssertEqual(request.payloadHash, "9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e")
        let canonical = suiteSigner.canonicalRequest(request)
        XCTAssertEqual(SigV4Signer.sha256Hex(Data(canonical.utf8)), "42a5e5bb34198acb3e84da4f085bb7927f2bc277ca766e6d19c73c2154021281")
        XCTAssertEqual(suiteSigner.signature(request, date: suiteDate), "ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a")
    }

    func testSigningKeyDerivationExample() {
        let signer = SigV4Signer(credentials: S3Credentials(accessKeyId: "AKIDEXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"),
                                 region: "us-east-1", service: "iam")
        let key = signer.signingKey(date: Date(timeIntervalSince1970: 1_329_264_000)) // 2012-02-15
        XCTAssertEqual(key.withUnsafeBytes { SigV4Signer.hex($0) }, "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d")
    }

    /// The S3 documentation's example: GET /test.txt with Range: bytes=0-9, signed by `sign`,
    /// which adds x-amz-date and x-amz-content-sha256 itself.
    func testS3GetObjectExampleThroughSign() {
        let signer = SigV4Signer(credentials: S3Credentials(accessKeyId: "AKIAIOSFODNN7EXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
                                 region: "us-east-1")
        var request = SignableRequest(method: "GET", encodedPath: "/test.txt",
                                      headers: [("Host", "examplebucket.s3.amazonaws.com"), ("Range", "bytes=0-9")], payloadHash: emptyHash)
        signer.sign(&request, date: Date(timeIntervalSince1970: 1_369_353_600)) // 2013-05-24T00:00:00Z
        XCTAssertEqual(request.header("x-amz-date"), "20130524T000000Z")
        XCTAssertEqual(request.header("authorization"),
                       "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41")
    }

    func testSessionTokenIsSignedAndKeysAreEncodedOnce() {
        let signer = SigV4Signer(credentials: S3Credentials(accessKeyId: "A", secretAccessKey: "S", sessionToken: "T"), region: "r")
        var request = SignableRequest(method: "PUT", encodedPath: "/b/" + S3Encoding.encode("dir/a b+ü", keepSlash: true), headers: [("host", "h")], payloadHash: SigV4Signer.unsignedPayload)
        signer.sign(&request, date: suiteDate)
        XCTAssertEqual(request.encodedPath, "/b/dir/a%20b%2B%C3%BC")
        XCTAssertEqual(request.header("x-amz-security-token"), "T")
        XCTAssertEqual(request.header("x-amz-content-sha256"), "UNSIGNED-PAYLOAD")
        XCTAssertTrue(request.header("authorization")?.contains("SignedHeaders=host;x-amz-content-sha256;x-amz-date;x-amz-security-token,") ?? false)
    }
}
