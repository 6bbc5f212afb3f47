import ArgumentParser
import Crypto
import Foundation
import KirokuClient
import KirokuControl
import KirokuPKI
import KirokuProtocol

/// `kirokuctl holds`: legal holds for investigations (第21).
struct Holds: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: localized(
            "保全（第21）：保全中は該当する記録を消去しない。", en: "Legal holds (第21): events they match are never purged while they stand."),
        subcommands: [List.self, Place.self, Lift.self])

    static func show(_ holds: [LegalHold]) -> String {
        Render.table(
            header: ["id", "subject", "actor", "agent", "from", "to", "reason", "placed by", "placed", "lifted"],
            rows: holds.map { hold in
                [
                    String(hold.id), hold.subject ?? "-", hold.actor ?? "-", hold.agent ?? "-", hold.from ?? "-",
                    hold.to ?? "-",
                    hold.reason, hold.placedBy, hold.placedAt,
                    hold.liftedAt.map { "\($0) by \(hold.liftedBy ?? "?"): \(hold.liftReason ?? "")" } ?? "standing",
                ]
            }, rightAligned: [0])
    }

    struct List: KirokuCommand {
        static let configuration = CommandConfiguration(
            abstract: localized("保全を表示する（保全中と解除済み）。", en: "List holds, standing and lifted."))
        @OptionGroup var hubOptions: HubOptions
        func execute() async throws {
            print(Holds.show(try await hubOptions.withQueries { try await $0.holds() }), terminator: "")
        }
    }

    struct Place: KirokuCommand {
        static let configuration = CommandConfiguration(
            abstract: localized(
                "指定したすべての条件（1つ以上）に一致する記録を保全する。",
                en: "Place a hold on every event matching all the given criteria (at least one)."))
        @OptionGroup var hubOptions: HubOptions
        @Option(help: .localized("この対象についての記録。", en: "Events about this subject.")) var subject: String?
        @Option(help: .localized("この操作者の記録。", en: "Events by this actor.")) var actor: String?
        @Option(help: .localized("この端末の記録。", en: "Events from this agent.")) var agent: String?
        @Option(help: .localized("この日時から（含む）。", en: "From this time (inclusive).")) var from: String?
        @Option(help: .localized("この日時まで（含まない）。", en: "Up to this time (exclusive).")) var to: String?
        @Option(help: .localized("理由：調査の内容と依頼者（必須）。", en: "Why: the investigation and who asked for it (required)."))
        var reason: String

        func execute() async throws {
            var criteria: [String: String] = [:]
            if let subject { criteria["subject"] = subject }
            if let actor { criteria["actor"] = actor }
            if let agent { criteria["agent"] = agent }
            if let from { criteria["from"] = try Query.time(from, "--from") }
            if let to { criteria["to"] = try Query.time(to, "--to") }
            guard !criteria.isEmpty else {
                throw KirokuError(.badQuery, "give at least one of --subject, --actor, --agent, --from, --to")
            }
            let hold = try await hubOptions.withQueries { try await $0.placeHold(criteria, reason: reason) }
            print(localized("保全 \(hold.id) を設定しました", en: "hold \(hold.id) placed"))
            print(Holds.show([hold]), terminator: "")
        }
    }

    struct Lift: KirokuCommand {
        static let configuration = CommandConfiguration(
            abstract: localized("保全を解除する（該当する記録は消去できるようになる）。", en: "Lift a hold (its events may then be purged)."))
        @OptionGroup var hubOptions: HubOptions
        @Argument(help: .localized("保全の番号。", en: "The hold's id.")) var id: Int64
        @Option(help: .localized("解除の理由（必須）。", en: "Why it is lifted (required).")) var reason: String

        func execute() async throws {
            let hold = try await hubOptions.withQueries { try await $0.liftHold(id: id, reason: reason) }
            print(localized("保全 \(hold.id) を解除しました", en: "hold \(hold.id) lifted"))
        }
    }
}

/// `kirokuctl retention`: run or preview the purge.
struct Retention: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: localized(
            "保存期間：種別ごとの期間を過ぎた記録の内容を消去する（ハブも毎日行う）。",
            en: "Retention: purge the content of events past their kind's period (the hub also does it daily)."),
        subcommands: [Purge.self])

    struct Purge: KirokuCommand {
        static let configuration = CommandConfiguration(
            abstract: localized("今すぐ消去する（--dry-run なら数えるだけ）。", en: "Purge now, or with --dry-run only count."))
        @OptionGroup var hubOptions: HubOptions
        @Flag(help: .localized("消去される件数を数えるだけにする。", en: "Only count what would be purged.")) var dryRun = false

        func execute() async throws {
            let report = try await hubOptions.withQueries { try await $0.purge(dryRun: dryRun) }
            print(
                Render.table(
                    header: ["kind", "policy", "cutoff", dryRun ? "would purge" : "purged", "held"],
                    rows: report.lines.map { [$0.kind, $0.policy, $0.cutoff, String($0.purged), String($0.held)] },
                    rightAligned: [3, 4]), terminator: "")
            let total = report.lines.reduce(0) { $0 + $1.purged }
            print(
                dryRun
                    ? localized(
                        "\(total) 件が消去の対象です（試行のみ。何も変えていません）",
                        en: "\(total) event(s) would be purged (dry run: nothing changed)")
                    : localized(
                        "\(total) 件を消去しました。消去はログに記録されています",
                        en: "\(total) event(s) purged; the purge is recorded in the log"))
        }
    }
}
