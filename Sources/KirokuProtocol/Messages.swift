public import Crypto

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// What a producer hands the agent: the event's content. The agent adds `agent`, `seq`, `salt`, `prev`
/// and `hash`, and `time` when the producer leaves it out.
public struct EventDraft: Sendable, Hashable, Codable {
    public var kind: String
    public var action: String
    public var actor: String
    public var subject: String
    public var site: String?
    public var attrs: [String: String]
    /// RFC 3339 with milliseconds; the agent's clock at commit when absent.
    public var time: String?

    public init(
        kind: String, action: String, actor: String, subject: String = "", site: String? = nil,
        attrs: [String: String] = [:], time: String? = nil
    ) {
        self.kind = kind
        self.action = action
        self.actor = actor
        self.subject = subject
        self.site = site
        self.attrs = attrs
        self.time = time
    }

    private enum CodingKeys: String, CodingKey { case kind, action, actor, subject, site, attrs, time }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.kind = try c.decode(String.self, forKey: .kind)
        self.action = try c.decode(String.self, forKey: .action)
        self.actor = try c.decode(String.self, forKey: .actor)
        self.subject = try c.decodeIfPresent(String.self, forKey: .subject) ?? ""
        self.site = try c.decodeIfPresent(String.self, forKey: .site)
        self.attrs = try c.decodeIfPresent([String: String].self, forKey: .attrs) ?? [:]
        self.time = try c.decodeIfPresent(String.self, forKey: .time)
    }

    /// Throws `invalid_event` with a message naming what is wrong.
    public func validate() throws(KirokuError) {
        try Event.validateContent(
            kind: kind, action: action, actor: actor, subject: subject, site: site ?? "", attrs: attrs)
        if let time, Timestamp(rfc3339: time) == nil {
            throw KirokuError(.invalidEvent, "time must look like 2026-11-27T09:30:00.000+09:00")
        }
    }

    /// ``validate()``, and refuses the kinds producers may not send: `agent` (the agent's own events)
    /// and `record` (the hub's), which would otherwise be journalled and then refused by the hub.
    public func validateFromProducer() throws(KirokuError) {
        try validate()
        guard kind != EventKind.agent.name && kind != EventKind.record.name else {
            throw KirokuError(.invalidEvent, "kind '\(kind)' is written by Kiroku itself, not by producers")
        }
    }
}

/// `GET /v1/agent/state`: where the hub's copy of the calling agent's chain stands.
public struct AgentState: Codable, Sendable, Equatable {
    public var agent: String
    /// Highest sequence number the hub holds for this agent (0 if none).
    public var lastSeq: Int64
    /// Hash of that event (``Event/genesis`` if none).
    public var lastHash: String
    /// The hub's clock, so the agent can see its own skew.
    public var hubTime: String
    /// The hub's Ed25519 receipt key, base64 of the 32 raw bytes.
    public var hubKey: String
    /// Most events the hub takes in one batch.
    public var maxBatchEvents: Int
    /// Most bytes (after decompression) the hub takes in one batch.
    public var maxBatchBytes: Int
    /// Set when the agent asked for the hash at one seq (`GET /v1/agent/state?seq=N`): that seq, and the
    /// hash of the hub's event there (absent if the hub holds no event at it). The agent uses it to find
    /// where its journal and the hub's copy of its chain last agree (PROTOCOL.md §4, new epochs).
    public var atSeq: Int64?
    public var hashAtSeq: String?

    public init(
        agent: String, lastSeq: Int64, lastHash: String, hubTime: String, hubKey: String, maxBatchEvents: Int,
        maxBatchBytes: Int, atSeq: Int64? = nil, hashAtSeq: String? = nil
    ) {
        self.atSeq = atSeq
        self.hashAtSeq = hashAtSeq
        self.agent = agent
        self.lastSeq = lastSeq
        self.lastHash = lastHash
        self.hubTime = hubTime
        self.hubKey = hubKey
        self.maxBatchEvents = maxBatchEvents
        self.maxBatchBytes = maxBatchBytes
    }

    enum CodingKeys: String, CodingKey {
        case agent
        case lastSeq = "last_seq"
        case lastHash = "last_hash"
        case hubTime = "hub_time"
        case hubKey = "hub_key"
        case maxBatchEvents = "max_batch_events"
        case maxBatchBytes = "max_batch_bytes"
        case atSeq = "at_seq"
        case hashAtSeq = "hash_at_seq"
    }
}

/// Events an agent can no longer send: the hub lost them (restored from an older backup) after the agent
/// had pruned them as delivered. Declared in the batch that continues right after the range, so that the
/// loss is recorded on both sides with its exact range instead of the agent being stuck or the gap silent.
public struct DeclaredGap: Codable, Sendable, Equatable {
    public var from: Int64
    public var through: Int64
    public var reason: String

    public init(from: Int64, through: Int64, reason: String) {
        self.from = from
        self.through = through
        self.reason = reason
    }

    /// How many events the range covers.
    public var count: Int64 { through - from + 1 }
}

/// `POST /v1/agent/batches`: consecutive events of one agent, in sequence order.
public struct Batch: Codable, Sendable {
    public var agent: String
    /// The agent's clock when it sent the batch (for skew).
    public var sentAt: String
    /// The agent's newest sequence number when it sent the batch (for lag).
    public var headSeq: Int64
    public var events: [Event]
    /// Events between the hub's head and this batch that the agent no longer has (rare; see DeclaredGap).
    public var gap: DeclaredGap?

    public init(agent: String, sentAt: String, headSeq: Int64, events: [Event], gap: DeclaredGap? = nil) {
        self.agent = agent
        self.sentAt = sentAt
        self.headSeq = headSeq
        self.events = events
        self.gap = gap
    }

    enum CodingKeys: String, CodingKey {
        case agent
        case sentAt = "sent_at"
        case headSeq = "head_seq"
        case events
        case gap
    }

    /// Writes a batch body around events that are already in canonical form, without re-encoding them.
    public static func encodeBody(
        agent: String, sentAt: String, headSeq: Int64, canonicalEvents: [[UInt8]], gap: DeclaredGap? = nil
    ) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(canonicalEvents.reduce(128) { $0 + $1.count + 1 })
        out.append(contentsOf: Array("{\"agent\":".utf8))
        CanonicalJSON.writeString(agent, into: &out)
        out.append(contentsOf: Array(",\"events\":[".utf8))
        for (index, event) in canonicalEvents.enumerated() {
            if index > 0 { out.append(UInt8(ascii: ",")) }
            out.append(contentsOf: event)
        }
        out.append(UInt8(ascii: "]"))
        if let gap {
            out.append(contentsOf: Array(",\"gap\":".utf8))
            CanonicalJSON.write(
                .object(["from": .integer(gap.from), "through": .integer(gap.through), "reason": .string(gap.reason)]),
                into: &out)
        }
        out.append(contentsOf: Array(",\"head_seq\":".utf8))
        CanonicalJSON.writeInteger(headSeq, into: &out)
        out.append(contentsOf: Array(",\"sent_at\":".utf8))
        CanonicalJSON.writeString(sentAt, into: &out)
        out.append(UInt8(ascii: "}"))
        return out
    }
}

/// The hub's answer to an accepted batch: from this receipt on, the hub holds the agent's chain through
/// `throughSeq` with head `headHash`, durably.
public struct Receipt: Codable, Sendable, Equatable {
    public var agent: String
    public var firstSeq: Int64
    public var throughSeq: Int64
    public var headHash: String
    /// Events newly added to the record by this batch.
    public var accepted: Int64
    /// Events of this batch the hub already held (a counted no-op).
    public var duplicates: Int64
    public var hubTime: String
    /// First 16 hex digits of SHA-256 of the signing key's raw bytes.
    public var keyID: String
    /// The batch's last event in the hub's Merkle log: its inclusion proof and the signed checkpoint.
    public var log: LogProof?

    public init(
        agent: String, firstSeq: Int64, throughSeq: Int64, headHash: String, accepted: Int64, duplicates: Int64,
        hubTime: String, keyID: String, log: LogProof? = nil
    ) {
        self.log = log
        self.agent = agent
        self.firstSeq = firstSeq
        self.throughSeq = throughSeq
        self.headHash = headHash
        self.accepted = accepted
        self.duplicates = duplicates
        self.hubTime = hubTime
        self.keyID = keyID
    }

    enum CodingKeys: String, CodingKey {
        case agent
        case firstSeq = "first_seq"
        case throughSeq = "through_seq"
        case headHash = "head_hash"
        case accepted, duplicates
        case hubTime = "hub_time"
        case keyID = "key_id"
        case log
    }

    /// The bytes the signature covers: the canonical JSON of the receipt object.
    public var signedBytes: [UInt8] {
        var object: [String: JSONValue] = [
            "agent": .string(agent), "first_seq": .integer(firstSeq), "through_seq": .integer(throughSeq),
            "head_hash": .string(headHash), "accepted": .integer(accepted), "duplicates": .integer(duplicates),
            "hub_time": .string(hubTime), "key_id": .string(keyID),
        ]
        if let log { object["log"] = log.json }
        return CanonicalJSON.encode(.object(object))
    }
}

/// Where an event stands in the hub's Merkle log: its leaf index, the tree it was proven in, the audit
/// path, and the hub's signed checkpoint (C2SP signed note) for that tree. Hashes are lowercase hex.
public struct LogProof: Codable, Sendable, Equatable {
    public var leafIndex: Int64
    public var treeSize: Int64
    public var root: String
    public var inclusion: [String]
    public var checkpoint: String

    public init(leafIndex: Int64, treeSize: Int64, root: String, inclusion: [String], checkpoint: String) {
        self.leafIndex = leafIndex
        self.treeSize = treeSize
        self.root = root
        self.inclusion = inclusion
        self.checkpoint = checkpoint
    }

    enum CodingKeys: String, CodingKey {
        case leafIndex = "leaf_index"
        case treeSize = "tree_size"
        case root, inclusion, checkpoint
    }

    var json: JSONValue {
        .object([
            "leaf_index": .integer(leafIndex), "tree_size": .integer(treeSize), "root": .string(root),
            "inclusion": .array(inclusion.map(JSONValue.string)), "checkpoint": .string(checkpoint),
        ])
    }

    /// Checks that the event with `eventHash` is leaf `leafIndex` of the tree the checkpoint commits to,
    /// and that the checkpoint is signed by `hubKey`. Returns the checkpoint.
    @discardableResult
    public func verify(eventHash: String, hubKey: Curve25519.Signing.PublicKey) throws(KirokuError) -> Checkpoint {
        let note = try SignedNote(text: checkpoint)
        let tree = try Checkpoint(body: note.body)
        guard note.verify(name: tree.origin, publicKey: hubKey) else {
            throw KirokuError(.badCheckpoint, "the checkpoint is not signed by the hub's key")
        }
        guard tree.size == treeSize, Hex.encode(tree.root) == root else {
            throw KirokuError(.badProof, "the proof is for another tree than the checkpoint's")
        }
        let path = inclusion.compactMap { Hex.isLowercaseHex($0, length: 64) ? Hex.decode($0) : nil }
        guard path.count == inclusion.count, let leaf = Merkle.leafHash(eventHash: eventHash),
            Merkle.verifyInclusion(leaf: leaf, index: leafIndex, size: treeSize, proof: path, root: tree.root)
        else {
            throw KirokuError(
                .badProof, "the inclusion proof for leaf \(leafIndex) does not verify against the checkpoint")
        }
        return tree
    }
}

/// A receipt with the hub's Ed25519 signature (base64) over ``Receipt/signedBytes``, and, when the agent
/// said which tree its previous receipt was in (`?known_tree=N`), the proof that this receipt's tree extends
/// it (unsigned: it is checked against the two signed checkpoints).
public struct SignedReceipt: Codable, Sendable, Equatable {
    public var receipt: Receipt
    public var signature: String
    public var consistency: LogConsistency?

    public init(receipt: Receipt, signature: String, consistency: LogConsistency? = nil) {
        self.receipt = receipt
        self.signature = signature
        self.consistency = consistency
    }

    /// Signs a receipt with the hub's key.
    public static func sign(_ receipt: Receipt, with key: Curve25519.Signing.PrivateKey) throws -> SignedReceipt {
        let signature = try key.signature(for: receipt.signedBytes)
        return SignedReceipt(receipt: receipt, signature: Data(signature).base64EncodedString())
    }

    /// True if the signature is the given key's over this receipt.
    public func verify(publicKey: Curve25519.Signing.PublicKey) -> Bool {
        guard let signature = Data(base64Encoded: signature) else { return false }
        return publicKey.isValidSignature(signature, for: receipt.signedBytes)
    }
}

/// Identifies a signing key in receipts: the first 16 hex digits of SHA-256 of its raw public bytes.
public func signingKeyID(_ key: Curve25519.Signing.PublicKey) -> String {
    String(Hex.encode(SHA256.hash(data: key.rawRepresentation)).prefix(16))
}

/// Who is calling, as the hub reads it from the client certificate's SAN URI `kiroku:ROLE:ID`.
public struct Identity: Sendable, Hashable, CustomStringConvertible {
    public enum Role: String, Sendable, Hashable, CaseIterable {
        case agent
        case person
        case hub
    }

    public var role: Role
    public var id: String

    public init(role: Role, id: String) {
        self.role = role
        self.id = id
    }

    /// `kiroku:agent:ID` and the like.
    public var uri: String { "kiroku:\(role.rawValue):\(id)" }
    public var description: String { uri }

    /// Parses `kiroku:ROLE:ID`; nil if it is not one.
    public init?(uri: String) {
        let parts = uri.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0] == "kiroku", let role = Role(rawValue: String(parts[1])),
            AgentID.isValid(String(parts[2]))
        else { return nil }
        self.role = role
        self.id = String(parts[2])
    }
}

/// An RFC 6962 consistency proof from the tree of `from` leaves to the receipt's tree; hashes in hex.
public struct LogConsistency: Codable, Sendable, Equatable {
    public var from: Int64
    public var proof: [String]

    public init(from: Int64, proof: [String]) {
        self.from = from
        self.proof = proof
    }
}

/// The agent's own witness of the hub's log: each receipt's checkpoint must extend the one of the receipt
/// before it. A hub that shows an agent a history that does not extend what it showed before (a rewritten
/// or rolled-back log, another view than the witness's) is caught by every agent it shows it to.
public enum LogHistory {
    public enum Verdict: Sendable, Equatable {
        /// The new tree extends the known one (or is the first the agent sees): it becomes the known one.
        case extends
        /// It does not; the reason in words. The known tree stays the one to judge later receipts by.
        case inconsistent(String)
    }

    public static func judge(
        known: (size: Int64, root: Merkle.Hash)?, shown: (size: Int64, root: Merkle.Hash), consistency: LogConsistency?
    ) -> Verdict {
        guard let known else { return .extends }
        if shown.size < known.size {
            return .inconsistent("the hub's log shrank from \(known.size) to \(shown.size) leaves")
        }
        if shown.size == known.size {
            return shown.root == known.root
                ? .extends : .inconsistent("the hub shows another tree of \(shown.size) leaves than before")
        }
        guard let consistency, consistency.from == known.size else {
            return .inconsistent(
                "the hub gave no proof that its tree of \(shown.size) leaves extends the one of \(known.size)")
        }
        let proof = consistency.proof.compactMap { Hex.isLowercaseHex($0, length: 64) ? Hex.decode($0) : nil }
        guard proof.count == consistency.proof.count,
            Merkle.verifyConsistency(
                first: known.size, second: shown.size, firstRoot: known.root, secondRoot: shown.root, proof: proof)
        else {
            return .inconsistent(
                "the hub's tree of \(shown.size) leaves does not extend the one of \(known.size) it showed before")
        }
        return .extends
    }
}
