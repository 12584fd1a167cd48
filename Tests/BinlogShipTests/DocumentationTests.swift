@testable import BinlogShip
import Foundation
import XCTest

/// The config file shown to operators in docs/SHIPPING.md parses as written.
final class DocumentationTests: XCTestCase {
    private let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

    private func yamlBlocks(_ file: String) throws -> [String] {
        let text = try String(contentsOfFile: root + "/" + file, encoding: .utf8)
        return text.components(separatedBy: "```yaml\n").dropFirst().map { $0.components(separatedBy: "```")[0] }
    }

    func testTheConfigFilesInTheDocsParse() throws {
        let durations = ["15m": 900.0, "7d": 604_800.0]
        for file in ["docs/SHIPPING.md"] {
            let blocks = try yamlBlocks(file)
            XCTAssertFalse(blocks.isEmpty, "\(file) shows a config file")
            for yaml in blocks {
                let c = try ShipConfig.parse(yaml: yaml, file: file, baseDirectory: "/etc/logship", parseDuration: { durations[$0] })
                if c.source == nil {
                    // The "S3 targets" fragment: its one target with every S3 key.
                    XCTAssertEqual(c.targets, [ShipTarget(name: "off-site", path: "s3://backups/logship/master-a",
                                                          s3: S3TargetSettings(endpoint: "https://s3.eu-west-1.amazonaws.com", region: "eu-west-1", addressing: "virtual-host"))], file)
                    continue
                }
                XCTAssertEqual(c.source, "/srv/master", file)
                XCTAssertEqual(c.targets.first?.name, "nas", file)
                XCTAssertEqual(c.targets.count, 2, file)
                XCTAssertEqual(c.maxLag, 900, file)
                XCTAssertEqual(c.retention, 604_800, file)
            }
        }
    }
}
