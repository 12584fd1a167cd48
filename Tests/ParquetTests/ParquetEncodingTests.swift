import Foundation
import LogshipTestSupport
@testable import Parquet
import XCTest

/// Byte-level checks of the encodings against the examples and rules of the Parquet and
/// Thrift specifications, without any reader.
final class ParquetEncodingTests: XCTestCase {
    func testHybridBitPacksTheSpecExample() {
        // Encodings.md: the values 0…7 at bit width 3 bit-pack to 10001000 11000110 11111010.
        var out: [UInt8] = []
        Encodings.hybrid(Array(0...7), bitWidth: 3, into: &out)
        XCTAssertEqual(out, [0x03, 0x88, 0xC6, 0xFA])
    }

    func testHybridRepeatsLongRunsAndPadsTheLastGroup() {
        var out: [UInt8] = []
        Encodings.hybrid(Array(repeating: 5, count: 100) + [1, 0, 1], bitWidth: 3, into: &out)
        // 100 << 1 = 200 as a varint (0xC8 0x01), value 5 in one byte; then one group of 8
        // (header 0x03) holding 1, 0, 1 and five zeros at 3 bits each.
        XCTAssertEqual(out, [0xC8, 0x01, 0x05, 0x03, 0b0100_0001, 0x00, 0x00])
    }

    func testThriftCompactFieldHeadersAndVarints() {
        var w = ThriftCompactWriter()
        w.i32(1, -1)          // delta 1, type 5; zigzag(-1) = 1
        w.i64(17, 300)        // delta 16: long form, type 6, id zigzag(17) = 34; zigzag(300) = 600
        w.bool(18, true)      // delta 1, type 1
        w.structBegin(19)     // delta 1, type 12; ids restart inside
        w.string(1, "é")      // delta 1, type 8, length 2
        w.structEnd()
        w.structEnd()
        XCTAssertEqual(w.bytes, [0x15, 0x01, 0x06, 0x22, 0xD8, 0x04, 0x11, 0x1C, 0x18, 0x02, 0xC3, 0xA9, 0x00, 0x00])
    }

    func testBitWidthIsAtLeastOne() {
        XCTAssertEqual([0, 1, 2, 3, 4, 255, 256].map(Encodings.bitWidth), [1, 1, 2, 2, 3, 8, 9])
    }

    func testRefusesNullInRequiredColumnWrongKindAndAnExistingFile() throws {
        let dir = TestDirectory("parquet-refuse")
        let path = dir.sub("a.parquet")
        let w = try ParquetWriter(path: path, columns: [ParquetColumn("id", .int64, nullable: false), ParquetColumn("s", .string)])
        XCTAssertThrowsError(try w.append([.null, .null])) {
            XCTAssertEqual(($0 as? ParquetError)?.message, "unable to write \(path) row 0: NULL in required column id")
        }
        XCTAssertThrowsError(try w.append([.int64(1), .int64(2)])) {
            XCTAssertEqual(($0 as? ParquetError)?.message, "unable to write \(path) row 0: column s is string and cannot hold int64(2)")
        }
        XCTAssertThrowsError(try ParquetWriter(path: path, columns: [ParquetColumn("x", .int64)])) {
            XCTAssertEqual(($0 as? ParquetError)?.message, "unable to create \(path): File exists")
        }
        XCTAssertThrowsError(try ParquetWriter(path: dir.sub("b.parquet"), columns: [ParquetColumn("x", .int64), ParquetColumn("x", .double)])) {
            XCTAssertEqual(($0 as? ParquetError)?.kind, .invalid)
        }
    }
}
