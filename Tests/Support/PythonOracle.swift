import Foundation

/// pyarrow and DuckDB (from PyPI, installed by tools/test) run as independent readers of the
/// Parquet files logship writes: a Python script gets the arguments and prints JSON.
public enum PythonOracle {
    /// Why the oracles cannot run here, or nil when python3 imports pyarrow and duckdb.
    public static let unavailableReason: String? = {
        guard let python = python3 else { return "python3 is not on PATH (tools/test installs it)" }
        let r = try? ToolRunner.runProcess(python, ["-c", "import pyarrow, duckdb"])
        guard let r, r.status == 0 else {
            return "python3 cannot import pyarrow and duckdb (tools/test installs them with pip): \(r?.stderr ?? "did not run")"
        }
        return nil
    }()

    static let python3: String? = {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        for dir in path.split(separator: ":") where FileManager.default.isExecutableFile(atPath: dir + "/python3") { return dir + "/python3" }
        return nil
    }()

    public struct Failure: Error, CustomStringConvertible { public var description: String }

    /// Runs `script` with `arguments` (sys.argv[1:]) and decodes its stdout as JSON.
    public static func json(_ script: String, _ arguments: [String]) throws -> Any {
        guard let python = python3 else { throw Failure(description: "python3 is not on PATH") }
        let r = try ToolRunner.runProcess(python, ["-c", script] + arguments)
        guard r.status == 0 else { throw Failure(description: "python exited \(r.status): \(r.stderr)") }
        do { return try JSONSerialization.jsonObject(with: Data(r.stdout.utf8), options: [.fragmentsAllowed]) } catch {
            throw Failure(description: "python printed no JSON: \(r.stdout.prefix(500)) \(r.stderr.prefix(500))")
        }
    }
}
