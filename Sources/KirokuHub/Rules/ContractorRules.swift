import Foundation
import GRDB
import KirokuProtocol

/// The rules on outsourcing (第23–第26): the contracts register against the standard, site audits due by
/// each contract's cycle, work reports after maintenance, submissions waiting for the city's review, and
/// maintenance by someone the instruction's contractor does not name. Judged from the registers, the
/// submissions and the record at every sweep; each finding is resolved once what it lacked is there.
extension RuleEngine {
    static func contractors(_ db: Database, _ settings: RuleSettings, _ nowMS: Int64) throws {
        let contracts = try HubStore.rows(.contracts, db: db)
        let today = BusinessCalendar.day(nowMS)
        var judged: [RuleID: Set<String>] = [:]
        // Findings of a window-bound check are resolved only when what they lacked is found, not when the item
        // leaves the window (a contract that ended, maintenance long past).
        var satisfied: [RuleID: Set<String>] = [:]
        func raise(_ rule: RuleID, _ key: String, at: Int64, evidence: [String] = [], _ text: FindingText) throws {
            judged[rule, default: []].insert(key)
            try FindingTable.raise(
                db, rule: rule, key: key, count: .set(1), first: at, last: at, evidence: evidence, nowMS: nowMS
            ) { _ in text }
        }
        for contract in contracts {
            let id = contract["contract_id"] ?? ""
            let contractor = contract["contractor"] ?? ""
            let start = contract["valid_from"] ?? ""
            let startMS = Timestamp(rfc3339: "\(start)T00:00:00.000+09:00")?.epochMilliseconds ?? nowMS
            // 第23: both steps before the work begins.
            var missing: [FindingText] = []
            for (column, en, ja) in [
                (
                    "structure_confirmed", "the contractor's management of the information confirmed (第23⑴)",
                    "受託者の管理体制の確認 (第23⑴)"
                ),
                ("council_approved", "the approval of the 個人情報保護運営審議会 (第23⑵)", "個人情報保護運営審議会の承認 (第23⑵)"),
            ] {
                let date = contract[column] ?? ""
                if date.isEmpty {
                    missing.append(FindingText(en: "no date for \(en)", ja: "\(ja)の日付がない"))
                } else if date > start {
                    missing.append(FindingText(en: "\(en) only on \(date)", ja: "\(ja)が \(date) で開始後"))
                }
            }
            if !missing.isEmpty {
                try raise(
                    .contractUnapproved, id, at: startMS,
                    FindingText(joining: missing).after(
                        FindingText(
                            en: "contract \(id) with \(contractor) from \(start)",
                            ja: "\(contractor) との委託契約 \(id) (\(start) から)")))
            }
            // 第24: the eight matters the contract must settle.
            let absent = Register.contractClauses.filter { contract[$0.column] != "yes" }
            if !absent.isEmpty {
                try raise(
                    .contractClauses, id, at: startMS,
                    FindingText(
                        en:
                            "contract \(id) with \(contractor) does not settle \(absent.map(\.article).joined(separator: ", "))",
                        ja:
                            "\(contractor) との委託契約 \(id) に定めのない事項: \(absent.map { "\($0.article) \($0.label)" }.joined(separator: "、"))"
                    ))
            }
            // 第25: a site-audit report each cycle while the contract runs.
            let cycle = Int64(contract["audit_cycle_days"] ?? "") ?? 0
            if cycle > 0, start <= today, today <= (contract["valid_to"] ?? "") {
                let last = try Int64.fetchOne(
                    db,
                    sql:
                        "SELECT max(submitted_ms) FROM submissions WHERE contract = ? AND type = 'site_audit' AND status != 'returned'",
                    arguments: [id])
                let dueMS = (last ?? startMS) + cycle * 86_400_000
                if dueMS >= nowMS { satisfied[.siteAuditOverdue, default: []].insert(id) }
                if dueMS < nowMS {
                    let due = BusinessCalendar.day(dueMS)
                    try raise(
                        .siteAuditOverdue, id, at: dueMS,
                        FindingText(
                            en:
                                "no site-audit report for contract \(id) (\(contractor)) since it was due on \(due) (every \(cycle) days)",
                            ja: "委託契約 \(id) (\(contractor)) の実施状況報告が期限 \(due) を過ぎても提出されていない (\(cycle) 日ごと)"))
                }
            }
        }
        // Submissions left waiting for the city's review.
        let reviewMS = Int64(settings.reviewDays) * 86_400_000
        for row in try GRDB.Row.fetchAll(
            db,
            sql:
                "SELECT id, contract, type, submitted_by, submitted_ms, event FROM submissions WHERE status = 'submitted' AND submitted_ms < ?",
            arguments: [nowMS - reviewMS])
        {
            let id: Int64 = row[0]
            let type = SubmissionType(rawValue: row[2])?.label ?? (row[2] as String)
            try raise(
                .submissionUnreviewed, String(id), at: row[4], evidence: [row[5]],
                FindingText(
                    en:
                        "submission \(id) (\(row[2] as String), contract \(row[1] as String), by \(row[3] as String) on \(BusinessCalendar.day(row[4]))) has not been reviewed in \(settings.reviewDays) days",
                    ja:
                        "提出 \(id) (\(type)、委託契約 \(row[1] as String)、\(row[3] as String) が \(BusinessCalendar.day(row[4])) に提出) が \(settings.reviewDays) 日を過ぎても確認されていない"
                ))
        }
        try workReports(db, settings, nowMS, satisfied: { satisfied[.workReportMissing, default: []].insert($0) }) {
            rule, key, at, evidence, text in
            try raise(rule, key, at: at, evidence: evidence, text)
        }
        // What is no longer so is resolved.
        for rule in [
            RuleID.contractUnapproved, .contractClauses, .siteAuditOverdue, .submissionUnreviewed,
            .workReportMissing,
        ] {
            let windowed = rule == .siteAuditOverdue || rule == .workReportMissing
            for key in try String.fetchAll(
                db, sql: "SELECT key FROM findings WHERE rule = ? AND status != 'resolved'", arguments: [rule.rawValue])
            where !(judged[rule]?.contains(key) ?? false) && (!windowed || satisfied[rule]?.contains(key) == true) {
                try FindingTable.clear(
                    db, rule: rule, key: key, reason: "必要な記録・提出・確認がそろった (what was lacking is now recorded)",
                    nowMS: nowMS)
            }
        }
    }

    /// Maintenance ended some days ago without a work report (第26) on its instruction: the instruction is
    /// the end's own, or that of the last start by the same person on the same equipment.
    static func workReports(
        _ db: Database, _ settings: RuleSettings, _ nowMS: Int64, satisfied: (String) -> Void,
        raise: (RuleID, String, Int64, [String], FindingText) throws -> Void
    ) throws {
        let days = Int64(settings.workReportDays)
        var ends = try GRDB.Row.fetchAll(
            db,
            sql: """
                SELECT agent, seq, time_ms, actor, subject, attrs FROM events WHERE kind = 'incident' AND action = 'maintenance_end'
                AND time_ms BETWEEN ? AND ?
                """, arguments: [nowMS - (days + 90) * 86_400_000, nowMS - days * 86_400_000])
        // And the ends of findings still open, however old: a report that comes late resolves them too.
        let inWindow = Set(ends.map { "\($0[0] as String)|\($0[1] as Int64)" })
        for key in try String.fetchAll(
            db, sql: "SELECT key FROM findings WHERE rule = ? AND status != 'resolved'",
            arguments: [RuleID.workReportMissing.rawValue])
        where !inWindow.contains(key) {
            guard let bar = key.lastIndex(of: "|"), let seq = Int64(key[key.index(after: bar)...]) else { continue }
            ends += try GRDB.Row.fetchAll(
                db, sql: "SELECT agent, seq, time_ms, actor, subject, attrs FROM events WHERE agent = ? AND seq = ?",
                arguments: [String(key[..<bar]), seq])
        }
        for end in ends {
            let (agent, seq, at, actor, subject): (String, Int64, Int64, String, String) = (
                end[0], end[1], end[2], end[3], end[4]
            )
            var instruction =
                (try? JSONDecoder().decode([String: String].self, from: Data((end[5] as String).utf8)))?["instruction"]
                ?? ""
            if instruction.isEmpty,
                let attrs = try String.fetchOne(
                    db,
                    sql: """
                        SELECT attrs FROM events WHERE agent = ? AND seq < ? AND kind = 'incident' AND action = 'maintenance_start'
                        AND actor = ? AND subject = ? ORDER BY seq DESC LIMIT 1
                        """, arguments: [agent, seq, actor, subject])
            {
                instruction =
                    (try? JSONDecoder().decode([String: String].self, from: Data(attrs.utf8)))?["instruction"] ?? ""
            }
            guard !instruction.isEmpty else { continue }  // maintenance_without_instruction says so already
            let reported =
                try Bool.fetchOne(
                    db,
                    sql:
                        "SELECT EXISTS(SELECT 1 FROM submissions WHERE type = 'work_report' AND instruction = ? AND status != 'returned')",
                    arguments: [instruction]) ?? false
            guard !reported else {
                satisfied("\(agent)|\(seq)")
                continue
            }
            let day = BusinessCalendar.day(at)
            try raise(
                .workReportMissing, "\(agent)|\(seq)", at, ["\(agent)/\(seq)"],
                FindingText(
                    en:
                        "maintenance of \(subject) by \(actor) under \(instruction) ended on \(day) and no work report was submitted within \(days) days",
                    ja: "\(actor) が指示書 \(instruction) で行った \(subject) の保守が \(day) に終わり、\(days) 日以内に作業報告が提出されていない"))
        }
    }

    /// The people a maintenance instruction's contractor has on its contracts (nil when the contracts
    /// register names none for it: then nobody is judged).
    static func contractorPeople(_ contracts: [RegisterRow], contractor: String, day: String) -> Set<String>? {
        let people = contracts.filter {
            $0["contractor"] == contractor && ($0["valid_from"] ?? "9999") <= day && day <= ($0["valid_to"] ?? "")
        }
        .flatMap { HubStore.people($0["people"] ?? "") }
        return people.isEmpty ? nil : Set(people)
    }
}
