import Crypto
import Foundation
import KirokuControl
import KirokuProtocol
import KirokuTestSupport
import Testing

/// Golden vectors of the log (`Protocol/vectors/log.json`): trees, proofs, a checkpoint, a cosignature, a
/// receipt and an evidence bundle with a purged stub, made from fixed keys over the events of
/// `chain.json`. Swift writes them (`KIROKU_WRITE_VECTORS=1`) and reproduces them byte for byte;
/// `Protocol/check_vectors.py` re-derives and verifies every one without Kiroku's code.
@Suite("Golden vectors of the log: checkpoint, cosignature, receipt, bundle")
struct LogVectorTests {
    static let origin = "vectors.kiroku.example/record"
    static let witnessName = "vectors.kiroku.example/witness"
    static let hubSeed = (1...32).map { UInt8($0) }
    static let witnessSeed = (33...64).map { UInt8($0) }
    static let cosignedAt: UInt64 = 1_795_000_000

    static func document() throws -> JSONValue {
        let chain = VectorTests.fixedEvents().chain
        let hub = try Curve25519.Signing.PrivateKey(rawRepresentation: hubSeed)
        let witness = try Curve25519.Signing.PrivateKey(rawRepresentation: witnessSeed)
        let leaves = chain.map { Merkle.leafHash(eventHash: $0.hash)! }
        var prover = memoryProver(leaves)
        let root = try prover.root()
        var note = SignedNote(body: Checkpoint(origin: origin, size: Int64(leaves.count), root: root).body)
        try note.sign(name: origin, key: hub)
        let signed = note.text
        try note.cosign(name: witnessName, key: witness, time: cosignedAt)
        let hex = { (hashes: [Merkle.Hash]) in JSONValue.array(hashes.map { .string(Hex.encode($0)) }) }

        let receipt = Receipt(
            agent: "vector-agent", firstSeq: 1, throughSeq: 7, headHash: chain[6].hash, accepted: 7, duplicates: 0,
            hubTime: "2026-11-27T09:08:00.000+09:00", keyID: signingKeyID(hub.publicKey),
            log: LogProof(
                leafIndex: 6, treeSize: 7, root: Hex.encode(root),
                inclusion: try prover.inclusion(index: 6).map { Hex.encode($0) },
                checkpoint: signed))
        let signedReceipt = try SignedReceipt.sign(receipt, with: hub)

        var entries: [EvidenceBundle.Entry] = []
        for (index, event) in chain.enumerated() where index < 6 {
            let inclusion = try prover.inclusion(index: Int64(index)).map { Hex.encode($0) }
            if index == 5 {
                // Retention removed its content: what is left, and its proof.
                let stub: JSONValue = .object([
                    "agent": .string(event.agent), "seq": .integer(event.seq), "time": .string(event.time),
                    "kind": .string(event.kind), "action": .string(event.action), "site": .string(event.site),
                    "prev": .string(event.prev), "hash": .string(event.hash),
                    "purged_at": .string("2033-11-28T03:00:00.000+09:00"),
                ])
                entries.append(.init(object: stub, leafIndex: Int64(index), inclusion: inclusion, purged: true))
            } else {
                entries.append(
                    .init(
                        object: try JSONParser.parse(event.canonicalBytes(includingHash: true)),
                        leafIndex: Int64(index), inclusion: inclusion))
            }
        }
        // The query the bundle answers (seq 7, at 09:07, is after `to`), and the hub's signed statement of it.
        let query = ["agent": "vector-agent", "to": "2026-11-27T09:07:00.000+09:00"]
        var bundle = EvidenceBundle(
            origin: origin, hubKey: hub.publicKey.rawRepresentation.base64EncodedString(), checkpoint: note.text,
            query: query,
            events: entries)
        // The chain links: the agent's stretch from the seq before its first event shown to the one after its
        // last, 1 to 7.
        let links = [EvidenceLinks.Run(agent: "vector-agent", fromSeq: 1, hashes: chain.map { Hex.decode($0.hash)! })]
        bundle.links = [links]
        let statement = EvidenceStatement(
            origin: origin, treeSize: 7, query: query, matching: 6, offset: 0, entries: 6,
            digest: EvidenceStatement.digest(
                chain.prefix(6).enumerated().map { (Int64($0.offset), $0.element.hash, $0.offset == 5) }),
            links: EvidenceLinks.digest(links))
        var statementNote = SignedNote(body: statement.body)
        try statementNote.sign(name: origin, key: hub)
        bundle.statements = [statementNote.text]

        return .object([
            "description": .string(
                "The log over the 7 events of chain.json: roots, proofs, a checkpoint signed and cosigned, a receipt, an evidence bundle with a purged stub and the hub's signed statement of its query. Keys are from fixed seeds: for tests only."
            ),
            "origin": .string(origin),
            "hub": .object([
                "seed": .string(Hex.encode(hubSeed)),
                "public_key": .string(hub.publicKey.rawRepresentation.base64EncodedString()),
                "note_key_id": .string(
                    Hex.encode(SignedNote.keyID(name: origin, type: 0x01, publicKey: hub.publicKey))),
                "receipt_key_id": .string(signingKeyID(hub.publicKey)),
            ]),
            "witness": .object([
                "name": .string(witnessName), "seed": .string(Hex.encode(witnessSeed)),
                "verifier_key": .string(
                    "\(witnessName)+\(Hex.encode(SignedNote.keyID(name: witnessName, type: 0x04, publicKey: witness.publicKey)))+"
                        + Data([0x04] + witness.publicKey.rawRepresentation).base64EncodedString()),
                "time": .integer(Int64(cosignedAt)),
            ]),
            "leaves": .array(
                chain.map {
                    .object([
                        "event_hash": .string($0.hash),
                        "leaf_hash": .string(Hex.encode(Merkle.leafHash(eventHash: $0.hash)!)),
                    ])
                }),
            "roots": .array(
                try (0...leaves.count).map { size in
                    var sized = memoryProver(Array(leaves.prefix(size)))
                    return .object(["size": .integer(Int64(size)), "root": .string(Hex.encode(try sized.root()))])
                }),
            "inclusion": .array(
                try [(0, 7), (2, 7), (6, 7), (4, 5)].map { index, size in
                    var sized = memoryProver(Array(leaves.prefix(size)))
                    return .object([
                        "leaf_index": .integer(Int64(index)), "tree_size": .integer(Int64(size)),
                        "proof": hex(try sized.inclusion(index: Int64(index))),
                    ])
                }),
            "consistency": .array(
                try [(1, 7), (3, 7), (4, 7), (6, 7)].map { first, size in
                    var sized = memoryProver(Array(leaves.prefix(size)))
                    return .object([
                        "from": .integer(Int64(first)), "to": .integer(Int64(size)),
                        "proof": hex(try sized.consistency(from: Int64(first))),
                    ])
                }),
            "checkpoint": .object([
                "body": .string(note.body), "signed": .string(signed), "cosigned": .string(note.text),
            ]),
            "receipt": .object([
                "receipt": try JSONParser.parse(receipt.signedBytes),
                "signed_bytes": .string(String(decoding: receipt.signedBytes, as: UTF8.self)),
                "signature": .string(signedReceipt.signature),
            ]),
            "bundle": try JSONParser.parse(bundle.bytes),
        ])
    }

    static var path: URL { VectorTests.folder.appending(path: "log.json") }

    @Test("Swift reproduces log.json byte for byte, and its own verifier accepts the bundle")
    func reproduce() throws {
        let expected = CanonicalJSON.encode(try Self.document())
        if ProcessInfo.processInfo.environment["KIROKU_WRITE_VECTORS"] != nil {
            try Data(expected + [0x0A]).write(to: Self.path)
        }
        let stored = [UInt8](try Data(contentsOf: Self.path))
        #expect(stored == expected + [0x0A], "log.json differs from what Swift makes now")
        guard case .object(let root) = try JSONParser.parse(stored), let bundleValue = root["bundle"] else {
            Issue.record("log.json has no bundle")
            return
        }
        let hub = try Curve25519.Signing.PrivateKey(rawRepresentation: Self.hubSeed).publicKey
        let witness = try Curve25519.Signing.PrivateKey(rawRepresentation: Self.witnessSeed).publicKey
        let verdict = EvidenceVerifier.verify(
            try EvidenceBundle(bytes: CanonicalJSON.encode(bundleValue)), hubKeys: [hub],
            witnesses: [(Self.witnessName, witness)])
        #expect(verdict.verified, "\(verdict.lines)")
        #expect(verdict.lines.last?.contains("5 event(s) proven and 1 purged") == true, "\(verdict.lines)")
        #expect(
            verdict.lines.contains { $0.hasPrefix("ok    complete: the hub signed that 6 event(s)") },
            "\(verdict.lines)")
    }
}

@Suite("The agent's judgement of the hub's log history")
struct LogHistoryTests {
    @Test(
        "A receipt's tree must extend the known one: the first is taken; equal, grown with a proof, pass; shrunk, changed, unproven or falsely proven are refused"
    )
    func judge() throws {
        let leaves = (0..<9).map { Merkle.leafHash([UInt8($0)]) }
        var other = leaves
        other[2] = Merkle.leafHash([0xFF])
        func tree(_ leaves: [Merkle.Hash], _ size: Int) throws -> (size: Int64, root: Merkle.Hash) {
            var prover = memoryProver(Array(leaves.prefix(size)))
            return (Int64(size), try prover.root())
        }
        func proof(_ leaves: [Merkle.Hash], from: Int, to: Int) throws -> LogConsistency {
            var prover = memoryProver(Array(leaves.prefix(to)))
            return LogConsistency(
                from: Int64(from), proof: try prover.consistency(from: Int64(from)).map { Hex.encode($0) })
        }
        let known = try tree(leaves, 5)
        #expect(LogHistory.judge(known: nil, shown: known, consistency: nil) == .extends)
        #expect(LogHistory.judge(known: known, shown: known, consistency: nil) == .extends)
        #expect(
            LogHistory.judge(known: known, shown: try tree(leaves, 9), consistency: try proof(leaves, from: 5, to: 9))
                == .extends)
        func refused(_ verdict: LogHistory.Verdict, _ words: String) -> Bool {
            if case .inconsistent(let reason) = verdict { return reason.contains(words) }
            return false
        }
        #expect(
            refused(LogHistory.judge(known: known, shown: try tree(leaves, 4), consistency: nil), "shrank from 5 to 4"))
        #expect(
            refused(LogHistory.judge(known: known, shown: try tree(other, 5), consistency: nil), "another tree of 5"))
        #expect(refused(LogHistory.judge(known: known, shown: try tree(leaves, 9), consistency: nil), "gave no proof"))
        #expect(
            refused(
                LogHistory.judge(
                    known: known, shown: try tree(leaves, 9), consistency: try proof(leaves, from: 4, to: 9)),
                "gave no proof"))
        // A history rebuilt around a changed leaf: its own proof is valid for its own prefix, not the known one.
        #expect(
            refused(
                LogHistory.judge(
                    known: known, shown: try tree(other, 9), consistency: try proof(other, from: 5, to: 9)),
                "does not extend"))
    }
}
