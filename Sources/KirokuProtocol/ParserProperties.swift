/// The properties the hub's input path must keep for any bytes at all, checked by the fuzz target
/// (`Fuzz/`) and by a seeded run in the tests: parsing never traps, whatever parses re-encodes to
/// something that parses to the same value, and a batch whose events validate round-trips byte for byte.
public enum ParserProperties {
    /// Returns a description of the first violated property, or nil if `bytes` keep them all.
    public static func violation(_ bytes: [UInt8]) -> String? {
        if let value = try? JSONParser.parse(bytes) {
            let again = CanonicalJSON.encode(value)
            guard let reparsed = try? JSONParser.parse(again), reparsed == value else {
                return "a parsed value does not survive canonical re-encoding"
            }
            guard CanonicalJSON.encode(reparsed) == again else { return "canonical encoding is not stable" }
        }
        if let draft = try? EventDraft.parse(bytes) {
            _ = try? draft.validate()
        }
        if let batch = try? Batch.parse(bytes) {
            for event in batch.events {
                guard (try? event.validate()) != nil else { continue }
                let canonical = event.canonicalBytes(includingHash: true)
                guard let back = try? Event.parse(canonical), back == event else {
                    return "a valid event does not round-trip through its canonical bytes"
                }
                guard back.computeHash() == event.hash else { return "hash changed across a round trip" }
            }
        }
        return nil
    }
}
