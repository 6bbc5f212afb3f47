import Foundation
import KirokuAgent
import KirokuHub
import KirokuProtocol
import KirokuTestSupport
import Testing

/// Retention is policy, never accident (invariant 5): exactly what the policy says is purged, nothing under
/// a hold or inside its period, every proof still verifies, and each purge and hold is on the record.
@Suite("Retention, legal holds and purge")
struct RetentionTests {
    /// 2026-11-27 12:00 JST.
    static let now = Date(timeIntervalSince1970: 1_795_748_400)
    static let kinds: [(kind: String, action: String)] = [
        ("operation", "lookup"), ("access", "enter"), ("agent", "heartbeat"),
    ]

    /// 150 events of three kinds, one every 25 days back from now (about ten years).
    static func history() -> [Event] {
        var events: [Event] = []
        var previous = Event.genesis
        for index in 0..<150 {
            let (kind, action) = kinds[index % 3]
            let time = Timestamp(date: now.addingTimeInterval(-Double(149 - index) * 25 * 86_400), offsetMinutes: 540)
            let event = Event(
                agent: "counter-01", seq: Int64(index + 1), time: time.rfc3339, kind: kind, action: action,
                actor: "P\(index % 5)", subject: "住民\(index % 7)", site: "本庁舎", attrs: ["terminal": "端末01"],
                salt: Event.randomSalt(), prev: previous
            ).sealed()
            previous = event.hash
            events.append(event)
        }
        return events
    }

    static func cutoff(years: Int = 0, days: Int = 0) -> Date {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(secondsFromGMT: 9 * 3600)!
        return calendar.date(byAdding: DateComponents(year: -years, day: -days), to: now)!
    }

    func allEvents(_ store: HubStore, agent: String) async throws -> [Event] {
        var query = EventQuery()
        query.agent = agent
        query.limit = EventQuery.maxLimit
        return try await store.query(query).events
    }

    @Test(
        "The purge takes exactly what the policy says, spares holds and recent events, and every proof still verifies")
    func purgeExactly() async throws {
        let temp = try TempDir("retention")
        let store = try HubStore.open(path: temp.file("record.sqlite"))
        let events = Self.history()
        _ = try await store.ingest(
            Batch(agent: "counter-01", sentAt: Timestamp(date: Self.now).rfc3339, headSeq: 150, events: events),
            identity: "counter-01", now: Self.now)
        let policy = RetentionPolicy(periods: ["access": .years(1), "agent": .days(30)], fallback: .years(7))
        try policy.validate()
        let sizeBefore = try await store.logSize()
        let rootBefore = try await store.root(size: sizeBefore)

        // A standing hold on one resident's events (an investigation), and one placed then lifted.
        let standing = try await store.placeHold(
            subject: "住民3", actor: nil, agent: nil, from: nil, to: nil, reason: "第21 調査 2026-001 (総務課長の依頼)",
            by: "kanri01", now: Self.now)
        let lifted = try await store.placeHold(
            subject: nil, actor: "P4", agent: "counter-01", from: nil, to: nil, reason: "確認のため", by: "kanri01",
            now: Self.now)
        _ = try await store.liftHold(id: lifted.id, reason: "確認済み", by: "kanri01", now: Self.now)
        await #expect(throws: KirokuError.self) {
            _ = try await store.liftHold(id: lifted.id, reason: "again", by: "kanri01")
        }
        await #expect(throws: KirokuError.self) {
            _ = try await store.placeHold(
                subject: nil, actor: nil, agent: nil, from: nil, to: nil, reason: "no criteria", by: "kanri01")
        }
        await #expect(throws: KirokuError.self) {
            _ = try await store.placeHold(
                subject: "住民1", actor: nil, agent: nil, from: nil, to: nil, reason: "  ", by: "kanri01")
        }

        // What the policy says, computed here independently.
        let cutoffs = [
            "operation": Self.cutoff(years: 7), "access": Self.cutoff(years: 1), "agent": Self.cutoff(days: 30),
        ]
        func due(_ event: Event) -> Bool {
            Timestamp(rfc3339: event.time)!.epochMilliseconds < Int64(cutoffs[event.kind]!.timeIntervalSince1970 * 1000)
        }
        let expected = events.filter { due($0) && $0.subject != "住民3" }
        let held = events.filter { due($0) && $0.subject == "住民3" }
        #expect(
            expected.count > 20 && !held.isEmpty && expected.count + held.count < events.count,
            "the history spans every case")

        // Two fork versions quarantined: at seq 1 (due) and at seq 150 (recent).
        for seq in [1, 150] {
            let original = events[seq - 1]
            let rival = Event(
                agent: "counter-01", seq: original.seq, time: original.time, kind: original.kind,
                action: original.action,
                actor: "P9", subject: "住民99", site: "本庁舎", attrs: [:], salt: Event.randomSalt(), prev: original.prev
            ).sealed()
            await #expect(throws: KirokuError.self) {
                _ = try await store.ingest(
                    Batch(
                        agent: "counter-01", sentAt: Timestamp(date: Self.now).rfc3339, headSeq: 150, events: [rival]),
                    identity: "counter-01", now: Self.now)
            }
        }
        #expect(try await store.forks(agent: "counter-01").compactMap(\.offeredEvent).count == 2)

        let preview = try await store.purge(policy: policy, by: "kanri01", now: Self.now, dryRun: true)
        #expect(preview.lines.reduce(0) { $0 + $1.purged } == Int64(expected.count))
        #expect(try await allEvents(store, agent: "counter-01").count == events.count, "a dry run changes nothing")

        let report = try await store.purge(policy: policy, by: "kanri01", now: Self.now)
        for kind in ["operation", "access", "agent"] {
            let line = try #require(report.lines.first { $0.kind == kind })
            #expect(line.purged == Int64(expected.filter { $0.kind == kind }.count), "\(kind)")
            #expect(line.held == Int64(held.filter { $0.kind == kind }.count), "\(kind) held")
        }
        let remaining = try await allEvents(store, agent: "counter-01")
        #expect(
            Set(remaining.map(\.seq)) == Set(events.map(\.seq)).subtracting(expected.map(\.seq)),
            "exactly the expected events are gone")
        for event in remaining { #expect(throws: Never.self, "what remains is intact") { try event.validate() } }
        // The fork version at seq 1 went with the event it contended with; the recent one stays, both hashes stay.
        let forks = try await store.forks(agent: "counter-01")
        #expect(
            forks.map(\.seq) == [1, 150] && forks[0].offeredEvent == nil
                && forks[1].offeredEvent?.contains("住民99") == true)
        #expect(
            try await store.purge(policy: policy, by: "kanri01", now: Self.now).lines.allSatisfy { $0.purged == 0 },
            "nothing twice")

        // The log only grew: the purge appended its records and rewrote nothing; purged events' hashes
        // are still leaves with valid proofs.
        let sizeAfter = try await store.logSize()
        let rootAfter = try await store.root(size: sizeAfter)
        let consistency = try await store.consistencyProof(from: sizeBefore, to: sizeAfter)
        #expect(
            Merkle.verifyConsistency(
                first: sizeBefore, second: sizeAfter, firstRoot: rootBefore, secondRoot: rootAfter, proof: consistency))
        for event in expected {
            let leaf = event.seq - 1
            let proof = try await store.inclusionProof(leaf: leaf, size: sizeAfter)
            #expect(
                Merkle.verifyInclusion(
                    leaf: Merkle.leafHash(eventHash: event.hash)!, index: leaf, size: sizeAfter, proof: proof,
                    root: rootAfter))
        }

        // Every hold and purge is a record event in the hub's own chain, in the log.
        let records = try await allEvents(store, agent: "hub")
        #expect(records.map(\.action).filter { $0 == "hold_placed" }.count == 2)
        #expect(
            records.contains {
                $0.action == "hold_lifted" && $0.attrs["hold"] == "\(lifted.id)" && $0.actor == "kanri01"
            })
        let purges = records.filter { $0.action == "purge" }
        #expect(purges.count == 4 && purges.allSatisfy { $0.kind == "record" && $0.actor == "kanri01" })
        #expect(
            purges.filter { $0.attrs["kind"] != "fork" }.map { Int($0.attrs["count"]!)! }.reduce(0, +) == expected.count
        )
        #expect(purges.first { $0.attrs["kind"] == "fork" }?.attrs["count"] == "1")
        #expect(purges.first { $0.attrs["kind"] == "access" }?.attrs["policy"] == "1y")
        for (previous, next) in zip(records, records.dropFirst()) { #expect(next.prev == previous.hash) }

        // The hold lifted, its events go at the next purge.
        _ = try await store.liftHold(id: standing.id, reason: "調査終了", by: "kanri01", now: Self.now)
        let after = try await store.purge(policy: policy, by: "kanri01", now: Self.now)
        #expect(after.lines.reduce(0) { $0 + $1.purged } == Int64(held.count))
    }

    @Test("End to end: kirokuctl places a hold and purges; the evidence still verifies, purged events by hash")
    func purgeOverTheWire() async throws {
        let temp = try TempDir("retention-e2e")
        let pki = try TestPKI(in: temp)
        try pki.agent("counter-01")
        try pki.person("kanri01")
        let file = temp.file("hub.json")
        try JSONSerialization.data(withJSONObject: [
            "ca": pki.caPath, "certificate": pki.certPath(.hub, "hub"), "private_key": pki.keyPath(.hub, "hub"),
            "retention": ["default": "7y", "access": "1y"],
        ]).write(to: URL(filePath: file))
        let hub = try await HubProcess(pki: pki, temp: temp, extra: ["--config", file])
        defer { hub.stop() }
        let config = try agentConfig("counter-01", pki: pki, temp: temp, hubURL: hub.url)
        let socket = temp.file("counter-01/ingest.sock")
        let agent = try await AgentProcess(config: config, socket: socket, temp: temp, name: "agent")
        defer { agent.stop() }
        let producer = try SocketProducer(path: socket)
        // Room entries from two years ago (past access's 1y) and from last week, for two people.
        for (index, time) in [
            "2024-11-01T09:00:00.000+09:00", "2024-11-02T09:00:00.000+09:00", "2026-11-20T09:00:00.000+09:00",
        ].enumerated() {
            for person in ["P0012", "P0034"] {
                #expect(
                    try producer.send(
                        #"{"kind":"access","action":"enter","actor":"\#(person)","subject":"電算室","time":"\#(time)","attrs":{"n":"\#(index)"}}"#
                    ).contains("\"ok\":true"))
            }
        }
        let journal = try Journal.open(path: temp.file("counter-01/journal.sqlite"), agentID: "counter-01", site: "")
        #expect(await eventually { allDelivered(journal) })
        let ctl = Binaries.path("kirokuctl")
        let person = ["--hub", hub.url, "--pki", pki.dir.path, "--as", "kanri01"]
        let placed = try await runProgram(
            ctl, ["holds", "place", "--actor", "P0034", "--reason", "第21 調査 2026-007"] + person)
        #expect(placed.status == 0 && placed.stdout.contains("保全 1 を設定しました"), "\(placed.stdout)\(placed.stderr)")
        let noReason = try await runProgram(ctl, ["holds", "place", "--actor", "P0034", "--reason", " "] + person)
        #expect(noReason.status != 0 && noReason.stderr.contains("reason"))
        let preview = try await runProgram(ctl, ["retention", "purge", "--dry-run"] + person)
        #expect(preview.status == 0 && preview.stdout.contains("2 件が消去の対象です"), "\(preview.stdout)")
        let purged = try await runProgram(ctl, ["retention", "purge", "--lang", "en"] + person)
        #expect(purged.status == 0 && purged.stdout.contains("2 event(s) purged"), "\(purged.stdout)\(purged.stderr)")
        let query = try await runProgram(ctl, ["query", "--kind", "access", "--format", "jsonl"] + person)
        #expect(
            query.stdout.split(separator: "\n").count == 4 && !query.stdout.contains("\"n\":\"0\",\"actor\":\"P0012\""),
            "\(query.stdout)")

        let bundle = temp.file("evidence.json")
        #expect(
            try await runProgram(ctl, ["export", "--evidence", bundle, "--checkpoint", "newest"] + person).status == 0)
        let hubKey = String(
            try await runProgram(ctl, ["log", "key"] + person).stdout.split(separator: " ").first ?? "")
        let verified = try await runProgram(ctl, ["verify", bundle, "--hub-key", hubKey, "--no-witness"])
        #expect(
            verified.status == 0 && verified.stdout.contains("2 event(s) purged under the retention policy")
                && verified.stdout.contains("NOT authenticated")
                && verified.stdout.contains("and 2 purged (content removed"),
            "\(verified.stdout)")
        // A purged stub's fields are the hub's word only: changed, the bundle still verifies, and both tools
        // say those fields are not authenticated (only the hash is, by its inclusion proof).
        guard case .object(var root) = try JSONParser.parse(Array(try Data(contentsOf: URL(filePath: bundle)))),
            case .array(var entries) = root["events"]
        else {
            Issue.record("the bundle is not shaped as PROTOCOL.md §7 says")
            return
        }
        var restamped = 0
        for (index, entry) in entries.enumerated() {
            guard case .object(var members) = entry, case .object(var stub) = members["purged"] else { continue }
            stub["kind"] = .string("incident")
            stub["time"] = .string("2020-01-01T00:00:00.000+09:00")
            members["purged"] = .object(stub)
            entries[index] = .object(members)
            restamped += 1
        }
        #expect(restamped == 2, "the test really altered the purged stubs")
        root["events"] = .array(entries)
        let altered = temp.file("restamped.json")
        try Data(CanonicalJSON.encode(.object(root))).write(to: URL(filePath: altered))
        let stub = try await runProgram(ctl, ["verify", altered, "--hub-key", hubKey, "--no-witness"])
        #expect(stub.status == 0 && stub.stdout.contains("NOT authenticated"), "\(stub.stdout)\(stub.stderr)")
        let independent = try await runProgram(
            "/usr/bin/env", ["python3", RepositoryFiles.pythonVerifier, bundle, "--hub-key", hubKey, "--no-witness"])
        #expect(
            independent.status == 0
                && independent.stdout.contains(
                    "2 purged (content removed under the retention policy; inclusion proven, fields not authenticated)"),
            "\(independent.stdout)\(independent.stderr)")
        let holds = try await runProgram(ctl, ["holds", "list"] + person)
        #expect(holds.stdout.contains("第21 調査 2026-007") && holds.stdout.contains("standing"))
    }

    @Test(
        "Operation history below seven years is refused at start-up, with the article; agents may not write the hub's records"
    )
    func policyLimits() async throws {
        let temp = try TempDir("retention-config")
        let pki = try TestPKI(in: temp)
        let file = temp.file("hub.json")
        try JSONSerialization.data(withJSONObject: [
            "ca": pki.caPath, "certificate": pki.certPath(.hub, "hub"), "private_key": pki.keyPath(.hub, "hub"),
            "database": temp.file("hub/record.sqlite"), "retention": ["default": "7y", "operation": "5y"],
        ]).write(to: URL(filePath: file))
        let refused = try await runProgram(Binaries.path("kiroku-hub"), ["run", "--config", file, "--port", "0"])
        #expect(
            refused.status != 0 && refused.stderr.contains("第20②") && refused.stderr.contains("7y"), "\(refused.stderr)"
        )
        #expect(!FileManager.default.fileExists(atPath: temp.file("hub/record.sqlite")), "nothing was created")
        for bad in [["operation": "2555d"], ["default": "6y"], ["acces": "1y"], ["agent": "0d"], ["agent": "1w"]] {
            var policy: RetentionPolicy?
            do {
                policy = try JSONDecoder().decode(
                    RetentionPolicy.self, from: try JSONSerialization.data(withJSONObject: bad))
                try policy?.validate()
                Issue.record("\(bad) was accepted")
            } catch {}
        }
        #expect(throws: Never.self) {
            try RetentionPolicy(periods: ["access": .days(400), "operation": .years(10)]).validate()
        }

        let store = try HubStore.open(path: temp.file("store.sqlite"))
        var forged = makeChain(agent: "counter-01", count: 1, kind: "record", action: "purge")
        await #expect(throws: KirokuError.self) {
            _ = try await store.ingest(
                Batch(agent: "counter-01", sentAt: "2026-11-27T09:00:00.000+09:00", headSeq: 1, events: forged),
                identity: "counter-01")
        }
        forged = makeChain(agent: "hub", count: 1)
        await #expect(throws: KirokuError.self) {
            _ = try await store.ingest(
                Batch(agent: "hub", sentAt: "2026-11-27T09:00:00.000+09:00", headSeq: 1, events: forged),
                identity: "hub")
        }
        #expect(try await store.eventCount() == 0)
    }
}
