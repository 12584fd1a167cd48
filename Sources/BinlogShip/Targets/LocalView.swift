import BinlogFormat
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A target's segments, partial copies and epoch histories as files in a local directory, for
/// code that reads a directory of segments (`BinlogDirectory.verify`): a directory target's own
/// directory (nothing copied), or a scratch directory the objects of a remote store are
/// downloaded into, deleted by `close`. The one place outside a backend that names files.
final class LocalView {
    let directory: String
    private let scratch: Bool
    /// What a scratch file's path stands for in messages: the object's address in the store.
    private let objectPrefix: String

    /// Opens `store`'s view; a remote store's readable objects are downloaded whole.
    init(_ store: TargetStore) throws {
        if let local = store.localDirectory {
            directory = local
            scratch = false
            objectPrefix = local + "/"
            return
        }
        let template = NSTemporaryDirectory() + "/logship-view-XXXXXX"
        var bytes = Array(template.utf8CString)
        guard let made = mkdtemp(&bytes) else { throw shipError(ioError("create a scratch directory", path: template), target: store.name) }
        directory = String(cString: made)
        scratch = true
        objectPrefix = store.address(of: "")
        do {
            for object in try store.list() where TargetKeys.isRead(object.key) {
                try DurableFile.publish(try store.read(object.key), to: path(of: object.key))
            }
        } catch {
            close()
            throw shipError(error, target: store.name)
        }
    }

    /// The local file of `key`.
    func path(of key: String) -> String { directory + "/" + key }

    /// `text` (a path, a message) with the scratch files named by their objects' addresses.
    func describe(_ text: String) -> String {
        scratch ? text.replacingOccurrences(of: directory + "/", with: objectPrefix) : text
    }

    /// Deletes a scratch directory; a directory target's own directory is left alone.
    func close() {
        guard scratch else { return }
        try? FileManager.default.removeItem(atPath: directory)
    }
}
