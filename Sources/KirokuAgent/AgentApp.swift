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
        let journal = try Journal.open(path: configuration.journal, agentID: configuration.agentID, site: configuration.site)
        let doorbell = Doorbell()
        let committer = GroupCommitter(journal: journal) { _ in doorbell.ring() }
        try await journal.append([
            EventDraft(
                kind: "agent", action: "started", actor: "kiroku-agent", subject: configuration.agentID,
                attrs: ["pid": "\(ProcessInfo.processInfo.processIdentifier)"])
        ])
        // The committer first: services stop in reverse order, so it outlives those that submit to it.
        let services: [any Service] = [
            committer,
            IngestServer(
                path: configuration.socket, mode: UInt16(configuration.socketMode, radix: 8) ?? 0o660,
                committer: committer, logger: logger, onListening: onListening),
            SyncService(journal: journal, configuration: configuration, doorbell: doorbell, logger: logger),
            HeartbeatService(
                journal: journal, committer: committer, interval: .milliseconds(Int64(configuration.heartbeatSeconds * 1000)),
                keepDelivered: .seconds(Int64(configuration.keepDeliveredDays * 86_400)), logger: logger),
        ]
        return (journal, services)
    }
}
