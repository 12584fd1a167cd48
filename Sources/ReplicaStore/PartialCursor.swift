import BinlogFormat
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// What `Replica.follow` keeps between passes so that a partial copy of the active segment is
/// read incrementally (issue 15): the reader that read the partial to its end in the last pass,
/// kept open, and the file it read (device and inode). The next pass resumes that reader
/// (`SegmentReader.resume`: only frames not read yet are read and verified, an incomplete last
/// frame is again "not yet") instead of reading the copy from its first frame and skipping
/// what the store holds.
///
/// It is used only when nothing can have changed behind it: the inbox names the same file (a
/// shipper that replaces the partial, a cron run's publish, renames a new file over it: another
/// inode), and the store is exactly at the reader's last LSN. Otherwise, and after any error or
/// a pass that stopped before the end (a bound, a signal), the pass reads the copy from the
/// start as a one-shot run does. `binlog-ship --follow` appends to the partial in place, which
/// is the case this serves.
public final class PartialCursor {
    private var reader: SegmentReader?
    private var path = ""
    private var device: UInt64 = 0
    private var inode: UInt64 = 0

    public init() {}

    /// The kept reader, resumed, when it read `path` (the same file) up to `lsn`, with its
    /// `bytesRead` before the resume; nil otherwise. The cursor gives it up: `keep` hands it
    /// back after the pass.
    func take(path: String, storeLSN lsn: UInt64) -> (reader: SegmentReader, bytesBefore: Int64)? {
        guard let r = reader else { return nil }
        reader = nil
        guard path == self.path, r.lastLSN == lsn, let id = Self.identity(path), id == (device, inode) else { return nil }
        let before = r.bytesRead
        do { try r.resume() } catch { return nil }
        return (r, before)
    }

    /// Keeps `reader`, which read the partial copy at `path` to its end.
    func keep(_ reader: SegmentReader, path: String) {
        guard let id = reader.fileIdentity() else { self.reader = nil; return }
        self.reader = reader
        self.path = path
        (device, inode) = id
    }

    private static func identity(_ path: String) -> (UInt64, UInt64)? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        return (UInt64(st.st_dev), UInt64(st.st_ino))
    }
}
