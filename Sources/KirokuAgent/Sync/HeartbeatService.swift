import KirokuProtocol
public import Logging
public import ServiceLifecycle

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// Journals a chained `agent/heartbeat` event at a fixed interval (so the hub can tell silence from loss,
/// invariant 6), journals `agent/clock_jump` when the wall clock moved by more than the time that really
/// passed (someone set the clock, or NTP stepped it), and prunes delivered events older than the keep window.
public struct HeartbeatService: Service {
    let journal: Journal
    let committer: GroupCommitter
    let interval: Duration
    let keepDelivered: Duration
    let clockJump: Duration
    let logger: Logger

    public init(
        journal: Journal, committer: GroupCommitter, interval: Duration, keepDelivered: Duration,
        clockJump: Duration = .seconds(60), logger: Logger
    ) {
        self.journal = journal
        self.committer = committer
        self.interval = interval
        self.keepDelivered = keepDelivered
        self.clockJump = clockJump
        self.logger = logger
    }

    public func run() async throws {
        let started = ContinuousClock.now
        do {
            try await cancelWhenGracefulShutdown {
                var wallBefore = Date()
                var monotonicBefore = ContinuousClock.now
                while !Task.isCancelled {
                    try await Task.sleep(for: interval)
                    let wallNow = Date()
                    let monotonicNow = ContinuousClock.now
                    let passed = monotonicNow - monotonicBefore
                    let moved = Duration.milliseconds(Int64(wallNow.timeIntervalSince(wallBefore) * 1000))
                    let jump = moved - passed
                    if jump > clockJump || jump < .zero - clockJump {
                        _ = try await committer.submit(
                            EventDraft(
                                kind: "agent", action: "clock_jump", actor: "kiroku-agent", subject: journal.agentID,
                                attrs: [
                                    "jump_ms":
                                        "\(jump.components.seconds * 1000 + jump.components.attoseconds / 1_000_000_000_000_000)",
                                    "wall_before": Timestamp.localNow(wallBefore).rfc3339,
                                    "wall_after": Timestamp.localNow(wallNow).rfc3339,
                                ]))
                        logger.warning("the wall clock jumped", metadata: ["kiroku.clock.jump": "\(jump)"])
                    }
                    wallBefore = wallNow
                    monotonicBefore = monotonicNow
                    let progress = try await journal.suspending.progress()
                    let uptime = (ContinuousClock.now - started).components.seconds
                    do {
                        _ = try await committer.submit(
                            EventDraft(
                                kind: "agent", action: "heartbeat", actor: "kiroku-agent", subject: journal.agentID,
                                attrs: [
                                    "backlog": "\(progress.headSeq - progress.deliveredThrough)",
                                    "uptime_s": "\(uptime)",
                                ]))
                    } catch let error as KirokuError where error.code == .diskFull || error.code == .journal {
                        // Counted in the loss record the committer writes once the journal takes writes again.
                        logger.error("heartbeat not journalled", metadata: ["kiroku.error": "\(error.code)"])
                    }
                    let pruned =
                        (try? await journal.suspending.pruneDelivered(
                            olderThan: Date().addingTimeInterval(-Double(keepDelivered.components.seconds)))) ?? 0
                    if pruned > 0 {
                        logger.info(
                            "pruned delivered events past the keep window", metadata: ["kiroku.pruned": "\(pruned)"])
                    }
                }
            }
        } catch is CancellationError {
        }
    }
}
