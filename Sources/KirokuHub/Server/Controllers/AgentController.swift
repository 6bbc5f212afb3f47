import Crypto
import Foundation
import Hummingbird
import KirokuProtocol
import NIOCore
import Prometheus

/// Agents (PROTOCOL.md §3–§5): an agent asks where the hub's copy of its chain stands and sends batches;
/// people read every agent's health.
struct AgentController: HubController {
    let core: HubCore

    func addRoutes(to router: Router<HubRequestContext>) {
        router.get("/v1/agent/state") { request, context in try await self.state(request, context) }
        router.post("/v1/agent/batches") { request, context in try await self.batch(request, context) }
        router.get("/v1/agents") { _, context in
            try Self.encode(AgentHealthList(agents: try await self.health(context)))
        }
    }

    func state(_ request: Request, _ context: HubRequestContext) async throws -> Response {
        let agent = try Self.require(.agent, context)
        let head = try await record.chainHead(agent: agent.id)
        var at: (seq: Int64, hash: String?)?
        if let text = request.uri.queryParameters["seq"] {
            guard let seq = Int64(String(text)), seq >= 1 else {
                throw KirokuError(.badQuery, "seq must be a whole number from 1, not '\(text.prefix(30))'")
            }
            at = (seq, try await record.hash(agent: agent.id, seq: seq))
        }
        let state = AgentState(
            agent: agent.id, lastSeq: head.seq, lastHash: head.hash, hubTime: Timestamp(date: Date()).rfc3339,
            hubKey: key.publicKey.rawRepresentation.base64EncodedString(), maxBatchEvents: configuration.maxBatchEvents,
            maxBatchBytes: configuration.maxBatchBytes, atSeq: at?.seq, hashAtSeq: at?.hash)
        return try Self.encode(state)
    }

    func batch(_ request: Request, _ context: HubRequestContext) async throws -> Response {
        let agent = try Self.require(.agent, context)
        var request = request
        let limit = configuration.maxBatchBytes
        // A declared length over the limit is refused at once, not after waiting for the bytes.
        if let declared = request.headers[.contentLength].flatMap({ Int($0) }), declared > limit {
            throw KirokuError(.batchTooLarge, "the batch body is over \(limit) bytes (Content-Length \(declared))")
        }
        var body: ByteBuffer
        do {
            body = try await request.collectBody(upTo: limit)
        } catch is NIOTooManyBytesError {
            throw KirokuError(.batchTooLarge, "the batch body is over \(limit) bytes")
        } catch {
            throw KirokuError(.malformedRequest, "the request body could not be read as HTTP/1.1")
        }
        switch request.headers[.contentEncoding]?.lowercased() {
        case nil, "identity":
            break
        case "gzip":
            body = try Inflate.inflate(body, format: .gzip, maxSize: limit)
        case "deflate":
            body = try Inflate.inflate(body, format: .zlib, maxSize: limit)
        case let other?:
            throw KirokuError(
                .unsupportedEncoding, "Content-Encoding '\(other.prefix(20))' is not supported; use gzip or deflate")
        }
        let started = ContinuousClock.now
        let batch = try Batch.parse(body.readableBytesView)
        guard batch.events.count <= configuration.maxBatchEvents else {
            throw KirokuError(
                .batchTooLarge,
                "the batch has \(batch.events.count) events; at most \(configuration.maxBatchEvents) are taken")
        }
        var known: Int64?
        if let text = request.uri.queryParameters["known_tree"] {
            guard let value = Int64(String(text)), value >= 1 else {
                throw KirokuError(.badQuery, "known_tree must be a tree size from 1, not '\(text.prefix(30))'")
            }
            known = value
        }
        let origin = configuration.origin
        let keys = [key] + overlapKeys
        // The checkpoint for the tree as this batch left it, kept (and served by size) with the batch and
        // signed by every key in force: receipts name only checkpoints in the history the witness sees.
        let result = try await record.ingest(batch, identity: agent.id) { size, root in
            var note = SignedNote(body: Checkpoint(origin: origin, size: size, root: root).body)
            for key in keys { try note.sign(name: origin, key: key) }
            return note
        }
        let checkpointText = result.checkpoint ?? ""
        // The proof that this tree extends the one of the agent's previous receipt, which it names.
        var consistency: LogConsistency?
        if let known, known < result.log.treeSize {
            let proof = try await record.consistencyProof(from: known, to: result.log.treeSize)
            consistency = LogConsistency(from: known, proof: proof.map { Hex.encode($0) })
        }
        let receipt = Receipt(
            agent: agent.id, firstSeq: result.firstSeq, throughSeq: result.throughSeq, headHash: result.headHash,
            accepted: result.accepted, duplicates: result.duplicates, hubTime: Timestamp(date: Date()).rfc3339,
            keyID: signingKeyID(key.publicKey),
            log: LogProof(
                leafIndex: result.log.leafIndex, treeSize: result.log.treeSize, root: Hex.encode(result.log.root),
                inclusion: result.log.inclusion.map { Hex.encode($0) }, checkpoint: checkpointText))
        metrics.eventsIngested.increment(by: Int64(result.accepted))
        metrics.duplicates.increment(by: Int64(result.duplicates))
        metrics.batchesAccepted.increment()
        metrics.batchDuration.record(ContinuousClock.now - started)
        metrics.lag(agent: agent.id, events: max(0, batch.headSeq - result.throughSeq))
        var signed = try SignedReceipt.sign(receipt, with: key)
        signed.consistency = consistency
        return try Self.encode(signed)
    }

    /// Every agent's health, for those who read the whole record.
    func health(_ context: HubRequestContext) async throws -> [AgentHealth] {
        try await authorize(.readRecord, context)
        return try await record.agentHealth()
    }
}
