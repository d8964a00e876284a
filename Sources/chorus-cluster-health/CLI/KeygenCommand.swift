import ArgumentParser
import Gossip
import GossipCore

struct KeygenCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keygen",
        abstract: "Create a node key pair, or a cluster key.",
        discussion: """
            --out DIR writes DIR/node.key (the Ed25519 private seed, 64 hex digits, mode 0600) and \
            DIR/node.pub (the public key, for other nodes' --trust files), and prints the public key. \
            --cluster-key FILE writes a new 32-byte XChaCha20-Poly1305 cluster key (64 hex digits, \
            mode 0600) for --cluster-key-file. Existing files are never overwritten.
            """
    )

    @Option(help: "Directory for node.key and node.pub (created if missing).")
    var out: String?

    @Option(help: "File to write a new cluster key to.")
    var clusterKey: String?

    func validate() throws {
        guard (out == nil) != (clusterKey == nil) else {
            throw ValidationError("give exactly one of --out DIR or --cluster-key FILE")
        }
    }

    func run() throws {
        do {
            if let out {
                let pair = try KeyFiles.writeNewKeyPair(in: out)
                print(pair.publicKey.hex)
            } else if let clusterKey {
                try KeyFiles.createNew(clusterKey, contents: Hex.encode(SymmetricKey().bytes) + "\n", mode: 0o600)
                print("wrote \(clusterKey)")
            }
        } catch {
            writeStandardError("keygen: \(error)\n")
            throw ExitCode.failure
        }
    }
}
