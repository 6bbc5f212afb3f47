import ArgumentParser
import Crypto
import Foundation
import KirokuClient
import KirokuControl
import KirokuPKI
import KirokuProtocol

struct PKI: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: localized("市の私設CA：作成、発行、失効、一覧。", en: "The municipality's private CA: init, issue, revoke, list."),
        subcommands: [Init.self, Issue.self, ExportP12.self, Revoke.self, List.self])

    struct Init: KirokuCommand {
        static let configuration = CommandConfiguration(
            abstract: localized("新しいフォルダにCAを作る。", en: "Create the CA in a new folder."))
        @Option(help: .localized("PKIフォルダ。", en: "PKI folder.")) var dir: String
        @Option(help: .localized("CAに記す組織名（例：稲城市）。", en: "Organisation name on the CA (e.g. 稲城市).")) var name: String =
            "Kiroku"
        @Option(help: .localized("CAの有効期間（日）。", en: "CA lifetime in days.")) var days: Int = CertificateAuthority.caDays

        func execute() async throws {
            let ca = try CertificateAuthority.initialize(directory: URL(filePath: dir), name: name, days: days)
            print(
                localized(
                    "CA \(ca.certificate.serialHex) を \(dir) に作りました（ca.crt、ca.key はモード 0600、revoked.txt）",
                    en: "created CA \(ca.certificate.serialHex) in \(dir) (ca.crt, ca.key mode 0600, revoked.txt)"))
        }
    }

    struct Issue: KirokuCommand {
        static let configuration = CommandConfiguration(
            abstract: localized("証明書を発行する：ハブ、端末（エージェント）または職員。", en: "Issue a certificate: hub, agent or person."),
            discussion: """
                kirokuctl pki issue hub --dir pki --id hub --dns hub.city.local --ip 10.1.2.3
                kirokuctl pki issue agent --dir pki --id counter-01
                kirokuctl pki issue person --dir pki --id kanri01 --name "山田 太郎" --p12 kanri01.p12
                """)
        @Argument(help: .localized("hub、agent または person。", en: "hub, agent or person.")) var role: String
        @Option(help: .localized("PKIフォルダ。", en: "PKI folder.")) var dir: String
        @Option(help: .localized("識別子（A-Z a-z 0-9 . _ -）。", en: "Identifier (A-Z a-z 0-9 . _ -).")) var id: String?
        @Option(help: .localized("表示名（職員の氏名）。", en: "Display name (a person's 氏名).")) var name: String?
        @Option(help: .localized("ハブのDNS名（複数指定可）。", en: "DNS name of the hub (repeatable).")) var dns: [String] = []
        @Option(help: .localized("ハブのIPアドレス（複数指定可）。", en: "IP address of the hub (repeatable).")) var ip: [String] = []
        @Option(help: .localized("有効期間（日）。", en: "Lifetime in days.")) var days: Int = CertificateAuthority.leafDays
        @Option(
            help: .localized(
                "ブラウザ用の PKCS#12 ファイルも書く（職員のみ）。", en: "Also write a PKCS#12 file for a browser (people only).")) var p12:
            String?
        @Option(
            help: .localized(
                "PKCS#12 のパスフレーズをこのファイルから読む（省略時は作って表示する）。",
                en: "Read the PKCS#12 passphrase from this file (otherwise one is made and printed)."))
        var passphraseFile: String?

        func execute() async throws {
            if p12 != nil && role != "person" {
                throw KirokuError(.pki, "--p12 is for person certificates (a browser's login)")
            }
            guard let role = Identity.Role(rawValue: role) else {
                throw KirokuError(.pki, "role must be hub, agent or person (got '\(role)')")
            }
            let ca = try CertificateAuthority.open(directory: URL(filePath: dir))
            let issued = try ca.issue(
                role: role, id: id ?? (role == .hub ? "hub" : ""), commonName: name, dnsNames: dns, ipAddresses: ip,
                days: days)
            print(
                localized(
                    "\(role.rawValue) \(issued.id) の証明書を発行しました。シリアル \(issued.serial)、有効期限 \(issued.notAfter.rfc3339)",
                    en: "issued \(role.rawValue) \(issued.id) serial \(issued.serial) until \(issued.notAfter.rfc3339)")
            )
            print(localized("  証明書      ", en: "  certificate ") + issued.certificatePath)
            print(
                localized("  鍵          \(issued.keyPath)（モード 0600）", en: "  key         \(issued.keyPath) (mode 0600)")
            )
            if let p12 {
                try ExportP12.write(
                    dir: dir, certificate: issued.certificatePath, key: issued.keyPath, out: p12,
                    passphraseFile: passphraseFile)
            }
        }
    }

    /// `kirokuctl pki export-p12`: a person's certificate and key as a `.p12` for their browser.
    struct ExportP12: KirokuCommand {
        static let configuration = CommandConfiguration(
            commandName: "export-p12",
            abstract: localized(
                "職員の証明書と鍵を、ブラウザ用の PKCS#12（.p12）としてパスフレーズ付きで書き出す。",
                en: "Write a person's certificate and key as PKCS#12 (.p12) for their browser, with a passphrase."),
            discussion: """
                kirokuctl pki export-p12 --dir pki --id kanri01 --out kanri01.p12
                The passphrase is printed once unless --passphrase-file gives it; hand it over apart from the file.
                """)
        @Option(help: .localized("PKIフォルダ。", en: "PKI folder.")) var dir: String
        @Option(help: .localized("職員のID。", en: "The person's id.")) var id: String
        @Option(help: .localized("書き出す .p12 ファイル。", en: "The .p12 file to write.")) var out: String
        @Option(
            help: .localized(
                "パスフレーズをこのファイルから読む（省略時は作って表示する）。",
                en: "Read the passphrase from this file (otherwise one is made and printed).")) var passphraseFile:
            String?

        func execute() async throws {
            guard !id.isEmpty, id.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "._-".contains($0)) }),
                !id.hasPrefix(".")
            else {
                throw KirokuError(.pki, "a person id is A-Z a-z 0-9 . _ - (not '\(id.prefix(40))')")
            }
            let certificate = "\(dir)/people/\(id).crt"
            let key = "\(dir)/people/\(id).key"
            guard FileManager.default.fileExists(atPath: certificate), FileManager.default.fileExists(atPath: key)
            else {
                throw KirokuError(
                    .pki,
                    "no person '\(id)' in \(dir) (\(certificate)); issue one with 'kirokuctl pki issue person --dir \(dir) --id \(id)'"
                )
            }
            try Self.write(dir: dir, certificate: certificate, key: key, out: out, passphraseFile: passphraseFile)
        }

        static func write(dir: String, certificate: String, key: String, out: String, passphraseFile: String?) throws {
            var given: String?
            if let passphraseFile {
                guard let text = try? String(contentsOfFile: passphraseFile, encoding: .utf8) else {
                    throw KirokuError(.pki, "cannot read the passphrase file \(passphraseFile)")
                }
                given = text.trimmingCharacters(in: .newlines)
            }
            let phrase = try PKCS12Export.write(
                certificatePath: certificate, keyPath: key, caPath: "\(dir)/ca.crt", to: out, passphrase: given)
            print(
                localized(
                    "  ブラウザ用  \(out)（PKCS#12、モード 0600、CA証明書入り）",
                    en: "  browser     \(out) (PKCS#12, mode 0600, with the CA certificate)"))
            if given == nil {
                print(
                    localized(
                        "  パスフレーズ  \(phrase)（別の手段で渡すこと。どこにも保存されない）",
                        en: "  passphrase  \(phrase)  (hand it over separately; it is not kept anywhere)"))
            }
        }
    }

    struct Revoke: KirokuCommand {
        static let configuration = CommandConfiguration(
            abstract: localized(
                "シリアルで、または1つのIDのすべての証明書を失効させる。ハブは次の接続から拒否する。",
                en:
                    "Revoke by serial, or every certificate of one identity; the hub refuses it from its next connection."
            ))
        @Option(help: .localized("PKIフォルダ。", en: "PKI folder.")) var dir: String
        @Option(help: .localized("シリアル（'pki list' が表示する16進）。", en: "Serial (hex, as 'pki list' shows it).")) var serial:
            String?
        @Option(help: .localized("--id の役割：agent、person または hub。", en: "Role of --id: agent, person or hub.")) var role:
            String?
        @Option(help: .localized("このIDのすべての証明書を失効させる。", en: "Revoke every certificate of this id.")) var id: String?
        @Option(help: .localized("理由（revoked.txt に残る）。", en: "Why (kept in revoked.txt).")) var reason: String =
            "unspecified"

        func execute() async throws {
            let ca = try CertificateAuthority.open(directory: URL(filePath: dir))
            var identity: Identity?
            if let id {
                guard let role = role.flatMap(Identity.Role.init(rawValue:)) else {
                    throw KirokuError(.pki, "--id needs --role agent, person or hub")
                }
                identity = Identity(role: role, id: id)
            }
            guard serial != nil || identity != nil else { throw KirokuError(.pki, "give --serial or --role and --id") }
            for record in try ca.revoke(serial: serial, identity: identity, reason: reason) {
                print(
                    localized(
                        "\(record.role.rawValue) \(record.id)（シリアル \(record.serial)）を失効させました",
                        en: "revoked \(record.role.rawValue) \(record.id) serial \(record.serial)"))
            }
        }
    }

    struct List: KirokuCommand {
        static let configuration = CommandConfiguration(
            abstract: localized("CAが発行したすべての証明書。", en: "Every certificate the CA issued."))
        @Option(help: .localized("PKIフォルダ。", en: "PKI folder.")) var dir: String

        func execute() async throws {
            let ca = try CertificateAuthority.open(directory: URL(filePath: dir))
            let rows = try ca.list().map { record in
                [
                    record.role.rawValue, record.id, record.commonName, record.serial,
                    Render.jst(record.notAfter.rfc3339), record.revoked ? "REVOKED" : "valid",
                ]
            }
            print(
                Render.table(header: ["role", "id", "name", "serial", "not_after(JST)", "state"], rows: rows),
                terminator: "")
        }
    }
}
