import GRDB
public import KirokuProtocol

#if canImport(FoundationEssentials)
    public import FoundationEssentials
#else
    public import Foundation
#endif

/// The agent's durable journal: one SQLite database in WAL mode with `synchronous = FULL` on the writer.
///
/// Every write method is one transaction that keeps the journal's invariants: sequence numbers are gapless
/// from 1, each event's `prev` is its predecessor's hash, and an event is reported committed only after the
/// transaction is durable. Several processes may open the same journal (the daemon and `kiroku-agent
/// record`): the chain head is always read inside the writing transaction, never cached.
public struct Journal: Sendable {
    public let agentID: String
    public let site: String
    public let path: String
    let pool: DatabasePool
    /// Set when ``open(path:agentID:site:checkIntegrity:)`` found the journal corrupt and started afresh.
    public var recovered: CorruptJournal?

    /// Opens (creating if needed) the journal at `path` for `agentID`. Refuses a journal that belongs to
    /// another agent.
    ///
    /// With `checkIntegrity` (the daemon, at start), runs SQLite's `quick_check` first. A corrupt journal
    /// is moved aside intact for forensics, an empty one takes its place, and a new chain epoch is marked
    /// pending: at the first contact with the hub it starts with a loss record (``CorruptJournal``).
    public static func open(path: String, agentID: String, site: String, checkIntegrity: Bool = false) throws -> Journal
    {
        guard AgentID.isValid(agentID) else {
            throw KirokuError(.configuration, "agent id '\(agentID)' must be 1-64 of A-Z a-z 0-9 . _ -")
        }
        if checkIntegrity, let problem = try integrityProblem(path: path) {
            let aside = try setAside(path: path)
            let oldHead = readableHead(path: aside + "/" + URL(filePath: path).lastPathComponent)
            var journal = try openPool(path: path, agentID: agentID, site: site)
            let corrupt = CorruptJournal(aside: aside, problem: problem, oldHead: oldHead)
            try journal.markEpochPending(corrupt)
            journal.recovered = corrupt
            return journal
        }
        return try openPool(path: path, agentID: agentID, site: site)
    }

    private static func openPool(path: String, agentID: String, site: String) throws -> Journal {
        var configuration = Configuration()
        configuration.busyMode = .timeout(30)
        configuration.label = "kiroku.journal"
        let pool: DatabasePool
        do {
            // 0600 before SQLite creates it: the journal and its WAL are the agent's alone, whatever the umask.
            try PrivateFiles.prepareDatabase(path: path)
            pool = try DatabasePool(path: path, configuration: configuration)
            // GRDB lowers the writer to NORMAL after prepareDatabase (docs/ARCHITECTURE.md, stack note 1): set FULL on the
            // writer itself, after opening.
            try pool.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA synchronous = FULL") }
            try migrator.migrate(pool)
            try pool.write { db in
                if let owner = try String.fetchOne(db, sql: "SELECT value FROM meta WHERE key = 'agent_id'") {
                    guard owner == agentID else {
                        throw KirokuError(
                            .journal, "journal \(path) belongs to agent '\(owner)', not '\(agentID)'")
                    }
                } else {
                    try db.execute(sql: "INSERT INTO meta(key, value) VALUES ('agent_id', ?)", arguments: [agentID])
                }
            }
        } catch let error as KirokuError {
            throw error
        } catch {
            throw KirokuError(.journal, "cannot open journal \(path)", underlying: error)
        }
        return Journal(agentID: agentID, site: site, path: path, pool: pool)
    }

    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(
                sql: """
                    CREATE TABLE meta(key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL) WITHOUT ROWID;
                    CREATE TABLE events(
                        seq INTEGER PRIMARY KEY CHECK (seq >= 1),
                        time_ms INTEGER NOT NULL,
                        hash TEXT NOT NULL CHECK (length(hash) = 64),
                        body BLOB NOT NULL
                    );
                    CREATE TABLE sync(
                        id INTEGER PRIMARY KEY CHECK (id = 1),
                        delivered_through INTEGER NOT NULL DEFAULT 0,
                        last_sync_ms INTEGER,
                        last_attempt_ms INTEGER,
                        last_error TEXT,
                        hub_reachable INTEGER NOT NULL DEFAULT 0
                    );
                    INSERT INTO sync(id) VALUES (1);
                    CREATE TABLE receipts(
                        through_seq INTEGER PRIMARY KEY,
                        first_seq INTEGER NOT NULL,
                        body TEXT NOT NULL,
                        received_ms INTEGER NOT NULL
                    );
                    """)
        }
        migrator.registerMigration("v2: epochs") { db in
            // Events taken out of the chain when a new epoch began (their content was journalled again in
            // the new epoch); kept as they were, for forensics.
            try db.execute(
                sql: """
                    CREATE TABLE orphaned(
                        epoch_seq INTEGER NOT NULL,
                        seq INTEGER NOT NULL,
                        hash TEXT NOT NULL,
                        body BLOB NOT NULL,
                        PRIMARY KEY (epoch_seq, seq)
                    );
                    """)
        }
        migrator.registerMigration("v3: file positions") { db in
            // Where each followed file has been read to, committed with the events read up to it.
            try db.execute(
                sql:
                    "CREATE TABLE file_positions(path TEXT PRIMARY KEY, inode INTEGER NOT NULL, offset INTEGER NOT NULL) WITHOUT ROWID"
            )
        }
        migrator.registerMigration("v4: inventory") { db in
            // The devices and programs last seen (key → canonical JSON of their attributes).
            try db.execute(sql: "CREATE TABLE inventory(key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID")
        }
        migrator.registerMigration("v5: imports") { db in try migrateImports(db) }
        migrator.registerMigration("v6: import progress") { db in try migrateImportProgress(db) }
        return migrator
    }

    /// The `synchronous` setting in force on the writer connection (2 = FULL).
    public func writerSynchronousSetting() throws -> Int {
        try pool.writeWithoutTransaction { db in try Int.fetchOne(db, sql: "PRAGMA synchronous") ?? -1 }
    }

    // MARK: Appending

    /// Appends events in one durable transaction and returns them sealed. Nothing is appended if any
    /// draft is invalid or the write fails.
    @discardableResult
    public func append(_ drafts: [EventDraft], now: Date = Date()) throws -> [Event] {
        let prepared = try prepare(drafts, now: now)
        do {
            return try pool.write { db in try Self.insert(prepared, agent: agentID, site: site, db: db) }
        } catch {
            throw commitError(error)
        }
    }

    /// The async form of ``append(_:now:)``: the write runs on GRDB's writer queue, not the caller's thread.
    @discardableResult
    public func append(_ drafts: [EventDraft], now: Date = Date()) async throws -> [Event] {
        let prepared = try prepare(drafts, now: now)
        let agent = agentID
        let site = site
        do {
            return try await pool.write { db in try Self.insert(prepared, agent: agent, site: site, db: db) }
        } catch {
            throw commitError(error)
        }
    }

    /// What a failed commit tells the producer: nothing of it was recorded, and why.
    func commitError(_ error: any Error) -> KirokuError {
        if let error = error as? KirokuError { return error }
        if let database = error as? DatabaseError, database.resultCode == .SQLITE_FULL {
            return KirokuError(
                .diskFull,
                "the disk holding the journal \(path) is full: the event was NOT recorded. Free space there; the agent will journal what it could not take.",
                underlying: error)
        }
        return KirokuError(.journal, "could not commit to the journal \(path): nothing was recorded", underlying: error)
    }

    func prepare(_ drafts: [EventDraft], now: Date) throws(KirokuError) -> [(EventDraft, Timestamp)] {
        let stamp = Timestamp.localNow(now)
        var prepared: [(EventDraft, Timestamp)] = []
        prepared.reserveCapacity(drafts.count)
        for draft in drafts {
            try draft.validate()
            prepared.append((draft, draft.time.flatMap(Timestamp.init(rfc3339:)) ?? stamp))
        }
        return prepared
    }

    static func insert(
        _ prepared: [(EventDraft, Timestamp)], agent: String, site: String, db: Database,
        after start: (seq: Int64, hash: String)? = nil
    ) throws -> [Event] {
        var (seq, prev) = try start ?? head(db)
        let statement = try db.cachedStatement(sql: "INSERT INTO events(seq, time_ms, hash, body) VALUES (?, ?, ?, ?)")
        var events: [Event] = []
        events.reserveCapacity(prepared.count)
        for (draft, time) in prepared {
            seq += 1
            let event = Event(
                agent: agent, seq: seq, time: time.rfc3339, kind: draft.kind, action: draft.action,
                actor: draft.actor, subject: draft.subject, site: draft.site ?? site, attrs: draft.attrs,
                salt: Event.randomSalt(), prev: prev
            ).sealed()
            let body = event.canonicalBytes(includingHash: true)
            guard body.count <= Event.maxBytes + 100 else {
                throw KirokuError(.eventTooLarge, "event is \(body.count) bytes; the limit is \(Event.maxBytes)")
            }
            try statement.execute(arguments: [seq, time.epochMilliseconds, event.hash, Data(body)])
            prev = event.hash
            events.append(event)
        }
        return events
    }

    static func head(_ db: Database) throws -> (Int64, String) {
        // A cached statement: compiling this SQL on every append cost more than running it.
        let statement = try db.cachedStatement(sql: "SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1")
        if let row = try Row.fetchOne(statement) {
            return (row[0], row[1])
        }
        return (0, Event.genesis)
    }

    // MARK: Reading

    /// Up to `limit` events from `seq` on (and at most about `maxBytes`), as stored canonical bytes.
    public func pending(from seq: Int64, limit: Int, maxBytes: Int) throws -> [StoredEvent] {
        try pool.read { db in try Self.pending(db, from: seq, limit: limit, maxBytes: maxBytes) }
    }

    static func pending(_ db: Database, from seq: Int64, limit: Int, maxBytes: Int) throws -> [StoredEvent] {
        var out: [StoredEvent] = []
        var bytes = 0
        let rows = try Row.fetchCursor(
            db, sql: "SELECT seq, hash, body FROM events WHERE seq >= ? ORDER BY seq LIMIT ?",
            arguments: [seq, limit])
        while let row = try rows.next() {
            let body: Data = row[2]
            if !out.isEmpty && bytes + body.count > maxBytes { break }
            bytes += body.count + 1
            out.append(StoredEvent(seq: row[0], hash: row[1], body: [UInt8](body)))
        }
        return out
    }

    /// The event at `seq`, decoded, if the journal still has it.
    public func event(seq: Int64) throws -> Event? {
        try pool.read { db in try Self.event(db, seq: seq) }
    }

    static func event(_ db: Database, seq: Int64) throws -> Event? {
        guard let body = try Data.fetchOne(db, sql: "SELECT body FROM events WHERE seq = ?", arguments: [seq])
        else { return nil }
        return try JSONDecoder().decode(Event.self, from: body)
    }

    /// Every event kept, decoded, in sequence order (for verification and tests; not for large journals).
    public func allEvents() throws -> [Event] {
        try pool.read { db in
            try Data.fetchAll(db, sql: "SELECT body FROM events ORDER BY seq").map {
                try JSONDecoder().decode(Event.self, from: $0)
            }
        }
    }

    // MARK: Sync bookkeeping

    /// Marks everything through `receipt.throughSeq` delivered and keeps the signed receipt, in one
    /// transaction. Never moves the delivered mark backwards.
    public func markDelivered(_ signed: SignedReceipt, now: Date = Date()) throws {
        let body = try String(decoding: JSONEncoder().encode(signed), as: UTF8.self)
        let nowMS = Int64(now.timeIntervalSince1970 * 1000)
        try pool.write { db in try Self.markDelivered(db, signed, body: body, nowMS: nowMS) }
    }

    static func markDelivered(_ db: Database, _ signed: SignedReceipt, body: String, nowMS: Int64) throws {
        try db.execute(
            sql: """
                UPDATE sync SET delivered_through = max(delivered_through, ?), last_sync_ms = ?,
                    last_attempt_ms = ?, last_error = NULL, hub_reachable = 1 WHERE id = 1
                """, arguments: [signed.receipt.throughSeq, nowMS, nowMS])
        try db.execute(
            sql: "INSERT OR REPLACE INTO receipts(through_seq, first_seq, body, received_ms) VALUES (?, ?, ?, ?)",
            arguments: [signed.receipt.throughSeq, signed.receipt.firstSeq, body, nowMS])
    }

    /// Records that the hub answered (reachable) without moving the delivered mark.
    public func recordContact(now: Date = Date()) throws {
        let nowMS = Int64(now.timeIntervalSince1970 * 1000)
        try pool.write { db in try Self.recordContact(db, nowMS: nowMS) }
    }

    static func recordContact(_ db: Database, nowMS: Int64) throws {
        try db.execute(
            sql: "UPDATE sync SET last_attempt_ms = ?, last_error = NULL, hub_reachable = 1 WHERE id = 1",
            arguments: [nowMS])
    }

    /// Records a failed sync attempt, for `status`.
    public func recordFailure(_ message: String, reachable: Bool, now: Date = Date()) throws {
        let nowMS = Int64(now.timeIntervalSince1970 * 1000)
        try pool.write { db in try Self.recordFailure(db, message, reachable: reachable, nowMS: nowMS) }
    }

    static func recordFailure(_ db: Database, _ message: String, reachable: Bool, nowMS: Int64) throws {
        try db.execute(
            sql: "UPDATE sync SET last_attempt_ms = ?, last_error = ?, hub_reachable = ? WHERE id = 1",
            arguments: [nowMS, String(message.prefix(500)), reachable ? 1 : 0])
    }

    /// Deletes delivered events older than `cutoff`, keeping the chain head. Returns how many went.
    @discardableResult
    public func pruneDelivered(olderThan cutoff: Date) throws -> Int {
        let cutoffMS = Int64(cutoff.timeIntervalSince1970 * 1000)
        return try pool.write { db in try Self.pruneDelivered(db, cutoffMS: cutoffMS) }
    }

    /// The whole rule of pruning, in one statement: only what the hub acknowledged (a receipt moved the
    /// delivered mark past it), only what is older than the keep window, never the chain head (the next
    /// event links to it).
    static func pruneDelivered(_ db: Database, cutoffMS: Int64) throws -> Int {
        try db.execute(
            sql: """
                DELETE FROM events WHERE seq <= (SELECT delivered_through FROM sync WHERE id = 1)
                    AND seq < (SELECT max(seq) FROM events) AND time_ms < ?
                """, arguments: [cutoffMS])
        return db.changesCount
    }

    /// The newest sequence number and the delivered mark: two index look-ups, cheap enough for a hot loop.
    public func progress() throws -> (headSeq: Int64, deliveredThrough: Int64) {
        try pool.read(Self.progress)
    }

    static func progress(_ db: Database) throws -> (headSeq: Int64, deliveredThrough: Int64) {
        let head = try Int64.fetchOne(db, sql: "SELECT seq FROM events ORDER BY seq DESC LIMIT 1") ?? 0
        let delivered = try Int64.fetchOne(db, sql: "SELECT delivered_through FROM sync WHERE id = 1") ?? 0
        return (head, delivered)
    }

    /// Where the journal stands: head, delivered mark, backlog, last contact with the hub.
    public func status() throws -> JournalStatus {
        let pending = try pendingEpoch()
        return try pool.read { db in
            let (headSeq, headHash) = try Self.head(db)
            let row = try Row.fetchOne(
                db, sql: "SELECT delivered_through, last_sync_ms, last_attempt_ms, last_error, hub_reachable FROM sync")!
            let kept = try Int64.fetchOne(db, sql: "SELECT count(*) FROM events") ?? 0
            let receipt = try String.fetchOne(db, sql: "SELECT body FROM receipts ORDER BY through_seq DESC LIMIT 1")
                .flatMap { try? JSONDecoder().decode(SignedReceipt.self, from: Data($0.utf8)) }
            let delivered: Int64 = row[0]
            return JournalStatus(
                agentID: agentID, headSeq: headSeq, headHash: headHash, deliveredThrough: delivered,
                backlog: max(0, headSeq - delivered), keptEvents: kept, lastSyncMS: row[1], lastAttemptMS: row[2],
                lastError: row[3], hubReachable: (row[4] as Int64) == 1, lastReceipt: receipt,
                pendingEpoch: pending?.reason, corruptJournalAside: pending?.corrupt?.aside)
        }
    }

    /// The time of the newest event, as written (nil for an empty journal).
    public func lastEventTime() throws -> Timestamp? {
        try pool.read { db in
            try Int64.fetchOne(db, sql: "SELECT time_ms FROM events ORDER BY seq DESC LIMIT 1")
                .map { Timestamp(epochMilliseconds: $0) }
        }
    }

    /// Every receipt the hub gave this agent, oldest first.
    public func receipts() throws -> [SignedReceipt] {
        try pool.read { db in
            try String.fetchAll(db, sql: "SELECT body FROM receipts ORDER BY through_seq").map {
                try JSONDecoder().decode(SignedReceipt.self, from: Data($0.utf8))
            }
        }
    }

    /// Runs SQLite's own consistency check; "ok" when the file is sound.
    public func integrityCheck() throws -> String {
        try pool.read { db in try String.fetchAll(db, sql: "PRAGMA integrity_check").joined(separator: "; ") }
    }
}

/// One journalled event as stored: its sequence number and canonical bytes (with `hash`).
public struct StoredEvent: Sendable {
    public var seq: Int64
    public var hash: String
    public var body: [UInt8]
}

/// What `kiroku-agent status` shows.
public struct JournalStatus: Sendable, Codable {
    public var agentID: String
    public var headSeq: Int64
    public var headHash: String
    public var deliveredThrough: Int64
    public var backlog: Int64
    public var keptEvents: Int64
    public var lastSyncMS: Int64?
    public var lastAttemptMS: Int64?
    public var lastError: String?
    public var hubReachable: Bool
    public var lastReceipt: SignedReceipt?
    /// Set while a new chain epoch waits for the next contact with the hub, and why.
    public var pendingEpoch: String?
    /// Where a corrupt journal was moved for forensics.
    public var corruptJournalAside: String?

    enum CodingKeys: String, CodingKey {
        case agentID = "agent"
        case headSeq = "head_seq"
        case headHash = "head_hash"
        case deliveredThrough = "delivered_through"
        case backlog
        case keptEvents = "kept_events"
        case lastSyncMS = "last_sync_ms"
        case lastAttemptMS = "last_attempt_ms"
        case lastError = "last_error"
        case hubReachable = "hub_reachable"
        case lastReceipt = "last_receipt"
        case pendingEpoch = "pending_epoch"
        case corruptJournalAside = "corrupt_journal_aside"
    }
}
