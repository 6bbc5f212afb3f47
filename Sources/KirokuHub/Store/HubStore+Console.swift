import GRDB
public import KirokuProtocol

/// What the web console reads besides queries: counts for the dashboard, a finding's evidence events, and
/// whether a quiet terminal said it was stopping.
extension HubStore {
    /// Events with an event time in `[from, to)` (epoch milliseconds), content not purged.
    public func countEvents(fromMS: Int64, toMS: Int64) async throws -> Int64 {
        try await pool.read { db in
            try Int64.fetchOne(
                db, sql: "SELECT count(*) FROM events WHERE time_ms >= ? AND time_ms < ? AND purged_ms IS NULL",
                arguments: [fromMS, toMS]) ?? 0
        }
    }

    /// The events named `agent/seq` (a finding's evidence), in the order given; purged or unknown ones left out.
    public func events(refs: [String]) async throws -> [Event] {
        let pairs: [(String, Int64)] = refs.compactMap { ref in
            guard let slash = ref.lastIndex(of: "/"), let seq = Int64(ref[ref.index(after: slash)...]) else {
                return nil
            }
            return (String(ref[..<slash]), seq)
        }
        return try await pool.read { db in
            try pairs.compactMap { agent, seq in
                try Row.fetchOne(
                    db,
                    sql: """
                        SELECT agent, seq, time, kind, action, actor, subject, site, attrs, salt, prev, hash FROM events
                        WHERE agent = ? AND seq = ? AND purged_ms IS NULL
                        """, arguments: [agent, seq]
                ).map(Self.event)
            }
        }
    }

    /// Whether each agent's newest event is `agent/stopped`: a terminal whose last word was that it was
    /// stopping was shut down on purpose, not lost. One index lookup per agent asked about.
    public func endedWithStop(_ agents: [String]) async throws -> Set<String> {
        try await pool.read { db in
            var out = Set<String>()
            for agent in agents {
                let last = try Row.fetchOne(
                    db, sql: "SELECT kind, action FROM events WHERE agent = ? ORDER BY seq DESC LIMIT 1",
                    arguments: [agent])
                if let last, last[0] as String == "agent", last[1] as String == "stopped" { out.insert(agent) }
            }
            return out
        }
    }

    /// How many findings each rule has in each status, for the dashboard (one grouped read, not the findings).
    public func findingCounts() async throws -> [(rule: String, status: String, count: Int)] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT rule, status, count(*) FROM findings GROUP BY rule, status").map {
                ($0[0], $0[1], $0[2])
            }
        }
    }

    /// A terminal's newest events, newest first (one index range, however long its history).
    public func newestEvents(agent: String, limit: Int) async throws -> [Event] {
        try await pool.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT agent, seq, time, kind, action, actor, subject, site, attrs, salt, prev, hash FROM events
                    WHERE agent = ? AND purged_ms IS NULL ORDER BY seq DESC LIMIT ?
                    """, arguments: [agent, limit]
            ).map(Self.event)
        }
    }
}
