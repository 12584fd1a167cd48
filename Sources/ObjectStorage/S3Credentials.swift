import Foundation

/// An access key pair and an optional session token. `description`, `debugDescription` and the mirror never
/// print the secret or the token (and only the last four characters of the key id), so a
/// credential that ends up in a log line, an error or `dump` leaks nothing usable.
public struct S3Credentials: Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    public var accessKeyId: String
    public var secretAccessKey: String
    public var sessionToken: String?
    /// Where these came from ("environment", "profile default in /root/.aws/credentials"), for messages.
    public var source: String

    public init(accessKeyId: String, secretAccessKey: String, sessionToken: String? = nil, source: String = "explicit") {
        self.accessKeyId = accessKeyId
        self.secretAccessKey = secretAccessKey
        self.sessionToken = sessionToken
        self.source = source
    }

    public var description: String {
        let tail = accessKeyId.count > 4 ? "…" + accessKeyId.suffix(4) : "…"
        return "S3Credentials(accessKeyId: \(tail), secretAccessKey: <redacted>"
            + (sessionToken == nil ? "" : ", sessionToken: <redacted>") + ", source: \(source))"
    }

    public var debugDescription: String { description }

    /// `dump` and debuggers walk the mirror, not `description`: give them the redacted text only.
    public var customMirror: Mirror { Mirror(self, children: ["redacted": description]) }
}

/// Finds credentials and a region the way the AWS tools do, in this order: the variables
/// AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN; then the profile named by
/// AWS_PROFILE (or `default`) in the shared credentials file (AWS_SHARED_CREDENTIALS_FILE or
/// ~/.aws/credentials), then in the config file (AWS_CONFIG_FILE or ~/.aws/config, where a
/// profile's section is `[profile NAME]`). The region comes from AWS_REGION, AWS_DEFAULT_REGION
/// or the profile's `region` key.
public struct S3CredentialResolver: Sendable {
    public var environment: [String: String]
    public var home: String

    public init(environment: [String: String] = ProcessInfo.processInfo.environment,
                home: String = FileManager.default.homeDirectoryForCurrentUser.path) {
        self.environment = environment
        self.home = home
    }

    var profileName: String { nonEmpty(environment["AWS_PROFILE"]) ?? "default" }
    var credentialsFile: String { nonEmpty(environment["AWS_SHARED_CREDENTIALS_FILE"]) ?? home + "/.aws/credentials" }
    var configFile: String { nonEmpty(environment["AWS_CONFIG_FILE"]) ?? home + "/.aws/config" }

    /// The credentials, or a configuration error naming every place that was looked at.
    public func credentials() throws -> S3Credentials {
        if let id = nonEmpty(environment["AWS_ACCESS_KEY_ID"]) {
            guard let secret = nonEmpty(environment["AWS_SECRET_ACCESS_KEY"]) else {
                throw ObjectStorageError(.config, "unable to use AWS_ACCESS_KEY_ID: AWS_SECRET_ACCESS_KEY is not set",
                                         hint: "export both variables, or neither to use a profile")
            }
            return S3Credentials(accessKeyId: id, secretAccessKey: secret,
                                 sessionToken: nonEmpty(environment["AWS_SESSION_TOKEN"]), source: "environment")
        }
        for (file, section) in [(credentialsFile, profileName), (configFile, configSection)] {
            let values = try INIFile.section(section, of: file)
            guard let values else { continue }
            if let id = nonEmpty(values["aws_access_key_id"]) {
                guard let secret = nonEmpty(values["aws_secret_access_key"]) else {
                    throw ObjectStorageError(.config, "unable to use profile \(profileName) in \(file): aws_secret_access_key is missing",
                                             hint: "add aws_secret_access_key to [\(section)]")
                }
                return S3Credentials(accessKeyId: id, secretAccessKey: secret, sessionToken: nonEmpty(values["aws_session_token"]),
                                     source: "profile \(profileName) in \(file)")
            }
        }
        throw ObjectStorageError(.config, "unable to find S3 credentials: AWS_ACCESS_KEY_ID is not set and profile \(profileName) has no keys in \(credentialsFile) or \(configFile)",
                                 hint: "export AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or add the profile to \(credentialsFile)")
    }

    /// The region from the environment or the profile, if any is set.
    public func region() throws -> String? {
        if let r = nonEmpty(environment["AWS_REGION"]) ?? nonEmpty(environment["AWS_DEFAULT_REGION"]) { return r }
        return nonEmpty(try INIFile.section(configSection, of: configFile)?["region"])
    }

    var configSection: String { profileName == "default" ? "default" : "profile \(profileName)" }
}

func nonEmpty(_ s: String?) -> String? {
    guard let s = s?.trimmingCharacters(in: .whitespaces), !s.isEmpty else { return nil }
    return s
}

/// The small INI dialect of the AWS shared files: `[section]`, `key = value`, `#` and `;` comments.
/// Written here because it is twenty lines and no listed package reads it.
enum INIFile {
    /// The keys of `section`, nil when the file or the section does not exist.
    static func section(_ name: String, of path: String) throws -> [String: String]? {
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw ObjectStorageError(.config, "unable to read \(path): \(error.localizedDescription)",
                                     hint: "check the file's permissions, or point AWS_SHARED_CREDENTIALS_FILE / AWS_CONFIG_FILE elsewhere")
        }
        return parse(text)[name]
    }

    static func parse(_ text: String) -> [String: [String: String]] {
        var result: [String: [String: String]] = [:]
        var current: String?
        for raw in text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" }) {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") || line.hasPrefix(";") { continue }
            if line.hasPrefix("["), line.hasSuffix("]") {
                let name = line.dropFirst().dropLast().trimmingCharacters(in: .whitespaces)
                current = name
                if result[name] == nil { result[name] = [:] }
                continue
            }
            guard let section = current, let eq = line.firstIndex(of: "=") else { continue }
            let key = line[..<eq].trimmingCharacters(in: .whitespaces).lowercased()
            result[section]?[key] = line[line.index(after: eq)...].trimmingCharacters(in: .whitespaces)
        }
        return result
    }
}
