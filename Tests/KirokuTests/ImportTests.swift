import Foundation
import KirokuAgent
import KirokuHub
import KirokuProtocol
import KirokuTestSupport
import Testing

/// Office systems' CSV exports through the shipped example profiles (Agent/profiles), in CP932 and UTF-8,
/// with a BOM and CRLF; each file once; a bad row refused with its line and column; all the way to findings.
@Suite("Importing office CSV exports through profiles (Agent/INTEGRATION.md)")
struct ImportTests {
    static func profile(_ name: String) throws -> ImportProfile {
        try ImportProfile.load(path: RepositoryFiles.root.appending(path: "Agent/profiles/\(name).json").path)
    }
    static func sample(_ name: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: RepositoryFiles.root.appending(path: "Agent/profiles/samples/\(name).csv")))
    }

    @Test(
        "Each shipped profile reads its sample the same in UTF-8 with a BOM and CRLF, in CP932 and with LF; times in the source's zone"
    )
    func profiles() async throws {
        for name in ["juki-operation-history", "door-controller", "pc-management"] {
            let profile = try Self.profile(name)
            let utf8 = try Self.sample(name)
            #expect(
                utf8.starts(with: [0xEF, 0xBB, 0xBF]) && String(decoding: utf8, as: UTF8.self).contains("\r\n"),
                "\(name): the sample has a BOM and CRLF")
            let text = String(decoding: utf8.dropFirst(3), as: UTF8.self)
            let cp932 = [UInt8](try #require(text.data(using: .shiftJIS)))
            #expect(String(validating: cp932, as: UTF8.self) == nil, "\(name): the CP932 variant is not UTF-8")
            let lf = [UInt8](text.replacingOccurrences(of: "\r\n", with: "\n").utf8)
            let read = try profile.read(try profile.text(utf8))
            #expect(read.refused.isEmpty, "\(name): \(read.refused)")
            for variant in [cp932, lf] {
                let again = try profile.read(try profile.text(variant))
                #expect(again.drafts.map(\.draft) == read.drafts.map(\.draft) && again.refused.isEmpty, "\(name)")
            }
        }
        let juki = try Self.profile("juki-operation-history").read(
            String(decoding: try Self.sample("juki-operation-history"), as: UTF8.self))
        #expect(juki.drafts.map(\.draft.action) == ["login", "lookup", "lookup", "print", "logout"])
        let lookup = juki.drafts[1].draft
        #expect(
            lookup.time == "2026-11-30T09:01:15.000+09:00" && lookup.subject == "住民票コード 00000000101"
                && lookup.actor == "P0101")
        #expect(
            lookup.attrs == ["terminal": "JUKI-01", "purpose": "住民票の写し等の交付", "source_line": "3"]
                && lookup.site == "本庁舎 市民課")
        #expect(juki.drafts[2].draft.attrs["purpose"] == "", "an empty purpose is kept (keep_empty): it is a finding")
        let door = try Self.profile("door-controller").read(
            String(decoding: try Self.sample("door-controller"), as: UTF8.self))
        #expect(
            door.drafts.map { "\($0.draft.action) \($0.draft.subject) \($0.draft.time!)" } == [
                "enter 電算室 2026-11-30T08:30:05.000+09:00", "exit 電算室 2026-11-30T08:41:30.000+09:00",
                "denied サーバ室 2026-11-30T09:10:00.000+09:00",
            ])
        let pc = try Self.profile("pc-management").read(
            String(decoding: try Self.sample("pc-management"), as: UTF8.self))
        #expect(
            pc.drafts.map { "\($0.draft.kind)/\($0.draft.action)" } == [
                "operation/login", "config/device_attached", "config/device_removed", "operation/logout",
            ])
        #expect(
            pc.drafts[1].draft.attrs["vendor"] == "0781" && pc.drafts[1].draft.time == "2026-11-30T10:02:10.000+09:00")
        // A source in UTC: its wall time is moved, and kept with its own offset.
        let utc = try JSONDecoder().decode(
            ImportProfile.self,
            from: Data(
                #"{"profile":"utc","time":{"column":"t","utc_offset_minutes":0},"kind":{"value":"access"},"action":{"value":"enter"},"actor":{"column":"who"}}"#
                    .utf8))
        #expect(try utc.read("t,who\n2026/11/30 0:30,P1\n").drafts.first?.draft.time == "2026-11-30T00:30:00.000Z")
        #expect(throws: (any Error).self) {
            try JSONDecoder().decode(
                ImportProfile.self,
                from: Data(
                    #"{"profile":"x","time":{"column":"t"},"kind":{"value":"access"},"action":{"value":"enter"},"actor":{"column":"who"},"atrs":{}}"#
                        .utf8))
        }
    }

    @Test(
        "kiroku-agent import: each file once; a bad row refused with line and column and nothing taken, or the good rows with --partial; a header without the profile's columns refused"
    )
    func command() async throws {
        let temp = try TempDir("import-cli")
        let agent = Binaries.path("kiroku-agent")
        let journalPath = temp.file("journal.sqlite")
        let profile = RepositoryFiles.root.appending(path: "Agent/profiles/juki-operation-history.json").path
        func run(_ files: [String], _ extra: [String] = []) async throws -> Outcome {
            try await runProgram(
                agent,
                ["import", "--id", "juki-export", "--journal", journalPath, "--profile", profile, "--by", "P0012"]
                    + extra + files)
        }
        let good = RepositoryFiles.root.appending(path: "Agent/profiles/samples/juki-operation-history.csv").path
        let first = try await run([good])
        #expect(
            first.status == 0 && first.stdout.contains("5 行を取り込みました（連番 1-6、拒否 0 行"), "\(first.stdout)\(first.stderr)")
        let journal = try Journal.open(path: journalPath, agentID: "juki-export", site: "")
        let marker = try #require(try journal.allEvents().last)
        #expect(
            marker.kind == "agent" && marker.action == "imported" && marker.actor == "P0012"
                && marker.subject == "juki-operation-history.csv")
        #expect(marker.attrs["rows"] == "5" && marker.attrs["refused"] == "0" && marker.attrs["sha256"]?.count == 64)
        // The same file again, under another name too: nothing added.
        try FileManager.default.copyItem(atPath: good, toPath: temp.file("copy.csv"))
        let again = try await run([good, temp.file("copy.csv")], ["--lang", "en"])
        #expect(
            again.status == 0 && again.stdout.components(separatedBy: "imported already").count == 3, "\(again.stdout)")
        #expect(try journal.allEvents().count == 6)

        // Line 3 has a word the profile does not know, line 4 a time that is no time: nothing of the file is taken.
        let bad = temp.file("bad.csv")
        let rows = [
            "操作日時,端末ID,設置場所,操作者ID,処理区分,住民票コード,照会事由", "2026/12/1 9:00,JUKI-02,本庁舎,P0102,照会,00000000201,転入届",
            "2026/12/1 9:01,JUKI-02,本庁舎,P0102,削除,00000000202,転入届",
            "2026/13/1 9:02,JUKI-02,本庁舎,P0102,照会,00000000203,転入届",
            "2026/12/1 9:03,JUKI-02,本庁舎,P0102,照会,00000000204,転入届",
        ]
        try #require(rows.joined(separator: "\r\n").data(using: .shiftJIS)).write(to: URL(filePath: bad))
        let refused = try await run([bad])
        #expect(refused.status == 2, "\(refused.stdout)\(refused.stderr)")
        #expect(
            refused.stderr.contains("line 3, column 処理区分: '削除' is not one of")
                && refused.stderr.contains("line 4, column 操作日時"), "\(refused.stderr)")
        #expect(refused.stderr.contains("2 行に誤りがあるため、何も取り込んでいません"), "\(refused.stderr)")
        #expect(try journal.allEvents().count == 6, "nothing of the bad file")
        let partial = try await run([bad], ["--partial"])
        #expect(
            partial.status == 0 && partial.stdout.contains("2 行を取り込みました（連番 7-9、拒否 2 行"),
            "\(partial.stdout)\(partial.stderr)")
        #expect(try journal.allEvents().last?.attrs["refused"] == "2")
        #expect(
            try journal.allEvents().filter { $0.kind == "operation" }.map { $0.attrs["source_line"] } == [
                "2", "3", "4", "5", "6", "2", "5",
            ])

        let wrong = temp.file("wrong.csv")
        try Data("日時,職員\r\n2026/12/1 9:00,P1\r\n".utf8).write(to: URL(filePath: wrong))
        let header = try await run([wrong])
        #expect(header.status == 2 && header.stderr.contains("the header lacks the column(s)"), "\(header.stderr)")
        #expect(try journal.allEvents().count == 9)
    }

    @Test(
        "Hostile exports: a quoted line break forges no row, a quote never closed, short rows, a row over the size limit, a date with no time, a huge --by; all refused with their line"
    )
    func hostile() async throws {
        let temp = try TempDir("import-hostile")
        let agent = Binaries.path("kiroku-agent")
        let journalPath = temp.file("journal.sqlite")
        let profile = RepositoryFiles.root.appending(path: "Agent/profiles/juki-operation-history.json").path
        func run(_ file: String, _ extra: [String] = []) async throws -> Outcome {
            try await runProgram(
                agent,
                ["import", "--id", "juki-export", "--journal", journalPath, "--profile", profile, "--by", "P0012"]
                    + extra + [file])
        }
        let header = "操作日時,端末ID,設置場所,操作者ID,処理区分,住民票コード,照会事由"
        let forged = temp.file("forged.csv")
        try Data(
            ([
                header, #"2026/12/1 9:00,JUKI-01,本庁舎,P0101,照会,00000000101,"私用"#,
                #"2026/12/1 9:02,JUKI-07,本庁舎,P0999,照会,00000000777,住民票の写し等の交付""#,
            ].joined(separator: "\r\n") + "\r\n").utf8
        ).write(to: URL(filePath: forged))
        let one = try await run(forged)
        #expect(one.status == 0 && one.stdout.contains("1 行を取り込みました"), "\(one.stdout)\(one.stderr)")
        let journal = try Journal.open(path: journalPath, agentID: "juki-export", site: "")
        let events = try journal.allEvents().filter { $0.kind == "operation" }
        #expect(
            events.count == 1 && events[0].actor == "P0101" && events[0].attrs["purpose"]?.contains("P0999") == true,
            "the line break is part of the cell: \(events)")

        let bad = temp.file("bad.csv")
        let big = String(repeating: "あ", count: 6000)
        try Data(
            [
                header, "2026/12/2 9:00,JUKI-01,本庁舎,P0101,照会,00000000102,転入届", "2026/12/2 9:01,JUKI-01,本庁舎,P0101",
                "2026/12/2,JUKI-01,本庁舎,P0101,照会,00000000103,転入届",
                "2026/12/2 9:03,JUKI-01,本庁舎,P0101,照会,00000000104,\(big)",
                #"2026/12/2 9:04,JUKI-01,本庁舎,P0101,照会,00000000105,"転入届"#,
            ].joined(separator: "\n").utf8
        ).write(to: URL(filePath: bad))
        let refused = try await run(bad)
        let held = try journal.allEvents().count
        #expect(refused.status == 2 && held == 2, "\(refused.stderr)")
        #expect(refused.stderr.contains("line 3, column -: 4 cells, the header has 7"), "\(refused.stderr)")
        #expect(refused.stderr.contains("line 4, column 操作日時: '2026/12/2' has no time of day"), "\(refused.stderr)")
        #expect(
            refused.stderr.contains("line 5, column -: attribute 'purpose' is longer than 1024 bytes"),
            "\(refused.stderr)")
        #expect(
            refused.stderr.contains("line 6, column -: a quote opened on line 6 is never closed"), "\(refused.stderr)")
        // Twenty attributes of 1,000 bytes each: every cell within its own limit, the event over the whole one.
        let fields = (0..<20).map { #""a\#($0)":{"column":"x"}"# }.joined(separator: ",")
        let wide = try JSONDecoder().decode(
            ImportProfile.self,
            from: Data(
                #"{"profile":"wide","time":{"column":"t"},"kind":{"value":"access"},"action":{"value":"enter"},"actor":{"column":"who"},"attrs":{\#(fields)}}"#
                    .utf8))
        let oversized = try wide.read("t,who,x\n2026/12/1 9:00,P1,\(String(repeating: "x", count: 1000))\n")
        #expect(
            oversized.drafts.isEmpty
                && oversized.refused.first?.description.hasPrefix("line 2, column -: the event would be about") == true,
            "\(oversized.refused)")
        let partial = try await run(bad, ["--partial"])
        #expect(
            partial.status == 0 && partial.stdout.contains("1 行を取り込みました") && partial.stdout.contains("拒否 4 行"),
            "\(partial.stdout)\(partial.stderr)")

        // Nothing to take at all, even with --partial: refused, not marked imported, so a fixed profile may try again.
        let none = temp.file("none.csv")
        try Data([header, "2026/12/3 9:00,JUKI-01,本庁舎,P0101,削除,00000000106,転入届"].joined(separator: "\n").utf8).write(
            to: URL(filePath: none))
        let empty = try await run(none, ["--partial"])
        #expect(empty.status == 2 && empty.stderr.contains("取り込める行がありません"), "\(empty.stderr)")
        #expect(
            try journal.imported(sha256: SubmittedFile.digest([UInt8](try Data(contentsOf: URL(filePath: none)))))
                == nil)

        // A --by that would make an event the hub refuses: refused before anything is journalled.
        let count = try journal.allEvents().count
        let long = try await runProgram(
            agent,
            [
                "import", "--id", "juki-export", "--journal", journalPath, "--profile", profile, "--by",
                String(repeating: "P", count: 300), none,
            ])
        let after = try journal.allEvents().count
        #expect(long.status != 0 && after == count, "\(long.stderr)")
    }

    @Test("An import cut short resumes after the last line committed: every row once, the first seq kept")
    func resume() throws {
        let temp = try TempDir("import-resume")
        let journal = try Journal.open(path: temp.file("journal.sqlite"), agentID: "juki-export", site: "")
        let drafts = (0..<12_000).map { index in
            (
                index + 2,
                EventDraft(
                    kind: "operation", action: "lookup", actor: "P1", subject: "住民\(index)",
                    time: "2026-12-01T09:00:00.000+09:00")
            )
        }
        struct Crash: Error {}
        #expect(throws: Crash.self) {
            _ = try journal.importFile(
                sha256: String(repeating: "a", count: 64), file: "f.csv", profile: "p", refused: 0, by: "P0012"
            ) { emit in
                for (line, draft) in drafts.prefix(7_000) { try emit(line, draft) }
                throw Crash()
            }
        }
        #expect(try journal.allEvents().count == 5_000, "the first chunk was committed")
        let done = try journal.importFile(
            sha256: String(repeating: "a", count: 64), file: "f.csv", profile: "p", refused: 0, by: "P0012"
        ) { emit in
            for (line, draft) in drafts { try emit(line, draft) }
        }
        let events = try journal.allEvents()
        #expect(done.rows == 12_000 && done.firstSeq == 1 && done.lastSeq == 12_001 && events.count == 12_001)
        #expect(Set(events.dropLast().map(\.subject)).count == 12_000, "every row once")
    }

    @Test(
        "An export imported on a terminal with an agent certificate reaches the hub and its rules: repeated_lookups, out_of_hours, lookup_purpose"
    )
    func toFindings() async throws {
        let temp = try TempDir("import-hub")
        let pki = try TestPKI(in: temp)
        try pki.agent("juki-export")
        let hub = try await HubProcess(pki: pki, temp: temp)
        defer { hub.stop() }
        let config = try agentConfig("juki-export", pki: pki, temp: temp, hubURL: hub.url)
        var rows = ["操作日時,端末ID,設置場所,操作者ID,処理区分,住民票コード,照会事由"]
        for minute in 0..<5 { rows.append("2026/11/24 10:0\(minute),JUKI-01,本庁舎 市民課,P0101,照会,00000000777,住民票の写し等の交付") }
        rows.append("2026/11/24 19:30,JUKI-01,本庁舎 市民課,P0102,照会,00000000301,転入届")  // after hours
        rows.append("2026/11/24 11:00,JUKI-01,本庁舎 市民課,P0103,照会,00000000302,")  // no purpose
        let file = temp.file("操作履歴.csv")
        try #require(rows.joined(separator: "\r\n").data(using: .shiftJIS)).write(to: URL(filePath: file))
        let imported = try await runProgram(
            Binaries.path("kiroku-agent"),
            [
                "import", "--config", config, "--profile",
                RepositoryFiles.root.appending(path: "Agent/profiles/juki-operation-history.json").path, "--by",
                "P0012", file,
            ])
        #expect(imported.status == 0, "\(imported.stdout)\(imported.stderr)")
        let agent = try await AgentProcess(
            config: config, socket: temp.file("juki-export/ingest.sock"), temp: temp, name: "agent")
        defer { agent.stop() }
        let journal = try Journal.open(path: temp.file("juki-export/journal.sqlite"), agentID: "juki-export", site: "")
        #expect(await eventually { allDelivered(journal) }, "\(agent.child.log)")
        let store = try HubStore.open(path: hub.database)
        for rule: RuleID in [.repeatedLookups, .outOfHours, .lookupPurpose] {
            let found = await eventually { (try? await store.findings(status: .open, rule: rule).count) == 1 }
            let all = (try? await store.findings(status: nil, rule: nil).map(\.rule)) ?? []
            #expect(found, "\(rule): \(all)")
        }
        #expect(try await store.findings(status: .open, rule: .outOfHours).first?.summary.contains("P0102") == true)
        var query = EventQuery()
        query.agent = "juki-export"
        query.kind = "agent"
        #expect(
            try await store.query(query).events.contains {
                $0.action == "imported" && $0.attrs["rows"] == "7" && $0.actor == "P0012"
            })
    }
}
