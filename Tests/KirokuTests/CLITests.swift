import Foundation
import KirokuAgent
import KirokuProtocol
import KirokuTestSupport
import Testing

/// The built binaries, run as a person would: stdout, stderr and exit code.
@Suite("CLIs: kirokuctl and kiroku-agent as people use them")
struct CLITests {
    @Test(
        "kirokuctl, kiroku-agent and kiroku-hub --help in Japanese by default and in English with --lang en: every command, every option and argument",
        arguments: ["kirokuctl", "kiroku-agent", "kiroku-hub"])
    func helpInBothLanguages(program: String) async throws {
        let binary = Binaries.path(program)
        /// The overview and each option's or argument's text of one help page (wrapped lines joined), by name.
        func page(_ command: [String], _ language: String) async throws -> (
            overview: String, entries: [String: String], subcommands: [String]
        ) {
            let outcome = try await runProgram(binary, command + ["--help"], environment: ["KIROKU_LANG": language])
            #expect(outcome.status == 0, "\(command): \(outcome.stderr)")
            var overview = ""
            var section = ""
            var entries: [(String, String)] = []
            var subcommands: [String] = []
            for line in outcome.stdout.split(separator: "\n", omittingEmptySubsequences: false).map(String.init) {
                // A long first word (Japanese has no spaces to wrap at) puts the overview on the next line.
                if line.hasPrefix("OVERVIEW:") {
                    overview = String(line.dropFirst("OVERVIEW:".count)); section = "OVERVIEW"; continue
                }
                if section == "OVERVIEW" && overview.trimmingCharacters(in: .whitespaces).isEmpty { overview = line }
                if let header = line.firstMatch(of: /^([A-Z]+):/) { section = String(header.1); continue }
                guard ["OPTIONS", "ARGUMENTS", "SUBCOMMANDS"].contains(section), !line.isEmpty else { continue }
                if let start = line.firstMatch(of: /^  ([-<a-z][^ ]*(?: <[^>]+>)?)(?: \(default\))?(?: {2,}(.*))?$/) {
                    entries.append((String(start.1), String(start.2 ?? "")))
                    if section == "SUBCOMMANDS" { subcommands.append(String(start.1)) }
                } else if !entries.isEmpty {
                    entries[entries.count - 1].1 += " " + line.trimmingCharacters(in: .whitespaces)
                }
            }
            return (overview, Dictionary(entries, uniquingKeysWith: { first, _ in first }), subcommands)
        }
        func japanese(_ text: String) -> Bool {
            text.unicodeScalars.contains {
                (0x3000...0x9FFF).contains($0.value) || (0xFF00...0xFFEF).contains($0.value)
            }
        }
        var pending: [[String]] = [[]]
        var seen = 0
        while let command = pending.popLast() {
            let ja = try await page(command, "ja")
            let en = try await page(command, "en")
            seen += 1
            #expect(japanese(ja.overview) && ja.overview != en.overview, "\(command): \(ja.overview) / \(en.overview)")
            #expect(Set(ja.entries.keys) == Set(en.entries.keys), "\(command)")
            for (name, text) in ja.entries where !["-h, --help", "--version", "help"].contains(name) {
                #expect(
                    japanese(text) && text != en.entries[name],
                    "\(program) \(command.joined(separator: " ")) \(name): '\(text)' has no Japanese")
                #expect(
                    en.entries[name]?.contains(/[A-Za-z]{3}/) == true,
                    "\(program) \(command.joined(separator: " ")) \(name): no English")
            }
            pending += ja.subcommands.filter { $0 != "help" }.map { command + [$0] }
        }
        #expect(
            seen >= ["kirokuctl": 40, "kiroku-agent": 15, "kiroku-hub": 3][program]!, "every command was read (\(seen))"
        )
    }

    @Test("pki: init, issue with 0600 keys, list, revoke by id; errors are clear and change nothing")
    func pki() async throws {
        let temp = try TempDir("cli-pki")
        let ctl = Binaries.path("kirokuctl")
        let dir = temp.file("pki")
        #expect(try await runProgram(ctl, ["pki", "init", "--dir", dir, "--name", "稲城市"]).status == 0)
        let again = try await runProgram(ctl, ["pki", "init", "--dir", dir])
        #expect(again.status != 0 && again.stderr.contains("already exists"))
        #expect(try await runProgram(ctl, ["pki", "issue", "agent", "--dir", dir, "--id", "counter-01"]).status == 0)
        #expect(
            try await runProgram(ctl, ["pki", "issue", "person", "--dir", dir, "--id", "kanri01", "--name", "山田 太郎"])
                .status
                == 0)
        let noName = try await runProgram(ctl, ["pki", "issue", "hub", "--dir", dir])
        #expect(noName.status != 0 && noName.stderr.contains("--dns"))
        let badID = try await runProgram(ctl, ["pki", "issue", "agent", "--dir", dir, "--id", "端末/1"])
        #expect(badID.status != 0 && badID.stderr.contains("pki:"))
        for key in ["ca.key", "agents/counter-01.key", "people/kanri01.key"] {
            let mode = try FileManager.default.attributesOfItem(atPath: "\(dir)/\(key)")[.posixPermissions] as? Int
            #expect(mode == 0o600, "\(key)")
        }
        let list = try await runProgram(ctl, ["pki", "list", "--dir", dir])
        #expect(list.stdout.contains("山田 太郎") && list.stdout.contains("counter-01"))
        #expect(!list.stdout.contains("REVOKED"))
        let revoke = try await runProgram(
            ctl, ["pki", "revoke", "--dir", dir, "--role", "agent", "--id", "counter-01", "--reason", "端末廃棄"])
        #expect(revoke.status == 0 && revoke.stdout.contains("agent counter-01（シリアル "))
        let twice = try await runProgram(ctl, ["pki", "revoke", "--dir", dir, "--role", "agent", "--id", "counter-01"])
        #expect(twice.status != 0)
        #expect(try await runProgram(ctl, ["pki", "list", "--dir", dir]).stdout.contains("REVOKED"))
        // Serials print as two hex digits per byte (docs/ARCHITECTURE.md, stack note 5) and match revoked.txt.
        let revokedText = try String(contentsOfFile: "\(dir)/revoked.txt", encoding: .utf8)
        let serial = try #require(
            revokedText.split(separator: "\n").first { !$0.hasPrefix("#") }?.split(separator: " ").first)
        #expect(serial.count % 2 == 0 && Hex.decode(String(serial)) != nil)
    }

    @Test("kiroku-agent ledger: the paper ledgers as one command each, with the fields the standard asks for")
    func ledger() async throws {
        let temp = try TempDir("cli-ledger")
        let agent = Binaries.path("kiroku-agent")
        let journalPath = temp.file("journal.sqlite")
        let common = ["--id", "serverroom", "--journal", journalPath, "--site", "本庁舎 電算室"]
        let entries: [[String]] = [
            ["room-entry", "--person", "P0012", "--room", "電算室", "--permit", "R-2026-014"],
            ["room-exit", "--person", "P0012", "--room", "電算室"],
            ["card-issue", "--card", "C-1003", "--holder", "P0105", "--by", "P0201"],
            ["card-revoke", "--card", "C-1002", "--holder", "P0102", "--by", "P0201", "--reason", "異動"],
            ["stock-in", "--count", "50", "--lot", "2026-11", "--by", "P0201"],
            ["destroy", "--card", "住基カード-000087", "--method", "裁断", "--by", "P0201", "--witness", "P0012"],
            ["media-out", "--medium", "USB-0007", "--person", "P0012", "--purpose", "バックアップの外部保管"],
            ["media-in", "--medium", "USB-0007", "--person", "P0012"],
        ]
        for entry in entries {
            let outcome = try await runProgram(agent, ["ledger"] + entry + common)
            #expect(outcome.status == 0 && outcome.stdout.hasPrefix("記録しました：連番"), "\(entry): \(outcome.stderr)")
        }
        for refused in [
            ["destroy", "--card", "住基カード-000088", "--by", "P0201"],  // no method (第18②)
            ["destroy", "--card", "住基カード-000088", "--method", " ", "--by", "P0201"],
            ["card-revoke", "--card", "C-1002", "--holder", "P0102", "--by", "P0201"],  // no reason
            ["stock-in", "--count", "0", "--lot", "x", "--by", "P0201"],
            ["media-out", "--medium", "USB-0007", "--person", "P0012", "--purpose", " "],  // no purpose (第15)
        ] {
            let outcome = try await runProgram(agent, ["ledger"] + refused + common)
            #expect(outcome.status == 64, "\(refused): \(outcome.stderr)")
        }
        let events = try Journal.open(path: journalPath, agentID: "serverroom", site: "").allEvents()
        #expect(
            events.map { "\($0.kind)/\($0.action)" } == [
                "access/enter", "access/exit", "card/issue", "card/revoke", "residentcard/stock_in",
                "residentcard/destroy", "media/take_out",
                "media/return",
            ])
        #expect(
            events[6].subject == "USB-0007" && events[6].actor == "P0012"
                && events[6].attrs == ["purpose": "バックアップの外部保管"])
        #expect(
            events[0].actor == "P0012" && events[0].subject == "電算室"
                && events[0].attrs == ["method": "manual_ledger", "permit": "R-2026-014"])
        #expect(events[2].actor == "C-1003" && events[2].subject == "P0105" && events[2].attrs["by"] == "P0201")
        #expect(events[5].subject == "住基カード-000087" && events[5].attrs == ["method": "裁断", "witness": "P0012"])
    }

    @Test("kiroku-agent record: exits 0 only when durable; bad input gets a clear error, exit 64, and writes nothing")
    func record() async throws {
        let temp = try TempDir("cli-record")
        let agent = Binaries.path("kiroku-agent")
        let journalPath = temp.file("journal.sqlite")
        let common = ["--id", "counter-01", "--journal", journalPath, "--site", "本庁舎"]
        let ok = try await runProgram(
            agent,
            ["record"] + common + [
                "--kind", "residentcard", "--action", "destroy", "--actor", "P0201", "--subject", "住基カード-000087",
                "--attr", "method=裁断",
            ])
        #expect(ok.status == 0, "\(ok.stderr)")
        #expect(ok.stdout.hasPrefix("committed seq 1 hash "))
        let cases: [([String], String)] = [
            (["--kind", "access", "--action", "teleport", "--actor", "P1"], "invalid_event"),
            (["--kind", "access", "--action", "enter", "--actor", "P1", "--attr", "noequals"], "KEY=VALUE"),
            (["--kind", "access", "--action", "enter", "--actor", "P1", "--time", "yesterday"], "invalid_event"),
            (["--kind", "nothing", "--action", "enter", "--actor", "P1"], "v1 kinds are"),
            (["--kind", "record", "--action", "purge", "--actor", "P1"], "written by Kiroku itself"),
            (["--kind", "agent", "--action", "loss", "--actor", "P1"], "written by Kiroku itself"),
        ]
        for (arguments, message) in cases {
            let outcome = try await runProgram(agent, ["record"] + common + arguments)
            #expect(outcome.status == 64, "\(arguments)")
            #expect(outcome.stderr.contains(message), "\(outcome.stderr)")
        }
        let journal = try Journal.open(path: journalPath, agentID: "counter-01", site: "")
        #expect(try journal.status().headSeq == 1)
        let event = try #require(try journal.event(seq: 1))
        #expect(event.attrs["method"] == "裁断" && event.site == "本庁舎")
        let status = try await runProgram(agent, ["status"] + common)
        #expect(
            status.stdout.contains("未送信:           1 件") && status.stdout.contains("最後の送信:       なし"),
            "\(status.stdout)")
        let english = try await runProgram(agent, ["status", "--lang", "en"] + common)
        #expect(
            english.stdout.contains("backlog:          1 event(s)")
                && english.stdout.contains("last sync:        never"), "\(english.stdout)")
        // A time typed the way Excel writes dates, and as 和暦: read in JST.
        for (typed, expected) in [
            ("2026/11/27 9:30", "2026-11-27T09:30:00.000+09:00"), ("令和8年11月27日 17:05", "2026-11-27T17:05:00.000+09:00"),
        ] {
            let typedTime = try await runProgram(
                agent,
                ["record"] + common + [
                    "--kind", "access", "--action", "enter", "--actor", "P0012", "--subject", "電算室", "--time", typed,
                ])
            #expect(typedTime.status == 0, "\(typed): \(typedTime.stderr)")
            let head = try journal.status().headSeq
            #expect(try journal.event(seq: head)?.time == expected, "\(typed)")
        }
        let noConfig = try await runProgram(
            agent, ["record", "--kind", "access", "--action", "enter", "--actor", "P1"])
        #expect(noConfig.status == 64 && noConfig.stderr.contains("--config"))
        try Data(#"{"site": "本庁舎"}"#.utf8).write(to: URL(filePath: temp.file("bad.json")))
        let badConfig = try await runProgram(agent, ["status", "--config", temp.file("bad.json")])
        #expect(badConfig.status == 64 && badConfig.stderr.contains("agent_id"), "\(badConfig.stderr)")
        try Data(#"{"agent_id": "counter-01", "heartbeat_seconds": "often"}"#.utf8).write(
            to: URL(filePath: temp.file("bad2.json")))
        let wrongType = try await runProgram(agent, ["status", "--config", temp.file("bad2.json")])
        #expect(wrongType.status == 64 && wrongType.stderr.contains("heartbeat_seconds"), "\(wrongType.stderr)")
        let hub = try await runProgram(Binaries.path("kiroku-hub"), ["run", "--config", temp.file("missing.json")])
        #expect(hub.status != 0 && hub.stderr.contains("cannot read configuration file"))
    }

    @Test("kirokuctl query and agents against a real hub: table, JSON Lines, and CSV with BOM and CRLF for Excel")
    func query() async throws {
        let temp = try TempDir("cli-query")
        let pki = try TestPKI(in: temp)
        try pki.person("kanri01")
        try pki.agent("counter-01")
        let hub = try await HubProcess(pki: pki, temp: temp)
        defer { hub.stop() }
        // Deliver three events through a one-shot agent run.
        let config = try agentConfig("counter-01", pki: pki, temp: temp, hubURL: hub.url)
        let agentBinary = Binaries.path("kiroku-agent")
        for (actor, subject) in [("P0101", "住民票コード 00000000001"), ("00123", "=cmd|' /C calc'!A0"), ("P0101", "端末01")] {
            #expect(
                try await runProgram(
                    agentBinary,
                    [
                        "record", "--config", config, "--kind", "operation", "--action", "lookup", "--actor", actor,
                        "--subject", subject,
                    ]
                ).status == 0)
        }
        let agent = try await AgentProcess(
            config: config, socket: temp.file("counter-01/ingest.sock"), temp: temp, name: "agent")
        defer { agent.stop() }
        let journal = try Journal.open(path: temp.file("counter-01/journal.sqlite"), agentID: "counter-01", site: "")
        #expect(await eventually { (try? journal.status().backlog) == 0 })

        let ctl = Binaries.path("kirokuctl")
        let connection = ["--hub", hub.url, "--pki", pki.dir.path, "--as", "kanri01"]
        // Japanese by default; English with --lang en (anywhere on the line) or KIROKU_LANG=en.
        let table = try await runProgram(
            ctl, ["query"] + connection + ["--kind", "operation"],
            environment: ["KIROKU_LANG": "", "LC_ALL": "", "LANG": "C.UTF-8"])
        #expect(table.status == 0, "\(table.stderr)")
        #expect(
            table.stdout.contains("日時(JST)") && table.stdout.contains("種別/操作")
                && table.stdout.contains("住民票コード 00000000001"), "\(table.stdout)")
        #expect(table.stdout.contains("記録 3 件"), "\(table.stdout)")
        let english = try await runProgram(ctl, ["--lang", "en", "query"] + connection + ["--kind", "operation"])
        #expect(
            english.stdout.contains("time(JST)") && english.stdout.contains("3 event(s)"),
            "\(english.stdout)\(english.stderr)")
        let csvEnglish = try await runProgram(
            ctl, ["query"] + connection + ["--kind", "operation", "--format", "csv", "--lang", "en"])
        #expect(csvEnglish.stdout.hasPrefix("\u{FEFF}time_jst,time,agent,seq"), "\(csvEnglish.stdout.prefix(80))")
        let csvJapanese = try await runProgram(
            ctl, ["query"] + connection + ["--kind", "operation", "--format", "csv"], environment: ["KIROKU_LANG": "ja"]
        )
        #expect(csvJapanese.stdout.hasPrefix("\u{FEFF}日時(JST),日時,端末,連番"), "\(csvJapanese.stdout.prefix(80))")
        #expect(try await runProgram(ctl, ["--lang", "fr", "agents"] + connection).status == 64)

        let jsonl = try await runProgram(ctl, ["query"] + connection + ["--kind", "operation", "--format", "jsonl"])
        let lines = jsonl.stdout.split(separator: "\n")
        #expect(lines.count == 3)
        for line in lines {
            let event = try JSONDecoder().decode(Event.self, from: Data(line.utf8))
            try event.validate()
            #expect(String(decoding: event.canonicalBytes(includingHash: true), as: UTF8.self) == String(line))
        }

        let csv = try await runProgram(ctl, ["query"] + connection + ["--kind", "operation", "--format", "csv"])
        let bytes = Array(csv.stdout.utf8)
        #expect(bytes.starts(with: [0xEF, 0xBB, 0xBF]))
        #expect(csv.stdout.contains("\r\n"))
        #expect(!csv.stdout.replacingOccurrences(of: "\r\n", with: "").contains("\n"))
        #expect(csv.stdout.contains(#","=""00123""","#), "a numeric ID stays text in Excel: the field is =\"00123\"")
        #expect(csv.stdout.contains("'=cmd"), "a formula-looking field is defused")

        let paged = try await runProgram(ctl, ["query"] + connection + ["--limit", "1", "--all", "--format", "jsonl"])
        let pagedCount = paged.stdout.split(separator: "\n").count
        #expect(pagedCount >= 4, "three records plus agent/started at least")

        let agents = try await runProgram(ctl, ["agents"] + connection)
        #expect(agents.status == 0 && agents.stdout.contains("counter-01"))
        let bad = try await runProgram(ctl, ["query"] + connection + ["--from", "昨日"])
        #expect(bad.status == 64 && bad.stderr.contains("bad_query"))
        let wrongRole = try await runProgram(
            ctl,
            [
                "query", "--hub", hub.url, "--ca", pki.caPath, "--cert", pki.certPath(.agent, "counter-01"), "--key",
                pki.keyPath(.agent, "counter-01"),
            ])
        #expect(wrongRole.status == 2 && wrongRole.stderr.contains("wrong_role"))
    }
}
