public import Crypto
public import Foundation
import GRDB
public import KirokuProtocol

/// The hub's own records (kind `record`: purges, legal holds) are a chain of their own, agent id `hub`,
/// committed through the same path as agents' batches so that they enter the record and the Merkle log
/// alike, in the same transaction as what they record.
enum HubRecords {
    static let agentID = AgentID.hub

    /// Appends the hub's own events (kind `record` unless another is given: a contractor's submission is
    /// `contractor/submitted`, recorded by the hub for the person whose certificate made it); returns the
    /// refs (`hub/SEQ`) of the events written.
    @discardableResult
    static func append(
        _ drafts: [(action: String, actor: String, subject: String, attrs: [String: String])], kind: String = "record",
        now: Date,
        db: Database
    ) throws -> [String] {
        let head = try Row.fetchOne(
            db, sql: "SELECT last_seq, last_hash FROM agents WHERE id = ?", arguments: [agentID])
        guard
            let batch = try batch(
                drafts, kind: kind, after: (head?[0] ?? 0, head?[1] ?? Event.genesis), now: now)
        else { return [] }
        let nowMS = Int64(now.timeIntervalSince1970 * 1000)
        _ = try HubStore.commit(batch, identity: agentID, nowMS: nowMS, skew: 0, db: db).get()
        return batch.events.map { "\(agentID)/\($0.seq)" }
    }

    /// The hub's own events after its chain's head `(seq, hash)`, sealed and checked as an agent's batch is
    /// (what both stores commit); nil for no drafts.
    static func batch(
        _ drafts: [(action: String, actor: String, subject: String, attrs: [String: String])], kind: String = "record",
        after head: (seq: Int64, hash: String), now: Date
    ) throws -> Batch? {
        var (seq, prev) = head
        let time = Timestamp(date: now, offsetMinutes: Timestamp.jstOffsetMinutes).rfc3339
        var events: [Event] = []
        for draft in drafts {
            seq += 1
            let event = Event(
                agent: agentID, seq: seq, time: time, kind: kind, action: draft.action, actor: draft.actor,
                subject: draft.subject, site: "", attrs: draft.attrs, salt: Event.randomSalt(), prev: prev
            ).sealed()
            prev = event.hash
            events.append(event)
        }
        guard !events.isEmpty else { return nil }
        let batch = Batch(agent: agentID, sentAt: time, headSeq: seq, events: events)
        try HubStore.check(batch, identity: agentID)
        return batch
    }

    /// The `record/key_rotated` event's draft: the new key and those it replaces.
    static func keyRotation(to key: Curve25519.Signing.PublicKey, from previous: [Curve25519.Signing.PublicKey])
        -> (action: String, actor: String, subject: String, attrs: [String: String])
    {
        (
            "key_rotated", "kiroku-hub", signingKeyID(key),
            [
                "key": key.rawRepresentation.base64EncodedString(), "key_id": signingKeyID(key),
                "previous": previous.map { $0.rawRepresentation.base64EncodedString() }.joined(separator: " "),
                "previous_ids": previous.map(signingKeyID).joined(separator: " "),
            ]
        )
    }
}

extension HubStore {
    static func migrateRetention(_ db: Database) throws {
        try db.execute(
            sql: """
                ALTER TABLE events ADD COLUMN purged_ms INTEGER;
                CREATE TABLE holds(
                    id INTEGER PRIMARY KEY,
                    subject TEXT, actor TEXT, agent TEXT, from_ms INTEGER, to_ms INTEGER,
                    reason TEXT NOT NULL,
                    placed_by TEXT NOT NULL,
                    placed_ms INTEGER NOT NULL,
                    lifted_by TEXT,
                    lifted_ms INTEGER,
                    lift_reason TEXT,
                    CHECK (subject IS NOT NULL OR actor IS NOT NULL OR agent IS NOT NULL OR from_ms IS NOT NULL OR to_ms IS NOT NULL)
                );
                """)
    }

    /// Records a signing key rotation (`record/key_rotated`: the new key and those it replaces), once per
    /// new key.
    public func recordKeyRotation(
        to key: Curve25519.Signing.PublicKey, from previous: [Curve25519.Signing.PublicKey], now: Date = Date()
    ) throws {
        try pool.write { db in
            let recorded = try Self.keyRotations(db)
            // Before the first rotation the record names no key: the one that signed its newest checkpoint is
            // the key the log is signed with.
            var bound: String?
            if recorded.isEmpty,
                let text = try String.fetchOne(db, sql: "SELECT note FROM checkpoints ORDER BY size DESC LIMIT 1")
            {
                let note = try SignedNote(text: text)
                let origin = try Checkpoint(body: note.body).origin
                bound =
                    ([key] + previous).first { note.verify(name: origin, publicKey: $0) }.map(signingKeyID)
                    ?? "(none of this hub's keys)"
            }
            guard try KeyRotations.plan(to: key, from: previous, recorded: recorded, bound: bound) else { return }
            try HubRecords.append([HubRecords.keyRotation(to: key, from: previous)], now: now, db: db)
        }
    }

    public func keyRotations() async throws -> [KeyRotations.Recorded] {
        try await pool.read { db in try Self.keyRotations(db) }
    }

    static func keyRotations(_ db: Database) throws -> [KeyRotations.Recorded] {
        try String.fetchAll(
            db,
            sql: "SELECT attrs FROM events WHERE agent = ? AND kind = 'record' AND action = 'key_rotated' ORDER BY seq",
            arguments: [HubRecords.agentID]
        ).compactMap(KeyRotations.Recorded.init(attrs:))
    }

    /// Places a legal hold, recorded as a `record/hold_placed` event in the same transaction.
    public func placeHold(
        subject: String?, actor: String?, agent: String?, from: Timestamp?, to: Timestamp?, reason: String,
        by person: String,
        now: Date = Date()
    ) async throws -> LegalHold {
        guard subject != nil || actor != nil || agent != nil || from != nil || to != nil else {
            throw KirokuError(.badQuery, "a hold needs at least one of subject, actor, agent, from, to")
        }
        let reason = reason.trimmingCharacters(in: .whitespacesAndNewlines)
        if let from, let to, from.epochMilliseconds >= to.epochMilliseconds {
            throw KirokuError(
                .badQuery, "a hold's from must be before its to (to is not included): this one would hold nothing")
        }
        guard !reason.isEmpty, reason.count <= 500 else {
            throw KirokuError(.badQuery, "a hold needs a reason (up to 500 characters): which investigation, by whom")
        }
        let nowMS = Int64(now.timeIntervalSince1970 * 1000)
        let id = try await pool.write { db in
            try db.execute(
                sql: """
                    INSERT INTO holds(subject, actor, agent, from_ms, to_ms, reason, placed_by, placed_ms)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    subject, actor, agent, from?.epochMilliseconds, to?.epochMilliseconds, reason, person, nowMS,
                ])
            let id = db.lastInsertedRowID
            var attrs = ["hold": "\(id)", "reason": reason]
            if let actor { attrs["actor"] = actor }
            if let agent { attrs["agent"] = agent }
            if let from { attrs["from"] = from.rfc3339 }
            if let to { attrs["to"] = to.rfc3339 }
            try HubRecords.append([("hold_placed", person, subject ?? "", attrs)], now: now, db: db)
            return id
        }
        return try await holds().first { $0.id == id }!
    }

    /// Lifts a hold, recorded as `record/hold_lifted`.
    public func liftHold(id: Int64, reason: String, by person: String, now: Date = Date()) async throws -> LegalHold {
        let reason = reason.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !reason.isEmpty, reason.count <= 500 else {
            throw KirokuError(.badQuery, "lifting a hold needs a reason")
        }
        let nowMS = Int64(now.timeIntervalSince1970 * 1000)
        try await pool.write { db in
            guard
                let row = try Row.fetchOne(
                    db, sql: "SELECT subject, lifted_ms FROM holds WHERE id = ?", arguments: [id])
            else {
                throw KirokuError(.notFound, "there is no hold \(id)")
            }
            guard (row["lifted_ms"] as Int64?) == nil else {
                throw KirokuError(.badQuery, "hold \(id) was already lifted")
            }
            try db.execute(
                sql: "UPDATE holds SET lifted_by = ?, lifted_ms = ?, lift_reason = ? WHERE id = ?",
                arguments: [person, nowMS, reason, id])
            try HubRecords.append(
                [("hold_lifted", person, (row["subject"] as String?) ?? "", ["hold": "\(id)", "reason": reason])],
                now: now, db: db)
        }
        return try await holds().first { $0.id == id }!
    }

    /// Every hold, standing or lifted, newest first.
    public func holds() async throws -> [LegalHold] {
        @Sendable func time(_ ms: Int64?) -> String? {
            ms.map { Timestamp(epochMilliseconds: $0, offsetMinutes: Timestamp.jstOffsetMinutes).rfc3339 }
        }
        return try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM holds ORDER BY id DESC").map { row in
                LegalHold(
                    id: row["id"], subject: row["subject"], actor: row["actor"], agent: row["agent"],
                    from: time(row["from_ms"]),
                    to: time(row["to_ms"]), reason: row["reason"], placedBy: row["placed_by"],
                    placedAt: time(row["placed_ms"])!, liftedBy: row["lifted_by"], liftedAt: time(row["lifted_ms"]),
                    liftReason: row["lift_reason"])
            }
        }
    }

    /// Purges the payload (actor, subject, attributes, salt) of every event past its kind's retention
    /// period and under no standing hold; keeps its hash, chain position and Merkle leaf, so every proof
    /// still verifies. One `record/purge` event per kind states the policy, cutoff and count, in the same
    /// transaction. With `dryRun`, only counts.
    public func purge(policy: RetentionPolicy, by person: String, now: Date = Date(), dryRun: Bool = false) async throws
        -> PurgeReport
    {
        let nowMS = Int64(now.timeIntervalSince1970 * 1000)
        let standing = """
            EXISTS (SELECT 1 FROM holds h WHERE h.lifted_ms IS NULL
                AND (h.subject IS NULL OR h.subject = events.subject) AND (h.actor IS NULL OR h.actor = events.actor)
                AND (h.agent IS NULL OR h.agent = events.agent)
                AND (h.from_ms IS NULL OR events.time_ms >= h.from_ms) AND (h.to_ms IS NULL OR events.time_ms < h.to_ms))
            """
        return try await pool.write { db in
            var lines: [PurgeReport.Line] = []
            var records: [(action: String, actor: String, subject: String, attrs: [String: String])] = []
            for kind in EventKind.all.map(\.name) where kind != "record" {
                let period = policy.period(for: kind)
                let cutoff = period.cutoff(now: now)
                let cutoffMS = Int64(cutoff.timeIntervalSince1970 * 1000)
                let due = "kind = ? AND time_ms < ? AND purged_ms IS NULL AND agent != '\(HubRecords.agentID)'"
                let held =
                    try Int64.fetchOne(
                        db, sql: "SELECT count(*) FROM events WHERE \(due) AND \(standing)",
                        arguments: [kind, cutoffMS]) ?? 0
                let range = try Row.fetchOne(
                    db, sql: "SELECT count(*), min(time_ms), max(time_ms) FROM events WHERE \(due) AND NOT \(standing)",
                    arguments: [kind, cutoffMS])!
                let count: Int64 = range[0]
                let cutoffText = Timestamp(date: cutoff, offsetMinutes: Timestamp.jstOffsetMinutes).rfc3339
                lines.append(
                    .init(kind: kind, policy: period.description, cutoff: cutoffText, purged: count, held: held))
                guard count > 0, !dryRun else { continue }
                try db.execute(
                    sql:
                        "UPDATE events SET actor = '', subject = '', attrs = '{}', salt = '', purged_ms = ? WHERE \(due) AND NOT \(standing)",
                    arguments: [nowMS, kind, cutoffMS])
                // The report's per-day counts still hold these events: a report of a period the purge has reached
                // reads the record instead (ReportCounts).
                if try FindingTable.state(db, "purged_before") ?? Int64.min < cutoffMS {
                    try FindingTable.setState(db, "purged_before", cutoffMS)
                }
                records.append(
                    (
                        "purge", person, "",
                        [
                            "kind": kind, "policy": period.description, "cutoff": cutoffText, "count": "\(count)",
                            "held": "\(held)",
                            "first_time": Timestamp(
                                epochMilliseconds: range[1], offsetMinutes: Timestamp.jstOffsetMinutes
                            ).rfc3339,
                            "last_time": Timestamp(
                                epochMilliseconds: range[2], offsetMinutes: Timestamp.jstOffsetMinutes
                            ).rfc3339,
                        ]
                    ))
            }
            // A quarantined fork version (another event offered at a held (agent, seq)) goes with the event
            // it contended with: once that is purged, the offered copy's content goes too; its hash stays.
            let forks = """
                offered_event != '' AND EXISTS (SELECT 1 FROM events e WHERE e.agent = forks.agent AND e.seq = forks.seq
                AND e.purged_ms IS NOT NULL)
                """
            if !dryRun, let count = try Int64.fetchOne(db, sql: "SELECT count(*) FROM forks WHERE \(forks)"), count > 0
            {
                try db.execute(sql: "UPDATE forks SET offered_event = '' WHERE \(forks)")
                records.append(
                    ("purge", person, "", ["kind": "fork", "policy": "with the held event", "count": "\(count)"]))
            }
            try HubRecords.append(records, now: now, db: db)
            return PurgeReport(dryRun: dryRun, lines: lines)
        }
    }
}
