public import Foundation
import GRDB
public import KirokuProtocol

/// Shutdowns declared in advance (第30, planned maintenance): the rules do not take the terminals they name
/// for lost while they run. Each declaration is recorded as `record/shutdown_declared`.
extension HubStore {
    static func migrateShutdowns(_ db: Database) throws {
        try db.execute(
            sql: """
                CREATE TABLE shutdowns(
                    id INTEGER PRIMARY KEY,
                    agents TEXT NOT NULL,
                    from_ms INTEGER NOT NULL,
                    to_ms INTEGER NOT NULL,
                    reason TEXT NOT NULL,
                    declared_by TEXT NOT NULL,
                    declared_ms INTEGER NOT NULL,
                    CHECK (from_ms < to_ms)
                );
                """)
    }

    /// Declares a shutdown of `agents` (ids, or `*` for all) over `[from, to]`, at most 31 days long.
    public func declareShutdown(
        agents: [String], from: Timestamp, to: Timestamp, reason: String, by person: String, now: Date = Date()
    ) async throws -> DeclaredShutdown {
        let agents = agents.map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        // Every terminal (`*` alone), or agent ids as certificates carry them: a mistyped id would cover nothing.
        guard !agents.isEmpty, agents == ["*"] || agents.allSatisfy({ AgentID.isValid($0) && $0 != AgentID.hub }),
            Set(agents).count == agents.count, agents.joined(separator: ",").utf8.count <= 1000
        else {
            throw KirokuError(
                .badQuery,
                "name the terminals by their agent ids (comma-separated, each once, 1000 bytes in all), or * alone for every terminal"
            )
        }
        let reason = reason.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !reason.isEmpty, reason.utf8.count <= 900, Self.isOneLine(reason) else {
            throw KirokuError(
                .badQuery,
                "a shutdown needs a reason (one line, up to 900 bytes — 300 Japanese characters): why, on whose instruction"
            )
        }
        guard from.epochMilliseconds < to.epochMilliseconds,
            to.epochMilliseconds - from.epochMilliseconds <= 31 * 86_400_000
        else {
            throw KirokuError(.badQuery, "a shutdown's from is before its to, and it lasts at most 31 days")
        }
        let nowMS = Int64(now.timeIntervalSince1970 * 1000)
        // Declared in advance: one declared afterwards would explain away a terminal already lost.
        guard from.epochMilliseconds >= nowMS - 5 * 60_000 else {
            throw KirokuError(
                .badQuery,
                "a shutdown is declared before it begins (from is in the past); a terminal already quiet is explained on its finding instead (kirokuctl findings ack/resolve)"
            )
        }
        let id = try await pool.write { db in
            try db.execute(
                sql:
                    "INSERT INTO shutdowns(agents, from_ms, to_ms, reason, declared_by, declared_ms) VALUES (?, ?, ?, ?, ?, ?)",
                arguments: [
                    agents.joined(separator: ";"), from.epochMilliseconds, to.epochMilliseconds, reason, person, nowMS,
                ])
            let id = db.lastInsertedRowID
            try HubRecords.append(
                [
                    (
                        "shutdown_declared", person, agents.count == 1 ? agents[0] : "\(agents.count) terminals",
                        [
                            "shutdown": "\(id)", "agents": agents.joined(separator: ","), "from": from.rfc3339,
                            "to": to.rfc3339, "reason": reason,
                        ]
                    )
                ], now: now, db: db)
            return id
        }
        return try await shutdowns().first { $0.id == id }!
    }

    /// The terminals the rules hold lost now: an `agent_integrity` overdue finding not resolved (quiet for
    /// `agent_overdue_minutes` of business hours, not stopped, not in a declared or a 第30 shutdown). The
    /// console's dashboard shows these, so that it and the findings never disagree.
    public func lostAgents() async throws -> Set<String> {
        try await pool.read { db in
            Set(
                try String.fetchAll(
                    db,
                    sql:
                        "SELECT key FROM findings WHERE rule = 'agent_integrity' AND status != 'resolved' AND key LIKE '%|overdue'"
                ).map { String($0.dropLast("|overdue".count)) })
        }
    }

    /// Every declared shutdown, newest first.
    public func shutdowns() async throws -> [DeclaredShutdown] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM shutdowns ORDER BY id DESC").map { row in
                DeclaredShutdown(
                    id: row["id"], agents: Self.people(row["agents"]), from: Self.jst(row["from_ms"]),
                    to: Self.jst(row["to_ms"]),
                    reason: row["reason"], declaredBy: row["declared_by"], declaredAt: Self.jst(row["declared_ms"]))
            }
        }
    }
}
