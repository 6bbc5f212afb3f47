import ArgumentParser
import Foundation
import KirokuAgent
import KirokuPKI
import KirokuProtocol
import Logging
import ServiceLifecycle
import UnixSignals

/// `kiroku-agent`: the terminal's journal and sync daemon. Only wiring lives here; see `KirokuAgent`.
@main
struct KirokuAgentCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kiroku-agent",
        abstract: localized(
            "記録（Kiroku）エージェント：この端末でセキュリティの記録を確実に保存し、ハブに送る。",
            en: "Kiroku agent: journals security events durably on this terminal and syncs them to the hub."),
        discussion: localized(
            "サブコマンドなしでは常駐して動く（設定は KIROKU_AGENT_CONFIG か引数から）。",
            en: "Without a subcommand it runs the daemon (configuration from KIROKU_AGENT_CONFIG or flags)."),
        subcommands: [Record.self, Ledger.self, Scan.self, Import.self, Run.self, Status.self, AcceptLog.self],
        defaultSubcommand: Run.self)

    /// `--lang ja|en` anywhere on the line (``Language/takeFlag(from:)``); otherwise `KIROKU_LANG` or `LANG`.
    static func main() async { await Self.main(Language.commandLine(program: "kiroku-agent")) }
}

/// Options every subcommand shares: where the configuration and journal are.
struct CommonOptions: ParsableArguments {
    @Option(
        help: .localized(
            "JSON の設定ファイル（Agent/agent.example.json を参照）。", en: "JSON configuration file (see Agent/agent.example.json)."
        )) var config: String?
    @Option(help: .localized("このエージェントのID（証明書のとおり）。", en: "This agent's id (as in its certificate).")) var id: String?
    @Option(help: .localized("この端末の設置場所。すべての記録に付く。", en: "Where this terminal stands, put on every event.")) var site:
        String?
    @Option(help: .localized("SQLite のジャーナルファイル。", en: "SQLite journal file.")) var journal: String?
    @Option(help: .localized("受け付けソケットのパス。", en: "Ingestion socket path.")) var socket: String?
    @Option(help: .localized("ハブのURL、https://NAME:PORT。", en: "Hub URL, https://NAME:PORT.")) var hubUrl: String?
    @Option(help: .localized("市の CA 証明書（PEM）。", en: "The municipality's CA certificate (PEM).")) var ca: String?
    @Option(help: .localized("このエージェントの証明書（PEM）。", en: "This agent's certificate (PEM).")) var cert: String?
    @Option(help: .localized("このエージェントの秘密鍵（PEM）。", en: "This agent's private key (PEM).")) var key: String?
    @Option(help: .localized("死活通知の間隔（秒）。", en: "Seconds between heartbeat events.")) var heartbeatSeconds: Double?

    /// Flags, then environment, then file, then defaults.
    func load() throws -> AgentConfiguration {
        // Whatever this process creates (journal, WAL, folders) is the agent's alone; the socket is given
        // its configured mode explicitly.
        umask(0o077)
        let environment = ProcessInfo.processInfo.environment
        var configuration: AgentConfiguration
        if let file = config ?? environment["KIROKU_AGENT_CONFIG"] {
            configuration = try AgentConfiguration.load(file: file)
        } else {
            guard
                let id = id ?? environment["KIROKU_AGENT_ID"]
                    ?? (cert ?? environment["KIROKU_AGENT_CERTIFICATE"]).map({ _ in "" })
            else {
                throw KirokuError(.configuration, "give --config FILE, --cert FILE or --id ID")
            }
            configuration = AgentConfiguration(agentID: id)
        }
        configuration.applyEnvironment(environment)
        if let id { configuration.agentID = id }
        if let site { configuration.site = site }
        if let journal { configuration.journal = journal }
        if let socket { configuration.socket = socket }
        if let hubUrl { configuration.hubURL = hubUrl }
        if let ca { configuration.ca = ca }
        if let cert { configuration.certificate = cert }
        if let key { configuration.privateKey = key }
        if let heartbeatSeconds { configuration.heartbeatSeconds = heartbeatSeconds }
        try configuration.resolveIdentity(readIdentity: CertificateFile.identity(path:))
        try configuration.validate()
        return configuration
    }
}

/// A `--time` as a person types it (``PersonTime``), as the wire's form; nil stays nil (now).
func personTime(_ text: String?) throws -> String? {
    guard let text else { return nil }
    guard let time = PersonTime.parse(text) else {
        throw KirokuError(.invalidEvent, "--time must be \(PersonTime.forms), not '\(text.prefix(40))'")
    }
    return time.rfc3339
}

func fail(_ error: KirokuError) -> ExitCode {
    let head = Language.prefersJapanese ? "kiroku-agent: \(error.code.japanese) [\(error.code.rawValue)]\n" : ""
    FileHandle.standardError.write(Data("\(head)kiroku-agent: \(error)\n".utf8))
    return ExitCode(error.code == .invalidEvent || error.code == .configuration ? 64 : 2)
}

extension KirokuAgentCommand {
    struct Record: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: localized(
                "記録を1件ジャーナルに追加する。確実に保存されたときだけ終了状態 0。",
                en: "Append one event to the journal; exits 0 only once it is durable."),
            discussion: """
                \(localized("例（入退室管理簿）", en: "Example (入退室管理簿)")): kiroku-agent record --config agent.json --kind access --action enter \\
                    --actor P0012 --subject 電算室 --attr method=manual_ledger --attr permit=R-2026-014
                """)
        @OptionGroup var common: CommonOptions
        @Option(
            help: .localized(
                "種別：\(EventKind.all.map(\.name).joined(separator: "、"))。",
                en: "Event kind: \(EventKind.all.map(\.name).joined(separator: ", ")).")
        ) var kind: String
        @Option(
            help: .localized("その種別の操作（例：enter、lookup、issue）。", en: "Action of that kind (e.g. enter, lookup, issue)."))
        var action: String
        @Option(help: .localized("行った人や物（職員ID、カードID、プログラム）。", en: "Who or what did it (person id, card id, program)."))
        var actor: String
        @Option(help: .localized("対象（部屋、住民の記録、機器）。", en: "What it was done to (room, resident record, device)."))
        var subject: String = ""
        @Option(
            name: .customLong("attr"), help: .localized("属性 KEY=VALUE（複数指定可）。", en: "Attribute KEY=VALUE (repeatable).")
        ) var attrs: [String] = []
        @Option(
            help: .localized(
                "日時：2026/4/1 9:30、2026-04-01 09:30 または 令和8年4月1日 9:30（JST。省略時は今）。",
                en: "Event time: 2026/4/1 9:30, 2026-04-01 09:30 or 令和8年4月1日 9:30, JST (default: now).")) var time:
            String?

        func run() async throws {
            do {
                let configuration = try common.load()
                var attributes: [String: String] = [:]
                for pair in attrs {
                    guard let equals = pair.firstIndex(of: "="), equals != pair.startIndex else {
                        throw KirokuError(.invalidEvent, "--attr must be KEY=VALUE, got '\(pair)'")
                    }
                    attributes[String(pair[..<equals])] = String(pair[pair.index(after: equals)...])
                }
                let journal = try Journal.open(
                    path: configuration.journal, agentID: configuration.agentID, site: configuration.site)
                let draft = EventDraft(
                    kind: kind, action: action, actor: actor, subject: subject, attrs: attributes,
                    time: try personTime(time))
                try draft.validateFromProducer()
                let event = try await journal.append([draft])[0]
                print("committed seq \(event.seq) hash \(event.hash)")
            } catch let error as KirokuError {
                throw fail(error)
            }
        }
    }

    struct AcceptLog: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "accept-log",
            abstract: localized(
                "ログの警報の後：変わった理由を会議が把握したら、ハブのログを今の状態で受け入れる（記録される）。",
                en: "After a log alarm: take the hub's log as it is now, once the 会議 knows why it changed (journalled)."
            ),
            discussion: """
                \(localized(
                    "ログの警報は、ハブが以前に示した履歴を延長しない履歴をこのエージェントに示したことを意味する。\n会議が理由（バックアップからの復元など）を確かめてから受け入れる：",
                    en: "A log alarm means the hub showed this agent a history that does not extend what it showed before.\nOnly after the 会議 has established why (a hub restored from a backup, say) is it accepted:"))
                kiroku-agent accept-log --config agent.json --by P0012 --reason "2026-12-01 復元 (会議 承認)"
                """)
        @OptionGroup var common: CommonOptions
        @Option(help: .localized("受け取る人（職員ID）。", en: "Who accepts it (person id).")) var by: String
        @Option(help: .localized("理由と、決めた人。", en: "Why, and who decided.")) var reason: String

        func run() async throws {
            do {
                let configuration = try common.load()
                guard !reason.trimmingCharacters(in: .whitespaces).isEmpty else {
                    throw KirokuError(.configuration, "--reason must say why the changed log is accepted")
                }
                let journal = try Journal.open(
                    path: configuration.journal, agentID: configuration.agentID, site: configuration.site)
                try await journal.acceptLog(by: by, reason: reason)
                print(
                    localized(
                        "受け入れました。次の受領証が既知の木になります。agent/log_accepted として記録しました",
                        en: "accepted: the next receipt sets the known tree; journalled as agent/log_accepted"))
            } catch let error as KirokuError {
                throw fail(error)
            }
        }
    }

    struct Run: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: localized(
                "常駐して動く：受け付けソケット、送信、死活通知。SIGTERM か SIGINT まで。",
                en: "Run the daemon: ingestion socket, sync loop and heartbeats, until SIGTERM or SIGINT."))
        @OptionGroup var common: CommonOptions
        @Option(
            help: .localized(
                "ログの詳しさ：trace、debug、info、notice、warning、error。",
                en: "Log level: trace, debug, info, notice, warning, error.")) var logLevel: String?

        func run() async throws {
            do {
                let configuration = try common.load()
                var logger = Logger(label: "kiroku.agent")
                logger.logLevel =
                    Logger.Level(rawValue: logLevel ?? ProcessInfo.processInfo.environment["LOG_LEVEL"] ?? "info")
                    ?? .info
                logger[metadataKey: "kiroku.agent.id"] = "\(configuration.agentID)"
                let (journal, services) = try await AgentApp.services(configuration: configuration, logger: logger)
                let group = ServiceGroup(
                    configuration: .init(
                        services: services.map { .init(service: $0) }, gracefulShutdownSignals: [.sigterm, .sigint],
                        logger: logger))
                try await group.run()
                try await journal.append([
                    EventDraft(kind: "agent", action: "stopped", actor: "kiroku-agent", subject: configuration.agentID)
                ])
                // Its last word to the hub, with a bounded wait: a terminal switched off on purpose is not a
                // lost one (第20②); if the hub is away the event goes at the next start.
                let delivered = await SyncService(
                    journal: journal, configuration: configuration, doorbell: Doorbell(), logger: logger
                )
                .flush(timeout: .milliseconds(Int64(configuration.stopFlushSeconds * 1000)))
                logger.info("stopped", metadata: ["kiroku.stop.delivered": "\(delivered)"])
            } catch let error as KirokuError {
                throw fail(error)
            }
        }
    }

    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: localized(
                "未送信の件数、最後に成功した送信、最後の受領証、ハブに届いたかを表示する。",
                en: "Show backlog, last successful sync, last receipt and whether the hub was reachable."))
        @OptionGroup var common: CommonOptions
        @Flag(help: .localized("文章の代わりに JSON で出力する。", en: "Print JSON instead of text.")) var json = false

        func run() async throws {
            do {
                let configuration = try common.load()
                let journal = try Journal.open(
                    path: configuration.journal, agentID: configuration.agentID, site: configuration.site)
                let status = try journal.status()
                if json {
                    let encoder = JSONEncoder()
                    encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
                    print(String(decoding: try encoder.encode(status), as: UTF8.self))
                    return
                }
                func time(_ ms: Int64?) -> String {
                    ms.map {
                        Timestamp(epochMilliseconds: $0, offsetMinutes: Timestamp.jstOffsetMinutes).displayText + " JST"
                    }
                        ?? localized("なし", en: "never")
                }
                // One line per fact, the label padded to the same display width (a kanji takes two cells).
                func line(_ japanese: String, _ english: String, _ value: String) {
                    let label = localized(japanese, en: english) + ":"
                    let width = label.unicodeScalars.reduce(0) { $0 + ($1.value >= 0x2E80 ? 2 : 1) }
                    print(label + String(repeating: " ", count: max(1, 18 - width)) + value)
                }
                line("端末", "agent", status.agentID)
                line("ジャーナル", "journal", configuration.journal)
                line("最終連番", "head seq", "\(status.headSeq)")
                line("送信済み", "delivered through", "\(status.deliveredThrough)")
                line(
                    "未送信", "backlog",
                    localized(
                        "\(status.backlog) 件（ハブの受領待ち）", en: "\(status.backlog) event(s) not yet acknowledged by the hub"
                    ))
                line("端末内に保持", "kept locally", localized("\(status.keptEvents) 件", en: "\(status.keptEvents) event(s)"))
                line("最後の送信", "last sync", time(status.lastSyncMS))
                line("最後の試行", "last attempt", time(status.lastAttemptMS))
                let reachable =
                    status.lastAttemptMS == nil
                    ? localized("まだ試していない", en: "not tried yet")
                    : status.hubReachable ? localized("はい", en: "yes") : localized("いいえ", en: "no")
                line("ハブへの到達", "hub reachable", reachable)
                if let error = status.lastError { line("最後のエラー", "last error", error) }
                if let reason = status.pendingEpoch {
                    line(
                        "新しい連鎖", "new epoch",
                        localized(
                            "保留中（\(reason)）。次にハブと通信したとき、欠落の記録から始まる",
                            en: "pending (\(reason)); begins with a loss record at the next contact with the hub"))
                }
                if let aside = status.corruptJournalAside {
                    line(
                        "壊れたジャーナル", "corrupt journal",
                        localized("そのまま \(aside) に移した", en: "moved aside intact to \(aside)"))
                }
                if let receipt = status.lastReceipt?.receipt {
                    let head = receipt.headHash.prefix(16)
                    line(
                        "最後の受領証", "last receipt",
                        localized(
                            "連番 \(receipt.firstSeq)-\(receipt.throughSeq)、先頭 \(head)…、鍵 \(receipt.keyID)、\(receipt.hubTime)",
                            en:
                                "seq \(receipt.firstSeq)-\(receipt.throughSeq) head \(head)… key \(receipt.keyID) at \(receipt.hubTime)"
                        ))
                }
                if let known = try journal.knownTree() {
                    let root = Hex.encode(known.root).prefix(16)
                    line(
                        "ハブのログ", "hub's log",
                        localized(
                            "木のサイズ \(known.size)（ルート \(root)…）まで整合",
                            en: "consistent through tree size \(known.size) root \(root)…"))
                }
                if let alarm = try journal.logAlarm() {
                    // "LOG ALARM" in both languages: the word a 管理者 or a monitoring script looks for.
                    print(
                        localized(
                            "!!! LOG ALARM（ログの警報）: \(alarm) — ハブの記録が書き換えられた可能性がある。会議に知らせること",
                            en: "!!! LOG ALARM:    \(alarm) — the hub's record may have been rewritten; tell the 会議"))
                }
            } catch let error as KirokuError {
                throw fail(error)
            }
        }
    }
}
