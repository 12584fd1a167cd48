import Foundation

/// A fresh directory under the system temp dir, removed when the test object goes away
/// (kept when LOGSHIP_KEEP_TEST_DIRS=1, for post-mortems).
public final class TestDirectory {
    public let path: String

    public init(_ label: String = "test") {
        let base = NSTemporaryDirectory() + "logship-\(label)-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try! FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true)
        path = base
    }

    public func sub(_ name: String) -> String { path + "/" + name }

    deinit {
        if ProcessInfo.processInfo.environment["LOGSHIP_KEEP_TEST_DIRS"] != "1" {
            try? FileManager.default.removeItem(atPath: path)
        }
    }
}

/// A seeded generator (SplitMix64), so every random test can print and replay its seed.
public struct SeededRandom: RandomNumberGenerator {
    public let seed: UInt64
    private var state: UInt64

    /// Uses LOGSHIP_SEED from the environment when set, otherwise a fresh seed.
    public init(seed: UInt64? = nil) {
        let env = ProcessInfo.processInfo.environment["LOGSHIP_SEED"].flatMap(UInt64.init)
        self.seed = seed ?? env ?? UInt64.random(in: 1...UInt64.max)
        state = self.seed
    }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
