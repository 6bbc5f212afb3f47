public import Foundation
import GRDB
import GRDBSQLite
public import KirokuProtocol

/// The consolidated record on the embedded SQLite default (GRDB, WAL, `synchronous = FULL` on the writer).
///
/// ``ingest(_:identity:now:)`` is the one place events enter the record: a batch is checked whole and
/// committed in one transaction, or refused with a stable code and nothing changed (invariant 7). An event
/// already held is a counted duplicate (invariant 2); a different event at a held `(agent, seq)` is a fork,
/// quarantined with both versions and never merged.
public struct HubStore: RecordStore {
    let pool: DatabasePool
    public let path: String
    /// False only in the benchmark's baseline (ingest without the Merkle log, to measure what the log
    /// costs); `kiroku-hub` never turns it off.
    let merkleLog: Bool
    /// Rung after every committed transaction that added events (an agent's batch, the hub's own records),
    /// whoever wrote them: the rule service waits on it instead of polling the record.
    public let arrivals: Doorbell
    public var location: String { path }

    public static func open(path: String) throws -> HubStore {
        try open(path: path, merkleLog: true)
    }

    /// A store whose ingest skips the Merkle log: the benchmark's baseline, never a hub (invariant 4).
    public static func openWithoutMerkleLogForBenchmarks(path: String) throws -> HubStore {
        try open(path: path, merkleLog: false)
    }

    static func open(path: String, merkleLog: Bool) throws -> HubStore {
        var configuration = Configuration()
        configuration.busyMode = .timeout(30)
        configuration.label = "kiroku.hub"
        do {
            // 0600 before SQLite creates it: the record and its WAL are the hub's alone, whatever the umask.
            try PrivateFiles.prepareDatabase(path: path)
            let pool = try DatabasePool(path: path, configuration: configuration)
            try pool.writeWithoutTransaction { db in
                try db.execute(sql: "PRAGMA synchronous = FULL")
                // Four indexes grow with the record; a 64 MiB page cache on the writer keeps their upper
                // levels in memory during ingest (readers keep SQLite's default).
                try db.execute(sql: "PRAGMA cache_size = -65536")
            }
            try migrator.migrate(pool)
            let arrivals = Doorbell()
            pool.add(transactionObserver: ArrivalObserver(arrivals), extent: .databaseLifetime)
            return HubStore(pool: pool, path: path, merkleLog: merkleLog, arrivals: arrivals)
        } catch let error as KirokuError {
            throw error
        } catch let error as DatabaseError {
            // SQLite's own words, not the statement GRDB was running; what to check, since this stops the hub.
            throw KirokuError(
                .configuration,
                "cannot open the hub database \(path): \(error.message ?? "\(error.resultCode)") (SQLite error \(error.extendedResultCode.rawValue)); check the path (--database) and that the file is the hub's record, readable and writable by the service's user; a damaged record is restored from its last backup (Hub/README.md)"
            )
        } catch {
            throw KirokuError(.internalError, "cannot open the hub database \(path)", underlying: error)
        }
    }

    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(
                sql: """
                    CREATE TABLE events(
                        id INTEGER PRIMARY KEY,
                        agent TEXT NOT NULL,
                        seq INTEGER NOT NULL CHECK (seq >= 1),
                        time TEXT NOT NULL,
                        time_ms INTEGER NOT NULL,
                        kind TEXT NOT NULL,
                        action TEXT NOT NULL,
                        actor TEXT NOT NULL,
                        subject TEXT NOT NULL,
                        site TEXT NOT NULL,
                        attrs TEXT NOT NULL,
                        salt TEXT NOT NULL,
                        prev TEXT NOT NULL,
                        hash TEXT NOT NULL CHECK (length(hash) = 64),
                        received_ms INTEGER NOT NULL,
                        UNIQUE (agent, seq)
                    );
                    CREATE INDEX events_by_time ON events(time_ms, agent, seq);
                    CREATE INDEX events_by_actor ON events(actor, time_ms);
                    CREATE INDEX events_by_subject ON events(subject, time_ms);
                    CREATE TABLE agents(
                        id TEXT PRIMARY KEY NOT NULL,
                        last_seq INTEGER NOT NULL DEFAULT 0,
                        last_hash TEXT NOT NULL,
                        first_seen_ms INTEGER NOT NULL,
                        last_seen_ms INTEGER NOT NULL,
                        last_event_ms INTEGER,
                        reported_head INTEGER NOT NULL DEFAULT 0,
                        skew_ms INTEGER,
                        events INTEGER NOT NULL DEFAULT 0,
                        batches INTEGER NOT NULL DEFAULT 0,
                        duplicates INTEGER NOT NULL DEFAULT 0,
                        forks INTEGER NOT NULL DEFAULT 0,
                        gaps INTEGER NOT NULL DEFAULT 0,
                        refusals INTEGER NOT NULL DEFAULT 0,
                        last_refusal TEXT
                    ) WITHOUT ROWID;
                    CREATE TABLE forks(
                        id INTEGER PRIMARY KEY,
                        agent TEXT NOT NULL,
                        seq INTEGER NOT NULL,
                        held_hash TEXT NOT NULL,
                        offered_hash TEXT NOT NULL,
                        offered_event TEXT NOT NULL,
                        detected_ms INTEGER NOT NULL,
                        UNIQUE (agent, seq, offered_hash)
                    );
                    """)
        }
        migrator.registerMigration("v2: clock jumps") { db in
            try db.execute(sql: "ALTER TABLE agents ADD COLUMN clock_jumps INTEGER NOT NULL DEFAULT 0")
        }
        migrator.registerMigration("v3: declared gaps") { db in
            try db.execute(
                sql: """
                    ALTER TABLE agents ADD COLUMN declared_lost INTEGER NOT NULL DEFAULT 0;
                    CREATE TABLE gaps(
                        id INTEGER PRIMARY KEY,
                        agent TEXT NOT NULL,
                        from_seq INTEGER NOT NULL,
                        through_seq INTEGER NOT NULL CHECK (through_seq >= from_seq),
                        reason TEXT NOT NULL,
                        declared_ms INTEGER NOT NULL
                    );
                    """)
        }
        migrator.registerMigration("v4: chain epochs") { db in
            try db.execute(sql: "ALTER TABLE agents ADD COLUMN epochs INTEGER NOT NULL DEFAULT 0")
            try db.execute(sql: "ALTER TABLE agents ADD COLUMN last_epoch_reason TEXT")
        }
        migrator.registerMigration("v5: merkle log") { db in try LogTable.migrate(db) }
        migrator.registerMigration("v6: retention") { db in try HubStore.migrateRetention(db) }
        migrator.registerMigration("v7: findings") { db in try FindingTable.migrate(db) }
        migrator.registerMigration("v8: registers") { db in try HubStore.migrateRegisters(db) }
        migrator.registerMigration("v9: revoked serials seen") { db in
            // Every serial a good revocation list ever held: a later list without one of them is refused,
            // across restarts too (a revocation is never undone).
            try db.execute(
                sql:
                    "CREATE TABLE revoked_serials(serial TEXT PRIMARY KEY NOT NULL, seen_ms INTEGER NOT NULL) WITHOUT ROWID"
            )
        }
        migrator.registerMigration("v10: finding history by finding") { db in
            // The console lists findings with their histories; without this every list read every action.
            try db.execute(sql: "CREATE INDEX finding_actions_by_finding ON finding_actions(finding, id)")
        }
        migrator.registerMigration("v11: findings in Japanese") { db in
            // Each finding's sentence in Japanese beside the English one (older findings have none).
            try db.execute(sql: "ALTER TABLE findings ADD COLUMN summary_ja TEXT")
        }
        migrator.registerMigration("v12: contractors' submissions") { db in try HubStore.migrateSubmissions(db) }
        migrator.registerMigration("v13: declared shutdowns") { db in try HubStore.migrateShutdowns(db) }
        migrator.registerMigration("v14: alerts") { db in try HubStore.migrateAlerts(db) }
        migrator.registerMigration("v15: incident manuals") { db in try HubStore.migrateManuals(db) }
        migrator.registerMigration("v16: incidents by time") { db in
            // The incident rules look over weeks of the record every minute (reports due, incidents not
            // closed, work reports after maintenance): a partial index holds only incident rows, so ingest
            // pays for it only on them, and the sweep reads a few rows instead of every event of those weeks.
            try db.execute(sql: "CREATE INDEX events_incidents_by_time ON events(time_ms) WHERE kind = 'incident'")
        }
        migrator.registerMigration("v17: terminals by operator and day") { db in
            // shared_credential reads the record around an operator's operations only when another terminal
            // was theirs near that time: this small summary (per operator, JST day and terminal, the first
            // and last operation) says when. Filled by the rules from this version on.
            try db.execute(
                sql: """
                    CREATE TABLE actor_terminals(
                        actor TEXT NOT NULL, day INTEGER NOT NULL, agent TEXT NOT NULL, first_ms INTEGER NOT NULL, last_ms INTEGER NOT NULL,
                        PRIMARY KEY (actor, day, agent)
                    ) WITHOUT ROWID
                    """)
        }
        migrator.registerMigration("v18: media by time") { db in
            // The sweep looks for media taken out the last two days every minute: a partial index holds only
            // the media rows, as for incidents (v16), so that it reads a few rows, not two days of the record.
            try db.execute(sql: "CREATE INDEX events_media_by_time ON events(time_ms) WHERE kind = 'media'")
        }
        migrator.registerMigration("v19: the report's counts by day") { db in try ReportCounts.migrate(db) }
        migrator.registerMigration("v20: repeated-lookup thresholds by day") { db in
            try ReportCounts.migrateCeilings(db)
        }
        return migrator
    }

    /// Every certificate serial a revocation list the hub accepted has held.
    public func revokedSerialsSeen() throws -> Set<String> {
        try pool.read { db in Set(try String.fetchAll(db, sql: "SELECT serial FROM revoked_serials")) }
    }

    /// Remembers serials of an accepted revocation list (durably, before they are relied on).
    public func rememberRevokedSerials(_ serials: Set<String>) throws {
        guard !serials.isEmpty else { return }
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        try pool.write { db in
            for serial in serials {
                try db.execute(
                    sql: "INSERT OR IGNORE INTO revoked_serials(serial, seen_ms) VALUES (?, ?)",
                    arguments: [serial, now])
            }
        }
    }

    /// The `synchronous` setting in force on the writer connection (2 = FULL).
    public func writerSynchronousSetting() throws -> Int {
        try pool.writeWithoutTransaction { db in try Int.fetchOne(db, sql: "PRAGMA synchronous") ?? -1 }
    }

    // MARK: Ingest

    /// What an accepted batch did.
    public struct IngestResult: Sendable, Equatable {
        public var firstSeq: Int64
        public var throughSeq: Int64
        public var headHash: String
        public var accepted: Int64
        public var duplicates: Int64
        /// The batch's last event in the Merkle log, with its inclusion proof in the tree as committed.
        public var log: LogPosition
        /// The checkpoint of that tree, as kept (signed by every key in force) when the ingest was given a
        /// signer: receipts name only checkpoints the hub keeps and serves by size.
        public var checkpoint: String?
    }

    /// Checks and commits one batch from the agent `identity` (taken from its certificate, never from
    /// the payload). Returns only after the commit is durable.
    public func ingest(
        _ batch: Batch, identity: String, now: Date = Date(),
        signCheckpoint: (@Sendable (Int64, Merkle.Hash) throws -> SignedNote)? = nil
    ) async throws -> IngestResult {
        let nowMS = Int64(now.timeIntervalSince1970 * 1000)
        try await RecordRules.admit(batch, identity: identity) {
            await recordRefusal(agent: identity, code: $0, nowMS: nowMS)
        }
        // Agent clock minus hub clock (plus transit time): negative when the agent is behind.
        let skew = Timestamp(rfc3339: batch.sentAt).map { $0.epochMilliseconds - nowMS }
        let merkleLog = self.merkleLog
        let outcome: Result<IngestResult, KirokuError> = try await pool.write { db in
            var outcome = try Self.commit(
                batch, identity: identity, nowMS: nowMS, skew: skew, merkleLog: merkleLog, db: db)
            // In the same transaction: the receipt's checkpoint is kept with the events it covers.
            if case .success(var result) = outcome, let signCheckpoint, merkleLog {
                result.checkpoint = try LogTable.keep(
                    db, size: result.log.treeSize, root: result.log.root, nowMS: nowMS, sign: signCheckpoint)
                outcome = .success(result)
            }
            return outcome
        }
        return try outcome.get()
    }

    /// The body of ``ingest(_:identity:now:)`` inside its write transaction (also used for the hub's own
    /// records, so that they enter the record and the log exactly as agents' events do). A refusal is
    /// returned, not thrown, so that the health counters it updated are committed.
    static func commit(
        _ batch: Batch, identity: String, nowMS: Int64, skew: Int64?, merkleLog: Bool = true, db: Database
    ) throws -> Result<IngestResult, KirokuError> {
        var agent = try AgentRow.fetch(db, id: identity, nowMS: nowMS)
        agent.lastSeenMS = nowMS
        agent.reportedHead = max(agent.reportedHead, batch.headSeq)
        if let skew { agent.skewMS = skew }
        let events = batch.events
        // Events the hub already holds: duplicates if identical, forks if not.
        var duplicates: Int64 = 0
        if events[0].seq <= agent.lastSeq {
            let upTo = min(events.last!.seq, agent.lastSeq)
            var held: [Int64: String] = [:]
            let rows = try Row.fetchCursor(
                db, sql: "SELECT seq, hash FROM events WHERE agent = ? AND seq BETWEEN ? AND ?",
                arguments: [identity, events[0].seq, upTo])
            while let row = try rows.next() { held[row[0]] = row[1] }
            for event in events where event.seq <= upTo {
                guard let heldHash = held[event.seq] else {
                    // Held seq range but row gone: should not happen; refuse rather than guess.
                    return .failure(KirokuError(.internalError, "event \(event.seq) is missing from the record"))
                }
                if heldHash == event.hash {
                    duplicates += 1
                } else {
                    try db.execute(
                        sql: """
                            INSERT OR IGNORE INTO forks(agent, seq, held_hash, offered_hash, offered_event, detected_ms)
                            VALUES (?, ?, ?, ?, ?, ?)
                            """,
                        arguments: [
                            identity, event.seq, heldHash, event.hash,
                            String(decoding: event.canonicalBytes(includingHash: true), as: UTF8.self), nowMS,
                        ])
                    agent.forks += 1
                    agent.refusals += 1
                    agent.lastRefusal = ErrorCode.fork.rawValue
                    try agent.save(db)
                    return .failure(
                        KirokuError(
                            .fork,
                            "agent \(identity) sent a different event at seq \(event.seq) than the hub holds; both versions are quarantined for investigation"
                        ))
                }
            }
        }
        let fresh = events.drop { $0.seq <= agent.lastSeq }
        // Every accepted event becomes the next leaf of the Merkle log, in this same transaction; its
        // row id is its leaf index + 1.
        var nextLeaf = try LogTable.size(db)
        var log = try Merkle.Appender(size: merkleLog ? nextLeaf : 0, source: LogTable.source(db))
        if let first = fresh.first {
            // A declared gap bridges exactly the missing range; the first event's link into it cannot be
            // checked (its predecessor is lost), so the gap itself is what the record states.
            var bridged = false
            if let gap = batch.gap, first.seq != agent.lastSeq + 1, gap.from == agent.lastSeq + 1,
                gap.through == first.seq - 1
            {
                try db.execute(
                    sql: "INSERT INTO gaps(agent, from_seq, through_seq, reason, declared_ms) VALUES (?, ?, ?, ?, ?)",
                    arguments: [identity, gap.from, gap.through, gap.reason, nowMS])
                agent.declaredLost += gap.count
                bridged = true
            }
            if first.seq != agent.lastSeq + 1 && !bridged {
                agent.gaps += 1
                agent.refusals += 1
                agent.lastRefusal = ErrorCode.sequenceGap.rawValue
                try agent.save(db)
                return .failure(
                    KirokuError(
                        .sequenceGap,
                        "the hub holds agent \(identity) through seq \(agent.lastSeq); this batch starts at \(first.seq). Send from \(agent.lastSeq + 1)."
                    ))
            }
            if !bridged && first.prev != agent.lastHash {
                agent.refusals += 1
                agent.lastRefusal = ErrorCode.chainBroken.rawValue
                try agent.save(db)
                return .failure(
                    KirokuError(
                        .chainBroken, "event \(first.seq)'s prev does not match the hash of event \(agent.lastSeq)"))
            }
            let statement = try db.cachedStatement(
                sql: """
                    INSERT INTO events(agent, seq, time, time_ms, kind, action, actor, subject, site, attrs,
                        salt, prev, hash, received_ms, id)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """)
            let node = RawInsert(
                statement: try db.cachedStatement(sql: "INSERT INTO merkle(id, hash) VALUES (?, ?)").sqliteStatement,
                connection: db.sqliteConnection)
            // Bound through SQLite's C API: GRDB's StatementArguments cost more per row than the insert
            // itself on this path (Benchmarks/README.md).
            let insert = RawInsert(statement: statement.sqliteStatement, connection: db.sqliteConnection)
            for event in fresh {
                let timeMS = Timestamp(rfc3339: event.time)!.epochMilliseconds
                try insert.reset()
                try insert.bind(1, identity)
                try insert.bind(2, event.seq)
                try insert.bind(3, event.time)
                try insert.bind(4, timeMS)
                try insert.bind(5, event.kind)
                try insert.bind(6, event.action)
                try insert.bind(7, event.actor)
                try insert.bind(8, event.subject)
                try insert.bind(9, event.site)
                try insert.bind(10, Self.attrsJSON(event.attrs))
                try insert.bind(11, event.salt)
                try insert.bind(12, event.prev)
                try insert.bind(13, event.hash)
                try insert.bind(14, nowMS)
                try insert.bind(15, nextLeaf + 1)
                try insert.step()
                nextLeaf += 1
                if merkleLog {
                    guard let leaf = Merkle.leafHash(eventHash: event.hash) else {
                        throw KirokuError(.internalError, "event \(event.seq) has no hex hash")
                    }
                    try log.append(leaf) { level, index, hash in
                        guard LogTable.kept(level) else { return }
                        try node.reset()
                        try node.bind(1, LogTable.key(level, index))
                        try node.bind(2, bytes: hash)
                        try node.step()
                    }
                }
                agent.note(event, timeMS: timeMS)
            }
            agent.lastSeq = fresh.last!.seq
            agent.lastHash = fresh.last!.hash
            agent.events += Int64(fresh.count)
        }
        agent.batches += 1
        agent.duplicates += duplicates
        try agent.save(db)
        // Where the batch's last event stands in the log, and the proof of it.
        let through = events.last!
        guard merkleLog else {
            return .success(
                IngestResult(
                    firstSeq: events[0].seq, throughSeq: through.seq, headHash: through.hash,
                    accepted: Int64(fresh.count),
                    duplicates: duplicates,
                    log: LogPosition(leafIndex: nextLeaf - 1, treeSize: nextLeaf, root: [], inclusion: [])))
        }
        let leafIndex: Int64
        if fresh.last?.seq == through.seq {
            leafIndex = log.size - 1
        } else if let id = try Int64.fetchOne(
            db, sql: "SELECT id FROM events WHERE agent = ? AND seq = ?", arguments: [identity, through.seq])
        {
            leafIndex = id - 1
        } else {
            throw KirokuError(
                .internalError, "event \(through.seq) of \(identity) is not in the record after its batch")
        }
        var prover = Merkle.Prover(size: log.size, source: LogTable.source(db))
        let position = LogPosition(
            leafIndex: leafIndex, treeSize: log.size, root: log.root, inclusion: try prover.inclusion(index: leafIndex))
        return .success(
            IngestResult(
                firstSeq: events[0].seq, throughSeq: through.seq, headHash: through.hash,
                accepted: Int64(fresh.count), duplicates: duplicates, log: position))
    }

    /// The canonical JSON text of an attribute map, as stored.
    static func attrsJSON(_ attrs: [String: String]) -> String {
        if attrs.isEmpty { return "{}" }
        var out: [UInt8] = []
        CanonicalJSON.writeStringMap(attrs, into: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// The checks that need no database: identity, schema, hashes, order and links inside the batch.
    static func check(_ batch: Batch, identity: String) throws(KirokuError) {
        guard batch.agent == identity else {
            throw KirokuError(
                .agentMismatch,
                "this certificate is agent '\(identity)'; it may not send a batch for '\(batch.agent.prefix(64))'")
        }
        guard let first = batch.events.first else { throw KirokuError(.emptyBatch, "the batch has no events") }
        guard (0...Event.maxSeq).contains(batch.headSeq) else {
            throw KirokuError(.malformedRequest, "head_seq must be 0 to 2^53 − 1")
        }
        if let gap = batch.gap {
            guard gap.from >= 1, gap.through >= gap.from, gap.through == first.seq - 1,
                (1...256).contains(gap.reason.utf8.count)
            else {
                throw KirokuError(
                    .malformedRequest, "a declared gap must end right before the batch's first event and give a reason")
            }
        }
        guard Timestamp(rfc3339: batch.sentAt) != nil else {
            throw KirokuError(.malformedRequest, "sent_at must be RFC 3339 with milliseconds and offset")
        }
        var previous: Event?
        for event in batch.events {
            guard event.agent == identity else {
                throw KirokuError(
                    .agentMismatch, "event seq \(event.seq) names agent '\(event.agent.prefix(64))', not '\(identity)'")
            }
            try event.validate()
            guard event.kind != "record" || identity == HubRecords.agentID else {
                throw KirokuError(
                    .invalidEvent, "event seq \(event.seq): kind 'record' is written only by the hub itself")
            }
            // A submission and its review are made through the hub, which keeps the files they name.
            guard
                event.kind != "contractor" || !["submitted", "reviewed"].contains(event.action)
                    || identity == HubRecords.agentID
            else {
                throw KirokuError(
                    .invalidEvent,
                    "event seq \(event.seq): contractor/\(event.action) is written only by the hub (kirokuctl contractor submit, review)"
                )
            }
            if let previous {
                guard event.seq == previous.seq + 1 else {
                    throw KirokuError(
                        .sequenceOrder,
                        "event seq \(event.seq) follows seq \(previous.seq); a batch must be consecutive")
                }
                guard event.prev == previous.hash else {
                    throw KirokuError(
                        .chainBroken, "event \(event.seq)'s prev is not the hash of event \(previous.seq)")
                }
            } else if first.seq == 1 && event.prev != Event.genesis {
                throw KirokuError(.chainBroken, "event 1's prev must be the genesis value (64 zeros)")
            }
            previous = event
        }
    }

    private func recordRefusal(agent: String, code: ErrorCode, nowMS: Int64) async {
        _ = try? await pool.write { db in
            var row = try AgentRow.fetch(db, id: agent, nowMS: nowMS)
            row.refusals += 1
            row.lastSeenMS = nowMS
            row.lastRefusal = code.rawValue
            if code == .sequenceGap { row.gaps += 1 }
            try row.save(db)
        }
    }

    // MARK: Agent state and health

    /// Where the hub's copy of an agent's chain stands.
    public func chainHead(agent: String) async throws -> (seq: Int64, hash: String) {
        try await pool.read { db in
            let row = try Row.fetchOne(
                db, sql: "SELECT last_seq, last_hash FROM agents WHERE id = ?", arguments: [agent])
            return row.map { ($0[0], $0[1]) } ?? (0, Event.genesis)
        }
    }

    /// The hash of the hub's copy of an agent's event `seq`, if it holds it.
    public func hash(agent: String, seq: Int64) async throws -> String? {
        try await pool.read { db in
            try String.fetchOne(
                db, sql: "SELECT hash FROM events WHERE agent = ? AND seq = ?", arguments: [agent, seq])
        }
    }

    /// Health of every agent the hub has heard from.
    public func agentHealth() async throws -> [AgentHealth] {
        try await pool.read { db in
            let forkCounts = try Row.fetchAll(db, sql: "SELECT agent, count(*) FROM forks GROUP BY agent")
            var quarantined: [String: Int64] = [:]
            for row in forkCounts { quarantined[row[0]] = row[1] }
            return try Row.fetchAll(db, sql: "SELECT * FROM agents ORDER BY id").map { row in
                let id: String = row["id"]
                let lastSeq: Int64 = row["last_seq"]
                let head: Int64 = row["reported_head"]
                return AgentHealth(
                    agent: id, lastSeq: lastSeq, lastHash: row["last_hash"],
                    firstSeen: Timestamp(epochMilliseconds: row["first_seen_ms"]).rfc3339,
                    lastSeen: Timestamp(epochMilliseconds: row["last_seen_ms"]).rfc3339,
                    lastEventTime: (row["last_event_ms"] as Int64?).map { Timestamp(epochMilliseconds: $0).rfc3339 },
                    reportedHead: head, lag: max(0, head - lastSeq), skewMS: row["skew_ms"], events: row["events"],
                    batches: row["batches"], duplicates: row["duplicates"], forks: row["forks"],
                    quarantined: quarantined[id] ?? 0, gaps: row["gaps"], refusals: row["refusals"],
                    lastRefusal: row["last_refusal"], clockJumps: row["clock_jumps"],
                    declaredLost: row["declared_lost"],
                    epochs: row["epochs"], lastEpochReason: row["last_epoch_reason"])
            }
        }
    }

    /// Quarantined fork versions for one agent (what the investigation needs): the offered event's canonical
    /// JSON, or nil once the retention purge took it with the held event.
    public func forks(agent: String) async throws -> [(
        seq: Int64, heldHash: String, offeredHash: String, offeredEvent: String?
    )] {
        try await pool.read { db in
            try Row.fetchAll(
                db, sql: "SELECT seq, held_hash, offered_hash, offered_event FROM forks WHERE agent = ? ORDER BY seq",
                arguments: [agent]
            ).map { ($0[0], $0[1], $0[2], ($0[3] as String).isEmpty ? nil : $0[3]) }
        }
    }

    /// Ranges of an agent's events declared lost (never received, and no longer held by the agent).
    public func declaredGaps(agent: String) async throws -> [DeclaredGap] {
        try await pool.read { db in
            try Row.fetchAll(
                db, sql: "SELECT from_seq, through_seq, reason FROM gaps WHERE agent = ? ORDER BY from_seq",
                arguments: [agent]
            ).map { DeclaredGap(from: $0[0], through: $0[1], reason: $0[2]) }
        }
    }

    /// How many events the record holds.
    public func eventCount() async throws -> Int64 {
        try await pool.read { db in try Int64.fetchOne(db, sql: "SELECT count(*) FROM events") ?? 0 }
    }
}

/// One agent's row in the hub's register of agents.
struct AgentRow {
    var id: String
    var lastSeq: Int64 = 0
    var lastHash = Event.genesis
    var firstSeenMS: Int64
    var lastSeenMS: Int64
    var lastEventMS: Int64?
    var reportedHead: Int64 = 0
    var skewMS: Int64?
    var events: Int64 = 0
    var batches: Int64 = 0
    var duplicates: Int64 = 0
    var forks: Int64 = 0
    var gaps: Int64 = 0
    var refusals: Int64 = 0
    var lastRefusal: String?
    var clockJumps: Int64 = 0
    var declaredLost: Int64 = 0
    var epochs: Int64 = 0
    var lastEpochReason: String?

    static func fetch(_ db: Database, id: String, nowMS: Int64) throws -> AgentRow {
        guard let row = try Row.fetchOne(db, sql: "SELECT * FROM agents WHERE id = ?", arguments: [id]) else {
            return AgentRow(id: id, firstSeenMS: nowMS, lastSeenMS: nowMS)
        }
        return AgentRow(
            id: id, lastSeq: row["last_seq"], lastHash: row["last_hash"], firstSeenMS: row["first_seen_ms"],
            lastSeenMS: row["last_seen_ms"], lastEventMS: row["last_event_ms"], reportedHead: row["reported_head"],
            skewMS: row["skew_ms"], events: row["events"], batches: row["batches"], duplicates: row["duplicates"],
            forks: row["forks"], gaps: row["gaps"], refusals: row["refusals"], lastRefusal: row["last_refusal"],
            clockJumps: row["clock_jumps"], declaredLost: row["declared_lost"], epochs: row["epochs"],
            lastEpochReason: row["last_epoch_reason"])
    }

    func save(_ db: Database) throws {
        try db.execute(
            sql: """
                INSERT OR REPLACE INTO agents(id, last_seq, last_hash, first_seen_ms, last_seen_ms, last_event_ms,
                    reported_head, skew_ms, events, batches, duplicates, forks, gaps, refusals, last_refusal, clock_jumps,
                    declared_lost, epochs, last_epoch_reason)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """,
            arguments: [
                id, lastSeq, lastHash, firstSeenMS, lastSeenMS, lastEventMS, reportedHead, skewMS, events, batches,
                duplicates, forks, gaps, refusals, lastRefusal, clockJumps, declaredLost, epochs, lastEpochReason,
            ])
    }
}

/// Binds and steps one prepared INSERT through SQLite's C API.
struct RawInsert {
    let statement: OpaquePointer
    let connection: OpaquePointer?
    static let transient = unsafeBitCast(OpaquePointer(bitPattern: -1), to: sqlite3_destructor_type.self)

    func reset() throws {
        sqlite3_reset(statement)
    }

    func bind(_ position: Int32, _ text: String) throws {
        var copy = text
        let code = copy.withUTF8 { bytes in
            // An empty buffer may have no address; SQLite would bind NULL for a nil pointer.
            bytes.isEmpty
                ? sqlite3_bind_text(statement, position, "", 0, Self.transient)
                : sqlite3_bind_text(
                    statement, position,
                    bytes.baseAddress.map { UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self) },
                    Int32(bytes.count), Self.transient)
        }
        guard code == SQLITE_OK else { throw DatabaseError(resultCode: ResultCode(rawValue: code)) }
    }

    func bind(_ position: Int32, _ value: Int64) throws {
        let code = sqlite3_bind_int64(statement, position, value)
        guard code == SQLITE_OK else { throw DatabaseError(resultCode: ResultCode(rawValue: code)) }
    }

    func bind(_ position: Int32, bytes: [UInt8]) throws {
        let code = bytes.withUnsafeBytes { buffer in
            sqlite3_bind_blob(statement, position, buffer.baseAddress, Int32(buffer.count), Self.transient)
        }
        guard code == SQLITE_OK else { throw DatabaseError(resultCode: ResultCode(rawValue: code)) }
    }

    func step() throws {
        let code = sqlite3_step(statement)
        guard code == SQLITE_DONE else {
            throw DatabaseError(
                resultCode: ResultCode(rawValue: code), message: String(cString: sqlite3_errmsg(connection)))
        }
    }
}

/// Rings a ``Doorbell`` after each committed transaction that added events, whoever wrote them (an
/// agent's batch, the hub's own records). The `events` rows are inserted through SQLite's C API, which
/// GRDB's change tracking never sees, so the observer asks the record itself after each commit: the
/// newest row id, an index-free look-up of the table's last rowid. Transactions that add no events (the
/// rule service's own findings among them) do not ring.
private final class ArrivalObserver: TransactionObserver {
    private let bell: Doorbell
    /// Touched only on the writer's queue, inside GRDB's callbacks.
    private var newest: Int64?

    init(_ bell: Doorbell) { self.bell = bell }

    func observes(eventsOfKind eventKind: DatabaseEventKind) -> Bool { false }

    func databaseDidChange(with event: DatabaseEvent) {}

    func databaseDidCommit(_ db: Database) {
        guard let now = try? Int64.fetchOne(db, sql: "SELECT max(id) FROM events") else { return }
        // The first commit seen after opening rings once whatever it held: a spare round costs nothing.
        let grew = newest.map { now > $0 } ?? true
        newest = now
        if grew { bell.ring() }
    }

    func databaseDidRollback(_ db: Database) {}
}
