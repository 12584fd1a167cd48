import Foundation
import LogshipSystem

extension TargetStore {
    /// Copies object `key` (`size` bytes, from its listing or metadata) into `file` in ranged
    /// reads of `RemoteFetch.chunkSize`, which bounds memory whatever the object's size, handing
    /// each piece to `each` (a running digest). A piece shorter than asked is corruption naming
    /// the offset, with `hint`. The one download loop of fetch and of snapshot downloads.
    func copy(_ key: String, size: Int64, to file: FileDescriptor, verb: String, hint: String, each: ([UInt8]) -> Void = { _ in }) throws {
        var at: Int64 = 0
        while at < size {
            let end = min(size, at + Int64(RemoteFetch.chunkSize))
            let bytes = try read(key, range: at..<end)
            guard bytes.count == Int(end - at) else {
                throw ShipError(.corruption, "unable to \(verb) \(key): the source returned \(bytes.count) bytes at offset \(at), expected \(end - at)",
                                target: name, path: address(of: key), offset: at, hint: hint)
            }
            each(bytes)
            try file.write(bytes, at: at)
            at = end
        }
    }
}
