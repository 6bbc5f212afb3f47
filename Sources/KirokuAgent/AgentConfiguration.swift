public import KirokuClient
public import KirokuProtocol

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    public import Foundation
#endif

/// Everything `kiroku-agent` needs to know. Read from flags, then environment (`KIROKU_AGENT_*`), then a
/// JSON file, then these defaults (docs/ARCHITECTURE.md, conventions).
///
/// File keys (all optional except where noted; see `Agent/agent.example.json`):
/// - `agent_id`: the id in this agent's certificate (`kiroku:agent:ID`). Read from `certificate` when
///   absent; refused when it differs from the certificate's, before anything is journalled (events under
///   a wrong id could never be delivered). Required only without a certificate.
/// - `site`: where the terminal stands (本庁舎 市民課 窓口1), put on every event. Default: empty.
/// - `journal`: the SQLite journal. Default `/var/lib/kiroku-agent/journal.sqlite`.
/// - `socket`: the ingestion socket. Default `/run/kiroku-agent/ingest.sock`.
/// - `socket_mode`: its permissions, octal text. Default `"660"` (owner and group may write).
/// - `hub_url` (required for `run`): e.g. `https://hub.city.local:8443`.
/// - `ca`, `certificate`, `private_key` (required for `run`): PEM files. The key is never logged.
/// - `heartbeat_seconds`: interval of chained heartbeat events. Default 300.
/// - `batch_events`: most events per batch (the hub may lower it). Default 5000.
/// - `batch_bytes`: most bytes per batch before compression. Default 8 MiB.
/// - `compression`: `gzip` or `none`. Default `gzip`.
/// - `keep_delivered_days`: how long delivered events stay in the journal. Default 30.
/// - `poll_seconds`: longest idle wait before asking the journal again. Default 2.
/// - `backoff_max_seconds`: ceiling of the retry backoff while the hub is away. Default 60.
/// - `stop_flush_seconds`: how long a stopping agent (SIGTERM) tries to tell the hub it stopped before it
///   exits; if the hub is away, the `agent/stopped` event goes at the next start. Default 5 (within
///   systemd's 90 s stop timeout).
/// - `clock_jump_seconds`: a wall-clock change this much larger than the time that really passed (checked
///   at every heartbeat) is journalled as `agent/clock_jump`. Default 60.
/// - `files`: log files to follow (``FileSource``): `[{"path": "/var/log/app/events.jsonl", "format": "jsonl"},
///   {"path": "/var/log/door.log", "format": "text", "pattern": "^(?<time>\\S+) (?<actor>P\\d+) (?<action>enter|exit) (?<subject>.+)$",
///   "kind": "access"}]`; also ClamAV's log (`clamav`) and the login records (`wtmp`, `btmp`). Default none.
/// - `files_poll_seconds`: how often followed files are checked. Default 1.
/// - `inventory`: devices and programs to watch (``InventorySettings``), e.g. `{"usb_devices":
///   "/sys/bus/usb/devices", "program_directories": ["/opt/juki"], "dpkg_status": "/var/lib/dpkg/status",
///   "interval_seconds": 60}`. Default: none watched.
/// - `clamscan`: the ClamAV scanner `kiroku-agent scan` runs (第19). Default `/usr/bin/clamscan` (Debian's
///   `clamav`).
/// - `clamav_database`: a signature database file or folder for it. Default: ClamAV's own
///   (`/var/lib/clamav`, kept current by `freshclam`).
public struct AgentConfiguration: Sendable, Codable, Equatable {
    public var agentID: String
    public var site = ""
    public var journal = "/var/lib/kiroku-agent/journal.sqlite"
    public var socket = "/run/kiroku-agent/ingest.sock"
    public var socketMode = "660"
    public var hubURL: String?
    public var ca: String?
    public var certificate: String?
    public var privateKey: String?
    public var heartbeatSeconds = 300.0
    public var batchEvents = 5000
    public var batchBytes = 8 * 1024 * 1024
    public var compression = "gzip"
    public var keepDeliveredDays = 30.0
    public var pollSeconds = 2.0
    public var backoffMaxSeconds = 60.0
    public var stopFlushSeconds = 5.0
    public var clockJumpSeconds = 60.0
    public var files: [FileSource] = []
    public var filesPollSeconds = 1.0
    public var inventory = InventorySettings()
    public var clamscan = "/usr/bin/clamscan"
    public var clamavDatabase: String?

    public init(agentID: String) {
        self.agentID = agentID
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case agentID = "agent_id"
        case site, journal, socket
        case socketMode = "socket_mode"
        case hubURL = "hub_url"
        case ca, certificate
        case privateKey = "private_key"
        case heartbeatSeconds = "heartbeat_seconds"
        case batchEvents = "batch_events"
        case batchBytes = "batch_bytes"
        case compression
        case keepDeliveredDays = "keep_delivered_days"
        case pollSeconds = "poll_seconds"
        case backoffMaxSeconds = "backoff_max_seconds"
        case stopFlushSeconds = "stop_flush_seconds"
        case clockJumpSeconds = "clock_jump_seconds"
        case files
        case filesPollSeconds = "files_poll_seconds"
        case inventory
        case clamscan
        case clamavDatabase = "clamav_database"
    }

    public init(from decoder: any Decoder) throws {
        try decoder.refuseUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        var d = AgentConfiguration(agentID: try c.decodeIfPresent(String.self, forKey: .agentID) ?? "")
        d.site = try c.decodeIfPresent(String.self, forKey: .site) ?? d.site
        d.journal = try c.decodeIfPresent(String.self, forKey: .journal) ?? d.journal
        d.socket = try c.decodeIfPresent(String.self, forKey: .socket) ?? d.socket
        d.socketMode = try c.decodeIfPresent(String.self, forKey: .socketMode) ?? d.socketMode
        d.hubURL = try c.decodeIfPresent(String.self, forKey: .hubURL)
        d.ca = try c.decodeIfPresent(String.self, forKey: .ca)
        d.certificate = try c.decodeIfPresent(String.self, forKey: .certificate)
        d.privateKey = try c.decodeIfPresent(String.self, forKey: .privateKey)
        d.heartbeatSeconds = try c.decodeIfPresent(Double.self, forKey: .heartbeatSeconds) ?? d.heartbeatSeconds
        d.batchEvents = try c.decodeIfPresent(Int.self, forKey: .batchEvents) ?? d.batchEvents
        d.batchBytes = try c.decodeIfPresent(Int.self, forKey: .batchBytes) ?? d.batchBytes
        d.compression = try c.decodeIfPresent(String.self, forKey: .compression) ?? d.compression
        d.keepDeliveredDays = try c.decodeIfPresent(Double.self, forKey: .keepDeliveredDays) ?? d.keepDeliveredDays
        d.pollSeconds = try c.decodeIfPresent(Double.self, forKey: .pollSeconds) ?? d.pollSeconds
        d.backoffMaxSeconds = try c.decodeIfPresent(Double.self, forKey: .backoffMaxSeconds) ?? d.backoffMaxSeconds
        d.stopFlushSeconds = try c.decodeIfPresent(Double.self, forKey: .stopFlushSeconds) ?? d.stopFlushSeconds
        d.clockJumpSeconds = try c.decodeIfPresent(Double.self, forKey: .clockJumpSeconds) ?? d.clockJumpSeconds
        d.files = try c.decodeIfPresent([FileSource].self, forKey: .files) ?? []
        d.filesPollSeconds = try c.decodeIfPresent(Double.self, forKey: .filesPollSeconds) ?? d.filesPollSeconds
        d.inventory = try c.decodeIfPresent(InventorySettings.self, forKey: .inventory) ?? d.inventory
        d.clamscan = try c.decodeIfPresent(String.self, forKey: .clamscan) ?? d.clamscan
        d.clamavDatabase = try c.decodeIfPresent(String.self, forKey: .clamavDatabase)
        self = d
    }

    /// Loads the JSON file, with a clear error naming the file and the problem.
    public static func load(file: String) throws -> AgentConfiguration {
        try loadConfiguration(AgentConfiguration.self, file: file)
    }

    /// Applies `KIROKU_AGENT_ID`, `KIROKU_AGENT_SITE`, `KIROKU_AGENT_JOURNAL`, `KIROKU_AGENT_SOCKET`,
    /// `KIROKU_AGENT_HUB_URL`, `KIROKU_AGENT_CA`, `KIROKU_AGENT_CERTIFICATE`, `KIROKU_AGENT_PRIVATE_KEY`,
    /// `KIROKU_AGENT_HEARTBEAT_SECONDS`.
    public mutating func applyEnvironment(_ environment: [String: String]) {
        if let value = environment["KIROKU_AGENT_ID"] { agentID = value }
        if let value = environment["KIROKU_AGENT_SITE"] { site = value }
        if let value = environment["KIROKU_AGENT_JOURNAL"] { journal = value }
        if let value = environment["KIROKU_AGENT_SOCKET"] { socket = value }
        if let value = environment["KIROKU_AGENT_HUB_URL"] { hubURL = value }
        if let value = environment["KIROKU_AGENT_CA"] { ca = value }
        if let value = environment["KIROKU_AGENT_CERTIFICATE"] { certificate = value }
        if let value = environment["KIROKU_AGENT_PRIVATE_KEY"] { privateKey = value }
        if let value = environment["KIROKU_AGENT_HEARTBEAT_SECONDS"].flatMap(Double.init) { heartbeatSeconds = value }
    }

    /// Takes the agent id from the certificate when one is configured: fills in a missing `agent_id`, and
    /// refuses one that differs, or a certificate that is not an agent's (or is the hub's reserved id).
    /// `readIdentity` reads a certificate file's identity (KirokuPKI's `CertificateFile.identity`, passed
    /// in by the executable so that this library needs no X.509 parser).
    public mutating func resolveIdentity(readIdentity: (String) throws -> Identity?) throws {
        guard let certificate else {
            guard !agentID.isEmpty else {
                throw KirokuError(.configuration, "agent_id is required when no certificate is configured")
            }
            return
        }
        let identity: Identity?
        guard FileManager.default.fileExists(atPath: certificate) else {
            throw KirokuError(
                .configuration,
                "the agent certificate \(certificate) does not exist; check `certificate` in the configuration")
        }
        do {
            identity = try readIdentity(certificate)
        } catch {
            throw KirokuError(
                .configuration, "cannot read the agent certificate \(certificate) as PEM", underlying: error)
        }
        guard let identity, identity.role == .agent, identity.id != AgentID.hub else {
            throw KirokuError(
                .configuration,
                "the certificate \(certificate) is for \(identity?.uri ?? "no kiroku identity"), not an agent; issue one with 'kirokuctl pki issue agent --id ID'"
            )
        }
        if agentID.isEmpty {
            agentID = identity.id
        } else if agentID != identity.id {
            throw KirokuError(
                .configuration,
                "agent_id '\(agentID)' differs from the certificate's id '\(identity.id)' (\(certificate)); the hub would refuse every event journalled under it. Remove agent_id or set it to '\(identity.id)'"
            )
        }
    }

    /// The TLS material for the hub, or a clear error naming what is missing.
    public func credentials() throws -> (url: String, credentials: ClientCredentials) {
        guard let hubURL, let ca, let certificate, let privateKey else {
            throw KirokuError(
                .configuration, "hub_url, ca, certificate and private_key are all needed to sync with the hub")
        }
        guard hubURL.hasPrefix("https://") else {
            throw KirokuError(.configuration, "hub_url must start with https:// (got \(hubURL))")
        }
        try PrivateFiles.checkPrivateKey(privateKey, what: "the agent's private key")
        return (hubURL, ClientCredentials(caPath: ca, certificatePath: certificate, keyPath: privateKey))
    }

    /// Checks values that have a range.
    public func validate() throws {
        guard AgentID.isValid(agentID) else {
            throw KirokuError(.configuration, "agent_id '\(agentID)' must be 1-64 of A-Z a-z 0-9 . _ -")
        }
        guard heartbeatSeconds >= 1 else { throw KirokuError(.configuration, "heartbeat_seconds must be at least 1") }
        guard stopFlushSeconds >= 0, stopFlushSeconds <= 80 else {
            throw KirokuError(
                .configuration, "stop_flush_seconds must be 0 to 80 (systemd stops a service after 90 s)")
        }
        guard batchEvents >= 1 else { throw KirokuError(.configuration, "batch_events must be at least 1") }
        guard batchBytes >= 64 * 1024 else { throw KirokuError(.configuration, "batch_bytes must be at least 65536") }
        guard ["gzip", "none"].contains(compression) else {
            throw KirokuError(.configuration, "compression must be gzip or none (got \(compression))")
        }
        guard UInt16(socketMode, radix: 8) != nil else {
            throw KirokuError(.configuration, "socket_mode must be octal, like 660")
        }
        for source in files { try source.validate() }
        guard filesPollSeconds >= 0.1 else {
            throw KirokuError(.configuration, "files_poll_seconds must be at least 0.1")
        }
        guard inventory.intervalSeconds >= 1 else {
            throw KirokuError(.configuration, "inventory interval_seconds must be at least 1")
        }
    }
}
