import BinlogFormat
import Foundation

/// What `report verify` needs to re-run an as-of report: kept beside the report file as
/// `FILE.stamp.json` (a sidecar, so that every format, CSV without comments included, can be
/// verified and no format's bytes carry it). The arguments are the report's own, with the
/// store made absolute, `--as-of-time` replaced by the LSN it resolved to, and `--out` and
/// `--force` left out (verify supplies its own output).
public struct ReportStamp: Codable, Sendable, Equatable {
    /// Bumped when the fields change; verify refuses a version it does not know.
    public static let currentVersion = 1

    public var version: Int
    /// The subcommand (`monthly-expenses`, `query`).
    public var command: String
    public var arguments: [String]
    public var replica: String
    public var lsn: UInt64
    public var commitTime: String
    /// The size of the report file as written, for the reader of the sidecar (verify compares
    /// every byte).
    public var bytes: Int

    public init(command: String, arguments: [String], replica: String, lsn: UInt64, commitTime: String, bytes: Int) {
        self.version = Self.currentVersion
        self.command = command
        self.arguments = arguments
        self.replica = replica
        self.lsn = lsn
        self.commitTime = commitTime
        self.bytes = bytes
    }

    /// The sidecar path of a report file.
    public static func path(for report: String) -> String { report + ".stamp.json" }

    /// Writes the sidecar of `report` durably (temp file, fsync, rename, fsync the directory).
    public func write(besides report: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        let data = try encoder.encode(self) + Data("\n".utf8)
        do { try DurableFile.publish([UInt8](data), to: Self.path(for: report)) } catch {
            throw ReportError(.io, "unable to write the stamp \(Self.path(for: report)): \(error)")
        }
    }

    /// Reads the sidecar of `report`; a missing one is `notFound` with a hint.
    public static func read(for report: String) throws -> ReportStamp {
        let path = Self.path(for: report)
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ReportError(.notFound, "unable to verify \(report): no stamp \(path) beside it",
                              hint: "only as-of reports written with --out (report … --as-of-lsn N --out FILE) have a stamp to verify")
        }
        let stamp: ReportStamp
        do { stamp = try JSONDecoder().decode(ReportStamp.self, from: data) } catch {
            throw ReportError(.invalid, "unable to read the stamp \(path): \(error)", hint: "the stamp is written by report --as-of-lsn/--as-of-time --out")
        }
        guard stamp.version == currentVersion else {
            throw ReportError(.invalid, "unable to verify \(report): stamp version \(stamp.version) is not \(currentVersion)",
                              hint: "verify it with the report version that wrote it")
        }
        return stamp
    }
}
