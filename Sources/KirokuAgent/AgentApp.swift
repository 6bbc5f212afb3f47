import KirokuProtocol
public import Logging
public import ServiceLifecycle

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// Builds the running agent (ingestion socket, sync loop, heartbeats) from its configuration. The
/// `kiroku-agent run` command and the tests both use it.
public enum AgentApp {
    /// The services of a running agent, ready for a `ServiceGroup`. Journals `agent/started` first.
    public static func services(
        configuration: AgentConfiguration, logger: Logger, onListening: @escaping @Sendable () -> Void = {}
    ) async throws -> (journal: Journal, services: [any Service]) {
        try configuration.validate()
        _ = try configuration.credentials()
        // Before anything is journalled: a second agent pointed at a live agent's socket stops here.
        try IngestServer.refuseLiveSocket(configuration.socket)
        logger.info("checking the journal", metadata: ["kiroku.journal": "\(configuration.journal)"])
        let journal = try Journal.open(
            path: configuration.journal, agentID: configuration.agentID, site: configuration.site, checkIntegrity: true)
        if let corrupt = journal.recovered {
            logger.critical(
                "the journal was corrupt: moved aside intact, started an empty one; a new chain epoch with a loss record begins at the next contact with the hub",
                metadata: [
                    "kiroku.journal.aside": "\(corrupt.aside)", "kiroku.journal.problem": "\(corrupt.problem)",
                    "kiroku.journal.old_head": "\(corrupt.oldHead.map { "\($0)" } ?? "unreadable")",
                ])
        }
        let doorbell = Doorbell()
        let committer = GroupCommitter(journal: journal) { _ in doorbell.ring() }
        // A clock set back while the agent was stopped: now is earlier than the newest journalled event.
        if let last = try journal.lastEventTime() {
            let now = Timestamp.localNow()
            let behind = last.epochMilliseconds - now.epochMilliseconds
            if behind > Int64(configuration.clockJumpSeconds * 1000) {
                try await journal.append([
                    EventDraft(
                        kind: "agent", action: "clock_jump", actor: "kiroku-agent", subject: configuration.agentID,
                        attrs: [
                            "jump_ms": "\(-behind)", "wall_before": last.rfc3339, "wall_after": now.rfc3339,
                            "at": "start",
                        ])
                ])
                logger.warning(
                    "the wall clock is behind the newest journalled event",
                    metadata: ["kiroku.clock.behind_ms": "\(behind)"])
            }
        }
        try await journal.append([
            EventDraft(
                kind: "agent", action: "started", actor: "kiroku-agent", subject: configuration.agentID,
                attrs: ["pid": "\(ProcessInfo.processInfo.processIdentifier)"])
        ])
        // The committer first: services stop in reverse order, so it outlives those that submit to it.
        var services: [any Service] = [
            committer,
            IngestServer(
                path: configuration.socket, mode: UInt16(configuration.socketMode, radix: 8) ?? 0o660,
                committer: committer, logger: logger, onListening: onListening),
            SyncService(journal: journal, configuration: configuration, doorbell: doorbell, logger: logger),
            HeartbeatService(
                journal: journal, committer: committer,
                interval: .milliseconds(Int64(configuration.heartbeatSeconds * 1000)),
                keepDelivered: .seconds(Int64(configuration.keepDeliveredDays * 86_400)),
                clockJump: .milliseconds(Int64(configuration.clockJumpSeconds * 1000)), logger: logger),
        ]
        if !configuration.files.isEmpty {
            services.append(
                FileCollector(
                    journal: journal, sources: configuration.files,
                    interval: .milliseconds(Int64(configuration.filesPollSeconds * 1000)), doorbell: doorbell,
                    logger: logger))
        }
        if configuration.inventory.isEnabled {
            services.append(
                InventoryMonitor(
                    journal: journal, settings: configuration.inventory, doorbell: doorbell, logger: logger))
        }
        return (journal, services)
    }
}
