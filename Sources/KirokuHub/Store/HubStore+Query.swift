import Foundation
import GRDB
public import KirokuProtocol

extension HubStore {
    /// Runs a query.
    public func query(_ query: EventQuery) async throws -> EventPage {
        let (rows, next) = try await queryWithLeaves(query, includePurged: false)
        return EventPage(events: rows.map(\.event), next: next)
    }

    /// Runs a query and also returns each event's leaf index in the Merkle log.
    public func queryWithLeaves(_ query: EventQuery, includePurged: Bool) async throws
        -> (rows: [(event: Event, leaf: Int64, purgedMS: Int64?)], next: String?)
    {
        var (conditions, arguments) = Self.filters(query, includePurged: includePurged)
        if let text = query.cursor, let cursor = EventQuery.Cursor(text) {
            conditions.append("(time_ms, agent, seq) > (?, ?, ?)")
            _ = arguments.append(contentsOf: [cursor.timeMS, cursor.agent, cursor.seq])
        }
        return try await select(query, conditions: conditions, arguments: arguments)
    }

    /// How many events of the tree's first `treeSize` leaves match the query's filters (purged ones
    /// included: evidence proves them too), in all and before the query's cursor: what the hub signs in an
    /// evidence statement (PROTOCOL.md §7) so that a verifier can tell a bundle or a page cut short.
    public func countForEvidence(_ query: EventQuery, treeSize: Int64) async throws -> (matching: Int64, before: Int64)
    {
        var (conditions, arguments) = Self.filters(query, includePurged: true)
        conditions.append("id <= ?")
        _ = arguments.append(contentsOf: [treeSize])
        let whereClause = "WHERE " + conditions.joined(separator: " AND ")
        let cursor = query.cursor.flatMap(EventQuery.Cursor.init)
        let (all, allArguments) = (whereClause, arguments)
        return try await pool.read { db in
            let matching =
                try Int64.fetchOne(db, sql: "SELECT count(*) FROM events \(all)", arguments: allArguments) ?? 0
            guard let cursor else { return (matching, 0) }
            var before = allArguments
            _ = before.append(contentsOf: [cursor.timeMS, cursor.agent, cursor.seq])
            let count =
                try Int64.fetchOne(
                    db, sql: "SELECT count(*) FROM events \(all) AND (time_ms, agent, seq) <= (?, ?, ?)",
                    arguments: before) ?? 0
            return (matching, count)
        }
    }

    /// The chain stretches of a page of evidence (``EvidenceLinks``): for each agent with events on the page,
    /// every hash from the seq before its first to the seq after its last, among the tree's first
    /// `treeSize` leaves; split into runs where the hub holds no event.
    public func evidenceLinks(_ rows: [(agent: String, seq: Int64)], treeSize: Int64) async throws -> [EvidenceLinks
        .Run]
    {
        let wanted = RecordRules.linkRanges(rows)
        return try await pool.read { db in
            var runs: [EvidenceLinks.Run] = []
            let statement = try db.cachedStatement(
                sql: "SELECT seq, hash FROM events WHERE agent = ? AND seq BETWEEN ? AND ? AND id <= ? ORDER BY seq")
            for range in wanted {
                let rows = try Row.fetchCursor(
                    statement, arguments: [range.agent, range.from, range.through, treeSize])
                var links = LinkRuns(agent: range.agent)
                while let row = try rows.next() { links.add(seq: row[0], hash: Hex.decode(row[1] as String) ?? []) }
                runs += links.finished
            }
            return runs
        }
    }

    /// The SQL conditions of a query's filters (not its cursor).
    static func filters(_ query: EventQuery, includePurged: Bool) -> (
        conditions: [String], arguments: StatementArguments
    ) {
        var conditions: [String] = []
        var arguments: StatementArguments = []
        if let from = query.from {
            conditions.append("time_ms >= ?")
            _ = arguments.append(contentsOf: [from.epochMilliseconds])
        }
        if let to = query.to {
            conditions.append("time_ms < ?")
            _ = arguments.append(contentsOf: [to.epochMilliseconds])
        }
        for (column, value) in [
            ("agent", query.agent), ("site", query.site), ("kind", query.kind), ("action", query.action),
        ] {
            if let value {
                // One terminal over a period: read the period in time order from the time index (which holds the
                // agent) and stop at the page's end, rather than all of the terminal's years from its (agent, seq)
                // index and sort them (233 ms for one day of a 10M record; `+` keeps SQLite off that index).
                let timed = column == "agent" && (query.from != nil || query.to != nil)
                conditions.append("\(timed ? "+" : "")\(column) = ?")
                _ = arguments.append(contentsOf: [value])
            }
        }
        for (column, value, match) in [
            ("actor", query.actor, query.actorMatch), ("subject", query.subject, query.subjectMatch),
        ] {
            guard let value else { continue }
            switch match {
            case .exact:
                conditions.append("\(column) = ?")
                _ = arguments.append(contentsOf: [value])
            case .prefix:
                // A range on the column's index: every text that starts with the value sorts between it and
                // it followed by the highest code point (BINARY collation compares UTF-8 bytes).
                conditions.append("\(column) >= ? AND \(column) < ?")
                _ = arguments.append(contentsOf: [value, value + "\u{10FFFF}"])
            case .contains:
                conditions.append("instr(\(column), ?) > 0")
                _ = arguments.append(contentsOf: [value])
            }
        }
        // Purged events have no content left to show; evidence still proves them.
        if !includePurged { conditions.append("purged_ms IS NULL") }
        return (conditions, arguments)
    }

    private func select(_ query: EventQuery, conditions: [String], arguments: StatementArguments) async throws
        -> (rows: [(event: Event, leaf: Int64, purgedMS: Int64?)], next: String?)
    {
        let whereClause = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
        let sql = """
            SELECT id, purged_ms, agent, seq, time, time_ms, kind, action, actor, subject, site, attrs, salt, prev, hash
            FROM events \(whereClause) ORDER BY time_ms, agent, seq LIMIT \(query.limit + 1)
            """
        let finalArguments = arguments
        return try await pool.read { db in
            var events: [(event: Event, leaf: Int64, purgedMS: Int64?)] = []
            var last: EventQuery.Cursor?
            let rows = try Row.fetchCursor(db, sql: sql, arguments: finalArguments)
            var more = false
            while let row = try rows.next() {
                if events.count == query.limit {
                    more = true
                    break
                }
                let event = Self.event(row)
                events.append((event, (row["id"] as Int64) - 1, row["purged_ms"]))
                last = EventQuery.Cursor(timeMS: row["time_ms"], agent: event.agent, seq: event.seq)
            }
            return (events, more ? last?.text : nil)
        }
    }

    /// An event from a row of `events` that has its columns (`agent` … `hash`).
    static func event(_ row: Row) -> Event {
        let attrsText: String = row["attrs"]
        let attrs = (try? JSONDecoder().decode([String: String].self, from: Data(attrsText.utf8))) ?? [:]
        return Event(
            agent: row["agent"], seq: row["seq"], time: row["time"], kind: row["kind"], action: row["action"],
            actor: row["actor"], subject: row["subject"], site: row["site"], attrs: attrs, salt: row["salt"],
            prev: row["prev"], hash: row["hash"])
    }
}
