import Foundation
import GRDB
import KirokuHub
import KirokuProtocol
import KirokuTestSupport
import Testing

/// The 会議's report's figures from the per-day counts the rules keep are the figures a pass over the period's
/// events gives, whatever stands between them: a checkpoint behind or ahead of the counts, a holiday added
/// later, another threshold, other hours, the purge (第20: the report is what the 会議 audits by).
@Suite("The report's per-day counts")
struct ReportCountsTests {
    static let now = RuleTests.now

    /// SplitMix64: the month's events from a seed that a failure names, so that it can be made again.
    struct Seeded: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    /// Each terminal's chain, sent in one batch per terminal.
    final class Terminals {
        let store: HubStore
        var chains: [String: (seq: Int64, hash: String)] = [:]
        var pending: [String: [Event]] = [:]
        /// KIROKU_TEST_SEED replays a failure's seed.
        let seed =
            ProcessInfo.processInfo.environment["KIROKU_TEST_SEED"].flatMap { UInt64($0) }
            ?? UInt64.random(in: 0...UInt64.max)
        lazy var random = Seeded(state: seed)

        init(_ store: HubStore) { self.store = store }

        func add(
            _ agent: String, _ day: Int, _ minute: Int, _ kind: String, _ action: String, _ actor: String,
            _ subject: String, month: Int = 11, year: Int = 2026
        ) {
            let time = String(
                format: "%04d-%02d-%02dT%02d:%02d:00.000+09:00", year, month, day, minute / 60, minute % 60)
            let (seq, prev) = chains[agent] ?? (0, Event.genesis)
            let event = Event(
                agent: agent, seq: seq + 1, time: time, kind: kind, action: action, actor: actor, subject: subject,
                site: "本庁舎", attrs: [:], salt: Event.randomSalt(), prev: prev
            ).sealed()
            chains[agent] = (event.seq, event.hash)
            pending[agent, default: []].append(event)
        }

        func send() async throws {
            for (agent, events) in pending.sorted(by: { $0.key < $1.key }) {
                _ = try await store.ingest(
                    Batch(
                        agent: agent, sentAt: Timestamp(date: ReportCountsTests.now).rfc3339,
                        headSeq: events.last!.seq, events: events),
                    identity: agent, now: ReportCountsTests.now)
            }
            pending = [:]
        }

        /// A month of a small office's record, at random: lookups (of few residents, so that some are
        /// repeated), changes, failures, entries and exits, configuration changes, scans and a detection, a
        /// loss and a clock jump, an incident; some of October and December beside it.
        func month(events: Int) {
            let agents = ["counter-01", "counter-02", "server-01"]
            let operations = ["lookup", "lookup", "lookup", "lookup", "update", "print", "login", "auth_failure"]
            for _ in 0..<events {
                let agent = agents.randomElement(using: &random)!
                let month = [10, 11, 11, 11, 11, 11, 12].randomElement(using: &random)!
                let day = Int.random(in: 1...30, using: &random)
                let minute = Int.random(in: 0..<1440, using: &random)
                let person = "P\(Int.random(in: 1...4, using: &random))"
                switch Int.random(in: 0..<10, using: &random) {
                case 0..<6:
                    add(
                        agent, day, minute, "operation", operations.randomElement(using: &random)!, person,
                        "住民\(Int.random(in: 1...6, using: &random))", month: month)
                case 6..<8:
                    add(
                        agent, day, minute, "access", ["enter", "exit", "denied"].randomElement(using: &random)!,
                        person, ["サーバ室", "端末室"].randomElement(using: &random)!, month: month)
                case 8:
                    add(agent, day, minute, "config", "program_changed", person, "clamav", month: month)
                default:
                    add(agent, day, minute, "malware", "scan", "clamav", "C:", month: month)
                }
            }
            // One operator's resident, again and again on one day (a repeated lookup, 第20).
            for minute in [600, 610, 620, 630, 640, 650] {
                add("counter-01", 10, minute, "operation", "lookup", "P1", "住民1")
            }
            add("counter-02", 5, 300, "malware", "detected", "clamav", "C:\\tmp\\x.exe")
            add("counter-02", 6, 301, "agent", "loss", "kiroku-agent", "")
            add("server-01", 7, 302, "agent", "clock_jump", "kiroku-agent", "")
            add("server-01", 8, 303, "incident", "fault", "P3", "INC-1")
        }
    }

    final class Steps: @unchecked Sendable {
        var total: Int64 = 0
        func add(_ step: Int64) { total += step }
    }

    /// Turns a closed record back into what an older version left, with GRDB and `sql`.
    static func turnBack(_ path: String, _ sql: String) async throws {
        let queue = try DatabaseQueue(path: path)
        try await queue.write { db in try db.execute(sql: sql) }
        try queue.close()
    }

    static let january = (
        from: Timestamp(rfc3339: "2027-01-01T00:00:00.000+09:00")!.epochMilliseconds,
        to: Timestamp(rfc3339: "2027-02-01T00:00:00.000+09:00")!.epochMilliseconds
    )

    static let november = (
        from: Timestamp(rfc3339: "2026-11-01T00:00:00.000+09:00")!.epochMilliseconds,
        to: Timestamp(rfc3339: "2026-12-01T00:00:00.000+09:00")!.epochMilliseconds
    )

    /// The counts' figures, which must exist and equal those of reading the events.
    static func expectSame(
        _ store: HubStore, treeSize: Int64, settings: RuleSettings,
        from: Int64 = november.from, to: Int64 = november.to, seed: UInt64 = 0,
        sourceLocation: SourceLocation = #_sourceLocation
    ) async throws -> ReportScan {
        let read = try await store.reportScanReadingEvents(
            fromMS: from, toMS: to, treeSize: treeSize, settings: settings)
        let counted = try await store.reportScanFromCounts(
            fromMS: from, toMS: to, treeSize: treeSize, settings: settings)
        #expect(counted != nil, "the counts should hold (seed \(seed))", sourceLocation: sourceLocation)
        #expect(counted == read, "seed \(seed)", sourceLocation: sourceLocation)
        let chosen = try await store.reportScan(
            fromMS: from, toMS: to, treeSize: treeSize, settings: settings)
        #expect(chosen == read, "seed \(seed)", sourceLocation: sourceLocation)
        return read
    }

    /// The counts must decline, and the report then read the record: the same figures as reading it.
    static func expectRead(
        _ store: HubStore, treeSize: Int64, settings: RuleSettings, from: Int64 = november.from,
        to: Int64 = november.to, sourceLocation: SourceLocation = #_sourceLocation
    ) async throws -> ReportScan {
        let counted = try await store.reportScanFromCounts(
            fromMS: from, toMS: to, treeSize: treeSize, settings: settings)
        #expect(counted == nil, "the counts should decline", sourceLocation: sourceLocation)
        let chosen = try await store.reportScan(fromMS: from, toMS: to, treeSize: treeSize, settings: settings)
        let read = try await store.reportScanReadingEvents(
            fromMS: from, toMS: to, treeSize: treeSize, settings: settings)
        #expect(chosen == read, sourceLocation: sourceLocation)
        return read
    }

    @Test("The counts give what reading the events gives, with the checkpoint behind or ahead of them")
    func sameFigures() async throws {
        let temp = try TempDir("report-counts")
        let store = try HubStore.open(path: temp.file("record.sqlite"))
        let terminals = Terminals(store)
        let settings = RuleTests.settings
        terminals.month(events: 900)
        try await terminals.send()
        try await store.evaluateRules(settings, now: Self.now)
        let size = try await store.logSize()

        let read = try await Self.expectSame(store, treeSize: size, settings: settings, seed: terminals.seed)
        // The figures are not empty: each part of the report has something to show.
        #expect((read.operators["P1"]?.repeatedPairs ?? 0) >= 1)
        #expect(read.operators.values.contains { $0.outOfHours > 0 })
        #expect(!read.access.isEmpty && read.listed["config"] != nil && read.listed["malware"]?.count == 1)
        #expect(read.agentTrouble["counter-02"]?.loss == 1 && read.agentTrouble["server-01"]?.clockJumps == 1)

        // A checkpoint older than the counts: the newer events are taken away.
        _ = try await Self.expectSame(store, treeSize: size - 40, settings: settings, seed: terminals.seed)
        _ = try await Self.expectSame(store, treeSize: 1, settings: settings, seed: terminals.seed)

        // Events the rules have not judged yet (a checkpoint ahead of the counts): added, and a pair that
        // crosses the threshold among them counted from the record.
        for minute in [700, 701, 702, 703, 704] {
            terminals.add("counter-03", 12, minute, "operation", "lookup", "P2", "住民9")
        }
        terminals.add("counter-03", 10, 705, "operation", "lookup", "P1", "住民1")
        terminals.month(events: 60)
        try await terminals.send()
        let grown = try await store.logSize()
        let ahead = try await Self.expectSame(store, treeSize: grown, settings: settings, seed: terminals.seed)
        #expect(ahead.operators["P2"]!.repeatedPairs >= 1)
        // Judged, and the checkpoint now behind the counts again.
        try await store.evaluateRules(settings, now: Self.now)
        _ = try await Self.expectSame(store, treeSize: grown, settings: settings, seed: terminals.seed)
        _ = try await Self.expectSame(store, treeSize: size, settings: settings, seed: terminals.seed)

        // A few days, and a holiday added after the counts were taken (the day's lookups all out of hours).
        let ninth = Timestamp(rfc3339: "2026-11-09T00:00:00.000+09:00")!.epochMilliseconds
        _ = try await Self.expectSame(
            store, treeSize: grown, settings: settings, from: ninth, to: ninth + 3 * 86_400_000)
        var holiday = settings
        holiday.calendar.holidays.insert("2026-11-10")
        let withHoliday = try await Self.expectSame(store, treeSize: grown, settings: holiday, seed: terminals.seed)
        #expect(withHoliday.operators["P1"]!.outOfHours > ahead.operators["P1"]!.outOfHours)

        // A higher threshold than the findings were raised with: still exact. A lower one: the findings do
        // not say, so the record is read.
        var higher = settings
        higher.repeatedLookupsPerDay = 7
        _ = try await Self.expectSame(store, treeSize: grown, settings: higher, seed: terminals.seed)
        var lower = settings
        lower.repeatedLookupsPerDay = 3
        _ = try await Self.expectRead(store, treeSize: grown, settings: lower)
        // The threshold lowered for good: January's lookups, judged at 3, are counted at 3; November, judged at the
        // higher one, is still read (the ceiling is kept per day, not once for the whole record).
        for minute in [600, 601, 602] {
            terminals.add("counter-04", 5, minute, "operation", "lookup", "P4", "住民4", month: 1, year: 2027)
        }
        try await terminals.send()
        try await store.evaluateRules(lower, now: Self.now)
        let later = try await store.logSize()
        let january = try await Self.expectSame(
            store, treeSize: later, settings: lower, from: Self.january.from, to: Self.january.to)
        #expect(january.operators["P4"]?.repeatedPairs == 1 && january.operators["P4"]?.repeatedLookups == 3)
        _ = try await Self.expectRead(store, treeSize: later, settings: lower)
        // A period that starts inside a day is read.
        _ = try await Self.expectRead(store, treeSize: grown, settings: settings, from: ninth + 3_600_000)
    }

    @Test("Other hours make the counts be taken again; the purge makes the report read the record")
    func hoursAndPurge() async throws {
        let temp = try TempDir("report-counts-hours")
        let store = try HubStore.open(path: temp.file("record.sqlite"))
        let terminals = Terminals(store)
        let settings = RuleTests.settings
        terminals.month(events: 400)
        // Lookups inside 08:30–17:15 but outside 09:00–17:00, on a Wednesday.
        terminals.add("counter-01", 11, 8 * 60 + 45, "operation", "lookup", "P3", "住民2")
        terminals.add("counter-01", 11, 17 * 60 + 5, "operation", "lookup", "P3", "住民2")
        try await terminals.send()
        try await store.evaluateRules(settings, now: Self.now)
        let size = try await store.logSize()
        _ = try await Self.expectSame(store, treeSize: size, settings: settings, seed: terminals.seed)

        var later = settings
        later.calendar.opens = 9 * 60
        later.calendar.closes = 17 * 60
        #expect(
            try await store.reportScanFromCounts(
                fromMS: Self.november.from, toMS: Self.november.to, treeSize: size, settings: later) == nil)
        // Taken again from the record, every event once, and said as they go; in rounds of one step of 100 here
        // (the hub's rounds take a million), each call returning, so the sweep and a shutdown need not wait.
        let steps = Steps()
        var rounds: [Int64] = []
        repeat {
            let before = steps.total
            try await store.evaluateRules(later, now: Self.now, chunk: 100, countingStep: 100, countingLimit: 100) {
                steps.add($0)
            }
            rounds.append(steps.total - before)
        } while rounds.last == 100 && rounds.count <= size
        #expect(steps.total == size)
        #expect(rounds.count == Int(size / 100) + 1 && rounds.dropLast().allSatisfy { $0 == 100 }, "\(rounds)")
        let retaken = try await Self.expectSame(store, treeSize: size, settings: later, seed: terminals.seed)
        let before = try await store.reportScanReadingEvents(
            fromMS: Self.november.from, toMS: Self.november.to, treeSize: size, settings: settings
        )
        #expect(
            retaken.operators.values.map(\.outOfHours).reduce(0, +)
                > before.operators.values.map(\.outOfHours).reduce(0, +))

        // Entries and exits kept 30 days: November's are purged on 2027-01-10.
        let report = try await store.purge(
            policy: RetentionPolicy(periods: ["access": .days(30)]), by: "kanri01", now: Self.now)
        #expect(report.lines.first { $0.kind == "access" }!.purged > 0)
        let afterPurge = try await Self.expectRead(store, treeSize: size, settings: later)
        #expect(afterPurge.access.isEmpty)
    }

    @Test("Repeated lookups: a threshold raised between chunks, a name in NFC and in NFD, an id holding '|'")
    func repeatedPairs() async throws {
        let temp = try TempDir("report-counts-repeated")
        let store = try HubStore.open(path: temp.file("record.sqlite"))
        let terminals = Terminals(store)
        var three = RuleTests.settings
        three.repeatedLookupsPerDay = 3
        var six = three
        six.repeatedLookupsPerDay = 6
        // Three lookups judged at 3 (a finding counting 3); two judged at 6 (the resident not yet busy at 6, but
        // the pair has its finding: added); one more judged at 6. Six lookups in all: one pair at 6.
        for minute in [600, 601, 602] { terminals.add("counter-01", 16, minute, "operation", "lookup", "P1", "住民7") }
        try await terminals.send()
        try await store.evaluateRules(three, now: Self.now)
        for minute in [603, 604] { terminals.add("counter-01", 16, minute, "operation", "lookup", "P1", "住民7") }
        try await terminals.send()
        try await store.evaluateRules(six, now: Self.now)
        terminals.add("counter-01", 16, 605, "operation", "lookup", "P1", "住民7")
        try await terminals.send()
        try await store.evaluateRules(six, now: Self.now)
        let size = try await store.logSize()
        let atSix = try await Self.expectSame(store, treeSize: size, settings: six)
        #expect(atSix.operators["P1"]?.repeatedPairs == 1 && atSix.operators["P1"]?.repeatedLookups == 6)
        // The finding the 会議 reads beside the report says six too.
        let p1 = try await store.findings(rule: .repeatedLookups).filter { $0.summary.hasPrefix("P1 looked up 住民7") }
        #expect(p1.map(\.count) == [6], "\(p1.map(\.summary))")

        // One resident's name written two ways (NFC ガ, NFD カ + ゛): one name to Swift's String, two subjects to
        // SQLite and the rules. Six lookups of each, judged in one chunk: two pairs at 6, each with its own finding
        // (grouped as Strings, the rule would make them one, and the report's pass one pair of twelve).
        let composed = "住民\u{30AC}"
        let decomposed = "住民\u{30AB}\u{3099}"
        #expect(composed == decomposed && !composed.utf8.elementsEqual(decomposed.utf8))
        for minute in 700..<706 {
            terminals.add("counter-02", 17, minute, "operation", "lookup", "P2", composed)
            terminals.add("counter-02", 17, minute, "operation", "lookup", "P2", decomposed)
        }
        try await terminals.send()
        try await store.evaluateRules(six, now: Self.now)
        let grown = try await store.logSize()
        let bytewise = try await Self.expectSame(store, treeSize: grown, settings: six)
        #expect(bytewise.operators["P2"]?.repeatedPairs == 2 && bytewise.operators["P2"]?.repeatedLookups == 12)
        let repeated = try await store.findings(rule: .repeatedLookups)
        #expect(repeated.filter { $0.summary.hasPrefix("P2 ") }.map(\.count) == [6, 6])

        // An id with a '|' makes two pairs one finding's key: the report reads the record instead.
        for minute in [800, 801, 802, 803, 804, 805] {
            terminals.add("counter-03", 18, minute, "operation", "lookup", "P3", "A|B")
            terminals.add("counter-03", 18, minute, "operation", "lookup", "P3|A", "B")
        }
        try await terminals.send()
        try await store.evaluateRules(six, now: Self.now)
        let last = try await store.logSize()
        let read = try await Self.expectRead(store, treeSize: last, settings: six)
        #expect(read.operators["P3"]?.repeatedPairs == 1 && read.operators["P3|A"]?.repeatedPairs == 1)
        // A threshold of 0 would make every lookup a repeated one: refused in the configuration, with what to write.
        #expect(throws: KirokuError.self) {
            _ = try JSONDecoder().decode(RuleSettings.self, from: Data(#"{"repeated_lookups_per_day": 0}"#.utf8))
        }
    }

    @Test("After an upgrade: a period the rules judged before it is read from the record; later ones are counted")
    func upgrade() async throws {
        let temp = try TempDir("report-counts-upgrade")
        let path = temp.file("record.sqlite")
        let settings = RuleTests.settings
        do {
            let store = try HubStore.open(path: path)
            let terminals = Terminals(store)
            terminals.month(events: 300)
            try await terminals.send()
            try await store.evaluateRules(settings, now: Self.now)
        }
        // The record as the version before this one left it: judged, no counts, no threshold on record.
        try await Self.turnBack(
            path,
            """
            DELETE FROM grdb_migrations WHERE identifier IN
                ('v19: the report''s counts by day', 'v20: repeated-lookup thresholds by day');
            DROP TABLE report_counts; DROP INDEX events_listed_by_time; DROP INDEX findings_by_rule_time;
            DROP TABLE repeated_ceilings;
            DELETE FROM rule_state WHERE name LIKE 'report_%' OR name LIKE 'repeated_%';
            """)

        let store = try HubStore.open(path: path)
        let terminals = Terminals(store)
        for day in 4...8 {
            for minute in [600, 601, 602, 603, 604] {
                terminals.add("counter-09", day, minute, "operation", "lookup", "P9", "住民\(day)", month: 1, year: 2027)
            }
            terminals.add("counter-09", day, 1300, "access", "enter", "P9", "サーバ室", month: 1, year: 2027)
        }
        try await terminals.send()
        try await store.evaluateRules(settings, now: Self.now)
        let size = try await store.logSize()
        // November 2026 was judged with thresholds nobody recorded: read, the same figures.
        let read = try await Self.expectRead(store, treeSize: size, settings: settings)
        #expect(read.events > 0)
        // January 2027, judged since: counted, one repeated pair a day.
        let january = try await Self.expectSame(
            store, treeSize: size, settings: settings, from: Self.january.from, to: Self.january.to)
        #expect(january.operators["P9"]?.repeatedPairs == 5 && january.access["サーバ室"]?["P9"]?["enter"] == 5)
    }

    @Test(
        "After an upgrade from one ceiling for the whole record to one a day: periods judged before it keep the old ceiling; later ones their own"
    )
    func upgradeCeilings() async throws {
        let temp = try TempDir("report-counts-ceilings")
        let path = temp.file("record.sqlite")
        var six = RuleTests.settings
        six.repeatedLookupsPerDay = 6
        do {
            let store = try HubStore.open(path: path)
            let terminals = Terminals(store)
            terminals.month(events: 300)
            // A terminal whose clock says 2099: five lookups of one resident, judged (at 6) before the upgrade.
            for minute in [600, 601, 602, 603, 604] {
                terminals.add("counter-08", 5, minute, "operation", "lookup", "P8", "住民8", month: 1, year: 2099)
            }
            try await terminals.send()
            try await store.evaluateRules(six, now: Self.now)
        }
        // The record as the version before this one left it: one ceiling, 6, for everything judged.
        try await Self.turnBack(
            path,
            """
            DELETE FROM grdb_migrations WHERE identifier = 'v20: repeated-lookup thresholds by day';
            DROP TABLE repeated_ceilings;
            INSERT OR REPLACE INTO rule_state(name, value) VALUES ('repeated_ceiling', 6);
            """)
        let store = try HubStore.open(path: path)
        let terminals = Terminals(store)
        var five = six
        five.repeatedLookupsPerDay = 5
        for minute in [600, 601, 602, 603, 604] {
            terminals.add("counter-09", 6, minute, "operation", "lookup", "P9", "住民6", month: 1, year: 2027)
        }
        try await terminals.send()
        try await store.evaluateRules(five, now: Self.now)
        let size = try await store.logSize()
        // November was judged at 6: at 5 it is read; at 6, counted. January, judged at 5 since: counted at 5.
        _ = try await Self.expectRead(store, treeSize: size, settings: five)
        _ = try await Self.expectSame(store, treeSize: size, settings: six)
        let january = try await Self.expectSame(
            store, treeSize: size, settings: five, from: Self.january.from, to: Self.january.to)
        #expect(january.operators["P9"]?.repeatedPairs == 1)
        // January 2099, judged at 6 before the upgrade though later than it: read at 5, as November is.
        let read2099 = try await Self.expectRead(
            store, treeSize: size, settings: five,
            from: Timestamp(rfc3339: "2099-01-01T00:00:00.000+09:00")!.epochMilliseconds,
            to: Timestamp(rfc3339: "2099-02-01T00:00:00.000+09:00")!.epochMilliseconds)
        #expect(read2099.operators["P8"]?.repeatedPairs == 1)
    }
}
