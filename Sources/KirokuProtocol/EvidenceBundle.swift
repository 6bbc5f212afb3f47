/// An evidence bundle (PROTOCOL.md §7): events, each with its leaf index and inclusion proof, and the
/// checkpoint they are proven in, with its cosignatures. One type for both sides: the hub writes each page
/// of `GET /v1/evidence` with ``bytes``, `kirokuctl export --evidence` reads the pages with
/// ``init(bytes:)``, joins them and writes the bundle with ``bytes`` again, and the verifier reads it.
public struct EvidenceBundle: Sendable {
    public var origin: String
    public var hubKey: String
    public var checkpoint: String
    public var query: [String: String]
    public var events: [Entry]
    /// The hub's signed statements, one per page (``EvidenceStatement``); empty in bundles made before them.
    public var statements: [String] = []
    /// Each page's chain stretches (``EvidenceLinks``), in the order of `statements`.
    public var links: [[EvidenceLinks.Run]] = []
    /// A page of `GET /v1/evidence` that does not end the query: the cursor of the next page.
    public var next: String?
    /// Events of the page that came after the checkpoint it is proven in (left out; a later export has them).
    public var omittedAfterCheckpoint: Int64 = 0

    public struct Entry: Sendable {
        /// The event exactly as the bundle holds it; for a purged event, what is left of it (agent, seq,
        /// time, kind, action, site, prev, hash, purged_at).
        public var object: JSONValue {
            get {
                switch content {
                case .value(let value): value
                // An event's canonical bytes always parse: the hub sealed them.
                case .canonical(let bytes): (try? JSONParser.parse(bytes)) ?? .null
                }
            }
            set { content = .value(newValue) }
        }
        public var leafIndex: Int64
        public var inclusion: [String]
        /// Retention removed the event's content; only its hash can be proven.
        public var purged: Bool
        /// What was read (a value), or an event the hub holds as its canonical bytes, written as they are and
        /// parsed only if someone reads ``object`` (the hub writing a page never does).
        private var content: Content

        private enum Content: Sendable {
            case value(JSONValue)
            case canonical([UInt8])
        }

        public init(object: JSONValue, leafIndex: Int64, inclusion: [String], purged: Bool = false) {
            self.content = .value(object)
            self.leafIndex = leafIndex
            self.inclusion = inclusion
            self.purged = purged
        }

        /// An event the hub holds, with its place in the log.
        public init(event: Event, leafIndex: Int64, inclusion: [String]) {
            content = .canonical(event.canonicalBytes(includingHash: true))
            self.leafIndex = leafIndex
            self.inclusion = inclusion
            purged = false
        }

        /// What retention left of an event: its hash, its place, and when its content was removed.
        public init(purged event: Event, at purgedAt: String, leafIndex: Int64, inclusion: [String]) {
            self.init(
                object: .object([
                    "agent": .string(event.agent), "seq": .integer(event.seq), "time": .string(event.time),
                    "kind": .string(event.kind), "action": .string(event.action), "site": .string(event.site),
                    "prev": .string(event.prev), "hash": .string(event.hash), "purged_at": .string(purgedAt),
                ]), leafIndex: leafIndex, inclusion: inclusion, purged: true)
        }

        /// The entry as canonical JSON: `{"event"|"purged", "inclusion", "leaf_index"}` in key order.
        func write(to out: inout [UInt8]) {
            let proof = CanonicalJSON.encode(.array(inclusion.map(JSONValue.string)))
            let leaf = CanonicalJSON.encode(.integer(leafIndex))
            if purged {
                out += Array(#"{"inclusion":"#.utf8) + proof + Array(#","leaf_index":"#.utf8) + leaf
                out += Array(#","purged":"#.utf8) + CanonicalJSON.encode(object) + [UInt8(ascii: "}")]
            } else {
                switch content {
                case .value(let value): out += Array(#"{"event":"#.utf8) + CanonicalJSON.encode(value)
                case .canonical(let bytes): out += Array(#"{"event":"#.utf8) + bytes
                }
                out +=
                    Array(#","inclusion":"#.utf8) + proof + Array(#","leaf_index":"#.utf8) + leaf + [UInt8(ascii: "}")]
            }
        }
    }

    public static let format = "kiroku-evidence/1"

    public init(origin: String, hubKey: String, checkpoint: String, query: [String: String], events: [Entry]) {
        self.origin = origin
        self.hubKey = hubKey
        self.checkpoint = checkpoint
        self.query = query
        self.events = events
    }

    /// Reads a bundle with the strict parser; a malformed one is `malformed_request`.
    public init(bytes: [UInt8]) throws(KirokuError) {
        guard case .object(let root) = try JSONParser.parse(bytes) else {
            throw KirokuError(.malformedRequest, "an evidence bundle is a JSON object")
        }
        guard case .string(Self.format) = root["format"] else {
            throw KirokuError(.unsupportedVersion, "not a \(Self.format) evidence bundle")
        }
        guard case .string(let origin) = root["origin"], case .string(let hubKey) = root["hub_key"],
            case .string(let checkpoint) = root["checkpoint"], case .array(let events) = root["events"]
        else {
            throw KirokuError(.malformedRequest, "an evidence bundle needs origin, hub_key, checkpoint and events")
        }
        var query: [String: String] = [:]
        if case .object(let members) = root["query"] {
            for case (let name, .string(let value)) in members { query[name] = value }
        }
        var entries: [Entry] = []
        for (position, item) in events.enumerated() {
            // Exactly one of event and purged: two readers must not see two different entries.
            guard case .object(let members) = item, (members["event"] == nil) != (members["purged"] == nil),
                let object = members["event"] ?? members["purged"], case .object = object,
                case .integer(let leaf) = members["leaf_index"], case .array(let path) = members["inclusion"]
            else {
                throw KirokuError(
                    .malformedRequest,
                    "entry \(position + 1) needs event or purged (not both), leaf_index and inclusion")
            }
            var inclusion: [String] = []
            for case .string(let hash) in path { inclusion.append(hash) }
            guard inclusion.count == path.count else {
                throw KirokuError(.malformedRequest, "entry \(position + 1): inclusion is a list of hex hashes")
            }
            entries.append(
                Entry(object: object, leafIndex: leaf, inclusion: inclusion, purged: members["event"] == nil))
        }
        self.init(origin: origin, hubKey: hubKey, checkpoint: checkpoint, query: query, events: entries)
        if let value = root["statements"] {
            guard case .array(let items) = value else {
                throw KirokuError(.malformedRequest, "statements is a list of signed notes")
            }
            for item in items {
                guard case .string(let text) = item else {
                    throw KirokuError(.malformedRequest, "statements is a list of signed notes")
                }
                statements.append(text)
            }
        }
        if let value = root["next"] {
            guard case .string(let cursor) = value else { throw KirokuError(.malformedRequest, "next is a cursor") }
            next = cursor
        }
        if let value = root["omitted_after_checkpoint"] {
            guard case .integer(let count) = value, count >= 0 else {
                throw KirokuError(.malformedRequest, "omitted_after_checkpoint is a count")
            }
            omittedAfterCheckpoint = count
        }
        if let value = root["links"] {
            guard case .array(let pages) = value else {
                throw KirokuError(.malformedRequest, "links is a list per page")
            }
            for page in pages {
                guard case .array(let runs) = page else {
                    throw KirokuError(.malformedRequest, "links is a list per page of runs")
                }
                links.append(try runs.map { (run) throws(KirokuError) in try EvidenceLinks.Run(json: run) })
            }
        }
    }

    /// The bundle as canonical JSON (RFC 8785): a page as the hub serves it, or a whole bundle as
    /// `export --evidence` writes it. Members in key order, each entry as it is held.
    public var bytes: [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(events.count * 1500 + checkpoint.utf8.count + 4096)
        func member(_ name: String, _ value: JSONValue, first: Bool = false) {
            if !first { out.append(UInt8(ascii: ",")) }
            out += CanonicalJSON.encode(.string(name)) + [UInt8(ascii: ":")] + CanonicalJSON.encode(value)
        }
        out.append(UInt8(ascii: "{"))
        member("checkpoint", .string(checkpoint), first: true)
        out += Array(#","events":["#.utf8)
        for (index, entry) in events.enumerated() {
            if index > 0 { out.append(UInt8(ascii: ",")) }
            entry.write(to: &out)
        }
        out.append(UInt8(ascii: "]"))
        member("format", .string(Self.format))
        member("hub_key", .string(hubKey))
        if !links.isEmpty { member("links", .array(links.map { .array($0.map(\.json)) })) }
        if let next { member("next", .string(next)) }
        if omittedAfterCheckpoint > 0 { member("omitted_after_checkpoint", .integer(omittedAfterCheckpoint)) }
        member("origin", .string(origin))
        member("query", .object(query.mapValues(JSONValue.string)))
        if !statements.isEmpty { member("statements", .array(statements.map(JSONValue.string))) }
        out.append(UInt8(ascii: "}"))
        return out
    }
}
