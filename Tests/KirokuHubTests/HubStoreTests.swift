import Foundation
import KirokuHub
import KirokuProtocol
import KirokuTestSupport
import Testing

@Suite("Hub: ingest into the consolidated record")
struct HubStoreTests {
    func batch(_ events: [Event], agent: String? = nil, head: Int64? = nil) -> Batch {
        Batch(
            agent: agent ?? events.first?.agent ?? "t-1", sentAt: "2026-11-27T09:00:00.000+09:00",
            headSeq: head ?? events.last?.seq ?? 0, events: events)
    }

    func code(_ body: () async throws -> Void) async -> ErrorCode? {
        do {
            try await body()
            return nil
        } catch let error as KirokuError {
            return error.code
        } catch {
            return .internalError
        }
    }

    @Test("Invariant 1: the hub's writer runs synchronous=FULL")
    func durability() throws {
        let temp = try TempDir()
        let store = try HubStore.open(path: temp.file("hub.sqlite"))
        #expect(try store.writerSynchronousSetting() == 2)
    }

    @Test(
        "The rule service is rung by each commit that adds events: an agent's batch, the hub's own record; not by others"
    )
    func arrivalsRing() async throws {
        let temp = try TempDir()
        let store = try HubStore.open(path: temp.file("hub.sqlite"))
        // Nobody waits here, so each ring is remembered: the observer rings on the writer's queue before the
        // write returns, so the bell has rung by the time `ingest` or `review` returns, or never.
        #expect(!store.arrivals.takeRing(), "nothing committed yet")
        _ = try await store.ingest(batch(makeChain(agent: "t-1", count: 3)), identity: "t-1")
        #expect(store.arrivals.takeRing(), "an agent's batch")
        _ = try await store.review(
            through: try #require(Timestamp(rfc3339: "2026-11-01T00:00:00.000+09:00")), note: "点検", by: "P0001")
        #expect(store.arrivals.takeRing(), "the hub's own record")
        // A refused batch and a reading add no events: no ring.
        _ = try? await store.ingest(batch(makeChain(agent: "t-1", count: 3)), identity: "t-2")
        _ = try await store.eventCount()
        #expect(!store.arrivals.takeRing(), "a refusal is not an arrival")
        #expect(try await store.eventCount() == 4)
    }

    @Test("Invariant 2: the same batch twice is a counted no-op", arguments: StoreKind.allCases)
    func duplicates(_ kind: StoreKind) async throws {
        try await withRecordStore(kind) { store in
            let chain = makeChain(agent: "t-1", count: 20)
            let first = try await store.ingest(batch(chain), identity: "t-1")
            #expect(first.accepted == 20 && first.duplicates == 0)
            let again = try await store.ingest(batch(chain), identity: "t-1")
            #expect(again.accepted == 0 && again.duplicates == 20)
            // An overlapping batch: 10 held, 5 new.
            let more = makeChain(agent: "t-1", count: 5, from: 21, prev: chain.last!.hash)
            let overlap = try await store.ingest(batch(Array(chain[10...]) + more), identity: "t-1")
            #expect(overlap.accepted == 5 && overlap.duplicates == 10 && overlap.throughSeq == 25)
            #expect(try await store.eventCount() == 25)
            let health = try await store.agentHealth()
            #expect(health.first?.duplicates == 30)
            #expect(health.first?.lastSeq == 25)
        }
    }

    @Test(
        "Invariant 2: a different event at a held (agent, seq) is a fork, quarantined with both versions, never merged",
        arguments: StoreKind.allCases)
    func fork(_ kind: StoreKind) async throws {
        try await withRecordStore(kind) { store in
            let chain = makeChain(agent: "t-1", count: 10)
            _ = try await store.ingest(batch(chain), identity: "t-1")
            // Same seqs 6-10, different content (e.g. a journal restored from backup that kept writing).
            let rival = makeChain(agent: "t-1", count: 5, from: 6, prev: chain[4].hash, action: "update")
            #expect(await code { _ = try await store.ingest(batch(rival), identity: "t-1") } == .fork)
            #expect(try await store.eventCount() == 10)
            let page = try await store.query(EventQuery())
            #expect(page.events.map(\.hash) == chain.map(\.hash))
            let forks = try await store.forks(agent: "t-1")
            #expect(forks.count == 1)
            #expect(forks.first?.seq == 6)
            #expect(forks.first?.heldHash == chain[5].hash)
            #expect(forks.first?.offeredHash == rival[0].hash)
            let health = try #require(try await store.agentHealth().first)
            #expect(health.forks == 1 && health.quarantined == 1 && health.lastRefusal == "fork")
        }
    }

    @Test(
        "Invariant 7: gaps, broken chains, bad hashes and disorder are refused whole, with their codes",
        arguments: StoreKind.allCases)
    func refusals(_ kind: StoreKind) async throws {
        try await withRecordStore(kind) { store in
            let chain = makeChain(agent: "t-1", count: 10)
            _ = try await store.ingest(batch(Array(chain[0..<3])), identity: "t-1")

            #expect(
                await code { _ = try await store.ingest(batch(Array(chain[5...])), identity: "t-1") } == .sequenceGap)

            var broken = Array(chain[3..<6])
            broken[1].prev = chain[0].hash
            broken[1] = broken[1].sealed()
            #expect(await code { _ = try await store.ingest(batch(broken), identity: "t-1") } == .chainBroken)

            var badHash = Array(chain[3..<6])
            badHash[2].subject = "改ざん"
            #expect(await code { _ = try await store.ingest(batch(badHash), identity: "t-1") } == .hashMismatch)

            let disorder = [chain[3], chain[5], chain[4]]
            #expect(await code { _ = try await store.ingest(batch(disorder), identity: "t-1") } == .sequenceOrder)

            let wrongFirst = makeChain(agent: "t-9", count: 2, prev: String(repeating: "1", count: 64))
            #expect(await code { _ = try await store.ingest(batch(wrongFirst), identity: "t-9") } == .chainBroken)

            #expect(await code { _ = try await store.ingest(batch([]), identity: "t-1") } == .emptyBatch)

            // U+0000 in any text (JSON allows it as \u0000): SQLite's C strings would cut it short on the way
            // out, and the record would no longer hash as it was received. Refused.
            var nul = chain[3]
            nul.actor = "P\u{0}1"
            nul = nul.sealed()
            #expect(await code { _ = try await store.ingest(batch([nul]), identity: "t-1") } == .invalidEvent)
            var nulAttr = chain[3]
            nulAttr.attrs = ["note": "a\u{0}b"]
            nulAttr = nulAttr.sealed()
            #expect(await code { _ = try await store.ingest(batch([nulAttr]), identity: "t-1") } == .invalidEvent)
            #expect(throws: KirokuError.self) {
                try EventDraft(kind: "access", action: "enter", actor: "P1", subject: "電算\u{0}室").validate()
            }

            // A seq past 2^53 − 1, which no JSON reader is sure to hold exactly (PROTOCOL.md §1.1).
            let huge = makeChain(agent: "t-big", count: 1, from: Event.maxSeq + 1)
            #expect(await code { _ = try await store.ingest(batch(huge, head: 0), identity: "t-big") } == .invalidEvent)
            #expect(await code { _ = try await store.ingest(batch(huge), identity: "t-big") } == .malformedRequest)

            // None of it changed the record; a good batch still continues the chain.
            #expect(try await store.eventCount() == 3)
            let good = try await store.ingest(batch(Array(chain[3...])), identity: "t-1")
            #expect(good.accepted == 7)
            let health = try #require(try await store.agentHealth().first { $0.agent == "t-1" })
            #expect(health.refusals == 7 && health.gaps == 1)
        }
    }

    @Test(
        "Invariant 6: a declared gap is taken only for exactly the missing range, and recorded",
        arguments: StoreKind.allCases)
    func declaredGap(_ kind: StoreKind) async throws {
        try await withRecordStore(kind) { store in
            let chain = makeChain(agent: "t-1", count: 20)
            _ = try await store.ingest(batch(Array(chain[0..<5])), identity: "t-1")
            let rest = Array(chain[9...])  // seqs 10-20; 6-9 are gone from the agent
            func declared(_ from: Int64, _ through: Int64) -> Batch {
                Batch(
                    agent: "t-1", sentAt: "2026-11-27T09:00:00.000+09:00", headSeq: 20, events: rest,
                    gap: DeclaredGap(from: from, through: through, reason: "pruned before the hub's restore"))
            }
            #expect(await code { _ = try await store.ingest(batch(rest), identity: "t-1") } == .sequenceGap)
            #expect(await code { _ = try await store.ingest(declared(7, 9), identity: "t-1") } == .sequenceGap)
            #expect(await code { _ = try await store.ingest(declared(6, 8), identity: "t-1") } == .malformedRequest)
            #expect(try await store.eventCount() == 5)
            let taken = try await store.ingest(declared(6, 9), identity: "t-1")
            #expect(taken.accepted == 11 && taken.throughSeq == 20)
            #expect(
                try await store.declaredGaps(agent: "t-1") == [
                    DeclaredGap(from: 6, through: 9, reason: "pruned before the hub's restore")
                ])
            // A replay is a counted duplicate and records no second gap.
            let replay = try await store.ingest(declared(6, 9), identity: "t-1")
            #expect(replay.accepted == 0 && replay.duplicates == 11)
            #expect(try await store.declaredGaps(agent: "t-1").count == 1)
            let health = try #require(try await store.agentHealth().first)
            #expect(health.declaredLost == 4 && health.lastSeq == 20)
            // The chain continues normally after the gap.
            let next = makeChain(agent: "t-1", count: 1, from: 21, prev: chain[19].hash)
            #expect(try await store.ingest(batch(next), identity: "t-1").accepted == 1)
        }
    }

    @Test(
        "Invariant 3: identity comes from the certificate; a batch naming another agent is refused",
        arguments: StoreKind.allCases)
    func identity(_ kind: StoreKind) async throws {
        try await withRecordStore(kind) { (store: any RecordStore) async throws in
            let theirs = makeChain(agent: "t-2", count: 3)
            // The caller is t-1 (from its certificate) but the batch and events say t-2.
            #expect(await code { _ = try await store.ingest(batch(theirs), identity: "t-1") } == .agentMismatch)
            // The batch header says t-1 but the events are t-2's.
            #expect(
                await code { _ = try await store.ingest(batch(theirs, agent: "t-1"), identity: "t-1") }
                    == .agentMismatch)
            #expect(try await store.eventCount() == 0)
            #expect(try await store.chainHead(agent: "t-2").seq == 0)
        }
    }

    @Test("Query: filters, stable order and paging that neither skips nor repeats", arguments: StoreKind.allCases)
    func query(_ kind: StoreKind) async throws {
        try await withRecordStore(kind) { store in
            for agent in ["a-1", "a-2", "a-3"] {
                _ = try await store.ingest(batch(makeChain(agent: agent, count: 30)), identity: agent)
            }
            var seen: [String] = []
            var query = EventQuery()
            query.limit = 7
            while true {
                let page = try await store.query(query)
                seen += page.events.map { "\($0.agent)/\($0.seq)" }
                guard let next = page.next else { break }
                query.cursor = next
            }
            #expect(seen.count == 90)
            #expect(Set(seen).count == 90)
            var byActor = EventQuery()
            byActor.actor = "P1003"
            let actorPage = try await store.query(byActor)
            #expect(actorPage.events.count == 3 && actorPage.events.allSatisfy { $0.actor == "P1003" })
            let window = try EventQuery(parameters: [
                "from": "2026-11-27T09:10:00.000+09:00", "to": "2026-11-27T00:20:00.000Z", "agent": "a-2",
            ])
            let windowPage = try await store.query(window)
            #expect(windowPage.events.map(\.seq) == Array(11...20))
            for event in windowPage.events { try event.validate() }
            #expect(throws: KirokuError.self) { try EventQuery(parameters: ["from": "yesterday"]) }
            #expect(throws: KirokuError.self) { try EventQuery(parameters: ["limit": "0"]) }
            #expect(throws: KirokuError.self) { try EventQuery(parameters: ["colour": "red"]) }
        }
    }
}
