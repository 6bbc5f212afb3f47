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
        abstract: "Kiroku agent: journals security events durably on this terminal and syncs them to the hub.",
        discussion: "Without a subcommand it runs the daemon (configuration from KIROKU_AGENT_CONFIG or flags).",
        subcommands: [Record.self, Ledger.self, Scan.self, Run.self, Status.self, AcceptLog.self], defaultSubcommand: Run.self)
}

/// Options every subcommand shares: where the configuration and journal are.
struct CommonOptions: ParsableArguments {
    @Option(help: "JSON configuration file (see Agent/agent.example.json).") var config: String?
    @Option(help: "This agent's id (as in its certificate).") var id: String?
    @Option(help: "Where this terminal stands, put on every event.") var site: String?
    @Option(help: "SQLite journal file.") var journal: String?
    @Option(help: "Ingestion socket path.") var socket: String?
    @Option(help: "Hub URL, https://NAME:PORT.") var hubUrl: String?
    @Option(help: "The municipality's CA certificate (PEM).") var ca: String?
    @Option(help: "This agent's certificate (PEM).") var cert: String?
    @Option(help: "This agent's private key (PEM).") var key: String?
    @Option(help: "Seconds between heartbeat events.") var heartbeatSeconds: Double?

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
            guard let id = id ?? environment["KIROKU_AGENT_ID"] ?? (cert ?? environment["KIROKU_AGENT_CERTIFICATE"]).map({ _ in "" })
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
    FileHandle.standardError.write(Data("kiroku-agent: \(error)\n".utf8))
    return ExitCode(error.code == .invalidEvent || error.code == .configuration ? 64 : 2)
}

extension KirokuAgentCommand {
    struct Record: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Append one event to the journal; exits 0 only once it is durable.",
            discussion: """
                Example (入退室管理簿): kiroku-agent record --config agent.json --kind access --action enter \\
                    --actor P0012 --subject 電算室 --attr method=manual_ledger --attr permit=R-2026-014
                """)
        @OptionGroup var common: CommonOptions
        @Option(help: "Event kind: \(EventKind.all.map(\.name).joined(separator: ", ")).") var kind: String
        @Option(help: "Action of that kind (e.g. enter, lookup, issue).") var action: String
        @Option(help: "Who or what did it (person id, card id, program).") var actor: String
        @Option(help: "What it was done to (room, resident record, device).") var subject: String = ""
        @Option(name: .customLong("attr"), help: "Attribute KEY=VALUE (repeatable).") var attrs: [String] = []
        @Option(help: "Event time: 2026/4/1 9:30, 2026-04-01 09:30 or 令和8年4月1日 9:30, JST (default: now).") var time: String?

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
                    kind: kind, action: action, actor: actor, subject: subject, attrs: attributes, time: try personTime(time))
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
            abstract: "After a log alarm: take the hub's log as it is now, once the 会議 knows why it changed (journalled).",
            discussion: """
                A log alarm means the hub showed this agent a history that does not extend what it showed before.
                Only after the 会議 has established why (a hub restored from a backup, say) is it accepted:
                kiroku-agent accept-log --config agent.json --by P0012 --reason "2026-12-01 復元 (会議 承認)"
                """)
        @OptionGroup var common: CommonOptions
        @Option(help: "Who accepts it (person id).") var by: String
        @Option(help: "Why, and who decided.") var reason: String

        func run() async throws {
            do {
                let configuration = try common.load()
                guard !reason.trimmingCharacters(in: .whitespaces).isEmpty else {
                    throw KirokuError(.configuration, "--reason must say why the changed log is accepted")
                }
                let journal = try Journal.open(path: configuration.journal, agentID: configuration.agentID, site: configuration.site)
                try await journal.acceptLog(by: by, reason: reason)
                print("accepted: the next receipt sets the known tree; journalled as agent/log_accepted")
            } catch let error as KirokuError {
                throw fail(error)
            }
        }
    }

    struct Run: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run the daemon: ingestion socket, sync loop and heartbeats, until SIGTERM or SIGINT.")
        @OptionGroup var common: CommonOptions
        @Option(help: "Log level: trace, debug, info, notice, warning, error.") var logLevel: String?

        func run() async throws {
            do {
                let configuration = try common.load()
                var logger = Logger(label: "kiroku.agent")
                logger.logLevel =
                    Logger.Level(rawValue: logLevel ?? ProcessInfo.processInfo.environment["LOG_LEVEL"] ?? "info") ?? .info
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
                let delivered = await SyncService(journal: journal, configuration: configuration, doorbell: Doorbell(), logger: logger)
                    .flush(timeout: .seconds(5))
                logger.info("stopped", metadata: ["kiroku.stop.delivered": "\(delivered)"])
            } catch let error as KirokuError {
                throw fail(error)
            }
        }
    }

    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show backlog, last successful sync, last receipt and whether the hub was reachable.")
        @OptionGroup var common: CommonOptions
        @Flag(help: "Print JSON instead of text.") var json = false

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
                    ms.map { Timestamp(epochMilliseconds: $0, offsetMinutes: Timestamp.jstOffsetMinutes).displayText + " JST" }
                        ?? "never"
                }
                print("agent:            \(status.agentID)")
                print("journal:          \(configuration.journal)")
                print("head seq:         \(status.headSeq)")
                print("delivered through: \(status.deliveredThrough)")
                print("backlog:          \(status.backlog) event(s) not yet acknowledged by the hub")
                print("kept locally:     \(status.keptEvents) event(s)")
                print("last sync:        \(time(status.lastSyncMS))")
                print("last attempt:     \(time(status.lastAttemptMS))")
                print("hub reachable:    \(status.lastAttemptMS == nil ? "not tried yet" : status.hubReachable ? "yes" : "no")")
                if let error = status.lastError { print("last error:       \(error)") }
                if let reason = status.pendingEpoch {
                    print("new epoch:        pending (\(reason)); begins with a loss record at the next contact with the hub")
                }
                if let aside = status.corruptJournalAside { print("corrupt journal:  moved aside intact to \(aside)") }
                if let receipt = status.lastReceipt?.receipt {
                    print(
                        "last receipt:     seq \(receipt.firstSeq)-\(receipt.throughSeq) head \(receipt.headHash.prefix(16))… key \(receipt.keyID) at \(receipt.hubTime)"
                    )
                }
                if let known = try journal.knownTree() {
                    print("hub's log:        consistent through tree size \(known.size) root \(Hex.encode(known.root).prefix(16))…")
                }
                if let alarm = try journal.logAlarm() {
                    print("!!! LOG ALARM:    \(alarm) — the hub's record may have been rewritten; tell the 会議")
                }
            } catch let error as KirokuError {
                throw fail(error)
            }
        }
    }
}
