import SwiftASN1
import Prometheus
public import Crypto
public import Hummingbird
import HummingbirdTLS
import KirokuPKI
import KirokuProtocol
public import Logging
import NIOCore
import NIOSSL
import X509

#if canImport(Glibc)
import Glibc
#endif

import Foundation

/// Builds the hub: store, receipt key, mTLS server and routes. `kiroku-hub run` and the tests both call
/// ``build(configuration:logger:onListening:)``.
public enum HubApp {
    /// The application, ready to `runService()`.
    public static func build(
        configuration: HubConfiguration, logger: Logger, onListening: @escaping @Sendable (Int) async -> Void = { _ in }
    ) throws -> some ApplicationProtocol {
        try configuration.validate()
        try checkTLSMaterial(configuration)
        for path in [configuration.signingKeyPath] + configuration.overlapSigningKeys
        where FileManager.default.fileExists(atPath: path) {
            try PrivateFiles.checkPrivateKey(path, what: "the hub's signing key")
        }
        let store = try HubStore.open(path: configuration.database)
        let key = try loadOrCreateSigningKey(path: configuration.signingKeyPath)
        let overlap = try configuration.overlapSigningKeys.map { try loadOrCreateSigningKey(path: $0) }
        if !overlap.isEmpty {
            // A rotation: the new key's first checkpoints are co-signed by the old ones, over a tree that
            // records the change.
            try store.recordKeyRotation(to: key.publicKey, from: overlap.map(\.publicKey))
            logger.notice(
                "signing key rotation in progress: checkpoints are co-signed by the previous keys",
                metadata: ["kiroku.key": "\(signingKeyID(key.publicKey))", "kiroku.overlap": "\(overlap.map { signingKeyID($0.publicKey) })"])
        }
        let unreadable = try store.peopleWithUnknownRoles(labels: configuration.roleLabels)
        if !unreadable.isEmpty {
            // The record keeps being collected; these people are refused until the register or the labels
            // are put right.
            logger.error(
                "the people register names roles that role_labels does not: these people are refused everything until it is corrected",
                metadata: ["kiroku.people": "\(unreadable.prefix(20).joined(separator: ", "))", "kiroku.roles": "\(configuration.roleLabels.known)"])
        }
        let metrics = HubMetrics()
        let caPEM: String
        do {
            caPEM = try String(contentsOfFile: configuration.ca, encoding: .utf8)
        } catch {
            throw KirokuError(.configuration, "cannot read CA certificate \(configuration.ca)", underlying: error)
        }
        let ca = try Certificate(pemEncoded: caPEM)
        guard let revocationList = configuration.revocationList else {
            throw KirokuError(.configuration, "revocation_list is required")
        }
        let verifier = try ClientCertificateVerifier(
            ca: ca, revocationList: revocationList, logger: logger, metrics: metrics, remembered: try store.revokedSerialsSeen(),
            remember: { try store.rememberRevokedSerials($0) })

        var tls: TLSConfiguration
        do {
            tls = TLSConfiguration.makeServerConfiguration(
                certificateChain: try NIOSSLCertificate.fromPEMFile(configuration.certificate).map { .certificate($0) },
                privateKey: .privateKey(try NIOSSLPrivateKey(file: configuration.privateKey, format: .pem)))
            tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(configuration.ca))
        } catch {
            throw KirokuError(.configuration, "cannot load the hub's TLS certificate or key", underlying: error)
        }
        // docs/ARCHITECTURE.md, stack note 2: .fullVerification would match the client certificate against the client's IP
        // address and drop every agent silently. The chain is verified in ClientCertificateVerifier.
        tls.certificateVerification = .noHostnameVerification
        tls.minimumTLSVersion = .tlsv12
        tls.sendCANameList = true

        let router = Router(context: HubRequestContext.self)
        router.add(middleware: ErrorMiddleware(onError: { metrics.refused($0) }))
        router.add(middleware: IdentityMiddleware(verifier: verifier))
        router.add(middleware: CrossSiteMiddleware())
        let routes = Routes(store: store, key: key, overlapKeys: overlap, metrics: metrics, configuration: configuration)
        routes.register(on: router)
        routes.registerLog(on: router)
        routes.registerRetention(on: router)
        routes.registerFindings(on: router)
        routes.registerRegisters(on: router)

        let descriptors = raiseDescriptorLimit()
        let limits = configuration.connectionLimits(descriptors: descriptors)
        if limits.maxConnections > descriptors - 64 {
            throw KirokuError(
                .configuration,
                "max_connections \(limits.maxConnections) leaves too few of the \(descriptors) file descriptors this process may open; raise LimitNOFILE or lower max_connections")
        }
        logger.notice(
            "connection limits",
            metadata: [
                "kiroku.descriptors": "\(descriptors)", "kiroku.connections.max": "\(limits.maxConnections)",
                "kiroku.connections.handshaking": "\(limits.maxUnauthenticated)",
                "kiroku.connections.per_address": "\(limits.maxUnauthenticatedPerAddress)",
            ])
        return Application(
            router: router,
            server: .guarded(
                tls: TLSChannelConfiguration(
                    tlsConfiguration: tls, customAsyncVerificationCallback: { chain in await verifier.verify(chain) }),
                limits: limits, counter: ConnectionCounter(limits: limits), verifier: verifier, logger: logger),
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "kiroku-hub"),
            services: [
                CheckpointService(
                    store: store, origin: configuration.origin, keys: [key] + overlap,
                    interval: .milliseconds(Int64(configuration.checkpointSeconds * 1000)), logger: logger),
                RuleService(store: store, settings: configuration.rules, logger: logger),
                PurgeService(
                    store: store, policy: configuration.retention,
                    interval: .milliseconds(Int64(configuration.purgeHours * 3_600_000)), logger: logger),
            ],
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? configuration.port
                if let portFile = configuration.portFile {
                    try? Data("\(port)\n".utf8).write(to: URL(filePath: portFile), options: .atomic)
                }
                logger.info("hub listening", metadata: ["kiroku.port": "\(port)"])
                await onListening(port)
            },
            logger: logger)
    }

    /// Refuses, with what to do, TLS material that would not work or would not be safe: a private key others
    /// may read, a certificate that is not a hub's (an agent's or a person's), a key that is not the
    /// certificate's, a certificate the configured CA did not issue.
    static func checkTLSMaterial(_ configuration: HubConfiguration) throws {
        try PrivateFiles.checkPrivateKey(configuration.privateKey, what: "the hub's TLS private key")
        let certificate: Certificate
        let privateKey: Certificate.PrivateKey
        let ca: Certificate
        do {
            certificate = try Certificate(pemEncoded: try String(contentsOfFile: configuration.certificate, encoding: .utf8))
        } catch {
            throw KirokuError(.configuration, "the hub certificate \(configuration.certificate) is not a PEM certificate")
        }
        do {
            privateKey = try Certificate.PrivateKey(pemEncoded: try String(contentsOfFile: configuration.privateKey, encoding: .utf8))
        } catch {
            throw KirokuError(.configuration, "the hub's private key \(configuration.privateKey) is not a PEM private key")
        }
        do {
            ca = try Certificate(pemEncoded: try String(contentsOfFile: configuration.ca, encoding: .utf8))
        } catch {
            throw KirokuError(.configuration, "the CA certificate \(configuration.ca) is not a PEM certificate")
        }
        guard let identity = certificate.kirokuIdentity, identity.role == .hub else {
            let what = certificate.kirokuIdentity.map { "is for \($0.uri)" } ?? "carries no kiroku identity"
            throw KirokuError(
                .configuration,
                "the certificate \(configuration.certificate) \(what), not a hub; issue the hub's own with 'kirokuctl pki issue hub --dns NAME'")
        }
        guard privateKey.publicKey == certificate.publicKey else {
            throw KirokuError(
                .configuration,
                "the private key \(configuration.privateKey) does not belong to the certificate \(configuration.certificate); give the .key issued with that .crt")
        }
        guard certificate.issuer == ca.subject else {
            throw KirokuError(
                .configuration, "the hub certificate \(configuration.certificate) was not issued by the CA \(configuration.ca)")
        }
    }

    /// Loads the Ed25519 receipt key, creating it (mode 0600) on first start.
    public static func loadOrCreateSigningKey(path: String) throws -> Curve25519.Signing.PrivateKey {
        if let data = FileManager.default.contents(atPath: path) {
            let text = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            guard let raw = Data(base64Encoded: text), let key = try? Curve25519.Signing.PrivateKey(rawRepresentation: raw)
            else { throw KirokuError(.configuration, "receipt signing key \(path) is not a base64 Ed25519 key") }
            return key
        }
        let key = Curve25519.Signing.PrivateKey()
        do {
            try FileManager.default.createDirectory(
                at: URL(filePath: path).deletingLastPathComponent(), withIntermediateDirectories: true)
            try writeSecret(key.rawRepresentation.base64EncodedString() + "\n", to: URL(filePath: path))
        } catch {
            throw KirokuError(.configuration, "cannot create receipt signing key \(path)", underlying: error)
        }
        return key
    }
}

/// The hub's endpoints.
struct Routes: Sendable {
    let store: HubStore
    let key: Curve25519.Signing.PrivateKey
    /// Previous keys still co-signing checkpoints during a rotation.
    let overlapKeys: [Curve25519.Signing.PrivateKey]
    let metrics: HubMetrics
    let configuration: HubConfiguration

    func register(on router: Router<HubRequestContext>) {
        router.get("/v1/agent/state") { request, context in try await self.state(request, context) }
        router.post("/v1/agent/batches") { request, context in try await self.batch(request, context) }
        router.get("/v1/events") { request, context in try await self.events(request, context) }
        router.get("/v1/agents") { _, context in try await self.agents(context) }
        router.get("/v1/hub/key") { _, _ in
            Self.json(
                .object([
                    "algorithm": .string("ed25519"), "key": .string(self.key.publicKey.rawRepresentation.base64EncodedString()),
                    "key_id": .string(signingKeyID(self.key.publicKey)),
                    "overlap": .array(
                        self.overlapKeys.map {
                            .object([
                                "key": .string($0.publicKey.rawRepresentation.base64EncodedString()),
                                "key_id": .string(signingKeyID($0.publicKey)),
                            ])
                        }),
                ]))
        }
        router.get("/v1/me") { _, context in
            let identity = try Self.require(.person, context)
            let labels = self.configuration.roleLabels
            var answer: [String: JSONValue] = ["id": .string(identity.id)]
            switch try await self.store.staff(identity.id, labels: labels) {
            case .unenforced:
                answer["status"] = .string("unenforced")
            case .unknown:
                answer["status"] = .string("unknown")
            case .left(let day):
                answer["status"] = .string("left")
                answer["left"] = .string(day)
            case .staff(let staff):
                answer["status"] = .string("staff")
                answer["roles"] = .array(staff.roles.map { .string(labels.labels[$0]!) })
                answer["permissions"] = .array(staff.permissions.map(\.description).sorted().map(JSONValue.string))
            }
            return Self.json(.object(answer))
        }
        router.get("/metrics") { _, context in
            try await self.authorize(.readRecord, context)
            return Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
                body: .init(byteBuffer: ByteBuffer(bytes: self.metrics.render())))
        }
    }

    static func require(_ role: Identity.Role, _ context: HubRequestContext) throws -> Identity {
        guard let identity = context.identity else {
            throw KirokuError(.certificateRequired, "a client certificate is required")
        }
        guard identity.role == role else {
            throw KirokuError(
                .wrongRole, "\(identity.uri) may not use this endpoint; it is for \(role.rawValue) certificates")
        }
        if role == .agent && identity.id == AgentID.hub {
            throw KirokuError(.wrongRole, "the agent id '\(AgentID.hub)' is the hub's own chain; no agent certificate may use it")
        }
        return identity
    }

    /// A person allowed `permission` by the people register (PROTOCOL.md §11); refused with
    /// `not_permitted` otherwise. While the register is empty (a new hub), every person is allowed.
    @discardableResult
    func authorize(_ permission: Permission, _ context: HubRequestContext) async throws -> Identity {
        let identity = try Self.require(.person, context)
        try permit(permission, identity, try await store.staff(identity.id, labels: configuration.roleLabels))
        return identity
    }

    /// Whether what the people register says of `identity` allows `permission`; throws `not_permitted` if not.
    func permit(_ permission: Permission, _ identity: Identity, _ lookup: StaffLookup) throws {
        switch lookup {
        case .unenforced:
            return
        case .staff(let staff) where staff.permissions.contains(permission):
            return
        case .staff(let staff):
            let roles = staff.roles.map { configuration.roleLabels.labels[$0]! }.joined(separator: "・")
            throw KirokuError(.notPermitted, "\(identity.id) (\(roles)) may not \(permission)")
        case .unknown:
            throw KirokuError(.notPermitted, "\(identity.id) is not in the people register; the 管理者 adds people and their roles")
        case .left(let day):
            throw KirokuError(.notPermitted, "\(identity.id) left on \(day) (people register); their certificate no longer opens the record")
        }
    }

    /// Who may read events: the whole record, or only their own (operators, contractors; PROTOCOL.md §11).
    /// Returns the actor every query of this person is limited to, or nil for the whole record.
    func readerLimit(_ context: HubRequestContext) async throws -> String? {
        let identity = try Self.require(.person, context)
        let lookup = try await store.staff(identity.id, labels: configuration.roleLabels)
        if case .staff(let staff) = lookup, !staff.permissions.contains(.readRecord), staff.permissions.contains(.ownRecord) {
            return identity.id
        }
        try permit(.readRecord, identity, lookup)
        return nil
    }

    /// Applies ``readerLimit(_:)`` to a query's parameters: an operator asking for someone else is refused.
    func limitToReader(_ parameters: inout [String: String], _ context: HubRequestContext) async throws {
        guard let own = try await readerLimit(context) else { return }
        if let asked = parameters["actor"], asked != own {
            throw KirokuError(.notPermitted, "\(own) may read only their own record (actor \(own)), not \(asked)'s")
        }
        parameters["actor"] = own
    }

    func state(_ request: Request, _ context: HubRequestContext) async throws -> Response {
        let agent = try Self.require(.agent, context)
        let head = try await store.chainHead(agent: agent.id)
        var at: (seq: Int64, hash: String?)?
        if let text = request.uri.queryParameters["seq"] {
            guard let seq = Int64(String(text)), seq >= 1 else {
                throw KirokuError(.badQuery, "seq must be a whole number from 1, not '\(text.prefix(30))'")
            }
            at = (seq, try await store.hash(agent: agent.id, seq: seq))
        }
        let state = AgentState(
            agent: agent.id, lastSeq: head.seq, lastHash: head.hash, hubTime: Timestamp(date: Date()).rfc3339,
            hubKey: key.publicKey.rawRepresentation.base64EncodedString(), maxBatchEvents: configuration.maxBatchEvents,
            maxBatchBytes: configuration.maxBatchBytes, atSeq: at?.seq, hashAtSeq: at?.hash)
        return try Self.encode(state)
    }

    func batch(_ request: Request, _ context: HubRequestContext) async throws -> Response {
        let agent = try Self.require(.agent, context)
        var request = request
        let limit = configuration.maxBatchBytes
        // A declared length over the limit is refused at once, not after waiting for the bytes.
        if let declared = request.headers[.contentLength].flatMap({ Int($0) }), declared > limit {
            throw KirokuError(.batchTooLarge, "the batch body is over \(limit) bytes (Content-Length \(declared))")
        }
        var body: ByteBuffer
        do {
            body = try await request.collectBody(upTo: limit)
        } catch is NIOTooManyBytesError {
            throw KirokuError(.batchTooLarge, "the batch body is over \(limit) bytes")
        } catch {
            throw KirokuError(.malformedRequest, "the request body could not be read as HTTP/1.1")
        }
        switch request.headers[.contentEncoding]?.lowercased() {
        case nil, "identity":
            break
        case "gzip":
            body = try Inflate.inflate(body, format: .gzip, maxSize: limit)
        case "deflate":
            body = try Inflate.inflate(body, format: .zlib, maxSize: limit)
        case let other?:
            throw KirokuError(.unsupportedEncoding, "Content-Encoding '\(other.prefix(20))' is not supported; use gzip or deflate")
        }
        let started = ContinuousClock.now
        let batch = try Batch.parse(body.readableBytesView)
        guard batch.events.count <= configuration.maxBatchEvents else {
            throw KirokuError(
                .batchTooLarge, "the batch has \(batch.events.count) events; at most \(configuration.maxBatchEvents) are taken")
        }
        var known: Int64?
        if let text = request.uri.queryParameters["known_tree"] {
            guard let value = Int64(String(text)), value >= 1 else {
                throw KirokuError(.badQuery, "known_tree must be a tree size from 1, not '\(text.prefix(30))'")
            }
            known = value
        }
        let origin = configuration.origin
        let keys = [key] + overlapKeys
        // The checkpoint for the tree as this batch left it, kept (and served by size) with the batch and
        // signed by every key in force: receipts name only checkpoints in the history the witness sees.
        let result = try await store.ingest(batch, identity: agent.id) { size, root in
            var note = SignedNote(body: Checkpoint(origin: origin, size: size, root: root).body)
            for key in keys { try note.sign(name: origin, key: key) }
            return note
        }
        let checkpointText = result.checkpoint ?? ""
        // The proof that this tree extends the one of the agent's previous receipt, which it names.
        var consistency: LogConsistency?
        if let known, known < result.log.treeSize {
            let proof = try await store.consistencyProof(from: known, to: result.log.treeSize)
            consistency = LogConsistency(from: known, proof: proof.map { Hex.encode($0) })
        }
        let receipt = Receipt(
            agent: agent.id, firstSeq: result.firstSeq, throughSeq: result.throughSeq, headHash: result.headHash,
            accepted: result.accepted, duplicates: result.duplicates, hubTime: Timestamp(date: Date()).rfc3339,
            keyID: signingKeyID(key.publicKey),
            log: LogProof(
                leafIndex: result.log.leafIndex, treeSize: result.log.treeSize, root: Hex.encode(result.log.root),
                inclusion: result.log.inclusion.map { Hex.encode($0) }, checkpoint: checkpointText))
        metrics.eventsIngested.increment(by: Int64(result.accepted))
        metrics.duplicates.increment(by: Int64(result.duplicates))
        metrics.batchesAccepted.increment()
        metrics.batchDuration.record(ContinuousClock.now - started)
        metrics.lag(agent: agent.id, events: max(0, batch.headSeq - result.throughSeq))
        var signed = try SignedReceipt.sign(receipt, with: key)
        signed.consistency = consistency
        return try Self.encode(signed)
    }

    func events(_ request: Request, _ context: HubRequestContext) async throws -> Response {
        var parameters: [String: String] = [:]
        for (name, value) in request.uri.queryParameters {
            parameters[String(name)] = String(value)
        }
        try await limitToReader(&parameters, context)
        let query = try EventQuery(parameters: parameters)
        return try Self.encode(try await store.query(query))
    }

    func agents(_ context: HubRequestContext) async throws -> Response {
        try await authorize(.readRecord, context)
        return try Self.encode(AgentHealthList(agents: try await store.agentHealth()))
    }

    static func encode<T: Encodable>(_ value: T) throws -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let data = try encoder.encode(value)
        return Response(
            status: .ok, headers: [.contentType: "application/json; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    static func json(_ value: JSONValue) -> Response {
        Response(
            status: .ok, headers: [.contentType: "application/json; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(bytes: CanonicalJSON.encode(value))))
    }
}

