import Foundation
import PackagePlugin

/// Writes the commit a build is made from into the BuildStamp module, for `--version`.
/// A build command rather than a prebuild command: SwiftPM reruns it when its input changes,
/// and the input is git's reflog of HEAD, which grows with every commit and checkout. A build
/// outside a git checkout (a tarball) says "unknown".
@main
struct BuildStamp: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
        let out = context.pluginWorkDirectoryURL.appending(path: "Stamp")
        let file = out.appending(path: "Commit.swift")
        let root = context.package.directoryURL.path
        // Rewrites the file only when the text changes, so a rebuild without a new commit
        // recompiles nothing. (No mark for uncommitted changes: the command reruns on commits
        // and checkouts only, so such a mark would go stale.)
        let script = """
            mkdir -p '\(out.path)'
            c=$(git -C '\(root)' rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
            t="let buildCommit = \\"$c\\""
            [ "$(cat '\(file.path)' 2>/dev/null)" = "$t" ] || printf '%s\\n' "$t" > '\(file.path)'
            """
        return [.buildCommand(displayName: "Stamping the build with its git commit", executable: URL(fileURLWithPath: "/bin/sh"),
                              arguments: ["-c", script], inputFiles: reflog(context.package.directoryURL), outputFiles: [file])]
    }

    /// `.git/logs/HEAD`, or a worktree's own (its `.git` is a file naming the real git dir).
    private func reflog(_ root: URL) -> [URL] {
        let dotGit = root.appending(path: ".git")
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: dotGit.path, isDirectory: &isDirectory) else { return [] }
        var gitDir = dotGit
        if !isDirectory.boolValue, let text = try? String(contentsOf: dotGit, encoding: .utf8),
           let line = text.split(separator: "\n").first(where: { $0.hasPrefix("gitdir: ") }) {
            let path = String(line.dropFirst("gitdir: ".count))
            gitDir = path.hasPrefix("/") ? URL(fileURLWithPath: path) : root.appending(path: path)
        }
        let log = gitDir.appending(path: "logs/HEAD")
        return FileManager.default.fileExists(atPath: log.path) ? [log] : []
    }
}
