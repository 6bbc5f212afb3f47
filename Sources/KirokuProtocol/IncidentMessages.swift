/// A shutdown declared in advance (PROTOCOL.md §14): maintenance, a planned power cut, or the whole system
/// ended under 第30. While it runs, the terminals it names are quiet on purpose, not lost.
public struct DeclaredShutdown: Sendable, Codable, Equatable {
    public var id: Int64
    /// Agent ids, or `*` for every terminal.
    public var agents: [String]
    public var from: String
    public var to: String
    public var reason: String
    public var declaredBy: String
    public var declaredAt: String

    public init(
        id: Int64, agents: [String], from: String, to: String, reason: String, declaredBy: String, declaredAt: String
    ) {
        self.id = id
        self.agents = agents
        self.from = from
        self.to = to
        self.reason = reason
        self.declaredBy = declaredBy
        self.declaredAt = declaredAt
    }

    enum CodingKeys: String, CodingKey {
        case id, agents, from, to, reason
        case declaredBy = "declared_by"
        case declaredAt = "declared_at"
    }
}

/// The 対応マニュアル of an incident type as `GET /v1/manuals` answers it (PROTOCOL.md §14).
public struct IncidentManual: Sendable, Codable, Equatable {
    /// The incident type: `unauthorized_access`, `fault`, `disaster`, `fire`, `quake_shutdown`.
    public var type: String
    public var file: SubmittedFile
    public var registeredBy: String
    public var registeredAt: String
    /// The `record/manual_registered` event (`hub/SEQ`).
    public var event: String

    public init(type: String, file: SubmittedFile, registeredBy: String, registeredAt: String, event: String) {
        self.type = type
        self.file = file
        self.registeredBy = registeredBy
        self.registeredAt = registeredAt
        self.event = event
    }

    enum CodingKeys: String, CodingKey {
        case type, file, event
        case registeredBy = "registered_by"
        case registeredAt = "registered_at"
    }
}

/// A 点検 of the record (第20②): a person says they reviewed everything through a day. Kept only as the
/// `record/reviewed` event it is (PROTOCOL.md §16).
public struct RecordReview: Sendable, Codable, Equatable {
    /// The last day (JST, `YYYY-MM-DD`) the review covers.
    public var through: String
    public var by: String
    public var at: String
    public var note: String
    /// The `record/reviewed` event (`hub/SEQ`).
    public var event: String

    public init(through: String, by: String, at: String, note: String, event: String) {
        self.through = through
        self.by = by
        self.at = at
        self.note = note
        self.event = event
    }
}
