import BinlogFormat
import Foundation
import ReplicaStore

/// An as-of report's data: the replica restored (best snapshot plus inbox segments, through
/// ReplicaStore's `Restore`) into a private temporary directory, opened read-only, and removed
/// when the report is done, also when it fails. The replica itself is only read.
public enum AsOfRestore {
    /// Restores `replica` to `target` into a fresh directory under the system's temp directory
    /// (`$TMPDIR`, mode 0700, named `logship-as-of-*`), runs `body` on it and removes it.
    /// A target outside the recoverable window fails with Restore's error (exit 2, the window
    /// in the message) before anything is written.
    public static func withStore<T>(replica: String, target: Restore.Target, _ body: (ReportStore, Restore.Plan) throws -> T) throws -> T {
        let absolute = URL(fileURLWithPath: replica).standardizedFileURL.path
        let plan = try Restore.plan(replica: absolute, target: target)
        let directory = try makePrivateDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let copy = directory + "/store.db"
        _ = try Restore.execute(plan, output: copy)
        let store = try ReportStore(path: copy, allowMaster: false)
        store.asOfReplica = absolute
        return try body(store, plan)
    }

    /// A new directory only this user can read, outside anything the user named.
    public static func makePrivateDirectory() throws -> String {
        let base = ProcessInfo.processInfo.environment["TMPDIR"].flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp"
        var template = Array((base + "/logship-as-of-XXXXXX").utf8CString)
        let made = template.withUnsafeMutableBufferPointer { buffer -> Bool in
            guard let base = buffer.baseAddress else { return false }
            return mkdtemp(base) != nil
        }
        guard made else {
            throw ReportError(.io, "unable to create a temporary directory for the as-of copy in \(base): \(String(cString: strerror(errno)))",
                              hint: "set TMPDIR to a writable directory with room for a copy of the store")
        }
        return String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)  // mkdtemp filled in the X's
    }
}
