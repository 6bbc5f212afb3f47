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
    /// per new key, so that witnesses and verifiers can follow it.
    func recordKeyRotation(
        to key: Curve25519.Signing.PublicKey, from previous: [Curve25519.Signing.PublicKey], now: Date
    ) async throws

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
