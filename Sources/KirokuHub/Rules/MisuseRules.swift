import Foundation
import GRDB
import KirokuProtocol

/// The misuse that actually happens behind 第20① and 第16④ — lookups without a purpose, one credential at two
/// terminals — and the 管理者's own acts the 会議 audits (第9②): permits written after the fact, a record
/// nobody reviewed.
extension RuleEngine {
    // MARK: Each event

    /// Lookups whose source records a purpose (`attrs.purpose`) and gave none, or one not in
    /// `lookup_purposes` when that list is set; one finding per operator and day. Sources that record no
    /// purpose are not judged (the attribute is absent, not empty).
    static func lookupPurpose(_ db: Database, _ rows: [Row], _ settings: RuleSettings, _ nowMS: Int64) throws {
        let allowed = Set(settings.lookupPurposes.map { $0.trimmingCharacters(in: .whitespaces) })
        var hits: [(row: Row, summary: FindingText)] = []
        for row in rows where row.purpose != nil && row.kind == "operation" && row.action == "lookup" {
            let given = row.purpose!
            if given.unicodeScalars.allSatisfy({ CharacterSet.whitespaces.contains($0) }) {
                let day = BusinessCalendar.day(row.timeMS)
                hits.append(
                    (
                        row,
                        FindingText(
                            en: "\(row.actor) looked up without a purpose on \(day)",
                            ja: "\(row.actor) が \(day) に目的を記さずに照会")
                    ))
                continue
            }
            // Compared (and hashed) only when a list is set; most purposes match as given, without trimming.
            guard !allowed.isEmpty, !allowed.contains(given) else { continue }
            let purpose = given.trimmingCharacters(in: .whitespaces)
            if !allowed.contains(purpose) {
                let day = BusinessCalendar.day(row.timeMS)
                hits.append(
                    (
                        row,
                        FindingText(
                            en: "\(row.actor) looked up for a purpose not in the list (\(purpose)) on \(day)",
                            ja: "\(row.actor) が \(day) に定めのない目的 (\(purpose)) で照会")
                    ))
            }
        }
        try raiseHits(
            db, rule: .lookupPurpose, hits, key: { "\($0.actor)|\(BusinessCalendar.day($0.timeMS))" }, nowMS, .add)
    }

    /// One person's operations alternating between two terminals — T1, then T2, then T1 again — within
    /// `shared_credential_minutes`: someone else is using their credential (or card) at the other terminal.
    /// Moving from one counter to the next is not alternating. Read from the record around the chunk's
    /// operations (the actor index), so that the three may arrive in different chunks, from different agents:
    /// each of the chunk's operations is within the window of the other two of any alternation it is part of,
    /// so only the windows around them are read, merged where they overlap (a catch-up chunk reads about its
    /// own size, not whole days).
    static func sharedCredential(_ db: Database, _ rows: [Row], _ settings: RuleSettings, _ nowMS: Int64) throws {
        typealias Seen = (agent: String, seq: Int64, time: Int64, id: Int64)
        let window = Int64(settings.sharedCredentialMinutes) * 60_000
        let around = try db.cachedStatement(
            sql: """
                SELECT agent, seq, time_ms, id FROM events INDEXED BY events_by_actor
                WHERE actor = ? AND time_ms BETWEEN ? AND ? AND kind = 'operation' AND action IN ('lookup', 'update', 'print', 'export') AND id <= ?
                ORDER BY time_ms, id
                """)
        let through = rows.last?.id ?? 0
        // Operations on residents only: a login to a PC (a PC-management export, under its own agent id) next to
        // the 住基ネット application's lookups is one person at one desk, not two terminals.
        let acts = rows.filter { $0.kind == "operation" && residentOperations.contains($0.action) && !$0.actor.isEmpty }
        // First the summary of which terminal each operator used when (one row per operator, day and
        // terminal): most operators stay at one terminal, and then nothing else is read.
        let note = try db.cachedStatement(
            sql: """
                INSERT INTO actor_terminals(actor, day, agent, first_ms, last_ms) VALUES (?, ?, ?, ?, ?)
                ON CONFLICT (actor, day, agent) DO UPDATE SET first_ms = min(first_ms, excluded.first_ms), last_ms = max(last_ms, excluded.last_ms)
                """)
        try groups(acts, key: { Key(text: $0.actor, number: dayNumber($0.timeMS), extra: $0.agent) }) { key, group in
            try note.execute(arguments: [
                key.text, key.number, key.extra, group.map(\.timeMS).min()!, group.map(\.timeMS).max()!,
            ])
        }
        let terminals = try db.cachedStatement(
            sql: "SELECT agent, first_ms, last_ms FROM actor_terminals WHERE actor = ? AND day BETWEEN ? AND ?")
        try groups(acts, key: { Key(text: $0.actor, number: 0) }) { key, group in
            let actor = key.text
            let mine = Set(group.map(\.id))
            var ranges: [(from: Int64, to: Int64)] = []
            for time in group.map(\.timeMS).sorted() {
                if let last = ranges.last, time - window <= last.to {
                    ranges[ranges.count - 1].to = time + window
                } else {
                    ranges.append((time - window, time + window))
                }
            }
            let days = group.map { dayNumber($0.timeMS) }
            let used = try GRDB.Row.fetchAll(terminals, arguments: [actor, days.min()! - 1, days.max()! + 1])
                .map { (agent: $0[0] as String, first: $0[1] as Int64, last: $0[2] as Int64) }
            // Alternations by the JST day of their first event: the finding's key, as for the other rules.
            var byDay: [String: [Seen]] = [:]
            for range in ranges
            where Set(used.filter { $0.first <= range.to && range.from <= $0.last }.map(\.agent)).count >= 2 {
                let seen: [Seen] = try GRDB.Row.fetchAll(around, arguments: [actor, range.from, range.to, through]).map
                { ($0[0], $0[1], $0[2], $0[3]) }
                // Runs of one terminal; an alternation is a run between two runs of another terminal, the
                // outer two within the window, and at least one of the three new in this chunk.
                var runs: [(agent: String, events: [Seen])] = []
                for event in seen {
                    if runs.last?.agent == event.agent {
                        runs[runs.count - 1].events.append(event)
                    } else {
                        runs.append((event.agent, [event]))
                    }
                }
                guard runs.count >= 3 else { continue }
                for index in 1..<(runs.count - 1) {
                    let (before, middle, after) = (runs[index - 1], runs[index], runs[index + 1])
                    guard before.agent == after.agent, let a = before.events.last, let c = after.events.first,
                        c.time - a.time <= window
                    else { continue }
                    let three = [a] + middle.events + [c]
                    guard three.contains(where: { mine.contains($0.id) }) else { continue }
                    byDay[BusinessCalendar.day(a.time), default: []] += three
                }
            }
            for day in byDay.keys.sorted() {
                let evidence = byDay[day]!
                let named = Set(evidence.map(\.agent)).sorted().joined(separator: ", ")
                try FindingTable.raise(
                    db, rule: .sharedCredential, key: "\(actor)|\(day)", count: .add(1),
                    first: evidence.map(\.time).min()!,
                    last: evidence.map(\.time).max()!, evidence: evidence.prefix(20).map { "\($0.agent)/\($0.seq)" },
                    nowMS: nowMS
                ) { n in
                    FindingText(
                        en:
                            "\(actor) operated on \(named) at the same time on \(day) (\(n) time(s)): one credential at two terminals",
                        ja: "\(actor) が \(day) に \(named) で同時に操作 (\(n) 回)。一つの資格情報を二か所で使用")
                }
            }
        }
    }

    /// Operations on residents (lookup, update, print, export) outside the operator's assignment: no row of
    /// the assignments register valid that day names the terminal or its site (the section) for them — or
    /// names them at all. Judged only once the register is loaded; per operator and day. The site is read
    /// only for the few operations whose terminal is not itself assigned.
    static func assignments(_ db: Database, _ rows: [Row], _ nowMS: Int64) throws {
        let acts = rows.filter {
            $0.kind == "operation" && ["lookup", "update", "print", "export"].contains($0.action)
        }
        guard !acts.isEmpty else { return }
        let register = try HubStore.rows(.assignments, db: db)
        guard !register.isEmpty else { return }
        var byPerson: [String: [RegisterRow]] = [:]
        for row in register { byPerson[row["person"] ?? "", default: []].append(row) }
        let site = try db.cachedStatement(sql: "SELECT site FROM events WHERE id = ?")
        var hits: [(row: Row, summary: FindingText)] = []
        for act in acts {
            let day = BusinessCalendar.day(act.timeMS)
            let valid = (byPerson[act.actor] ?? []).filter {
                ($0["valid_from"] ?? "9999") <= day && (($0["valid_to"] ?? "").isEmpty || day <= $0["valid_to"]!)
            }
            guard !valid.contains(where: { $0["scope"] == act.agent }) else { continue }
            if valid.isEmpty {
                hits.append(
                    (
                        act,
                        FindingText(
                            en:
                                "\(act.actor) operated on \(act.agent) on \(day) with no assignment in the assignments register",
                            ja: "\(act.actor) が \(day) に \(act.agent) で操作。事務分掌の台帳に担当がない")
                    ))
                continue
            }
            let place = try String.fetchOne(site, arguments: [act.id]) ?? ""
            guard place.isEmpty || !valid.contains(where: { $0["scope"] == place }) else { continue }
            let assigned = valid.compactMap { $0["scope"] }.sorted().joined(separator: ", ")
            let at = place.isEmpty ? act.agent : "\(act.agent) (\(place))"
            hits.append(
                (
                    act,
                    FindingText(
                        en: "\(act.actor) operated on \(at) on \(day), outside their assignment (\(assigned))",
                        ja: "\(act.actor) が \(day) に担当外の \(at) で操作 (担当: \(assigned))")
                ))
        }
        try raiseHits(
            db, rule: .lookupOutsideAssignment, hits, key: { "\($0.actor)|\(BusinessCalendar.day($0.timeMS))" },
            nowMS, .add)
    }

    /// What an operator does to a resident's record (not logins): the actions `shared_credential` compares.
    static let residentOperations: Set<String> = ["lookup", "update", "print", "export"]

    // MARK: Register imports

    /// The registers whose rows permit something from `valid_from` on: a row written after what it permits
    /// had already happened permits it after the fact (事後許可).
    static let permitting: [Register: String] = [.permits: "入退室許可", .maintenance: "作業指示書"]

    /// Raises `register_backdated` for each row an import adds, or whose validity it moves earlier, that
    /// covers what the record shows had already happened before the import: an entry of that person into
    /// that room (permits), a maintenance start under that instruction (maintenance), from `valid_from` up
    /// to the import. Loading a register for the first time, or a row that covers nothing yet, is not 事後許可.
    /// The evidence is the import's own `record/register_imported` event, whose actor is the importer: the
    /// 会議 sees who wrote it, and the importer cannot resolve it (第9②).
    static func backdated(
        _ db: Database, register: Register, rows: [String: RegisterRow], before: [String: RegisterRow],
        by person: String,
        evidence: [String], nowMS: Int64
    ) throws {
        guard let name = permitting[register], !before.isEmpty else { return }
        for key in rows.keys.sorted() {
            guard let row = rows[key], let from = row["valid_from"],
                let fromMS = Timestamp(rfc3339: "\(from)T00:00:00.000+09:00")?.epochMilliseconds
            else { continue }
            // Only validity the import adds: a new row, or one whose start moved earlier.
            var untilMS = nowMS
            if let old = before[key]?["valid_from"],
                let oldMS = Timestamp(rfc3339: "\(old)T00:00:00.000+09:00")?.epochMilliseconds
            {
                guard fromMS < oldMS else { continue }
                untilMS = min(nowMS, oldMS)
            }
            let covered: Int64?
            switch register {
            case .permits:
                covered = try Int64.fetchOne(
                    db,
                    sql: """
                        SELECT min(time_ms) FROM events INDEXED BY events_by_actor WHERE actor = ? AND time_ms >= ? AND time_ms < ?
                        AND kind = 'access' AND action = 'enter' AND subject = ?
                        """, arguments: [row["person"] ?? "", fromMS, untilMS, row["room"] ?? ""])
            default:
                covered = try Int64.fetchOne(
                    db,
                    sql: """
                        SELECT min(time_ms) FROM events INDEXED BY events_incidents_by_time WHERE kind = 'incident' AND time_ms >= ? AND time_ms < ?
                        AND action = 'maintenance_start' AND json_extract(attrs, '$.instruction') = ?
                        """, arguments: [fromMS, untilMS, key])
            }
            guard let covered else { continue }
            let today = BusinessCalendar.day(nowMS)
            try FindingTable.raise(
                db, rule: .registerBackdated, key: "\(register.rawValue)|\(key)|\(from)", count: .set(1),
                first: covered, last: nowMS,
                evidence: evidence, nowMS: nowMS
            ) { _ in
                FindingText(
                    en:
                        "\(person) imported \(register.rawValue) \(key) on \(today), valid from \(from): it covers what happened at \(time(covered)), before it was imported (事後許可)",
                    ja:
                        "\(person) が \(today) に\(name) \(key) を登録。有効開始 \(from) で、登録前の \(time(covered)) の記録を許可している (事後許可)"
                )
            }
        }
    }

    /// Who last replaced a register, and when, from its `record/register_imported` events: named when a
    /// re-judgement resolves a finding, so that the 会議 sees whose register change cleared it (第9②).
    static func lastImport(_ db: Database, _ register: Register) throws -> (person: String, at: String)? {
        try GRDB.Row.fetchOne(
            db,
            sql: """
                SELECT actor, time_ms FROM events INDEXED BY events_by_subject
                WHERE subject = ? AND kind = 'record' AND action = 'register_imported' ORDER BY time_ms DESC, id DESC LIMIT 1
                """, arguments: [register.rawValue]
        ).map { ($0[0], time($0[1])) }
    }

    // MARK: The 点検 of the record (第20②)

    /// The record not reviewed for more than `review_gap_days`: the days since the last `record/reviewed`
    /// covered (or since the record's first event), up to yesterday. One standing finding, its count the
    /// days unreviewed; resolved once a review covers them.
    static func recordUnreviewed(_ db: Database, _ settings: RuleSettings, _ nowMS: Int64) throws {
        guard settings.reviewGapDays > 0 else { return }
        let yesterday = BusinessCalendar.day(nowMS - 86_400_000)
        let reviewed = try String.fetchOne(
            db,
            sql: """
                SELECT max(json_extract(attrs, '$.through')) FROM events INDEXED BY events_by_subject
                WHERE subject = 'record' AND kind = 'record' AND action = 'reviewed'
                """)
        let since: String
        if let reviewed {
            guard let next = Timestamp(rfc3339: "\(reviewed)T00:00:00.000+09:00")?.epochMilliseconds else { return }
            since = BusinessCalendar.day(next + 86_400_000)
        } else {
            guard
                let first = try Int64.fetchOne(
                    db, sql: "SELECT min(time_ms) FROM events INDEXED BY events_by_time WHERE agent != 'hub'")
            else { return }
            since = BusinessCalendar.day(first)
        }
        guard since <= yesterday, let start = Timestamp(rfc3339: "\(since)T00:00:00.000+09:00")?.epochMilliseconds,
            let end = Timestamp(rfc3339: "\(yesterday)T00:00:00.000+09:00")?.epochMilliseconds
        else {
            try FindingTable.clear(
                db, rule: .recordUnreviewed, key: "record", reason: "点検が記録された (a review was recorded)", nowMS: nowMS)
            return
        }
        let days = (end - start) / 86_400_000 + 1
        guard days > Int64(settings.reviewGapDays) else {
            try FindingTable.clear(
                db, rule: .recordUnreviewed, key: "record", reason: "点検が記録された (a review was recorded)", nowMS: nowMS)
            return
        }
        try FindingTable.raise(
            db, rule: .recordUnreviewed, key: "record", count: .set(days), first: start, last: end, evidence: [],
            nowMS: nowMS
        ) { n in
            FindingText(
                en:
                    "the record from \(since) to \(yesterday) has not been reviewed (\(n) days; review_gap_days \(settings.reviewGapDays))",
                ja: "\(since) から \(yesterday) までの記録が点検されていない (\(n) 日。review_gap_days \(settings.reviewGapDays))")
        }
    }
}

extension RuleEngine {
    // MARK: A card where its holder is not (第16④)

    /// An operator card inserted at a terminal in an access-controlled room (its events' `site` is a room of
    /// the permits register) while the record shows its holder elsewhere: their last entry or exit that day
    /// before the insertion is an entry into another room or an exit from this one, or — the room's door
    /// having recorded others that day — they never entered it. Someone else has the card. Judged when the
    /// insertion arrives, and again when the holder's entries and exits of that day arrive late.
    static func cardPresence(_ db: Database, _ rows: [Row], _ nowMS: Int64) throws {
        let inserts = rows.filter { $0.kind == "card" && $0.action == "insert" }
        let moves = rows.filter { $0.kind == "access" && ($0.action == "enter" || $0.action == "exit") }
        guard !inserts.isEmpty || !moves.isEmpty else { return }
        var holders: [String: String] = [:]
        for card in try HubStore.rows(.cards, db: db) { holders[card["card_id"] ?? ""] = card["holder"] }
        let rooms = Set(try HubStore.rows(.permits, db: db).compactMap { $0["room"] })
        guard !holders.isEmpty, !rooms.isEmpty else { return }
        var judged: Set<Int64> = []
        for insert in inserts where judged.insert(insert.id).inserted {
            try judgeCardPresence(db, id: insert.id, holders: holders, rooms: rooms, nowMS: nowMS)
        }
        // Entries and exits arriving (late or not): the insertions of their person's cards that day.
        var cardsOf: [String: [String]] = [:]
        for (card, holder) in holders { cardsOf[holder, default: []].append(card) }
        var seen: Set<String> = []
        for move in moves {
            guard let cards = cardsOf[move.actor], seen.insert("\(move.actor)|\(dayNumber(move.timeMS))").inserted
            else { continue }
            let start = dayNumber(move.timeMS) * 86_400_000 - 9 * 3_600_000
            let ids = try Int64.fetchAll(
                db,
                sql: """
                    SELECT id FROM events INDEXED BY events_by_actor WHERE actor IN (SELECT value FROM json_each(?))
                    AND time_ms >= ? AND time_ms < ? AND kind = 'card' AND action = 'insert'
                    """,
                arguments: [
                    String(decoding: CanonicalJSON.encode(.array(cards.map(JSONValue.string))), as: UTF8.self), start,
                    start + 86_400_000,
                ])
            for id in ids where judged.insert(id).inserted {
                try judgeCardPresence(db, id: id, holders: holders, rooms: rooms, nowMS: nowMS)
            }
        }
    }

    static func judgeCardPresence(
        _ db: Database, id: Int64, holders: [String: String], rooms: Set<String>, nowMS: Int64
    ) throws {
        guard
            let insert = try GRDB.Row.fetchOne(
                db, sql: "SELECT agent, seq, time_ms, actor, site FROM events WHERE id = ?", arguments: [id])
        else { return }
        let (agent, seq, at, card, room) = (
            insert[0] as String, insert[1] as Int64, insert[2] as Int64, insert[3] as String, insert[4] as String
        )
        guard let holder = holders[card], rooms.contains(room) else { return }
        let day = BusinessCalendar.day(at)
        let start = dayNumber(at) * 86_400_000 - 9 * 3_600_000
        let key = "\(card)|\(agent)/\(seq)"
        // The holder's last entry or exit within a day before (a night shift crosses midnight): only an entry
        // into this room puts them here.
        let last = try GRDB.Row.fetchOne(
            db,
            sql: """
                SELECT action, subject, time_ms FROM events INDEXED BY events_by_actor
                WHERE actor = ? AND time_ms >= ? AND time_ms <= ? AND kind = 'access' AND action IN ('enter', 'exit')
                ORDER BY time_ms DESC, id DESC LIMIT 1
                """, arguments: [holder, at - 86_400_000, at])
        var problem: FindingText?
        if let last {
            let (action, place, when) = (last[0] as String, last[1] as String, time(last[2]))
            if action == "enter" && place != room {
                problem = FindingText(
                    en: "its holder \(holder) had entered \(place) at \(when)",
                    ja: "保持者 \(holder) は \(when) に \(place) へ入室していた")
            } else if action == "exit" {
                problem = FindingText(
                    en: "its holder \(holder) had left \(place) at \(when)",
                    ja: "保持者 \(holder) は \(when) に \(place) を退室していた")
            }
        } else if try Bool.fetchOne(
            db,
            sql: """
                SELECT 1 FROM events INDEXED BY events_by_subject WHERE subject = ? AND time_ms >= ? AND time_ms < ?
                AND kind = 'access' AND action = 'enter' LIMIT 1
                """, arguments: [room, start, start + 86_400_000]) == true
        {
            problem = FindingText(
                en: "its holder \(holder) was not recorded entering \(room) that day",
                ja: "保持者 \(holder) の同日の \(room) への入室の記録がない")
        }
        guard let problem else {
            try FindingTable.clear(
                db, rule: .cardHolderAbsent, key: key,
                reason: "保持者の入退室の記録が届いた (the holder's entries and exits arrived)", nowMS: nowMS)
            return
        }
        try FindingTable.raise(
            db, rule: .cardHolderAbsent, key: key, count: .set(1), first: at, last: at,
            evidence: ["\(agent)/\(seq)"], nowMS: nowMS
        ) { _ in
            problem.after(
                FindingText(
                    en: "operator card \(card) inserted on \(agent) in \(room) on \(day) at \(time(at))",
                    ja: "操作識別カード \(card) が \(day) \(time(at)) に \(room) の \(agent) で挿入された"))
        }
    }
}
