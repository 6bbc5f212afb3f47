public import Crypto
public import Foundation
import KirokuPKI
public import KirokuProtocol

/// The 会議's witness (`kirokuctl witness`): run on a machine the hub's operator does not control, it
/// checks that each new checkpoint extends the last one it cosigned, cosigns it (C2SP tlog-cosignature),
/// hands the cosignature to the hub, and keeps its own history. A checkpoint that does not extend what it
/// saw (a rewritten history, a rollback, a split view) is never cosigned: it is written to `alarms/` and
/// reported as `inconsistent_log`.
///
/// Its folder holds `witness.key` (Ed25519, mode 0600), `witness.json` (its name), `state.json` (the log's
/// origin, the pinned hub key, the last cosigned size and root) and `history.txt` (every cosigned checkpoint).
public struct Witness: Sendable {
    public let directory: String
    public let name: String
    let key: Curve25519.Signing.PrivateKey

    public var publicKey: Curve25519.Signing.PublicKey { key.publicKey }

    /// What the witness remembers of the log.
    public struct State: Codable, Sendable, Equatable {
        public var origin: String
        /// The hub key pinned first.
        public var hubKey: String
        /// Every hub key the witness trusts (the first pinned, and those added at rotations).
        public var hubKeys: [String]?
        public var size: Int64
        public var root: String
        public var cosignedAt: UInt64

        enum CodingKeys: String, CodingKey {
            case origin
            case hubKey = "hub_key"
            case hubKeys = "hub_keys"
            case size, root
            case cosignedAt = "cosigned_at"
        }
    }

    public enum Outcome: Sendable, Equatable {
        /// A new checkpoint was consistent and is now cosigned.
        case cosigned(Checkpoint, previous: Int64?)
        /// The log has not grown since the last cosignature.
        case unchanged(Checkpoint)
    }

    /// Creates a witness in `directory` (which must not hold one yet) and returns it.
    public static func create(directory: String, name: String) throws -> Witness {
        guard !name.isEmpty, name.count <= 200,
            name.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0 != "+" && $0.value != 0x7f })
        else {
            throw KirokuError(
                .configuration,
                "a witness name is 1-200 printable characters without spaces or '+', like kaigi.city.example.lg.jp/witness"
            )
        }
        let keyPath = "\(directory)/witness.key"
        guard !FileManager.default.fileExists(atPath: keyPath) else {
            throw KirokuError(
                .configuration, "\(directory) already holds a witness; keep its key, or choose another folder")
        }
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let key = Curve25519.Signing.PrivateKey()
        try writeSecret(key.rawRepresentation.base64EncodedString() + "\n", to: URL(filePath: keyPath))
        try Self.write(Data(CanonicalJSON.encode(.object(["name": .string(name)]))), to: "\(directory)/witness.json")
        return Witness(directory: directory, name: name, key: key)
    }

    public static func load(directory: String) throws -> Witness {
        guard let keyData = FileManager.default.contents(atPath: "\(directory)/witness.key"),
            let raw = Data(
                base64Encoded: String(decoding: keyData, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)),
            let key = try? Curve25519.Signing.PrivateKey(rawRepresentation: raw)
        else {
            throw KirokuError(
                .configuration,
                "no witness in \(directory): create one with 'kirokuctl witness init --dir \(directory) --name NAME'")
        }
        struct Config: Decodable { var name: String }
        guard let data = FileManager.default.contents(atPath: "\(directory)/witness.json"),
            let config = try? JSONDecoder().decode(Config.self, from: data)
        else { throw KirokuError(.configuration, "\(directory)/witness.json is missing or unreadable") }
        return Witness(directory: directory, name: config.name, key: key)
    }

    /// The last cosigned state, if any.
    public func state() throws -> State? {
        guard let data = FileManager.default.contents(atPath: "\(directory)/state.json") else { return nil }
        do {
            return try JSONDecoder().decode(State.self, from: data)
        } catch {
            throw KirokuError(.configuration, "\(directory)/state.json is unreadable", underlying: error)
        }
    }

    /// The key to publish so verifiers can check this witness's cosignatures: `NAME+KEYID+BASE64`
    /// (C2SP verifier key, type 0x04).
    public var verifierKey: String {
        let id = SignedNote.keyID(name: name, type: 0x04, publicKey: key.publicKey)
        return "\(name)+\(Hex.encode(id))+\(Data([0x04] + key.publicKey.rawRepresentation).base64EncodedString())"
    }

    /// One round: fetch the newest checkpoint, check it against what was cosigned before, cosign it.
    /// `hubKey` pins the hub's key on the first round (later rounds use the pinned one and refuse another).
    public func round(
        checkpoint fetch: () async throws -> String, consistency: (Int64, Int64) async throws -> [Merkle.Hash],
        submit: (SignedNote) async throws -> Void, hubKey given: String?, addHubKey: String? = nil,
        notify: (String) -> Void = { _ in }, now: Date = Date()
    ) async throws -> Outcome {
        let previous = try state()
        if let given, let previous, given != previous.hubKey {
            throw KirokuError(
                .configuration,
                "the hub key given is not the one this witness pinned (\(previous.hubKey)); after a key rotation, add the new key with --add-hub-key"
            )
        }
        guard let hubKeyText = previous?.hubKey ?? given else {
            throw KirokuError(
                .configuration,
                "first round: give --hub-key (the hub's key as its operator states it; 'kirokuctl log key' shows it)")
        }
        var trusted = previous?.hubKeys ?? [hubKeyText]
        if let addHubKey, !trusted.contains(addHubKey) { trusted.append(addHubKey) }
        let keys = try trusted.map { text in
            guard let raw = Data(base64Encoded: text),
                let key = try? Curve25519.Signing.PublicKey(rawRepresentation: raw)
            else {
                throw KirokuError(.configuration, "a hub key must be the base64 of 32 bytes, not '\(text.prefix(60))'")
            }
            return key
        }
        let text = try await fetch()
        let note = try SignedNote(text: text)
        let tree = try Checkpoint(body: note.body)
        let signed = note.check(name: tree.origin, publicKeys: keys)
        if signed.check == .invalid {
            try alarm("a signature by a hub key this witness trusts does not verify", text, now: now)
            throw KirokuError(
                .badCheckpoint,
                "the hub's checkpoint carries a signature by a trusted hub key that does not verify: altered; not cosigned"
            )
        }
        guard signed.check == .valid else {
            try alarm("the checkpoint is not signed by any hub key this witness trusts", text, now: now)
            throw KirokuError(
                .badCheckpoint,
                "the hub's checkpoint is not signed by a hub key this witness trusts: not cosigned. If the hub rotated its key, confirm the new key with the 管理者 and add it with --add-hub-key"
            )
        }
        let knownIDs = Set(keys.map { SignedNote.keyID(name: tree.origin, type: 0x01, publicKey: $0) })
        let unknown = note.signatures.filter { $0.name == tree.origin && !knownIDs.contains($0.keyID) }
        if !unknown.isEmpty {
            notify(
                "the checkpoint is also signed by hub key id(s) \(unknown.map { Hex.encode($0.keyID) }.joined(separator: ", ")) this witness does not trust yet: if the hub is rotating its key, confirm the new key with the 管理者 and add it with --add-hub-key"
            )
        }
        if let previous {
            guard tree.origin == previous.origin else {
                throw KirokuError(.configuration, "this witness watches '\(previous.origin)', not '\(tree.origin)'")
            }
            let oldRoot = Hex.decode(previous.root) ?? []
            if tree.size < previous.size {
                try alarm(
                    "ROLLBACK: the log is smaller than the checkpoint cosigned before (size \(previous.size), root \(previous.root))",
                    text, now: now)
                throw KirokuError(
                    .inconsistentLog,
                    "the hub shows a log of \(tree.size) leaves after this witness cosigned \(previous.size): history was rolled back"
                )
            }
            if tree.size == previous.size {
                guard tree.root == oldRoot else {
                    try alarm(
                        "SPLIT VIEW: another tree of the same size \(tree.size) than the one cosigned (root \(previous.root))",
                        text, now: now)
                    throw KirokuError(
                        .inconsistentLog,
                        "the hub shows two different trees of size \(tree.size): a split view or a rewritten history")
                }
                return .unchanged(tree)
            }
            let proof = try await consistency(previous.size, tree.size)
            guard
                Merkle.verifyConsistency(
                    first: previous.size, second: tree.size, firstRoot: oldRoot, secondRoot: tree.root, proof: proof)
            else {
                try alarm(
                    "REWRITTEN HISTORY: the tree of size \(tree.size) does not extend the one cosigned (size \(previous.size), root \(previous.root)); proof: \(proof.map { Hex.encode($0) })",
                    text, now: now)
                throw KirokuError(
                    .inconsistentLog,
                    "the hub's new checkpoint does not extend the one this witness cosigned: history was rewritten")
            }
        }
        let time = UInt64(max(0, now.timeIntervalSince1970))
        var cosigned = SignedNote(body: tree.body)
        try cosigned.cosign(name: name, key: key, time: time)
        try await submit(cosigned)
        let state = State(
            origin: tree.origin, hubKey: hubKeyText, hubKeys: trusted, size: tree.size, root: Hex.encode(tree.root),
            cosignedAt: time)
        try Self.write(try JSONEncoder().encode(state), to: "\(directory)/state.json")
        var all = SignedNote(body: note.body, signatures: note.signatures)
        all.signatures += cosigned.signatures
        try append(all.text + "----\n", to: "\(directory)/history.txt")
        return .cosigned(tree, previous: previous?.size)
    }

    private func alarm(_ what: String, _ checkpoint: String, now: Date) throws {
        let folder = "\(directory)/alarms"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        var stamp = Timestamp(date: now).rfc3339
        stamp.removeAll { $0 == ":" || $0 == "." }
        let previous =
            (try? state()).map { "last cosigned: size \($0.size) root \($0.root) at \($0.cosignedAt)\n" } ?? ""
        try Self.write(
            Data("\(what)\n\(previous)\nthe hub's checkpoint:\n\(checkpoint)".utf8), to: "\(folder)/\(stamp).txt")
    }

    private func append(_ text: String, to path: String) throws {
        if !FileManager.default.fileExists(atPath: path) {
            _ = FileManager.default.createFile(atPath: path, contents: nil)
        }
        guard let handle = FileHandle(forWritingAtPath: path) else {
            throw KirokuError(.configuration, "cannot write \(path)")
        }
        defer { try? handle.close() }
        try handle.seekToEnd()
        try handle.write(contentsOf: Data(text.utf8))
        try handle.synchronize()
    }

    /// Writes a file atomically (a crash leaves the old or the new one, never half).
    static func write(_ data: Data, to path: String) throws {
        try data.write(to: URL(filePath: path), options: .atomic)
    }
}
