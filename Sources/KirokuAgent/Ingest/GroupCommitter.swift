public import KirokuProtocol
import NIOConcurrencyHelpers
import NIOPosix
public import ServiceLifecycle

/// Commits events from many concurrent producers in shared transactions (group commit), on one
/// dedicated thread.
///
/// Producers enqueue drafts; the committer thread takes everything waiting (up to `maxGroup`), commits it
/// in one durable transaction and answers each producer in arrival order, only after the commit. While it
/// commits, new drafts queue up for the next group. The socket path (``IngestServer``) enqueues straight
/// from NIO's event loop and writes answers from the callback, so an event crosses no actor, task or
/// continuation on its way: on a 2-core terminal those hops cost more CPU than the commit itself.
///
/// Run it as a `Service` (it stops after answering what is queued, on graceful shutdown or cancellation);
/// list it before the services that submit to it, so it stops after them.
public final class GroupCommitter: Service, Sendable {
    /// An answer: the committed event, or why it was not committed.
    public typealias Reply = @Sendable (Result<Event, KirokuError>) -> Void

    private struct Item {
        var draft: Result<EventDraft, KirokuError>
        var reply: Reply
    }

    private struct State {
        var items: [Item] = []
        var stopping = false
    }

    /// Drafts refused because the journal could not be written, not yet stated in a loss record.
    private struct Refused {
        var count = 0
        var since: Timestamp?
        var reason = ""
    }

    private let journal: Journal
    private let maxGroup: Int
    private let onCommit: @Sendable (Int) -> Void
    /// Condition value 1: there are items or a stop request.
    private let lock = ConditionLock(value: 0)
    private let state = NIOLockedValueBox(State())
    /// Touched only on the committer thread.
    private let refused = NIOLockedValueBox(Refused())

    /// - Parameters:
    ///   - maxGroup: most events in one transaction.
    ///   - onCommit: told how many events each commit added (the sync loop uses it to wake up).
    public init(journal: Journal, maxGroup: Int = 1000, onCommit: @escaping @Sendable (Int) -> Void = { _ in }) {
        self.journal = journal
        self.maxGroup = maxGroup
        self.onCommit = onCommit
    }

    /// Queues a draft (or a refusal already decided, to be answered in order); `reply` is called on the
    /// committer thread once the draft is durable or has failed.
    public func enqueue(_ draft: Result<EventDraft, KirokuError>, reply: @escaping Reply) {
        lock.lock()
        let accepted = state.withLockedValue { state -> Bool in
            guard !state.stopping else { return false }
            state.items.append(Item(draft: draft, reply: reply))
            return true
        }
        lock.unlock(withValue: 1)
        if !accepted {
            reply(.failure(KirokuError(.journal, "the agent is shutting down; nothing was written")))
        }
    }

    /// Journals one event; returns it sealed once it is durable. Throws `invalid_event` for a bad draft
    /// (nothing is written) or `journal` if the commit failed (nothing of that group is written).
    public func submit(_ draft: EventDraft) async throws -> Event {
        try draft.validate()
        return try await withCheckedThrowingContinuation { continuation in
            enqueue(.success(draft)) { result in continuation.resume(with: result) }
        }
    }

    public func run() async throws {
        let thread = NIOThreadPool(numberOfThreads: 1)
        thread.start()
        try await withTaskCancellationOrGracefulShutdownHandler {
            try await thread.runIfActive { self.commitLoop() }
        } onCancelOrGracefulShutdown: {
            self.lock.lock()
            self.state.withLockedValue { $0.stopping = true }
            self.lock.unlock(withValue: 1)
        }
        try await thread.shutdownGracefully()
    }

    /// The committer thread: wait for items, commit them as one group, answer in order; after a stop
    /// request, finish what is queued and return.
    private func commitLoop() {
        while true {
            lock.lock(whenValue: 1)
            let (group, stop) = state.withLockedValue { state -> ([Item], Bool) in
                let count = min(state.items.count, maxGroup)
                let group = Array(state.items.prefix(count))
                state.items.removeFirst(count)
                return (group, state.stopping && state.items.isEmpty)
            }
            let more = state.withLockedValue { !$0.items.isEmpty || $0.stopping }
            lock.unlock(withValue: more ? 1 : 0)
            if !group.isEmpty { commit(group) }
            if stop { return }
        }
    }

    private func commit(_ group: [Item]) {
        var drafts = group.compactMap { try? $0.draft.get() }
        var events: [Event] = []
        var failure: KirokuError?
        if !drafts.isEmpty {
            // Invariant 6: after writes failed (disk full), the first commit that succeeds carries, in the
            // same transaction, a loss record of how many events could not be taken and when.
            let pending = refused.withLockedValue { $0 }
            let loss = pending.count > 0
            if loss, let since = pending.since {
                drafts.insert(
                    EventDraft(
                        kind: "agent", action: "loss", actor: "kiroku-agent", subject: journal.agentID,
                        attrs: [
                            "reason": pending.reason, "refused_events": "\(pending.count)", "from": since.rfc3339,
                            "until": Timestamp.localNow().rfc3339,
                        ]), at: 0)
            }
            do {
                events = try journal.append(drafts)
                if loss {
                    events.removeFirst()
                    refused.withLockedValue { $0 = Refused() }
                }
                onCommit(events.count + (loss ? 1 : 0))
            } catch {
                let error = journal.commitError(error)
                failure = error
                let count = group.filter { (try? $0.draft.get()) != nil }.count
                refused.withLockedValue { refused in
                    refused.count += count
                    refused.since = refused.since ?? Timestamp.localNow()
                    refused.reason = error.code == .diskFull ? "disk_full" : "journal_write_failed"
                }
            }
        }
        var next = 0
        for item in group {
            switch item.draft {
            case .failure(let refusal):
                item.reply(.failure(refusal))
            case .success:
                if let failure {
                    item.reply(.failure(failure))
                } else {
                    item.reply(.success(events[next]))
                    next += 1
                }
            }
        }
    }
}
