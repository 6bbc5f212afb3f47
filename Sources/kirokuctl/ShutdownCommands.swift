import ArgumentParser
import Foundation
import KirokuClient
import KirokuControl
import KirokuPKI
import KirokuProtocol

/// `kirokuctl shutdowns`: shutdowns declared in advance (第30, planned maintenance), so that the terminals
/// they name are not taken for lost.
struct Shutdowns: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: localized(
            "事前に届け出た停止（第30、保守、計画停電）：端末が意図して止まっている期間。",
            en:
                "Shutdowns declared in advance (第30, maintenance, planned power cuts): the terminals are quiet on purpose."
        ),
        subcommands: [Declare.self, List.self], defaultSubcommand: List.self)

    struct Declare: KirokuCommand {
        static let configuration = CommandConfiguration(
            abstract: localized(
                "停止を事前に届け出る（管理者・運用管理者）。record/shutdown_declared として記録される。",
                en: "Declare a shutdown (管理者, 運用管理者); recorded as record/shutdown_declared."),
            discussion: localized("例：", en: "Example: ")
                + "kirokuctl shutdowns declare --agents counter-01,counter-02 --from \"2026-12-05 18:00\" --to \"2026-12-06 12:00\" --reason \"電源設備点検 (管理者指示)\""
        )
        @OptionGroup var hubOptions: HubOptions
        @Option(help: .localized("端末ID（カンマ区切り）、全端末なら *。", en: "Agent ids, comma-separated, or * for every terminal."))
        var agents: String
        @Option(
            help: .localized(
                "開始（JST。2026-12-05 18:00、令和8年12月5日 18:00 のように）。",
                en: "From (JST, as people type it: 2026-12-05 18:00, 令和8年12月5日 18:00).")) var from: String
        @Option(help: .localized("終了（JST）。", en: "To (JST).")) var to: String
        @Option(help: .localized("理由と、誰の指示か（必須）。", en: "Why, on whose instruction (required).")) var reason: String

        func execute() async throws {
            let declared = try await hubOptions.withQueries {
                try await $0.declareShutdown(
                    agents: agents.split(separator: ",").map(String.init), from: from, to: to, reason: reason)
            }
            let named = declared.agents.joined(separator: ", ")
            print(
                localized(
                    "停止 \(declared.id)：\(named)、\(Render.jst(declared.from)) から \(Render.jst(declared.to)) まで",
                    en:
                        "shutdown \(declared.id): \(named) from \(Render.jst(declared.from)) to \(Render.jst(declared.to))"
                ))
        }
    }

    struct List: KirokuCommand {
        static let configuration = CommandConfiguration(
            abstract: localized("届け出た停止を新しい順に表示する。", en: "List declared shutdowns, newest first."))
        @OptionGroup var hubOptions: HubOptions

        func execute() async throws {
            let all = try await hubOptions.withQueries { try await $0.shutdowns() }
            print(
                Render.table(
                    header: ["id", "agents", "from(JST)", "to(JST)", "by", "reason"],
                    rows: all.map {
                        [
                            String($0.id), $0.agents.joined(separator: ","), Render.jst($0.from), Render.jst($0.to),
                            $0.declaredBy, $0.reason,
                        ]
                    },
                    rightAligned: [0]), terminator: "")
            print(Render.count(all.count, en: "shutdown(s)", ja: "宣言された停止"))
        }
    }
}

/// `kirokuctl manuals`: the 対応マニュアル of incident types (第22②, 第27), shown with their findings.
struct Manuals: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: localized(
            "事故の種類ごとの対応マニュアル（種類は unauthorized_access、 fault、 disaster、 fire、 quake_shutdown）。所見とともに示される。",
            en:
                "対応マニュアル of incident types (unauthorized_access, fault, disaster, fire, quake_shutdown), shown with their findings."
        ),
        subcommands: [Set.self, List.self, Fetch.self], defaultSubcommand: List.self)

    struct Fetch: KirokuCommand {
        static let configuration = CommandConfiguration(
            abstract: localized(
                "事故の種類の対応マニュアルをダウンロードする。記録の SHA-256 と照合される。",
                en: "Download the manual of an incident type, checked against its recorded SHA-256."))
        @OptionGroup var hubOptions: HubOptions
        @Argument(
            help: .localized(
                "unauthorized_access（不正アクセス）、fault（障害）、disaster（災害）、fire（火災）または quake_shutdown（地震による停止）。",
                en: "unauthorized_access, fault, disaster, fire or quake_shutdown.")) var type: String
        @Option(help: .localized("書き出すフォルダ。", en: "The folder to write it to.")) var out = "."

        func execute() async throws {
            try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
            let (manual, bytes) = try await hubOptions.withQueries { queries in
                guard let manual = try await queries.manuals().first(where: { $0.type == type }) else {
                    throw KirokuError(.notFound, "no manual is registered for \(type)")
                }
                return (manual, try await queries.manualFile(manual))
            }
            let path = URL(filePath: out).appending(path: "manual-\(manual.type).\(manual.file.type.fileExtension)")
                .path
            try writeSecret(bytes, to: URL(filePath: path))
            print(
                localized(
                    "\(path)：\(manual.file.name) — SHA-256 \(manual.file.sha256)（\(manual.event) の記録どおり）",
                    en: "\(path): \(manual.file.name) — SHA-256 \(manual.file.sha256) as recorded in \(manual.event)"))
        }
    }

    struct Set: KirokuCommand {
        static let configuration = CommandConfiguration(
            commandName: "set",
            abstract: localized(
                "事故の種類の対応マニュアルを登録する（管理者）。record/manual_registered として記録される。",
                en: "Register the manual of an incident type (管理者); recorded as record/manual_registered."))
        @OptionGroup var hubOptions: HubOptions
        @Argument(
            help: .localized(
                "unauthorized_access（不正アクセス）、fault（障害）、disaster（災害）、fire（火災）または quake_shutdown（地震による停止）。",
                en: "unauthorized_access, fault, disaster, fire or quake_shutdown.")) var type: String
        @Argument(help: .localized("マニュアル（PDF、PNG、JPEG または CSV）。", en: "The manual (PDF, PNG, JPEG or CSV).")) var file:
            String

        func execute() async throws {
            guard let data = FileManager.default.contents(atPath: file) else {
                throw KirokuError(.configuration, "cannot read \(file)")
            }
            let kept = try await hubOptions.withQueries {
                try await $0.registerManual(
                    type: type, name: URL(filePath: file).lastPathComponent, bytes: [UInt8](data))
            }
            print(
                localized(
                    "\(type) のマニュアル：SHA-256 \(kept.file.sha256)、\(kept.event) として記録",
                    en: "manual for \(type): SHA-256 \(kept.file.sha256), recorded as \(kept.event)"))
        }
    }

    struct List: KirokuCommand {
        static let configuration = CommandConfiguration(
            abstract: localized("登録されたマニュアル。", en: "The registered manuals."))
        @OptionGroup var hubOptions: HubOptions

        func execute() async throws {
            let manuals = try await hubOptions.withQueries { try await $0.manuals() }
            print(
                Render.table(
                    header: ["type", "file", "sha256", "by", "at(JST)"],
                    rows: manuals.map {
                        [$0.type, $0.file.name, $0.file.sha256, $0.registeredBy, Render.jst($0.registeredAt)]
                    }),
                terminator: "")
            print(Render.count(manuals.count, en: "manual(s)", ja: "対応マニュアル"))
        }
    }
}
