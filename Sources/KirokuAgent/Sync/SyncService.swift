import CompressNIO
import Crypto
import KirokuClient
import KirokuProtocol
public import Logging
import NIOCore
import NIOHTTP1
public import ServiceLifecycle

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

    private func loop(_ connection: HubConnection) async throws {
        var cursor = SyncCursor(backoff: .init(cap: .milliseconds(Int64(configuration.backoffMaxSeconds * 1000))))
        var random = SystemRandomNumberGenerator()
        var hubKey: Curve25519.Signing.PublicKey?
        var limits = (events: configuration.batchEvents, bytes: configuration.batchBytes)
        let poll = Duration.milliseconds(Int64(configuration.pollSeconds * 1000))
        while !Task.isCancelled {
            let head = try journal.progress().headSeq
            switch cursor.next(now: .now, localHead: head) {
            case .wait(let duration):
                try await Task.sleep(for: duration)
            case .idle:
                await doorbell.wait(timeout: poll)
            case .queryState:
                do {
                    let state = try await connection.get(AgentState.self, "/v1/agent/state")
                    guard let keyBytes = Data(base64Encoded: state.hubKey),
                        let key = try? Curve25519.Signing.PublicKey(rawRepresentation: keyBytes)
                    else { throw KirokuError(.badReceipt, "the hub's receipt key is not an Ed25519 public key") }
                    hubKey = key
                    limits = (min(configuration.batchEvents, state.maxBatchEvents),
                        min(configuration.batchBytes, state.maxBatchBytes))
                    if state.lastSeq > head {
                        throw KirokuError(
                            .journal,
                            "the hub holds seq \(state.lastSeq) but this journal ends at \(head): was the journal restored from a backup?")
                    }
                    if state.lastSeq > 0, let mine = try journal.event(seq: state.lastSeq), mine.hash != state.lastHash {
                        throw KirokuError(
                            .fork, "the hub's event \(state.lastSeq) differs from this journal's: the chains have forked")
                    }
                    cursor.stateReceived(lastSeq: state.lastSeq)
                    try journal.recordContact()
                    logger.debug("hub state", metadata: ["kiroku.hub.last_seq": "\(state.lastSeq)"])
                } catch {
                    try fail(error, &cursor, &random)
                }
            case .send(let from):
                do {
                    guard let hubKey else { throw KirokuError(.badReceipt, "no hub key yet") }
                    let events = try journal.pending(from: from, limit: limits.events, maxBytes: limits.bytes)
                    guard let first = events.first, first.seq == from, let last = events.last else {
                        throw KirokuError(
                            .journal,
                            "the hub lacks events from seq \(from) on, but this journal no longer holds them")
                    }
                    let receipt = try await send(events, head: head, connection: connection)
                    let lastHash = try JSONDecoder().decode(Event.self, from: Data(last.body)).hash
                    guard receipt.verify(publicKey: hubKey) else {
                        throw KirokuError(.badReceipt, "the hub's receipt signature does not verify")
                    }
                    guard receipt.receipt.agent == journal.agentID, receipt.receipt.throughSeq == last.seq,
                        receipt.receipt.headHash == lastHash
                    else {
                        throw KirokuError(.badReceipt, "the hub's receipt does not cover the batch that was sent")
                    }
                    try journal.markDelivered(receipt)
                    cursor.acknowledged(through: last.seq)
                    logger.debug(
                        "batch delivered",
                        metadata: [
                            "kiroku.batch.first_seq": "\(first.seq)", "kiroku.batch.through_seq": "\(last.seq)",
                            "kiroku.batch.accepted": "\(receipt.receipt.accepted)",
                        ])
                } catch {
                    try fail(error, &cursor, &random)
                }
            }
        }
    }

    private func send(_ events: [StoredEvent], head: Int64, connection: HubConnection) async throws -> SignedReceipt {
        let sentAt = Timestamp(date: Date(), offsetMinutes: TimeZone.current.secondsFromGMT() / 60).rfc3339
        var body = Batch.encodeBody(
            agent: journal.agentID, sentAt: sentAt, headSeq: head, canonicalEvents: events.map(\.body))
        var headers = [("Content-Type", "application/json")]
        if configuration.compression == "gzip" {
            var buffer = ByteBuffer(bytes: body)
            let compressed = try buffer.compress(with: .gzip(configuration: .init(compressionLevel: .fastestCompression)))
            body = Array(compressed.readableBytesView)
            headers.append(("Content-Encoding", "gzip"))
        }
        let answer = try await connection.request(.POST, "/v1/agent/batches", body: body, headers: headers)
        do {
            return try JSONDecoder().decode(SignedReceipt.self, from: Data(answer))
        } catch {
            throw KirokuError(.badReceipt, "the hub's receipt could not be read", underlying: error)
        }
    }

    private func fail(_ error: any Error, _ cursor: inout SyncCursor, _ random: inout SystemRandomNumberGenerator)
        throws
    {
        if Task.isCancelled { throw CancellationError() }
        let wait = cursor.failed(now: .now, using: &random)
        let kiroku = error as? KirokuError
        let reachable = kiroku.map { $0.code != .hubUnavailable } ?? false
        let message = kiroku.map { "\($0.code.rawValue): \($0.message)" } ?? String(describing: error)
        try journal.recordFailure(message, reachable: reachable)
        logger.warning(
            "sync attempt failed; retrying",
            metadata: [
                "kiroku.error": "\(message)", "kiroku.retry_ms": "\(wait.milliseconds)",
                "kiroku.failures": "\(cursor.failures)",
            ])
    }
}

extension Timestamp {
    init(date: Date, offsetMinutes: Int) {
        self.init(
            epochMilliseconds: Int64((date.timeIntervalSince1970 * 1000).rounded(.down)), offsetMinutes: offsetMinutes)
    }
}
