import Foundation
import KirokuAgent
import KirokuControl
import KirokuHub
import KirokuProtocol
import KirokuTestSupport
import Testing

/// The record proves itself (invariant 4): the 会議's witness, evidence bundles, `kirokuctl verify` and an
/// independent Python verifier, against real processes; tampering with the hub's database is caught.
@Suite("Merkle log end to end: witness, evidence, verify, tampering")
struct LogTests {
    let ctl = Binaries.path("kirokuctl")

    struct Setup {
        let temp: TempDir
        let pki: TestPKI
        var hub: HubProcess
        let agent: AgentProcess
        let journal: Journal
        let socket: String
        /// The hub's environment: its store, when the record is on PostgreSQL.
        let environment: [String: String]
    }

    /// A hub (on SQLite, or on a new PostgreSQL database where the 会議's kaigi01 reads and cosigns) and one
    /// agent, counter-01.
    func setUp(_ name: String, store: StoreKind = .sqlite) async throws -> Setup {
        let temp = try TempDir(name)
        let pki = try TestPKI(in: temp)
        try pki.agent("counter-01")
        try pki.person("kaigi01")
        let environment =
            store == .postgres
            ? [
                "KIROKU_HUB_STORE": try await TestPostgres.createDatabase(), "KIROKU_HUB_STORE_SCOPE": "record",
                "KIROKU_HUB_STORE_MUNICIPALITY": "test-city", "KIROKU_HUB_STORE_READERS": "kaigi01",
                "KIROKU_HUB_STORE_COSIGNERS": "kaigi01",
            ] : [:]
        let hub = try await HubProcess(pki: pki, temp: temp, environment: environment)
        let config = try agentConfig(
            "counter-01", pki: pki, temp: temp, hubURL: hub.url, extra: ["backoff_max_seconds": 0.3])
        let socket = temp.file("counter-01/ingest.sock")
        let agent = try await AgentProcess(config: config, socket: socket, temp: temp, name: "agent")
        let journal = try Journal.open(path: temp.file("counter-01/journal.sqlite"), agentID: "counter-01", site: "")
        return Setup(
            temp: temp, pki: pki, hub: hub, agent: agent, journal: journal, socket: socket, environment: environment)
    }

    func produce(_ setup: Setup, _ count: Int, from start: Int = 0) throws {
        let producer = try SocketProducer(path: setup.socket)
        for index in start..<(start + count) {
            #expect(
                try producer.send(#"{"kind":"operation","action":"lookup","actor":"P0012","subject":"住民\#(index)"}"#)
                    .contains("\"ok\":true"))
        }
    }

    func ctl(_ setup: Setup, _ arguments: [String]) async throws -> Outcome {
        try await runProgram(ctl, arguments + ["--hub", setup.hub.url, "--pki", setup.pki.dir.path, "--as", "kaigi01"])
    }

    func python(_ arguments: [String]) async throws -> Outcome {
        try await runProgram("/usr/bin/env", ["python3", RepositoryFiles.pythonVerifier] + arguments)
    }

    @Test(
        "The hub's stored tree (leaves from the events, every fourth level kept) gives RFC 6962's roots and proofs at every size"
    )
    func storedTree() async throws {
        let temp = try TempDir("log-stored")
        let store = try HubStore.open(path: temp.file("record.sqlite"))
        var events: [Event] = []
        var previous = Event.genesis
        // Batches of uneven sizes, so subtrees complete inside and across batches.
        for size in [1, 2, 5, 16, 31, 64, 100, 3, 78] {
            let chain = makeChain(agent: "counter-01", count: size, from: Int64(events.count + 1), prev: previous)
            let receipt = try await store.ingest(
                Batch(
                    agent: "counter-01", sentAt: "2026-11-27T09:00:00.000+09:00", headSeq: chain.last!.seq,
                    events: chain),
                identity: "counter-01")
            events += chain
            previous = chain.last!.hash
            let leaves = events.map { Merkle.leafHash(eventHash: $0.hash)! }
            #expect(receipt.log.treeSize == Int64(events.count) && receipt.log.root == Merkle.root(leaves))
            #expect(
                Merkle.verifyInclusion(
                    leaf: leaves.last!, index: receipt.log.leafIndex, size: receipt.log.treeSize,
                    proof: receipt.log.inclusion, root: receipt.log.root))
        }
        let leaves = events.map { Merkle.leafHash(eventHash: $0.hash)! }
        let size = Int64(leaves.count)
        #expect(try await store.logSize() == size)
        for n in Int64(0)...size {
            #expect(try await store.root(size: n) == Merkle.root(Array(leaves.prefix(Int(n)))), "root at \(n)")
        }
        let root = Merkle.root(leaves)
        for leaf in Int64(0)..<size {
            let proof = try await store.inclusionProof(leaf: leaf, size: size)
            #expect(Merkle.verifyInclusion(leaf: leaves[Int(leaf)], index: leaf, size: size, proof: proof, root: root))
        }
        for from in Swift.stride(from: Int64(0), through: size, by: 7) {
            let proof = try await store.consistencyProof(from: from, to: size)
            #expect(
                Merkle.verifyConsistency(
                    first: from, second: size, firstRoot: Merkle.root(Array(leaves.prefix(Int(from)))),
                    secondRoot: root, proof: proof))
        }
        await #expect(throws: KirokuError.self) { _ = try await store.inclusionProof(leaf: size, size: size) }
        await #expect(throws: KirokuError.self) { _ = try await store.consistencyProof(from: 5, to: size + 1) }
    }

    @Test("The 会議 witnesses the log, exports evidence and verifies it with kirokuctl and the Python verifier")
    func witnessExportVerify() async throws {
        let setup = try await setUp("log-witness")
        defer { setup.agent.stop(); setup.hub.stop() }
        try produce(setup, 300)
        #expect(await eventually { allDelivered(setup.journal) })

        let keyLine = try await ctl(setup, ["log", "key"])
        #expect(keyLine.status == 0, "\(keyLine.stderr)")
        let hubKey = String(keyLine.stdout.split(separator: " ").first ?? "")
        let witnessDir = setup.temp.file("kaigi-witness")
        let created = try await runProgram(
            ctl, ["witness", "init", "--dir", witnessDir, "--name", "kaigi.test/witness"])
        #expect(created.status == 0, "\(created.stderr)")
        let witnessKey = String(created.stdout.split(separator: "\n").last ?? "")
        #expect(witnessKey.hasPrefix("kaigi.test/witness+"))

        let first = try await ctl(setup, ["witness", "run", "--dir", witnessDir, "--hub-key", hubKey])
        #expect(first.status == 0 && first.stdout.contains("連署しました"), "\(first.stdout)\(first.stderr)")
        try produce(setup, 200, from: 300)
        #expect(await eventually { allDelivered(setup.journal) })
        #expect(try await ctl(setup, ["log", "checkpoint", "--publish"]).status == 0)
        let second = try await ctl(setup, ["witness", "run", "--dir", witnessDir])
        #expect(second.status == 0 && second.stdout.contains("と整合"), "\(second.stdout)\(second.stderr)")

        let bundle = setup.temp.file("evidence.json")
        let exported = try await ctl(setup, ["export", "--evidence", bundle, "--agent", "counter-01"])
        #expect(exported.status == 0, "\(exported.stderr)")
        let held = try setup.journal.allEvents()
        #expect(exported.stdout.contains("\(held.count) 件、チェックポイント"), "\(exported.stdout)")

        let verified = try await runProgram(ctl, ["verify", bundle, "--hub-key", hubKey, "--witness", witnessKey])
        #expect(
            verified.status == 0 && verified.stdout.contains("VERIFIED: \(held.count) event(s)"), "\(verified.stdout)")
        let independent = try await python([bundle, "--hub-key", hubKey, "--witness", witnessKey])
        #expect(
            independent.status == 0 && independent.stdout.contains("\nVERIFIED: "),
            "\(independent.stdout)\(independent.stderr)")

        // Tampering with the bundle: an event's content, its leaf index, the checkpoint.
        let text = try String(contentsOfFile: bundle, encoding: .utf8)
        let tampered: [(String, String)] = [
            ("an event's subject", text.replacingOccurrences(of: "住民42\"", with: "住民43\"")),
            ("a leaf index", text.replacingOccurrences(of: "\"leaf_index\":7}", with: "\"leaf_index\":8}")),
            (
                "the checkpoint's size",
                text.replacingOccurrences(of: "\\n\(held.count)\\n", with: "\\n\(held.count + 1)\\n")
            ),
        ]
        for (what, altered) in tampered {
            #expect(altered != text, "the test really altered \(what)")
            let path = setup.temp.file("tampered.json")
            try Data(altered.utf8).write(to: URL(filePath: path))
            let ours = try await runProgram(ctl, ["verify", path, "--hub-key", hubKey, "--witness", witnessKey])
            #expect(
                ours.status == 1 && ours.stdout.contains("NOT VERIFIED"),
                "kirokuctl verify missed \(what): \(ours.stdout)")
            let theirs = try await python([path, "--hub-key", hubKey, "--witness", witnessKey])
            #expect(theirs.status == 1, "the Python verifier missed \(what): \(theirs.stdout)")
        }
        // A witness that never saw the checkpoint, and another hub's key.
        let stranger = try await runProgram(
            ctl, ["witness", "init", "--dir", setup.temp.file("stranger"), "--name", "stranger.test/w"])
        let strangerKey = String(stranger.stdout.split(separator: "\n").last ?? "")
        #expect(
            try await runProgram(ctl, ["verify", bundle, "--hub-key", hubKey, "--witness", strangerKey]).status == 1)
        let otherKey = Data(repeating: 7, count: 32).base64EncodedString()
        let otherHub = try await runProgram(ctl, ["verify", bundle, "--hub-key", otherKey, "--no-witness"])
        #expect(otherHub.status == 1 && otherHub.stdout.contains("not signed by hub key"), "\(otherHub.stdout)")
    }

    /// Stops the hub, runs `sql` on its database (with `rehash(id)`: an event's hash recomputed from its
    /// row, as someone covering their tracks would), and starts it again on the same port.
    func alterHub(_ setup: inout Setup, _ sql: String) async throws {
        setup.hub.stop()
        let outcome = try await runProgram(
            "/usr/bin/env",
            [
                "python3", "-c",
                """
                import sqlite3, sys
                sys.path.insert(0, sys.argv[3])
                from check_vectors import event_hash
                db = sqlite3.connect(sys.argv[1])
                db.create_function("rehash", 1, lambda id: rehash(db, id))
                def rehash(db, id):
                    c = db.execute("SELECT agent, seq, time, kind, action, actor, subject, site, attrs, salt, prev FROM events WHERE id = ?", (id,)).fetchone()
                    import json
                    e = dict(zip(["agent", "seq", "time", "kind", "action", "actor", "subject", "site", "attrs", "salt", "prev"], c))
                    e["attrs"] = json.loads(e["attrs"]); e["v"] = 1
                    return event_hash(e)
                db.executescript(sys.argv[2]); db.commit(); db.close()
                """, setup.hub.database, sql,
                URL(filePath: RepositoryFiles.pythonVerifier).deletingLastPathComponent().path,
            ])
        #expect(outcome.status == 0, "\(outcome.stderr)")
        setup.hub = try await HubProcess(pki: setup.pki, temp: setup.temp, extra: ["--port", "\(setup.hub.port)"])
    }

    @Test(
        "Each agent witnesses the hub's log: a history rebuilt around an altered event is caught by the agent, journalled, and a finding at the hub"
    )
    func agentWitnessesTheLog() async throws {
        var setup = try await setUp("log-agent-witness")
        defer { setup.agent.stop(); setup.hub.stop() }
        try produce(setup, 40)
        #expect(await eventually { allDelivered(setup.journal) })
        let known = try #require(try setup.journal.knownTree())
        #expect(try setup.journal.logAlarm() == nil)
        // The receipt's checkpoint is kept by the hub and served by its size.
        let kept = try await ctl(setup, ["log", "checkpoint", "--size", "\(known.size)"])
        #expect(kept.status == 0 && kept.stdout.contains("\n\(known.size)\n"), "\(kept.stdout)\(kept.stderr)")

        // The administrator rewrites an event and rebuilds the whole log around it: self-consistent and
        // signed by the hub's key, but not an extension of what this agent was shown.
        try await alterHub(
            &setup,
            """
            UPDATE events SET subject = '改ざん' WHERE id = 5; UPDATE events SET hash = rehash(id) WHERE id = 5;
            DROP TABLE cosignatures; DROP TABLE checkpoints; DROP TABLE merkle;
            DELETE FROM grdb_migrations WHERE identifier = 'v5: merkle log';
            """)
        try produce(setup, 5, from: 40)
        #expect(await eventually { (try? setup.journal.logAlarm()) != nil }, "\(setup.agent.child.log)")
        #expect(try setup.journal.logAlarm()?.contains("does not extend the one of \(known.size)") == true)
        // The alarm is committed before the daemon says it in its log: wait for the words, not just the row.
        #expect(
            await eventually {
                setup.agent.child.log.contains("does not extend the history it showed this agent before")
            },
            "\(setup.agent.child.log)")
        // Journalled once, delivered like any event, and a critical finding the 会議 sees.
        #expect(await eventually { allDelivered(setup.journal) })
        let alarms = try setup.journal.allEvents().filter { $0.action == "log_inconsistent" }
        #expect(alarms.count == 1)
        #expect(alarms.first?.attrs["known_size"] == "\(known.size)")
        let findings = try await ctl(setup, ["findings", "--rule", "agent_integrity"])
        #expect(
            await eventually {
                // Both sentences, each in its own language (the table shows one, by LANG; JSON carries both).
                let json = (try? await ctl(setup, ["findings", "--rule", "agent_integrity", "--json"]).stdout) ?? ""
                return json.contains("does not extend the history") && json.contains("以前の履歴の続きになっていない")
            },
            "\(findings.stdout)")
        let status = try await runProgram(Binaries.path("kiroku-agent"), ["status", "--config", setup.agent.config])
        #expect(status.stdout.contains("LOG ALARM"), "\(status.stdout)")
        // The known tree stays the one it trusted: later receipts are judged against it, not the new one.
        #expect(try setup.journal.knownTree() == known)

        // Once the 会議 knows why, a person accepts the log as it is now: journalled, and witnessing goes on.
        let accepted = try await runProgram(
            Binaries.path("kiroku-agent"),
            ["accept-log", "--config", setup.agent.config, "--by", "P0012", "--reason", "復元の確認 (会議)"])
        #expect(accepted.status == 0, "\(accepted.stderr)")
        #expect(try setup.journal.logAlarm() == nil)
        try produce(setup, 3, from: 45)
        #expect(
            await eventually { (try? setup.journal.knownTree()).flatMap { $0 }.map { $0.size > known.size } == true })
        #expect(try setup.journal.logAlarm() == nil)
        #expect(try setup.journal.allEvents().contains { $0.action == "log_accepted" && $0.actor == "P0012" })
        let again = try await runProgram(
            Binaries.path("kiroku-agent"),
            ["accept-log", "--config", setup.agent.config, "--by", "P0012", "--reason", "x"])
        #expect(again.status != 0 && again.stderr.contains("no log alarm to accept"))
    }

    @Test(
        "Completeness: the hub signs each page's query, count and entries; a dropped event, a missing or cut page are caught by both verifiers"
    )
    func completeness() async throws {
        let setup = try await setUp("log-complete")
        defer { setup.agent.stop(); setup.hub.stop() }
        try produce(setup, 25)
        #expect(await eventually { allDelivered(setup.journal) })
        let hubKey = String(try await ctl(setup, ["log", "key"]).stdout.split(separator: " ").first ?? "")
        let bundle = setup.temp.file("complete.json")
        let exported = try await ctl(
            setup, ["export", "--evidence", bundle, "--actor", "P0012", "--checkpoint", "newest", "--page-size", "10"])
        #expect(
            exported.status == 0 && exported.stdout.contains("25 件、チェックポイント"), "\(exported.stdout)\(exported.stderr)")
        let pinned = ["--hub-key", hubKey, "--no-witness"]
        let whole = try await runProgram(ctl, ["verify", bundle] + pinned)
        #expect(
            whole.status == 0 && whole.stdout.contains("complete: the hub signed that 25 event(s)")
                && whole.stdout.contains("(3 page(s))")
                && whole.stdout.contains("ok    chain links: every event sits in its agent's signed chain"),
            "\(whole.stdout)")
        #expect(try await python([bundle] + pinned).stdout.contains("complete: all 25 event(s)"))

        // Altered copies, each saved and checked by both verifiers.
        guard case .object(var root) = try JSONParser.parse(Array(try Data(contentsOf: URL(filePath: bundle)))),
            case .array(let events) = root["events"], case .array(let statements) = root["statements"],
            case .array(let links) = root["links"], case .array(let firstPage) = links[0],
            case .object(var run) = firstPage[0],
            case .string(let hashes) = run["hashes"]
        else {
            Issue.record("the bundle is not shaped as PROTOCOL.md §7 says")
            return
        }
        #expect(events.count == 25 && statements.count == 3)
        func altered(_ events: [JSONValue], _ statements: [JSONValue]) -> [UInt8] {
            root["events"] = .array(events)
            root["statements"] = .array(statements)
            return CanonicalJSON.encode(.object(root))
        }
        // One hash of the signed chain links changed (the first byte of the fourth hash).
        var raw = [UInt8](Data(base64Encoded: hashes)!)
        raw[3 * 32] ^= 0x01
        run["hashes"] = .string(Data(raw).base64EncodedString())
        var changedLinks = links
        changedLinks[0] = .array([.object(run)] + firstPage.dropFirst())
        func withLinks(_ value: JSONValue?) -> [UInt8] {
            var copy = root
            copy["links"] = value
            return CanonicalJSON.encode(.object(copy))
        }
        // A shown event passed off as purged by retention (its content hidden behind a stub).
        guard case .object(var shown) = events[5], case .object(let content) = shown["event"] else {
            Issue.record("event 6 is not a full event")
            return
        }
        var stub = content.filter {
            ["agent", "seq", "time", "kind", "action", "site", "prev", "hash"].contains($0.key)
        }
        stub["purged_at"] = .string("2033-01-01T00:00:00.000+09:00")
        shown["event"] = nil
        shown["purged"] = .object(stub)
        var hidden = events
        hidden[5] = .object(shown)
        let cases: [(String, [UInt8], String)] = [
            ("an event passed off as purged", altered(hidden, statements), "not the ones the hub listed"),
            ("a chain link changed", withLinks(.array(changedLinks)), "not the ones the hub signed"),
            ("the chain links removed", withLinks(nil), "has no chain links"),
            (
                "an event dropped", altered(events.enumerated().filter { $0.offset != 12 }.map(\.element), statements),
                "not the ones the hub listed"
            ),
            ("the last page cut short", altered(Array(events.prefix(22)), statements), "the bundle ends before"),
            (
                "the last page left out", altered(Array(events.prefix(20)), Array(statements.prefix(2))),
                "the hub counted 25"
            ),
            (
                "a middle page left out",
                altered(Array(events.prefix(10) + events.suffix(5)), [statements[0], statements[2]]), "are missing"
            ),
            (
                "two events swapped",
                altered(
                    events.enumerated().map { events[$0.offset == 3 ? 4 : $0.offset == 4 ? 3 : $0.offset] }, statements),
                "moved"
            ),
        ]
        for (name, bytes, expected) in cases {
            let path = setup.temp.file("altered.json")
            try Data(bytes).write(to: URL(filePath: path))
            let ours = try await runProgram(ctl, ["verify", path] + pinned)
            #expect(
                ours.status == 1 && ours.stdout.contains(expected), "kirokuctl verify missed \(name): \(ours.stdout)")
            let theirs = try await python([path] + pinned)
            #expect(
                theirs.status == 1 && theirs.stdout.contains("NOT VERIFIED"),
                "the Python verifier missed \(name): \(theirs.stdout)")
        }
        // An entry with both an event and a purged stub: one reader would take one, another the other.
        guard case .object(var both) = events[5] else { return }
        both["purged"] = .object(stub)
        var doubled = events
        doubled[5] = .object(both)
        let path = setup.temp.file("doubled.json")
        try Data(altered(doubled, statements)).write(to: URL(filePath: path))
        let ours = try await runProgram(ctl, ["verify", path] + pinned)
        #expect(ours.status != 0 && ours.stderr.contains("not both"), "\(ours.stdout)\(ours.stderr)")
        let theirs = try await python([path] + pinned)
        #expect(theirs.status == 1 && theirs.stdout.contains("not both or neither"), "\(theirs.stdout)")
    }

    @Test(
        "Key rotation: old checkpoints keep verifying with old keys; the witness follows through the overlap, and refuses an unconfirmed key",
        arguments: StoreKind.allCases)
    func keyRotation(_ store: StoreKind) async throws {
        var setup = try await setUp("log-rotation-\(store)", store: store)
        defer { setup.agent.stop(); setup.hub.stop() }
        try produce(setup, 50)
        #expect(await eventually { allDelivered(setup.journal) })
        let hub = Binaries.path("kiroku-hub")
        func key(_ setup: Setup) async throws -> String {
            String(try await ctl(setup, ["log", "key"]).stdout.split(separator: " ").first ?? "")
        }
        let k1 = try await key(setup)
        let witnessDir = setup.temp.file("kaigi-witness")
        let witnessKey = String(
            try await runProgram(ctl, ["witness", "init", "--dir", witnessDir, "--name", "kaigi.test/witness"]).stdout
                .split(
                    separator: "\n"
                ).last ?? "")
        #expect(try await ctl(setup, ["log", "checkpoint", "--publish"]).status == 0)
        #expect(try await ctl(setup, ["witness", "run", "--dir", witnessDir, "--hub-key", k1]).status == 0)
        let first = setup.temp.file("first.json")
        #expect(try await ctl(setup, ["export", "--evidence", first]).status == 0)

        // Rotation 1: a new key, the old one co-signing during the overlap.
        func rotate(to name: String, overlap: String) async throws -> String {
            setup.hub.stop()
            let made = try await runProgram(hub, ["keygen", "--out", setup.temp.file(name)])
            #expect(made.status == 0, "\(made.stderr)")
            #expect(
                try await runProgram(hub, ["keygen", "--out", setup.temp.file(name)]).status != 0,
                "never overwrites a key")
            setup.hub = try await HubProcess(
                pki: setup.pki, temp: setup.temp,
                extra: [
                    "--port", "\(setup.hub.port)", "--signing-key", setup.temp.file(name), "--overlap-signing-key",
                    overlap,
                ], environment: setup.environment, newRecord: false)
            return String(made.stdout.split(separator: " ").first ?? "")
        }
        let k2 = try await rotate(to: "k2.key", overlap: setup.temp.file("hub/receipt-signing.key"))
        let shown = try await key(setup)
        #expect(shown == k2 && k2 != k1)
        try produce(setup, 20, from: 50)
        // (CI missed this twice, not for time: a first batch holding all 20, signed by a key the agent had not
        // asked for, was refused, and nothing signed for those events again.)
        #expect(
            await eventually { allDelivered(setup.journal) },
            "agents take the new key from the hub's state\nagent log: \(setup.agent.child.log)\nhub log: \(setup.hub.child.log)"
        )
        // The agent asked for the hub's key before the rotation; a receipt signed by the new one makes it
        // ask again, not refuse the receipt (which would leave the 20 undelivered until the next batch).
        #expect(!setup.agent.child.log.contains("bad_receipt"), "\(setup.agent.child.log)")
        #expect(try await ctl(setup, ["log", "checkpoint", "--publish"]).status == 0)
        let during = try await ctl(setup, ["witness", "run", "--dir", witnessDir])
        #expect(
            during.status == 0 && during.stdout.contains("連署しました") && during.stdout.contains("does not trust yet"),
            "\(during.stdout)\(during.stderr)")

        // Rotation 2, with k2 co-signing: the witness trusts only k1 and refuses until the 会議 adds k2.
        let k3 = try await rotate(to: "k3.key", overlap: setup.temp.file("k2.key"))
        if store == .postgres {
            // A second hub on the database, still on a retired key, is refused at start and says why.
            let retired = await #expect(throws: KirokuError.self) {
                _ = try await HubProcess(
                    pki: setup.pki, temp: setup.temp, name: "hub-retired",
                    extra: ["--signing-key", setup.temp.file("k2.key")], environment: setup.environment,
                    newRecord: false)
            }
            #expect(
                retired?.message.contains("after a key rotation, the new one") == true,
                "\(String(describing: retired))")
        }
        try produce(setup, 20, from: 70)
        #expect(await eventually { allDelivered(setup.journal) })
        #expect(try await ctl(setup, ["log", "checkpoint", "--publish"]).status == 0)
        let refused = try await ctl(setup, ["witness", "run", "--dir", witnessDir])
        #expect(refused.status != 0 && refused.stderr.contains("--add-hub-key"), "\(refused.stdout)\(refused.stderr)")
        let added = try await ctl(setup, ["witness", "run", "--dir", witnessDir, "--add-hub-key", k2, "--lang", "en"])
        #expect(added.status == 0 && added.stdout.contains("consistent with size"), "\(added.stdout)\(added.stderr)")

        // A rotation is never turned back: a hub given the retired k2 to sign with (the current k3 "co-signing",
        // the two settings swapped) is refused at start, on either store.
        setup.hub.stop()
        let reversed = await #expect(throws: KirokuError.self) {
            _ = try await HubProcess(
                pki: setup.pki, temp: setup.temp,
                extra: [
                    "--port", "\(setup.hub.port)", "--signing-key", setup.temp.file("k2.key"), "--overlap-signing-key",
                    setup.temp.file("k3.key"),
                ], environment: setup.environment, newRecord: false)
        }
        #expect(reversed?.message.contains("was retired by a key rotation") == true, "\(String(describing: reversed))")
        setup.hub = try await HubProcess(
            pki: setup.pki, temp: setup.temp,
            extra: ["--port", "\(setup.hub.port)", "--signing-key", setup.temp.file("k3.key")],
            environment: setup.environment, newRecord: false)

        // The key changes are on the record, and every bundle verifies with the keys of its time.
        let records = try await ctl(setup, ["query", "--agent", "hub", "--action", "key_rotated", "--format", "jsonl"])
        #expect(records.stdout.split(separator: "\n").count == 2 && records.stdout.contains(k3), "\(records.stdout)")
        let last = setup.temp.file("last.json")
        #expect(try await ctl(setup, ["export", "--evidence", last]).status == 0)
        for (bundle, keys, ok) in [
            (first, [k1], true), (last, [k3], true), (last, [k1], false), (first, [k3], false),
            (first, [k1, k2, k3], true), (last, [k1, k2, k3], true),
        ] {
            let arguments = [bundle] + keys.flatMap { ["--hub-key", $0] } + ["--witness", witnessKey]
            let ours = try await runProgram(ctl, ["verify"] + arguments)
            #expect((ours.status == 0) == ok, "\(bundle) with \(keys.count) key(s): \(ours.stdout)")
            let theirs = try await python(arguments)
            #expect((theirs.status == 0) == ok, "python: \(bundle): \(theirs.stdout)")
        }
    }

    @Test(
        "Tampering in the hub's database is caught: an event, its hash, a stored node, and a rewritten history the witness refuses"
    )
    func tamperingIsCaught() async throws {
        var setup = try await setUp("log-tamper")
        defer { setup.agent.stop(); setup.hub.stop() }
        try produce(setup, 100)
        #expect(await eventually { allDelivered(setup.journal) })
        let logged = try setup.journal.progress().headSeq
        let hubKey = String(try await ctl(setup, ["log", "key"]).stdout.split(separator: " ").first ?? "")
        let witnessDir = setup.temp.file("kaigi-witness")
        let witnessKey = String(
            try await runProgram(ctl, ["witness", "init", "--dir", witnessDir, "--name", "kaigi.test/witness"]).stdout
                .split(separator: "\n").last ?? "")
        #expect(try await ctl(setup, ["log", "checkpoint", "--publish"]).status == 0)
        #expect(try await ctl(setup, ["witness", "run", "--dir", witnessDir, "--hub-key", hubKey]).status == 0)
        setup.agent.stop()

        func alter(_ sql: String) async throws { try await alterHub(&setup, sql) }
        func verify(_ name: String, checkpoint: String = "cosigned", witness: Bool = true) async throws -> Outcome {
            let bundle = setup.temp.file("\(name).json")
            let exported = try await ctl(setup, ["export", "--evidence", bundle, "--checkpoint", checkpoint])
            #expect(exported.status == 0, "\(exported.stderr)")
            return try await runProgram(
                ctl,
                ["verify", bundle, "--hub-key", hubKey] + (witness ? ["--witness", witnessKey] : ["--no-witness"]))
        }
        #expect(try await verify("before").status == 0, "the untouched record verifies")

        // 1. An event's content changed in place.
        try await alter("UPDATE events SET subject = '改ざん' WHERE id = 10;")
        let edited = try await verify("edited")
        #expect(edited.status == 1 && edited.stdout.contains("seq 10)"), "\(edited.stdout)")
        // 2. ... and its hash recomputed to match: it is no longer the leaf the log holds.
        try await alter("UPDATE events SET hash = rehash(id) WHERE id = 10;")
        let rehashed = try await verify("rehashed")
        #expect(rehashed.status == 1 && rehashed.stdout.contains("not in the checkpoint's tree"), "\(rehashed.stdout)")
        // 3. A stored node of the tree changed (the subtree of leaves 32-47, kept at level 4; event 10 put
        // back as it was): every proof that runs through it, or through a node folded from it, fails
        // against the cosigned checkpoint — all but those of leaves 32-47 themselves.
        try await alter(
            "UPDATE events SET subject = '住民8' WHERE id = 10; UPDATE events SET hash = rehash(id) WHERE id = 10; UPDATE merkle SET hash = zeroblob(32) WHERE id = (4 << 40) | 2;"
        )
        let node = try await verify("node")
        #expect(node.status == 1 && node.stdout.contains("NOT VERIFIED: \(logged - 16) problem(s)"), "\(node.stdout)")

        // 4. The whole log rebuilt around an altered event (what an administrator covering tracks would
        // do): self-consistent and signed by the hub, but the witness refuses it and the evidence lacks
        // the 会議's cosignature.
        try await alter(
            """
            UPDATE events SET subject = '改ざん' WHERE id = 20; UPDATE events SET hash = rehash(id) WHERE id = 20;
            DROP TABLE cosignatures; DROP TABLE checkpoints; DROP TABLE merkle;
            DELETE FROM grdb_migrations WHERE identifier = 'v5: merkle log';
            """)
        // The hub's signature alone would not tell; the chain links do: event 21's prev (its content) is
        // the hash event 20 had. (Rewriting every later event too would get past them: the witness stays
        // the defence against the hub's own key.)
        let signedOnly = try await verify("rebuilt", checkpoint: "newest", witness: false)
        #expect(
            signedOnly.status == 1
                && signedOnly.stdout.contains("seq 21's prev is not the hash the chain links give for seq 20"),
            "\(signedOnly.stdout)")
        let withWitness = try await verify("rebuilt-witness", checkpoint: "newest")
        #expect(
            withWitness.status == 1 && withWitness.stdout.contains("not cosigned by witness kaigi.test/witness"),
            "\(withWitness.stdout)")
        let refused = try await ctl(setup, ["witness", "run", "--dir", witnessDir])
        #expect(refused.status == 3 && refused.stderr.contains("連署していません"), "\(refused.stdout)\(refused.stderr)")
        let alarms = try FileManager.default.contentsOfDirectory(atPath: "\(witnessDir)/alarms")
        #expect(alarms.count == 1)
        // A second witness that only ever saw the rewritten log cosigns it: the two witnesses now hold
        // different trees of the same size, and no checkpoint carries both cosignatures.
        let otherDir = setup.temp.file("other-witness")
        let otherKey = String(
            try await runProgram(ctl, ["witness", "init", "--dir", otherDir, "--name", "other.test/witness"]).stdout
                .split(separator: "\n").last ?? "")
        #expect(try await ctl(setup, ["witness", "run", "--dir", otherDir, "--hub-key", hubKey]).status == 0)
        let both = setup.temp.file("both.json")
        #expect(try await ctl(setup, ["export", "--evidence", both]).status == 0)
        let quorum = try await runProgram(
            ctl, ["verify", both, "--hub-key", hubKey, "--witness", witnessKey, "--witness", otherKey])
        #expect(quorum.status == 1, "a split view cannot gather both witnesses: \(quorum.stdout)")
    }
}
