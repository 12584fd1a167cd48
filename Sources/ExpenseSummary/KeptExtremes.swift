import Foundation

/// A few of a group's smallest (or largest) amounts, kept in the summary row so that removing
/// the minimum or maximum rarely needs the table (issue 16: the index that served that look-up
/// cost 56–64% of the store and most of apply's speed).
///
/// Invariant: `values` are the `values.count` most extreme amounts of the group's multiset
/// (repeats included), most extreme first, at most `capacity` of them. Any such prefix is
/// valid; when it runs empty while the group still has amounts, the caller refills it from the
/// table (`SummaryMaintainer.refill`). `covered` says whether it holds every amount of the group.
struct KeptExtremes: Equatable {
    /// How many extremes a group keeps on each side: a group's minimum is looked up in the
    /// table only after this many of its smallest amounts were removed with none smaller added.
    static let capacity = 8

    /// True for the largest amounts (maxima), false for the smallest.
    let largest: Bool
    private(set) var values: [Int64]

    init(largest: Bool, values: [Int64]) {
        self.largest = largest
        self.values = values.sorted { largest ? $0 > $1 : $0 < $1 }
        if self.values.count > Self.capacity { self.values.removeLast(self.values.count - Self.capacity) }
    }

    /// The group's minimum (or maximum), when any is known.
    var extreme: Int64? { values.first }

    private func moreExtreme(_ a: Int64, than b: Int64) -> Bool { largest ? a > b : a < b }

    /// One amount left the group (`count` amounts before, this one included). An amount past the
    /// last kept one is not kept, so nothing changes; otherwise one copy is dropped (an amount
    /// equal to the last kept one may be another copy of it: dropping it leaves a valid prefix).
    mutating func remove(_ amount: Int64) {
        guard let last = values.last, !moreExtreme(last, than: amount) else { return }
        if let i = values.firstIndex(of: amount) { values.remove(at: i) }
    }

    /// One amount joined the group, which held `count` amounts before it.
    mutating func add(_ amount: Int64, count: Int64) {
        let coversAll = Int64(values.count) == count
        guard coversAll || values.last.map({ moreExtreme(amount, than: $0) }) == true else { return }
        let i = values.firstIndex { moreExtreme(amount, than: $0) } ?? values.count
        values.insert(amount, at: i)
        if values.count > Self.capacity { values.removeLast() }
    }

    /// The stored form: the amounts as 8-byte little-endian integers, most extreme first (a
    /// decimal text list was 4 % of an apply's CPU to build and read back).
    var blob: Data {
        var out = Data(capacity: values.count * 8)
        for v in values { withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) } }
        return out
    }

    /// Reads the stored form; nil when it is not a list of 8-byte integers (then the caller refills).
    static func parse(_ blob: Data, largest: Bool) -> KeptExtremes? {
        guard blob.count % 8 == 0 else { return nil }
        var out: [Int64] = []
        out.reserveCapacity(blob.count / 8)
        blob.withUnsafeBytes { (u: UnsafeRawBufferPointer) in
            for i in stride(from: 0, to: u.count, by: 8) { out.append(Int64(littleEndian: u.loadUnaligned(fromByteOffset: i, as: Int64.self))) }
        }
        return KeptExtremes(largest: largest, values: out)
    }

    /// Applies a batch's changes to one group: `added` and `removed` are the amounts that joined
    /// and left it (the same amount in both cancels: the order inside a batch is not kept), and
    /// `count` the group's number of amounts before the batch.
    mutating func apply(added: [Int64], removed: [Int64], count: Int64) {
        let (a, r) = Self.cancel(added.sorted(), removed.sorted())
        var n = count
        // Every amount left in `r` was in the group before the batch (it was not added in it).
        for v in r { remove(v); n -= 1 }
        for v in (largest ? a.reversed() : a) { add(v, count: n); n += 1 }
    }

    /// Two sorted lists without the amounts they have in common (as multisets).
    static func cancel(_ a: [Int64], _ b: [Int64]) -> ([Int64], [Int64]) {
        var i = 0, j = 0, x: [Int64] = [], y: [Int64] = []
        while i < a.count || j < b.count {
            if j == b.count || (i < a.count && a[i] < b[j]) { x.append(a[i]); i += 1 }
            else if i == a.count || b[j] < a[i] { y.append(b[j]); j += 1 }
            else { i += 1; j += 1 }
        }
        return (x, y)
    }
}
