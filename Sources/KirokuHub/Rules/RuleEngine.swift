import Foundation
import GRDB
import GRDBSQLite
import KirokuProtocol

/// Evaluates the rules (``RuleInfo/all``) over the consolidated record, incrementally: each event once, in
/// the order the hub accepted it, judged by its own time — an event that arrives a month late is judged
/// in its day, beside the events of that day already held. Time-driven checks (an entry with no exit by
/// the end of the day, a deadline after a virus detection, agents' health) run in ``sweep(_:settings:now:)``.
enum RuleEngine {
    /// One event as the rules see it. A class: the rules filter and group the same rows many times, and
    /// copying a reference is one retain where copying six strings was six.
    final class Row {
        let id: Int64
        let agent: String
        let seq: Int64
        let timeMS: Int64
        let kind: String
        let action: String
        let actor: String
        let subject: String
        /// The attributes as JSON, only for the kinds whose rules read them (card, residentcard, config,
        /// incident, malware); empty for the others.
        let attrs: String
        /// An operation's `attrs.purpose`, nil where the source records none (read by SQLite, not decoded here).
        let purpose: String?
        var ref: String { "\(agent)/\(seq)" }

        init(
            id: Int64, agent: String, seq: Int64, timeMS: Int64, kind: String, action: String, actor: String,
            subject: String,
            attrs: String, purpose: String? = nil
        ) {
            self.id = id
            self.agent = agent
            self.seq = seq
            self.timeMS = timeMS
            self.kind = kind
            self.action = action
            self.actor = actor
            self.subject = subject
            self.attrs = attrs
            self.purpose = purpose
        }
    }

    static let operations: Set<String> = ["login", "lookup", "update", "print", "export"]

    static func time(_ ms: Int64) -> String {
        Timestamp(epochMilliseconds: ms, offsetMinutes: Timestamp.jstOffsetMinutes).displayText
    }

    static func jstHour(_ ms: Int64) -> String { String(time(ms).prefix(13)) }

    /// The JST day and hour of an instant as numbers, for grouping without formatting.
    static func dayNumber(_ ms: Int64) -> Int64 { (ms + 9 * 3_600_000) / 86_400_000 }
    static func hourNumber(_ ms: Int64) -> Int64 { (ms + 9 * 3_600_000) / 3_600_000 }

    /// A group's key, its texts compared and hashed as their UTF-8 bytes, as SQLite compares them: String's
    /// own equality would join an id written in NFC with the same id in NFD, which the record, the findings'
    /// keys and the report keep apart (and one group would then be looked up in the record by one form only).
    struct Key: Hashable {
        var text: String
        var number: Int64
        var extra: String = ""

        static func == (a: Key, b: Key) -> Bool {
            a.number == b.number && a.text.utf8.elementsEqual(b.text.utf8) && a.extra.utf8.elementsEqual(b.extra.utf8)
        }

        func hash(into hasher: inout Hasher) {
            hasher.combine(number)
            Self.combine(text, into: &hasher)
            Self.combine(extra, into: &hasher)
        }

        private static func combine(_ text: String, into hasher: inout Hasher) {
            var copy = text
            copy.withUTF8 { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
            hasher.combine(text.utf8.count)
        }
    }

    /// Evaluates up to `limit` events after the cursor; returns how many.
    static func process(_ db: Database, settings: RuleSettings, now: Date, limit: Int) throws -> Int {
        let cursor = try FindingTable.state(db, "cursor") ?? 0
        // Attributes only of the kinds whose rules read them (most events are lookups, whose rules read only
        // their purpose, which SQLite's own JSON reader takes out);
        // read with SQLite's own calls, as ingest writes, because GRDB's row decoding cost more than some
        // rules (Benchmarks/README.md).
        let statement = try db.cachedStatement(
            sql: """
                SELECT id, agent, seq, time_ms, kind, action, actor, subject,
                CASE WHEN kind IN ('card', 'residentcard', 'config', 'incident', 'malware') THEN attrs ELSE '' END,
                CASE WHEN kind = 'operation' THEN json_extract(attrs, '$.purpose') END, purged_ms IS NOT NULL
                FROM events WHERE id > ? ORDER BY id LIMIT ?
                """)
        let raw = statement.sqliteStatement
        sqlite3_reset(raw)
        sqlite3_bind_int64(raw, 1, cursor)
        sqlite3_bind_int64(raw, 2, Int64(limit))
        defer { sqlite3_reset(raw) }
        func text(_ column: Int32) -> String {
            guard let bytes = sqlite3_column_text(raw, column) else { return "" }
            return String(
                decoding: UnsafeBufferPointer(start: bytes, count: Int(sqlite3_column_bytes(raw, column))),
                as: UTF8.self)
        }
        var rows: [Row] = []
        rows.reserveCapacity(limit)
        var anyPurged = false
        while true {
            let code = sqlite3_step(raw)
            if code == SQLITE_DONE { break }
            guard code == SQLITE_ROW else {
                throw DatabaseError(
                    resultCode: ResultCode(rawValue: code),
                    message: String(cString: sqlite3_errmsg(db.sqliteConnection)))
            }
            rows.append(
                Row(
                    id: sqlite3_column_int64(raw, 0), agent: text(1), seq: sqlite3_column_int64(raw, 2),
                    timeMS: sqlite3_column_int64(raw, 3), kind: text(4), action: text(5), actor: text(6),
                    subject: text(7),
                    attrs: text(8), purpose: sqlite3_column_type(raw, 9) == SQLITE_NULL ? nil : text(9)))
            if sqlite3_column_int64(raw, 10) != 0 { anyPurged = true }
        }
        guard let last = rows.last else { return 0 }
        let nowMS = Int64(now.timeIntervalSince1970 * 1000)
        var settings = settings
        settings.calendar = settings.calendar.adding(register: try HubStore.rows(.calendar, db: db))
        try outOfHours(db, rows, settings, nowMS)
        try windowed(db, rows, nowMS, settings)
        try entries(db, rows, nowMS)
        try cardRemoval(db, rows, nowMS)
        try malware(db, rows, settings, nowMS)
        try permits(db, rows, nowMS)
        try cards(db, rows, nowMS)
        try configuration(db, rows, nowMS)
        try maintenance(db, rows, nowMS)
        try residentCards(db, rows, nowMS)
        try logInconsistencies(db, rows, nowMS)
        try watchlist(db, rows, nowMS)
        try lookupPurpose(db, rows, settings, nowMS)
        try sharedCredential(db, rows, settings, nowMS)
        try assignments(db, rows, nowMS)
        try media(db, rows, nowMS)
        try cardPresence(db, rows, nowMS)
        // The report's per-day counts from the same rows, when they stand where the rules did (else, and when
        // the purge reached any of these events, ReportCounts.advance counts them from the record).
        if !anyPurged { try ReportCounts.count(db, rows, after: cursor, calendar: settings.calendar) }
        try FindingTable.setState(db, "cursor", last.id)
        return rows.count
    }

    /// Groups rows by key and hands each group to `body`, in the order the keys first appear.
    static func groups<K: Hashable>(_ rows: [Row], key: (Row) -> K?, _ body: (K, [Row]) throws -> Void) rethrows {
        var grouped: [K: [Row]] = [:]
        var order: [K] = []
        for row in rows {
            guard let k = key(row) else { continue }
            if grouped[k] == nil { order.append(k) }
            grouped[k, default: []].append(row)
        }
        for k in order { try body(k, grouped[k]!) }
    }

    // MARK: Rules on each event

    static func outOfHours(_ db: Database, _ rows: [Row], _ settings: RuleSettings, _ nowMS: Int64) throws {
        try groups(
            rows,
            key: { row in
                row.kind == "operation" && operations.contains(row.action) && !settings.calendar.isOpen(row.timeMS)
                    ? Key(text: row.actor, number: dayNumber(row.timeMS)) : nil
            }
        ) { _, group in
            let actor = group[0].actor
            let day = BusinessCalendar.day(group[0].timeMS)
            try FindingTable.raise(
                db, rule: .outOfHours, key: "\(actor)|\(day)", count: .add(Int64(group.count)),
                first: group.map(\.timeMS).min()!,
                last: group.map(\.timeMS).max()!, evidence: group.prefix(20).map(\.ref), nowMS: nowMS
            ) {
                FindingText(
                    en: "\(actor) operated outside business hours on \(day): \($0) operation(s)",
                    ja: "\(actor) が \(day) に開庁時間外に操作 (\($0) 件)")
            }
        }
    }

    /// Bulk lookups, repeated lookups of one subject, bursts of authentication failures: counters per
    /// window, each event counted once; a finding when a counter reaches its threshold.
    static func windowed(_ db: Database, _ rows: [Row], _ nowMS: Int64, _ settings: RuleSettings) throws {
        let lookups = rows.filter { $0.kind == "operation" && $0.action == "lookup" }
        let failures = rows.filter { $0.kind == "operation" && $0.action == "auth_failure" }
        let windows:
            [(
                rule: RuleID, rows: [Row], threshold: Int, key: (Row) -> Key, text: (Row) -> String,
                summary: (Row, Int64) -> FindingText
            )] = [
                (
                    .bulkLookups, lookups, settings.bulkLookupsPerHour,
                    { Key(text: $0.actor, number: hourNumber($0.timeMS)) },
                    { "\($0.actor)|\(jstHour($0.timeMS))" },
                    { row, n in
                        FindingText(
                            en: "\(row.actor) made \(n) lookups in the hour from \(jstHour(row.timeMS)):00",
                            ja: "\(row.actor) が \(jstHour(row.timeMS)):00 からの 1 時間に \(n) 件を照会")
                    }
                ),
                (
                    .authFailureBurst, failures, settings.authFailuresPer10Minutes,
                    { Key(text: $0.actor, number: $0.timeMS / 600_000) }, { "\($0.actor)|\($0.timeMS / 600_000)" },
                    { row, n in
                        FindingText(
                            en:
                                "\(n) authentication failures by \(row.actor) within ten minutes from \(time(row.timeMS / 600_000 * 600_000))",
                            ja: "\(row.actor) の認証失敗が \(time(row.timeMS / 600_000 * 600_000)) からの 10 分間に \(n) 回")
                    }
                ),
            ]
        try repeatedLookups(db, lookups, nowMS, settings)
        for window in windows where !window.rows.isEmpty {
            try groups(window.rows, key: window.key) { _, group in
                let key = window.text(group[0])
                let total = try FindingTable.count(
                    db, rule: window.rule, key: key, add: Int64(group.count), first: group.map(\.timeMS).min()!,
                    last: group.map(\.timeMS).max()!, evidence: group.prefix(20).map(\.ref))
                guard total.count >= Int64(window.threshold) else { return }
                try FindingTable.raise(
                    db, rule: window.rule, key: key, count: .set(total.count), first: total.first, last: total.last,
                    evidence: FindingTable.decode(total.evidence), nowMS: nowMS
                ) { window.summary(group[0], $0) }
            }
        }
    }

    /// One operator looking up one subject again and again in a day. Most lookups are of a subject not
    /// looked up before that day, so this reads the record (the subject index) instead of keeping a counter
    /// per pair: one query per day in the chunk, over all its subjects, returning only the pairs at or over
    /// the threshold; it writes only then.
    static func repeatedLookups(_ db: Database, _ lookups: [Row], _ nowMS: Int64, _ settings: RuleSettings) throws {
        let threshold = settings.repeatedLookupsPerDay
        // Not a Set: hashing Japanese strings (Unicode-normalized) costs more than SQLite's own IN, which
        // removes the repeats.
        var subjectsByDay: [Int64: [String]] = [:]
        for row in lookups { subjectsByDay[dayNumber(row.timeMS), default: []].append(row.subject) }
        // The threshold these days' lookups were judged with: the report trusts the findings of a day only for a
        // threshold at least as high (ReportCounts).
        try ReportCounts.noteCeiling(db, days: subjectsByDay.keys, threshold: threshold)
        // First from the subject index alone (no table reads), and counting each subject only up to the
        // threshold: the subjects with at least that many events of any kind that day — almost none. (Counting
        // them whole made a subject looked up a million times cost a million index entries per chunk.)
        let candidates = try db.cachedStatement(
            sql: """
                SELECT s.value FROM (SELECT DISTINCT value FROM json_each(?)) AS s
                WHERE (SELECT count(*) FROM (SELECT 1 FROM events INDEXED BY events_by_subject
                    WHERE subject = s.value AND time_ms >= ? AND time_ms < ? LIMIT ?)) >= ?
                """)
        // One operator's lookups of one busy subject that day: counted whole only until the finding exists;
        // after that the chunk's lookups are added (the cursor hands every event to the rules once).
        let pairCount = try db.cachedStatement(
            sql: """
                SELECT count(*), min(time_ms), max(time_ms) FROM events INDEXED BY events_by_subject
                WHERE subject = ? AND time_ms >= ? AND time_ms < ? AND id <= ? AND actor = ? AND kind = 'operation'
                AND action = 'lookup'
                """)
        // Only what the rules have been handed so far: later events, already in the record, come in later
        // chunks and are added then.
        let through = lookups.map(\.id).max() ?? 0
        // The day's findings already raised (few; by rule and first lookup's time, which is in that day).
        let raised = try db.cachedStatement(
            sql: """
                SELECT key FROM findings INDEXED BY findings_by_rule_time
                WHERE rule = '\(RuleID.repeatedLookups.rawValue)' AND first_ms >= ? AND first_ms < ?
                """)
        for (dayIndex, subjects) in subjectsByDay {
            let start = dayIndex * 86_400_000 - 9 * 3_600_000
            let day = BusinessCalendar.day(start)
            let all = String(decoding: CanonicalJSON.encode(.array(subjects.map(JSONValue.string))), as: UTF8.self)
            let busy = try String.fetchAll(
                candidates, arguments: [all, start, start + 86_400_000, threshold, threshold])
            // A pair with a finding gets every later lookup added, busy under today's threshold or not: one raised
            // when the threshold was lower keeps counting what the record holds (the report counts the same).
            let known = Set(
                try String.fetchAll(raised, arguments: [start, start + 86_400_000]).map { Key(text: $0, number: 0) })
            guard !busy.isEmpty || !known.isEmpty else { continue }
            // The chunk's lookups of the busy subjects and of pairs with a finding (few), by the finding's key,
            // compared as bytes (``Key``).
            var order: [Key] = []
            var pairs: [Key: [Row]] = [:]
            for row in lookups where dayNumber(row.timeMS) == dayIndex {
                let isBusy = busy.contains(where: { $0.utf8.elementsEqual(row.subject.utf8) })
                if !isBusy && known.isEmpty { continue }
                let pair = Key(text: "\(row.actor)|\(row.subject)|\(day)", number: 0)
                guard isBusy || known.contains(pair) else { continue }
                if pairs[pair] == nil { order.append(pair) }
                pairs[pair, default: []].append(row)
            }
            for pair in order {
                let group = pairs[pair]!
                let key = pair.text
                let (actor, subject) = (group[0].actor, group[0].subject)
                if known.contains(pair) {
                    try FindingTable.raise(
                        db, rule: .repeatedLookups, key: key, count: .add(Int64(group.count)),
                        first: group.map(\.timeMS).min()!,
                        last: group.map(\.timeMS).max()!, evidence: group.prefix(20).map(\.ref), nowMS: nowMS
                    ) {
                        FindingText(
                            en: "\(actor) looked up \(subject) \($0) times on \(day)",
                            ja: "\(actor) が \(day) に \(subject) を \($0) 回照会")
                    }
                    continue
                }
                guard
                    let total = try GRDB.Row.fetchOne(
                        pairCount, arguments: [subject, start, start + 86_400_000, through, actor]),
                    (total[0] as Int64) >= Int64(threshold)
                else { continue }
                let evidence = try GRDB.Row.fetchAll(
                    db,
                    sql: """
                        SELECT agent, seq FROM events WHERE subject = ? AND time_ms >= ? AND time_ms < ? AND actor = ?
                        AND kind = 'operation' AND action = 'lookup' ORDER BY time_ms LIMIT 20
                        """, arguments: [subject, start, start + 86_400_000, actor]
                ).map { "\($0[0] as String)/\($0[1] as Int64)" }
                try FindingTable.raise(
                    db, rule: .repeatedLookups, key: key, count: .set(total[0]), first: total[1], last: total[2],
                    evidence: evidence,
                    nowMS: nowMS
                ) {
                    FindingText(
                        en: "\(actor) looked up \(subject) \($0) times on \(day)",
                        ja: "\(actor) が \(day) に \(subject) を \($0) 回照会")
                }
            }
        }
    }

    /// Entries and exits of days already over: (re)judged whenever such events arrive.
    static func entries(_ db: Database, _ rows: [Row], _ nowMS: Int64) throws {
        let today = dayNumber(nowMS)
        try groups(
            rows,
            key: { row in
                row.kind == "access" && (row.action == "enter" || row.action == "exit") && dayNumber(row.timeMS) < today
                    ? Key(text: row.actor, number: dayNumber(row.timeMS), extra: row.subject) : nil
            }
        ) { _, group in
            try judgeDay(
                db, actor: group[0].actor, room: group[0].subject, day: BusinessCalendar.day(group[0].timeMS),
                nowMS: nowMS)
        }
    }

    static func judgeDay(_ db: Database, actor: String, room: String, day: String, nowMS: Int64) throws {
        guard let start = Timestamp(rfc3339: "\(day)T00:00:00.000+09:00")?.epochMilliseconds else { return }
        let last = try GRDB.Row.fetchOne(
            db,
            sql: """
                SELECT action, agent, seq, time_ms FROM events
                WHERE actor = ? AND time_ms >= ? AND time_ms < ? AND kind = 'access' AND subject = ? AND action IN ('enter', 'exit')
                ORDER BY time_ms DESC, seq DESC LIMIT 1
                """, arguments: [actor, start, start + 86_400_000, room])
        let key = "\(actor)|\(room)|\(day)"
        if let last, (last[0] as String) == "enter" {
            try FindingTable.raise(
                db, rule: .entryWithoutExit, key: key, count: .set(1), first: last[3], last: last[3],
                evidence: ["\(last[1] as String)/\(last[2] as Int64)"], nowMS: nowMS
            ) { _ in
                FindingText(
                    en: "\(actor) entered \(room) on \(day) and no exit was recorded that day",
                    ja: "\(actor) が \(day) に \(room) へ入室し、同日の退室の記録がない")
            }
        } else {
            try FindingTable.clear(
                db, rule: .entryWithoutExit, key: key, reason: "退室の記録が届いた (an exit was recorded, arrived late)",
                nowMS: nowMS)
        }
    }

    /// Operations on a terminal whose operator card was removed (and none inserted since), in the agent's
    /// own order. Agents that never reported a card event (a server room) are not judged.
    static func cardRemoval(_ db: Database, _ rows: [Row], _ nowMS: Int64) throws {
        for agent in Set(
            rows.filter { $0.kind == "card" && ($0.action == "insert" || $0.action == "remove") }.map(\.agent))
        {
            try FindingTable.setState(db, "cards:\(agent)", 1)
        }
        let ops = rows.filter { $0.kind == "operation" && operations.contains($0.action) }
        try groups(ops, key: { $0.agent }) { agent, group in
            guard try FindingTable.state(db, "cards:\(agent)") != nil else { return }
            let firstSeq = group.map(\.seq).min()!
            let lastSeq = group.map(\.seq).max()!
            // The card events that decide: the latest before the first operation, and those among the operations.
            var cards = try GRDB.Row.fetchAll(
                db,
                sql: """
                    SELECT seq, action FROM events WHERE agent = ? AND seq < ? AND kind = 'card' AND action IN ('insert', 'remove')
                    ORDER BY seq DESC LIMIT 1
                    """, arguments: [agent, firstSeq]
            ).map { ($0[0] as Int64, $0[1] as String) }
            cards += try GRDB.Row.fetchAll(
                db,
                sql: """
                    SELECT seq, action FROM events WHERE agent = ? AND seq BETWEEN ? AND ? AND kind = 'card'
                    AND action IN ('insert', 'remove') ORDER BY seq
                    """, arguments: [agent, firstSeq, lastSeq]
            ).map { ($0[0] as Int64, $0[1] as String) }
            guard !cards.isEmpty else { return }
            // Both in seq order (the group is in acceptance order, which is seq order within an agent): one
            // pass, carrying the last card event before each operation.
            var bad: [Row] = []
            var next = 0
            var state: String?
            for op in group.sorted(by: { $0.seq < $1.seq }) {
                while next < cards.count && cards[next].0 < op.seq {
                    state = cards[next].1
                    next += 1
                }
                if state == "remove" { bad.append(op) }
            }
            try groups(bad, key: { dayNumber($0.timeMS) }) { _, found in
                let day = BusinessCalendar.day(found[0].timeMS)
                let key = "\(agent)|\(day)"
                try FindingTable.raise(
                    db, rule: .operationAfterCardRemoval, key: key, count: .add(Int64(found.count)),
                    first: found.map(\.timeMS).min()!, last: found.map(\.timeMS).max()!, evidence: found.map(\.ref),
                    nowMS: nowMS
                ) {
                    FindingText(
                        en: "\($0) operation(s) on \(agent) on \(day) after the operator card was removed",
                        ja: "\(agent) で \(day) に操作識別カードを抜いたあとの操作が \($0) 件")
                }
            }
        }
    }

    /// Virus detections: judged once their deadlines have passed; re-judged when a late cut-off or report
    /// arrives.
    static func malware(_ db: Database, _ rows: [Row], _ settings: RuleSettings, _ nowMS: Int64) throws {
        let report = Int64(settings.reportMinutes) * 60_000
        for row in rows where row.kind == "malware" {
            switch row.action {
            case "detected":
                if row.timeMS + report <= nowMS {
                    try judgeDetection(db, agent: row.agent, seq: row.seq, at: row.timeMS, settings, nowMS)
                }
            case "network_cut", "reported":
                let detections = try GRDB.Row.fetchAll(
                    db,
                    sql: """
                        SELECT seq, time_ms FROM events WHERE agent = ? AND kind = 'malware' AND action = 'detected'
                        AND time_ms BETWEEN ? AND ?
                        """, arguments: [row.agent, row.timeMS - 2 * 86_400_000, row.timeMS])
                // A late one too (up to two days, as the sweep looks back): the finding then says late, not missing.
                for detection in detections where (detection[1] as Int64) + report <= nowMS {
                    try judgeDetection(db, agent: row.agent, seq: detection[0], at: detection[1], settings, nowMS)
                }
            default:
                break
            }
        }
    }

    static func judgeDetection(
        _ db: Database, agent: String, seq: Int64, at: Int64, _ settings: RuleSettings, _ nowMS: Int64
    ) throws {
        // The first cut-off and report after the detection, in time or not: a late one is said as late, not
        // as missing (the finding is rewritten when it arrives).
        // Up to the next detection on the terminal, whose own cut-off and report these would be.
        let next =
            try Int64.fetchOne(
                db,
                sql:
                    "SELECT min(time_ms) FROM events WHERE agent = ? AND kind = 'malware' AND action = 'detected' AND time_ms > ?",
                arguments: [agent, at]) ?? Int64.max
        func first(_ action: String) throws -> Int64? {
            try Int64.fetchOne(
                db,
                sql:
                    "SELECT min(time_ms) FROM events WHERE agent = ? AND kind = 'malware' AND action = ? AND time_ms >= ? AND time_ms < ?",
                arguments: [agent, action, at, next])
        }
        var missing: [FindingText] = []
        for (action, minutes, en, ja) in [
            ("network_cut", settings.networkCutMinutes, "network cut-off", "ネットワーク遮断"),
            ("reported", settings.reportMinutes, "report", "報告"),
        ] {
            let deadline = at + Int64(minutes) * 60_000
            switch try first(action) {
            case let when? where when <= deadline:
                continue
            case let when?:
                missing.append(
                    FindingText(
                        en: "\(en) late, at \(time(when)) (deadline \(minutes) min)",
                        ja: "\(ja)が期限 (\(minutes) 分) を過ぎて \(time(when)) に記録"))
            case nil:
                missing.append(FindingText(en: "no \(en) within \(minutes) min", ja: "\(minutes) 分以内の\(ja)なし"))
            }
        }
        let key = "\(agent)|\(seq)"
        if missing.isEmpty {
            try FindingTable.clear(
                db, rule: .malwareNotContained, key: key,
                reason: "遮断と報告が期限内に記録された (cut-off and report recorded in time)", nowMS: nowMS)
        } else {
            try FindingTable.raise(
                db, rule: .malwareNotContained, key: key, count: .set(1), first: at, last: at,
                evidence: ["\(agent)/\(seq)"],
                nowMS: nowMS
            ) { _ in
                FindingText(joining: missing).after(
                    FindingText(
                        en: "a virus was detected on \(agent) at \(time(at))", ja: "\(agent) で \(time(at)) にウイルスを検出"))
            }
        }
    }

    // MARK: Rules on the registers (only once a register is loaded)

    /// How a register rule counts what it finds: `add` as events arrive (each once), `recount` when a
    /// whole day is judged again (the counts replace what the findings hold; the keys found are kept so
    /// that findings no longer supported can be resolved).
    final class Tally {
        let recounting: Bool
        /// The findings' keys raised, compared as bytes (``Key``).
        private(set) var keys: [RuleID: Set<Key>] = [:]

        init(recounting: Bool) { self.recounting = recounting }

        static var add: Tally { Tally(recounting: false) }

        func count(_ n: Int) -> FindingTable.Count { recounting ? .set(Int64(n)) : .add(Int64(n)) }
        func raised(rule: RuleID, key: String) { keys[rule, default: []].insert(Key(text: key, number: 0)) }
    }

    /// Raises one finding per key over the events found, with their summaries (the first one's).
    static func raiseHits(
        _ db: Database, rule: RuleID, _ hits: [(row: Row, summary: FindingText)], key: (Row) -> String, _ nowMS: Int64,
        _ tally: Tally
    ) throws {
        var order: [Key] = []
        var byKey: [Key: [(row: Row, summary: FindingText)]] = [:]
        for hit in hits {
            let k = Key(text: key(hit.row), number: 0)
            if byKey[k] == nil { order.append(k) }
            byKey[k, default: []].append(hit)
        }
        for grouped in order {
            let group = byKey[grouped]!
            let k = grouped.text
            try FindingTable.raise(
                db, rule: rule, key: k, count: tally.count(group.count), first: group.map(\.row.timeMS).min()!,
                last: group.map(\.row.timeMS).max()!, evidence: group.prefix(20).map(\.row.ref), nowMS: nowMS
            ) { _ in group.last!.summary }
            tally.raised(rule: rule, key: k)
        }
    }

    /// The register rules and the register each needs (an empty register judges nothing).
    static let registerRules: [(rule: RuleID, register: Register?)] = [
        (.entryWithoutPermit, .permits), (.cardMisuse, .cards), (.residentCardHandling, nil),
        (.unapprovedDevice, .devices), (.unapprovedProgram, .programs),
        (.maintenanceWithoutInstruction, .maintenance),
        (.maintenanceByUnnamed, .maintenance), (.watchlistLookup, .watchlist),
    ]

    /// Judges one JST day again against the registers as they now stand: every register rule over all that
    /// day's events, counts replaced; findings of that day the registers no longer support are resolved.
    static func rejudge(_ db: Database, day: String, by person: String = "", nowMS: Int64) throws -> (
        found: Int, resolved: Int
    ) {
        guard let start = Timestamp(rfc3339: "\(day)T00:00:00.000+09:00")?.epochMilliseconds else {
            throw KirokuError(.badQuery, "a day is YYYY-MM-DD, not '\(day.prefix(20))'")
        }
        let rows = try GRDB.Row.fetchAll(
            db,
            sql: """
                SELECT id, agent, seq, time_ms, kind, action, actor, subject, attrs FROM events
                WHERE time_ms >= ? AND time_ms < ? AND kind IN ('access', 'card', 'residentcard', 'config', 'incident')
                ORDER BY id
                """, arguments: [start, start + 86_400_000]
        ).map {
            Row(
                id: $0[0], agent: $0[1], seq: $0[2], timeMS: $0[3], kind: $0[4], action: $0[5], actor: $0[6],
                subject: $0[7], attrs: $0[8])
        }
        let tally = Tally(recounting: true)
        try permits(db, rows, nowMS, tally)
        try cards(db, rows, nowMS, tally)
        try residentCards(db, rows, nowMS, tally)
        try configuration(db, rows, nowMS, tally)
        try maintenance(db, rows, nowMS, tally)
        // The watch-list's residents' lookups that day, through the subject index (a resident added to the
        // list has their past lookups judged; the day's other lookups are not read).
        let listed = try HubStore.rows(.watchlist, db: db).compactMap { $0["subject"] }
        if !listed.isEmpty {
            let lookups = try GRDB.Row.fetchAll(
                db,
                sql: """
                    SELECT id, agent, seq, time_ms, kind, action, actor, subject, '' FROM events
                    WHERE subject IN (SELECT value FROM json_each(?)) AND time_ms >= ? AND time_ms < ? AND kind = 'operation' ORDER BY id
                    """,
                arguments: [
                    String(decoding: CanonicalJSON.encode(.array(listed.map(JSONValue.string))), as: UTF8.self), start,
                    start + 86_400_000,
                ]
            ).map {
                Row(
                    id: $0[0], agent: $0[1], seq: $0[2], timeMS: $0[3], kind: $0[4], action: $0[5], actor: $0[6],
                    subject: $0[7], attrs: $0[8])
            }
            try watchlist(db, lookups, nowMS, tally)
        }
        var resolved = 0
        for (rule, register) in registerRules {
            if let register, try HubStore.rows(register, db: db).isEmpty { continue }
            let standing = try String.fetchAll(
                db,
                sql:
                    "SELECT key FROM findings WHERE rule = ? AND status != 'resolved' AND first_ms >= ? AND first_ms < ?",
                arguments: [rule.rawValue, start, start + 86_400_000])
            // Whose register change cleared it (第9②): the register's last import, named in the resolution.
            let last = try lastImport(db, register ?? .stock)
            let changed = last.map {
                (
                    ja: "。\((register ?? .stock).rawValue) 台帳の最終変更: \($0.person) (\($0.at))",
                    en: "; \((register ?? .stock).rawValue) last replaced by \($0.person) at \($0.at)"
                )
            }
            // Nobody clears a finding about their own actions (第9②): not by changing the register and judging
            // the day again. Such a finding stays open for someone else to resolve.
            let interested = Set([person, last?.person].compactMap { $0 }.filter { !$0.isEmpty })
            for key in standing where !(tally.keys[rule]?.contains(Key(text: key, number: 0)) ?? false) {
                if !interested.isEmpty,
                    let evidence = try String.fetchOne(
                        db, sql: "SELECT evidence FROM findings WHERE rule = ? AND key = ?",
                        arguments: [rule.rawValue, key]),
                    !interested.isDisjoint(with: try HubStore.actors(of: FindingTable.decode(evidence), db: db))
                {
                    continue
                }
                try FindingTable.clear(
                    db, rule: rule, key: key,
                    reason:
                        "台帳に照らして再判定\(changed?.ja ?? "") (re-judged against the registers as they now stand\(changed?.en ?? ""))",
                    nowMS: nowMS)
                resolved += 1
            }
        }
        return (tally.keys.values.reduce(0) { $0 + $1.count }, resolved)
    }

    /// Entries to a room by someone without a permit valid for it that day (第12②).
    static func permits(_ db: Database, _ rows: [Row], _ nowMS: Int64, _ tally: Tally = .add) throws {
        let entries = rows.filter { $0.kind == "access" && $0.action == "enter" }
        guard !entries.isEmpty else { return }
        let permits = try HubStore.rows(.permits, db: db)
        guard !permits.isEmpty else { return }
        let bad = entries.filter { entry in
            let day = BusinessCalendar.day(entry.timeMS)
            return !permits.contains { permit in
                permit["person"] == entry.actor && permit["room"] == entry.subject
                    && (permit["valid_from"] ?? "9999") <= day
                    && ((permit["valid_to"] ?? "").isEmpty || day <= permit["valid_to"]!)
            }
        }
        try groups(bad, key: { Key(text: $0.actor, number: dayNumber($0.timeMS), extra: $0.subject) }) { _, group in
            let entry = group[0]
            let day = BusinessCalendar.day(entry.timeMS)
            let key = "\(entry.actor)|\(entry.subject)|\(day)"
            try FindingTable.raise(
                db, rule: .entryWithoutPermit, key: key, count: tally.count(group.count),
                first: group.map(\.timeMS).min()!, last: group.map(\.timeMS).max()!,
                evidence: group.prefix(20).map(\.ref), nowMS: nowMS
            ) {
                FindingText(
                    en: "\(entry.actor) entered \(entry.subject) on \(day) without a valid permit (\($0) time(s))",
                    ja: "\(entry.actor) が \(day) に有効な許可なく \(entry.subject) へ入室 (\($0) 回)")
            }
            tally.raised(rule: .entryWithoutPermit, key: key)
        }
    }

    /// Operator cards used after they were revoked, lost or returned, or by someone not their holder (第16).
    static func cards(_ db: Database, _ rows: [Row], _ nowMS: Int64, _ tally: Tally = .add) throws {
        let inserts = rows.filter { $0.kind == "card" && $0.action == "insert" }
        guard !inserts.isEmpty else { return }
        var register: [String: RegisterRow] = [:]
        for row in try HubStore.rows(.cards, db: db) { register[row["card_id"] ?? ""] = row }
        guard !register.isEmpty else { return }
        var hits: [(row: Row, summary: FindingText)] = []
        for insert in inserts {
            guard let card = register[insert.actor] else { continue }
            let day = BusinessCalendar.day(insert.timeMS)
            let holder = (try? JSONDecoder().decode([String: String].self, from: Data(insert.attrs.utf8)))?["holder"]
            var problems: [FindingText] = []
            if card["state"] != "active", let since = card["since"], since <= day {
                let state = card["state"]!
                let stateJa = ["revoked": "失効", "lost": "紛失", "returned": "返却"][state] ?? state
                problems.append(FindingText(en: "\(state) since \(since)", ja: "\(since) から\(stateJa)"))
            }
            if let holder, holder != card["holder"] {
                problems.append(
                    FindingText(
                        en: "used by \(holder), not its holder \(card["holder"] ?? "?")",
                        ja: "保持者 \(card["holder"] ?? "?") ではなく \(holder) が使用"))
            }
            guard !problems.isEmpty else { continue }
            hits.append(
                (
                    insert,
                    FindingText(joining: problems).after(
                        FindingText(
                            en: "operator card \(insert.actor) used on \(insert.agent) on \(day)",
                            ja: "操作識別カード \(insert.actor) を \(day) に \(insert.agent) で使用"))
                ))
        }
        try raiseHits(
            db, rule: .cardMisuse, hits, key: { "\($0.actor)|\(BusinessCalendar.day($0.timeMS))" }, nowMS, tally)
    }

    /// 住基カード handled against the stock register (第18): issued when the register does not hold it in
    /// stock, destroyed when it was neither recovered nor in stock, or destroyed without the method that made
    /// its personal data unrecoverable (第18②). The register's state is today's; an event judged is one
    /// that arrives after the register was loaded.
    static func residentCards(_ db: Database, _ rows: [Row], _ nowMS: Int64, _ tally: Tally = .add) throws {
        let handled = rows.filter { $0.kind == "residentcard" && ($0.action == "issue" || $0.action == "destroy") }
        guard !handled.isEmpty else { return }
        var register: [String: RegisterRow] = [:]
        for row in try HubStore.rows(.stock, db: db) { register[row["card_no"] ?? ""] = row }
        var hits: [(row: Row, summary: FindingText)] = []
        for event in handled {
            let attrs = (try? JSONDecoder().decode([String: String].self, from: Data(event.attrs.utf8))) ?? [:]
            let day = BusinessCalendar.day(event.timeMS)
            var problems: [FindingText] = []
            if event.action == "destroy" && (attrs["method"] ?? "").isEmpty {
                problems.append(
                    FindingText(
                        en: "destroyed without the method that made it unreadable (第18②)",
                        ja: "読み取れなくした方法の記録がない廃棄 (第18②)"))
            }
            if !register.isEmpty {
                let state = register[event.subject]?["state"]
                let expected: Set<String> =
                    event.action == "issue" ? ["stock", "issued"] : ["recovered", "stock", "destroyed"]
                if state == nil {
                    problems.append(FindingText(en: "not in the 住基カード stock register", ja: "住基カードの台帳 (stock) にない"))
                } else if !expected.contains(state!) {
                    let stateJa =
                        ["stock": "在庫", "issued": "交付済", "recovered": "回収", "destroyed": "廃棄"][state!] ?? state!
                    problems.append(
                        FindingText(
                            en:
                                "\(event.action == "issue" ? "issued" : "destroyed") while the register has it \(state!)",
                            ja: "台帳では\(stateJa)のカードを\(event.action == "issue" ? "交付" : "廃棄")"))
                }
            }
            guard !problems.isEmpty else { continue }
            hits.append(
                (
                    event,
                    FindingText(joining: problems).after(
                        FindingText(
                            en:
                                "\(event.subject) \(event.action == "issue" ? "issued" : "destroyed") by \(event.actor) on \(day)",
                            ja: "\(event.subject) を \(day) に \(event.actor) が\(event.action == "issue" ? "交付" : "廃棄")"))
                ))
        }
        try raiseHits(
            db, rule: .residentCardHandling, hits,
            key: { "\($0.subject)|\($0.action)|\(BusinessCalendar.day($0.timeMS))" }, nowMS, tally)
    }

    /// Devices attached and programs added or changed that the configuration register does not approve
    /// for that terminal (第14, 第17).
    static func configuration(_ db: Database, _ rows: [Row], _ nowMS: Int64, _ tally: Tally = .add) throws {
        let changes = rows.filter {
            $0.kind == "config"
                && ["device_attached", "device_removed", "program_added", "program_changed", "program_removed"]
                    .contains($0.action)
        }
        guard !changes.isEmpty else { return }
        let devices = try HubStore.rows(.devices, db: db)
        let programs = try HubStore.rows(.programs, db: db)
        for change in changes {
            let attrs = (try? JSONDecoder().decode([String: String].self, from: Data(change.attrs.utf8))) ?? [:]
            func forAgent(_ row: RegisterRow) -> Bool { row["agent"] == "*" || row["agent"] == change.agent }
            let approved: Bool
            let rule: RuleID
            if change.action.hasPrefix("device_") {
                // A removal shows the device was there: an unapproved one attached before the agent watched.
                guard !devices.isEmpty else { continue }
                rule = .unapprovedDevice
                approved = devices.contains { row in
                    forAgent(row) && row["vendor"] == attrs["vendor"]?.lowercased()
                        && row["product"] == attrs["product"]?.lowercased()
                        && ((row["serial"] ?? "").isEmpty || row["serial"] == attrs["serial"])
                }
            } else if change.action == "program_removed" {
                // 第17②: deleting a program the register keeps on this terminal needs the 管理者's permission,
                // which is the register changed first; removing one it never approved is no breach.
                guard !programs.isEmpty else { continue }
                rule = .unapprovedProgram
                approved = !programs.contains { forAgent($0) && $0["subject"] == change.subject }
            } else {
                guard !programs.isEmpty else { continue }
                rule = .unapprovedProgram
                approved = programs.contains { row in
                    forAgent(row) && row["subject"] == change.subject
                        && ((row["sha256"] ?? "").isEmpty || row["sha256"] == attrs["sha256"])
                        && ((row["version"] ?? "").isEmpty || row["version"] == attrs["version"])
                }
            }
            guard !approved else { continue }
            let day = BusinessCalendar.day(change.timeMS)
            tally.raised(rule: rule, key: "\(change.agent)|\(change.subject)|\(change.seq)")
            try FindingTable.raise(
                db, rule: rule, key: "\(change.agent)|\(change.subject)|\(change.seq)", count: .set(1),
                first: change.timeMS,
                last: change.timeMS, evidence: [change.ref], nowMS: nowMS
            ) { _ in
                rule == .unapprovedDevice
                    ? (change.action == "device_removed"
                        ? FindingText(
                            en:
                                "\(change.subject), removed from \(change.agent) on \(day), was attached without being in the configuration register",
                            ja: "\(day) に \(change.agent) から取り外された \(change.subject) は構成管理簿にないまま接続されていた")
                        : FindingText(
                            en:
                                "\(change.subject) attached to \(change.agent) on \(day) is not in the configuration register",
                            ja: "\(day) に \(change.agent) へ接続された \(change.subject) は構成管理簿にない"))
                    : change.action == "program_removed"
                        ? FindingText(
                            en:
                                "\(change.subject), which the configuration register keeps on \(change.agent), was removed on \(day) without the register changed first (第17②)",
                            ja: "構成管理簿が \(change.agent) に置く \(change.subject) が \(day) に台帳の変更なしで削除された (第17②)")
                        : FindingText(
                            en:
                                "\(change.subject) on \(change.agent) (\(change.action == "program_added" ? "added" : "changed") on \(day)) is not approved in the configuration register",
                            ja:
                                "\(change.agent) の \(change.subject) (\(day) に\(change.action == "program_added" ? "追加" : "変更")) は構成管理簿で承認されていない"
                        )
            }
        }
    }

    /// Maintenance started by a contractor without an instruction issued for that day and equipment, or by
    /// someone the instruction's contractor does not name on a contract running that day (第26).
    static func maintenance(_ db: Database, _ rows: [Row], _ nowMS: Int64, _ tally: Tally = .add) throws {
        let starts = rows.filter { $0.kind == "incident" && $0.action == "maintenance_start" }
        guard !starts.isEmpty else { return }
        let instructions = try HubStore.rows(.maintenance, db: db)
        guard !instructions.isEmpty else { return }
        let contracts = try HubStore.rows(.contracts, db: db)
        for start in starts {
            let attrs = (try? JSONDecoder().decode([String: String].self, from: Data(start.attrs.utf8))) ?? [:]
            let day = BusinessCalendar.day(start.timeMS)
            let given = attrs["instruction"] ?? ""
            let covering = instructions.first { row in
                row["instruction_id"] == given && (row["valid_from"] ?? "9999") <= day && day <= (row["valid_to"] ?? "")
                    && ((row["subject"] ?? "").isEmpty || row["subject"] == start.subject)
            }
            if let covering {
                // The instruction was issued to a contractor; the one who works must be one of its people.
                let contractor = covering["contractor"] ?? ""
                guard let people = contractorPeople(contracts, contractor: contractor, day: day),
                    !people.contains(start.actor)
                else { continue }
                tally.raised(rule: .maintenanceByUnnamed, key: "\(start.agent)|\(start.seq)")
                try FindingTable.raise(
                    db, rule: .maintenanceByUnnamed, key: "\(start.agent)|\(start.seq)", count: .set(1),
                    first: start.timeMS,
                    last: start.timeMS, evidence: [start.ref], nowMS: nowMS
                ) { _ in
                    FindingText(
                        en:
                            "maintenance of \(start.subject) on \(day) under \(given), issued to \(contractor), by \(start.actor), whom no contract of \(contractor) names",
                        ja:
                            "\(contractor) に出した指示書 \(given) による \(day) の \(start.subject) の保守を、\(contractor) の契約に名のない \(start.actor) が実施"
                    )
                }
                continue
            }
            tally.raised(rule: .maintenanceWithoutInstruction, key: "\(start.agent)|\(start.seq)")
            try FindingTable.raise(
                db, rule: .maintenanceWithoutInstruction, key: "\(start.agent)|\(start.seq)", count: .set(1),
                first: start.timeMS,
                last: start.timeMS, evidence: [start.ref], nowMS: nowMS
            ) { _ in
                given.isEmpty
                    ? FindingText(
                        en: "maintenance of \(start.subject) by \(start.actor) on \(day) with no instruction given",
                        ja: "\(start.actor) が \(day) に作業指示書なしで \(start.subject) を保守")
                    : FindingText(
                        en:
                            "maintenance of \(start.subject) by \(start.actor) on \(day) under \(given), which is not an instruction valid for it that day",
                        ja: "\(start.actor) が \(day) に \(start.subject) を保守。指示書 \(given) はその日・その機器に有効ではない")
            }
        }
    }

    /// Every lookup (or update, print, export) of a resident on the watch-list (第20①: 職員本人・親族, 著名人,
    /// DV等支援措置対象者), per operator, entry and day. The finding names the entry, never the resident: the
    /// watch-list is read only by those who keep it.
    static func watchlist(_ db: Database, _ rows: [Row], _ nowMS: Int64, _ tally: Tally = .add) throws {
        let entries = try HubStore.rows(.watchlist, db: db)
        guard !entries.isEmpty else { return }
        var bySubject: [String: [RegisterRow]] = [:]
        for entry in entries { bySubject[entry["subject"] ?? "", default: []].append(entry) }
        var order: [String] = []
        var hits: [String: (rows: [Row], id: String, category: String, actor: String, day: String)] = [:]
        for row in rows where row.kind == "operation" && ["lookup", "update", "print", "export"].contains(row.action) {
            guard let matches = bySubject[row.subject] else { continue }
            let day = BusinessCalendar.day(row.timeMS)
            for entry in matches
            where ((entry["valid_from"] ?? "").isEmpty || entry["valid_from"]! <= day)
                && ((entry["valid_to"] ?? "").isEmpty || day <= entry["valid_to"]!)
            {
                let id = entry["entry_id"] ?? "?"
                let key = "\(row.actor)|\(id)|\(day)"
                if hits[key] == nil {
                    order.append(key)
                    hits[key] = ([], id, Register.watchCategories[entry["category"] ?? ""] ?? "", row.actor, day)
                }
                hits[key]!.rows.append(row)
            }
        }
        for key in order {
            let hit = hits[key]!
            tally.raised(rule: .watchlistLookup, key: key)
            try FindingTable.raise(
                db, rule: .watchlistLookup, key: key, count: tally.count(hit.rows.count),
                first: hit.rows.map(\.timeMS).min()!,
                last: hit.rows.map(\.timeMS).max()!, evidence: hit.rows.prefix(20).map(\.ref), nowMS: nowMS
            ) {
                FindingText(
                    en:
                        "\(hit.actor) operated on watch-list entry \(hit.id) (\(hit.category)) on \(hit.day): \($0) time(s)",
                    ja: "\(hit.actor) が \(hit.day) に注意対象者 \(hit.id) (\(hit.category)) を照会・操作 (\($0) 回)")
            }
        }
    }

    // MARK: Time-driven checks

    static func sweep(_ db: Database, settings: RuleSettings, now: Date) throws {
        let nowMS = Int64(now.timeIntervalSince1970 * 1000)
        // Entries of the last two days that are over.
        let today = BusinessCalendar.day(nowMS)
        for back in 1...2 {
            let day = BusinessCalendar.day(nowMS - Int64(back) * 86_400_000)
            guard day < today, let start = Timestamp(rfc3339: "\(day)T00:00:00.000+09:00")?.epochMilliseconds else {
                continue
            }
            let pairs = try GRDB.Row.fetchAll(
                db,
                sql: """
                    SELECT DISTINCT actor, subject FROM events WHERE kind = 'access' AND action = 'enter'
                    AND time_ms >= ? AND time_ms < ?
                    """, arguments: [start, start + 86_400_000])
            for pair in pairs { try judgeDay(db, actor: pair[0], room: pair[1], day: day, nowMS: nowMS) }
        }
        // Virus detections of the last two days whose deadlines have passed.
        let report = Int64(settings.reportMinutes) * 60_000
        for row in try GRDB.Row.fetchAll(
            db,
            sql: """
                SELECT agent, seq, time_ms FROM events WHERE kind = 'malware' AND action = 'detected' AND time_ms BETWEEN ? AND ?
                """, arguments: [nowMS - 2 * 86_400_000, nowMS - report])
        {
            try judgeDetection(db, agent: row[0], seq: row[1], at: row[2], settings, nowMS)
        }
        try agentIntegrity(db, settings, nowMS)
        try cardsNotReturned(db, settings, nowMS)
        try contractors(db, settings, nowMS)
        try incidents(db, settings, nowMS)
        try recordUnreviewed(db, settings, nowMS)
        try mediaOfLastDays(db, nowMS)
        try directives(db, nowMS)
    }

    /// Operator cards still active some days after their holder left (第16): from the registers, at every
    /// sweep; cleared once the card is returned or revoked in the register.
    static func cardsNotReturned(_ db: Database, _ settings: RuleSettings, _ nowMS: Int64) throws {
        var left: [String: String] = [:]
        for person in try HubStore.rows(.people, db: db) where !(person["left"] ?? "").isEmpty {
            left[person["person_id"] ?? ""] = person["left"]
        }
        let today = BusinessCalendar.day(nowMS)
        for card in try HubStore.rows(.cards, db: db) {
            let id = card["card_id"] ?? ""
            guard let holder = card["holder"], let date = left[holder], card["state"] == "active",
                let leftMS = Timestamp(rfc3339: "\(date)T00:00:00.000+09:00")?.epochMilliseconds,
                BusinessCalendar.day(leftMS + Int64(settings.cardReturnDays) * 86_400_000) < today
            else {
                try FindingTable.clear(
                    db, rule: .cardNotReturned, key: id,
                    reason: "返却・失効、または保持者が復帰 (returned, revoked, or its holder is back)", nowMS: nowMS)
                continue
            }
            try FindingTable.raise(
                db, rule: .cardNotReturned, key: id, count: .set(1), first: leftMS, last: leftMS, evidence: [],
                nowMS: nowMS
            ) { _ in
                FindingText(
                    en: "operator card \(id) of \(holder), who left on \(date), is still active",
                    ja: "\(date) に異動・退職した \(holder) の操作識別カード \(id) が有効のまま")
            }
        }
    }

    /// An agent that found a receipt's log not extending the history it saw before (第20②): the record may
    /// have been rewritten. Raised on the agent's own event, which the 会議's witness sees in the log too.
    static func logInconsistencies(_ db: Database, _ rows: [Row], _ nowMS: Int64) throws {
        for row in rows where row.kind == "agent" && row.action == "log_inconsistent" {
            try FindingTable.raise(
                db, rule: .agentIntegrity, key: "\(row.agent)|log_inconsistent", count: .add(1), first: row.timeMS,
                last: row.timeMS,
                evidence: [row.ref], nowMS: nowMS
            ) { _ in
                FindingText(
                    en:
                        "\(row.agent) was shown a log that does not extend the history the hub showed it before: the record may have been rewritten",
                    ja: "\(row.agent) に示されたログが以前の履歴の続きになっていない。記録が書き換えられた疑いがある")
            }
        }
    }

    static func agentIntegrity(_ db: Database, _ settings: RuleSettings, _ nowMS: Int64) throws {
        let rows = try GRDB.Row.fetchAll(
            db,
            sql: """
                SELECT id, last_seen_ms, skew_ms, forks, declared_lost, clock_jumps, epochs, last_seq, gaps FROM agents WHERE id != ?
                """, arguments: [HubRecords.agentID])
        // A terminal is lost when it has been quiet for agent_overdue_minutes of business hours, not over a
        // night or a holiday, and not when it said it was stopping or a shutdown was meant (第30).
        let clock = OpenClock(settings.calendar.adding(register: try HubStore.rows(.calendar, db: db)), nowMS: nowMS)
        let shutdowns = try GRDB.Row.fetchAll(db, sql: "SELECT agents, from_ms, to_ms FROM shutdowns").map {
            Shutdown(agents: HubStore.people($0[0]), fromMS: $0[1], toMS: $0[2])
        }
        // The newest 第30 shutdown, unless its recovery is recorded: an `incident/recovered` naming it, or
        // without a name on the terminal that recorded it (a recovery of some other fault does not end it).
        var quake: Int64?
        if let shutdown = try GRDB.Row.fetchOne(
            db,
            sql:
                "SELECT agent, seq, time_ms FROM events WHERE kind = 'incident' AND action = 'quake_shutdown' ORDER BY time_ms DESC LIMIT 1"
        ) {
            let (agent, seq, at): (String, Int64, Int64) = (shutdown[0], shutdown[1], shutdown[2])
            let recovered =
                try Bool.fetchOne(
                    db,
                    sql: """
                        SELECT EXISTS(SELECT 1 FROM events WHERE kind = 'incident' AND action = 'recovered' AND time_ms >= ?
                        AND (json_extract(attrs, '$.incident') = ? OR (json_extract(attrs, '$.incident') IS NULL AND agent = ?)))
                        """, arguments: [at, "\(agent)/\(seq)", agent]) ?? false
            quake = recovered ? nil : at
        }
        for row in rows {
            let agent: String = row["id"]
            let lastSeen: Int64 = row["last_seen_ms"]
            let skew: Int64? = row["skew_ms"]
            let gaps: Int64 = row["gaps"]
            let lost: Int64 = row["declared_lost"]
            let seconds = abs(skew ?? 0) / 1000
            var missing = false
            var purpose: String?
            if nowMS - lastSeen > Int64(settings.agentOverdueMinutes) * 60_000 {
                let quiet = try quietOnPurpose(
                    db, agent: agent, lastSeen: lastSeen, clock: clock, shutdowns: shutdowns, quake: quake,
                    overdueMS: Int64(settings.agentOverdueMinutes) * 60_000)
                missing = quiet.purpose == nil && quiet.openMinutes > settings.agentOverdueMinutes
                purpose = quiet.purpose
            }
            let checks: [(what: String, value: Int64, bad: Bool, summary: FindingText)] = [
                (
                    "overdue", (nowMS - lastSeen) / 60_000, missing,
                    FindingText(
                        en: "\(agent) has not been heard from since \(time(lastSeen))",
                        ja: "\(agent) から \(time(lastSeen)) 以降連絡がない")
                ),
                (
                    "fork", row["forks"], (row["forks"] as Int64) > 0,
                    FindingText(
                        en: "\(agent) sent events that fork its chain (quarantined)", ja: "\(agent) が連鎖の分岐する記録を送信 (隔離済)"
                    )
                ),
                (
                    "gap", gaps, gaps > 0,
                    FindingText(
                        en:
                            "\(agent) sent \(gaps) batch(es) with a gap after the hub's last event (refused; the agent must send what the hub lacks)",
                        ja: "\(agent) がハブの最後の記録との間に欠けのある送信を \(gaps) 回 (拒否済。欠けた分の送信が必要)")
                ),
                (
                    "declared_lost", lost, lost > 0,
                    FindingText(en: "\(agent) declared \(lost) event(s) lost", ja: "\(agent) が記録 \(lost) 件の欠落を申告")
                ),
                (
                    "epoch", row["epochs"], (row["epochs"] as Int64) > 0,
                    FindingText(
                        en: "\(agent) started a new chain epoch (journal restored or corrupt)",
                        ja: "\(agent) が新しい連鎖を開始 (ジャーナルの復元または破損)")
                ),
                (
                    "clock_jump", row["clock_jumps"], (row["clock_jumps"] as Int64) > 0,
                    FindingText(en: "\(agent)'s clock jumped", ja: "\(agent) の時計が飛んだ")
                ),
                (
                    "clock_skew", seconds, abs(skew ?? 0) > Int64(settings.clockSkewSeconds) * 1000,
                    FindingText(
                        en: "\(agent)'s clock is \(seconds) s off the hub's", ja: "\(agent) の時計がハブと \(seconds) 秒ずれている")
                ),
            ]
            for check in checks {
                let key = "\(agent)|\(check.what)"
                if check.bad {
                    try FindingTable.raise(
                        db, rule: .agentIntegrity, key: key, count: .set(max(1, check.value)),
                        first: min(lastSeen, nowMS),
                        last: min(lastSeen, nowMS), evidence: [], nowMS: nowMS
                    ) { _ in check.summary }
                } else if check.what == "overdue", let purpose {
                    let why =
                        [
                            "stopped": "端末が停止を申告した (agent/stopped)", "declared": "宣言された停止の間 (a declared shutdown)",
                            "quake_shutdown": "第30 によるシステムの終了の後 (after a 第30 shutdown)",
                        ][purpose] ?? purpose
                    try FindingTable.clear(
                        db, rule: .agentIntegrity, key: key, reason: "意図された停止: \(why)", nowMS: nowMS)
                } else if check.what == "overdue" || check.what == "clock_skew" {
                    try FindingTable.clear(
                        db, rule: .agentIntegrity, key: key, reason: "正常に戻った (back to normal)", nowMS: nowMS)
                }
            }
        }
    }
}
