import ArgumentParser
import Crypto
import Foundation
import Hummingbird
import KirokuHub
import KirokuProtocol
import Logging
import NIOCore

/// `kiroku-hub`: the central hub. Only wiring lives here; see `KirokuHub.HubApp`.
@main
struct KirokuHubCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kiroku-hub",
        abstract: localized(
            "記録（Kiroku）ハブ：相互認証TLSでエージェントの記録を受け取り、統合された記録にする。",
            en: "Kiroku hub: takes agents' batches over mutual TLS into the consolidated record."),
        subcommands: [Run.self, Init.self, Keygen.self], defaultSubcommand: Run.self)

    /// `--lang ja|en` anywhere on the line (``Language/takeFlag(from:)``); otherwise `KIROKU_LANG` or `LANG`.
    static func main() async { await Self.main(Language.commandLine(program: "kiroku-hub")) }

    /// Makes a new signing key for a rotation (Hub/README.md: rotating the hub's key).
    struct Keygen: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: localized(
                "鍵の更新のために新しい Ed25519 署名鍵（モード 0600）を作り、公開鍵を表示する。",
                en: "Create a new Ed25519 signing key (mode 0600) for a key rotation, and print its public half."))
        @Option(help: .localized("新しい鍵を書く場所（まだ存在しないこと）。", en: "Where to write the new key; must not exist.")) var out:
            String

        func run() throws {
            // The key's folder, if made here, is the hub's alone too.
            umask(0o077)
            do {
                guard !FileManager.default.fileExists(atPath: out) else {
                    throw KirokuError(.configuration, "\(out) exists; a new key goes to a new file")
                }
                let key = try HubApp.loadOrCreateSigningKey(path: out)
                print(
                    "\(key.publicKey.rawRepresentation.base64EncodedString())  (\(localized("鍵ID", en: "key id")) \(signingKeyID(key.publicKey)))"
                )
            } catch let error as KirokuError {
                throw refuse(error)
            }
        }
    }

    struct Run: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: localized("SIGTERM か SIGINT までハブを動かす。", en: "Run the hub until SIGTERM or SIGINT."))

        @OptionGroup var options: HubOptions
        @Flag(
            help: .localized(
                "記録がなければ新しい空の記録を始める（初回の起動だけ。kiroku-hub init と同じ）。",
                en: "Begin a new, empty record if there is none (the first start only; as kiroku-hub init does)."))
        var newRecord = false

        func run() async throws {
            // Whatever the hub creates (the record, its WAL, keys, folders) is its own alone.
            umask(0o077)
            do {
                var configuration = try options.configuration()
                configuration.newRecord = newRecord
                var logger = Logger(label: "kiroku.hub")
                logger.logLevel = options.level(default: .info)
                let app = try await HubApp.build(configuration: configuration, logger: logger)
                do {
                    try await app.runService()
                } catch let error as IOError where error.errnoCode == EADDRINUSE {
                    throw KirokuError(
                        .configuration,
                        "port \(configuration.port) on \(configuration.host) is in use (another kiroku-hub running?); stop it or choose another port"
                    )
                } catch let error as IOError where error.errnoCode == EACCES {
                    throw KirokuError(
                        .configuration,
                        "may not listen on port \(configuration.port): ports below 1024 need root or CAP_NET_BIND_SERVICE"
                    )
                }
            } catch let error as KirokuError {
                throw refuse(error)
            }
        }
    }

    /// The hub's first start (Hub/README.md, step 4): the empty record and the signing key, without the server.
    struct Init: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: localized(
                "初回だけ：新しい空の記録とハブの署名鍵を作り、公開鍵を表示する（記録がすでにあれば何も変えない）。",
                en:
                    "First start only: create the new, empty record and the hub's signing key, and print its public half (changes nothing if a record is there)."
            ))

        @OptionGroup var options: HubOptions

        func run() async throws {
            umask(0o077)
            do {
                var configuration = try options.configuration()
                configuration.newRecord = true
                var logger = Logger(label: "kiroku.hub")
                logger.logLevel = options.level(default: .warning)
                let made = try await HubApp.initialize(configuration: configuration, logger: logger)
                let key = made.key.rawRepresentation.base64EncodedString()
                print(
                    localized(
                        "新しい空の記録を作りました：\(made.location)\nハブの署名鍵（公開鍵）：\(key)  （鍵ID \(signingKeyID(made.key))）\nこの公開鍵を紙で会議に渡してください。次に kiroku-hub run（systemctl enable --now kiroku-hub）でハブを動かします。",
                        en:
                            "A new, empty record was created: \(made.location)\nThe hub's signing key (public): \(key)  (key id \(signingKeyID(made.key)))\nGive this public key to the 会議 on paper. Then run the hub: kiroku-hub run (systemctl enable --now kiroku-hub)."
                    ))
            } catch let error as KirokuError {
                throw refuse(error)
            }
        }
    }
}

/// The hub's settings, the same for `run` and `init`: a configuration file or options, the environment's
/// `KIROKU_HUB_*` over the file, and options over both.
struct HubOptions: ParsableArguments {
    @Option(
        help: .localized(
            "JSON の設定ファイル（Hub/hub.example.json を参照）。", en: "JSON configuration file (see Hub/hub.example.json)."))
    var config: String?
    @Option(help: .localized("待ち受けるアドレス。", en: "Address to listen on.")) var host: String?
    @Option(help: .localized("TCP ポート（0 なら空いているものを選ぶ）。", en: "TCP port (0 picks a free one).")) var port: Int?
    @Option(help: .localized("記録の SQLite データベース。", en: "SQLite database of the record.")) var database: String?
    @Option(help: .localized("市の CA 証明書（PEM）。", en: "The municipality's CA certificate (PEM).")) var ca: String?
    @Option(help: .localized("ハブの TLS 証明書（PEM）。", en: "The hub's TLS certificate (PEM).")) var cert: String?
    @Option(help: .localized("ハブの TLS 秘密鍵（PEM）。", en: "The hub's TLS private key (PEM).")) var key: String?
    @Option(help: .localized("CA の revoked.txt。変わると読み直す。", en: "The CA's revoked.txt, re-read when it changes."))
    var revocationList: String?
    @Option(help: .localized("待ち受けを始めたらポート番号をこのファイルに書く。", en: "Write the bound port to this file once listening."))
    var portFile: String?
    @Option(help: .localized("1回の送信で受け取る最大件数。", en: "Most events in one batch.")) var maxBatchEvents: Int?
    @Option(
        help: .localized(
            "記録が届いている間にチェックポイントを公開する間隔（秒）。", en: "Seconds between published checkpoints while events arrive."))
    var checkpointSeconds: Double?
    @Option(help: .localized("1回の送信で受け取る最大バイト数（展開後）。", en: "Most bytes in one batch after decompression."))
    var maxBatchBytes: Int?
    @Option(help: .localized("ハブの Ed25519 署名鍵（なければ作る）。", en: "The hub's Ed25519 signing key (created if absent)."))
    var signingKey: String?
    @Option(
        help: .localized(
            "鍵の更新中、チェックポイントに引き続き連署する以前の署名鍵（複数指定可）。",
            en: "A previous signing key that still co-signs checkpoints during a rotation (repeatable)."))
    var overlapSigningKey: [String] = []
    @Option(
        help: .localized(
            "ログの詳しさ：trace、debug、info、notice、warning、error。",
            en: "Log level: trace, debug, info, notice, warning, error.")) var logLevel: String?

    /// The configuration these settings give (`validate()` is the hub's first step).
    func configuration() throws -> HubConfiguration {
        let environment = ProcessInfo.processInfo.environment
        var configuration: HubConfiguration
        if let file = config ?? environment["KIROKU_HUB_CONFIG"] {
            configuration = try HubConfiguration.load(file: file)
        } else {
            guard let ca = ca ?? environment["KIROKU_HUB_CA"],
                let cert = cert ?? environment["KIROKU_HUB_CERT"],
                let key = key ?? environment["KIROKU_HUB_KEY"]
            else {
                throw KirokuError(.configuration, "give --config FILE, or --ca, --cert and --key")
            }
            configuration = HubConfiguration(ca: ca, certificate: cert, privateKey: key)
        }
        if let value = environment["KIROKU_HUB_DATABASE"] { configuration.database = value }
        let storeVariables = ["SCOPE", "MUNICIPALITY", "COSIGNERS", "READERS", "PASSWORD"].map {
            "KIROKU_HUB_STORE_\($0)"
        }
        if environment["KIROKU_HUB_STORE"] == nil, configuration.store == nil,
            let stray = storeVariables.first(where: { environment[$0] != nil })
        {
            throw KirokuError(
                .configuration,
                "\(stray) is set but KIROKU_HUB_STORE is not: say where the record is (postgres://…), or unset it"
            )
        }
        if let value = environment["KIROKU_HUB_STORE"] ?? configuration.store?.postgres {
            // Over the file's store block, keeping what the environment does not say (and the
            // KIROKU_HUB_STORE_* variables count beside a file's store block too, not only beside
            // KIROKU_HUB_STORE).
            let file = configuration.store
            func list(_ name: String) -> [String]? {
                environment[name].map {
                    $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter {
                        !$0.isEmpty
                    }
                }
            }
            configuration.store = try StoreSettings(
                url: value, scope: environment["KIROKU_HUB_STORE_SCOPE"] ?? file?.scope,
                municipality: environment["KIROKU_HUB_STORE_MUNICIPALITY"] ?? file?.municipality,
                cosigners: list("KIROKU_HUB_STORE_COSIGNERS") ?? file?.cosigners ?? [],
                readers: list("KIROKU_HUB_STORE_READERS") ?? file?.readers ?? [],
                what: environment["KIROKU_HUB_STORE"] != nil ? "KIROKU_HUB_STORE" : "store.postgres")
        }
        if let value = environment["KIROKU_HUB_PORT"].flatMap(Int.init) { configuration.port = value }
        if let host { configuration.host = host }
        if let port { configuration.port = port }
        if let database { configuration.database = database }
        if let ca { configuration.ca = ca }
        if let cert { configuration.certificate = cert }
        if let key { configuration.privateKey = key }
        if let revocationList { configuration.revocationList = revocationList }
        if let portFile { configuration.portFile = portFile }
        if let maxBatchEvents { configuration.maxBatchEvents = maxBatchEvents }
        if let checkpointSeconds { configuration.checkpointSeconds = checkpointSeconds }
        if let maxBatchBytes { configuration.maxBatchBytes = maxBatchBytes }
        if let signingKey { configuration.signingKey = signingKey }
        if !overlapSigningKey.isEmpty { configuration.overlapSigningKeys = overlapSigningKey }
        return configuration
    }

    /// `--log-level`, else `LOG_LEVEL`, else `fallback`.
    func level(default fallback: Logger.Level) -> Logger.Level {
        Logger.Level(rawValue: logLevel ?? ProcessInfo.processInfo.environment["LOG_LEVEL"] ?? "") ?? fallback
    }
}

/// A refusal on standard error: the meaning of its code in Japanese (unless English was asked for), then the
/// detail; exit status 2, which the systemd unit does not restart (a setting to correct), or 75 (EX_TEMPFAIL)
/// when the record's database could not be reached, which it does.
func refuse(_ error: KirokuError) -> ExitCode {
    let head = Language.prefersJapanese ? "kiroku-hub: \(error.code.japanese) [\(error.code.rawValue)]\n" : ""
    FileHandle.standardError.write(Data("\(head)kiroku-hub: \(error)\n".utf8))
    return ExitCode(error.code == .storeUnavailable ? 75 : 2)
}
