import Foundation
import KirokuProtocol
import NIOCore

/// Everything `kiroku-hub run` needs. Read from flags, then environment (`KIROKU_HUB_*`), then a JSON file,
/// then these defaults (docs/ARCHITECTURE.md, conventions).
///
/// File keys (see `Hub/hub.example.json`):
/// - `host`: address to listen on. Default `0.0.0.0`.
/// - `port`: TCP port; 0 picks a free one (tests). Default 8443.
/// - `database`: the SQLite record. Default `/var/lib/kiroku-hub/record.sqlite`.
/// - `signing_key`: the hub's Ed25519 receipt key (created 0600 if absent). Default next to the database.
/// - `ca` (required): the municipality's CA certificate; the only trust root for clients.
/// - `certificate`, `private_key` (required): the hub's TLS certificate and key (PEM). The key is never logged.
/// - `revocation_list` (required): the CA's `revoked.txt`, re-read when it changes. The hub does not start
///   without a good list, and refuses every client while the list it reads is missing or broken.
/// - `max_batch_events`: most events per batch. Default 10000.
/// - `max_batch_bytes`: most bytes per batch after decompression. Default 32 MiB.
/// - `port_file`: if set, the bound port is written there once listening (for scripts and tests).
/// - `origin`: the Merkle log's name on its checkpoints (C2SP origin line; also the signature's key name),
///   e.g. `kiroku.city.example.lg.jp/record`. Default `kiroku-hub`. Never change it once checkpoints exist.
/// - `checkpoint_seconds`: how often a new signed checkpoint is published while events arrive. Default 60.
/// - `overlap_signing_keys`: during a key rotation, the previous signing key files, which keep co-signing
///   checkpoints so that witnesses that pinned them can follow (Hub/README.md). Default none.
/// - `retention`: how long each kind is kept before its payload is purged, e.g.
///   `{"default": "7y", "agent": "1y"}` (``RetentionPolicy``). Default 7 years for every kind; `operation`
///   below 7 years is refused (第20②).
/// - `purge_hours`: how often the purge runs. Default 24.
/// - `rules`: thresholds and the business calendar of the rules (``RuleSettings``), e.g.
///   `{"calendar": {"hours": "08:30-17:15", "holidays": ["2027-01-11"]}, "bulk_lookups_per_hour": 100}`.
/// - `max_connections`: connections held at once. Default: the descriptor limit (raised to its hard limit at
///   start) less 128, at most 16384; the hub says at start what it got.
/// - `max_unauthenticated_connections`: of those, connections still in their TLS handshake; the rest is a
///   reserve only authenticated clients reach. Default half of `max_connections`.
/// - `max_unauthenticated_per_address`: handshaking connections from one source address. Default 64.
/// - `handshake_timeout_seconds`: time for the TLS handshake to complete. Default 10.
/// - `idle_timeout_seconds`: time a connection may go without a complete request head, body progress or
///   a new request. Default 60.
/// - `request_timeout_seconds`: time from a request's head to the end of its body. Default 120.
/// - `report_title`: the title of the 会議's report, after the meeting (`令和8年度第2回`) when one is named.
///   Default `住民基本台帳ネットワークシステム セキュリティ会議 資料`.
/// - `documents`: the folder where contractors' submitted files are kept by their SHA-256. Default
///   `documents` beside the database.
/// - `max_submission_bytes`: the most one submission's files may hold together. Default 32 MiB.
/// - `alerts`: where findings are pushed as they are raised — `mail`, `syslog`, `webhook` (``AlertSettings``).
///   Default none.
/// - `store`: keep the record on PostgreSQL instead of the SQLite file `database` (``StoreSettings``), e.g.
///   `{"postgres": "postgres://kiroku@db.example/kiroku?sslmode=verify-full", "scope": "record"}`. Default none
///   (SQLite). Also `KIROKU_HUB_STORE` and `KIROKU_HUB_STORE_SCOPE`.
/// - `role_labels`: a municipality's own names for the roles of the people register (``RoleLabels``), e.g.
///   `{"administrator": "情報政策課長"}`. Default the standard's: 統括者, 副統括者, 管理者, 運用管理者,
///   暗証番号管理者, 会議, 受託者, 操作者.
public struct HubConfiguration: Sendable, Codable, Equatable {
    public var host = "0.0.0.0"
    public var port = 8443
    public var database = "/var/lib/kiroku-hub/record.sqlite"
    public var signingKey: String?
    public var ca: String
    public var certificate: String
    public var privateKey: String
    public var revocationList: String?
    public var maxBatchEvents = 10_000
    public var maxBatchBytes = 32 * 1024 * 1024
    public var portFile: String?
    public var origin = "kiroku-hub"
    public var checkpointSeconds = 60.0
    public var overlapSigningKeys: [String] = []
    public var retention = RetentionPolicy()
    public var purgeHours = 24.0
    public var rules = RuleSettings()
    public var roleLabels = RoleLabels()
    public var maxConnections: Int?
    public var maxUnauthenticatedConnections: Int?
    public var maxUnauthenticatedPerAddress = 64
    public var handshakeTimeoutSeconds = 10.0
    public var idleTimeoutSeconds = 60.0
    public var requestTimeoutSeconds = 120.0
    public var reportTitle = "住民基本台帳ネットワークシステム セキュリティ会議 資料"
    public var documents: String?
    public var maxSubmissionBytes = 32 * 1024 * 1024
    public var alerts: AlertSettings?
    public var store: StoreSettings?
    /// May this start create the record when none is there (`kiroku-hub init`, `run --new-record`)? Never from
    /// the file: a hub that finds no record at its `database` (a mistyped path, a lost disk) stops rather than
    /// begin a new, empty one that every agent would send its journal to again.
    public var newRecord = false
    /// The keys the configuration file gave (not the defaults): a setting given for what a hub on PostgreSQL
    /// does not do is refused rather than ignored.
    public var givenKeys: Set<String> = []

    public init(ca: String, certificate: String, privateKey: String) {
        self.ca = ca
        self.certificate = certificate
        self.privateKey = privateKey
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case host, port, database
        case signingKey = "signing_key"
        case ca, certificate
        case privateKey = "private_key"
        case revocationList = "revocation_list"
        case maxBatchEvents = "max_batch_events"
        case maxBatchBytes = "max_batch_bytes"
        case portFile = "port_file"
        case origin
        case checkpointSeconds = "checkpoint_seconds"
        case retention
        case purgeHours = "purge_hours"
        case overlapSigningKeys = "overlap_signing_keys"
        case rules
        case roleLabels = "role_labels"
        case maxConnections = "max_connections"
        case maxUnauthenticatedConnections = "max_unauthenticated_connections"
        case maxUnauthenticatedPerAddress = "max_unauthenticated_per_address"
        case handshakeTimeoutSeconds = "handshake_timeout_seconds"
        case idleTimeoutSeconds = "idle_timeout_seconds"
        case requestTimeoutSeconds = "request_timeout_seconds"
        case reportTitle = "report_title"
        case documents
        case maxSubmissionBytes = "max_submission_bytes"
        case alerts
        case store
    }

    public init(from decoder: any Decoder) throws {
        try decoder.refuseUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        var d = HubConfiguration(
            ca: try c.decode(String.self, forKey: .ca), certificate: try c.decode(String.self, forKey: .certificate),
            privateKey: try c.decode(String.self, forKey: .privateKey))
        d.host = try c.decodeIfPresent(String.self, forKey: .host) ?? d.host
        d.port = try c.decodeIfPresent(Int.self, forKey: .port) ?? d.port
        d.database = try c.decodeIfPresent(String.self, forKey: .database) ?? d.database
        d.signingKey = try c.decodeIfPresent(String.self, forKey: .signingKey)
        d.revocationList = try c.decodeIfPresent(String.self, forKey: .revocationList)
        d.maxBatchEvents = try c.decodeIfPresent(Int.self, forKey: .maxBatchEvents) ?? d.maxBatchEvents
        d.maxBatchBytes = try c.decodeIfPresent(Int.self, forKey: .maxBatchBytes) ?? d.maxBatchBytes
        d.portFile = try c.decodeIfPresent(String.self, forKey: .portFile)
        d.origin = try c.decodeIfPresent(String.self, forKey: .origin) ?? d.origin
        d.checkpointSeconds = try c.decodeIfPresent(Double.self, forKey: .checkpointSeconds) ?? d.checkpointSeconds
        d.retention = try c.decodeIfPresent(RetentionPolicy.self, forKey: .retention) ?? d.retention
        d.overlapSigningKeys = try c.decodeIfPresent([String].self, forKey: .overlapSigningKeys) ?? []
        d.rules = try c.decodeIfPresent(RuleSettings.self, forKey: .rules) ?? d.rules
        d.purgeHours = try c.decodeIfPresent(Double.self, forKey: .purgeHours) ?? d.purgeHours
        d.roleLabels = try c.decodeIfPresent(RoleLabels.self, forKey: .roleLabels) ?? d.roleLabels
        d.maxConnections = try c.decodeIfPresent(Int.self, forKey: .maxConnections)
        d.maxUnauthenticatedConnections = try c.decodeIfPresent(Int.self, forKey: .maxUnauthenticatedConnections)
        d.maxUnauthenticatedPerAddress =
            try c.decodeIfPresent(Int.self, forKey: .maxUnauthenticatedPerAddress) ?? d.maxUnauthenticatedPerAddress
        d.handshakeTimeoutSeconds =
            try c.decodeIfPresent(Double.self, forKey: .handshakeTimeoutSeconds) ?? d.handshakeTimeoutSeconds
        d.idleTimeoutSeconds = try c.decodeIfPresent(Double.self, forKey: .idleTimeoutSeconds) ?? d.idleTimeoutSeconds
        d.requestTimeoutSeconds =
            try c.decodeIfPresent(Double.self, forKey: .requestTimeoutSeconds) ?? d.requestTimeoutSeconds
        d.reportTitle = try c.decodeIfPresent(String.self, forKey: .reportTitle) ?? d.reportTitle
        d.documents = try c.decodeIfPresent(String.self, forKey: .documents)
        d.maxSubmissionBytes = try c.decodeIfPresent(Int.self, forKey: .maxSubmissionBytes) ?? d.maxSubmissionBytes
        d.alerts = try c.decodeIfPresent(AlertSettings.self, forKey: .alerts)
        d.store = try c.decodeIfPresent(StoreSettings.self, forKey: .store)
        d.givenKeys = Set(c.allKeys.map(\.stringValue))
        self = d
    }

    /// Loads the JSON file, with a clear error naming the file and the problem.
    public static func load(file: String) throws -> HubConfiguration {
        try loadConfiguration(HubConfiguration.self, file: file)
    }

    /// The receipt key's path: `signing_key`, or `receipt-signing.key` beside the database.
    public var signingKeyPath: String {
        signingKey ?? URL(filePath: database).deletingLastPathComponent().appending(path: "receipt-signing.key").path
    }

    /// Where submitted documents are kept: `documents`, or `documents/` beside the database.
    public var documentStore: DocumentStore {
        documents.map { DocumentStore(folder: URL(filePath: $0)) } ?? DocumentStore(besideDatabase: database)
    }

    public func validate() throws {
        guard (0...65535).contains(port) else { throw KirokuError(.configuration, "port must be 0-65535") }
        guard (1024...1024 * 1024 * 1024).contains(maxSubmissionBytes) else {
            throw KirokuError(.configuration, "max_submission_bytes must be 1024 to 1073741824")
        }
        guard maxBatchEvents >= 1 else { throw KirokuError(.configuration, "max_batch_events must be at least 1") }
        guard maxBatchBytes >= 64 * 1024 else {
            throw KirokuError(.configuration, "max_batch_bytes must be at least 65536")
        }
        guard !origin.isEmpty, origin.count <= 200,
            origin.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0 != "+" && $0.value != 0x7f })
        else {
            throw KirokuError(
                .configuration,
                "origin must be 1-200 printable characters without spaces or '+', like kiroku.city.example.lg.jp/record"
            )
        }
        guard checkpointSeconds >= 1, checkpointSeconds <= 3600 else {
            throw KirokuError(.configuration, "checkpoint_seconds must be 1 to 3600")
        }
        guard purgeHours >= 1, purgeHours <= 24 * 7 else {
            throw KirokuError(.configuration, "purge_hours must be 1 to 168")
        }
        try retention.validate()
        if let store {
            _ = try store.location()
            // What the SQLite house does (the people register's labels, the rules, retention, the report, the
            // contractors' documents) does not run with the record on PostgreSQL: saying so beats ignoring it.
            let houseKeys: [CodingKeys] = [
                .database, .retention, .purgeHours, .rules, .roleLabels, .reportTitle, .documents, .maxSubmissionBytes,
            ]
            let ignored = houseKeys.map(\.rawValue).filter(givenKeys.contains)
            guard ignored.isEmpty else {
                throw KirokuError(
                    .configuration,
                    "\(ignored.joined(separator: ", ")) set what a hub on SQLite does; with store.postgres they would have no effect in this version: remove them"
                )
            }
            guard alerts == nil else {
                throw KirokuError(
                    .configuration,
                    "alerts push the rules' findings, and the rules run on a hub with SQLite in this version, not with store.postgres: remove one of them"
                )
            }
        }
        if let maxConnections, maxConnections < 2 {
            throw KirokuError(.configuration, "max_connections must be at least 2")
        }
        if let maxUnauthenticatedConnections, maxUnauthenticatedConnections < 1 {
            throw KirokuError(.configuration, "max_unauthenticated_connections must be at least 1")
        }
        guard maxUnauthenticatedPerAddress >= 1 else {
            throw KirokuError(.configuration, "max_unauthenticated_per_address must be at least 1")
        }
        guard handshakeTimeoutSeconds >= 0.5, handshakeTimeoutSeconds <= 300, idleTimeoutSeconds >= 1,
            idleTimeoutSeconds <= 3600,
            requestTimeoutSeconds >= 1, requestTimeoutSeconds <= 3600
        else {
            throw KirokuError(
                .configuration,
                "handshake_timeout_seconds must be 0.5 to 300, idle_timeout_seconds and request_timeout_seconds 1 to 3600"
            )
        }
        for path in overlapSigningKeys where !FileManager.default.fileExists(atPath: path) {
            throw KirokuError(.configuration, "overlap signing key \(path) does not exist")
        }
        guard let revocationList, !revocationList.isEmpty else {
            throw KirokuError(
                .configuration,
                "revocation_list is required: the CA's revoked.txt (kirokuctl pki init writes it); the hub does not run without revocation"
            )
        }
        for (name, path) in [
            ("ca", ca), ("certificate", certificate), ("private_key", privateKey), ("revocation_list", revocationList),
        ]
        where !FileManager.default.fileExists(atPath: path) {
            throw KirokuError(.configuration, "\(name) file \(path) does not exist")
        }
    }
}

extension HubConfiguration {
    /// The connection limits in force, given the descriptor limit the hub got.
    public func connectionLimits(descriptors: Int) -> ConnectionLimits {
        let total = maxConnections ?? max(16, min(descriptors - 128, 16_384))
        let unauthenticated = min(maxUnauthenticatedConnections ?? max(1, total / 2), total)
        return ConnectionLimits(
            maxConnections: total, maxUnauthenticated: unauthenticated,
            maxUnauthenticatedPerAddress: min(maxUnauthenticatedPerAddress, unauthenticated),
            handshakeTimeout: .milliseconds(Int64(handshakeTimeoutSeconds * 1000)),
            idleTimeout: .milliseconds(Int64(idleTimeoutSeconds * 1000)),
            requestTimeout: .milliseconds(Int64(requestTimeoutSeconds * 1000)))
    }
}

/// Where the record is kept when it is not the SQLite file: PostgreSQL (Hub/README.md, "PostgreSQL").
///
/// Keys: `postgres` (required), a URL `postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?sslmode=…&sslrootcert=FILE]`
/// (the password may instead come from `KIROKU_HUB_STORE_PASSWORD`); `scope` (required): what the store keeps,
/// and in this version the only value is `record` — events, agents and the Merkle log, while people, registers,
/// findings, rules, retention and the console's pages beyond the search and integrity stay on a hub with SQLite; `municipality` (required): the key
/// every row starts with, so that one database can hold several, the same on every hub of one log; `cosigners`: the
/// person ids whose certificates may hand the hub witnesses' cosignatures (the 会議's witness), since a hub on
/// PostgreSQL keeps no people register to ask (default none: every cosignature refused); `readers`: the person ids
/// who may read the whole record there — events, agents' health, evidence bundles — for the same reason (default
/// none: every person's query refused). `sslmode` is
/// `disable`, `require` or `verify-full` (with `sslrootcert`, or the system's roots); its default is
/// `verify-full`, and `disable` for `127.0.0.1`, `::1` and `localhost` only.
public struct StoreSettings: Sendable, Codable, Equatable {
    public var postgres: String
    public var scope: String
    public var municipality: String?
    public var cosigners: [String] = []
    public var readers: [String] = []

    enum CodingKeys: String, CodingKey, CaseIterable {
        case postgres, scope, municipality, cosigners, readers
    }

    public init(
        url: String, scope: String?, municipality: String? = nil, cosigners: [String] = [], readers: [String] = [],
        what: String = "store.postgres"
    ) throws {
        guard let scope else {
            throw KirokuError(
                .configuration,
                "\(what) needs its scope (KIROKU_HUB_STORE_SCOPE or store.scope): 'record', the only one in this version — PostgreSQL keeps events, agents and the Merkle log; people, registers, findings, rules, retention and the console need a hub on SQLite"
            )
        }
        self.postgres = url
        self.scope = scope
        self.municipality = municipality
        self.cosigners = cosigners
        self.readers = readers
        for (list, ids) in [("cosigners", cosigners), ("readers", readers)] {
            for id in ids where !AgentID.isValid(id) {
                throw KirokuError(
                    .configuration,
                    "store.\(list): '\(id.prefix(70))' is not a person id (1-64 of A-Z a-z 0-9 . _ -), as the person's certificate names it"
                )
            }
        }
        _ = try location()
    }

    public init(from decoder: any Decoder) throws {
        try decoder.refuseUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        try self.init(
            url: try c.decode(String.self, forKey: .postgres),
            scope: try c.decodeIfPresent(String.self, forKey: .scope),
            municipality: try c.decodeIfPresent(String.self, forKey: .municipality),
            cosigners: try c.decodeIfPresent([String].self, forKey: .cosigners) ?? [],
            readers: try c.decodeIfPresent([String].self, forKey: .readers) ?? [])
    }

    /// Whether the configuration lets person `id` do `permission` on a hub whose record is here (no people register
    /// there): read the whole record if named among `readers`, cosign if among `cosigners`, nothing else.
    public func allows(_ permission: Permission, _ id: String) -> Bool {
        switch permission {
        case .readRecord: readers.contains(id)
        case .cosign: cosigners.contains(id)
        default: false
        }
    }

    /// Where to connect, checked: refused with what to write when the URL, the scope or a setting is wrong.
    public func location(environment: [String: String]? = nil) throws -> PostgresLocation {
        let environment = environment ?? ProcessInfo.processInfo.environment
        guard scope == "record" else {
            throw KirokuError(
                .configuration,
                "store scope '\(scope.prefix(40))' is not known; in this version PostgreSQL keeps the 'record' (events, agents, the Merkle log) only"
            )
        }
        guard let municipality else {
            throw KirokuError(
                .configuration,
                "store.municipality (KIROKU_HUB_STORE_MUNICIPALITY) is required: the name this municipality's log has in the database, the same on every hub (e.g. inagi)"
            )
        }
        guard (1...200).contains(municipality.count) else {
            throw KirokuError(.configuration, "store.municipality must be 1 to 200 characters")
        }
        let example = "postgres://kiroku@db.example/kiroku?sslmode=verify-full"
        guard let url = URLComponents(string: postgres), ["postgres", "postgresql"].contains(url.scheme ?? ""),
            let bracketed = url.host, !bracketed.isEmpty, let user = url.user, !user.isEmpty
        else {
            throw KirokuError(.configuration, "the PostgreSQL store must be a URL like \(example)")
        }
        // An IPv6 address is written in brackets in a URL, and connected to without them.
        let host =
            bracketed.hasPrefix("[") && bracketed.hasSuffix("]") ? String(bracketed.dropFirst().dropLast()) : bracketed
        let database = String(url.path.drop { $0 == "/" })
        guard !database.isEmpty, !database.contains("/") else {
            throw KirokuError(.configuration, "the PostgreSQL URL names no database; write it like \(example)")
        }
        // Only the loopback addresses (and `localhost`) default to no TLS: any other name, this machine's own
        // included, is verified unless the URL says otherwise.
        var sslMode: PostgresLocation.SSLMode =
            ["127.0.0.1", "::1", "localhost"].contains(host) ? .disable : .verifyFull
        var rootCertificate: String?
        for item in url.queryItems ?? [] {
            switch item.name {
            case "sslmode":
                guard let mode = PostgresLocation.SSLMode(rawValue: item.value ?? "") else {
                    throw KirokuError(
                        .configuration,
                        "sslmode must be disable, require or verify-full, not '\((item.value ?? "").prefix(20))'")
                }
                sslMode = mode
            case "sslrootcert":
                guard let path = item.value, FileManager.default.fileExists(atPath: path) else {
                    throw KirokuError(.configuration, "sslrootcert \(item.value ?? "") does not exist")
                }
                rootCertificate = path
            default:
                throw KirokuError(
                    .configuration,
                    "the PostgreSQL URL's setting '\(item.name.prefix(40))' is not known (sslmode, sslrootcert)")
            }
        }
        if rootCertificate != nil, sslMode != .verifyFull {
            throw KirokuError(
                .configuration,
                "sslrootcert is used with sslmode=verify-full only (sslmode=\(sslMode.rawValue) checks no certificate); write sslmode=verify-full"
            )
        }
        let port = url.port ?? 5432
        guard (1...65535).contains(port) else {
            throw KirokuError(.configuration, "the PostgreSQL port must be 1 to 65535")
        }
        return PostgresLocation(
            host: host, port: port, user: user, password: url.password ?? environment["KIROKU_HUB_STORE_PASSWORD"],
            database: database, sslMode: sslMode, rootCertificate: rootCertificate, municipality: municipality)
    }
}

/// A checked PostgreSQL address (``StoreSettings/location(environment:)``).
public struct PostgresLocation: Sendable, Equatable {
    public enum SSLMode: String, Sendable {
        case disable
        case require
        case verifyFull = "verify-full"
    }
    public var host: String
    public var port: Int
    public var user: String
    public var password: String?
    public var database: String
    public var sslMode: SSLMode
    public var rootCertificate: String?
    /// Whose log in the database this hub keeps (``StoreSettings/municipality``).
    public var municipality: String

    /// For logs: never the password.
    public var description: String { "postgres://\(user)@\(host):\(port)/\(database) (sslmode \(sslMode.rawValue))" }
}
