import Foundation

// The libFuzzer harness over the segment reader and `binlog-writer dump`'s decoding path.
// `tools/fuzz/build` compiles it into one module with Sources/BinlogFormat, LogshipCLI's
// Dump.swift and the test support's SegmentSurgery.swift (so their `import BinlogFormat` is
// the module itself). Each input is a segment file, read four ways: as a sealed segment and as
// an active one (a `.partial` name: torn tails allowed), each as it is and with its checksums
// repaired (SegmentSurgery.repairChecksums), so that mutations reach the decoders behind the
// checksums. Every transaction read is rendered as dump's text and JSON Lines. Any outcome but a
// return or a thrown error (a trap, a sanitizer report, a hang, a huge allocation) is a finding.

/// Where the harness writes its inputs: memory-backed when /dev/shm exists.
private let scratch: String = {
    let base = FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm" : NSTemporaryDirectory()
    let dir = base + "/logship-fuzz-\(getpid())"
    mkdir(dir, 0o700)
    atexit { _ = try? FileManager.default.removeItem(atPath: scratch) }
    return dir
}()

private let printers = [DumpPrinter(format: .text), DumpPrinter(format: .jsonl)]

/// Replaces `path`'s contents with `bytes`; false when the file system refuses.
private func put(_ bytes: [UInt8], at path: String) -> Bool {
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    guard fd >= 0 else { return false }
    defer { close(fd) }
    return bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) } == bytes.count
}

/// Reads `path` to its end as dump does; the outcome is ignored, only how it ends matters.
private func readAsDump(_ path: String, decode: Bool) {
    do {
        let reader = try SegmentReader(path: path)
        var filter = DumpFilter()
        filter.tables = ["accounts"]
        while let tx = try reader.next(decode: decode) {
            _ = filter.includes(tx)
            for p in printers { _ = p.render(tx, events: tx.events.filter(filter.includes) + tx.events, segment: "fuzz") }
        }
    } catch {
        // A refused input is the expected outcome for almost every mutation.
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func logshipFuzzOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let raw = Array(UnsafeBufferPointer(start: data, count: size))
    var repaired = raw
    SegmentSurgery.repairChecksums(&repaired)
    for (variant, bytes) in [("raw", raw), ("repaired", repaired)] {
        for suffix in ["", ".partial"] {
            let path = scratch + "/" + variant + suffix
            guard put(bytes, at: path) else { continue }
            readAsDump(path, decode: true)
            if suffix.isEmpty && variant == "raw" { readAsDump(path, decode: false) }
        }
    }
    // The payload decoder on its own, with the input as one raw payload.
    var decoder = TransactionDecoder()
    var events: [Event] = []
    _ = raw.withUnsafeBytes { try? decoder.decode($0, offset: 0, into: &events) }
    return 0
}
