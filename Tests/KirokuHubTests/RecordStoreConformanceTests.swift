import Crypto
import Foundation
import KirokuHub
import KirokuProtocol
import KirokuTestSupport
import Testing

/// What every ``RecordStore`` must do, run against SQLite and PostgreSQL (the ingest invariants are in
/// `HubStoreTests`, run against both too); and what only several hubs on one PostgreSQL database can show.
@Suite("Record stores: one log, the same answers on SQLite and PostgreSQL")
struct RecordStoreConformanceTests {
    static let origin = "kiroku.test.example/record"
    static let key = Curve25519.Signing.PrivateKey()

    func batch(_ events: [Event]) -> Batch {
        Batch(
            agent: events[0].agent, sentAt: "2026-11-27T09:00:00.000+09:00", headSeq: events.last!.seq, events: events)
    }

    static let sign: @Sendable (Int64, Merkle.Hash) throws -> SignedNote = { size, root in
        var note = SignedNote(body: Checkpoint(origin: origin, size: size, root: root).body)
        try note.sign(name: origin, key: key)
        return note
    }

    /// Batches of awkward sizes from three agents, interleaved, then a retransmission; returns the receipts.
    func feed(_ store: any RecordStore, chains: [String: [Event]]) async throws -> [HubStore.IngestResult] {
        var results: [HubStore.IngestResult] = []
        var offsets = chains.mapValues { _ in 0 }
        let sizes = [1, 7, 16, 33, 2, 64, 5, 100, 3]
        var round = 0
        while offsets.contains(where: { $0.value < chains[$0.key]!.count }) {
            for agent in chains.keys.sorted() {
                let chain = chains[agent]!
                let start = offsets[agent]!
                guard start < chain.count else { continue }
                let end = min(chain.count, start + sizes[round % sizes.count])
                results.append(
                    try await store.ingest(batch(Array(chain[start..<end])), identity: agent, signCheckpoint: Self.sign)
                )
                offsets[agent] = end
                round += 1
            }
        }
        let agent = chains.keys.sorted()[0]
        results.append(
            try await store.ingest(batch(Array(chains[agent]![10..<20])), identity: agent, signCheckpoint: Self.sign))
        return results
    }

    static let chains: [String: [Event]] = [
        "a-1": makeChain(agent: "a-1", count: 150), "a-2": makeChain(agent: "a-2", count: 97),
        "a-3": makeChain(agent: "a-3", count: 41),
    ]

    @Test(
        "Receipts, proofs and checkpoints verify; a retransmitted batch is proved where it stands",
        arguments: StoreKind.allCases)
    func proofs(_ kind: StoreKind) async throws {
        try await withRecordStore(kind) { store in
            let results = try await feed(store, chains: Self.chains)
            let size = try await store.logSize()
            #expect(size == 288)
            #expect(try await store.eventCount() == 288)
            let byHash = Dictionary(
                uniqueKeysWithValues: Self.chains.values.flatMap { $0 }.map { ($0.hash, $0) })
            for result in results {
                let leaf = try #require(Merkle.leafHash(eventHash: result.headHash))
                #expect(
                    Merkle.verifyInclusion(
                        leaf: leaf, index: result.log.leafIndex, size: result.log.treeSize, proof: result.log.inclusion,
                        root: result.log.root), "receipt through \(result.throughSeq) at tree \(result.log.treeSize)")
                #expect(try await store.root(size: result.log.treeSize) == result.log.root)
                let kept = try #require(try await store.checkpoint(size: result.log.treeSize))
                #expect(kept.checkpoint.root == result.log.root && kept.note.text == result.checkpoint)
                #expect(byHash[result.headHash] != nil)
            }
            #expect(results.last!.accepted == 0 && results.last!.duplicates == 10)
            // Every leaf proved in the whole tree, in one reading; consistency between every receipt's tree.
            let root = try await store.root(size: size)
            let page = try await store.queryWithLeaves(EventQuery(), includePurged: false)
            let proofs = try await store.inclusionProofs(leaves: page.rows.map(\.leaf), size: size)
            for (row, proof) in zip(page.rows, proofs) {
                #expect(
                    Merkle.verifyInclusion(
                        leaf: Merkle.leafHash(eventHash: row.event.hash)!, index: row.leaf, size: size, proof: proof,
                        root: root))
            }
            for result in results where result.log.treeSize < size {
                let proof = try await store.consistencyProof(from: result.log.treeSize, to: size)
                #expect(
                    Merkle.verifyConsistency(
                        first: result.log.treeSize, second: size, firstRoot: result.log.root, secondRoot: root,
                        proof: proof))
            }
            // Checkpoints: one per size; none when the log has not grown; cosignatures only for a body it issued.
            let issued = try await store.issueCheckpoint(origin: Self.origin, keys: [Self.key])
            #expect(issued.checkpoint.size == size && issued.checkpoint.root == root)
            let again = try await store.issueCheckpoint(origin: Self.origin, keys: [Self.key])
            #expect(again.note.text == issued.note.text)
            let witness = Curve25519.Signing.PrivateKey()
            var cosigned = issued.note
            try cosigned.cosign(name: "witness.example", key: witness, time: 1_790_000_000)
            #expect(try await store.addCosignatures(cosigned) == 1)
            #expect(try await store.addCosignatures(cosigned) == 0)
            #expect(try await store.newestCosignedCheckpoint()?.checkpoint.size == size)
            var forged = SignedNote(
                body: Checkpoint(origin: Self.origin, size: size, root: Array(repeating: 7, count: 32)).body)
            try forged.cosign(name: "witness.example", key: witness, time: 1_790_000_000)
            await #expect(throws: KirokuError.self) { _ = try await store.addCosignatures(forged) }
            await #expect(throws: KirokuError.self) { _ = try await store.root(size: size + 1) }
            await #expect(throws: KirokuError.self) { _ = try await store.consistencyProof(from: 5, to: size + 1) }
        }
    }

    @Test("SQLite and PostgreSQL fed the same batches give the same roots, proofs, pages, counts and links")
    func sameAnswers() async throws {
        try await withRecordStore(.sqlite) { sqlite in
            try await withRecordStore(.postgres) { postgres in
                let a = try await feed(sqlite, chains: Self.chains)
                let b = try await feed(postgres, chains: Self.chains)
                #expect(a.map(\.log) == b.map(\.log))
                #expect(a.map(\.checkpoint) == b.map(\.checkpoint))
                let size = try await sqlite.logSize()
                for from in [1, 2, 3, 17, 64, 100, 287] as [Int64] {
                    #expect(
                        try await sqlite.consistencyProof(from: from, to: size)
                            == (try await postgres.consistencyProof(from: from, to: size)))
                }
                #expect(
                    try await sqlite.inclusionProofs(leaves: Array(0..<200), size: 200)
                        == (try await postgres.inclusionProofs(leaves: Array(0..<200), size: 200)))
                var queries: [EventQuery] = [EventQuery()]
                queries.append(try EventQuery(parameters: ["agent": "a-2", "limit": "13"]))
                queries.append(try EventQuery(parameters: ["actor": "P101", "actor_match": "prefix"]))
                queries.append(try EventQuery(parameters: ["subject": "コード 4", "subject_match": "contains"]))
                queries.append(
                    try EventQuery(parameters: [
                        "from": "2026-11-27T09:10:00.000+09:00", "to": "2026-11-27T09:20:00.000+09:00", "limit": "9",
                    ]))
                for query in queries {
                    var (q1, q2) = (query, query)
                    var pages = 0
                    while true {
                        let p1 = try await sqlite.queryWithLeaves(q1, includePurged: false)
                        let p2 = try await postgres.queryWithLeaves(q2, includePurged: false)
                        #expect(
                            p1.rows.map(\.event) == p2.rows.map(\.event) && p1.rows.map(\.leaf) == p2.rows.map(\.leaf))
                        #expect(p1.next == p2.next)
                        #expect(
                            try await sqlite.countForEvidence(q1, treeSize: 200)
                                == (try await postgres.countForEvidence(q2, treeSize: 200)))
                        let rows = p1.rows.map { (agent: $0.event.agent, seq: $0.event.seq) }
                        #expect(
                            try await sqlite.evidenceLinks(rows, treeSize: 200)
                                == (try await postgres.evidenceLinks(rows, treeSize: 200)))
                        pages += 1
                        guard let next = p1.next, pages < 40 else { break }
                        q1.cursor = next
                        q2.cursor = next
                    }
                    #expect(pages >= 1)
                }
                #expect(
                    try await sqlite.agentHealth().map(\.lastSeq) == (try await postgres.agentHealth().map(\.lastSeq)))
            }
        }
    }

    @Test("PostgreSQL: two municipalities in one database never see each other's events, agents or log")
    func municipalities() async throws {
        let first = try await TestPostgres.open()
        let second = try await TestPostgres.open()
        defer {
            Task {
                await first.close(); await second.close()
            }
        }
        _ = try await first.ingest(batch(makeChain(agent: "a-1", count: 30)), identity: "a-1")
        let theirs = makeChain(agent: "a-1", count: 5)
        let result = try await second.ingest(batch(theirs), identity: "a-1")
        #expect(result.accepted == 5 && result.log.treeSize == 5, "the same agent id, its own chain and log")
        #expect(try await first.logSize() == 30)
        #expect(try await second.logSize() == 5)
        #expect(try await second.query(EventQuery()).events.map(\.hash) == theirs.map(\.hash))
        #expect(try await second.chainHead(agent: "a-1").seq == 5)
        #expect(try await first.agentHealth().first?.lastSeq == 30)
    }

    @Test("PostgreSQL: two hubs' stores ingesting 12 agents at once keep one gapless log, every event once")
    func twoWritersOneLog() async throws {
        let municipality = "test-two-\(UUID().uuidString.prefix(8))"
        let hubs = [
            try await TestPostgres.open(municipality: municipality),
            try await TestPostgres.open(municipality: municipality),
        ]
        defer { Task { for hub in hubs { await hub.close() } } }
        let agents = (1...12).map { "t-\($0)" }
        let chains = Dictionary(uniqueKeysWithValues: agents.map { ($0, makeChain(agent: $0, count: 120)) })
        // Each agent's batches go to either hub (as after a failover), several agents at once on each.
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (n, agent) in agents.enumerated() {
                group.addTask {
                    let chain = chains[agent]!
                    for (k, start) in stride(from: 0, to: 120, by: 20).enumerated() {
                        let hub = hubs[(n + k) % 2]
                        let events = Array(chain[max(0, start - 5)..<start + 20])  // overlapping: some duplicates
                        let result = try await hub.ingest(
                            Batch(agent: agent, sentAt: "2026-11-27T09:00:00.000+09:00", headSeq: 120, events: events),
                            identity: agent, signCheckpoint: Self.sign)
                        #expect(result.accepted == 20)
                        #expect(
                            Merkle.verifyInclusion(
                                leaf: Merkle.leafHash(eventHash: result.headHash)!, index: result.log.leafIndex,
                                size: result.log.treeSize, proof: result.log.inclusion, root: result.log.root))
                    }
                }
            }
            try await group.waitForAll()
        }
        let size = try await hubs[0].logSize()
        #expect(size == 12 * 120)
        // One log: both hubs see the same root, and it is the tree of the leaves in their order.
        var all = EventQuery()
        all.limit = EventQuery.maxLimit
        let rows = try await hubs[1].queryWithLeaves(all, includePurged: false).rows
        #expect(Set(rows.map(\.leaf)) == Set(0..<size), "gapless")
        #expect(Set(rows.map { "\($0.event.agent)/\($0.event.seq)" }).count == rows.count, "every event once")
        let leaves = rows.sorted { $0.leaf < $1.leaf }.map { Merkle.leafHash(eventHash: $0.event.hash)! }
        #expect(try await hubs[0].root(size: size) == Merkle.root(leaves))
        #expect(try await hubs[1].root(size: size) == Merkle.root(leaves))
        // Both publish checkpoints at once: one per size.
        async let a = hubs[0].issueCheckpoint(origin: Self.origin, keys: [Self.key])
        async let b = hubs[1].issueCheckpoint(origin: Self.origin, keys: [Self.key])
        let (ca, cb) = try await (a, b)
        #expect(ca.note.text == cb.note.text && ca.checkpoint.size == size)
        let health = try await hubs[1].agentHealth()
        #expect(health.count == 12 && health.allSatisfy { $0.lastSeq == 120 && $0.duplicates == 25 && $0.forks == 0 })
    }

    @Test("PostgreSQL: an event far outside the months kept as partitions (a wrong clock) is taken, not refused")
    func wrongClock() async throws {
        try await withRecordStore(.postgres) { (store: any RecordStore) async throws in
            var chain: [Event] = []
            var previous = Event.genesis
            for (seq, time) in [
                "1999-01-01T00:00:00.000+09:00", "2026-11-27T09:00:00.000+09:00", "2031-07-01T00:00:00.000+09:00",
            ].enumerated() {
                let event = Event(
                    agent: "clock-1", seq: Int64(seq + 1), time: time, kind: "access", action: "enter", actor: "P1",
                    subject: "電算室", site: "本庁舎", attrs: [:], salt: Event.randomSalt(), prev: previous
                ).sealed()
                chain.append(event)
                previous = event.hash
            }
            #expect(try await store.ingest(batch(chain), identity: "clock-1").accepted == 3)
            #expect(try await store.query(EventQuery()).events.map(\.hash) == chain.map(\.hash))
        }
    }

    @Test(
        "PostgreSQL: the same agent's batch at two hubs at the same moment is taken once, and counted once as a duplicate"
    )
    func sameBatchTwoHubs() async throws {
        let municipality = "test-race-\(UUID().uuidString.prefix(8))"
        let hubs = [
            try await TestPostgres.open(municipality: municipality),
            try await TestPostgres.open(municipality: municipality),
        ]
        let chain = makeChain(agent: "r-1", count: 200)
        for round in 0..<10 {
            let events = Array(chain[(round * 20)..<(round * 20 + 20)])
            async let a = hubs[0].ingest(batch(events), identity: "r-1")
            async let b = hubs[1].ingest(batch(events), identity: "r-1")
            let (ra, rb) = try await (a, b)
            #expect(ra.accepted + rb.accepted == 20 && ra.duplicates + rb.duplicates == 20, "round \(round)")
            #expect(ra.log.leafIndex == rb.log.leafIndex, "both receipts name the one leaf")
        }
        #expect(try await hubs[0].logSize() == 200)
        let health = try #require(try await hubs[1].agentHealth().first)
        #expect(health.lastSeq == 200 && health.duplicates == 200 && health.batches == 20)
        for hub in hubs { await hub.close() }
    }

    @Test(
        "PostgreSQL: a month the default partition already holds events of gets no partition, and the store still opens"
    )
    func partitionsAfterAWrongClock() async throws {
        let store = try await TestPostgres.open()
        // Two years ahead: beyond the months made now, so it lands in the default partition.
        let ahead = Date().addingTimeInterval(2 * 366 * 86_400)
        let event = Event(
            agent: "ahead-1", seq: 1, time: Timestamp(date: ahead, offsetMinutes: 540).rfc3339, kind: "access",
            action: "enter", actor: "P1", subject: "電算室", site: "本庁舎", attrs: [:], salt: Event.randomSalt(),
            prev: Event.genesis
        ).sealed()
        #expect(try await store.ingest(batch([event]), identity: "ahead-1").accepted == 1)
        // A year and a half on, that month comes into the window: made around it, the job does not fail.
        try await store.makePartitions(around: ahead.addingTimeInterval(-180 * 86_400))
        #expect(try await store.query(EventQuery()).events.map(\.hash) == [event.hash])
        await store.close()
    }

    @Test(
        "A key rotation enters the log once per new key, as the hub's record/key_rotated naming the keys it replaces",
        arguments: StoreKind.allCases)
    func keyRotationOnTheRecord(_ kind: StoreKind) async throws {
        try await withRecordStore(kind) { store in
            _ = try await store.ingest(
                batch(Array(Self.chains["a-1"]![0..<5])), identity: "a-1", signCheckpoint: Self.sign)
            let (k1, k2, k3) = (Self.key.publicKey, Curve25519.Signing.PrivateKey(), Curve25519.Signing.PrivateKey())
            if let postgres = store as? PostgresRecordStore {
                try await postgres.bind(origin: Self.origin, keyID: signingKeyID(k1))
            }
            // The overlap must hold the key the log is signed with (PostgreSQL's binding; on SQLite, the
            // signer of the newest checkpoint): a rotation "from" another key is refused, and records nothing.
            let stranger = Curve25519.Signing.PrivateKey().publicKey
            let refused = await #expect(throws: KirokuError.self) {
                try await store.recordKeyRotation(to: k2.publicKey, from: [stranger], now: Date())
            }
            #expect(refused?.message.contains("which overlap_signing_keys do not include") == true)
            #expect(try await store.logSize() == 5)
            try await store.recordKeyRotation(to: k2.publicKey, from: [k1], now: Date())
            // A restart during the overlap records nothing more.
            try await store.recordKeyRotation(to: k2.publicKey, from: [k1], now: Date())
            #expect(try await store.logSize() == 6)
            try await store.recordKeyRotation(to: k3.publicKey, from: [k2.publicKey], now: Date())
            var query = EventQuery()
            query.agent = AgentID.hub
            let records = try await store.query(query).events
            #expect(records.map(\.action) == ["key_rotated", "key_rotated"] && records.map(\.seq) == [1, 2])
            #expect(records[0].attrs["key_id"] == signingKeyID(k2.publicKey))
            #expect(records[0].attrs["previous_ids"] == signingKeyID(k1))
            #expect(records[1].attrs["previous"] == k2.publicKey.rawRepresentation.base64EncodedString())
            // The hub's chain links like an agent's, and the log proves both events.
            #expect(records[1].prev == records[0].hash && records[0].prev == Event.genesis)
            let size = try await store.logSize()
            #expect(size == 7)
            let root = try await store.root(size: size)
            for leaf in [size - 2, size - 1] {
                let proof = try await store.inclusionProof(leaf: leaf, size: size)
                let event = records[Int(leaf - size + 2)]
                #expect(
                    Merkle.verifyInclusion(
                        leaf: Merkle.leafHash(Hex.decode(event.hash)!), index: leaf, size: size, proof: proof,
                        root: root))
            }
        }
    }

    @Test(
        "PostgreSQL: a rotation by one hub moves the database's key; a hub still on the old key signs nothing and is refused at start"
    )
    func rotationOnOneDatabase() async throws {
        let municipality = "test-rotate-\(UUID().uuidString.prefix(8))"
        let old = try await TestPostgres.open(municipality: municipality)
        let new = try await TestPostgres.open(municipality: municipality)
        let k1 = signingKeyID(Self.key.publicKey)
        let k2 = Curve25519.Signing.PrivateKey()
        let k2ID = signingKeyID(k2.publicKey)
        try await old.bind(origin: Self.origin, keyID: k1)
        try await new.bind(origin: Self.origin, keyID: k1)
        let chain = makeChain(agent: "r-1", count: 20)
        _ = try await old.ingest(batch(Array(chain[0..<5])), identity: "r-1", signCheckpoint: Self.sign)
        // A key that does not follow the bound one (its overlap does not name it) is refused.
        await #expect(throws: KirokuError.self) {
            try await new.bind(origin: Self.origin, keyID: k2ID, previous: ["ffffffff"])
        }
        try await new.bind(origin: Self.origin, keyID: k2ID, previous: [k1])
        try await new.recordKeyRotation(to: k2.publicKey, from: [Self.key.publicKey], now: Date())
        // The hub still on k1: neither a receipt's checkpoint nor a periodic one, and nothing of the batch is kept.
        let refused = await #expect(throws: KirokuError.self) {
            _ = try await old.ingest(batch(Array(chain[5..<10])), identity: "r-1", signCheckpoint: Self.sign)
        }
        #expect(
            refused?.message.contains("restart it with the log's signing_key") == true, "\(String(describing: refused))"
        )
        await #expect(throws: KirokuError.self) { try await old.issueCheckpoint(origin: Self.origin, keys: [Self.key]) }
        #expect(try await new.chainHead(agent: "r-1").seq == 5)
        let signNew: @Sendable (Int64, Merkle.Hash) throws -> SignedNote = { size, root in
            var note = SignedNote(body: Checkpoint(origin: Self.origin, size: size, root: root).body)
            try note.sign(name: Self.origin, key: k2)
            try note.sign(name: Self.origin, key: Self.key)
            return note
        }
        let taken = try await new.ingest(batch(Array(chain[5..<10])), identity: "r-1", signCheckpoint: signNew)
        #expect(taken.accepted == 5 && taken.log.treeSize == 11)
        // Restarting with the old key is refused; with the new one (and the old in overlap, or not) it is not.
        let restarted = try await TestPostgres.open(municipality: municipality)
        await #expect(throws: KirokuError.self) { try await restarted.bind(origin: Self.origin, keyID: k1) }
        try await restarted.bind(origin: Self.origin, keyID: k2ID, previous: [k1])
        try await restarted.bind(origin: Self.origin, keyID: k2ID)
        // Turning the rotation back (k1 to sign, k2 "co-signing") is refused, and the log stays on k2.
        try await restarted.bind(origin: Self.origin, keyID: k1, previous: [k2ID])
        let back = await #expect(throws: KirokuError.self) {
            try await restarted.recordKeyRotation(to: Self.key.publicKey, from: [k2.publicKey], now: Date())
        }
        #expect(back?.message.contains("was retired by a key rotation") == true, "\(String(describing: back))")
        #expect(try await new.keyRotations().map(\.keyID) == [k2ID])
        _ = try await new.ingest(batch(Array(chain[10..<12])), identity: "r-1", signCheckpoint: signNew)
        for store in [old, new, restarted] { await store.close() }
    }

    @Test("PostgreSQL: every hub on one database signs its log as one origin with one key; another is refused")
    func oneOriginOneKey() async throws {
        let municipality = "test-bind-\(UUID().uuidString.prefix(8))"
        let first = try await TestPostgres.open(municipality: municipality)
        let second = try await TestPostgres.open(municipality: municipality)
        try await first.bind(origin: Self.origin, keyID: "0a0b0c0d")
        try await second.bind(origin: Self.origin, keyID: "0a0b0c0d")
        await #expect(throws: KirokuError.self) { try await second.bind(origin: Self.origin, keyID: "ffffffff") }
        await #expect(throws: KirokuError.self) {
            try await second.bind(origin: "other.example/log", keyID: "0a0b0c0d")
        }
        await first.close()
        await second.close()
    }
}
