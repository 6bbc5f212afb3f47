import KirokuProtocol
public import Logging
public import ServiceLifecycle

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Journals a chained `agent/heartbeat` event at a fixed interval (so the hub can tell silence from loss,
/// invariant 6), and prunes delivered events older than the keep window.
public struct HeartbeatService: Service {
    let journal: Journal
    let committer: GroupCommitter
    let interval: Duration
    let keepDelivered: Duration
    let logger: Logger

    public init(journal: Journal, committer: GroupCommitter, interval: Duration, keepDelivered: Duration, logger: Logger) {
        self.journal = journal
        self.committer = committer
        self.interval = interval
        self.keepDelivered = keepDelivered
        self.logger = logger
    }

    public func run() async throws {
        let started = ContinuousClock.now
        do {
            try await cancelWhenGracefulShutdown {
                while !Task.isCancelled {
                    try await Task.sleep(for: interval)
                    let status = try journal.status()
                    let uptime = (ContinuousClock.now - started).components.seconds
                    _ = try await committer.submit(
                        EventDraft(
                            kind: "agent", action: "heartbeat", actor: "kiroku-agent", subject: journal.agentID,
                            attrs: ["backlog": "\(status.backlog)", "uptime_s": "\(uptime)"]))
                    let pruned = try journal.pruneDelivered(
                        olderThan: Date().addingTimeInterval(-Double(keepDelivered.components.seconds)))
                    if pruned > 0 {
                        logger.info("pruned delivered events past the keep window", metadata: ["kiroku.pruned": "\(pruned)"])
                    }
                }
            }
        } catch is CancellationError {
        }
    }
}
