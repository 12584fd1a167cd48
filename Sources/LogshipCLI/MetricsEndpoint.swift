import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// `--metrics-listen HOST:PORT` in the `--follow` modes and `binlog-writer serve`: an HTTP
/// `/metrics` endpoint that answers each scrape with `render()`, the same Prometheus text
/// `status --prometheus` prints. A follow loop starts it with one call and keeps running as
/// before; it serves on a thread of its own until the process exits.
///
/// Written here on plain sockets rather than with an HTTP library: the endpoint is one GET route
/// answered with `Connection: close`, and the library it used (FlyingFox) links
/// FoundationNetworking, which loads libcurl and about 30 more shared libraries into every start
/// of every tool that links LogshipCLI (5–6 ms of each `binlog-writer exec`, measured with a
/// program that only imports it). One connection is served at a time, each with 5-second read
/// and write timeouts, so a stuck client delays a scrape, never the tool.
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
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        guard inet_pton(AF_INET, host, &address.sin_addr) == 1 else {
            throw ConfigError("unable to use --metrics-listen \(listen): \(host) is not an IPv4 address", hint: "for example --metrics-listen 127.0.0.1:9464")
        }
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        var one: Int32 = 1
        let listening = fd >= 0
            && setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size)) == 0
            && withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } } == 0
            && Glibc.listen(fd, 16) == 0
        guard listening else {
            let reason = String(cString: strerror(errno))
            if fd >= 0 { close(fd) }
            throw ConfigError("unable to listen on \(listen) for --metrics-listen: \(reason)", hint: "is another process using that port?")
        }
        let thread = Thread { serve(fd, render) }
        thread.name = "metrics-endpoint"
        thread.start()
        ToolLog.logger.info("serving metrics on http://\(listen)/metrics")
    }

    private static func serve(_ listener: Int32, _ render: () -> String) {
        while true {
            let client = accept(listener, nil, nil)
            guard client >= 0 else {
                // EINTR, a connection reset before it was taken, or out of descriptors for a moment.
                if errno != EINTR && errno != ECONNABORTED { usleep(50_000) }
                continue
            }
            _ = fcntl(client, F_SETFD, FD_CLOEXEC)
            respond(client, render)
            close(client)
        }
    }

    /// Reads one request head (at most 16 KiB) and answers it.
    static func respond(_ fd: Int32, _ render: () -> String) {
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var head: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        let end: [UInt8] = Array("\r\n\r\n".utf8)
        while head.count < 16_384, head.firstRange(of: end) == nil {
            let n = read(fd, &buffer, buffer.count)
            guard n > 0 else { return }
            head += buffer[0..<n]
        }
        send(fd, reply(to: head, render))
    }

    /// The whole response to a request head: 200 with the metrics for GET (or HEAD) /metrics,
    /// 404 for another path, 405 for another method, 400 for what is not an HTTP request.
    static func reply(to head: [UInt8], _ render: () -> String) -> [UInt8] {
        let lineEnd = head.firstRange(of: Array("\r\n".utf8))?.lowerBound ?? head.count
        let parts = String(decoding: head[..<lineEnd], as: UTF8.self).split(separator: " ")
        let status: String, body: String, extra: String
        if parts.count != 3 || !parts[2].hasPrefix("HTTP/1.") || head.firstRange(of: Array("\r\n\r\n".utf8)) == nil {
            (status, body, extra) = ("400 Bad Request", "bad request\n", "")
        } else if parts[1].split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)[0] != "/metrics" {
            (status, body, extra) = ("404 Not Found", "not found: the endpoint is /metrics\n", "")
        } else if parts[0] != "GET" && parts[0] != "HEAD" {
            (status, body, extra) = ("405 Method Not Allowed", "method not allowed\n", "Allow: GET, HEAD\r\n")
        } else {
            let text = render()
            let header = "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\nContent-Length: \(text.utf8.count)\r\nConnection: close\r\n\r\n"
            return Array(header.utf8) + (parts[0] == "HEAD" ? [] : Array(text.utf8))
        }
        let header = "HTTP/1.1 \(status)\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: \(body.utf8.count)\r\n\(extra)Connection: close\r\n\r\n"
        return Array((header + body).utf8)
    }

    /// Writes all of `bytes` (no SIGPIPE when the client has gone; then it gives up).
    private static func send(_ fd: Int32, _ bytes: [UInt8]) {
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { return }
            offset += n
        }
    }
}
