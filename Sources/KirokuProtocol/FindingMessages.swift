/// Where a finding stands: open until a person acknowledges it (seen, being handled) or resolves it (with a
/// reason); a resolved finding the rules find again is open again. On the wire, its raw value.
public enum FindingStatus: String, Codable, Sendable, CaseIterable {
    case open
    case acknowledged
    case resolved

    /// The status a query parameter or a form names, or nil.
    public init?(parameter: String?) {
        guard let parameter, let status = FindingStatus(rawValue: parameter) else { return nil }
        self = status
    }
}

/// A breach of the standard that a rule found in the consolidated record (PROTOCOL.md §9).
public struct Finding: Codable, Sendable, Equatable {
    public var id: Int64
    /// The rule's id, e.g. `bulk_lookups`.
    public var rule: String
    /// The article of the standard it serves, e.g. `第20`.
    public var article: String
    /// `info`, `warning` or `critical`.
    public var severity: String
    /// What was found, in a sentence (English).
    public var summary: String
    /// The same in Japanese, written from the same fields; nil for findings raised before it existed.
    public var summaryJa: String?
    /// Event time of the first and last evidence (not arrival time).
    public var firstSeen: String
    public var lastSeen: String
    /// How many events (or occurrences) it covers.
    public var count: Int64
    /// The evidence events, as `agent/seq` (at most 20).
    public var evidence: [String]
    public var status: FindingStatus
    public var history: [Action]

    /// The sentence for a Japanese reader: Japanese where the hub wrote it, English otherwise.
    public var summaryForJapanese: String { summaryJa ?? summary }

    /// Who acknowledged or resolved it, when and why.
    public struct Action: Codable, Sendable, Equatable {
        public var action: String
        public var by: String
        public var reason: String
        public var at: String

        public init(action: String, by: String, reason: String, at: String) {
            self.action = action
            self.by = by
            self.reason = reason
            self.at = at
        }
    }

    public init(
        id: Int64, rule: String, article: String, severity: String, summary: String, summaryJa: String? = nil,
        firstSeen: String,
        lastSeen: String, count: Int64, evidence: [String], status: FindingStatus, history: [Action]
    ) {
        self.id = id
        self.rule = rule
        self.article = article
        self.severity = severity
        self.summary = summary
        self.summaryJa = summaryJa
        self.firstSeen = firstSeen
        self.lastSeen = lastSeen
        self.count = count
        self.evidence = evidence
        self.status = status
        self.history = history
    }

    enum CodingKeys: String, CodingKey {
        case id, rule, article, severity, summary
        case summaryJa = "summary_ja"
        case firstSeen = "first_seen"
        case lastSeen = "last_seen"
        case count, evidence, status, history
    }
}
