import Foundation
import GRDB
#if canImport(Glibc)
import Glibc
#endif

/// The machine a run measured, printed with the figures so they can be compared.
struct Machine {
    var cpus: Int
    var cpuModel: String
    var kernel: String
    var filesystem: String
    var sqliteVersion: String
    /// Mean time of one 4 KiB append plus fdatasync in the work directory: the floor under
    /// any durable commit there.
    var fsyncMilliseconds: Double

    /// The 1-minute load average (/proc/loadavg): on a shared machine, a run with a load well
    /// above zero before or after it had company, and its figures spread more.
    static func loadAverage() -> String {
        let text = (try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8)) ?? ""
        return text.split(separator: " ").first.map(String.init) ?? "?"
    }

    static func describe(workdir: String) throws -> Machine {
        let cpuinfo = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        let model = cpuinfo.split(separator: "\n").first { $0.hasPrefix("model name") }
            .flatMap { $0.split(separator: ":", maxSplits: 1).last }.map { $0.trimmingCharacters(in: .whitespaces) } ?? "unknown"
        var names = utsname()
        uname(&names)
        let kernel = withUnsafeBytes(of: &names.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        let version = try DatabaseQueue().read { db in try String.fetchOne(db, sql: "SELECT sqlite_version()") ?? "?" }
        return Machine(cpus: sysconf(Int32(_SC_NPROCESSORS_ONLN)), cpuModel: model, kernel: kernel,
                       filesystem: filesystemType(of: workdir), sqliteVersion: version,
                       fsyncMilliseconds: try fsyncLatency(in: workdir))
    }

    /// The type of the mount holding `path`, from the longest matching mount point in /proc/mounts.
    static func filesystemType(of path: String) -> String {
        let real = (path as NSString).resolvingSymlinksInPath
        let mounts = (try? String(contentsOfFile: "/proc/mounts", encoding: .utf8)) ?? ""
        var best: (point: String, type: String) = ("", "unknown")
        for line in mounts.split(separator: "\n") {
            let fields = line.split(separator: " ")
            guard fields.count >= 3 else { continue }
            let point = String(fields[1])
            let covers = real == point || real.hasPrefix(point == "/" ? "/" : point + "/")
            if covers && point.count >= best.point.count { best = (point, String(fields[2])) }
        }
        return best.type
    }

    static func fsyncLatency(in directory: String, appends: Int = 50) throws -> Double {
        let path = directory + "/fsync-probe"
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { throw BenchError("unable to create \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd); unlink(path) }
        let block = [UInt8](repeating: 0x5a, count: 4096)
        let started = monotonicSeconds()
        for _ in 0..<appends {
            guard write(fd, block, block.count) == block.count, fdatasync(fd) == 0 else {
                throw BenchError("unable to write \(path): \(String(cString: strerror(errno)))")
            }
        }
        return (monotonicSeconds() - started) * 1000 / Double(appends)
    }

    /// The least a commit → replica trip costs on this disk, per round in ms: a 200-byte frame
    /// appended to the "master" file and fdatasynced, read back and appended to the "partial
    /// copy" and fdatasynced, and a 4 KiB page appended to the "store" and fdatasynced (the
    /// three durable steps a commit crosses), with no process hand-offs between them.
    static func shippingFloor(in directory: String, rounds: Int = 200) throws -> [Double] {
        let paths = ["floor-master", "floor-partial", "floor-store"].map { directory + "/" + $0 }
        let fds = paths.map { open($0, O_RDWR | O_CREAT | O_TRUNC | O_APPEND, 0o644) }
        defer { for (fd, path) in zip(fds, paths) { if fd >= 0 { close(fd) }; unlink(path) } }
        guard fds.allSatisfy({ $0 >= 0 }) else { throw BenchError("unable to create the floor probe files in \(directory)") }
        let frame = [UInt8](repeating: 0x5a, count: 200), page = [UInt8](repeating: 0xa5, count: 4096)
        var buffer = [UInt8](repeating: 0, count: frame.count)
        var times: [Double] = []
        for round in 0..<rounds {
            let started = monotonicSeconds()
            guard write(fds[0], frame, frame.count) == frame.count, fdatasync(fds[0]) == 0,
                  pread(fds[0], &buffer, buffer.count, off_t(round * frame.count)) == buffer.count,
                  write(fds[1], buffer, buffer.count) == buffer.count, fdatasync(fds[1]) == 0,
                  write(fds[2], page, page.count) == page.count, fdatasync(fds[2]) == 0 else {
                throw BenchError("unable to write the floor probe files: \(String(cString: strerror(errno)))")
            }
            times.append((monotonicSeconds() - started) * 1000)
        }
        return times
    }
}
