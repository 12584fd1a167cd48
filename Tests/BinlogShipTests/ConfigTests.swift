@testable import BinlogShip
import Foundation
import XCTest

/// The config file (docs/SHIPPING.md "Config file"): every key, relative paths, and an error
/// that names the file, the line and the key for anything it does not know.
final class ConfigTests: XCTestCase {
    private func duration(_ s: String) -> Double? {
        ["15m": 900, "7d": 604_800, "90s": 90][s]
    }

    private func parse(_ yaml: String) throws -> ShipConfig {
        try ShipConfig.parse(yaml: yaml, file: "ship.yml", baseDirectory: "/etc/logship", parseDuration: duration)
    }

    private func configError(_ yaml: String, file: StaticString = #filePath, line: UInt = #line) -> ShipError? {
        do {
            _ = try parse(yaml)
            XCTFail("accepted: \(yaml)", file: file, line: line)
            return nil
        } catch let e as ShipError {
            XCTAssertEqual(e.kind, .config, file: file, line: line)
            return e
        } catch {
            XCTFail("\(error)", file: file, line: line)
            return nil
        }
    }

    func testEveryKey() throws {
        let c = try parse("""
            # shipping for the expenses master
            source: /srv/master
            state_dir: state
            include_active: true
            retention: 7d
            max_lag: 15m
            targets:
              - name: nas
                path: /mnt/nas/replica/inbox
              - ../usb/inbox
            """)
        XCTAssertEqual(c.source, "/srv/master")
        XCTAssertEqual(c.stateDirectory, "/etc/logship/state")
        XCTAssertTrue(c.includeActive)
        XCTAssertEqual(c.retention, 604_800)
        XCTAssertEqual(c.maxLag, 900)
        XCTAssertEqual(c.targets, [ShipTarget(name: "nas", path: "/mnt/nas/replica/inbox"), ShipTarget(path: "/etc/usb/inbox")])
        XCTAssertEqual(c.targets[1].name, "/etc/usb/inbox", "a target without a name is named by its path")
        XCTAssertEqual(c.target("nas")?.path, "/mnt/nas/replica/inbox")
        XCTAssertEqual(c.target("/etc/usb/inbox/")?.name, "/etc/usb/inbox")
    }

    func testUnknownKeysAreErrorsNamingKeyAndLine() {
        let top = configError("source: /srv/master\ntargts:\n  - /mnt/a\n")
        XCTAssertEqual(top?.message, "ship.yml:2: unknown key 'targts' in the config file")
        XCTAssertTrue(top?.hint?.contains("targets") ?? false)
        let nested = configError("source: /srv/master\ntargets:\n  - name: a\n    paht: /mnt/a\n")
        XCTAssertEqual(nested?.message, "ship.yml:4: unknown key 'paht' in a target")
    }

    func testBadValuesAreErrors() {
        XCTAssertTrue(configError("include_active: sometimes")?.message.contains("true or false") ?? false)
        XCTAssertTrue(configError("retention: soon")?.message.contains("duration") ?? false)
        XCTAssertTrue(configError("targets: /mnt/a")?.message.contains("list") ?? false)
        XCTAssertTrue(configError("targets:\n  - name: a\n")?.message.contains("needs a 'path'") ?? false)
        XCTAssertTrue(configError("source: [a, b]")?.message.contains("'source' needs a value") ?? false)
        XCTAssertTrue(configError("- a\n- b\n")?.message.contains("mapping") ?? false)
        let twice = configError("source: /a\nsource: /b\n")?.message ?? ""
        XCTAssertTrue(twice.contains("twice") || twice.contains("duplicate"), twice)
        XCTAssertTrue(configError("")?.message.contains("empty") ?? false)
        XCTAssertTrue(configError("source: [unclosed")?.message.contains("not valid YAML") ?? false)
    }

    func testTwoTargetsCannotShareANameOrADirectory() {
        XCTAssertTrue(configError("targets:\n  - {name: a, path: /x}\n  - {name: a, path: /y}\n")?.message.contains("used twice") ?? false)
        XCTAssertTrue(configError("targets:\n  - /x\n  - /x/\n")?.message.contains("two targets") ?? false)
    }

    func testTargetFlagsTakeAnOptionalName() throws {
        var c = ShipConfig()
        try c.addTargets(["nas=/mnt/nas/inbox", "/mnt/usb/a=b", "/srv/plain"])
        XCTAssertEqual(c.targets, [ShipTarget(name: "nas", path: "/mnt/nas/inbox"), ShipTarget(path: "/mnt/usb/a=b"), ShipTarget(path: "/srv/plain")])
        XCTAssertThrowsError(try c.addTargets(["other=/srv/plain"])) { XCTAssertEqual(($0 as? ShipError)?.kind, .config) }
    }

    func testLoadingAMissingFileIsNotFound() {
        XCTAssertThrowsError(try ShipConfig.load(path: "/nonexistent/ship.yml", parseDuration: duration)) {
            XCTAssertEqual(($0 as? ShipError)?.kind, .notFound)
        }
    }
}
