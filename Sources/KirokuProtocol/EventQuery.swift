import Foundation

/// A search of the consolidated record: what `GET /v1/events` (and `/v1/evidence`) take, built by clients
/// and read by the hub with the same rules. Every filter is optional; results come in a stable order
/// (event time, then agent, then sequence) and are paged with an opaque cursor.
public struct EventQuery: Sendable, Equatable {
    public var from: Timestamp?
    public var to: Timestamp?
    public var agent: String?
    public var site: String?
    public var kind: String?
    public var action: String?
    public var actor: String?
    public var subject: String?
    /// How `actor` and `subject` match: the whole value (the default), its beginning, or any part of it
    /// (a resident searched by part of a name).
    public var actorMatch = Match.exact
    public var subjectMatch = Match.exact
    public var limit = 100
    public var cursor: String?

    public enum Match: String, Sendable, CaseIterable {
        case exact, prefix, contains
    }

    public static let maxLimit = 10_000

    public init() {}

    /// Reads the query from URL parameters (`from`, `to`, `agent`, `site`, `kind`, `action`, `actor`,
    /// `subject`, `limit`, `cursor`); a bad value is a `bad_query` error naming it.
    public init(parameters: [String: String]) throws(KirokuError) {
        let known: Set<String> = [
            "from", "to", "agent", "site", "kind", "action", "actor", "subject", "actor_match", "subject_match",
            "limit", "cursor",
        ]
        if let unknown = parameters.keys.first(where: { !known.contains($0) }) {
            throw KirokuError(
                .badQuery, "unknown parameter '\(unknown.prefix(40))'; known: \(known.sorted().joined(separator: ", "))"
            )
        }
        for name in ["from", "to"] {
            if let text = parameters[name], Timestamp(rfc3339: text) == nil {
                throw KirokuError(
                    .badQuery, "\(name) must be RFC 3339 with milliseconds, like 2026-11-27T00:00:00.000+09:00")
            }
        }
        from = parameters["from"].flatMap(Timestamp.init(rfc3339:))
        to = parameters["to"].flatMap(Timestamp.init(rfc3339:))
        for name in ["agent", "site", "kind", "action", "actor", "subject"]
        where parameters[name]?.utf8.contains(0) == true {
            // No event holds U+0000 (§2), and PostgreSQL cannot compare a text that holds one.
            throw KirokuError(.badQuery, "\(name) contains U+0000, which no event holds")
        }
        agent = parameters["agent"]
        site = parameters["site"]
        kind = parameters["kind"]
        action = parameters["action"]
        actor = parameters["actor"]
        subject = parameters["subject"]
        for (name, filter) in [("actor_match", actor), ("subject_match", subject)] {
            guard let text = parameters[name] else { continue }
            guard let match = Match(rawValue: text) else {
                throw KirokuError(.badQuery, "\(name) is exact, prefix or contains, not '\(text.prefix(20))'")
            }
            guard filter?.isEmpty == false || match == .exact else {
                throw KirokuError(.badQuery, "\(name) needs a non-empty \(name.dropLast(6))")
            }
            if name == "actor_match" { actorMatch = match } else { subjectMatch = match }
        }
        if let kind, EventKind.named(kind) == nil {
            throw KirokuError(.badQuery, "unknown kind '\(kind.prefix(40))'")
        }
        if let text = parameters["limit"] {
            guard let value = Int(text), value >= 1, value <= Self.maxLimit else {
                throw KirokuError(.badQuery, "limit must be 1 to \(Self.maxLimit)")
            }
            limit = value
        }
        if let text = parameters["cursor"] {
            guard Cursor(text) != nil else { throw KirokuError(.badQuery, "cursor is not one this hub issued") }
            cursor = text
        }
    }

    /// The URL parameters of this query: what ``init(parameters:)`` reads back to the same query.
    public var parameters: [String: String] {
        var parameters: [String: String] = ["limit": String(limit)]
        if let from { parameters["from"] = from.rfc3339 }
        if let to { parameters["to"] = to.rfc3339 }
        for (name, value) in [
            ("agent", agent), ("site", site), ("kind", kind), ("action", action), ("actor", actor),
            ("subject", subject), ("cursor", cursor),
        ] {
            if let value { parameters[name] = value }
        }
        if actorMatch != .exact { parameters["actor_match"] = actorMatch.rawValue }
        if subjectMatch != .exact { parameters["subject_match"] = subjectMatch.rawValue }
        return parameters
    }

    /// Position after the last event of a page: `time_ms.agent.seq`, base64url.
    public struct Cursor: Sendable {
        public var timeMS: Int64
        public var agent: String
        public var seq: Int64

        public init(timeMS: Int64, agent: String, seq: Int64) {
            self.timeMS = timeMS
            self.agent = agent
            self.seq = seq
        }

        public init?(_ text: String) {
            var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
            while base64.count % 4 != 0 { base64 += "=" }
            guard let data = Data(base64Encoded: base64) else { return nil }
            let parts = String(decoding: data, as: UTF8.self).split(separator: "|", omittingEmptySubsequences: false)
            guard parts.count == 3, let time = Int64(parts[0]), let seq = Int64(parts[2]),
                AgentID.isValid(String(parts[1]))
            else { return nil }
            self.init(timeMS: time, agent: String(parts[1]), seq: seq)
        }

        public var text: String {
            Data("\(timeMS)|\(agent)|\(seq)".utf8).base64EncodedString()
                .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
                .replacingOccurrences(of: "=", with: "")
        }
    }
}
