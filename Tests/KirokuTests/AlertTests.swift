import Foundation
import KirokuClient
import KirokuControl
import KirokuProtocol
import KirokuTestSupport
import NIOHTTP1
import Testing

@testable import KirokuHub

/// Findings pushed as they are raised: mail through a relay that requires STARTTLS, syslog, an HTTPS
/// webhook — each down at first and retried, each delivery in the log (issue 14).
@Suite("Alerts")
struct AlertTests {
    /// A TCP port free on 127.0.0.1 now.
    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var size = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, size) }
        }
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &size) }
        }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    @Test(
        "A critical finding reaches mail (STARTTLS, ISO-2022-JP), syslog and a webhook once each, after each was down; a warning goes nowhere; /metrics counts it"
    )
    func delivered() async throws {
        let temp = try TempDir("alerts")
        let pki = try TestPKI(in: temp)
        try pki.agent("counter-01")
        try pki.person("kanri01")
        let (smtp, syslog, webhook) = (try Self.freePort(), try Self.freePort(), try Self.freePort())
        let config: [String: Any] = [
            "ca": pki.caPath, "certificate": pki.certPath(.hub, "hub"), "private_key": pki.keyPath(.hub, "hub"),
            "alerts": [
                "mail": [
                    "host": "localhost", "port": smtp, "from": "kiroku@city.example.lg.jp",
                    "to": ["joho-kanri@city.example.lg.jp"],
                    "ca": pki.caPath,
                ],
                "syslog": ["host": "127.0.0.1", "port": syslog, "transport": "tcp"],
                "webhook": ["url": "https://localhost:\(webhook)/kiroku", "ca": pki.caPath],
                "retry_max_seconds": 1,
            ],
        ]
        let configFile = temp.file("hub.json")
        try JSONSerialization.data(withJSONObject: config).write(to: URL(filePath: configFile))
        let hub = try await HubProcess(pki: pki, temp: temp, extra: ["--config", configFile, "--log-level", "info"])
        defer { hub.stop() }

        // Six failed logins within ten minutes (第22, critical) and a lookup at night (第20, a warning).
        var chain: [Event] = []
        var previous = Event.genesis
        for (index, time) in [
            "2026-11-27T10:00", "2026-11-27T10:01", "2026-11-27T10:02", "2026-11-27T10:03", "2026-11-27T10:04",
            "2026-11-27T10:05", "2026-11-27T23:30",
        ].enumerated() {
            let event = Event(
                agent: "counter-01", seq: Int64(index + 1), time: "\(time):00.000+09:00", kind: "operation",
                action: index < 6 ? "auth_failure" : "lookup", actor: "P0101", subject: index < 6 ? "" : "住民票コード 1",
                site: "本庁舎",
                attrs: [:], salt: Event.randomSalt(), prev: previous
            ).sealed()
            chain.append(event)
            previous = event.hash
        }
        let agent = try HubConnection(
            baseURL: hub.url,
            credentials: ClientCredentials(
                caPath: pki.caPath, certificatePath: pki.certPath(.agent, "counter-01"),
                keyPath: pki.keyPath(.agent, "counter-01")))
        let queries = HubQueries(
            connection: try HubConnection(
                baseURL: hub.url,
                credentials: ClientCredentials(
                    caPath: pki.caPath, certificatePath: pki.certPath(.person, "kanri01"),
                    keyPath: pki.keyPath(.person, "kanri01"))))
        defer {
            Task {
                await agent.shutdown(); await queries.connection.shutdown()
            }
        }
        _ = try await agent.request(
            .POST, "/v1/agent/batches",
            body: Batch.encodeBody(
                agent: "counter-01", sentAt: Timestamp(date: Date()).rfc3339, headSeq: 7,
                canonicalEvents: chain.map { $0.canonicalBytes(includingHash: true) }))

        // Nobody listening yet: each channel fails and is retried.
        let failed = await eventually {
            let log = hub.child.log
            return ["\"mail\"", "\"syslog\"", "\"webhook\""].allSatisfy { channel in
                log.split(separator: "\n").contains {
                    $0.contains("alert not delivered")
                        && $0.contains("kiroku.alert.channel=\(channel.dropFirst().dropLast())")
                }
            }
        }
        #expect(failed, "\(hub.child.log.suffix(3000))")

        let received = temp.file("received.jsonl")
        let script = RepositoryFiles.root.appending(path: "Tests/Alerts/receivers.py").path
        await untilSpawnIsSafe()
        let receivers = try ChildProcess(
            "/usr/bin/env",
            [
                "python3", script, pki.certPath(.hub, "hub"), pki.keyPath(.hub, "hub"), "\(smtp)", "\(syslog)",
                "\(webhook)", received,
            ],
            log: temp.file("receivers.log"))
        defer { receivers.stop() }
        func lines() -> [[String: Any]] {
            ((try? String(contentsOfFile: received, encoding: .utf8)) ?? "").split(separator: "\n").compactMap {
                try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
            }
        }
        let all = await eventually {
            Set(lines().compactMap { $0["kind"] as? String }) == ["mail", "syslog", "webhook"]
        }
        #expect(all, "\(lines())\n\(receivers.log)\n\(hub.child.log.suffix(3000))")

        let mail = try #require(lines().first { $0["kind"] as? String == "mail" })
        #expect(mail["tls"] as? Bool == true, "sent only after STARTTLS")
        #expect(mail["charset"] as? String == "iso-2022-jp" && mail["seven_bit"] as? Bool == true)
        let subject = mail["subject"] as? String ?? ""
        #expect(subject.contains("重大") && subject.contains("第22") && subject.contains("認証失敗の多発"), "\(subject)")
        let body = mail["body"] as? String ?? ""
        #expect(
            body.contains("P0101 の認証失敗が") && body.contains("条項: 第22")
                && body.contains("(English) 6 authentication failures"), "\(body)")
        #expect(mail["rcpt"] as? [String] == ["joho-kanri@city.example.lg.jp"])
        let line = try #require(lines().first { $0["kind"] as? String == "syslog" }?["message"] as? String)
        #expect(
            line.hasPrefix("<106>1 ") && line.contains("kiroku-hub - FINDING [kiroku@32473 finding=")
                && line.contains("rule=\"auth_failure_burst\"")
                && line.contains("\u{FEFF}[記録 Kiroku] 重大"), "\(line)")
        let hook = try #require(lines().first { $0["kind"] as? String == "webhook" })
        let finding = (hook["body"] as? [String: Any])?["finding"] as? [String: Any]
        #expect(
            hook["path"] as? String == "/kiroku" && finding?["rule"] as? String == "auth_failure_burst"
                && finding?["article"] as? String == "第22")

        // Each delivery is in the log; the warning went nowhere, and nothing went twice.
        let sent = await eventually {
            (try? await queries.events(["agent": "hub", "action": "alert_sent"]).events.count) == 3
        }
        #expect(sent)
        let events = try await queries.events(["agent": "hub", "action": "alert_sent"]).events
        #expect(
            Set(events.map { $0.attrs["channel"] ?? "" }) == ["mail", "syslog", "webhook"]
                && events.allSatisfy { $0.attrs["rule"] == "auth_failure_burst" })
        #expect(events.allSatisfy { Int($0.attrs["attempts"] ?? "") ?? 0 >= 2 }, "delivered on a retry")
        #expect(lines().count == 3, "\(lines())")
        #expect(
            try await queries.findings(status: "open", rule: "out_of_hours").count == 1,
            "the warning was raised, and not sent")

        let metrics = String(decoding: try await queries.connection.request(.GET, "/metrics"), as: UTF8.self)
        #expect(
            metrics.contains("kiroku_findings_open{severity=\"critical\",article=\"第22\"} 1"), "\(metrics.suffix(2000))"
        )
        #expect(metrics.contains("kiroku_findings_open{severity=\"warning\",article=\"第20\"} 1"))
    }

    @Test(
        "Alert settings are read fail-closed: unknown keys, a webhook in clear, a bad address or rule stop the hub with the reason"
    )
    func settingsRefused() throws {
        func load(_ alerts: String) throws -> HubConfiguration {
            let temp = try TempDir("alert-settings")
            let file = temp.file("hub.json")
            try #"{"ca": "ca.crt", "certificate": "hub.crt", "private_key": "hub.key", "alerts": \#(alerts)}"#.write(
                toFile: file, atomically: true, encoding: .utf8)
            return try HubConfiguration.load(file: file)
        }
        let good = try load(#"{"syslog": {"port": 5514, "transport": "tcp", "rules": ["out_of_hours"]}}"#)
        #expect(good.alerts?.takes(channel: "syslog", rule: "out_of_hours", severity: "warning") == true)
        #expect(good.alerts?.takes(channel: "syslog", rule: "bulk_lookups", severity: "warning") == false)
        #expect(good.alerts?.takes(channel: "syslog", rule: "card_misuse", severity: "critical") == true)
        #expect(good.alerts?.takes(channel: "mail", rule: "card_misuse", severity: "critical") == false)
        for (alerts, says) in [
            (#"{"mial": {}}"#, "unknown key 'mial'"),
            (#"{"webhook": {"url": "http://alerts.example/x"}}"#, "https"),
            (#"{"mail": {"host": "smtp", "from": "kiroku", "to": ["a@b.jp"]}}"#, "not a mail address"),
            (
                #"{"mail": {"host": "smtp", "from": "k@b.jp", "to": ["a@b.jp>\r\nRCPT TO:<x@evil.example"]}}"#,
                "not a mail address"
            ),
            (#"{"syslog": {"rules": ["no_such_rule"]}}"#, "no rule 'no_such_rule'"),
            (#"{"mail": {"host": "smtp", "from": "k@b.jp", "to": ["a@b.jp"], "starttls": "maybe"}}"#, "starttls"),
            (#"{"webhook": {"url": "https://alerts.example/x", "ca": "/etc/hostname"}}"#, "holds no PEM certificate"),
            (#"{"webhook": {"url": "https://alerts.example/x", "ca": "/nonexistent/ca.crt"}}"#, "does not exist"),
        ] {
            do {
                _ = try load(alerts)
                Issue.record("accepted \(alerts)")
            } catch let error as KirokuError {
                #expect(error.code == .configuration && error.message.contains(says), "\(error.message)")
            }
        }
    }

    @Test(
        "A mail's body cannot end the message early: bare CRs and control characters from the record are replaced, lines starting with a dot doubled"
    )
    func noSmuggling() throws {
        for charset in ["iso-2022-jp", "utf-8"] {
            var mail = AlertSettings.Mail(
                host: "smtp.city.example.lg.jp", from: "kiroku@city.example.lg.jp", to: ["kanri@city.example.lg.jp"])
            mail.charset = charset
            let text = try SMTPClient(settings: mail).message(
                subject: "件名", body: "program /opt/x\r.\r\nMAIL FROM:<evil@example>\n.\nベル\u{7}終わり\n.hidden")
            let bytes = Array(text.utf8)
            for (index, byte) in bytes.enumerated() where byte == 13 {
                #expect(index + 1 < bytes.count && bytes[index + 1] == 10, "a bare CR in the \(charset) message")
            }
            #expect(!text.contains("\r\n.\r\n"), "\(charset): a line of one dot would end the DATA")
            #expect(!text.unicodeScalars.contains { $0.value < 0x20 && $0 != "\r" && $0 != "\n" && $0.value != 0x1B })
            if charset == "iso-2022-jp" { #expect(text.contains("\r\n..hidden") && text.contains("\r\n..\r\n")) }
        }
    }
}
