import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// One HTTP exchange as the client sees it: status, headers (names lowercased) and the body.
public struct HTTPResponse: Sendable {
    public var status: Int
    public var headers: [String: String]
    public var body: Data

    public init(status: Int, headers: [String: String], body: Data) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    public func header(_ name: String) -> String? { headers[name.lowercased()] }
}

/// A failure below HTTP: nothing listening, a dropped connection, a timeout, a short body.
public struct TransportFailure: Error, Sendable {
    public enum Kind: Sendable { case refused, dropped, timedOut, truncated, other }
    public var kind: Kind
    public var detail: String
}

/// Sends one request and waits for the whole answer. The client drives it synchronously because
/// every caller (shipping, replicas, restore) is a synchronous command-line run.
public protocol HTTPTransport: Sendable {
    func send(_ request: URLRequest) throws -> HTTPResponse
}

/// The toolchain's own HTTP stack (FoundationNetworking, libcurl underneath).
public final class URLSessionTransport: HTTPTransport, @unchecked Sendable {
    private let session: URLSession

    public init(timeout: TimeInterval) {
        let config = URLSessionConfiguration.ephemeral
        config.timeoutIntervalForRequest = timeout
        config.httpShouldSetCookies = false
        config.urlCache = nil
        config.requestCachePolicy = .reloadIgnoringLocalCacheData
        session = URLSession(configuration: config)
    }

    deinit { session.finishTasksAndInvalidate() }

    public func send(_ request: URLRequest) throws -> HTTPResponse {
        final class Box: @unchecked Sendable { var result: Result<HTTPResponse, TransportFailure>? }
        let box = Box()
        let done = DispatchSemaphore(value: 0)
        let task = session.dataTask(with: request) { data, response, error in
            defer { done.signal() }
            if let error {
                box.result = .failure(Self.classify(error))
            } else if let http = response as? HTTPURLResponse {
                var headers: [String: String] = [:]
                for (k, v) in http.allHeaderFields { headers[String(describing: k).lowercased()] = String(describing: v) }
                box.result = .success(HTTPResponse(status: http.statusCode, headers: headers, body: data ?? Data()))
            } else {
                box.result = .failure(TransportFailure(kind: .other, detail: "no HTTP response"))
            }
        }
        task.resume()
        done.wait()
        switch box.result {
        case .success(let r)?: return try Self.checkLength(r, method: request.httpMethod ?? "GET")
        case .failure(let f)?: throw f
        case nil: throw TransportFailure(kind: .other, detail: "no result")
        }
    }

    /// A body shorter than its Content-Length is a truncated response, whatever libcurl made of it.
    static func checkLength(_ r: HTTPResponse, method: String) throws -> HTTPResponse {
        if method != "HEAD", let declared = r.header("content-length").flatMap(Int.init), declared != r.body.count,
           r.header("content-encoding") == nil {
            throw TransportFailure(kind: .truncated, detail: "body of \(r.body.count) bytes, Content-Length \(declared)")
        }
        return r
    }

    static func classify(_ error: Error) -> TransportFailure {
        let ns = error as NSError
        let kind: TransportFailure.Kind
        switch ns.code {
        case NSURLErrorCannotConnectToHost, NSURLErrorCannotFindHost, NSURLErrorDNSLookupFailed: kind = .refused
        case NSURLErrorNetworkConnectionLost, NSURLErrorNotConnectedToInternet, NSURLErrorBadServerResponse: kind = .dropped
        case NSURLErrorTimedOut: kind = .timedOut
        case NSURLErrorCannotParseResponse, NSURLErrorZeroByteResource, NSURLErrorCannotDecodeRawData: kind = .truncated
        default: kind = .other
        }
        return TransportFailure(kind: kind, detail: "\(ns.localizedDescription) (code \(ns.code))")
    }
}
