import ArgumentParser
import Crypto
import Foundation
import Hummingbird
import KirokuHub
import KirokuProtocol
import Logging
import NIOCore

/// `kiroku-hub`: the central hub. Only wiring lives here; see `KirokuHub.HubApp`.
@main
struct KirokuHubCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kiroku-hub",
        abstract: "Kiroku hub: takes agents' batches over mutual TLS into the consolidated record.",
        subcommands: [Run.self, Keygen.self], defaultSubcommand: Run.self)

    /// Makes a new signing key for a rotation (Hub/README.md: rotating the hub's key).
    struct Keygen: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a new Ed25519 signing key (mode 0600) for a key rotation, and print its public half.")
        @Option(help: "Where to write the new key; must not exist.") var out: String

        func run() throws {
            // The key's folder, if made here, is the hub's alone too.
            umask(0o077)
            do {
                guard !FileManager.default.fileExists(atPath: out) else {
                    throw KirokuError(.configuration, "\(out) exists; a new key goes to a new file")
                }
                let key = try HubApp.loadOrCreateSigningKey(path: out)
                print("\(key.publicKey.rawRepresentation.base64EncodedString())  (key id \(signingKeyID(key.publicKey)))")
            } catch let error as KirokuError {
                FileHandle.standardError.write(Data("kiroku-hub: \(error)\n".utf8))
                throw ExitCode(2)
            }
        }
    }

    struct Run: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Run the hub until SIGTERM or SIGINT.")

        @Option(help: "JSON configuration file (see Hub/hub.example.json).") var config: String?
        @Option(help: "Address to listen on.") var host: String?
        @Option(help: "TCP port (0 picks a free one).") var port: Int?
        @Option(help: "SQLite database of the record.") var database: String?
        @Option(help: "The municipality's CA certificate (PEM).") var ca: String?
        @Option(help: "The hub's TLS certificate (PEM).") var cert: String?
        @Option(help: "The hub's TLS private key (PEM).") var key: String?
        @Option(help: "The CA's revoked.txt, re-read when it changes.") var revocationList: String?
        @Option(help: "Write the bound port to this file once listening.") var portFile: String?
        @Option(help: "Most events in one batch.") var maxBatchEvents: Int?
        @Option(help: "Seconds between published checkpoints while events arrive.") var checkpointSeconds: Double?
        @Option(help: "Most bytes in one batch after decompression.") var maxBatchBytes: Int?
        @Option(help: "The hub's Ed25519 signing key (created if absent).") var signingKey: String?
        @Option(help: "A previous signing key that still co-signs checkpoints during a rotation (repeatable).")
        var overlapSigningKey: [String] = []
        @Option(help: "Log level: trace, debug, info, notice, warning, error.") var logLevel: String?

        func run() async throws {
            // Whatever the hub creates (the record, its WAL, keys, folders) is its own alone.
            umask(0o077)
            let environment = ProcessInfo.processInfo.environment
            var configuration: HubConfiguration
            do {
                if let file = config ?? environment["KIROKU_HUB_CONFIG"] {
                    configuration = try HubConfiguration.load(file: file)
                } else {
                    guard let ca = ca ?? environment["KIROKU_HUB_CA"], let cert = cert ?? environment["KIROKU_HUB_CERT"],
                        let key = key ?? environment["KIROKU_HUB_KEY"]
                    else {
                        throw KirokuError(.configuration, "give --config FILE, or --ca, --cert and --key")
                    }
                    configuration = HubConfiguration(ca: ca, certificate: cert, privateKey: key)
                }
                if let value = environment["KIROKU_HUB_DATABASE"] { configuration.database = value }
                if let value = environment["KIROKU_HUB_PORT"].flatMap(Int.init) { configuration.port = value }
                if let host { configuration.host = host }
                if let port { configuration.port = port }
                if let database { configuration.database = database }
                if let ca { configuration.ca = ca }
                if let cert { configuration.certificate = cert }
                if let key { configuration.privateKey = key }
                if let revocationList { configuration.revocationList = revocationList }
                if let portFile { configuration.portFile = portFile }
                if let maxBatchEvents { configuration.maxBatchEvents = maxBatchEvents }
                if let checkpointSeconds { configuration.checkpointSeconds = checkpointSeconds }
                if let maxBatchBytes { configuration.maxBatchBytes = maxBatchBytes }
                if let signingKey { configuration.signingKey = signingKey }
                if !overlapSigningKey.isEmpty { configuration.overlapSigningKeys = overlapSigningKey }
                var logger = Logger(label: "kiroku.hub")
                logger.logLevel = Logger.Level(rawValue: logLevel ?? environment["LOG_LEVEL"] ?? "info") ?? .info
                let app = try HubApp.build(configuration: configuration, logger: logger)
                do {
                    try await app.runService()
                } catch let error as IOError where error.errnoCode == EADDRINUSE {
                    throw KirokuError(
                        .configuration,
                        "port \(configuration.port) on \(configuration.host) is in use (another kiroku-hub running?); stop it or choose another port")
                } catch let error as IOError where error.errnoCode == EACCES {
                    throw KirokuError(
                        .configuration, "may not listen on port \(configuration.port): ports below 1024 need root or CAP_NET_BIND_SERVICE")
                }
            } catch let error as KirokuError {
                FileHandle.standardError.write(Data("kiroku-hub: \(error)\n".utf8))
                throw ExitCode(2)
            }
        }
    }
}
