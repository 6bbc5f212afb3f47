import Foundation
import KirokuProtocol
import NIOSSL

/// Where findings are pushed as they are raised (hub configuration `alerts`): mail to the city's relay,
/// syslog, an HTTPS webhook. Each channel chooses its findings by severity and rule; every key is checked
/// and an unknown one stops the hub (a misspelt channel must not silently send nothing).
///
/// ```json
/// "alerts": {
///   "mail": {"host": "smtp.city.example.lg.jp", "port": 25, "starttls": "required", "from": "kiroku@city.example.lg.jp",
///            "to": ["joho-kanri@city.example.lg.jp"], "charset": "iso-2022-jp"},
///   "syslog": {"host": "127.0.0.1", "port": 514, "transport": "udp"},
///   "webhook": {"url": "https://alerts.city.example.lg.jp/kiroku", "ca": "/etc/kiroku/alerts-ca.crt", "severities": ["critical", "warning"]}
/// }
/// ```
public struct AlertSettings: Sendable, Equatable, Codable {
    /// Which findings a channel takes: those of `severities` (default critical), and those of `rules`
    /// whatever their severity.
    public struct Selection: Sendable, Equatable, Codable {
        public var severities: Set<String> = ["critical"]
        public var rules: Set<String> = []

        public func takes(rule: String, severity: String) -> Bool {
            severities.contains(severity) || rules.contains(rule)
        }

        init() {}

        init(_ container: KeyedDecodingContainer<AnyCodingKey>, channel: String) throws {
            if let severities = try container.decodeIfPresent(
                [String].self, forKey: AnyCodingKey(stringValue: "severities"))
            {
                for severity in severities where !["critical", "warning", "info"].contains(severity) {
                    throw KirokuError(
                        .configuration, "alerts.\(channel).severities: '\(severity)' is not critical, warning or info")
                }
                self.severities = Set(severities)
            }
            if let rules = try container.decodeIfPresent([String].self, forKey: AnyCodingKey(stringValue: "rules")) {
                for rule in rules where RuleInfo.named(rule) == nil {
                    throw KirokuError(
                        .configuration,
                        "alerts.\(channel).rules: no rule '\(rule)' (kirokuctl findings rules, or GET /v1/rules)")
                }
                self.rules = Set(rules)
            }
        }
    }

    public struct Mail: Sendable, Equatable, Codable {
        public var host: String
        public var port = 25
        /// `required` (the default: refuse to send over a relay that does not offer STARTTLS), `optional`, or
        /// `none` (a relay on the same host).
        public var starttls = "required"
        public var from: String
        public var to: [String]
        /// `iso-2022-jp` (the default, what every Japanese mail reader takes) or `utf-8`.
        public var charset = "iso-2022-jp"
        /// The relay's CA (PEM) when it is not in the system's trust store.
        public var ca: String?
        public var selection = Selection()

        static let keys = ["host", "port", "starttls", "from", "to", "charset", "ca", "severities", "rules"]
    }

    public struct Syslog: Sendable, Equatable, Codable {
        public var host = "127.0.0.1"
        public var port = 514
        /// `udp` (RFC 5426) or `tcp` (RFC 6587, octet counting).
        public var transport = "udp"
        /// The RFC 5424 facility number; default 13 (log audit).
        public var facility = 13
        public var selection = Selection()

        static let keys = ["host", "port", "transport", "facility", "severities", "rules"]
    }

    public struct Webhook: Sendable, Equatable, Codable {
        /// `https://…` only.
        public var url: String
        /// The receiver's CA (PEM) when it is not in the system's trust store.
        public var ca: String?
        public var selection = Selection()

        static let keys = ["url", "ca", "severities", "rules"]
    }

    public var mail: Mail?
    public var syslog: Syslog?
    public var webhook: Webhook?
    /// The longest wait between attempts at an alert that could not be delivered.
    public var retryMaxSeconds = 300.0

    public init() {}

    /// The channels configured, by name.
    public var channels: [String] {
        [mail.map { _ in "mail" }, syslog.map { _ in "syslog" }, webhook.map { _ in "webhook" }].compactMap { $0 }
    }

    public func takes(channel: String, rule: String, severity: String) -> Bool {
        switch channel {
        case "mail": mail?.selection.takes(rule: rule, severity: severity) ?? false
        case "syslog": syslog?.selection.takes(rule: rule, severity: severity) ?? false
        case "webhook": webhook?.selection.takes(rule: rule, severity: severity) ?? false
        default: false
        }
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: AnyCodingKey.self)
        func only(_ container: KeyedDecodingContainer<AnyCodingKey>, _ keys: [String], _ path: String) throws {
            for key in container.allKeys where !keys.contains(key.stringValue) {
                throw KirokuError(
                    .configuration,
                    "\(path): unknown key '\(key.stringValue)'; the keys are \(keys.joined(separator: ", "))")
            }
        }
        try only(c, ["mail", "syslog", "webhook", "retry_max_seconds"], "alerts")
        retryMaxSeconds =
            try c.decodeIfPresent(Double.self, forKey: AnyCodingKey(stringValue: "retry_max_seconds"))
            ?? retryMaxSeconds
        if c.contains(AnyCodingKey(stringValue: "mail")) {
            let m = try c.nestedContainer(keyedBy: AnyCodingKey.self, forKey: AnyCodingKey(stringValue: "mail"))
            try only(m, Mail.keys, "alerts.mail")
            func key(_ name: String) -> AnyCodingKey { AnyCodingKey(stringValue: name) }
            var mail = Mail(
                host: try m.decode(String.self, forKey: key("host")),
                from: try m.decode(String.self, forKey: key("from")),
                to: try m.decode([String].self, forKey: key("to")))
            mail.port = try m.decodeIfPresent(Int.self, forKey: key("port")) ?? mail.port
            mail.starttls = try m.decodeIfPresent(String.self, forKey: key("starttls")) ?? mail.starttls
            mail.charset = try m.decodeIfPresent(String.self, forKey: key("charset")) ?? mail.charset
            mail.ca = try m.decodeIfPresent(String.self, forKey: key("ca"))
            mail.selection = try Selection(m, channel: "mail")
            self.mail = mail
        }
        if c.contains(AnyCodingKey(stringValue: "syslog")) {
            let s = try c.nestedContainer(keyedBy: AnyCodingKey.self, forKey: AnyCodingKey(stringValue: "syslog"))
            try only(s, Syslog.keys, "alerts.syslog")
            func key(_ name: String) -> AnyCodingKey { AnyCodingKey(stringValue: name) }
            var syslog = Syslog()
            syslog.host = try s.decodeIfPresent(String.self, forKey: key("host")) ?? syslog.host
            syslog.port = try s.decodeIfPresent(Int.self, forKey: key("port")) ?? syslog.port
            syslog.transport = try s.decodeIfPresent(String.self, forKey: key("transport")) ?? syslog.transport
            syslog.facility = try s.decodeIfPresent(Int.self, forKey: key("facility")) ?? syslog.facility
            syslog.selection = try Selection(s, channel: "syslog")
            self.syslog = syslog
        }
        if c.contains(AnyCodingKey(stringValue: "webhook")) {
            let w = try c.nestedContainer(keyedBy: AnyCodingKey.self, forKey: AnyCodingKey(stringValue: "webhook"))
            try only(w, Webhook.keys, "alerts.webhook")
            var webhook = Webhook(url: try w.decode(String.self, forKey: AnyCodingKey(stringValue: "url")))
            webhook.ca = try w.decodeIfPresent(String.self, forKey: AnyCodingKey(stringValue: "ca"))
            webhook.selection = try Selection(w, channel: "webhook")
            self.webhook = webhook
        }
        try validate()
    }

    /// Refuses settings that could not deliver, or not safely.
    public func validate() throws {
        guard retryMaxSeconds >= 1, retryMaxSeconds <= 86_400 else {
            throw KirokuError(.configuration, "alerts.retry_max_seconds must be 1 to 86400")
        }
        if let mail {
            guard !mail.host.isEmpty, (1...65535).contains(mail.port) else {
                throw KirokuError(.configuration, "alerts.mail: host and port 1-65535")
            }
            guard ["required", "optional", "none"].contains(mail.starttls) else {
                throw KirokuError(.configuration, "alerts.mail.starttls is required, optional or none")
            }
            // TLS checks the relay's certificate against its name; an address cannot be sent as one (SNI).
            if mail.starttls != "none", mail.host.allSatisfy({ $0.isHexDigit || $0 == "." || $0 == ":" }) {
                throw KirokuError(
                    .configuration,
                    "alerts.mail.host: name the relay by the DNS name its certificate has (not \(mail.host)) for STARTTLS"
                )
            }
            guard ["iso-2022-jp", "utf-8"].contains(mail.charset) else {
                throw KirokuError(.configuration, "alerts.mail.charset is iso-2022-jp or utf-8")
            }
            for address in [mail.from] + mail.to where !Self.isAddress(address) {
                throw KirokuError(.configuration, "alerts.mail: '\(address.prefix(80))' is not a mail address")
            }
            guard !mail.to.isEmpty else {
                throw KirokuError(.configuration, "alerts.mail.to names at least one address")
            }
            if let ca = mail.ca { try Self.checkCA(ca, "alerts.mail.ca") }
        }
        if let syslog {
            guard !syslog.host.isEmpty, (1...65535).contains(syslog.port), ["udp", "tcp"].contains(syslog.transport),
                (0...23).contains(syslog.facility)
            else {
                throw KirokuError(
                    .configuration, "alerts.syslog: host, port 1-65535, transport udp or tcp, facility 0-23")
            }
        }
        if let webhook {
            guard let url = URL(string: webhook.url), url.scheme == "https", url.host != nil else {
                throw KirokuError(
                    .configuration,
                    "alerts.webhook.url must be https://… (findings name residents' lookups; never in clear)")
            }
            if let ca = webhook.ca { try Self.checkCA(ca, "alerts.webhook.ca") }
        }
    }

    /// A CA file must hold at least one PEM certificate: one that does not would leave the channel trusting
    /// the system's roots instead, without a word.
    static func checkCA(_ path: String, _ key: String) throws {
        guard FileManager.default.fileExists(atPath: path) else {
            throw KirokuError(.configuration, "\(key) \(path) does not exist")
        }
        guard let certificates = try? NIOSSLCertificate.fromPEMFile(path), !certificates.isEmpty else {
            throw KirokuError(.configuration, "\(key) \(path) holds no PEM certificate")
        }
    }

    /// A plain `local@domain`, without the characters that would let it break out of an SMTP command or a header.
    static func isAddress(_ text: String) -> Bool {
        let parts = text.split(separator: "@", omittingEmptySubsequences: false)
        return parts.count == 2 && !parts[0].isEmpty && parts[1].contains(".")
            && text.unicodeScalars.allSatisfy {
                $0.value > 0x20 && $0.value < 0x7F && !"<>(),;:\\\"[]".unicodeScalars.contains($0)
            }
    }
}
