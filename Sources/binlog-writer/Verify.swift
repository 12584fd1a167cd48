import ArgumentParser
import BinlogFormat
import Foundation
import LogshipCLI
import LogshipSystem

struct Verify: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check a directory of segments: checksums, frames, footers, hash chain, LSN continuity.",
        discussion: "Exits 0 when clean, 2 on a gap (missing segment or LSNs), 3 on corruption; the message names file and offset.")

    @Argument(help: "A master data directory, or a directory of segments (binlog or replica inbox).")
    var directory: String

    @Flag(help: "Print JSON.")
    var json = false

    @Flag(help: "Only verify checksums and structure, without decoding row events (faster).")
    var quick = false

    @Flag(name: .shortAndLong, help: "Print nothing when the directory is clean (for cron); problems still go to stderr.")
    var quiet = false

    @Option(name: .customLong("verify-key"), help: "A public key file (signing.pub); every sealed segment must carry a good signature by one of these keys (repeatable).")
    var verifyKeys: [String] = []

    @Option(name: .customLong("decrypt-key"), help: "An encryption key file (mode 0600): encrypted segments are decoded too, not only checked for integrity (repeatable).")
    var decryptKeys: [String] = []

    struct Output: Encodable {
        var outcome: String
        var segments: Int
        var sealed: Int
        var active: String?
        var firstLSN: UInt64?
        var lastLSN: UInt64?
        var lastCommitTime: String?
        var transactions: UInt64
        var bytes: Int64
        var problem: String?
        var file: String?
        var offset: Int64?
        var warnings: [String]
        /// `<sealed name>.partial` files: copies of an active segment, not checked here.
        var partialCopies: [String]
    }

    func run() throws {
        try runReporting("binlog-writer") {
            for key in decryptKeys { _ = try EncryptionKeyFile.read(key, register: true) }
            let dir = FileManager.default.fileExists(atPath: directory + "/master.json") ? directory + "/binlog" : directory
            let verifier = verifyKeys.isEmpty ? nil : SegmentVerifier(keys: try verifyKeys.map(SigningKeyFile.readPublic))
            let r = try BinlogDirectory(path: dir).verify(decode: !quick, verifier: verifier)
            let outcome: String
            let status: ExitStatus
            switch r.outcome {
            case .clean: (outcome, status) = ("clean", .ok)
            case .gap: (outcome, status) = ("gap", .gap)
            case .corruption: (outcome, status) = ("corruption", .corruption)
            }
            let out = Output(outcome: outcome, segments: r.segmentsChecked, sealed: r.sealedSegments, active: r.activeSegment,
                             firstLSN: r.firstLSN, lastLSN: r.lastLSN, lastCommitTime: r.lastCommitTime.map(formatTimestamp),
                             transactions: r.transactions, bytes: r.bytes, problem: r.problem?.description,
                             file: r.problem?.path, offset: r.problem?.offset, warnings: r.warnings,
                             partialCopies: r.partialCopies.map(\.fileName))
            if json {
                printLine(try jsonText(out))
            } else if quiet && status == .ok {
            } else {
                let range = r.firstLSN.map { "LSN \($0)…\(r.lastLSN!)" } ?? "no transactions"
                printLine("\(outcome): \(r.segmentsChecked) segments (\(r.sealedSegments) sealed), \(range), \(r.transactions) transactions, \(formatBytes(r.bytes))")
                for w in r.warnings { printLine("  note: \(w)") }
                for p in r.partialCopies {
                    printLine("  partial copy: \(p.fileName) (the committed prefix of an active segment; "
                              + (p.superseded ? "superseded by the sealed segment)" : "not verified here: replica-apply and binlog-ship verify read it)"))
                }
                if let p = r.problem { printError("binlog-writer", p.description) }
            }
            if status != .ok { throw ReportedFailure(status) }
        }
    }
}
