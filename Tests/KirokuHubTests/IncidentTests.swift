import Foundation
import KirokuClient
import KirokuControl
import KirokuHub
import KirokuProtocol
import KirokuTestSupport
import Testing

/// Incidents as a lifecycle (第22③, 第27–第30) and terminals quiet on purpose (issue 14).
@Suite("Incidents and shutdowns")
struct IncidentTests {
    static func at(_ text: String) -> Date { Timestamp(rfc3339: "\(text):00.000+09:00")!.date }

    @Test(
        "An incident reported in time passes; one reported late, one not at all and one never closed are findings with their articles"
    )
    func lifecycle() async throws {
        let record = try RuleTests.Record(try TempDir("incidents"))
        // A fire reported ten minutes later and closed: nothing to find.
        try await record.add("room", "2026-12-10 10:00", "incident", "fire", "P1", "電算室")
        try await record.add("room", "2026-12-10 10:10", "incident", "reported", "P1", "管理者")
        try await record.add("room", "2026-12-11 09:00", "incident", "closed", "P1", "電算室")
        // An unauthorized access reported after an hour (第22③: 30 minutes), never closed.
        try await record.add("t1", "2026-12-10 10:00", "incident", "unauthorized_access", "ids", "端末01")
        try await record.add("t1", "2026-12-10 11:00", "incident", "reported", "unyo01", "管理者")
        // A disaster no one reported.
        try await record.add("t2", "2026-12-10 10:00", "incident", "disaster", "P2", "本庁舎")
        // A fault reported from another terminal, naming it; closed from there too.
        try await record.add("t3", "2026-12-10 10:00", "incident", "fault", "system", "サーバー1")
        try await record.add(
            "kanri-pc", "2026-12-10 10:05", "incident", "reported", "unyo01", "管理者", attrs: ["incident": "t3/1"])
        try await record.add(
            "kanri-pc", "2026-12-10 15:00", "incident", "closed", "unyo01", "サーバー1", attrs: ["incident": "t3/1"])
        // The next incident on t2 is its own: its report does not count for the disaster.
        try await record.add("t2", "2026-12-10 13:00", "incident", "fault", "system", "端末02")
        try await record.add("t2", "2026-12-10 13:05", "incident", "reported", "P2", "管理者")

        // At 10:20 no deadline has passed.
        try await record.store.evaluateRules(RuleTests.settings, now: Self.at("2026-12-10T10:20"))
        #expect(try await record.findings(.incidentNotReported).isEmpty)
        try await record.store.evaluateRules(RuleTests.settings, now: Self.at("2026-12-10T16:00"))
        let late = try await record.findings(.incidentNotReported).sorted { $0.evidence[0] < $1.evidence[0] }
        #expect(late.map(\.evidence) == [["t1/1"], ["t2/1"]], "\(late)")
        #expect(
            late[0].summary.contains("reported to the 管理者 late, at 2026-12-10 11:00")
                && late[0].summaryJa?.contains("第22③") == true)
        #expect(late[1].summaryJa?.contains("30 分以内に管理者へ報告されていない (第28)") == true, "\(late[1])")
        #expect(try await record.findings(.incidentNotClosed).isEmpty, "not yet a week")

        // A week on: the ones never closed.
        try await record.store.evaluateRules(RuleTests.settings, now: RuleTests.now)
        let open = try await record.findings(.incidentNotClosed).flatMap(\.evidence).sorted()
        #expect(open == ["t1/1", "t2/1", "t2/2"], "\(open)")
        // Closed late is closed: the finding is resolved.
        try await record.add("t1", "2027-01-09 09:00", "incident", "closed", "unyo01", "端末01")
        try await record.store.evaluateRules(RuleTests.settings, now: RuleTests.now)
        #expect(
            try await record.findings(.incidentNotClosed, status: .open).flatMap(\.evidence).sorted() == [
                "t2/1", "t2/2",
            ])
    }

    @Test(
        "A quiet terminal is lost only after agent_overdue_minutes of business hours, and not when stopped, declared shut down or after a 第30 shutdown"
    )
    func quietOnPurpose() async throws {
        let record = try RuleTests.Record(try TempDir("quiet"))
        let store = record.store
        // Friday 2026-12-11: every terminal last heard from at 17:00 (the office closes at 17:15).
        for agent in ["a1", "a2", "a3"] {
            try await record.add(
                agent, "2026-12-11 17:00", "operation", "logout", "P1", "端末", receivedAtEventTime: true)
        }
        try await record.add(
            "a2", "2026-12-11 17:01", "agent", "stopped", "kiroku-agent", "a2", receivedAtEventTime: true)
        _ = try await store.declareShutdown(
            agents: ["a3"], from: Timestamp(date: Self.at("2026-12-11T16:00")),
            to: Timestamp(date: Self.at("2026-12-14T12:00")),
            reason: "電源設備点検", by: "kanri01", now: Self.at("2026-12-11T15:00"))
        func lost(_ now: String) async throws -> [String] {
            try await store.evaluateRules(RuleTests.settings, now: Self.at(now))
            return try await record.findings(.agentIntegrity, status: .open).filter {
                $0.summary.contains("has not been heard from")
            }
            .map { String($0.summary.prefix(2)) }.filter { $0.hasPrefix("a") }.sorted()
        }
        // Saturday noon: two days of silence, none of it business hours.
        #expect(try await lost("2026-12-12T12:00").isEmpty)
        // Monday 08:45: 15 + 15 open minutes: not yet (near-miss).
        #expect(try await lost("2026-12-14T08:45").isEmpty)
        // Monday 09:00: 45 open minutes. a1 is lost; a2 stopped, a3 is in its declared shutdown.
        #expect(try await lost("2026-12-14T09:00") == ["a1"])
        // A shutdown declared afterwards does not explain away a terminal already lost.
        _ = try await store.declareShutdown(
            agents: ["a1"], from: Timestamp(date: Self.at("2026-12-14T09:35")),
            to: Timestamp(date: Self.at("2026-12-14T12:00")),
            reason: "急な点検", by: "kanri01", now: Self.at("2026-12-14T09:30"))
        #expect(try await lost("2026-12-14T10:00") == ["a1"])
        await #expect(throws: KirokuError.self) {
            _ = try await store.declareShutdown(
                agents: ["a1"], from: Timestamp(date: Self.at("2026-12-14T08:00")),
                to: Timestamp(date: Self.at("2026-12-14T18:00")),
                reason: "後付け", by: "kanri01", now: Self.at("2026-12-14T10:00"))
        }
        for agents in [["../x"], ["*", "a1"], ["a1", "a1"], ["hub"]] {
            await #expect(throws: KirokuError.self) {
                _ = try await store.declareShutdown(
                    agents: agents, from: Timestamp(date: Self.at("2026-12-15T08:00")),
                    to: Timestamp(date: Self.at("2026-12-15T18:00")),
                    reason: "点検", by: "kanri01", now: Self.at("2026-12-14T10:00"))
            }
        }
        // After the declared shutdown ends, a3 counts from its end: 20 minutes, then 45.
        #expect(try await lost("2026-12-14T12:20") == ["a1"])
        #expect(try await lost("2026-12-14T12:45") == ["a1", "a3"])
        // The console's dashboard shows exactly the terminals the rules hold lost.
        // Sorted: filtering a Set can give an array in the Set's (per-process random) order.
        let held = try await store.lostAgents().filter { $0.hasPrefix("a") }.sorted()
        let standing = try await record.findings(.agentIntegrity).map { "\($0.status) \($0.summary)" }
        #expect(held == ["a1", "a3"], "\(held) \(standing)")
        // 第30: the system ended after an earthquake. Terminals quiet since are not lost (those lost before stay
        // lost) until recovery is recorded; then they are judged like the others.
        try await record.add("a4", "2026-12-14 12:50", "operation", "lookup", "P4", "住民", receivedAtEventTime: true)
        try await record.add(
            "kanri-pc", "2026-12-14 13:00", "incident", "quake_shutdown", "unyo01", "本庁舎", receivedAtEventTime: true)
        #expect(try await lost("2026-12-14T14:00") == ["a1", "a3"])
        try await record.add(
            "kanri-pc", "2026-12-14 14:05", "incident", "recovered", "unyo01", "本庁舎", attrs: ["incident": "kanri-pc/1"],
            receivedAtEventTime: true)
        #expect(try await lost("2026-12-14T14:40") == ["a1", "a3", "a4"])
        // Declared shutdowns are recorded with who and why; bad ones change nothing.
        let declared = try await store.shutdowns()
        #expect(declared.count == 2 && declared[1].agents == ["a3"] && declared[1].declaredBy == "kanri01")
        await #expect(throws: KirokuError.self) {
            _ = try await store.declareShutdown(
                agents: ["a1"], from: Timestamp(date: Self.at("2026-12-14T12:00")),
                to: Timestamp(date: Self.at("2026-12-14T11:00")),
                reason: "逆", by: "kanri01")
        }
        await #expect(throws: KirokuError.self) {
            _ = try await store.declareShutdown(
                agents: [], from: Timestamp(date: Self.at("2026-12-14T10:00")),
                to: Timestamp(date: Self.at("2026-12-14T11:00")),
                reason: "空", by: "kanri01")
        }
        #expect(try await store.shutdowns().count == 2)
        var query = EventQuery()
        query.action = "shutdown_declared"
        #expect(try await store.query(query).events.map(\.actor) == ["kanri01", "kanri01"])
    }

    @Test(
        "A 第30 shutdown excuses the terminals that went quiet with it until its own recovery; overlapping declared shutdowns are not counted twice"
    )
    func quakeAndOverlaps() async throws {
        let record = try RuleTests.Record(try TempDir("quake"))
        func lost(_ now: String) async throws -> [String] {
            try await record.store.evaluateRules(RuleTests.settings, now: Self.at(now))
            return try await record.findings(.agentIntegrity, status: .open).filter {
                $0.summary.contains("has not been heard from")
            }
            .map { String($0.summary.prefix(2)) }.filter { $0.hasPrefix("a") }.sorted()
        }
        // Monday 2026-12-14: a1 falls quiet at 09:00, the system is ended under 第30 at 09:10; a2 keeps
        // working until 10:30 and then falls quiet too — not because of the earthquake.
        try await record.add("a1", "2026-12-14 09:00", "operation", "logout", "P1", "端末", receivedAtEventTime: true)
        try await record.add(
            "kanri-pc", "2026-12-14 09:10", "incident", "quake_shutdown", "unyo01", "本庁舎", receivedAtEventTime: true)
        try await record.add("t9", "2026-12-14 09:20", "incident", "fault", "system", "プリンタ", receivedAtEventTime: true)
        try await record.add(
            // another fault's
            "t9", "2026-12-14 09:30", "incident", "recovered", "system", "プリンタ", receivedAtEventTime: true)
        try await record.add("a2", "2026-12-14 10:30", "operation", "logout", "P2", "端末", receivedAtEventTime: true)
        #expect(try await lost("2026-12-14T11:30") == ["a2"])
        try await record.add(
            "kanri-pc", "2026-12-14 11:40", "incident", "recovered", "unyo01", "本庁舎", attrs: ["incident": "kanri-pc/1"],
            receivedAtEventTime: true)
        #expect(try await lost("2026-12-14T11:45") == ["a1", "a2"])

        // Tuesday: a3 quiet from 09:00 under two overlapping shutdowns, 09:00–10:00 for all and 09:30–10:30 for
        // it: 90 minutes excused, not 120. At 11:05 it has been quiet 35 open minutes outside them.
        try await record.add("a3", "2026-12-15 09:00", "operation", "logout", "P3", "端末", receivedAtEventTime: true)
        for (agents, from, to) in [
            (["*"], "2026-12-15T09:00", "2026-12-15T10:00"), (["a3"], "2026-12-15T09:30", "2026-12-15T10:30"),
        ] {
            _ = try await record.store.declareShutdown(
                agents: agents, from: Timestamp(date: Self.at(from)), to: Timestamp(date: Self.at(to)), reason: "点検",
                by: "kanri01",
                now: Self.at("2026-12-15T08:00"))
        }
        #expect(try await lost("2026-12-15T10:50").contains("a3") == false)
        #expect(try await lost("2026-12-15T11:05").contains("a3"))
    }

    @Test(
        "An agent stopped with SIGTERM tells the hub before it exits; with the hub away it exits within its bounded wait, and tells it at the next start"
    )
    func stoppedReachesTheHub() async throws {
        let temp = try TempDir("stopped")
        let pki = try TestPKI(in: temp)
        try pki.agent("counter-07")
        try pki.person("kanri01")
        let hub = try await HubProcess(pki: pki, temp: temp)
        defer { hub.stop() }
        let queries = HubQueries(
            connection: try HubConnection(
                baseURL: hub.url,
                credentials: ClientCredentials(
                    caPath: pki.caPath, certificatePath: pki.certPath(.person, "kanri01"),
                    keyPath: pki.keyPath(.person, "kanri01"))))
        defer { Task { await queries.connection.shutdown() } }
        func actions() async throws -> [String] {
            try await queries.events(["agent": "counter-07"]).events.map(\.action)
        }
        // A minute to tell the hub (5 s by default): on a loaded machine a new handshake, the state and the batch
        // can take longer than that, and this half is about the hub hearing it.
        let patient = try agentConfig(
            "counter-07", pki: pki, temp: temp, hubURL: hub.url, extra: ["stop_flush_seconds": 60])
        let agent = try await AgentProcess(
            config: patient, socket: temp.file("counter-07/ingest.sock"), temp: temp, name: "agent")
        #expect(await eventually { (try? await actions())?.contains("started") == true })
        agent.stop()  // returns once the process has exited
        #expect(try await actions().last == "stopped", "the hub heard it before the agent exited")

        // The hub away: the agent still exits (bounded wait), and its last word arrives with the next start.
        let away = temp.file("counter-07-away.json")
        try FileManager.default.moveItem(
            atPath: try agentConfig("counter-07", pki: pki, temp: temp, hubURL: "https://127.0.0.1:9"), toPath: away)
        // the file agentConfig writes, with the default wait
        let config = try agentConfig("counter-07", pki: pki, temp: temp, hubURL: hub.url)
        let offline = try await AgentProcess(
            config: away, socket: temp.file("counter-07/ingest.sock"), temp: temp, name: "agent-offline")
        offline.stop()  // returns: the wait for an unreachable hub is bounded
        #expect(try await actions().filter { $0 == "stopped" }.count == 1)
        let again = try await AgentProcess(
            config: config, socket: temp.file("counter-07/ingest.sock"), temp: temp, name: "agent-again")
        defer { again.stop() }
        #expect(await eventually { (try? await actions())?.filter { $0 == "stopped" }.count == 2 })
    }

    @Test(
        "The 対応マニュアル of an incident type is registered by the 管理者 only and shown with the findings on incidents of that type"
    )
    func manuals() async throws {
        let temp = try TempDir("manuals")
        let pki = try TestPKI(in: temp)
        for id in ["kanri01", "unyo01"] { try pki.person(id) }
        // The record as a hub would hold it: a fire nobody reported, judged, before the hub starts on it.
        let findingID: Int64
        do {
            let record = try RuleTests.Record(temp, path: temp.file("hub/record.sqlite"))
            _ = try await record.store.importRegister(
                .people, csv: "person_id,name,role,left\nkanri01,山田,管理者,\nunyo01,高橋,運用管理者,\n", by: "kanri01")
            try await record.add("room", "2026-12-10 10:00", "incident", "fire", "P1", "電算室 分電盤")
            try await record.store.evaluateRules(RuleTests.settings, now: Self.at("2026-12-10T11:00"))
            let found = try await record.findings(.incidentNotReported)
            #expect(found.count == 1)
            findingID = try #require(found.first).id
        }
        let hub = try await HubProcess(pki: pki, temp: temp)
        defer { hub.stop() }
        let ctl = Binaries.path("kirokuctl")
        func run(_ id: String, _ arguments: [String]) async throws -> Outcome {
            try await runProgram(
                ctl, arguments + ["--hub", hub.url, "--pki", pki.dir.path, "--as", id],
                environment: ["KIROKU_LANG": "ja"])
        }
        let pdf = temp.file("火災対応マニュアル.pdf")
        try Data("%PDF-1.4\n火災時の手順\n%%EOF\n".utf8).write(to: URL(filePath: pdf))
        let refused = try await run("unyo01", ["manuals", "set", "fire", pdf])
        #expect(refused.status != 0 && refused.stderr.contains("not_permitted"), "\(refused.stderr)")
        let unknown = try await run("kanri01", ["manuals", "set", "volcano", pdf])
        #expect(unknown.status != 0 && unknown.stderr.contains("not_found"), "\(unknown.stderr)")
        let set = try await run("kanri01", ["manuals", "set", "fire", pdf])
        #expect(set.status == 0 && set.stdout.contains("fire のマニュアル：SHA-256"), "\(set.stdout)\(set.stderr)")
        let listed = try await run("unyo01", ["manuals", "list"])
        #expect(
            listed.stdout.contains("火災対応マニュアル.pdf") && listed.stdout.contains("対応マニュアル 1 件")
                && listed.stdout.contains("種類"), "\(listed.stdout)")
        let page = try await runProgram(
            "/usr/bin/curl",
            [
                "-sS", "--cacert", pki.caPath, "--cert", pki.certPath(.person, "unyo01"), "--key",
                pki.keyPath(.person, "unyo01"), "\(hub.url)/findings/\(findingID)",
            ])
        #expect(
            page.stdout.contains("対応マニュアル") && page.stdout.contains("/v1/manuals/fire/file")
                && page.stdout.contains("火災対応マニュアル.pdf"), "\(page.stdout)")
        let file = try await runProgram(
            "/usr/bin/curl",
            [
                "-sS", "--cacert", pki.caPath, "--cert", pki.certPath(.person, "unyo01"), "--key",
                pki.keyPath(.person, "unyo01"), "\(hub.url)/v1/manuals/fire/file",
            ])
        #expect(file.stdout.contains("火災時の手順"))
        let fetched = try await run("unyo01", ["manuals", "fetch", "fire", "--out", temp.file("受領")])
        #expect(
            fetched.status == 0
                && (try? String(contentsOfFile: temp.file("受領/manual-fire.pdf"), encoding: .utf8))?.contains("火災時の手順")
                    == true,
            "\(fetched.stderr)")
    }
}
