import BinlogApply
import Foundation
import GRDB

/// A previous export that `report export --incremental PREV` builds on: a partition (a month of
/// the expense table, or a whole unpartitioned table) whose rows have the same content digest
/// now as in PREV's manifest is a hard link to PREV's file; every other one is written anew.
/// The new export is complete on its own (a reader reads its files as those of any export and
/// gets the state at its LSN): an update or delete rewrites the month it touches, a month with
/// no rows left has no file, and nothing is written for the months that did not change.
///
/// Why digests and not the binlog: the replica's inbox may have been pruned since PREV, and the
/// digest (the same `ContentDigest` as the manifest's) needs only the store, read once more.
struct PreviousExport {
    /// One file of PREV that may be reused, by its absolute path.
    struct File {
        var path: String
        var entry: ParquetExport.Manifest.File
        var lsn: UInt64
    }

    let path: String
    let manifest: ParquetExport.Manifest

    /// Reads PREV's manifest; a directory without one, or with another format, is refused.
    init(_ directory: String) throws {
        path = URL(fileURLWithPath: directory).standardizedFileURL.path
        let file = path + "/manifest.json"
        guard let data = FileManager.default.contents(atPath: file) else {
            throw ReportError(.notFound, "unable to read the previous export's manifest \(file)", hint: "give --incremental the directory of an earlier report export")
        }
        let m: ParquetExport.Manifest
        do { m = try JSONDecoder().decode(ParquetExport.Manifest.self, from: data) } catch {
            throw ReportError(.invalid, "unable to read the previous export's manifest \(file): \(error)", hint: "give --incremental the directory of an earlier report export")
        }
        guard m.format == "logship-parquet-export", m.version == 1 else {
            throw ReportError(.invalid, "unable to build on \(file): format \(m.format) version \(m.version) is not logship-parquet-export 1",
                              hint: "export without --incremental")
        }
        manifest = m
    }

    /// PREV must come from the same master and not be ahead of the data exported now.
    func check(_ freshness: Freshness) throws {
        guard manifest.sourceID == freshness.sourceID else {
            throw ReportError(.invalid, "unable to build on the export \(path): it is of source \(manifest.sourceID), the store follows \(freshness.sourceID)",
                              hint: "give --incremental an export of this replica's master")
        }
        guard manifest.lsn <= freshness.lsn else {
            throw ReportError(.invalid, "unable to build on the export \(path): it is at LSN \(manifest.lsn), past the store's LSN \(freshness.lsn)",
                              hint: "export without --incremental, or wait until the replica has applied LSN \(manifest.lsn)")
        }
    }

    /// The files of PREV the table may reuse: only when PREV exported it with the same columns
    /// and partitioning, and only files whose manifest entry has a content digest.
    func reusable(_ exporter: TableExporter) -> [String: File] {
        guard let t = manifest.tables.first(where: { $0.name == exporter.shape.name }),
              t.columns == exporter.columns.map({ .init(name: $0.name, declaredType: $0.declared, parquetType: $0.kind.rawValue, nullable: $0.nullable) }),
              t.partitionedBy == exporter.partitionIndex.map({ "month of \(exporter.columns[$0].name)" }) else { return [:] }
        var out: [String: File] = [:]
        for f in t.files where f.contentDigest != nil {
            out[f.partition ?? ""] = File(path: path + "/" + f.path, entry: f, lsn: f.writtenAtLSN ?? manifest.lsn)
        }
        return out
    }
}

extension TableExporter {
    /// First pass of an incremental export: each partition's digest now, and a hard link to
    /// PREV's file for each one that is unchanged; returns their manifest entries by key.
    func linkUnchanged(_ db: Database, _ encoder: inout RowEncoder) throws -> [String: ParquetExport.Manifest.File] {
        var digests: [String: ContentDigest] = partitionIndex == nil ? ["": ContentDigest()] : [:]
        try scan(db, &encoder) { key, _, _, hash in digests[key, default: ContentDigest()].insert(hash) }
        var linked: [String: ParquetExport.Manifest.File] = [:]
        for (key, d) in digests.sorted(by: { $0.key < $1.key }) {
            guard let old = reusable[key], old.entry.rows == d.rows, old.entry.contentDigest == Self.hex(d) else { continue }
            var f = old.entry
            let target = (directory as NSString).deletingLastPathComponent + "/" + f.path
            if !key.isEmpty, partitionIndex != nil { try ParquetExport.makeDirectory((target as NSString).deletingLastPathComponent) }
            guard try hardLink(old, to: target) else { continue }
            f.writtenAtLSN = old.lsn
            f.linkedFrom = old.path
            linked[key] = f
        }
        return linked
    }

    /// Hard-links PREV's file after checking it is the size its manifest says; false when the
    /// two exports are on different file systems (then the partition is written instead).
    private func hardLink(_ old: PreviousExport.File, to target: String) throws -> Bool {
        var st = stat()
        guard stat(old.path, &st) == 0 else { throw ParquetExport.ioError("read the previous export's file", old.path, errno) }
        guard Int64(st.st_size) == old.entry.bytes else {
            throw ReportError(.mismatch, "unable to reuse \(old.path): it has \(st.st_size) bytes, its manifest says \(old.entry.bytes)",
                              hint: "the previous export was changed after it was written: export without --incremental")
        }
        guard link(old.path, target) == 0 else {
            let code = errno
            if code == EXDEV { return false }
            throw ParquetExport.ioError("hard-link \(old.path) to", target, code)
        }
        return true
    }
}
