import FlyingFox
import Foundation

/// `--metrics-listen HOST:PORT` in the `--follow` modes: an HTTP `/metrics` endpoint (FlyingFox,
/// a small server on plain sockets) that answers each scrape with `render()`, the same Prometheus
/// text `status --prometheus` prints. A separate component: a follow loop starts it with one call
/// and keeps running as before; it serves on its own task until the process exits.
public enum MetricsEndpoint {
    /// Parses `127.0.0.1:9464` (IPv4 only).
    public static func parse(_ listen: String) -> (host: String, port: UInt16)? {
        guard let colon = listen.lastIndex(of: ":"), let port = UInt16(listen[listen.index(after: colon)...]), port > 0 else { return nil }
        let host = String(listen[..<colon])
        return host.split(separator: ".").count == 4 ? (host, port) : nil
    }

    /// Starts serving and returns once the socket listens (or throws: a port in use, a bad address).
    public static func start(listen: String, render: @escaping @Sendable () -> String) throws {
        guard let (host, port) = parse(listen) else {
            throw ConfigError("unable to use --metrics-listen \(listen): not an IPv4 address and port", hint: "for example --metrics-listen 127.0.0.1:9464")
        }
        let server = HTTPServer(address: try .inet(ip4: host, port: port), logger: .disabled)
        let ready = DispatchSemaphore(value: 0)
        final class Outcome: @unchecked Sendable { var error: Error? }
        let outcome = Outcome()
        Task.detached {
            await server.appendRoute("GET /metrics") { _ in
                HTTPResponse(statusCode: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"], body: Data(render().utf8))
            }
            let serving = Task { try await server.run() }
            do { try await server.waitUntilListening(timeout: 5) } catch { outcome.error = (try? await serving.value).map { _ in error } ?? error }
            ready.signal()
            _ = try? await serving.value
        }
        ready.wait()
        if let error = outcome.error {
            throw ConfigError("unable to listen on \(listen) for --metrics-listen: \(error)", hint: "is another process using that port?")
        }
        ToolLog.logger.info("serving metrics on http://\(listen)/metrics")
    }
}
