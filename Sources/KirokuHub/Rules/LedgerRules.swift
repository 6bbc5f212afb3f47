import Foundation
import GRDB
import KirokuProtocol

/// The articles that were wholly on paper: media taken out of their place (第15) and the 統括者's instructions
/// to departments (第10).
extension RuleEngine {
    /// Media taken out on days already over: judged (again) whenever such events arrive, as entries are.
    static func media(_ db: Database, _ rows: [Row], _ nowMS: Int64) throws {
        let today = dayNumber(nowMS)
        var seen: Set<String> = []
        for row in rows where row.kind == "media" && dayNumber(row.timeMS) < today {
            let day = BusinessCalendar.day(row.timeMS)
            guard seen.insert("\(row.subject)|\(day)").inserted else { continue }
            try judgeMedium(db, medium: row.subject, day: day, nowMS: nowMS)
        }
    }

    /// A medium whose last media event of the day is `take_out`: not back in its place (第15). Cleared when a
    /// return of that day arrives, however late.
    static func judgeMedium(_ db: Database, medium: String, day: String, nowMS: Int64) throws {
        guard let start = Timestamp(rfc3339: "\(day)T00:00:00.000+09:00")?.epochMilliseconds else { return }
        let last = try GRDB.Row.fetchOne(
            db,
            sql: """
                SELECT action, agent, seq, time_ms, actor, json_extract(attrs, '$.purpose') FROM events INDEXED BY events_by_subject
                WHERE subject = ? AND time_ms >= ? AND time_ms < ? AND kind = 'media' ORDER BY time_ms DESC, seq DESC LIMIT 1
                """, arguments: [medium, start, start + 86_400_000])
        let key = "\(medium)|\(day)"
        guard let last, (last[0] as String) == "take_out" else {
            try FindingTable.clear(
                db, rule: .mediaNotReturned, key: key, reason: "返却の記録が届いた (the return was recorded)", nowMS: nowMS)
            return
        }
        let (person, purpose) = (last[4] as String, (last[5] as String?) ?? "")
        let registered = try HubStore.rows(.media, db: db)
        let unknown = !registered.isEmpty && !registered.contains { $0["media_id"] == medium }
        try FindingTable.raise(
            db, rule: .mediaNotReturned, key: key, count: .set(1), first: last[3], last: last[3],
            evidence: ["\(last[1] as String)/\(last[2] as Int64)"], nowMS: nowMS
        ) { _ in
            FindingText(
                en: "\(medium) was taken out by \(person) on \(day) (\(purpose)) and not returned that day"
                    + (unknown ? "; it is not in the media register" : ""),
                ja: "\(medium) を \(person) が \(day) に持ち出し (\(purpose))、同日の返却の記録がない" + (unknown ? "。媒体の台帳にない媒体" : ""))
        }
    }

    /// Media taken out in the last two days that are over (the sweep).
    static func mediaOfLastDays(_ db: Database, _ nowMS: Int64) throws {
        let today = BusinessCalendar.day(nowMS)
        for back in 1...2 {
            let day = BusinessCalendar.day(nowMS - Int64(back) * 86_400_000)
            guard day < today, let start = Timestamp(rfc3339: "\(day)T00:00:00.000+09:00")?.epochMilliseconds else {
                continue
            }
            for medium in try String.fetchAll(
                db,
                sql: """
                    SELECT DISTINCT subject FROM events INDEXED BY events_media_by_time
                    WHERE kind = 'media' AND action = 'take_out' AND time_ms >= ? AND time_ms < ?
                    """,
                arguments: [start, start + 86_400_000])
            {
                try judgeMedium(db, medium: medium, day: day, nowMS: nowMS)
            }
        }
    }

    /// Instructions to departments (第10) not answered by their due day: unanswered once the day has passed,
    /// or answered after it (said as late, and kept for the 会議). Cleared only when the register shows an
    /// answer on or before the due day; an instruction taken out of the register clears nothing.
    static func directives(_ db: Database, _ nowMS: Int64) throws {
        let today = BusinessCalendar.day(nowMS)
        for row in try HubStore.rows(.directives, db: db) {
            guard let id = row["directive_id"], let due = row["due"],
                let dueMS = Timestamp(rfc3339: "\(due)T00:00:00.000+09:00")?.epochMilliseconds
            else { continue }
            let answered = row["answered"] ?? ""
            if !answered.isEmpty && answered <= due {
                try FindingTable.clear(
                    db, rule: .directiveOverdue, key: id, reason: "期限内の回答が台帳に記録された (answered by the due day)",
                    nowMS: nowMS)
                continue
            }
            guard answered.isEmpty ? due < today : true else { continue }
            let (department, issued, content) = (row["department"] ?? "", row["issued"] ?? "", row["content"] ?? "")
            try FindingTable.raise(
                db, rule: .directiveOverdue, key: id, count: .set(1), first: dueMS, last: dueMS, evidence: [],
                nowMS: nowMS
            ) { _ in
                answered.isEmpty
                    ? FindingText(
                        en:
                            "instruction \(id) to \(department) (\(content); issued \(issued), due \(due)) has no answer",
                        ja: "\(department) への指示 \(id) (\(content)。\(issued) 指示、期限 \(due)) に回答がない")
                    : FindingText(
                        en:
                            "instruction \(id) to \(department) (\(content); issued \(issued), due \(due)) was answered late, on \(answered)",
                        ja: "\(department) への指示 \(id) (\(content)。\(issued) 指示、期限 \(due)) への回答が期限後の \(answered)")
            }
        }
    }
}
