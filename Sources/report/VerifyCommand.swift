import ArgumentParser
import BinlogFormat
import Foundation
import LogshipCLI
import Reports

/// `report verify FILE`: re-runs the as-of report recorded in FILE's stamp and compares bytes.
struct VerifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Re-run an as-of report from its stamp (FILE.stamp.json) and check that FILE still matches byte for byte.",
        discussion: "Exit 0: it matches. Exit 4: it differs (the first differing byte is named). Other codes are those of the re-run (2: the LSN is no longer restorable).")

    @Argument(help: "A report written with --as-of-lsn/--as-of-time and --out.") var file: String
    @Flag(help: "Print the verdict as JSON (docs/JSON.md), also when it differs (exit 4); the message still goes to stderr.") var json = false

    /// `report verify --json` (docs/JSON.md).
    struct Output: Encodable {
        var file: String, matches: Bool, lsn: UInt64, commitTime: String, replica: String
        var bytes: Int, rerunBytes: Int
        var firstDifference: Int?
    }

    func run() throws {
        try runReporting("report") {
            let stamp = try ReportStamp.read(for: file)
            guard let original = FileManager.default.contents(atPath: file) else {
                throw ReportError(.notFound, "unable to verify \(file): it cannot be read", hint: "give the report file, not its stamp")
            }
            let directory = try AsOfRestore.makePrivateDirectory()
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let rerun = directory + "/" + (file as NSString).lastPathComponent
            let status = try Self.rerun(stamp, out: rerun)
            guard status == 0 else {
                printError("report", "unable to verify \(file): the re-run at LSN \(stamp.lsn) from \(stamp.replica) failed (exit \(status))")
                throw ReportedFailure(ExitStatus(rawValue: status) ?? .internalError)
            }
            let fresh = FileManager.default.contents(atPath: rerun) ?? Data()
            let difference = Self.firstDifference(original, fresh)
            if json {
                print(try jsonText(Output(file: file, matches: difference == nil, lsn: stamp.lsn, commitTime: stamp.commitTime, replica: stamp.replica,
                                          bytes: original.count, rerunBytes: fresh.count, firstDifference: difference)))
            }
            if let offset = difference {
                let line = original.prefix(offset).reduce(1) { $1 == 10 ? $0 + 1 : $0 }
                throw ReportError(.mismatch, "\(file) does not match a re-run at LSN \(stamp.lsn) from \(stamp.replica): first difference at byte \(offset) (line \(line)); \(original.count) bytes against \(fresh.count)",
                                  hint: "the file was changed after it was written, or the replica's history at that LSN changed (a restore from other segments)")
            }
            if !json { print("\(file) matches a re-run at LSN \(stamp.lsn) (commit time \(stamp.commitTime)) from \(stamp.replica): \(original.count) bytes") }
        }
    }

    /// Runs this same executable with the stamp's command and a private --out.
    static func rerun(_ stamp: ReportStamp, out: String) throws -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        process.arguments = [stamp.command] + stamp.arguments + ["--out", out]
        process.standardInput = FileHandle.nullDevice
        do { try process.run() } catch {
            throw ReportError(.io, "unable to re-run the report: \(error)")
        }
        process.waitUntilExit()
        return process.terminationStatus
    }

    /// The offset of the first byte where `a` and `b` differ, or nil when they are equal.
    static func firstDifference(_ a: Data, _ b: Data) -> Int? {
        if a == b { return nil }
        let common = zip(a, b).prefix { $0 == $1 }.count
        return common
    }
}
