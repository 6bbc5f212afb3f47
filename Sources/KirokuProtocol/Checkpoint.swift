public import Crypto

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// A tree head in the C2SP tlog-checkpoint text form: the origin line (which log), the tree size in
/// decimal, and the base64 root hash, each ending in a newline.
public struct Checkpoint: Sendable, Equatable {
    public var origin: String
    public var size: Int64
    public var root: Merkle.Hash

    public init(origin: String, size: Int64, root: Merkle.Hash) {
        self.origin = origin
        self.size = size
        self.root = root
    }

    /// The note body that is signed and cosigned.
    public var body: String { "\(origin)\n\(size)\n\(Data(root).base64EncodedString())\n" }

    /// Reads a checkpoint body (extension lines are not used by Kiroku and are refused).
    public init(body: String) throws(KirokuError) {
        let lines = body.split(separator: "\n", omittingEmptySubsequences: false)
        guard body.hasSuffix("\n"), lines.count == 4, !lines[0].isEmpty,
            let size = Int64(lines[1]), size >= 0, String(size) == lines[1],
            let root = Data(base64Encoded: String(lines[2])), root.count == 32
        else {
            throw KirokuError(.badCheckpoint, "not a checkpoint: expected origin, tree size and base64 root lines")
        }
        self.init(origin: String(lines[0]), size: size, root: Array(root))
    }
}

/// A C2SP signed note: a text body and Ed25519 signature lines (`— <name> base64(key ID ‖ signature)`).
public struct SignedNote: Sendable, Equatable {
    /// The content type a signed note travels under when a client sends one to the hub (a cosignature).
    public static let mediaType = "application/vnd.kiroku.signed-note"

    public var body: String
    public var signatures: [Line]

    public struct Line: Sendable, Equatable {
        public var name: String
        /// The 4-byte key ID followed by the signature bytes.
        public var blob: [UInt8]
        public var keyID: [UInt8] { Array(blob.prefix(4)) }

        public init(name: String, blob: [UInt8]) {
            self.name = name
            self.blob = blob
        }
    }

    public init(body: String, signatures: [Line] = []) {
        self.body = body
        self.signatures = signatures
    }

    /// The note as text: body, an empty line, one line per signature.
    public var text: String {
        body + "\n" + signatures.map { "— \($0.name) \(Data($0.blob).base64EncodedString())\n" }.joined()
    }

    public init(text: String) throws(KirokuError) {
        // C2SP signed-note: the body ends at the last empty line (its last line's newline, then the
        // separating one); signature lines are never empty.
        let bytes = Array(text.utf8)
        guard let split = bytes.indices.dropLast().last(where: { bytes[$0] == 0x0A && bytes[$0 + 1] == 0x0A }) else {
            throw KirokuError(.badCheckpoint, "not a signed note: no empty line before the signatures")
        }
        body = String(decoding: bytes[...split], as: UTF8.self)
        signatures = []
        let rest = String(decoding: bytes[(split + 2)...], as: UTF8.self)
        guard rest.hasSuffix("\n") else { throw KirokuError(.badCheckpoint, "a signed note ends with a newline") }
        for line in rest.dropLast().split(separator: "\n", omittingEmptySubsequences: false) {
            let parts = line.split(separator: " ", omittingEmptySubsequences: false)
            guard parts.count == 3, parts[0] == "—", !parts[1].isEmpty,
                let blob = Data(base64Encoded: String(parts[2])), blob.count > 4
            else {
                throw KirokuError(.badCheckpoint, "not a signature line: '\(line.prefix(80))'")
            }
            signatures.append(Line(name: String(parts[1]), blob: Array(blob)))
        }
    }

    // MARK: The log's own signature (signature type 0x01, Ed25519)

    /// SHA-256(name ‖ "\n" ‖ type ‖ public key)[:4], the key ID of signed-note keys and cosigners.
    public static func keyID(name: String, type: UInt8, publicKey: Curve25519.Signing.PublicKey) -> [UInt8] {
        var hasher = SHA256()
        hasher.update(data: Array(name.utf8) + [0x0A, type])
        hasher.update(data: publicKey.rawRepresentation)
        return Array(hasher.finalize().prefix(4))
    }

    public mutating func sign(name: String, key: Curve25519.Signing.PrivateKey) throws {
        let signature = try key.signature(for: Array(body.utf8))
        signatures.append(
            Line(name: name, blob: Self.keyID(name: name, type: 0x01, publicKey: key.publicKey) + Array(signature)))
    }

    /// True if the note carries a signature line by `name` with this key's ID and every such line verifies
    /// over the body. As C2SP says, a line by a known key that does not verify rejects the note (it is not
    /// merely ignored); lines by unknown keys are ignored.
    public func verify(name: String, publicKey: Curve25519.Signing.PublicKey) -> Bool {
        check(name: name, publicKey: publicKey) == .valid
    }

    /// What the note's lines by one known key say.
    public enum SignatureCheck: Sendable, Equatable {
        /// No line by this key.
        case absent
        /// Every line by this key verifies.
        case valid
        /// A line by this key does not verify: the note must be rejected, whatever other keys say.
        case invalid
    }

    public func check(name: String, publicKey: Curve25519.Signing.PublicKey) -> SignatureCheck {
        let id = Self.keyID(name: name, type: 0x01, publicKey: publicKey)
        let lines = signatures.filter { $0.name == name && $0.keyID == id }
        if lines.isEmpty { return .absent }
        let good = lines.allSatisfy { line in
            line.blob.count == 68 && publicKey.isValidSignature(Data(line.blob[4...]), for: Array(body.utf8))
        }
        return good ? .valid : .invalid
    }

    /// The verdict over several known keys (a rotation's): rejected if any of them has a failing line,
    /// accepted if one of them signed; `key` is the one that did.
    public func check(name: String, publicKeys: [Curve25519.Signing.PublicKey]) -> (
        check: SignatureCheck, key: Curve25519.Signing.PublicKey?
    ) {
        var signer: Curve25519.Signing.PublicKey?
        for key in publicKeys {
            switch check(name: name, publicKey: key) {
            case .invalid: return (.invalid, key)
            case .valid: signer = signer ?? key
            case .absent: break
            }
        }
        return signer.map { (.valid, $0) } ?? (.absent, nil)
    }

    // MARK: Cosignatures (C2SP tlog-cosignature, Ed25519 type 0x04)

    static func cosignedMessage(body: String, time: UInt64) -> [UInt8] {
        Array("cosignature/v1\ntime \(time)\n\(body)".utf8)
    }

    /// Adds a witness's cosignature, made at `time` (POSIX seconds).
    public mutating func cosign(name: String, key: Curve25519.Signing.PrivateKey, time: UInt64) throws {
        let signature = try key.signature(for: Self.cosignedMessage(body: body, time: time))
        var timestamp = [UInt8](repeating: 0, count: 8)
        for index in 0..<8 { timestamp[index] = UInt8(truncatingIfNeeded: time >> (56 - 8 * UInt64(index))) }
        signatures.append(
            Line(
                name: name,
                blob: Self.keyID(name: name, type: 0x04, publicKey: key.publicKey) + timestamp + Array(signature)))
    }

    /// The time of the cosignature by `name` with this key, or nil if there is none or if any line by that
    /// key fails to verify (C2SP: a failing signature by a known key rejects the note).
    public func cosignatureTime(name: String, publicKey: Curve25519.Signing.PublicKey) -> UInt64? {
        let id = Self.keyID(name: name, type: 0x04, publicKey: publicKey)
        var found: UInt64?
        for line in signatures where line.name == name && line.keyID == id {
            guard line.blob.count == 76 else { return nil }
            let time = line.blob[4..<12].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
            guard publicKey.isValidSignature(Data(line.blob[12...]), for: Self.cosignedMessage(body: body, time: time))
            else {
                return nil
            }
            found = found ?? time
        }
        return found
    }
}

/// What the hub signs about one page of an evidence bundle (PROTOCOL.md §7): which query, in which tree,
/// how many events of that tree match it in all, where this page starts among them, how many it holds, and
/// a digest of its entries. A verifier given every page can tell a bundle that lost an event, or a page
/// cut short, and hold the hub to the count it signed. Signed as a C2SP note under the log's origin; its
/// first line keeps it from ever reading as a checkpoint.
public struct EvidenceStatement: Sendable, Equatable {
    public static let header = "kiroku-evidence-statement/v1"
    public var origin: String
    public var treeSize: Int64
    /// The query's filters as the hub applied them (a reader limited to their own record included).
    public var query: [String: String]
    public var matching: Int64
    public var offset: Int64
    public var entries: Int64
    public var digest: [UInt8]
    /// SHA-256 of the page's chain links (``EvidenceLinks/digest(_:)``).
    public var links: [UInt8]

    public init(
        origin: String, treeSize: Int64, query: [String: String], matching: Int64, offset: Int64, entries: Int64,
        digest: [UInt8],
        links: [UInt8] = EvidenceLinks.digest([])
    ) {
        self.origin = origin
        self.treeSize = treeSize
        self.query = query
        self.matching = matching
        self.offset = offset
        self.entries = entries
        self.digest = digest
        self.links = links
    }

    /// SHA-256 over `"<leaf_index> <hash>\n"` for each entry of the page, in order, `"<leaf_index> <hash>
    /// purged\n"` for an entry whose content retention removed (so that a shown event cannot be passed off
    /// as purged).
    public static func digest(_ entries: [(leafIndex: Int64, hash: String, purged: Bool)]) -> [UInt8] {
        var hasher = SHA256()
        for entry in entries {
            hasher.update(data: Array("\(entry.leafIndex) \(entry.hash)\(entry.purged ? " purged" : "")\n".utf8))
        }
        return Array(hasher.finalize())
    }

    public var body: String {
        let query = String(
            decoding: CanonicalJSON.encode(.object(self.query.mapValues(JSONValue.string))), as: UTF8.self)
        return """
            \(Self.header)
            origin \(origin)
            tree \(treeSize)
            query \(query)
            matching \(matching)
            offset \(offset)
            entries \(entries)
            digest \(Hex.encode(digest))
            links \(Hex.encode(links))

            """
    }

    public init(body: String) throws(KirokuError) {
        let lines = body.split(separator: "\n", omittingEmptySubsequences: false)
        func value(_ index: Int, _ name: String) throws(KirokuError) -> String {
            guard lines.count == 10, lines[index].hasPrefix(name + " ") else {
                throw KirokuError(.badCheckpoint, "not an evidence statement: line \(index + 1) should be '\(name) …'")
            }
            return String(lines[index].dropFirst(name.count + 1))
        }
        guard lines.first.map(String.init) == Self.header, body.hasSuffix("\n") else {
            throw KirokuError(.badCheckpoint, "not an evidence statement: it starts with '\(Self.header)'")
        }
        func integer(_ index: Int, _ name: String) throws(KirokuError) -> Int64 {
            let text = try value(index, name)
            guard let number = Int64(text), number >= 0, String(number) == text else {
                throw KirokuError(.badCheckpoint, "evidence statement: '\(name)' is not a whole number")
            }
            return number
        }
        origin = try value(1, "origin")
        treeSize = try integer(2, "tree")
        guard case .object(let members) = try JSONParser.parse(Array(try value(3, "query").utf8)) else {
            throw KirokuError(.badCheckpoint, "evidence statement: the query is not a JSON object")
        }
        var query: [String: String] = [:]
        for (name, member) in members {
            guard case .string(let text) = member else {
                throw KirokuError(.badCheckpoint, "evidence statement: query values are strings")
            }
            query[name] = text
        }
        self.query = query
        matching = try integer(4, "matching")
        offset = try integer(5, "offset")
        entries = try integer(6, "entries")
        let digestText = try value(7, "digest")
        guard Hex.isLowercaseHex(digestText, length: 64), let digest = Hex.decode(digestText) else {
            throw KirokuError(.badCheckpoint, "evidence statement: the digest is not 64 hex digits")
        }
        self.digest = digest
        let linksText = try value(8, "links")
        guard Hex.isLowercaseHex(linksText, length: 64), let links = Hex.decode(linksText) else {
            throw KirokuError(.badCheckpoint, "evidence statement: the links digest is not 64 hex digits")
        }
        self.links = links
        guard lines[9].isEmpty, body == self.body else {
            throw KirokuError(.badCheckpoint, "evidence statement: not in its canonical form")
        }
    }
}

/// The stretches of agents' hash chains that a page of evidence sits in (PROTOCOL.md §7): for each agent
/// with events on the page, the hashes of every event of its chain from the one before its first event on
/// the page to the one after its last (runs split where the hub holds no event, e.g. a declared loss).
/// Events of a stretch that are not in the bundle are ones the hub signs as not matching the query; the
/// bundle's events must sit in their stretch, with their `prev` the hash before them.
public enum EvidenceLinks {
    public struct Run: Sendable, Equatable {
        public var agent: String
        public var fromSeq: Int64
        public var hashes: [[UInt8]]

        public init(agent: String, fromSeq: Int64, hashes: [[UInt8]]) {
            self.agent = agent
            self.fromSeq = fromSeq
            self.hashes = hashes
        }

        public var throughSeq: Int64 { fromSeq + Int64(hashes.count) - 1 }

        public func hash(seq: Int64) -> String? {
            guard seq >= fromSeq, seq <= throughSeq else { return nil }
            return Hex.encode(hashes[Int(seq - fromSeq)])
        }

        /// `{"agent", "from_seq", "hashes": base64 of the 32-byte hashes one after another}`.
        public var json: JSONValue {
            .object([
                "agent": .string(agent), "from_seq": .integer(fromSeq),
                "hashes": .string(Data(hashes.flatMap { $0 }).base64EncodedString()),
            ])
        }

        public init(json: JSONValue) throws(KirokuError) {
            guard case .object(let members) = json, case .string(let agent) = members["agent"],
                case .integer(let from) = members["from_seq"], from >= 1, case .string(let text) = members["hashes"],
                let bytes = Data(base64Encoded: text), !bytes.isEmpty, bytes.count % 32 == 0,
                from <= Int64.max / 2 - Int64(bytes.count / 32)  // seqs stay far from overflow
            else {
                throw KirokuError(
                    .malformedRequest, "a link run is {agent, from_seq, hashes: base64 of 32-byte hashes}")
            }
            let all = Array(bytes)
            self.init(
                agent: agent, fromSeq: from,
                hashes: stride(from: 0, to: all.count, by: 32).map { Array(all[$0..<($0 + 32)]) })
        }
    }

    /// SHA-256 over `"<agent> <seq> <hex hash>\n"` for every hash of every run, in order.
    public static func digest(_ runs: [Run]) -> [UInt8] {
        var hasher = SHA256()
        for run in runs {
            for (offset, hash) in run.hashes.enumerated() {
                hasher.update(data: Array("\(run.agent) \(run.fromSeq + Int64(offset)) \(Hex.encode(hash))\n".utf8))
            }
        }
        return Array(hasher.finalize())
    }
}
