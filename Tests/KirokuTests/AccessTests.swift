import Foundation
import KirokuAgent
import KirokuClient
import KirokuControl
import KirokuHub
import KirokuProtocol
import KirokuTestSupport
import NIOHTTP1
import Testing

/// People's roles (PROTOCOL.md §11): the people register decides what each person
/// certificate may do; the 会議 reads everything, an 操作者 only their own record.
@Suite("Roles from the people register")
struct AccessTests {
    @Test("Each role gets what the standard gives it, over the wire and through curl")
    func rolesEnforced() async throws {
        let temp = try TempDir("access")
        let pki = try TestPKI(in: temp)
        try pki.agent("counter-01")
        let people = ["kanri01", "kaigi01", "pin01", "unyo01", "P1000", "V-NEC-03", "gone01", "stranger01"]
        for id in people { try pki.person(id) }
        // Built in this process (HubApp.build), over real mutual TLS: roles need no process of their own.
        let hub = try await InProcessHub(pki: pki, temp: temp)
        defer { hub.stop() }
        func connect(_ id: String) throws -> HubQueries {
            HubQueries(
                connection: try HubConnection(
                    baseURL: hub.url,
                    credentials: ClientCredentials(
                        caPath: pki.caPath, certificatePath: pki.certPath(.person, id),
                        keyPath: pki.keyPath(.person, id))))
        }
        var as_: [String: HubQueries] = [:]
        for id in people { as_[id] = try connect(id) }
        let agent = try HubConnection(
            baseURL: hub.url,
            credentials: ClientCredentials(
                caPath: pki.caPath, certificatePath: pki.certPath(.agent, "counter-01"),
                keyPath: pki.keyPath(.agent, "counter-01")))
        let connections = as_.values.map(\.connection) + [agent]
        defer { Task { for connection in connections { await connection.shutdown() } } }
        func code(_ body: () async throws -> Void) async -> ErrorCode? {
            do { try await body(); return nil } catch let error as KirokuError { return error.code } catch {
                return .internalError
            }
        }
        func message(_ body: () async throws -> Void) async -> String {
            do { try await body(); return "" } catch let error as KirokuError { return error.message } catch {
                return "\(error)"
            }
        }
        let chain = makeChain(agent: "counter-01", count: 4)  // lookups by P1000 … P1003
        _ = try await agent.request(
            .POST, "/v1/agent/batches",
            body: Batch.encodeBody(
                agent: "counter-01", sentAt: "2026-11-27T09:00:00.000+09:00", headSeq: 4,
                canonicalEvents: chain.map { $0.canonicalBytes(includingHash: true) }))

        // A new hub: the people register is empty and every person may do everything (first start).
        let kanri = as_["kanri01"]!
        #expect(try await as_["stranger01"]!.me().status == "unenforced")
        #expect(try await as_["P1000"]!.events([:]).events.count == 4)

        // A people register without its importer would lock the 管理者 out: refused, nothing changed.
        let withoutMe = "person_id,name,role,left\nkaigi01,佐藤,会議,\n"
        #expect(
            await code { _ = try await kanri.importRegister("people", csv: Array(withoutMe.utf8)) } == .notPermitted)
        #expect(try await kanri.exportRegister("people").count < 60)  // the header only
        #expect(try await as_["stranger01"]!.me().status == "unenforced")
        // Unknown roles are refused with the line and the roles there are.
        let typo = "person_id,name,role,left\nkanri01,山田,管理官,\n"
        let typoMessage = await message { _ = try await kanri.importRegister("people", csv: Array(typo.utf8)) }
        #expect(typoMessage.contains("line 2") && typoMessage.contains("暗証番号管理者 (pin_manager)"))

        let yesterday = BusinessCalendar.day(Int64(Date().addingTimeInterval(-86_400).timeIntervalSince1970 * 1000))
        let register = """
            person_id,name,role,left
            kanri01,山田 管理者,管理者,
            kaigi01,佐藤 部長,会議,
            pin01,鈴木 課長,暗証番号管理者,
            unyo01,高橋 課長,運用管理者;会議,
            P1000,田中 操作者,操作者,
            V-NEC-03,日本電算,contractor,
            gone01,伊藤 (異動),操作者,\(yesterday)

            """
        let imported = try await kanri.importRegister("people", csv: Array(register.utf8))
        #expect(imported.added == 7)

        // Who am I.
        let me = try await as_["unyo01"]!.me()
        #expect(me.status == "staff" && me.roles == ["運用管理者", "会議"])
        #expect(me.permissions?.contains("replace the stock register") == true)
        #expect(me.permissions?.contains("replace the permits register") == false)
        #expect(try await as_["stranger01"]!.me().status == "unknown")
        #expect(try await as_["gone01"]!.me().left == yesterday)
        func kirokuctl(_ id: String, _ arguments: [String]) async throws -> Outcome {
            try await runProgram(
                Binaries.path("kirokuctl"),
                arguments + [
                    "--hub", hub.url, "--ca", pki.caPath, "--cert", pki.certPath(.person, id), "--key",
                    pki.keyPath(.person, id),
                ])
        }
        let whoami = try await kirokuctl("P1000", ["whoami"])
        #expect(whoami.status == 0 && whoami.stdout == "P1000: 操作者\n  できること：自分の記録を閲覧する\n", "\(whoami.stdout)")
        let english = try await kirokuctl("P1000", ["whoami", "--lang", "en"])
        #expect(
            english.status == 0 && english.stdout == "P1000: 操作者\n  may read one's own record\n", "\(english.stdout)")
        #expect(try await kirokuctl("gone01", ["whoami"]).stdout.contains("\(yesterday) に離任"))
        let refused = try await kirokuctl("P1000", ["agents"])
        #expect(
            refused.status == 2 && refused.stderr.contains("not_permitted: P1000 (操作者) may not read the record"),
            "\(refused.stderr)")

        // The 会議 reads everything but changes nothing it is not given.
        let kaigi = as_["kaigi01"]!
        #expect(try await kaigi.events([:]).events.count >= 4)
        #expect(!(try await kaigi.agents()).isEmpty)
        _ = try await kaigi.findings(status: nil, rule: nil)
        _ = try await kaigi.exportRegister("people")
        let permits = "permit_id,person,room,valid_from,valid_to\nR-1,P1000,電算室,2026-04-01,\n"
        #expect(await code { _ = try await kaigi.importRegister("permits", csv: Array(permits.utf8)) } == .notPermitted)
        #expect(await code { _ = try await kaigi.placeHold(["actor": "P1000"], reason: "調査") } == .notPermitted)
        // Cosigning is the 会議's: the hub gets past the role and judges the (bad) note itself.
        #expect(
            await code {
                _ = try await kaigi.connection.request(
                    .POST, "/v1/log/cosignature", body: Array("x".utf8),
                    headers: [("Content-Type", SignedNote.mediaType)])
            } == .badCheckpoint)

        // The 暗証番号管理者 keeps the operator cards (第16), the 運用管理者 the 住基カード stock (第18).
        let cards = "card_id,holder,state,since\nC-1001,P1000,active,2026-04-01\n"
        #expect(try await as_["pin01"]!.importRegister("cards", csv: Array(cards.utf8)).added == 1)
        #expect(
            await code { _ = try await as_["pin01"]!.importRegister("permits", csv: Array(permits.utf8)) }
                == .notPermitted)
        let stock = "card_no,state,since,location\n住基カード-000123,stock,2026-11-01,金庫A\n"
        #expect(try await as_["unyo01"]!.importRegister("stock", csv: Array(stock.utf8)).added == 1)
        #expect(
            await code { _ = try await as_["unyo01"]!.importRegister("cards", csv: Array(cards.utf8)) } == .notPermitted
        )
        // The 管理者 does what the 管理者 does.
        #expect(try await kanri.importRegister("permits", csv: Array(permits.utf8)).added == 1)
        #expect(
            await code { _ = try await kanri.placeHold(["actor": "P1001"], reason: "第21\u{0}調査") } == .malformedRequest)
        let hold = try await kanri.placeHold(["actor": "P1001"], reason: "第21 調査")
        #expect(hold.reason == "第21 調査")

        // An 操作者 sees their own record only; a contractor too (here: nothing).
        let own = try await as_["P1000"]!.events([:]).events
        #expect(own.count == 1 && own.allSatisfy { $0.actor == "P1000" })
        let asked = await message { _ = try await as_["P1000"]!.events(["actor": "P1001"]) }
        #expect(asked.contains("only their own record"))
        #expect(await code { _ = try await as_["P1000"]!.agents() } == .notPermitted)
        #expect(await code { _ = try await as_["P1000"]!.findings(status: nil, rule: nil) } == .notPermitted)
        #expect(await code { _ = try await as_["P1000"]!.exportRegister("people") } == .notPermitted)
        let evidence = try JSONParser.parse(try await as_["P1000"]!.evidence([:]))
        guard case .object(let bundle) = evidence, case .array(let proven)? = bundle["events"] else {
            Issue.record("no evidence bundle")
            return
        }
        #expect(proven.count == 1)
        #expect(try await as_["V-NEC-03"]!.events([:]).events.isEmpty)
        // Someone who left, and someone never registered, get nothing.
        #expect(await message { _ = try await as_["gone01"]!.events([:]) }.contains("left on \(yesterday)"))
        #expect(await message { _ = try await as_["stranger01"]!.agents() }.contains("not in the people register"))

        // curl, a client no one here wrote: the operator's certificate on /v1/agents gets 403 not_permitted.
        let curl = try await runProgram(
            "/usr/bin/curl",
            [
                "-sS", "-w", "\n%{http_code}", "--cacert", pki.caPath, "--cert", pki.certPath(.person, "P1000"),
                "--key",
                pki.keyPath(.person, "P1000"), "\(hub.url)/v1/agents",
            ])
        #expect(curl.stdout.hasSuffix("\n403") && curl.stdout.contains("\"code\":\"not_permitted\""))

        // Judging past days again (after the permits register came in) is for those who act on findings.
        let rejudged = try await kirokuctl(
            "kanri01", ["findings", "rejudge", "--from", "2026-11-26", "--to", "2026-11-27"])
        #expect(
            rejudged.status == 0 && rejudged.stdout.contains("2026-11-26  (1/2)")
                && rejudged.stdout.contains("2 日を判定し直しました"), "\(rejudged.stdout)\(rejudged.stderr)")
        #expect(
            try await kirokuctl("kaigi01", ["findings", "rejudge", "--from", "2026-11-27"]).stderr.contains(
                "not_permitted"))
        #expect(
            try await kirokuctl("kanri01", ["findings", "rejudge", "--from", "2026-11-27", "--to", "2026-11-01"]).status
                == 64
        )
        // A range into the future is refused before any day is judged (it once judged the past days, then failed).
        let future = try await kirokuctl(
            "kanri01", ["findings", "rejudge", "--from", "2026/11/26", "--to", "2999-01-01"])
        #expect(
            future.status == 64 && future.stderr.contains("has not come yet") && !future.stdout.contains("2026-11-26"),
            "\(future.stdout)\(future.stderr)")

        // What each did is on the record, under their own id: people, cards, stock, permits; the refused imports left no trace.
        let records = try await kaigi.events(["kind": "record", "action": "register_imported"]).events
        #expect(
            try await kaigi.events(["kind": "record", "action": "rules_rejudged"]).events.map(\.subject) == [
                "2026-11-26", "2026-11-27",
            ])
        #expect(records.map(\.actor) == ["kanri01", "pin01", "unyo01", "kanri01"])
    }

    @Test("Role labels: a municipality's own names, the standard's by default; mistakes refused")
    func roleLabels() async throws {
        let standard = RoleLabels()
        #expect(standard.roles("管理者;会議") == [.administrator, .meeting])
        #expect(standard.roles("operator") == [.operator])
        #expect(standard.roles("課長") == nil && standard.roles("") == nil)
        let own = try JSONDecoder().decode(RoleLabels.self, from: Data(#"{"administrator": "情報政策課長"}"#.utf8))
        #expect(
            own.roles("情報政策課長") == [.administrator] && own.roles("管理者") == nil
                && own.roles("administrator") == [.administrator])
        let csv = "person_id,name,role,left\nk1,山田,情報政策課長,\n"
        #expect(try HubStore.parseRegister(.people, csv: csv, labels: own).count == 1)
        #expect(throws: KirokuError.self) { try HubStore.parseRegister(.people, csv: csv) }
        // Labels changed after the register was loaded: the hub names the people it can no longer place
        // (logged at start; they would be refused everything).
        let store = try HubStore.open(path: try TempDir("labels").file("record.sqlite"))
        _ = try await store.importRegister(.people, csv: csv + "k2,佐藤,会議,\n", by: "k1", labels: own)
        #expect(try store.peopleWithUnknownRoles(labels: own).isEmpty)
        #expect(try store.peopleWithUnknownRoles(labels: RoleLabels()) == ["k1: 情報政策課長"])
        #expect(throws: (any Error).self) {
            try JSONDecoder().decode(RoleLabels.self, from: Data(#"{"boss": "課長"}"#.utf8))
        }
        #expect(throws: (any Error).self) {
            try JSONDecoder().decode(RoleLabels.self, from: Data(#"{"administrator": "会議"}"#.utf8))
        }
        // What each role may do, as the standard gives it.
        #expect(Staff(id: "x", roles: [.meeting]).permissions == [.readRecord, .cosign])
        #expect(Staff(id: "x", roles: [.operator]).permissions == [.ownRecord])
        #expect(Staff(id: "x", roles: [.pinManager]).permissions.contains(.writeRegister(.cards)))
        #expect(!Staff(id: "x", roles: [.pinManager]).permissions.contains(.writeRegister(.people)))
        #expect(
            Staff(id: "x", roles: [.administrator]).permissions.isSuperset(of: [
                .manageRetention, .actOnFindings, .writeRegister(.people),
            ]))
    }
}

/// The example configurations people copy from must load as they are.
@Suite("Example configurations")
struct ExampleConfigurationTests {

    @Test(
        "Hub/hub.example.json, Hub/hub.postgres.example.json and Agent/agent.example.json load, with the keys they show"
    )
    func examplesLoad() throws {
        let hub = try HubConfiguration.load(file: RepositoryFiles.root.appending(path: "Hub/hub.example.json").path)
        #expect(hub.roleLabels.roles("管理者") == [.administrator] && hub.rules.bulkLookupsPerHour == 100)
        #expect(hub.retention != RetentionPolicy())
        #expect(hub.reportTitle.hasSuffix("セキュリティ会議 資料"))
        #expect(hub.alerts?.channels == ["mail", "syslog", "webhook"] && hub.alerts?.mail?.charset == "iso-2022-jp")
        #expect(hub.alerts?.takes(channel: "webhook", rule: "site_audit_overdue", severity: "warning") == true)
        #expect(hub.rules.incidentReportMinutes == 30 && hub.rules.reviewDays == 14)
        let postgres = try HubConfiguration.load(
            file: RepositoryFiles.root.appending(path: "Hub/hub.postgres.example.json").path)
        let location = try #require(try postgres.store?.location())
        #expect(location.host == "db.example.lg.jp" && location.port == 5432 && location.sslMode == .verifyFull)
        #expect(postgres.store?.municipality == "inagi" && postgres.store?.cosigners == ["kaigi01", "kaigi02"])
        #expect(postgres.store?.readers == ["kanri01", "kaigi01", "kaigi02"])
        // A reader or cosigner that no person certificate could name stops the hub, rather than letting no one in
        // without a word.
        for (list, id) in [("readers", "kanri 01"), ("cosigners", "")] {
            #expect {
                _ = try StoreSettings(
                    url: "postgres://kiroku@127.0.0.1/kiroku", scope: "record", municipality: "inagi",
                    cosigners: list == "cosigners" ? [id] : [], readers: list == "readers" ? [id] : [])
            } throws: {
                ($0 as? KirokuError)?.message.contains("store.\(list): '\(id)' is not a person id") == true
            }
        }
        // A setting for what only a hub on SQLite does, beside a PostgreSQL store: refused, not ignored.
        var ignored = postgres
        ignored.givenKeys.insert("retention")
        #expect {
            try ignored.validate()
        } throws: {
            ($0 as? KirokuError)?.message.contains("retention set what a hub on SQLite does") == true
        }
        let agent = try AgentConfiguration.load(
            file: RepositoryFiles.root.appending(path: "Agent/agent.example.json").path)
        #expect(
            agent.files.map(\.format) == ["jsonl", "clamav", "wtmp", "btmp"] && agent.clamscan == "/usr/bin/clamscan")
    }
}
