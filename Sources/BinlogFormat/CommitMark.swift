import Foundation
import LogshipSystem
#if canImport(Glibc)
import Glibc
#endif

/// The master's committed position (docs/FORMAT.md §12): `binlog/.committed`, 48 bytes the
/// master rewrites in place after every commit that SQLite accepted, naming the segment, the
/// last LSN that is committed and the last LSN the master has fdatasynced. A frame in the active segment beyond it may still be undone (the
/// master cuts its frames off again when its fsync or SQLite's COMMIT fails), so shippers copy
/// the active segment only up to this mark. The mark is never fsynced: after a crash, recovery
/// keeps every durable frame (it redoes them into the database), and the master rewrites the
/// mark when it opens.
///
/// Layout, little-endian: magic `LSCMARK1` (8), epoch (u64), sequence (u64), last LSN (u64),
/// durable LSN (u64), XXH3-64 of the 40 bytes before it (u64). A reader that catches a rewrite half done sees a
/// checksum that does not match and reads again.
public struct CommitMark: Equatable, Sendable {
    public static let fileName = ".committed"
    public static let size = 48
    static let magic: [UInt8] = Array("LSCMARK1".utf8)

    /// The segment the last committed transaction is in (its sealed or active name's epoch and
    /// sequence; sequence 0 before the master's first segment).
    public var epoch: UInt32
    public var sequence: UInt64
    public var lastLSN: UInt64
    /// The last LSN of that segment the master itself made durable (fdatasync): with
    /// `--sync-binlog 1` the same as `lastLSN`, so a shipper need not fsync the master's file
    /// again; less with a relaxed `--sync-binlog`.
    public var durableLSN: UInt64

    public init(epoch: UInt32, sequence: UInt64, lastLSN: UInt64, durableLSN: UInt64) {
        self.epoch = epoch
        self.sequence = sequence
        self.lastLSN = lastLSN
        self.durableLSN = min(durableLSN, lastLSN)
    }

    public static func path(binlogDirectory: String) -> String { binlogDirectory + "/" + fileName }

    public func encoded() -> [UInt8] {
        var w = ByteWriter(capacity: Self.size)
        w.raw(Self.magic)
        w.u64(UInt64(epoch))
        w.u64(sequence)
        w.u64(lastLSN)
        w.u64(durableLSN)
        let sum = Checksum.xxh3(w.bytes)
        w.u64(sum)
        return w.bytes
    }

    /// Nil when `bytes` is not a whole, intact mark.
    public static func decode(_ bytes: [UInt8]) -> CommitMark? {
        guard bytes.count == size, Array(bytes[0..<8]) == magic else { return nil }
        func u64(_ at: Int) -> UInt64 { (0..<8).reduce(UInt64(0)) { $0 | UInt64(bytes[at + $1]) << (8 * UInt64($1)) } }
        guard Checksum.xxh3(Array(bytes[0..<40])) == u64(40), u64(8) <= UInt64(UInt32.max), u64(32) <= u64(24) else { return nil }
        return CommitMark(epoch: UInt32(u64(8)), sequence: u64(16), lastLSN: u64(24), durableLSN: u64(32))
    }

    /// What a shipper may copy of the active segment `name`, which begins at `firstLSN`: up to
    /// the mark's LSN when the mark names it, all of it when the mark names a later segment (the
    /// master seals a segment only after its last commit), none when the mark is older.
    public func committedLimit(for name: SegmentName, firstLSN: UInt64) -> UInt64 {
        limit(lastLSN, for: name, firstLSN: firstLSN)
    }

    /// The same for what the master already made durable in `name`: a shipper fsyncs the
    /// master's file itself only for transactions beyond it.
    public func durableLimit(for name: SegmentName, firstLSN: UInt64) -> UInt64 {
        limit(durableLSN, for: name, firstLSN: firstLSN)
    }

    private func limit(_ lsn: UInt64, for name: SegmentName, firstLSN: UInt64) -> UInt64 {
        let mine = (epoch, sequence), theirs = (name.epoch, name.sequence)
        if mine == theirs { return lsn }
        return mine > theirs ? UInt64.max : firstLSN &- 1
    }

    public enum Reading: Equatable, Sendable {
        case mark(CommitMark)
        /// No `.committed` file: no master has opened this directory with a version that writes it.
        case missing
        /// The file is there but does not read as a mark (three tries).
        case damaged
    }

    /// Reads the mark of `binlogDirectory`, retrying twice when a rewrite was caught half done.
    public static func read(binlogDirectory: String) -> Reading {
        let path = path(binlogDirectory: binlogDirectory)
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        guard fd >= 0 else { return errno == ENOENT ? .missing : .damaged }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: size)
        for attempt in 0..<3 {
            let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, size, 0) }
            if n == size, let mark = decode(buffer) { return .mark(mark) }
            if attempt < 2 { usleep(1000) }
        }
        return .damaged
    }
}

/// The master's end of the mark: the file held open, rewritten with one pwrite per commit.
public final class CommitMarkWriter {
    private let file: FileDescriptor

    /// Opens (creating with the policy's file mode) `binlog/.committed`.
    public init(binlogDirectory: String) throws {
        file = try FileDescriptor(path: CommitMark.path(binlogDirectory: binlogDirectory), flags: O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW)
    }

    public func publish(_ mark: CommitMark) throws {
        try file.write(mark.encoded(), at: 0)
    }
}
