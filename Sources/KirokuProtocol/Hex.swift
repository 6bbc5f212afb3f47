/// Lowercase hexadecimal, the only form hashes, salts and serials take in Kiroku.
public enum Hex {
    private static let digits: [UInt8] = Array("0123456789abcdef".utf8)

    /// Lowercase hex of the bytes.
    public static func encode<Bytes: Sequence>(_ bytes: Bytes) -> String where Bytes.Element == UInt8 {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.underestimatedCount * 2)
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The bytes of a lowercase hex string, or nil if it is not exactly that.
    public static func decode(_ text: String) -> [UInt8]? {
        text.utf8.withContiguousStorageIfAvailable { decode(utf8: $0) } ?? decode(utf8: Array(text.utf8))
    }

    private static func decode<Digits: RandomAccessCollection<UInt8>>(utf8: Digits) -> [UInt8]?
    where Digits.Index == Int {
        guard utf8.count % 2 == 0 else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(utf8.count / 2)
        var index = utf8.startIndex
        while index < utf8.endIndex {
            guard let high = value(utf8[index]), let low = value(utf8[index + 1]) else { return nil }
            out.append(high << 4 | low)
            index += 2
        }
        return out
    }

    /// True if `text` is the lowercase hex of `bytes` (a hash compared without making its text).
    public static func isEncoding<Bytes: Sequence<UInt8>>(of bytes: Bytes, _ text: String) -> Bool {
        var digits = text.utf8.makeIterator()
        for byte in bytes {
            guard digits.next() == Self.digits[Int(byte >> 4)], digits.next() == Self.digits[Int(byte & 0x0f)] else {
                return false
            }
        }
        return digits.next() == nil
    }

    /// True if the string is `length` lowercase hex digits.
    public static func isLowercaseHex(_ text: String, length: Int) -> Bool {
        guard text.utf8.count == length else { return false }
        return text.utf8.allSatisfy { value($0) != nil }
    }

    private static func value(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
        default: return nil
        }
    }
}
