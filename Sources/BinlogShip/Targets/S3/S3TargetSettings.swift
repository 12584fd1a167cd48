import Foundation
import ObjectStorage

/// How to reach the bucket of an `s3://bucket/prefix` target (docs/SHIPPING.md "S3 targets"):
/// the endpoint, region and addressing style from ship.yml, else from the environment
/// (`AWS_ENDPOINT_URL_S3`, `AWS_ENDPOINT_URL`, `AWS_REGION`...). Credentials are never part of
/// it: they come from the AWS variables and files only, so no config file or flag holds a secret.
public struct S3TargetSettings: Equatable, Sendable {
    /// `https://host[:port]`; nil for the environment's, else AWS's regional endpoint.
    public var endpoint: String?
    /// nil for the environment's or the AWS profile's, else us-east-1.
    public var region: String?
    /// `path` or `virtual-host`; nil for path style on a custom endpoint, virtual-host on AWS.
    public var addressing: String?
    /// Average bytes per second to and from the bucket (`max-bandwidth: 10MiB/s`); nil: no limit.
    public var maxBandwidth: Int?
    /// Seconds without progress before one request is abandoned and retried (`timeout: 30s`).
    public var timeout: Double?

    public init(endpoint: String? = nil, region: String? = nil, addressing: String? = nil,
                maxBandwidth: Int? = nil, timeout: Double? = nil) {
        self.endpoint = endpoint
        self.region = region
        self.addressing = addressing
        self.maxBandwidth = maxBandwidth
        self.timeout = timeout
    }

    /// Bytes per second from `10MiB/s`, `512KiB/s`, `1GB/s`, `800B/s`: the unit and `/s` are
    /// required (a bare number is refused: bits or bytes, per second or per minute, is then a
    /// guess). K, M, G are binary (1024) with or without the `i`, as elsewhere in logship.
    public static func parseBandwidth(_ text: String) -> Int? {
        let s = text.trimmingCharacters(in: .whitespaces)
        guard s.lowercased().hasSuffix("/s") else { return nil }
        let amount = s.dropLast(2).trimmingCharacters(in: .whitespaces)
        let digits = amount.prefix { $0.isNumber || $0 == "." }
        guard let n = Double(digits), n > 0 else { return nil }
        let shifts: [String: Int] = ["b": 0, "kb": 10, "kib": 10, "mb": 20, "mib": 20, "gb": 30, "gib": 30]
        guard let shift = shifts[amount.dropFirst(digits.count).trimmingCharacters(in: .whitespaces).lowercased()] else { return nil }
        let bytes = (n * Double(1 << shift)).rounded()
        return bytes >= 1 && bytes < Double(Int.max) ? Int(bytes) : nil
    }

    /// The words ship.yml and `--target` accept for `addressing`.
    public static let addressingNames = [S3Configuration.Addressing.path.rawValue, S3Configuration.Addressing.virtualHost.rawValue]
}

/// The parts of an `s3://bucket/prefix` target address.
struct S3Address: Equatable {
    static let scheme = "s3://"
    let bucket: String
    /// Empty, or ending with `/`: object keys are `prefix + key`.
    let prefix: String

    /// nil when `text` is not an s3:// address with a bucket.
    init?(_ text: String) {
        guard text.hasPrefix(Self.scheme) else { return nil }
        let rest = text.dropFirst(Self.scheme.count)
        let bucket = String(rest.prefix { $0 != "/" })
        guard !bucket.isEmpty else { return nil }
        var prefix = String(rest.dropFirst(bucket.count).drop { $0 == "/" })
        while prefix.hasSuffix("/") { prefix.removeLast() }
        self.bucket = bucket
        self.prefix = prefix.isEmpty ? "" : prefix + "/"
    }

    /// `s3://bucket/prefix` (no trailing slash), the form a target's path keeps.
    var description: String { Self.scheme + bucket + (prefix.isEmpty ? "" : "/" + String(prefix.dropLast())) }

    static func isS3(_ text: String) -> Bool { text.hasPrefix(scheme) }
}

extension S3TargetSettings {
    /// The client configuration for `target`: settings first, then the environment and AWS files.
    func configuration(target: ShipTarget, address: S3Address, environment: [String: String], home: String) throws -> S3Configuration {
        let resolver = S3CredentialResolver(environment: environment, home: home)
        let region = try self.region ?? resolver.region() ?? "us-east-1"
        let given = endpoint ?? environment["AWS_ENDPOINT_URL_S3"].flatMap(nonEmpty) ?? environment["AWS_ENDPOINT_URL"].flatMap(nonEmpty)
        let text = given ?? "https://s3.\(region).amazonaws.com"
        guard let url = URL(string: text), url.host != nil else {
            throw ObjectStorageError(.config, "unable to use endpoint \(text): not a URL", target: target.name,
                                     hint: "write the endpoint as https://host[:port] (ship.yml `endpoint:` or AWS_ENDPOINT_URL)")
        }
        let style: S3Configuration.Addressing
        if let addressing {
            guard let s = S3Configuration.Addressing(rawValue: addressing) else {
                throw ObjectStorageError(.config, "unable to use addressing \"\(addressing)\"", target: target.name,
                                         hint: "write `addressing: path` or `addressing: virtual-host`")
            }
            style = s
        } else {
            style = given == nil ? .virtualHost : .path
        }
        var configuration = S3Configuration(name: target.name, endpoint: url, region: region, bucket: address.bucket, addressing: style,
                                            credentials: try resolver.credentials())
        configuration.bandwidthLimit = maxBandwidth
        if let timeout { configuration.requestTimeout = timeout }
        return configuration
    }
}

private func nonEmpty(_ s: String) -> String? {
    let t = s.trimmingCharacters(in: .whitespaces)
    return t.isEmpty ? nil : t
}
