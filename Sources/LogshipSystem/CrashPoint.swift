import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Named places in the code where a fault-injection run can make the process die by SIGKILL,
/// to prove that a crash exactly there loses nothing and applies nothing twice.
///
/// Armed through the environment, read once per process: `LOGSHIP_CRASH_AT=<point>` kills the
/// process the first time `<point>` is reached, `LOGSHIP_CRASH_AT=<point>:<n>` the n-th time.
/// Before dying it writes `logship: crash point <point> reached (hit <n>)` to stderr, the
/// run's proof that the point was reached. Unset (always, outside tests), `reach` costs one
/// check of a value computed once.
///
/// The points (docs/RELIABILITY.md, "Apply crashes"):
///
/// | point | where |
/// |---|---|
/// | `apply.before-rows` | a batch is open; the next source transaction's rows are not written yet |
/// | `apply.before-position` | the batch's rows are written; its position row is not |
/// | `apply.after-position` | rows and position are written; the SQLite COMMIT has not run |
/// | `apply.after-commit` | the batch is committed; the run has not gone on |
/// | `restore.after-download` | `restore --source`: the snapshot and segments are in the scratch directory beside the output; nothing replayed |
/// | `snapshot.before-rename` | the snapshot's temp file is complete and fsynced, not yet renamed |
/// | `snapshot.after-rename` | renamed under its final name; the directory not yet fsynced |
/// | `store.before-rename` | a new replica's empty store complete under its temp name, not yet renamed |
/// | `promote.after-own-fence` | the promoted replica's inbox holds the new history; no master yet |
/// | `promote.before-master-rename` | the new master is complete under its temp name |
/// | `promote.after-fence` | one more `--fence` directory holds the history (hit n: the n-th) |
/// | `export.after-file`, `export.before-rename` | `report export`: a Parquet file closed (hit n: the n-th); the whole export synced under its temp name |
/// | `master.before-commit` | a master transaction's frames are appended (and synced, per `--sync-binlog`); SQLite's COMMIT has not run (hit n: the n-th commit of the process) |
/// | `master.group-before-sync` | a commit group's frames are appended, not yet synced (`Master.write`/`transaction`, `serve`; hit n: the n-th group; `master.before-commit` then fires once per group as well) |
public enum CrashPoint {
    /// The armed point and the hit that fires it, from `LOGSHIP_CRASH_AT`.
    private static let armed: (name: String, hit: Int)? = {
        guard let raw = getenv("LOGSHIP_CRASH_AT").map({ String(cString: $0) }), !raw.isEmpty else { return nil }
        let parts = raw.split(separator: ":", maxSplits: 1).map(String.init)
        return (parts[0], parts.count == 2 ? max(1, Int(parts[1]) ?? 1) : 1)
    }()

    /// How many times the armed point was reached (one thread reaches a point at a time:
    /// apply and snapshot each run on one connection's thread).
    nonisolated(unsafe) private static var hits = 0

    /// Kills the process with SIGKILL if `name` is the armed point and this is the armed hit.
    @inline(__always)
    public static func reach(_ name: StaticString) {
        guard let armed else { return }
        fire(name.description, armed)
    }

    private static func fire(_ name: String, _ armed: (name: String, hit: Int)) {
        guard name == armed.name else { return }
        hits += 1
        guard hits == armed.hit else { return }
        let line = "logship: crash point \(name) reached (hit \(hits))\n"
        _ = line.withCString { write(2, $0, strlen($0)) }
        raise(SIGKILL)
    }
}
