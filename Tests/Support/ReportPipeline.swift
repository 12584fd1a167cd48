import Foundation
import GRDB

/// A master and replicas driven only through the built tools, with sealed segments shipped by
/// copy to a temporary name and rename (binlog-ship's job, done by hand here).
public final class ReportPipeline {
    public struct Commit { public var lsn: UInt64; public var commitTime: String }
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
        public init(description: String) { self.description = description }
    }

    public let dir: TestDirectory
    public let master: String
    public let replica: String

    public init(_ label: String, segmentSize: String = "64MiB") throws {
        dir = TestDirectory(label)
        master = dir.sub("master")
        replica = dir.sub("replica")
        // No digest markers: the reports' tests count LSNs, and a rotate's marker-only
        // transaction would add one (markers are tested in DigestVerificationTests).
        try Self.check(ToolRunner.run("binlog-writer", ["init", master, "--segment-size", segmentSize, "--digest-interval", "0"]))
        try Self.check(ToolRunner.run("binlog-writer", ["exec", master, "--file", SampleSetup.sample("expenses.sql")]))
        try Self.check(ToolRunner.run("replica-apply", ["init", replica]))
    }

    @discardableResult
    public static func check(_ r: ToolRunner.Result) throws -> ToolRunner.Result {
        guard r.status == 0 else { throw Failure(description: "exit \(r.status): \(r.stderr)") }
        return r
    }

    public func sourceID() throws -> String {
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: master + "/master.json"))) as? [String: Any]
        return (json?["sourceID"] as? String) ?? "?"
    }

    /// Runs SQL on the master (from stdin) and returns the commits it printed.
    @discardableResult
    public func execAll(_ sql: String) throws -> [Commit] {
        let r = try Self.check(ToolRunner.run("binlog-writer", ["exec", master], stdin: sql))
        return r.stdout.split(separator: "\n").filter { $0.hasPrefix("lsn=") }.map { line in
            let fields = line.split(separator: " ")
            return Commit(lsn: UInt64(fields[0].dropFirst(4)) ?? 0, commitTime: String(fields[1].dropFirst("commit_time=".count)))
        }
    }

    public func exec(_ sql: String) throws -> Commit {
        guard let last = try execAll(sql).last else { throw Failure(description: "no commit for \(sql)") }
        return last
    }

    public func rotate() throws { try Self.check(ToolRunner.run("binlog-writer", ["rotate", master])) }

    public func newReplica(_ name: String) throws -> String {
        try Self.check(ToolRunner.run("replica-apply", ["init", dir.sub(name)]))
        return dir.sub(name)
    }

    /// Copies the sealed segments the inbox lacks: temp name in the inbox, then rename.
    @discardableResult
    public func ship(to target: String? = nil) throws -> Int {
        let inbox = (target ?? replica) + "/inbox"
        var count = 0
        for name in try FileManager.default.contentsOfDirectory(atPath: master + "/binlog").sorted() where name.hasSuffix(".binlog") {
            guard !FileManager.default.fileExists(atPath: inbox + "/" + name) else { continue }
            try FileManager.default.copyItem(atPath: master + "/binlog/" + name, toPath: inbox + "/.tmp-" + name)
            guard rename(inbox + "/.tmp-" + name, inbox + "/" + name) == 0 else { throw Failure(description: "rename \(name): errno \(errno)") }
            count += 1
        }
        return count
    }

    public func apply(_ target: String? = nil, _ extra: String...) throws {
        try Self.check(ToolRunner.run("replica-apply", [target ?? replica] + extra))
    }
}

/// A tool started in the background; `finish` waits for it and returns what it printed.
public final class ReportBackgroundTool {
    private let process = Process()
    private let out = Pipe(), err = Pipe()
    private let outData = ReportDataBox(), errData = ReportDataBox()
    private let group = DispatchGroup()

    public init(_ tool: String, _ arguments: [String]) throws {
        process.executableURL = URL(fileURLWithPath: ToolRunner.path(tool))
        process.arguments = arguments
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        try process.run()
        for (pipe, box) in [(out, outData), (err, errData)] {
            group.enter()
            DispatchQueue.global().async { [group] in box.data = pipe.fileHandleForReading.readDataToEndOfFile(); group.leave() }
        }
    }

    public var isRunning: Bool { process.isRunning }
    public var pid: Int32 { process.processIdentifier }

    public func terminate() { if process.isRunning { process.terminate() } }

    public struct Output { public var status: Int32; public var stdout: String; public var stderr: String }

    public func finish() -> Output {
        group.wait()
        process.waitUntilExit()
        return Output(status: process.terminationStatus, stdout: String(decoding: outData.data, as: UTF8.self),
                      stderr: String(decoding: errData.data, as: UTF8.self))
    }
}

public final class ReportDataBox: @unchecked Sendable {
    public var data = Data()
}

/// `report` run with its output counted and discarded, and its peak resident set size taken
/// from /usr/bin/time, or else by polling VmHWM in /proc/<pid>/status while it runs.
public struct ReportMeasuredRun {
    public var status: Int32 = -1
    public var stderr = ""
    public var bytes = 0
    public var lines = 0
    public var peakKB = 0

    public init(_ arguments: [String]) throws {
        let time = "/usr/bin/time"
        let useTime = FileManager.default.isExecutableFile(atPath: time)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: useTime ? time : ToolRunner.path("report"))
        process.arguments = useTime ? ["-f", "peak_kb=%M", ToolRunner.path("report")] + arguments : arguments
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let errBox = ReportDataBox()
        let group = DispatchGroup()
        group.enter()
        DispatchQueue.global().async { errBox.data = err.fileHandleForReading.readDataToEndOfFile(); group.leave() }
        var polled = 0
        let reader = out.fileHandleForReading
        while true {
            let chunk = reader.availableData
            if chunk.isEmpty { break }
            bytes += chunk.count
            lines += Self.countNewlines(chunk)
            if !useTime { polled = max(polled, Self.vmHWM(process.processIdentifier)) }
        }
        group.wait()
        process.waitUntilExit()
        status = process.terminationStatus
        stderr = String(decoding: errBox.data, as: UTF8.self)
        if useTime, let range = stderr.range(of: #"peak_kb=[0-9]+"#, options: .regularExpression) {
            peakKB = Int(stderr[range].dropFirst("peak_kb=".count)) ?? 0
        } else {
            peakKB = polled
        }
    }

    /// memchr, because a per-byte closure in a debug build took seconds on 50 MB.
    public static func countNewlines(_ data: Data) -> Int {
        data.withUnsafeBytes { (buffer: UnsafeRawBufferPointer) -> Int in
            guard var p = buffer.baseAddress else { return 0 }
            let end = p + buffer.count
            var count = 0
            while p < end, let hit = memchr(p, 10, end - p) {
                count += 1
                p = UnsafeRawPointer(hit) + 1
            }
            return count
        }
    }

    public static func vmHWM(_ pid: Int32) -> Int {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }) else { return 0 }
        return Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0
    }
}
