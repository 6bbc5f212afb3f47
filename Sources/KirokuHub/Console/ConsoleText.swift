import KirokuProtocol

/// The console's Japanese: labels for what the record stores as ids, and dates as staff read them.
enum ConsoleText {
    static let kinds: [(id: String, label: String)] = [
        ("access", "入退室 (access)"), ("operation", "端末操作 (operation)"), ("card", "操作識別カード (card)"),
        ("residentcard", "住基カード (residentcard)"), ("config", "構成変更 (config)"), ("media", "媒体の持出し (media)"),
        ("malware", "ウイルス (malware)"),
        ("incident", "障害・事故 (incident)"), ("contractor", "委託 (contractor)"), ("agent", "エージェント (agent)"),
        ("record", "記録の管理 (record)"),
    ]

    static func kind(_ id: String) -> String { kinds.first { $0.id == id }?.label ?? id }

    static func status(_ status: FindingStatus) -> String {
        switch status {
        case .open: "未対応"
        case .acknowledged: "確認済"
        case .resolved: "解決済"
        }
    }

    static func severity(_ id: String) -> String {
        switch id {
        case "critical": "重大"
        case "warning": "警告"
        default: id
        }
    }

    static func action(_ id: String) -> String {
        switch id {
        case "raised": "検出"
        case "acknowledged": "確認"
        case "resolved": "解決"
        case "reopened": "再発"
        default: id
        }
    }

    /// The Japanese name of a rule, beside its id.
    static func rule(_ id: String) -> String {
        let names: [String: String] = [
            "out_of_hours": "時間外の操作", "bulk_lookups": "大量の照会", "repeated_lookups": "同じ住民の繰り返し照会",
            "auth_failure_burst": "認証失敗の多発", "entry_without_exit": "退室の記録がない入室",
            "operation_after_card_removal": "カード抜去後の操作", "malware_not_contained": "ウイルス検出後の遮断・報告の遅れ",
            "entry_without_permit": "許可のない入室", "card_misuse": "操作識別カードの不正使用", "unapproved_device": "未承認の機器の接続",
            "unapproved_program": "未承認のプログラム", "maintenance_without_instruction": "指示書のない保守",
            "card_not_returned": "操作識別カードの未返却", "resident_card_handling": "住基カードの取扱い",
            "agent_integrity": "記録の完全性 (欠落・分岐・ログ不整合)", "maintenance_by_unnamed": "契約に名のない人の保守",
            "contract_unapproved": "委託前の確認・承認の欠如", "contract_clauses": "委託契約の記載事項の欠落",
            "site_audit_overdue": "受託者の実施状況報告の遅れ", "work_report_missing": "作業報告の未提出",
            "submission_unreviewed": "受託者の提出の未確認", "watchlist_lookup": "注意対象者の照会", "lookup_purpose": "目的のない照会",
            "shared_credential": "資格情報の共用",
            "register_backdated": "事後許可", "record_unreviewed": "記録の未点検",
            "lookup_outside_assignment": "担当外の照会", "media_not_returned": "媒体の未返却", "card_holder_absent": "保持者不在でのカード使用",
            "directive_overdue": "指示への回答の遅れ",
            "incident_not_reported": "障害・事故の未報告", "incident_not_closed": "障害・事故の未完了",
        ]
        return names[id].map { "\($0) (\(id))" } ?? id
    }

    /// The Japanese name of an event's action, as the ledgers call it; the id itself if there is none.
    static func eventAction(_ action: String, kind: String = "") -> String {
        // The hub's 点検 of the record shares its action's name with a contractor's submission reviewed.
        if kind == "record" && action == "reviewed" { return "記録の点検" }
        let labels: [String: String] = [
            "enter": "入室", "exit": "退室", "denied": "入室拒否", "login": "ログイン", "logout": "ログアウト", "lookup": "照会",
            "update": "更新", "print": "印刷", "export": "出力", "auth_failure": "認証失敗", "issue": "交付", "revoke": "失効",
            "pin_change": "暗証番号変更", "return": "返却", "lost": "紛失", "insert": "カード挿入", "remove": "カード抜去",
            "stock_in": "受入", "store": "保管", "take_out": "持出し", "recover": "回収", "destroy": "廃棄",
            "device_attached": "機器接続", "device_removed": "機器取外し", "program_added": "プログラム追加",
            "program_changed": "プログラム変更", "program_removed": "プログラム削除", "fw_backup": "FW 設定の保存",
            "scan": "検査", "detected": "検出", "network_cut": "ネットワーク遮断", "reported": "報告",
            "unauthorized_access": "不正アクセス", "fault": "障害", "maintenance_start": "保守開始", "maintenance_end": "保守終了",
            "disaster": "災害", "fire": "火災", "quake_shutdown": "地震・落雷による停止", "audit_submitted": "監査報告の提出",
            "audit_reviewed": "監査報告の確認", "finding_opened": "指摘事項の発生", "finding_closed": "指摘事項の完了",
            "submitted": "受託者の提出", "reviewed": "提出の確認", "recovered": "復旧", "closed": "対応完了",
            "heartbeat": "稼働通知", "loss": "欠落の申告", "clock_jump": "時刻の飛び", "started": "起動", "stopped": "停止",
            "log_inconsistent": "ログ不整合", "log_accepted": "不整合の受入",
            "purge": "保存期間経過による消去", "hold_placed": "保全の設定", "hold_lifted": "保全の解除", "key_rotated": "署名鍵の更新",
            "finding_acknowledged": "所見の確認", "finding_resolved": "所見の解決", "register_imported": "台帳の取り込み",
            "rules_rejudged": "再判定",
        ]
        return labels[action] ?? action
    }

    /// `2026-11-30 09:30:05` in JST, from a stored RFC 3339 time.
    static func time(_ rfc3339: String) -> String {
        guard let stamp = Timestamp(rfc3339: rfc3339) else { return rfc3339 }
        return stamp.withOffset(minutes: Timestamp.jstOffsetMinutes).displayText
    }

    /// `令和8年11月30日 (2026-11-30)`: the JST date of a stored time, 和暦 first, 西暦 beside it.
    static func date(_ rfc3339: String) -> String {
        guard let stamp = Timestamp(rfc3339: rfc3339) else { return rfc3339 }
        let text = stamp.withOffset(minutes: Timestamp.jstOffsetMinutes).rfc3339
        let parts = text.prefix(10).split(separator: "-").compactMap { Int($0) }
        guard parts.count == 3 else { return String(text.prefix(10)) }
        return "\(Wareki.date(year: parts[0], month: parts[1], day: parts[2])) (\(text.prefix(10)))"
    }
}
