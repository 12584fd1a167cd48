import BinlogFormat
import Foundation
import XCTest

/// ByteReader checks the remaining length before every read: a declared length can never read
/// past the end of the input or make it allocate more than the input holds.
final class ByteReaderTests: XCTestCase {
    private func withReader<T>(_ bytes: [UInt8], baseOffset: Int64 = 0, _ body: (inout ByteReader) throws -> T) rethrows -> T {
        try bytes.withUnsafeBytes { buffer in
            var r = ByteReader(buffer, baseOffset: baseOffset)
            return try body(&r)
        }
    }

    private func assertCorrupted(_ bytes: [UInt8], baseOffset: Int64 = 0, offset expected: Int64? = nil, file: StaticString = #filePath, line: UInt = #line,
                                 _ body: (inout ByteReader) throws -> Void) {
        bytes.withUnsafeBytes { buffer in
            var r = ByteReader(buffer, baseOffset: baseOffset)
            let e = expectFormatError(file: file, line: line) { try body(&r) }
            XCTAssertEqual(e?.kind, .corrupted, file: file, line: line)
            XCTAssertNotNil(e?.offset, file: file, line: line)
            if let expected { XCTAssertEqual(e?.offset, expected, file: file, line: line) }
        }
    }

    func testLittleEndianFixedWidthLayout() throws {
        var w = ByteWriter()
        w.u8(0xAB); w.u16(0x0102); w.u32(0x0304_0506); w.u64(0x0708_090A_0B0C_0D0E); w.i64(-2)
        XCTAssertEqual(w.bytes, [0xAB, 0x02, 0x01, 0x06, 0x05, 0x04, 0x03, 0x0E, 0x0D, 0x0C, 0x0B, 0x0A, 0x09, 0x08, 0x07,
                                 0xFE, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF])
        try withReader(w.bytes) { r in
            XCTAssertEqual(try r.u8(), 0xAB)
            XCTAssertEqual(try r.u16(), 0x0102)
            XCTAssertEqual(try r.u32(), 0x0304_0506)
            XCTAssertEqual(try r.u64(), 0x0708_090A_0B0C_0D0E)
            XCTAssertEqual(try r.i64(), -2)
            XCTAssertTrue(r.isAtEnd)
        }
    }

    func testVarintsAreLEB128AndZigzag() throws {
        let unsigned: [(UInt64, [UInt8])] = [
            (0, [0x00]), (1, [0x01]), (127, [0x7F]), (128, [0x80, 0x01]), (300, [0xAC, 0x02]), (16_384, [0x80, 0x80, 0x01]),
            (.max, [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]),
        ]
        for (value, bytes) in unsigned {
            var w = ByteWriter(); w.uvarint(value)
            XCTAssertEqual(w.bytes, bytes, "\(value)")
            XCTAssertEqual(try withReader(bytes) { try $0.uvarint() }, value)
        }
        let signed: [(Int64, [UInt8])] = [
            (0, [0x00]), (-1, [0x01]), (1, [0x02]), (-2, [0x03]), (63, [0x7E]), (-64, [0x7F]), (64, [0x80, 0x01]),
            (.max, [0xFE, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]),
            (.min, [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]),
        ]
        for (value, bytes) in signed {
            var w = ByteWriter(); w.svarint(value)
            XCTAssertEqual(w.bytes, bytes, "\(value)")
            XCTAssertEqual(try withReader(bytes) { try $0.svarint() }, value)
        }
    }

    func testVarintLongerThanTenBytesThrows() {
        assertCorrupted([UInt8](repeating: 0x80, count: 10) + [0x00]) { _ = try $0.uvarint() }
        assertCorrupted([UInt8](repeating: 0xFF, count: 10) + [0x01]) { _ = try $0.uvarint() }
        assertCorrupted([UInt8](repeating: 0x80, count: 20) + [0x00]) { _ = try $0.svarint() }
        // Ten bytes whose last one carries more than the 64th bit overflow too.
        assertCorrupted([UInt8](repeating: 0xFF, count: 9) + [0x02], baseOffset: 100, offset: 109) { _ = try $0.uvarint() }
        // A varint cut short by the end of input.
        assertCorrupted([0x80, 0x80]) { _ = try $0.uvarint() }
        assertCorrupted([]) { _ = try $0.uvarint() }
    }

    func testDeclaredLengthLargerThanInputThrowsBeforeReading() {
        for declared: UInt64 in [4, 5, 1 << 31, 1 << 40, UInt64(Int.max), .max] {
            var w = ByteWriter()
            w.uvarint(declared)
            w.raw([1, 2, 3])
            let bytes = w.bytes
            assertCorrupted(bytes, baseOffset: 5_000, offset: 5_000) { _ = try $0.length("blob length") }
            assertCorrupted(bytes, baseOffset: 5_000) { _ = try $0.lengthPrefixedData("blob") }
            assertCorrupted(bytes, baseOffset: 5_000) { _ = try $0.string("text") }
        }
        // Exactly the remaining length is fine.
        XCTAssertEqual(try withReader([3, 1, 2, 3]) { try $0.lengthPrefixedData("blob") }, Data([1, 2, 3]))
        XCTAssertEqual(try withReader([0]) { try $0.lengthPrefixedData("blob") }, Data())
    }

    func testFixedReadsPastTheEndThrow() {
        assertCorrupted([1, 2, 3], baseOffset: 10, offset: 10) { _ = try $0.u32() }
        assertCorrupted([1, 2, 3, 4, 5, 6, 7]) { _ = try $0.u64() }
        assertCorrupted([1]) { _ = try $0.u16() }
        assertCorrupted([]) { _ = try $0.u8() }
        assertCorrupted([UInt8](repeating: 0, count: 15)) { _ = try $0.uuid() }
        assertCorrupted([1, 2, 3]) { _ = try $0.rawBytes(4, "raw") }
        assertCorrupted([1, 2, 3]) { _ = try $0.rawBytes(-1, "raw") }
        assertCorrupted([1, 2, 3]) { _ = try $0.data(.max, "raw") }
        assertCorrupted([1, 2, 3]) { r in _ = try r.u16(); _ = try r.u16() }
    }

    func testPositionDoesNotMovePastTheEndAfterAFailedRead() throws {
        try withReader([1, 2, 3]) { r in
            _ = try r.u8()
            XCTAssertThrowsError(try r.u32())
            XCTAssertEqual(r.position, 1)
            XCTAssertEqual(r.remaining, 2)
            XCTAssertEqual(try r.u16(), 0x0302)
        }
    }

    func testStringRejectsInvalidUTF8() {
        assertCorrupted([2, 0xC3, 0x28], baseOffset: 7, offset: 7) { _ = try $0.string("name") }
    }
}
