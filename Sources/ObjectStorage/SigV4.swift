import Crypto
import Foundation

/// A request as Signature V4 sees it: the method, the already-encoded path, the query pairs
/// (unencoded), the headers and the hex SHA-256 of the payload (or `UNSIGNED-PAYLOAD`).
public struct SignableRequest: Sendable, Equatable {
    public var method: String
    /// The URI path exactly as sent, percent-encoded (`/bucket/a%20b`).
    public var encodedPath: String
    public var query: [(String, String)]
    public var headers: [(String, String)]
    public var payloadHash: String

    public init(method: String, encodedPath: String, query: [(String, String)] = [], headers: [(String, String)], payloadHash: String) {
        self.method = method
        self.encodedPath = encodedPath
        self.query = query
        self.headers = headers
        self.payloadHash = payloadHash
    }

    public static func == (a: SignableRequest, b: SignableRequest) -> Bool {
        a.method == b.method && a.encodedPath == b.encodedPath && a.payloadHash == b.payloadHash
            && a.query.elementsEqual(b.query, by: ==) && a.headers.elementsEqual(b.headers, by: ==)
    }

    /// The value of a header, matched case-insensitively.
    public func header(_ name: String) -> String? {
        headers.first { $0.0.lowercased() == name.lowercased() }?.1
    }
}

/// AWS Signature Version 4 (docs: "Signing AWS API requests"), written here because no SDK is
/// available to this toolchain (Soto is not among the listed packages) and the algorithm is small:
/// canonical request → string to sign → HMAC chain signing key → signature. Each step is public so
/// the tests can compare them with the published test-suite vectors one by one.
public struct SigV4Signer: Sendable {
    /// The payload hash that tells S3 the body is not signed (the connection's own integrity is trusted).
    public static let unsignedPayload = "UNSIGNED-PAYLOAD"
    public static let algorithm = "AWS4-HMAC-SHA256"

    public var credentials: S3Credentials
    public var region: String
    public var service: String

    public init(credentials: S3Credentials, region: String, service: String = "s3") {
        self.credentials = credentials
        self.region = region
        self.service = service
    }

    /// `20150830T123600Z`.
    public static func amzDate(_ date: Date) -> String { formatted(date, "yyyyMMdd'T'HHmmss'Z'") }
    /// `20150830`.
    public static func dateStamp(_ date: Date) -> String { formatted(date, "yyyyMMdd") }

    private static func formatted(_ date: Date, _ pattern: String) -> String {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "UTC")
        f.dateFormat = pattern
        return f.string(from: date)
    }

    /// `20150830/us-east-1/service/aws4_request`.
    public func scope(_ date: Date) -> String { "\(Self.dateStamp(date))/\(region)/\(service)/aws4_request" }

    /// Lowercased names, values trimmed with inner runs of spaces collapsed, repeated names joined
    /// with commas in arrival order, sorted by name.
    public static func canonicalHeaders(_ headers: [(String, String)]) -> [(String, String)] {
        var merged: [String: [String]] = [:]
        for (name, value) in headers {
            let collapsed = value.split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ")
            merged[name.lowercased(), default: []].append(collapsed.trimmingCharacters(in: .whitespaces))
        }
        return merged.map { ($0.key, $0.value.joined(separator: ",")) }.sorted { $0.0 < $1.0 }
    }

    /// Names and values percent-encoded (RFC 3986 unreserved left alone), sorted by name then value.
    public static func canonicalQuery(_ query: [(String, String)]) -> String {
        let encoded: [(name: String, value: String)] = query.map { pair in
            (S3Encoding.encode(pair.0, keepSlash: false), S3Encoding.encode(pair.1, keepSlash: false))
        }
        let sorted = encoded.sorted { a, b in a.name == b.name ? a.value < b.value : a.name < b.name }
        return sorted.map { $0.name + "=" + $0.value }.joined(separator: "&")
    }

    /// The canonical request, the first line of which is the method and the last the payload hash.
    public func canonicalRequest(_ request: SignableRequest) -> String {
        let headers = Self.canonicalHeaders(request.headers)
        return [request.method, request.encodedPath, Self.canonicalQuery(request.query),
                headers.map { "\($0.0):\($0.1)\n" }.joined(), headers.map(\.0).joined(separator: ";"),
                request.payloadHash].joined(separator: "\n")
    }

    /// The string to sign: the algorithm, the time, the scope and the hash of the canonical request.
    public func stringToSign(canonicalRequest: String, date: Date) -> String {
        [Self.algorithm, Self.amzDate(date), scope(date), Self.hex(SHA256.hash(data: Data(canonicalRequest.utf8)))]
            .joined(separator: "\n")
    }

    /// HMAC("AWS4" + secret, date) → region → service → "aws4_request".
    public func signingKey(date: Date) -> SymmetricKey {
        var key = SymmetricKey(data: Data(("AWS4" + credentials.secretAccessKey).utf8))
        for part in [Self.dateStamp(date), region, service, "aws4_request"] {
            key = SymmetricKey(data: Data(HMAC<SHA256>.authenticationCode(for: Data(part.utf8), using: key)))
        }
        return key
    }

    /// The hex signature of a request whose headers already hold everything that is to be signed.
    public func signature(_ request: SignableRequest, date: Date) -> String {
        let toSign = stringToSign(canonicalRequest: canonicalRequest(request), date: date)
        return Self.hex(HMAC<SHA256>.authenticationCode(for: Data(toSign.utf8), using: signingKey(date: date)))
    }

    /// The `Authorization` header value for a request that is already complete.
    public func authorization(_ request: SignableRequest, date: Date) -> String {
        let signed = Self.canonicalHeaders(request.headers).map(\.0).joined(separator: ";")
        return "\(Self.algorithm) Credential=\(credentials.accessKeyId)/\(scope(date)), SignedHeaders=\(signed), Signature=\(signature(request, date: date))"
    }

    /// Adds what S3 needs (x-amz-date, x-amz-content-sha256, x-amz-security-token) and the
    /// Authorization header; every header present is signed.
    public func sign(_ request: inout SignableRequest, date: Date) {
        request.headers.removeAll { ["authorization", "x-amz-date", "x-amz-content-sha256", "x-amz-security-token"].contains($0.0.lowercased()) }
        request.headers.append(("x-amz-date", Self.amzDate(date)))
        request.headers.append(("x-amz-content-sha256", request.payloadHash))
        if let token = credentials.sessionToken { request.headers.append(("x-amz-security-token", token)) }
        request.headers.append(("Authorization", authorization(request, date: date)))
    }

    /// Lowercase hex of a digest or MAC.
    public static func hex<D: Sequence>(_ bytes: D) -> String where D.Element == UInt8 {
        bytes.map { String(format: "%02x", $0) }.joined()
    }

    /// Lowercase hex SHA-256 of a body.
    public static func sha256Hex(_ data: Data) -> String { hex(SHA256.hash(data: data)) }

    /// The bytes of a hex string (either case); nil when it is not one.
    static func bytes(hex: String) -> [UInt8]? {
        let chars = Array(hex.utf8)
        guard chars.count % 2 == 0 else { return nil }
        func nibble(_ c: UInt8) -> UInt8? {
            switch c {
            case 48...57: return c - 48
            case 97...102: return c - 87
            case 65...70: return c - 55
            default: return nil
            }
        }
        var out: [UInt8] = []
        out.reserveCapacity(chars.count / 2)
        for i in stride(from: 0, to: chars.count, by: 2) {
            guard let hi = nibble(chars[i]), let lo = nibble(chars[i + 1]) else { return nil }
            out.append(hi << 4 | lo)
        }
        return out
    }
}

/// Percent-encoding as S3 signs it: everything but RFC 3986's unreserved characters, with `/`
/// kept in object paths (S3 does not normalise or double-encode paths, unlike other services).
public enum S3Encoding {
    private static let unreserved = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~".utf8)

    public static func encode(_ text: String, keepSlash: Bool) -> String {
        var out = ""
        for byte in text.utf8 {
            if unreserved.contains(byte) || (keepSlash && byte == UInt8(ascii: "/")) {
                out.unicodeScalars.append(Unicode.Scalar(byte))
            } else {
                out += String(format: "%%%02X", byte)
            }
        }
        return out
    }
}
