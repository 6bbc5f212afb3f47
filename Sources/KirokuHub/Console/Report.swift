import Crypto
import Foundation
import KirokuProtocol

/// The 会議's report for a period (第9②③, 第13): every article of the standard in order with what the
/// record shows of it, the summaries the standard asks for, the record's integrity with the checkpoint it was
/// made from printed in full, the 管理者's own actions, and a 確認印 area. One document for the console, for
/// `kirokuctl report` and for print (A4, page numbers, repeated table headers).
struct ReportPeriod: Equatable {
    var fromMS: Int64
    var toMS: Int64
    /// `令和8年度第2回`, when the period is a meeting's half year or one was named.
    var meeting: String?
    /// What the period is called on the cover: `令和8年11月分`, `令和8年度 下半期`.
    var name: String

    static let forms = "give month=2026-11, fiscal_year=2026 (and half=1 or 2), or from and to"

    /// From a page's query: `month`, `fiscal_year` (`half`), or `from` and `to` (dates as people type them).
    static func parse(_ query: [String: String]) throws -> ReportPeriod {
        let given = ["month", "fiscal_year", "from"].filter { query[$0] != nil }
        guard given.count == 1 else { throw KirokuError(.badQuery, "the report needs one period: \(forms)") }
        if query["half"] != nil && query["fiscal_year"] == nil {
            throw KirokuError(.badQuery, "half goes with fiscal_year: \(forms)")
        }
        if query["to"] != nil && query["from"] == nil { throw KirokuError(.badQuery, "to goes with from: \(forms)") }
        func midnight(_ year: Int, _ month: Int, _ day: Int = 1) -> Int64 {
            Timestamp(rfc3339: String(format: "%04d-%02d-%02dT00:00:00.000+09:00", year, month, day))!.epochMilliseconds
        }
        var period: ReportPeriod
        if let text = query["month"] {
            let parts = text.split(whereSeparator: { $0 == "-" || $0 == "/" }).compactMap { Int($0) }
            guard parts.count == 2, (1900...2999).contains(parts[0]), (1...12).contains(parts[1]) else {
                throw KirokuError(.badQuery, "month is YYYY-MM, like 2026-11, not '\(text.prefix(20))'")
            }
            let (year, month) = (parts[0], parts[1])
            period = ReportPeriod(
                fromMS: midnight(year, month), toMS: month == 12 ? midnight(year + 1, 1) : midnight(year, month + 1),
                meeting: nil,
                name: "\(Wareki.date(year: year, month: month, day: 1).replacingOccurrences(of: "1日", with: ""))分")
        } else if let text = query["fiscal_year"] {
            guard let year = Int(text), (1900...2999).contains(year) else {
                throw KirokuError(
                    .badQuery, "fiscal_year is the year the 年度 starts in, like 2026, not '\(text.prefix(20))'")
            }
            let fiscal = Wareki.fiscalYearName(year)
            switch query["half"] {
            case nil:
                period = ReportPeriod(
                    fromMS: midnight(year, 4), toMS: midnight(year + 1, 4), meeting: nil, name: fiscal)
            case "1":
                period = ReportPeriod(
                    fromMS: midnight(year, 4), toMS: midnight(year, 10), meeting: "\(fiscal)第1回", name: "\(fiscal) 上半期")
            case "2":
                period = ReportPeriod(
                    fromMS: midnight(year, 10), toMS: midnight(year + 1, 4), meeting: "\(fiscal)第2回",
                    name: "\(fiscal) 下半期")
            case let other?:
                throw KirokuError(
                    .badQuery, "half is 1 (April–September) or 2 (October–March), not '\(other.prefix(10))'")
            }
        } else {
            guard let fromText = query["from"], let toText = query["to"] else {
                throw KirokuError(.badQuery, "from needs to: \(forms)")
            }
            guard let from = PersonTime.parse(fromText), let to = PersonTime.parse(toText) else {
                throw KirokuError(.badQuery, "from and to must be \(PersonTime.forms)")
            }
            guard from.epochMilliseconds < to.epochMilliseconds else {
                throw KirokuError(.badQuery, "from must be before to")
            }
            guard to.epochMilliseconds - from.epochMilliseconds <= 400 * 86_400_000 else {
                throw KirokuError(.badQuery, "a report covers at most 400 days (a 年度 is 365 or 366); make one per 年度")
            }
            period = ReportPeriod(fromMS: from.epochMilliseconds, toMS: to.epochMilliseconds, meeting: nil, name: "")
        }
        if let meeting = query["meeting"], !meeting.isEmpty { period.meeting = String(meeting.prefix(80)) }
        if period.name.isEmpty { period.name = period.span }
        return period
    }

    /// `令和8年11月1日 から 令和8年11月30日 まで (2026-11-01 – 2026-11-30)`: the last day is the one before `toMS`.
    var span: String {
        func day(_ ms: Int64) -> (text: String, iso: String) {
            let iso = String(
                Timestamp(epochMilliseconds: ms, offsetMinutes: Timestamp.jstOffsetMinutes).rfc3339.prefix(10))
            let parts = iso.split(separator: "-").compactMap { Int($0) }
            return (Wareki.date(year: parts[0], month: parts[1], day: parts[2]), iso)
        }
        let first = day(fromMS)
        let last = day(toMS - 1)
        return "\(first.text) から \(last.text) まで (\(first.iso) – \(last.iso))"
    }
}

extension ConsoleController {
    /// Everything the report shows, for its template.
    func reportData(_ period: ReportPeriod, _ viewer: Viewer, _ context: HubRequestContext) async throws -> [String:
        Any]
    {
        try await authorize(.readRecord, context)
        let names = viewer.names
        func who(_ id: String) -> String { names[id].map { "\($0) (\(id))" } ?? id }
        func time(_ ms: Int64) -> String {
            Timestamp(epochMilliseconds: ms, offsetMinutes: Timestamp.jstOffsetMinutes).displayText
        }
        let nowMS = Int64(Date().timeIntervalSince1970 * 1000)

        // The checkpoint the report is made from: the newest the 会議's witness cosigned, else the newest. The
        // figures count only the events of that tree, so that the paper can be derived again from the log.
        let cosigned = try await store.newestCosignedCheckpoint()
        let newest = try await store.checkpoint(size: nil)
        let basis = cosigned ?? newest
        let treeSize = basis?.checkpoint.size ?? 0
        let scan = try await store.reportScan(
            fromMS: period.fromMS, toMS: period.toMS, treeSize: treeSize, settings: configuration.rules)
        let logSize = try await store.logSize()

        // Findings the period speaks of: seen in it, still open, or acted on in it. Their status is as it
        // stands when the report is made; one first seen before the period is marked as carried over.
        let inPeriod = try await store.findingsForReport(fromMS: period.fromMS, toMS: period.toMS)
        func handling(_ finding: Finding) -> [String: Any] {
            let first = Timestamp(rfc3339: finding.firstSeen)?.epochMilliseconds ?? 0
            return [
                "id": finding.id, "rule": ConsoleText.rule(finding.rule), "summary": finding.summaryForJapanese,
                "status": ConsoleText.status(finding.status),
                "severity": ConsoleText.severity(finding.severity), "firstSeen": ConsoleText.time(finding.firstSeen),
                "carried": first < period.fromMS,
                "history": finding.history.map {
                    [
                        "at": ConsoleText.time($0.at), "action": ConsoleText.action($0.action), "by": who($0.by),
                        "reason": $0.reason,
                    ]
                },
                "unhandled": Self.unhandled(finding),
            ]
        }
        let unhandledCritical = inPeriod.filter {
            $0.severity == "critical" && $0.status == .open && Self.unhandled($0)
        }

        // 1. Every article in order: the records that speak to it (by kind and action), and its findings.
        let articles: [[String: Any]] = Standard.articles.map { article in
            let sources = Standard.sources[article.id] ?? []
            let ruleIDs =
                (RuleInfo.all.filter { $0.article == article.id }.map(\.id)
                + (Standard.alsoJudgedBy[article.id] ?? [])).map(\.rawValue)
            let findings = inPeriod.filter { ruleIDs.contains($0.rule) }
            let counted = sources.map { source in
                (
                    label: source.actions.map {
                        $0.map { ConsoleText.eventAction($0, kind: source.kind.name) }.joined(separator: "・")
                    } ?? source.kind.label,
                    count: source.actions.map { $0.reduce(0) { $0 + scan.count(source.kind.name, $1) } }
                        ?? scan.count(source.kind.name)
                )
            }
            let events = counted.reduce(0) { $0 + $1.count }
            var note = article.outside ?? ""
            if article.id == "第9" { note = "会議の立会人による連署の状況は「記録の完全性」に示します。" }
            func count(_ status: FindingStatus, _ severity: String) -> Int {
                findings.filter { $0.status == status && $0.severity == severity }.count
            }
            let critical = findings.filter { $0.severity == "critical" }
            return [
                "id": article.id, "title": article.title, "note": note, "hasNote": !note.isEmpty,
                "speaks": !sources.isEmpty || !ruleIDs.isEmpty,
                "kinds": counted.map { "\($0.label) \($0.count) 件" }.joined(separator: "、"),
                "hasKinds": !sources.isEmpty, "events": events,
                "rules": ruleIDs.map(ConsoleText.rule).joined(separator: "、"), "hasRules": !ruleIDs.isEmpty,
                "openCritical": count(.open, "critical"), "ackCritical": count(.acknowledged, "critical"),
                "resolvedCritical": count(.resolved, "critical"), "openWarning": count(.open, "warning"),
                "ackWarning": count(.acknowledged, "warning"), "resolvedWarning": count(.resolved, "warning"),
                "critical": critical.map(handling), "hasCritical": !critical.isEmpty,
            ]
        }

        // 2. Summaries the standard asks for.
        let rooms: [[String: Any]] = scan.access.keys.sorted().map { room in
            let people = scan.access[room]!
            return [
                "room": room,
                "people": people.keys.sorted().map { person in
                    let counts = people[person]!
                    return [
                        "person": who(person), "enter": counts["enter"] ?? 0, "exit": counts["exit"] ?? 0,
                        "denied": counts["denied"] ?? 0,
                    ]
                },
            ]
        }
        let operators: [[String: Any]] = scan.operators.keys.sorted().map { id in
            let person = scan.operators[id]!
            return [
                "person": who(id), "lookups": person.lookups, "outOfHours": person.outOfHours,
                "repeatedPairs": person.repeatedPairs,
                "repeatedLookups": person.repeatedLookups, "changes": person.changes,
                "authFailures": person.authFailures,
                "flag": person.outOfHours > 0 || person.repeatedPairs > 0 || person.authFailures > 0,
            ]
        }
        /// `200 件中 200 件を表示` when a list was cut at the scan's limit.
        func cut(_ kind: String, total: Int) -> String {
            let shown = scan.listed[kind]?.count ?? 0
            return total > shown ? "\(total) 件のうち最初の \(shown) 件を示します。" : ""
        }
        func listed(_ kind: String) -> [[String: Any]] {
            (scan.listed[kind] ?? []).map {
                [
                    "time": time($0.timeMS), "agent": $0.agent,
                    "action": ConsoleText.eventAction($0.action, kind: kind), "actor": who($0.actor),
                    "subject": $0.subject,
                    "site": $0.site,
                ]
            }
        }
        func actions(_ kind: EventKind) -> [[String: Any]] {
            kind.actions.map {
                ["action": ConsoleText.eventAction($0, kind: kind.name), "count": scan.count(kind.name, $0)]
                    as [String: Any]
            }
        }
        var stock: [String: Int] = [:]
        for row in try await store.register(.stock) { stock[row["state"] ?? "", default: 0] += 1 }
        let stockLabels = ["stock": "在庫 (交付前)", "issued": "交付済", "recovered": "回収", "destroyed": "廃棄"]

        // 3. Integrity: each terminal (the hub's own chain is not one), and the checkpoint.
        let health = try await store.agentHealth().filter { $0.agent != AgentID.hub }
        let terminals: [[String: Any]] = Set(health.map(\.agent)).union(scan.byAgent.keys.filter { $0 != AgentID.hub })
            .sorted().map { agent in
                let known = health.first { $0.agent == agent }
                let trouble = scan.agentTrouble[agent] ?? ReportScan.Trouble()
                let gaps: Int64 = known?.gaps ?? 0
                let forks: Int64 = known?.forks ?? 0
                let any: Bool =
                    gaps > 0 || forks > 0 || trouble.loss > 0 || trouble.clockJumps > 0 || trouble.inconsistent > 0
                let row: [String: Any] = [
                    "agent": agent, "events": scan.byAgent[agent] ?? 0, "gaps": gaps, "lost": trouble.loss,
                    "forks": forks,
                    "clockJumps": trouble.clockJumps, "inconsistent": trouble.inconsistent,
                    "lastSeen": known.map { ConsoleText.time($0.lastSeen) } ?? "", "trouble": any,
                ]
                return row
            }
        var checkpoint: [String: Any] = ["exists": basis != nil, "cosigned": cosigned != nil]
        if let basis {
            checkpoint["origin"] = basis.checkpoint.origin
            checkpoint["size"] = basis.checkpoint.size
            checkpoint["root"] = Hex.encode(basis.checkpoint.root)
            checkpoint["keyID"] = signingKeyID(key.publicKey)
            checkpoint["issued"] = ConsoleText.time(Timestamp(date: basis.issued).rfc3339)
            checkpoint["text"] = basis.note.text
            checkpoint["later"] = max(0, logSize - basis.checkpoint.size)
            checkpoint["anyLater"] = logSize > basis.checkpoint.size
        }

        // 4. The 管理者's own actions, and critical findings that a register change closed after the fact.
        let records = try await store.query(
            try EventQuery(parameters: [
                "kind": "record", "from": Timestamp(epochMilliseconds: period.fromMS).rfc3339,
                "to": Timestamp(epochMilliseconds: period.toMS).rfc3339, "limit": "10000",
            ])
        )
        let recordsCut = records.next != nil
        let recordEvents = records.events.filter {
            $0.action != "purge" || $0.actor != "kiroku-hub" || $0.attrs["count"] != "0"
        }
        // A re-judgement that found and resolved nothing is counted, not listed.
        let idle = recordEvents.filter {
            $0.action == "rules_rejudged" && $0.attrs["found"] == "0" && $0.attrs["resolved"] == "0"
        }
        let detailNames = [
            "added": "追加", "changed": "変更", "removed": "削除", "rows": "行数", "found": "検出", "resolved": "解決",
            "reason": "理由",
            "finding": "所見", "count": "件数", "kind": "種別", "policy": "保存期間", "cutoff": "基準日", "day": "日", "hold": "保全",
            "through": "点検した日まで", "note": "所見・気づいたこと",
        ]
        let administration: [[String: Any]] = recordEvents.filter { event in !idle.contains { $0.hash == event.hash } }
            .map { event in
                [
                    "time": ConsoleText.time(event.time), "action": Self.recordAction(event.action),
                    "actor": who(event.actor),
                    "subject": event.subject,
                    "detail": CanonicalJSON.sortedKeys(event.attrs.keys).filter {
                        !$0.hasSuffix("_keys") && $0 != "sha256"
                    }
                    .map { "\(detailNames[$0] ?? $0): \(event.attrs[$0]!)" }.joined(separator: "　"),
                ]
            }
        let afterTheFact = inPeriod.filter { finding in
            finding.severity == "critical"
                && finding.history.contains {
                    $0.action == "resolved" && $0.by == "kiroku-hub"
                        && (Timestamp(rfc3339: $0.at)?.epochMilliseconds ?? 0) >= period.fromMS
                }
        }

        // 第10: the 統括者's instructions issued in the period or still unanswered at its end, with their answers.
        let directives: [[String: Any]] = try await store.register(.directives).filter {
            let (issued, answered) = ($0["issued"] ?? "", $0["answered"] ?? "")
            return issued <= BusinessCalendar.day(period.toMS - 1)
                && (issued >= BusinessCalendar.day(period.fromMS) || answered.isEmpty
                    || answered >= BusinessCalendar.day(period.fromMS))
        }.sorted { ($0["issued"] ?? "") < ($1["issued"] ?? "") }.map { row in
            let (due, answered) = (row["due"] ?? "", row["answered"] ?? "")
            let late = answered.isEmpty ? due < BusinessCalendar.day(period.toMS - 1) : answered > due
            return [
                "id": row["directive_id"] ?? "", "department": row["department"] ?? "", "content": row["content"] ?? "",
                "issued": row["issued"] ?? "", "due": due, "answered": answered.isEmpty ? "未回答" : answered,
                "flag": late,
            ]
        }

        // Outsourcing (第23–第26): the contracts that ran in the period, and the submissions made in it.
        let fromDay = BusinessCalendar.day(period.fromMS)
        let toDay = BusinessCalendar.day(period.toMS - 1)
        let contracts: [[String: Any]] = try await store.contracts(.all).filter {
            ($0["valid_from"] ?? "9999") <= toDay && fromDay <= ($0["valid_to"] ?? "")
        }.map { row in
            let settled = Register.contractClauses.filter { row[$0.column] == "yes" }
            let missing = Register.contractClauses.filter { row[$0.column] != "yes" }.map(\.article)
            let start = row["valid_from"] ?? ""
            // 第23: both steps before the work begins; a date after the start is shown as such.
            func step(_ column: String) -> (text: String, late: Bool) {
                let date = row[column] ?? ""
                return date.isEmpty ? ("なし", true) : date > start ? ("\(date) (開始後)", true) : (date, false)
            }
            let (confirmed, approved) = (step("structure_confirmed"), step("council_approved"))
            return [
                "id": row["contract_id"] ?? "", "contractor": row["contractor"] ?? "", "scope": row["scope"] ?? "",
                "span": "\(row["valid_from"] ?? "")〜\(row["valid_to"] ?? "")",
                "confirmed": confirmed.text, "approved": approved.text,
                "clauses": missing.isEmpty ? "8 / 8" : "\(settled.count) / 8 (欠: \(missing.joined(separator: "・")))",
                "flag": !missing.isEmpty || confirmed.late || approved.late,
                "cycle": (row["audit_cycle_days"] ?? "0") == "0" ? "—" : "\(row["audit_cycle_days"]!) 日",
            ]
        }
        let submissions: [[String: Any]] = try await store.submissions(.all, limit: 10_000).filter { submission in
            let at = Timestamp(rfc3339: submission.submittedAt)?.epochMilliseconds ?? 0
            return at >= period.fromMS && at < period.toMS
        }.reversed().map { s in
            let last = s.reviews.last
            return [
                "id": s.id, "contract": s.contract, "type": s.type.label, "instruction": s.instruction ?? "",
                "by": who(s.submittedBy), "at": ConsoleText.time(s.submittedAt),
                "status": ConsoleController.statusLabels[s.status] ?? s.status, "flag": s.status != "accepted",
                "review": last.map { "\(who($0.by)) \(ConsoleText.time($0.at)): \($0.reason)" } ?? "未確認",
                "files": s.files.map { "\($0.name) (SHA-256 \($0.sha256.prefix(16))…)" }.joined(separator: "、"),
            ]
        }

        let title = [period.meeting, configuration.reportTitle].compactMap { $0 }.joined(separator: " ")
        let detections = scan.count("malware") - scan.count("malware", "scan")
        return [
            "unfinished": period.toMS > nowMS, "unhandledCritical": unhandledCritical.map(handling),
            "anyUnhandledCritical": !unhandledCritical.isEmpty, "unhandledCriticalCount": unhandledCritical.count,
            "findingsAcknowledged": inPeriod.filter { $0.status == .acknowledged }.count,
            "configCut": cut("config", total: scan.count("config")), "detectionsCut": cut("malware", total: detections),
            "incidentsCut": cut("incident", total: scan.count("incident")),
            "contractorsCut": cut("contractor", total: scan.count("contractor")),
            "idleRejudges": idle.count, "anyIdleRejudges": !idle.isEmpty, "recordsCut": recordsCut,
            "fromRFC": Timestamp(epochMilliseconds: period.fromMS, offsetMinutes: Timestamp.jstOffsetMinutes).rfc3339,
            "toRFC": Timestamp(epochMilliseconds: period.toMS, offsetMinutes: Timestamp.jstOffsetMinutes).rfc3339,
            "title": title, "period": period.span, "periodName": period.name, "origin": configuration.origin,
            "made":
                "\(ConsoleText.time(Timestamp(date: Date()).rfc3339)) · \(ConsoleText.date(Timestamp(date: Date()).rfc3339))",
            "madeBy": who(viewer.identity.id), "events": scan.events,
            "findingsOpen": inPeriod.filter { $0.status == .open }.count,
            "findingsCritical": inPeriod.filter { $0.severity == "critical" }.count,
            "articles": articles, "rooms": rooms, "anyRooms": !rooms.isEmpty, "operators": operators,
            "anyOperators": !operators.isEmpty,
            "config": listed("config"), "configActions": actions(.config), "card": actions(.card),
            "residentCard": actions(.residentCard),
            "stock": ["stock", "issued", "recovered", "destroyed"].map {
                ["state": stockLabels[$0]!, "count": stock[$0] ?? 0] as [String: Any]
            },
            "malware": actions(.malware), "detections": listed("malware"),
            "anyDetections": !(scan.listed["malware"] ?? []).isEmpty,
            "incidents": listed("incident"), "anyIncidents": !(scan.listed["incident"] ?? []).isEmpty,
            "contractors": listed("contractor"), "anyContractors": !(scan.listed["contractor"] ?? []).isEmpty,
            "contracts": contracts, "anyContracts": !contracts.isEmpty, "submissions": submissions,
            "anySubmissions": !submissions.isEmpty,
            "media": listed("media"), "anyMedia": !(scan.listed["media"] ?? []).isEmpty,
            "mediaCut": cut("media", total: scan.count("media")),
            "directives": directives, "anyDirectives": !directives.isEmpty,
            "repeatedThreshold": configuration.rules.repeatedLookupsPerDay, "listLimit": scan.listLimit,
            "terminals": terminals, "checkpoint": checkpoint, "administration": administration,
            "anyAdministration": !administration.isEmpty, "afterTheFact": afterTheFact.map(handling),
            "anyAfterTheFact": !afterTheFact.isEmpty,
        ]
    }

    /// No person has acted on it since it was raised or last reopened by new evidence.
    static func unhandled(_ finding: Finding) -> Bool {
        guard let last = finding.history.last else { return true }
        return last.by == "kiroku-hub" && last.action == "reopened"
    }

    static func recordAction(_ action: String) -> String { ConsoleText.eventAction(action, kind: "record") }
}
