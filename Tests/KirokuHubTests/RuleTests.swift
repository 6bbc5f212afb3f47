import Foundation
import KirokuHub
import KirokuProtocol
import KirokuTestSupport
import Testing

extension Timestamp {
    var date: Date { Date(timeIntervalSince1970: Double(epochMilliseconds) / 1000) }
}

/// Each rule against events that must raise its finding and near-misses that must not, judged by event
/// time however late the events arrive (issue 4; the articles are the city's standard's).
@Suite("Rules and findings")
struct RuleTests {
    /// 2027-01-10 12:00 JST: every day used below is over.
    static let now = Timestamp(rfc3339: "2027-01-10T12:00:00.000+09:00")!.date

    /// Builds each agent's chain as its journal would.
    final class Record {
        let temp: TempDir
        let store: HubStore
        var chains: [String: (seq: Int64, hash: String)] = [:]

        init(_ temp: TempDir, path: String? = nil) throws {
            self.temp = temp
            store = try HubStore.open(path: path ?? temp.file("record.sqlite"))
        }

        /// `time` is JST wall time `YYYY-MM-DD HH:MM`.
        func add(
            _ agent: String, _ time: String, _ kind: String, _ action: String, _ actor: String, _ subject: String = "",
            attrs: [String: String] = [:], receivedAtEventTime: Bool = false, site: String = "本庁舎"
        ) async throws {
            // Hours may be written without their leading zero.
            let parts = time.split(separator: " ")
            let clock = parts[1].split(separator: ":").map { String(format: "%02d", Int($0)!) }.joined(separator: ":")
            let stamp = "\(parts[0])T\(clock):00.000+09:00"
            let (seq, prev) = chains[agent] ?? (0, Event.genesis)
            let event = Event(
                agent: agent, seq: seq + 1, time: stamp, kind: kind, action: action, actor: actor, subject: subject,
                site: site,
                attrs: attrs, salt: Event.randomSalt(), prev: prev
            ).sealed()
            chains[agent] = (event.seq, event.hash)
            // Sent now, whenever it happened: agents send late events with their current clock.
            // (Or, for the agents' health, at the event's time: that is when the hub last heard from it.)
            let received = receivedAtEventTime ? Timestamp(rfc3339: stamp)!.date : Date()
            _ = try await store.ingest(
                Batch(agent: agent, sentAt: Timestamp(date: received).rfc3339, headSeq: event.seq, events: [event]),
                identity: agent,
                now: received)
        }

        func findings(_ rule: RuleID, status: FindingStatus? = nil) async throws -> [Finding] {
            try await store.findings(status: status, rule: rule)
        }
    }

    static var settings: RuleSettings {
        var settings = RuleSettings()
        settings.calendar = BusinessCalendar(holidays: ["2026-11-23"])
        settings.bulkLookupsPerHour = 10
        return settings
    }

    @Test("The business calendar's JST arithmetic agrees with Foundation's Calendar from 1970 to 2100")
    func calendarArithmetic() {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(secondsFromGMT: 9 * 3600)!
        var random = SystemRandomNumberGenerator()
        let business = BusinessCalendar(holidays: ["2026-11-23"])
        for _ in 0..<20_000 {
            let ms = Int64.random(in: 0...4_102_444_800_000, using: &random)
            let date = Date(timeIntervalSince1970: Double(ms) / 1000)
            let c = calendar.dateComponents([.year, .month, .day, .weekday, .hour, .minute], from: date)
            let day = String(format: "%04d-%02d-%02d", c.year!, c.month!, c.day!)
            #expect(BusinessCalendar.day(ms) == day)
            let minute = c.hour! * 60 + c.minute!
            let closed =
                c.weekday == 1 || c.weekday == 7 || (c.month == 12 && c.day! >= 29) || (c.month == 1 && c.day! <= 3)
                || day == "2026-11-23"
            #expect(business.isOpen(ms) == (!closed && minute >= 510 && minute < 1035), "\(day) \(minute)")
        }
    }

    @Test("Operations outside business hours (第20): evenings, weekends, 祝日 and 年末年始, not room entries or office hours")
    func outOfHours() async throws {
        let record = try Record(try TempDir("rules-hours"))
        try await record.add("t1", "2026-11-25 10:00", "operation", "lookup", "P1", "住民A")  // Wednesday, open
        try await record.add("t1", "2026-11-25 17:14", "operation", "print", "P1", "住民A")  // just before closing
        try await record.add("t1", "2026-11-25 20:00", "operation", "lookup", "P1", "住民B")  // evening
        try await record.add("t1", "2026-11-25 20:05", "operation", "update", "P1", "住民B")
        try await record.add("t1", "2026-11-28 10:00", "operation", "login", "P1", "端末01")  // Saturday
        try await record.add("t1", "2026-11-23 10:00", "operation", "lookup", "P1", "住民C")  // 勤労感謝の日
        try await record.add("t1", "2026-12-30 10:00", "operation", "export", "P1", "住民D")  // 年末年始
        try await record.add("t1", "2026-11-25 21:00", "access", "enter", "P1", "電算室")  // not an operation
        // not an operation on data
        try await record.add("t1", "2026-11-25 21:05", "operation", "auth_failure", "P9", "端末01")
        #expect(try await record.store.evaluateRules(Self.settings, now: Self.now) == 9)
        let found = try await record.findings(.outOfHours).sorted { $0.firstSeen < $1.firstSeen }
        #expect(
            found.map(\.firstSeen) == [
                "2026-11-23T10:00:00.000+09:00", "2026-11-25T20:00:00.000+09:00", "2026-11-28T10:00:00.000+09:00",
                "2026-12-30T10:00:00.000+09:00",
            ])
        #expect(found[1].count == 2 && found[1].evidence == ["t1/3", "t1/4"] && found[1].article == "第20")
        #expect(try await record.store.evaluateRules(Self.settings, now: Self.now) == 0, "each event is judged once")
    }

    @Test(
        "An id written in NFC and in NFD is two people to every rule, as the record, the findings' keys and the report keep it"
    )
    func idsComparedAsStored() async throws {
        let record = try Record(try TempDir("rules-nfd"))
        let composed = "職員\u{30AC}"
        let decomposed = "職員\u{30AB}\u{3099}"
        #expect(composed == decomposed && !composed.utf8.elementsEqual(decomposed.utf8))
        for actor in [composed, decomposed] {
            for minute in 0..<10 {
                try await record.add(
                    "t1", "2026-11-28 10:\(minute)", "operation", "lookup", actor, "住民\(minute)",
                    attrs: minute == 0 ? ["purpose": ""] : [:])
            }
        }
        try await record.store.evaluateRules(Self.settings, now: Self.now)
        // Saturday: out of hours, one finding each; ten lookups each in one hour: bulk at 10, one finding each.
        // (Joined as Strings, one finding of 20 under whichever form came first.)
        #expect(try await record.findings(.outOfHours).map(\.count) == [10, 10])
        #expect(try await record.findings(.bulkLookups).map(\.count) == [10, 10])
        // The first lookup of each had an empty purpose (第20①): one finding each, through the register rules' path.
        #expect(try await record.findings(.lookupPurpose).map(\.count) == [1, 1])
    }

    @Test("Bulk lookups (第20): across batches in one hour; not a near-miss split over two hours")
    func bulkLookups() async throws {
        let record = try Record(try TempDir("rules-bulk"))
        for minute in 0..<6 {
            try await record.add(
                "t1", "2026-12-10 10:\(String(format: "%02d", minute * 9))", "operation", "lookup", "P2", "住民\(minute)")
        }
        try await record.store.evaluateRules(Self.settings, now: Self.now)
        #expect(try await record.findings(.bulkLookups).isEmpty, "6 so far")
        for minute in 0..<4 {
            try await record.add("t1", "2026-12-10 10:5\(minute)", "operation", "lookup", "P2", "住民X\(minute)")
        }
        for minute in 0..<9 {
            try await record.add(
                "t2", "2026-12-10 10:\(String(format: "%02d", minute * 6))", "operation", "lookup", "P3", "住民\(minute)")
        }
        try await record.add("t2", "2026-12-10 11:00", "operation", "lookup", "P3", "住民Z")
        try await record.store.evaluateRules(Self.settings, now: Self.now)
        let found = try await record.findings(.bulkLookups)
        #expect(found.count == 1 && found[0].count == 10 && found[0].summary.contains("P2"), "\(found)")
        #expect(
            found[0].firstSeen == "2026-12-10T10:00:00.000+09:00"
                && found[0].lastSeen == "2026-12-10T10:53:00.000+09:00")
    }

    @Test(
        "Repeated lookups counted once each however the record is chunked, and a subject looked up thousands of times stays cheap"
    )
    func repeatedLookupsAcrossChunks() async throws {
        let record = try Record(try TempDir("rules-repeat-chunks"))
        // 23 lookups of one resident by P7 and 3 by P8, all held before the rules look, judged 4 at a time:
        // events already in the record but not yet handed to the rules must not be counted twice.
        for minute in 0..<23 {
            try await record.add("t1", "2026-12-10 10:\(minute)", "operation", "lookup", "P7", "住民W")
        }
        for minute in 30..<33 {
            try await record.add("t1", "2026-12-10 10:\(minute)", "operation", "lookup", "P8", "住民W")
        }
        try await record.store.evaluateRules(Self.settings, now: Self.now, chunk: 4)
        let found = try await record.findings(.repeatedLookups)
        #expect(
            found.map(\.count) == [23] && found[0].summary == "P7 looked up 住民W 23 times on 2026-12-10",
            "\(found.map(\.summary))")
        // More the same day, one chunk at a time: added, not recounted.
        for minute in 40..<45 {
            try await record.add("t1", "2026-12-10 10:\(minute)", "operation", "lookup", "P7", "住民W")
        }
        try await record.store.evaluateRules(Self.settings, now: Self.now, chunk: 2)
        #expect(try await record.findings(.repeatedLookups).map(\.count) == [28])
    }

    @Test("Repeated lookups of one subject (第20) and bursts of authentication failures (第22), with near-misses")
    func repeatedAndBursts() async throws {
        let record = try Record(try TempDir("rules-repeat"))
        for hour in 9..<14 { try await record.add("t1", "2026-12-10 \(hour):00", "operation", "lookup", "P4", "住民X") }
        for hour in 9..<13 { try await record.add("t1", "2026-12-10 \(hour):10", "operation", "lookup", "P5", "住民Y") }
        for hour in 9..<12 { try await record.add("t1", "2026-12-10 \(hour):20", "operation", "lookup", "P6", "住民Z") }
        for hour in 9..<11 { try await record.add("t1", "2026-12-11 \(hour):20", "operation", "lookup", "P6", "住民Z") }
        for minute in 0..<5 {
            try await record.add("t2", "2026-12-10 09:0\(minute)", "operation", "auth_failure", "P7", "端末02")
        }
        for minute in 0..<4 {
            try await record.add("t2", "2026-12-10 09:1\(minute)", "operation", "auth_failure", "P8", "端末02")
        }
        try await record.add("t2", "2026-12-10 09:25", "operation", "auth_failure", "P8", "端末02")  // another window
        try await record.store.evaluateRules(Self.settings, now: Self.now)
        let repeated = try await record.findings(.repeatedLookups)
        #expect(repeated.count == 1 && repeated[0].summary.contains("P4") && repeated[0].count == 5, "\(repeated)")
        let bursts = try await record.findings(.authFailureBurst)
        #expect(
            bursts.count == 1 && bursts[0].summary.contains("P7") && bursts[0].severity == "critical"
                && bursts[0].article == "第22")
    }

    @Test(
        "Entry without exit (第12): judged at the end of the day, cleared by a late exit, and a month-late entry judged in its day"
    )
    func entryWithoutExit() async throws {
        let record = try Record(try TempDir("rules-exit"))
        try await record.add("room", "2026-12-10 09:00", "access", "enter", "P9", "電算室")
        try await record.add("room", "2026-12-10 10:00", "access", "exit", "P9", "電算室")
        try await record.add("room", "2026-12-10 11:00", "access", "enter", "P10", "電算室")
        try await record.add("room", "2026-12-10 11:30", "access", "enter", "P11", "保管庫")
        try await record.add("room", "2026-12-10 12:30", "access", "exit", "P11", "保管庫")
        // Judged on the day itself, nothing is due yet.
        try await record.store.evaluateRules(
            Self.settings, now: Timestamp(rfc3339: "2026-12-10T15:00:00.000+09:00")!.date)
        #expect(try await record.findings(.entryWithoutExit).isEmpty)
        // The next morning the sweep finds P10 still inside.
        try await record.store.evaluateRules(
            Self.settings, now: Timestamp(rfc3339: "2026-12-11T09:00:00.000+09:00")!.date)
        var found = try await record.findings(.entryWithoutExit)
        #expect(found.count == 1 && found[0].summary.contains("P10") && found[0].evidence == ["room/3"], "\(found)")
        // P10's exit reaches the hub late (an offline door controller): the finding is resolved.
        try await record.add("room", "2026-12-10 18:00", "access", "exit", "P10", "電算室")
        try await record.store.evaluateRules(Self.settings, now: Self.now)
        found = try await record.findings(.entryWithoutExit)
        #expect(found.count == 1 && found[0].status == .resolved && found[0].history.last?.by == "kiroku-hub")
        // A batch from a door controller offline for a month: judged in its own day.
        try await record.add("door2", "2026-12-01 08:45", "access", "enter", "P12", "電算室")
        try await record.store.evaluateRules(Self.settings, now: Self.now)
        let late = try #require(try await record.findings(.entryWithoutExit, status: .open).first)
        #expect(late.firstSeen == "2026-12-01T08:45:00.000+09:00" && late.summary.contains("P12"))
    }

    @Test(
        "Operations after the operator card was removed (第16⑤), not before it or after a new card, nor on terminals without cards"
    )
    func cardRemoval() async throws {
        let record = try Record(try TempDir("rules-card"))
        try await record.add("t1", "2026-12-10 09:00", "card", "insert", "C-1001", "端末01")
        try await record.add("t1", "2026-12-10 09:10", "operation", "lookup", "P1", "住民A")
        try await record.add("t1", "2026-12-10 09:30", "card", "remove", "C-1001", "端末01")
        try await record.add("t1", "2026-12-10 09:40", "operation", "lookup", "P1", "住民B")
        try await record.add("t2", "2026-12-10 09:40", "operation", "lookup", "P2", "住民C")  // no cards on t2
        try await record.add("t3", "2026-12-10 09:00", "card", "insert", "C-1003", "端末03")
        try await record.add("t3", "2026-12-10 09:20", "card", "remove", "C-1003", "端末03")
        try await record.add("t3", "2026-12-10 09:25", "card", "insert", "C-1004", "端末03")
        try await record.add("t3", "2026-12-10 09:30", "operation", "lookup", "P3", "住民D")
        try await record.store.evaluateRules(Self.settings, now: Self.now)
        let found = try await record.findings(.operationAfterCardRemoval)
        #expect(found.count == 1 && found[0].evidence == ["t1/4"] && found[0].severity == "critical", "\(found)")
    }

    @Test("A virus not contained in time (第19③④): cut-off and report deadlines, judged only once they pass")
    func malware() async throws {
        let record = try Record(try TempDir("rules-virus"))
        try await record.add("m1", "2026-12-10 10:00", "malware", "detected", "clamav", "USB-0001")
        try await record.add("m1", "2026-12-10 10:05", "malware", "network_cut", "P1", "端末01")
        try await record.add("m1", "2026-12-10 10:30", "malware", "reported", "P1", "管理者")
        try await record.add("m2", "2026-12-10 10:00", "malware", "detected", "clamav", "USB-0002")
        try await record.add("m2", "2026-12-10 10:30", "malware", "reported", "P2", "管理者")
        try await record.add("m3", "2026-12-10 10:00", "malware", "detected", "clamav", "USB-0003")
        // At 10:08 no deadline has passed for anyone.
        try await record.store.evaluateRules(
            Self.settings, now: Timestamp(rfc3339: "2026-12-10T10:08:00.000+09:00")!.date)
        #expect(try await record.findings(.malwareNotContained).isEmpty)
        try await record.store.evaluateRules(
            Self.settings, now: Timestamp(rfc3339: "2026-12-10T11:30:00.000+09:00")!.date)
        let found = try await record.findings(.malwareNotContained).sorted { $0.evidence[0] < $1.evidence[0] }
        #expect(found.map(\.evidence) == [["m2/1"], ["m3/1"]], "\(found)")
        #expect(found[0].summary.contains("no network cut-off") && !found[0].summary.contains("no report"))
        #expect(found[1].summary.contains("no network cut-off") && found[1].summary.contains("no report"))
        // A report that arrives after its deadline: the finding stays, and says late instead of missing.
        try await record.add("m4", "2026-12-10 10:00", "malware", "detected", "clamav", "USB-0004")
        try await record.add("m4", "2026-12-10 10:05", "malware", "network_cut", "P4", "端末04")
        try await record.store.evaluateRules(
            Self.settings, now: Timestamp(rfc3339: "2026-12-10T11:10:00.000+09:00")!.date)
        let missing = try await record.findings(.malwareNotContained).first { $0.evidence == ["m4/1"] }
        #expect(missing?.summary.contains("no report within 60 min") == true, "\(String(describing: missing))")
        try await record.add("m4", "2026-12-10 11:20", "malware", "reported", "P4", "管理者")
        // A later detection's report is its own, not the first one's.
        try await record.add("m3", "2026-12-10 12:00", "malware", "detected", "clamav", "USB-0005")
        try await record.add("m3", "2026-12-10 12:05", "malware", "reported", "P3", "管理者")
        try await record.store.evaluateRules(
            Self.settings, now: Timestamp(rfc3339: "2026-12-10T13:30:00.000+09:00")!.date)
        let late = try await record.findings(.malwareNotContained).first { $0.evidence == ["m4/1"] }
        #expect(
            late?.summary.contains("report late, at 2026-12-10 11:20") == true
                && late?.summary.contains("no report") == false, "\(String(describing: late))")
        #expect(late?.summaryJa?.contains("期限 (60 分) を過ぎて") == true && late?.status == .open)
        let first = try await record.findings(.malwareNotContained).first { $0.evidence == ["m3/1"] }
        #expect(first?.summary.contains("no report within 60 min") == true, "\(String(describing: first))")
    }

    @Test(
        "Registers from CSV: clear errors by line change nothing; import and export round-trip (BOM, CRLF, quoted fields)"
    )
    func registers() async throws {
        let record = try Record(try TempDir("rules-registers"))
        let good =
            "\u{FEFF}permit_id,person,room,valid_from,valid_to\r\nR-1,P0012,電算室,2026-04-01,2027-03-31\r\n=\"R-2\",P0034,\"保管庫, 2F\",2026-12-01,\r\n"
        let imported = try await record.store.importRegister(.permits, csv: good, by: "kanri01")
        #expect(imported == (2, 0, 0))
        let bad: [(String, String)] = [
            ("permit_id,person,room,valid_from\n", "valid_to"),
            ("permit_id,person,room,valid_from,valid_to\nR-1,P1,電算室,2026-13-01,\n", "line 2"),
            (
                "permit_id,person,room,valid_from,valid_to\nR-1,P1,電算室,2026-01-01,\nR-1,P2,電算室,2026-01-01,\n",
                "appears twice"
            ),
            ("permit_id,person,room,valid_from,valid_to\nR-1,P1,電算室\n", "3 fields"),
            (
                "permit_id,person,room,valid_from,valid_to\nR-1\u{0},P1,電算室,2026-01-01,\n",
                "line 2: permit_id contains a control character (U+0000)"
            ),
        ]
        for (csv, message) in bad {
            do {
                _ = try await record.store.importRegister(.permits, csv: csv, by: "kanri01")
                Issue.record("accepted: \(csv)")
            } catch let error as KirokuError {
                #expect(error.message.contains(message), "\(error.message)")
            }
        }
        #expect(try await record.store.register(.permits).count == 2, "a refused import changes nothing")
        let exported = try await record.store.exportRegister(.permits)
        #expect(
            exported.hasPrefix("\u{FEFF}permit_id,person,room,valid_from,valid_to\r\n")
                && exported.contains("\"保管庫, 2F\""))
        #expect(
            try await record.store.importRegister(.permits, csv: exported, by: "kanri01") == (0, 0, 0),
            "export, then import: no change")
        // A row changed, one removed, one added: the record names them, and a digest of the whole register.
        let next =
            "permit_id,person,room,valid_from,valid_to\nR-1,P0012,電算室,2026-04-01,2027-06-30\nR-3,P0056,電算室,2027-01-01,\n"
        #expect(try await record.store.importRegister(.permits, csv: next, by: "kanri01") == (1, 1, 1))
        var query = EventQuery()
        query.agent = "hub"
        let imports = try await record.store.query(query).events.filter { $0.action == "register_imported" }
        #expect(imports.count == 3)
        #expect(imports[0].attrs["added_keys"] == "R-1, R-2" && imports[1].attrs["added_keys"] == nil)
        #expect(
            imports[2].attrs["added_keys"] == "R-3" && imports[2].attrs["changed_keys"] == "R-1"
                && imports[2].attrs["removed_keys"] == "R-2")
        #expect(
            imports[0].attrs["sha256"] == imports[1].attrs["sha256"]
                && imports[1].attrs["sha256"] != imports[2].attrs["sha256"])
        // The digest is over what the register holds now: the same rows in another order give the same one.
        let reordered =
            "permit_id,person,room,valid_from,valid_to\nR-3,P0056,電算室,2027-01-01,\nR-1,P0012,電算室,2026-04-01,2027-06-30\n"
        _ = try await record.store.importRegister(.permits, csv: reordered, by: "kanri01")
        let last = try await record.store.query(query).events.filter { $0.action == "register_imported" }.last
        #expect(last?.attrs["sha256"] == imports[2].attrs["sha256"] && last?.attrs["changed"] == "0")
        // Thousands of changed rows: the list stays within an event's size, saying how many more.
        let many =
            "permit_id,person,room,valid_from,valid_to\n"
            + (0..<3000).map { "許可-\($0),P\($0),電算室,2026-04-01,\n" }.joined()
        _ = try await record.store.importRegister(.permits, csv: many, by: "kanri01")
        let big = try await record.store.query(query).events.filter { $0.action == "register_imported" }.last
        #expect(big?.attrs["added_keys"]?.hasSuffix("more)") == true && big?.attrs["removed_keys"] == "R-1, R-3")
    }

    @Test("Entry without a valid permit (第12②) and operator-card misuse (第16), once the registers are loaded")
    func registerRules() async throws {
        let record = try Record(try TempDir("rules-permits"))
        // before any register: not judged
        try await record.add("room", "2026-12-10 09:00", "access", "enter", "P0099", "電算室")
        try await record.store.evaluateRules(Self.settings, now: Self.now)
        _ = try await record.store.importRegister(
            .permits,
            csv:
                "permit_id,person,room,valid_from,valid_to\nR-1,P0012,電算室,2026-04-01,2026-12-31\nR-2,P0034,電算室,2026-12-15,\n",
            by: "kanri01")
        _ = try await record.store.importRegister(
            .cards,
            csv: "card_id,holder,state,since\nC-1001,P0101,active,2026-04-01\nC-1002,P0102,revoked,2026-12-05\n",
            by: "kanri01")
        try await record.add("room", "2026-12-10 09:05", "access", "enter", "P0012", "電算室")  // permitted
        // permit starts on the 15th
        try await record.add("room", "2026-12-10 09:10", "access", "enter", "P0034", "電算室")
        try await record.add("room", "2026-12-16 09:10", "access", "enter", "P0034", "電算室")  // now permitted
        try await record.add("room", "2026-12-10 09:20", "access", "enter", "P0012", "保管庫")  // wrong room
        try await record.add("t1", "2026-12-10 09:00", "card", "insert", "C-1001", "端末01")  // holder not stated: fine
        try await record.add("t1", "2026-12-04 09:00", "card", "insert", "C-1002", "端末01")  // before revocation
        try await record.add("t1", "2026-12-10 10:00", "card", "insert", "C-1002", "端末01")  // after revocation
        try await record.add("t2", "2026-12-10 11:00", "card", "insert", "C-1001", "端末02")
        try await record.store.evaluateRules(Self.settings, now: Self.now)
        let permits = try await record.findings(.entryWithoutPermit).sorted { $0.summary < $1.summary }
        #expect(permits.map(\.evidence) == [["room/5"], ["room/3"]], "\(permits.map(\.summary))")
        #expect(permits.allSatisfy { $0.article == "第12" && $0.severity == "critical" })
        let cards = try await record.findings(.cardMisuse)
        #expect(
            cards.count == 1 && cards[0].evidence == ["t1/3"] && cards[0].summary.contains("revoked since 2026-12-05"),
            "\(cards)")
        // A card used by someone who is not its holder, as the reader reports it.
        try await record.add("t2", "2026-12-11 09:00", "card", "insert", "C-1001", "端末02", attrs: ["holder": "P0999"])
        try await record.store.evaluateRules(Self.settings, now: Self.now)
        let misuse = try await record.findings(.cardMisuse).first { $0.evidence == ["t2/2"] }
        #expect(misuse?.summary.contains("used by P0999, not its holder P0101") == true)
    }

    @Test("The configuration register (第14, 第17): unapproved devices and programs, approved ones and near-misses not")
    func configurationRegister() async throws {
        let record = try Record(try TempDir("rules-config"))
        _ = try await record.store.importRegister(
            .devices, csv: "device_id,agent,vendor,product,serial\nD-1,t1,0781,5567,4C530001\nD-2,*,090C,1000,\n",
            by: "kanri01")
        let client = String(repeating: "ab", count: 32)
        _ = try await record.store.importRegister(
            .programs,
            csv:
                "program_id,agent,subject,sha256,version\nP-1,*,/opt/juki/bin/juki-client,\(client),\nP-2,t1,package bash,,5.2.15-2\n",
            by: "kanri01")
        func change(_ agent: String, _ action: String, _ subject: String, _ attrs: [String: String]) async throws {
            let minute = record.chains[agent]?.seq ?? 0
            try await record.add(
                agent, "2026-12-10 10:\(minute)", "config", action, "kiroku-agent", subject, attrs: attrs)
        }
        try await change(
            "t1", "device_attached", "USB 0781:5567 4C530001",
            ["vendor": "0781", "product": "5567", "serial": "4C530001"])  // approved on t1
        try await change(
            "t2", "device_attached", "USB 0781:5567 4C530001",
            ["vendor": "0781", "product": "5567", "serial": "4C530001"])  // not on t2
        // any terminal, any serial
        try await change("t2", "device_attached", "USB 090c:1000", ["vendor": "090c", "product": "1000"])
        try await change(
            // another stick
            "t1", "device_attached", "USB 0781:5567 FFFF", ["vendor": "0781", "product": "5567", "serial": "FFFF"])
        try await change(
            // it was there
            "t1", "device_removed", "USB 0781:5567 FFFF", ["vendor": "0781", "product": "5567", "serial": "FFFF"])
        try await change(
            "t1", "device_removed", "USB 0781:5567 4C530001",
            ["vendor": "0781", "product": "5567", "serial": "4C530001"])  // approved: fine
        try await change("t1", "program_added", "/opt/juki/bin/juki-client", ["sha256": client])  // approved
        try await change(
            // altered
            "t1", "program_changed", "/opt/juki/bin/juki-client", ["sha256": String(repeating: "cd", count: 32)])
        try await change("t1", "program_added", "package bash", ["version": "5.2.15-2"])  // approved on t1
        try await change("t2", "program_added", "package bash", ["version": "5.2.15-2"])  // not on t2
        try await change("t1", "program_added", "/tmp/tool", ["sha256": client])  // not registered
        try await change("t1", "program_removed", "/tmp/tool", [:])  // removing what was never approved: fine
        // 第17②: the register keeps it on every terminal
        try await change("t2", "program_removed", "/opt/juki/bin/juki-client", [:])
        try await record.store.evaluateRules(Self.settings, now: Self.now)
        let devices = try await record.findings(.unapprovedDevice).flatMap(\.evidence).sorted()
        #expect(devices == ["t1/2", "t1/3", "t2/1"], "\(devices)")
        let programs = try await record.findings(.unapprovedProgram).flatMap(\.evidence).sorted()
        #expect(programs == ["t1/6", "t1/8", "t2/3", "t2/4"], "\(programs)")
        let removal = try await record.findings(.unapprovedProgram).first { $0.evidence == ["t2/4"] }
        #expect(
            removal?.summaryJa?.contains("削除") == true && removal?.summary.contains("第17②") == true,
            "\(String(describing: removal))")
        #expect(try await record.findings(.unapprovedProgram).allSatisfy { $0.article == "第14" })
        do {
            _ = try await record.store.importRegister(
                .devices, csv: "device_id,agent,vendor,product,serial\nD-9,t1,xyz,1,\n", by: "kanri01")
            Issue.record("a bad vendor id was accepted")
        } catch let error as KirokuError {
            #expect(error.message.contains("line 2"))
        }
    }

    @Test(
        "Maintenance without an instruction (第26): none given, unknown, expired, for other equipment; a valid one passes"
    )
    func maintenanceInstructions() async throws {
        let record = try Record(try TempDir("rules-maintenance"))
        _ = try await record.store.importRegister(
            .maintenance,
            csv:
                "instruction_id,contractor,subject,valid_from,valid_to\n指示書-031,日本電算,サーバー1,2026-12-01,2026-12-15\n指示書-032,日本電算,,2026-12-01,2026-12-31\n",
            by: "kanri01")
        try await record.add(
            "room", "2026-12-10 10:00", "incident", "maintenance_start", "V-03", "サーバー1",
            attrs: ["instruction": "指示書-031"])  // valid
        try await record.add(
            "room", "2026-12-10 11:00", "incident", "maintenance_start", "V-03", "サーバー2",
            attrs: ["instruction": "指示書-031"])  // other equipment
        try await record.add(
            "room", "2026-12-20 10:00", "incident", "maintenance_start", "V-03", "サーバー1",
            attrs: ["instruction": "指示書-031"])  // expired
        try await record.add(
            "room", "2026-12-20 11:00", "incident", "maintenance_start", "V-03", "サーバー2",
            attrs: ["instruction": "指示書-032"])  // any equipment
        // none given
        try await record.add("room", "2026-12-21 10:00", "incident", "maintenance_start", "V-04", "サーバー1")
        try await record.add(
            "room", "2026-12-21 11:00", "incident", "maintenance_start", "V-04", "サーバー1",
            attrs: ["instruction": "指示書-999"])
        // ends are not judged
        try await record.add("room", "2026-12-21 12:00", "incident", "maintenance_end", "V-04", "サーバー1")
        try await record.store.evaluateRules(Self.settings, now: Self.now)
        let found = try await record.findings(.maintenanceWithoutInstruction).flatMap(\.evidence).sorted()
        #expect(found == ["room/2", "room/3", "room/5", "room/6"], "\(found)")
        let none = try await record.findings(.maintenanceWithoutInstruction).first { $0.evidence == ["room/5"] }
        #expect(none?.summary.contains("no instruction given") == true && none?.article == "第26")
    }

    @Test("A card not returned (第16): still active a week after its holder left; cleared once revoked in the register")
    func cardNotReturned() async throws {
        let record = try Record(try TempDir("rules-return"))
        _ = try await record.store.importRegister(
            .people,
            csv: "person_id,name,role,left\nP0101,山田 太郎,操作者,2026-12-20\nP0102,佐藤 花子,操作者,2027-01-08\nP0103,鈴木 一郎,操作者,\n",
            by: "kanri01")
        _ = try await record.store.importRegister(
            .cards,
            csv:
                "card_id,holder,state,since\nC-1001,P0101,active,2026-04-01\nC-1002,P0102,active,2026-04-01\nC-1003,P0103,active,2026-04-01\nC-1004,P0101,returned,2026-12-20\n",
            by: "kanri01")
        try await record.store.evaluateRules(Self.settings, now: Self.now)  // 2027-01-10
        let found = try await record.findings(.cardNotReturned, status: .open)
        #expect(
            found.map(\.summary) == ["operator card C-1001 of P0101, who left on 2026-12-20, is still active"],
            "\(found)")
        _ = try await record.store.importRegister(
            .cards,
            csv: "card_id,holder,state,since\nC-1001,P0101,revoked,2027-01-10\nC-1002,P0102,active,2026-04-01\n",
            by: "kanri01")
        try await record.store.evaluateRules(Self.settings, now: Self.now)
        #expect(try await record.findings(.cardNotReturned, status: .open).isEmpty)
        #expect(try await record.findings(.cardNotReturned, status: .resolved).count == 1)
    }

    @Test("住基カード handling (第18): issued out of stock, destroyed unrecovered or without a method; near-misses pass")
    func residentCardHandling() async throws {
        let record = try Record(try TempDir("rules-stock"))
        // Before the register is loaded only the method is judged.
        try await record.add("c2", "2026-12-01 10:00", "residentcard", "destroy", "P0201", "住基カード-000001")  // no method
        // no register yet
        try await record.add("c2", "2026-12-01 10:05", "residentcard", "issue", "P0102", "住基カード-000002")
        try await record.store.evaluateRules(Self.settings, now: Self.now)
        _ = try await record.store.importRegister(
            .stock,
            csv: """
                card_no,state,since,location
                住基カード-000100,stock,2026-11-01,金庫A
                住基カード-000101,issued,2026-11-20,
                住基カード-000102,recovered,2026-11-25,金庫B
                住基カード-000103,stock,2026-11-01,金庫A

                """, by: "unyo01")
        // in stock: fine
        try await record.add("c2", "2026-12-02 10:00", "residentcard", "issue", "P0102", "住基カード-000100")
        // already issued: fine (register ahead)
        try await record.add("c2", "2026-12-02 10:10", "residentcard", "issue", "P0102", "住基カード-000101")
        // recovered: not to be issued
        try await record.add("c2", "2026-12-02 10:20", "residentcard", "issue", "P0102", "住基カード-000102")
        // unknown card
        try await record.add("c2", "2026-12-02 10:30", "residentcard", "issue", "P0102", "住基カード-999999")
        try await record.add(
            // fine
            "c2", "2026-12-02 11:00", "residentcard", "destroy", "P0201", "住基カード-000102", attrs: ["method": "裁断"])
        try await record.add(
            // issued, not recovered
            "c2", "2026-12-02 11:10", "residentcard", "destroy", "P0201", "住基カード-000101", attrs: ["method": "裁断"])
        // in stock but no method
        try await record.add("c2", "2026-12-02 11:20", "residentcard", "destroy", "P0201", "住基カード-000103")
        try await record.add(
            // not judged
            "c2", "2026-12-02 11:30", "residentcard", "stock_in", "P0201", "住基カード", attrs: ["count": "50"])
        try await record.store.evaluateRules(Self.settings, now: Self.now)
        let found = try await record.findings(.residentCardHandling)
        #expect(
            found.flatMap(\.evidence).sorted() == ["c2/1", "c2/5", "c2/6", "c2/8", "c2/9"], "\(found.map(\.summary))")
        #expect(found.allSatisfy { $0.article == "第18" })
        let summaries = found.map(\.summary).joined(separator: "\n")
        #expect(summaries.contains("住基カード-999999 issued by P0102 on 2026-12-02: not in the 住基カード stock register"))
        #expect(
            summaries.contains(
                "住基カード-000101 destroyed by P0201 on 2026-12-02: destroyed while the register has it issued"))
        #expect(summaries.contains("住基カード-000103 destroyed by P0201 on 2026-12-02: destroyed without the method"))
    }

    @Test("The calendar register (業務カレンダー): a closing day adds out-of-hours findings, an open Sunday removes them")
    func calendarRegister() async throws {
        let record = try Record(try TempDir("rules-calendar"))
        _ = try await record.store.importRegister(
            .calendar, csv: "date,type,name\n2026-12-08,holiday,庁舎停電日\n2026-12-13,open,休日窓口 (日曜)\n", by: "kanri01")
        // Tuesday, closed by the register
        try await record.add("c1", "2026-12-08 10:00", "operation", "lookup", "P1", "住民A")
        try await record.add("c1", "2026-12-09 10:00", "operation", "lookup", "P1", "住民B")  // Wednesday: open
        // Sunday, opened by the register
        try await record.add("c1", "2026-12-13 10:00", "operation", "lookup", "P2", "住民C")
        try await record.add("c1", "2026-12-13 18:00", "operation", "lookup", "P2", "住民D")  // …but after hours
        try await record.add("c1", "2026-12-20 10:00", "operation", "lookup", "P3", "住民E")  // an ordinary Sunday
        try await record.add("c1", "2026-11-23 10:00", "operation", "lookup", "P4", "住民F")  // 祝日 from the configuration
        try await record.store.evaluateRules(Self.settings, now: Self.now)
        let found = try await record.findings(.outOfHours).flatMap(\.evidence).sorted()
        #expect(found == ["c1/1", "c1/4", "c1/5", "c1/6"], "\(found)")
        // Rules commit without an fsync of their own (their state is derived); the writer is FULL again after.
        #expect(try record.store.writerSynchronousSetting() == 2)
        #expect(throws: KirokuError.self) {
            try HubStore.parseRegister(.calendar, csv: "date,type,name\n2026-12-08,closed,x\n")
        }
        #expect(throws: KirokuError.self) {
            try HubStore.parseRegister(.calendar, csv: "date,type,name\n2026/13/08,holiday,x\n")
        }
        // As Excel re-saves the date: read as the same day.
        #expect(
            try HubStore.parseRegister(.calendar, csv: "date,type,name\n2026/12/8,holiday,x\n").first?["date"]
                == "2026-12-08")
    }

    @Test(
        "Re-judging a day after a register is loaded or corrected: findings raised, counts replaced not added, cleared when the register allows"
    )
    func rejudgeDay() async throws {
        let record = try Record(try TempDir("rules-rejudge"))
        try await record.add("room", "2026-12-10 09:00", "access", "enter", "P0012", "電算室")
        try await record.add("room", "2026-12-10 09:30", "access", "enter", "P0034", "電算室")
        try await record.add("room", "2026-12-10 10:30", "access", "enter", "P0034", "電算室")
        // another day, not re-judged
        try await record.add("room", "2026-12-11 09:00", "access", "enter", "P0034", "電算室")
        try await record.store.evaluateRules(Self.settings, now: Self.now)
        let permits = "permit_id,person,room,valid_from,valid_to\nR-1,P0012,電算室,2026-04-01,\n"
        _ = try await record.store.importRegister(.permits, csv: permits, by: "kanri01")
        try await record.store.evaluateRules(Self.settings, now: Self.now)
        #expect(
            try await record.findings(.entryWithoutPermit).isEmpty, "events judged before the register stay judged")

        let first = try await record.store.rejudge(
            day: "2026-12-10", settings: Self.settings, by: "kanri01", now: Self.now)
        #expect(first.found == 1 && first.resolved == 0)
        var found = try await record.findings(.entryWithoutPermit)
        #expect(found.map(\.count) == [2] && found[0].summary.contains("P0034 entered 電算室 on 2026-12-10"))
        // Again, and with a late event of that day not yet evaluated when the day is judged: each counted once.
        try await record.add("room", "2026-12-10 11:00", "access", "enter", "P0034", "電算室")
        _ = try await record.store.rejudge(day: "2026-12-10", settings: Self.settings, by: "kanri01", now: Self.now)
        try await record.store.evaluateRules(Self.settings, now: Self.now)
        found = try await record.findings(.entryWithoutPermit)
        #expect(found.map(\.count) == [3] && found[0].evidence.sorted() == ["room/2", "room/3", "room/5"], "\(found)")

        // The register corrected (P0034's permit was only missing from the spreadsheet): the day judged again clears it.
        _ = try await record.store.importRegister(.permits, csv: permits + "R-2,P0034,電算室,2026-12-01,\n", by: "kanri01")
        let second = try await record.store.rejudge(
            day: "2026-12-10", settings: Self.settings, by: "kanri01", now: Self.now)
        #expect(second.found == 0 && second.resolved == 1)
        let cleared = try #require(try await record.findings(.entryWithoutPermit).first)
        #expect(
            cleared.status == .resolved
                && cleared.history.last?.reason.contains("re-judged against the registers as they now stand") == true)

        // Who asked is on the record; bad days change nothing.
        var query = EventQuery()
        query.agent = "hub"
        let asked = try await record.store.query(query).events.filter { $0.action == "rules_rejudged" }
        #expect(asked.count == 3 && asked.allSatisfy { $0.actor == "kanri01" && $0.subject == "2026-12-10" })
        #expect(asked.map { $0.attrs["resolved"] } == ["0", "0", "1"])
        for bad in ["2026-13-01", "yesterday", "2099-01-01"] {
            await #expect(throws: KirokuError.self) {
                _ = try await record.store.rejudge(day: bad, settings: Self.settings, by: "kanri01")
            }
        }
        #expect(try await record.store.query(query).events.filter { $0.action == "rules_rejudged" }.count == 3)
    }

    @Test(
        "The watch-list (第20①): every lookup, update, print or export of a listed resident is a finding naming the entry, never the resident; near-misses pass"
    )
    func watchlist() async throws {
        let record = try Record(try TempDir("rules-watchlist"))
        _ = try await record.store.importRegister(
            .watchlist,
            csv:
                "entry_id,subject,category,valid_from,valid_to\nW-001,住民票コード 00000000777,dv_support,2026-12-01,\nW-002,住民票コード 00000000888,著名人,,2026-12-05\n",
            by: "kanri01")
        try await record.add("t1", "2026-12-10 10:00", "operation", "lookup", "P1", "住民票コード 00000000777")  // listed
        // again, same day
        try await record.add("t1", "2026-12-10 10:05", "operation", "print", "P1", "住民票コード 00000000777")
        // listed until 12-05 only
        try await record.add("t2", "2026-12-10 11:00", "operation", "lookup", "P2", "住民票コード 00000000888")
        // within its period
        try await record.add("t2", "2026-12-04 11:00", "operation", "lookup", "P2", "住民票コード 00000000888")
        // another resident
        try await record.add("t2", "2026-12-10 11:30", "operation", "lookup", "P2", "住民票コード 00000000778")
        // not an operation on them
        try await record.add("t2", "2026-12-10 11:40", "operation", "login", "P2", "住民票コード 00000000777")
        try await record.store.evaluateRules(Self.settings, now: Self.now)
        let found = try await record.findings(.watchlistLookup).sorted { $0.firstSeen < $1.firstSeen }
        #expect(found.map(\.evidence) == [["t2/2"], ["t1/1", "t1/2"]], "\(found)")
        #expect(
            found.allSatisfy {
                $0.severity == "critical" && $0.article == "第20" && !$0.summary.contains("00000000")
                    && !($0.summaryJa ?? "").contains("00000000")
            })
        #expect(found[1].summaryJa?.contains("注意対象者 W-001 (DV等支援措置対象者)") == true && found[1].count == 2, "\(found[1])")
        // A resident added to the list later: their past lookups are judged when the day is re-judged.
        _ = try await record.store.importRegister(
            .watchlist,
            csv:
                "entry_id,subject,category,valid_from,valid_to\nW-001,住民票コード 00000000777,dv_support,2026-12-01,\nW-002,住民票コード 00000000888,著名人,,2026-12-05\nW-003,住民票コード 00000000778,staff_family,,\n",
            by: "kanri01")
        #expect(try await record.findings(.watchlistLookup).count == 2)
        let again = try await record.store.rejudge(
            day: "2026-12-10", settings: Self.settings, by: "kanri01", now: Self.now)
        let now = try await record.findings(.watchlistLookup, status: .open)
        #expect(
            now.count == 3 && now.contains { $0.evidence == ["t2/3"] && $0.summaryJa?.contains("W-003") == true },
            "\(now)")
        #expect(now.first { $0.evidence == ["t1/1", "t1/2"] }?.count == 2, "counts replaced, not added")
        #expect(again.found == 2, "the two of that day (W-002 was not valid on 2026-12-10)")
        do {
            _ = try await record.store.importRegister(
                .watchlist, csv: "entry_id,subject,category,valid_from,valid_to\nW-9,x,知人,,\n", by: "kanri01")
            Issue.record("an unknown category was accepted")
        } catch let error as KirokuError {
            #expect(error.message.contains("line 2") && error.message.contains("dv_support"))
        }
    }

    @Test("Agent integrity (第20②): overdue, sequence gaps; acknowledging and resolving are recorded with who and why")
    func agentIntegrityAndActions() async throws {
        let record = try Record(try TempDir("rules-agents"))
        // Every minute of today and tomorrow open, whenever the test runs: this test is about the checks,
        // not the calendar (IncidentTests judges quiet terminals by business hours).
        var settings = Self.settings
        settings.calendar = BusinessCalendar(opens: 0, closes: 24 * 60, yearEnd: false)
        for days in 0...1 {
            settings.calendar.openDays.insert(
                BusinessCalendar.day(Int64(Date().timeIntervalSince1970 * 1000) + Int64(days) * 86_400_000))
        }
        try await record.add("t1", "2026-12-10 10:00", "operation", "lookup", "P1", "住民A")
        let later = Date().addingTimeInterval(31 * 60)
        try await record.store.evaluateRules(settings, now: Date())
        #expect(try await record.findings(.agentIntegrity).isEmpty, "just heard from")
        try await record.store.evaluateRules(settings, now: later)
        let overdue = try #require(try await record.findings(.agentIntegrity).first)
        #expect(overdue.summary.contains("t1 has not been heard from"))
        // Heard from again: cleared.
        try await record.add("t1", "2026-12-10 10:01", "operation", "lookup", "P1", "住民B")
        try await record.store.evaluateRules(settings, now: Date())
        #expect(try await record.findings(.agentIntegrity, status: .open).isEmpty)

        // A gap: t2 sends seq 5 when the hub holds nothing of it. Refused, and a finding for t2 only.
        try await record.add("t2", "2026-12-10 10:02", "operation", "lookup", "P2", "住民D")
        let stray = Event(
            agent: "t2", seq: 5, time: "2026-12-10T10:03:00.000+09:00", kind: "operation", action: "lookup",
            actor: "P2",
            subject: "住民E", site: "本庁舎", attrs: [:], salt: Event.randomSalt(), prev: Event.genesis
        ).sealed()
        await #expect(throws: KirokuError.self) {
            _ = try await record.store.ingest(
                Batch(agent: "t2", sentAt: Timestamp(date: Date()).rfc3339, headSeq: 5, events: [stray]), identity: "t2"
            )
        }
        try await record.store.evaluateRules(settings, now: Date())
        let gaps = try await record.findings(.agentIntegrity, status: .open)
        #expect(
            gaps.map(\.summary) == [
                "t2 sent 1 batch(es) with a gap after the hub's last event (refused; the agent must send what the hub lacks)"
            ])
        _ = try await record.store.act(onFinding: gaps[0].id, status: .resolved, reason: "端末再同期を確認", by: "kanri01")

        try await record.add("t1", "2026-12-10 22:00", "operation", "lookup", "P1", "住民C")
        try await record.store.evaluateRules(Self.settings, now: Date())
        let finding = try #require(try await record.findings(.outOfHours).first)
        await #expect(throws: KirokuError.self) {
            _ = try await record.store.act(onFinding: finding.id, status: .acknowledged, reason: " ", by: "kanri01")
        }
        let acknowledged = try await record.store.act(
            onFinding: finding.id, status: .acknowledged, reason: "確認中", by: "kanri01")
        #expect(acknowledged.status == .acknowledged && acknowledged.history.last?.by == "kanri01")
        let resolved = try await record.store.act(
            onFinding: finding.id, status: .resolved, reason: "本人に確認、業務上の照会", by: "kanri01")
        #expect(
            resolved.status == .resolved && resolved.history.map(\.action).suffix(2) == ["acknowledged", "resolved"])
        await #expect(throws: KirokuError.self) {
            _ = try await record.store.act(onFinding: finding.id, status: .resolved, reason: "again", by: "kanri01")
        }
        var query = EventQuery()
        query.agent = "hub"
        let records = try await record.store.query(query).events
        #expect(records.map(\.action) == ["finding_resolved", "finding_acknowledged", "finding_resolved"])
        #expect(records.allSatisfy { $0.actor == "kanri01" })
        #expect(records.map { $0.attrs["finding"] } == ["\(gaps[0].id)", "\(finding.id)", "\(finding.id)"])
    }
}
