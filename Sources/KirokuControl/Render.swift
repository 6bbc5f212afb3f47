public import Foundation
public import KirokuProtocol

/// Output formats of `kirokuctl query` and `kirokuctl agents`.
public enum OutputFormat: String, Sendable, CaseIterable {
    /// Aligned columns for a terminal, times in JST.
    case table
    /// One canonical JSON event per line: exactly the bytes the hash covers, plus `hash`.
    case jsonl
    /// RFC 4180 CSV for Excel: UTF-8 with BOM, CRLF line ends, IDs kept as text.
    case csv
}

/// Renders events and agent health for people.
public enum Render {
    // MARK: Language

    /// Japanese unless English was asked for (``Language``).
    public static var prefersJapanese: Bool { Language.prefersJapanese }

    /// Table headers in Japanese, by their English names (one place for every table kirokuctl prints).
    static let japaneseHeaders: [String: String] = [
        "time(JST)": "日時(JST)", "id": "番号", "agent": "端末", "agents": "端末", "seq": "連番", "kind/action": "種別/操作",
        "actor": "操作者", "subject": "対象",
        "site": "場所", "attrs": "属性", "article": "条項", "severity": "重大度", "rule": "規則", "first(JST)": "初回(JST)",
        "last(JST)": "最終(JST)", "n": "件数", "status": "状態", "finding": "所見", "contract": "契約", "contractor": "受託者",
        "scope": "委託内容", "from": "開始", "to": "終了", "from(JST)": "開始(JST)", "to(JST)": "終了(JST)",
        "audit every (days)": "報告の周期(日)", "people": "受託者の職員", "instruction": "作業指示書", "equipment": "機器", "type": "種類",
        "by": "担当", "at(JST)": "日時(JST)", "files": "ファイル", "note": "内容", "reason": "理由", "file": "ファイル",
        "sha256": "SHA-256",
        "role": "役割", "name": "氏名", "serial": "シリアル", "not_after(JST)": "有効期限(JST)", "state": "状態", "placed by": "設定者",
        "placed": "設定日時", "lifted": "解除", "kind": "種別", "policy": "保存期間", "cutoff": "基準日時", "would purge": "消去予定",
        "purged": "消去", "held": "保全中", "last_seq": "最終連番", "lag": "未送信", "last_seen(JST)": "最終連絡(JST)",
        "last_event(JST)": "最後の記録(JST)", "skew": "時刻のずれ", "jumps": "時刻の飛び", "dup": "重複", "gap_refused": "欠番拒否",
        "declared_lost": "欠落の申告", "through": "点検した日まで", "forks": "分岐", "epochs": "連鎖の再開始", "refused": "拒否",
        "last_refusal": "最後の拒否",
    ]

    /// `3 finding(s)` or `所見 3 件`, as the language says.
    public static func count(_ n: Int, en: String, ja: String) -> String {
        prefersJapanese ? "\(ja) \(n) 件" : "\(n) \(en)"
    }

    // MARK: Events

    public static let csvHeaderEnglish = [
        "time_jst", "time", "agent", "seq", "kind", "action", "actor", "subject", "site", "attrs", "hash",
    ]
    public static let csvHeaderJapanese = ["日時(JST)", "日時", "端末", "連番", "種別", "操作", "操作者", "対象", "場所", "属性", "ハッシュ"]
    /// The CSV's header row in the language chosen (English keys for scripts with `KIROKU_LANG=en`).
    public static var csvHeader: [String] { prefersJapanese ? csvHeaderJapanese : csvHeaderEnglish }

    /// The whole output for one list of events. For CSV, `header` controls the BOM and header row (only
    /// the first page of a multi-page export carries them).
    public static func events(_ events: [Event], format: OutputFormat, header: Bool = true) -> String {
        switch format {
        case .jsonl:
            return events.map { String(decoding: $0.canonicalBytes(includingHash: true), as: UTF8.self) + "\n" }
                .joined()
        case .csv:
            var out = header ? "\u{FEFF}" + csvHeader.joined(separator: ",") + "\r\n" : ""
            for fields in csvRows(events) { out += fields.map(csvField).joined(separator: ",") + "\r\n" }
            return out
        case .table:
            let rows = events.map { event in
                [
                    jst(event.time), event.agent, String(event.seq), "\(event.kind)/\(event.action)", event.actor,
                    event.subject, event.site, attrsText(event.attrs),
                ]
            }
            return table(
                header: ["time(JST)", "agent", "seq", "kind/action", "actor", "subject", "site", "attrs"], rows: rows,
                rightAligned: [2])
        }
    }

    /// An RFC 3339 time as `YYYY-MM-DD HH:MM:SS` in JST.
    public static func jst(_ time: String) -> String {
        guard let stamp = Timestamp(rfc3339: time) else { return time }
        return stamp.withOffset(minutes: Timestamp.jstOffsetMinutes).displayText
    }

    static func attrsText(_ attrs: [String: String]) -> String {
        CanonicalJSON.sortedKeys(attrs.keys).map { "\($0)=\(attrs[$0]!)" }.joined(separator: " ")
    }

    /// Keeps Excel from turning an ID into a number (`000123` → `123`) or running it as a formula
    /// (CSV injection): digit strings become `="000123"`, text starting with `= + - @` gets a leading `'`.
    /// Each event's CSV cells, guarded for Excel (not yet quoted).
    public static func csvRows(_ events: [Event]) -> [[String]] {
        events.map { event in
            [
                jst(event.time), event.time, csvText(event.agent), String(event.seq), event.kind, event.action,
                csvText(event.actor), csvText(event.subject), csvText(event.site), attrsText(event.attrs), event.hash,
            ]
        }
    }

    /// CSV lines in CP932 (Shift_JIS as Excel on Japanese Windows reads it, no BOM). A cell CP932 cannot hold
    /// even after the JIS forms are mapped is refused with its row, column and code point.
    public static func csvCP932(_ events: [Event], header: Bool, firstRow: Int) throws(KirokuError) -> Data {
        var out = Data()
        let names = csvHeader
        let rows = (header ? [names] : []) + csvRows(events)
        for (index, fields) in rows.enumerated() {
            let row = firstRow + index - (header ? 1 : 0)
            for (column, field) in fields.enumerated() where ExcelCSV.cp932Forms(field).data(using: .shiftJIS) == nil {
                let bad = ExcelCSV.cp932Forms(field).first { String($0).data(using: .shiftJIS) == nil }
                let points =
                    bad.map { $0.unicodeScalars.map { String(format: "U+%04X", $0.value) }.joined(separator: " ") }
                    ?? "?"
                throw KirokuError(
                    .badQuery,
                    "row \(row), column \(column + 1) (\(names[column])) has \(points), which Shift_JIS (CP932) cannot hold; nothing more was written — use the default UTF-8"
                )
            }
            out += ExcelCSV.cp932Forms(fields.map(csvField).joined(separator: ",") + "\r\n").data(using: .shiftJIS)!
        }
        return out
    }

    public static func csvText(_ value: String) -> String { ExcelCSV.text(value) }

    static func csvField(_ value: String) -> String { ExcelCSV.field(value) }

    // MARK: Agents

    /// Per-agent health as a table: what a 管理者 checks every morning.
    public static func agents(_ agents: [AgentHealth]) -> String {
        let rows = agents.map { agent in
            [
                agent.agent, String(agent.lastSeq), String(agent.lag), jst(agent.lastSeen),
                agent.lastEventTime.map(jst) ?? "-", agent.skewMS.map { formatSkew($0) } ?? "-",
                String(agent.clockJumps),
                String(agent.duplicates), String(agent.gaps), String(agent.declaredLost), String(agent.forks),
                agent.epochs == 0 ? "0" : "\(agent.epochs) (\(agent.lastEpochReason ?? "?"))", String(agent.refusals),
                agent.lastRefusal ?? "-",
            ]
        }
        return table(
            header: [
                "agent", "last_seq", "lag", "last_seen(JST)", "last_event(JST)", "skew", "jumps", "dup", "gap_refused",
                "declared_lost", "forks", "epochs", "refused", "last_refusal",
            ], rows: rows, rightAligned: [1, 2, 5, 6, 7, 8, 9, 10, 12])
    }

    /// Clock skew for people: `+8ms`, `-3.2s`, `+2h00m`; a `!` marks more than a minute, which a
    /// 管理者 should look into (the record's times from that agent are off by that much).
    static func formatSkew(_ ms: Int64) -> String {
        let sign = ms < 0 ? "-" : "+"
        let value = abs(ms)
        if value < 1000 { return "\(sign)\(value)ms" }
        if value < 60_000 { return "\(sign)\(value / 1000).\(value % 1000 / 100)s" }
        let minutes = value / 60_000
        let text = minutes < 60 ? "\(minutes)m" : "\(minutes / 60)h\(String(format: "%02d", minutes % 60))m"
        return "\(sign)\(text)!"
    }

    // MARK: Tables

    /// Columns aligned by display width (a kanji or kana takes two cells).
    public static func table(header: [String], rows: [[String]], rightAligned: Set<Int> = []) -> String {
        let header = prefersJapanese ? header.map { japaneseHeaders[$0] ?? $0 } : header
        var widths = header.map(displayWidth)
        for row in rows {
            for (index, cell) in row.enumerated() { widths[index] = max(widths[index], displayWidth(cell)) }
        }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { index, cell in
                let padding = String(repeating: " ", count: widths[index] - displayWidth(cell))
                return rightAligned.contains(index) ? padding + cell : cell + padding
            }.joined(separator: "  ").replacing(/\s+$/, with: "") + "\n"
        }
        return line(header) + rows.map(line).joined()
    }

    /// Terminal cells a string takes: 2 for East Asian wide and full-width characters, 1 otherwise.
    public static func displayWidth(_ text: String) -> Int {
        text.unicodeScalars.reduce(0) { width, scalar in
            let value = scalar.value
            let wide =
                (0x1100...0x115F).contains(value) || (0x2E80...0xA4CF).contains(value)
                || (0xAC00...0xD7A3).contains(value) || (0xF900...0xFAFF).contains(value)
                || (0xFE30...0xFE4F).contains(value) || (0xFF00...0xFF60).contains(value)
                || (0xFFE0...0xFFE6).contains(value) || (0x20000...0x3FFFD).contains(value)
            return width + (wide ? 2 : 1)
        }
    }
}
