import BinlogFormat
import Foundation
import LogshipTestSupport
import XCTest

/// The fuzzer's corpus (tools/fuzz/corpus, minimized) and every input that ever crashed it
/// (tools/fuzz/crashers) as regression tests: each file is read the four ways the harness
/// reads it (sealed and active rules, as it is and with its checksums repaired) by the segment
/// reader in process, which must return or throw a FormatError, and two of them by the built
/// `binlog-writer dump` (text and JSON Lines), which must exit 0 or 3 and print no crash. The fuzz build
/// (`tools/torture fuzz`) replays the same files under AddressSanitizer first.
final class FuzzCorpusTests: XCTestCase {
    private static let fuzzDirectory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path + "/tools/fuzz"

    private func files(_ sub: String) throws -> [String] {
        let dir = Self.fuzzDirectory + "/" + sub
        guard FileManager.default.fileExists(atPath: dir) else { return [] }
        return try FileManager.default.contentsOfDirectory(atPath: dir).filter { !$0.hasPrefix(".") }.sorted().map { dir + "/" + $0 }
    }

    func testEveryCorpusFileAndCrasherIsReadOrRefusedWithoutACrash() throws {
        let corpus = try files("corpus"), crashers = try files("crashers")
        XCTAssertGreaterThanOrEqual(corpus.count, 10, "the fuzz corpus is missing from \(Self.fuzzDirectory)/corpus")
        let dir = TestDirectory("fuzz-corpus")
        var outcomes: [String: Int] = [:]
        for file in corpus + crashers {
            let raw = [UInt8](try Data(contentsOf: URL(fileURLWithPath: file)))
            var repaired = raw
            SegmentSurgery.repairChecksums(&repaired)
            let name = (file as NSString).lastPathComponent
            for (variant, bytes) in [("raw", raw), ("repaired", repaired)] {
                for suffix in ["", ".partial"] {
                    let path = dir.sub(variant + suffix)
                    try Data(bytes).write(to: URL(fileURLWithPath: path))
                    let what = "\(name) (\(variant), \(suffix.isEmpty ? "sealed" : "active") rules)"
                    outcomes[read(path, what), default: 0] += 1
                    // The built dump twice per file (a process each): as it is under sealed rules, repaired under active ones.
                    guard (variant == "raw") == suffix.isEmpty else { continue }
                    let dump = try ToolRunner.run("binlog-writer", ["dump", path, "--format", suffix.isEmpty ? "text" : "jsonl"])
                    XCTAssertTrue([0, 3].contains(dump.status), "\(what): dump exited \(dump.status): \(dump.stderr.prefix(2000))")
                    XCTAssertFalse(dump.stderr.contains("Fatal error"), "\(what): \(dump.stderr.prefix(2000))")
                }
            }
        }
        print("fuzz corpus: \(corpus.count) files, \(crashers.count) crashers; reader outcomes: \(outcomes.sorted { $0.key < $1.key })")
    }

    /// Reads `path` to its end; returns "read" or the error kind. Anything but a FormatError fails.
    private func read(_ path: String, _ what: String) -> String {
        do {
            let reader = try SegmentReader(path: path)
            while try reader.next() != nil {}
            return "read"
        } catch let e as FormatError {
            XCTAssertNotNil(e.path, "\(what): \(e) names no file")
            return e.kind.rawValue
        } catch {
            XCTFail("\(what): \(error) is not a FormatError")
            return "other"
        }
    }
}
