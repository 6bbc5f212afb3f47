public import Foundation
import GRDB
public import KirokuProtocol

/// The 対応マニュアル of each incident type (第22②: 不正アクセス行為を受けたときの対応マニュアル; 第27: 障害対策
/// マニュアル): documents kept like submissions, by SHA-256, the newest per type, each registration recorded as
/// `record/manual_registered`; shown with the findings on incidents of that type.
extension HubStore {
    /// The incident types a manual is kept for.
    public static let manualTypes: [String: String] = [
        "unauthorized_access": "不正アクセス (第22②)", "fault": "障害 (第27)", "disaster": "災害・緊急事態 (第28)",
        "fire": "火災 (第29)", "quake_shutdown": "地震・落雷 (第30)",
    ]

    static func migrateManuals(_ db: Database) throws {
        try db.execute(
            sql: """
                CREATE TABLE manuals(
                    type TEXT PRIMARY KEY NOT NULL,
                    file TEXT NOT NULL,
                    registered_by TEXT NOT NULL,
                    registered_ms INTEGER NOT NULL,
                    event TEXT NOT NULL
                ) WITHOUT ROWID;
                """)
    }

    /// Registers the manual of an incident type (the file is already kept by ``DocumentStore``).
    public func registerManual(type: String, file: SubmittedFile, by person: String, now: Date = Date()) async throws
        -> IncidentManual
    {
        guard Self.manualTypes[type] != nil else {
            throw KirokuError(
                .badQuery,
                "manuals are kept for \(Self.manualTypes.keys.sorted().joined(separator: ", ")), not '\(type.prefix(40))'"
            )
        }
        try await pool.write { db in
            let refs = try HubRecords.append(
                [("manual_registered", person, type, ["file1": file.attribute])], now: now, db: db)
            try db.execute(
                sql:
                    "INSERT OR REPLACE INTO manuals(type, file, registered_by, registered_ms, event) VALUES (?, ?, ?, ?, ?)",
                arguments: [
                    type, String(decoding: try JSONEncoder().encode(file), as: UTF8.self), person,
                    Int64(now.timeIntervalSince1970 * 1000), refs[0],
                ])
        }
        return try await manuals().first { $0.type == type }!
    }

    public func manuals() async throws -> [IncidentManual] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM manuals ORDER BY type").map { row in
                IncidentManual(
                    type: row["type"],
                    file: try JSONDecoder().decode(SubmittedFile.self, from: Data((row["file"] as String).utf8)),
                    registeredBy: row["registered_by"], registeredAt: Self.jst(row["registered_ms"]),
                    event: row["event"])
            }
        }
    }

    /// The manual for the incident a finding is about (its first evidence event's type), if one is kept.
    public func manual(for finding: Finding) async throws -> IncidentManual? {
        guard ["incident_not_reported", "incident_not_closed"].contains(finding.rule), let ref = finding.evidence.first,
            let event = try await events(refs: [ref]).first
        else { return nil }
        return try await manuals().first { $0.type == event.action }
    }
}
