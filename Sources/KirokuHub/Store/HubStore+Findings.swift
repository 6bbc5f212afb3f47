public import Foundation
import GRDB
public import KirokuProtocol

/// Findings and the rules' own state: the cursor of the last event evaluated, and the counters of the
/// windowed rules (so each event is counted once, whenever it arrives).
enum FindingTable {
    static func migrate(_ db: Database) throws {
        try db.execute(
            sql: """
                CREATE TABLE findings(
                    id INTEGER PRIMARY KEY,
                    rule TEXT NOT NULL,
                    key TEXT NOT NULL,
                    summary TEXT NOT NULL,
                    first_ms INTEGER NOT NULL,
                    last_ms INTEGER NOT NULL,
                    count INTEGER NOT NULL,
                    evidence TEXT NOT NULL,
                    status TEXT NOT NULL DEFAULT 'open',
                    created_ms INTEGER NOT NULL,
                    updated_ms INTEGER NOT NULL,
                    UNIQUE (rule, key)
                );
                CREATE INDEX findings_by_status ON findings(status, last_ms);
                CREATE TABLE finding_actions(
                    id INTEGER PRIMARY KEY,
                    finding INTEGER NOT NULL REFERENCES findings(id),
                    action TEXT NOT NULL,
                    by TEXT NOT NULL,
                    reason TEXT NOT NULL,
                    at_ms INTEGER NOT NULL
                );
                CREATE TABLE rule_counts(
                    rule TEXT NOT NULL,
                    key TEXT NOT NULL,
                    count INTEGER NOT NULL,
                    first_ms INTEGER NOT NULL,
                    last_ms INTEGER NOT NULL,
                    evidence TEXT NOT NULL,
                    PRIMARY KEY (rule, key)
                ) WITHOUT ROWID;
                CREATE TABLE rule_state(name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
                """)
    }

    static func state(_ db: Database, _ name: String) throws -> Int64? {
        try Int64.fetchOne(db.cachedStatement(sql: "SELECT value FROM rule_state WHERE name = ?"), arguments: [name])
    }

    static func setState(_ db: Database, _ name: String, _ value: Int64) throws {
        try db.cachedStatement(sql: "INSERT OR REPLACE INTO rule_state(name, value) VALUES (?, ?)").execute(arguments: [
            name, value,
        ])
    }

    static func decode(_ text: String) -> [String] {
        guard case .array(let items) = try? JSONParser.parse(Array(text.utf8)) else { return [] }
        return items.compactMap { if case .string(let item) = $0 { item } else { nil } }
    }

    static func encode(_ list: [String]) -> String {
        String(decoding: CanonicalJSON.encode(.array(list.prefix(20).map(JSONValue.string))), as: UTF8.self)
    }

    /// Adds `count` occurrences to a windowed rule's counter and returns its totals: one statement (an
    /// upsert returning the row), since it runs for most events.
    static func count(
        _ db: Database, rule: RuleID, key: String, add count: Int64, first: Int64, last: Int64, evidence: [String]
    ) throws -> (count: Int64, first: Int64, last: Int64, evidence: String) {
        let statement = try db.cachedStatement(
            sql: """
                INSERT INTO rule_counts(rule, key, count, first_ms, last_ms, evidence) VALUES (?, ?, ?, ?, ?, ?)
                ON CONFLICT(rule, key) DO UPDATE SET
                    count = count + excluded.count, first_ms = min(first_ms, excluded.first_ms),
                    last_ms = max(last_ms, excluded.last_ms),
                    evidence = CASE WHEN json_array_length(evidence) >= 20 THEN evidence ELSE (
                        SELECT json_group_array(value) FROM (
                            SELECT value FROM json_each(rule_counts.evidence) UNION ALL SELECT value FROM json_each(excluded.evidence)
                            LIMIT 20)) END
                RETURNING count, first_ms, last_ms, evidence
                """)
        guard
            let row = try GRDB.Row.fetchOne(
                statement, arguments: [rule.rawValue, key, count, first, last, encode(evidence)])
        else { throw KirokuError(.internalError, "a rule counter could not be updated") }
        return (row[0], row[1], row[2], row[3])
    }

    enum Count { case add(Int64), set(Int64) }

    /// Creates or updates the finding of `rule` for `key`. New evidence on a resolved finding reopens it.
    static func raise(
        _ db: Database, rule: RuleID, key: String, count: Count, first: Int64, last: Int64, evidence: [String],
        nowMS: Int64,
        summary: (Int64) -> FindingText
    ) throws {
        if let row = try Row.fetchOne(
            db.cachedStatement(
                sql:
                    "SELECT id, count, first_ms, last_ms, evidence, status, summary, summary_ja FROM findings WHERE rule = ? AND key = ?"
            ),
            arguments: [rule.rawValue, key])
        {
            let id: Int64 = row[0]
            let total: Int64 =
                switch count {
                case .add(let n): row[1] + n
                case .set(let n): n
                }
            var merged: [String] = []
            for item in decode(row[4]) + evidence where !merged.contains(item) && merged.count < 20 {
                merged.append(item)
            }
            let changed = total != row[1] || min(row[2], first) != row[2] || max(row[3], last) != row[3]
            let text = summary(total)
            // The same facts told differently (a report that arrived, but late) rewrite the text without
            // reopening anything: a finding never says what the record no longer shows.
            let reworded = text.en != (row[6] as String? ?? "") || text.ja != (row[7] as String? ?? "")
            guard changed || reworded else { return }
            var status: String = row[5]
            if changed && status == "resolved" {
                status = "open"
                try db.execute(
                    sql:
                        "INSERT INTO finding_actions(finding, action, by, reason, at_ms) VALUES (?, 'reopened', 'kiroku-hub', ?, ?)",
                    arguments: [id, "新たな証拠 (new evidence)", nowMS])
            }
            try db.cachedStatement(
                sql: """
                    UPDATE findings SET count = ?, first_ms = ?, last_ms = ?, evidence = ?, summary = ?, summary_ja = ?, status = ?,
                    updated_ms = ? WHERE id = ?
                    """
            ).execute(arguments: [
                total, min(row[2], first), max(row[3], last), encode(merged), text.en, text.ja, status, nowMS, id,
            ])
        } else {
            let total: Int64 =
                switch count {
                case .add(let n), .set(let n): n
                }
            let text = summary(total)
            try db.execute(
                sql: """
                    INSERT INTO findings(rule, key, summary, summary_ja, first_ms, last_ms, count, evidence, created_ms, updated_ms)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [rule.rawValue, key, text.en, text.ja, first, last, total, encode(evidence), nowMS, nowMS])
        }
    }

    /// Resolves an open finding because the record no longer shows the breach (a late event closed it).
    static func clear(_ db: Database, rule: RuleID, key: String, reason: String, nowMS: Int64) throws {
        guard
            let id = try Int64.fetchOne(
                db, sql: "SELECT id FROM findings WHERE rule = ? AND key = ? AND status != 'resolved'",
                arguments: [rule.rawValue, key])
        else { return }
        try db.execute(
            sql: "UPDATE findings SET status = 'resolved', updated_ms = ? WHERE id = ?", arguments: [nowMS, id])
        try db.execute(
            sql:
                "INSERT INTO finding_actions(finding, action, by, reason, at_ms) VALUES (?, 'resolved', 'kiroku-hub', ?, ?)",
            arguments: [id, reason, nowMS])
    }
}

extension HubStore {
    /// Evaluates every event not yet evaluated (in chunks, each in one transaction with the findings it
    /// raises and the cursor), then the time-driven checks. Returns how many events were evaluated.
    @discardableResult
    public func evaluateRules(
        _ settings: RuleSettings, now: Date = Date(), chunk: Int = 5000,
        countingStep: Int64? = nil, countingLimit: Int64 = .max, counted: (Int64) -> Void = { _ in }
    ) async throws -> Int {
        let total = try await evaluatePendingRules(
            settings, now: now, chunk: chunk, countingStep: countingStep, countingLimit: countingLimit,
            counted: counted)
        try await pool.write { db in try RuleEngine.sweep(db, settings: settings, now: now) }
        return total
    }

    /// Evaluates the events not yet evaluated, without the time-driven checks. `counted` hears how many events
    /// each step of the report's counts took from the record (0 once they have caught up with the rules); a step
    /// of `countingStep` (50,000 unless given; `chunk` if larger) means more may remain. The counts take at most about
    /// `countingLimit` events per call (whole steps), so a caller can do other work between calls.
    @discardableResult
    public func evaluatePendingRules(
        _ settings: RuleSettings, now: Date = Date(), chunk: Int = 5000,
        countingStep: Int64? = nil, countingLimit: Int64 = .max, counted: (Int64) -> Void = { _ in }
    ) async throws -> Int {
        var total = 0
        // The rules count what they judge for the report (ReportCounts.count). Counts behind the rules (after an
        // upgrade or a change of hours they start from the first event) catch up once the rules have, in larger
        // steps; the report reads the record meanwhile.
        let counting = max(Int64(chunk), countingStep ?? ReportCounts.catchUpStep)
        var countedHere: Int64 = 0
        while true {
            let (done, step) = try await pool.writeWithoutTransaction { db in
                try Self.withoutFsync(db) {
                    let done = try RuleEngine.process(db, settings: settings, now: now, limit: chunk)
                    guard done < chunk else { return (done, Int64(-1)) }
                    return (done, try ReportCounts.advance(db, calendar: settings.calendar, limit: counting))
                }
            }
            total += done
            if step >= 0 {
                counted(step)
                countedHere += step
            }
            if done < chunk && (step < counting || countedHere >= countingLimit) { return total }
        }
    }

    /// Runs `body` in a transaction committed with `synchronous = NORMAL`: the rules' cursor and findings
    /// are derived from the events and committed together, so they need consistency, not durability. In
    /// WAL mode a power cut can only lose a suffix of the log; the next durable commit (an ingest, FULL)
    /// syncs everything before it; a lost rules transaction is lost with its cursor, and those events are
    /// judged again. Saves one fsync per chunk of events (Benchmarks/README.md).
    static func withoutFsync<T>(_ db: Database, _ body: () throws -> T) throws -> T {
        try db.execute(sql: "PRAGMA synchronous = NORMAL")
        var result: Result<T, any Error> = .failure(CancellationError())
        do {
            try db.inTransaction {
                result = .success(try body())
                return .commit
            }
        } catch {
            result = .failure(error)
        }
        // Back to FULL before anything else uses the writer (outside any transaction, so it cannot be refused).
        try db.execute(sql: "PRAGMA synchronous = FULL")
        return try result.get()
    }

    /// Findings, newest first. `status` is open, acknowledged, resolved, or nil for all.
    /// `rules` limits to those rules (an article's or a severity's); `seenSince` and `seenBefore` (epoch ms) to
    /// findings whose span of evidence reaches into that period.
    public func findings(
        status: FindingStatus? = nil, rule: RuleID? = nil, id: Int64? = nil, ids: [Int64]? = nil,
        rules: [RuleID]? = nil,
        seenSince: Int64? = nil,
        seenBefore: Int64? = nil, limit: Int = 1000
    ) async throws -> [Finding] {
        @Sendable func time(_ ms: Int64) -> String {
            Timestamp(epochMilliseconds: ms, offsetMinutes: Timestamp.jstOffsetMinutes).rfc3339
        }
        return try await pool.read { db in
            var conditions: [String] = []
            var arguments: [any DatabaseValueConvertible] = []
            if let status {
                conditions.append("status = ?")
                arguments.append(status.rawValue)
            }
            if let rule {
                conditions.append("rule = ?")
                arguments.append(rule.rawValue)
            }
            if let id {
                conditions.append("id = ?")
                arguments.append(id)
            }
            if let ids {
                conditions.append("id IN (\(ids.isEmpty ? "NULL" : ids.map { _ in "?" }.joined(separator: ",")))")
                arguments.append(contentsOf: ids as [any DatabaseValueConvertible])
            }
            if let rules {
                conditions.append("rule IN (\(rules.isEmpty ? "NULL" : rules.map { _ in "?" }.joined(separator: ",")))")
                arguments.append(contentsOf: rules.map(\.rawValue) as [any DatabaseValueConvertible])
            }
            if let seenSince {
                conditions.append("last_ms >= ?")
                arguments.append(seenSince)
            }
            if let seenBefore {
                conditions.append("first_ms < ?")
                arguments.append(seenBefore)
            }
            let clause = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
            let selected =
                "SELECT * FROM findings \(clause) ORDER BY last_ms DESC, id DESC LIMIT \(max(1, min(limit, 10_000)))"
            let rows = try Row.fetchAll(db, sql: selected, arguments: StatementArguments(arguments))
            // Every selected finding's history in one read, not one per finding.
            var histories: [Int64: [Finding.Action]] = [:]
            for action in try Row.fetchAll(
                db,
                sql: """
                    SELECT finding, action, by, reason, at_ms FROM finding_actions
                    WHERE finding IN (SELECT id FROM (\(selected))) ORDER BY id
                    """, arguments: StatementArguments(arguments))
            {
                histories[action[0], default: []].append(
                    Finding.Action(action: action[1], by: action[2], reason: action[3], at: time(action[4])))
            }
            return try rows.map { row in
                let id: Int64 = row["id"]
                let rule: String = row["rule"]
                let info = RuleInfo.named(rule)
                let history = histories[id] ?? []
                guard let status = FindingStatus(rawValue: row["status"]) else {
                    throw KirokuError(.internalError, "finding \(id) has a status this hub does not know")
                }
                return Finding(
                    id: id, rule: rule, article: info?.article ?? "", severity: info?.severity ?? "warning",
                    summary: row["summary"], summaryJa: row["summary_ja"], firstSeen: time(row["first_ms"]),
                    lastSeen: time(row["last_ms"]),
                    count: row["count"], evidence: FindingTable.decode(row["evidence"]), status: status,
                    history: history)
            }
        }
    }

    /// Judges one JST day again against the registers as they now stand (a register loaded or corrected
    /// after that day's events were judged): the register rules over every event of that day, counts
    /// replaced, findings no longer supported resolved; recorded as `record/rules_rejudged`. Events not
    /// yet evaluated are evaluated first, in the same transaction, so that none is counted twice.
    public func rejudge(day: String, settings: RuleSettings, by person: String, now: Date = Date()) async throws
        -> (found: Int, resolved: Int)
    {
        guard BusinessCalendar.parse(day) != nil else {
            throw KirokuError(.badQuery, "day is YYYY-MM-DD, not '\(day.prefix(20))'")
        }
        let nowMS = Int64(now.timeIntervalSince1970 * 1000)
        guard day <= BusinessCalendar.day(nowMS) else { throw KirokuError(.badQuery, "\(day) has not come yet") }
        return try await pool.write { db in
            while try RuleEngine.process(db, settings: settings, now: now, limit: 5000) == 5000 {}
            let result = try RuleEngine.rejudge(db, day: day, by: person, nowMS: nowMS)
            try HubRecords.append(
                [("rules_rejudged", person, day, ["found": "\(result.found)", "resolved": "\(result.resolved)"])],
                now: now, db: db)
            return result
        }
    }

    /// Acknowledges (`acknowledged`) or resolves (`resolved`) a finding, with who and why; recorded as a
    /// `record/finding_acknowledged` or `record/finding_resolved` event in the same transaction.
    public func act(
        onFinding id: Int64, status: FindingStatus, reason: String, by person: String, now: Date = Date()
    )
        async throws
        -> Finding
    {
        guard status != .open else {
            throw KirokuError(.badQuery, "a finding is acknowledged or resolved")
        }
        let reason = reason.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !reason.isEmpty, reason.count <= 1000 else {
            throw KirokuError(.badQuery, "say why (a reason of up to 1000 characters)")
        }
        let nowMS = Int64(now.timeIntervalSince1970 * 1000)
        try await pool.write { db in
            guard
                let row = try Row.fetchOne(
                    db, sql: "SELECT rule, status, evidence FROM findings WHERE id = ?", arguments: [id])
            else {
                throw KirokuError(.notFound, "there is no finding \(id)")
            }
            guard (row["status"] as String) != FindingStatus.resolved.rawValue else {
                throw KirokuError(.badQuery, "finding \(id) is already resolved")
            }
            // 第9②: the 管理者 too is audited — a finding about one's own actions is resolved by someone else.
            if status == .resolved, try Self.actors(of: FindingTable.decode(row["evidence"]), db: db).contains(person) {
                throw KirokuError(
                    .notPermitted,
                    "finding \(id) is about \(person)'s own actions; someone else resolves it (第9②: 自らの行為に関する所見は他の者が解決する)"
                )
            }
            try db.execute(
                sql: "UPDATE findings SET status = ?, updated_ms = ? WHERE id = ?",
                arguments: [status.rawValue, nowMS, id])
            try db.execute(
                sql: "INSERT INTO finding_actions(finding, action, by, reason, at_ms) VALUES (?, ?, ?, ?, ?)",
                arguments: [id, status.rawValue, person, reason, nowMS])
            try HubRecords.append(
                [
                    (
                        status == .resolved ? "finding_resolved" : "finding_acknowledged", person,
                        row["rule"] as String,
                        ["finding": "\(id)", "reason": reason]
                    )
                ], now: now, db: db)
        }
        // By id: the finding may be older than any page of the newest.
        guard let finding = try await findings(id: id).first else {
            throw KirokuError(.notFound, "there is no finding \(id)")
        }
        return finding
    }

    /// Who acted in a finding's evidence (`agent/seq` references), as the record holds them: the actor, and
    /// for an operator card's event (whose actor is the card) the person it names and the card's holder.
    static func actors(of evidence: [String], db: Database) throws -> Set<String> {
        var actors: Set<String> = []
        var holders: [String: String]?
        for reference in evidence {
            guard let slash = reference.lastIndex(of: "/"), let seq = Int64(reference[reference.index(after: slash)...])
            else { continue }
            guard
                let row = try Row.fetchOne(
                    db,
                    sql: "SELECT actor, kind, json_extract(attrs, '$.holder') FROM events WHERE agent = ? AND seq = ?",
                    arguments: [String(reference[..<slash]), seq])
            else { continue }
            actors.insert(row[0])
            if (row[1] as String) == "card" {
                if let named = row[2] as String? { actors.insert(named) }
                if holders == nil {
                    holders = Dictionary(
                        try rows(.cards, db: db).map { ($0["card_id"] ?? "", $0["holder"] ?? "") },
                        uniquingKeysWith: { a, _ in a })
                }
                if let holder = holders?[row[0]] { actors.insert(holder) }
            }
        }
        return actors
    }
}
