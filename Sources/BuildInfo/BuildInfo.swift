/// What `--version` prints about the build: the git commit it was made from (the BuildStamp
/// plugin writes `buildCommit` at build time).
public enum BuildInfo {
    /// The release this source tree is.
    public static let release = "0.4.0"
    /// The commit checked out when the tools were built, 12 hex digits; `unknown` outside a git
    /// checkout.
    public static var commit: String { buildCommit }
}
