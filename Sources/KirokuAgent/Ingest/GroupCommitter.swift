public import KirokuProtocol

/// Commits events from many concurrent producers in shared transactions (group commit).
///
/// The first producer to arrive while no commit is running becomes the leader: it takes every draft that
/// is waiting, commits them in one durable transaction and answers each producer. Producers that arrive
/// during that commit wait; when it ends, the first of them is promoted to lead the next one. No
/// background task is needed, and a producer is answered only after its own event is durable.
public actor GroupCommitter {
    private enum Outcome {
        case committed(Event)
        case failed(any Error)
        case lead
    }

    private struct Waiting {
        var draft: EventDraft
        var continuation: CheckedContinuation<Outcome, Never>?
    }

    private let journal: Journal
    private let maxGroup: Int
    private var waiting: [Waiting] = []
    private var committing = false
    private let onCommit: @Sendable (Int) -> Void

    /// - Parameters:
    ///   - maxGroup: most events in one transaction.
    ///   - onCommit: told how many events each commit added (the sync loop uses it to wake up).
    public init(journal: Journal, maxGroup: Int = 1000, onCommit: @escaping @Sendable (Int) -> Void = { _ in }) {
        self.journal = journal
        self.maxGroup = maxGroup
        self.onCommit = onCommit
    }

    /// Journals one event; returns it sealed once it is durable. Throws `invalid_event` for a bad draft
    /// (nothing is written) or `journal` if the commit failed (nothing of that group is written).
    public func submit(_ draft: EventDraft) async throws -> Event {
        try draft.validate()
        if committing {
            let outcome = await withCheckedContinuation { continuation in
                waiting.append(Waiting(draft: draft, continuation: continuation))
            }
            switch outcome {
            case .committed(let event): return event
            case .failed(let error): throw error
            case .lead: break
            }
            // Promoted: our own draft is already first in `waiting`.
        } else {
            committing = true
            waiting.insert(Waiting(draft: draft, continuation: nil), at: 0)
        }
        return try await lead()
    }

    /// Commits the group at the head of `waiting`, whose first entry is the leader's own (no continuation).
    private func lead() async throws -> Event {
        let count = min(waiting.count, maxGroup)
        let group = Array(waiting.prefix(count))
        waiting.removeFirst(count)
        let result: Result<[Event], any Error>
        do {
            result = .success(try await journal.append(group.map(\.draft)))
        } catch {
            result = .failure(error)
        }
        // Hand over before answering, so the next group starts while we reply.
        if let next = waiting.first {
            waiting[0].continuation = nil
            next.continuation?.resume(returning: .lead)
        } else {
            committing = false
        }
        switch result {
        case .success(let events):
            onCommit(events.count)
            for (index, member) in group.enumerated().dropFirst() {
                member.continuation?.resume(returning: .committed(events[index]))
            }
            return events[0]
        case .failure(let error):
            for member in group.dropFirst() { member.continuation?.resume(returning: .failed(error)) }
            throw error
        }
    }
}
