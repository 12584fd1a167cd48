import Foundation

// The format's times as `Date`s (issue 17): each next to the raw microseconds since 1970 UTC that
// the bytes hold (docs/FORMAT.md), through the one conversion in LogshipSystem.

extension Transaction {
    /// `commitTime` as a `Date`.
    public var commitDate: Date { Date(binlogMicroseconds: commitTime) }
}

extension FrameHeader {
    /// `commitTime` as a `Date`.
    public var commitDate: Date { Date(binlogMicroseconds: commitTime) }
}

extension SegmentHeader {
    /// `createdAt` as a `Date`.
    public var createdDate: Date { Date(binlogMicroseconds: createdAt) }
}

extension SegmentFooter {
    /// `lastCommitTime` as a `Date`.
    public var lastCommitDate: Date { Date(binlogMicroseconds: lastCommitTime) }
    /// `sealedAt` as a `Date`.
    public var sealedDate: Date { Date(binlogMicroseconds: sealedAt) }
}
