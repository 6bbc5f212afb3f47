import ArgumentParser
import Crypto
import Foundation
import KirokuClient
import KirokuControl
import KirokuPKI
import KirokuProtocol

/// `kirokuctl findings`: breaches of the standard the rules found.
struct Findings: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: localized(
            "所見：基準が守られなかったことを記録が示す箇所。条項と根拠の記録を添える。",
            en: "Findings: where the record shows the standard was not met, with the article and the evidence."),
        subcommands: [List.self, Acknowledge.self, Resolve.self, Rejudge.self], defaultSubcommand: List.self)

    struct List: KirokuCommand {
        static let configuration = CommandConfiguration(
            abstract: localized("所見を表示する（既定は未対応のもの）。", en: "List findings (open ones by default)."))
        @OptionGroup var hubOptions: HubOptions
        @Option(
            help: .localized(
                "open（未対応）、acknowledged（確認済み）、resolved（解決済み）または all（すべて）。", en: "open, acknowledged, resolved or all."))
        var status = "open"
        @Option(help: .localized("この規則のみ。", en: "Only this rule.")) var rule: String?
        @Flag(help: .localized("表の代わりに JSON で出力する。", en: "Print JSON instead of a table.")) var json = false

        func execute() async throws {
            let found = try await hubOptions.withQueries {
                try await $0.findings(status: status == "all" ? nil : status, rule: rule)
            }
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
                print(String(decoding: try encoder.encode(found), as: UTF8.self))
                return
            }
            print(
                Render.table(
                    header: ["id", "article", "severity", "rule", "first(JST)", "last(JST)", "n", "status", "finding"],
                    rows: found.map {
                        [
                            String($0.id), $0.article, $0.severity, $0.rule, Render.jst($0.firstSeen),
                            Render.jst($0.lastSeen),
                            String($0.count), $0.status.rawValue, prefersJapanese ? $0.summaryForJapanese : $0.summary,
                        ]
                    }, rightAligned: [0, 6]), terminator: "")
            print(Render.count(found.count, en: "finding(s)", ja: "所見"))
        }
    }

    struct Acknowledge: KirokuCommand {
        static let configuration = CommandConfiguration(
            commandName: "ack",
            abstract: localized(
                "所見を確認済みにする（把握し対応中）。理由を添える。", en: "Acknowledge a finding (seen, being dealt with), saying why."))
        @OptionGroup var hubOptions: HubOptions
        @Argument(help: .localized("所見の番号。", en: "The finding's id.")) var id: Int64
        @Option(help: .localized("理由（必須。あなたの名前とともに記録される）。", en: "Why (required; recorded with your name).")) var reason:
            String

        func execute() async throws {
            let finding = try await hubOptions.withQueries {
                try await $0.act(onFinding: id, "acknowledge", reason: reason)
            }
            print(localized("所見 \(finding.id) を確認済みにしました", en: "finding \(finding.id) acknowledged"))
        }
    }

    struct Resolve: KirokuCommand {
        static let configuration = CommandConfiguration(
            abstract: localized("所見を解決済みにする。どう解決したかを添える。", en: "Resolve a finding, saying how."))
        @OptionGroup var hubOptions: HubOptions
        @Argument(help: .localized("所見の番号。", en: "The finding's id.")) var id: Int64
        @Option(
            help: .localized(
                "どう解決したか（必須。あなたの名前とともに記録される）。", en: "How it was resolved (required; recorded with your name)."))
        var reason: String

        func execute() async throws {
            let finding = try await hubOptions.withQueries {
                try await $0.act(onFinding: id, "resolve", reason: reason)
            }
            print(localized("所見 \(finding.id) を解決済みにしました", en: "finding \(finding.id) resolved"))
        }
    }
}

extension Findings {
    /// `kirokuctl findings rejudge`: after a register was loaded or corrected, judge past days again.
    struct Rejudge: KirokuCommand {
        static let configuration = CommandConfiguration(
            abstract: localized(
                "過去の日を現在の台帳で判定し直す（台帳を読み込み・訂正した後に）。",
                en: "Judge past days again against the registers as they now stand (after loading or correcting one)."),
            discussion: localized(
                """
                1日ごとに1回の要求：台帳の規則（入退室許可、操作識別カード、住基カード、機器、プログラム、作業指示書）を
                その日のすべての記録に当て直し、件数を置き換え、台帳がもう裏付けない所見を解決済みにする。
                各日はあなたの名前とともに record/rules_rejudged として記録される。
                例：kirokuctl findings rejudge --from 2026-11-01 --to 2026-11-27
                """,
                en: """
                    Each day is one request: the register rules (permits, cards, 住基カード, devices, programs,
                    maintenance) over all that day's events, counts replaced, findings the registers no longer
                    support resolved; each day is recorded as record/rules_rejudged with your name.
                    Example: kirokuctl findings rejudge --from 2026-11-01 --to 2026-11-27
                    """))
        @OptionGroup var hubOptions: HubOptions
        @Option(
            help: .localized(
                "最初の日（JST）：2026-11-01、2026/11/1 または 令和8年11月1日。",
                en: "First day (JST): 2026-11-01, 2026/11/1 or 令和8年11月1日.")) var from: String
        @Option(help: .localized("最後の日、今日まで（省略時は最初の日）。", en: "Last day, at most today (default: the first).")) var to:
            String?

        func execute() async throws {
            let days = try Self.days(from: from, to: to ?? from)
            var found = 0
            var resolved = 0
            try await hubOptions.withQueries { queries in
                for (index, day) in days.enumerated() {
                    let answer = try await queries.rejudge(day: day)
                    let (f, r) = (answer.found, answer.resolved)
                    found += f
                    resolved += r
                    print(
                        localized(
                            "\(day)  (\(index + 1)/\(days.count))  所見 \(f) 件  解決 \(r) 件",
                            en: "\(day)  (\(index + 1)/\(days.count))  \(f) finding(s)  \(r) resolved"))
                }
            }
            print(
                localized(
                    "\(days.count) 日を判定し直しました：所見 \(found) 件が残り、\(resolved) 件を解決",
                    en: "\(days.count) day(s) judged again: \(found) finding(s) stand, \(resolved) resolved"))
        }

        /// The days from `from` to `to`, inclusive; at most 400.
        /// Days as people type them (2026-11-01, 2026/11/1, 令和8年11月1日). Every day must have come: a range
        /// into the future is refused before any day is judged, not after the past ones were.
        static func days(from: String, to: String, now: Date = Date()) throws(KirokuError) -> [String] {
            func midnight(_ text: String, _ flag: String) throws(KirokuError) -> Timestamp {
                guard let time = PersonTime.parse(text),
                    time.withOffset(minutes: Timestamp.jstOffsetMinutes).rfc3339.dropFirst(10).hasPrefix(
                        "T00:00:00.000")
                else {
                    throw KirokuError(
                        .badQuery,
                        "\(flag) must be a day like 2026-11-01, 2026/11/1 or 令和8年11月1日, got '\(text.prefix(40))'")
                }
                return time
            }
            let first = try midnight(from, "--from")
            let last = try midnight(to, "--to")
            let count = (last.epochMilliseconds - first.epochMilliseconds) / 86_400_000 + 1
            guard count >= 1 else { throw KirokuError(.badQuery, "--to comes before --from") }
            let today = String(Timestamp(date: now).withOffset(minutes: Timestamp.jstOffsetMinutes).rfc3339.prefix(10))
            let lastDay = String(last.withOffset(minutes: Timestamp.jstOffsetMinutes).rfc3339.prefix(10))
            guard lastDay <= today else {
                throw KirokuError(.badQuery, "--to \(lastDay) has not come yet (today is \(today)); nothing was judged")
            }
            guard count <= 400 else { throw KirokuError(.badQuery, "at most 400 days at a time (\(count) asked)") }
            return (0..<count).map {
                String(
                    Timestamp(
                        epochMilliseconds: first.epochMilliseconds + $0 * 86_400_000,
                        offsetMinutes: Timestamp.jstOffsetMinutes
                    )
                    .rfc3339.prefix(10))
            }
        }
    }
}
