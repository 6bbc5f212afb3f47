public import Foundation
import GRDB
public import KirokuProtocol

/// The 点検 of the record (第20②: the 管理者 analyses the record periodically): each review is a
/// `record/reviewed` event in the log, through a day; the rule `record_unreviewed` counts the days since.
extension HubStore {
    /// Records that `person` reviewed the record through `through` (a day, at most today, JST).
    public func review(through: Timestamp, note: String, by person: String, now: Date = Date()) async throws
        -> RecordReview
    {
        let day = String(through.withOffset(minutes: Timestamp.jstOffsetMinutes).rfc3339.prefix(10))
        let nowMS = Int64(now.timeIntervalSince1970 * 1000)
        let today = BusinessCalendar.day(nowMS)
        guard day <= today else {
            throw KirokuError(
                .badQuery, "through \(day) has not come yet (today is \(today)); a review covers days already recorded")
        }
        let note = note.trimmingCharacters(in: .whitespacesAndNewlines)
        guard note.utf8.count <= 900, Self.isOneLine(note) else {
            throw KirokuError(.badQuery, "the note is one line of up to 900 bytes (300 Japanese characters)")
        }
        let event = try await pool.write { db in
            try HubRecords.append([("reviewed", person, "record", ["through": day, "note": note])], now: now, db: db)[0]
        }
        return RecordReview(through: day, by: person, at: Self.jst(nowMS), note: note, event: event)
    }

    /// Every review, newest first.
    public func reviews() async throws -> [RecordReview] {
        try await pool.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT seq, actor, time_ms, json_extract(attrs, '$.through') AS through, json_extract(attrs, '$.note') AS note
                    FROM events INDEXED BY events_by_subject
                    WHERE subject = 'record' AND kind = 'record' AND action = 'reviewed' ORDER BY time_ms DESC, id DESC
                    """
            ).map { row in
                RecordReview(
                    through: row["through"] ?? "", by: row["actor"], at: Self.jst(row["time_ms"]),
                    note: row["note"] ?? "",
                    event: "\(HubRecords.agentID)/\(row["seq"] as Int64)")
            }
        }
    }
}
