import AsyncHTTPClient
import Foundation
import KirokuProtocol
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import ServiceLifecycle

/// Pushes findings as they are raised (hub configuration `alerts`): every two seconds the findings raised
/// or reopened since the last round are queued per channel, and what is due is delivered; a channel that is
/// down is retried with a growing wait (up to `retry_max_seconds`), so nothing raised is lost while the
/// relay, the syslog server or the webhook is away. Judging and ingest never wait for it.
struct AlertService: Service {
    let store: HubStore
    let settings: AlertSettings
    let origin: String
    let logger: Logger

    func run() async throws {
        let senders = AlertSenders(settings: settings, origin: origin)
        await PeriodicJob(interval: .seconds(2), failure: "alerting failed; it is retried", logger: logger).run {
            try await deliver(senders)
        }
        try? await senders.shutdown()
    }

    /// One round: queue, then deliver what is due (tests call it directly).
    func deliver(_ senders: AlertSenders, now: Date = Date()) async throws {
        try await store.queueAlerts(settings, now: now)
        // A channel that fails is not tried again this round: a relay that hangs must not hold up syslog and
        // the webhook behind it, alert after alert.
        var down = Set<String>()
        for alert in try await store.dueAlerts(now: now) {
            guard !Task.isCancelled, !Task.isShuttingDownGracefully else { return }
            if down.contains(alert.channel) {
                continue
            }
            do {
                let destination = try await senders.send(alert)
                try await store.alertSent(alert, to: destination)
                logger.notice(
                    "alert sent",
                    metadata: ["kiroku.finding": "\(alert.finding.id)", "kiroku.alert.channel": "\(alert.channel)"])
            } catch {
                down.insert(alert.channel)
                let wait = min(settings.retryMaxSeconds, 5 * pow(2, Double(min(alert.attempts, 16))))
                try await store.alertFailed(alert, error: "\(error)", retry: .seconds(Int64(wait)))
                logger.warning(
                    "alert not delivered; retried later",
                    metadata: [
                        "kiroku.finding": "\(alert.finding.id)", "kiroku.alert.channel": "\(alert.channel)",
                        "kiroku.error": "\(error)",
                        "kiroku.retry_seconds": "\(Int(wait))",
                    ])
            }
        }
    }
}

/// What an alert says: a Japanese subject and body written from the finding's fields, its English sentence
/// beside.
struct AlertMessage {
    let subject: String
    let body: String

    init(_ alert: HubStore.PendingAlert, origin: String) {
        let f = alert.finding
        let severity = ["critical": "重大", "warning": "警告", "info": "情報"][f.severity] ?? f.severity
        subject = "[記録 Kiroku] \(severity) \(f.article) \(ConsoleText.rule(f.rule)) 所見 \(f.id)"
        body = [
            "記録 Kiroku (\(origin)) が所見を\(alert.cause == "reopened" ? "新たな証拠により再び開きました" : "挙げました")。",
            "",
            "所見番号: \(f.id)",
            "重大度: \(severity) (\(f.severity))",
            "条項: \(f.article)",
            "規則: \(ConsoleText.rule(f.rule))",
            "内容: \(f.summaryForJapanese)",
            "初回: \(ConsoleText.time(f.firstSeen))  最終: \(ConsoleText.time(f.lastSeen))  件数: \(f.count)",
            "証拠: \(f.evidence.isEmpty ? "—" : f.evidence.joined(separator: ", "))",
            "",
            "(English) \(f.summary)",
            "",
            "確認と対応は、ウェブ画面の「所見」(/findings/\(f.id)) または kirokuctl findings で記録してください。",
        ].joined(separator: "\n")
    }
}

/// The three channels' clients.
final class AlertSenders: Sendable {
    let settings: AlertSettings
    let origin: String
    let http: HTTPClient?

    init(settings: AlertSettings, origin: String) {
        self.settings = settings
        self.origin = origin
        if let webhook = settings.webhook {
            var tls = TLSConfiguration.makeClientConfiguration()
            // Checked at start (AlertSettings.checkCA); if the file went bad since, no certificate is trusted
            // rather than the system's roots.
            if let ca = webhook.ca { tls.trustRoots = .certificates((try? NIOSSLCertificate.fromPEMFile(ca)) ?? []) }
            var configuration = HTTPClient.Configuration(tlsConfiguration: tls)
            configuration.timeout = .init(connect: .seconds(10), read: .seconds(30))
            configuration.redirectConfiguration = .disallow
            http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        } else {
            http = nil
        }
    }

    func shutdown() async throws { try await http?.shutdown() }

    /// Delivers one alert; returns where it went (for the record), or throws.
    func send(_ alert: HubStore.PendingAlert) async throws -> String {
        let message = AlertMessage(alert, origin: origin)
        switch alert.channel {
        case "mail":
            guard let mail = settings.mail else { throw KirokuError(.configuration, "mail is no longer configured") }
            try await SMTPClient(settings: mail).send(subject: message.subject, body: message.body)
            return mail.to.joined(separator: ",")
        case "syslog":
            guard let syslog = settings.syslog else {
                throw KirokuError(.configuration, "syslog is no longer configured")
            }
            try await SyslogClient(settings: syslog).send(alert, message: message)
            return "\(syslog.transport)://\(syslog.host):\(syslog.port)"
        case "webhook":
            guard let webhook = settings.webhook, let http else {
                throw KirokuError(.configuration, "the webhook is no longer configured")
            }
            var request = HTTPClientRequest(url: webhook.url)
            request.method = .POST
            request.headers.add(name: "Content-Type", value: "application/json; charset=utf-8")
            request.headers.add(name: "User-Agent", value: "kiroku-hub")
            struct Body: Encodable {
                var hub: String
                var cause: String
                var subject: String
                var text: String
                var finding: Finding
            }
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            let body = try encoder.encode(
                Body(
                    hub: origin, cause: alert.cause, subject: message.subject, text: message.body,
                    finding: alert.finding))
            request.body = .bytes(ByteBuffer(bytes: body))
            let response = try await http.execute(request, timeout: .seconds(30))
            _ = try? await response.body.collect(upTo: 64 * 1024)
            guard (200..<300).contains(response.status.code) else {
                throw KirokuError(.hubUnavailable, "the webhook answered HTTP \(response.status.code)")
            }
            return webhook.url
        default:
            throw KirokuError(.configuration, "unknown alert channel \(alert.channel)")
        }
    }
}

/// An SMTP client for the city's relay (RFC 5321), with STARTTLS (RFC 3207): one message per connection,
/// Japanese subject as an encoded word and the body in ISO-2022-JP (7 bit) or UTF-8 (base64).
struct SMTPClient {
    let settings: AlertSettings.Mail

    func send(subject: String, body: String) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await session(subject: subject, body: body) }
            group.addTask {
                try await Task.sleep(for: .seconds(60))
                throw KirokuError(.hubUnavailable, "the mail relay did not finish within 60 s")
            }
            try await group.next()
            group.cancelAll()
        }
    }

    /// The message as it goes after DATA: headers, a blank line, the body; CRLF, dot-stuffed.
    func message(subject: String, body: String, date: Date = Date()) throws -> String {
        let japanese = settings.charset == "iso-2022-jp"
        // A finding quotes what terminals sent (a program's path, a subject): a bare CR or another control
        // character must not reach the relay, where `\r.\r\n` could end the message early (SMTP smuggling).
        // ISO-2022-JP's own ESC is added by the encoding, after this.
        let body = String(
            String.UnicodeScalarView(
                body.unicodeScalars.map {
                    $0 == "\n" || $0 == "\t"
                        || ($0.value >= 0x20 && $0.value != 0x7F && !(0x80...0x9F).contains($0.value)) ? $0 : "?"
                }))
        // ISO-2022-JP holds JIS X 0208 only: a character it cannot hold (𠮷, a dash of another code) is
        // replaced by 〓, the geta mark Japanese mail uses for it, rather than the mail not going.
        func jis(_ text: String) -> String { String(text.map { String($0).data(using: .iso2022JP) == nil ? "〓" : $0 }) }
        func encoded(_ text: String) throws -> String {
            guard let bytes = japanese ? jis(text).data(using: .iso2022JP) : text.data(using: .utf8) else {
                throw KirokuError(.internalError, "the subject cannot be written in \(settings.charset)")
            }
            return "=?\(japanese ? "ISO-2022-JP" : "UTF-8")?B?\(bytes.base64EncodedString())?="
        }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "Asia/Tokyo")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss Z"
        var lines = [
            "From: \(settings.from)", "To: \(settings.to.joined(separator: ", "))", "Subject: \(try encoded(subject))",
            "Date: \(formatter.string(from: date))",
            "Message-ID: <\(UUID().uuidString.lowercased())@\(settings.from.split(separator: "@").last ?? "kiroku")>",
            "MIME-Version: 1.0", "Auto-Submitted: auto-generated",
        ]
        let text: String
        if japanese {
            // ISO-2022-JP is 7 bit: the escape sequences and ASCII go as they are.
            guard let bytes = jis(body).data(using: .iso2022JP) else {
                throw KirokuError(.internalError, "the body cannot be written in ISO-2022-JP")
            }
            lines += ["Content-Type: text/plain; charset=ISO-2022-JP", "Content-Transfer-Encoding: 7bit"]
            text = String(decoding: bytes, as: UTF8.self)
        } else {
            lines += ["Content-Type: text/plain; charset=UTF-8", "Content-Transfer-Encoding: base64"]
            let encoded = Data(body.utf8).base64EncodedString()
            text = stride(from: 0, to: encoded.count, by: 76).map { start in
                let from = encoded.index(encoded.startIndex, offsetBy: start)
                return String(
                    encoded[from..<(encoded.index(from, offsetBy: 76, limitedBy: encoded.endIndex) ?? encoded.endIndex)]
                )
            }.joined(separator: "\n")
        }
        let all = lines.joined(separator: "\r\n") + "\r\n\r\n" + text.replacingOccurrences(of: "\n", with: "\r\n")
        // Dot-stuffing (RFC 5321 4.5.2): a line that starts with '.' gets another.
        return all.split(separator: "\r\n", omittingEmptySubsequences: false).map {
            $0.hasPrefix(".") ? "." + $0 : String($0)
        }.joined(separator: "\r\n")
    }

    private func session(subject: String, body: String) async throws {
        let data = try message(subject: subject, body: body)
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connectTimeout(.seconds(10))
            .connect(host: settings.host, port: settings.port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        let tlsConfiguration: TLSConfiguration = {
            var tls = TLSConfiguration.makeClientConfiguration()
            if let ca = settings.ca { tls.trustRoots = .certificates((try? NIOSSLCertificate.fromPEMFile(ca)) ?? []) }
            return tls
        }()
        let host = settings.host
        let starttls = settings.starttls
        try await channel.executeThenClose { inbound, outbound in
            var lines = inbound.makeAsyncIterator()
            var pending = ""
            /// One reply: its code and its lines (a multi-line reply has `-` after the code until the last).
            func reply() async throws -> (code: Int, lines: [String]) {
                var out: [String] = []
                while true {
                    while let end = pending.range(of: "\r\n") {
                        let line = String(pending[..<end.lowerBound])
                        pending = String(pending[end.upperBound...])
                        out.append(line)
                        if line.count < 4 || line[line.index(line.startIndex, offsetBy: 3)] != "-" {
                            return (Int(line.prefix(3)) ?? 0, out)
                        }
                    }
                    guard var buffer = try await lines.next() else {
                        throw KirokuError(.hubUnavailable, "the mail relay closed the connection")
                    }
                    pending += buffer.readString(length: buffer.readableBytes) ?? ""
                }
            }
            func command(_ text: String, expect: Set<Int>) async throws -> [String] {
                try await outbound.write(ByteBuffer(string: text + "\r\n"))
                let answer = try await reply()
                guard expect.contains(answer.code) else {
                    throw KirokuError(
                        .hubUnavailable, "the mail relay answered \(answer.lines.last ?? "") to \(text.prefix(20))")
                }
                return answer.lines
            }
            let greeting = try await reply()
            guard greeting.code == 220 else {
                throw KirokuError(.hubUnavailable, "the mail relay greeted with \(greeting.lines.last ?? "")")
            }
            var features = try await command("EHLO kiroku-hub", expect: [250])
            let offered = features.contains { $0.dropFirst(4).uppercased().hasPrefix("STARTTLS") }
            if starttls != "none" && offered {
                _ = try await command("STARTTLS", expect: [220])
                // Anything already received was sent in clear after the 220 and would be read as the encrypted
                // session's (a response injection): refused.
                guard pending.isEmpty else {
                    throw KirokuError(.hubUnavailable, "the mail relay sent data in clear after STARTTLS's 220")
                }
                // TLS from here on, below everything else in the pipeline.
                let raw = channel.channel
                try await raw.eventLoop.submit {
                    let context = try NIOSSLContext(configuration: tlsConfiguration)
                    try raw.pipeline.syncOperations.addHandler(
                        try NIOSSLClientHandler(context: context, serverHostname: host), position: .first)
                }.get()
                features = try await command("EHLO kiroku-hub", expect: [250])
            } else if starttls == "required" {
                throw KirokuError(
                    .configuration, "the mail relay \(host) does not offer STARTTLS (alerts.mail.starttls is required)")
            }
            _ = features
            _ = try await command("MAIL FROM:<\(settings.from)>", expect: [250])
            for recipient in settings.to { _ = try await command("RCPT TO:<\(recipient)>", expect: [250, 251]) }
            _ = try await command("DATA", expect: [354])
            _ = try await command(data + "\r\n.", expect: [250])
            _ = try? await command("QUIT", expect: [221])
        }
    }
}

/// RFC 5424 syslog over UDP (RFC 5426; nothing confirms delivery) or TCP (RFC 6587 octet counting; the
/// write and an orderly close confirm it).
struct SyslogClient {
    let settings: AlertSettings.Syslog

    func line(
        _ alert: HubStore.PendingAlert, message: AlertMessage, hostname: String = ProcessInfo.processInfo.hostName
    ) -> String {
        let severity = ["critical": 2, "warning": 4, "info": 6][alert.finding.severity] ?? 5
        func param(_ text: String) -> String {
            text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
                .replacingOccurrences(of: "]", with: "\\]")
        }
        let host = hostname.isEmpty ? "-" : String(hostname.prefix(255).filter { $0.isASCII && !$0.isWhitespace })
        let time = Timestamp(date: Date()).rfc3339
        let data =
            "[kiroku@32473 finding=\"\(alert.finding.id)\" rule=\"\(param(alert.finding.rule))\" article=\"\(param(alert.finding.article))\" severity=\"\(alert.finding.severity)\" cause=\"\(alert.cause)\"]"
        // The message itself: UTF-8 with its BOM, as RFC 5424 says, on one line.
        let text = message.subject + " : " + alert.finding.summaryForJapanese.replacingOccurrences(of: "\n", with: " ")
        return "<\(settings.facility * 8 + severity)>1 \(time) \(host) kiroku-hub - FINDING \(data) \u{FEFF}\(text)"
    }

    func send(_ alert: HubStore.PendingAlert, message: AlertMessage) async throws {
        let text = line(alert, message: message)
        if settings.transport == "udp" {
            let channel = try await DatagramBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .bind(host: settings.host.contains(":") ? "::" : "0.0.0.0", port: 0).get()
            defer { channel.close(promise: nil) }
            let address = try SocketAddress.makeAddressResolvingHost(settings.host, port: settings.port)
            try await channel.writeAndFlush(AddressedEnvelope(remoteAddress: address, data: ByteBuffer(string: text)))
                .get()
            return
        }
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connectTimeout(.seconds(10))
            .connect(host: settings.host, port: settings.port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        try await channel.executeThenClose { _, outbound in
            try await outbound.write(ByteBuffer(string: "\(text.utf8.count) \(text)"))
        }
    }
}
