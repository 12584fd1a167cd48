import ArgumentParser
import BinlogFormat
import BinlogMaster
import Foundation
import LogshipCLI

struct Keygen: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create the Ed25519 key pair the master signs sealed segments with (signing.key 0600, signing.pub).",
        discussion: """
            Writes DIRECTORY/signing.key (private, mode 0600) and DIRECTORY/signing.pub (public). Given a master data \
            directory, the master signs every segment it starts from its next open on (format version 3); copy \
            signing.pub to each replica (`replica-apply init --verify-key`). Never overwrites a key; never prints one. \
            docs/OPERATIONS.md, "Signing and encryption", has rotation and loss.
            """)

    @Argument(help: "Where to write signing.key and signing.pub: the master data directory.")
    var directory: String

    @Flag(help: "Write DIRECTORY/encryption.key instead (32 random bytes, mode 0600): the master encrypts the frames of every segment it starts from its next open on (docs/FORMAT.md §3.1).")
    var encryption = false

    @Flag(help: "With --encryption: retire the current encryption.key to DIRECTORY/encryption-keys/<key id>.key (kept: the master still reads and finishes the segments it encrypted) and write a new one in its place.")
    var rotate = false

    func validate() throws {
        if rotate && !encryption { throw ValidationError("--rotate goes with --encryption (signing keys rotate as docs/OPERATIONS.md says)") }
    }

    func run() throws {
        try runReporting("binlog-writer") {
            let dir = MasterDirectory(path: directory)
            if rotate {
                let ids = try EncryptionKeyFile.rotate(dir.encryptionKeyPath, retiredDirectory: dir.retiredEncryptionKeysPath)
                printLine("retired key id \(ids.retired) to \(dir.retiredEncryptionKeysPath)/\(ids.retired).key (kept: its segments stay readable); wrote \(dir.encryptionKeyPath) (0600), key id \(ids.new)")
                printLine("copy the new key (over a private channel) to each replica and restore host before its first segment arrives; the master uses it from the segment it starts after its next open (`binlog-writer rotate \(directory)` seals the current one)")
                return
            }
            if encryption {
                let id = try EncryptionKeyFile.generate(dir.encryptionKeyPath)
                printLine("wrote \(dir.encryptionKeyPath) (0600), key id \(id); copy it (over a private channel) to each replica and restore host: `--decrypt-key`")
                printLine("losing every copy of this key loses the data of every segment encrypted with it")
                return
            }
            let id = try SigningKeyFile.generate(privatePath: dir.signingKeyPath, publicPath: dir.signingPublicKeyPath)
            printLine("wrote \(dir.signingKeyPath) (private, 0600) and \(dir.signingPublicKeyPath) (public), key id \(id)")
            if FileManager.default.fileExists(atPath: dir.identityPath) {
                printLine("the master signs the segments it starts from its next open on; `binlog-writer rotate \(directory)` seals the current one (unsigned)")
            }
        }
    }
}
