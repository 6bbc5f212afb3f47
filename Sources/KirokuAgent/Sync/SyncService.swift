import CompressNIO
import Crypto
import KirokuClient
public import KirokuProtocol
public import Logging
import NIOCore
import NIOHTTP1
public import ServiceLifecycle

#if canImport(Glibc)
    import Glibc
#endif

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// The agent's sync loop: asks the hub where its chain stands, sends batches in sequence order, verifies
/// and keeps the hub's signed receipts, and only then marks events delivered (invariant 1). Backs off with
/// jitter while the hub is away and catches up in large batches when it returns.
public struct SyncService: Service {
    let journal: Journal
    let configuration: AgentConfiguration
    let doorbell: Doorbell
    let logger: Logger

    public init(journal: Journal, configuration: AgentConfiguration, doorbell: Doorbell, logger: Logger) {
        self.journal = journal
        self.configuration = configuration
        self.doorbell = doorbell
        self.logger = logger
    }

    public func run() async throws {
        let (url, credentials) = try configuration.credentials()
        let connection = try HubConnection(baseURL: url, credentials: credentials)
        do {
            try await cancelWhenGracefulShutdown { try await loop(connection) }
        } catch is CancellationError {
        } catch let error as KirokuError where error.underlying is CancellationError {
        }
        await connection.shutdown()
    }

    /// Delivers what the journal holds and returns true, or gives up after `timeout` (the hub away) and
    /// returns false: the agent's last words (`agent/stopped`) reach the hub before the process exits when
    /// the hub is reachable, so a terminal switched off on purpose is not taken for a lost one. What is not
    /// delivered stays in the journal and goes at the next start.
    public func flush(timeout: Duration) async -> Bool {
        guard let (url, credentials) = try? configuration.credentials(),
            let connection = try? HubConnection(baseURL: url, credentials: credentials)
        else { return false }
        await withTaskGroup(of: Void.self) { group in
            group.addTask { try? await loop(connection, untilDelivered: true) }
            group.addTask { try? await Task.sleep(for: timeout) }
            await group.next()
            group.cancelAll()
        }
        await connection.shutdown()
        guard let progress = try? await journal.suspending.progress() else { return false }
        return progress.deliveredThrough >= progress.headSeq
    }

    private func loop(_ connection: HubConnection, untilDelivered: Bool = false) async throws {
        var cursor = SyncCursor(backoff: .init(cap: .milliseconds(Int64(configuration.backoffMaxSeconds * 1000))))
        var random = SystemRandomNumberGenerator()
        var hubKey: Curve25519.Signing.PublicKey?
        var limits = (events: configuration.batchEvents, bytes: configuration.batchBytes)
        var prefetched: PreparedBatch?
        let poll = Duration.milliseconds(Int64(configuration.pollSeconds * 1000))
        while !Task.isCancelled {
            let head = try await journal.suspending.progress().headSeq
            switch cursor.next(now: .now, localHead: head) {
            case .wait(let duration):
                try await Task.sleep(for: duration)
            case .idle:
                if untilDelivered { return }
                await doorbell.wait(timeout: poll)
            case .queryState:
                do {
                    let state = try await connection.get(AgentState.self, "/v1/agent/state")
                    hubKey = try Self.receiptKey(state)
                    limits = (
                        min(configuration.batchEvents, state.maxBatchEvents),
                        min(configuration.batchBytes, state.maxBatchBytes)
                    )
                    if let pending = try await needsEpoch(state, head: head) {
                        try await startEpoch(after: state, head: head, reason: pending, connection: connection)
                    }
                    if state.lastSeq > 0, let mine = try await journal.suspending.event(seq: state.lastSeq),
                        mine.hash != state.lastHash
                    {
                        throw KirokuError(
                            .fork,
                            "the hub's event \(state.lastSeq) differs from this journal's: the chains have forked")
                    }
                    // Events the hub holds beyond this journal's delivered mark (a receipt lost to a cut
                    // connection or a kill -9, or signed by a key not known yet) are sent again: the hub counts
                    // them as duplicates and signs a receipt for them, so the mark never stays behind.
                    cursor.stateReceived(
                        lastSeq: state.lastSeq,
                        deliveredThrough: try await journal.suspending.progress().deliveredThrough)
                    try await journal.suspending.recordContact()
                    logger.debug("hub state", metadata: ["kiroku.hub.last_seq": "\(state.lastSeq)"])
                } catch {
                    try await fail(error, &cursor, &random)
                }
            case .send(let from):
                do {
                    guard var key = hubKey else { throw KirokuError(.badReceipt, "no hub key yet") }
                    let batch: PreparedBatch
                    if let ready = prefetched, ready.firstSeq == from {
                        batch = ready
                    } else {
                        batch = try await prepare(from: from, head: head, limits: limits)
                    }
                    prefetched = nil
                    // While the hub verifies and commits this batch, read and compress the next one.
                    let nextFrom = batch.throughSeq + 1
                    let nextLimits = limits
                    async let next = prefetch(from: nextFrom, limits: nextLimits)
                    let receipt: SignedReceipt
                    do {
                        receipt = try await post(batch, connection: connection)
                    } catch {
                        _ = await next
                        throw error
                    }
                    if !receipt.verify(publicKey: key), receipt.receipt.keyID != signingKeyID(key) {
                        // The hub rotated its signing key since this agent last asked (PROTOCOL.md §7): the key
                        // that counts is still the one `/v1/agent/state` names, asked again now.
                        key = try Self.receiptKey(try await connection.get(AgentState.self, "/v1/agent/state"))
                        hubKey = key
                    }
                    guard receipt.verify(publicKey: key) else {
                        throw KirokuError(.badReceipt, "the hub's receipt signature does not verify")
                    }
                    guard receipt.receipt.agent == journal.agentID, receipt.receipt.throughSeq == batch.throughSeq,
                        receipt.receipt.headHash == batch.headHash
                    else {
                        throw KirokuError(.badReceipt, "the hub's receipt does not cover the batch that was sent")
                    }
                    // The batch's last event must be in the hub's Merkle log, under a checkpoint the hub
                    // signed (invariant 4); its hash covers the whole chain before it.
                    guard let log = receipt.receipt.log else {
                        throw KirokuError(.badReceipt, "the hub's receipt carries no inclusion proof")
                    }
                    do {
                        try log.verify(eventHash: batch.headHash, hubKey: key)
                    } catch {
                        throw KirokuError(
                            .badReceipt, "the hub's receipt does not prove the batch is in its log: \(error.message)")
                    }
                    // And that log must extend the one the previous receipt showed: the agent witnesses the
                    // hub's history too. An inconsistency is journalled (it reaches the hub and the witness)
                    // and said loudly; the batch is in the log shown now, so it still counts as delivered.
                    do {
                        if let problem = try await journal.witness(log, consistency: receipt.consistency) {
                            logger.log(
                                level: problem.first ? .critical : .warning,
                                "the hub's log does not extend the history it showed this agent before: its record may have been rewritten; tell the 会議",
                                metadata: ["kiroku.log.problem": "\(problem.reason)"])
                        }
                    } catch {
                        // Judging the log must never hold back delivery; it is tried again with the next receipt.
                        logger.error(
                            "could not record the judgement of the hub's log", metadata: ["kiroku.error": "\(error)"])
                    }
                    // The hub holds the batch and signed for it: the mark and the receipt are written even
                    // if the agent is stopping this instant (an unstructured task is not cancelled with
                    // this one, and GRDB's async write gives up when its task is cancelled).
                    let suspending = journal.suspending
                    try await Task { try await suspending.markDelivered(receipt) }.value
                    if let gap = batch.gap {
                        // The agent's side of the record of the loss; it ships like any event.
                        try await journal.append([
                            EventDraft(
                                kind: "agent", action: "loss", actor: "kiroku-agent", subject: journal.agentID,
                                attrs: [
                                    "from_seq": "\(gap.from)", "through_seq": "\(gap.through)", "reason": gap.reason,
                                ])
                        ])
                        logger.error(
                            "the hub lacked events this journal no longer holds; declared lost",
                            metadata: ["kiroku.gap.from": "\(gap.from)", "kiroku.gap.through": "\(gap.through)"])
                    }
                    cursor.acknowledged(through: batch.throughSeq)
                    prefetched = await next
                    if prefetched == nil { releaseMemory() }
                    logger.debug(
                        "batch delivered",
                        metadata: [
                            "kiroku.batch.first_seq": "\(batch.firstSeq)",
                            "kiroku.batch.through_seq": "\(batch.throughSeq)",
                            "kiroku.batch.accepted": "\(receipt.receipt.accepted)",
                        ])
                } catch {
                    prefetched = nil
                    try await fail(error, &cursor, &random)
                }
            }
        }
    }

    /// The key the hub signs receipts with, as its state names it.
    private static func receiptKey(_ state: AgentState) throws -> Curve25519.Signing.PublicKey {
        guard let bytes = Data(base64Encoded: state.hubKey),
            let key = try? Curve25519.Signing.PublicKey(rawRepresentation: bytes)
        else { throw KirokuError(.badReceipt, "the hub's receipt key is not an Ed25519 public key") }
        return key
    }

    /// Whether the journal and the hub's copy of this agent's chain have parted, and why: a journal found
    /// corrupt at start (a new epoch is pending), or one restored from a backup, which the hub is ahead of
    /// past what was delivered (it holds more, or another event at the hub's head). Nil when they agree.
    /// Where what was acknowledged differs, the caller reports a fork instead: that is not a rollback.
    private func needsEpoch(_ state: AgentState, head: Int64) async throws -> PendingEpoch? {
        if let pending = try await journal.suspending.pendingEpoch() { return pending }
        let delivered = try await journal.suspending.progress().deliveredThrough
        guard state.lastSeq > delivered else { return nil }
        let mine = state.lastSeq > head ? nil : try await journal.suspending.hash(seq: state.lastSeq)
        if state.lastSeq > head || mine != state.lastHash {
            return PendingEpoch(reason: "journal_rollback", corrupt: nil)
        }
        return nil
    }

    /// Starts a new chain epoch at the hub's head. First finds, by bisection over `GET /v1/agent/state?seq=`,
    /// the last seq where the journal and the hub hold the same event (chains are hash-linked, so agreement
    /// is a prefix); the journal's events after it are journalled again after a loss record that links to
    /// the hub's head (``Journal/startEpoch(afterHubSeq:hubHash:agreedThrough:record:)``). For a corrupt
    /// journal the record states the range of the old journal's seqs that never reached the hub.
    private func startEpoch(
        after state: AgentState, head: Int64, reason pending: PendingEpoch, connection: HubConnection
    ) async throws {
        let low = min(try await journal.suspending.progress().deliveredThrough, state.lastSeq)
        // A fresh journal (the old one was corrupt) shares no event with the hub past what it acknowledged.
        var bisection = EpochBisection(low: low, high: pending.corrupt != nil ? low : min(head, state.lastSeq))
        while let middle = bisection.probe {
            let answer = try await connection.get(AgentState.self, "/v1/agent/state?seq=\(middle)")
            let mine = try await journal.suspending.hash(seq: middle)
            bisection.record(agrees: answer.hashAtSeq != nil && mine == answer.hashAtSeq)
        }
        let agreed = bisection.agreedThrough
        let hubSeq = state.lastSeq
        let agentID = journal.agentID
        let start = try await journal.suspending.startEpoch(
            afterHubSeq: hubSeq, hubHash: state.lastHash, agreedThrough: agreed
        ) {
            moved, movedAs in
            var attrs = [
                "reason": pending.reason, "hub_seq": "\(hubSeq)", "journal_head": "\(head)",
                "agreed_through": "\(agreed)",
            ]
            if let moved {
                attrs["rejournaled_from_seq"] = "\(moved.lowerBound)"
                attrs["rejournaled_through_seq"] = "\(moved.upperBound)"
                attrs["rejournaled_as_from_seq"] = "\(movedAs)"
            }
            if let corrupt = pending.corrupt {
                attrs["aside"] = corrupt.aside
                attrs["problem"] = String(corrupt.problem.prefix(200))
                // The old journal's events after what the hub holds never reached it: lost, unless the
                // forensic copy yields them.
                if let oldHead = corrupt.oldHead {
                    if oldHead > hubSeq {
                        attrs["from_seq"] = "\(hubSeq + 1)"
                        attrs["through_seq"] = "\(oldHead)"
                    }
                } else {
                    attrs["from_seq"] = "\(hubSeq + 1)"
                    attrs["through_seq"] = "unknown"
                }
            }
            return EventDraft(kind: "agent", action: "loss", actor: "kiroku-agent", subject: agentID, attrs: attrs)
        }
        logger.error(
            "this journal and the hub parted (\(pending.reason)): started a new chain epoch at the hub's head",
            metadata: [
                "kiroku.hub.last_seq": "\(hubSeq)", "kiroku.journal.head": "\(head)",
                "kiroku.epoch.seq": "\(start.record.seq)",
                "kiroku.epoch.rejournaled": "\(start.movedCount)",
            ])
    }

    /// A batch read from the journal and encoded (and compressed), ready to send.
    struct PreparedBatch: Sendable {
        var firstSeq: Int64
        var throughSeq: Int64
        var headHash: String
        var body: [UInt8]
        var headers: [(String, String)]
        /// Set when the hub lacks events this journal no longer holds.
        var gap: DeclaredGap?
    }

    /// Reads the events from `from` on and encodes the batch body.
    func prepare(from: Int64, head: Int64, limits: (events: Int, bytes: Int)) async throws -> PreparedBatch {
        let events = try await journal.suspending.pending(from: from, limit: limits.events, maxBytes: limits.bytes)
        guard let first = events.first, let last = events.last else {
            throw KirokuError(.journal, "the hub lacks events from seq \(from) on, but this journal holds none of them")
        }
        // The hub lost events this journal already pruned (the hub was restored from an older backup):
        // declare the exact range instead of being stuck, or silent (invariant 6).
        let gap =
            first.seq == from
            ? nil
            : DeclaredGap(
                from: from, through: first.seq - 1,
                reason: "no longer in the agent's journal: delivered and pruned before the hub lost them")
        let sentAt = Timestamp.localNow().rfc3339
        var body = Batch.encodeBody(
            agent: journal.agentID, sentAt: sentAt, headSeq: max(head, last.seq), canonicalEvents: events.map(\.body),
            gap: gap)
        var headers = [("Content-Type", "application/json")]
        if configuration.compression == "gzip" {
            var buffer = ByteBuffer(bytes: body)
            let compressed = try buffer.compress(
                with: .gzip(configuration: .init(compressionLevel: .fastestCompression)))
            body = Array(compressed.readableBytesView)
            headers.append(("Content-Encoding", "gzip"))
        }
        return PreparedBatch(
            firstSeq: from, throughSeq: last.seq, headHash: last.hash, body: body, headers: headers, gap: gap)
    }

    /// The next batch if the journal already holds events from `from` on; nil otherwise (or on any error:
    /// the main path will read again and report it).
    func prefetch(from: Int64, limits: (events: Int, bytes: Int)) async -> PreparedBatch? {
        guard let head = try? await journal.suspending.progress().headSeq, head >= from else { return nil }
        return try? await prepare(from: from, head: head, limits: limits)
    }

    /// After a catch-up, hands the batch buffers' memory back to the system so an idle agent stays small.
    private func releaseMemory() {
        #if canImport(Glibc)
            // glibc's malloc_trim is not in Swift's Glibc module; look it up (RTLD_DEFAULT is a null handle).
            typealias Trim = @convention(c) (Int) -> Int32
            if let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "malloc_trim") {
                _ = unsafeBitCast(symbol, to: Trim.self)(0)
            }
        #endif
    }

    private func post(_ batch: PreparedBatch, connection: HubConnection) async throws -> SignedReceipt {
        // Names the tree of the last consistent receipt, so that the hub proves its new tree extends it.
        let known = try await journal.suspending.knownTree().map { "?known_tree=\($0.size)" } ?? ""
        let answer = try await connection.request(
            .POST, "/v1/agent/batches" + known, body: batch.body, headers: batch.headers)
        do {
            return try JSONDecoder().decode(SignedReceipt.self, from: Data(answer))
        } catch {
            throw KirokuError(.badReceipt, "the hub's receipt could not be read", underlying: error)
        }
    }

    private func fail(_ error: any Error, _ cursor: inout SyncCursor, _ random: inout SystemRandomNumberGenerator)
        async throws
    {
        if Task.isCancelled { throw CancellationError() }
        let wait = cursor.failed(now: .now, using: &random)
        let kiroku = error as? KirokuError
        let reachable = kiroku.map { $0.code != .hubUnavailable } ?? false
        let message = kiroku.map { "\($0.code.rawValue): \($0.message)" } ?? String(describing: error)
        // Bookkeeping only: if even that cannot be written (disk full), keep syncing anyway.
        try? await journal.suspending.recordFailure(message, reachable: reachable)
        logger.warning(
            "sync attempt failed; retrying",
            metadata: [
                "kiroku.error": "\(message)", "kiroku.retry_ms": "\(wait.milliseconds)",
                "kiroku.failures": "\(cursor.failures)",
            ])
    }
}
