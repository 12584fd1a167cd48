import BinlogFormat
import Foundation
import LogshipSystem

/// What the shipper remembers between runs, one JSON file `<state dir>/state.json`,
/// rewritten with `DurableFile.publish` after every shipped segment, so that a kill -9
/// leaves the previous version or the new one. The target directories stay the truth
/// about what they hold: a segment copied but not yet recorded is found identical by the
/// next run and recorded then (docs/SHIPPING.md "State").
public struct ShipState: Codable, Sendable {
    public static let fileName = "state.json"

    public var format = "logship-ship-state"
    public var version = 1
    /// The binlog directory this state belongs to.
    public var source: String
    /// Per target, by target name.
    public var targets: [String: TargetState] = [:]
    public var lastRun: RunRecord?

    public init(source: String) { self.source = source }

    /// One target's progress and health.
    public struct TargetState: Codable, Sendable, Equatable {
        public var path: String
        /// The newest sealed segment this target holds, shipped (or found identical) and verified.
        public var lastSegment: String?
        public var sourceID: String?
        public var lastLSN: UInt64?
        /// Master commit time of `lastLSN`.
        public var lastCommitTime: String?
        /// Segment checksum of `lastSegment` (hex): the next segment must chain to it.
        public var lastChecksum: String?
        /// When `lastSegment` was shipped.
        public var shippedAt: String?
        public var segmentsShipped: UInt64 = 0
        public var bytesShipped: Int64 = 0
        /// Runs that ended with an error for this target (absent in older state files: 0).
        public var errors: UInt64?
        public var lastAttemptAt: String?
        /// The end of the last run that finished this target without an error.
        public var lastSuccessAt: String?
        public var lastError: ErrorRecord?
        /// The partial copy of the active segment the target holds (`--include-active`).
        public var partial: PartialRecord?
        /// How the store confirmed the last published segment beyond the read-back of what was
        /// staged: `sha256`, `etag-md5`, `multipart-etag` or `part-sha256` (the S3 server's answer matched) or
        /// `read-back` (the object was downloaded and compared); absent for a directory, whose
        /// read-back after fsync is the check.
        public var lastVerification: String?
        /// What the backend guaranteed when the last run probed it (`TargetCapabilities.names`),
        /// for `status`, which must not write to a remote target to find out; absent until then.
        public var guarantees: [String]?

        public init(path: String) { self.path = path }
    }

    /// The last failure of a target, kept until a run finishes it cleanly.
    public struct ErrorRecord: Codable, Sendable, Equatable {
        public var at: String
        public var kind: String
        public var message: String
        public var file: String?
        public var offset: Int64?
    }

    /// A committed prefix of the active segment, shipped as `<sealed name>.partial`.
    public struct PartialRecord: Codable, Sendable, Equatable {
        public var file: String
        public var lastLSN: UInt64
        public var lastCommitTime: String
        public var bytes: Int64
        public var checksum: String
        public var shippedAt: String
    }

    /// The last `ship` run: when, by whom, and how it ended.
    public struct RunRecord: Codable, Sendable, Equatable {
        public var pid: Int32
        public var startedAt: String
        public var finishedAt: String?
        public var outcome: String?
    }

    /// Reads the state; nil when there is none yet.
    public static func load(directory: String) throws -> ShipState? {
        let path = directory + "/" + fileName
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ShipError(.io, "unable to read the state file", path: path)
        }
        do {
            let state = try JSONDecoder().decode(ShipState.self, from: data)
            guard state.format == "logship-ship-state", state.version == 1 else {
                throw ShipError(.corruption, "the state file is \(state.format) version \(state.version); this build reads logship-ship-state version 1", path: path)
            }
            return state
        } catch let e as ShipError {
            throw e
        } catch {
            throw ShipError(.corruption, "the state file cannot be read: \(error)", path: path,
                            hint: "move it aside: the next run then compares every target's files with the source, byte for byte, and rebuilds it")
        }
    }

    /// Writes the state durably (temp file, fsync, rename, fsync the directory).
    public func save(directory: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let data = try encoder.encode(self)
        do { try DurableFile.publish(Array(data) + [0x0A], to: directory + "/" + Self.fileName) } catch {
            throw shipError(error, context: "unable to save the shipping state")
        }
    }

    /// Creates the state directory (and its parents) when missing, durably.
    public static func prepareDirectory(_ directory: String) throws {
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: directory, isDirectory: &isDir) {
            guard isDir.boolValue else { throw ShipError(.notFound, "state directory \(directory) is not a directory", path: directory) }
            return
        }
        do {
            try FilePermissions.createDirectory(directory)
            try DurableFile.syncDirectory((directory as NSString).deletingLastPathComponent)
        } catch {
            throw shipError(error, context: "unable to create the state directory \(directory)")
        }
    }
}

extension ShipState.TargetState {
    /// The chain position this target has reached, when it has shipped anything.
    var position: ChainPosition? {
        guard let last = lastSegment, let name = SegmentName.parse(last), let id = sourceID.flatMap(UUID.init(uuidString:)),
              let lsn = lastLSN, let sum = lastChecksum.flatMap({ UInt64($0, radix: 16) }) else { return nil }
        return ChainPosition(segment: name, sourceID: id, lastLSN: lsn, lastCommitTime: lastCommitTime.flatMap(parseTimestamp) ?? 0, checksum: sum)
    }

    mutating func record(_ p: ChainPosition, at now: Int64) {
        lastSegment = p.segment.description
        sourceID = p.sourceID.uuidString
        lastLSN = p.lastLSN
        lastCommitTime = formatTimestamp(p.lastCommitTime)
        lastChecksum = ChainPosition.hex(p.checksum)
        shippedAt = formatTimestamp(now)
    }
}

extension ShipState.ErrorRecord {
    init(_ e: ShipError, at now: Int64) {
        self.init(at: formatTimestamp(now), kind: e.kind.rawValue, message: e.message + (e.hint.map { "\nHINT: \($0)" } ?? ""), file: e.path, offset: e.offset)
    }
}
