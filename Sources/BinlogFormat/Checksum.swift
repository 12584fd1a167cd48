import CXXHash
import Foundation

/// XXH3-64 from Debian's libxxhash: fast enough to verify every frame on every read
/// (several GB/s), and the 64 bits make an accidental match between a corrupt and a good
/// segment vanishingly rare, which the hash chain between segments relies on.
public enum Checksum {
    public static func xxh3<C: ContiguousBytes>(_ data: C) -> UInt64 {
        data.withUnsafeBytes { XXH3_64bits($0.baseAddress, $0.count) }
    }

    public static func xxh3(_ buffer: UnsafeRawBufferPointer) -> UInt64 {
        XXH3_64bits(buffer.baseAddress, buffer.count)
    }
}

/// A streaming XXH3-64 over many writes; the state is owned and freed with the instance.
public final class StreamingChecksum {
    private let state: OpaquePointer

    public init() {
        guard let s = XXH3_createState() else { fatalError("XXH3_createState: out of memory") }
        state = s
        XXH3_64bits_reset(state)
    }

    deinit { XXH3_freeState(state) }

    public func update(_ buffer: UnsafeRawBufferPointer) {
        guard buffer.count > 0 else { return }
        XXH3_64bits_update(state, buffer.baseAddress, buffer.count)
    }

    public func update<C: ContiguousBytes>(_ data: C) {
        data.withUnsafeBytes { update($0) }
    }

    public var digest: UInt64 { XXH3_64bits_digest(state) }

    /// A copy of the running state, so a caller can roll back to it after a failed write.
    public func copy() -> StreamingChecksum {
        let other = StreamingChecksum()
        XXH3_copyState(other.state, state)
        return other
    }
}
