import Foundation
import KirokuAgent
import KirokuProtocol
import KirokuTestSupport
import Testing

@Suite("Agent: sync cursor state machine")
struct SyncCursorTests {
    struct FixedRandom: RandomNumberGenerator {
        var value: UInt64
        mutating func next() -> UInt64 { value }
    }

    @Test("Asks the hub first, sends from the hub's next seq, idles when caught up")
    func happyPath() {
        var cursor = SyncCursor()
        let now = ContinuousClock.now
        #expect(cursor.next(now: now, localHead: 10) == .queryState)
        cursor.stateReceived(lastSeq: 4, deliveredThrough: 4)
        #expect(cursor.next(now: now, localHead: 10) == .send(from: 5))
        cursor.acknowledged(through: 10)
        #expect(cursor.next(now: now, localHead: 10) == .idle)
        #expect(cursor.next(now: now, localHead: 11) == .send(from: 11))
    }

    @Test("A failure forgets the hub's position and backs off, growing to the cap, with jitter in [d/2, d]")
    func backoff() {
        var cursor = SyncCursor(backoff: .init(base: .milliseconds(100), cap: .seconds(2)))
        var random = SystemRandomNumberGenerator()
        let now = ContinuousClock.now
        cursor.stateReceived(lastSeq: 3, deliveredThrough: 3)
        var ceilings: [Duration] = []
        for _ in 0..<8 {
            let wait = cursor.failed(now: now, using: &random)
            let ceiling = cursor.backoff.ceiling(failures: cursor.failures)
            #expect(wait <= ceiling && wait >= ceiling / 2)
            ceilings.append(ceiling)
            guard case .wait = cursor.next(now: now, localHead: 10) else {
                Issue.record("expected a wait right after a failure")
                return
            }
        }
        #expect(
            ceilings == [
                .milliseconds(100), .milliseconds(200), .milliseconds(400), .milliseconds(800), .milliseconds(1600),
                .seconds(2), .seconds(2), .seconds(2),
            ])
        // After the wait, it asks the hub again before sending anything.
        #expect(cursor.next(now: now + .seconds(3), localHead: 10) == .queryState)
        cursor.stateReceived(lastSeq: 3, deliveredThrough: 3)
        #expect(cursor.failures == 0)
        #expect(cursor.next(now: now + .seconds(3), localHead: 10) == .send(from: 4))
    }

    @Test(
        "What the hub holds without a receipt here (cut connection, kill -9, a key rotated) is sent again for one, once; what it lost is sent again"
    )
    func resendForReceipt() {
        var cursor = SyncCursor()
        let now = ContinuousClock.now
        cursor.stateReceived(lastSeq: 70, deliveredThrough: 50)
        #expect(cursor.next(now: now, localHead: 70) == .send(from: 51), "caught up at the hub, not here")
        cursor.acknowledged(through: 70)
        #expect(cursor.next(now: now, localHead: 70) == .idle)
        // A hub restored from an older backup holds less than was delivered: it gets what it lacks.
        cursor.stateReceived(lastSeq: 40, deliveredThrough: 70)
        #expect(cursor.next(now: now, localHead: 70) == .send(from: 41))
        // A re-send that fails (a hub that cannot sign for it again) is not tried again and again: the next
        // sends start after what the hub holds, and new events keep reaching it; a receipt ends that.
        var random = SystemRandomNumberGenerator()
        cursor.stateReceived(lastSeq: 90, deliveredThrough: 70)
        #expect(cursor.next(now: now, localHead: 95) == .send(from: 71))
        cursor.failed(now: now, using: &random)
        cursor.stateReceived(lastSeq: 90, deliveredThrough: 70)
        #expect(cursor.next(now: now, localHead: 95) == .send(from: 91))
        cursor.acknowledged(through: 95)
        cursor.failed(now: now, using: &random)
        cursor.stateReceived(lastSeq: 95, deliveredThrough: 92)
        #expect(cursor.next(now: now, localHead: 95) == .send(from: 93))
    }

    @Test("Jitter spreads retries of many agents")
    func jitterSpreads() {
        var random = SystemRandomNumberGenerator()
        let waits = Set(
            (0..<50).map { _ -> Duration in
                var cursor = SyncCursor(backoff: .init(base: .seconds(1), cap: .seconds(60)))
                return cursor.failed(now: .now, using: &random)
            })
        #expect(waits.count > 10)
    }
}

@Suite("Agent: durable journal")
struct JournalTests {
    @Test("Invariant 1: synchronous=FULL is in force on the writer connection, in WAL mode")
    func durability() throws {
        let temp = try TempDir()
        let journal = try Journal.open(path: temp.file("j.sqlite"), agentID: "t-1", site: "")
        #expect(try journal.writerSynchronousSetting() == 2)
        let mode = try String(contentsOfFile: temp.file("j.sqlite"), encoding: .isoLatin1).prefix(20)
        #expect(mode.hasPrefix("SQLite format 3"))
        #expect(FileManager.default.fileExists(atPath: temp.file("j.sqlite-wal")))
    }

    @Test("Sequence numbers are gapless from 1 and every event links to its predecessor")
    func chain() throws {
        let temp = try TempDir()
        let journal = try Journal.open(path: temp.file("j.sqlite"), agentID: "t-1", site: "本庁舎")
        let drafts = (0..<25).map {
            EventDraft(kind: "operation", action: "lookup", actor: "P\($0)", subject: "S\($0)")
        }
        try journal.append(Array(drafts[0..<10]))
        for draft in drafts[10...] { try journal.append([draft]) }
        let events = try journal.allEvents()
        #expect(events.map(\.seq) == Array(1...25))
        #expect(events[0].prev == Event.genesis)
        for (previous, next) in zip(events, events.dropFirst()) { #expect(next.prev == previous.hash) }
        for event in events {
            try event.validate()
            #expect(event.site == "本庁舎")
            #expect(event.agent == "t-1")
        }
        #expect(Set(events.map(\.salt)).count == 25)
    }

    @Test("Invariant 7: a bad draft in a group writes nothing")
    func atomicAppend() throws {
        let temp = try TempDir()
        let journal = try Journal.open(path: temp.file("j.sqlite"), agentID: "t-1", site: "")
        try journal.append([EventDraft(kind: "access", action: "enter", actor: "P1")])
        #expect(throws: KirokuError.self) {
            try journal.append([
                EventDraft(kind: "access", action: "enter", actor: "P2"),
                EventDraft(kind: "access", action: "fly", actor: "P3"),
            ])
        }
        #expect(try journal.status().headSeq == 1)
    }

    @Test("A journal refuses to be opened as another agent's")
    func ownership() throws {
        let temp = try TempDir()
        _ = try Journal.open(path: temp.file("j.sqlite"), agentID: "t-1", site: "")
        #expect(throws: KirokuError.self) { try Journal.open(path: temp.file("j.sqlite"), agentID: "t-2", site: "") }
    }

    @Test("Two writers on one journal (daemon and 'record') still produce one gapless chain")
    func twoWriters() async throws {
        let temp = try TempDir()
        let a = try Journal.open(path: temp.file("j.sqlite"), agentID: "t-1", site: "")
        let b = try Journal.open(path: temp.file("j.sqlite"), agentID: "t-1", site: "")
        try await withThrowingTaskGroup(of: Void.self) { group in
            for journal in [a, b] {
                group.addTask {
                    for index in 0..<50 {
                        try await journal.append([EventDraft(kind: "operation", action: "lookup", actor: "P\(index)")])
                    }
                }
            }
            try await group.waitForAll()
        }
        let events = try a.allEvents()
        #expect(events.map(\.seq) == Array(1...100))
        for (previous, next) in zip(events, events.dropFirst()) { #expect(next.prev == previous.hash) }
    }

    @Test("Pruning removes only delivered events past the window and never the chain head")
    func prune() throws {
        let temp = try TempDir()
        let journal = try Journal.open(path: temp.file("j.sqlite"), agentID: "t-1", site: "")
        let old = Date().addingTimeInterval(-40 * 86_400)
        try journal.append((0..<5).map { _ in EventDraft(kind: "access", action: "enter", actor: "P1") }, now: old)
        let receipt = SignedReceipt(
            receipt: Receipt(
                agent: "t-1", firstSeq: 1, throughSeq: 3, headHash: String(repeating: "a", count: 64), accepted: 3,
                duplicates: 0, hubTime: "2026-11-27T00:00:00.000Z", keyID: "x"), signature: "")
        try journal.markDelivered(receipt)
        #expect(try journal.pruneDelivered(olderThan: Date().addingTimeInterval(-30 * 86_400)) == 3)
        let status = try journal.status()
        #expect(status.keptEvents == 2)
        #expect(status.headSeq == 5)
        #expect(status.backlog == 2)
        // Delivered through the head: the head itself stays, so the chain can continue.
        var all = receipt
        all.receipt.throughSeq = 5
        try journal.markDelivered(all)
        try journal.pruneDelivered(olderThan: Date())
        #expect(try journal.status().keptEvents == 1)
        let next = try journal.append([EventDraft(kind: "access", action: "exit", actor: "P1")])[0]
        #expect(next.seq == 6)
        #expect(next.prev == status.headHash)
    }

    @Test("Group commit: concurrent producers share transactions and each gets its own durable event")
    func groupCommit() async throws {
        let temp = try TempDir()
        let journal = try Journal.open(path: temp.file("j.sqlite"), agentID: "t-1", site: "")
        let commits = CommitCounter()
        let committer = GroupCommitter(journal: journal) { count in commits.add(count) }
        let runner = Task { try await committer.run() }
        let results = try await withThrowingTaskGroup(of: [Event].self) { group in
            for producer in 0..<16 {
                group.addTask {
                    var mine: [Event] = []
                    for index in 0..<40 {
                        mine.append(
                            try await committer.submit(
                                EventDraft(
                                    kind: "operation", action: "lookup", actor: "P\(producer)", subject: "\(index)")))
                    }
                    return mine
                }
            }
            var all: [Event] = []
            for try await events in group { all += events }
            return all
        }
        #expect(results.count == 640)
        #expect(Set(results.map(\.seq)) == Set(1...640))
        let stored = try journal.allEvents()
        #expect(stored.count == 640)
        #expect(
            Dictionary(uniqueKeysWithValues: stored.map { ($0.seq, $0.hash) })
                == Dictionary(uniqueKeysWithValues: results.map { ($0.seq, $0.hash) }))
        let (events, transactions) = commits.totals
        #expect(events == 640)
        #expect(transactions < 640, "16 concurrent producers must share transactions")
        await #expect(throws: KirokuError.self) {
            try await committer.submit(EventDraft(kind: "access", action: "fly", actor: "P1"))
        }
        #expect(try journal.status().headSeq == 640)
        // Stopped, it answers what was queued and refuses the rest with a clear error, writing nothing.
        runner.cancel()
        try await runner.value
        await #expect(throws: KirokuError.self) {
            try await committer.submit(EventDraft(kind: "access", action: "enter", actor: "P1"))
        }
        #expect(try journal.status().headSeq == 640)
    }
}

final class CommitCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var events = 0
    private var transactions = 0
    func add(_ count: Int) {
        lock.withLock {
            events += count
            transactions += 1
        }
    }
    var totals: (Int, Int) { lock.withLock { (events, transactions) } }
}

@Suite("Agent: where a restored journal and the hub part (EpochBisection)")
struct EpochBisectionTests {
    /// Runs the bisection against a hub that agrees through `truth`, counting the questions asked.
    func bisect(low: Int64, high: Int64, truth: Int64) -> (agreed: Int64, asked: Int) {
        var bisection = EpochBisection(low: low, high: high)
        var asked = 0
        while let probe = bisection.probe {
            asked += 1
            bisection.record(agrees: probe <= truth)
        }
        return (bisection.agreedThrough, asked)
    }

    @Test(
        "Finds the last agreeing seq anywhere in the range, in about log2 questions; nothing to ask when the range is empty"
    )
    func findsTheEnd() {
        for truth in Int64(100)...164 {
            let (agreed, asked) = bisect(low: 100, high: 164, truth: truth)
            #expect(agreed == truth)
            #expect(asked <= 7)
        }
        // Agreement past the range's top is capped there; the acknowledged low is never given up.
        #expect(bisect(low: 10, high: 20, truth: 50).agreed == 20)
        #expect(bisect(low: 10, high: 20, truth: 3).agreed == 10)
        // A corrupt journal (high = low) and a hub behind the journal (high < low) ask nothing.
        #expect(bisect(low: 42, high: 42, truth: 99) == (42, 0))
        #expect(bisect(low: 42, high: 7, truth: 99) == (42, 0))
    }
}
