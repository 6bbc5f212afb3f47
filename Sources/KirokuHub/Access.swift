import Foundation
import KirokuProtocol

/// People's roles and what each may do on the hub (PROTOCOL.md §11). A person certificate
/// says who someone is (`kiroku:person:ID`); what they may do comes from the `people` register, whose
/// `role` column names one or more of these roles by id or by label (`;` between several).
///
/// The roles are those the standard sets up: 統括者 (第3), 副統括者 (第4), 管理者 (第5), 運用管理者 (第6),
/// 暗証番号管理者 (第7), the members of the 会議 (第9③), 受託者 (contractors, 第23–第26) and 操作者.
public enum StaffRole: String, Sendable, CaseIterable, Codable {
    case chief
    case deputyChief = "deputy_chief"
    case administrator
    case operationsManager = "operations_manager"
    case pinManager = "pin_manager"
    case meeting
    case contractor
    case `operator`

    /// The standard's own names, the default labels.
    public var standardLabel: String {
        switch self {
        case .chief: "統括者"
        case .deputyChief: "副統括者"
        case .administrator: "管理者"
        case .operationsManager: "運用管理者"
        case .pinManager: "暗証番号管理者"
        case .meeting: "会議"
        case .contractor: "受託者"
        case .operator: "操作者"
        }
    }

    /// What the role may do. Everyone from the 会議's membership (第9③: 統括者, 副統括者, 管理者,
    /// 暗証番号管理者, 運用管理者 and the 部長) reads the whole record and may cosign it as a witness;
    /// contractors and operators see their own record only.
    public var permissions: Set<Permission> {
        let member: Set<Permission> = [.readRecord, .cosign]
        switch self {
        case .chief, .deputyChief, .administrator:
            // 第12②, 第14⑤, 第26 (registers); 第21 (holds for investigations); findings.
            return member.union([
                .actOnFindings, .manageRetention, .reviewSubmissions, .declareShutdowns, .registerManuals,
            ]).union(Register.allCases.map { .writeRegister($0) })
        case .operationsManager:
            // 第6, 第18 (住基カード), 第25, 第30 (管理者等 end the system).
            return member.union([.actOnFindings, .writeRegister(.stock), .reviewSubmissions, .declareShutdowns])
        case .pinManager:
            return member.union([.writeRegister(.cards)])  // 第7, 第16 (操作識別カード)
        case .meeting:
            return member
        case .contractor:
            // Their own record, and submissions for the contracts that name them (第25, 第26).
            return [.ownRecord, .submitDocuments]
        case .operator:
            return [.ownRecord]
        }
    }
}

/// One thing a person may be allowed to do on the hub.
public enum Permission: Sendable, Hashable, CustomStringConvertible {
    /// The whole record: events, agents, findings, registers, holds, evidence, metrics.
    case readRecord
    /// Only events where the person is the actor (and their evidence).
    case ownRecord
    /// Hand the hub a witness cosignature.
    case cosign
    /// Acknowledge and resolve findings.
    case actOnFindings
    /// Place and lift legal holds, run the purge.
    case manageRetention
    /// Replace a register from CSV.
    case writeRegister(Register)
    /// Submit documents for the contracts that name one (a 受託者).
    case submitDocuments
    /// Accept or return contractors' submissions (第25).
    case reviewSubmissions
    /// Declare a shutdown in advance, so that the terminals it names are not taken for lost (第30).
    case declareShutdowns
    /// Register the 対応マニュアル of an incident type (第22②, 第27: the 管理者 makes them).
    case registerManuals

    public var description: String {
        switch self {
        case .readRecord: "read the record"
        case .ownRecord: "read one's own record"
        case .cosign: "cosign checkpoints"
        case .actOnFindings: "acknowledge and resolve findings"
        case .manageRetention: "manage legal holds and the purge"
        case .writeRegister(let register): "replace the \(register.rawValue) register"
        case .submitDocuments: "submit documents for a contract"
        case .reviewSubmissions: "review contractors' submissions"
        case .declareShutdowns: "declare shutdowns"
        case .registerManuals: "register incident manuals"
        }
    }

    /// The same in Japanese, for people who read it (`/v1/me`'s `permissions_ja`, `kirokuctl whoami`).
    public var japanese: String {
        switch self {
        case .readRecord: "記録を閲覧する"
        case .ownRecord: "自分の記録を閲覧する"
        case .cosign: "チェックポイントに連署する"
        case .actOnFindings: "所見を確認・解決する"
        case .manageRetention: "保全と消去を管理する"
        case .writeRegister(let register): "台帳 \(register.rawValue) を置き換える"
        case .submitDocuments: "契約について書類を提出する"
        case .reviewSubmissions: "受託者の提出物を確認する"
        case .declareShutdowns: "停止を届け出る"
        case .registerManuals: "事故の対応マニュアルを登録する"
        }
    }
}

/// The names people's roles go by in the register: the standard's by default, a municipality's own where
/// configured (`role_labels` in the hub's configuration, e.g. `{"administrator": "情報政策課長"}`). The
/// role ids themselves are always understood.
public struct RoleLabels: Sendable, Equatable, Codable {
    public var labels: [StaffRole: String]

    public init(_ custom: [StaffRole: String] = [:]) {
        var labels: [StaffRole: String] = [:]
        for role in StaffRole.allCases { labels[role] = custom[role] ?? role.standardLabel }
        self.labels = labels
    }

    public init(from decoder: any Decoder) throws {
        let raw = try decoder.singleValueContainer().decode([String: String].self)
        var custom: [StaffRole: String] = [:]
        for (name, label) in raw {
            guard let role = StaffRole(rawValue: name) else {
                throw KirokuError(
                    .configuration,
                    "role_labels: unknown role '\(name)'; roles are \(StaffRole.allCases.map(\.rawValue).joined(separator: ", "))"
                )
            }
            guard !label.isEmpty, !label.contains(";") else {
                throw KirokuError(.configuration, "role_labels: the label of \(name) must be non-empty and without ';'")
            }
            custom[role] = label
        }
        self.init(custom)
        guard Set(labels.values).count == labels.count else {
            throw KirokuError(.configuration, "role_labels: two roles have the same label")
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(Dictionary(uniqueKeysWithValues: labels.map { ($0.key.rawValue, $0.value) }))
    }

    /// The roles a register cell names (`管理者;会議`), or nil if one of them is unknown.
    public func roles(_ cell: String) -> [StaffRole]? {
        var roles: [StaffRole] = []
        for part in cell.split(separator: ";").map({ $0.trimmingCharacters(in: .whitespaces) }) where !part.isEmpty {
            guard let role = StaffRole(rawValue: part) ?? labels.first(where: { $0.value == part })?.key else {
                return nil
            }
            roles.append(role)
        }
        return roles.isEmpty ? nil : roles
    }

    /// For error messages: `管理者 (administrator), …`.
    public var known: String {
        StaffRole.allCases.map { "\(labels[$0]!) (\($0.rawValue))" }.joined(separator: ", ")
    }
}

/// Who a person certificate belongs to, as the people register has them.
public struct Staff: Sendable, Equatable {
    public var id: String
    public var roles: [StaffRole]
    public var permissions: Set<Permission>

    public init(id: String, roles: [StaffRole]) {
        self.id = id
        self.roles = roles
        self.permissions = roles.reduce(into: Set<Permission>()) { $0.formUnion($1.permissions) }
    }
}
