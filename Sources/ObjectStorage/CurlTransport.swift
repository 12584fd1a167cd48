import CCurl
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// The client's default transport: libcurl's easy interface, one blocking transfer on the
/// calling thread, on a handle taken from a pool so that connections are reused.
///
/// Why not URLSession, which is libcurl too: FoundationNetworking drives libcurl's multi
/// interface from libdispatch, and every socket event hops from dispatch's manager thread to a
/// queue and back through an eventfd. Shipping 256 MiB of segments to a local SeaweedFS took
/// about 290,000 context switches and 3.6 s of CPU that way (awscli: 5,000 and 1.4 s), on a
/// 2-core machine where the server needs the same cores. A blocking easy transfer polls its
/// own socket on its own thread and reads the body in place, in 1 MiB pieces.
public final class CurlTransport: HTTPTransport, @unchecked Sendable {
    private let timeout: TimeInterval
    private let lock = NSLock()
    private var idle: [UnsafeMutableRawPointer] = []

    /// libcurl's global set-up, once per process before the first handle (not thread-safe in itself).
    private static let initialized: Bool = curl_global_init(3) == CURLE_OK  // CURL_GLOBAL_ALL

    /// `timeout`: a transfer that moves nothing for this long fails as timed out, as
    /// URLSession's request timeout does; connecting gets at most the same.
    public init(timeout: TimeInterval) {
        self.timeout = timeout
        _ = Self.initialized
    }

    deinit { idle.forEach { curl_easy_cleanup($0) } }

    public func send(_ request: URLRequest) throws -> HTTPResponse {
        guard let url = request.url?.absoluteString else { throw TransportFailure(kind: .other, detail: "no URL") }
        let method = request.httpMethod ?? "GET"
        guard let handle = take() else { throw TransportFailure(kind: .other, detail: "libcurl could not make a handle") }
        var headers: UnsafeMutablePointer<curl_slist>?
        for (name, value) in request.allHTTPHeaderFields ?? [:] { headers = curl_slist_append(headers, "\(name): \(value)") }
        headers = curl_slist_append(headers, "Expect:")
        defer { curl_slist_free_all(headers) }
        var head = ccurl_buf(), out = ccurl_buf()
        defer { ccurl_buf_free(&head); ccurl_buf_free(&out) }
        var status = 0
        var error = [CChar](repeating: 0, count: Int(CURL_ERROR_SIZE) + 1)
        let body = request.httpBody
        let code = (body ?? Data()).withUnsafeBytes { bytes in
            ccurl_perform(handle, method, url, headers, body == nil ? 0 : 1, bytes.baseAddress, bytes.count,
                          max(1, Int(timeout.rounded(.up))), max(1000, Int(min(timeout, 30) * 1000)),
                          &status, &head, &out, &error)
        }
        give(handle)
        guard code == Int32(CURLE_OK.rawValue) else {
            let message = String(decoding: error.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            let detail = message.isEmpty ? String(cString: curl_easy_strerror(CURLcode(UInt32(code)))) : message
            throw TransportFailure(kind: Self.kind(code), detail: "\(detail) (curl code \(code))")
        }
        let response = HTTPResponse(status: status, headers: Self.headers(head), body: out.len > 0 ? Data(bytes: out.data, count: out.len) : Data())
        return try Self.checkLength(response, method: method)
    }

    /// A body shorter than its Content-Length is a truncated response, whatever libcurl made of it.
    static func checkLength(_ r: HTTPResponse, method: String) throws -> HTTPResponse {
        if method != "HEAD", let declared = r.header("content-length").flatMap(Int.init), declared != r.body.count,
           r.header("content-encoding") == nil {
            throw TransportFailure(kind: .truncated, detail: "body of \(r.body.count) bytes, Content-Length \(declared)")
        }
        return r
    }

    private func take() -> UnsafeMutableRawPointer? {
        lock.lock()
        let pooled = idle.popLast()
        lock.unlock()
        return pooled ?? curl_easy_init()
    }

    private func give(_ handle: UnsafeMutableRawPointer) {
        lock.lock()
        idle.append(handle)
        lock.unlock()
    }

    /// The header lines of the last response, names lowercased; a repeated header's values joined by ", ".
    static func headers(_ buffer: ccurl_buf) -> [String: String] {
        guard buffer.len > 0, let text = String(bytes: UnsafeRawBufferPointer(start: buffer.data, count: buffer.len), encoding: .isoLatin1) else { return [:] }
        var headers: [String: String] = [:]
        for line in text.split(whereSeparator: \.isNewline) {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let name = line[..<colon].trimmingCharacters(in: .whitespaces).lowercased()
            let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespacesAndNewlines)
            headers[name] = headers[name].map { $0 + ", " + value } ?? value
        }
        return headers
    }

    /// What a libcurl failure means to the client's retries.
    static func kind(_ code: Int32) -> TransportFailure.Kind {
        func any(_ codes: CURLcode...) -> Bool { codes.contains { Int32($0.rawValue) == code } }
        if any(CURLE_COULDNT_RESOLVE_PROXY, CURLE_COULDNT_RESOLVE_HOST, CURLE_COULDNT_CONNECT) { return .refused }
        // Nothing moved for the timeout, or connecting took too long.
        if any(CURLE_OPERATION_TIMEDOUT) { return .timedOut }
        // An empty reply, or a send or receive failure: a reset connection.
        if any(CURLE_GOT_NOTHING, CURLE_SEND_ERROR, CURLE_RECV_ERROR) { return .dropped }
        // A reply that does not parse, a body shorter than announced.
        if any(CURLE_WEIRD_SERVER_REPLY, CURLE_PARTIAL_FILE) { return .truncated }
        return .other
    }
}
