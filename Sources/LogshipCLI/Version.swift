import BinlogFormat
import BuildInfo

/// The `--version` text of every tool: release, commit, and the file formats it reads and
/// writes, so an operator can tell which builds can read which archives.
public func versionText(tool: String) -> String {
    let segments = SegmentHeader.readableVersions
    return """
        \(tool) \(BuildInfo.release) (commit \(BuildInfo.commit))
        binlog segments: reads versions \(segments.lowerBound)-\(segments.upperBound), writes \(SegmentHeader.digestVersion) (\(SegmentHeader.currentVersion) with digest markers off, \(SegmentHeader.signedVersion) with a signing key, \(SegmentHeader.encryptedVersion) with an encryption key)
        master.json, replica.json: version 1
        """
}
