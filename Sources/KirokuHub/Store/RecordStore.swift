public import Crypto
public import Foundation
public import KirokuProtocol

/// The seam between the hub's server and where the consolidated record is kept: what the routes and services
/// that take agents' events, keep the Merkle log and answer for it call. Every operation is one whole
/// transaction of the store (an ingest commits the events, their leaves, the agent's state and the receipt's
/// checkpoint together, or nothing).
///
/// Two stores implement it: ``HubStore`` (SQLite, the embedded default, which also keeps the registers,
/// findings, contractors' submissions and the rest of the house) and ``PostgresRecordStore`` (PostgreSQL, for
/// records too large for one file and for several hubs on one database). `RecordStoreConformanceTests` runs
/// the same checks against both.
public protocol RecordStore: Sendable {
    /// Rung after each committed transaction of this process that added events.
    var arrivals: Doorbell { get }
    /// Where the record is, for logs and messages (a path, or PostgreSQL's host and database).
    var location: String { get }

    // MARK: Ingest and agents (PROTOCOL.md §3–§5)

    /// Checks and commits one batch from the agent `identity` (taken from its certificate, never from the
    /// payload); returns only after the commit is durable. A refusal throws its stable code and changes nothing
    /// but the agent's health counters.
    func ingest(
        _ batch: Batch, identity: String, now: Date,
        signCheckpoint: (@Sendable (Int64, Merkle.Hash) throws -> SignedNote)?
    ) async throws -> HubStore.IngestResult
    /// Where the hub's copy of an agent's chain stands.
    func chainHead(agent: String) async throws -> (seq: Int64, hash: String)
    /// The hash of the hub's copy of an agent's event `seq`, if it holds it.
    func hash(agent: String, seq: Int64) async throws -> String?
    /// Health of every agent the hub has heard from.
    func agentHealth() async throws -> [AgentHealth]
    /// Quarantined fork versions of one agent.
    func forks(agent: String) async throws -> [(
        seq: Int64, heldHash: String, offeredHash: String, offeredEvent: String?
    )]
    /// Ranges of an agent's events declared lost.
    func declaredGaps(agent: String) async throws -> [DeclaredGap]
    /// How many events the record holds.
    func eventCount() async throws -> Int64

    // MARK: The Merkle log (PROTOCOL.md §6)

    func logSize() async throws -> Int64
    func root(size: Int64) async throws -> Merkle.Hash
    func inclusionProof(leaf: Int64, size: Int64) async throws -> [Merkle.Hash]
    func inclusionProofs(leaves: [Int64], size: Int64) async throws -> [[Merkle.Hash]]
    func consistencyProof(from: Int64, to: Int64) async throws -> [Merkle.Hash]
    /// Signs and keeps a checkpoint of the log as it is now, unless the newest already covers every leaf;
    /// returns the newest either way. Safe to call from several hubs at once: one checkpoint per size.
    @discardableResult
    func issueCheckpoint(origin: String, keys: [Curve25519.Signing.PrivateKey], now: Date) async throws
        -> PublishedCheckpoint
    func checkpoint(size: Int64?) async throws -> PublishedCheckpoint?
    func newestCosignedCheckpoint() async throws -> PublishedCheckpoint?
    func addCosignatures(_ note: SignedNote, now: Date) async throws -> Int
    /// Records a signing key rotation in the log (`record/key_rotated`: the new key and those it replaces), once
    /// per new key, so that witnesses and verifiers can follow it (``KeyRotations/plan(to:from:recorded:bound:)``
    /// says when it is refused). On PostgreSQL the same transaction moves the log's binding to the new key.
    func recordKeyRotation(
        to key: Curve25519.Signing.PublicKey, from previous: [Curve25519.Signing.PublicKey], now: Date
    ) async throws
    /// The rotations the record holds, oldest first.
    func keyRotations() async throws -> [KeyRotations.Recorded]

    // MARK: Reading the record (PROTOCOL.md §7)

    func query(_ query: EventQuery) async throws -> EventPage
    /// A query's page with each event's leaf index (and when its payload was purged, if it was).
    func queryWithLeaves(_ query: EventQuery, includePurged: Bool) async throws
        -> (rows: [(event: Event, leaf: Int64, purgedMS: Int64?)], next: String?)
    /// How many events of the tree's first `treeSize` leaves match the query's filters, in all and before its
    /// cursor (what an evidence statement signs).
    func countForEvidence(_ query: EventQuery, treeSize: Int64) async throws -> (matching: Int64, before: Int64)
    /// The chain stretches around a page of evidence.
    func evidenceLinks(_ rows: [(agent: String, seq: Int64)], treeSize: Int64) async throws -> [EvidenceLinks.Run]

    // MARK: Revocation (never undone)

    /// Every certificate serial a revocation list the hub accepted has held.
    func revokedSerialsSeen() async throws -> Set<String>
    /// Keeps serials of an accepted list durably before they are relied on. Called from the TLS handshake's
    /// verification, which cannot wait asynchronously: it blocks until the store has them.
    func rememberRevokedSerials(_ serials: Set<String>) throws
}

extension RecordStore {
    /// An ingest stamped now.
    public func ingest(
        _ batch: Batch, identity: String, signCheckpoint: (@Sendable (Int64, Merkle.Hash) throws -> SignedNote)? = nil
    ) async throws -> HubStore.IngestResult {
        try await ingest(batch, identity: identity, now: Date(), signCheckpoint: signCheckpoint)
    }

    @discardableResult
    public func issueCheckpoint(origin: String, keys: [Curve25519.Signing.PrivateKey]) async throws
        -> PublishedCheckpoint
    {
        try await issueCheckpoint(origin: origin, keys: keys, now: Date())
    }

    public func addCosignatures(_ note: SignedNote) async throws -> Int {
        try await addCosignatures(note, now: Date())
    }

    public func queryWithLeaves(_ query: EventQuery) async throws
        -> (rows: [(event: Event, leaf: Int64, purgedMS: Int64?)], next: String?)
    {
        try await queryWithLeaves(query, includePurged: false)
    }
}

/// What both stores' ingest and evidence share, apart from their SQL.
enum RecordRules {
    /// Refuses the hub's own agent id, then checks the batch alone (``HubStore/check(_:identity:)``); on a
    /// refusal of the batch, `recordRefusal` counts it against the certificate's agent, whatever the batch
    /// claims (an agent trying to send for another is exactly what its health record must show).
    static func admit(
        _ batch: Batch, identity: String, recordRefusal: (ErrorCode) async -> Void
    ) async throws {
        guard identity != HubRecords.agentID else {
            throw KirokuError(
                .agentMismatch, "the agent id '\(HubRecords.agentID)' is the hub's own; no agent may use it")
        }
        do {
            try HubStore.check(batch, identity: identity)
        } catch {
            await recordRefusal(error.code)
            throw error
        }
    }

    /// For each agent with events on a page of evidence, the seqs from the one before its first to the one
    /// after its last: the chain stretch ``EvidenceLinks`` carries.
    static func linkRanges(_ rows: [(agent: String, seq: Int64)]) -> [(agent: String, from: Int64, through: Int64)] {
        var ranges: [(agent: String, from: Int64, through: Int64)] = []
        for row in rows {
            if let index = ranges.firstIndex(where: { $0.agent == row.agent }) {
                ranges[index].from = min(ranges[index].from, row.seq)
                ranges[index].through = max(ranges[index].through, row.seq)
            } else {
                ranges.append((row.agent, row.seq, row.seq))
            }
        }
        return ranges.map { ($0.agent, max(1, $0.from - 1), $0.through + 1) }
    }
}

/// Gathers one agent's held hashes, in seq order, into runs broken where the hub holds no event.
struct LinkRuns {
    let agent: String
    private var current: EvidenceLinks.Run?
    private(set) var runs: [EvidenceLinks.Run] = []

    init(agent: String) { self.agent = agent }

    mutating func add(seq: Int64, hash: [UInt8]) {
        if var run = current, run.throughSeq + 1 == seq {
            run.hashes.append(hash)
            current = run
        } else {
            if let run = current { runs.append(run) }
            current = EvidenceLinks.Run(agent: agent, fromSeq: seq, hashes: [hash])
        }
    }

    /// The runs, the last one closed.
    var finished: [EvidenceLinks.Run] { runs + (current.map { [$0] } ?? []) }
}

extension AgentRow {
    /// What one accepted event tells of its agent: the newest event time, clock jumps, chain epochs.
    mutating func note(_ event: Event, timeMS: Int64) {
        lastEventMS = max(lastEventMS ?? timeMS, timeMS)
        guard event.kind == "agent" else { return }
        if event.action == "clock_jump" { clockJumps += 1 }
        if event.action == "loss", let reason = event.attrs["reason"], reason.hasPrefix("journal_") {
            epochs += 1
            lastEpochReason = reason
        }
    }
}

/// The hub's signing key rotations as the record keeps them (`record/key_rotated`), and what may be done next.
public enum KeyRotations {
    /// One `record/key_rotated` event's attrs.
    public struct Recorded: Sendable, Equatable {
        public var key: String
        public var keyID: String
        public var previousIDs: [String]

        /// Reads the kept attrs (JSON of strings); nil if they are not a rotation's.
        init?(attrs text: String) {
            guard let attrs = try? JSONDecoder().decode([String: String].self, from: Data(text.utf8)),
                let key = attrs["key"], let keyID = attrs["key_id"]
            else { return nil }
            self.key = key
            self.keyID = keyID
            previousIDs = (attrs["previous_ids"] ?? "").split(separator: " ").map(String.init)
        }
    }

    /// Whether a rotation to `key` (the overlap keys `previous` co-signing) is to be recorded: false when it is
    /// already (a restart during the overlap). Refuses a key that a rotation retired (a retired key never signs
    /// again, nor can a rotation be turned back), and a rotation whose overlap does not include the key the log
    /// is signed with now (`bound`: PostgreSQL's binding, else the newest rotation's key; nil when unknown).
    static func plan(
        to key: Curve25519.Signing.PublicKey, from previous: [Curve25519.Signing.PublicKey], recorded: [Recorded],
        bound: String?
    ) throws -> Bool {
        let id = signingKeyID(key)
        try refuseRetired(id, recorded: recorded)
        if recorded.contains(where: { $0.key == key.rawRepresentation.base64EncodedString() }) { return false }
        let current = bound ?? recorded.last?.keyID
        if let current, !previous.map(signingKeyID).contains(current) {
            throw KirokuError(
                .configuration,
                current == id
                    ? "the log is signed with key \(id) already, and no rotation to it is recorded: overlap_signing_keys name keys that do not sign this log; remove them"
                    : "the log is signed with key \(current), which overlap_signing_keys do not include: a rotation replaces the key the log is signed with, and that key co-signs during the overlap"
            )
        }
        return true
    }

    /// Refuses a key a recorded rotation replaced.
    static func refuseRetired(_ id: String, recorded: [Recorded]) throws {
        guard recorded.contains(where: { $0.previousIDs.contains(id) }) else { return }
        throw KirokuError(
            .configuration,
            "the signing key \(id) was retired by a key rotation recorded in the log; a retired key never signs again: start the hub with the current signing_key (kirokuctl log key names it)"
        )
    }

    /// The check at every start: not a retired key, and without a rotation in hand, the key of the newest
    /// rotation (a hub must not sign with another key unannounced).
    static func checkStart(
        key: Curve25519.Signing.PublicKey, overlap: [Curve25519.Signing.PublicKey], recorded: [Recorded]
    ) throws {
        let id = signingKeyID(key)
        try refuseRetired(id, recorded: recorded)
        // An overlap key co-signs only during the overlap of the rotation that replaced it, the newest.
        for other in overlap.map(signingKeyID) {
            let retiredBy = recorded.filter { $0.previousIDs.contains(other) }
            guard retiredBy.isEmpty || (retiredBy == [recorded.last!] && recorded.last!.keyID == id) else {
                throw KirokuError(
                    .configuration,
                    "the overlap key \(other) was retired by an earlier key rotation; a retired key never signs again: remove it from overlap_signing_keys"
                )
            }
        }
        if overlap.isEmpty, let last = recorded.last, last.keyID != id {
            throw KirokuError(
                .configuration,
                "the log is signed with key \(last.keyID) since its last recorded rotation; this hub has key \(id). Start it with that signing_key, or rotate to this one with the current key in overlap_signing_keys (Hub/README.md, step 7)"
            )
        }
    }
}
