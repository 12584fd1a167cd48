import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A loopback HTTP proxy between the S3 client and a test server that injects faults: each rule
/// matches a request (method and a substring of the request line) once, in order, and applies
/// its fault; everything else is forwarded untouched. Every request is logged with the fault it
/// got, so a test can prove that each fault fired.
public final class S3FaultProxy: @unchecked Sendable {
    public enum Fault: Equatable, Sendable {
        /// Read half of the request body, then close the connection: nothing reaches the server.
        case dropMidRequestBody
        /// Answer with this status and S3 error code without forwarding (500 InternalError, 503 SlowDown).
        case status(Int, String)
        /// Forward, then send the headers and half of the response body and close.
        case truncateResponse
        /// Forward (the server acts on it), then close without answering.
        case dropResponse
    }

    public struct Rule: Sendable {
        public var method: String
        public var contains: String
        public var fault: Fault
        public init(_ method: String, _ contains: String = "", _ fault: Fault) {
            self.method = method
            self.contains = contains
            self.fault = fault
        }
    }

    public let port: Int
    private let upstreamPort: Int
    private let listener: Int32
    private let lock = NSLock()
    private var rules: [Rule] = []
    private var entries: [String] = []

    /// Listens on 127.0.0.1 and a free port, forwarding to 127.0.0.1:`upstreamPort`.
    public init(upstreamPort: Int) throws {
        self.upstreamPort = upstreamPort
        port = try S3TestServer.freePort()
        listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var one: Int32 = 1
        setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var addr = Self.address(port)
        let ok = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } } == 0
        guard listener >= 0, ok, listen(listener, 16) == 0 else { throw S3TestServer.Unavailable(description: "fault proxy: bind/listen failed, errno \(errno)") }
        let fd = listener
        Thread.detachNewThread { [weak self] in
            while true {
                let client = accept(fd, nil, nil)
                guard client >= 0 else { return }
                guard let self else { close(client); return }
                Thread.detachNewThread { self.serve(client) }
            }
        }
    }

    deinit { shutdown(listener, Int32(SHUT_RDWR)); close(listener) }

    /// Adds rules, each used once, in order.
    public func inject(_ newRules: [Rule]) { lock.lock(); rules += newRules; lock.unlock() }
    /// "METHOD path -> fault" for every request seen, in order.
    public var log: [String] { lock.lock(); defer { lock.unlock() }; return entries }
    /// Rules not yet used.
    public var pending: Int { lock.lock(); defer { lock.unlock() }; return rules.count }

    private func take(_ method: String, _ line: String) -> Fault? {
        lock.lock(); defer { lock.unlock() }
        let index = rules.firstIndex { $0.method == method && ($0.contains.isEmpty || line.contains($0.contains)) }
        let fault = index.map { rules.remove(at: $0).fault }
        entries.append(line + " -> " + (fault.map { "\($0)" } ?? "forward"))
        return fault
    }

    private func serve(_ client: Int32) {
        defer { close(client) }
        guard let (head, bodyStart) = readHead(client) else { return }
        let lines = head.components(separatedBy: "\r\n")
        let requestLine = lines.first ?? ""
        let method = String(requestLine.split(separator: " ").first ?? "")
        let length = Self.headerValue(lines, "content-length").flatMap(Int.init) ?? 0
        if Self.headerValue(lines, "expect")?.lowercased() == "100-continue" { writeAll(client, Data("HTTP/1.1 100 Continue\r\n\r\n".utf8)) }
        let fault = take(method, requestLine)
        if fault == .dropMidRequestBody {
            _ = readBody(client, have: bodyStart, length: length / 2)
            return
        }
        let body = readBody(client, have: bodyStart, length: length)
        if case .status(let status, let code)? = fault {
            let xml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>\(code)</Code><Message>injected by the fault proxy</Message></Error>"
            writeAll(client, Data("HTTP/1.1 \(status) Injected\r\nContent-Type: application/xml\r\nContent-Length: \(xml.utf8.count)\r\nConnection: close\r\n\r\n\(xml)".utf8))
            return
        }
        let kept = lines.dropFirst().filter { !$0.isEmpty && !["connection", "expect"].contains(Self.name($0)) }
        let forwarded = ([requestLine] + kept + ["Connection: close", "", ""]).joined(separator: "\r\n")
        guard let response = exchange(Data(forwarded.utf8) + body) else { return }
        switch fault {
        case .dropResponse?: return
        case .truncateResponse?:
            let split = response.range(of: Data("\r\n\r\n".utf8)).map { $0.upperBound } ?? response.count
            writeAll(client, response.prefix(split + (response.count - split) / 2))
        default: writeAll(client, response)
        }
    }

    /// Sends a request to the upstream server and reads its answer to the end (Connection: close).
    private func exchange(_ request: Data) -> Data? {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var addr = Self.address(upstreamPort)
        let ok = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } } == 0
        guard ok else { return nil }
        writeAll(fd, request)
        var response = Data()
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = read(fd, &buffer, buffer.count)
            if n <= 0 { break }
            response.append(buffer, count: n)
        }
        return response
    }

    private func readHead(_ fd: Int32) -> (String, Data)? {
        var data = Data()
        var buffer = [UInt8](repeating: 0, count: 16384)
        while data.range(of: Data("\r\n\r\n".utf8)) == nil {
            let n = read(fd, &buffer, buffer.count)
            if n <= 0 { return nil }
            data.append(buffer, count: n)
        }
        guard let end = data.range(of: Data("\r\n\r\n".utf8)) else { return nil }
        return (String(decoding: data[..<end.lowerBound], as: UTF8.self), Data(data[end.upperBound...]))
    }

    private func readBody(_ fd: Int32, have: Data, length: Int) -> Data {
        var body = have
        var buffer = [UInt8](repeating: 0, count: 65536)
        while body.count < length {
            let n = read(fd, &buffer, min(buffer.count, length - body.count))
            if n <= 0 { break }
            body.append(buffer, count: n)
        }
        return body.prefix(length)
    }

    private func writeAll(_ fd: Int32, _ data: Data) {
        data.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let n = send(fd, raw.baseAddress! + offset, raw.count - offset, Int32(MSG_NOSIGNAL))
                if n <= 0 { return }
                offset += n
            }
        }
    }

    private static func name(_ line: String) -> String { line.split(separator: ":", maxSplits: 1).first.map { $0.lowercased() } ?? "" }

    private static func headerValue(_ lines: [String], _ name: String) -> String? {
        lines.first { Self.name($0) == name }.map { $0.split(separator: ":", maxSplits: 1).last.map { $0.trimmingCharacters(in: .whitespaces) } ?? "" }
    }

    private static func address(_ port: Int) -> sockaddr_in {
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        return addr
    }
}
