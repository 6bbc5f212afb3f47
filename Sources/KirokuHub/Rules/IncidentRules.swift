import Foundation
import GRDB
import KirokuProtocol

/// Incidents as a lifecycle (第22③, 第27–第30): an incident is opened by its event (`unauthorized_access`,
/// `fault`, `disaster`, `fire`, `quake_shutdown`) and followed by `reported` (to the 管理者), `network_cut`,
/// `recovered` and `closed`, each naming it in the attribute `incident` (`agent/seq` of the opening event) or,
/// without it, following the latest incident opened on the same terminal. Judged at every sweep.
extension RuleEngine {
    /// The incident types, the article that obliges their report, and their names.
    static let incidentTypes: [String: (article: String, en: String, ja: String)] = [
        "unauthorized_access": ("第22③", "an unauthorized access", "不正アクセス"),
        "fault": ("第27", "a system fault", "システムの障害"),
        "disaster": ("第28", "a disaster or emergency", "災害・緊急事態"),
        "fire": ("第29②", "a fire", "火災"),
        "quake_shutdown": ("第30②", "a shutdown for an earthquake or lightning", "地震・落雷によるシステムの終了"),
    ]

    static func incidents(_ db: Database, _ settings: RuleSettings, _ nowMS: Int64) throws {
        let reportMS = Int64(settings.incidentReportMinutes) * 60_000
        let closeMS = Int64(settings.incidentCloseDays) * 86_400_000
        let kinds = incidentTypes.keys.sorted()
        let openings = try GRDB.Row.fetchAll(
            db,
            sql: """
                SELECT agent, seq, time_ms, action, actor, subject FROM events WHERE kind = 'incident'
                AND action IN (\(kinds.map { _ in "?" }.joined(separator: ", "))) AND time_ms BETWEEN ? AND ? AND purged_ms IS NULL
                """, arguments: StatementArguments(kinds + [nowMS - closeMS - 30 * 86_400_000, nowMS]))
        let follow = try db.cachedStatement(
            sql: """
                SELECT min(time_ms) FROM events WHERE kind = 'incident' AND action = ? AND (json_extract(attrs, '$.incident') = ?
                OR (agent = ? AND time_ms >= ? AND time_ms < ? AND json_extract(attrs, '$.incident') IS NULL))
                """)
        let nextOpening = try db.cachedStatement(
            sql: """
                SELECT min(time_ms) FROM events WHERE agent = ? AND kind = 'incident'
                AND action IN (\(kinds.map { _ in "?" }.joined(separator: ", "))) AND time_ms > ?
                """)
        for opening in openings {
            let (agent, seq, at, action, subject): (String, Int64, Int64, String, String) = (
                opening[0], opening[1], opening[2], opening[3], opening[5]
            )
            let ref = "\(agent)/\(seq)"
            let type = incidentTypes[action]!
            let next =
                try Int64.fetchOne(nextOpening, arguments: StatementArguments([agent] + kinds + [at])) ?? Int64.max
            func first(_ step: String) throws -> Int64? {
                try Int64.fetchOne(follow, arguments: [step, ref, agent, at, next])
            }
            let what = FindingText(
                en: "\(type.en) on \(agent) at \(time(at))\(subject.isEmpty ? "" : " (\(subject))")",
                ja: "\(time(at)) に \(agent) で\(type.ja)\(subject.isEmpty ? "" : " (\(subject))")")
            if at + reportMS <= nowMS {
                let reported = try first("reported")
                if let reported, reported <= at + reportMS {
                    try FindingTable.clear(
                        db, rule: .incidentNotReported, key: ref, reason: "期限内に報告された (reported in time)",
                        nowMS: nowMS)
                } else {
                    let missing =
                        reported.map {
                            FindingText(
                                en:
                                    "reported to the 管理者 late, at \(time($0)) (\(type.article): within \(settings.incidentReportMinutes) min)",
                                ja:
                                    "管理者への報告が期限 (\(settings.incidentReportMinutes) 分) を過ぎて \(time($0)) (\(type.article))"
                            )
                        }
                        ?? FindingText(
                            en:
                                "not reported to the 管理者 within \(settings.incidentReportMinutes) min (\(type.article))",
                            ja: "\(settings.incidentReportMinutes) 分以内に管理者へ報告されていない (\(type.article))")
                    try FindingTable.raise(
                        db, rule: .incidentNotReported, key: ref, count: .set(1), first: at, last: at,
                        evidence: [ref], nowMS: nowMS
                    ) { _ in missing.after(what) }
                }
            }
            if try first("closed") != nil {
                try FindingTable.clear(
                    db, rule: .incidentNotClosed, key: ref, reason: "対応完了が記録された (closed)", nowMS: nowMS)
            } else if at + closeMS <= nowMS {
                try FindingTable.raise(
                    db, rule: .incidentNotClosed, key: ref, count: .set(1), first: at, last: at, evidence: [ref],
                    nowMS: nowMS
                ) { _ in
                    FindingText(
                        en: "not closed within \(settings.incidentCloseDays) days",
                        ja: "\(settings.incidentCloseDays) 日を過ぎても対応完了の記録がない"
                    ).after(what)
                }
            }
        }
    }

    /// Open business minutes counted back from now: `minutes(since:)` is how many minutes the office was
    /// open between an instant and now (at most `days` back), so that a terminal quiet over a night, a
    /// weekend or 年末年始 is not taken for a lost one.
    struct OpenClock {
        let nowMS: Int64
        /// `counts[k]`: open minutes in the `k` minutes before now.
        let counts: [Int32]

        init(_ calendar: BusinessCalendar, nowMS: Int64, days: Int = 14) {
            self.nowMS = nowMS
            var counts: [Int32] = [0]
            counts.reserveCapacity(days * 1440 + 1)
            var total: Int32 = 0
            // Whether a JST day is closed is asked once per day (it names the day as text), not once per minute.
            var closed: [Int64: Bool] = [:]
            for k in 1...(days * 1440) {
                let ms = nowMS - Int64(k) * 60_000
                let local = ms + 9 * 3_600_000
                let day = local / 86_400_000
                let isClosed =
                    closed[day]
                    ?? {
                        let value = calendar.isClosedDay(ms)
                        closed[day] = value
                        return value
                    }()
                let minute = Int((local % 86_400_000) / 60_000)
                if !isClosed && minute >= calendar.opens && minute < calendar.closes { total += 1 }
                counts.append(total)
            }
            self.counts = counts
        }

        func minutes(since ms: Int64) -> Int {
            let k = max(0, (nowMS - ms) / 60_000)
            return Int(k < counts.count ? counts[Int(k)] : counts[counts.count - 1])
        }

        /// Open minutes within `[from, to]`, both before now.
        func minutes(from: Int64, to: Int64) -> Int { max(0, minutes(since: from) - minutes(since: min(to, nowMS))) }
    }

    /// Why a quiet terminal is quiet on purpose, if it is: its last word was `agent/stopped`, a shutdown
    /// declared for it is running, or a 第30 shutdown (`incident/quake_shutdown`) with no `recovered` since.
    /// Otherwise nil, and the open minutes it has been quiet (declared shutdowns not counted).
    static func quietOnPurpose(
        _ db: Database, agent: String, lastSeen: Int64, clock: OpenClock, shutdowns: [Shutdown], quake: Int64?,
        overdueMS: Int64
    ) throws -> (purpose: String?, openMinutes: Int) {
        let last = try GRDB.Row.fetchOne(
            db, sql: "SELECT kind, action FROM events WHERE agent = ? ORDER BY seq DESC LIMIT 1", arguments: [agent])
        if let last, last[0] as String == "agent", last[1] as String == "stopped" { return ("stopped", 0) }
        let mine = shutdowns.filter { $0.covers(agent) }
        // A shutdown explains a terminal that went quiet with it, not one already lost before it began.
        if mine.contains(where: {
            $0.fromMS <= clock.nowMS && clock.nowMS <= $0.toMS && lastSeen >= $0.fromMS - overdueMS
        }) {
            return ("declared", 0)
        }
        // The terminals that went quiet around the 第30 shutdown (within an hour of it), not any that falls
        // quiet later while no recovery is recorded.
        if let quake, lastSeen >= quake - 3_600_000, lastSeen <= quake + 3_600_000 { return ("quake_shutdown", 0) }
        var open = clock.minutes(since: lastSeen)
        // The declared windows since it went quiet, merged (a `*` shutdown and one for the terminal may overlap).
        var merged: [(from: Int64, to: Int64)] = []
        for window in mine.map({ (from: max($0.fromMS, lastSeen), to: min($0.toMS, clock.nowMS)) }).filter({
            $0.from < $0.to
        })
        .sorted(by: { $0.from < $1.from }) {
            if let last = merged.last, window.from <= last.to {
                merged[merged.count - 1].to = max(last.to, window.to)
            } else {
                merged.append(window)
            }
        }
        for window in merged { open -= clock.minutes(from: window.from, to: window.to) }
        return (nil, max(0, open))
    }
}

/// A shutdown declared in advance (maintenance, a planned power cut, 第30): the terminals it names are not
/// lost while it runs.
struct Shutdown {
    var agents: [String]
    var fromMS: Int64
    var toMS: Int64

    func covers(_ agent: String) -> Bool { agents.contains("*") || agents.contains(agent) }
}
