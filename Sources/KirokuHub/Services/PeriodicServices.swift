import Crypto
import Foundation
import KirokuProtocol
import Logging
import ServiceLifecycle

/// The hub's periodic jobs share one loop: a round every `interval` (or sooner, when `wake` rings) until
/// the hub stops; a failed round is logged and tried again after `interval`; stopping (or a server that
/// failed to start) is not a failure.
struct PeriodicJob: Sendable {
    let interval: Duration
    let failure: String
    let logger: Logger
    var wake: Doorbell? = nil

    func run(_ round: () async throws -> Void) async {
        await runTimed { () async throws -> Duration in
            try await round()
            return interval
        }
    }

    /// Each round says how long to wait before the next (a job with deadlines of its own).
    func runTimed(_ round: () async throws -> Duration) async {
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            var wait = interval
            do {
                wait = try await round()
            } catch is CancellationError {
                // Stopping: not a failure of this job.
            } catch {
                logger.error("\(failure)", metadata: ["kiroku.error": "\(error)"])
            }
            let pause = wait
            if let wake {
                await cancelWhenGracefulShutdown { await wake.wait(timeout: pause) }
            } else {
                try? await cancelWhenGracefulShutdown { try await Task.sleep(for: pause) }
            }
        }
    }
}

/// Evaluates the rules as events arrive (woken by ``HubStore/arrivals`` after each commit that added events,
/// never polling) and the time-driven checks every minute. Arrivals during a round ring again, so none
/// waits for the next minute.
struct RuleService: Service {
    let store: HubStore
    let settings: RuleSettings
    let logger: Logger

    /// How often the time-driven checks run.
    static let sweepEvery = Duration.seconds(60)
    /// How many events the report's counts take from the record in one round (seconds at 100M events): the
    /// catch-up after an upgrade runs over many rounds, so the minute's sweep and a shutdown never wait for all
    /// of it.
    static let countingPerRound: Int64 = 1_000_000

    func run() async throws {
        var lastSweep = ContinuousClock.now - .seconds(3600)
        // The report's per-day counts taken from the record (after an upgrade, or hours changed): minutes on a
        // large record, so said as they go, every million events.
        var taken: Int64 = 0
        var behind = false
        let counted: (Int64) -> Void = { step in
            behind = step >= ReportCounts.catchUpStep
            let before = taken
            taken += step
            if taken / 1_000_000 > before / 1_000_000 {
                logger.notice(
                    "taking the report's per-day counts from the record; the report reads the record until they are done",
                    metadata: ["kiroku.report.counted": "\(taken)"])
            }
            if step < ReportCounts.catchUpStep {
                if taken >= 1_000_000 {
                    logger.notice(
                        "the report's per-day counts are done", metadata: ["kiroku.report.counted": "\(taken)"])
                }
                taken = 0
            }
        }
        // A failed round is tried again after five seconds (or at the next arrival).
        await PeriodicJob(
            interval: .seconds(5), failure: "rule evaluation failed; it is retried", logger: logger,
            wake: store.arrivals
        ).runTimed { () async throws -> Duration in
            behind = false
            if ContinuousClock.now - lastSweep >= Self.sweepEvery {
                try await store.evaluateRules(settings, countingLimit: Self.countingPerRound, counted: counted)
                lastSweep = .now
            } else {
                try await store.evaluatePendingRules(settings, countingLimit: Self.countingPerRound, counted: counted)
            }
            // Until the next sweep is due, however many arrivals woke the rounds in between; at once while the
            // counts are still being taken.
            return behind ? .zero : max(.zero, lastSweep + Self.sweepEvery - .now)
        }
    }
}

/// Publishes a signed checkpoint every `interval` while events arrive (none when the log has not grown).
struct CheckpointService: Service {
    let store: any RecordStore
    let origin: String
    let keys: [Curve25519.Signing.PrivateKey]
    let interval: Duration
    let logger: Logger

    func run() async throws {
        await PeriodicJob(interval: interval, failure: "could not publish a checkpoint", logger: logger).run {
            let published = try await store.issueCheckpoint(origin: origin, keys: keys)
            logger.debug("checkpoint", metadata: ["kiroku.log.size": "\(published.checkpoint.size)"])
        }
    }
}

/// Runs the purge every `interval` (daily by default), as the hub itself.
struct PurgeService: Service {
    let store: HubStore
    let policy: RetentionPolicy
    let interval: Duration
    let logger: Logger

    func run() async throws {
        await PeriodicJob(
            interval: interval, failure: "the retention purge failed; it runs again later", logger: logger
        ).run {
            let report = try await store.purge(policy: policy, by: "kiroku-hub")
            let purged = report.lines.reduce(0) { $0 + $1.purged }
            if purged > 0 {
                logger.notice("retention purge", metadata: ["kiroku.purged": "\(purged)"])
            }
        }
    }
}

/// Makes the months' partitions of a record on PostgreSQL as the calendar moves on, daily (each hub; the first
/// to come does it, the others find them made).
struct PartitionService: Service {
    let store: PostgresRecordStore
    let logger: Logger

    func run() async throws {
        await PeriodicJob(
            interval: .seconds(86_400), failure: "could not make the record's monthly partitions", logger: logger
        ).run { try await store.makePartitions(around: Date()) }
    }
}
