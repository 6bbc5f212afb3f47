import Crypto
import Foundation
import KirokuProtocol
import KirokuTestSupport
import Testing

/// The Merkle log's hashing, proofs and signed notes, against the published reference vectors and over
/// every shape of tree up to 70 leaves.
@Suite("Merkle log (RFC 6962) and checkpoints (C2SP)")
struct MerkleTests {
    /// The RFC 6962 reference inputs of certificate-transparency / transparency-dev's test data.
    static let referenceLeaves: [Merkle.Hash] = [
        "", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f",
    ].map { Merkle.leafHash(Hex.decode($0)!) }

    static let referenceRoots = [
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ]

    /// A tree kept the way the hub keeps it: complete subtrees by (level, index), built by the appender.
    struct Stored {
        var nodes: [String: Merkle.Hash] = [:]
        var appender: Merkle.Appender

        init(_ leaves: [Merkle.Hash]) throws {
            appender = try Merkle.Appender(size: 0) { _, _ in
                Issue.record("an empty tree reads nothing"); return []
            }
            for leaf in leaves {
                var added: [(String, Merkle.Hash)] = []
                appender.append(leaf) { level, index, hash in added.append(("\(level)/\(index)", hash)) }
                for (key, hash) in added { nodes[key] = hash }
            }
        }

        func prover(size: Int64) -> Merkle.Prover {
            let nodes = self.nodes
            return Merkle.Prover(size: size) { level, index in
                guard let hash = nodes["\(level)/\(index)"] else {
                    throw KirokuError(.internalError, "no node \(level)/\(index)")
                }
                return hash
            }
        }
    }

    @Test("Roots of the reference tree at every size 0…8, from the appender and from stored subtrees")
    func referenceRoots() throws {
        for size in 0...8 {
            let leaves = Array(Self.referenceLeaves.prefix(size))
            #expect(Hex.encode(Merkle.root(leaves)) == Self.referenceRoots[size], "size \(size)")
            let stored = try Stored(leaves)
            #expect(Hex.encode(stored.appender.root) == Self.referenceRoots[size])
            var prover = stored.prover(size: Int64(size))
            #expect(Hex.encode(try prover.root()) == Self.referenceRoots[size])
        }
    }

    @Test("The reference inclusion and consistency proofs are produced exactly, and verify")
    func referenceProofs() throws {
        let stored = try Stored(Self.referenceLeaves)
        let root8 = Hex.decode(Self.referenceRoots[8])!
        let inclusion: [(Int64, [String])] = [
            (
                0,
                [
                    "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
                ]
            ),
            (
                5,
                [
                    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                    "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
                ]
            ),
        ]
        for (index, expected) in inclusion {
            var prover = stored.prover(size: 8)
            let proof = try prover.inclusion(index: index)
            #expect(proof.map { Hex.encode($0) } == expected, "leaf \(index)")
            #expect(
                Merkle.verifyInclusion(
                    leaf: Self.referenceLeaves[Int(index)], index: index, size: 8, proof: proof, root: root8))
        }
        let consistency: [(Int64, [String])] = [
            (
                2,
                [
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
                ]
            ),
            (
                6,
                [
                    "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                    "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
                ]
            ),
        ]
        for (first, expected) in consistency {
            var prover = stored.prover(size: 8)
            let proof = try prover.consistency(from: first)
            #expect(proof.map { Hex.encode($0) } == expected, "from \(first)")
            #expect(
                Merkle.verifyConsistency(
                    first: first, second: 8, firstRoot: Hex.decode(Self.referenceRoots[Int(first)])!, secondRoot: root8,
                    proof: proof))
        }
    }

    @Test("Every inclusion and consistency proof of every tree up to 70 leaves verifies; altered ones never do")
    func allShapes() throws {
        let leaves = (0..<70).map { Merkle.leafHash(Array("leaf \($0)".utf8)) }
        let stored = try Stored(leaves)
        let roots = (0...70).map { Merkle.root(Array(leaves.prefix($0))) }
        var checked = 0
        for size in Int64(0)...70 {
            var prover = stored.prover(size: size)
            #expect(try prover.root() == roots[Int(size)])
            for index in 0..<size {
                let proof = try prover.inclusion(index: index)
                #expect(
                    Merkle.verifyInclusion(
                        leaf: leaves[Int(index)], index: index, size: size, proof: proof, root: roots[Int(size)]))
                if size >= 2 {
                    #expect(
                        !Merkle.verifyInclusion(
                            leaf: leaves[Int(index)], index: index, size: size, proof: proof, root: roots[Int(size) - 1]
                        ))
                }
                if !proof.isEmpty {
                    var bent = proof
                    bent[bent.count - 1][7] ^= 1
                    #expect(
                        !Merkle.verifyInclusion(
                            leaf: leaves[Int(index)], index: index, size: size, proof: bent, root: roots[Int(size)]))
                    #expect(
                        !Merkle.verifyInclusion(
                            leaf: leaves[Int(index)], index: index, size: size, proof: Array(proof.dropLast()),
                            root: roots[Int(size)]))
                }
                #expect(
                    !Merkle.verifyInclusion(
                        leaf: leaves[Int(index)], index: index, size: size, proof: proof + [roots[0]],
                        root: roots[Int(size)]))
                if size > 1 {
                    let other = (index + 1) % size
                    #expect(
                        !Merkle.verifyInclusion(
                            leaf: leaves[Int(index)], index: other, size: size, proof: proof, root: roots[Int(size)])
                            || leaves[Int(index)] == leaves[Int(other)])
                }
                checked += 1
            }
            for first in Int64(0)...size {
                let proof = try prover.consistency(from: first)
                #expect(
                    Merkle.verifyConsistency(
                        first: first, second: size, firstRoot: roots[Int(first)], secondRoot: roots[Int(size)],
                        proof: proof), "\(first)→\(size)")
                if first > 0 && first < size {
                    var bent = proof
                    bent[0][3] ^= 0x80
                    #expect(
                        !Merkle.verifyConsistency(
                            first: first, second: size, firstRoot: roots[Int(first)], secondRoot: roots[Int(size)],
                            proof: bent))
                    #expect(
                        !Merkle.verifyConsistency(
                            first: first, second: size, firstRoot: roots[Int(first) - 1], secondRoot: roots[Int(size)],
                            proof: proof), "a different old tree")
                    #expect(
                        !Merkle.verifyConsistency(
                            first: first, second: size, firstRoot: roots[Int(first)], secondRoot: roots[Int(size)],
                            proof: Array(proof.dropLast())))
                }
                checked += 1
            }
        }
        #expect(checked > 5000)
    }

    @Test("Signed notes: golang.org/x/mod/sumdb/note's reference signature, tampering, cosignatures")
    func signedNotes() throws {
        // From the documentation of golang.org/x/mod/sumdb/note: Ed25519 is deterministic, so signing its
        // text with its key must give its signature byte for byte.
        let skey = Data(base64Encoded: "AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz")!
        let key = try Curve25519.Signing.PrivateKey(rawRepresentation: skey.dropFirst())
        let text =
            "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
        var note = SignedNote(body: text)
        try note.sign(name: "PeterNeumann", key: key)
        #expect(
            note.text == text
                + "\n— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
        )
        #expect(Hex.encode(SignedNote.keyID(name: "PeterNeumann", type: 1, publicKey: key.publicKey)) == "c74f20a3")
        let read = try SignedNote(text: note.text)
        #expect(read == note && read.verify(name: "PeterNeumann", publicKey: key.publicKey))
        let tampered = try SignedNote(text: note.text.replacingOccurrences(of: "cryptography", with: "cryptographY"))
        #expect(!tampered.verify(name: "PeterNeumann", publicKey: key.publicKey))
        #expect(!read.verify(name: "PeterNeumann", publicKey: Curve25519.Signing.PrivateKey().publicKey))

        // A checkpoint, signed by the log and cosigned by a witness.
        let log = Curve25519.Signing.PrivateKey()
        let witness = Curve25519.Signing.PrivateKey()
        let tree = Checkpoint(origin: "kiroku.example.lg.jp/record", size: 8, root: Hex.decode(Self.referenceRoots[8])!)
        #expect(tree.body == "kiroku.example.lg.jp/record\n8\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\n")
        #expect(try Checkpoint(body: tree.body) == tree)
        var checkpoint = SignedNote(body: tree.body)
        try checkpoint.sign(name: tree.origin, key: log)
        try checkpoint.cosign(name: "kaigi.example.lg.jp/witness", key: witness, time: 1_795_000_000)
        let parsed = try SignedNote(text: checkpoint.text)
        #expect(parsed.verify(name: tree.origin, publicKey: log.publicKey))
        #expect(
            parsed.cosignatureTime(name: "kaigi.example.lg.jp/witness", publicKey: witness.publicKey) == 1_795_000_000)
        #expect(parsed.cosignatureTime(name: "kaigi.example.lg.jp/witness", publicKey: log.publicKey) == nil)
        #expect(
            !parsed.verify(name: tree.origin, publicKey: witness.publicKey), "a cosignature is not the log's signature")
        // Malformed texts are refused with a stable code.
        for bad in [
            "", "origin\n8\n", "origin\nx\nAAAA\n\n", tree.body + "\n— name !!!\n", tree.body + "\nno dash line\n",
        ] {
            #expect(throws: KirokuError.self) { _ = try Checkpoint(body: try SignedNote(text: bad).body) }
        }
    }
}
