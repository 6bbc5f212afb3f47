import KirokuProtocol

/// The 31 articles of 稲城市住基ネットセキュリティ対策基準, in order, with their headings, and what the record
/// can say of each: the kinds of event that serve it (``EventKind/articles``), the rules that judge it
/// (``RuleInfo/article``), or why it is not a matter of the record.
enum Standard {
    struct Article {
        var id: String
        var title: String
        /// Why the record cannot speak to it (organisation, definitions, rules of the city), or nil.
        var outside: String?
    }

    static let articles: [Article] = [
        Article(id: "第1", title: "目的", outside: "基準の目的を定める条項で、記録の対象ではありません。"),
        Article(id: "第2", title: "定義", outside: "用語の定義で、記録の対象ではありません。"),
        Article(id: "第3", title: "住基ネット統括者", outside: "体制の定めです。職員台帳 (people) の役割として記録されています。"),
        Article(id: "第4", title: "住基ネット副統括者", outside: "体制の定めです。職員台帳 (people) の役割として記録されています。"),
        Article(id: "第5", title: "住基ネット管理者", outside: "体制の定めです。職員台帳 (people) の役割として記録されています。"),
        Article(id: "第6", title: "住基ネット運用管理者", outside: "体制の定めです。職員台帳 (people) の役割として記録されています。"),
        Article(id: "第7", title: "暗証番号管理者", outside: nil),
        Article(id: "第8", title: "個人情報の保護", outside: "扱う情報の範囲の定めで、端末の記録からは判定できません。"),
        Article(id: "第9", title: "会議", outside: nil),
        Article(id: "第10", title: "関係部署に対する指示等", outside: nil),
        Article(id: "第11", title: "電子計算組織との結合", outside: nil),
        Article(id: "第12", title: "電算室等の管理", outside: nil),
        Article(id: "第13", title: "入退室管理に係る指示", outside: nil),
        Article(id: "第14", title: "機器の管理", outside: nil),
        Article(id: "第15", title: "データ等の管理", outside: nil),
        Article(id: "第16", title: "暗証番号等", outside: nil),
        Article(id: "第17", title: "端末装置の運用", outside: nil),
        Article(id: "第18", title: "住民基本台帳カードの管理", outside: nil),
        Article(id: "第19", title: "ウイルス", outside: nil),
        Article(id: "第20", title: "操作履歴の記録", outside: nil),
        Article(id: "第21", title: "調査", outside: nil),
        Article(id: "第22", title: "不正アクセス行為", outside: nil),
        Article(id: "第23", title: "外部委託", outside: nil),
        Article(id: "第24", title: "委託契約書への記載事項", outside: "契約書の八つの事項は委託契約の台帳 (contracts) で判定します。"),
        Article(id: "第25", title: "受託者の管理状況の調査", outside: nil),
        Article(id: "第26", title: "故障発生時の措置", outside: nil),
        Article(id: "第27", title: "障害対策マニュアル", outside: "マニュアルの作成の定めで、端末の記録からは確かめられません。障害そのものは第26に示します。"),
        Article(id: "第28", title: "災害又は緊急時における対応", outside: nil),
        Article(id: "第29", title: "火災の防止", outside: nil),
        Article(id: "第30", title: "地震及び落雷時の対応", outside: nil),
        Article(id: "第31", title: "委任", outside: "市長への委任の定めで、記録の対象ではありません。"),
    ]

    /// The records that speak to each article: a kind, and which of its actions (all when nil). Finer than
    /// ``EventKind/articles``: a fire is 第29, not 第26 or 第30.
    static let sources: [String: [(kind: EventKind, actions: [String]?)]] = [
        "第7": [(.card, ["issue", "revoke", "pin_change", "return", "lost"])],
        "第11": [(.operation, ["login", "logout"])],
        "第12": [(.access, nil)],
        "第13": [(.access, nil)],
        "第14": [(.config, nil)],
        "第15": [(.media, nil), (.operation, ["print", "export"])],
        "第16": [(.card, nil)],
        "第17": [
            (.config, ["device_attached", "device_removed", "program_added", "program_changed", "program_removed"])
        ],
        "第18": [(.residentCard, nil)],
        "第19": [(.malware, nil)],
        "第20": [
            (.operation, ["login", "logout", "lookup", "update", "print", "export"]),
            (.agent, ["loss", "clock_jump", "log_inconsistent", "log_accepted"]),
        ],
        "第21": [(.record, ["hold_placed", "hold_lifted"])],
        "第22": [(.operation, ["auth_failure"]), (.incident, ["unauthorized_access"])],
        "第23": [(.contractor, nil)],
        "第25": [
            (
                .contractor,
                ["audit_submitted", "audit_reviewed", "finding_opened", "finding_closed", "submitted", "reviewed"]
            )
        ],
        "第26": [(.incident, ["fault", "maintenance_start", "maintenance_end"])],
        "第28": [(.incident, ["disaster"])],
        "第29": [(.incident, ["fire"])],
        "第30": [(.incident, ["quake_shutdown"])],
    ]

    /// Rules that judge an article besides their own (a device not in the 構成管理簿 is also 第17's 無許可の変更).
    static let alsoJudgedBy: [String: [RuleID]] = ["第17": [.unapprovedDevice, .unapprovedProgram]]
}
