import Failover
import Foundation
import XCTest

/// `Promotion.Options.lockWait` is `lockTimeout` as a `Duration`, both ways (issue 17).
final class PromotionDurationTests: XCTestCase {
    func testLockWaitIsTheLockTimeoutBothWays() {
        var options = Promotion.Options(replica: "/r", masterPath: "/m")
        XCTAssertEqual(options.lockWait, .zero)
        options.lockWait = .milliseconds(1500)
        XCTAssertEqual(options.lockTimeout, 1.5)
        options.lockTimeout = 0.25
        XCTAssertEqual(options.lockWait, .milliseconds(250))
    }
}
