/// The agent's sync decisions as a pure state machine (docs/ARCHITECTURE.md, conventions): what to do next, given what the hub
/// last said and what the journal holds. The I/O owner (``SyncService``) carries out the actions and
/// reports back; this type never touches a socket or the disk, so every path is unit-tested.
public struct SyncCursor: Sendable {
    /// What the I/O owner should do next.
    public enum Action: Sendable, Equatable {
        /// Ask the hub where this agent's chain stands (`GET /v1/agent/state`).
        case queryState
        /// Send the events from this sequence number on.
        case send(from: Int64)
        /// Nothing to send: wait for new events (or the poll interval).
        case idle
        /// Back off after a failure: wait this long before the next attempt.
        case wait(Duration)
    }

    /// Exponential backoff with jitter: the n-th consecutive failure waits a random time in
    /// `[d/2, d]` where `d = min(cap, base * 2^(n-1))`.
    public struct Backoff: Sendable, Equatable {
        public var base: Duration
        public var cap: Duration
        public init(base: Duration = .milliseconds(250), cap: Duration = .seconds(60)) {
            self.base = base
            self.cap = cap
        }

        /// The ceiling of the wait after `failures` consecutive failures.
        public func ceiling(failures: Int) -> Duration {
            guard failures > 0 else { return .zero }
            let factor = 1 << min(failures - 1, 30)
            let grown = base * factor
            return grown > cap ? cap : grown
        }
    }

    /// What the hub holds for this agent, as last learned (nil: ask before sending).
    public private(set) var hubSeq: Int64?
    /// Consecutive failures since the last success.
    public private(set) var failures = 0
    /// Sending again what the hub holds, for its receipt; and whether that failed since the last receipt (then
    /// the next sends start after what the hub holds, as if the receipt were not wanted: a hub that cannot sign
    /// for a batch again must not hold back every event after it).
    private var resending = false
    private var resendFailed = false
    private var retryAt: ContinuousClock.Instant?
    public let backoff: Backoff

    public init(backoff: Backoff = Backoff()) {
        self.backoff = backoff
    }

    /// The next action, given the journal's newest sequence number.
    public func next(now: ContinuousClock.Instant, localHead: Int64) -> Action {
        if let retryAt, now < retryAt {
            return .wait(retryAt - now)
        }
        guard let hubSeq else { return .queryState }
        return localHead > hubSeq ? .send(from: hubSeq + 1) : .idle
    }

    /// The hub said it holds the chain through `lastSeq`; the journal has receipts through
    /// `deliveredThrough`. Sending resumes after the lower of the two: what the hub holds without a receipt
    /// here is sent again, for the receipt (the hub counts it as duplicates and stores nothing twice).
    public mutating func stateReceived(lastSeq: Int64, deliveredThrough: Int64) {
        let from = resendFailed ? lastSeq : min(lastSeq, deliveredThrough)
        resending = from < lastSeq
        hubSeq = from
        failures = 0
        retryAt = nil
    }

    /// The hub's verified receipt covers everything through `through`.
    public mutating func acknowledged(through: Int64) {
        hubSeq = max(hubSeq ?? 0, through)
        resending = false
        resendFailed = false
        failures = 0
        retryAt = nil
    }

    /// An attempt failed (transport error or refusal). Forget what the hub holds (ask again before the
    /// next send, since a refusal may mean our picture of the hub is wrong) and back off with jitter.
    /// Returns the chosen wait.
    @discardableResult
    public mutating func failed<R: RandomNumberGenerator>(now: ContinuousClock.Instant, using random: inout R)
        -> Duration
    {
        failures += 1
        hubSeq = nil
        if resending { resendFailed = true }
        resending = false
        let ceiling = backoff.ceiling(failures: failures)
        let ceilingMS = max(1, ceiling.milliseconds)
        let wait = Duration.milliseconds(Int64.random(in: (ceilingMS / 2)...ceilingMS, using: &random))
        retryAt = now + wait
        return wait
    }
}

extension Duration {
    /// Whole milliseconds.
    var milliseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }
}
