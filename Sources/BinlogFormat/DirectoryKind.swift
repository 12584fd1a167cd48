import Foundation

/// What a directory holds, told by logship's identity files: a master's `master.json`, a
/// replica's `replica.json`. Hints use it to tell a wrong path from the wrong kind of directory,
/// since `init` takes only a new or empty one.
public enum DirectoryKind: Equatable, Sendable {
    case master
    case replica
    /// Something else that is not empty.
    case other
    /// Empty, or not there.
    case empty

    public static func of(_ path: String) -> DirectoryKind {
        let fm = FileManager.default
        if fm.fileExists(atPath: path + "/master.json") { return .master }
        if fm.fileExists(atPath: path + "/replica.json") { return .replica }
        if let contents = try? fm.contentsOfDirectory(atPath: path), !contents.isEmpty { return .other }
        return .empty
    }
}
