import ArgumentParser
import Crypto
import Foundation
import KirokuClient
import KirokuControl
import KirokuPKI
import KirokuProtocol

/// `kirokuctl export --evidence`: events with their proofs, for anyone to verify offline.
struct Export: KirokuCommand {
    static let configuration = CommandConfiguration(
        abstract: localized(
            "記録を証拠バンドルとして書き出す：各記録の包含証明と署名付きチェックポイント。",
            en: "Export events as an evidence bundle: each event's inclusion proof and the signed checkpoint."),
        discussion: localized(
            """
            バンドルは、立会人が連署した最新のチェックポイント（--checkpoint cosigned、既定。連署がなければ新しく作る）、\
            新しいチェックポイント（newest）、または指定したサイズの公開済みチェックポイントで証明される。\
            そのチェックポイントより後に受け付けた記録は含めず、件数を示す。'kirokuctl verify' で検証する。
            """,
            en: """
                The bundle is proven in the newest checkpoint a witness cosigned (--checkpoint cosigned, the default; \
                a fresh one if none was), in a fresh one (newest), or in the published checkpoint of a given size. \
                Events accepted after that checkpoint are left out and counted. Check it with 'kirokuctl verify'.
                """))
    @OptionGroup var hubOptions: HubOptions
    @Option(help: .localized("証拠バンドルをここに書く。", en: "Write the evidence bundle here.")) var evidence: String
    @Option(
        help: .localized("cosigned（連署済み）、newest（最新）、または公開された木のサイズ。", en: "cosigned, newest, or a published tree size."))
    var checkpoint = "cosigned"
    @Option(
        help: .localized(
            "ハブが署名付き証明書を付ける1ページの件数（1〜10000）。", en: "Events per page the hub signs a statement for (1 to 10000)."))
    var pageSize = EventQuery.maxLimit
    @OptionGroup var filter: EventFilter

    func execute() async throws {
        guard (1...EventQuery.maxLimit).contains(pageSize) else {
            throw KirokuError(.badQuery, "--page-size must be 1 to \(EventQuery.maxLimit)")
        }
        var parameters = try filter.query(limit: pageSize).parameters
        if checkpoint != "newest" { parameters["checkpoint"] = checkpoint }
        try await hubOptions.withQueries { queries in try await Self.write(parameters, to: evidence, queries) }
    }

    /// Fetches every page of `/v1/evidence` for `parameters`, all proven in one checkpoint, and writes the
    /// bundle to `path`; says how many events came after that checkpoint. (Also `kirokuctl report --evidence`.)
    static func write(_ parameters: [String: String], to path: String, _ queries: HubQueries) async throws {
        var parameters = parameters
        var bundle: EvidenceBundle?
        var omitted: Int64 = 0
        while true {
            let bytes: [UInt8]
            do {
                bytes = try await queries.evidence(parameters)
            } catch let error as KirokuError
                where error.code == .notFound && parameters["checkpoint"] == "cosigned" && bundle == nil
            {
                // No witness has cosigned yet: proven in a fresh checkpoint instead, and said so.
                FileHandle.standardError.write(
                    Data(
                        "kirokuctl: no checkpoint is cosigned by a witness yet; the events are proven in a fresh checkpoint of the hub\n"
                            .utf8))
                parameters["checkpoint"] = nil
                continue
            }
            let page = try EvidenceBundle(bytes: bytes)
            omitted += page.omittedAfterCheckpoint
            if var merged = bundle {
                merged.events += page.events
                merged.statements += page.statements
                merged.links += page.links
                bundle = merged
            } else {
                bundle = page
                bundle?.next = nil
                bundle?.omittedAfterCheckpoint = 0
                // Every later page is proven in the same checkpoint.
                let tree = try Checkpoint(body: try SignedNote(text: page.checkpoint).body)
                parameters["checkpoint"] = String(tree.size)
            }
            FileHandle.standardError.write(
                Data(
                    "kirokuctl: \(localized("これまでに \(bundle!.events.count) 件", en: "\(bundle!.events.count) event(s) so far"))\n"
                        .utf8))
            guard let next = page.next else { break }
            parameters["cursor"] = next
        }
        guard var bundle else { return }
        bundle.query = parameters.filter { $0.key != "cursor" && $0.key != "checkpoint" && $0.key != "limit" }
        try Data(bundle.bytes).write(to: URL(filePath: path), options: .atomic)
        let tree = try Checkpoint(body: try SignedNote(text: bundle.checkpoint).body)
        print(
            localized(
                "\(path) に書きました：\(bundle.events.count) 件、チェックポイント \(tree.origin) サイズ \(tree.size) で証明",
                en:
                    "wrote \(path): \(bundle.events.count) event(s) proven in checkpoint \(tree.origin) size \(tree.size)"
            ))
        if omitted > 0 {
            print(
                localized(
                    "該当する \(omitted) 件はそのチェックポイントより後なのでバンドルに入っていません。立会人を実行してから書き出し直すと入ります",
                    en:
                        "\(omitted) matching event(s) came after that checkpoint and are not in the bundle; run the witness and export again to include them"
                ))
        }
    }
}

/// `kirokuctl verify`: checks an evidence bundle offline.
struct Verify: KirokuCommand {
    static let configuration = CommandConfiguration(
        abstract: localized(
            "証拠バンドルをオフラインで検証する：記録のハッシュ、包含証明、ハブの署名、立会人。",
            en: "Verify an evidence bundle offline: event hashes, inclusion proofs, the hub's signature, witnesses."),
        discussion: localized(
            "検証できれば終了状態 0、できなければ 1。ネットワークは使わない。", en: "Exit status 0 when verified, 1 when not. No network is used."))
    @Argument(
        help: .localized(
            "証拠バンドル（'kirokuctl export --evidence' で作ったもの）。",
            en: "The evidence bundle (from 'kirokuctl export --evidence').")) var bundle: String
    @Option(
        help: .localized(
            "ハブの鍵（'kirokuctl log key' が表示する base64）またはそれを書いたファイル。以前の鍵の分も繰り返し指定する。",
            en:
                "The hub's key, base64 (as 'kirokuctl log key' shows it), or a file holding it; repeat it for the keys of earlier rotations."
        ))
    var hubKey: [String] = []
    @Option(
        help: .localized(
            "連署していなければならない立会人：'kirokuctl witness init' が表示した鍵 NAME+ID+BASE64（複数指定可）。",
            en:
                "A witness that must have cosigned: its key NAME+ID+BASE64 as 'kirokuctl witness init' printed it (repeatable)."
        ))
    var witness: [String] = []
    @Flag(
        help: .localized("立会人なしで判定する。判定にその旨が書かれる。", en: "Judge without any witness; the verdict then says so in words.")
    ) var noWitness = false
    @Flag(
        help: .localized(
            "ハブの署名付き証明書のない（それ以前に作られた）バンドルも受け付ける。判定にその旨が書かれる。",
            en: "Accept a bundle without the hub's signed statements (made before them); the verdict says so."))
    var noCompleteness = false

    func execute() async throws {
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
        let verdict = EvidenceVerifier.verify(
            parsed, hubKeys: pinned, witnesses: witnesses, allowIncomplete: noCompleteness)
        for line in verdict.lines { print(line) }
        if !verdict.verified { throw ExitCode(1) }
    }

    static func hubKey(_ text: String) throws -> Curve25519.Signing.PublicKey {
        var value = text
        if let data = FileManager.default.contents(atPath: text) {
            value = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        }
        guard let raw = Data(base64Encoded: value), let key = try? Curve25519.Signing.PublicKey(rawRepresentation: raw)
        else {
            throw KirokuError(
                .configuration, "--hub-key must be the base64 of the hub's 32-byte Ed25519 key, or a file holding it")
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
            throw KirokuError(
                .configuration,
                "--witness must be a witness key NAME+KEYID+BASE64 as 'kirokuctl witness init' printed it")
        }
        return (String(parts[0]), key)
    }
}

/// `kirokuctl log`: the hub's key and checkpoints.
struct Log: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: localized(
            "ハブのマークルログ：署名鍵とチェックポイント。", en: "The hub's Merkle log: its signing key and its checkpoints."),
        subcommands: [Key.self, Show.self])

    struct Key: KirokuCommand {
        static let configuration = CommandConfiguration(
            abstract: localized("ハブの署名鍵（base64）と鍵IDを表示する。", en: "Print the hub's signing key (base64) and key id."))
        @OptionGroup var hubOptions: HubOptions

        func execute() async throws {
            let answer = try await hubOptions.withQueries { try await $0.hubKey() }
            print("\(answer.key)  (\(localized("鍵ID", en: "key id")) \(answer.keyID))")
        }
    }

    struct Show: KirokuCommand {
        static let configuration = CommandConfiguration(
            commandName: "checkpoint",
            abstract: localized(
                "公開された最新のチェックポイント（またはそのサイズの保存分）を連署とともに表示する。",
                en: "Print the newest published checkpoint (or the kept one of a size) with its cosignatures."))
        @OptionGroup var hubOptions: HubOptions
        @Flag(
            help: .localized("先にハブに今すぐ公開させる（ログが伸びていれば）。", en: "Ask the hub to publish one now first (if the log grew).")
        ) var publish = false
        @Option(
            help: .localized(
                "この木のサイズで保存されたチェックポイント（受領証ごとに保存されている）。",
                en: "The kept checkpoint of this tree size (every receipt's is kept).")) var size: Int64?

        func execute() async throws {
            let text = try await hubOptions.withQueries { queries in
                publish ? try await queries.publishCheckpoint() : try await queries.checkpoint(size: size)
            }
            print(text, terminator: "")
        }
    }
}

/// `kirokuctl witness`: the 会議's independent witness.
struct WitnessCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "witness",
        abstract: localized(
            "会議の立会人：ハブのログが追記のみであることを確かめ、チェックポイントに連署する。",
            en: "The 会議's witness: check that the hub's log only grows, and cosign its checkpoints."),
        subcommands: [Init.self, Run.self])

    struct Init: KirokuCommand {
        static let configuration = CommandConfiguration(
            abstract: localized("立会人を作る（鍵とフォルダ）。", en: "Create a witness (its key and folder)."))
        @Option(
            help: .localized("立会人のフォルダ（ハブのマシンには置かない）。", en: "The witness's folder (keep it off the hub's machines)."))
        var dir: String
        @Option(
            help: .localized(
                "立会人の名前（例：kaigi.city.example.lg.jp/witness）。",
                en: "The witness's name, like kaigi.city.example.lg.jp/witness.")) var name: String

        func execute() async throws {
            let witness = try Witness.create(directory: dir, name: name)
            print(localized("立会人 \(name) を \(dir) に作りました", en: "witness \(name) created in \(dir)"))
            print(
                localized(
                    "その鍵（証拠を検証する人に渡す：kirokuctl verify --witness 鍵）：",
                    en: "its key (give it to whoever verifies evidence: kirokuctl verify --witness KEY):"))
            print(witness.verifierKey)
        }
    }

    struct Run: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: localized(
                "ハブの最新チェックポイントを前回連署したものと照合し、連署する。",
                en: "Check the hub's newest checkpoint against the last one cosigned, and cosign it."),
            discussion: localized(
                "連署した履歴を延長しない履歴をハブが示したときは終了状態 3（DIR/alarms を見よ）。",
                en: "Exit status 3 when the hub shows a history that does not extend the one cosigned (see DIR/alarms)."
            ))
        @OptionGroup var hubOptions: HubOptions
        @Option(help: .localized("立会人のフォルダ。", en: "The witness's folder.")) var dir: String
        @Option(help: .localized("ハブの鍵（base64）。初回に固定される。", en: "The hub's key (base64), pinned on the first run."))
        var hubKey: String?
        @Option(
            help: .localized(
                "ハブの鍵をもう1つ信頼する（ハブが鍵を更新した後。先に管理者に確認すること）。",
                en: "Trust one more hub key (after the hub rotated its key; confirm it with the 管理者 first)."))
        var addHubKey: String?
        @Option(help: .localized("この秒数ごとに繰り返し実行し続ける。", en: "Keep running, a round every this many seconds."))
        var interval: Double?

        func run() async throws {
            do {
                let witness = try Witness.load(directory: dir)
                try await hubOptions.withQueries { queries in
                    while true {
                        let outcome = try await witness.round(
                            checkpoint: { try await queries.checkpoint() },
                            consistency: { try await queries.consistency(from: $0, to: $1) },
                            submit: { try await queries.submitCosignature($0) }, hubKey: hubKey, addHubKey: addHubKey,
                            notify: { print(localized("注意：", en: "note: ") + $0) })
                        switch outcome {
                        case .cosigned(let tree, let previous):
                            let root = Hex.encode(tree.root).prefix(16)
                            let since =
                                previous.map { localized("（サイズ \($0) と整合）", en: " (consistent with size \($0))") }
                                ?? localized("（初めて見るチェックポイント）", en: " (first checkpoint seen)")
                            print(
                                localized(
                                    "連署しました：\(tree.origin) サイズ \(tree.size) ルート \(root)…",
                                    en: "cosigned \(tree.origin) size \(tree.size) root \(root)…")
                                    + since)
                        case .unchanged(let tree):
                            print(
                                localized(
                                    "変化なし：\(tree.origin) サイズ \(tree.size)",
                                    en: "unchanged: \(tree.origin) size \(tree.size)"))
                        }
                        guard let interval else { break }
                        try await Task.sleep(for: .milliseconds(Int64(interval * 1000)))
                    }
                }
            } catch let error as KirokuError {
                if error.code == .inconsistentLog {
                    FileHandle.standardError.write(
                        Data(
                            """

                            !!! kirokuctl witness: \(error.message)
                            !!! \(localized("NOT cosigned（連署していません）。証拠は \(dir)/alarms に保存しました。すぐに会議に知らせてください。", en: "NOT cosigned. Evidence kept in \(dir)/alarms. Tell the 会議 now."))


                            """.utf8))
                    throw ExitCode(3)
                }
                throw fail(error)
            }
        }
    }
}
