import ArgumentParser
import Crypto
import Foundation
import KirokuClient
import KirokuControl
import KirokuProtocol

/// `kirokuctl export --evidence`: events with their proofs, for anyone to verify offline.
struct Export: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Export events as an evidence bundle: each event's inclusion proof and the signed checkpoint.",
        discussion: """
            The bundle is proven in the newest checkpoint a witness cosigned (--checkpoint cosigned, the default; \
            a fresh one if none was), in a fresh one (newest), or in the published checkpoint of a given size. \
            Events accepted after that checkpoint are left out and counted. Check it with 'kirokuctl verify'.
            """)
    @OptionGroup var hubOptions: HubOptions
    @Option(help: "Write the evidence bundle here.") var evidence: String
    @Option(help: "cosigned, newest, or a published tree size.") var checkpoint = "cosigned"
    @Option(help: "Events per page the hub signs a statement for (1 to 10000).") var pageSize = EventQueryLimit.max
    @Option(help: "From this time (inclusive).") var from: String?
    @Option(help: "Up to this time (exclusive).") var to: String?
    @Option(help: "Only this agent.") var agent: String?
    @Option(help: "Only this site.") var site: String?
    @Option(help: "Only this kind.") var kind: String?
    @Option(help: "Only this action.") var action: String?
    @Option(help: "Only this actor.") var actor: String?
    @Option(help: "Only this subject.") var subject: String?

    func run() async throws {
        do {
            guard (1...EventQueryLimit.max).contains(pageSize) else {
                throw KirokuError(.badQuery, "--page-size must be 1 to \(EventQueryLimit.max)")
            }
            var parameters: [String: String] = ["limit": String(pageSize)]
            if let from { parameters["from"] = try Query.time(from, "--from") }
            if let to { parameters["to"] = try Query.time(to, "--to") }
            for (name, value) in [
                ("agent", agent), ("site", site), ("kind", kind), ("action", action), ("actor", actor), ("subject", subject),
            ] {
                if let value { parameters[name] = value }
            }
            if checkpoint != "newest" { parameters["checkpoint"] = checkpoint }
            var bundle: EvidenceBundle?
            var omitted: Int64 = 0
            try await hubOptions.withQueries { queries in
                while true {
                    let bytes = try await queries.evidence(parameters)
                    let page = try EvidenceBundle(bytes: bytes)
                    guard case .object(let root) = try JSONParser.parse(bytes) else { break }
                    if case .integer(let count) = root["omitted_after_checkpoint"] { omitted += count }
                    if var merged = bundle {
                        merged.events += page.events
                        merged.statements += page.statements
                        merged.links += page.links
                        bundle = merged
                    } else {
                        bundle = page
                        // Every later page is proven in the same checkpoint.
                        let tree = try Checkpoint(body: try SignedNote(text: page.checkpoint).body)
                        parameters["checkpoint"] = String(tree.size)
                    }
                    FileHandle.standardError.write(Data("kirokuctl: \(bundle!.events.count) event(s) so far\n".utf8))
                    guard case .string(let next) = root["next"] else { break }
                    parameters["cursor"] = next
                }
            }
            guard var bundle else { return }
            bundle.query = parameters.filter { $0.key != "cursor" && $0.key != "checkpoint" && $0.key != "limit" }
            try Data(bundle.bytes).write(to: URL(filePath: evidence), options: .atomic)
            let tree = try Checkpoint(body: try SignedNote(text: bundle.checkpoint).body)
            print("wrote \(evidence): \(bundle.events.count) event(s) proven in checkpoint \(tree.origin) size \(tree.size)")
            if omitted > 0 {
                print("\(omitted) matching event(s) came after that checkpoint and are not in the bundle; run the witness and export again to include them")
            }
        } catch let error as KirokuError {
            throw fail(error)
        }
    }
}

enum EventQueryLimit { static let max = 10_000 }

/// `kirokuctl verify`: checks an evidence bundle offline.
struct Verify: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Verify an evidence bundle offline: event hashes, inclusion proofs, the hub's signature, witnesses.",
        discussion: "Exit status 0 when verified, 1 when not. No network is used.")
    @Argument(help: "The evidence bundle (from 'kirokuctl export --evidence').") var bundle: String
    @Option(help: "The hub's key, base64 (as 'kirokuctl log key' shows it), or a file holding it; repeat it for the keys of earlier rotations.")
    var hubKey: [String] = []
    @Option(help: "A witness that must have cosigned: its key NAME+ID+BASE64 as 'kirokuctl witness init' printed it (repeatable).")
    var witness: [String] = []
    @Flag(help: "Judge without any witness; the verdict then says so in words.") var noWitness = false
    @Flag(help: "Accept a bundle without the hub's signed statements (made before them); the verdict says so.")
    var noCompleteness = false

    func run() throws {
        do {
            // Trust comes from the person verifying, never from the file being verified.
            guard !hubKey.isEmpty else {
                FileHandle.standardError.write(
                    Data(
                        """
                        kirokuctl verify: give the hub's key with --hub-key KEY (repeat it for keys of earlier rotations).
                        Get it from the 管理者 ('kirokuctl log key') and confirm it against the paper copy the 会議 keeps.
                        A key written inside the bundle is never used: a forged bundle names its forger's key.

                        """.utf8))
                throw ExitCode(2)
            }
            guard !witness.isEmpty || noWitness else {
                FileHandle.standardError.write(
                    Data(
                        """
                        kirokuctl verify: give the 会議's witness key with --witness NAME+ID+KEY (as 'kirokuctl witness init' printed it).
                        Without a witness, a hub that rewrote its own log could have made this bundle; to judge anyway, say --no-witness.

                        """.utf8))
                throw ExitCode(2)
            }
            guard let data = FileManager.default.contents(atPath: bundle) else {
                throw KirokuError(.configuration, "cannot read \(bundle)")
            }
            let parsed = try EvidenceBundle(bytes: Array(data))
            let pinned = try hubKey.map(Self.hubKey)
            let witnesses = try witness.map(Self.witnessKey)
            let verdict = EvidenceVerifier.verify(parsed, hubKeys: pinned, witnesses: witnesses, allowIncomplete: noCompleteness)
            for line in verdict.lines { print(line) }
            if !verdict.verified { throw ExitCode(1) }
        } catch let error as KirokuError {
            throw fail(error)
        }
    }

    static func hubKey(_ text: String) throws -> Curve25519.Signing.PublicKey {
        var value = text
        if let data = FileManager.default.contents(atPath: text) {
            value = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        }
        guard let raw = Data(base64Encoded: value), let key = try? Curve25519.Signing.PublicKey(rawRepresentation: raw) else {
            throw KirokuError(.configuration, "--hub-key must be the base64 of the hub's 32-byte Ed25519 key, or a file holding it")
        }
        return key
    }

    /// Reads a C2SP verifier key `NAME+KEYID+BASE64(0x04 ‖ key)` and checks its key ID.
    static func witnessKey(_ text: String) throws -> (name: String, key: Curve25519.Signing.PublicKey) {
        let parts = text.split(separator: "+", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3, let blob = Data(base64Encoded: String(parts[2])), blob.count == 33, blob.first == 0x04,
            let key = try? Curve25519.Signing.PublicKey(rawRepresentation: blob.dropFirst()),
            Hex.encode(SignedNote.keyID(name: String(parts[0]), type: 0x04, publicKey: key)) == parts[1]
        else {
            throw KirokuError(.configuration, "--witness must be a witness key NAME+KEYID+BASE64 as 'kirokuctl witness init' printed it")
        }
        return (String(parts[0]), key)
    }
}

/// `kirokuctl log`: the hub's key and checkpoints.
struct Log: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The hub's Merkle log: its signing key and its checkpoints.", subcommands: [Key.self, Show.self])

    struct Key: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print the hub's signing key (base64) and key id.")
        @OptionGroup var hubOptions: HubOptions

        func run() async throws {
            do {
                struct Answer: Decodable {
                    var key: String
                    var keyID: String
                    enum CodingKeys: String, CodingKey {
                        case key
                        case keyID = "key_id"
                    }
                }
                let connection = try hubOptions.connect()
                let answer: Answer
                do {
                    answer = try await connection.get(Answer.self, "/v1/hub/key")
                } catch {
                    await connection.shutdown()
                    throw error
                }
                await connection.shutdown()
                print("\(answer.key)  (key id \(answer.keyID))")
            } catch let error as KirokuError {
                throw fail(error)
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "checkpoint", abstract: "Print the newest published checkpoint (or the kept one of a size) with its cosignatures.")
        @OptionGroup var hubOptions: HubOptions
        @Flag(help: "Ask the hub to publish one now first (if the log grew).") var publish = false
        @Option(help: "The kept checkpoint of this tree size (every receipt's is kept).") var size: Int64?

        func run() async throws {
            do {
                let text = try await hubOptions.withQueries { queries in
                    publish ? try await queries.publishCheckpoint() : try await queries.checkpoint(size: size)
                }
                print(text, terminator: "")
            } catch let error as KirokuError {
                throw fail(error)
            }
        }
    }
}

/// `kirokuctl witness`: the 会議's independent witness.
struct WitnessCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "witness",
        abstract: "The 会議's witness: check that the hub's log only grows, and cosign its checkpoints.",
        subcommands: [Init.self, Run.self])

    struct Init: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a witness (its key and folder).")
        @Option(help: "The witness's folder (keep it off the hub's machines).") var dir: String
        @Option(help: "The witness's name, like kaigi.city.example.lg.jp/witness.") var name: String

        func run() throws {
            do {
                let witness = try Witness.create(directory: dir, name: name)
                print("witness \(name) created in \(dir)")
                print("its key (give it to whoever verifies evidence: kirokuctl verify --witness KEY):")
                print(witness.verifierKey)
            } catch let error as KirokuError {
                throw fail(error)
            }
        }
    }

    struct Run: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check the hub's newest checkpoint against the last one cosigned, and cosign it.",
            discussion: "Exit status 3 when the hub shows a history that does not extend the one cosigned (see DIR/alarms).")
        @OptionGroup var hubOptions: HubOptions
        @Option(help: "The witness's folder.") var dir: String
        @Option(help: "The hub's key (base64), pinned on the first run.") var hubKey: String?
        @Option(help: "Trust one more hub key (after the hub rotated its key; confirm it with the 管理者 first).")
        var addHubKey: String?
        @Option(help: "Keep running, a round every this many seconds.") var interval: Double?

        func run() async throws {
            do {
                let witness = try Witness.load(directory: dir)
                try await hubOptions.withQueries { queries in
                    while true {
                        let outcome = try await witness.round(
                            checkpoint: { try await queries.checkpoint() },
                            consistency: { try await queries.consistency(from: $0, to: $1) },
                            submit: { try await queries.submitCosignature($0) }, hubKey: hubKey, addHubKey: addHubKey,
                            notify: { print("note: \($0)") })
                        switch outcome {
                        case .cosigned(let tree, let previous):
                            print(
                                "cosigned \(tree.origin) size \(tree.size) root \(Hex.encode(tree.root).prefix(16))…"
                                    + (previous.map { " (consistent with size \($0))" } ?? " (first checkpoint seen)"))
                        case .unchanged(let tree):
                            print("unchanged: \(tree.origin) size \(tree.size)")
                        }
                        guard let interval else { break }
                        try await Task.sleep(for: .milliseconds(Int64(interval * 1000)))
                    }
                }
            } catch let error as KirokuError {
                if error.code == .inconsistentLog {
                    FileHandle.standardError.write(
                        Data("\n!!! kirokuctl witness: \(error.message)\n!!! NOT cosigned. Evidence kept in \(dir)/alarms. Tell the 会議 now.\n\n".utf8))
                    throw ExitCode(3)
                }
                throw fail(error)
            }
        }
    }
}

/// `kirokuctl holds`: legal holds for investigations (第21).
struct Holds: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Legal holds (第21): events they match are never purged while they stand.",
        subcommands: [List.self, Place.self, Lift.self])

    static func show(_ holds: [LegalHold]) -> String {
        Render.table(
            header: ["id", "subject", "actor", "agent", "from", "to", "reason", "placed by", "placed", "lifted"],
            rows: holds.map { hold in
                [
                    String(hold.id), hold.subject ?? "-", hold.actor ?? "-", hold.agent ?? "-", hold.from ?? "-", hold.to ?? "-",
                    hold.reason, hold.placedBy, hold.placedAt,
                    hold.liftedAt.map { "\($0) by \(hold.liftedBy ?? "?"): \(hold.liftReason ?? "")" } ?? "standing",
                ]
            }, rightAligned: [0])
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List holds, standing and lifted.")
        @OptionGroup var hubOptions: HubOptions
        func run() async throws {
            do {
                print(Holds.show(try await hubOptions.withQueries { try await $0.holds() }), terminator: "")
            } catch let error as KirokuError {
                throw fail(error)
            }
        }
    }

    struct Place: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Place a hold on every event matching all the given criteria (at least one).")
        @OptionGroup var hubOptions: HubOptions
        @Option(help: "Events about this subject.") var subject: String?
        @Option(help: "Events by this actor.") var actor: String?
        @Option(help: "Events from this agent.") var agent: String?
        @Option(help: "From this time (inclusive).") var from: String?
        @Option(help: "Up to this time (exclusive).") var to: String?
        @Option(help: "Why: the investigation and who asked for it (required).") var reason: String

        func run() async throws {
            do {
                var criteria: [String: String] = [:]
                if let subject { criteria["subject"] = subject }
                if let actor { criteria["actor"] = actor }
                if let agent { criteria["agent"] = agent }
                if let from { criteria["from"] = try Query.time(from, "--from") }
                if let to { criteria["to"] = try Query.time(to, "--to") }
                guard !criteria.isEmpty else {
                    throw KirokuError(.badQuery, "give at least one of --subject, --actor, --agent, --from, --to")
                }
                let hold = try await hubOptions.withQueries { try await $0.placeHold(criteria, reason: reason) }
                print("hold \(hold.id) placed")
                print(Holds.show([hold]), terminator: "")
            } catch let error as KirokuError {
                throw fail(error)
            }
        }
    }

    struct Lift: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Lift a hold (its events may then be purged).")
        @OptionGroup var hubOptions: HubOptions
        @Argument(help: "The hold's id.") var id: Int64
        @Option(help: "Why it is lifted (required).") var reason: String

        func run() async throws {
            do {
                let hold = try await hubOptions.withQueries { try await $0.liftHold(id: id, reason: reason) }
                print("hold \(hold.id) lifted")
            } catch let error as KirokuError {
                throw fail(error)
            }
        }
    }
}

/// `kirokuctl retention`: run or preview the purge.
struct Retention: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Retention: purge the content of events past their kind's period (the hub also does it daily).",
        subcommands: [Purge.self])

    struct Purge: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Purge now, or with --dry-run only count.")
        @OptionGroup var hubOptions: HubOptions
        @Flag(help: "Only count what would be purged.") var dryRun = false

        func run() async throws {
            do {
                let report = try await hubOptions.withQueries { try await $0.purge(dryRun: dryRun) }
                print(
                    Render.table(
                        header: ["kind", "policy", "cutoff", dryRun ? "would purge" : "purged", "held"],
                        rows: report.lines.map { [$0.kind, $0.policy, $0.cutoff, String($0.purged), String($0.held)] },
                        rightAligned: [3, 4]), terminator: "")
                let total = report.lines.reduce(0) { $0 + $1.purged }
                print(dryRun ? "\(total) event(s) would be purged (dry run: nothing changed)" : "\(total) event(s) purged; the purge is recorded in the log")
            } catch let error as KirokuError {
                throw fail(error)
            }
        }
    }
}

/// `kirokuctl findings`: breaches of the standard the rules found.
struct Findings: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Findings: where the record shows the standard was not met, with the article and the evidence.",
        subcommands: [List.self, Acknowledge.self, Resolve.self, Rejudge.self], defaultSubcommand: List.self)

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List findings (open ones by default).")
        @OptionGroup var hubOptions: HubOptions
        @Option(help: "open, acknowledged, resolved or all.") var status = "open"
        @Option(help: "Only this rule.") var rule: String?
        @Flag(help: "Print JSON instead of a table.") var json = false

        func run() async throws {
            do {
                let found = try await hubOptions.withQueries {
                    try await $0.findings(status: status == "all" ? nil : status, rule: rule)
                }
                if json {
                    let encoder = JSONEncoder()
                    encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
                    print(String(decoding: try encoder.encode(found), as: UTF8.self))
                    return
                }
                print(
                    Render.table(
                        header: ["id", "article", "severity", "rule", "first(JST)", "last(JST)", "n", "status", "finding"],
                        rows: found.map {
                            [
                                String($0.id), $0.article, $0.severity, $0.rule, Render.jst($0.firstSeen), Render.jst($0.lastSeen),
                                String($0.count), $0.status, $0.summary,
                            ]
                        }, rightAligned: [0, 6]), terminator: "")
                print("\(found.count) finding(s)")
            } catch let error as KirokuError {
                throw fail(error)
            }
        }
    }

    struct Acknowledge: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "ack", abstract: "Acknowledge a finding (seen, being dealt with), saying why.")
        @OptionGroup var hubOptions: HubOptions
        @Argument(help: "The finding's id.") var id: Int64
        @Option(help: "Why (required; recorded with your name).") var reason: String

        func run() async throws {
            do {
                let finding = try await hubOptions.withQueries { try await $0.act(onFinding: id, "acknowledge", reason: reason) }
                print("finding \(finding.id) acknowledged")
            } catch let error as KirokuError {
                throw fail(error)
            }
        }
    }

    struct Resolve: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Resolve a finding, saying how.")
        @OptionGroup var hubOptions: HubOptions
        @Argument(help: "The finding's id.") var id: Int64
        @Option(help: "How it was resolved (required; recorded with your name).") var reason: String

        func run() async throws {
            do {
                let finding = try await hubOptions.withQueries { try await $0.act(onFinding: id, "resolve", reason: reason) }
                print("finding \(finding.id) resolved")
            } catch let error as KirokuError {
                throw fail(error)
            }
        }
    }
}

extension Findings {
    /// `kirokuctl findings rejudge`: after a register was loaded or corrected, judge past days again.
    struct Rejudge: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Judge past days again against the registers as they now stand (after loading or correcting one).",
            discussion: """
                Each day is one request: the register rules (permits, cards, 住基カード, devices, programs,
                maintenance) over all that day's events, counts replaced, findings the registers no longer
                support resolved; each day is recorded as record/rules_rejudged with your name.
                Example: kirokuctl findings rejudge --from 2026-11-01 --to 2026-11-27
                """)
        @OptionGroup var hubOptions: HubOptions
        @Option(help: "First day, YYYY-MM-DD (JST).") var from: String
        @Option(help: "Last day, YYYY-MM-DD (default: the first).") var to: String?

        func run() async throws {
            do {
                let days = try Self.days(from: from, to: to ?? from)
                var found = 0
                var resolved = 0
                try await hubOptions.withQueries { queries in
                    for (index, day) in days.enumerated() {
                        let answer = try await queries.rejudge(day: day)
                        guard case .integer(let f)? = answer["found"], case .integer(let r)? = answer["resolved"] else {
                            throw KirokuError(.hubUnavailable, "the hub's answer for \(day) could not be read")
                        }
                        found += Int(f)
                        resolved += Int(r)
                        print("\(day)  (\(index + 1)/\(days.count))  \(f) finding(s)  \(r) resolved")
                    }
                }
                print("\(days.count) day(s) judged again: \(found) finding(s) stand, \(resolved) resolved")
            } catch let error as KirokuError {
                throw fail(error)
            }
        }

        /// The days from `from` to `to`, inclusive; at most 400.
        static func days(from: String, to: String) throws(KirokuError) -> [String] {
            guard let first = Timestamp(rfc3339: "\(from)T00:00:00.000+09:00"), from.count == 10 else {
                throw KirokuError(.badQuery, "--from must be YYYY-MM-DD, got '\(from)'")
            }
            guard let last = Timestamp(rfc3339: "\(to)T00:00:00.000+09:00"), to.count == 10 else {
                throw KirokuError(.badQuery, "--to must be YYYY-MM-DD, got '\(to)'")
            }
            let count = (last.epochMilliseconds - first.epochMilliseconds) / 86_400_000 + 1
            guard count >= 1 else { throw KirokuError(.badQuery, "--to comes before --from") }
            guard count <= 400 else { throw KirokuError(.badQuery, "at most 400 days at a time (\(count) asked)") }
            return (0..<count).map {
                String(
                    Timestamp(epochMilliseconds: first.epochMilliseconds + $0 * 86_400_000, offsetMinutes: Timestamp.jstOffsetMinutes)
                        .rfc3339.prefix(10))
            }
        }
    }
}

/// `kirokuctl registers`: the paper ledgers as data, in and out as CSV.
struct Registers: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Registers (permits: 入退室許可; cards: 操作識別カード; devices, programs: 構成管理簿; maintenance: 作業指示書; people: 職員と役割; stock: 住基カード; calendar: 業務カレンダー), in and out as CSV.",
        subcommands: [Import.self, Export.self])

    struct Import: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "import",
            abstract: "Replace a register with a CSV (headers: permits permit_id,person,room,valid_from,valid_to; cards card_id,holder,state,since; devices device_id,agent,vendor,product,serial; programs program_id,agent,subject,sha256,version; maintenance instruction_id,contractor,subject,valid_from,valid_to; people person_id,name,role,left; stock card_no,state,since,location; calendar date,type,name).")
        @OptionGroup var hubOptions: HubOptions
        @Argument(help: "permits, cards, devices, programs, maintenance, people, stock or calendar.") var register: String
        @Argument(help: "The CSV file (UTF-8, from Excel's 'CSV UTF-8').") var file: String

        func run() async throws {
            do {
                guard let data = FileManager.default.contents(atPath: file) else {
                    throw KirokuError(.configuration, "cannot read \(file)")
                }
                let result = try await hubOptions.withQueries { try await $0.importRegister(register, csv: Array(data)) }
                print("\(register): \(result["added"] ?? 0) added, \(result["changed"] ?? 0) changed, \(result["removed"] ?? 0) removed")
            } catch let error as KirokuError {
                throw fail(error)
            }
        }
    }

    struct Export: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "export", abstract: "Print a register as CSV for Excel.")
        @OptionGroup var hubOptions: HubOptions
        @Argument(help: "permits, cards, devices, programs, maintenance, people, stock or calendar.") var register: String

        func run() async throws {
            do {
                let bytes = try await hubOptions.withQueries { try await $0.exportRegister(register) }
                FileHandle.standardOutput.write(Data(bytes))
            } catch let error as KirokuError {
                throw fail(error)
            }
        }
    }
}
