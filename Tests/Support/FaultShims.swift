import Foundation

/// The LD_PRELOAD shims of tools/faults, compiled with `cc` (or Swift's clang) for the tests that need them.
public enum FaultShim {
    /// Compiles `tools/faults/<name>.c` into `<dir>/<name>.so` (once) and returns its path.
    public static func compile(_ name: String, into dir: String) throws -> String {
        let shim = dir + "/\(name).so"
        if FileManager.default.fileExists(atPath: shim) { return shim }
        let source = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../../tools/faults/\(name).c").standardized.path
        // cc where a C toolchain is installed, else the clang that comes with Swift.
        var errors = ""
        for compiler in ["cc", "clang"] {
            let r = try ToolRunner.runSystem("/usr/bin/env", [compiler, "-shared", "-fPIC", "-O2", "-o", shim, source, "-ldl"])
            if r.status == 0 { return shim }
            errors += "\(compiler): \(r.stderr) "
        }
        throw ToolMaster.Failure(description: "cannot compile \(source): \(errors)")
    }
}

/// A wall clock that a test moves while processes run under `tools/faults/clock.c`: the offset
/// (microseconds, added to CLOCK_REALTIME) lives in a file the shim reads at every call, replaced
/// by a rename so that a reader never sees half of it.
public final class SkewedClock {
    public let offsetFile: String
    public let shim: String
    /// Every offset set so far, in order.
    public private(set) var history: [Int64] = []

    public init(scratch: String) throws {
        shim = try FaultShim.compile("clock", into: scratch)
        offsetFile = scratch + "/clock-offset"
        try set(0)
    }

    /// Moves the clock of every process under the shim to real time + `microseconds`.
    public func set(_ microseconds: Int64) throws {
        let temp = offsetFile + ".new"
        try "\(microseconds)\n".write(toFile: temp, atomically: false, encoding: .utf8)
        guard rename(temp, offsetFile) == 0 else { throw ToolMaster.Failure(description: "rename \(temp): errno \(errno)") }
        history.append(microseconds)
    }

    /// The environment for a process whose clock this moves.
    public var environment: [String: String] {
        var env = ProcessInfo.processInfo.environment
        env["LD_PRELOAD"] = shim
        env["LOGSHIP_CLOCK_OFFSET_FILE"] = offsetFile
        return env
    }
}
