import ArgumentParser
import Crypto
import Foundation
import KirokuClient
import KirokuControl
import KirokuPKI
import KirokuProtocol

/// `kirokuctl export --evidence`: events with their proofs, for anyone to verify offline.
struct Export: KirokuCommand {
    static let configuration = CommandConfiguration(
        abstract: "Export events as an evidence bundle: each event's inclusion proof and the signed checkpoint.",
        discussion: """
            The bundle is proven in the newest checkpoint a witness cosigned (--checkpoint cosigned, the default; \
            a fresh one if none was), in a fresh one (newest), or in the published checkpoint of a given size. \
            Events accepted after that checkpoint are left out and counted. Check it with 'kirokuctl verify'.
            """)
    @OptionGroup var hubOptions: HubOptions
    @Option(help: "Write the evidence bundle here.") var evidence: String
    @Option(help: "cosigned, newest, or a published tree size.") var checkpoint = "cosigned"
    @Option(help: "Events per page the hub signs a statement for (1 to 10000).") var pageSize = EventQueryLimit.max
    @OptionGroup var filter: EventFilter

    func execute() async throws {
        guard (1...EventQueryLimit.max).contains(pageSize) else {
            throw KirokuError(.badQuery, "--page-size must be 1 to \(EventQueryLimit.max)")
        }
        var parameters = try filter.parameters()
        parameters["limit"] = String(pageSize)
        if checkpoint != "newest" { parameters["checkpoint"] = checkpoint }
        try await hubOptions.withQueries { queries in try await Self.write(parameters, to: evidence, queries) }
    }

    /// Fetches every page of `/v1/evidence` for `parameters`, all proven in one checkpoint, and writes the
    /// bundle to `path`; says how many events came after that checkpoint. (Also `kirokuctl report --evidence`.)
    static func write(_ parameters: [String: String], to path: String, _ queries: HubQueries) async throws {
        var parameters = parameters
        var bundle: EvidenceBundle?
        var omitted: Int64 = 0
        while true {
            let bytes: [UInt8]
            do {
                bytes = try await queries.evidence(parameters)
            } catch let error as KirokuError where error.code == .notFound && parameters["checkpoint"] == "cosigned" && bundle == nil {
                // No witness has cosigned yet: proven in a fresh checkpoint instead, and said so.
                FileHandle.standardError.write(
                    Data("kirokuctl: no checkpoint is cosigned by a witness yet; the events are proven in a fresh checkpoint of the hub\n".utf8))
                parameters["checkpoint"] = nil
                continue
            }
            let page = try EvidenceBundle(bytes: bytes)
            guard case .object(let root) = try JSONParser.parse(bytes) else { break }
            if case .integer(let count) = root["omitted_after_checkpoint"] { omitted += count }
            if var merged = bundle {
                merged.events += page.events
                merged.statements += page.statements
                merged.links += page.links
                bundle = merged
            } else {
                bundle = page
                // Every later page is proven in the same checkpoint.
                let tree = try Checkpoint(body: try SignedNote(text: page.checkpoint).body)
                parameters["checkpoint"] = String(tree.size)
            }
            FileHandle.standardError.write(Data("kirokuctl: \(bundle!.events.count) event(s) so far\n".utf8))
            guard case .string(let next) = root["next"] else { break }
            parameters["cursor"] = next
        }
        guard var bundle else { return }
        bundle.query = parameters.filter { $0.key != "cursor" && $0.key != "checkpoint" && $0.key != "limit" }
        try Data(bundle.bytes).write(to: URL(filePath: path), options: .atomic)
        let tree = try Checkpoint(body: try SignedNote(text: bundle.checkpoint).body)
        print("wrote \(path): \(bundle.events.count) event(s) proven in checkpoint \(tree.origin) size \(tree.size)")
        if omitted > 0 {
            print("\(omitted) matching event(s) came after that checkpoint and are not in the bundle; run the witness and export again to include them")
        }
    }
}

enum EventQueryLimit { static let max = 10_000 }

/// `kirokuctl verify`: checks an evidence bundle offline.
struct Verify: KirokuCommand {
    static let configuration = CommandConfiguration(
        abstract: "Verify an evidence bundle offline: event hashes, inclusion proofs, the hub's signature, witnesses.",
        discussion: "Exit status 0 when verified, 1 when not. No network is used.")
    @Argument(help: "The evidence bundle (from 'kirokuctl export --evidence').") var bundle: String
    @Option(help: "The hub's key, base64 (as 'kirokuctl log key' shows it), or a file holding it; repeat it for the keys of earlier rotations.")
    var hubKey: [String] = []
    @Option(help: "A witness that must have cosigned: its key NAME+ID+BASE64 as 'kirokuctl witness init' printed it (repeatable).")
    var witness: [String] = []
    @Flag(help: "Judge without any witness; the verdict then says so in words.") var noWitness = false
    @Flag(help: "Accept a bundle without the hub's signed statements (made before them); the verdict says so.")
    var noCompleteness = false

    func execute() async throws {
        // Trust comes from the person verifying, never from the file being verified.
        guard !hubKey.isEmpty else {
            FileHandle.standardError.write(
                Data(
                    """
                    kirokuctl verify: give the hub's key with --hub-key KEY (repeat it for keys of earlier rotations).
                    Get it from the 管理者 ('kirokuctl log key') and confirm it against the paper copy the 会議 keeps.
                    A key written inside the bundle is never used: a forged bundle names its forger's key.

                    """.utf8))
            throw ExitCode(2)
        }
        guard !witness.isEmpty || noWitness else {
            FileHandle.standardError.write(
                Data(
                    """
                    kirokuctl verify: give the 会議's witness key with --witness NAME+ID+KEY (as 'kirokuctl witness init' printed it).
                    Without a witness, a hub that rewrote its own log could have made this bundle; to judge anyway, say --no-witness.

                    """.utf8))
            throw ExitCode(2)
        }
        guard let data = FileManager.default.contents(atPath: bundle) else {
            throw KirokuError(.configuration, "cannot read \(bundle)")
        }
        let parsed = try EvidenceBundle(bytes: Array(data))
        let pinned = try hubKey.map(Self.hubKey)
        let witnesses = try witness.map(Self.witnessKey)
        let verdict = EvidenceVerifier.verify(parsed, hubKeys: pinned, witnesses: witnesses, allowIncomplete: noCompleteness)
        for line in verdict.lines { print(line) }
        if !verdict.verified { throw ExitCode(1) }
    }

    static func hubKey(_ text: String) throws -> Curve25519.Signing.PublicKey {
        var value = text
        if let data = FileManager.default.contents(atPath: text) {
            value = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        }
        guard let raw = Data(base64Encoded: value), let key = try? Curve25519.Signing.PublicKey(rawRepresentation: raw) else {
            throw KirokuError(.configuration, "--hub-key must be the base64 of the hub's 32-byte Ed25519 key, or a file holding it")
        }
        return key
    }

    /// Reads a C2SP verifier key `NAME+KEYID+BASE64(0x04 ‖ key)` and checks its key ID.
    static func witnessKey(_ text: String) throws -> (name: String, key: Curve25519.Signing.PublicKey) {
        let parts = text.split(separator: "+", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3, let blob = Data(base64Encoded: String(parts[2])), blob.count == 33, blob.first == 0x04,
            let key = try? Curve25519.Signing.PublicKey(rawRepresentation: blob.dropFirst()),
            Hex.encode(SignedNote.keyID(name: String(parts[0]), type: 0x04, publicKey: key)) == parts[1]
        else {
            throw KirokuError(.configuration, "--witness must be a witness key NAME+KEYID+BASE64 as 'kirokuctl witness init' printed it")
        }
        return (String(parts[0]), key)
    }
}

/// `kirokuctl log`: the hub's key and checkpoints.
struct Log: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The hub's Merkle log: its signing key and its checkpoints.", subcommands: [Key.self, Show.self])

    struct Key: KirokuCommand {
        static let configuration = CommandConfiguration(abstract: "Print the hub's signing key (base64) and key id.")
        @OptionGroup var hubOptions: HubOptions

        func execute() async throws {
            struct Answer: Decodable {
                var key: String
                var keyID: String
                enum CodingKeys: String, CodingKey {
                    case key
                    case keyID = "key_id"
                }
            }
            let connection = try hubOptions.connect()
            let answer: Answer
            do {
                answer = try await connection.get(Answer.self, "/v1/hub/key")
            } catch {
                await connection.shutdown()
                throw error
            }
            await connection.shutdown()
            print("\(answer.key)  (key id \(answer.keyID))")
        }
    }

    struct Show: KirokuCommand {
        static let configuration = CommandConfiguration(
            commandName: "checkpoint", abstract: "Print the newest published checkpoint (or the kept one of a size) with its cosignatures.")
        @OptionGroup var hubOptions: HubOptions
        @Flag(help: "Ask the hub to publish one now first (if the log grew).") var publish = false
        @Option(help: "The kept checkpoint of this tree size (every receipt's is kept).") var size: Int64?

        func execute() async throws {
            let text = try await hubOptions.withQueries { queries in
                publish ? try await queries.publishCheckpoint() : try await queries.checkpoint(size: size)
            }
            print(text, terminator: "")
        }
    }
}

/// `kirokuctl witness`: the 会議's independent witness.
struct WitnessCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "witness",
        abstract: "The 会議's witness: check that the hub's log only grows, and cosign its checkpoints.",
        subcommands: [Init.self, Run.self])

    struct Init: KirokuCommand {
        static let configuration = CommandConfiguration(abstract: "Create a witness (its key and folder).")
        @Option(help: "The witness's folder (keep it off the hub's machines).") var dir: String
        @Option(help: "The witness's name, like kaigi.city.example.lg.jp/witness.") var name: String

        func execute() async throws {
            let witness = try Witness.create(directory: dir, name: name)
            print("witness \(name) created in \(dir)")
            print("its key (give it to whoever verifies evidence: kirokuctl verify --witness KEY):")
            print(witness.verifierKey)
        }
    }

    struct Run: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check the hub's newest checkpoint against the last one cosigned, and cosign it.",
            discussion: "Exit status 3 when the hub shows a history that does not extend the one cosigned (see DIR/alarms).")
        @OptionGroup var hubOptions: HubOptions
        @Option(help: "The witness's folder.") var dir: String
        @Option(help: "The hub's key (base64), pinned on the first run.") var hubKey: String?
        @Option(help: "Trust one more hub key (after the hub rotated its key; confirm it with the 管理者 first).")
        var addHubKey: String?
        @Option(help: "Keep running, a round every this many seconds.") var interval: Double?

        func run() async throws {
            do {
                let witness = try Witness.load(directory: dir)
                try await hubOptions.withQueries { queries in
                    while true {
                        let outcome = try await witness.round(
                            checkpoint: { try await queries.checkpoint() },
                            consistency: { try await queries.consistency(from: $0, to: $1) },
                            submit: { try await queries.submitCosignature($0) }, hubKey: hubKey, addHubKey: addHubKey,
                            notify: { print("note: \($0)") })
                        switch outcome {
                        case .cosigned(let tree, let previous):
                            print(
                                "cosigned \(tree.origin) size \(tree.size) root \(Hex.encode(tree.root).prefix(16))…"
                                    + (previous.map { " (consistent with size \($0))" } ?? " (first checkpoint seen)"))
                        case .unchanged(let tree):
                            print("unchanged: \(tree.origin) size \(tree.size)")
                        }
                        guard let interval else { break }
                        try await Task.sleep(for: .milliseconds(Int64(interval * 1000)))
                    }
                }
            } catch let error as KirokuError {
                if error.code == .inconsistentLog {
                    FileHandle.standardError.write(
                        Data("\n!!! kirokuctl witness: \(error.message)\n!!! NOT cosigned. Evidence kept in \(dir)/alarms. Tell the 会議 now.\n\n".utf8))
                    throw ExitCode(3)
                }
                throw fail(error)
            }
        }
    }
}
