import GRDB
public import KirokuProtocol

/// The figures of the 会議's report for a period: from the per-day counts (``ReportCounts``) where they hold,
/// else from one pass over the period's events. Both give the same figures (ReportCountsTests).
public struct ReportScan: Sendable, Equatable {
    public struct Listed: Sendable, Equatable {
        public var timeMS: Int64
        public var agent: String
        public var kind: String
        public var action: String
        public var actor: String
        public var subject: String
        public var site: String
    }

    public struct Operator: Sendable, Equatable {
        /// Operations of any kind (login included): an operator with none in the period is not listed.
        public var events = 0
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
    public struct Trouble: Sendable, Equatable {
        public var loss = 0
        public var clockJumps = 0
        public var inconsistent = 0
    }

    /// Per terminal: declared losses, clock jumps and log inconsistencies in the period.
    public var agentTrouble: [String: Trouble] = [:]
    /// Events listed one by one (configuration changes, virus detections, incidents, contractors, the hub's
    /// own records): at most `listLimit` of each kind, the rest counted.
    public var listed: [String: [Listed]] = [:]
    public var listLimit = 200

    public func count(_ kind: String, _ action: String? = nil) -> Int {
        guard let actions = byKindAction[kind] else { return 0 }
        if let action { return actions[action] ?? 0 }
        return actions.values.reduce(0, +)
    }

    /// Counts `n` events of one kind and action by one terminal (negative to take them away).
    mutating func add(kind: String, action: String, agent: String, n: Int) {
        events += n
        byKindAction[kind, default: [:]][action, default: 0] += n
        byAgent[agent, default: 0] += n
        guard kind == "agent" else { return }
        switch action {
        case "loss": agentTrouble[agent, default: Trouble()].loss += n
        case "clock_jump": agentTrouble[agent, default: Trouble()].clockJumps += n
        case "log_inconsistent": agentTrouble[agent, default: Trouble()].inconsistent += n
        default: break
        }
    }

    /// Counts `n` entries, exits and operations of one person (negative to take them away): `room` (the
    /// subject) only for access; `outOfHours` is how many of them, if lookups, fell outside business hours.
    mutating func add(kind: String, action: String, actor: String, room: String, n: Int, outOfHours: Int) {
        switch kind {
        case "access":
            // The room is the subject (as the permits register names it); site is the building.
            access[room, default: [:]][actor, default: [:]][action, default: 0] += n
        case "operation":
            var person = operators[actor] ?? ReportScan.Operator()
            person.events += n
            switch action {
            case "lookup":
                person.lookups += n
                person.outOfHours += outOfHours
            case "update", "print", "export": person.changes += n
            case "auth_failure": person.authFailures += n
            default: break
            }
            operators[actor] = person
        default:
            break
        }
    }

    /// Counts `n` events (negative to take them away) as both the terminal's and the person's: one event of the
    /// record, read from it.
    mutating func add(
        kind: String, action: String, agent: String, actor: String, subject: String, n: Int, outOfHours: Int
    ) {
        add(kind: kind, action: action, agent: agent, n: n)
        add(kind: kind, action: action, actor: actor, room: subject, n: n, outOfHours: outOfHours)
    }

    /// Drops what counts to nothing, as a pass over the events would never have made it (after counts were
    /// taken away).
    mutating func dropEmpty() {
        byKindAction = byKindAction.mapValues { $0.filter { $0.value != 0 } }.filter { !$0.value.isEmpty }
        byAgent = byAgent.filter { $0.value != 0 }
        access = access.mapValues { people in
            people.mapValues { $0.filter { $0.value != 0 } }.filter { !$0.value.isEmpty }
        }.filter { !$0.value.isEmpty }
        operators = operators.filter { $0.value.events != 0 }
        agentTrouble = agentTrouble.filter { $0.value != Trouble() }
    }

    /// The kinds the report lists one by one, at most ``listLimit`` of each (virus scans without a detection
    /// are only counted).
    static let listedKinds = ["config", "media", "malware", "incident", "contractor", "record"]
}

extension HubStore {
    /// The figures of the report for `[fromMS, toMS)`, counting only events among the log's first `treeSize`
    /// leaves: the report's figures are those of the checkpoint it prints, so anyone can derive them again
    /// from the log. From the per-day counts where they hold (a month in milliseconds at any size), else by
    /// reading every event of the period once (seconds per million events).
    public func reportScan(fromMS: Int64, toMS: Int64, treeSize: Int64, settings: RuleSettings) async throws
        -> ReportScan
    {
        try await pool.read { db in
            var calendar = settings.calendar
            calendar = calendar.adding(register: try HubStore.rows(.calendar, db: db))
            if let counted = try ReportCounts.report(
                db, fromMS: fromMS, toMS: toMS, treeSize: treeSize, settings: settings, calendar: calendar)
            {
                return counted
            }
            return try Self.reportReading(
                db, fromMS: fromMS, toMS: toMS, treeSize: treeSize, settings: settings, calendar: calendar)
        }
    }

    /// The figures from the per-day counts alone, or nil where they cannot give them exactly (the report then
    /// reads the period).
    public func reportScanFromCounts(fromMS: Int64, toMS: Int64, treeSize: Int64, settings: RuleSettings)
        async throws -> ReportScan?
    {
        try await pool.read { db in
            let calendar = settings.calendar.adding(register: try HubStore.rows(.calendar, db: db))
            return try ReportCounts.report(
                db, fromMS: fromMS, toMS: toMS, treeSize: treeSize, settings: settings, calendar: calendar)
        }
    }

    /// Takes the report's per-day counts up to the newest event, `step` events a transaction (the rules'
    /// service does the same as events arrive; this is for a record loaded otherwise). `progress` hears the
    /// events counted so far. Returns how many were counted.
    @discardableResult
    public func countForReport(
        _ settings: RuleSettings, step: Int64 = 1_000_000, progress: (Int64) -> Void = { _ in }
    ) async throws -> Int64 {
        var total: Int64 = 0
        while true {
            let counted = try await pool.writeWithoutTransaction { db in
                try Self.withoutFsync(db) { try ReportCounts.advance(db, calendar: settings.calendar, limit: step) }
            }
            total += counted
            progress(total)
            if counted < step { return total }
        }
    }

    /// The same figures by reading every event of the period once, never from the per-day counts.
    public func reportScanReadingEvents(fromMS: Int64, toMS: Int64, treeSize: Int64, settings: RuleSettings)
        async throws -> ReportScan
    {
        try await pool.read { db in
            let calendar = settings.calendar.adding(register: try HubStore.rows(.calendar, db: db))
            return try Self.reportReading(
                db, fromMS: fromMS, toMS: toMS, treeSize: treeSize, settings: settings, calendar: calendar)
        }
    }

    static func reportReading(
        _ db: Database, fromMS: Int64, toMS: Int64, treeSize: Int64, settings: RuleSettings, calendar: BusinessCalendar
    ) throws -> ReportScan {
        var scan = ReportScan()
        // By their bytes, as SQLite and the rules compare them (Swift's String equality would join a name written
        // in NFC with the same name in NFD).
        var pairs: [[UInt8]: Int] = [:]
        let listedKinds = Set(ReportScan.listedKinds)
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
            let subject: String = row[5]
            let lookup = kind == "operation" && action == "lookup"
            scan.add(
                kind: kind, action: action, agent: agent, actor: actor, subject: subject, n: 1,
                outOfHours: lookup && !calendar.isOpen(timeMS) ? 1 : 0)
            if lookup {
                var key = Array(actor.utf8)
                key.append(0)
                key += subject.utf8
                key.append(0)
                key += BusinessCalendar.day(timeMS).utf8
                let seen = (pairs[key] ?? 0) + 1
                pairs[key] = seen
                if seen == settings.repeatedLookupsPerDay {
                    scan.operators[actor]!.repeatedPairs += 1
                    scan.operators[actor]!.repeatedLookups += seen
                } else if seen > settings.repeatedLookupsPerDay {
                    scan.operators[actor]!.repeatedLookups += 1
                }
            }
            if listedKinds.contains(kind), (scan.listed[kind]?.count ?? 0) < scan.listLimit,
                !(kind == "malware" && action == "scan")
            {
                scan.listed[kind, default: []].append(
                    ReportScan.Listed(
                        timeMS: timeMS, agent: agent, kind: kind, action: action, actor: actor, subject: subject,
                        site: row[6]))
            }
        }
        return scan
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
