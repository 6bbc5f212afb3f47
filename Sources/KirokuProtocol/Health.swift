/// Per-agent health as `GET /v1/agents` and `kirokuctl agents` show it.
public struct AgentHealth: Codable, Sendable, Equatable {
    public var agent: String
    public var lastSeq: Int64
    public var lastHash: String
    public var firstSeen: String
    public var lastSeen: String
    public var lastEventTime: String?
    public var reportedHead: Int64
    public var lag: Int64
    public var skewMS: Int64?
    public var events: Int64
    public var batches: Int64
    public var duplicates: Int64
    public var forks: Int64
    public var quarantined: Int64
    public var gaps: Int64
    public var refusals: Int64
    public var lastRefusal: String?
    /// `agent/clock_jump` events received from this agent.
    public var clockJumps: Int64
    /// Events declared lost in gaps (the agent no longer had them when the hub needed them again).
    public var declaredLost: Int64
    /// New chain epochs this agent started (`agent/loss` records with reason `journal_rollback` or
    /// `journal_corrupt`), and the reason of the latest.
    public var epochs: Int64
    public var lastEpochReason: String?

    public init(
        agent: String, lastSeq: Int64, lastHash: String, firstSeen: String, lastSeen: String, lastEventTime: String?,
        reportedHead: Int64, lag: Int64, skewMS: Int64?, events: Int64, batches: Int64, duplicates: Int64, forks: Int64,
        quarantined: Int64, gaps: Int64, refusals: Int64, lastRefusal: String?, clockJumps: Int64 = 0,
        declaredLost: Int64 = 0, epochs: Int64 = 0, lastEpochReason: String? = nil
    ) {
        self.epochs = epochs
        self.lastEpochReason = lastEpochReason
        self.agent = agent
        self.lastSeq = lastSeq
        self.lastHash = lastHash
        self.firstSeen = firstSeen
        self.lastSeen = lastSeen
        self.lastEventTime = lastEventTime
        self.reportedHead = reportedHead
        self.lag = lag
        self.skewMS = skewMS
        self.events = events
        self.batches = batches
        self.duplicates = duplicates
        self.forks = forks
        self.quarantined = quarantined
        self.gaps = gaps
        self.refusals = refusals
        self.lastRefusal = lastRefusal
        self.clockJumps = clockJumps
        self.declaredLost = declaredLost
    }

    enum CodingKeys: String, CodingKey {
        case agent
        case lastSeq = "last_seq"
        case lastHash = "last_hash"
        case firstSeen = "first_seen"
        case lastSeen = "last_seen"
        case lastEventTime = "last_event_time"
        case reportedHead = "reported_head"
        case lag
        case skewMS = "skew_ms"
        case events, batches, duplicates, forks, quarantined, gaps, refusals
        case lastRefusal = "last_refusal"
        case clockJumps = "clock_jumps"
        case declaredLost = "declared_lost"
        case epochs
        case lastEpochReason = "last_epoch_reason"
    }
}

/// One page of results.
public struct EventPage: Codable, Sendable {
    public var events: [Event]
    /// Pass as `cursor` for the next page; absent on the last page.
    public var next: String?

    public init(events: [Event], next: String?) {
        self.events = events
        self.next = next
    }
}

/// `GET /v1/agents`.
public struct AgentHealthList: Codable, Sendable {
    public var agents: [AgentHealth]
    public init(agents: [AgentHealth]) { self.agents = agents }
}
