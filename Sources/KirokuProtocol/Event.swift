import Crypto

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// One record of the security journal, exactly as it travels and is hashed (protocol v1).
///
/// `hash` is the SHA-256 of the canonical JSON of every other field; `prev` is the hash of the same agent's
/// event `seq - 1` (or ``Event/genesis`` for `seq == 1`), so each agent's events form a chain.
public struct Event: Sendable, Hashable {
    /// The only schema version this build speaks.
    public static let version: Int64 = 1
    /// `prev` of every agent's first event.
    public static let genesis = String(repeating: "0", count: 64)
    /// Largest canonical size of one event, in bytes.
    public static let maxBytes = 16 * 1024
    /// The largest sequence number: every integer Kiroku writes stays within ±(2^53 − 1) (PROTOCOL.md §1.1).
    public static let maxSeq: Int64 = 9_007_199_254_740_991
    /// Most attributes one event may carry.
    public static let maxAttributes = 64

    public var v: Int64
    public var agent: String
    public var seq: Int64
    public var time: String
    public var kind: String
    public var action: String
    public var actor: String
    public var subject: String
    public var site: String
    public var attrs: [String: String]
    public var salt: String
    public var prev: String
    public var hash: String

    public init(
        v: Int64 = Event.version, agent: String, seq: Int64, time: String, kind: String, action: String,
        actor: String, subject: String, site: String, attrs: [String: String], salt: String, prev: String,
        hash: String = ""
    ) {
        self.v = v
        self.agent = agent
        self.seq = seq
        self.time = time
        self.kind = kind
        self.action = action
        self.actor = actor
        self.subject = subject
        self.site = site
        self.attrs = attrs
        self.salt = salt
        self.prev = prev
        self.hash = hash
    }

    /// The canonical JSON bytes, with or without the `hash` member. Keys are written in their fixed
    /// canonical order (all ASCII, so byte order equals UTF-16 order).
    public func canonicalBytes(includingHash: Bool) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(320 + attrs.count * 32)
        func key(_ name: StaticString, first: Bool = false) {
            if !first { out.append(UInt8(ascii: ",")) }
            out.append(UInt8(ascii: "\""))
            out.append(contentsOf: UnsafeBufferPointer(start: name.utf8Start, count: name.utf8CodeUnitCount))
            out.append(UInt8(ascii: "\""))
            out.append(UInt8(ascii: ":"))
        }
        out.append(UInt8(ascii: "{"))
        key("action", first: true)
        CanonicalJSON.writeString(action, into: &out)
        key("actor")
        CanonicalJSON.writeString(actor, into: &out)
        key("agent")
        CanonicalJSON.writeString(agent, into: &out)
        key("attrs")
        CanonicalJSON.writeStringMap(attrs, into: &out)
        if includingHash {
            key("hash")
            CanonicalJSON.writeString(hash, into: &out)
        }
        key("kind")
        CanonicalJSON.writeString(kind, into: &out)
        key("prev")
        CanonicalJSON.writeString(prev, into: &out)
        key("salt")
        CanonicalJSON.writeString(salt, into: &out)
        key("seq")
        CanonicalJSON.writeInteger(seq, into: &out)
        key("site")
        CanonicalJSON.writeString(site, into: &out)
        key("subject")
        CanonicalJSON.writeString(subject, into: &out)
        key("time")
        CanonicalJSON.writeString(time, into: &out)
        key("v")
        CanonicalJSON.writeInteger(v, into: &out)
        out.append(UInt8(ascii: "}"))
        return out
    }

    /// SHA-256 (lowercase hex) of the canonical form without `hash`: what `hash` must be.
    public func computeHash() -> String {
        Hex.encode(SHA256.hash(data: canonicalBytes(includingHash: false)))
    }

    /// A copy with `hash` set to ``computeHash()``.
    public func sealed() -> Event {
        var copy = self
        copy.hash = computeHash()
        return copy
    }

    /// 16 random bytes as hex: keeps a retained hash of a short record from being guessed.
    public static func randomSalt() -> String {
        // Two 64-bit draws: one getrandom each, not sixteen.
        var generator = SystemRandomNumberGenerator()
        var bytes = [UInt8](repeating: 0, count: 16)
        for half in 0..<2 {
            var word = generator.next()
            for index in 0..<8 {
                bytes[half * 8 + index] = UInt8(truncatingIfNeeded: word)
                word >>= 8
            }
        }
        return Hex.encode(bytes)
    }

    /// Checks every field against protocol v1 (not the chain: that needs the predecessor). Throws
    /// `unsupported_version`, `invalid_event`, `event_too_large` or `hash_mismatch`.
    public func validate() throws(KirokuError) {
        guard v == Event.version else {
            throw KirokuError(.unsupportedVersion, "event seq \(seq) has schema version \(v); this hub speaks v1")
        }
        guard AgentID.isValid(agent) else {
            throw KirokuError(.invalidEvent, "event seq \(seq): agent id is not 1-64 of A-Z a-z 0-9 . _ -")
        }
        guard seq >= 1, seq <= Event.maxSeq else {
            throw KirokuError(.invalidEvent, "event seq must be 1 to 2^53 − 1, got \(seq)")
        }
        guard Timestamp(rfc3339: time) != nil else {
            throw KirokuError(
                .invalidEvent, "event seq \(seq): time must be RFC 3339 with milliseconds and offset")
        }
        try Event.validateContent(kind: kind, action: action, actor: actor, subject: subject, site: site, attrs: attrs)
        guard Hex.isLowercaseHex(salt, length: 32) else {
            throw KirokuError(.invalidEvent, "event seq \(seq): salt must be 32 lowercase hex digits")
        }
        guard Hex.isLowercaseHex(prev, length: 64) else {
            throw KirokuError(.invalidEvent, "event seq \(seq): prev must be 64 lowercase hex digits")
        }
        guard Hex.isLowercaseHex(hash, length: 64) else {
            throw KirokuError(.invalidEvent, "event seq \(seq): hash must be 64 lowercase hex digits")
        }
        let bytes = canonicalBytes(includingHash: false)
        guard bytes.count <= Event.maxBytes else {
            throw KirokuError(
                .eventTooLarge, "event seq \(seq) is \(bytes.count) bytes; the limit is \(Event.maxBytes)")
        }
        guard Hex.isEncoding(of: SHA256.hash(data: bytes), hash) else {
            throw KirokuError(.hashMismatch, "event seq \(seq): hash is not the SHA-256 of its canonical form")
        }
    }

    /// The checks on what a producer supplies: kind and action in the v1 vocabulary, sizes of the texts.
    public static func validateContent(
        kind: String, action: String, actor: String, subject: String, site: String, attrs: [String: String]
    ) throws(KirokuError) {
        guard let known = EventKind.named(kind) else {
            let names = EventKind.all.map(\.name).joined(separator: ", ")
            throw KirokuError(.invalidEvent, "unknown kind '\(kind.prefix(40))'; v1 kinds are \(names)")
        }
        guard known.actions.contains(action) else {
            throw KirokuError(
                .invalidEvent,
                "kind '\(kind)' has no action '\(action.prefix(40))'; its actions are \(known.actions.joined(separator: ", "))"
            )
        }
        guard !actor.isEmpty else { throw KirokuError(.invalidEvent, "actor is required (who or what did it)") }
        for (name, text) in [("actor", actor), ("subject", subject), ("site", site)] where text.utf8.count > 256 {
            throw KirokuError(.invalidEvent, "\(name) is longer than 256 bytes")
        }
        guard attrs.count <= maxAttributes else {
            throw KirokuError(.invalidEvent, "\(attrs.count) attributes; at most \(maxAttributes) are allowed")
        }
        for (name, value) in attrs {
            guard !name.isEmpty, name.utf8.count <= 64 else {
                throw KirokuError(.invalidEvent, "attribute names must be 1-64 bytes")
            }
            guard value.utf8.count <= 1024 else {
                throw KirokuError(.invalidEvent, "attribute '\(name.prefix(64))' is longer than 1024 bytes")
            }
            guard !name.utf8.contains(0), !value.utf8.contains(0) else {
                throw KirokuError(
                    .invalidEvent, "attribute '\(name.prefix(64))' contains U+0000, which no text of an event may")
            }
        }
        // JSON allows U+0000 (as \u0000); databases read texts as C strings and would cut it short, so the
        // event would no longer hash as it was received.
        for (name, text) in [
            ("kind", kind), ("action", action), ("actor", actor), ("subject", subject), ("site", site),
        ]
        where text.utf8.contains(0) {
            throw KirokuError(.invalidEvent, "\(name) contains U+0000, which no text of an event may")
        }
    }
}

/// Agent identifiers: 1–64 of `A–Z a–z 0–9 . _ -`, so they are safe in file names, URIs and SQL output.
public enum AgentID {
    /// The id of the hub's own chain (its `record/…` events). No agent certificate may carry it: the CA
    /// refuses to issue one and the hub refuses one on every agent endpoint.
    public static let hub = "hub"

    public static func isValid(_ id: String) -> Bool {
        guard !id.isEmpty, id.utf8.count <= 64 else { return false }
        return id.utf8.allSatisfy { byte in
            (byte >= 48 && byte <= 57) || (byte >= 65 && byte <= 90) || (byte >= 97 && byte <= 122)
                || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "-")
        }
    }
}

extension Event: Codable {
    private enum Field: String, CodingKey, CaseIterable {
        case v, agent, seq, time, kind, action, actor, subject, site, attrs, salt, prev, hash
    }

    private struct AnyKey: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    /// Decodes strictly: an unknown member is an error, because it would not be covered by the hash.
    public init(from decoder: any Decoder) throws {
        let probe = try decoder.container(keyedBy: AnyKey.self)
        if probe.allKeys.count > Field.allCases.count
            || probe.allKeys.contains(where: { Field(stringValue: $0.stringValue) == nil })
        {
            let unknown = probe.allKeys.map(\.stringValue).filter { Field(stringValue: $0) == nil }
            throw KirokuError(.invalidEvent, "unknown event member(s): \(unknown.prefix(5).joined(separator: ", "))")
        }
        let c = try decoder.container(keyedBy: Field.self)
        self.v = try c.decode(Int64.self, forKey: .v)
        self.agent = try c.decode(String.self, forKey: .agent)
        self.seq = try c.decode(Int64.self, forKey: .seq)
        self.time = try c.decode(String.self, forKey: .time)
        self.kind = try c.decode(String.self, forKey: .kind)
        self.action = try c.decode(String.self, forKey: .action)
        self.actor = try c.decode(String.self, forKey: .actor)
        self.subject = try c.decode(String.self, forKey: .subject)
        self.site = try c.decode(String.self, forKey: .site)
        self.attrs = try c.decode([String: String].self, forKey: .attrs)
        self.salt = try c.decode(String.self, forKey: .salt)
        self.prev = try c.decode(String.self, forKey: .prev)
        self.hash = try c.decode(String.self, forKey: .hash)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: Field.self)
        try c.encode(v, forKey: .v)
        try c.encode(agent, forKey: .agent)
        try c.encode(seq, forKey: .seq)
        try c.encode(time, forKey: .time)
        try c.encode(kind, forKey: .kind)
        try c.encode(action, forKey: .action)
        try c.encode(actor, forKey: .actor)
        try c.encode(subject, forKey: .subject)
        try c.encode(site, forKey: .site)
        try c.encode(attrs, forKey: .attrs)
        try c.encode(salt, forKey: .salt)
        try c.encode(prev, forKey: .prev)
        try c.encode(hash, forKey: .hash)
    }
}
