public import ArgumentParser
import Foundation
import KirokuClient
import KirokuControl
import KirokuPKI
import KirokuProtocol

/// `kirokuctl`: the people's CLI (PKI, query, agent health). Only wiring lives here.
@main
struct KirokuCTL: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kirokuctl",
        abstract: localized(
            "記録（Kiroku）の操作：証明書、統合された記録、端末の状態、証拠、立会人。",
            en: "Kiroku for people: certificates, the consolidated record, agent health, evidence and the witness."),
        discussion: localized(
            "既定は日本語（説明、見出し、件数、エラーの意味）。英語は --lang en または KIROKU_LANG=en。終了状態：0 成功、1 検証できない、2 拒否・失敗、3 立会人の警報、64 使い方・設定・入力の誤り。",
            en:
                "Japanese by default (help, headers, counts, the meaning of each error); --lang en, or KIROKU_LANG=en, for English. Exit status: 0 done, 1 not verified, 2 refused or failed, 3 a witness alarm, 64 usage, configuration or input."
        ),
        subcommands: [
            PKI.self, Query.self, Agents.self, Export.self, Verify.self, Log.self, WitnessCommand.self, Holds.self,
            Retention.self, Findings.self, Registers.self, Contractor.self, Shutdowns.self, Manuals.self, Review.self,
            Report.self, WhoAmI.self,
        ])

    /// `--lang ja|en` anywhere on the line: taken out before the subcommands see it, and kept as
    /// `KIROKU_LANG` for everything that prints.
    static func main() async { await Self.main(Language.commandLine(program: "kirokuctl")) }
}

/// Every kirokuctl command: ``execute()`` does the work and throws what went wrong; ``run()`` turns a
/// ``KirokuError`` into one line on standard error and an exit code (64 for a usage or configuration error, 2
/// for anything the hub or the files refused), the same for every command.
protocol KirokuCommand: AsyncParsableCommand {
    func execute() async throws
}

extension KirokuCommand {
    func run() async throws {
        do {
            try await execute()
        } catch let error as KirokuError {
            throw fail(error)
        }
    }
}

/// Japanese unless `--lang en`, `KIROKU_LANG`, `LC_ALL` or `LANG` (in that order) says English.
var prefersJapanese: Bool { Render.prefersJapanese }

/// One text a person reads, in both languages (``Language``).
func localized(_ japanese: String, en english: String) -> String { Language.localized(japanese, en: english) }

extension ArgumentHelp {
    /// An option's help in both languages.
    static func localized(_ japanese: String, en english: String) -> ArgumentHelp {
        ArgumentHelp(Language.localized(japanese, en: english))
    }
}

/// One refusal on standard error: what it means in Japanese with its stable code, then the detail; English
/// only when `KIROKU_LANG=en`, or `LC_ALL`/`LANG` is English (`en_US.UTF-8`).
func fail(_ error: KirokuError) -> ExitCode {
    let head = prefersJapanese ? "kirokuctl: \(error.code.japanese) [\(error.code.rawValue)]\n" : ""
    FileHandle.standardError.write(Data("\(head)kirokuctl: \(error)\n".utf8))
    return ExitCode(error.code == .badQuery || error.code == .configuration ? 64 : 2)
}

/// How a person reaches the hub: flags, or `KIROKU_HUB`, `KIROKU_CA`, `KIROKU_CERT`, `KIROKU_KEY`, or a
/// PKI folder plus a person id (`--pki --as`, or `KIROKU_PKI`, `KIROKU_AS`), so that the README's commands
/// run as written once three variables are set.
struct HubOptions: ParsableArguments {
    @Option(
        help: .localized("ハブのURL、https://NAME:PORT（または KIROKU_HUB）。", en: "Hub URL, https://NAME:PORT (or KIROKU_HUB).")
    ) var hub: String?
    @Option(help: .localized("CA証明書（または KIROKU_CA）。", en: "CA certificate (or KIROKU_CA).")) var ca: String?
    @Option(help: .localized("あなたの職員証明書（または KIROKU_CERT）。", en: "Your person certificate (or KIROKU_CERT).")) var cert:
        String?
    @Option(help: .localized("あなたの秘密鍵（または KIROKU_KEY）。", en: "Your private key (or KIROKU_KEY).")) var key: String?
    @Option(
        help: .localized(
            "PKIフォルダ。--as と合わせて DIR/ca.crt と DIR/people/ID.crt/.key を使う（または KIROKU_PKI）。",
            en: "A PKI folder: use DIR/ca.crt and DIR/people/ID.crt/.key with --as (or KIROKU_PKI).")) var pki: String?
    @Option(
        name: .customLong("as"),
        help: .localized("--pki の中のあなたの職員ID（または KIROKU_AS）。", en: "Your person id in --pki (or KIROKU_AS)."))
    var person: String?

    func connect() throws -> HubConnection {
        let environment = ProcessInfo.processInfo.environment
        guard let url = hub ?? environment["KIROKU_HUB"] else {
            throw KirokuError(.configuration, "give --hub https://NAME:PORT (or set KIROKU_HUB)")
        }
        var caPath = ca ?? environment["KIROKU_CA"]
        var certPath = cert ?? environment["KIROKU_CERT"]
        var keyPath = key ?? environment["KIROKU_KEY"]
        if let pki = pki ?? environment["KIROKU_PKI"], let person = person ?? environment["KIROKU_AS"] {
            caPath = caPath ?? "\(pki)/ca.crt"
            certPath = certPath ?? "\(pki)/people/\(person).crt"
            keyPath = keyPath ?? "\(pki)/people/\(person).key"
        }
        guard let caPath, let certPath, let keyPath else {
            throw KirokuError(
                .configuration,
                "give --pki DIR --as PERSON (or set KIROKU_PKI and KIROKU_AS), or --ca, --cert and --key")
        }
        return try HubConnection(
            baseURL: url, credentials: ClientCredentials(caPath: caPath, certificatePath: certPath, keyPath: keyPath))
    }

    /// Runs `body` with the people's API and always closes the connection afterwards.
    func withQueries<T>(_ body: (HubQueries) async throws -> T) async throws -> T {
        let connection = try connect()
        do {
            let result = try await body(HubQueries(connection: connection))
            await connection.shutdown()
            return result
        } catch {
            await connection.shutdown()
            throw error
        }
    }
}

extension OutputFormat: ExpressibleByArgument {}
