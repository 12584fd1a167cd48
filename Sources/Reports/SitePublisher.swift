import BinlogFormat
import Foundation

/// Publishes a whole site at once. `DIR` is a symbolic link to a versioned directory beside it
/// (`<name>.site-<UTC time>-<pid>`); a new version is built in `.<name>.building-<pid>`, every
/// file fsynced as it is written, the directory fsynced, renamed to its version name, and then
/// a new link is renamed over `DIR`. rename(2) of a link is atomic, so a reader opens either
/// the old site or the new one, never a mix; rename cannot replace a non-empty directory,
/// so a plain `DIR` swapped by two renames (`DIR` → `DIR.previous`, new → `DIR`) would
/// leave a moment with no site at all. The previous version is kept (a reader part-way
/// through its pages keeps working, and it can be linked back by hand); older ones are removed.
public final class SitePublisher {
    public let directory: String
    let parent: String
    let name: String
    /// Where the new version is being built.
    public let building: String
    private let lock: DirectoryLock
    private var published = false

    /// Takes the site's lock (one run at a time: exit 12 for an overlapping one), refuses a `DIR`
    /// that is not a link made by an earlier run, and creates the build directory.
    public init(directory: String) throws {
        var dir = (directory as NSString).standardizingPath
        while dir.count > 1 && dir.hasSuffix("/") { dir.removeLast() }
        self.directory = dir
        let p = (dir as NSString).deletingLastPathComponent
        parent = p.isEmpty ? "." : p
        name = (dir as NSString).lastPathComponent
        building = parent + "/.\(name).building-\(getpid())"
        do {
            lock = try DirectoryLock(path: parent + "/.\(name).lock", timeout: 0)
        } catch let busy as DirectoryLock.Busy {
            throw ReportError(.busy, "unable to publish the site \(dir): another report site run holds \(busy.path)" + (busy.holderPID.map { " (pid \($0))" } ?? ""),
                              hint: "that run publishes the same site; this one can stop")
        } catch {
            throw ReportError(.io, "unable to lock the site \(dir): \(error)", hint: "check that \(parent) exists and is writable")
        }
        try checkTarget()
        removeStaleBuilds()
        guard mkdir(building, FilePermissions.directory) == 0, chmod(building, FilePermissions.directory) == 0 else { throw Self.ioError("unable to create the build directory \(building)") }
    }

    deinit { if !published { Self.removeTree(building) } }

    /// `DIR` must be absent or a symbolic link: a real directory or file there is not ours to replace.
    private func checkTarget() throws {
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: directory) else {
            if !FileManager.default.fileExists(atPath: directory) && (try? FileManager.default.destinationOfSymbolicLink(atPath: directory)) == nil { return }
            throw ReportError(.io, "unable to inspect \(directory)", hint: "check its permissions")
        }
        // attributesOfItem does not follow a final symbolic link (lstat).
        guard attributes[.type] as? FileAttributeType == .typeSymbolicLink else {
            throw ReportError(.exists, "unable to publish the site at \(directory): it exists and is not the symbolic link report site keeps there",
                              hint: "move it away or choose another DIR; report site makes DIR a link to a versioned directory beside it and swaps the link")
        }
    }

    /// Build directories of runs that died (the lock is ours, so none is in use).
    private func removeStaleBuilds() {
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: parent)) ?? [] where entry.hasPrefix(".\(name).building-") {
            Self.removeTree(parent + "/" + entry)
        }
    }

    /// Makes the built version durable, swaps the link to it, and removes versions older than the previous one.
    public func publish(now: Date = Date()) throws {
        try Self.fsyncPath(building)
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyyMMdd'T'HHmmss.SSS'Z'"
        let version = "\(name).site-\(formatter.string(from: now))-\(getpid())"
        guard rename(building, parent + "/" + version) == 0 else { throw Self.ioError("unable to rename \(building) to \(version)") }
        published = true
        let previous = (try? FileManager.default.destinationOfSymbolicLink(atPath: directory)).map { ($0 as NSString).lastPathComponent }
        let link = parent + "/.\(name).link-\(getpid())"
        unlink(link)
        guard symlink(version, link) == 0 else { throw Self.ioError("unable to create the link \(link)") }
        guard rename(link, directory) == 0 else {
            let e = Self.ioError("unable to swap \(directory) to \(version)")
            unlink(link)
            throw e
        }
        try Self.fsyncPath(parent)
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: parent)) ?? []
        where entry.hasPrefix("\(name).site-") && entry != version && entry != previous {
            Self.removeTree(parent + "/" + entry)
        }
    }

    static func fsyncPath(_ path: String) throws {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw ioError("unable to open \(path) to fsync it") }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw ioError("unable to fsync \(path)") }
    }

    static func removeTree(_ path: String) { try? FileManager.default.removeItem(atPath: path) }

    static func ioError(_ what: String) -> ReportError {
        let code = errno
        return ReportError(code == ENOSPC ? .diskFull : .io, "\(what): \(String(cString: strerror(code)))")
    }
}
