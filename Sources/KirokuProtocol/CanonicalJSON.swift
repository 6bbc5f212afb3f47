/// A JSON value restricted to what Kiroku's canonical form allows: strings, integers, booleans, null,
/// arrays and objects. There are no floats, so every value has exactly one canonical encoding.
public enum JSONValue: Sendable, Hashable {
    case string(String)
    case integer(Int64)
    case bool(Bool)
    case null
    case array([JSONValue])
    case object([String: JSONValue])
}

/// RFC 8785 (JCS) canonical JSON for Kiroku's integer-only values: object keys sorted by their UTF-16 code
/// units, no insignificant whitespace, strings escaped as ECMAScript's `JSON.stringify` does, UTF-8 output.
public enum CanonicalJSON {
    /// The canonical UTF-8 bytes of a value.
    public static func encode(_ value: JSONValue) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(256)
        write(value, into: &out)
        return out
    }

    /// Appends the canonical form of `value` to `out`.
    public static func write(_ value: JSONValue, into out: inout [UInt8]) {
        switch value {
        case .string(let text): writeString(text, into: &out)
        case .integer(let number): writeInteger(number, into: &out)
        case .bool(let flag): out.append(contentsOf: flag ? Array("true".utf8) : Array("false".utf8))
        case .null: out.append(contentsOf: Array("null".utf8))
        case .array(let items):
            out.append(UInt8(ascii: "["))
            for (index, item) in items.enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                write(item, into: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .object(let members):
            out.append(UInt8(ascii: "{"))
            for (index, key) in sortedKeys(members.keys).enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                writeString(key, into: &out)
                out.append(UInt8(ascii: ":"))
                write(members[key]!, into: &out)
            }
            out.append(UInt8(ascii: "}"))
        }
    }

    /// Keys in JCS order: lexicographic over UTF-16 code units (not Unicode scalars, not UTF-8 bytes).
    public static func sortedKeys<Keys: Sequence>(_ keys: Keys) -> [String] where Keys.Element == String {
        keys.sorted { lhs, rhs in lhs.utf16.lexicographicallyPrecedes(rhs.utf16) }
    }

    /// Writes a string → string object (an event's `attrs`) in canonical form.
    public static func writeStringMap(_ map: [String: String], into out: inout [UInt8]) {
        out.append(UInt8(ascii: "{"))
        for (index, name) in sortedKeys(map.keys).enumerated() {
            if index > 0 { out.append(UInt8(ascii: ",")) }
            writeString(name, into: &out)
            out.append(UInt8(ascii: ":"))
            writeString(map[name]!, into: &out)
        }
        out.append(UInt8(ascii: "}"))
    }

    /// Writes a decimal integer.
    public static func writeInteger(_ number: Int64, into out: inout [UInt8]) {
        out.append(contentsOf: String(number).utf8)
    }

    /// Writes a JSON string: `"` and `\` escaped, control characters as `\b \t \n \f \r` or `\u00xx`
    /// (lowercase hex), every other character as its UTF-8 bytes.
    public static func writeString(_ text: String, into out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        // Runs of bytes that need no escape are copied whole: almost every string the hub writes is one run
        // (hashes, ids, times, Japanese names), and appending byte by byte was most of an event's hashing
        // (Benchmarks/README.md).
        let copied: Void? = text.utf8.withContiguousStorageIfAvailable { bytes in
            var start = 0
            for index in 0..<bytes.count {
                let byte = bytes[index]
                guard byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") else { continue }
                out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[start..<index]))
                escape(byte, into: &out)
                start = index + 1
            }
            out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[start..<bytes.count]))
        }
        if copied == nil {
            for byte in text.utf8 {
                if byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") {
                    escape(byte, into: &out)
                } else {
                    out.append(byte)
                }
            }
        }
        out.append(UInt8(ascii: "\""))
    }

    /// Writes the escape of one byte that JSON does not allow bare in a string.
    private static func escape(_ byte: UInt8, into out: inout [UInt8]) {
        switch byte {
        case UInt8(ascii: "\""): out.append(UInt8(ascii: "\\")); out.append(UInt8(ascii: "\""))
        case UInt8(ascii: "\\"): out.append(UInt8(ascii: "\\")); out.append(UInt8(ascii: "\\"))
        case 0x08: out.append(UInt8(ascii: "\\")); out.append(UInt8(ascii: "b"))
        case 0x09: out.append(UInt8(ascii: "\\")); out.append(UInt8(ascii: "t"))
        case 0x0A: out.append(UInt8(ascii: "\\")); out.append(UInt8(ascii: "n"))
        case 0x0C: out.append(UInt8(ascii: "\\")); out.append(UInt8(ascii: "f"))
        case 0x0D: out.append(UInt8(ascii: "\\")); out.append(UInt8(ascii: "r"))
        default:
            let hex: [UInt8] = Array("0123456789abcdef".utf8)
            out.append(contentsOf: Array("\\u00".utf8))
            out.append(hex[Int(byte >> 4)])
            out.append(hex[Int(byte & 0x0f)])
        }
    }
}
