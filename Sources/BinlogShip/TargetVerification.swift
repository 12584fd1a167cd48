import BinlogFormat
import Foundation

/// `verify TARGET`: checks a replica inbox (checksums, hash chain, LSN continuity, the
/// partial copy), and tells a segment that is not shipped yet (the source has it, the target
/// is simply behind: fine) from one that is lost (the target had it, or holds later ones).
public struct TargetVerification: Codable, Sendable {
    public enum Outcome: String, Codable, Sendable {
        case clean, lost, corruption
    }

    public var target: String
    public var path: String
    public var outcome: Outcome = .clean
    public var segments = 0
    public var firstSegment: String?
    public var lastSegment: String?
    public var firstLSN: UInt64?
    public var lastLSN: UInt64?
    public var transactions: UInt64 = 0
    public var bytes: Int64 = 0
    /// The partial copy of the active segment, when the target has a valid one.
    public var partial: String?
    public var partialLastLSN: UInt64?
    /// Sealed segments the source has that are newer than anything in the target.
    public var notShippedYet: [String] = []
    /// Segments the target should hold but does not.
    public var lost: [String] = []
    public var problem: String?
    public var file: String?
    public var offset: Int64?
    public var warnings: [String] = []

    /// Verifies `nameOrPath`: a configured target's name, or any directory. The source and the
    /// state (from `config`, when it names a source) tell what is not shipped yet and what was.
    public static func run(_ nameOrPath: String, config: ShipConfig, decode: Bool = true) throws -> TargetVerification {
        var state: ShipState.TargetState?
        var source: ShipSource.Listing?
        let target = config.target(nameOrPath) ?? ShipTarget(path: nameOrPath)
        if let path = config.source {
            let (s, stateDirectory) = try config.resolveSource(path)
            if config.openStore(target).localDirectory != nil { try s.checkNotOverlapping(target) }
            source = try s.list()
            state = try ShipState.load(directory: stateDirectory)?.targets[target.name]
        }
        let store = config.openStore(target)
        try store.checkReachable()
        var v = TargetVerification(target: target.name, path: store.location)
        let view = try LocalView(store)
        defer { view.close() }
        try v.check(store, view, decode: decode, state: state, source: source)
        v.problem = v.problem.map(view.describe)
        v.file = v.file.map(view.describe)
        v.warnings = v.warnings.map(view.describe)
        return v
    }

    private mutating func check(_ store: TargetStore, _ view: LocalView, decode: Bool, state: ShipState.TargetState?, source: ShipSource.Listing?) throws {
        let dir = BinlogDirectory(path: view.directory)
        let sealed = try dir.list().segments.filter { !$0.name.isActive }
        let report = try dir.verify(decode: decode, expectedSource: state?.sourceID.flatMap(UUID.init(uuidString:)))
        segments = sealed.count
        (firstLSN, lastLSN, transactions, bytes) = (report.firstLSN, report.lastLSN, report.transactions, report.bytes)
        firstSegment = sealed.first?.name.description
        lastSegment = sealed.last?.name.description
        warnings = report.warnings
        lost = Self.holes(in: sealed.map(\.name))
        if let stateLast = state?.lastSegment.flatMap(SegmentName.parse), sealed.last.map({ $0.name < stateLast }) ?? true {
            let newestHere = sealed.last?.name
            let shippedButGone = (source?.sealed.map(\.name) ?? [stateLast]).filter { name in
                name <= stateLast && (newestHere.map { name > $0 } ?? true)
            }
            lost += shippedButGone.map(\.description)
            if !lost.contains(stateLast.description) { lost.append(stateLast.description) }
        }
        notShippedYet = (source?.sealed(after: sealed.last?.name) ?? []).map(\.name.description).filter { !lost.contains($0) }
        if let source, let differs = try Self.firstDifference(sealed, from: source) {
            outcome = .corruption
            (problem, file, offset) = (differs.description, differs.path, differs.offset)
        } else if let p = report.problem {
            outcome = report.outcome == .gap ? .lost : .corruption
            (problem, file, offset) = (p.description, p.path, p.offset)
            if outcome == .lost && lost.isEmpty { lost.append(p.message) }
        } else if !lost.isEmpty {
            outcome = .lost
            problem = "the target lacks " + lost.joined(separator: ", ") + ", which the shipper delivered: lost"
        }
        if outcome != .corruption { try checkPartial(store, view, sealed: sealed, decode: decode) }
    }

    /// The first sealed segment of the target whose copy is not the source's segment of that
    /// name, as a corruption error naming the copy and the first differing offset. A copy that
    /// is valid on its own (a forged or substituted chain) passes every check of the target
    /// alone (issue 12); only the source can tell. Same size and same footer (whose checksum
    /// covers every byte before it, and which the target's own check holds the bytes to) count
    /// as identical; anything else is compared byte for byte to find the offset.
    static func firstDifference(_ sealed: [BinlogDirectory.Entry], from source: ShipSource.Listing) throws -> ShipError? {
        let originals = Dictionary(source.sealed.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        for copy in sealed {
            guard let original = originals[copy.name] else { continue }
            if copy.size == original.size, let a = try? SegmentReader(path: copy.path).footer, let b = try? SegmentReader(path: original.path).footer, a == b { continue }
            guard let at = try FileComparison.firstDifference(copy.path, original.path, length: max(copy.size, original.size)) else { continue }
            return ShipError(.corruption, "\(copy.name) in the target differs from the source's \(original.path) from offset \(at) (\(copy.size) bytes, the source's \(original.size)): a forged, substituted or damaged copy",
                             path: copy.path, offset: at,
                             hint: "move the copy aside, run `binlog-ship forget` for this target, and ship again; a replica that applied it must be rebuilt")
        }
        return nil
    }

    /// Missing sequence numbers between sealed segments of one epoch.
    static func holes(in names: [SegmentName]) -> [String] {
        var out: [String] = []
        for (a, b) in zip(names, names.dropFirst()) where a.epoch == b.epoch && b.sequence > a.sequence + 1 {
            out += (a.sequence + 1..<b.sequence).map { SegmentName(epoch: a.epoch, sequence: $0).description }
        }
        return out
    }

    /// A partial copy must read cleanly to its end (the shipper copies whole transactions
    /// only) and follow the newest sealed segment; one whose sealed segment is there is stale.
    private mutating func checkPartial(_ store: TargetStore, _ view: LocalView, sealed: [BinlogDirectory.Entry], decode: Bool) throws {
        let partials = try store.list().compactMap { o in TargetKeys.segment(ofPartial: o.key).map { (o.key, $0) } }
        for (file, name) in partials {
            let path = view.path(of: file)
            if sealed.contains(where: { $0.name >= name }) {
                warnings.append("\(file) is superseded by sealed segments; the next ship run removes it")
                continue
            }
            do {
                let reader = try SegmentReader(path: path)
                try reader.verifyAll(decode: decode)
                if let torn = reader.tornTailOffset {
                    throw FormatError(.corrupted, "partial copy ends inside a transaction (\(reader.tornTailReason ?? "incomplete"))", path: path, offset: torn)
                }
                if let last = sealed.last {
                    try VerifiedSegment.position(of: last).checkFollowed(by: reader.header, name: name, path: path)
                }
                partial = file
                partialLastLSN = reader.lastLSN
            } catch {
                let e = shipError(error)
                outcome = e.kind == .gap ? .lost : .corruption
                (problem, self.file, offset) = (e.description, e.path, e.offset)
                return
            }
        }
    }
}
