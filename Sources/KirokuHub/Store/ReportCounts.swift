import Foundation
import GRDB
import KirokuProtocol

/// What the 会議's report counts, kept per JST day as the rules judge the record, so that a month's report
/// reads a few thousand rows instead of every event of the month (a month of a 100-million-event record is
/// eight million events: 21 s to read, Benchmarks/README.md).
///
/// Rows per day, kind and action: one per terminal (how many events), and for access and operations one per
/// person (and for access per room, with the terminal left empty): how many, and how many of them were
/// lookups outside the configured hours. The report adds
/// the calendar (weekends, 祝日, the calendar register) as it stands when the report is made, so a holiday
/// registered later counts; hours changed in the configuration make the counts be taken again from the start.
/// Which pairs of operator and resident were repeated lookups the findings say; each pair's lookups are
/// counted from the record (a finding's own count can miss lookups judged while the threshold was higher).
///
/// The counts have their own cursor (`report_through` in `rule_state`), advanced in the rules' transaction.
/// The report reads the record instead where the counts cannot say it exactly: a period the purge has
/// reached, hours other than the counts', a threshold the findings were not raised with, or counts far
/// behind or ahead of the report's checkpoint.
enum ReportCounts {
    static func migrate(_ db: Database) throws {
        try db.execute(
            sql: """
                CREATE TABLE report_counts(
                    day INTEGER NOT NULL, kind TEXT NOT NULL, action TEXT NOT NULL, agent TEXT NOT NULL,
                    actor TEXT NOT NULL, room TEXT NOT NULL, n INTEGER NOT NULL, outside INTEGER NOT NULL,
                    PRIMARY KEY (day, kind, action, agent, actor, room)
                ) WITHOUT ROWID;
                CREATE INDEX events_listed_by_time ON events(kind, time_ms, agent, seq) WHERE \(listed);
                CREATE INDEX findings_by_rule_time ON findings(rule, first_ms);
                """)
        // Events the rules judged before this version, with thresholds nobody recorded: a report of a period
        // up to the latest of them reads the record (its repeated lookups cannot be told from the findings).
        if let latest = try latestJudged(db) { try FindingTable.setState(db, "repeated_unknown_until", latest) }
    }

    /// The time of the latest event the rules have judged, not past now (one event from a terminal whose clock
    /// said 2099 would otherwise keep every report until then reading the record); nil if none was judged.
    static func latestJudged(_ db: Database) throws -> Int64? {
        guard let judged = try FindingTable.state(db, "cursor"), judged > 0,
            let latest = try Int64.fetchOne(
                db,
                sql: "SELECT time_ms FROM events INDEXED BY events_by_time WHERE id <= ? ORDER BY time_ms DESC LIMIT 1",
                arguments: [judged])
        else { return nil }
        return min(latest, Int64(Date().timeIntervalSince1970 * 1000))
    }

    /// The highest repeated-lookup threshold each JST day's lookups were judged with (the report trusts the
    /// findings of a day only for a threshold at least that high). Before this version one ceiling was kept for
    /// the whole record: it still holds for every day up to the latest event judged then.
    static func migrateCeilings(_ db: Database) throws {
        try db.execute(
            sql: "CREATE TABLE repeated_ceilings(day INTEGER PRIMARY KEY, ceiling INTEGER NOT NULL) WITHOUT ROWID")
        guard let judged = try FindingTable.state(db, "cursor"), let until = try latestJudged(db) else { return }
        try FindingTable.setState(db, "repeated_ceiling_until", until)
        // Lookups stamped after that (a terminal's clock ahead), judged before now: their days get the old ceiling
        // here, or none the report could trust if the thresholds before the last upgrade are unknown too.
        let old =
            try FindingTable.state(db, "repeated_unknown_until") == nil
            ? (try FindingTable.state(db, "repeated_ceiling") ?? Int64.max) : Int64.max
        try db.execute(
            sql: """
                INSERT INTO repeated_ceilings(day, ceiling)
                SELECT DISTINCT (time_ms + 32400000) / 86400000, ? FROM events INDEXED BY events_by_time
                WHERE time_ms > ? AND id <= ? AND kind = 'operation' AND action = 'lookup'
                """, arguments: [old, until, judged])
    }

    /// Notes that lookups of these JST days were judged with `threshold` (kept per day: the highest).
    static func noteCeiling(_ db: Database, days: some Sequence<Int64>, threshold: Int) throws {
        let statement = try db.cachedStatement(
            sql: """
                INSERT INTO repeated_ceilings(day, ceiling) VALUES (?, ?)
                ON CONFLICT (day) DO UPDATE SET ceiling = max(ceiling, excluded.ceiling)
                """)
        for day in days { try statement.execute(arguments: [day, threshold]) }
    }

    /// The partial index's condition, which a query must repeat word for word for SQLite to use it. The index
    /// was made with these kinds: changing them needs a migration that makes it again.
    static let listed = "kind IN (\(ReportScan.listedKinds.map { "'\($0)'" }.joined(separator: ", ")))"

    /// How many events a step of the counts' catch-up takes from the record (one transaction).
    static let catchUpStep: Int64 = 50_000

    /// The most events the report adds or takes away from the counts (those between the counts' cursor and
    /// the checkpoint); beyond it, reading the period is as quick.
    static let reconcileLimit: Int64 = 1_000_000

    /// The hours the counts' `outside` column was taken with, as one number (0: none yet).
    static func stamp(_ calendar: BusinessCalendar) -> Int64 { Int64(calendar.opens * 1440 + calendar.closes + 1) }

    /// Counts up to `limit` events after the counts' cursor; returns how many ids it moved over. Starts again
    /// from the first event when the configured hours are not those the counts were taken with.
    static func advance(_ db: Database, calendar: BusinessCalendar, limit: Int64) throws -> Int64 {
        let stamp = stamp(calendar)
        if try FindingTable.state(db, "report_hours") != stamp {
            try db.execute(sql: "DELETE FROM report_counts")
            try FindingTable.setState(db, "report_through", 0)
            try FindingTable.setState(db, "report_hours", stamp)
        }
        let through = try FindingTable.state(db, "report_through") ?? 0
        let head = try Int64.fetchOne(db.cachedStatement(sql: "SELECT max(id) FROM events")) ?? 0
        let upper = min(head, through + limit)
        guard upper > through else { return 0 }
        // All in SQLite: the day and the minute by the arithmetic of RuleEngine.dayNumber (JST has no summer
        // time), grouped before anything is written. Terminals' rows and persons' rows apart: an operator who
        // works at every counter would otherwise make a row per terminal and person each day.
        try db.cachedStatement(
            sql: """
                INSERT INTO report_counts(day, kind, action, agent, actor, room, n, outside)
                SELECT (time_ms + 32400000) / 86400000, kind, action, agent, '', '', count(*), 0
                FROM events WHERE id > ? AND id <= ? AND purged_ms IS NULL
                GROUP BY 1, 2, 3, 4
                ON CONFLICT (day, kind, action, agent, actor, room) DO UPDATE SET n = n + excluded.n
                """
        ).execute(arguments: [through, upper])
        try db.cachedStatement(
            sql: """
                INSERT INTO report_counts(day, kind, action, agent, actor, room, n, outside)
                SELECT (time_ms + 32400000) / 86400000, kind, action, '', actor,
                    CASE WHEN kind = 'access' THEN subject ELSE '' END,
                    count(*),
                    sum(action = 'lookup'
                        AND ((time_ms + 32400000) % 86400000 / 60000 < ? OR (time_ms + 32400000) % 86400000 / 60000 >= ?))
                FROM events WHERE id > ? AND id <= ? AND purged_ms IS NULL AND kind IN ('access', 'operation')
                GROUP BY 1, 2, 3, 5, 6
                ON CONFLICT (day, kind, action, agent, actor, room)
                DO UPDATE SET n = n + excluded.n, outside = outside + excluded.outside
                """
        ).execute(arguments: [calendar.opens, calendar.closes, through, upper])
        try FindingTable.setState(db, "report_through", upper)
        return upper - through
    }

    /// Counts the rows the rules just judged (the events after `cursor`), if the counts stand at that cursor
    /// with the configured hours: in memory, then one write per terminal's and person's row of the day.
    static func count(_ db: Database, _ rows: [RuleEngine.Row], after cursor: Int64, calendar: BusinessCalendar)
        throws
    {
        guard let last = rows.last, try FindingTable.state(db, "report_through") == cursor,
            try FindingTable.state(db, "report_hours") == stamp(calendar)
        else { return }
        struct Terminal: Hashable {
            var day: Int64
            var kind: String
            var action: String
            var agent: String
        }
        struct Person: Hashable {
            var day: Int64
            var kind: String
            var action: String
            var actor: String
            var room: String
        }
        var terminals: [Terminal: Int64] = [:]
        var people: [Person: (n: Int64, outside: Int64)] = [:]
        for row in rows {
            let day = RuleEngine.dayNumber(row.timeMS)
            terminals[Terminal(day: day, kind: row.kind, action: row.action, agent: row.agent), default: 0] += 1
            guard row.kind == "operation" || row.kind == "access" else { continue }
            let minute = Int((row.timeMS + 32_400_000) % 86_400_000 / 60_000)
            let outside = row.action == "lookup" && (minute < calendar.opens || minute >= calendar.closes)
            let key = Person(
                day: day, kind: row.kind, action: row.action, actor: row.actor,
                room: row.kind == "access" ? row.subject : "")
            people[key, default: (0, 0)].n += 1
            if outside { people[key, default: (0, 0)].outside += 1 }
        }
        let upsert = try db.cachedStatement(
            sql: """
                INSERT INTO report_counts(day, kind, action, agent, actor, room, n, outside) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT (day, kind, action, agent, actor, room)
                DO UPDATE SET n = n + excluded.n, outside = outside + excluded.outside
                """)
        for (key, n) in terminals {
            try upsert.execute(arguments: [key.day, key.kind, key.action, key.agent, "", "", n, 0])
        }
        for (key, counts) in people {
            try upsert.execute(arguments: [
                key.day, key.kind, key.action, "", key.actor, key.room, counts.n, counts.outside,
            ])
        }
        try FindingTable.setState(db, "report_through", last.id)
    }

    /// The report's figures from the counts, or nil where they cannot give them exactly.
    static func report(
        _ db: Database, fromMS: Int64, toMS: Int64, treeSize: Int64, settings: RuleSettings, calendar: BusinessCalendar
    ) throws -> ReportScan? {
        let threshold = settings.repeatedLookupsPerDay
        // Whole JST days only: a period that starts or ends inside a day is read.
        guard fromMS >= 0, toMS > fromMS, (fromMS + 32_400_000) % 86_400_000 == 0,
            (toMS + 32_400_000) % 86_400_000 == 0,
            try FindingTable.state(db, "report_hours") == stamp(calendar),
            fromMS >= (try FindingTable.state(db, "purged_before") ?? Int64.min)
        else { return nil }
        let counted = try FindingTable.state(db, "report_through") ?? 0
        let judged = try FindingTable.state(db, "cursor") ?? 0
        guard abs(counted - treeSize) <= reconcileLimit, abs(judged - treeSize) <= reconcileLimit else { return nil }
        // Findings complete for this threshold: raised by rules that never ran with a higher one, and since
        // this version (or for days after the last event judged before it).
        if let unknown = try FindingTable.state(db, "repeated_unknown_until"), fromMS <= unknown { return nil }
        let firstDay = (fromMS + 32_400_000) / 86_400_000
        let lastDay = (toMS - 1 + 32_400_000) / 86_400_000
        // The thresholds the period's lookups were judged with, day by day; and for days up to the latest event
        // judged before they were kept by day, the one ceiling of the whole record then.
        if let until = try FindingTable.state(db, "repeated_ceiling_until"), fromMS <= until {
            guard let ceiling = try FindingTable.state(db, "repeated_ceiling"), ceiling <= threshold else {
                return nil
            }
        }
        if let ceiling = try Int64.fetchOne(
            db, sql: "SELECT max(ceiling) FROM repeated_ceilings WHERE day BETWEEN ? AND ?",
            arguments: [firstDay, lastDay]), ceiling > threshold
        {
            return nil
        }
        var scan = ReportScan()
        var closed: [Int64: Bool] = [:]
        func isClosed(_ day: Int64) -> Bool {
            if let known = closed[day] { return known }
            let answer = calendar.isClosedDay(day * 86_400_000 - 32_400_000)
            closed[day] = answer
            return answer
        }
        let rows = try Row.fetchCursor(
            db,
            sql: """
                SELECT day, kind, action, agent, actor, room, n, outside FROM report_counts
                WHERE day >= ? AND day <= ?
                """, arguments: [firstDay, lastDay])
        while let row = try rows.next() {
            let day: Int64 = row[0]
            let kind: String = row[1]
            let action: String = row[2]
            let n: Int = row[6]
            let outside: Int = row[7]
            let agent: String = row[3]
            if !agent.isEmpty {
                scan.add(kind: kind, action: action, agent: agent, n: n)
            } else {
                let lookup = kind == "operation" && action == "lookup"
                scan.add(
                    kind: kind, action: action, actor: row[4], room: row[5], n: n,
                    outOfHours: lookup ? (isClosed(day) ? n : outside) : 0)
            }
        }
        // The events between the counts' cursor and the checkpoint: added when the counts are behind it, taken
        // away when they are ahead.
        let sign = counted < treeSize ? 1 : -1
        let delta = try Row.fetchCursor(
            db,
            sql: """
                SELECT time_ms, agent, kind, action, actor, subject FROM events
                WHERE id > ? AND id <= ? AND time_ms >= ? AND time_ms < ? AND purged_ms IS NULL
                """, arguments: [min(counted, treeSize), max(counted, treeSize), fromMS, toMS])
        while let row = try delta.next() {
            let timeMS: Int64 = row[0]
            let kind: String = row[2]
            let action: String = row[3]
            scan.add(
                kind: kind, action: action, agent: row[1], actor: row[4], subject: row[5], n: sign,
                outOfHours: kind == "operation" && action == "lookup" && !calendar.isOpen(timeMS) ? sign : 0)
        }
        guard
            try repeatedLookups(
                db, into: &scan, fromMS: fromMS, toMS: toMS, treeSize: treeSize, judged: judged, threshold: threshold)
        else { return nil }
        scan.dropEmpty()
        for kind in ReportScan.listedKinds {
            // The index's own condition repeated, so that SQLite can use it.
            let rows = try Row.fetchAll(
                db,
                sql: """
                    SELECT time_ms, agent, kind, action, actor, subject, site FROM events INDEXED BY events_listed_by_time
                    WHERE \(listed) AND kind = '\(kind)' AND time_ms >= ? AND time_ms < ? AND id <= ? AND purged_ms IS NULL
                    \(kind == "malware" ? "AND action != 'scan'" : "")
                    ORDER BY time_ms, agent, seq LIMIT ?
                    """, arguments: [fromMS, toMS, treeSize, scan.listLimit])
            guard !rows.isEmpty else { continue }
            scan.listed[kind] = rows.map {
                ReportScan.Listed(
                    timeMS: $0[0], agent: $0[1], kind: $0[2], action: $0[3], actor: $0[4], subject: $0[5], site: $0[6])
            }
        }
        return scan
    }

    /// Pairs of one operator and one resident looked up `threshold` times or more in one day. Every such pair
    /// has a repeated-lookup finding (the rules never judged with a higher threshold), but a finding's count
    /// may have missed lookups judged while the threshold was higher than when it was raised: so the findings
    /// say which pairs, and each pair's lookups up to the checkpoint are counted from the record (one indexed
    /// query each), beside the pairs with lookups between the rules' cursor and the checkpoint, which may have
    /// no finding yet. False where the findings cannot say which pairs (a key made ambiguous by a `|` in a
    /// person's or a resident's id).
    static func repeatedLookups(
        _ db: Database, into scan: inout ReportScan, fromMS: Int64, toMS: Int64, treeSize: Int64, judged: Int64,
        threshold: Int
    ) throws -> Bool {
        // Bytes, as SQLite compares them (a name in NFC and in NFD are two pairs there).
        struct Pair: Hashable {
            var actor: [UInt8]
            var subject: [UInt8]
            var day: Int64
        }
        var pairs = Set<Pair>()
        let moved = try Row.fetchCursor(
            db,
            sql: """
                SELECT actor, subject, time_ms FROM events
                WHERE id > ? AND id <= ? AND time_ms >= ? AND time_ms < ? AND kind = 'operation' AND action = 'lookup'
                AND purged_ms IS NULL
                """, arguments: [min(judged, treeSize), max(judged, treeSize), fromMS, toMS])
        while let row = try moved.next() {
            let (actor, subject): (String, String) = (row[0], row[1])
            pairs.insert(
                Pair(
                    actor: Array(actor.utf8), subject: Array(subject.utf8),
                    day: ((row[2] as Int64) + 32_400_000) / 86_400_000))
        }
        let findings = try Row.fetchAll(
            db,
            sql: """
                SELECT key, first_ms, evidence FROM findings
                WHERE rule = '\(RuleID.repeatedLookups.rawValue)' AND first_ms >= ? AND first_ms < ?
                """, arguments: [fromMS, toMS])
        let byRef = try db.cachedStatement(sql: "SELECT actor, subject FROM events WHERE agent = ? AND seq = ?")
        for finding in findings {
            // `actor|subject|day`: two pairs share a key when an id holds a `|`, and one of them has no finding.
            let key: String = finding[0]
            guard key.utf8.count(where: { $0 == UInt8(ascii: "|") }) == 2 else { return false }
            // Who and whom, from the first lookup the finding names.
            let evidence = FindingTable.decode(finding[2])
            guard let ref = evidence.first, let slash = ref.lastIndex(of: "/"),
                let seq = Int64(ref[ref.index(after: slash)...]),
                let who = try Row.fetchOne(byRef, arguments: [String(ref[..<slash]), seq])
            else {
                throw KirokuError(.internalError, "a repeated-lookup finding names no lookup the record holds")
            }
            let (actor, subject): (String, String) = (who[0], who[1])
            pairs.insert(
                Pair(
                    actor: Array(actor.utf8), subject: Array(subject.utf8),
                    day: ((finding[1] as Int64) + 32_400_000) / 86_400_000))
        }
        let count = try db.cachedStatement(
            sql: """
                SELECT count(*) FROM events INDEXED BY events_by_subject
                WHERE subject = ? AND time_ms >= ? AND time_ms < ? AND id <= ? AND actor = ? AND kind = 'operation'
                AND action = 'lookup' AND purged_ms IS NULL
                """)
        for pair in pairs {
            let start = pair.day * 86_400_000 - 32_400_000
            let actor = String(decoding: pair.actor, as: UTF8.self)
            let lookups =
                try Int.fetchOne(
                    count,
                    arguments: [
                        String(decoding: pair.subject, as: UTF8.self), start, start + 86_400_000, treeSize, actor,
                    ]) ?? 0
            guard lookups >= threshold else { continue }
            scan.operators[actor, default: ReportScan.Operator()].repeatedPairs += 1
            scan.operators[actor, default: ReportScan.Operator()].repeatedLookups += lookups
        }
        return true
    }
}
