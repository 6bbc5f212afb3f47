import Foundation
import KirokuProtocol

/// Thresholds of the rules and the business calendar (hub configuration `rules`). Every key is optional.
public struct RuleSettings: Sendable, Equatable, Codable {
    public var calendar = BusinessCalendar()
    /// Lookups by one operator within one clock hour that make a bulk lookup (第20).
    public var bulkLookupsPerHour = 100
    /// Lookups of one subject by one operator within one day that make a repeated lookup (第20).
    public var repeatedLookupsPerDay = 5
    /// Authentication failures by one operator within ten minutes that make a burst (第22).
    public var authFailuresPer10Minutes = 5
    /// After a virus is detected: minutes to cut the network off and to report (第19③④).
    public var networkCutMinutes = 10
    public var reportMinutes = 60
    /// An agent not heard from for this long is overdue (第20②).
    public var agentOverdueMinutes = 30
    /// Clock skew beyond this is flagged (第20②).
    public var clockSkewSeconds = 300
    /// Days after its holder left by which an operator card must be returned or revoked (第16).
    public var cardReturnDays = 7
    /// Days after maintenance ends by which its work report is due (第26).
    public var workReportDays = 7
    /// Days a contractor's submission may wait for the city's review (第25).
    public var reviewDays = 14
    /// Minutes after an incident by which it must be reported to the 管理者 (第22③, 第28, 第29②, 第30②: 直ちに).
    public var incidentReportMinutes = 30
    /// Days after an incident by which its handling must be recorded as closed.
    public var incidentCloseDays = 7
    /// The purposes a lookup may give (第20①), where the source records one (`attrs.purpose`); a lookup with
    /// an empty purpose is always a finding, one with a purpose not listed here only when the list is set.
    public var lookupPurposes: [String] = []
    /// One person's operations alternating between two terminals within this many minutes (T1, T2, T1):
    /// one credential used at two terminals at once (第16④, 第20①).
    public var sharedCredentialMinutes = 10
    /// Days the record may go without a 点検 (`record/reviewed`) before it is a finding (第20②); 0 turns it off.
    public var reviewGapDays = 7

    public init() {}

    enum CodingKeys: String, CodingKey, CaseIterable {
        case calendar
        case bulkLookupsPerHour = "bulk_lookups_per_hour"
        case repeatedLookupsPerDay = "repeated_lookups_per_day"
        case authFailuresPer10Minutes = "auth_failures_per_10_minutes"
        case networkCutMinutes = "network_cut_minutes"
        case reportMinutes = "report_minutes"
        case agentOverdueMinutes = "agent_overdue_minutes"
        case clockSkewSeconds = "clock_skew_seconds"
        case cardReturnDays = "card_return_days"
        case workReportDays = "work_report_days"
        case reviewDays = "review_days"
        case incidentReportMinutes = "incident_report_minutes"
        case incidentCloseDays = "incident_close_days"
        case lookupPurposes = "lookup_purposes"
        case sharedCredentialMinutes = "shared_credential_minutes"
        case reviewGapDays = "review_gap_days"
    }

    public init(from decoder: any Decoder) throws {
        try decoder.refuseUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        var d = RuleSettings()
        d.calendar = try c.decodeIfPresent(BusinessCalendar.self, forKey: .calendar) ?? d.calendar
        d.bulkLookupsPerHour = try c.decodeIfPresent(Int.self, forKey: .bulkLookupsPerHour) ?? d.bulkLookupsPerHour
        d.repeatedLookupsPerDay =
            try c.decodeIfPresent(Int.self, forKey: .repeatedLookupsPerDay) ?? d.repeatedLookupsPerDay
        d.authFailuresPer10Minutes =
            try c.decodeIfPresent(Int.self, forKey: .authFailuresPer10Minutes) ?? d.authFailuresPer10Minutes
        d.networkCutMinutes = try c.decodeIfPresent(Int.self, forKey: .networkCutMinutes) ?? d.networkCutMinutes
        d.reportMinutes = try c.decodeIfPresent(Int.self, forKey: .reportMinutes) ?? d.reportMinutes
        d.agentOverdueMinutes = try c.decodeIfPresent(Int.self, forKey: .agentOverdueMinutes) ?? d.agentOverdueMinutes
        d.clockSkewSeconds = try c.decodeIfPresent(Int.self, forKey: .clockSkewSeconds) ?? d.clockSkewSeconds
        d.cardReturnDays = try c.decodeIfPresent(Int.self, forKey: .cardReturnDays) ?? d.cardReturnDays
        d.workReportDays = try c.decodeIfPresent(Int.self, forKey: .workReportDays) ?? d.workReportDays
        d.reviewDays = try c.decodeIfPresent(Int.self, forKey: .reviewDays) ?? d.reviewDays
        d.incidentReportMinutes =
            try c.decodeIfPresent(Int.self, forKey: .incidentReportMinutes) ?? d.incidentReportMinutes
        d.incidentCloseDays = try c.decodeIfPresent(Int.self, forKey: .incidentCloseDays) ?? d.incidentCloseDays
        d.lookupPurposes = try c.decodeIfPresent([String].self, forKey: .lookupPurposes) ?? d.lookupPurposes
        d.sharedCredentialMinutes =
            try c.decodeIfPresent(Int.self, forKey: .sharedCredentialMinutes) ?? d.sharedCredentialMinutes
        d.reviewGapDays = try c.decodeIfPresent(Int.self, forKey: .reviewGapDays) ?? d.reviewGapDays
        guard d.lookupPurposes.allSatisfy({ !$0.trimmingCharacters(in: .whitespaces).isEmpty }) else {
            throw KirokuError(.configuration, "rules.lookup_purposes: a purpose must not be empty")
        }
        guard (1...1440).contains(d.sharedCredentialMinutes) else {
            throw KirokuError(.configuration, "rules.shared_credential_minutes must be 1 to 1440 (minutes)")
        }
        guard (0...366).contains(d.reviewGapDays) else {
            throw KirokuError(.configuration, "rules.review_gap_days must be 0 (off) to 366")
        }
        // A count of 0 would make every lookup (or failure) a finding, and the report's figures disagree with it.
        for (name, value) in [
            ("bulk_lookups_per_hour", d.bulkLookupsPerHour), ("repeated_lookups_per_day", d.repeatedLookupsPerDay),
            ("auth_failures_per_10_minutes", d.authFailuresPer10Minutes),
        ] where value < 1 {
            throw KirokuError(.configuration, "rules.\(name) must be 1 or more, not \(value)")
        }
        self = d
    }
}

/// The rules, by the id a finding carries: `Finding.rule` on the wire and `findings.rule` in the store are its raw
/// value. An enum so that a rule named in the engine, a filter or a test is one the hub has (a typo does not
/// compile); the wire stays a string, so that a client older than a new rule still reads its findings.
public enum RuleID: String, Sendable, CaseIterable, Codable {
    case outOfHours = "out_of_hours"
    case bulkLookups = "bulk_lookups"
    case repeatedLookups = "repeated_lookups"
    case authFailureBurst = "auth_failure_burst"
    case entryWithoutExit = "entry_without_exit"
    case operationAfterCardRemoval = "operation_after_card_removal"
    case malwareNotContained = "malware_not_contained"
    case entryWithoutPermit = "entry_without_permit"
    case cardMisuse = "card_misuse"
    case unapprovedDevice = "unapproved_device"
    case unapprovedProgram = "unapproved_program"
    case maintenanceWithoutInstruction = "maintenance_without_instruction"
    case maintenanceByUnnamed = "maintenance_by_unnamed"
    case contractUnapproved = "contract_unapproved"
    case contractClauses = "contract_clauses"
    case siteAuditOverdue = "site_audit_overdue"
    case workReportMissing = "work_report_missing"
    case submissionUnreviewed = "submission_unreviewed"
    case incidentNotReported = "incident_not_reported"
    case incidentNotClosed = "incident_not_closed"
    case watchlistLookup = "watchlist_lookup"
    case lookupPurpose = "lookup_purpose"
    case sharedCredential = "shared_credential"
    case cardHolderAbsent = "card_holder_absent"
    case mediaNotReturned = "media_not_returned"
    case directiveOverdue = "directive_overdue"
    case lookupOutsideAssignment = "lookup_outside_assignment"
    case registerBackdated = "register_backdated"
    case recordUnreviewed = "record_unreviewed"
    case cardNotReturned = "card_not_returned"
    case residentCardHandling = "resident_card_handling"
    case agentIntegrity = "agent_integrity"

    /// What the rule finds, the article it serves, how serious.
    public var info: RuleInfo { RuleInfo.byID[self]! }
}

/// A rule: what it finds, the article it serves, how serious.
public struct RuleInfo: Sendable, Codable, Equatable {
    public var id: RuleID
    public var article: String
    public var severity: String
    public var description: String
    /// The same in Japanese (`GET /v1/rules` carries both as `description` and `description_ja`).
    public var descriptionJa: String {
        switch id {
        case .outOfHours:
            "開庁時間外・土日・祝日・年末年始の操作 (ログイン、照会、更新、印刷、出力)"
        case .bulkLookups:
            "一人の操作者が 1 時間に bulk_lookups_per_hour を超える住民を照会"
        case .repeatedLookups:
            "一人の操作者が同じ対象を 1 日に repeated_lookups_per_day 回以上照会"
        case .authFailureBurst:
            "一人の操作者の認証失敗が 10 分間に auth_failures_per_10_minutes 回以上"
        case .entryWithoutExit:
            "部屋への入室に、その日のうちの同じ人の退室の記録がない"
        case .operationAfterCardRemoval:
            "操作識別カードを抜いたあと、次のカードを挿すまでの端末の操作 (第16⑤)"
        case .malwareNotContained:
            "ウイルス検出後 network_cut_minutes 分以内の遮断、または report_minutes 分以内の報告がない (第19③④)"
        case .entryWithoutPermit:
            "その日その部屋に有効な許可 (入退室許可の台帳) のない人の入室 (第12②)"
        case .cardMisuse:
            "失効・紛失・返却後の操作識別カードの使用、または台帳の保持者以外による使用"
        case .unapprovedDevice:
            "機器の台帳 (構成管理簿) がその端末に承認していない USB 機器の接続 (取り外しで分かったものも) (第17①)"
        case .unapprovedProgram:
            "プログラムの台帳 (構成管理簿) に一致しないプログラムの追加・変更、台帳にあるプログラムの削除 (第14⑤, 第17②③)"
        case .maintenanceWithoutInstruction:
            "その日・その機器に有効な作業指示書のない保守の開始"
        case .cardNotReturned:
            "保持者の異動・退職から card_return_days 日を過ぎても有効な操作識別カード"
        case .residentCardHandling:
            "在庫にない住基カードの交付、回収されていないカードの廃棄、方法の記録のない廃棄 (第18②)"
        case .maintenanceByUnnamed:
            "作業指示書を出した受託者の契約に名のない人による保守 (第26)"
        case .contractUnapproved:
            "受託者の管理体制の確認 (第23⑴) または個人情報保護運営審議会の承認 (第23⑵) が契約開始前にない委託契約"
        case .contractClauses:
            "第24 の八つの事項のいずれかを定めていない委託契約"
        case .siteAuditOverdue:
            "契約の周期 (audit_cycle_days) を過ぎても受託者の実施状況報告が提出されていない (第25)"
        case .workReportMissing:
            "保守の終了から work_report_days 日以内に作業報告が提出されていない (第26)"
        case .submissionUnreviewed:
            "受託者の提出が review_days 日を過ぎても確認 (受理・差戻し) されていない (第25)"
        case .incidentNotReported:
            "不正アクセス・障害・災害・火災・地震等による終了が incident_report_minutes 分以内に管理者へ報告されていない (第22③, 第28, 第29②, 第30②)"
        case .incidentNotClosed:
            "障害・事故が incident_close_days 日を過ぎても対応完了 (closed) になっていない (第27, 第28)"
        case .watchlistLookup:
            "注意対象者の台帳 (職員本人・親族、著名人、DV等支援措置対象者) にある住民の照会・更新・印刷・出力 (第20①)"
        case .lookupPurpose:
            "照会の目的が空、または lookup_purposes にない目的での照会 (記録元が目的を記録する場合) (第20①)"
        case .sharedCredential:
            "一人の操作者の操作が shared_credential_minutes 分以内に二つの端末を行き来している (一つの資格情報を二か所で同時に使用) (第16④, 第20①)"
        case .cardHolderAbsent:
            "入退室管理された部屋の端末に、保持者が他の部屋にいる・退室している・同日に入室していない操作識別カードが挿入された (資格情報の共用) (第16④)"
        case .mediaNotReturned:
            "保管場所から持ち出した媒体 (データ・プログラム・ドキュメント) が、その日のうちに返却されていない (第15)"
        case .directiveOverdue:
            "統括者の関係部署への指示に、期限を過ぎても回答がない (関係部署への指示の台帳) (第10)"
        case .lookupOutsideAssignment:
            "事務分掌の台帳でその日その端末・場所を担当していない人の照会・更新・印刷・出力 (台帳に担当のない人も) (第20①)"
        case .registerBackdated:
            "有効開始日が登録日より前の入退室許可・作業指示書の登録 (事後許可) (第9②)"
        case .recordUnreviewed:
            "記録の点検 (kirokuctl review) が review_gap_days 日を超えて行われていない (第20②)"
        case .agentIntegrity:
            "端末の連絡途絶 (開庁時間で数え、停止の申告・宣言された停止・第30 の終了を除く)、連番の欠け、分岐、欠落の申告、連鎖の再開始、時計の飛び・ずれ、以前の履歴に続かないログ (第20②)"
        }
    }

    enum CodingKeys: String, CodingKey {
        case id, article, severity, description
        case descriptionJa = "description_ja"
    }

    public init(id: RuleID, article: String, severity: String, description: String) {
        self.id = id
        self.article = article
        self.severity = severity
        self.description = description
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            id: try c.decode(RuleID.self, forKey: .id), article: try c.decode(String.self, forKey: .article),
            severity: try c.decode(String.self, forKey: .severity),
            description: try c.decode(String.self, forKey: .description))
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(id, forKey: .id)
        try c.encode(article, forKey: .article)
        try c.encode(severity, forKey: .severity)
        try c.encode(description, forKey: .description)
        try c.encode(descriptionJa, forKey: .descriptionJa)
    }

    public static let all: [RuleInfo] = [
        .init(
            id: .outOfHours, article: "第20", severity: "warning",
            description:
                "operations (login, lookup, update, print, export) outside business hours, on weekends, 祝日 or 年末年始"),
        .init(
            id: .bulkLookups, article: "第20", severity: "warning",
            description: "one operator looking up more residents in one hour than bulk_lookups_per_hour"),
        .init(
            id: .repeatedLookups, article: "第20", severity: "warning",
            description: "one operator looking up the same subject repeated_lookups_per_day times or more in a day"),
        .init(
            id: .authFailureBurst, article: "第22", severity: "critical",
            description:
                "auth_failures_per_10_minutes or more authentication failures by one operator within ten minutes"),
        .init(
            id: .entryWithoutExit, article: "第12", severity: "warning",
            description: "an entry to a room with no exit by the same person by the end of that day"),
        .init(
            id: .operationAfterCardRemoval, article: "第16", severity: "critical",
            description:
                "operations on a terminal after its operator card was removed, before another was inserted (第16⑤)"),
        .init(
            id: .malwareNotContained, article: "第19", severity: "critical",
            description:
                "a virus detected without a network cut-off within network_cut_minutes or a report within report_minutes (第19③④)"
        ),
        .init(
            id: .entryWithoutPermit, article: "第12", severity: "critical",
            description:
                "an entry to a room by someone without a permit valid for it that day in the permits register (第12②)"),
        .init(
            id: .cardMisuse, article: "第16", severity: "critical",
            description:
                "an operator card used after it was revoked, lost or returned, or by someone not its holder in the cards register"
        ),
        .init(
            id: .unapprovedDevice, article: "第14", severity: "critical",
            description:
                "a USB device attached to (or found on removal from) a terminal that the devices register (構成管理簿) does not approve for it (第17①)"
        ),
        .init(
            id: .unapprovedProgram, article: "第14", severity: "critical",
            description:
                "a program added or changed on a terminal without a matching entry (path or package, SHA-256 or version) in the programs register, or removed while the register keeps it there (第14⑤, 第17②③)"
        ),
        .init(
            id: .maintenanceWithoutInstruction, article: "第26", severity: "critical",
            description:
                "maintenance started without an instruction in the maintenance register valid for that day and equipment"
        ),
        .init(
            id: .maintenanceByUnnamed, article: "第26", severity: "critical",
            description:
                "maintenance under a valid instruction by someone whom no running contract of the instruction's contractor names (contracts register, people)"
        ),
        .init(
            id: .contractUnapproved, article: "第23", severity: "critical",
            description:
                "a contract without the confirmation of the contractor's management (第23⑴) or the council's approval (第23⑵) dated on or before its start"
        ),
        .init(
            id: .contractClauses, article: "第24", severity: "critical",
            description: "a contract that does not settle all eight matters of 第24 (contracts register)"),
        .init(
            id: .siteAuditOverdue, article: "第25", severity: "warning",
            description: "no site-audit report from a running contract's contractor within its audit_cycle_days"),
        .init(
            id: .workReportMissing, article: "第26", severity: "warning",
            description:
                "maintenance under an instruction ended without a work report submitted within work_report_days"),
        .init(
            id: .submissionUnreviewed, article: "第25", severity: "warning",
            description: "a contractor's submission not accepted or returned within review_days"),
        .init(
            id: .incidentNotReported, article: "第28", severity: "critical",
            description:
                "an unauthorized access (第22③), fault, disaster (第28), fire (第29②) or 第30 shutdown not reported to the 管理者 (incident/reported) within incident_report_minutes"
        ),
        .init(
            id: .incidentNotClosed, article: "第27", severity: "warning",
            description: "an incident without incident/closed within incident_close_days"),
        .init(
            id: .watchlistLookup, article: "第20", severity: "critical",
            description:
                "a lookup, update, print or export of a resident on the watch-list register (staff and their family, public figures, residents under DV support measures); named by the entry, never the resident (第20①)"
        ),
        .init(
            id: .lookupPurpose, article: "第20", severity: "warning",
            description:
                "a lookup with an empty purpose, or a purpose not in lookup_purposes, where the source records one (attrs.purpose) (第20①)"
        ),
        .init(
            id: .sharedCredential, article: "第16", severity: "critical",
            description:
                "one operator's operations alternating between two terminals within shared_credential_minutes: one credential used at two places at once (第16④, 第20①)"
        ),
        .init(
            id: .cardHolderAbsent, article: "第16", severity: "critical",
            description:
                "an operator card inserted at a terminal in an access-controlled room while the record shows its holder (cards register) in another room, gone out of that room, or — others having entered it that day — never in it (第16④)"
        ),
        .init(
            id: .mediaNotReturned, article: "第15", severity: "warning",
            description:
                "a medium (data, programs, documents) taken out of its designated place and not returned by the end of that day (第15)"
        ),
        .init(
            id: .directiveOverdue, article: "第10", severity: "warning",
            description:
                "an instruction of the 統括者 to a department (directives register) without an answer by its due day (第10)"
        ),
        .init(
            id: .lookupOutsideAssignment, article: "第20", severity: "warning",
            description:
                "a lookup, update, print or export by someone whom the assignments register does not assign, that day, to the terminal or its site (nor to anything at all) (第20①)"
        ),
        .init(
            id: .registerBackdated, article: "第9", severity: "warning",
            description:
                "a permit or maintenance instruction imported with a validity that starts before the day it was imported (事後許可) (第9②)"
        ),
        .init(
            id: .recordUnreviewed, article: "第20", severity: "warning",
            description: "the record has gone without a 点検 (kirokuctl review) for more than review_gap_days days (第20②)"
        ),
        .init(
            id: .cardNotReturned, article: "第16", severity: "warning",
            description:
                "an operator card still active card_return_days after its holder left (people and cards registers)"),
        .init(
            id: .residentCardHandling, article: "第18", severity: "critical",
            description:
                "a 住基カード issued that the stock register does not hold in stock, destroyed when not recovered, or destroyed without a method (第18②)"
        ),
        .init(
            id: .agentIntegrity, article: "第20", severity: "critical",
            description:
                "an agent quiet for agent_overdue_minutes of business hours (not when its last event is agent/stopped, a declared shutdown covers it, or after a 第30 shutdown), with a sequence gap, a fork, a declared loss, a new chain epoch, clock jumps or clock skew, or shown a log that does not extend what it saw before (第20②)"
        ),
    ]

    /// The rule of that id, or nil for a name the hub does not know (a filter typed by a person).
    public static func named(_ id: String) -> RuleInfo? { RuleID(rawValue: id)?.info }

    static let byID = Dictionary(uniqueKeysWithValues: all.map { ($0.id, $0) })
}
