@testable import BinlogShip
import Foundation
import XCTest

/// `s3://bucket/prefix` targets in ship.yml and `--target` (docs/SHIPPING.md "S3 targets"):
/// kept as written, their endpoint, region and addressing read, the S3 backend chosen.
final class S3ConfigTests: XCTestCase {
    private func parse(_ yaml: String) throws -> ShipConfig {
        try ShipConfig.parse(yaml: yaml, file: "ship.yml", baseDirectory: "/etc/logship", parseDuration: { _ in nil })
    }

    private func configError(_ body: () throws -> Void, file: StaticString = #filePath, line: UInt = #line) -> ShipError? {
        do { try body() } catch let e as ShipError {
            XCTAssertEqual(e.kind, .config, file: file, line: line)
            return e
        } catch { XCTFail("\(error)", file: file, line: line); return nil }
        XCTFail("accepted", file: file, line: line)
        return nil
    }

    func testAnS3TargetInTheConfigFileKeepsItsAddressAndSettings() throws {
        let c = try parse("""
            source: /srv/master
            targets:
              - name: off-site
                path: s3://backups/logship/master-a/
                endpoint: http://127.0.0.1:9000
                region: eu-west-1
                addressing: virtual-host
              - s3://other
              - inbox
            """)
        XCTAssertEqual(c.targets, [
            ShipTarget(name: "off-site", path: "s3://backups/logship/master-a",
                       s3: S3TargetSettings(endpoint: "http://127.0.0.1:9000", region: "eu-west-1", addressing: "virtual-host")),
            ShipTarget(path: "s3://other"), ShipTarget(path: "/etc/logship/inbox")])
        XCTAssertTrue(c.openStore(c.targets[0]) is S3Store)
        XCTAssertEqual(c.openStore(c.targets[0]).location, "s3://backups/logship/master-a")
        XCTAssertEqual(c.openStore(c.targets[0]).address(of: "x"), "s3://backups/logship/master-a/x")
        XCTAssertEqual(c.openStore(c.targets[1]).address(of: "x"), "s3://other/x")
        XCTAssertTrue(c.openStore(c.targets[2]) is DirectoryStore)
    }

    func testS3KeysOnADirectoryTargetOrABadAddressingAreRefused() {
        let onDirectory = configError { _ = try self.parse("targets:\n  - path: /mnt/inbox\n    region: eu-west-1\n") }
        XCTAssertEqual(onDirectory?.message, "ship.yml:2: 'region' is for s3:// targets only")
        let addressing = configError { _ = try self.parse("targets:\n  - path: s3://b/p\n    addressing: dns\n") }
        XCTAssertEqual(addressing?.message, "ship.yml:3: 'addressing' must be path or virtual-host")
        let noBucket = configError { _ = try self.parse("targets:\n  - s3:///p\n") }
        XCTAssertEqual(noBucket?.message, "ship.yml:2: no bucket in s3:///p")
    }

    func testTargetFlagsTakeS3Addresses() throws {
        var c = ShipConfig()
        try c.addTargets(["off=s3://backups/logs", "s3://raw"])
        XCTAssertEqual(c.targets, [ShipTarget(name: "off", path: "s3://backups/logs"), ShipTarget(path: "s3://raw")])
        XCTAssertTrue(c.targets.allSatisfy(\.isS3))
        XCTAssertEqual(configError { try c.addTargets(["bad=s3://"]) }?.message, "--target bad=s3://: no bucket in s3://")
    }

    /// `max-bandwidth` needs a unit per second; `timeout` a duration; both reach the client's configuration.
    func testBandwidthLimitAndTimeoutReachTheClient() throws {
        let c = try ShipConfig.parse(yaml: "targets:\n  - path: s3://b/p\n    endpoint: http://127.0.0.1:9\n    max-bandwidth: 10MiB/s\n    timeout: 30s\n",
                                     file: "ship.yml", baseDirectory: "/etc/logship", parseDuration: { $0 == "30s" ? 30 : nil })
        let settings = try XCTUnwrap(c.targets.first?.s3)
        XCTAssertEqual(settings.maxBandwidth, 10 << 20)
        XCTAssertEqual(settings.timeout, 30)
        let address = try XCTUnwrap(S3Address("s3://b/p"))
        let configuration = try settings.configuration(target: c.targets[0], address: address,
                                                       environment: ["AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s"], home: "/nonexistent")
        XCTAssertEqual(configuration.bandwidthLimit, 10 << 20)
        XCTAssertEqual(configuration.requestTimeout, 30)
        XCTAssertEqual(S3TargetSettings.parseBandwidth("512KiB/s"), 512 << 10)
        XCTAssertEqual(S3TargetSettings.parseBandwidth("1.5 MB/s"), 3 << 19)
        for refused in ["10", "10MiB", "10/s", "0MiB/s", "10Mbit/s", "-1KiB/s"] {
            XCTAssertNil(S3TargetSettings.parseBandwidth(refused), refused)
        }
        let bare = configError { _ = try self.parse("targets:\n  - path: s3://b/p\n    max-bandwidth: 10485760\n") }
        XCTAssertEqual(bare?.message, "ship.yml:3: 'max-bandwidth' must be bytes per second with a unit, like 10MiB/s or 512KiB/s")
    }
}
