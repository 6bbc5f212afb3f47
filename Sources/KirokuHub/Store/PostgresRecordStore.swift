public import Crypto
public import Foundation
public import KirokuProtocol
public import Logging
import NIOCore
import NIOPosix
import NIOSSL
import PostgresNIO
import Synchronization

/// The record on PostgreSQL: for records too large for one file (several municipalities, billions of rows
/// over seven years) and for several hub processes on one database (Hub/README.md, "PostgreSQL").
///
/// Tables (every key starts with the municipality, so that one database can hold several):
/// - `events`, partitioned by month of event time in JST (a default partition takes any other time, so that a
///   wrong agent clock is never refused); the payload, what queries read.
/// - `leaves`, unpartitioned: the Merkle log's order, each event's identity and hash, and the exactly-once
///   constraints (PostgreSQL refuses a unique key on a partitioned table without the partition key).
/// - `log_heads`: the tree's size and frontier, so that a receipt's proof needs no tree reads under the lock;
///   `merkle`: every fourth level of complete subtrees, as on SQLite, for the other proofs.
/// - `agents`, `forks`, `gaps`, `checkpoints`, `cosignatures`, `revoked_serials`.
///
/// Several hubs ingest at once: each batch locks its agent's row, then the log head, in that order, and
/// commits events, leaves, nodes, the agent's state and the receipt's checkpoint in one transaction.
public final class PostgresRecordStore: RecordStore {
    public let arrivals = Doorbell()
    public let location: String
    let municipality: String
    let client: PostgresClient
    /// For the one write that must be waited for synchronously (revoked serials): a connection of its own,
    /// on the store's own thread.
    private let sideConfiguration: PostgresConnection.Configuration
    private let group: MultiThreadedEventLoopGroup
    private let running: Task<Void, Never>
    private let logger: Logger
    /// The signing key this hub was bound with (``bind(origin:keyID:previous:)``): it signs nothing once the
    /// log is bound to another (a rotation made by another hub on the database).
    private let boundKeyID = Mutex<String?>(nil)
    private let created = Mutex(false)
    private let lastUnavailableLog = Mutex<ContinuousClock.Instant?>(nil)
    private let lastProbe = Mutex<(ContinuousClock.Instant, Bool)?>(nil)

    private init(
        client: PostgresClient, side: PostgresConnection.Configuration, group: MultiThreadedEventLoopGroup,
        municipality: String, location: String, logger: Logger
    ) {
        self.client = client
        self.sideConfiguration = side
        self.group = group
        self.municipality = municipality
        self.location = location
        self.logger = logger
        running = Task { await client.run() }
    }

    /// Connects, migrates and makes the months' partitions; throws `configuration` with what to do when the
    /// database cannot be reached or used.
    ///
    /// `create`: begin the municipality's record if the database holds none (the first hub's first start, and
    /// tests); otherwise a database without it is refused, naming the municipality looked for.
    public static func open(
        _ settings: StoreSettings, municipality: String, logger: Logger, create: Bool = true
    ) async throws -> PostgresRecordStore {
        let location = try settings.location()
        let tls: PostgresClient.Configuration.TLS
        var tlsConfiguration: TLSConfiguration?
        switch location.sslMode {
        case .disable:
            tls = .disable
        case .require:
            var configuration = TLSConfiguration.makeClientConfiguration()
            configuration.certificateVerification = .none
            tls = .require(configuration)
            tlsConfiguration = configuration
        case .verifyFull:
            var configuration = TLSConfiguration.makeClientConfiguration()
            if let root = location.rootCertificate {
                configuration.trustRoots = .file(root)
            }
            tls = .require(configuration)
            tlsConfiguration = configuration
        }
        // Its own threads: the TLS handshake's verification waits on the store (revoked serials) from the
        // server's threads, which must never be the ones the store's answer arrives on.
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        // A transaction left open by a hub that vanished without closing its connection would hold the log head
        // until TCP gave up (hours): the server ends such a session after a minute, and nobody waits for a lock
        // longer than that (the agent retries its batch).
        // synchronous_commit is forced on for the hub's sessions, whatever the role or database says.
        let timeouts = [
            ("idle_in_transaction_session_timeout", "60000"), ("lock_timeout", "60000"), ("synchronous_commit", "on"),
        ]
        var side = PostgresConnection.Configuration(
            host: location.host, port: location.port, username: location.user, password: location.password,
            database: location.database,
            tls: try tlsConfiguration.map { .require(try NIOSSLContext(configuration: $0)) } ?? .disable)
        side.options.connectTimeout = .seconds(10)
        // verify-full checks the certificate against the URL's host name (sent as SNI; an IP address is matched
        // against the certificate's IP entries instead, and may not be sent as SNI).
        let serverName =
            location.sslMode == .verifyFull && (try? SocketAddress(ipAddress: location.host, port: 0)) == nil
            ? location.host : nil
        side.options.tlsServerName = serverName
        side.options.additionalStartupParameters = timeouts
        // One connection first, to say at once what is wrong (refused, no such database, authentication), and
        // that commits are durable: the pool would retry for a minute and then report only that it gave up.
        do {
            let connection = try await PostgresConnection.connect(
                on: group.next(), configuration: side, id: 0, logger: logger)
            do {
                for setting in ["fsync", "synchronous_commit"] {
                    let value = try await connection.query(PostgresQuery(unsafeSQL: "SHOW \(setting)"), logger: logger)
                        .collect().first?.decode(String.self)
                    guard value != "off" else {
                        throw KirokuError(
                            .configuration,
                            "the server runs with \(setting) = off: an acknowledged event could be lost in a crash; turn it on"
                        )
                    }
                }
            } catch {
                try? await connection.close()
                throw error
            }
            try await connection.close()
        } catch {
            try? await group.shutdownGracefully()
            // Not reached, or not ready yet, is a passing state (exit 75, restarted); anything else is a setting.
            throw KirokuError(
                Self.transient(error) ? .storeUnavailable : .configuration,
                "cannot use the PostgreSQL store \(location.description): \(Self.describe(error))")
        }
        var configuration = PostgresClient.Configuration(
            host: location.host, port: location.port, username: location.user, password: location.password,
            database: location.database, tls: tls)
        configuration.options.maximumConnections = 16
        configuration.options.connectTimeout = .seconds(10)
        configuration.options.additionalStartupParameters = timeouts
        configuration.options.tlsServerName = serverName
        let client = PostgresClient(configuration: configuration, eventLoopGroup: group)
        let store = PostgresRecordStore(
            client: client, side: side, group: group, municipality: municipality, location: location.description,
            logger: logger)
        do {
            try await store.migrate(create: create)
            try await store.makePartitions(around: Date())
        } catch {
            await store.close()
            let passing = Self.transient(error) || (error as? KirokuError)?.code == .storeUnavailable
            throw KirokuError(
                passing ? .storeUnavailable : .configuration,
                "cannot use the PostgreSQL store \(location.description): \(Self.describe(error))")
        }
        return store
    }

    /// Stops the connections (tests, benchmarks; a hub keeps its store for its life).
    public func close() async {
        running.cancel()
        _ = await running.value
        try? await group.shutdownGracefully()
    }

    /// PostgreSQL's own words for a failure, not the driver's wrapper.
    static func describe(_ error: any Error) -> String {
        var error = error
        if let transaction = error as? PostgresTransactionError {
            error = transaction.closureError ?? transaction.commitError ?? transaction.beginError ?? error
        }
        if let psql = error as? PSQLError {
            if let message = psql.serverInfo?[.message] {
                return "\(message) (SQLSTATE \(psql.serverInfo?[.sqlState] ?? "?"))"
            }
            if let underlying = psql.underlying { return "\(psql.code): \(underlying)" }
            return "\(psql.code)"
        }
        if let kiroku = error as? KirokuError { return kiroku.message }
        return "\(error)"
    }

    /// How long a request waits for a connection to the database before the store asks whether the server is
    /// there at all. The driver's pool keeps requests waiting for a minute while it cannot connect (its circuit
    /// breaker is not configurable); a request for a server that does not answer is refused
    /// `store_unavailable` after this, and the agent sends its batch again later.
    static let leaseDeadline: Duration = .seconds(10)

    /// Runs `body` on a connection of the pool, or throws `store_unavailable` when none is had within
    /// ``leaseDeadline`` and the server does not answer. Exactly one of the two happens: a connection granted
    /// after the request was given up goes back to the pool unused, so a refused request sent nothing to the
    /// database. Once it has a connection, `body` takes as long as it takes.
    func leased<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) async throws -> T) async throws -> T {
        typealias Outcome = LeaseOutcome<T>
        let lease = LeaseState()
        let client = self.client
        let location = self.location
        return try await withThrowingTaskGroup(of: Outcome.self) { group in
            group.addTask {
                do {
                    return .done(
                        try await client.withConnection { connection in
                            guard lease.take() else { throw CancellationError() }
                            return try await body(connection)
                        })
                } catch  where lease.giveUp() && !Task.isCancelled {
                    // No connection at all, not for a caller that went away: the pool gave up connecting.
                    self.noteUnavailable()
                    throw KirokuError(
                        .storeUnavailable, "the record's database (\(location)) cannot be reached; nothing was changed")
                }
            }
            group.addTask {
                // Still waiting after the deadline: the server is asked directly. One that answers is busy (or
                // this process is), and the request goes on waiting as the driver would; one that does not is
                // down or cut off, and the request is given up, unless its connection came meanwhile.
                while true {
                    try await Task.sleep(for: Self.leaseDeadline)
                    if lease.isTaken { return .leasedInTime }
                    if await self.answers() { continue }
                    guard lease.giveUp() else { return .leasedInTime }
                    self.noteUnavailable()
                    throw KirokuError(
                        .storeUnavailable,
                        "the record's database (\(location)) gave no connection in \(Self.leaseDeadline.components.seconds) s and does not answer; nothing was changed"
                    )
                }
            }
            // A group whose body returns waits for its other tasks without cancelling them: without this, every
            // request would wait out the timer.
            defer { group.cancelAll() }
            while let outcome = try await group.next() {
                if case .done(let value) = outcome { return value }
            }
            throw KirokuError(.internalError, "a database request ended without an answer")
        }
    }

    /// Whether the server answers a connection of its own (an answer that refuses it, such as too many
    /// clients, counts: the server is there). One answer serves every request that asks within 5 s, so that
    /// many waiting requests do not each open a connection.
    private func answers() async -> Bool {
        let now = ContinuousClock.now
        if let (at, answered) = lastProbe.withLock({ $0 }), at.duration(to: now) < .seconds(5) { return answered }
        let answered: Bool
        do {
            let connection = try await PostgresConnection.connect(
                on: group.next(), configuration: sideConfiguration, id: 2, logger: logger)
            try? await connection.close()
            answered = true
        } catch let error as PSQLError where error.code == .server {
            answered = true
        } catch {
            answered = false
        }
        lastProbe.withLock { $0 = (ContinuousClock.now, answered) }
        return answered
    }

    /// Logs that the database cannot be reached: at the first refused request, then at most once a minute
    /// while it lasts (every agent's retry would otherwise be a line).
    private func noteUnavailable() {
        let now = ContinuousClock.now
        let due = lastUnavailableLog.withLock { last in
            guard last.map({ $0.duration(to: now) >= .seconds(60) }) ?? true else { return false }
            last = now
            return true
        }
        guard due else { return }
        logger.error(
            "store_unavailable: the record's database gives no connection; requests are refused until it is back",
            metadata: ["kiroku.store": "\(location)"])
    }

    /// The rows of one query, run on a connection had within ``leaseDeadline`` (every read outside a
    /// transaction goes through here, not through the pool directly).
    func rowsOf(_ query: PostgresQuery, logger: Logger) async throws -> Rows {
        Rows(rows: try await leased { connection in try await connection.query(query, logger: logger).collect() })
    }

    /// A query's rows, all read.
    struct Rows {
        var rows: [PostgresRow]
        func collect() -> [PostgresRow] { rows }
        func decode<each C: PostgresDecodable>(_: (repeat each C).Type) throws -> [(repeat each C)] {
            try rows.map { try $0.decode((repeat each C).self) }
        }
    }

    /// Whether an error of the driver means the server is not there for now (refused, reset, timed out,
    /// starting up, shutting down, too many clients, a lock not had) rather than a setting to correct (TLS,
    /// authentication, no such database or role).
    static func transient(_ error: any Error) -> Bool {
        if let failed = error as? PostgresTransactionError {
            return (failed.beginError ?? failed.closureError ?? failed.commitError).map(transient) ?? false
        }
        guard let psql = error as? PSQLError else { return false }
        switch psql.code {
        case .connectionError: return !(psql.underlying is NIOSSLError)
        case .serverClosedConnection, .uncleanShutdown: return true
        case .server:
            return ["57P01", "57P02", "57P03", "53300", "55P03", "08000", "08001", "08004", "08006"].contains(
                psql.serverInfo?[.sqlState] ?? "")
        default: return false
        }
    }

    /// A transaction; a `KirokuError` thrown inside comes out as itself (not wrapped by the driver).
    func transaction<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) async throws -> T) async throws
        -> T
    {
        let logger = self.logger
        do {
            return try await leased { connection in
                try await connection.withTransaction(logger: logger) { connection in try await body(connection) }
            }
        } catch let error as PostgresTransactionError {
            if let kiroku = error.closureError as? KirokuError { throw kiroku }
            // The connection lost before the commit was sent: nothing was kept, and the server may be back soon.
            if error.commitError == nil, let cause = error.beginError ?? error.closureError, Self.transient(cause) {
                noteUnavailable()
                throw KirokuError(
                    .storeUnavailable, "the record's database (\(location)) was lost; nothing was changed",
                    underlying: DescribedError(description: Self.describe(error)))
            }
            // The server's words go to the hub's log (with the error), not to the client.
            throw KirokuError(
                .internalError, "the record's database failed; nothing was changed",
                underlying: DescribedError(description: Self.describe(error)))
        }
    }

    // MARK: Schema

    static let migrations: [String] = [
        """
        CREATE TABLE agents(
            municipality text COLLATE "C" NOT NULL,
            id text COLLATE "C" NOT NULL,
            last_seq bigint NOT NULL DEFAULT 0,
            last_hash text NOT NULL,
            first_seen_ms bigint NOT NULL,
            last_seen_ms bigint NOT NULL,
            last_event_ms bigint,
            reported_head bigint NOT NULL DEFAULT 0,
            skew_ms bigint,
            events bigint NOT NULL DEFAULT 0,
            batches bigint NOT NULL DEFAULT 0,
            duplicates bigint NOT NULL DEFAULT 0,
            forks bigint NOT NULL DEFAULT 0,
            gaps bigint NOT NULL DEFAULT 0,
            refusals bigint NOT NULL DEFAULT 0,
            last_refusal text,
            clock_jumps bigint NOT NULL DEFAULT 0,
            declared_lost bigint NOT NULL DEFAULT 0,
            epochs bigint NOT NULL DEFAULT 0,
            last_epoch_reason text,
            PRIMARY KEY (municipality, id)
        );
        CREATE TABLE log_heads(
            municipality text COLLATE "C" PRIMARY KEY,
            size bigint NOT NULL CHECK (size >= 0),
            frontier bytea NOT NULL,
            origin text,
            key_id text
        );
        CREATE TABLE leaves(
            municipality text COLLATE "C" NOT NULL,
            idx bigint NOT NULL CHECK (idx >= 0),
            agent text COLLATE "C" NOT NULL,
            seq bigint NOT NULL CHECK (seq >= 1),
            event_hash bytea NOT NULL CHECK (length(event_hash) = 32),
            time_ms bigint NOT NULL,
            PRIMARY KEY (municipality, idx),
            UNIQUE (municipality, agent, seq)
        );
        CREATE TABLE merkle(
            municipality text COLLATE "C" NOT NULL,
            id bigint NOT NULL,
            hash bytea NOT NULL CHECK (length(hash) = 32),
            PRIMARY KEY (municipality, id)
        );
        CREATE TABLE events(
            municipality text COLLATE "C" NOT NULL,
            idx bigint NOT NULL,
            agent text COLLATE "C" NOT NULL,
            seq bigint NOT NULL,
            time text NOT NULL,
            time_ms bigint NOT NULL,
            kind text COLLATE "C" NOT NULL,
            action text COLLATE "C" NOT NULL,
            actor text COLLATE "C" NOT NULL,
            subject text COLLATE "C" NOT NULL,
            site text COLLATE "C" NOT NULL,
            attrs text NOT NULL,
            salt text NOT NULL,
            prev text NOT NULL,
            hash text NOT NULL,
            received_ms bigint NOT NULL,
            purged_ms bigint
        ) PARTITION BY RANGE (time_ms);
        CREATE TABLE events_default PARTITION OF events DEFAULT;
        CREATE INDEX events_by_time ON events(municipality, time_ms, agent, seq);
        CREATE INDEX events_by_actor ON events(municipality, actor, time_ms);
        CREATE INDEX events_by_subject ON events(municipality, subject, time_ms);
        CREATE TABLE forks(
            municipality text COLLATE "C" NOT NULL,
            id bigserial PRIMARY KEY,
            agent text COLLATE "C" NOT NULL,
            seq bigint NOT NULL,
            held_hash text NOT NULL,
            offered_hash text NOT NULL,
            offered_event text NOT NULL,
            detected_ms bigint NOT NULL,
            UNIQUE (municipality, agent, seq, offered_hash)
        );
        CREATE TABLE gaps(
            municipality text COLLATE "C" NOT NULL,
            id bigserial PRIMARY KEY,
            agent text COLLATE "C" NOT NULL,
            from_seq bigint NOT NULL,
            through_seq bigint NOT NULL CHECK (through_seq >= from_seq),
            reason text NOT NULL,
            declared_ms bigint NOT NULL
        );
        CREATE TABLE checkpoints(
            municipality text COLLATE "C" NOT NULL,
            size bigint NOT NULL,
            root bytea NOT NULL,
            note text NOT NULL,
            issued_ms bigint NOT NULL,
            PRIMARY KEY (municipality, size)
        );
        CREATE TABLE cosignatures(
            municipality text COLLATE "C" NOT NULL,
            size bigint NOT NULL,
            name text NOT NULL,
            line text NOT NULL,
            received_ms bigint NOT NULL,
            PRIMARY KEY (municipality, size, name),
            FOREIGN KEY (municipality, size) REFERENCES checkpoints(municipality, size)
        );
        CREATE TABLE revoked_serials(
            municipality text COLLATE "C" NOT NULL,
            serial text NOT NULL,
            seen_ms bigint NOT NULL,
            PRIMARY KEY (municipality, serial)
        );
        """
    ]

    /// Applies the migrations not yet applied, one hub at a time (an advisory lock held by the transaction);
    /// begins the municipality's log if `create`, and refuses a database without it otherwise.
    func migrate(create: Bool) async throws {
        try await transaction { connection in
            try await connection.query("SELECT pg_advisory_xact_lock(4151842601)", logger: self.logger)
            try await connection.query(
                "CREATE TABLE IF NOT EXISTS kiroku_migrations(version integer PRIMARY KEY, applied_ms bigint NOT NULL)",
                logger: self.logger)
            let applied =
                try await connection.query(
                    "SELECT coalesce(max(version), 0) FROM kiroku_migrations", logger: self.logger
                ).collect().first?.decode(Int.self) ?? 0
            for (offset, sql) in Self.migrations.enumerated() where offset + 1 > applied {
                // One statement at a time: the extended protocol takes no more.
                for statement in sql.split(separator: ";\n") where !statement.allSatisfy(\.isWhitespace) {
                    try await connection.query(PostgresQuery(unsafeSQL: String(statement)), logger: self.logger)
                }
                try await connection.query(
                    "INSERT INTO kiroku_migrations(version, applied_ms) VALUES (\(offset + 1), \(Self.ms(Date())))",
                    logger: self.logger)
            }
            let municipality = self.municipality
            if create {
                let begun = try await connection.query(
                    """
                    INSERT INTO log_heads(municipality, size, frontier) VALUES (\(municipality), 0, ''::bytea)
                    ON CONFLICT DO NOTHING RETURNING size
                    """, logger: self.logger
                ).collect()
                self.created.withLock { $0 = !begun.isEmpty }
            } else {
                let held = try await connection.query(
                    "SELECT size FROM log_heads WHERE municipality = \(municipality)", logger: self.logger
                ).collect()
                guard !held.isEmpty else {
                    let others = try await connection.query(
                        "SELECT municipality FROM log_heads ORDER BY municipality LIMIT 10", logger: self.logger
                    ).collect().map { try $0.decode(String.self) }
                    throw KirokuError(
                        .configuration,
                        "this database holds no record of the municipality '\(municipality)'\(others.isEmpty ? "" : " (it holds \(others.map { "'\($0)'" }.joined(separator: ", ")))"): if this is the first hub's first start, create it with `kiroku-hub init` and the same settings; otherwise check store.municipality (KIROKU_HUB_STORE_MUNICIPALITY) and the database in the URL"
                    )
                }
            }
        }
    }

    /// Whether this store's opening began the municipality's record (no hub had before).
    public var startedNewRecord: Bool { created.withLock { $0 } }

    /// Partitions for the seven years kept (第20②) through a year ahead (JST months), made once by whichever
    /// hub comes first; each start adds the months that came into that window. A month whose events already sit
    /// in the default partition (a clock far off) keeps them there.
    public func makePartitions(around now: Date) async throws {
        let months = JSTMonth(containing: Self.ms(now)).advanced(by: -Self.monthsBack).through(Self.monthsBack + 12)
        try await transaction { connection in
            try await connection.query("SELECT pg_advisory_xact_lock(4151842602)", logger: self.logger)
            let existing = Set(
                try await connection.query(
                    "SELECT relname::text FROM pg_class WHERE relname LIKE 'events_m%' AND relkind = 'r'",
                    logger: self.logger
                ).collect().map { try $0.decode(String.self) })
            for month in months where !existing.contains(month.table) {
                // PostgreSQL refuses a partition for a range the default partition holds rows of (an agent's
                // clock far ahead, or a hub that ran for over a year without a restart before this job ran
                // daily): that month stays in the default partition, and the hub still starts.
                let held =
                    try await connection.query(
                        """
                        SELECT EXISTS (SELECT 1 FROM events_default WHERE time_ms >= \(month.startMS) AND time_ms < \(month.endMS))
                        """, logger: self.logger
                    ).collect().first?.decode(Bool.self) ?? false
                if held {
                    self.logger.warning(
                        "events of this month are in the default partition already; the month gets no partition of its own",
                        metadata: ["kiroku.partition": "\(month.table)"])
                    continue
                }
                try await connection.query(
                    PostgresQuery(
                        unsafeSQL:
                            "CREATE TABLE \(month.table) PARTITION OF events FOR VALUES FROM (\(month.startMS)) TO (\(month.endMS))"
                    ), logger: self.logger)
            }
        }
    }

    static let monthsBack = 7 * 12 + 1

    static func ms(_ date: Date) -> Int64 { Int64((date.timeIntervalSince1970 * 1000).rounded(.down)) }

    // MARK: Ingest

    public func ingest(
        _ batch: Batch, identity: String, now: Date,
        signCheckpoint: (@Sendable (Int64, Merkle.Hash) throws -> SignedNote)?
    ) async throws -> HubStore.IngestResult {
        let nowMS = Self.ms(now)
        try await RecordRules.admit(batch, identity: identity) {
            await recordRefusal(agent: identity, code: $0, nowMS: nowMS)
        }
        let skew = Timestamp(rfc3339: batch.sentAt).map { $0.epochMilliseconds - nowMS }
        let outcome: Result<HubStore.IngestResult, KirokuError> = try await transaction { connection in
            try await self.commit(
                batch, identity: identity, nowMS: nowMS, skew: skew, sign: signCheckpoint, connection: connection)
        }
        let result = try outcome.get()
        if result.accepted > 0 { arrivals.ring() }
        return result
    }

    private func recordRefusal(agent: String, code: ErrorCode, nowMS: Int64) async {
        _ = try? await transaction { connection in
            var row = try await self.agentRow(agent, nowMS: nowMS, connection: connection)
            row.refusals += 1
            row.lastSeenMS = nowMS
            row.lastRefusal = code.rawValue
            if code == .sequenceGap { row.gaps += 1 }
            try await self.save(row, connection: connection)
        }
    }

    /// The body of an ingest in its transaction. Locks the agent's row, then (only if events are new) the log
    /// head: the order every hub takes them in. A refusal is returned, so that the counters it updated commit.
    private func commit(
        _ batch: Batch, identity: String, nowMS: Int64, skew: Int64?,
        sign: (@Sendable (Int64, Merkle.Hash) throws -> SignedNote)?, connection: PostgresConnection
    ) async throws -> Result<HubStore.IngestResult, KirokuError> {
        let m = municipality
        var agent = try await agentRow(identity, nowMS: nowMS, connection: connection)
        agent.lastSeenMS = nowMS
        agent.reportedHead = max(agent.reportedHead, batch.headSeq)
        if let skew { agent.skewMS = skew }
        let events = batch.events
        var duplicates: Int64 = 0
        if events[0].seq <= agent.lastSeq {
            let upTo = min(events.last!.seq, agent.lastSeq)
            var held: [Int64: String] = [:]
            let rows = try await connection.query(
                """
                SELECT seq, event_hash FROM leaves WHERE municipality = \(m) AND agent = \(identity)
                AND seq BETWEEN \(events[0].seq) AND \(upTo)
                """, logger: logger)
            for try await (seq, hash) in rows.decode((Int64, ByteBuffer).self) {
                held[seq] = Hex.encode(Array(buffer: hash))
            }
            for event in events where event.seq <= upTo {
                guard let heldHash = held[event.seq] else {
                    return .failure(KirokuError(.internalError, "event \(event.seq) is missing from the record"))
                }
                if heldHash == event.hash {
                    duplicates += 1
                } else {
                    let offered = String(decoding: event.canonicalBytes(includingHash: true), as: UTF8.self)
                    try await connection.query(
                        """
                        INSERT INTO forks(municipality, agent, seq, held_hash, offered_hash, offered_event, detected_ms)
                        VALUES (\(m), \(identity), \(event.seq), \(heldHash), \(event.hash), \(offered), \(nowMS))
                        ON CONFLICT DO NOTHING
                        """, logger: logger)
                    agent.forks += 1
                    agent.refusals += 1
                    agent.lastRefusal = ErrorCode.fork.rawValue
                    try await save(agent, connection: connection)
                    return .failure(
                        KirokuError(
                            .fork,
                            "agent \(identity) sent a different event at seq \(event.seq) than the hub holds; both versions are quarantined for investigation"
                        ))
                }
            }
        }
        let fresh = Array(events.drop { $0.seq <= agent.lastSeq })
        if let first = fresh.first {
            var bridged = false
            if let gap = batch.gap, first.seq != agent.lastSeq + 1, gap.from == agent.lastSeq + 1,
                gap.through == first.seq - 1
            {
                try await connection.query(
                    """
                    INSERT INTO gaps(municipality, agent, from_seq, through_seq, reason, declared_ms)
                    VALUES (\(m), \(identity), \(gap.from), \(gap.through), \(gap.reason), \(nowMS))
                    """, logger: logger)
                agent.declaredLost += gap.count
                bridged = true
            }
            if first.seq != agent.lastSeq + 1 && !bridged {
                agent.gaps += 1
                agent.refusals += 1
                agent.lastRefusal = ErrorCode.sequenceGap.rawValue
                try await save(agent, connection: connection)
                return .failure(
                    KirokuError(
                        .sequenceGap,
                        "the hub holds agent \(identity) through seq \(agent.lastSeq); this batch starts at \(first.seq). Send from \(agent.lastSeq + 1)."
                    ))
            }
            if !bridged && first.prev != agent.lastHash {
                agent.refusals += 1
                agent.lastRefusal = ErrorCode.chainBroken.rawValue
                try await save(agent, connection: connection)
                return .failure(
                    KirokuError(
                        .chainBroken, "event \(first.seq)'s prev does not match the hash of event \(agent.lastSeq)"))
            }
        }
        // The log head, locked after the agent's row (every hub takes them in this order), and only when the
        // batch adds events: a retransmission reads the tree as committed and holds nobody up.
        let head =
            fresh.isEmpty
            ? try await connection.query(
                "SELECT size, frontier, key_id FROM log_heads WHERE municipality = \(m)", logger: logger
            ).collect()
            : try await connection.query(
                "SELECT size, frontier, key_id FROM log_heads WHERE municipality = \(m) FOR UPDATE", logger: logger
            ).collect()
        guard let headRow = head.first else {
            throw KirokuError(.internalError, "the PostgreSQL store has no log head for \(m)")
        }
        let (size, frontierBytes, keyID) = try headRow.decode((Int64, ByteBuffer, String?).self)
        if sign != nil { try checkKey(keyID) }
        var log = try Merkle.Appender(size: size, frontierHashes: Self.frontier(Array(buffer: frontierBytes)))
        var lastInclusion: [Merkle.Hash] = []
        if !fresh.isEmpty {
            var indexes: [Int64] = []
            var seqs: [Int64] = []
            var times: [String] = []
            var timeMS: [Int64] = []
            var kinds: [String] = []
            var actions: [String] = []
            var actors: [String] = []
            var subjects: [String] = []
            var sites: [String] = []
            var attrs: [String] = []
            var salts: [String] = []
            var prevs: [String] = []
            var hashes: [String] = []
            var leafHashes: [ByteBuffer] = []
            var nodeIDs: [Int64] = []
            var nodeHashes: [ByteBuffer] = []
            for (offset, event) in fresh.enumerated() {
                let ms = Timestamp(rfc3339: event.time)!.epochMilliseconds
                guard let eventHash = Hex.decode(event.hash), eventHash.count == 32 else {
                    throw KirokuError(.internalError, "event \(event.seq) has no hex hash")
                }
                indexes.append(log.size)
                seqs.append(event.seq)
                times.append(event.time)
                timeMS.append(ms)
                kinds.append(event.kind)
                actions.append(event.action)
                actors.append(event.actor)
                subjects.append(event.subject)
                sites.append(event.site)
                attrs.append(HubStore.attrsJSON(event.attrs))
                salts.append(event.salt)
                prevs.append(event.prev)
                hashes.append(event.hash)
                leafHashes.append(ByteBuffer(bytes: eventHash))
                if offset == fresh.count - 1 { lastInclusion = log.nextLeafInclusion }
                log.append(Merkle.leafHash(eventHash)) { level, index, hash in
                    guard LogTable.kept(level) else { return }
                    nodeIDs.append(LogTable.key(level, index))
                    nodeHashes.append(ByteBuffer(bytes: hash))
                }
                agent.note(event, timeMS: ms)
            }
            try await connection.query(
                """
                INSERT INTO events(municipality, idx, agent, seq, time, time_ms, kind, action, actor, subject, site,
                    attrs, salt, prev, hash, received_ms)
                SELECT \(m), u.*, \(nowMS)::bigint FROM unnest(\(indexes)::bigint[], \(Array(repeating: identity, count: fresh.count))::text[],
                    \(seqs)::bigint[], \(times)::text[], \(timeMS)::bigint[], \(kinds)::text[], \(actions)::text[],
                    \(actors)::text[], \(subjects)::text[], \(sites)::text[], \(attrs)::text[], \(salts)::text[],
                    \(prevs)::text[], \(hashes)::text[]) AS u
                """, logger: logger)
            try await connection.query(
                """
                INSERT INTO leaves(municipality, idx, agent, seq, event_hash, time_ms)
                SELECT \(m), u.i, \(identity), u.s, u.h, u.t
                FROM unnest(\(indexes)::bigint[], \(seqs)::bigint[], \(leafHashes)::bytea[], \(timeMS)::bigint[])
                    AS u(i, s, h, t)
                """, logger: logger)
            if !nodeIDs.isEmpty {
                try await connection.query(
                    """
                    INSERT INTO merkle(municipality, id, hash)
                    SELECT \(m), u.i, u.h FROM unnest(\(nodeIDs)::bigint[], \(nodeHashes)::bytea[]) AS u(i, h)
                    """, logger: logger)
            }
            let frontier = ByteBuffer(bytes: log.frontierHashes.flatMap { $0 })
            try await connection.query(
                "UPDATE log_heads SET size = \(log.size), frontier = \(frontier) WHERE municipality = \(m)",
                logger: logger)
            agent.lastSeq = fresh.last!.seq
            agent.lastHash = fresh.last!.hash
            agent.events += Int64(fresh.count)
        }
        agent.batches += 1
        agent.duplicates += duplicates
        try await save(agent, connection: connection)
        let through = events.last!
        let position: LogPosition
        if fresh.last?.seq == through.seq {
            position = LogPosition(
                leafIndex: log.size - 1, treeSize: log.size, root: log.root, inclusion: lastInclusion)
        } else {
            // Every event of the batch was held already: prove where the last one stands in the tree as it is.
            guard
                let row = try await connection.query(
                    "SELECT idx FROM leaves WHERE municipality = \(m) AND agent = \(identity) AND seq = \(through.seq)",
                    logger: logger
                ).collect().first
            else {
                throw KirokuError(
                    .internalError, "event \(through.seq) of \(identity) is not in the record after its batch")
            }
            let leaf = try row.decode(Int64.self)
            let (root, inclusion) = try await prove(size: log.size, connection: connection) { prover in
                (try prover.root(), try prover.inclusion(index: leaf))
            }
            position = LogPosition(leafIndex: leaf, treeSize: log.size, root: root, inclusion: inclusion)
        }
        var result = HubStore.IngestResult(
            firstSeq: events[0].seq, throughSeq: through.seq, headHash: through.hash, accepted: Int64(fresh.count),
            duplicates: duplicates, log: position)
        if let sign {
            result.checkpoint = try await keep(
                size: position.treeSize, root: position.root, nowMS: nowMS, sign: sign, connection: connection)
        }
        return .success(result)
    }

    /// The kept checkpoint of `size` leaves, signed and kept now if there is none yet.
    private func keep(
        size: Int64, root: Merkle.Hash, nowMS: Int64, sign: (Int64, Merkle.Hash) throws -> SignedNote,
        connection: PostgresConnection
    ) async throws -> String {
        let m = municipality
        if let held = try await connection.query(
            "SELECT note FROM checkpoints WHERE municipality = \(m) AND size = \(size)", logger: logger
        ).collect().first {
            return try held.decode(String.self)
        }
        let note = try sign(size, root).text
        try await connection.query(
            """
            INSERT INTO checkpoints(municipality, size, root, note, issued_ms)
            VALUES (\(m), \(size), \(ByteBuffer(bytes: root)), \(note), \(nowMS)) ON CONFLICT DO NOTHING
            """, logger: logger)
        return try await connection.query(
            "SELECT note FROM checkpoints WHERE municipality = \(m) AND size = \(size)", logger: logger
        ).collect().first!.decode(String.self)
    }

    static func frontier(_ bytes: [UInt8]) throws -> [Merkle.Hash] {
        guard bytes.count % 32 == 0 else {
            throw KirokuError(.internalError, "the kept Merkle frontier is damaged (\(bytes.count) bytes)")
        }
        return stride(from: 0, to: bytes.count, by: 32).map { Array(bytes[$0..<$0 + 32]) }
    }

    // MARK: Agents

    private func agentRow(_ id: String, nowMS: Int64, connection: PostgresConnection) async throws -> AgentRow {
        let m = municipality
        // The row exists before it is locked, so that two hubs hearing from a new agent at once queue on it.
        try await connection.query(
            """
            INSERT INTO agents(municipality, id, last_hash, first_seen_ms, last_seen_ms)
            VALUES (\(m), \(id), \(Event.genesis), \(nowMS), \(nowMS)) ON CONFLICT DO NOTHING
            """, logger: logger)
        let row = try await connection.query(
            """
            SELECT last_seq, last_hash, first_seen_ms, last_seen_ms, last_event_ms, reported_head, skew_ms, events,
                batches, duplicates, forks, gaps, refusals, last_refusal, clock_jumps, declared_lost, epochs,
                last_epoch_reason
            FROM agents WHERE municipality = \(m) AND id = \(id) FOR UPDATE
            """, logger: logger
        ).collect().first!
        let r = try row.decode(
            (
                Int64, String, Int64, Int64, Int64?, Int64, Int64?, Int64, Int64, Int64, Int64, Int64, Int64, String?,
                Int64, Int64, Int64, String?
            ).self)
        return AgentRow(
            id: id, lastSeq: r.0, lastHash: r.1, firstSeenMS: r.2, lastSeenMS: r.3, lastEventMS: r.4, reportedHead: r.5,
            skewMS: r.6, events: r.7, batches: r.8, duplicates: r.9, forks: r.10, gaps: r.11, refusals: r.12,
            lastRefusal: r.13, clockJumps: r.14, declaredLost: r.15, epochs: r.16, lastEpochReason: r.17)
    }

    private func save(_ row: AgentRow, connection: PostgresConnection) async throws {
        try await connection.query(
            """
            UPDATE agents SET last_seq = \(row.lastSeq), last_hash = \(row.lastHash), last_seen_ms = \(row.lastSeenMS),
                last_event_ms = \(row.lastEventMS), reported_head = \(row.reportedHead), skew_ms = \(row.skewMS),
                events = \(row.events), batches = \(row.batches), duplicates = \(row.duplicates), forks = \(row.forks),
                gaps = \(row.gaps), refusals = \(row.refusals), last_refusal = \(row.lastRefusal),
                clock_jumps = \(row.clockJumps), declared_lost = \(row.declaredLost), epochs = \(row.epochs),
                last_epoch_reason = \(row.lastEpochReason)
            WHERE municipality = \(municipality) AND id = \(row.id)
            """, logger: logger)
    }

    public func chainHead(agent: String) async throws -> (seq: Int64, hash: String) {
        let rows = try await self.rowsOf(
            "SELECT last_seq, last_hash FROM agents WHERE municipality = \(municipality) AND id = \(agent)",
            logger: logger
        ).collect()
        guard let row = rows.first else { return (0, Event.genesis) }
        let (seq, hash) = try row.decode((Int64, String).self)
        return (seq, hash)
    }

    public func hash(agent: String, seq: Int64) async throws -> String? {
        let rows = try await self.rowsOf(
            "SELECT event_hash FROM leaves WHERE municipality = \(municipality) AND agent = \(agent) AND seq = \(seq)",
            logger: logger
        ).collect()
        return try rows.first.map { Hex.encode(Array(buffer: try $0.decode(ByteBuffer.self))) }
    }

    public func agentHealth() async throws -> [AgentHealth] {
        let m = municipality
        var quarantined: [String: Int64] = [:]
        for (agent, count) in try await self.rowsOf(
            "SELECT agent, count(*) FROM forks WHERE municipality = \(m) GROUP BY agent", logger: logger
        ).decode((String, Int64).self) {
            quarantined[agent] = count
        }
        var out: [AgentHealth] = []
        for row in try await self.rowsOf(
            """
            SELECT id, last_seq, last_hash, first_seen_ms, last_seen_ms, last_event_ms, reported_head, skew_ms, events,
                batches, duplicates, forks, gaps, refusals, last_refusal, clock_jumps, declared_lost, epochs,
                last_epoch_reason
            FROM agents WHERE municipality = \(m) ORDER BY id
            """, logger: logger
        ).collect() {
            let r = try row.decode(
                (
                    String, Int64, String, Int64, Int64, Int64?, Int64, Int64?, Int64, Int64, Int64, Int64, Int64,
                    Int64,
                    String?, Int64, Int64, Int64, String?
                ).self)
            out.append(
                AgentHealth(
                    agent: r.0, lastSeq: r.1, lastHash: r.2, firstSeen: Timestamp(epochMilliseconds: r.3).rfc3339,
                    lastSeen: Timestamp(epochMilliseconds: r.4).rfc3339,
                    lastEventTime: r.5.map { Timestamp(epochMilliseconds: $0).rfc3339 }, reportedHead: r.6,
                    lag: max(0, r.6 - r.1), skewMS: r.7, events: r.8, batches: r.9, duplicates: r.10, forks: r.11,
                    quarantined: quarantined[r.0] ?? 0, gaps: r.12, refusals: r.13, lastRefusal: r.14,
                    clockJumps: r.15, declaredLost: r.16, epochs: r.17, lastEpochReason: r.18))
        }
        return out
    }

    public func forks(agent: String) async throws -> [(
        seq: Int64, heldHash: String, offeredHash: String, offeredEvent: String?
    )] {
        try await self.rowsOf(
            """
            SELECT seq, held_hash, offered_hash, offered_event FROM forks
            WHERE municipality = \(municipality) AND agent = \(agent) ORDER BY seq
            """, logger: logger
        ).collect().map {
            let r = try $0.decode((Int64, String, String, String).self)
            return (r.0, r.1, r.2, r.3.isEmpty ? nil : r.3)
        }
    }

    public func declaredGaps(agent: String) async throws -> [DeclaredGap] {
        try await self.rowsOf(
            """
            SELECT from_seq, through_seq, reason FROM gaps
            WHERE municipality = \(municipality) AND agent = \(agent) ORDER BY from_seq
            """, logger: logger
        ).collect().map {
            let r = try $0.decode((Int64, Int64, String).self)
            return DeclaredGap(from: r.0, through: r.1, reason: r.2)
        }
    }

    public func eventCount() async throws -> Int64 { try await logSize() }

    // MARK: The Merkle log

    public func logSize() async throws -> Int64 {
        try await self.rowsOf("SELECT size FROM log_heads WHERE municipality = \(municipality)", logger: logger)
            .collect().first?.decode(Int64.self) ?? 0
    }

    /// Runs `body` on a prover of the tree of `size` leaves: once to learn which stored subtrees it needs (the
    /// subtrees a proof reads depend on the indices only), then, after reading them in two queries, for real.
    func prove<T>(size: Int64, connection: PostgresConnection? = nil, _ body: (inout Merkle.Prover) throws -> T)
        async throws -> T
    {
        let wanted = Mutex<[(level: Int, index: Int64)]>([])
        var dry = Merkle.Prover(size: size) { level, index in
            wanted.withLock { $0.append((level, index)) }
            return [UInt8](repeating: 0, count: 32)
        }
        _ = try body(&dry)
        let needs = wanted.withLock { $0 }
        var leafIDs: [Int64] = []
        var nodeIDs: [Int64] = []
        for need in needs {
            let base = need.level - need.level % LogTable.stride
            let first = need.index << (need.level - base)
            let width = Int64(1) << (need.level - base)
            if base == 0 {
                leafIDs.append(contentsOf: first..<first + width)
            } else {
                nodeIDs.append(contentsOf: (first..<first + width).map { LogTable.key(base, $0) })
            }
        }
        let m = municipality
        var leaves: [Int64: Merkle.Hash] = [:]
        var nodes: [Int64: Merkle.Hash] = [:]
        let leafQuery: PostgresQuery =
            "SELECT idx, event_hash FROM leaves WHERE municipality = \(m) AND idx = ANY(\(leafIDs)::bigint[])"
        let nodeQuery: PostgresQuery =
            "SELECT id, hash FROM merkle WHERE municipality = \(m) AND id = ANY(\(nodeIDs)::bigint[])"
        for (query, isLeaf) in [(leafQuery, true), (nodeQuery, false)] where !(isLeaf ? leafIDs : nodeIDs).isEmpty {
            let rows =
                if let connection {
                    try await connection.query(query, logger: logger).collect()
                } else {
                    try await self.rowsOf(query, logger: logger).collect()
                }
            for row in rows {
                let (id, hash) = try row.decode((Int64, ByteBuffer).self)
                if isLeaf { leaves[id] = Merkle.leafHash(Array(buffer: hash)) } else { nodes[id] = Array(buffer: hash) }
            }
        }
        var prover = Merkle.Prover(size: size) { level, index in
            let base = level - level % LogTable.stride
            let first = index << (level - base)
            let width = Int64(1) << (level - base)
            var hashes = try (first..<first + width).map { at in
                guard let hash = base == 0 ? leaves[at] : nodes[LogTable.key(base, at)] else {
                    throw KirokuError(
                        .internalError, "the Merkle log lacks nodes under \(level)/\(index): the record is damaged")
                }
                return hash
            }
            while hashes.count > 1 {
                hashes = Swift.stride(from: 0, to: hashes.count, by: 2).map {
                    Merkle.nodeHash(hashes[$0], hashes[$0 + 1])
                }
            }
            return hashes[0]
        }
        return try body(&prover)
    }

    public func root(size: Int64) async throws -> Merkle.Hash {
        guard size >= 0, size <= (try await logSize()) else {
            throw KirokuError(.badQuery, "the log has no tree of size \(size)")
        }
        return try await prove(size: size) { try $0.root() }
    }

    public func inclusionProof(leaf: Int64, size: Int64) async throws -> [Merkle.Hash] {
        guard leaf >= 0, leaf < size, size <= (try await logSize()) else {
            throw KirokuError(.badQuery, "leaf \(leaf) is not in a tree of size \(size) of this log")
        }
        return try await prove(size: size) { try $0.inclusion(index: leaf) }
    }

    public func inclusionProofs(leaves: [Int64], size: Int64) async throws -> [[Merkle.Hash]] {
        guard size <= (try await logSize()) else {
            throw KirokuError(.badQuery, "the log has no tree of size \(size)")
        }
        for leaf in leaves where leaf < 0 || leaf >= size {
            throw KirokuError(.badQuery, "leaf \(leaf) is not in a tree of size \(size)")
        }
        return try await prove(size: size) { prover in try leaves.map { try prover.inclusion(index: $0) } }
    }

    public func consistencyProof(from: Int64, to: Int64) async throws -> [Merkle.Hash] {
        guard from >= 0, from <= to, to <= (try await logSize()) else {
            throw KirokuError(.badQuery, "no consistency proof from \(from) to \(to) in this log")
        }
        return try await prove(size: to) { try $0.consistency(from: from) }
    }

    @discardableResult
    public func issueCheckpoint(origin: String, keys: [Curve25519.Signing.PrivateKey], now: Date) async throws
        -> PublishedCheckpoint
    {
        let m = municipality
        let nowMS = Self.ms(now)
        try await transaction { connection in
            // The head as committed; two hubs issuing at once write one checkpoint per size.
            let (size, frontier, keyID) = try await connection.query(
                "SELECT size, frontier, key_id FROM log_heads WHERE municipality = \(m) FOR SHARE", logger: self.logger
            ).collect().first!.decode((Int64, ByteBuffer, String?).self)
            try self.checkKey(keyID)
            let newest = try await connection.query(
                "SELECT max(size) FROM checkpoints WHERE municipality = \(m)", logger: self.logger
            ).collect().first?.decode(Int64?.self)
            guard newest != size else { return }
            let root = try Merkle.Appender(size: size, frontierHashes: Self.frontier(Array(buffer: frontier))).root
            let tree = Checkpoint(origin: origin, size: size, root: root)
            var note = SignedNote(body: tree.body)
            for key in keys { try note.sign(name: origin, key: key) }
            try await connection.query(
                """
                INSERT INTO checkpoints(municipality, size, root, note, issued_ms)
                VALUES (\(m), \(size), \(ByteBuffer(bytes: root)), \(note.text), \(nowMS)) ON CONFLICT DO NOTHING
                """, logger: self.logger)
        }
        guard let newest = try await checkpoint(size: nil) else {
            throw KirokuError(.internalError, "no checkpoint is kept after issuing one")
        }
        return newest
    }

    public func checkpoint(size: Int64?) async throws -> PublishedCheckpoint? {
        let m = municipality
        let rows =
            if let size {
                try await self.rowsOf(
                    "SELECT size, note, issued_ms FROM checkpoints WHERE municipality = \(m) AND size = \(size)",
                    logger: logger
                ).collect()
            } else {
                try await self.rowsOf(
                    """
                    SELECT size, note, issued_ms FROM checkpoints WHERE municipality = \(m)
                    ORDER BY size DESC LIMIT 1
                    """, logger: logger
                ).collect()
            }
        guard let row = rows.first else { return nil }
        let (held, text, issued) = try row.decode((Int64, String, Int64).self)
        var note = try SignedNote(text: text)
        for line in try await self.rowsOf(
            "SELECT line FROM cosignatures WHERE municipality = \(m) AND size = \(held) ORDER BY name", logger: logger
        ).collect() {
            note.signatures += try SignedNote(text: note.body + "\n" + (try line.decode(String.self)) + "\n").signatures
        }
        return PublishedCheckpoint(
            checkpoint: try Checkpoint(body: note.body), note: note,
            issued: Date(timeIntervalSince1970: Double(issued) / 1000))
    }

    public func newestCosignedCheckpoint() async throws -> PublishedCheckpoint? {
        guard
            let size = try await self.rowsOf(
                "SELECT max(size) FROM cosignatures WHERE municipality = \(municipality)", logger: logger
            ).collect().first?.decode(Int64?.self)
        else { return nil }
        return try await checkpoint(size: size)
    }

    public func addCosignatures(_ note: SignedNote, now: Date) async throws -> Int {
        let tree = try Checkpoint(body: note.body)
        let nowMS = Self.ms(now)
        let m = municipality
        return try await transaction { connection in
            guard
                let held = try await connection.query(
                    "SELECT note FROM checkpoints WHERE municipality = \(m) AND size = \(tree.size)",
                    logger: self.logger
                ).collect().first,
                try SignedNote(text: try held.decode(String.self)).body == note.body
            else {
                throw KirokuError(
                    .badCheckpoint, "this hub issued no checkpoint with that body (tree size \(tree.size))")
            }
            var added = 0
            for line in note.signatures where line.blob.count == 76 {
                let text = "— \(line.name) \(Data(line.blob).base64EncodedString())"
                let changed = try await connection.query(
                    """
                    INSERT INTO cosignatures(municipality, size, name, line, received_ms)
                    VALUES (\(m), \(tree.size), \(line.name), \(text), \(nowMS))
                    ON CONFLICT (municipality, size, name) DO UPDATE SET line = excluded.line,
                        received_ms = excluded.received_ms
                    WHERE cosignatures.line IS DISTINCT FROM excluded.line
                    RETURNING 1
                    """, logger: self.logger
                ).collect()
                added += changed.count
            }
            return added
        }
    }

    // MARK: Reading the record

    public func query(_ query: EventQuery) async throws -> EventPage {
        let (rows, next) = try await queryWithLeaves(query, includePurged: false)
        return EventPage(events: rows.map(\.event), next: next)
    }

    /// The SQL conditions of a query's filters (not its cursor), with their bindings.
    func filters(_ query: EventQuery, includePurged: Bool, binds: inout PostgresBindings) throws -> [String] {
        func bind(_ value: some PostgresThrowingDynamicTypeEncodable) throws -> String {
            try binds.append(value)
            return "$\(binds.count)"
        }
        var conditions = ["municipality = \(try bind(municipality))"]
        if let from = query.from { conditions.append("time_ms >= \(try bind(from.epochMilliseconds))") }
        if let to = query.to { conditions.append("time_ms < \(try bind(to.epochMilliseconds))") }
        for (column, value) in [
            ("agent", query.agent), ("site", query.site), ("kind", query.kind), ("action", query.action),
        ] {
            if let value { conditions.append("\(column) = \(try bind(value))") }
        }
        for (column, value, match) in [
            ("actor", query.actor, query.actorMatch), ("subject", query.subject, query.subjectMatch),
        ] {
            guard let value else { continue }
            switch match {
            case .exact:
                conditions.append("\(column) = \(try bind(value))")
            case .prefix:
                // A range on the column's index ("C" collation compares bytes, as SQLite's BINARY does).
                conditions.append("\(column) >= \(try bind(value)) AND \(column) < \(try bind(value + "\u{10FFFF}"))")
            case .contains:
                conditions.append("strpos(\(column), \(try bind(value))) > 0")
            }
        }
        if !includePurged { conditions.append("purged_ms IS NULL") }
        return conditions
    }

    public func queryWithLeaves(_ query: EventQuery, includePurged: Bool) async throws
        -> (rows: [(event: Event, leaf: Int64, purgedMS: Int64?)], next: String?)
    {
        var binds = PostgresBindings()
        var conditions = try filters(query, includePurged: includePurged, binds: &binds)
        if let text = query.cursor, let cursor = EventQuery.Cursor(text) {
            binds.append(cursor.timeMS)
            binds.append(cursor.agent)
            binds.append(cursor.seq)
            let n = binds.count
            conditions.append("(time_ms, agent, seq) > ($\(n - 2), $\(n - 1), $\(n))")
        }
        let sql = """
            SELECT idx, purged_ms, agent, seq, time, time_ms, kind, action, actor, subject, site, attrs, salt, prev, hash
            FROM events WHERE \(conditions.joined(separator: " AND ")) ORDER BY time_ms, agent, seq
            LIMIT \(query.limit + 1)
            """
        var events: [(event: Event, leaf: Int64, purgedMS: Int64?)] = []
        var last: EventQuery.Cursor?
        var more = false
        for row in try await self.rowsOf(PostgresQuery(unsafeSQL: sql, binds: binds), logger: logger).collect() {
            if events.count == query.limit {
                more = true
                break
            }
            let r = try row.decode(
                (
                    Int64, Int64?, String, Int64, String, Int64, String, String, String, String, String, String, String,
                    String, String
                ).self)
            let attrs = (try? JSONDecoder().decode([String: String].self, from: Data(r.11.utf8))) ?? [:]
            let event = Event(
                agent: r.2, seq: r.3, time: r.4, kind: r.6, action: r.7, actor: r.8, subject: r.9, site: r.10,
                attrs: attrs, salt: r.12, prev: r.13, hash: r.14)
            events.append((event, r.0, r.1))
            last = EventQuery.Cursor(timeMS: r.5, agent: event.agent, seq: event.seq)
        }
        return (events, more ? last?.text : nil)
    }

    public func countForEvidence(_ query: EventQuery, treeSize: Int64) async throws -> (matching: Int64, before: Int64)
    {
        var binds = PostgresBindings()
        var conditions = try filters(query, includePurged: true, binds: &binds)
        binds.append(treeSize)
        conditions.append("idx < $\(binds.count)")
        let all = conditions.joined(separator: " AND ")
        let matching =
            try await self.rowsOf(
                PostgresQuery(unsafeSQL: "SELECT count(*) FROM events WHERE \(all)", binds: binds), logger: logger
            ).collect().first?.decode(Int64.self) ?? 0
        guard let cursor = query.cursor.flatMap(EventQuery.Cursor.init) else { return (matching, 0) }
        binds.append(cursor.timeMS)
        binds.append(cursor.agent)
        binds.append(cursor.seq)
        let n = binds.count
        let before =
            try await self.rowsOf(
                PostgresQuery(
                    unsafeSQL:
                        "SELECT count(*) FROM events WHERE \(all) AND (time_ms, agent, seq) <= ($\(n - 2), $\(n - 1), $\(n))",
                    binds: binds), logger: logger
            ).collect().first?.decode(Int64.self) ?? 0
        return (matching, before)
    }

    public func evidenceLinks(_ rows: [(agent: String, seq: Int64)], treeSize: Int64) async throws
        -> [EvidenceLinks.Run]
    {
        var runs: [EvidenceLinks.Run] = []
        for range in RecordRules.linkRanges(rows) {
            var links = LinkRuns(agent: range.agent)
            for (seq, hash) in try await self.rowsOf(
                """
                SELECT seq, event_hash FROM leaves WHERE municipality = \(municipality) AND agent = \(range.agent)
                AND seq BETWEEN \(range.from) AND \(range.through) AND idx < \(treeSize) ORDER BY seq
                """, logger: logger
            ).decode((Int64, ByteBuffer).self) {
                links.add(seq: seq, hash: Array(buffer: hash))
            }
            runs += links.finished
        }
        return runs
    }

    // MARK: Revocation

    public func revokedSerialsSeen() async throws -> Set<String> {
        Set(
            try await self.rowsOf(
                "SELECT serial FROM revoked_serials WHERE municipality = \(municipality)", logger: logger
            ).collect().map { try $0.decode(String.self) })
    }

    /// Keeps the serials, waiting for the commit: the TLS verification that calls this cannot wait
    /// asynchronously. The write runs on a connection of its own, on the store's own thread (never a caller's:
    /// the server's threads and Swift's task threads are others), so the wait needs nothing the caller holds.
    /// A failure throws, and the caller treats the list as unusable (every client refused) until it works.
    public func rememberRevokedSerials(_ serials: Set<String>) throws {
        guard !serials.isEmpty else { return }
        let list = Array(serials)
        let query: PostgresQuery = """
            INSERT INTO revoked_serials(municipality, serial, seen_ms)
            SELECT \(municipality), s, \(Self.ms(Date())) FROM unnest(\(list)::text[]) AS s ON CONFLICT DO NOTHING
            """
        let logger = self.logger
        let loop = group.next()
        let written = PostgresConnection.connect(on: loop, configuration: sideConfiguration, id: 1, logger: logger)
            .flatMap { connection in
                connection.query(query, logger: logger).flatMap { _ in connection.close() }
                    .flatMapError { error in connection.close().flatMapThrowing { throw error } }
            }
        do {
            try written.wait()
        } catch {
            throw KirokuError(
                .internalError, "could not keep revoked serials in the record's database",
                underlying: DescribedError(description: Self.describe(error)))
        }
    }

    /// Binds this municipality's log to one origin and one signing key: the first hub to start writes them
    /// (`kiroku-hub init`); a hub configured otherwise is refused, since its checkpoints and receipts would not
    /// verify beside the others'. A hub rotating the key (`previous`: the ids of its overlap keys) is let in
    /// while the log is still bound to one of those; ``recordKeyRotation(to:from:now:)`` moves the binding, once
    /// everything else at its start is checked. From then on a hub still on the old key signs nothing and is
    /// refused at start (Hub/README.md, "Several hubs, one database").
    public func bind(origin: String, keyID: String, previous: [String] = []) async throws {
        let m = municipality
        let row = try await transaction { connection in
            try await connection.query(
                "UPDATE log_heads SET origin = \(origin), key_id = \(keyID) WHERE municipality = \(m) AND origin IS NULL",
                logger: self.logger)
            return try await connection.query(
                "SELECT origin, key_id FROM log_heads WHERE municipality = \(m)", logger: self.logger
            ).collect().first?.decode((String?, String?).self)
        }
        guard row?.0 == origin, let bound = row?.1, bound == keyID || previous.contains(bound) else {
            let rotation =
                previous.isEmpty
                ? ""
                : " (this hub's overlap keys, \(previous.joined(separator: ", ")), do not include the key it is bound to)"
            throw KirokuError(
                .configuration,
                "the log of '\(m)' in this database is signed as '\(row?.0 ?? "?")' with key \(row?.1 ?? "?"); this hub has origin '\(origin)' and key \(keyID)\(rotation). Every hub on one database needs the same origin and signing_key; after a key rotation, the new one"
            )
        }
        boundKeyID.withLock { $0 = keyID }
    }

    /// Refuses to sign for a log bound to another key than this hub's: another hub on the database rotated it.
    private func checkKey(_ keyID: String?) throws {
        guard let bound = boundKeyID.withLock({ $0 }), keyID != bound else { return }
        // An internal error to the agent (it sends again later); in the hub's log, what to do.
        throw KirokuError(
            .internalError,
            "the log of '\(municipality)' is signed with key \(keyID ?? "?"), not this hub's key \(bound) (a key rotation by another hub on this database): it signs nothing; restart it with the log's signing_key"
        )
    }

    /// Moves the log's binding to `key` and records the rotation, in one transaction (the hub's row, then the
    /// log head: the order of every ingest), so that no crash leaves the log on a new key without the event
    /// witnesses follow. Two hubs rotating at once write one event.
    public func recordKeyRotation(
        to key: Curve25519.Signing.PublicKey, from previous: [Curve25519.Signing.PublicKey], now: Date
    ) async throws {
        let m = municipality
        let hub = HubRecords.agentID
        let nowMS = Self.ms(now)
        let id = signingKeyID(key)
        let outcome: Result<HubStore.IngestResult, KirokuError>? = try await transaction { connection in
            let row = try await self.agentRow(hub, nowMS: nowMS, connection: connection)
            let bound = try await connection.query(
                "SELECT key_id FROM log_heads WHERE municipality = \(m) FOR UPDATE", logger: self.logger
            ).collect().first?.decode(String?.self)
            let recorded = try await self.keyRotations(connection)
            guard try KeyRotations.plan(to: key, from: previous, recorded: recorded, bound: bound ?? nil) else {
                return nil
            }
            guard
                let batch = try HubRecords.batch(
                    [HubRecords.keyRotation(to: key, from: previous)], after: (row.lastSeq, row.lastHash), now: now)
            else { return nil }
            let committed = try await self.commit(
                batch, identity: hub, nowMS: nowMS, skew: 0, sign: nil, connection: connection)
            if case .failure = committed { return committed }
            try await connection.query(
                "UPDATE log_heads SET key_id = \(id) WHERE municipality = \(m)", logger: self.logger)
            return committed
        }
        boundKeyID.withLock { $0 = id }
        guard let outcome else { return }
        _ = try outcome.get()
        arrivals.ring()
    }

    public func keyRotations() async throws -> [KeyRotations.Recorded] {
        try await transaction { connection in try await self.keyRotations(connection) }
    }

    /// The hub's `record/key_rotated` events, oldest first (found through the actor index).
    private func keyRotations(_ connection: PostgresConnection) async throws -> [KeyRotations.Recorded] {
        try await connection.query(
            """
            SELECT attrs FROM events WHERE municipality = \(municipality) AND actor = 'kiroku-hub'
            AND agent = \(HubRecords.agentID) AND kind = 'record' AND action = 'key_rotated' ORDER BY seq
            """, logger: logger
        ).collect().compactMap { KeyRotations.Recorded(attrs: try $0.decode(String.self)) }
    }
}

/// What one of ``PostgresRecordStore/leased(_:)``'s two tasks ended with.
enum LeaseOutcome<T: Sendable>: Sendable {
    case done(T)
    case leasedInTime
}

/// One request for a connection: waiting, then either taken (its body runs) or given up (refused), never both.
final class LeaseState: Sendable {
    private enum State { case waiting, taken, givenUp }
    private let state = Mutex(State.waiting)
    /// Takes the connection that came, unless the request was given up.
    func take() -> Bool {
        state.withLock {
            guard $0 == .waiting else { return false }
            $0 = .taken
            return true
        }
    }
    /// Gives the request up, unless its connection was taken.
    func giveUp() -> Bool {
        state.withLock {
            if $0 == .taken { return false }
            $0 = .givenUp
            return true
        }
    }
    var isTaken: Bool { state.withLock { $0 == .taken } }
}

/// An error's text, carried as the underlying cause of a ``KirokuError`` (logged, never sent).
struct DescribedError: Error, CustomStringConvertible {
    var description: String
}

/// A month of event time in Japan Standard Time (UTC+9, no daylight saving): the events table's partitions.
struct JSTMonth: Equatable {
    var year: Int
    var month: Int

    init(year: Int, month: Int) {
        self.year = year
        self.month = month
    }

    init(containing ms: Int64) {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(secondsFromGMT: 9 * 3600)!
        let parts = calendar.dateComponents([.year, .month], from: Date(timeIntervalSince1970: Double(ms) / 1000))
        self.init(year: parts.year!, month: parts.month!)
    }

    func advanced(by months: Int) -> JSTMonth {
        let total = year * 12 + (month - 1) + months
        return JSTMonth(year: total / 12, month: total % 12 + 1)
    }

    /// This month and the `count` after it.
    func through(_ count: Int) -> [JSTMonth] { (0...count).map { advanced(by: $0) } }

    /// Midnight JST of the 1st, in milliseconds since 1970.
    var startMS: Int64 {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(secondsFromGMT: 9 * 3600)!
        let date = calendar.date(from: DateComponents(year: year, month: month, day: 1))!
        return Int64(date.timeIntervalSince1970 * 1000)
    }

    var endMS: Int64 { advanced(by: 1).startMS }

    var table: String { String(format: "events_m%04d%02d", year, month) }
}
