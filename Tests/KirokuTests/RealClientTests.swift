import Foundation
import KirokuPKI
import KirokuProtocol
import KirokuTestSupport
import Testing

/// `curl` and `openssl s_client`, clients no one here wrote, against a real hub.
@Suite("Real TLS clients: curl and openssl s_client")
struct RealClientTests {
    /// curl as the certificate given (or none); `extra` before the URL: headers, a body to POST.
    func curl(
        _ hub: HubProcess, _ pki: TestPKI, cert: String?, key: String?, path: String = "/v1/agents",
        extra: [String] = []
    ) async throws -> Outcome {
        var arguments = ["-sS", "--max-time", "20", "--cacert", pki.caPath, "-w", "\n%{http_code}"]
        if let cert, let key { arguments += ["--cert", cert, "--key", key] }
        return try await runProgram("/usr/bin/curl", arguments + extra + ["\(hub.url)\(path)"])
    }

    func sClient(_ hub: HubProcess, _ pki: TestPKI, cert: String?, key: String?, extra: [String] = []) async throws
        -> Outcome
    {
        var arguments = [
            "s_client", "-connect", "127.0.0.1:\(hub.port)", "-CAfile", pki.caPath, "-verify_return_error", "-ign_eof",
        ]
        if let cert, let key { arguments += ["-cert", cert, "-key", key] }
        // Send a request after the handshake so a refused client certificate (TLS 1.3 reports it after the
        // handshake) is seen as a failure to get an HTTP answer.
        return try await runProgram(
            "/usr/bin/openssl", arguments + extra,
            stdin: "GET /v1/agents HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
    }

    @Test(
        "A hub on PostgreSQL: its readers query and export evidence that verifies, others are refused, people's other routes are not_on_this_store; a store setting that is wrong stops the hub"
    )
    func postgresHub() async throws {
        let temp = try TempDir("pg-hub")
        let pki = try TestPKI(in: temp)
        try pki.person("kanri01")
        try pki.person("kaigi01")
        try pki.person("sousa01")
        try pki.agent("t-1")
        let database = try await TestPostgres.createDatabase()
        let storeEnvironment = [
            "KIROKU_HUB_STORE": database, "KIROKU_HUB_STORE_SCOPE": "record",
            "KIROKU_HUB_STORE_COSIGNERS": "kaigi01", "KIROKU_HUB_STORE_READERS": "kanri01",
            "KIROKU_HUB_STORE_MUNICIPALITY": "test-city",
            "KIROKU_LANG": "en",
        ]
        // The first hub's first start, as Hub/README step 4 says: init begins the municipality's record and
        // binds it to the hub's key, then the hub runs without --new-record.
        let initialized = try await runProgram(
            Binaries.path("kiroku-hub"),
            [
                "init", "--database", temp.file("hub/record.sqlite"), "--ca", pki.caPath, "--cert",
                pki.certPath(.hub, "hub"), "--key", pki.keyPath(.hub, "hub"), "--revocation-list",
                pki.dir.appending(path: "revoked.txt").path,
            ], environment: storeEnvironment)
        #expect(
            initialized.status == 0 && initialized.stdout.contains("municipality test-city"),
            "\(initialized.stdout)\(initialized.stderr)")
        let hub = try await HubProcess(pki: pki, temp: temp, environment: storeEnvironment, newRecord: false)
        defer { hub.stop() }
        #expect(!hub.child.log.contains("new, empty record"), "\(hub.child.log)")
        let (cert, key) = (pki.certPath(.person, "kanri01"), pki.keyPath(.person, "kanri01"))
        // Findings, registers and the console need what this version keeps on SQLite only: refused, and why.
        let findings = try await curl(hub, pki, cert: cert, key: key, path: "/v1/findings")
        #expect(findings.stdout.hasSuffix("\n501"), "\(findings.stdout)")
        #expect(findings.stdout.contains("\"not_on_this_store\""))
        // A person the configuration does not name as a reader reads nothing of the record.
        let stranger = try await curl(
            hub, pki, cert: pki.certPath(.person, "kaigi01"), key: pki.keyPath(.person, "kaigi01"))
        #expect(stranger.stdout.hasSuffix("\n403") && stranger.stdout.contains("store.readers"), "\(stranger.stdout)")
        // The console says the same in Japanese; a person who is not a reader is refused, on a page that links to
        // no page that would refuse the same way.
        let console = try await curl(hub, pki, cert: cert, key: key, path: "/findings")
        #expect(console.stdout.hasSuffix("\n501") && console.stdout.contains("PostgreSQL"), "\(console.stdout)")
        let refused = try await curl(
            hub, pki, cert: pki.certPath(.person, "kaigi01"), key: pki.keyPath(.person, "kaigi01"), path: "/events")
        #expect(refused.stdout.hasSuffix("\n403") && refused.stdout.contains("store.readers"), "\(refused.stdout)")
        #expect(!refused.stdout.contains("href=\"/events\"") && !refused.stdout.contains("ダッシュボードへ"))
        // The log's proofs are served to anyone the CA certified, people included.
        let log = try await curl(hub, pki, cert: cert, key: key, path: "/v1/log/consistency?from=0&to=0")
        #expect(log.stdout.hasSuffix("\n200"), "\(log.stdout)")
        #expect(hub.child.log.contains("the record is on PostgreSQL"))

        // An agent's batch is taken and receipted (curl as the agent), and the 会議's witness checks and cosigns
        // the log; a person the configuration does not name as a cosigner is refused.
        let chain = makeChain(agent: "t-1", count: 5)
        let body = temp.file("batch.json")
        try Data(
            Batch.encodeBody(
                agent: "t-1", sentAt: "2026-11-27T09:00:00.000+09:00", headSeq: 5,
                canonicalEvents: chain.map { $0.canonicalBytes(includingHash: true) })
        ).write(to: URL(filePath: body))
        let json = ["-H", "Content-Type: application/json"]
        let sent = try await curl(
            hub, pki, cert: pki.certPath(.agent, "t-1"), key: pki.keyPath(.agent, "t-1"), path: "/v1/agent/batches",
            extra: json + ["--data-binary", "@\(body)"])
        #expect(sent.stdout.hasSuffix("\n200") && sent.stdout.contains("\"accepted\":5"), "\(sent.stdout)")
        let ctl = Binaries.path("kirokuctl")
        let hubKey = try await runProgram(
            ctl, ["log", "key", "--hub", hub.url, "--pki", pki.dir.path, "--as", "kaigi01"])
        #expect(hubKey.status == 0, "\(hubKey.stderr)")
        let keyText = String(hubKey.stdout.split(separator: " ").first ?? "-")
        #expect(initialized.stdout.contains("The hub's signing key (public): \(keyText)"), "\(initialized.stdout)")
        let witness = temp.file("witness")
        let created = try await runProgram(ctl, ["witness", "init", "--dir", witness, "--name", "kaigi.test/w"])
        #expect(created.status == 0, "\(created.stderr)")
        let witnessKey = String(created.stdout.split(separator: "\n").last ?? "")
        for (person, cosigns) in [("kanri01", false), ("kaigi01", true)] {
            let run = try await runProgram(
                ctl,
                [
                    "witness", "run", "--dir", witness, "--hub-key",
                    String(hubKey.stdout.split(separator: " ").first ?? ""),
                    "--hub", hub.url, "--pki", pki.dir.path, "--as", person,
                ])
            #expect((run.status == 0) == cosigns, "\(person): \(run.stdout)\(run.stderr)")
            #expect(cosigns || run.stderr.contains("not among the cosigners"), "\(run.stderr)")
        }
        // The reader sees the terminal and its events, and exports evidence that both verifiers accept
        // against the hub's key and the witness's.
        let health = try await curl(hub, pki, cert: cert, key: key)
        #expect(health.stdout.hasSuffix("\n200") && health.stdout.contains("\"t-1\""), "\(health.stdout)")
        // In the console too: the dashboard sends the reader to the search (no findings here), which lists the
        // terminal's five events and links only to the pages this hub serves; the CSV has them; the integrity page
        // shows the checkpoint the witness cosigned.
        let start = try await curl(hub, pki, cert: cert, key: key, path: "/")
        #expect(start.stdout.hasSuffix("\n303"), "\(start.stdout)")
        let search = try await curl(hub, pki, cert: cert, key: key, path: "/events?agent=t-1")
        #expect(search.stdout.hasSuffix("\n200") && search.stdout.contains("記録の検索"), "\(search.stdout)")
        #expect(search.stdout.components(separatedBy: "<td>t-1<span class=\"seq\">").count - 1 == 5, "\(search.stdout)")
        #expect(!search.stdout.contains("href=\"/findings\"") && search.stdout.contains("href=\"/integrity\""))
        let table = try await curl(hub, pki, cert: cert, key: key, path: "/events.csv?agent=t-1")
        #expect(
            table.stdout.split(whereSeparator: \.isNewline).filter { $0.contains(",t-1,") }.count == 5,
            "\(table.stdout)")
        // Nobody else reads the record, by any route; the reader changes nothing and sees no page that needs
        // what is kept on SQLite.
        for path in [
            "/v1/events?agent=t-1", "/v1/evidence?agent=t-1", "/events.csv?agent=t-1", "/integrity", "/v1/rules",
        ] {
            let other = try await curl(
                hub, pki, cert: pki.certPath(.person, "kaigi01"), key: pki.keyPath(.person, "kaigi01"), path: path)
            #expect(other.stdout.hasSuffix("\n403") && !other.stdout.contains("P1000"), "\(path): \(other.stdout)")
        }
        // A NUL in a filter (no event holds one, and PostgreSQL cannot compare it) is a bad query, not a failure.
        let nul = try await curl(hub, pki, cert: cert, key: key, path: "/v1/events?actor=a%00b")
        #expect(nul.stdout.hasSuffix("\n400") && nul.stdout.contains("U+0000"), "\(nul.stdout)")
        // A cursor in the CSV's address (it holds every event from the first) is refused, as a wrong one is on
        // the search page.
        let cursor = try await curl(hub, pki, cert: cert, key: key, path: "/events.csv?agent=t-1&cursor=junk")
        #expect(cursor.stdout.hasSuffix("\n400") && cursor.stdout.contains("cursor"), "\(cursor.stdout)")
        // The rules' list too: none run here.
        for path in ["/v1/retention", "/agents", "/reports", "/registers", "/retention", "/v1/rules"] {
            let outcome = try await curl(hub, pki, cert: cert, key: key, path: path)
            #expect(outcome.stdout.hasSuffix("\n501"), "\(path): \(outcome.stdout)")
        }
        let acknowledge = try await curl(
            hub, pki, cert: cert, key: key, path: "/v1/findings/1/acknowledge",
            extra: json + ["--data", #"{"reason": "x"}"#])
        #expect(acknowledge.stdout.hasSuffix("\n501"), "\(acknowledge.stdout)")
        // A form posted from another site with the reader's certificate is refused before any route.
        let crossSite = try await curl(
            hub, pki, cert: cert, key: key, path: "/findings/1/acknowledge",
            extra: ["-H", "Origin: https://evil.example", "--data", "reason=x"])
        #expect(
            crossSite.stdout.hasSuffix("\n403") && crossSite.stdout.contains("cross_site_request"),
            "\(crossSite.stdout)")
        // A person the configuration names nowhere is told so on every route, not that the hub lacks it.
        let hold = try await curl(
            hub, pki, cert: pki.certPath(.person, "sousa01"), key: pki.keyPath(.person, "sousa01"), path: "/v1/holds",
            extra: json + ["--data", #"{"subject": "x", "reason": "x"}"#])
        #expect(hold.stdout.hasSuffix("\n403") && hold.stdout.contains("not_permitted"), "\(hold.stdout)")
        let integrity = try await curl(hub, pki, cert: cert, key: key, path: "/integrity")
        #expect(integrity.stdout.hasSuffix("\n200") && integrity.stdout.contains("連署しています"), "\(integrity.stdout)")
        let asReader = ["--hub", hub.url, "--pki", pki.dir.path, "--as", "kanri01"]
        for (person, words) in [
            ("kanri01", "named in this hub's configuration"), ("sousa01", "not named in this hub's configuration"),
        ] {
            let who = try await runProgram(
                ctl, ["whoami", "--hub", hub.url, "--pki", pki.dir.path, "--as", person],
                environment: ["KIROKU_LANG": "en"])
            #expect(who.stdout.contains(words), "\(person): \(who.stdout)\(who.stderr)")
        }
        let listed = try await runProgram(ctl, ["query", "--agent", "t-1"] + asReader)
        #expect(
            listed.status == 0 && listed.stdout.components(separatedBy: "t-1").count - 1 >= 5,
            "\(listed.stdout)\(listed.stderr)")
        let bundle = temp.file("evidence.json")
        let exported = try await runProgram(ctl, ["export", "--evidence", bundle, "--agent", "t-1"] + asReader)
        #expect(exported.status == 0, "\(exported.stdout)\(exported.stderr)")
        let hubKeyText = String(hubKey.stdout.split(separator: " ").first ?? "")
        let verified = try await runProgram(
            ctl, ["verify", bundle, "--hub-key", hubKeyText, "--witness", witnessKey],
            environment: ["KIROKU_LANG": "en"])
        #expect(verified.status == 0 && verified.stdout.contains("VERIFIED: 5 event(s)"), "\(verified.stdout)")
        let independent = try await runProgram(
            "/usr/bin/env",
            ["python3", RepositoryFiles.pythonVerifier, bundle, "--hub-key", hubKeyText, "--witness", witnessKey])
        #expect(independent.status == 0 && independent.stdout.contains("\nVERIFIED: "), "\(independent.stdout)")

        // The KIROKU_HUB_STORE_* variables are laid over a configuration file's store block too, not only over
        // KIROKU_HUB_STORE: a reader named there that no certificate could carry stops the hub.
        let file = temp.file("hub.json")
        try Data(
            CanonicalJSON.encode(
                .object([
                    "ca": .string(pki.caPath), "certificate": .string(pki.certPath(.hub, "hub")),
                    "private_key": .string(pki.keyPath(.hub, "hub")),
                    "revocation_list": .string(pki.dir.appending(path: "revoked.txt").path),
                    "signing_key": .string(temp.file("file/receipt.key")), "port": .integer(0),
                    "store": .object([
                        "postgres": .string(database), "scope": .string("record"),
                        "municipality": .string("test-city"), "readers": .array([.string("kanri01")]),
                    ]),
                ]))
        ).write(to: URL(filePath: file))
        let overlaid = try await runProgram(
            Binaries.path("kiroku-hub"), ["run", "--config", file],
            environment: ["KIROKU_HUB_STORE_READERS": "kanri 01", "KIROKU_LANG": "en"])
        #expect(
            overlaid.status == 2 && overlaid.stderr.contains("store.readers: 'kanri 01' is not a person id"),
            "\(overlaid.stderr)")

        // Wrong settings stop the hub before it listens, saying what to write.
        let base = [
            "run", "--host", "127.0.0.1", "--port", "0", "--database", temp.file("x/record.sqlite"), "--ca", pki.caPath,
            "--cert", pki.certPath(.hub, "hub"), "--key", pki.keyPath(.hub, "hub"), "--revocation-list",
            pki.dir.appending(path: "revoked.txt").path,
        ]
        let named = ["KIROKU_HUB_STORE_MUNICIPALITY": "test-city", "KIROKU_HUB_STORE_SCOPE": "record"]
        for (environment, words) in [
            (["KIROKU_HUB_STORE": database, "KIROKU_HUB_STORE_MUNICIPALITY": "test-city"], "needs its scope"),
            (
                [
                    "KIROKU_HUB_STORE": database, "KIROKU_HUB_STORE_SCOPE": "everything",
                    "KIROKU_HUB_STORE_MUNICIPALITY": "x",
                ],
                "scope 'everything' is not known"
            ),
            (["KIROKU_HUB_STORE": database, "KIROKU_HUB_STORE_SCOPE": "record"], "municipality"),
            (["KIROKU_HUB_STORE_SCOPE": "record"], "KIROKU_HUB_STORE is not"),
            (named.merging(["KIROKU_HUB_STORE": "mysql://kiroku@db/kiroku"]) { $1 }, "must be a URL like"),
            (
                named.merging(["KIROKU_HUB_STORE": database + "?sslmode=maybe"]) { $1 },
                "sslmode must be disable, require or verify-full"
            ),
            (
                named.merging(["KIROKU_HUB_STORE": database + "?sslmode=require&sslrootcert=\(pki.caPath)"]) { $1 },
                "sslrootcert is used with sslmode=verify-full only"
            ),
            (named.merging(["KIROKU_HUB_STORE": database + "?colour=red"]) { $1 }, "setting 'colour' is not known"),
            // Another signing key (this one is made beside the other database) for the log this database holds:
            // its receipts would not verify beside the first hub's.
            (
                named.merging(["KIROKU_HUB_STORE": database]) { $1 }, "signed as"
            ),
            // A municipality the database holds no record of (a typo, or another database): not a new record
            // begun unasked.
            (
                named.merging(["KIROKU_HUB_STORE": database, "KIROKU_HUB_STORE_MUNICIPALITY": "test-ctiy"]) { $1 },
                "this database holds no record of the municipality 'test-ctiy' (it holds 'test-city'): if this is the first hub's first start, create it with `kiroku-hub init`"
            ),
        ] {
            let outcome = try await runProgram(
                Binaries.path("kiroku-hub"), base, environment: environment.merging(["KIROKU_LANG": "en"]) { $1 })
            #expect(outcome.status == 2, "\(environment): \(outcome.stderr)")
            #expect(outcome.stderr.contains(words), "\(environment): \(outcome.stderr)")
        }
        // A server not reached is a passing state, not a setting: exit status 75, which the unit restarts.
        let unreachable = try await runProgram(
            Binaries.path("kiroku-hub"), base,
            environment: named.merging([
                "KIROKU_HUB_STORE": "postgres://kiroku@127.0.0.1:1/kiroku", "KIROKU_LANG": "en",
            ]) { $1 })
        #expect(
            unreachable.status == 75 && unreachable.stderr.contains("cannot use the PostgreSQL store"),
            "\(unreachable.status): \(unreachable.stderr)")
        // kiroku-hub init begins a municipality's record once: on the one held, it changes nothing.
        let again = try await runProgram(
            Binaries.path("kiroku-hub"), ["init"] + base.dropFirst(),
            environment: named.merging(["KIROKU_HUB_STORE": database, "KIROKU_LANG": "en"]) { $1 })
        #expect(
            again.status == 2 && again.stderr.contains("already holds the record of the municipality 'test-city'"),
            "\(again.stderr)")
        let leaves = try await runProgram(
            "/usr/bin/env", ["psql", database, "-tAc", "SELECT count(*) FROM leaves WHERE municipality = 'test-city'"])
        #expect(leaves.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "5", "\(leaves.stdout)")
    }

    @Test("Without a client certificate, with another CA's, expired, or revoked: refused; a valid person: served")
    func refusals() async throws {
        let temp = try TempDir("tls")
        let pki = try TestPKI(in: temp)
        let person = try pki.person("kanri01")
        try pki.person("kaigi01")
        // Issued 400 days ago for 365 days: expired a month ago.
        try pki.ca.issue(role: .person, id: "expired01", days: 365, now: Date().addingTimeInterval(-400 * 86_400))
        let other = try TestPKI(in: temp, name: "other-pki")
        try other.person("kanri01")
        let hub = try await HubProcess(pki: pki, temp: temp)
        defer { hub.stop() }

        // A valid person certificate: HTTP 200 and the JSON list of agents.
        let ok = try await curl(hub, pki, cert: pki.certPath(.person, "kanri01"), key: pki.keyPath(.person, "kanri01"))
        #expect(ok.status == 0)
        #expect(ok.stdout.hasSuffix("\n200"))
        #expect(ok.stdout.contains("\"agents\""))
        let metrics = try await curl(
            hub, pki, cert: pki.certPath(.person, "kanri01"), key: pki.keyPath(.person, "kanri01"), path: "/metrics")
        #expect(metrics.stdout.contains("kiroku_events_ingested_total"))
        let openOK = try await sClient(
            hub, pki, cert: pki.certPath(.person, "kanri01"), key: pki.keyPath(.person, "kanri01"))
        #expect(openOK.stdout.contains("HTTP/1.1 200"))

        // No client certificate.
        let none = try await curl(hub, pki, cert: nil, key: nil)
        #expect(none.status != 0, "curl without a certificate must fail: \(none.stdout)")
        #expect(!none.stdout.contains("200"))
        let openNone = try await sClient(hub, pki, cert: nil, key: nil)
        #expect(!openNone.stdout.contains("HTTP/1.1"))

        // A certificate from another CA.
        let foreign = try await curl(
            hub, pki, cert: other.certPath(.person, "kanri01"), key: other.keyPath(.person, "kanri01"))
        #expect(foreign.status != 0)
        #expect(!foreign.stdout.contains("\"agents\""))
        let openForeign = try await sClient(
            hub, pki, cert: other.certPath(.person, "kanri01"), key: other.keyPath(.person, "kanri01"))
        #expect(!openForeign.stdout.contains("HTTP/1.1"))

        // An expired certificate from the right CA.
        let expired = try await curl(
            hub, pki, cert: pki.certPath(.person, "expired01"), key: pki.keyPath(.person, "expired01"))
        #expect(expired.status != 0)
        #expect(!expired.stdout.contains("\"agents\""))
        let openExpired = try await sClient(
            hub, pki, cert: pki.certPath(.person, "expired01"), key: pki.keyPath(.person, "expired01"))
        #expect(!openExpired.stdout.contains("HTTP/1.1"))

        // Revoked while the hub runs: refused from the next connection, no restart.
        let before = try await curl(
            hub, pki, cert: pki.certPath(.person, "kaigi01"), key: pki.keyPath(.person, "kaigi01"))
        #expect(before.stdout.hasSuffix("\n200"))
        let revoked = try pki.ca.revoke(identity: Identity(role: .person, id: "kaigi01"), reason: "card lost")
        #expect(revoked.count == 1)
        let after = try await curl(
            hub, pki, cert: pki.certPath(.person, "kaigi01"), key: pki.keyPath(.person, "kaigi01"))
        #expect(after.status != 0)
        #expect(!after.stdout.contains("\"agents\""))
        let openRevoked = try await sClient(
            hub, pki, cert: pki.certPath(.person, "kaigi01"), key: pki.keyPath(.person, "kaigi01"))
        #expect(!openRevoked.stdout.contains("HTTP/1.1"))
        #expect(await eventually { hub.child.log.contains("certificate revoked") })
        // Others are unaffected.
        let still = try await curl(
            hub, pki, cert: pki.certPath(.person, "kanri01"), key: pki.keyPath(.person, "kanri01"))
        #expect(still.stdout.hasSuffix("\n200"))
        _ = person
    }

    @Test("TLS 1.0 and 1.1 are refused; TLS 1.2 and 1.3 are served")
    func protocolVersions() async throws {
        let temp = try TempDir("tlsver")
        let pki = try TestPKI(in: temp)
        try pki.person("kanri01")
        let hub = try await HubProcess(pki: pki, temp: temp)
        defer { hub.stop() }
        let cert = pki.certPath(.person, "kanri01")
        let key = pki.keyPath(.person, "kanri01")
        for flag in ["-tls1", "-tls1_1"] {
            let outcome = try await sClient(
                hub, pki, cert: cert, key: key, extra: [flag, "-cipher", "DEFAULT:@SECLEVEL=0"])
            #expect(!outcome.stdout.contains("HTTP/1.1"), "\(flag) must be refused")
        }
        for flag in ["-tls1_2", "-tls1_3"] {
            let outcome = try await sClient(hub, pki, cert: cert, key: key, extra: [flag])
            #expect(outcome.stdout.contains("HTTP/1.1 200"), "\(flag) must be served: \(outcome.stderr)")
        }
    }
}
