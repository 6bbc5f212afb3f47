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
            guard let slash = ref.lastIndex(of: "/"), let seq = Int64(ref[ref.index(after: slash)...]) else { return nil }
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

    /// The newest `agent/started` or `agent/stopped` of each agent: a terminal whose last word was
    /// `stopped` was shut down on purpose, not lost. As agent → action.
    public func lastLifecycle() async throws -> [String: String] {
        try await pool.read { db in
            var out: [String: String] = [:]
            for agent in try String.fetchAll(db, sql: "SELECT id FROM agents") {
                out[agent] = try String.fetchOne(
                    db,
                    sql: """
                        SELECT action FROM events WHERE agent = ? AND kind = 'agent' AND action IN ('started', 'stopped')
                        ORDER BY seq DESC LIMIT 1
                        """, arguments: [agent])
            }
            return out
        }
    }
}
