/// The messages of retention and legal holds (PROTOCOL.md §8), shared by the hub and kirokuctl.

/// A legal hold (第21 investigations): events matching every given criterion are never purged while the
/// hold stands.
public struct LegalHold: Sendable, Codable, Equatable {
    public var id: Int64
    public var subject: String?
    public var actor: String?
    public var agent: String?
    public var from: String?
    public var to: String?
    public var reason: String
    public var placedBy: String
    public var placedAt: String
    public var liftedBy: String?
    public var liftedAt: String?
    public var liftReason: String?

    public init(
        id: Int64, subject: String?, actor: String?, agent: String?, from: String?, to: String?, reason: String,
        placedBy: String, placedAt: String, liftedBy: String? = nil, liftedAt: String? = nil, liftReason: String? = nil
    ) {
        self.id = id
        self.subject = subject
        self.actor = actor
        self.agent = agent
        self.from = from
        self.to = to
        self.reason = reason
        self.placedBy = placedBy
        self.placedAt = placedAt
        self.liftedBy = liftedBy
        self.liftedAt = liftedAt
        self.liftReason = liftReason
    }

    enum CodingKeys: String, CodingKey {
        case id, subject, actor, agent, from, to, reason
        case placedBy = "placed_by"
        case placedAt = "placed_at"
        case liftedBy = "lifted_by"
        case liftedAt = "lifted_at"
        case liftReason = "lift_reason"
    }
}

/// What a purge did (or, in a dry run, would do), per kind.
public struct PurgeReport: Sendable, Codable, Equatable {
    public struct Line: Sendable, Codable, Equatable {
        public var kind: String
        public var policy: String
        public var cutoff: String
        public var purged: Int64
        /// Past the period but kept under a legal hold.
        public var held: Int64

        public init(kind: String, policy: String, cutoff: String, purged: Int64, held: Int64) {
            self.kind = kind
            self.policy = policy
            self.cutoff = cutoff
            self.purged = purged
            self.held = held
        }
    }

    public init(dryRun: Bool, lines: [Line]) {
        self.dryRun = dryRun
        self.lines = lines
    }

    public var dryRun: Bool
    public var lines: [Line]

    enum CodingKeys: String, CodingKey {
        case dryRun = "dry_run"
        case lines
    }
}
