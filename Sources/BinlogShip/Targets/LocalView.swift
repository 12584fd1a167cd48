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

    /// Opens `store`'s view; a remote store's readable objects are downloaded whole.
    init(_ store: TargetStore) throws {
        if let local = store.localDirectory {
            directory = local
            scratch = false
            return
        }
        let template = NSTemporaryDirectory() + "/logship-view-XXXXXX"
        var bytes = Array(template.utf8CString)
        guard let made = mkdtemp(&bytes) else { throw shipError(ioError("create a scratch directory", path: template), target: store.name) }
        directory = String(cString: made)
        scratch = true
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

    /// Deletes a scratch directory; a directory target's own directory is left alone.
    func close() {
        guard scratch else { return }
        try? FileManager.default.removeItem(atPath: directory)
    }
}
