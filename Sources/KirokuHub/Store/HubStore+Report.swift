import GRDB
public import KirokuProtocol

/// The figures of the 会議's report for a period, gathered in one pass over the period's events (a month of
/// a ten-million-event record is under a million rows: read once, counted in memory).
public struct ReportScan: Sendable {
    public struct Listed: Sendable {
        public var timeMS: Int64
        public var agent: String
        public var kind: String
        public var action: String
        public var actor: String
        public var subject: String
        public var site: String
    }

    public struct Operator: Sendable {
        public var lookups = 0
        public var outOfHours = 0
        /// (subject, day) pairs looked up `repeatedLookupsPerDay` times or more, and the lookups in them.
        public var repeatedPairs = 0
        public var repeatedLookups = 0
        public var changes = 0
        public var authFailures = 0
    }

    public var events = 0
    public var byKindAction: [String: [String: Int]] = [:]
    public var byAgent: [String: Int] = [:]
    /// 入退室 by room (site) and person: enter, exit, denied.
    public var access: [String: [String: [String: Int]]] = [:]
    public var operators: [String: Operator] = [:]
    /// Per terminal: declared losses and clock jumps in the period.
    public var agentTrouble: [String: (loss: Int, clockJumps: Int, inconsistent: Int)] = [:]
    /// Events listed one by one (configuration changes, virus detections, incidents, contractors, the hub's
    /// own records): at most `listLimit` of each kind, the rest counted.
    public var listed: [String: [Listed]] = [:]
    public var listLimit = 200

    public func count(_ kind: String, _ action: String? = nil) -> Int {
        guard let actions = byKindAction[kind] else { return 0 }
        if let action { return actions[action] ?? 0 }
        return actions.values.reduce(0, +)
    }
}

extension HubStore {
    /// Reads every event of `[fromMS, toMS)` once and counts what the report shows.
    /// Only events among the log's first `treeSize` leaves: the report's figures are those of the checkpoint
    /// it prints, so anyone can derive them again from the log.
    public func reportScan(fromMS: Int64, toMS: Int64, treeSize: Int64, settings: RuleSettings) async throws
        -> ReportScan
    {
        try await pool.read { db in
            var calendar = settings.calendar
            calendar = calendar.adding(register: try HubStore.rows(.calendar, db: db))
            var scan = ReportScan()
            var pairs: [String: Int] = [:]
            let listedKinds: Set<String> = ["config", "media", "malware", "incident", "contractor", "record"]
            let rows = try Row.fetchCursor(
                db,
                sql: """
                    SELECT time_ms, agent, kind, action, actor, subject, site FROM events
                    WHERE time_ms >= ? AND time_ms < ? AND id <= ? AND purged_ms IS NULL ORDER BY time_ms, agent, seq
                    """, arguments: [fromMS, toMS, treeSize])
            while let row = try rows.next() {
                if scan.events & 0xFFF == 0 { try Task.checkCancellation() }
                let timeMS: Int64 = row[0]
                let agent: String = row[1]
                let kind: String = row[2]
                let action: String = row[3]
                let actor: String = row[4]
                scan.events += 1
                scan.byKindAction[kind, default: [:]][action, default: 0] += 1
                scan.byAgent[agent, default: 0] += 1
                switch kind {
                case "access":
                    // The room is the subject (as the permits register names it); site is the building.
                    let room: String = row[5]
                    scan.access[room, default: [:]][actor, default: [:]][action, default: 0] += 1
                case "operation":
                    var person = scan.operators[actor] ?? ReportScan.Operator()
                    switch action {
                    case "lookup":
                        person.lookups += 1
                        if !calendar.isOpen(timeMS) { person.outOfHours += 1 }
                        let subject: String = row[5]
                        let key = "\(actor)\u{1F}\(subject)\u{1F}\(BusinessCalendar.day(timeMS))"
                        let seen = (pairs[key] ?? 0) + 1
                        pairs[key] = seen
                        if seen == settings.repeatedLookupsPerDay {
                            person.repeatedPairs += 1
                            person.repeatedLookups += seen
                        } else if seen > settings.repeatedLookupsPerDay {
                            person.repeatedLookups += 1
                        }
                    case "update", "print", "export": person.changes += 1
                    case "auth_failure": person.authFailures += 1
                    default: break
                    }
                    scan.operators[actor] = person
                case "agent" where ["loss", "clock_jump", "log_inconsistent"].contains(action):
                    var trouble = scan.agentTrouble[agent] ?? (0, 0, 0)
                    if action == "loss" { trouble.loss += 1 }
                    if action == "clock_jump" { trouble.clockJumps += 1 }
                    if action == "log_inconsistent" { trouble.inconsistent += 1 }
                    scan.agentTrouble[agent] = trouble
                default:
                    break
                }
                if listedKinds.contains(kind), (scan.listed[kind]?.count ?? 0) < scan.listLimit,
                    !(kind == "malware" && action == "scan")
                {
                    scan.listed[kind, default: []].append(
                        ReportScan.Listed(
                            timeMS: timeMS, agent: agent, kind: kind, action: action, actor: actor, subject: row[5],
                            site: row[6]))
                }
            }
            return scan
        }
    }

    /// The findings a report for `[fromMS, toMS)` speaks of: seen before its end, and seen in it, still not
    /// resolved, or acted on from its start on (so one resolved only after the period was open during it).
    /// Every one, however many.
    public func findingsForReport(fromMS: Int64, toMS: Int64) async throws -> [Finding] {
        let ids = try await pool.read { db in
            try Int64.fetchAll(
                db,
                sql: """
                    SELECT id FROM findings WHERE first_ms < ? AND (last_ms >= ? OR status != 'resolved'
                    OR id IN (SELECT finding FROM finding_actions WHERE at_ms >= ?)) ORDER BY id
                    """, arguments: [toMS, fromMS, fromMS])
        }
        var out: [Finding] = []
        for chunk in stride(from: 0, to: ids.count, by: 500) {
            out += try await findings(ids: Array(ids[chunk..<min(ids.count, chunk + 500)]), limit: 500)
        }
        return out.sorted { $0.id < $1.id }
    }
}
