/// A seeded random mutator for the fuzz target and the tests: from a corpus of valid inputs it makes
/// broken ones (byte flips, JSON tokens inserted, chunks deleted or duplicated, corpus entries spliced).
/// The same seed gives the same inputs, so any failure can be replayed.
public struct Mutator {
    var state: UInt64
    let corpus: [[UInt8]]
    static let tokens: [[UInt8]] = [
        "{", "}", "[", "]", ",", ":", "\"", "\\", "\\u0000", "\\ud800", "\\udc00", "1e5", "-0", "0.5", "null",
        "true", "9223372036854775808", "\"seq\":", "\"v\":2", "\"attrs\":{}", "\u{FEFF}", "\u{1F600}", "\n", " ",
        "\"hash\":\"", "00000000000000000000000000000000", "\u{00}",
    ].map { Array($0.utf8) }

    public init(seed: UInt64, corpus: [[UInt8]]) {
        self.state = seed == 0 ? 0x9E37_79B9_7F4A_7C15 : seed
        self.corpus = corpus.isEmpty ? [Array("{}".utf8)] : corpus
    }

    /// xorshift64*: small, fast, reproducible.
    mutating func random(_ bound: Int) -> Int {
        state ^= state >> 12
        state ^= state << 25
        state ^= state >> 27
        return Int((state &* 0x2545_F491_4F6C_DD1D) % UInt64(max(bound, 1)))
    }

    /// The next input: a corpus entry with 1–8 mutations.
    public mutating func next() -> [UInt8] {
        var input = corpus[random(corpus.count)]
        for _ in 0...random(8) {
            switch random(6) {
            case 0 where !input.isEmpty:
                input[random(input.count)] ^= UInt8(1 << random(8))
            case 1:
                input.insert(contentsOf: Self.tokens[random(Self.tokens.count)], at: random(input.count + 1))
            case 2 where input.count > 1:
                let start = random(input.count)
                input.removeSubrange(start..<min(input.count, start + 1 + random(16)))
            case 3 where input.count > 1:
                let start = random(input.count)
                let chunk = Array(input[start..<min(input.count, start + 1 + random(64))])
                input.insert(contentsOf: chunk, at: random(input.count + 1))
            case 4:
                let other = corpus[random(corpus.count)]
                let cut = random(input.count + 1)
                input = Array(input[..<cut]) + other[random(other.count + 1)...]
            default:
                if !input.isEmpty { input[random(input.count)] = UInt8(random(256)) }
            }
        }
        return input
    }
}
