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
        abstract: "Kiroku for people: certificates, the consolidated record, agent health, evidence and the witness.",
        subcommands: [
            PKI.self, Query.self, Agents.self, Export.self, Verify.self, Log.self, WitnessCommand.self, Holds.self,
            Retention.self, Findings.self, Registers.self, WhoAmI.self,
        ])
}

func fail(_ error: KirokuError) -> ExitCode {
    FileHandle.standardError.write(Data("kirokuctl: \(error)\n".utf8))
    return ExitCode(error.code == .badQuery || error.code == .configuration ? 64 : 2)
}

/// How a person reaches the hub: flags, or `KIROKU_HUB`, `KIROKU_CA`, `KIROKU_CERT`, `KIROKU_KEY`, or a
/// PKI folder plus a person id (`--pki --as`, or `KIROKU_PKI`, `KIROKU_AS`), so that the README's commands
/// run as written once three variables are set.
struct HubOptions: ParsableArguments {
    @Option(help: "Hub URL, https://NAME:PORT (or KIROKU_HUB).") var hub: String?
    @Option(help: "CA certificate (or KIROKU_CA).") var ca: String?
    @Option(help: "Your person certificate (or KIROKU_CERT).") var cert: String?
    @Option(help: "Your private key (or KIROKU_KEY).") var key: String?
    @Option(help: "A PKI folder: use DIR/ca.crt and DIR/people/ID.crt/.key with --as (or KIROKU_PKI).") var pki: String?
    @Option(name: .customLong("as"), help: "Your person id in --pki (or KIROKU_AS).") var person: String?

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
                .configuration, "give --pki DIR --as PERSON (or set KIROKU_PKI and KIROKU_AS), or --ca, --cert and --key")
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

struct Query: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Search the consolidated record.",
        discussion: "Times are RFC 3339 with milliseconds, or a date YYYY-MM-DD (midnight JST).")
    @OptionGroup var hubOptions: HubOptions
    @Option(help: "From this time (inclusive).") var from: String?
    @Option(help: "Up to this time (exclusive).") var to: String?
    @Option(help: "Only this agent.") var agent: String?
    @Option(help: "Only this site.") var site: String?
    @Option(help: "Only this kind.") var kind: String?
    @Option(help: "Only this action.") var action: String?
    @Option(help: "Only this actor.") var actor: String?
    @Option(help: "Only this subject.") var subject: String?
    @Option(help: "Events per page (1-10000).") var limit: Int = 1000
    @Flag(help: "Fetch every page, not just the first.") var all = false
    @Option(help: "table, jsonl or csv (UTF-8 with BOM, CRLF, for Excel).") var format: OutputFormat = .table

    func run() async throws {
        do {
            var parameters: [String: String] = ["limit": String(limit)]
            if let from { parameters["from"] = try Self.time(from, "--from") }
            if let to { parameters["to"] = try Self.time(to, "--to") }
            for (name, value) in [
                ("agent", agent), ("site", site), ("kind", kind), ("action", action), ("actor", actor),
                ("subject", subject),
            ] {
                if let value { parameters[name] = value }
            }
            var first = true
            var total = 0
            try await hubOptions.withQueries { queries in
                while true {
                    let page = try await queries.events(parameters)
                    total += page.events.count
                    FileHandle.standardOutput.write(Data(Render.events(page.events, format: format, header: first).utf8))
                    first = false
                    guard all, let next = page.next else {
                        if !all, page.next != nil {
                            FileHandle.standardError.write(Data("kirokuctl: more events match; add --all to fetch every page\n".utf8))
                        }
                        break
                    }
                    parameters["cursor"] = next
                }
            }
            if format == .table { print("\(total) event(s)") }
        } catch let error as KirokuError {
            throw fail(error)
        }
    }

    static func time(_ text: String, _ flag: String) throws -> String {
        guard let time = PersonTime.parse(text) else {
            throw KirokuError(.badQuery, "\(flag) must be \(PersonTime.forms), not '\(text.prefix(40))'")
        }
        return time.rfc3339
    }
}

/// `kirokuctl whoami`: who the hub takes this certificate for, and what the people register lets them do.
struct WhoAmI: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "whoami", abstract: "Who the hub takes you for: your roles in the people register and what they allow.")
    @OptionGroup var hubOptions: HubOptions

    func run() async throws {
        do {
            let me = try await hubOptions.withQueries { try await $0.me() }
            let id = me.id
            switch me.status {
            case "unenforced":
                print("\(id): the people register is empty, so roles are not enforced yet; every person may do everything")
            case "unknown":
                print("\(id): not in the people register; the hub refuses you everything but this question")
            case "left":
                print("\(id): left on \(me.left ?? "?") (people register); the hub refuses you")
            default:
                print("\(id): \((me.roles ?? []).joined(separator: "・"))")
                for permission in me.permissions ?? [] { print("  may \(permission)") }
            }
        } catch let error as KirokuError {
            throw fail(error)
        }
    }
}

struct Agents: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Per-agent health: last seen, last seq, lag, clock skew, duplicates, gaps, forks, refusals.")
    @OptionGroup var hubOptions: HubOptions
    @Flag(help: "Print JSON instead of a table.") var json = false

    func run() async throws {
        do {
            let agents = try await hubOptions.withQueries { try await $0.agents() }
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
                print(String(decoding: try encoder.encode(AgentHealthList(agents: agents)), as: UTF8.self))
            } else {
                print(Render.agents(agents), terminator: "")
            }
        } catch let error as KirokuError {
            throw fail(error)
        }
    }
}

struct PKI: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The municipality's private CA: init, issue, revoke, list.",
        subcommands: [Init.self, Issue.self, Revoke.self, List.self])

    struct Init: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create the CA in a new folder.")
        @Option(help: "PKI folder.") var dir: String
        @Option(help: "Organisation name on the CA (e.g. 稲城市).") var name: String = "Kiroku"
        @Option(help: "CA lifetime in days.") var days: Int = CertificateAuthority.caDays

        func run() throws {
            do {
                let ca = try CertificateAuthority.initialize(directory: URL(filePath: dir), name: name, days: days)
                print("created CA \(ca.certificate.serialHex) in \(dir) (ca.crt, ca.key mode 0600, revoked.txt)")
            } catch let error as KirokuError {
                throw fail(error)
            }
        }
    }

    struct Issue: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Issue a certificate: hub, agent or person.",
            discussion: """
                kirokuctl pki issue hub --dir pki --id hub --dns hub.city.local --ip 10.1.2.3
                kirokuctl pki issue agent --dir pki --id counter-01
                kirokuctl pki issue person --dir pki --id kanri01 --name "山田 太郎"
                """)
        @Argument(help: "hub, agent or person.") var role: String
        @Option(help: "PKI folder.") var dir: String
        @Option(help: "Identifier (A-Z a-z 0-9 . _ -).") var id: String?
        @Option(help: "Display name (a person's 氏名).") var name: String?
        @Option(help: "DNS name of the hub (repeatable).") var dns: [String] = []
        @Option(help: "IP address of the hub (repeatable).") var ip: [String] = []
        @Option(help: "Lifetime in days.") var days: Int = CertificateAuthority.leafDays

        func run() throws {
            do {
                guard let role = Identity.Role(rawValue: role) else {
                    throw KirokuError(.pki, "role must be hub, agent or person (got '\(role)')")
                }
                let ca = try CertificateAuthority.open(directory: URL(filePath: dir))
                let issued = try ca.issue(
                    role: role, id: id ?? (role == .hub ? "hub" : ""), commonName: name, dnsNames: dns, ipAddresses: ip,
                    days: days)
                print("issued \(role.rawValue) \(issued.id) serial \(issued.serial) until \(issued.notAfter.rfc3339)")
                print("  certificate \(issued.certificatePath)")
                print("  key         \(issued.keyPath) (mode 0600)")
            } catch let error as KirokuError {
                throw fail(error)
            }
        }
    }

    struct Revoke: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Revoke by serial, or every certificate of one identity; the hub refuses it from its next connection.")
        @Option(help: "PKI folder.") var dir: String
        @Option(help: "Serial (hex, as 'pki list' shows it).") var serial: String?
        @Option(help: "Role of --id: agent, person or hub.") var role: String?
        @Option(help: "Revoke every certificate of this id.") var id: String?
        @Option(help: "Why (kept in revoked.txt).") var reason: String = "unspecified"

        func run() throws {
            do {
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
                    print("revoked \(record.role.rawValue) \(record.id) serial \(record.serial)")
                }
            } catch let error as KirokuError {
                throw fail(error)
            }
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Every certificate the CA issued.")
        @Option(help: "PKI folder.") var dir: String

        func run() throws {
            do {
                let ca = try CertificateAuthority.open(directory: URL(filePath: dir))
                let rows = try ca.list().map { record in
                    [
                        record.role.rawValue, record.id, record.commonName, record.serial,
                        Render.jst(record.notAfter.rfc3339), record.revoked ? "REVOKED" : "valid",
                    ]
                }
                print(Render.table(header: ["role", "id", "name", "serial", "not_after(JST)", "state"], rows: rows), terminator: "")
            } catch let error as KirokuError {
                throw fail(error)
            }
        }
    }
}
