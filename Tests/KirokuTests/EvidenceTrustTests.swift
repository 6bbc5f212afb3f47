import Crypto
import Foundation
import KirokuControl
import KirokuProtocol
import KirokuTestSupport
import Testing

/// An auditor who checks a bundle the way the tools invite them to must not be fooled: trust comes from
/// keys the auditor gives, never from the file; a failing signature by a known key rejects; a duplicated
/// JSON member is refused. Each deception is tried on `kirokuctl verify` and on the independent Python
/// verifier, offline, with bundles made here as a forger would make them.
@Suite("Evidence an outside auditor can rely on: pinned keys, witnesses, C2SP parsing")
struct EvidenceTrustTests {
    let ctl = Binaries.path("kirokuctl")
    let origin = "kiroku.test/record"
    let hubKey = Curve25519.Signing.PrivateKey()
    let witnessKey = Curve25519.Signing.PrivateKey()
    let witnessName = "kaigi.test/witness"

    /// A bundle of `events` proven in a tree of exactly those events, signed by `signer`, cosigned by the
    /// witness unless told not to, naming `named` as its hub key.
    func bundle(
        _ events: [Event], signer: Curve25519.Signing.PrivateKey, named: Curve25519.Signing.PublicKey? = nil,
        cosigned: Bool = true
    ) throws -> (bundle: EvidenceBundle, note: SignedNote) {
        let leaves = events.map { Merkle.leafHash(eventHash: $0.hash)! }
        var prover = memoryProver(leaves)
        var note = SignedNote(body: Checkpoint(origin: origin, size: Int64(leaves.count), root: try prover.root()).body)
        try note.sign(name: origin, key: signer)
        if cosigned { try note.cosign(name: witnessName, key: witnessKey, time: 1_790_000_000) }
        var entries: [EvidenceBundle.Entry] = []
        for (index, event) in events.enumerated() {
            entries.append(
                EvidenceBundle.Entry(
                    object: try JSONParser.parse(event.canonicalBytes(includingHash: true)), leafIndex: Int64(index),
                    inclusion: try prover.inclusion(index: Int64(index)).map { Hex.encode($0) }))
        }
        let bundle = EvidenceBundle(
            origin: origin, hubKey: (named ?? signer.publicKey).rawRepresentation.base64EncodedString(),
            checkpoint: note.text,
            query: ["agent": "counter-01"], events: entries)
        return (bundle, note)
    }

    var hubKeyText: String { hubKey.publicKey.rawRepresentation.base64EncodedString() }
    var witnessText: String {
        "\(witnessName)+\(Hex.encode(SignedNote.keyID(name: witnessName, type: 0x04, publicKey: witnessKey.publicKey)))+"
            + Data([0x04] + witnessKey.publicKey.rawRepresentation).base64EncodedString()
    }

    /// Both verifiers on one file: (kirokuctl, python).
    func verify(_ temp: TempDir, _ bytes: [UInt8], _ arguments: [String]) async throws
        -> (ours: Outcome, theirs: Outcome)
    {
        let path = temp.file("bundle-\(UUID().uuidString.prefix(6)).json")
        try Data(bytes).write(to: URL(filePath: path))
        return (
            try await runProgram(ctl, ["verify", path] + arguments),
            try await runProgram("/usr/bin/env", ["python3", RepositoryFiles.pythonVerifier, path] + arguments)
        )
    }

    @Test("A forged bundle naming its own key is never judged by that key; the hub key and a witness must be given")
    func pinnedTrust() async throws {
        let temp = try TempDir("trust")
        let events = makeChain(agent: "counter-01", count: 5)
        let genuine = try bundle(events, signer: hubKey).bundle
        // These bundles are made here without the hub's statements: completeness is waived, and said.
        let pinned = ["--hub-key", hubKeyText, "--witness", witnessText, "--no-completeness"]
        let good = try await verify(temp, genuine.bytes, pinned)
        #expect(
            good.ours.status == 0 && good.ours.stdout.contains("VERIFIED: 5 event(s) proven"), "\(good.ours.stdout)")
        #expect(
            good.theirs.status == 0 && good.theirs.stdout.contains("\nVERIFIED: 5 event(s) proven"),
            "\(good.theirs.stdout)")

        // Without a hub key: no verdict at all (exit 2), and where to get the key.
        let unpinned = try await verify(temp, genuine.bytes, ["--witness", witnessText, "--no-completeness"])
        #expect(
            unpinned.ours.status == 2 && unpinned.ours.stderr.contains("confirm it against the paper copy"),
            "\(unpinned.ours.stderr)")
        #expect(
            unpinned.theirs.status == 2 && unpinned.theirs.stdout.contains("confirm it on paper"),
            "\(unpinned.theirs.stdout)")
        // Without a witness: no verdict unless --no-witness, and then it says so in words.
        let unwitnessed = try await verify(temp, genuine.bytes, ["--hub-key", hubKeyText, "--no-completeness"])
        #expect(unwitnessed.ours.status == 2 && unwitnessed.theirs.status == 2)
        let explicit = try await verify(
            temp, genuine.bytes, ["--hub-key", hubKeyText, "--no-witness", "--no-completeness"])
        #expect(
            explicit.ours.status == 0 && explicit.ours.stdout.contains("WITHOUT A WITNESS"), "\(explicit.ours.stdout)")
        #expect(
            explicit.theirs.status == 0 && explicit.theirs.stdout.contains("WITHOUT A WITNESS"),
            "\(explicit.theirs.stdout)")
        #expect(
            explicit.ours.stdout.contains("WITHOUT COMPLETENESS")
                && explicit.theirs.stdout.contains("WITHOUT COMPLETENESS"))
        // Without statements and without saying so: refused, since events may have been taken out.
        let incomplete = try await verify(temp, genuine.bytes, ["--hub-key", hubKeyText, "--witness", witnessText])
        #expect(
            incomplete.ours.status == 1 && incomplete.ours.stdout.contains("no signed statement"),
            "\(incomplete.ours.stdout)")
        #expect(
            incomplete.theirs.status == 1 && incomplete.theirs.stdout.contains("no signed statement"),
            "\(incomplete.theirs.stdout)")

        // Forged wholesale: other events, a tree of them, signed and "cosigned" by keys the forger made,
        // the forger's key written in the bundle. The auditor's pinned keys refuse it.
        let forger = Curve25519.Signing.PrivateKey()
        var forgedEvents = makeChain(agent: "counter-01", count: 5)
        forgedEvents[2] = Event(
            agent: "counter-01", seq: 3, time: forgedEvents[2].time, kind: "operation", action: "lookup",
            actor: "P9999",
            subject: "住民票コード 1", site: "本庁舎", attrs: [:], salt: Event.randomSalt(), prev: forgedEvents[1].hash
        ).sealed()
        let forged = try bundle(forgedEvents, signer: forger).bundle
        for (name, result) in [("forged", try await verify(temp, forged.bytes, pinned))] {
            #expect(
                result.ours.status == 1 && result.ours.stdout.contains("NOT VERIFIED"), "\(name): \(result.ours.stdout)"
            )
            #expect(
                result.theirs.status == 1 && result.theirs.stdout.contains("NOT VERIFIED"),
                "\(name): \(result.theirs.stdout)")
        }
    }

    @Test(
        "A removed or altered cosignature, an extra failing signature by the hub's key, a duplicated member: each refused"
    )
    func deceptions() async throws {
        let temp = try TempDir("deceive")
        let events = makeChain(agent: "counter-01", count: 7)
        // These bundles are made here without the hub's statements: completeness is waived, and said.
        let pinned = ["--hub-key", hubKeyText, "--witness", witnessText, "--no-completeness"]
        let (genuine, note) = try bundle(events, signer: hubKey)

        // The cosignature removed.
        var uncosigned = genuine
        uncosigned.checkpoint = try bundle(events, signer: hubKey, cosigned: false).note.text
        // The cosignature altered (one byte of its signature).
        var altered = note
        altered.signatures[1].blob[40] ^= 0x01
        var badCosignature = genuine
        badCosignature.checkpoint = altered.text
        // A second line by the hub's key that does not verify, after the good one (C2SP: reject the note).
        var extra = note
        extra.signatures.append(.init(name: origin, blob: note.signatures[0].keyID + Array(repeating: 7, count: 64)))
        var failingSignature = genuine
        failingSignature.checkpoint = extra.text
        for (name, candidate, expected) in [
            ("no cosignature", uncosigned, "not cosigned by witness"),
            ("altered cosignature", badCosignature, "not cosigned by witness"),
            ("extra failing hub signature", failingSignature, "does not verify"),
        ] {
            let result = try await verify(temp, candidate.bytes, pinned)
            #expect(result.ours.status == 1 && result.ours.stdout.contains(expected), "\(name): \(result.ours.stdout)")
            #expect(
                result.theirs.status == 1 && result.theirs.stdout.contains("NOT VERIFIED"),
                "\(name): \(result.theirs.stdout)")
        }

        // A duplicated member: a reader that takes the first value would see the fake checkpoint, one
        // that takes the last the real one. Both verifiers refuse the file.
        let fake = try bundle(makeChain(agent: "counter-01", count: 7), signer: Curve25519.Signing.PrivateKey()).note
            .text
        let text = String(decoding: genuine.bytes, as: UTF8.self)
        let duplicated = text.replacingOccurrences(
            of: #"{"checkpoint":"#,
            with: "{\"checkpoint\":" + String(decoding: CanonicalJSON.encode(.string(fake)), as: UTF8.self)
                + ",\"checkpoint\":")
        #expect(duplicated != text)
        let result = try await verify(temp, Array(duplicated.utf8), pinned)
        #expect(
            result.ours.status != 0 && result.ours.stderr.contains("duplicate"),
            "\(result.ours.stdout)\(result.ours.stderr)")
        #expect(
            result.theirs.status == 1 && result.theirs.stdout.contains("duplicated member 'checkpoint'"),
            "\(result.theirs.stdout)")
    }

    @Test("A signed note's body ends at its last blank line (C2SP)")
    func noteSplit() throws {
        var note = SignedNote(body: "a\nb\n")
        try note.sign(name: "o", key: hubKey)
        // A line after a second blank line belongs to the signatures only if the body ends at the last one:
        // read that way the "body" has a blank line in it and the signature no longer verifies.
        let text = note.text + "\n— o " + Data(note.signatures[0].blob).base64EncodedString() + "\n"
        let parsed = try SignedNote(text: text)
        #expect(parsed.body == note.text)
        #expect(!parsed.verify(name: "o", publicKey: hubKey.publicKey))
        #expect(try SignedNote(text: note.text).verify(name: "o", publicKey: hubKey.publicKey))
    }
}
