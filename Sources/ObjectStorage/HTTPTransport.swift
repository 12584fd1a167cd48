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
