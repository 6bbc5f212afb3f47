import Foundation
import KirokuAgent
import KirokuClient
import KirokuControl
import KirokuHub
import KirokuProtocol
import KirokuTestSupport
import Logging
import NIOHTTP1
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Faults injected for real: processes killed with SIGKILL, connections cut by a proxy. Each test prints
/// one row: scenario, produced, acknowledged, present at the hub, lost, duplicated, verdict.
@Suite("Faults: kill -9 and cut connections", .serialized)
struct FaultTests {
    /// `recordedLoss`: where losing events is the expected outcome (disk full), the count the loss record
    /// states; the verdict requires the real loss to match it exactly.
    static func report(
        _ scenario: String, produced: Int, acknowledged: Int, atHub: Int, lost: Int, duplicated: Int,
        recordedLoss: Int = 0
    ) {
        let verdict = lost == recordedLoss && duplicated == 0 ? "PASS" : "FAIL"
        print(
            "FAULT | \(scenario) | produced \(produced) | acknowledged \(acknowledged) | at hub \(atHub) | lost \(lost) | duplicated \(duplicated) | \(verdict)"
        )
    }

    /// What the hub holds of one agent, read from its database file.
    static func hubEvents(_ database: String, agent: String) async throws -> [Event] {
        let store = try HubStore.open(path: database)
        var query = EventQuery()
        query.agent = agent
        query.limit = EventQuery.maxLimit
        var events: [Event] = []
        while true {
            let page = try await store.query(query)
            events += page.events
            guard let next = page.next else { return events }
            query.cursor = next
        }
    }

    /// Checks that the hub holds exactly counter-01's journal (every seq once, the same hashes) and
    /// that every receipt the agent keeps names an event the hub holds (after a restore too: the re-sent
    /// events are the same); prints the row.
    func expectHubHoldsJournal(_ journal: Journal, hubDatabase: String, scenario: String) async throws {
        let head = try journal.progress().headSeq
        let held = try await Self.hubEvents(hubDatabase, agent: "counter-01")
        let seqs = held.map(\.seq)
        let distinct = Set(seqs)
        #expect(seqs.count == distinct.count, "no duplicates")
        #expect(distinct == Set(1...head), "the hub holds every event")
        let local = Dictionary(uniqueKeysWithValues: try journal.allEvents().map { ($0.seq, $0.hash) })
        #expect(held.allSatisfy { local[$0.seq] == $0.hash }, "with the agent's hashes")
        // No receipt for anything the hub does not hold: each receipt's head is in the hub's record.
        let hubHash = Dictionary(uniqueKeysWithValues: held.map { ($0.seq, $0.hash) })
        let receipts = try journal.receipts()
        #expect(!receipts.isEmpty)
        #expect(receipts.allSatisfy { hubHash[$0.receipt.throughSeq] == $0.receipt.headHash })
        Self.report(
            scenario, produced: Int(head), acknowledged: Int(head), atHub: distinct.count,
            lost: Int(head) - distinct.count,
            duplicated: seqs.count - distinct.count)
    }

    /// A backup with SQLite's online backup API (python3's sqlite3), as Hub/README.md tells operators.
    static func onlineBackup(_ database: String, to backup: String) async throws {
        let outcome = try await runProgram(
            "/usr/bin/env",
            [
                "python3", "-c",
                """
                import sqlite3, sys
                src = sqlite3.connect(sys.argv[1]); dst = sqlite3.connect(sys.argv[2]); src.backup(dst); dst.close()
                """, database, backup,
            ])
        #expect(outcome.status == 0, "backup failed: \(outcome.stderr)")
    }

    /// Replaces a (stopped) database and its WAL with a backup: what restoring after a disk failure does.
    static func restore(_ database: String, from backup: String) throws {
        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: database + suffix) }
        try FileManager.default.copyItem(atPath: backup, toPath: database)
    }

    /// counter-01's journal holding `events` events not yet delivered, as after a long time offline.
    func backlogJournal(_ temp: TempDir, events: Int) async throws -> Journal {
        let journal = try Journal.open(path: temp.file("counter-01/journal.sqlite"), agentID: "counter-01", site: "")
        var left = events
        while left > 0 {
            let count = min(left, 5000)
            try await journal.append(
                Array(repeating: EventDraft(kind: "access", action: "enter", actor: "P1", subject: "電算室"), count: count)
            )
            left -= count
        }
        return journal
    }

    /// The start most scenarios share: counter-01's certificate, its journal holding `backlog` events not yet
    /// delivered, a hub process, and counter-01's configuration (`extra` keys) pointing at that hub. The
    /// agent is started by the scenario (``Scene/startAgent(_:)``), which then does its damage.
    struct Scene {
        let temp: TempDir
        let pki: TestPKI
        let journal: Journal
        let hub: HubProcess
        let config: String
        var socket: String { temp.file("counter-01/ingest.sock") }

        init(_ name: String, backlog: Int, heartbeat: Double = 300, agent extra: [String: Any]) async throws {
            temp = try TempDir(name)
            pki = try TestPKI(in: temp)
            try pki.agent("counter-01")
            journal = try await FaultTests().backlogJournal(temp, events: backlog)
            hub = try await HubProcess(pki: pki, temp: temp)
            config = try agentConfig(
                "counter-01", pki: pki, temp: temp, hubURL: hub.url, heartbeat: heartbeat, extra: extra)
        }

        func startAgent(_ name: String = "agent") async throws -> AgentProcess {
            try await AgentProcess(config: config, socket: socket, temp: temp, name: name)
        }

        /// A hub on the same port over `database` as it now is (after a kill or a restore).
        func restartHub(name: String = "hub") async throws -> HubProcess {
            try await HubProcess(pki: pki, temp: temp, name: name, extra: ["--port", "\(hub.port)"])
        }
    }

    @Test("kill -9 of the agent under 8 concurrent producers: every acknowledged event survives exactly once")
    func killAgent() async throws {
        let temp = try TempDir("kill-agent")
        let pki = try TestPKI(in: temp)
        try pki.agent("counter-01")
        // No hub: the agent only journals (the hub is not what this test is about).
        let config = try agentConfig("counter-01", pki: pki, temp: temp, hubURL: "https://localhost:1")
        let socket = temp.file("counter-01/ingest.sock")
        let agent = try await AgentProcess(config: config, socket: socket, temp: temp, name: "agent")
        let acknowledged = Acknowledged()
        let producers = (0..<8).map { producer in
            Thread {
                guard let client = try? SocketProducer(path: socket) else { return }
                for index in 0..<100_000 {
                    guard
                        let answer = try? client.send(
                            #"{"kind":"operation","action":"lookup","actor":"P\#(producer)","subject":"\#(index)"}"#),
                        let data = answer.data(using: .utf8),
                        let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
                        object["ok"] as? Bool == true, let seq = object["seq"] as? Int,
                        let hash = object["hash"] as? String
                    else { break }
                    acknowledged.add(seq: Int64(seq), hash: hash)
                }
                acknowledged.finished()
            }
        }
        for thread in producers { thread.start() }
        let busy = await eventually { acknowledged.count >= 1500 }
        #expect(busy)
        agent.child.kill9()
        #expect(await eventually { acknowledged.finishedCount == 8 }, "producers notice the agent is gone")

        let journal = try Journal.open(path: temp.file("counter-01/journal.sqlite"), agentID: "counter-01", site: "")
        #expect(try journal.integrityCheck() == "ok")
        let stored = try journal.allEvents()
        let bySeq = Dictionary(uniqueKeysWithValues: stored.map { ($0.seq, $0.hash) })
        let acks = acknowledged.all
        let lost = acks.filter { bySeq[$0.seq] != $0.hash }.count
        #expect(lost == 0, "every answered event is in the journal with the answered hash")
        #expect(Set(acks.map(\.seq)).count == acks.count, "no seq was answered twice")
        #expect(stored.map(\.seq) == Array(1...Int64(stored.count)), "gapless")
        #expect(stored.first?.prev == Event.genesis)
        for (previous, next) in zip(stored, stored.dropFirst()) { #expect(next.prev == previous.hash) }
        // Restarted, the agent continues the same chain.
        let again = try await AgentProcess(config: config, socket: socket, temp: temp, name: "agent2")
        defer { again.stop() }
        let answer = try SocketProducer(path: socket).send(#"{"kind":"access","action":"enter","actor":"P1"}"#)
        #expect(answer.contains("\"ok\":true"))
        let resumed = try journal.allEvents()
        #expect(resumed.map(\.seq) == Array(1...Int64(resumed.count)))
        for (previous, next) in zip(resumed, resumed.dropFirst()) { #expect(next.prev == previous.hash) }
        Self.report(
            "kill -9 agent under 8 producers", produced: stored.count, acknowledged: acks.count, atHub: 0, lost: lost,
            duplicated: acks.count - Set(acks.map(\.seq)).count)
    }

    @Test(
        "Two hubs on one PostgreSQL under 50 agents, one killed -9 mid-batch: every event once, one gapless log, every receipt's tree a prefix of it"
    )
    func twoHubsOnePostgres() async throws {
        let temp = try TempDir("two-hubs")
        let pki = try TestPKI(in: temp)
        let database = try await TestPostgres.createDatabase()
        // Both hubs sign with one key and one origin: they publish one log.
        let environment = [
            "KIROKU_HUB_STORE": database, "KIROKU_HUB_STORE_SCOPE": "record",
            "KIROKU_HUB_STORE_MUNICIPALITY": "two-hubs",
        ]
        let signing = ["--signing-key", temp.file("receipt-signing.key")]
        var hubA = try await HubProcess(pki: pki, temp: temp, name: "hub-a", extra: signing, environment: environment)
        let hubB = try await HubProcess(pki: pki, temp: temp, name: "hub-b", extra: signing, environment: environment)
        defer { hubB.stop() }
        var logger = Logger(label: "two-hubs")
        logger.logLevel = .critical
        let ids = (1...50).map { String(format: "terminal-%02d", $0) }
        var agents: [(journal: Journal, service: SyncService, onA: Bool)] = []
        for (n, id) in ids.enumerated() {
            try pki.agent(id)
            let journal = try Journal.open(path: temp.file("\(id)/journal.sqlite"), agentID: id, site: "支所")
            try await journal.append(
                Array(repeating: EventDraft(kind: "operation", action: "lookup", actor: "P1", subject: id), count: 400))
            var configuration = AgentConfiguration(agentID: id)
            configuration.hubURL = n % 2 == 0 ? hubA.url : hubB.url
            configuration.ca = pki.caPath
            configuration.certificate = pki.certPath(.agent, id)
            configuration.privateKey = pki.keyPath(.agent, id)
            configuration.batchEvents = 50
            configuration.pollSeconds = 0.2
            configuration.backoffMaxSeconds = 1
            agents.append(
                (
                    journal,
                    SyncService(journal: journal, configuration: configuration, doorbell: Doorbell(), logger: logger),
                    n % 2 == 0
                ))
        }
        let total = ids.count * 400
        func delivered(onA: Bool? = nil) -> Int {
            agents.filter { onA == nil || $0.onA == onA }.reduce(0) {
                $0 + Int((try? $1.journal.progress().deliveredThrough) ?? 0)
            }
        }
        let services = agents.map(\.service)
        let running = Task {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for service in services { group.addTask { try await service.run() } }
                try await group.waitForAll()
            }
        }
        // Hub A dies mid-ingest: its agents have delivered some and not all.
        #expect(await eventually { delivered(onA: true) >= total / 8 })
        hubA.child.kill9()
        let atKill = delivered(onA: true)
        #expect(atKill < total / 2, "hub A was killed with its agents mid-sync")
        // Hub B goes on serving its agents while A is down.
        let bBefore = delivered(onA: false)
        #expect(await eventually { delivered(onA: false) > bBefore || delivered(onA: false) == total / 2 })
        hubA = try await HubProcess(
            pki: pki, temp: temp, name: "hub-a", extra: signing + ["--port", "\(hubA.port)"], environment: environment)
        defer { hubA.stop() }
        let converged = await eventually(timeout: .seconds(120)) { delivered() == total }
        running.cancel()
        _ = try? await running.value
        #expect(converged, "delivered \(delivered()) of \(total)")

        var storeLogger = Logger(label: "two-hubs.check")
        storeLogger.logLevel = .warning
        let store = try await PostgresRecordStore.open(
            StoreSettings(url: database, scope: "record", municipality: "two-hubs"), municipality: "two-hubs",
            logger: storeLogger)
        let size = try await store.logSize()
        #expect(size == Int64(total))
        let health = try await store.agentHealth()
        #expect(health.count == 50 && health.allSatisfy { $0.lastSeq == 400 && $0.forks == 0 })
        var query = EventQuery()
        query.limit = EventQuery.maxLimit
        var leaves: [(leaf: Int64, hash: String, key: String)] = []
        while true {
            let page = try await store.queryWithLeaves(query, includePurged: false)
            leaves += page.rows.map { ($0.leaf, $0.event.hash, "\($0.event.agent)/\($0.event.seq)") }
            guard let next = page.next else { break }
            query.cursor = next
        }
        let distinct = Set(leaves.map(\.key)).count
        #expect(Set(leaves.map(\.leaf)) == Set(0..<size), "one gapless log")
        let root = try await store.root(size: size)
        #expect(root == Merkle.root(leaves.sorted { $0.leaf < $1.leaf }.map { Merkle.leafHash(eventHash: $0.hash)! }))
        // Every receipt either hub gave names a tree that is a prefix of the final log, with a kept checkpoint.
        var receipts = 0
        for agent in agents {
            for signed in try agent.journal.receipts() {
                let log = try #require(signed.receipt.log)
                #expect(Hex.encode(try await store.root(size: log.treeSize)) == log.root)
                #expect(try await store.checkpoint(size: log.treeSize)?.note.text == log.checkpoint)
                receipts += 1
            }
        }
        #expect(receipts >= 50, "receipts from both hubs")
        await store.close()
        Self.report(
            "two hubs on PostgreSQL, one killed -9 mid-batch, 50 agents", produced: total, acknowledged: total,
            atHub: distinct, lost: total - distinct, duplicated: leaves.count - distinct)
    }

    @Test(
        "The hub's link to PostgreSQL is cut under a syncing agent: the hub answers store_unavailable instead of hanging, the agent keeps its events, and once the link is back every event is there once"
    )
    func postgresOutage() async throws {
        let temp = try TempDir("pg-outage")
        let pki = try TestPKI(in: temp)
        try pki.agent("counter-01")
        try pki.person("kanri01")
        // The hub reaches its database through a link this test cuts (every connection reset, nothing
        // listening) and restores: to the hub, the server is gone and comes back.
        let database = try await TestPostgres.createDatabase()
        let serverPort = try #require(URLComponents(string: database)?.port)
        let link = try SeverableLink(target: serverPort)
        defer { link.finish() }
        var linked = try #require(URLComponents(string: database))
        linked.port = link.port
        let url = try #require(linked.string)
        let hub = try await HubProcess(
            pki: pki, temp: temp,
            environment: [
                "KIROKU_HUB_STORE": url, "KIROKU_HUB_STORE_SCOPE": "record", "KIROKU_HUB_STORE_MUNICIPALITY": "outage",
                "KIROKU_HUB_STORE_READERS": "kanri01",
            ])
        defer { hub.stop() }
        let config = try agentConfig(
            "counter-01", pki: pki, temp: temp, hubURL: hub.url, extra: ["backoff_max_seconds": 1])
        let socket = temp.file("counter-01/ingest.sock")
        let agent = try await AgentProcess(config: config, socket: socket, temp: temp, name: "agent")
        defer { agent.stop() }
        let journal = try Journal.open(path: temp.file("counter-01/journal.sqlite"), agentID: "counter-01", site: "")
        func produce(_ range: Range<Int>) throws -> Int {
            let producer = try SocketProducer(path: socket)
            return try range.filter {
                try producer.send(#"{"kind":"operation","action":"lookup","actor":"P1","subject":"住民\#($0)"}"#)
                    .contains("\"ok\":true")
            }.count
        }
        var acknowledged = try produce(0..<50)
        #expect(await eventually { allDelivered(journal) })

        // The database is gone; the terminal goes on recording.
        link.sever()
        acknowledged += try produce(50..<100)
        // A reader's search is answered, and says why it cannot be served (curl gives up after 45 s: the
        // driver alone would keep the request waiting for a minute).
        let search = try await runProgram(
            "/usr/bin/curl",
            [
                "-sS", "--max-time", "45", "--cacert", pki.caPath, "--cert", pki.certPath(.person, "kanri01"), "--key",
                pki.keyPath(.person, "kanri01"), "-w", "\n%{http_code}", "\(hub.url)/v1/events?agent=counter-01",
            ])
        #expect(search.stdout.hasSuffix("\n503") && search.stdout.contains("\"store_unavailable\""), "\(search)")
        #expect(!allDelivered(journal), "nothing after the cut is receipted")

        // Back: the agent's batches are taken, once each.
        link.restore()
        #expect(await eventually { allDelivered(journal) }, "agent log: \(agent.child.log)")
        let held = try await runProgram(
            "/usr/bin/env",
            [
                "psql", database, "-tAc",
                "SELECT count(*), count(DISTINCT seq), min(seq), max(seq) FROM leaves WHERE municipality = 'outage' AND agent = 'counter-01'",
            ])
        let figures = held.stdout.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: "|").compactMap {
            Int($0)
        }
        let head = Int(try journal.progress().headSeq)
        #expect(figures.count == 4 && figures[0] == figures[1] && figures[2] == 1 && figures[3] == head, "\(held)")
        #expect(hub.child.log.contains("store_unavailable"), "the hub's log says what happened")
        let distinct = figures.count == 4 ? figures[1] : 0
        Self.report(
            "the hub's link to PostgreSQL cut under a syncing agent, then restored", produced: 100,
            acknowledged: acknowledged, atHub: distinct, lost: head - distinct,
            duplicated: figures.count == 4 ? figures[0] - figures[1] : 0)
    }

    @Test(
        "kill -9 of the hub mid-ingest, four times: the agent resumes, the hub holds everything once, every receipt is backed"
    )
    func killHub() async throws {
        let scene = try await Scene(
            "kill-hub", backlog: 40_000, agent: ["batch_events": 500, "backoff_max_seconds": 0.5])
        let (journal, socket) = (scene.journal, scene.socket)
        var hub = scene.hub
        let agent = try await scene.startAgent()
        defer { agent.stop() }
        // Each kill comes as soon as the restarted hub has taken something, and counts only if the agent
        // still had events to deliver when the hub died. Should a fast machine drain the backlog first, more
        // events are produced through the agent's socket while the hub is down, so that the next round has
        // a backlog again and every counted kill is mid-ingest.
        var kills = 0
        for _ in 1...12 where kills < 4 {
            let mark = try journal.progress().deliveredThrough
            let moved = await eventually { ((try? journal.progress().deliveredThrough) ?? 0) > mark }
            guard moved else { break }
            hub.child.kill9()
            if !allDelivered(journal) {
                kills += 1
            } else {
                let producer = try SocketProducer(path: socket)
                for index in 0..<1500 {
                    let answer = try producer.send(
                        #"{"kind":"access","action":"enter","actor":"P1","subject":"\#(index)"}"#)
                    #expect(answer.contains("\"ok\":true"), "\(answer)")
                }
            }
            hub = try await scene.restartHub()
        }
        #expect(kills == 4, "four kills while the agent still had events to deliver")
        let done = await eventually { allDelivered(journal) }
        #expect(done, "agent log: \(agent.child.log)")
        try await expectHubHoldsJournal(
            journal, hubDatabase: hub.database, scenario: "kill -9 hub mid-ingest x\(kills)")
        hub.stop()
    }

    @Test(
        "Connections cut at random points of batches and receipts: no loss, no duplicate, the agent recovers by itself")
    func cutConnections() async throws {
        let temp = try TempDir("cut")
        let pki = try TestPKI(in: temp)
        try pki.agent("counter-01")
        let journal = try await backlogJournal(temp, events: 20_000)
        let hub = try await HubProcess(pki: pki, temp: temp)
        defer { hub.stop() }
        let proxy = try CuttingProxy(target: hub.port, cuts: 25)
        defer { proxy.stop() }
        let config = try agentConfig(
            "counter-01", pki: pki, temp: temp, hubURL: "https://localhost:\(proxy.port)",
            extra: ["batch_events": 1000, "backoff_max_seconds": 0.3, "compression": "none"])
        let agent = try await AgentProcess(
            config: config, socket: temp.file("counter-01/ingest.sock"), temp: temp, name: "agent")
        defer { agent.stop() }
        let done = await eventually(timeout: .seconds(120)) { allDelivered(journal) }
        #expect(done, "agent log: \(agent.child.log)")
        #expect(proxy.cutsMade >= 10, "the proxy really cut connections (\(proxy.cutsMade))")
        try await expectHubHoldsJournal(
            journal, hubDatabase: hub.database, scenario: "connections cut x\(proxy.cutsMade)")
    }
}

extension FaultTests {
    @Test(
        "The hub restored from an older backup: the agent notices and re-sends what the hub lacks, from its kept events"
    )
    func hubRestoredFromBackup() async throws {
        let scene = try await Scene(
            "restore", backlog: 5_000, agent: ["batch_events": 1000, "backoff_max_seconds": 0.3])
        let (temp, journal, first) = (scene.temp, scene.journal, scene.hub)
        let agent = try await scene.startAgent()
        defer { agent.stop() }
        #expect(await eventually { allDelivered(journal) })
        first.stop()
        // The nightly backup, taken with SQLite's online backup (what Hub/README.md tells operators to do).
        let backup = temp.file("backup.sqlite")
        try await Self.onlineBackup(first.database, to: backup)
        let backedUp = try journal.progress().deliveredThrough
        // More events arrive and are delivered to the hub after the backup...
        let second = try await scene.restartHub()
        try await journal.append(
            Array(repeating: EventDraft(kind: "access", action: "exit", actor: "P1", subject: "電算室"), count: 3000))
        #expect(await eventually { allDelivered(journal) })
        second.stop()
        // ...then the hub's disk fails and the backup is restored: the hub is now behind the agent.
        try Self.restore(second.database, from: backup)
        let restored = try await scene.restartHub()
        defer { restored.stop() }
        #expect(try await Self.hubEvents(restored.database, agent: "counter-01").count == Int(backedUp))
        // One more event makes the agent talk to the hub; it finds the hub behind and re-sends.
        _ = try SocketProducer(path: temp.file("counter-01/ingest.sock")).send(
            #"{"kind":"access","action":"enter","actor":"P2"}"#)
        let head = try journal.progress().headSeq
        let caughtUp = await eventually {
            ((try? await Self.hubEvents(restored.database, agent: "counter-01").count) ?? 0) >= Int(head)
        }
        #expect(caughtUp, "agent log: \(agent.child.log)")
        try await expectHubHoldsJournal(
            journal, hubDatabase: restored.database, scenario: "hub restored from an older backup")
    }
}

extension FaultTests {
    @Test("Hub restart while 50 agents are syncing: all converge, every event once")
    func fiftyAgents() async throws {
        let temp = try TempDir("fifty")
        let pki = try TestPKI(in: temp)
        let ids = (1...50).map { String(format: "terminal-%02d", $0) }
        var logger = Logger(label: "fifty")
        logger.logLevel = .critical
        var agents: [(journal: Journal, service: SyncService)] = []
        let first = try await HubProcess(pki: pki, temp: temp)
        let port = first.port
        for id in ids {
            try pki.agent(id)
            let journal = try Journal.open(path: temp.file("\(id)/journal.sqlite"), agentID: id, site: "支所")
            try await journal.append(
                Array(repeating: EventDraft(kind: "operation", action: "lookup", actor: "P1", subject: id), count: 400))
            var configuration = AgentConfiguration(agentID: id)
            configuration.hubURL = first.url
            configuration.ca = pki.caPath
            configuration.certificate = pki.certPath(.agent, id)
            configuration.privateKey = pki.keyPath(.agent, id)
            configuration.batchEvents = 50
            configuration.pollSeconds = 0.2
            configuration.backoffMaxSeconds = 1
            agents.append(
                (
                    journal,
                    SyncService(journal: journal, configuration: configuration, doorbell: Doorbell(), logger: logger)
                ))
        }
        let total = ids.count * 400
        func delivered() -> Int {
            agents.reduce(0) { $0 + Int((try? $1.journal.progress().deliveredThrough) ?? 0) }
        }
        let services = agents.map(\.service)
        let running = Task {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for service in services { group.addTask { try await service.run() } }
                try await group.waitForAll()
            }
        }
        // Restart the hub (SIGTERM, then start again on the same port) while the agents are mid-sync.
        #expect(await eventually { delivered() >= total / 4 })
        let before = delivered()
        first.stop()
        let hub = try await HubProcess(pki: pki, temp: temp, extra: ["--port", "\(port)"])
        defer { hub.stop() }
        let converged = await eventually(timeout: .seconds(120)) { delivered() == total }
        running.cancel()
        _ = try? await running.value
        #expect(before < total, "the restart happened mid-sync")
        #expect(converged, "delivered \(delivered()) of \(total)")
        let store = try HubStore.open(path: hub.database)
        #expect(try await store.eventCount() == Int64(total))
        let health = try await store.agentHealth()
        #expect(health.count == 50)
        #expect(health.allSatisfy { $0.lastSeq == 400 && $0.forks == 0 })
        let held = Int(try await store.eventCount())
        let distinct = health.reduce(0) { $0 + Int($1.lastSeq) }  // gapless per agent, so seqs held = last seq
        Self.report(
            "hub restart under 50 syncing agents", produced: total, acknowledged: total, atHub: distinct,
            lost: total - distinct, duplicated: held - distinct)
    }
}

extension FaultTests {
    @Test(
        "The hub restored from a backup older than what the agent still keeps: both sides record the exact missing range"
    )
    func hubRestoredPastKeptEvents() async throws {
        // Delivered events are pruned at every heartbeat (keep window 0).
        let scene = try await Scene(
            "restore-pruned", backlog: 5_000, heartbeat: 1,
            agent: ["batch_events": 1000, "backoff_max_seconds": 0.3, "keep_delivered_days": 0])
        let (temp, journal, first) = (scene.temp, scene.journal, scene.hub)
        let agent = try await scene.startAgent()
        defer { agent.stop() }
        #expect(await eventually { (try? journal.progress()).map { $0.deliveredThrough >= 5_000 } ?? false })
        first.stop()
        let backup = temp.file("backup.sqlite")
        try await Self.onlineBackup(first.database, to: backup)
        let second = try await scene.restartHub()
        try await journal.append(
            Array(repeating: EventDraft(kind: "access", action: "exit", actor: "P1", subject: "電算室"), count: 3000))
        #expect(await eventually { allDelivered(journal) })
        // The agent prunes what was delivered; then the hub is restored from the older backup.
        #expect(await eventually { ((try? journal.status().keptEvents) ?? .max) < 10 })
        second.stop()
        try Self.restore(second.database, from: backup)
        let restored = try await scene.restartHub()
        defer { restored.stop() }
        let store = try HubStore.open(path: restored.database)
        let declared = await eventually {
            ((try? await store.declaredGaps(agent: "counter-01")) ?? []).count == 1
        }
        #expect(declared, "agent log: \(agent.child.log)")
        #expect(await eventually { allDelivered(journal) })
        let gap = try #require(try await store.declaredGaps(agent: "counter-01").first)
        // Read from the hub: the agent keeps journalling heartbeats (one a second) and prunes what was delivered,
        // its loss record too, at each of them.
        let head = try journal.progress().headSeq
        let hubCopy = try await Self.hubEvents(restored.database, agent: "counter-01")
        let heldList = hubCopy.map(\.seq)
        let held = Set(heldList)
        let missing = Set(1...(heldList.max() ?? 0)).subtracting(held)
        #expect(missing == Set(gap.from...gap.through), "the declared range is exactly what the hub lacks")
        let backupHead = try await runProgram(
            "/usr/bin/env",
            [
                "python3", "-c",
                """
                import sqlite3, sys
                print(sqlite3.connect(sys.argv[1]).execute("SELECT last_seq FROM agents WHERE id = 'counter-01'").fetchone()[0])
                """, backup,
            ]
        ).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(
            gap.from == (Int64(backupHead) ?? -1) + 1, "the gap starts right after the backup's head (\(backupHead))")
        // The agent's loss record, as it reached the hub.
        let agentLoss = hubCopy.first { $0.kind == "agent" && $0.action == "loss" }
        #expect(agentLoss != nil, "the agent's loss record reached the hub")
        #expect(agentLoss?.attrs["from_seq"] == "\(gap.from)" && agentLoss?.attrs["through_seq"] == "\(gap.through)")
        let health = try #require(try await store.agentHealth().first)
        #expect(health.declaredLost == gap.count)
        Self.report(
            "hub restored past the agent's keep window (declared gap \(gap.from)-\(gap.through))", produced: Int(head),
            acknowledged: Int(head), atHub: held.count, lost: missing.count, duplicated: heldList.count - held.count,
            recordedLoss: Int(gap.count))
    }

    /// counter-01 with `events` journalled and delivered to a running hub by a real agent, then stopped.
    func deliveredBacklog(_ name: String, events: Int) async throws
        -> (TempDir, TestPKI, HubProcess, Journal, config: String, socket: String)
    {
        let scene = try await Scene(name, backlog: events, agent: ["backoff_max_seconds": 0.3])
        let agent = try await scene.startAgent("agent1")
        #expect(await eventually { allDelivered(scene.journal) })
        agent.stop()
        return (scene.temp, scene.pki, scene.hub, scene.journal, scene.config, scene.socket)
    }

    @Test(
        "The agent's journal restored from an older backup: what it wrote since is journalled again in a new epoch at the hub's head"
    )
    func journalRestoredFromBackup() async throws {
        let (temp, pki, hub, journal, config, socket) = try await deliveredBacklog("journal-restore", events: 500)
        defer { hub.stop() }
        var agent: AgentProcess
        // The terminal's nightly backup of its journal.
        let journalPath = temp.file("counter-01/journal.sqlite")
        let backup = temp.file("journal-backup.sqlite")
        try await Self.onlineBackup(journalPath, to: backup)
        // The next day: more events, all delivered.
        agent = try await AgentProcess(config: config, socket: socket, temp: temp, name: "agent2")
        for index in 0..<200 {
            #expect(
                try SocketProducer(path: socket).send(#"{"kind":"access","action":"enter","actor":"P\#(index)"}"#)
                    .contains("\"ok\":true"))
        }
        #expect(await eventually { allDelivered(journal) })
        agent.stop()
        let store = try HubStore.open(path: hub.database)
        let hubHeadBefore = try await store.chainHead(agent: "counter-01")
        // The disk fails; the journal is restored from the backup. The agent starts while the network is
        // down and journals more events than the hub is ahead by, all on seqs the hub already holds.
        try Self.restore(journalPath, from: backup)
        let offline = try agentConfig(
            "counter-01", pki: pki, temp: temp, hubURL: "https://127.0.0.1:1", extra: ["backoff_max_seconds": 0.3])
        agent = try await AgentProcess(config: offline, socket: socket, temp: temp, name: "agent3")
        for index in 0..<300 {
            #expect(
                try SocketProducer(path: socket).send(#"{"kind":"access","action":"exit","actor":"P\#(index)"}"#)
                    .contains("\"ok\":true"))
        }
        agent.stop()
        let restored = try Journal.open(path: journalPath, agentID: "counter-01", site: "")
        let beforeContact = try restored.allEvents()
        // What the hub does not hold (by hash): at least everything written since the restore.
        let heldBefore = Set(try await Self.hubEvents(hub.database, agent: "counter-01").map(\.hash))
        let written = beforeContact.filter { !heldBefore.contains($0.hash) }
        #expect(written.count >= 300)
        #expect(
            try restored.progress().headSeq > hubHeadBefore.seq,
            "the restored journal is past the hub's head, on other events")
        // The network returns.
        _ = try agentConfig("counter-01", pki: pki, temp: temp, hubURL: hub.url, extra: ["backoff_max_seconds": 0.3])
        agent = try await AgentProcess(config: config, socket: socket, temp: temp, name: "agent4")
        defer { agent.stop() }
        #expect(
            await eventually {
                (try? restored.allEvents().contains { $0.attrs["reason"] == "journal_rollback" }) ?? false
            }, "agent log: \(agent.child.log)")
        #expect(await eventually { allDelivered(restored) }, "agent log: \(agent.child.log)")

        let local = try restored.allEvents()
        let epoch = try #require(local.first { $0.attrs["reason"] == "journal_rollback" })
        #expect(
            epoch.seq == hubHeadBefore.seq + 1 && epoch.prev == hubHeadBefore.hash,
            "the new epoch links to what the hub holds")
        let health = try #require(try await store.agentHealth().first)
        #expect(
            health.epochs == 1 && health.lastEpochReason == "journal_rollback",
            "the rollback shows in the agent's health")
        #expect(health.forks == 0, "nothing conflicting was sent")
        let held = try await Self.hubEvents(hub.database, agent: "counter-01").sorted { $0.seq < $1.seq }
        #expect(held.map(\.seq) == Array(1...Int64(held.count)), "the hub's chain stays gapless")
        for (previous, next) in zip(held, held.dropFirst()) { #expect(next.prev == previous.hash) }
        // Every event written on the restored journal reached the hub exactly once, in content, in order,
        // right after the epoch record; the originals are kept aside in the journal.
        func content(_ event: Event) -> String {
            "\(event.time)|\(event.kind)|\(event.action)|\(event.actor)|\(event.subject)|\(event.attrs)"
        }
        // (The new daemon's own agent/started came before the contact too.)
        let orphaned = try restored.orphanedEvents().map(\.event)
        #expect(orphaned.prefix(written.count).map(\.hash) == written.map(\.hash), "the originals kept for forensics")
        let moved = held.filter { $0.seq > epoch.seq }.prefix(orphaned.count)
        #expect(moved.map(content) == orphaned.map(content), "the events written before contact, journalled again")
        #expect(
            epoch.attrs["rejournaled_from_seq"] == "\(written.first!.seq)"
                && epoch.attrs["rejournaled_through_seq"] == "\(orphaned.last!.seq)")
        #expect(epoch.attrs["rejournaled_as_from_seq"] == "\(epoch.seq + 1)")
        let exits = held.filter { $0.action == "exit" }.map(\.actor)
        #expect(exits.count == 300 && Set(exits).count == 300, "each of the 300 exits once")
        Self.report(
            "agent journal restored from a backup (new epoch at seq \(epoch.seq), \(written.count) re-journalled)",
            produced: local.count, acknowledged: local.count, atHub: held.count, lost: 0,
            duplicated: held.count - Set(held.map(\.seq)).count + (exits.count - Set(exits).count))
    }

    @Test(
        "A corrupt journal: moved aside intact at start, a new epoch with a loss record of exactly what never reached the hub"
    )
    func corruptJournal() async throws {
        let (temp, pki, hub, journal, config, socket) = try await deliveredBacklog("journal-corrupt", events: 3000)
        defer { hub.stop() }
        var agent: AgentProcess
        // Offline for a while: 200 events journalled that the hub has not seen.
        let offline = try agentConfig(
            "counter-01", pki: pki, temp: temp, hubURL: "https://127.0.0.1:1", extra: ["backoff_max_seconds": 0.3])
        agent = try await AgentProcess(config: offline, socket: socket, temp: temp, name: "agent2")
        for index in 0..<200 {
            #expect(
                try SocketProducer(path: socket).send(
                    #"{"kind":"operation","action":"lookup","actor":"P1","subject":"R\#(index)"}"#
                ).contains("\"ok\":true"))
        }
        agent.stop()
        let journalPath = temp.file("counter-01/journal.sqlite")
        let hubHead = try await HubStore.open(path: hub.database).chainHead(agent: "counter-01")
        let beforeDamage = try journal.allEvents()
        let neverDelivered = beforeDamage.filter { $0.seq > hubHead.seq }
        #expect(neverDelivered.count >= 200)
        // A bad sector: one page of events in the middle of the file is overwritten with garbage.
        let damage = try await runProgram(
            "/usr/bin/env",
            [
                "python3", "-c",
                """
                import os, sqlite3, sys
                path = sys.argv[1]
                db = sqlite3.connect(path)
                busy = db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
                size = db.execute("PRAGMA page_size").fetchone()[0]
                db.close()
                if busy: sys.exit("the checkpoint was busy")
                data = open(path, "rb").read()
                pages = len(data) // size
                page = next(p for p in range(pages // 3, pages) if data[p * size] == 0x0D)  # a table leaf
                with open(path, "r+b") as f:
                    f.seek(page * size)
                    f.write(b"\\x00" + os.urandom(size - 1))
                print(page)
                """, journalPath,
            ])
        #expect(damage.status == 0, "damage failed: \(damage.stderr)")
        let damaged = try Data(contentsOf: URL(filePath: journalPath))
        // Started again (still offline): the daemon finds the damage, sets the files aside and journals on.
        agent = try await AgentProcess(config: offline, socket: socket, temp: temp, name: "agent3")
        for index in 0..<50 {
            #expect(
                try SocketProducer(path: socket).send(#"{"kind":"access","action":"enter","actor":"P\#(index)"}"#)
                    .contains("\"ok\":true"))
        }
        agent.stop()
        let folder = temp.file("counter-01")
        let aside = try #require(
            try FileManager.default.contentsOfDirectory(atPath: folder).first {
                $0.hasPrefix("journal.sqlite.corrupt-")
            })
        #expect(
            try Data(contentsOf: URL(filePath: "\(folder)/\(aside)/journal.sqlite")) == damaged,
            "moved aside byte for byte")
        let fresh = try Journal.open(path: journalPath, agentID: "counter-01", site: "")
        #expect(try fresh.pendingEpoch()?.reason == "journal_corrupt")
        #expect(try fresh.integrityCheck() == "ok")
        let status = try await runProgram(Binaries.path("kiroku-agent"), ["status", "--config", offline])
        #expect(status.stdout.contains("保留中（journal_corrupt）") && status.stdout.contains(aside), "\(status.stdout)")
        let writtenAfter = try fresh.allEvents()
        // The network returns.
        _ = try agentConfig("counter-01", pki: pki, temp: temp, hubURL: hub.url, extra: ["backoff_max_seconds": 0.3])
        agent = try await AgentProcess(config: config, socket: socket, temp: temp, name: "agent4")
        defer { agent.stop() }
        #expect(
            await eventually { (try? fresh.pendingEpoch()) == nil && allDelivered(fresh) },
            "agent log: \(agent.child.log)")

        let local = try fresh.allEvents()
        let record = try #require(local.first { $0.attrs["reason"] == "journal_corrupt" })
        #expect(
            record.seq == hubHead.seq + 1 && record.prev == hubHead.hash, "the new epoch links to what the hub holds")
        let held = try await Self.hubEvents(hub.database, agent: "counter-01").sorted { $0.seq < $1.seq }
        #expect(held.map(\.seq) == Array(1...Int64(held.count)), "the hub's chain stays gapless")
        for (previous, next) in zip(held, held.dropFirst()) { #expect(next.prev == previous.hash) }
        func content(_ event: Event) -> String {
            "\(event.time)|\(event.kind)|\(event.action)|\(event.actor)|\(event.subject)|\(event.attrs)"
        }
        #expect(
            Array(held.filter { $0.seq > record.seq }.prefix(writtenAfter.count)).map(content)
                == writtenAfter.map(content),
            "what was journalled after the damage reached the hub")
        let health = try #require(try await HubStore.open(path: hub.database).agentHealth().first)
        #expect(health.epochs == 1 && health.lastEpochReason == "journal_corrupt", "the hub shows it")
        // The recorded loss is exactly what never reached the hub.
        let from = Int64(record.attrs["from_seq"] ?? "") ?? -1
        let through = Int64(record.attrs["through_seq"] ?? "") ?? -1
        #expect(
            from == neverDelivered.first?.seq && through == neverDelivered.last?.seq, "loss record: \(record.attrs)")
        #expect(record.attrs["aside"]?.hasSuffix(aside) == true)
        let heldHashes = Set(held.map(\.hash))
        let lost = beforeDamage.filter { !heldHashes.contains($0.hash) }
        #expect(lost.map(\.seq) == neverDelivered.map(\.seq))
        Self.report(
            "corrupt agent journal (moved aside; new epoch at seq \(record.seq))",
            produced: beforeDamage.count + writtenAfter.count,
            acknowledged: beforeDamage.count + writtenAfter.count, atHub: held.count, lost: lost.count,
            duplicated: held.count - Set(held.map(\.seq)).count,
            recordedLoss: from <= through ? Int(through - from + 1) : 0)
    }

    static let libfaketime = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"

    @Test(
        "Agent clock jumps forwards and backwards by hours (libfaketime): order by seq holds; jumps and skew are flagged",
        .enabled(if: FileManager.default.fileExists(atPath: FaultTests.libfaketime), "needs Debian's faketime package"))
    func clockJumps() async throws {
        let temp = try TempDir("clock")
        // Certificates issued a day ago, so an agent whose clock is set back still finds them valid.
        let pki = try TestPKI(in: temp, issuedAt: Date().addingTimeInterval(-86_400))
        try pki.agent("counter-01")
        try pki.person("kanri01")
        let hub = try await HubProcess(pki: pki, temp: temp)
        defer { hub.stop() }
        let offsetFile = temp.file("faketime")
        try Data("+0\n".utf8).write(to: URL(filePath: offsetFile))
        let config = try agentConfig(
            "counter-01", pki: pki, temp: temp, hubURL: hub.url, heartbeat: 1, extra: ["clock_jump_seconds": 600])
        let socket = temp.file("counter-01/ingest.sock")
        let agent = try await AgentProcess(
            config: config, socket: socket, temp: temp, name: "agent",
            environment: [
                "LD_PRELOAD": Self.libfaketime, "FAKETIME_TIMESTAMP_FILE": offsetFile, "FAKETIME_NO_CACHE": "1",
                "FAKETIME_DONT_FAKE_MONOTONIC": "1",
            ])
        defer { agent.stop() }
        let producer = try SocketProducer(path: socket)
        func produce(_ count: Int, _ label: String) throws {
            for index in 0..<count {
                #expect(
                    try producer.send(
                        #"{"kind":"operation","action":"lookup","actor":"P1","subject":"\#(label)-\#(index)"}"#
                    ).contains("\"ok\":true"))
            }
        }
        let store = try HubStore.open(path: hub.database)
        func health() async throws -> AgentHealth? { try await store.agentHealth().first { $0.agent == "counter-01" } }
        try produce(20, "before")
        // Three hours forward, then back to two hours behind real time: jumps of +3 h and -5 h.
        try Data("+3h\n".utf8).write(to: URL(filePath: offsetFile))
        #expect(await eventually { ((try? await health())?.clockJumps ?? 0) >= 1 }, "agent log: \(agent.child.log)")
        try produce(20, "ahead")
        // Then the terminal is switched off and its clock set back to two hours behind real time (a jump
        // of -5 h, found at start: libfaketime also moves CLOCK_BOOTTIME, which stalls timers of a running
        // process when it goes backwards; a real clock step does not).
        agent.stop()
        try Data("-2h\n".utf8).write(to: URL(filePath: offsetFile))
        let restarted = try await AgentProcess(
            config: config, socket: socket, temp: temp, name: "agent2",
            environment: [
                "LD_PRELOAD": Self.libfaketime, "FAKETIME_TIMESTAMP_FILE": offsetFile, "FAKETIME_NO_CACHE": "1",
                "FAKETIME_DONT_FAKE_MONOTONIC": "1",
            ])
        defer { restarted.stop() }
        #expect(await eventually { ((try? await health())?.clockJumps ?? 0) >= 2 }, "agent log: \(restarted.child.log)")
        let producer2 = try SocketProducer(path: socket)
        for index in 0..<20 {
            #expect(
                try producer2.send(#"{"kind":"operation","action":"lookup","actor":"P1","subject":"behind-\#(index)"}"#)
                    .contains("\"ok\":true"))
        }
        let journal = try Journal.open(path: temp.file("counter-01/journal.sqlite"), agentID: "counter-01", site: "")
        #expect(await eventually { allDelivered(journal) })

        let held = try await Self.hubEvents(hub.database, agent: "counter-01").sorted { $0.seq < $1.seq }
        #expect(held.map(\.seq) == Array(1...Int64(held.count)), "ordering by sequence is unaffected")
        for (previous, next) in zip(held, held.dropFirst()) { #expect(next.prev == previous.hash) }
        let times = held.map { Timestamp(rfc3339: $0.time)!.epochMilliseconds }
        #expect(zip(times, times.dropFirst()).contains { $0 > $1 + 3_600_000 }, "event times went back by hours")
        let jumps = held.filter { $0.action == "clock_jump" }
        #expect(jumps.count >= 2)
        let sizes = jumps.compactMap { $0.attrs["jump_ms"].flatMap(Int64.init) }
        #expect(sizes.contains { $0 > 2 * 3_600_000 } && sizes.contains { $0 < -4 * 3_600_000 })
        let flagged = try #require(try await health())
        #expect(
            abs((flagged.skewMS ?? 0) + 7_200_000) < 600_000,
            "skew about -2 h, got \(String(describing: flagged.skewMS))")
        Self.report(
            "agent clock +3 h then -5 h", produced: held.count, acknowledged: held.count, atHub: held.count, lost: 0,
            duplicated: held.count - Set(held.map(\.seq)).count)
    }
}

extension FaultTests {
    @Test(
        "Disk full on the agent: clear refusals, nothing committed harmed, a loss record once space returns",
        .enabled(if: geteuid() == 0, "mounts a small tmpfs, which needs root"))
    func diskFull() async throws {
        let temp = try TempDir("diskfull")
        let pki = try TestPKI(in: temp)
        try pki.agent("counter-01")
        let mountPoint = temp.file("small")
        try FileManager.default.createDirectory(atPath: mountPoint, withIntermediateDirectories: true)
        let mounted = try await runProgram("/bin/mount", ["-t", "tmpfs", "-o", "size=320k", "tmpfs", mountPoint])
        try #require(mounted.status == 0, "mount: \(mounted.stderr)")
        defer { _ = try? runProgramBlocking("/bin/umount", ["-l", mountPoint]) }
        let journalPath = mountPoint + "/journal.sqlite"
        let config = try agentConfig(
            "counter-01", pki: pki, temp: temp, hubURL: "https://localhost:1", extra: ["journal": journalPath])
        let socket = temp.file("counter-01/ingest.sock")
        let agent = try await AgentProcess(config: config, socket: socket, temp: temp, name: "agent")
        let producer = try SocketProducer(path: socket)
        var acknowledged: [(Int64, String)] = []
        var refusal = ""
        for index in 0..<20_000 {
            let answer = try producer.send(
                #"{"kind":"operation","action":"lookup","actor":"P0101","subject":"住民票コード \#(index)","attrs":{"purpose":"disk full test"}}"#
            )
            guard answer.contains("\"ok\":true") else {
                refusal = answer
                break
            }
            let object = try #require(try JSONSerialization.jsonObject(with: Data(answer.utf8)) as? [String: Any])
            acknowledged.append((Int64(object["seq"] as! Int), object["hash"] as! String))
        }
        #expect(refusal.contains("disk_full") && refusal.contains("NOT recorded"), "\(refusal)")
        var refused = 1
        for _ in 0..<4 {
            let answer = try producer.send(#"{"kind":"access","action":"enter","actor":"P1","subject":"電算室"}"#)
            #expect(answer.contains("disk_full"))
            refused += 1
        }
        // Space returns.
        #expect(try await runProgram("/bin/mount", ["-o", "remount,size=16m", mountPoint]).status == 0)
        let after = try producer.send(#"{"kind":"access","action":"exit","actor":"P1","subject":"電算室"}"#)
        #expect(after.contains("\"ok\":true"), "\(after)")
        agent.stop()
        #expect(agent.child.process.terminationStatus == 0, "the agent kept running through the full disk")

        let journal = try Journal.open(path: journalPath, agentID: "counter-01", site: "")
        #expect(try journal.integrityCheck() == "ok")
        let stored = Dictionary(uniqueKeysWithValues: try journal.allEvents().map { ($0.seq, $0) })
        let harmed = acknowledged.filter { stored[$0.0]?.hash != $0.1 }.count
        #expect(harmed == 0, "every event committed before the disk filled is intact")
        let loss = try #require(stored.values.first { $0.action == "loss" })
        #expect(loss.attrs["reason"] == "disk_full")
        #expect(loss.attrs["refused_events"] == "\(refused)")
        #expect(stored[loss.seq + 1]?.action == "exit", "the loss record is committed with the first event after")
        let recorded = Int(loss.attrs["refused_events"] ?? "") ?? -1
        FaultTests.report(
            "agent disk full (loss record: \(recorded) not taken)", produced: acknowledged.count + refused,
            acknowledged: acknowledged.count, atHub: 0, lost: refused + harmed,
            duplicated: acknowledged.count - Set(acknowledged.map(\.0)).count, recordedLoss: recorded)
    }
}

@Suite("Load: 200 agents syncing at once")
struct LoadTests {
    @Test("200 agents with their own certificates sync at once: every event once, hub memory bounded, p99 printed")
    func twoHundredAgents() async throws {
        let temp = try TempDir("load")
        let pki = try TestPKI(in: temp)
        try pki.person("kanri01")
        let ids = (1...200).map { String(format: "t-%03d", $0) }
        let perAgent = 60
        var logger = Logger(label: "load")
        logger.logLevel = .critical
        let hub = try await HubProcess(pki: pki, temp: temp)
        defer { hub.stop() }
        let rssBefore = residentMB(hub.child.pid)
        var agents: [(journal: Journal, service: SyncService)] = []
        for id in ids {
            try pki.agent(id)
            let journal = try Journal.open(path: temp.file("\(id)/journal.sqlite"), agentID: id, site: "支所")
            try await journal.append(
                Array(repeating: EventDraft(kind: "access", action: "enter", actor: "P1", subject: id), count: perAgent)
            )
            var configuration = AgentConfiguration(agentID: id)
            configuration.hubURL = hub.url
            configuration.ca = pki.caPath
            configuration.certificate = pki.certPath(.agent, id)
            configuration.privateKey = pki.keyPath(.agent, id)
            configuration.batchEvents = 20
            configuration.backoffMaxSeconds = 1
            agents.append(
                (
                    journal,
                    SyncService(journal: journal, configuration: configuration, doorbell: Doorbell(), logger: logger)
                ))
        }
        let total = ids.count * perAgent
        let services = agents.map(\.service)
        let running = Task {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for service in services { group.addTask { try await service.run() } }
                try await group.waitForAll()
            }
        }
        let journals = agents.map(\.journal)
        let converged = await eventually(timeout: .seconds(180)) {
            journals.allSatisfy { (try? $0.progress()).map { $0.deliveredThrough >= $0.headSeq } ?? false }
        }
        running.cancel()
        _ = try? await running.value
        #expect(converged)
        let rssAfter = residentMB(hub.child.pid)
        let store = try HubStore.open(path: hub.database)
        let health = try await store.agentHealth()
        #expect(try await store.eventCount() == Int64(total))
        #expect(health.count == 200 && health.allSatisfy { $0.lastSeq == Int64(perAgent) && $0.forks == 0 })
        #expect(rssAfter < 400, "hub memory stays bounded: \(rssAfter) MB")
        // p99 of the hub's batch handling, from its own Prometheus histogram.
        let person = try HubConnection(
            baseURL: hub.url,
            credentials: ClientCredentials(
                caPath: pki.caPath, certificatePath: pki.certPath(.person, "kanri01"),
                keyPath: pki.keyPath(.person, "kanri01")))
        let metrics = String(decoding: try await person.request(.GET, "/metrics"), as: UTF8.self)
        await person.shutdown()
        let p99 = try #require(Self.quantile(0.99, metrics: metrics, name: "kiroku_batch_duration_seconds"))
        let batches = health.reduce(0) { $0 + $1.batches }
        print(
            "LOAD | 200 agents, \(total) events, \(batches) batches | hub RSS \(rssBefore) → \(rssAfter) MB | batch p99 ≤ \(p99) s"
        )
        let held = Int(try await store.eventCount())
        let distinct = health.reduce(0) { $0 + Int($1.lastSeq) }  // gapless per agent: seqs held = last seq
        FaultTests.report(
            "200 agents at once", produced: total, acknowledged: total, atHub: distinct, lost: total - distinct,
            duplicated: held - distinct)
    }

    func residentMB(_ pid: Int32) -> Int {
        let text = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
        let line = text.split(separator: "\n").first { $0.hasPrefix("VmRSS:") } ?? ""
        return (Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0) / 1024
    }

    /// The upper bound of the histogram bucket that holds the quantile.
    static func quantile(_ q: Double, metrics: String, name: String) -> String? {
        var buckets: [(String, Double)] = []
        for line in metrics.split(separator: "\n") where line.hasPrefix("\(name)_bucket{") {
            guard let le = line.split(separator: "le=\"").last?.split(separator: "\"").first,
                let count = line.split(separator: " ").last.flatMap({ Double($0) })
            else { continue }
            buckets.append((String(le), count))
        }
        guard let total = buckets.last?.1, total > 0 else { return nil }
        return buckets.first { $0.1 >= q * total }?.0
    }
}

/// (seq, hash) pairs the agent answered as committed, collected from producer threads.
final class Acknowledged: @unchecked Sendable {
    private let lock = NSLock()
    private var pairs: [(seq: Int64, hash: String)] = []
    private var done = 0
    func add(seq: Int64, hash: String) { lock.withLock { pairs.append((seq, hash)) } }
    func finished() { lock.withLock { done += 1 } }
    var count: Int { lock.withLock { pairs.count } }
    var finishedCount: Int { lock.withLock { done } }
    var all: [(seq: Int64, hash: String)] { lock.withLock { pairs } }
}

/// A TCP proxy on 127.0.0.1 that forwards to `target` and, for the first `cuts` connections, resets both
/// sides after a random number of bytes in a random direction: mid-request, mid-receipt, mid-handshake.
final class CuttingProxy: @unchecked Sendable {
    let port: Int
    private let listener: Int32
    private let lock = NSLock()
    private var remaining: Int
    private var made = 0
    private var stopped = false

    init(target: Int, cuts: Int) throws {
        remaining = cuts
        let (fd, port) = try Self.listenLocally()
        self.port = port
        listener = fd
        Thread { [self] in
            while true {
                let client = accept(fd, nil, nil)
                if client < 0 { return }
                let server = Self.connectTo(target)
                guard server >= 0 else {
                    close(client)
                    continue
                }
                let cut = lock.withLock { () -> Bool in
                    guard remaining > 0 else { return false }
                    remaining -= 1
                    made += 1
                    return true
                }
                // Upstream carries batches (hundreds of KB), downstream the handshake and small receipts.
                let upstreamCut = Bool.random()
                let cutAfter: Int? = cut ? Int.random(in: 1...(upstreamCut ? 500_000 : 4_000)) : nil
                Thread { Self.pump(from: client, to: server, cutAfter: upstreamCut ? cutAfter : nil) }.start()
                Thread { Self.pump(from: server, to: client, cutAfter: upstreamCut ? nil : cutAfter) }.start()
            }
        }.start()
    }

    var cutsMade: Int { lock.withLock { made } }

    func stop() {
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
    }

    /// A socket listening on 127.0.0.1 on a free port, and the port.
    static func listenLocally() throws -> (fd: Int32, port: Int) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var yes: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard bound == 0, listen(fd, 64) == 0 else {
            close(fd)
            throw KirokuError(.internalError, "cannot listen on 127.0.0.1")
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        return (fd, Int(UInt16(bigEndian: address.sin_port)))
    }

    static func connectTo(_ port: Int) -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = UInt16(port).bigEndian
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        if result != 0 {
            close(fd)
            return -1
        }
        return fd
    }

    /// Copies bytes one way; after `cutAfter` bytes, resets both sockets (SO_LINGER 0 sends RST).
    static func pump(from source: Int32, to destination: Int32, cutAfter: Int?) {
        var buffer = [UInt8](repeating: 0, count: 16 * 1024)
        var forwarded = 0
        while true {
            let limit = cutAfter.map { min(buffer.count, $0 - forwarded) } ?? buffer.count
            if limit <= 0 { break }
            let count = read(source, &buffer, limit)
            if count <= 0 { break }
            var offset = 0
            while offset < count {
                let written = buffer[offset..<count].withUnsafeBytes {
                    Glibc.send(destination, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL))
                }
                if written <= 0 { break }
                offset += written
            }
            forwarded += count
        }
        var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
        for fd in [source, destination] {
            if cutAfter != nil {
                setsockopt(fd, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size))
            }
            shutdown(fd, Int32(SHUT_RDWR))
        }
        close(source)
    }
}

/// A TCP link on 127.0.0.1 to `target` that can be severed and restored. Severed, it resets every connection
/// through it and every new one at once (to its clients the server is gone); its port stays its own.
final class SeverableLink: @unchecked Sendable {
    let port: Int
    private let listener: Int32
    private let lock = NSLock()
    private var severed = false
    private var open: [ObjectIdentifier: Connection] = [:]

    /// One forwarded connection: both descriptors are closed once, after both directions have ended.
    final class Connection: @unchecked Sendable {
        let client: Int32
        let server: Int32
        private let lock = NSLock()
        private var ended = 0
        init(client: Int32, server: Int32) {
            self.client = client
            self.server = server
        }
        /// SO_LINGER 0 then shutdown: both pumps end, and the close after them sends RST.
        func reset() {
            var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
            for fd in [client, server] {
                setsockopt(fd, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size))
                shutdown(fd, Int32(SHUT_RDWR))
            }
        }
        /// One direction ended; the last one closes both.
        func end() -> Bool {
            lock.withLock {
                ended += 1
                return ended == 2
            }
        }
    }

    init(target: Int) throws {
        let (fd, port) = try CuttingProxy.listenLocally()
        self.port = port
        listener = fd
        Thread { [self] in
            while true {
                let client = accept(fd, nil, nil)
                if client < 0 { return }
                let server = lock.withLock { severed } ? -1 : CuttingProxy.connectTo(target)
                let connection = Connection(client: client, server: server >= 0 ? server : client)
                let forwarded =
                    server >= 0
                    && lock.withLock { () -> Bool in
                        guard !severed else { return false }
                        open[ObjectIdentifier(connection)] = connection
                        return true
                    }
                guard forwarded else {
                    connection.reset()
                    close(client)
                    if server >= 0 { close(server) }
                    continue
                }
                for (from, to) in [(client, server), (server, client)] {
                    Thread { [self] in
                        Self.pump(from: from, to: to)
                        guard connection.end() else { return }
                        lock.withLock { _ = open.removeValue(forKey: ObjectIdentifier(connection)) }
                        close(connection.client)
                        close(connection.server)
                    }.start()
                }
            }
        }.start()
    }

    /// Resets every connection through the link, and every new one until ``restore()``.
    func sever() {
        let connections = lock.withLock { () -> [Connection] in
            severed = true
            return Array(open.values)
        }
        for connection in connections { connection.reset() }
    }

    func restore() {
        lock.withLock { severed = false }
    }

    /// Severs the link for good and stops listening.
    func finish() {
        sever()
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
    }

    /// Copies bytes one way until either side ends, then shuts the other side's writing down.
    static func pump(from source: Int32, to destination: Int32) {
        var buffer = [UInt8](repeating: 0, count: 16 * 1024)
        reading: while true {
            let count = read(source, &buffer, buffer.count)
            if count <= 0 { break }
            var offset = 0
            while offset < count {
                let written = buffer[offset..<count].withUnsafeBytes {
                    Glibc.send(destination, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL))
                }
                if written <= 0 { break reading }
                offset += written
            }
        }
        shutdown(destination, Int32(SHUT_WR))
        shutdown(source, Int32(SHUT_RD))
    }
}
