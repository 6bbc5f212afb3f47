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

    public init(id: Int64, agents: [String], from: String, to: String, reason: String, declaredBy: String, declaredAt: String) {
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
