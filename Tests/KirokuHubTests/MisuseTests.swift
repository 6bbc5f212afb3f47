import Foundation
import KirokuHub
import KirokuProtocol
import KirokuTestSupport
import Testing

/// The misuse that actually happens behind 第20① and 第16④, and the 管理者's own acts the 会議 audits
/// (第9②): each rule with what must raise it, near-misses that must not, and events that arrive late.
@Suite("Misuse and the 管理者's own acts (第9②, 第16④, 第20)")
struct MisuseTests {
    static func at(_ text: String) -> Date { Timestamp(rfc3339: text + ":00.000+09:00")!.date }

    @Test(
        "Lookups without a purpose, or with one not in lookup_purposes (第20①); sources that record none are not judged")
    func lookupPurpose() async throws {
        let record = try RuleTests.Record(try TempDir("misuse-purpose"))
        var settings = RuleTests.settings
        settings.lookupPurposes = ["住民票の写しの交付", "転入届"]
        // none given
        try await record.add("t1", "2026-12-10 10:00", "operation", "lookup", "P1", "住民A", attrs: ["purpose": ""])
        // listed
        try await record.add("t1", "2026-12-10 10:01", "operation", "lookup", "P1", "住民B", attrs: ["purpose": "転入届"])
        // not listed
        try await record.add("t1", "2026-12-10 10:02", "operation", "lookup", "P1", "住民C", attrs: ["purpose": "私用"])
        try await record.add("t2", "2026-12-10 10:03", "operation", "lookup", "P2", "住民D")  // source records no purpose
        try await record.add(
            "t2", "2026-12-10 10:04", "operation", "lookup", "P2", "住民E", attrs: ["purpose": " 住民票の写しの交付 "])
        // not a lookup
        try await record.add("t2", "2026-12-10 10:05", "operation", "print", "P2", "住民F", attrs: ["purpose": ""])
        try await record.store.evaluateRules(settings, now: RuleTests.now)
        let found = try await record.findings(.lookupPurpose)
        #expect(found.count == 1 && found[0].evidence == ["t1/1", "t1/3"] && found[0].count == 2, "\(found)")
        #expect(found[0].summaryJa == "P1 が 2026-12-10 に定めのない目的 (私用) で照会", "the newest hit's words: \(found[0])")
        #expect(found[0].article == "第20" && found[0].severity == "warning")
        // One of a past day arriving late is judged in its day; with no list, only an empty purpose is found.
        settings.lookupPurposes = []
        try await record.add("t3", "2026-12-01 09:00", "operation", "lookup", "P3", "住民G", attrs: ["purpose": "私用"])
        try await record.add("t3", "2026-12-01 09:01", "operation", "lookup", "P3", "住民H", attrs: ["purpose": "  "])
        try await record.store.evaluateRules(settings, now: RuleTests.now)
        let late = try await record.findings(.lookupPurpose).filter { $0.evidence.first?.hasPrefix("t3/") == true }
        #expect(late.count == 1 && late[0].evidence == ["t3/2"] && late[0].firstSeen.hasPrefix("2026-12-01"), "\(late)")
        #expect(throws: (any Error).self) {
            try JSONDecoder().decode(RuleSettings.self, from: Data(#"{"lookup_purposes": ["転入届", " "]}"#.utf8))
        }
    }

    @Test(
        "One credential at two terminals at once (第16④): T1, T2, T1 within the window is found, across chunks; walking to the next counter is not"
    )
    func sharedCredential() async throws {
        let record = try RuleTests.Record(try TempDir("misuse-shared"))
        let settings = RuleTests.settings  // shared_credential_minutes 10
        // P1 at t1, someone with P1's credential at t2, P1 at t1 again: within ten minutes.
        try await record.add("t1", "2026-12-10 10:00", "operation", "lookup", "P1", "住民A")
        try await record.add("t2", "2026-12-10 10:03", "operation", "lookup", "P1", "住民B")
        try await record.add("t1", "2026-12-10 10:06", "operation", "lookup", "P1", "住民C")
        // P2 moves from t1 to t2 and stays: no alternation.
        try await record.add("t1", "2026-12-10 11:00", "operation", "lookup", "P2", "住民D")
        try await record.add("t2", "2026-12-10 11:02", "operation", "lookup", "P2", "住民E")
        try await record.add("t2", "2026-12-10 11:04", "operation", "lookup", "P2", "住民F")
        // P5 logs in to their PC (a PC-management export) between two lookups: one person at one desk.
        try await record.add("t1", "2026-12-10 14:00", "operation", "lookup", "P5", "住民M")
        try await record.add("pc-export", "2026-12-10 14:02", "operation", "login", "P5", "")
        try await record.add("t1", "2026-12-10 14:04", "operation", "lookup", "P5", "住民N")
        // P3 goes back to t1, but 20 minutes after leaving it.
        try await record.add("t1", "2026-12-10 13:00", "operation", "lookup", "P3", "住民G")
        try await record.add("t2", "2026-12-10 13:10", "operation", "lookup", "P3", "住民H")
        try await record.add("t1", "2026-12-10 13:20", "operation", "lookup", "P3", "住民I")
        try await record.store.evaluateRules(settings, now: RuleTests.now)
        let found = try await record.findings(.sharedCredential)
        #expect(found.count == 1 && Set(found[0].evidence) == ["t1/1", "t2/1", "t1/2"], "\(found)")
        #expect(
            found[0].severity == "critical" && found[0].summaryJa?.contains("P1 が 2026-12-10 に t1, t2 で同時に操作") == true,
            "\(found[0])")
        // P4's middle event comes from an offline terminal a chunk later: found then.
        try await record.add("t3", "2026-12-11 09:00", "operation", "lookup", "P4", "住民L")
        try await record.add("t3", "2026-12-11 09:08", "operation", "lookup", "P4", "住民J")
        try await record.store.evaluateRules(settings, now: RuleTests.now)
        #expect(try await record.findings(.sharedCredential).count == 1)
        try await record.add("t4", "2026-12-11 09:04", "operation", "lookup", "P4", "住民K")
        try await record.store.evaluateRules(settings, now: RuleTests.now)
        let late = try await record.findings(.sharedCredential).filter { $0.summary.hasPrefix("P4 ") }
        #expect(late.count == 1 && Set(late[0].evidence) == ["t3/1", "t4/1", "t3/2"], "\(late)")
    }

    @Test(
        "Operations outside one's assignment (第20①): the terminal or its section must be assigned that day; nobody is judged before the register is loaded"
    )
    func outsideAssignment() async throws {
        let record = try RuleTests.Record(try TempDir("misuse-assignment"))
        // before the register: not judged
        try await record.add("counter-01", "2026-12-10 09:00", "operation", "lookup", "P1", "住民A")
        try await record.store.evaluateRules(RuleTests.settings, now: RuleTests.now)
        _ = try await record.store.importRegister(
            .assignments,
            csv:
                "assignment_id,person,scope,valid_from,valid_to\nA-1,P1,本庁舎,2026-12-01,\nA-2,P2,counter-09,2026-12-01,2026-12-10\n",
            by: "kanri01")
        // its site 本庁舎 is P1's section
        try await record.add("counter-01", "2026-12-11 09:00", "operation", "lookup", "P1", "住民B")
        // P2's terminal, in time
        try await record.add("counter-09", "2026-12-10 09:00", "operation", "print", "P2", "住民C")
        // after P2's assignment ended
        try await record.add("counter-09", "2026-12-11 09:00", "operation", "lookup", "P2", "住民D")
        // P3 assigned nowhere
        try await record.add("counter-01", "2026-12-11 09:10", "operation", "lookup", "P3", "住民E")
        // not an operation on a resident
        try await record.add("counter-01", "2026-12-11 09:20", "operation", "login", "P3", "")
        try await record.store.evaluateRules(RuleTests.settings, now: RuleTests.now)
        let found = try await record.findings(.lookupOutsideAssignment).sorted { $0.summary < $1.summary }
        #expect(found.map(\.evidence) == [["counter-09/2"], ["counter-01/3"]], "\(found)")
        #expect(found[0].summary.contains("P2 operated on counter-09 on 2026-12-11 with no assignment"), "\(found[0])")
        #expect(found[1].summaryJa?.contains("P3 が 2026-12-11 に counter-01 で操作。事務分掌の台帳に担当がない") == true, "\(found[1])")
        // At a terminal of another section: named with its site.
        try await record.add("annex-01", "2026-12-11 10:00", "operation", "lookup", "P1", "住民F", site: "別館 税務課")
        try await record.store.evaluateRules(RuleTests.settings, now: RuleTests.now)
        let other = try await record.findings(.lookupOutsideAssignment).filter { $0.evidence == ["annex-01/1"] }
        #expect(
            other.count == 1
                && other[0].summary.contains(
                    "P1 operated on annex-01 (別館 税務課) on 2026-12-11, outside their assignment (本庁舎)"),
            "\(other)")
        do {
            _ = try await record.store.importRegister(
                .assignments, csv: "assignment_id,person,scope,valid_from,valid_to\nA-9,P9,,2026-12-01,\n",
                by: "kanri01")
            Issue.record("an assignment without a scope was accepted")
        } catch let error as KirokuError {
            #expect(error.message.contains("line 2") && error.message.contains("scope"))
        }
    }

    @Test(
        "事後許可 (第9②): a permit imported valid from before its import is found, naming the importer, who may not resolve it; re-judging names whose change cleared a finding"
    )
    func backdatedAndRejudged() async throws {
        let record = try RuleTests.Record(try TempDir("misuse-backdated"))
        // P9 entered the 電算室 on 12-10 without a permit: critical.
        try await record.add("door", "2026-12-10 10:00", "access", "enter", "P9", "電算室")
        try await record.add("door", "2026-12-10 10:30", "access", "exit", "P9", "電算室")
        _ = try await record.store.importRegister(
            .permits, csv: "permit_id,person,room,valid_from,valid_to\nR-1,P1,電算室,2026-12-01,\n", by: "kanri01",
            now: MisuseTests.at("2026-11-30T09:00"))
        try await record.store.evaluateRules(RuleTests.settings, now: RuleTests.now)
        #expect(try await record.findings(.entryWithoutPermit).count == 1)
        #expect(try await record.findings(.registerBackdated).isEmpty, "R-1 was imported before it began")
        // On 12-11 kanri01 writes P9 a permit from 12-01 (after the fact), keeps R-1 unchanged, and adds one from today.
        _ = try await record.store.importRegister(
            .permits,
            csv:
                "permit_id,person,room,valid_from,valid_to\nR-1,P1,電算室,2026-12-01,\nR-2,P9,電算室,2026-12-01,\nR-3,P3,電算室,2026-12-11,\n",
            by: "kanri01", now: MisuseTests.at("2026-12-11T09:00"))
        // R-1's end set at revocation, and R-3 (valid from today, nobody entered under it yet): no 事後許可.
        _ = try await record.store.importRegister(
            .permits,
            csv:
                "permit_id,person,room,valid_from,valid_to\nR-1,P1,電算室,2026-12-01,2026-12-11\nR-2,P9,電算室,2026-12-01,\nR-3,P3,電算室,2026-12-11,\n",
            by: "kanri01", now: MisuseTests.at("2026-12-11T09:30"))
        let backdated = try await record.findings(.registerBackdated)
        #expect(
            backdated.count == 1
                && backdated[0].summary.contains(
                    "kanri01 imported permits R-2 on 2026-12-11, valid from 2026-12-01: it covers what happened at 2026-12-10 10:00"
                ), "\(backdated)")
        #expect(backdated[0].summaryJa?.contains("(事後許可)") == true && backdated[0].article == "第9")
        // Re-judging the day resolves the entry, naming the register's last importer in the resolution.
        _ = try await record.store.rejudge(
            day: "2026-12-10", settings: RuleTests.settings, by: "kanri01", now: RuleTests.now)
        let cleared = try #require(try await record.findings(.entryWithoutPermit).first)
        #expect(
            cleared.status == .resolved
                && cleared.history.last?.reason.contains("permits last replaced by kanri01 at 2026-12-11 09:30")
                    == true,
            "\(cleared.history)")
        // kanri01 may not resolve the finding about their own import (第9②); kanri02 may.
        await #expect(throws: KirokuError.self) {
            _ = try await record.store.act(
                onFinding: backdated[0].id, status: .resolved, reason: "正当な事後許可", by: "kanri01")
        }
        #expect(
            try await record.store.act(onFinding: backdated[0].id, status: .acknowledged, reason: "確認中", by: "kanri01")
                .status == .acknowledged)
        #expect(
            try await record.store.act(onFinding: backdated[0].id, status: .resolved, reason: "会議で承認", by: "kanri02")
                .status == .resolved)
        // kanri02 enters without a permit, writes themselves one and judges the day again: the finding about
        // their own entry stays open for someone else (第9②).
        try await record.add("door", "2026-12-12 08:00", "access", "enter", "kanri02", "電算室")
        try await record.add("door", "2026-12-12 08:30", "access", "exit", "kanri02", "電算室")
        try await record.store.evaluateRules(RuleTests.settings, now: RuleTests.now)
        let own = try #require(
            try await record.findings(.entryWithoutPermit, status: .open).first { $0.summary.contains("kanri02") })
        _ = try await record.store.importRegister(
            .permits,
            csv:
                "permit_id,person,room,valid_from,valid_to\nR-1,P1,電算室,2026-12-01,2026-12-11\nR-2,P9,電算室,2026-12-01,\nR-3,P3,電算室,2026-12-11,\nR-4,kanri02,電算室,2026-12-12,\n",
            by: "kanri02", now: MisuseTests.at("2026-12-12T09:00"))
        _ = try await record.store.rejudge(
            day: "2026-12-12", settings: RuleTests.settings, by: "kanri02", now: RuleTests.now)
        #expect(
            try await record.findings(.entryWithoutPermit, status: .open).contains { $0.id == own.id },
            "not cleared by its own actor")
        #expect(
            try await record.findings(.registerBackdated).contains {
                $0.summary.contains("kanri02 imported permits R-4")
            })
        // Nor an operator a finding about their own lookups, if they held the right.
        try await record.add("t1", "2026-12-12 22:00", "operation", "lookup", "kanri02", "住民A")
        try await record.store.evaluateRules(RuleTests.settings, now: RuleTests.now)
        let lookup = try #require(try await record.findings(.outOfHours).first)
        do {
            _ = try await record.store.act(onFinding: lookup.id, status: .resolved, reason: "業務", by: "kanri02")
            Issue.record("one's own finding was resolved")
        } catch let error as KirokuError {
            #expect(error.code == .notPermitted && error.message.contains("第9②"))
        }
    }

    @Test(
        "点検記録 (第20②): days without a review are one finding, resolved once a review covers them; a review of a day to come is refused"
    )
    func recordReviews() async throws {
        let record = try RuleTests.Record(try TempDir("misuse-review"))
        try await record.add("t1", "2026-12-01 10:00", "operation", "lookup", "P1", "住民A")
        try await record.store.evaluateRules(RuleTests.settings, now: MisuseTests.at("2026-12-08T12:00"))
        #expect(
            try await record.findings(.recordUnreviewed).isEmpty,
            "12-01 to 12-07 is seven days: not more than review_gap_days")
        try await record.store.evaluateRules(RuleTests.settings, now: MisuseTests.at("2026-12-20T12:00"))
        let found = try #require(try await record.findings(.recordUnreviewed).first)
        #expect(found.count == 19 && found.summary.contains("from 2026-12-01 to 2026-12-19"), "\(found)")
        await #expect(throws: KirokuError.self) {
            _ = try await record.store.review(
                through: Timestamp(rfc3339: "2026-12-21T00:00:00.000+09:00")!, note: "", by: "kanri01",
                now: MisuseTests.at("2026-12-20T12:00"))
        }
        let made = try await record.store.review(
            through: Timestamp(rfc3339: "2026-12-15T00:00:00.000+09:00")!, note: "12月前半 異常なし", by: "kanri01",
            now: MisuseTests.at("2026-12-20T12:00"))
        #expect(made.through == "2026-12-15" && made.by == "kanri01" && made.event.hasPrefix("hub/"))
        try await record.store.evaluateRules(RuleTests.settings, now: MisuseTests.at("2026-12-20T12:00"))
        #expect(try await record.findings(.recordUnreviewed, status: .open).isEmpty, "12-16 to 12-19 is four days")
        // Off when review_gap_days is 0.
        var off = RuleTests.settings
        off.reviewGapDays = 0
        try await record.store.evaluateRules(off, now: MisuseTests.at("2027-03-01T12:00"))
        #expect(try await record.findings(.recordUnreviewed, status: .open).isEmpty)
        try await record.store.evaluateRules(RuleTests.settings, now: MisuseTests.at("2027-03-01T12:00"))
        #expect(
            try await record.findings(.recordUnreviewed, status: .open).first?.summary.contains("from 2026-12-16")
                == true)
    }

    @Test(
        "kirokuctl review: the 管理者 records a 点検 through a day, everyone who reads the record sees it; the 会議 may not record one"
    )
    func reviewCommand() async throws {
        let temp = try TempDir("misuse-review-cli")
        let pki = try TestPKI(in: temp)
        for id in ["kanri01", "kaigi01"] { try pki.person(id) }
        do {
            let record = try RuleTests.Record(temp, path: temp.file("hub/record.sqlite"))
            _ = try await record.store.importRegister(
                .people, csv: "person_id,name,role,left\nkanri01,山田,管理者,\nkaigi01,佐藤,会議,\n", by: "kanri01")
        }
        let hub = try await HubProcess(pki: pki, temp: temp)
        defer { hub.stop() }
        let ctl = Binaries.path("kirokuctl")
        func run(_ id: String, _ arguments: [String]) async throws -> Outcome {
            try await runProgram(ctl, arguments + ["--hub", hub.url, "--pki", pki.dir.path, "--as", id])
        }
        let yesterday = BusinessCalendar.day(Int64(Date().timeIntervalSince1970 * 1000) - 86_400_000)
        let made = try await run(
            "kanri01", ["review", "--through", yesterday.replacingOccurrences(of: "-", with: "/"), "--note", "異常なし"])
        #expect(made.status == 0 && made.stdout.contains("\(yesterday) までの点検を hub/"), "\(made.stdout)\(made.stderr)")
        let refused = try await run("kaigi01", ["review", "--through", yesterday])
        #expect(refused.status == 2 && refused.stderr.contains("not_permitted"), "\(refused.stderr)")
        let future = try await run("kanri01", ["review", "--through", "2099-01-01"])
        #expect(future.status == 64 && future.stderr.contains("has not come yet"), "\(future.stderr)")
        let listed = try await run("kaigi01", ["review", "--list"])
        #expect(
            listed.status == 0 && listed.stdout.contains(yesterday) && listed.stdout.contains("異常なし")
                && listed.stdout.contains("点検 1 件"), "\(listed.stdout)")
        let usage = try await run("kanri01", ["review"])
        #expect(usage.status == 64 && usage.stderr.contains("--through"), "\(usage.stderr)")
    }

    @Test(
        "Media not returned the same day (第15), judged again when a late return arrives; instructions to departments unanswered past their due day (第10)"
    )
    func mediaAndDirectives() async throws {
        let record = try RuleTests.Record(try TempDir("ledger-media"))
        _ = try await record.store.importRegister(
            .media,
            csv:
                "media_id,content,location,custodian\nUSB-0007,住民データのバックアップ,電算室 金庫,P0012\nBK-01,バックアップテープ,電算室 金庫,P0012\n",
            by: "kanri01")
        try await record.add(
            "room", "2026-12-10 09:00", "media", "take_out", "P0012", "USB-0007", attrs: ["purpose": "バックアップ"])
        try await record.add("room", "2026-12-10 17:00", "media", "return", "P0012", "USB-0007")  // back the same day
        try await record.add(
            "room", "2026-12-10 10:00", "media", "take_out", "P0013", "BK-01", attrs: ["purpose": "外部保管"])
        // the next day: not that day's return
        try await record.add("room", "2026-12-11 09:00", "media", "return", "P0013", "BK-01")
        try await record.add(
            "room", "2026-12-10 11:00", "media", "take_out", "P0014", "USB-9999", attrs: ["purpose": "持ち帰り"])
        try await record.store.evaluateRules(RuleTests.settings, now: RuleTests.now)
        let found = try await record.findings(.mediaNotReturned, status: .open).sorted {
            $0.firstSeen < $1.firstSeen
        }
        #expect(found.map(\.evidence) == [["room/3"], ["room/5"]], "\(found)")
        #expect(found[0].summaryJa == "BK-01 を P0013 が 2026-12-10 に持ち出し (外部保管)、同日の返却の記録がない", "\(found[0])")
        #expect(
            found[1].summary.contains("it is not in the media register") && found[1].article == "第15", "\(found[1])")
        // BK-01's return of that evening, from a ledger typed in late: resolved.
        try await record.add("room2", "2026-12-10 18:00", "media", "return", "P0013", "BK-01")
        try await record.store.evaluateRules(RuleTests.settings, now: RuleTests.now)
        #expect(try await record.findings(.mediaNotReturned, status: .open).map(\.evidence) == [["room/5"]])

        _ = try await record.store.importRegister(
            .directives,
            csv:
                "directive_id,department,content,issued,due,answered\nD-1,市民課,端末の画面ロックの徹底,2026-11-20,2026-12-01,\nD-2,税務課,操作者の再教育,2026-11-20,2026-12-01,2026/11/30\nD-3,情報政策課,持出し規程の改定,2026-12-20,2027-12-31,\n",
            by: "tokatsu01")
        try await record.store.evaluateRules(RuleTests.settings, now: RuleTests.now)
        let overdue = try await record.findings(.directiveOverdue, status: .open)
        #expect(
            overdue.count == 1 && overdue[0].summaryJa?.contains("市民課 への指示 D-1") == true && overdue[0].article == "第10",
            "\(overdue)")
        _ = try await record.store.importRegister(
            .directives,
            csv:
                "directive_id,department,content,issued,due,answered\nD-1,市民課,端末の画面ロックの徹底,2026-11-20,2026-12-01,2027-01-05\n",
            by: "tokatsu01")
        try await record.store.evaluateRules(RuleTests.settings, now: RuleTests.now)
        let late = try await record.findings(.directiveOverdue, status: .open)
        #expect(
            late.count == 1 && late[0].summary.contains("was answered late, on 2027-01-05"),
            "answered after the due day: kept, said as late \(late)")
        do {
            _ = try await record.store.importRegister(
                .directives,
                csv: "directive_id,department,content,issued,due,answered\nD-9,市民課,x,2026-12-02,2026-12-01,\n",
                by: "tokatsu01")
            Issue.record("a due day before the issue day was accepted")
        } catch let error as KirokuError {
            #expect(error.message.contains("line 2") && error.message.contains("in order"))
        }
    }

    @Test(
        "A card inserted where its holder is not (第16④): in another room, gone out, never in; judged again when the door log arrives late; near-misses pass"
    )
    func cardHolderAbsent() async throws {
        let record = try RuleTests.Record(try TempDir("misuse-card-absent"))
        _ = try await record.store.importRegister(
            .permits,
            csv:
                "permit_id,person,room,valid_from,valid_to\nR-1,P1,電算室,2026-12-01,\nR-2,P2,電算室,2026-12-01,\nR-3,P3,電算室,2026-12-01,\n",
            by: "kanri01", now: MisuseTests.at("2026-11-30T09:00"))
        _ = try await record.store.importRegister(
            .cards,
            csv:
                "card_id,holder,state,since\nC-1,P1,active,2026-12-01\nC-2,P2,active,2026-12-01\nC-3,P3,active,2026-12-01\nC-4,P4,active,2026-12-01\n",
            by: "kanri01", now: MisuseTests.at("2026-11-30T09:00"))
        // P1 is in the 電算室 and uses their card at its terminal: fine.
        try await record.add("door", "2026-12-10 09:00", "access", "enter", "P1", "電算室")
        try await record.add("srv-01", "2026-12-10 09:05", "card", "insert", "C-1", "srv-01", site: "電算室")
        // P2 left the 電算室 at 10:00; their card goes into its terminal at 10:30.
        try await record.add("door", "2026-12-10 09:30", "access", "enter", "P2", "電算室")
        try await record.add("door", "2026-12-10 10:00", "access", "exit", "P2", "電算室")
        try await record.add("srv-01", "2026-12-10 10:30", "card", "insert", "C-2", "srv-01", site: "電算室")
        // P3 never entered that day, though the door recorded others.
        try await record.add("srv-01", "2026-12-10 11:00", "card", "insert", "C-3", "srv-01", site: "電算室")
        // A counter terminal is no controlled room: not judged.
        try await record.add("counter-01", "2026-12-10 11:30", "card", "insert", "C-4", "counter-01", site: "本庁舎 市民課")
        try await record.store.evaluateRules(RuleTests.settings, now: RuleTests.now)
        let found = try await record.findings(.cardHolderAbsent, status: .open).sorted {
            $0.firstSeen < $1.firstSeen
        }
        #expect(found.map(\.evidence) == [["srv-01/2"], ["srv-01/3"]], "\(found)")
        #expect(
            found[0].summaryJa?.contains("保持者 P2 は 2026-12-10 10:00:00 に 電算室 を退室していた") == true
                && found[0].severity == "critical", "\(found[0])")
        #expect(found[1].summary.contains("its holder P3 was not recorded entering 電算室 that day"), "\(found[1])")
        // The card's holder may not resolve a finding about their card (its event's actor is the card).
        await #expect(throws: KirokuError.self) {
            _ = try await record.store.act(onFinding: found[0].id, status: .resolved, reason: "自分で使った", by: "P2")
        }
        // P3's entry at 10:50 comes late from an offline door controller: resolved.
        try await record.add("door2", "2026-12-10 10:50", "access", "enter", "P3", "電算室")
        try await record.store.evaluateRules(RuleTests.settings, now: RuleTests.now)
        #expect(try await record.findings(.cardHolderAbsent, status: .open).map(\.evidence) == [["srv-01/2"]])
        // P1 moves to the サーバ室; their card then goes into the 電算室's terminal.
        try await record.add("door", "2026-12-10 13:00", "access", "enter", "P1", "サーバ室")
        try await record.add("srv-01", "2026-12-10 13:10", "card", "insert", "C-1", "srv-01", site: "電算室")
        try await record.store.evaluateRules(RuleTests.settings, now: RuleTests.now)
        let elsewhere = try await record.findings(.cardHolderAbsent, status: .open).filter {
            $0.evidence == ["srv-01/4"]
        }
        #expect(elsewhere.count == 1 && elsewhere[0].summary.contains("had entered サーバ室"), "\(elsewhere)")
    }
}
