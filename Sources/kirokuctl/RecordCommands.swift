import ArgumentParser
import Crypto
import Foundation
import KirokuClient
import KirokuControl
import KirokuPKI
import KirokuProtocol

/// The filters of a search of the record, shared by `query` and `export`: what `GET /v1/events` takes.
struct EventFilter: ParsableArguments {
    @Option(
        help: .localized(
            "この日時から（含む）：2026/4/1、2026-04-01 9:30、令和8年4月1日、R8.4.1（JST）または RFC 3339。",
            en: "From this time (inclusive): 2026/4/1, 2026-04-01 9:30, 令和8年4月1日, R8.4.1 (JST), or RFC 3339."))
    var from: String?
    @Option(help: .localized("この日時まで（含まない）。", en: "Up to this time (exclusive).")) var to: String?
    @Option(help: .localized("この端末のみ。", en: "Only this agent (terminal).")) var agent: String?
    @Option(help: .localized("この場所のみ。", en: "Only this site.")) var site: String?
    @Option(help: .localized("この種別のみ。", en: "Only this kind.")) var kind: String?
    @Option(help: .localized("この操作のみ。", en: "Only this action.")) var action: String?
    @Option(help: .localized("この操作者のみ。", en: "Only this actor.")) var actor: String?
    @Option(
        help: .localized(
            "--actor の一致方法：exact（完全一致）、prefix（前方一致）、contains（部分一致）。",
            en: "How --actor matches: exact, prefix or contains.")) var actorMatch: String?
    @Option(help: .localized("この対象のみ。", en: "Only this subject.")) var subject: String?
    @Option(
        help: .localized(
            "--subject の一致方法：exact、prefix、contains（氏名の一部で住民を探す）。",
            en: "How --subject matches: exact, prefix or contains (a resident by part of a name).")) var subjectMatch:
        String?

    /// The query, times read as people type them, checked here by the rules the hub applies (an unknown
    /// kind or match is refused before anything is sent).
    func query(limit: Int) throws -> EventQuery {
        var parameters: [String: String] = ["limit": String(limit)]
        if let from { parameters["from"] = try Query.time(from, "--from") }
        if let to { parameters["to"] = try Query.time(to, "--to") }
        for (name, value) in [
            ("agent", agent), ("site", site), ("kind", kind), ("action", action), ("actor", actor),
            ("actor_match", actorMatch),
            ("subject", subject), ("subject_match", subjectMatch),
        ] {
            if let value { parameters[name] = value }
        }
        return try EventQuery(parameters: parameters)
    }
}

struct Query: KirokuCommand {
    static let configuration = CommandConfiguration(
        abstract: localized("統合された記録を検索する。", en: "Search the consolidated record."),
        discussion: localized(
            "日時は JST として、人が書くとおりに読む（2026/4/1 9:30、令和8年4月1日、R8.4.1）。RFC 3339 も可。",
            en: "Times are read in JST as people type them (2026/4/1 9:30, 令和8年4月1日, R8.4.1), or RFC 3339."))
    @OptionGroup var hubOptions: HubOptions
    @OptionGroup var filter: EventFilter
    @Option(help: .localized("1ページの件数（1〜10000）。", en: "Events per page (1-10000).")) var limit: Int = 1000
    @Flag(help: .localized("最初のページだけでなく全ページを取得する。", en: "Fetch every page, not just the first.")) var all = false
    @Option(
        help: .localized(
            "table、jsonl または csv（Excel 用：UTF-8 BOM付き、CRLF）。",
            en: "table, jsonl or csv (UTF-8 with BOM, CRLF, for Excel).")) var format: OutputFormat = .table
    @Option(
        help: .localized(
            "--format csv と合わせて：utf-8（BOM付き）または cp932（Shift_JIS。日本語版 Windows の Excel が既定で読む形式）。",
            en:
                "With --format csv: utf-8 (with BOM) or cp932 (Shift_JIS, what Excel on Japanese Windows reads by default)."
        ))
    var encoding: String = "utf-8"

    func execute() async throws {
        guard encoding == "utf-8" || encoding == "cp932" else {
            throw KirokuError(.badQuery, "--encoding is utf-8 or cp932")
        }
        guard encoding == "utf-8" || format == .csv else {
            throw KirokuError(.badQuery, "--encoding cp932 goes with --format csv")
        }
        var query = try filter.query(limit: limit)
        var first = true
        var total = 0
        try await hubOptions.withQueries { queries in
            while true {
                let page = try await queries.events(query)
                total += page.events.count
                if encoding == "cp932" {
                    FileHandle.standardOutput.write(
                        try Render.csvCP932(page.events, header: first, firstRow: total - page.events.count + 2))
                } else {
                    FileHandle.standardOutput.write(
                        Data(Render.events(page.events, format: format, header: first).utf8))
                }
                first = false
                guard all, let next = page.next else {
                    if !all, page.next != nil {
                        FileHandle.standardError.write(
                            Data(
                                "kirokuctl: \(localized("まだ該当する記録があります。全ページは --all で取得します", en: "more events match; add --all to fetch every page"))\n"
                                    .utf8))
                    }
                    break
                }
                query.cursor = next
            }
        }
        if format == .table { print(Render.count(total, en: "event(s)", ja: "記録")) }
    }

    static func time(_ text: String, _ flag: String) throws -> String {
        guard let time = PersonTime.parse(text) else {
            throw KirokuError(.badQuery, "\(flag) must be \(PersonTime.forms), not '\(text.prefix(40))'")
        }
        return time.rfc3339
    }
}

/// `kirokuctl whoami`: who the hub takes this certificate for, and what the people register lets them do.
struct WhoAmI: KirokuCommand {
    static let configuration = CommandConfiguration(
        commandName: "whoami",
        abstract: localized(
            "ハブがあなたを誰と見なしているか：職員台帳での役割と、それで許されること。",
            en: "Who the hub takes you for: your roles in the people register and what they allow."))
    @OptionGroup var hubOptions: HubOptions

    func execute() async throws {
        let me = try await hubOptions.withQueries { try await $0.me() }
        let id = me.id
        switch me.status {
        case "unenforced":
            print(
                localized(
                    "\(id)：職員台帳が空なので、役割はまだ効いていません。誰でも何でもできます",
                    en:
                        "\(id): the people register is empty, so roles are not enforced yet; every person may do everything"
                ))
        case "unknown":
            print(
                localized(
                    "\(id)：職員台帳にありません。ハブはこの問い以外のすべてを拒否します",
                    en: "\(id): not in the people register; the hub refuses you everything but this question"))
        case "configured":
            // A hub whose record is on PostgreSQL: no people register; its configuration names who may do what.
            print(
                localized(
                    "\(id)：このハブの設定 (store.readers・store.cosigners) に名があります",
                    en: "\(id): named in this hub's configuration (store.readers, store.cosigners)"))
            for permission in (prefersJapanese ? me.permissionsJapanese : me.permissions) ?? [] {
                print(localized("  できること：\(permission)", en: "  may: \(permission)"))
            }
        case "not_named":
            print(
                localized(
                    "\(id)：このハブの設定 (store.readers・store.cosigners) に名がありません。記録は読めません",
                    en:
                        "\(id): not named in this hub's configuration (store.readers, store.cosigners); you cannot read the record"
                ))
        case "left":
            print(
                localized(
                    "\(id)：\(me.left ?? "?") に離任（職員台帳）。ハブはあなたを拒否します",
                    en: "\(id): left on \(me.left ?? "?") (people register); the hub refuses you"))
        default:
            print("\(id): \((me.roles ?? []).joined(separator: "・"))")
            if prefersJapanese, let permissions = me.permissionsJapanese {
                for permission in permissions { print("  できること：\(permission)") }
            } else {
                for permission in me.permissions ?? [] { print("  may \(permission)") }
            }
        }
    }
}

struct Agents: KirokuCommand {
    static let configuration = CommandConfiguration(
        abstract: localized(
            "端末ごとの状態：最終連絡、最終連番、未送信、時刻のずれ、重複、欠番、分岐、拒否。",
            en: "Per-agent health: last seen, last seq, lag, clock skew, duplicates, gaps, forks, refusals."))
    @OptionGroup var hubOptions: HubOptions
    @Flag(help: .localized("表の代わりに JSON で出力する。", en: "Print JSON instead of a table.")) var json = false

    func execute() async throws {
        let agents = try await hubOptions.withQueries { try await $0.agents() }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
            print(String(decoding: try encoder.encode(AgentHealthList(agents: agents)), as: UTF8.self))
        } else {
            print(Render.agents(agents), terminator: "")
        }
    }
}
