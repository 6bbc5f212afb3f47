import Foundation
import KirokuClient
import KirokuControl
import KirokuHub
import KirokuProtocol
import KirokuTestSupport
import NIOHTTP1
import Testing

/// Contractors (第23–第26): the contracts register, submissions under the contractor's own certificate, the
/// city's review, and the rules on them (issue 14).
@Suite("Contractors and their submissions")
struct ContractorTests {
    static func day(_ text: String) -> Date { Timestamp(rfc3339: "\(text)T12:00:00.000+09:00")!.date }

    static func file(_ name: String, _ text: String) -> SubmittedFile {
        let bytes = Array("%PDF-1.4 \(text)".utf8)
        return SubmittedFile(name: name, sha256: SubmittedFile.digest(bytes), size: Int64(bytes.count), type: .pdf)
    }

    static func request(
        _ contract: String, _ type: SubmissionType, instruction: String? = nil, previous: Int64? = nil,
        note: String = "報告"
    ) -> SubmissionRequest {
        SubmissionRequest(
            contract: contract, type: type, instruction: instruction, note: note, previous: previous, files: [])
    }

    @Test(
        "The rules of 第23–第26: approvals and clauses, site audits due, work reports, reviews, unnamed workers; near-misses pass"
    )
    func rules() async throws {
        let record = try RuleTests.Record(try TempDir("rules-contractors"))
        let store = record.store
        _ = try await store.importRegister(.contracts, csv: SampleRegisters.contracts, by: "kanri01")
        _ = try await store.importRegister(.maintenance, csv: SampleRegisters.instructions, by: "kanri01")
        // Dates typed as people type them are kept as dates; yes/no as people write them.
        let c2 = try #require(try await store.register(.contracts).first { $0["contract_id"] == "C-2" })
        #expect(
            c2["valid_from"] == "2026-10-01" && c2["council_approved"] == "2026-10-15" && c2["accident_report"] == "no"
                && c2["other"] == "yes")

        try await record.add(
            "room", "2026-12-10 10:00", "incident", "maintenance_start", "V-03", "サーバー1",
            attrs: ["instruction": "指示書-041"])
        // reported below
        try await record.add("room", "2026-12-10 11:00", "incident", "maintenance_end", "V-03", "サーバー1")
        try await record.add(
            "room", "2026-12-20 10:00", "incident", "maintenance_start", "V-09", "サーバー1",
            attrs: ["instruction": "指示書-041"])
        try await record.add(
            "room", "2026-12-21 10:00", "incident", "maintenance_start", "V-09", "空調", attrs: ["instruction": "指示書-042"]
        )
        try await record.add("room", "2026-12-21 15:00", "incident", "maintenance_end", "V-09", "空調")

        let audit = try await store.submit(
            Self.request("C-1", .siteAudit), files: [Self.file("audit.pdf", "a")], by: "V-03",
            now: Self.day("2026-12-01"))
        let report = try await store.submit(
            Self.request("C-1", .workReport, instruction: "指示書-041"), files: [Self.file("work.pdf", "w")], by: "V-03",
            now: Self.day("2026-12-12"))
        _ = try await store.review(
            report.id, decision: "accepted", reason: "内容を確認", by: "kanri01", now: Self.day("2026-12-15"))
        // Refused, with nothing recorded: someone the contract does not name, an instruction issued to
        // another contractor, a work report without its instruction, a review by the one who submitted.
        await #expect(throws: KirokuError.self) {
            _ = try await store.submit(Self.request("C-1", .siteAudit), files: [Self.file("x.pdf", "x")], by: "V-09")
        }
        await #expect(throws: KirokuError.self) {
            _ = try await store.submit(
                Self.request("C-1", .workReport, instruction: "指示書-042"), files: [Self.file("x.pdf", "x")], by: "V-03")
        }
        await #expect(throws: KirokuError.self) {
            _ = try await store.submit(Self.request("C-1", .workReport), files: [Self.file("x.pdf", "x")], by: "V-03")
        }
        await #expect(throws: KirokuError.self) {
            _ = try await store.review(audit.id, decision: "accepted", reason: "自分で", by: "V-03")
        }
        #expect(try await store.submissions(.all).count == 2)

        try await store.evaluateRules(RuleTests.settings, now: RuleTests.now)
        func keys(_ rule: RuleID) async throws -> [String] {
            try await record.findings(rule, status: .open).map {
                $0.evidence.isEmpty ? $0.summary : $0.evidence.joined(separator: ",")
            }.sorted()
        }
        let unapproved = try await record.findings(.contractUnapproved, status: .open)
        #expect(
            unapproved.count == 1 && unapproved[0].summary.contains("contract C-2")
                && unapproved[0].summaryJa?.contains("第23⑵") == true)
        let clauses = try await record.findings(.contractClauses, status: .open)
        #expect(
            clauses.count == 1 && clauses[0].summaryJa?.contains("第24⑸ 事故発生時の報告義務") == true
                && clauses[0].article == "第24")
        let overdue = try await record.findings(.siteAuditOverdue, status: .open)
        #expect(
            overdue.count == 1 && overdue[0].summary.contains("contract C-2")
                && overdue[0].summary.contains("2026-10-31"), "\(overdue)")
        #expect(try await keys(.maintenanceByUnnamed) == ["room/3"])
        #expect(try await keys(.workReportMissing) == ["room/5"])
        #expect(try await keys(.submissionUnreviewed) == [audit.event])
        #expect(try await keys(.maintenanceWithoutInstruction).isEmpty)

        // What was lacking arrives: each finding resolved by the next sweep.
        _ = try await store.review(
            audit.id, decision: "returned", reason: "署名がない", by: "unyo01", now: Self.day("2027-01-05"))
        let again = try await store.submit(
            Self.request("C-1", .siteAudit, previous: audit.id), files: [Self.file("audit2.pdf", "b")], by: "V-04",
            now: Self.day("2027-01-06"))
        #expect(again.previous == audit.id)
        await #expect(throws: KirokuError.self) {
            _ = try await store.submit(
                Self.request("C-1", .siteAudit, previous: audit.id), files: [Self.file("x.pdf", "x")], by: "V-03")
        }
        _ = try await store.submit(
            Self.request("C-2", .workReport, instruction: "指示書-042"), files: [Self.file("air.pdf", "c")], by: "V-09",
            now: Self.day("2027-01-07"))
        _ = try await store.submit(
            Self.request("C-2", .siteAudit), files: [Self.file("c2.pdf", "d")], by: "V-09", now: Self.day("2027-01-08"))
        try await store.evaluateRules(RuleTests.settings, now: RuleTests.now)
        #expect(try await keys(.workReportMissing).isEmpty)
        #expect(try await keys(.submissionUnreviewed).isEmpty, "returned, and the new ones are not yet overdue")
        #expect(try await keys(.siteAuditOverdue).isEmpty)
        #expect(try await record.findings(.contractClauses, status: .open).count == 1, "still lacking")

        // Each submission and review is in the log under the person who made it.
        var query = EventQuery()
        query.kind = "contractor"
        let logged = try await store.query(query).events
        #expect(
            logged.map(\.action) == [
                "submitted", "submitted", "reviewed", "reviewed", "submitted", "submitted", "submitted",
            ])
        #expect(
            logged[0].actor == "V-03" && logged[0].agent == "hub"
                && logged[0].attrs["file1"]?.hasPrefix(Self.file("audit.pdf", "a").sha256) == true)
        #expect(logged[3].actor == "unyo01" && logged[3].attrs["decision"] == "returned")
    }

    @Test("Content decides a file's type, not its name; Shift_JIS CSV is a CSV, a program is nothing")
    func documentTypes() {
        #expect(DocumentType.of(Array("%PDF-1.7\n".utf8)) == .pdf)
        #expect(DocumentType.of([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0]) == .png)
        #expect(DocumentType.of([0xFF, 0xD8, 0xFF, 0xE0]) == .jpeg)
        #expect(DocumentType.of(Array("日付,件数\r\n2026-12-01,3\r\n".utf8)) == .csv)
        #expect(DocumentType.of([0x93, 0xFA, 0x95, 0x74, 0x2C, 0x31, 0x0D, 0x0A]) == .csv)  // 日付,1 in CP932
        #expect(DocumentType.of([0x7F, 0x45, 0x4C, 0x46, 2, 1, 1, 0]) == nil)  // an ELF program named report.pdf
        #expect(DocumentType.of([0x93]) == nil && DocumentType.of([]) == nil)
    }

    @Test(
        "A contractor's certificate submits a PDF: its hash is in the log and in a bundle both verifiers accept; a tampered copy is caught; others' record is refused"
    )
    func submitThroughTheHub() async throws {
        let temp = try TempDir("contractor-hub")
        let pki = try TestPKI(in: temp)
        for id in ["kanri01", "unyo01", "V-03", "V-09"] { try pki.person(id) }
        let hub = try await HubProcess(pki: pki, temp: temp)
        defer { hub.stop() }
        let ctl = Binaries.path("kirokuctl")
        func run(_ id: String, _ arguments: [String]) async throws -> Outcome {
            try await runProgram(
                ctl, arguments + ["--hub", hub.url, "--pki", pki.dir.path, "--as", id],
                environment: ["KIROKU_LANG": "en"])
        }
        let people =
            "person_id,name,role,left\nkanri01,山田,管理者,\nunyo01,高橋,運用管理者,\nV-03,日本電算 佐々木,受託者,\nV-09,東京保守 木村,受託者,\n"
        for (register, csv) in [
            ("people", people), ("contracts", SampleRegisters.contracts), ("maintenance", SampleRegisters.instructions),
        ] {
            let path = temp.file("\(register).csv")
            try csv.write(toFile: path, atomically: true, encoding: .utf8)
            let imported = try await run("kanri01", ["registers", "import", register, path])
            #expect(imported.status == 0, "\(imported.stderr)")
        }
        // The watch-list is read only by those who keep it (the 運用管理者 reads the record, not it).
        let watch = temp.file("watch.csv")
        try "entry_id,subject,category,valid_from,valid_to\nW-001,住民票コード 00000000777,dv_support,,\n".write(
            toFile: watch, atomically: true, encoding: .utf8)
        #expect(try await run("kanri01", ["registers", "import", "watchlist", watch]).status == 0)
        let hiddenList = try await run("unyo01", ["registers", "export", "watchlist"])
        #expect(
            hiddenList.status != 0 && hiddenList.stderr.contains("not_permitted")
                && !hiddenList.stdout.contains("00000000777"), "\(hiddenList.stdout)")
        #expect(try await run("kanri01", ["registers", "export", "watchlist"]).stdout.contains("00000000777"))
        // A contractor sees their own contracts and instructions only.
        let contracts = try await run("V-03", ["contractor", "contracts"])
        #expect(
            contracts.status == 0 && contracts.stdout.contains("C-1") && !contracts.stdout.contains("C-2"),
            "\(contracts.stdout)\(contracts.stderr)")
        let instructions = try await run("V-09", ["contractor", "instructions"])
        #expect(
            instructions.stdout.contains("指示書-042") && !instructions.stdout.contains("指示書-041"),
            "\(instructions.stdout)")

        // The PDF, and a program named like one (refused by its content before anything is sent, and by the hub).
        let pdf = temp.file("実施状況報告.pdf")
        let pdfBytes = Array("%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n".utf8)
        try Data(pdfBytes).write(to: URL(filePath: pdf))
        let fake = temp.file("report.pdf")
        try Data([0x7F, 0x45, 0x4C, 0x46, 2, 1, 1, 0]).write(to: URL(filePath: fake))
        let refused = try await run(
            "V-03", ["contractor", "submit", "--contract", "C-1", "--type", "site_audit", "--note", "偽物", fake])
        #expect(refused.status != 0 && refused.stderr.contains("unsupported_document"), "\(refused.stderr)")
        let queries = HubQueries(
            connection: try HubConnection(
                baseURL: hub.url,
                credentials: ClientCredentials(
                    caPath: pki.caPath, certificatePath: pki.certPath(.person, "V-03"),
                    keyPath: pki.keyPath(.person, "V-03"))))
        defer { Task { await queries.connection.shutdown() } }
        do {
            _ = try await queries.submit(
                SubmissionRequest(
                    contract: "C-1", type: .siteAudit, instruction: nil, note: "偽物", previous: nil,
                    files: [.init(name: "report.pdf", bytes: [0x7F, 0x45, 0x4C, 0x46])]))
            Issue.record("the hub took a program named report.pdf")
        } catch let error as KirokuError {
            #expect(error.code == .unsupportedDocument)
        }
        // A body with a member twice, or one the protocol does not have, is refused, not settled silently.
        let content = Data(pdfBytes).base64EncodedString()
        for body in [
            #"{"contract":"C-1","contract":"C-2","type":"site_audit","note":"x","files":[{"name":"a.pdf","content":"\#(content)"}]}"#,
            #"{"contract":"C-1","type":"site_audit","note":"x","submitted_by":"kanri01","files":[{"name":"a.pdf","content":"\#(content)"}]}"#,
        ] {
            do {
                _ = try await queries.connection.request(.POST, "/v1/submissions", body: Array(body.utf8))
                Issue.record("the hub took \(body.prefix(80))")
            } catch let error as KirokuError {
                #expect(error.code == .malformedRequest, "\(error)")
            }
        }
        // Another contractor's people may not submit for C-1.
        let other = try await run(
            "V-09", ["contractor", "submit", "--contract", "C-1", "--type", "site_audit", "--note", "他社", pdf])
        #expect(other.status != 0 && other.stderr.contains("not_permitted"), "\(other.stderr)")

        let submitted = try await run(
            "V-03",
            ["contractor", "submit", "--contract", "C-1", "--type", "site_audit", "--note", "令和8年度上期 実施状況報告", pdf])
        #expect(submitted.status == 0, "\(submitted.stderr)")
        let digest = SubmittedFile.digest(pdfBytes)
        #expect(
            submitted.stdout.contains("submission 1 recorded as hub/") && submitted.stdout.contains(digest),
            "\(submitted.stdout)")
        #expect(try await queries.submissions(status: nil).map(\.id) == [1], "the refused ones left nothing")

        // V-09 sees neither the submission nor V-03's record; V-03 sees their own.
        let hidden = try await run("V-09", ["contractor", "show", "1"])
        #expect(hidden.status != 0 && hidden.stderr.contains("not_found"), "\(hidden.stderr)")
        #expect(try await run("V-09", ["query", "--actor", "V-03"]).stderr.contains("not_permitted"))
        #expect(try await run("V-09", ["contractor", "submissions"]).stdout.contains("0 submission(s)"))
        let own = try await run("V-03", ["query", "--actor", "V-03"])
        #expect(own.stdout.contains("contractor") && own.stdout.contains("submitted"), "\(own.stdout)\(own.stderr)")

        // The hash in an evidence bundle that kirokuctl verify and the independent Python verifier accept.
        let bundle = temp.file("submission.json")
        let exported = try await run(
            "V-03",
            ["export", "--evidence", bundle, "--checkpoint", "newest", "--actor", "V-03", "--kind", "contractor"])
        #expect(exported.status == 0, "\(exported.stderr)")
        #expect(try String(contentsOfFile: bundle, encoding: .utf8).contains(digest))
        let hubKey = try await run("kanri01", ["log", "key"]).stdout.split(separator: " ").first.map(String.init) ?? ""
        let ours = try await runProgram(ctl, ["verify", bundle, "--hub-key", hubKey, "--no-witness"])
        let theirs = try await runProgram(
            "/usr/bin/env", ["python3", RepositoryFiles.pythonVerifier, bundle, "--hub-key", hubKey, "--no-witness"])
        #expect(ours.status == 0 && ours.stdout.contains("complete"), "\(ours.stdout)\(ours.stderr)")
        #expect(theirs.status == 0, "\(theirs.stdout)\(theirs.stderr)")

        // The city fetches it, checked against the recorded hash; then the copy on the hub's disk is altered.
        let out = temp.file("fetched")
        let fetched = try await run("unyo01", ["contractor", "fetch", "1", "--out", out])
        #expect(
            fetched.status == 0 && FileManager.default.contents(atPath: "\(out)/1-1.pdf") == Data(pdfBytes)
                && fetched.stdout.contains("実施状況報告.pdf"), "\(fetched.stderr)")
        let stored = temp.file("hub/documents/\(digest)")
        #expect(try FileManager.default.attributesOfItem(atPath: stored)[.posixPermissions] as? Int == 0o600)
        try Data("%PDF-1.4 altered".utf8).write(to: URL(filePath: stored))
        let tampered = try await run("unyo01", ["contractor", "fetch", "1", "--out", temp.file("again")])
        #expect(tampered.status != 0 && tampered.stderr.contains("document_corrupt"), "\(tampered.stderr)")

        // Review: the contractor may not review; the city returns it with a reason; resubmitted, linked; accepted.
        #expect(
            try await run("V-03", ["contractor", "review", "1", "--accept", "--reason", "自分で"]).stderr.contains(
                "not_permitted"))
        let returned = try await run("unyo01", ["contractor", "review", "1", "--return", "--reason", "責任者の押印がない"])
        #expect(returned.status == 0 && returned.stdout.contains("returned"), "\(returned.stderr)")
        let again = try await run(
            "V-03",
            [
                "contractor", "submit", "--contract", "C-1", "--type", "site_audit", "--previous", "1", "--note",
                "押印済み", pdf,
            ])
        #expect(again.status == 0 && again.stdout.contains("submission 2"), "\(again.stderr)")
        #expect(try await run("kanri01", ["contractor", "review", "2", "--accept", "--reason", "確認済み"]).status == 0)
        let shown = try await run("V-03", ["contractor", "show", "2"])
        #expect(
            shown.stdout.contains("replaces returned submission 1") && shown.stdout.contains("accepted by kanri01"),
            "\(shown.stdout)")
        let history = try await run("V-03", ["contractor", "show", "1"])
        #expect(
            history.stdout.contains("returned by unyo01") && history.stdout.contains("責任者の押印がない"), "\(history.stdout)")
    }
}
