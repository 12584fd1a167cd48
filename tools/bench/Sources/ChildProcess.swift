import BinlogFormat
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A failure of the benchmark itself (not a measurement): what failed and where to look.
struct BenchError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// How one child process ended: wall time from spawn to reap, and its own resource usage.
struct ChildOutcome {
    var seconds: Double
    /// The child's RSS high-water mark in KiB, as `peakSource` says.
    var maxRSSKiB: Int
    var peakSource: String
    var stdoutPath: String
    var stderrPath: String
}

/// Spawns and reaps children with posix_spawn and wait4 (Foundation's `Process` reaps its
/// children itself and never hands out their rusage).
///
/// The peak RSS of a child is subtle. ru_maxrss (from wait4 or getrusage(RUSAGE_CHILDREN))
/// is the high-water mark of the child's signal struct, and execve folds the *old* address
/// space's high-water mark into it. glibc's posix_spawn runs the child on the parent's address
/// space (CLONE_VM|CLONE_VFORK) until exec, so ru_maxrss of every spawned child is at least
/// this bench's own RSS (seen here: 28.6 MiB for every binlog-writer run, 10,000 rows or
/// 40,000, while /usr/bin/time reports 21 MiB for `binlog-writer --help`). So:
///  - children that are this binary read their own VmHWM (per address space, unaffected);
///  - binlog-writer runs under /usr/bin/time, whose fork child starts from time's tiny
///    address space, and `%M` is then the real peak; without /usr/bin/time, ru_maxrss is
///    reported and labelled an upper bound.
enum ChildProcess {
    static let timeTool = "/usr/bin/time"

    /// Runs `arguments[0]` with stdout and stderr sent to `log.out` and `log.err`;
    /// throws if it does not exit 0, quoting the end of its stderr. With `measurePeak`
    /// the child runs under /usr/bin/time (if present) for its own peak RSS.
    static func run(_ arguments: [String], log: String, measurePeak: Bool = false) throws -> ChildOutcome {
        let timed = measurePeak && FileManager.default.isExecutableFile(atPath: timeTool)
        let peakFile = log + ".maxrss"
        let argv = timed ? [timeTool, "-f", "%M", "-o", peakFile] + arguments : arguments
        var outcome = try spawn(argv, log: log)
        if timed {
            let text = (try? String(contentsOfFile: peakFile, encoding: .utf8)) ?? ""
            guard let kib = text.split(separator: "\n").last.flatMap({ Int($0.trimmingCharacters(in: .whitespaces)) }) else {
                throw BenchError("cannot read the peak RSS that \(timeTool) wrote to \(peakFile): \(text)")
            }
            outcome.maxRSSKiB = kib
            outcome.peakSource = "/usr/bin/time %M for binlog-writer"
        }
        return outcome
    }

    private static func spawn(_ arguments: [String], log: String) throws -> ChildOutcome {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        let out = log + ".out", err = log + ".err"
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, out, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_addopen(&actions, 2, err, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        let argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        defer { for p in argv { free(p) } }
        var pid: pid_t = 0
        let started = monotonicSeconds()
        let rc = posix_spawn(&pid, arguments[0], &actions, nil, argv, environ)
        guard rc == 0 else { throw BenchError("unable to start \(arguments[0]): \(String(cString: strerror(rc)))") }
        var status: Int32 = 0
        var usage = rusage()
        while wait4(pid, &status, 0, &usage) < 0 {
            guard errno == EINTR else { throw BenchError("unable to wait for \(arguments[0]): \(String(cString: strerror(errno)))") }
        }
        let seconds = monotonicSeconds() - started
        let signal = status & 0x7f, code = (status >> 8) & 0xff
        guard signal == 0, code == 0 else {
            let tail = (try? String(contentsOfFile: err, encoding: .utf8)).map { String($0.suffix(2000)) } ?? ""
            let how = signal != 0 ? "was killed by signal \(signal)" : "exited \(code)"
            throw BenchError("\((arguments[0] as NSString).lastPathComponent) \(arguments.dropFirst().joined(separator: " ")) \(how)\n\(tail)\n(log: \(err))")
        }
        return ChildOutcome(seconds: seconds, maxRSSKiB: Int(usage.ru_maxrss),
                            peakSource: "wait4 ru_maxrss for binlog-writer (an upper bound: includes this bench's RSS at spawn)",
                            stdoutPath: out, stderrPath: err)
    }

    /// The running executable (/proc/self/exe), so children are this very build.
    static func selfPath() -> String {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let n = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        guard n > 0 else { return CommandLine.arguments[0] }
        return String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

/// Seconds on the monotonic clock.
func monotonicSeconds() -> Double {
    var t = timespec()
    clock_gettime(CLOCK_MONOTONIC, &t)
    return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
}

/// This process's RSS high-water mark in KiB (VmHWM in /proc/self/status), or 0 if unreadable.
func peakResidentKiB() -> Int {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
    for line in status.split(separator: "\n") where line.hasPrefix("VmHWM:") {
        return Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "") ?? 0
    }
    return 0
}

/// Total size of the regular files in `directory` (the binlog segments).
/// Bytes of binlog data in a directory: sealed segments whole, the active segment up to the
/// end of its last transaction (the master preallocates zero-filled space after it).
func directoryBytes(_ directory: String) -> Int64 {
    let fm = FileManager.default
    let names = (try? fm.contentsOfDirectory(atPath: directory)) ?? []
    return names.reduce(0) { sum, name in
        let path = directory + "/" + name
        if name.hasSuffix(".active"), let reader = try? SegmentReader(path: path), (try? reader.verifyAll(decode: false)) != nil {
            return sum + reader.offset
        }
        let size = (try? fm.attributesOfItem(atPath: path)[.size] as? NSNumber)?.int64Value ?? 0
        return sum + size
    }
}
