import Foundation

/// Runs the built executables as a user would and captures what they print.
public enum ToolRunner {
    public struct Result {
        public var status: Int32
        public var stdout: String
        public var stderr: String
    }

    /// The directory that holds the built products (next to the test bundle).
    public static let productsDirectory: String = {
        var candidates: [String] = []
        let arg0 = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().path
        candidates.append(arg0)
        candidates.append(Bundle.main.bundlePath)
        candidates.append(URL(fileURLWithPath: Bundle.main.bundlePath).deletingLastPathComponent().path)
        for c in candidates where FileManager.default.isExecutableFile(atPath: c + "/binlog-writer") { return c }
        // xctest bundles: .build/<triple>/debug/logshipPackageTests.xctest
        for c in candidates {
            var url = URL(fileURLWithPath: c)
            for _ in 0..<3 {
                url = url.deletingLastPathComponent()
                if FileManager.default.isExecutableFile(atPath: url.path + "/binlog-writer") { return url.path }
            }
        }
        return arg0
    }()

    public static func path(_ tool: String) -> String { productsDirectory + "/" + tool }

    /// Runs `tool` with `arguments`, feeding `stdin`, and waits for it.
    @discardableResult
    public static func run(_ tool: String, _ arguments: [String], stdin: String? = nil, environment: [String: String]? = nil) throws -> Result {
        try runProcess(path(tool), arguments, stdin: stdin, environment: environment)
    }

    /// Runs `executable` (an absolute path) and waits for it: the one process runner of the
    /// tests. stdout is read on another thread while this one reads stderr, so a command that
    /// prints more than a pipe buffer (64 KiB) to either never blocks.
    public static func runProcess(_ executable: String, _ arguments: [String], stdin: String? = nil,
                                  environment: [String: String]? = nil, directory: String? = nil) throws -> Result {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if let environment { process.environment = environment }
        if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
        let out = Pipe(), err = Pipe(), input = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = input
        try process.run()
        if let stdin { input.fileHandleForWriting.write(Data(stdin.utf8)) }
        try input.fileHandleForWriting.close()
        let outBox = DataBox()
        let group = DispatchGroup()
        group.enter()
        DispatchQueue.global().async { outBox.data = out.fileHandleForReading.readDataToEndOfFile(); group.leave() }
        let errData = err.fileHandleForReading.readDataToEndOfFile()
        group.wait()
        process.waitUntilExit()
        return Result(status: process.terminationStatus, stdout: String(decoding: outBox.data, as: UTF8.self), stderr: String(decoding: errData, as: UTF8.self))
    }
}

/// Holds bytes read on another thread (the reader finishes before the owner looks).
final class DataBox: @unchecked Sendable {
    var data = Data()
}

extension ToolRunner {
    /// Runs a system command by absolute path (mount, umount, sqlite3).
    public static func runSystem(_ executable: String, _ arguments: [String]) throws -> Result {
        try runProcess(executable, arguments)
    }
}
