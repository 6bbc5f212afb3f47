public import Foundation
import GRDB
public import KirokuProtocol

/// The alerts' outbox: a finding raised (new, or reopened by new evidence) becomes one row per channel that
/// takes it; rows are delivered, retried with backoff while a channel is down, and each delivery recorded as
/// `record/alert_sent`. The outbox is filled from the findings table by the alert service, not by the rules,
/// so alerting never slows judging, let alone ingest.
extension HubStore {
    static func migrateAlerts(_ db: Database) throws {
        try db.execute(
            sql: """
                CREATE TABLE alerts(
                    id INTEGER PRIMARY KEY,
                    finding INTEGER NOT NULL,
                    channel TEXT NOT NULL,
                    cause TEXT NOT NULL,
                    created_ms INTEGER NOT NULL,
                    attempts INTEGER NOT NULL DEFAULT 0,
                    next_ms INTEGER NOT NULL,
                    sent_ms INTEGER,
                    last_error TEXT
                );
                CREATE INDEX alerts_due ON alerts(sent_ms, next_ms);
                """)
    }

    /// One alert to deliver.
    public struct PendingAlert: Sendable {
        public var id: Int64
        public var channel: String
        /// `raised` or `reopened`.
        public var cause: String
        public var attempts: Int
        public var finding: Finding
    }

    /// Puts the findings raised or reopened since the last call into the outbox for each channel that takes
    /// them. The first call with alerts configured starts from now: findings older than the alerting are
    /// not sent. Returns how many alerts were queued.
    @discardableResult
    public func queueAlerts(_ settings: AlertSettings, now: Date = Date()) async throws -> Int {
        let nowMS = Int64(now.timeIntervalSince1970 * 1000)
        // Most rounds find nothing new: a read says so without taking the writer, which ingest needs.
        let unchanged = try await pool.read { db in
            try FindingTable.state(db, "alerts:finding")
                == (try Int64.fetchOne(db, sql: "SELECT max(id) FROM findings") ?? 0)
                && FindingTable.state(db, "alerts:action")
                    == (try Int64.fetchOne(db, sql: "SELECT max(id) FROM finding_actions") ?? 0)
        }
        if unchanged { return 0 }
        return try await pool.write { db in
            let lastFinding = try Int64.fetchOne(db, sql: "SELECT max(id) FROM findings") ?? 0
            let lastAction = try Int64.fetchOne(db, sql: "SELECT max(id) FROM finding_actions") ?? 0
            guard let findingCursor = try FindingTable.state(db, "alerts:finding"),
                let actionCursor = try FindingTable.state(db, "alerts:action")
            else {
                try FindingTable.setState(db, "alerts:finding", lastFinding)
                try FindingTable.setState(db, "alerts:action", lastAction)
                return 0
            }
            var raised: [(Int64, String, String)] = try Row.fetchAll(
                db, sql: "SELECT id, rule FROM findings WHERE id > ? ORDER BY id", arguments: [findingCursor]
            ).map { ($0[0], $0[1], "raised") }
            raised += try Row.fetchAll(
                db,
                sql: """
                    SELECT f.id, f.rule FROM finding_actions a JOIN findings f ON f.id = a.finding
                    WHERE a.id > ? AND a.action = 'reopened' AND f.id <= ? ORDER BY a.id
                    """, arguments: [actionCursor, findingCursor]
            ).map { ($0[0], $0[1], "reopened") }
            var queued = 0
            for (finding, rule, cause) in raised {
                let severity = RuleInfo.named(rule)?.severity ?? "warning"
                for channel in settings.channels where settings.takes(channel: channel, rule: rule, severity: severity)
                {
                    try db.execute(
                        sql: "INSERT INTO alerts(finding, channel, cause, created_ms, next_ms) VALUES (?, ?, ?, ?, ?)",
                        arguments: [finding, channel, cause, nowMS, nowMS])
                    queued += 1
                }
            }
            try FindingTable.setState(db, "alerts:finding", lastFinding)
            try FindingTable.setState(db, "alerts:action", lastAction)
            return queued
        }
    }

    /// The alerts due now, oldest first, with their findings as they now stand.
    public func dueAlerts(now: Date = Date(), limit: Int = 100) async throws -> [PendingAlert] {
        let nowMS = Int64(now.timeIntervalSince1970 * 1000)
        let rows: [(id: Int64, finding: Int64, channel: String, cause: String, attempts: Int)] = try await pool.read {
            db in
            try Row.fetchAll(
                db,
                sql:
                    "SELECT id, finding, channel, cause, attempts FROM alerts WHERE sent_ms IS NULL AND next_ms <= ? ORDER BY id LIMIT ?",
                arguments: [nowMS, limit]
            ).map { ($0[0], $0[1], $0[2], $0[3], $0[4]) }
        }
        guard !rows.isEmpty else { return [] }
        let findings = try await self.findings(ids: rows.map(\.finding), limit: limit)
        return rows.compactMap { row in
            findings.first { $0.id == row.finding }.map {
                PendingAlert(id: row.id, channel: row.channel, cause: row.cause, attempts: row.attempts, finding: $0)
            }
        }
    }

    /// Records a delivered alert, in the outbox and in the log (`record/alert_sent`).
    public func alertSent(_ alert: PendingAlert, to destination: String, now: Date = Date()) async throws {
        let nowMS = Int64(now.timeIntervalSince1970 * 1000)
        try await pool.write { db in
            try db.execute(
                sql: "UPDATE alerts SET sent_ms = ?, attempts = attempts + 1, last_error = NULL WHERE id = ?",
                arguments: [nowMS, alert.id])
            try HubRecords.append(
                [
                    (
                        "alert_sent", "kiroku-hub", String(alert.finding.id),
                        [
                            "channel": alert.channel, "to": String(destination.prefix(300)), "rule": alert.finding.rule,
                            "severity": alert.finding.severity, "cause": alert.cause,
                            "attempts": "\(alert.attempts + 1)",
                        ]
                    )
                ], now: now, db: db)
        }
    }

    /// Records a failed attempt; the next is after `retry`.
    public func alertFailed(_ alert: PendingAlert, error: String, retry: Duration, now: Date = Date()) async throws {
        let nextMS = Int64(now.timeIntervalSince1970 * 1000) + retry.components.seconds * 1000
        try await pool.write { db in
            try db.execute(
                sql: "UPDATE alerts SET attempts = attempts + 1, next_ms = ?, last_error = ? WHERE id = ?",
                arguments: [nextMS, String(error.prefix(500)), alert.id])
        }
    }

    /// The outbox, newest first (for status and tests): `(finding, channel, cause, attempts, sent, last error)`.
    public func alertOutbox(limit: Int = 200) async throws -> [(
        finding: Int64, channel: String, cause: String, attempts: Int, sent: Bool, error: String?
    )] {
        try await pool.read { db in
            try Row.fetchAll(
                db,
                sql:
                    "SELECT finding, channel, cause, attempts, sent_ms IS NOT NULL, last_error FROM alerts ORDER BY id DESC LIMIT ?",
                arguments: [limit]
            ).map { ($0[0], $0[1], $0[2], $0[3], $0[4], $0[5]) }
        }
    }

    /// Open findings by severity and article, for `/metrics` (`kiroku_findings_open`).
    public func openFindingCounts() async throws -> [(rule: String, count: Int)] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT rule, count(*) FROM findings WHERE status = 'open' GROUP BY rule").map {
                ($0[0], $0[1])
            }
        }
    }
}
