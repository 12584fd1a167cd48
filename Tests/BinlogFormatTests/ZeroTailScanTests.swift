@testable import BinlogFormat
import XCTest

/// `SegmentReader.allZero`, the scan of an active segment's preallocated tail (word at a time):
/// a single non-zero byte anywhere, in a whole word or in the bytes after the last word, is seen.
final class ZeroTailScanTests: XCTestCase {
    func testASingleNonZeroByteAnywhereIsSeen() {
        for length in [0, 1, 7, 8, 9, 4095, 4096, 4097, 70_001] {
            var bytes = [UInt8](repeating: 0, count: length)
            XCTAssertTrue(SegmentReader.allZero(bytes), "length \(length)")
            guard length > 0 else { continue }
            for at in Set([0, length - 1, length / 2, (length * 7) / 9]) {
                bytes[at] = UInt8(truncatingIfNeeded: at % 255 + 1)
                XCTAssertFalse(SegmentReader.allZero(bytes), "length \(length), byte \(at)")
                bytes[at] = 0
            }
        }
    }
}
