import Crypto
import Foundation
import Hummingbird
import KirokuProtocol
import Logging
import NIOCore
import ServiceLifecycle

/// The Merkle log's endpoints (PROTOCOL.md §7): checkpoints, proofs, cosignatures and evidence bundles.
struct LogController: HubController {
    let core: HubCore

    func addRoutes(to router: Router<HubRequestContext>) {
        router.get("/v1/log/checkpoint") { request, context in try await self.checkpoint(request, context) }
        router.post("/v1/log/checkpoint") { _, context in
            try await authorize(.readRecord, context)
            return Self.text(
                try await record.issueCheckpoint(origin: configuration.origin, keys: signingKeys).note.text)
        }
        router.get("/v1/log/consistency") { request, context in
            _ = try Self.anyone(context)
            let from = try Self.integer(request, "from")
            let to = try Self.integer(request, "to")
            let proof = try await record.consistencyProof(from: from, to: to)
            return try Self.encode(ConsistencyAnswer(from: from, to: to, proof: proof.map { Hex.encode($0) }))
        }
        router.get("/v1/log/inclusion") { request, context in
            _ = try Self.anyone(context)
            let leaf = try Self.integer(request, "leaf")
            let size = try Self.integer(request, "size")
            let proof = try await record.inclusionProof(leaf: leaf, size: size)
            return try Self.encode(
                InclusionAnswer(leafIndex: leaf, treeSize: size, inclusion: proof.map { Hex.encode($0) }))
        }
        router.post("/v1/log/cosignature") { request, context in
            try await authorize(.cosign, context)
            var request = request
            let body = try await request.collectBody(upTo: 64 * 1024)
            let note = try SignedNote(text: String(decoding: body.readableBytesView, as: UTF8.self))
            let stored = try await record.addCosignatures(note)
            return try Self.encode(CosignatureAnswer(stored: stored))
        }
        router.get("/v1/evidence") { request, context in try await self.evidence(request, context) }
    }

    /// `GET /v1/log/checkpoint[?size=N]`: the newest published checkpoint (or the one of size N), as a
    /// signed note with its cosignatures. Issues the first one if there is none yet.
    func checkpoint(_ request: Request, _ context: HubRequestContext) async throws -> Response {
        _ = try Self.anyone(context)
        if request.uri.queryParameters["size"] != nil {
            let size = try Self.integer(request, "size")
            guard let published = try await record.checkpoint(size: size) else {
                throw KirokuError(.notFound, "no checkpoint of size \(size) was published")
            }
            return Self.text(published.note.text)
        }
        if let newest = try await record.checkpoint(size: nil) { return Self.text(newest.note.text) }
        return Self.text(try await record.issueCheckpoint(origin: configuration.origin, keys: signingKeys).note.text)
    }

    /// Most chain-link hashes one evidence page carries (about 4 MB of base64).
    static let maxLinksPerPage: Int64 = 100_000

    /// `GET /v1/evidence?<query>`: the events a query selects (one page), each with its inclusion proof
    /// in a checkpoint published now, and that checkpoint with its cosignatures (PROTOCOL.md §7).
    func evidence(_ request: Request, _ context: HubRequestContext) async throws -> Response {
        var parameters: [String: String] = [:]
        for (name, value) in request.uri.queryParameters { parameters[String(name)] = String(value) }
        try await limitToReader(&parameters, context)
        // `checkpoint=N` proves the events in the published checkpoint of size N (so that the pages of one
        // export share a checkpoint), `checkpoint=cosigned` in the newest one a witness cosigned; events
        // accepted after it are left out and counted. Without it, a checkpoint is published now.
        let choice = parameters.removeValue(forKey: "checkpoint")
        let query = try EventQuery(parameters: parameters)
        var (rows, next) = try await record.queryWithLeaves(query, includePurged: true)
        var chosen: PublishedCheckpoint?
        if choice == "cosigned" {
            // Asked for what the witness vouched for: nothing cosigned yet is a refusal, not a fresh checkpoint.
            guard let cosigned = try await record.newestCosignedCheckpoint() else {
                throw KirokuError(
                    .notFound, "no checkpoint has been cosigned by a witness yet; run 'kirokuctl witness run' first")
            }
            chosen = cosigned
        } else if let choice {
            guard let size = Int64(choice), size >= 0 else {
                throw KirokuError(
                    .badQuery, "checkpoint must be a published tree size or 'cosigned', not '\(choice.prefix(30))'")
            }
            guard let held = try await record.checkpoint(size: size) else {
                throw KirokuError(.notFound, "no checkpoint of size \(size) was published")
            }
            chosen = held
        }
        let published: PublishedCheckpoint
        if let chosen {
            published = chosen
        } else {
            // Issued after the query: the checkpoint covers every event it returned.
            published = try await record.issueCheckpoint(origin: configuration.origin, keys: signingKeys)
        }
        let fetched = rows.count
        rows.removeAll { $0.leaf >= published.checkpoint.size }
        let omitted = fetched - rows.count
        // The chain links of a page span each agent's seqs from its first event on the page to its last: two
        // events far apart on one terminal would make them millions of hashes. The page ends early instead,
        // keeping its links within `maxLinksPerPage`; the cursor goes on from its last event.
        var spans: [String: (low: Int64, high: Int64)] = [:]
        var linked: Int64 = 0
        for (index, row) in rows.enumerated() {
            let old = spans[row.event.agent]
            let new = (
                low: min(old?.low ?? row.event.seq, row.event.seq), high: max(old?.high ?? row.event.seq, row.event.seq)
            )
            let grown = linked - (old.map { $0.high - $0.low + 3 } ?? 0) + (new.high - new.low + 3)
            if grown > Self.maxLinksPerPage && index > 0 {
                let last = rows[index - 1].event
                next =
                    EventQuery.Cursor(
                        timeMS: Timestamp(rfc3339: last.time)?.epochMilliseconds ?? 0, agent: last.agent, seq: last.seq
                    ).text
                rows.removeSubrange(index...)
                break
            }
            spans[row.event.agent] = new
            linked = grown
        }
        let proofs = try await record.inclusionProofs(leaves: rows.map(\.leaf), size: published.checkpoint.size)
        // The hub's signed word on this page: the query, how many events of the tree match it, where the
        // page starts among them, and a digest of its entries (PROTOCOL.md §7, completeness).
        let counts = try await record.countForEvidence(query, treeSize: published.checkpoint.size)
        let links = try await record.evidenceLinks(
            rows.map { ($0.event.agent, $0.event.seq) }, treeSize: published.checkpoint.size)
        let statement = EvidenceStatement(
            origin: configuration.origin, treeSize: published.checkpoint.size,
            query: parameters.filter { $0.key != "cursor" && $0.key != "limit" }, matching: counts.matching,
            offset: counts.before,
            entries: Int64(rows.count),
            digest: EvidenceStatement.digest(rows.map { ($0.leaf, $0.event.hash, $0.purgedMS != nil) }),
            links: EvidenceLinks.digest(links))
        var statementNote = SignedNote(body: statement.body)
        for key in signingKeys { try statementNote.sign(name: configuration.origin, key: key) }
        var bundle = EvidenceBundle(
            origin: configuration.origin, hubKey: key.publicKey.rawRepresentation.base64EncodedString(),
            checkpoint: published.note.text, query: parameters.filter { $0.key != "cursor" },
            events: rows.enumerated().map { index, row in
                guard let purgedMS = row.purgedMS else {
                    return EvidenceBundle.Entry(
                        event: row.event, leafIndex: row.leaf, inclusion: proofs[index].map { Hex.encode($0) })
                }
                // Retention removed its content; its hash and place in the log remain.
                return EvidenceBundle.Entry(
                    purged: row.event,
                    at: Timestamp(epochMilliseconds: purgedMS, offsetMinutes: Timestamp.jstOffsetMinutes).rfc3339,
                    leafIndex: row.leaf, inclusion: proofs[index].map { Hex.encode($0) })
            })
        bundle.statements = [statementNote.text]
        bundle.links = [links]
        bundle.next = next
        bundle.omittedAfterCheckpoint = Int64(omitted)
        let out = bundle.bytes
        return Response(
            status: .ok, headers: [.contentType: "application/json; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(bytes: out)))
    }

}
