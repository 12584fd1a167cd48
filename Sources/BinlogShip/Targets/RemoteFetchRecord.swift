import BinlogFormat
import Foundation
import LogshipSystem

/// The last successful fetch from a replica's remote source, `fetch.json` in the replica
/// directory, written durably after each pass of `replica-apply fetch` or of `apply` with a
/// source; `status` reads it to say when the bucket was last read. A pass that fails leaves the
/// previous record, so its time is the last *successful* read.
public struct RemoteFetchRecord: Codable, Equatable, Sendable {
    /// The source read (`s3://bucket/prefix`).
    public var source: String
    /// When the pass ended, microseconds since 1970 (UTC).
    public var fetchedAt: Int64
    /// Objects that pass downloaded.
    public var fetched: Int
    /// The newest segment the inbox held from the source after it, if any.
    public var newestSegment: String?

    public init(source: String, fetchedAt: Int64, fetched: Int, newestSegment: String?) {
        self.source = source
        self.fetchedAt = fetchedAt
        self.fetched = fetched
        self.newestSegment = newestSegment
    }

    public static func path(replica: String) -> String { replica + "/fetch.json" }

    /// Publishes the record of a pass that ended now (temp file, fsync, rename, fsync directory).
    public static func write(replica: String, source: String, outcome: RemoteFetch.Outcome) throws {
        let newest = (outcome.fetched + outcome.present).compactMap { key in SegmentName.parse(key).map { ($0, key) } }.max { $0.0 < $1.0 }?.1
        let record = RemoteFetchRecord(source: source, fetchedAt: microsecondsNow(), fetched: outcome.fetched.count, newestSegment: newest)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try DurableFile.publish(Array(try encoder.encode(record)) + [10], to: path(replica: replica))
    }

    /// The record, nil when no pass succeeded yet (or the file does not read).
    public static func read(replica: String) -> RemoteFetchRecord? {
        guard let data = FileManager.default.contents(atPath: path(replica: replica)) else { return nil }
        return try? JSONDecoder().decode(RemoteFetchRecord.self, from: data)
    }
}
