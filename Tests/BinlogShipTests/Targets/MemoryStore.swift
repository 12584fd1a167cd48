import BinlogFormat
@testable import BinlogShip
import Foundation

/// A target held in memory, for unit tests: the whole contract of `TargetStore` (keys, uploads
/// invisible until published, put-if-absent that reports a conflict and never overwrites), plus
/// faults a test switches on. Every member goes through `lock` (the shipper writes to targets
/// on several threads), hence `@unchecked Sendable`.
final class MemoryStore: TargetStore, @unchecked Sendable {
    /// Faults to inject; counts are 1-based and over the store's lifetime.
    struct Faults {
        /// The nth `publish` calls fail with an I/O error (nothing becomes visible).
        var failPublish: Set<Int> = []
        /// Reads of these keys fail with an I/O error.
        var failRead: Set<String> = []
        /// Deletes of these keys fail with an I/O error.
        var failDelete: Set<String> = []
        /// Uploads of these keys store one byte flipped (at the middle), as a bad disk would.
        var corruptUpload: Set<String> = []
        /// `checkReachable` fails: a missing bucket, an unmounted disk.
        var unreachable = false
        /// Publishing overwrites whatever is there, as a store that ignores `If-None-Match` would:
        /// a broken backend, which the conformance suite must reject.
        var overwriteExisting = false
        /// Publishing the first key waits (up to 10 s) until an upload of the second key was
        /// staged: a run that stages the next segment only after publishing this one times out.
        var publishWaitsForStage: (publish: String, stage: String)?
    }

    let name: String
    var location: String { "memory://\(name)" }
    let capabilities: TargetCapabilities = [.conditionalPut]
    private let lock = NSLock()
    private var objects: [String: [UInt8]] = [:]
    private var faults = Faults()
    private var publishes = 0
    private var journal: [String] = []
    private let staged = NSCondition()

    /// "stage KEY", "publish KEY", "drop staged KEY" in the order they happened (stage:
    /// `TargetUpload.stage`; drop: an upload aborted after it was staged).
    var events: [String] { locked { journal } }

    fileprivate func note(_ event: String) {
        staged.lock()
        locked { journal.append(event) }
        staged.broadcast()
        staged.unlock()
    }

    /// Waits until `event` is in the journal, up to `seconds`; whether it came.
    fileprivate func wait(for event: String, seconds: TimeInterval) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        staged.lock()
        defer { staged.unlock() }
        while !locked({ journal.contains(event) }) {
            if !staged.wait(until: deadline) { return locked { journal.contains(event) } }
        }
        return true
    }

    init(name: String) { self.name = name }

    func inject(_ change: (inout Faults) -> Void) { locked { change(&faults) } }

    /// The objects' bytes, for assertions.
    var snapshot: [String: [UInt8]] { locked { objects } }

    func locked<T>(_ body: () throws -> T) rethrows -> T {
        lock.lock()
        defer { lock.unlock() }
        return try body()
    }

    func address(of key: String) -> String { location + "/" + key }

    func checkReachable() throws {
        if locked({ faults.unreachable }) {
            throw ShipError(.notFound, "unable to reach \(location): injected fault", target: name, path: location, hint: "switch the fault off")
        }
    }

    func list() throws -> [TargetObject] {
        locked { objects.keys.sorted().map { TargetObject(key: $0, size: Int64(objects[$0]!.count)) } }
    }

    func stat(_ key: String) throws -> TargetObject? {
        locked { objects[key].map { TargetObject(key: key, size: Int64($0.count)) } }
    }

    func read(_ key: String, range: Range<Int64>?) throws -> [UInt8] {
        try locked {
            if faults.failRead.contains(key) { throw ShipError(.io, "unable to read \(key): injected fault", target: name, path: address(of: key)) }
            guard let bytes = objects[key] else {
                throw ShipError(.notFound, "unable to read \(key): the target has no such object", target: name, path: address(of: key))
            }
            let r = range ?? 0..<Int64(bytes.count)
            let lower = Int(min(r.lowerBound, Int64(bytes.count))), upper = Int(min(r.upperBound, Int64(bytes.count)))
            return Array(bytes[lower..<upper])
        }
    }

    func beginUpload(_ key: String) throws -> TargetUpload {
        Upload(store: self, key: key)
    }

    func delete(_ key: String) throws {
        try locked {
            if faults.failDelete.contains(key) { throw ShipError(.io, "unable to delete \(key): injected fault", target: name, path: address(of: key)) }
            objects[key] = nil
        }
    }

    /// Makes `bytes` visible under `key`, or reports why not (`TargetUpload.publish`).
    fileprivate func publish(_ key: String, _ bytes: [UInt8], replace: Bool) throws -> TargetPublication {
        if let w = locked({ faults.publishWaitsForStage }), w.publish == key, !wait(for: "stage " + w.stage, seconds: 10) {
            throw ShipError(.io, "unable to put \(key): \(w.stage) was not staged while it was published", target: name, path: address(of: key))
        }
        note("publish " + key)
        return try locked {
            publishes += 1
            if faults.failPublish.contains(publishes) {
                throw ShipError(.io, "unable to put \(key): injected fault (publish \(publishes))", target: name, path: address(of: key))
            }
            if let existing = objects[key], !replace, !faults.overwriteExisting {
                if existing == bytes { return .alreadyThere }
                let at = zip(existing, bytes).prefix { $0 == $1 }.count
                throw ShipError(.corruption, "conflict: the target already has \(key) with other bytes (\(existing.count) bytes, the upload's \(bytes.count); they differ from offset \(at)); nothing was overwritten",
                                target: name, path: address(of: key), offset: Int64(at), hint: "compare the objects")
            }
            objects[key] = bytes
            return .published
        }
    }

    fileprivate func corrupts(_ key: String) -> Bool { locked { faults.corruptUpload.contains(key) } }

    /// An upload staged in a buffer of its own, invisible until `publish`.
    final class Upload: TargetUpload {
        let key: String
        private let store: MemoryStore
        private var buffer: [UInt8] = []
        private var done = false
        private var isStaged = false

        init(store: MemoryStore, key: String) {
            self.store = store
            self.key = key
        }

        func write(_ bytes: UnsafeRawBufferPointer, at offset: Int64) throws {
            let end = Int(offset) + bytes.count
            if buffer.count < end { buffer += [UInt8](repeating: 0, count: end - buffer.count) }
            buffer.replaceSubrange(Int(offset)..<end, with: bytes)
        }

        func seal(length: Int64, check: (UnsafeRawBufferPointer) throws -> Bool) throws -> Bool {
            guard buffer.count == length else {
                throw ShipError(.corruption, "unable to seal \(key): \(buffer.count) bytes staged, expected \(length)", target: store.name, path: store.address(of: key))
            }
            if store.corrupts(key), !buffer.isEmpty { buffer[buffer.count / 2] ^= 0x01 }
            return try buffer.withUnsafeBytes { try check($0) }
        }

        func stage() throws {
            isStaged = true
            store.note("stage " + key)
        }

        func publish(replace: Bool) throws -> TargetPublication {
            isStaged = false
            guard !done else { throw ShipError(.io, "unable to publish \(key): the upload was already published or aborted", target: store.name) }
            done = true
            return try store.publish(key, buffer, replace: replace)
        }

        func abort() {
            if isStaged { store.note("drop staged " + key) }
            isStaged = false
            done = true
            buffer = []
        }
    }
}
