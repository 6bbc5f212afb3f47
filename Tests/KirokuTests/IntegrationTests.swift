import Crypto
import Foundation
import KirokuAgent
import KirokuClient
import KirokuControl
import KirokuProtocol
import KirokuTestSupport
import NIOHTTP1
import Testing

/// Real `kiroku-hub` and `kiroku-agent` processes on 127.0.0.1 with certificates issued by the test.
@Suite("End to end: real hub and agent processes over mutual TLS")
struct IntegrationTests {
    func personQueries(_ pki: TestPKI, _ hub: HubProcess, id: String = "kanri01") throws -> (HubConnection, HubQueries)
    {
        let connection = try HubConnection(
            baseURL: hub.url,
            credentials: ClientCredentials(
                caPath: pki.caPath, certificatePath: pki.certPath(.person, id), keyPath: pki.keyPath(.person, id)))
        return (connection, HubQueries(connection: connection))
    }

    func allEvents(_ queries: HubQueries, agent: String? = nil) async throws -> [Event] {
        var parameters = ["limit": "500"]
        if let agent { parameters["agent"] = agent }
        var events: [Event] = []
        while true {
            let page = try await queries.events(parameters)
            events += page.events
            guard let next = page.next else { return events }
            parameters["cursor"] = next
        }
    }

    @Test("Socket and 'record' events reach the hub exactly once, chained, with verified receipts and heartbeats")
    func endToEnd() async throws {
        let temp = try TempDir("e2e")
        let pki = try TestPKI(in: temp)
        try pki.agent("counter-01")
        try pki.person("kanri01")
        let hub = try await HubProcess(pki: pki, temp: temp)
        defer { hub.stop() }
        let config = try agentConfig("counter-01", pki: pki, temp: temp, hubURL: hub.url, heartbeat: 1)
        let socket = temp.file("counter-01/ingest.sock")
        let agent = try await AgentProcess(config: config, socket: socket, temp: temp, name: "agent")
        defer { agent.stop() }

        // Four producers on the socket at once, as card readers and the terminal application would be.
        let answers = try await withThrowingTaskGroup(of: [String].self) { group in
            for producer in 0..<4 {
                group.addTask {
                    let client = try SocketProducer(path: socket)
                    return try (0..<50).map { index in
                        try client.send(
                            #"{"kind":"operation","action":"lookup","actor":"P\#(producer)","subject":"住民票コード \#(index)","attrs":{"purpose":"証明書交付"}}"#
                        )
                    }
                }
            }
            var all: [String] = []
            for try await part in group { all += part }
            return all
        }
        #expect(answers.count == 200)
        #expect(answers.allSatisfy { $0.contains("\"ok\":true") })
        let refused = try SocketProducer(path: socket).send(#"{"kind":"access","action":"teleport","actor":"P1"}"#)
        #expect(refused.contains("\"ok\":false") && refused.contains("invalid_event"))
        // A producer cannot write the hub's records or the agent's own events (the hub would refuse the
        // batch, and the agent's sync would stop behind it).
        for (kind, action) in [("record", "purge"), ("agent", "loss")] {
            let reserved = try SocketProducer(path: socket).send(
                #"{"kind":"\#(kind)","action":"\#(action)","actor":"P1"}"#)
            #expect(reserved.contains("\"ok\":false") && reserved.contains("written by Kiroku itself"), "\(reserved)")
        }
        let garbage = try SocketProducer(path: socket).send("this is not json")
        #expect(garbage.contains("malformed_request"))
        // A pipelining producer gets its answers in the order of its lines, refusals included.
        let pipelined = try SocketProducer(path: socket)
        try pipelined.write(#"{"kind":"card","action":"insert","actor":"C-1","subject":"端末01"}"#)
        try pipelined.write(#"{"kind":"card","action":"swallow","actor":"C-1"}"#)
        try pipelined.write(#"{"kind":"card","action":"remove","actor":"C-1","subject":"端末01"}"#)
        let first = try pipelined.readLine()
        let second = try pipelined.readLine()
        let third = try pipelined.readLine()
        #expect(first.contains("\"ok\":true") && second.contains("invalid_event") && third.contains("\"ok\":true"))
        let seqOf = { (answer: String) -> Int? in
            (try? JSONSerialization.jsonObject(with: Data(answer.utf8)) as? [String: Any])?["seq"] as? Int
        }
        // The two accepted lines in order, nothing between them but the agent's own heartbeats (one a second here).
        let (firstSeq, thirdSeq) = (try #require(seqOf(first)), try #require(seqOf(third)))
        #expect(thirdSeq > firstSeq)
        let between = try Journal.open(path: temp.file("counter-01/journal.sqlite"), agentID: "counter-01", site: "")
            .allEvents().filter { $0.seq > firstSeq && $0.seq < thirdSeq }
        #expect(between.allSatisfy { $0.kind == "agent" && $0.action == "heartbeat" }, "\(between.map(\.action))")
        let huge = try SocketProducer(path: socket)
        let tooLong = try huge.send(String(repeating: "x", count: 70_000))
        #expect(tooLong.contains("malformed_request") && tooLong.contains("longer than"))
        #expect(throws: (any Error).self) { try huge.send(#"{"kind":"access","action":"enter","actor":"P1"}"#) }
        for index in 0..<5 {
            let outcome = try await runProgram(
                Binaries.path("kiroku-agent"),
                [
                    "record", "--config", config, "--kind", "access", "--action", "enter", "--actor", "P00\(index)",
                    "--subject", "電算室", "--attr", "method=manual_ledger",
                ])
            #expect(outcome.status == 0, "\(outcome.stderr)")
            #expect(outcome.stdout.hasPrefix("committed seq "))
        }

        let journal = try Journal.open(path: temp.file("counter-01/journal.sqlite"), agentID: "counter-01", site: "")
        let (connection, queries) = try personQueries(pki, hub)
        defer { Task { await connection.shutdown() } }
        // Invariant 6: heartbeats are chained events that reach the hub like any other.
        let delivered = try await eventually {
            let status = try journal.status()
            let heartbeats = try await queries.events(["agent": "counter-01", "kind": "agent", "action": "heartbeat"])
            return status.backlog == 0 && status.headSeq >= 206 && heartbeats.events.count >= 2
        }
        #expect(delivered, "agent log: \(agent.child.log)")

        // SIGTERM: the agent stops cleanly and journals that it stopped (delivered on its next start).
        agent.stop()
        #expect(agent.child.process.terminationStatus == 0)
        let local = try journal.allEvents()
        #expect(local.last?.kind == "agent" && local.last?.action == "stopped")
        let status = try journal.status()
        let remote = try await allEvents(queries, agent: "counter-01")
        let deliveredLocal = local.filter { $0.seq <= status.deliveredThrough }
        #expect(remote.count == deliveredLocal.count)
        #expect(Set(remote.map(\.seq)).count == remote.count, "no duplicates")
        #expect(
            Dictionary(uniqueKeysWithValues: remote.map { ($0.seq, $0.hash) })
                == Dictionary(uniqueKeysWithValues: deliveredLocal.map { ($0.seq, $0.hash) }))
        let ordered = remote.sorted { $0.seq < $1.seq }
        #expect(ordered.first?.prev == Event.genesis)
        for (previous, next) in zip(ordered, ordered.dropFirst()) {
            #expect(next.prev == previous.hash)
            try next.validate()
        }
        #expect(remote.filter { $0.kind == "operation" }.count == 200)
        #expect(remote.filter { $0.kind == "card" }.count == 2)
        #expect(remote.filter { $0.kind == "access" }.count == 5)
        #expect(remote.filter { $0.action == "heartbeat" }.allSatisfy { $0.attrs["backlog"] != nil })

        // Invariant 1: the kept receipt is the hub's signature over what the agent holds as delivered.
        struct KeyInfo: Decodable {
            var key: String
            var overlap: [[String: String]]
        }
        let keyInfo = try await connection.get(KeyInfo.self, "/v1/hub/key")
        #expect(keyInfo.overlap.isEmpty, "no rotation under way")
        let keyBytes = try #require(Data(base64Encoded: keyInfo.key))
        let hubKey = try Curve25519.Signing.PublicKey(rawRepresentation: keyBytes)
        let receipt = try #require(status.lastReceipt)
        #expect(receipt.verify(publicKey: hubKey))
        #expect(receipt.receipt.throughSeq == status.deliveredThrough)
        #expect(receipt.receipt.headHash == local.first { $0.seq == status.deliveredThrough }?.hash)

        let health = try #require(try await queries.agents().first { $0.agent == "counter-01" })
        #expect(health.lastSeq == status.deliveredThrough)
        #expect(health.forks == 0 && health.gaps == 0)
        #expect(health.skewMS != nil)
        hub.stop()
        #expect(hub.child.process.terminationStatus == 0, "the hub stops cleanly on SIGTERM")
    }

    @Test("An agent keeps journalling while the hub is down and catches up exactly once when it returns")
    func offlineCatchUp() async throws {
        let temp = try TempDir("offline")
        let pki = try TestPKI(in: temp)
        try pki.agent("serverroom")
        try pki.person("kanri01")
        let first = try await HubProcess(pki: pki, temp: temp, name: "hub")
        let port = first.port
        first.stop()
        // The first start says it began a new record (after a mistyped --database, the line that explains it).
        #expect(first.child.log.contains("a new, empty record was started"), "\(first.child.log)")
        let config = try agentConfig("serverroom", pki: pki, temp: temp, hubURL: "https://localhost:\(port)")
        let socket = temp.file("serverroom/ingest.sock")
        let agent = try await AgentProcess(config: config, socket: socket, temp: temp, name: "agent")
        defer { agent.stop() }
        let producer = try SocketProducer(path: socket)
        for index in 0..<300 {
            let answer = try producer.send(#"{"kind":"access","action":"enter","actor":"P\#(index)","subject":"電算室"}"#)
            #expect(answer.contains("\"ok\":true"))
        }
        let journal = try Journal.open(path: temp.file("serverroom/journal.sqlite"), agentID: "serverroom", site: "")
        let noticed = await eventually {
            (try? journal.status()).map { $0.lastError != nil && !$0.hubReachable } ?? false
        }
        #expect(noticed, "status must say the hub is unreachable")
        #expect(try journal.status().backlog == 301)

        let hub = try await HubProcess(pki: pki, temp: temp, name: "hub", extra: ["--port", "\(port)"])
        defer { hub.stop() }
        #expect(!hub.child.log.contains("new, empty record"), "the record it had: \(hub.child.log)")
        let caughtUp = await eventually { (try? journal.status().backlog) == 0 }
        #expect(caughtUp, "agent log: \(agent.child.log)")
        let (connection, queries) = try personQueries(pki, hub)
        defer { Task { await connection.shutdown() } }
        let remote = try await allEvents(queries, agent: "serverroom")
        #expect(remote.count == Int(try journal.status().deliveredThrough))
        #expect(Set(remote.map(\.seq)).count == remote.count)
        #expect(try journal.status().hubReachable)
    }

    @Test(
        "A receipt lost after the hub's commit: the agent sends those events again for one at its next start; the hub keeps them once"
    )
    func lostReceipt() async throws {
        let temp = try TempDir("lost-receipt")
        let pki = try TestPKI(in: temp)
        try pki.agent("serverroom")
        try pki.person("kanri01")
        let hub = try await HubProcess(pki: pki, temp: temp, name: "hub")
        defer { hub.stop() }
        let config = try agentConfig("serverroom", pki: pki, temp: temp, hubURL: hub.url)
        let socket = temp.file("serverroom/ingest.sock")
        var agent = try await AgentProcess(config: config, socket: socket, temp: temp, name: "agent")
        defer { agent.stop() }
        let producer = try SocketProducer(path: socket)
        for index in 0..<10 {
            #expect(
                try producer.send(#"{"kind":"access","action":"enter","actor":"P\#(index)","subject":"電算室"}"#)
                    .contains("\"ok\":true"))
        }
        let path = temp.file("serverroom/journal.sqlite")
        let journal = try Journal.open(path: path, agentID: "serverroom", site: "")
        #expect(await eventually { allDelivered(journal) }, "agent log: \(agent.child.log)")
        agent.child.kill9()
        // The journal as a kill -9 (or a cut connection) leaves it between the hub's durable commit and the
        // agent's mark: the hub holds the last five, the journal has no receipt for them.
        let head = try journal.progress().headSeq
        let lowered = try await runProgram(
            "/usr/bin/env",
            [
                "python3", "-c",
                "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); c.execute('UPDATE sync SET delivered_through = ?', (int(sys.argv[2]),)); c.commit()",
                path, "\(head - 5)",
            ])
        #expect(lowered.status == 0, "\(lowered.stderr)")
        #expect(try journal.progress().deliveredThrough == head - 5)
        agent = try await AgentProcess(config: config, socket: socket, temp: temp, name: "agent2")
        #expect(await eventually { allDelivered(journal) }, "agent log: \(agent.child.log)")
        // The hub signed for the five again, as duplicates, and keeps each event once.
        let receipts = try journal.receipts().map(\.receipt)
        #expect(receipts.contains { $0.firstSeq == head - 4 && $0.duplicates == 5 }, "\(receipts)")
        let (connection, queries) = try personQueries(pki, hub)
        defer { Task { await connection.shutdown() } }
        let remote = try await allEvents(queries, agent: "serverroom")
        #expect(remote.count == Int(try journal.progress().headSeq) && Set(remote.map(\.seq)).count == remote.count)
    }

    @Test("Invariant 3 over the wire: roles and identities come from certificates")
    func rolesOverTheWire() async throws {
        let temp = try TempDir("roles")
        let pki = try TestPKI(in: temp)
        try pki.agent("counter-01")
        try pki.agent("counter-02")
        try pki.person("kanri01")
        let hub = try await HubProcess(pki: pki, temp: temp)
        defer { hub.stop() }
        func connect(_ role: Identity.Role, _ id: String) throws -> HubConnection {
            try HubConnection(
                baseURL: hub.url,
                credentials: ClientCredentials(
                    caPath: pki.caPath, certificatePath: pki.certPath(role, id), keyPath: pki.keyPath(role, id)))
        }
        func code(_ body: () async throws -> Void) async -> ErrorCode? {
            do { try await body(); return nil } catch let error as KirokuError { return error.code } catch {
                return .internalError
            }
        }
        let agentOne = try connect(.agent, "counter-01")
        let person = try connect(.person, "kanri01")
        defer {
            Task {
                await agentOne.shutdown(); await person.shutdown()
            }
        }
        let theirs = makeChain(agent: "counter-02", count: 3)
        let forged = Batch.encodeBody(
            agent: "counter-02", sentAt: "2026-11-27T09:00:00.000+09:00", headSeq: 3,
            canonicalEvents: theirs.map { $0.canonicalBytes(includingHash: true) })
        #expect(
            await code { _ = try await agentOne.request(.POST, "/v1/agent/batches", body: forged) } == .agentMismatch)
        #expect(await code { _ = try await person.request(.POST, "/v1/agent/batches", body: forged) } == .wrongRole)
        #expect(await code { _ = try await person.request(.GET, "/v1/agent/state") } == .wrongRole)
        #expect(await code { _ = try await agentOne.request(.GET, "/v1/events") } == .wrongRole)
        #expect(await code { _ = try await agentOne.request(.GET, "/v1/agents") } == .wrongRole)
        #expect(await code { _ = try await person.request(.GET, "/v1/nothing-here") } == .notFound)
        let state = try await agentOne.get(AgentState.self, "/v1/agent/state")
        #expect(state.agent == "counter-01" && state.lastSeq == 0 && state.atSeq == nil)
        // The hash at one seq (how an agent finds where a restored journal parts from the hub): absent
        // where the hub holds nothing; a bad seq is refused.
        let probe = try await agentOne.get(AgentState.self, "/v1/agent/state?seq=1")
        #expect(probe.atSeq == 1 && probe.hashAtSeq == nil)
        #expect(await code { _ = try await agentOne.request(.GET, "/v1/agent/state?seq=abc") } == .badQuery)
        #expect(await code { _ = try await agentOne.request(.GET, "/v1/agent/state?seq=0") } == .badQuery)
        let health = try await HubQueries(connection: person).agents()
        #expect(!health.contains { $0.agent == "counter-02" })
        // The attempt is on the record of the agent that made it.
        let culprit = try #require(health.first { $0.agent == "counter-01" })
        #expect(culprit.refusals == 1 && culprit.lastRefusal == "agent_mismatch" && culprit.lastSeq == 0)
    }

    @Test("Invariant 7 over the wire: bad bodies get a stable code, change nothing, and the hub keeps serving")
    func hostileBodies() async throws {
        let temp = try TempDir("hostile")
        let pki = try TestPKI(in: temp)
        try pki.agent("counter-01")
        try pki.person("kanri01")
        let hub = try await HubProcess(
            pki: pki, temp: temp, extra: ["--log-level", "error", "--max-batch-events", "10"])
        defer { hub.stop() }
        let agent = try HubConnection(
            baseURL: hub.url,
            credentials: ClientCredentials(
                caPath: pki.caPath, certificatePath: pki.certPath(.agent, "counter-01"),
                keyPath: pki.keyPath(.agent, "counter-01")))
        defer { Task { await agent.shutdown() } }
        func code(_ body: [UInt8], _ headers: [(String, String)] = []) async -> ErrorCode? {
            do {
                _ = try await agent.request(.POST, "/v1/agent/batches", body: body, headers: headers)
                return nil
            } catch let error as KirokuError { return error.code } catch { return .internalError }
        }
        #expect(await code(Array("{not json".utf8)) == .malformedRequest)
        #expect(
            await code(Array(#"{"agent":"counter-01","events":"many","head_seq":1,"sent_at":"x"}"#.utf8))
                == .malformedRequest)
        #expect(await code(Array("hello".utf8), [("Content-Encoding", "br")]) == .unsupportedEncoding)
        #expect(await code(Array("not gzip at all".utf8), [("Content-Encoding", "gzip")]) == .badCompression)
        // A decompression bomb: 40 MB of spaces gzip to ~40 KB; the hub stops inflating at its limit.
        let bomb = try await gzip(Array(repeating: UInt8(ascii: " "), count: 40 * 1024 * 1024))
        #expect(bomb.count < 200_000)
        let bombCode = await code(bomb, [("Content-Encoding", "gzip")])
        #expect(bombCode == .batchTooLarge)
        let good = makeChain(agent: "counter-01", count: 3)
        var wrongVersion = good
        wrongVersion[0].v = 2
        wrongVersion[0] = wrongVersion[0].sealed()
        let body = Batch.encodeBody(
            agent: "counter-01", sentAt: "2026-11-27T09:00:00.000+09:00", headSeq: 3,
            canonicalEvents: wrongVersion.map { $0.canonicalBytes(includingHash: true) })
        #expect(await code(body) == .unsupportedVersion)
        // Over the count limit (10 here), and one event over 16 KiB.
        let eleven = makeChain(agent: "counter-01", count: 11)
        #expect(
            await code(
                Batch.encodeBody(
                    agent: "counter-01", sentAt: "2026-11-27T09:00:00.000+09:00", headSeq: 11,
                    canonicalEvents: eleven.map { $0.canonicalBytes(includingHash: true) })) == .batchTooLarge)
        var huge = good[0]
        huge.attrs = Dictionary(uniqueKeysWithValues: (0..<40).map { ("k\($0)", String(repeating: "大", count: 300)) })
        huge = huge.sealed()
        #expect(
            await code(
                Batch.encodeBody(
                    agent: "counter-01", sentAt: "2026-11-27T09:00:00.000+09:00", headSeq: 1,
                    canonicalEvents: [huge.canonicalBytes(includingHash: true)])) == .eventTooLarge)
        // A replay of an old batch after it was accepted is a counted no-op (checked below).
        // The hub still takes a good batch afterwards, and only that.
        let okBody = Batch.encodeBody(
            agent: "counter-01", sentAt: "2026-11-27T09:00:00.000+09:00", headSeq: 3,
            canonicalEvents: good.map { $0.canonicalBytes(includingHash: true) })
        let receipt = try JSONDecoder().decode(
            SignedReceipt.self, from: Data(try await agent.request(.POST, "/v1/agent/batches", body: okBody)))
        #expect(receipt.receipt.accepted == 3 && receipt.receipt.throughSeq == 3)
        let replay = try JSONDecoder().decode(
            SignedReceipt.self, from: Data(try await agent.request(.POST, "/v1/agent/batches", body: okBody)))
        #expect(replay.receipt.accepted == 0 && replay.receipt.duplicates == 3)
        let state = try await agent.get(AgentState.self, "/v1/agent/state")
        #expect(state.lastSeq == 3 && state.lastHash == good[2].hash)
    }
}

/// gzip through the system's gzip program, so the test does not share the hub's compression code.
func gzip(_ bytes: [UInt8]) async throws -> [UInt8] {
    let temp = try TempDir("gz")
    let path = temp.file("body")
    try Data(bytes).write(to: URL(filePath: path))
    let outcome = try await runProgram("/bin/gzip", ["-k", "-9", path])
    guard outcome.status == 0 else { throw KirokuError(.internalError, "gzip failed: \(outcome.stderr)") }
    return [UInt8](try Data(contentsOf: URL(filePath: path + ".gz")))
}
