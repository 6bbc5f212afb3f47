/// A strict, fast JSON parser for Kiroku's wire values (RFC 8259 restricted to integers).
///
/// Foundation's `JSONDecoder` spent about 20 µs per event on the hub, more than verifying and storing it;
/// this parser reads straight from UTF-8 bytes into ``JSONValue``. It refuses what Kiroku never sends and
/// could be misread: numbers with a fraction or exponent, integers outside Int64, invalid UTF-8, lone
/// surrogates, duplicate object members, nesting deeper than 32, and trailing data.
public struct JSONParser {
    public static let maxDepth = 32

    /// Parses one complete JSON document.
    public static func parse(_ bytes: some Collection<UInt8>) throws(KirokuError) -> JSONValue {
        let array = Array(bytes)
        return try array.withUnsafeBufferPointer { buffer throws(KirokuError) -> JSONValue in
            var parser = JSONParser(buffer: buffer)
            parser.skipWhitespace()
            let value = try parser.parseValue(depth: 0)
            parser.skipWhitespace()
            guard parser.index == buffer.count else { throw parser.error("unexpected data after the JSON value") }
            return value
        }
    }

    let buffer: UnsafeBufferPointer<UInt8>
    var index = 0

    func error(_ message: String) -> KirokuError {
        KirokuError(.malformedRequest, "invalid JSON at byte \(index): \(message)")
    }

    mutating func skipWhitespace() {
        while index < buffer.count {
            switch buffer[index] {
            case 0x20, 0x09, 0x0A, 0x0D: index += 1
            default: return
            }
        }
    }

    mutating func parseValue(depth: Int) throws(KirokuError) -> JSONValue {
        guard depth < Self.maxDepth else { throw error("nested deeper than \(Self.maxDepth)") }
        guard index < buffer.count else { throw error("unexpected end") }
        switch buffer[index] {
        case UInt8(ascii: "{"): return try parseObject(depth: depth)
        case UInt8(ascii: "["): return try parseArray(depth: depth)
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "t"): try literal("true"); return .bool(true)
        case UInt8(ascii: "f"): try literal("false"); return .bool(false)
        case UInt8(ascii: "n"): try literal("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .integer(try parseInteger())
        default: throw error("unexpected character")
        }
    }

    /// Parses an event object straight into an ``Event``, without building a dictionary for it: the
    /// hub's hot path. Same strictness as ``Event/init(json:)``.
    mutating func parseEvent() throws(KirokuError) -> Event {
        guard index < buffer.count, buffer[index] == UInt8(ascii: "{") else {
            throw KirokuError(.malformedRequest, "an event must be a JSON object")
        }
        var v: Int64?
        var seq: Int64?
        var agent: String?, time: String?, kind: String?, action: String?, actor: String?, subject: String?
        var site: String?, salt: String?, prev: String?, hash: String?
        var attrs: [String: String]?
        try parseMembers { parser, key throws(KirokuError) in
            switch key {
            case "v": try parser.member(key, into: &v)
            case "seq": try parser.member(key, into: &seq)
            case "agent": try parser.member(key, into: &agent)
            case "time": try parser.member(key, into: &time)
            case "kind": try parser.member(key, into: &kind)
            case "action": try parser.member(key, into: &action)
            case "actor": try parser.member(key, into: &actor)
            case "subject": try parser.member(key, into: &subject)
            case "site": try parser.member(key, into: &site)
            case "salt": try parser.member(key, into: &salt)
            case "prev": try parser.member(key, into: &prev)
            case "hash": try parser.member(key, into: &hash)
            case "attrs":
                guard attrs == nil else { throw parser.error("duplicate member 'attrs'") }
                attrs = try parser.parseStringMap(key)
            default:
                throw KirokuError(.invalidEvent, "unknown event member '\(key.prefix(40))'")
            }
        }
        guard let v, let seq, let agent, let time, let kind, let action, let actor, let subject, let site, let attrs,
            let salt, let prev, let hash
        else {
            throw KirokuError(.malformedRequest, "an event needs all 13 members of protocol v1")
        }
        return Event(
            v: v, agent: agent, seq: seq, time: time, kind: kind, action: action, actor: actor, subject: subject,
            site: site, attrs: attrs, salt: salt, prev: prev, hash: hash)
    }

    /// Walks an object's members (the parser at its `{`), calling `member` with the parser at each value;
    /// `member` must consume the value. Shared by every object this parser reads.
    mutating func parseMembers(_ member: (inout JSONParser, String) throws(KirokuError) -> Void) throws(KirokuError) {
        index += 1
        skipWhitespace()
        if index < buffer.count, buffer[index] == UInt8(ascii: "}") {
            index += 1
            return
        }
        while true {
            skipWhitespace()
            guard index < buffer.count, buffer[index] == UInt8(ascii: "\"") else {
                throw error("expected a member name")
            }
            let key = try parseString()
            skipWhitespace()
            guard index < buffer.count, buffer[index] == UInt8(ascii: ":") else { throw error("expected ':'") }
            index += 1
            skipWhitespace()
            guard index < buffer.count else { throw error("unexpected end") }
            try member(&self, key)
            skipWhitespace()
            guard index < buffer.count else { throw error("unexpected end") }
            if buffer[index] == UInt8(ascii: ",") {
                index += 1
                continue
            }
            guard buffer[index] == UInt8(ascii: "}") else { throw error("expected ',' or '}'") }
            index += 1
            return
        }
    }

    /// Walks an array's elements (the parser at its `[`), calling `element` with the parser at each one.
    mutating func parseElements(_ element: (inout JSONParser) throws(KirokuError) -> Void) throws(KirokuError) {
        index += 1
        skipWhitespace()
        if index < buffer.count, buffer[index] == UInt8(ascii: "]") {
            index += 1
            return
        }
        while true {
            skipWhitespace()
            try element(&self)
            skipWhitespace()
            guard index < buffer.count else { throw error("unexpected end") }
            if buffer[index] == UInt8(ascii: ",") {
                index += 1
                continue
            }
            guard buffer[index] == UInt8(ascii: "]") else { throw error("expected ',' or ']'") }
            index += 1
            return
        }
    }

    /// A string member, once.
    mutating func member(_ key: String, into slot: inout String?) throws(KirokuError) {
        guard slot == nil else { throw error("duplicate member '\(key.prefix(40))'") }
        guard buffer[index] == UInt8(ascii: "\"") else {
            throw KirokuError(.malformedRequest, "member '\(key.prefix(40))' must be a string")
        }
        slot = try parseString()
    }

    /// An integer member, once.
    mutating func member(_ key: String, into slot: inout Int64?) throws(KirokuError) {
        guard slot == nil else { throw error("duplicate member '\(key.prefix(40))'") }
        guard buffer[index] == UInt8(ascii: "-") || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(buffer[index])
        else {
            throw KirokuError(.malformedRequest, "member '\(key.prefix(40))' must be an integer")
        }
        slot = try parseInteger()
    }

    /// An object whose values are all strings (`attrs`).
    mutating func parseStringMap(_ key: String) throws(KirokuError) -> [String: String] {
        guard buffer[index] == UInt8(ascii: "{") else {
            throw KirokuError(.malformedRequest, "member '\(key.prefix(40))' must be an object of strings")
        }
        var map: [String: String] = [:]
        try parseMembers { parser, name throws(KirokuError) in
            var value: String?
            try parser.member(name, into: &value)
            guard map.updateValue(value!, forKey: name) == nil else {
                throw parser.error("duplicate member '\(name.prefix(40))'")
            }
        }
        return map
    }

    mutating func literal(_ word: StaticString) throws(KirokuError) {
        let count = word.utf8CodeUnitCount
        guard index + count <= buffer.count else { throw error("unexpected end") }
        for offset in 0..<count where buffer[index + offset] != word.utf8Start[offset] {
            throw error("unexpected character")
        }
        index += count
    }

    mutating func parseObject(depth: Int) throws(KirokuError) -> JSONValue {
        var members: [String: JSONValue] = [:]
        try parseMembers { parser, key throws(KirokuError) in
            let value = try parser.parseValue(depth: depth + 1)
            guard members.updateValue(value, forKey: key) == nil else {
                throw parser.error("duplicate member '\(key.prefix(40))'")
            }
        }
        return .object(members)
    }

    mutating func parseArray(depth: Int) throws(KirokuError) -> JSONValue {
        var items: [JSONValue] = []
        try parseElements { parser throws(KirokuError) in items.append(try parser.parseValue(depth: depth + 1)) }
        return .array(items)
    }

    mutating func parseInteger() throws(KirokuError) -> Int64 {
        let start = index
        var negative = false
        if buffer[index] == UInt8(ascii: "-") {
            negative = true
            index += 1
        }
        guard index < buffer.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(buffer[index]) else {
            throw error("expected a digit")
        }
        if buffer[index] == UInt8(ascii: "0"), index + 1 < buffer.count,
            (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(buffer[index + 1])
        {
            throw error("leading zero")
        }
        var magnitude: UInt64 = 0
        while index < buffer.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(buffer[index]) {
            let (times, overflow1) = magnitude.multipliedReportingOverflow(by: 10)
            let (plus, overflow2) = times.addingReportingOverflow(UInt64(buffer[index] - UInt8(ascii: "0")))
            guard !overflow1, !overflow2 else { throw error("integer out of range") }
            magnitude = plus
            index += 1
        }
        if index < buffer.count, [UInt8(ascii: "."), UInt8(ascii: "e"), UInt8(ascii: "E")].contains(buffer[index]) {
            index = start
            throw error("numbers must be integers (no fraction or exponent)")
        }
        if negative {
            guard magnitude <= UInt64(Int64.max) + 1 else { throw error("integer out of range") }
            return magnitude == UInt64(Int64.max) + 1 ? Int64.min : -Int64(magnitude)
        }
        guard magnitude <= UInt64(Int64.max) else { throw error("integer out of range") }
        return Int64(magnitude)
    }

    mutating func parseString() throws(KirokuError) -> String {
        index += 1
        let start = index
        // Fast path: no escapes.
        while index < buffer.count {
            let byte = buffer[index]
            if byte == UInt8(ascii: "\"") {
                guard let text = String(validating: UnsafeBufferPointer(rebasing: buffer[start..<index]), as: UTF8.self)
                else { throw error("invalid UTF-8") }
                index += 1
                return text
            }
            if byte == UInt8(ascii: "\\") { break }
            guard byte >= 0x20 else { throw error("control character in a string") }
            index += 1
        }
        var bytes = Array(buffer[start..<index])
        while index < buffer.count {
            let byte = buffer[index]
            switch byte {
            case UInt8(ascii: "\""):
                guard let text = String(validating: bytes, as: UTF8.self) else { throw error("invalid UTF-8") }
                index += 1
                return text
            case UInt8(ascii: "\\"):
                index += 1
                guard index < buffer.count else { throw error("unexpected end") }
                let escape = buffer[index]
                index += 1
                switch escape {
                case UInt8(ascii: "\""): bytes.append(0x22)
                case UInt8(ascii: "\\"): bytes.append(0x5C)
                case UInt8(ascii: "/"): bytes.append(0x2F)
                case UInt8(ascii: "b"): bytes.append(0x08)
                case UInt8(ascii: "f"): bytes.append(0x0C)
                case UInt8(ascii: "n"): bytes.append(0x0A)
                case UInt8(ascii: "r"): bytes.append(0x0D)
                case UInt8(ascii: "t"): bytes.append(0x09)
                case UInt8(ascii: "u"):
                    var scalar = try hex4()
                    if (0xD800...0xDBFF).contains(scalar) {
                        guard index + 1 < buffer.count, buffer[index] == UInt8(ascii: "\\"),
                            buffer[index + 1] == UInt8(ascii: "u")
                        else { throw error("lone surrogate") }
                        index += 2
                        let low = try hex4()
                        guard (0xDC00...0xDFFF).contains(low) else { throw error("lone surrogate") }
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    } else if (0xDC00...0xDFFF).contains(scalar) {
                        throw error("lone surrogate")
                    }
                    bytes.append(contentsOf: Array(String(Character(Unicode.Scalar(scalar)!)).utf8))
                default:
                    throw error("unknown escape")
                }
            default:
                guard byte >= 0x20 else { throw error("control character in a string") }
                bytes.append(byte)
                index += 1
            }
        }
        throw error("unterminated string")
    }

    mutating func hex4() throws(KirokuError) -> UInt32 {
        guard index + 4 <= buffer.count else { throw error("unexpected end") }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let byte = buffer[index]
            let digit: UInt32
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt32(byte - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = UInt32(byte - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = UInt32(byte - UInt8(ascii: "A") + 10)
            default: throw error("bad \\u escape")
            }
            value = value << 4 | digit
            index += 1
        }
        return value
    }
}

extension Event {
    /// Parses one event object, exactly the 13 members of protocol v1 with their types.
    public static func parse(_ bytes: some Collection<UInt8>) throws(KirokuError) -> Event {
        let array = Array(bytes)
        return try array.withUnsafeBufferPointer { buffer throws(KirokuError) -> Event in
            var parser = JSONParser(buffer: buffer)
            parser.skipWhitespace()
            let event = try parser.parseEvent()
            parser.skipWhitespace()
            guard parser.index == buffer.count else { throw parser.error("unexpected data after the event") }
            return event
        }
    }
}

extension Batch {
    /// Parses a batch body: `{agent, sent_at, head_seq, events}` and nothing else, events read straight
    /// into ``Event`` values.
    public static func parse(_ bytes: some Collection<UInt8>) throws(KirokuError) -> Batch {
        let array = Array(bytes)
        return try array.withUnsafeBufferPointer { buffer throws(KirokuError) -> Batch in
            var parser = JSONParser(buffer: buffer)
            let batch = try parser.parseBatch()
            parser.skipWhitespace()
            guard parser.index == buffer.count else { throw parser.error("unexpected data after the batch") }
            return batch
        }
    }
}

extension JSONParser {
    mutating func parseBatch() throws(KirokuError) -> Batch {
        skipWhitespace()
        let shape = KirokuError(
            .malformedRequest,
            "a batch is an object of agent (string), sent_at (string), head_seq (integer), events (array)")
        guard index < buffer.count, buffer[index] == UInt8(ascii: "{") else { throw shape }
        var agent: String?, sentAt: String?, headSeq: Int64?, events: [Event]?
        var gap: DeclaredGap?
        try parseMembers { parser, key throws(KirokuError) in
            switch key {
            case "agent": try parser.member(key, into: &agent)
            case "sent_at": try parser.member(key, into: &sentAt)
            case "head_seq": try parser.member(key, into: &headSeq)
            case "events":
                guard events == nil else { throw parser.error("duplicate member 'events'") }
                guard parser.buffer[parser.index] == UInt8(ascii: "[") else { throw shape }
                var list: [Event] = []
                try parser.parseElements { parser throws(KirokuError) in list.append(try parser.parseEvent()) }
                events = list
            case "gap":
                guard gap == nil, parser.buffer[parser.index] == UInt8(ascii: "{") else {
                    throw KirokuError(.malformedRequest, "gap must be one object {from, through, reason}")
                }
                var from: Int64?, through: Int64?, reason: String?
                try parser.parseMembers { parser, name throws(KirokuError) in
                    switch name {
                    case "from": try parser.member(name, into: &from)
                    case "through": try parser.member(name, into: &through)
                    case "reason": try parser.member(name, into: &reason)
                    default: throw KirokuError(.malformedRequest, "unknown gap member '\(name.prefix(40))'")
                    }
                }
                guard let from, let through, let reason else {
                    throw KirokuError(.malformedRequest, "gap needs from, through (integers) and reason (string)")
                }
                gap = DeclaredGap(from: from, through: through, reason: reason)
            default:
                throw KirokuError(.malformedRequest, "unknown batch member '\(key.prefix(40))'")
            }
        }
        guard let agent, let sentAt, let headSeq, let events else { throw shape }
        return Batch(agent: agent, sentAt: sentAt, headSeq: headSeq, events: events, gap: gap)
    }
}

extension EventDraft {
    /// Parses one ingestion-socket line: `{kind, action, actor, subject?, site?, attrs?, time?}`.
    public static func parse(_ bytes: some Collection<UInt8>) throws(KirokuError) -> EventDraft {
        guard case .object(let members) = try JSONParser.parse(bytes) else {
            throw KirokuError(.malformedRequest, "an event draft must be a JSON object")
        }
        func text(_ name: String, required: Bool) throws(KirokuError) -> String? {
            switch members[name] {
            case .string(let value): return value
            case nil where !required: return nil
            case nil: throw KirokuError(.malformedRequest, "missing '\(name)'; kind, action and actor are required")
            default: throw KirokuError(.malformedRequest, "'\(name)' must be a string")
            }
        }
        let allowed: Set<String> = ["kind", "action", "actor", "subject", "site", "attrs", "time"]
        if let unknown = members.keys.first(where: { !allowed.contains($0) }) {
            throw KirokuError(
                .malformedRequest,
                "unknown member '\(unknown.prefix(40))'; allowed: \(allowed.sorted().joined(separator: ", "))")
        }
        var attrs: [String: String] = [:]
        switch members["attrs"] {
        case nil: break
        case .object(let map):
            for (name, value) in map {
                guard case .string(let string) = value else {
                    throw KirokuError(.malformedRequest, "attribute '\(name.prefix(40))' must be a string")
                }
                attrs[name] = string
            }
        default: throw KirokuError(.malformedRequest, "'attrs' must be an object of strings")
        }
        return EventDraft(
            kind: try text("kind", required: true)!, action: try text("action", required: true)!,
            actor: try text("actor", required: true)!, subject: try text("subject", required: false) ?? "",
            site: try text("site", required: false), attrs: attrs, time: try text("time", required: false))
    }
}
