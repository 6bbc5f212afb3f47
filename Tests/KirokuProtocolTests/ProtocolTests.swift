import Crypto
import Foundation
import KirokuHub
import KirokuProtocol
import KirokuTestSupport
import Testing

@Suite("Protocol v1: canonical JSON, timestamps, events, receipts")
struct ProtocolTests {
    @Test("JCS sorts keys by UTF-16 code units, not by scalar or UTF-8 order")
    func keyOrder() {
        // U+FF61 (BMP, UTF-16 0xFF61) sorts after U+1F600 (surrogates 0xD83D…) in UTF-16 order,
        // but before it in code-point or UTF-8 order.
        let keys = ["\u{FF61}", "\u{1F600}", "b", "a", "ア"]
        #expect(CanonicalJSON.sortedKeys(keys) == ["a", "b", "ア", "\u{1F600}", "\u{FF61}"])
    }

    @Test("Strings are escaped exactly as JSON.stringify does")
    func escaping() {
        let value = JSONValue.object([
            "s": .string("quote\" backslash\\ nl\n tab\t cr\r bs\u{08} ff\u{0C} nul\u{00} us\u{1F} del\u{7F} 日本 /")
        ])
        let text = String(decoding: CanonicalJSON.encode(value), as: UTF8.self)
        #expect(
            text
                == "{\"s\":\"quote\\\" backslash\\\\ nl\\n tab\\t cr\\r bs\\b ff\\f nul\\u0000 us\\u001f del\u{7F} 日本 /\"}"
        )
    }

    @Test("Escapes at a string's ends, strings of escapes only, short and long strings")
    func escapingRuns() {
        func written(_ text: String) -> String {
            var out: [UInt8] = []
            CanonicalJSON.writeString(text, into: &out)
            return String(decoding: out, as: UTF8.self)
        }
        #expect(written("") == "\"\"")
        #expect(written("\"") == "\"\\\"\"")
        #expect(written("\n\u{01}\\") == "\"\\n\\u0001\\\\\"")
        #expect(written("\tab\n") == "\"\\tab\\n\"")
        let long = String(repeating: "住民票コード 12345 ", count: 40)
        #expect(written(long + "\"" + long) == "\"" + long + "\\\"" + long + "\"")
    }

    @Test("Hex: decoding, checking and comparing without making text")
    func hex() {
        let bytes: [UInt8] = [0x00, 0x9f, 0xab, 0xff]
        #expect(Hex.encode(bytes) == "009fabff")
        #expect(Hex.decode("009fabff") == bytes)
        #expect(Hex.decode("009FABFF") == nil && Hex.decode("009") == nil && Hex.decode("0g") == nil)
        #expect(Hex.isEncoding(of: bytes, "009fabff"))
        #expect(!Hex.isEncoding(of: bytes, "009fabfe") && !Hex.isEncoding(of: bytes, "009fab"))
        #expect(!Hex.isEncoding(of: bytes, "009fabff00") && !Hex.isEncoding(of: bytes, "009FABFF"))
        #expect(Hex.isLowercaseHex("009fabff", length: 8))
        #expect(!Hex.isLowercaseHex("009fabf", length: 8) && !Hex.isLowercaseHex("009fabfff", length: 8))
        #expect(!Hex.isLowercaseHex("009fabfF", length: 8) && !Hex.isLowercaseHex("009fabfあ", length: 10))
    }

    @Test("Nested values, integers and literals have one canonical form")
    func nested() {
        let value = JSONValue.object([
            "z": .array([.integer(-5), .bool(true), .null, .object([:])]), "a": .integer(9_007_199_254_740_993),
        ])
        #expect(
            String(decoding: CanonicalJSON.encode(value), as: UTF8.self)
                == "{\"a\":9007199254740993,\"z\":[-5,true,null,{}]}")
    }

    @Test(
        "Timestamps round-trip in their wire form",
        arguments: [
            "2026-11-27T09:30:00.000+09:00", "2019-04-30T23:59:59.999+09:00", "1970-01-01T00:00:00.000Z",
            "2024-02-29T12:00:00.001-05:30", "1989-01-07T23:59:59.000+09:00",
        ])
    func timestampRoundTrip(text: String) throws {
        let stamp = try #require(Timestamp(rfc3339: text))
        #expect(stamp.rfc3339 == text)
    }

    @Test("Timestamps convert offsets to the same instant")
    func timestampInstant() throws {
        let jst = try #require(Timestamp(rfc3339: "2026-11-27T09:30:00.000+09:00"))
        let utc = try #require(Timestamp(rfc3339: "2026-11-27T00:30:00.000Z"))
        #expect(jst.epochMilliseconds == utc.epochMilliseconds)
        #expect(utc.epochMilliseconds == 1_795_739_400_000)
        #expect(utc.withOffset(minutes: 540).rfc3339 == "2026-11-27T09:30:00.000+09:00")
    }

    @Test(
        "Anything but the strict wire form is refused",
        arguments: [
            "2026-11-27T09:30:00+09:00", "2026-11-27 09:30:00.000+09:00", "2026-11-27T09:30:00.000",
            "2026-02-30T00:00:00.000Z",
            "2026-11-27T24:00:00.000Z", "2026-11-27t09:30:00.000z", "2025-02-29T00:00:00.000Z",
            "2026-11-27T09:30:00.000-00:00",
            "", "2026-11-27T09:30:00.0000Z",
        ])
    func timestampRefused(text: String) {
        #expect(Timestamp(rfc3339: text) == nil)
    }

    @Test("An event's hash covers every field; changing any field breaks validation")
    func eventHash() throws {
        let event = makeChain(agent: "t-1", count: 1)[0]
        try event.validate()
        var tampered = [event, event, event, event]
        tampered[0].actor = "P9999"
        tampered[1].attrs["purpose"] = "改ざん"
        tampered[2].time = "2026-11-27T09:00:00.001+09:00"
        tampered[3].salt = String(repeating: "0", count: 32)
        for bad in tampered {
            #expect(throws: KirokuError.self) { try bad.validate() }
            #expect((try? bad.validate()) == nil)
        }
        do {
            try tampered[0].validate()
        } catch {
            #expect(error.code == .hashMismatch)
        }
    }

    @Test("Unknown kinds, actions and members are refused with invalid_event")
    func vocabulary() throws {
        #expect(throws: KirokuError.self) {
            try EventDraft(kind: "access", action: "teleport", actor: "P1").validate()
        }
        #expect(throws: KirokuError.self) { try EventDraft(kind: "gossip", action: "enter", actor: "P1").validate() }
        #expect(throws: KirokuError.self) { try EventDraft(kind: "access", action: "enter", actor: "").validate() }
        try EventDraft(kind: "residentcard", action: "destroy", actor: "P1", attrs: ["method": "裁断"]).validate()
        // Every kind and action of PROTOCOL.md §2 is in the vocabulary.
        #expect(EventKind.all.count == 11)
        // 59, then the incident lifecycle (4), the hub's contractor/submitted and reviewed, record/shutdown_declared, alert_sent, manual_registered and reviewed, agent/imported, media/take_out and return
        #expect(EventKind.all.reduce(0) { $0 + $1.actions.count } == 72)
        // The agent's own alarm when the hub's log does not extend what it showed before (PROTOCOL.md §4).
        #expect(EventKind.named("agent")?.actions.contains("log_inconsistent") == true)
        #expect(EventKind.named("agent")?.actions.contains("log_accepted") == true)

        let event = makeChain(agent: "t-1", count: 1)[0]
        var object = try JSONSerialization.jsonObject(with: JSONEncoder().encode(event)) as! [String: Any]
        object["extra"] = "not covered by the hash"
        let data = try JSONSerialization.data(withJSONObject: object)
        #expect(throws: (any Error).self) { try JSONDecoder().decode(Event.self, from: data) }
    }

    @Test("A signed receipt verifies with the hub's key and not after any change")
    func receipts() throws {
        let key = Curve25519.Signing.PrivateKey()
        let receipt = Receipt(
            agent: "t-1", firstSeq: 1, throughSeq: 10, headHash: String(repeating: "a", count: 64), accepted: 10,
            duplicates: 0, hubTime: "2026-11-27T00:00:00.000Z", keyID: signingKeyID(key.publicKey))
        let signed = try SignedReceipt.sign(receipt, with: key)
        #expect(signed.verify(publicKey: key.publicKey))
        var forged = signed
        forged.receipt.throughSeq = 11
        #expect(!forged.verify(publicKey: key.publicKey))
        #expect(!signed.verify(publicKey: Curve25519.Signing.PrivateKey().publicKey))
    }
}

/// The golden vectors in `Protocol/vectors/`: the same files `Protocol/check_vectors.py` checks.
@Suite("Golden vectors")
struct VectorTests {
    static let folder = RepositoryFiles.root.appending(path: "Protocol/vectors")

    struct Vector: Decodable {
        var name: String
        var event: Event
        var canonical: String
        var canonical_with_hash: String
        var hash: String
    }

    struct File: Decodable {
        var vectors: [Vector]
    }

    static func fixedEvents() -> (single: [(String, Event)], chain: [Event]) {
        func event(
            _ seq: Int64, _ kind: String, _ action: String, _ actor: String, _ subject: String,
            _ attrs: [String: String],
            prev: String, agent: String = "vector-agent", site: String = "本庁舎 電算室"
        ) -> Event {
            Event(
                agent: agent, seq: seq, time: "2026-11-27T09:\(String(format: "%02d", seq)):00.000+09:00", kind: kind,
                action: action, actor: actor, subject: subject, site: site, attrs: attrs,
                salt: String(format: "%032lx", seq * 0x1111), prev: prev
            ).sealed()
        }
        let single: [(String, Event)] = [
            (
                "access-enter-japanese",
                event(
                    1, "access", "enter", "P0012", "電算室", ["method": "card_reader", "permit": "R-2026-014"],
                    prev: Event.genesis)
            ),
            (
                "operation-lookup",
                event(
                    7, "operation", "lookup", "P0101", "住民票コード 00000000001", ["purpose": "転入届"],
                    prev: String(repeating: "ab", count: 32))
            ),
            (
                "residentcard-destroy",
                event(
                    3, "residentcard", "destroy", "P0201", "住基カード-000087", ["method": "裁断"],
                    prev: String(repeating: "01", count: 32))
            ),
            (
                "escapes-and-ordering",
                event(
                    4, "incident", "fault", "system", "line1\nline2 \"quoted\" \\ tab\t",
                    ["z": "last", "a": "first", "日本": "語", "\u{1F600}": "emoji", "\u{FF61}": "halfwidth"],
                    prev: String(repeating: "ff", count: 32), site: "")
            ),
            (
                "agent-heartbeat-no-attrs",
                event(
                    5, "agent", "heartbeat", "kiroku-agent", "vector-agent", [:],
                    prev: String(repeating: "0f", count: 32))
            ),
            (
                "escapes-control-characters",
                event(
                    6, "incident", "fault", "system", "bs\u{8} ff\u{C} cr\r soh\u{1} us\u{1F} del\u{7F} slash/",
                    ["detail": "esc\u{1B} del\u{7F}"], prev: String(repeating: "2e", count: 32))
            ),
            // The incident lifecycle: a report naming the incident it follows (§2).
            (
                "incident-reported-naming-its-incident",
                event(
                    8, "incident", "reported", "unyo01", "管理者", ["incident": "server-room/41", "to": "kanri01"],
                    prev: String(repeating: "3c", count: 32))
            ),
            (
                "incident-closed",
                event(
                    9, "incident", "closed", "unyo01", "サーバー1", ["incident": "server-room/41"],
                    prev: String(repeating: "4d", count: 32))
            ),
            // A contractor's submission as the hub records it in its own chain (§13): the file's hash in file1.
            (
                "contractor-submitted-by-the-hub",
                event(
                    10, "contractor", "submitted", "V-03", "C-1",
                    [
                        "type": "site_audit", "contractor": "日本電算", "note": "令和8年度上期 実施状況報告",
                        "file1": "\(String(repeating: "5e", count: 32)) 48213 application/pdf 実施状況報告 上期.pdf",
                    ], prev: String(repeating: "6f", count: 32), agent: "hub", site: "")
            ),
        ]
        var chain: [Event] = []
        var prev = Event.genesis
        let steps: [(String, String, String, String)] = [
            ("agent", "started", "kiroku-agent", "vector-agent"), ("access", "enter", "P0012", "電算室"),
            ("card", "insert", "C-1001", "端末01"), ("operation", "login", "P0012", "端末01"),
            ("operation", "lookup", "P0012", "住民票コード 00000000002"), ("operation", "logout", "P0012", "端末01"),
            ("access", "exit", "P0012", "電算室"),
        ]
        for (index, step) in steps.enumerated() {
            let next = event(Int64(index + 1), step.0, step.1, step.2, step.3, [:], prev: prev)
            chain.append(next)
            prev = next.hash
        }
        return (single, chain)
    }

    static func vector(_ name: String, _ event: Event) -> [String: Any] {
        let object = try! JSONSerialization.jsonObject(with: Data(event.canonicalBytes(includingHash: true)))
        return [
            "name": name, "event": object,
            "canonical": String(decoding: event.canonicalBytes(includingHash: false), as: UTF8.self),
            "canonical_with_hash": String(decoding: event.canonicalBytes(includingHash: true), as: UTF8.self),
            "hash": event.hash,
        ]
    }

    @Test("Swift reproduces every golden vector byte for byte")
    func vectors() throws {
        let fixed = Self.fixedEvents()
        if ProcessInfo.processInfo.environment["KIROKU_WRITE_VECTORS"] != nil {
            try FileManager.default.createDirectory(at: Self.folder, withIntermediateDirectories: true)
            let files: [(String, String, [[String: Any]])] = [
                (
                    "events.json", "Single events of several kinds, with Japanese text and escapes.",
                    fixed.single.map { Self.vector($0.0, $0.1) }
                ),
                (
                    "chain.json", "A chain of 7 events of one agent from seq 1 (prev of seq 1 is the genesis value).",
                    fixed.chain.map { Self.vector("seq-\($0.seq)", $0) }
                ),
            ]
            for (name, description, vectors) in files {
                let data = try JSONSerialization.data(
                    withJSONObject: ["description": description, "genesis": Event.genesis, "vectors": vectors],
                    options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
                try data.write(to: Self.folder.appending(path: name))
            }
        }
        for (name, expected) in [("events.json", fixed.single.map(\.1)), ("chain.json", fixed.chain)] {
            let file = try JSONDecoder().decode(File.self, from: Data(contentsOf: Self.folder.appending(path: name)))
            #expect(file.vectors.count == expected.count)
            for (vector, event) in zip(file.vectors, expected) {
                #expect(vector.event == event, "\(name) \(vector.name)")
                #expect(
                    String(decoding: vector.event.canonicalBytes(includingHash: false), as: UTF8.self)
                        == vector.canonical)
                #expect(
                    String(decoding: vector.event.canonicalBytes(includingHash: true), as: UTF8.self)
                        == vector.canonical_with_hash)
                #expect(vector.event.computeHash() == vector.hash)
                try vector.event.validate()
            }
        }
        let chain = try JSONDecoder().decode(
            File.self, from: Data(contentsOf: Self.folder.appending(path: "chain.json")))
        #expect(chain.vectors.count >= 5)
        #expect(chain.vectors[0].event.prev == Event.genesis)
        for (previous, next) in zip(chain.vectors, chain.vectors.dropFirst()) {
            #expect(next.event.prev == previous.hash)
            #expect(next.event.seq == previous.event.seq + 1)
        }
    }
}

@Suite("The hub's JSON parser")
struct JSONParserTests {
    func parse(_ text: String) throws -> JSONValue { try JSONParser.parse(Array(text.utf8)) }

    @Test("Parses what the canonical encoder writes, back to the same value")
    func roundTrip() throws {
        let value = JSONValue.object([
            "a": .array([.integer(0), .integer(-9_223_372_036_854_775_808), .integer(9_223_372_036_854_775_807)]),
            "s": .string("改行\n\"引用\" \\ \u{01} \u{1F600} \u{FF61}"), "t": .bool(true), "f": .bool(false), "n": .null,
            "o": .object(["日本": .string("語"), "": .string("")]),
        ])
        #expect(try JSONParser.parse(CanonicalJSON.encode(value)) == value)
        #expect(try parse(" { \"a\" : [ 1 , 2 ] } \r\n") == .object(["a": .array([.integer(1), .integer(2)])]))
        #expect(try parse(#""\u65e5\u672c \ud83d\ude00 \/""#) == .string("日本 \u{1F600} /"))
    }

    @Test(
        "Refuses what Kiroku never sends and could be misread",
        arguments: [
            "1.5", "1e3", "-0.0", "01", "9223372036854775808", "-9223372036854775809", "{\"a\":1,\"a\":2}",
            "[1,]", "{\"a\":1,}", "\"\\ud800\"", "\"\\udc00x\"", "\"tab\there\"", "\"\\x\"", "[1] 2", "", "nul",
            "{\"a\"}",
            String(repeating: "[", count: 40) + String(repeating: "]", count: 40), "\"unterminated",
        ])
    func refusals(text: String) {
        #expect(throws: KirokuError.self) { try parse(text) }
    }

    @Test("Invalid UTF-8 is refused, not repaired")
    func utf8() {
        #expect(throws: KirokuError.self) { try JSONParser.parse([0x22, 0xC3, 0x28, 0x22]) }
        #expect(throws: KirokuError.self) { try JSONParser.parse([0x22, 0xED, 0xA0, 0x80, 0x22]) }
    }

    @Test("A batch parses to the same events Foundation's decoder reads, and refuses wrong shapes")
    func batches() throws {
        let chain = makeChain(agent: "t-1", count: 5)
        let body = Batch.encodeBody(
            agent: "t-1", sentAt: "2026-11-27T00:00:00.000Z", headSeq: 5,
            canonicalEvents: chain.map { $0.canonicalBytes(includingHash: true) })
        let batch = try Batch.parse(body)
        #expect(batch.events == chain)
        #expect(try JSONDecoder().decode(Batch.self, from: Data(body)).events == batch.events)
        #expect(batch.headSeq == 5 && batch.agent == "t-1")
        for bad in [
            #"{"agent":"t-1","sent_at":"x","head_seq":1}"#, #"{"agent":1,"sent_at":"x","head_seq":1,"events":[]}"#,
            #"{"agent":"t-1","sent_at":"x","head_seq":1,"events":[],"extra":true}"#,
            #"{"agent":"t-1","sent_at":"x","head_seq":1,"events":[{"v":1}]}"#, "[]",
        ] {
            #expect(throws: KirokuError.self) { try Batch.parse(Array(bad.utf8)) }
        }
        #expect(try Event.parse(chain[0].canonicalBytes(includingHash: true)) == chain[0])
        var object = try JSONParser.parse(chain[0].canonicalBytes(includingHash: true))
        if case .object(var members) = object {
            members["seq"] = .string("1")
            object = .object(members)
        }
        #expect(throws: KirokuError.self) { try Event.parse(CanonicalJSON.encode(object)) }
        if case .object(var members) = object {
            members["seq"] = .integer(1)
            members["colour"] = .string("red")
            object = .object(members)
        }
        #expect(throws: KirokuError.self) { try Event.parse(CanonicalJSON.encode(object)) }
    }
}

@Suite("Fuzzing the hub's input path (seeded, bounded)")
struct FuzzTests {
    static let corpusFolder = RepositoryFiles.root.appending(path: "Fuzz/corpus")

    @Test("The corpus itself keeps the properties, and its batch is a valid chain")
    func corpus() throws {
        let names = try FileManager.default.contentsOfDirectory(atPath: Self.corpusFolder.path)
        #expect(names.count >= 8)
        for name in names {
            let bytes = [UInt8](try Data(contentsOf: Self.corpusFolder.appending(path: name)))
            #expect(ParserProperties.violation(bytes) == nil, "\(name)")
        }
        let batch = try Batch.parse(
            [UInt8](try Data(contentsOf: Self.corpusFolder.appending(path: "batch-chain.json"))))
        for event in batch.events { try event.validate() }
    }

    @Test("20,000 mutated inputs: no trap, no broken property (seed 20261127; Scripts/fuzz.sh runs longer)")
    func seededMutations() throws {
        let names = try FileManager.default.contentsOfDirectory(atPath: Self.corpusFolder.path).sorted()
        let corpus = try names.map { [UInt8](try Data(contentsOf: Self.corpusFolder.appending(path: $0))) }
        var mutator = Mutator(seed: 20_261_127, corpus: corpus)
        var parsedBatches = 0
        var refused = 0
        for _ in 0..<20_000 {
            let input = mutator.next()
            if let problem = ParserProperties.violation(input) {
                Issue.record("\(problem): \(String(decoding: input, as: UTF8.self).prefix(300))")
                return
            }
            if (try? Batch.parse(input)) != nil { parsedBatches += 1 } else { refused += 1 }
        }
        // The mutator must exercise both sides: some inputs still parse, most are refused.
        #expect(parsedBatches > 0 && refused > parsedBatches)
    }
    @Test(
        "5,000 mutated register CSVs: each refused with its line or parsed sound, and what is exported re-imports unchanged"
    )
    func mutatedRegisters() async throws {
        let valid: [(Register, String)] = [
            (
                .permits,
                "\u{FEFF}permit_id,person,room,valid_from,valid_to\r\nR-1,P0012,電算室,2026-04-01,2027-03-31\r\n=\"R-2\",P0034,\"保管庫, 2F\",2026-12-01,\r\n"
            ),
            (.cards, "card_id,holder,state,since\nC-1001,P0101,active,2026-04-01\nC-1002,P0102,revoked,2026-11-01\n"),
            (.people, "person_id,name,role,left\nkanri01,山田 \"太郎\",管理者;会議,\nP0101,田中,操作者,2026-12-20\n"),
            (.stock, "card_no,state,since,location\n住基カード-000100,stock,2026-11-01,金庫A\n"),
            (.calendar, "date,type,name\n2026-12-08,holiday,庁舎停電日\n2026-12-13,open,休日窓口\n"),
            (.devices, "device_id,agent,vendor,product,serial\nD-1,*,0781,5567,\n"),
        ]
        let store = try HubStore.open(path: try TempDir("fuzz-registers").file("record.sqlite"))
        var parsed = 0
        var refused = 0
        var roundTrips = 0
        for (index, (register, csv)) in valid.enumerated() {
            var mutator = Mutator(seed: 20_261_128 + UInt64(index), corpus: [Array(csv.utf8)])
            for _ in 0..<(5000 / valid.count) {
                let text = String(decoding: mutator.next(), as: UTF8.self)
                let rows: [RegisterRow]
                do {
                    rows = try HubStore.parseRegister(register, csv: text)
                } catch {
                    // Refused: with where and what, never a crash.
                    #expect(
                        error.message.hasPrefix("line ") || error.message.hasPrefix("the CSV is empty"),
                        "\(error.message)")
                    refused += 1
                    continue
                }
                parsed += 1
                let keys = rows.map { $0[register.columns[0]] ?? "" }
                #expect(!keys.contains("") && Set(keys).count == keys.count, "\(register): \(keys)")
                // A sample goes through the store and back out as Excel would get it: the same rows again.
                guard roundTrips < 300 else { continue }
                roundTrips += 1
                _ = try await store.importRegister(register, csv: text, by: "kanri01")
                let exported = try await store.exportRegister(register)
                #expect(
                    try HubStore.parseRegister(register, csv: exported)
                        == rows.sorted { ($0[register.columns[0]] ?? "") < ($1[register.columns[0]] ?? "") },
                    "\(register): \(text.prefix(200))")
                let again = try await store.importRegister(register, csv: exported, by: "kanri01")
                #expect(
                    again == (0, 0, 0),
                    "\(register) \(again): \(text.debugDescription.prefix(300)) → \(exported.debugDescription.prefix(300))"
                )
            }
        }
        #expect(
            parsed > 100 && refused > 100 && roundTrips > 50,
            "parsed \(parsed), refused \(refused), round trips \(roundTrips)")
    }
}

@Suite("Times as people type them (PersonTime)")
struct PersonTimeTests {
    @Test(
        "Excel's dates, ISO dates, 和暦 and full-width digits, with or without a time, are read in JST; anything else is refused"
    )
    func forms() {
        let accepted: [(String, String)] = [
            ("2026/4/1", "2026-04-01T00:00:00.000+09:00"), ("2026-04-01", "2026-04-01T00:00:00.000+09:00"),
            ("2026/4/1 9:30", "2026-04-01T09:30:00.000+09:00"), ("2026-11-27T09:30", "2026-11-27T09:30:00.000+09:00"),
            ("2026.12.31 23:59:59", "2026-12-31T23:59:59.000+09:00"),
            ("2026/4/1 09:30:15.250", "2026-04-01T09:30:15.250+09:00"),
            ("２０２６／４／１　９：３０", "2026-04-01T09:30:00.000+09:00"), ("令和8年4月1日", "2026-04-01T00:00:00.000+09:00"),
            ("令和元年5月1日 10:00", "2019-05-01T10:00:00.000+09:00"), (" 2026/4/1 ", "2026-04-01T00:00:00.000+09:00"),
            ("2026-11-27T09:30:00.000Z", "2026-11-27T09:30:00.000Z"),
        ]
        for (typed, expected) in accepted {
            #expect(PersonTime.parse(typed)?.rfc3339 == expected, "\(typed)")
        }
        for typed in [
            "yesterday", "26/4/1", "2026/13/1", "2026/2/30", "2026/4/1 25:00", "2026/4/1 9:60", "2026/4/1 9:30:15.25",
            "2026/4",
            "令和100年1月1日", "令和8年4月1日9時", "2026-04-01 9", "2026/4/1 9:30 PM", "",
        ] {
            #expect(PersonTime.parse(typed) == nil, "\(typed) must be refused")
        }
    }
}

@Suite("和暦 (Wareki)")
struct WarekiTests {
    @Test(
        "Every era boundary: the day before is the old era, the first day is 元年 of the new one; 年度 runs April to March")
    func boundaries() {
        // (Gregorian day before, its 和暦), (the era's first day, its 和暦)
        let cases: [((Int, Int, Int), String, (Int, Int, Int), String)] = [
            ((1912, 7, 29), "明治45年7月29日", (1912, 7, 30), "大正元年7月30日"),
            ((1926, 12, 24), "大正15年12月24日", (1926, 12, 25), "昭和元年12月25日"),
            ((1989, 1, 7), "昭和64年1月7日", (1989, 1, 8), "平成元年1月8日"),
            ((2019, 4, 30), "平成31年4月30日", (2019, 5, 1), "令和元年5月1日"),
        ]
        for (before, beforeText, first, firstText) in cases {
            #expect(Wareki.date(year: before.0, month: before.1, day: before.2) == beforeText)
            #expect(Wareki.date(year: first.0, month: first.1, day: first.2) == firstText)
        }
        #expect(Wareki.date(year: 2026, month: 11, day: 30) == "令和8年11月30日")
        #expect(Wareki.date(year: 1868, month: 10, day: 23) == "明治元年10月23日")
        #expect(Wareki.fiscalYear(year: 2027, month: 3) == 2026)
        #expect(Wareki.fiscalYear(year: 2026, month: 4) == 2026)
        #expect(Wareki.fiscalYearName(2026) == "令和8年度")
        #expect(Wareki.fiscalYearName(2019) == "令和元年度")  // the government renamed 平成31年度
        #expect(Wareki.fiscalYearName(2018) == "平成30年度")
        #expect(Wareki.fiscalYearName(1988) == "昭和63年度")
    }

    @Test("和暦 typed by name or letter is read at each boundary; a day the era did not cover is refused")
    func typed() {
        let accepted = [
            ("平成31年4月30日", "2019-04-30"), ("令和元年5月1日", "2019-05-01"), ("R1.5.1", "2019-05-01"),
            ("H31.4.30", "2019-04-30"),
            ("R8.4.1", "2026-04-01"), ("r8/4/1 9:30", "2026-04-01"), ("昭和64年1月7日", "1989-01-07"),
            ("平成元年1月8日", "1989-01-08"),
            ("S64.1.7", "1989-01-07"), ("大正元年7月30日", "1912-07-30"), ("明治45年7月29日", "1912-07-29"),
            ("2026年4月1日", "2026-04-01"), ("２０２６年４月１日 ９:３０", "2026-04-01"),
        ]
        for (typed, day) in accepted {
            #expect(PersonTime.parse(typed)?.rfc3339.hasPrefix(day) == true, "\(typed)")
        }
        for typed in ["平成31年5月1日", "令和元年4月30日", "昭和64年1月8日", "H32.1.1", "R0.1.1", "令和0年1月1日", "X8.4.1", "平成八年"] {
            #expect(PersonTime.parse(typed) == nil, "\(typed) must be refused")
        }
    }
}

@Suite("Message catalogue")
struct MessageCatalogueTests {
    @Test("Every error code has its Japanese text, and every code PROTOCOL.md lists is in the catalogue")
    func complete() throws {
        for code in ErrorCode.all {
            #expect(ErrorCode.japaneseTexts[code] != nil, "\(code.rawValue) has no Japanese text")
            #expect(code.japanese.unicodeScalars.contains { $0.value >= 0x3040 }, "\(code.rawValue): \(code.japanese)")
        }
        #expect(Set(ErrorCode.all).count == ErrorCode.all.count)
        let spec = try String(
            contentsOf: RepositoryFiles.root.appending(path: "Protocol/PROTOCOL.md"), encoding: .utf8)
        let listed = spec.matches(of: /\n\| `([a-z_]+)` \| [0-9]{3} \|/).map { String($0.1) }
        #expect(listed.count >= 25, "the table of §5 was read")
        for code in listed {
            #expect(
                ErrorCode.all.contains(ErrorCode(rawValue: code)), "PROTOCOL.md lists \(code), the catalogue does not")
        }
    }
}

@Suite("Rules in Japanese")
struct RuleTextTests {
    @Test("Every rule says what it finds in Japanese too, and GET /v1/rules carries both")
    func japanese() throws {
        for rule in RuleInfo.all {
            #expect(
                rule.descriptionJa != rule.description
                    && rule.descriptionJa.unicodeScalars.contains { $0.value >= 0x3040 }, "\(rule.id)")
        }
        let encoded = String(decoding: try JSONEncoder().encode(RuleInfo.all), as: UTF8.self)
        #expect(encoded.contains("\"description_ja\""))
        #expect(try JSONDecoder().decode([RuleInfo].self, from: Data(encoded.utf8)) == RuleInfo.all)
    }

    @Test("Every rule id has exactly one description, and the wire names a rule by its id's text")
    func ids() throws {
        #expect(
            RuleInfo.all.map(\.id).sorted { $0.rawValue < $1.rawValue }
                == RuleID.allCases.sorted { $0.rawValue < $1.rawValue })
        #expect(RuleID.allCases.allSatisfy { $0.info.id == $0 && RuleInfo.named($0.rawValue)?.id == $0 })
        #expect(RuleInfo.named("out_of_hour") == nil)
        let encoded = String(decoding: try JSONEncoder().encode(RuleInfo.all[0]), as: UTF8.self)
        #expect(encoded.contains("\"id\":\"\(RuleInfo.all[0].id.rawValue)\""))
    }
}

@Suite("Query strings")
struct QueryStringTests {
    @Test("A filter holding U+0000 is a bad query on every store (no event holds one)")
    func nulFilter() {
        for name in ["agent", "site", "action", "actor", "subject"] {
            #expect {
                _ = try EventQuery(parameters: [name: "a\u{0}b"])
            } throws: {
                ($0 as? KirokuError)?.code == .badQuery && ($0 as? KirokuError)?.message.contains("U+0000") == true
            }
        }
        #expect((try? EventQuery(parameters: ["actor": "P0001", "subject": "住民 1"])) != nil)
    }

    @Test("Values are percent-encoded but for ASCII letters, digits and -._~; names come in order")
    func encode() {
        #expect(QueryString.percent("住 +a-._~Z9") == "%E4%BD%8F%20%2Ba-._~Z9")
        #expect(
            QueryString.encode(["to": "2026-12-01T00:00:00.000+09:00", "actor": "P0101"])
                == "actor=P0101&to=2026-12-01T00%3A00%3A00.000%2B09%3A00")
    }
}

extension ProtocolTests {
    @Test("EventQuery: what a client sends reads back to the same query at the hub; a bad filter is refused alike")
    func eventQueryRoundTrip() throws {
        var query = EventQuery()
        query.from = Timestamp(rfc3339: "2026-04-01T00:00:00.000+09:00")
        query.to = Timestamp(rfc3339: "2026-05-01T00:00:00.000+09:00")
        query.kind = "operation"
        query.actor = "P00"
        query.actorMatch = .prefix
        query.subject = "住民"
        query.subjectMatch = .contains
        query.limit = 50
        query.cursor = EventQuery.Cursor(timeMS: 1_775_000_000_000, agent: "counter-01", seq: 7).text
        #expect(try EventQuery(parameters: query.parameters) == query)
        #expect(try EventQuery(parameters: EventQuery().parameters) == EventQuery())
        for bad in [["kind": "nope"], ["actor_match": "prefix"], ["limit": "0"], ["cursor": "x"], ["color": "red"]] {
            #expect(throws: KirokuError.self, "\(bad)") { try EventQuery(parameters: bad) }
        }
    }
}

extension ProtocolTests {
    @Test("The hub's small answers keep their wire names: snake_case keys, absent fields left out")
    func answersOnTheWire() throws {
        func json(_ value: some Encodable) throws -> String {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            return String(decoding: try encoder.encode(value), as: UTF8.self)
        }
        #expect(
            try json(
                MeAnswer(
                    id: "kaigi01", status: "staff", roles: ["会議"], permissions: ["read"], permissionsJapanese: ["閲覧"]))
                == #"{"id":"kaigi01","permissions":["read"],"permissions_ja":["閲覧"],"roles":["会議"],"status":"staff"}"#)
        #expect(
            try json(MeAnswer(id: "gone01", status: "left", left: "2026-11-30"))
                == #"{"id":"gone01","left":"2026-11-30","status":"left"}"#)
        #expect(
            try json(HubKeyAnswer(key: "AA==", keyID: "k1", overlap: [.init(key: "BB==", keyID: "k0")]))
                == #"{"algorithm":"ed25519","key":"AA==","key_id":"k1","overlap":[{"key":"BB==","key_id":"k0"}]}"#)
        #expect(
            try json(InclusionAnswer(leafIndex: 3, treeSize: 8, inclusion: ["ab"]))
                == #"{"inclusion":["ab"],"leaf_index":3,"tree_size":8}"#)
        let decoded = try JSONDecoder().decode(
            RejudgeAnswer.self, from: Data(#"{"day":"2026-12-01","found":2,"resolved":1}"#.utf8))
        #expect(decoded == RejudgeAnswer(day: "2026-12-01", found: 2, resolved: 1))
    }
}
