/// The closed vocabulary of protocol v1: every kind of record the standard asks for, with its actions and
/// the articles of 稲城市住基ネットセキュリティ対策基準 it serves. Rules and reports rely on it, so an event
/// with a kind or action outside it is refused (`invalid_event`) rather than stored unread.
public struct EventKind: Sendable, Hashable {
    public let name: String
    public let actions: [String]
    /// The articles of the standard this kind of record serves, e.g. `第12`.
    public let articles: [String]
    /// Japanese label, as the ledgers call it.
    public let label: String

    public static let access = EventKind(
        name: "access", actions: ["enter", "exit", "denied"], articles: ["第12", "第13"], label: "入退室")
    public static let operation = EventKind(
        name: "operation",
        actions: ["login", "logout", "lookup", "update", "print", "export", "auth_failure"],
        articles: ["第11", "第20", "第22"], label: "操作履歴")
    public static let card = EventKind(
        name: "card", actions: ["issue", "revoke", "pin_change", "return", "lost", "insert", "remove"],
        articles: ["第7", "第16"], label: "操作識別カード・暗証番号")
    public static let residentCard = EventKind(
        name: "residentcard", actions: ["stock_in", "store", "take_out", "issue", "recover", "destroy"],
        articles: ["第18"], label: "住基カード")
    public static let config = EventKind(
        name: "config",
        actions: [
            "device_attached", "device_removed", "program_added", "program_changed", "program_removed",
            "fw_backup",
        ],
        articles: ["第14", "第17"], label: "構成管理簿")
    /// Data, programs and documents on media, kept in their designated place (第15): taken out and returned.
    public static let media = EventKind(
        name: "media", actions: ["take_out", "return"], articles: ["第15"], label: "媒体の持出し")
    public static let malware = EventKind(
        name: "malware", actions: ["scan", "detected", "network_cut", "reported"], articles: ["第19"],
        label: "ウイルス")
    public static let incident = EventKind(
        name: "incident",
        actions: [
            "unauthorized_access", "fault", "maintenance_start", "maintenance_end", "disaster", "fire",
            "quake_shutdown", "reported", "network_cut", "recovered", "closed",
        ],
        articles: ["第22", "第26", "第27", "第28", "第29", "第30"], label: "障害・事故")
    public static let contractor = EventKind(
        name: "contractor",
        actions: ["audit_submitted", "audit_reviewed", "finding_opened", "finding_closed", "submitted", "reviewed"],
        articles: ["第23", "第24", "第25"], label: "委託")
    public static let agent = EventKind(
        name: "agent",
        actions: [
            "heartbeat", "loss", "clock_jump", "started", "stopped", "log_inconsistent", "log_accepted", "imported",
        ],
        articles: ["第20"],
        label: "エージェント")

    /// The hub's own records about the record: purges, legal holds (agent id `hub` only; the hub refuses
    /// this kind from agents).
    public static let record = EventKind(
        name: "record",
        actions: [
            "purge", "hold_placed", "hold_lifted", "key_rotated", "finding_acknowledged", "finding_resolved",
            "register_imported", "rules_rejudged", "shutdown_declared", "alert_sent", "manual_registered", "reviewed",
        ],
        articles: ["第20", "第21"],
        label: "記録の管理")

    /// Every kind of protocol v1.
    public static let all: [EventKind] = [
        .access, .operation, .card, .residentCard, .config, .media, .malware, .incident, .contractor, .agent, .record,
    ]

    private static let byName: [String: EventKind] = Dictionary(uniqueKeysWithValues: all.map { ($0.name, $0) })

    /// The kind with this wire name, if protocol v1 has it.
    public static func named(_ name: String) -> EventKind? { byName[name] }
}
