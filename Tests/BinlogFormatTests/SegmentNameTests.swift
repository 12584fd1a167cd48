import BinlogFormat
import XCTest

/// docs/FORMAT.md §8: the parser accepts exactly what the formatter writes, and names sort in log order.
final class SegmentNameTests: XCTestCase {
    func testFormatterWritesFixedWidthLowercaseHex() {
        XCTAssertEqual(SegmentName(epoch: 1, sequence: 1).description, "00000001-0000000000000001.binlog")
        XCTAssertEqual(SegmentName(epoch: 0xAB, sequence: 0xCDEF, isActive: true).description, "000000ab-000000000000cdef.binlog.active")
        XCTAssertEqual(SegmentName(epoch: .max, sequence: .max).description, "ffffffff-ffffffffffffffff.binlog")
    }

    func testParseRoundTripsEveryFormattedName() {
        let epochs: [UInt32] = [1, 2, 9, 0xA, 0xF, 0x10, 0xFF, 0x100, 0xDEAD_BEEF, .max]
        let sequences: [UInt64] = [1, 2, 9, 0xA, 0xF, 0x10, 0xFFFF, 0x1_0000, 0x0123_4567_89AB_CDEF, .max - 1, .max]
        for epoch in epochs {
            for sequence in sequences {
                for active in [false, true] {
                    let name = SegmentName(epoch: epoch, sequence: sequence, isActive: active)
                    let text = name.description
                    XCTAssertEqual(text.utf8.count, active ? 39 : 32, text)
                    XCTAssertEqual(SegmentName.parse(text), name, text)
                }
            }
        }
    }

    func testSealedAndActiveViewsKeepEpochAndSequence() {
        let name = SegmentName(epoch: 3, sequence: 42)
        XCTAssertEqual(name.active.description, "00000003-000000000000002a.binlog.active")
        XCTAssertEqual(name.active.sealed, name)
        XCTAssertTrue(SegmentName.parse("00000003-000000000000002a.binlog.active")!.isActive)
        XCTAssertFalse(SegmentName.parse("00000003-000000000000002a.binlog")!.isActive)
    }

    func testParseRejectsAnythingTheFormatterWouldNotWrite() {
        let rejected = [
            "",
            ".binlog",
            "00000001-0000000000000001",
            "0000000A-0000000000000001.binlog",           // upper-case hex
            "00000001-000000000000000A.binlog",
            "00000001-000000000000000a.BINLOG",
            "0000001-0000000000000001.binlog",            // 7-digit epoch
            "000000001-0000000000000001.binlog",          // 9-digit epoch
            "00000001-000000000000001.binlog",            // 15-digit sequence
            "00000001-00000000000000001.binlog",          // 17-digit sequence
            "000000001-000000000000001.binlog",           // right total width, wrong split
            "00000000-0000000000000001.binlog",           // epoch 0
            "00000001-0000000000000000.binlog",           // sequence 0
            "00000000-0000000000000000.binlog.active",
            "00000001-0000000000000001.binlog.partial",   // other suffixes
            "00000001-0000000000000001.binlog.tmp",
            "00000001-0000000000000001.binlog.active.active",
            "00000001-0000000000000001.log",
            "00000001-0000000000000001.binlo",
            "00000001-0000000000000001.binlog.",
            "00000001_0000000000000001.binlog",           // wrong separator
            "00000001/0000000000000001.binlog",
            "dir/00000001-0000000000000001.binlog",       // paths
            "/00000001-0000000000000001.binlog",
            "./00000001-0000000000000001.binlog",
            "0000000/-0000000000000001.binlog",
            " 00000001-0000000000000001.binlog",          // spaces
            "00000001-0000000000000001.binlog ",
            "00000001-0000000000000001.binlog.active ",
            "00000001 -000000000000001.binlog",
            "00000001-0000000000000001.binlog\n",
            "\t00000001-0000000000000001.binlog",
            "+0000001-0000000000000001.binlog",           // signs and prefixes
            "-0000001-0000000000000001.binlog",
            "0x000001-0000000000000001.binlog",
            "00000001-0x00000000000001.binlog",
            "00000001--000000000000001.binlog",
            "0000000g-0000000000000001.binlog",
            "00000001-000000000000000g.binlog",
            "0000000１-0000000000000001.binlog",           // full-width digit
            "0000000\u{0661}-0000000000000001.binlog",    // Arabic-Indic digit
            ".tmp-1-2-00000001-0000000000000001.binlog",
        ]
        for name in rejected {
            XCTAssertNil(SegmentName.parse(name), "parse accepted \(name.debugDescription)")
        }
    }

    /// A partial copy of the active segment (docs/SHIPPING.md) is named by the sealed name plus
    /// `.partial`; its parser is as strict as `parse`.
    func testPartialCopyNamesRoundTripAndNothingElseParses() {
        for name in [SegmentName(epoch: 1, sequence: 1), SegmentName(epoch: 0xAB, sequence: 0x2A, isActive: true), SegmentName(epoch: .max, sequence: .max)] {
            XCTAssertEqual(name.partialFileName, name.sealed.description + ".partial")
            XCTAssertEqual(SegmentName.parsePartial(name.partialFileName), name.sealed, name.partialFileName)
            XCTAssertNil(SegmentName.parse(name.partialFileName), "a partial copy is never taken for a segment")
        }
        let rejected = [
            "00000001-000000000000002a.binlog",           // segments themselves
            "00000001-000000000000002a.binlog.active",
            "00000001-000000000000002a.binlog.active.partial",
            "00000001-000000000000002a.binlog.partial.partial",
            "00000001-000000000000002A.binlog.partial",   // what parse rejects, with .partial
            "00000000-000000000000002a.binlog.partial",
            "00000001-000000000000002a.partial",
            "00000001-000000000000002a.binlog.Partial",
            "00000001-000000000000002a.binlog.partial ",
            "00000001-000000000000002a.binlog.partial\n",
            "dir/00000001-000000000000002a.binlog.partial",
            ".tmp-1-2-00000001-000000000000002a.binlog.partial",
            ".partial",
            "",
        ]
        for name in rejected { XCTAssertNil(SegmentName.parsePartial(name), "parsePartial accepted \(name.debugDescription)") }
    }

    func testNamesSortInLogOrderAsStringsAndAsValues() {
        var ordered: [SegmentName] = []
        for epoch: UInt32 in [1, 2, 0xF, 0x10, 0xA0] {
            for sequence: UInt64 in [1, 2, 9, 0xA, 0xF, 0x10, 0xFF, 0x100, 0xFFFF_FFFF, 0x1_0000_0000, .max] {
                ordered.append(SegmentName(epoch: epoch, sequence: sequence))
            }
        }
        ordered.append(SegmentName(epoch: 0xA1, sequence: 1, isActive: true))
        let seed = testSeed(default: 0x5E6_0001)
        var rng = SeededGenerator(seed: seed)
        for _ in 0..<5 {
            let shuffled = ordered.shuffled(using: &rng)
            XCTAssertEqual(shuffled.sorted(), ordered, "seed \(seed)")
            XCTAssertEqual(shuffled.map(\.description).sorted(), ordered.map(\.description), "seed \(seed)")
        }
        // Within a segment's life, the active name sorts after the sealed one it will become.
        XCTAssertLessThan(SegmentName(epoch: 1, sequence: 5), SegmentName(epoch: 1, sequence: 5, isActive: true))
        XCTAssertLessThan(SegmentName(epoch: 1, sequence: 5, isActive: true), SegmentName(epoch: 1, sequence: 6))
    }
}
