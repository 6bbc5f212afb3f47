public import Crypto
import Foundation
public import Hummingbird
import HummingbirdTLS
import KirokuPKI
import KirokuProtocol
public import Logging
import NIOCore
import NIOSSL
import Prometheus
import ServiceLifecycle
import SwiftASN1
import X509

#if canImport(Glibc)
    import Glibc
#endif

/// Builds the hub: store, receipt key, mTLS server and routes. `kiroku-hub run` and the tests both call
/// ``build(configuration:logger:onListening:)`` (the tests' `InProcessHub`, for routes and roles).
public enum HubApp {
    /// The application, ready to `runService()`.
    public static func build(
        configuration: HubConfiguration, logger: Logger, onListening: @escaping @Sendable (Int) async -> Void = { _ in }
    ) async throws -> some ApplicationProtocol {
        try configuration.validate()
        try checkTLSMaterial(configuration)
        for path in [configuration.signingKeyPath] + configuration.overlapSigningKeys
        where FileManager.default.fileExists(atPath: path) {
            try PrivateFiles.checkPrivateKey(path, what: "the hub's signing key")
        }
        let record: any RecordStore
        let house: HubStore?
        if let settings = configuration.store {
            let municipality = try settings.location().municipality
            let postgres = try await PostgresRecordStore.open(
                settings, municipality: municipality, logger: logger, create: configuration.newRecord)
            do {
                let key = try loadOrCreateSigningKey(path: configuration.signingKeyPath)
                let overlap = try configuration.overlapSigningKeys.map { try loadOrCreateSigningKey(path: $0) }
                try await postgres.bind(
                    origin: configuration.origin, keyID: signingKeyID(key.publicKey),
                    previous: overlap.map { signingKeyID($0.publicKey) })
            } catch {
                await postgres.close()
                throw error
            }
            record = postgres
            house = nil
            if postgres.startedNewRecord {
                logger.notice(
                    "this database held no record of the municipality: a new, empty record was started",
                    metadata: ["kiroku.municipality": "\(municipality)"])
            }
            logger.notice(
                "the record is on PostgreSQL: this hub takes agents' events, serves the Merkle log, and lets the configuration's readers search the record and export evidence; people, registers, findings, rules, retention and the console's other pages are served by a hub on SQLite in this version",
                metadata: [
                    "kiroku.store": "\(postgres.location)", "kiroku.readers": "\(settings.readers)",
                    "kiroku.cosigners": "\(settings.cosigners)",
                ])
            if settings.readers.isEmpty {
                logger.warning(
                    "no readers are named (store.readers, KIROKU_HUB_STORE_READERS): nobody can read the record through this hub"
                )
            }
        } else {
            let fresh = try noRecord(at: configuration.database)
            guard !fresh || configuration.newRecord else { throw noRecordError(configuration.database) }
            let store = try HubStore.open(path: configuration.database)
            if fresh {
                logger.notice(
                    "no record was at this path: a new, empty record was started",
                    metadata: ["kiroku.database": "\(configuration.database)"])
            }
            record = store
            house = store
        }
        do {
            return try await assemble(
                configuration: configuration, logger: logger, onListening: onListening, record: record, house: house)
        } catch {
            // Not left connected to the database by a hub that will not run.
            if let postgres = record as? PostgresRecordStore { await postgres.close() }
            throw error
        }
    }

    /// Whether no record is at `path` (followed through symbolic links, so that a link into a volume that is
    /// not mounted is no record): no file, or an empty one whose WAL is empty too (a first start stopped before
    /// SQLite wrote). Anything it cannot tell stops the hub.
    static func noRecord(at path: String) throws -> Bool {
        guard let bytes = try PrivateFiles.size(of: path), bytes > 0 else {
            if let wal = try PrivateFiles.size(of: path + "-wal"), wal > 0 {
                throw KirokuError(
                    .configuration,
                    "\(path) is empty but its write-ahead log \(path)-wal is not: this is a damaged record, not a new one; restore the record from its backup (Hub/README.md)"
                )
            }
            return true
        }
        return false
    }

    /// A hub that finds no record does not begin one unasked: after a mistyped `--database` or a lost disk,
    /// every agent would send its journal again to an empty record, and declare lost what it has pruned.
    static func noRecordError(_ path: String) -> KirokuError {
        KirokuError(
            .configuration,
            "no record is at \(path): if this is the hub's first start, create it with `kiroku-hub init` and the same settings; otherwise check --database (database in the configuration, KIROKU_HUB_DATABASE) or restore the record from its backup (Hub/README.md)"
        )
    }

    /// What `kiroku-hub init` made: where the record is, and the hub's signing key (the public half goes to
    /// the 会議 on paper).
    public struct NewRecord: Sendable {
        public var location: String
        public var key: Curve25519.Signing.PublicKey
    }

    /// The hub's first start without the server: checks the configuration as `run` does, begins an empty record
    /// (a SQLite file, or the municipality's log in PostgreSQL, bound to the origin and key), and makes the
    /// signing key if it is not there. Refuses, changing nothing, when a record is already there.
    public static func initialize(configuration: HubConfiguration, logger: Logger) async throws -> NewRecord {
        try configuration.validate()
        try checkTLSMaterial(configuration)
        for path in [configuration.signingKeyPath] + configuration.overlapSigningKeys
        where FileManager.default.fileExists(atPath: path) {
            try PrivateFiles.checkPrivateKey(path, what: "the hub's signing key")
        }
        guard configuration.overlapSigningKeys.isEmpty else {
            throw KirokuError(
                .configuration,
                "overlap_signing_keys are for a key rotation of a hub that has a record; a new record begins with one key"
            )
        }
        if let settings = configuration.store {
            let municipality = try settings.location().municipality
            let postgres = try await PostgresRecordStore.open(
                settings, municipality: municipality, logger: logger, create: true)
            do {
                guard postgres.startedNewRecord else {
                    throw KirokuError(
                        .configuration,
                        "this database already holds the record of the municipality '\(municipality)'; nothing was changed (kiroku-hub init is for the first hub's first start; start the hub with kiroku-hub run)"
                    )
                }
                let key = try loadOrCreateSigningKey(path: configuration.signingKeyPath)
                try await postgres.bind(origin: configuration.origin, keyID: signingKeyID(key.publicKey))
                await postgres.close()
                return NewRecord(location: "\(postgres.location), municipality \(municipality)", key: key.publicKey)
            } catch {
                await postgres.close()
                throw error
            }
        }
        guard try noRecord(at: configuration.database) else {
            throw KirokuError(
                .configuration,
                "a record is already at \(configuration.database); nothing was changed (kiroku-hub init is for the hub's first start; start the hub with kiroku-hub run)"
            )
        }
        // The key before the record: a record is never left without the key whose public half init prints.
        let key = try loadOrCreateSigningKey(path: configuration.signingKeyPath)
        _ = try HubStore.open(path: configuration.database)
        return NewRecord(location: configuration.database, key: key.publicKey)
    }

    /// The rest of ``build(configuration:logger:onListening:)`` once the stores are open: keys, TLS, routes
    /// and services.
    static func assemble(
        configuration: HubConfiguration, logger: Logger, onListening: @escaping @Sendable (Int) async -> Void,
        record: any RecordStore, house: HubStore?
    ) async throws -> some ApplicationProtocol {
        let key = try loadOrCreateSigningKey(path: configuration.signingKeyPath)
        let overlap = try configuration.overlapSigningKeys.map { try loadOrCreateSigningKey(path: $0) }
        // Never a retired key, nor another key than the log's without a rotation (recorded below, last).
        try KeyRotations.checkStart(
            key: key.publicKey, overlap: overlap.map(\.publicKey), recorded: try await record.keyRotations())
        let unreadable = try house?.peopleWithUnknownRoles(labels: configuration.roleLabels) ?? []
        if !unreadable.isEmpty {
            // The record keeps being collected; these people are refused until the register or the labels
            // are put right.
            logger.error(
                "the people register names roles that role_labels does not: these people are refused everything until it is corrected",
                metadata: [
                    "kiroku.people": "\(unreadable.prefix(20).joined(separator: ", "))",
                    "kiroku.roles": "\(configuration.roleLabels.known)",
                ])
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
            ca: ca, revocationList: revocationList, logger: logger, metrics: metrics,
            remembered: try await record.revokedSerialsSeen(),
            remember: { try record.rememberRevokedSerials($0) })

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
        router.add(middleware: SecurityHeadersMiddleware())
        router.add(middleware: ErrorMiddleware(onError: { metrics.refused($0) }))
        let peers = ConnectionPeers()
        router.add(middleware: IdentityMiddleware(verifier: verifier, peers: peers))
        router.add(middleware: CrossSiteMiddleware())
        let core = HubCore(
            record: record, house: house, key: key, overlapKeys: overlap, metrics: metrics, configuration: configuration
        )
        for controller in try HubCore.controllers(core) { controller.addRoutes(to: router) }

        let descriptors = raiseDescriptorLimit()
        let limits = configuration.connectionLimits(descriptors: descriptors)
        if limits.maxConnections > descriptors - 64 {
            throw KirokuError(
                .configuration,
                "max_connections \(limits.maxConnections) leaves too few of the \(descriptors) file descriptors this process may open; raise LimitNOFILE or lower max_connections"
            )
        }
        logger.notice(
            "connection limits",
            metadata: [
                "kiroku.descriptors": "\(descriptors)", "kiroku.connections.max": "\(limits.maxConnections)",
                "kiroku.connections.handshaking": "\(limits.maxUnauthenticated)",
                "kiroku.connections.per_address": "\(limits.maxUnauthenticatedPerAddress)",
            ])
        if !overlap.isEmpty {
            // A rotation, once everything else is checked (on PostgreSQL it moves every hub's key): the new
            // key's first checkpoints are co-signed by the old ones, over a tree that records the change.
            try await record.recordKeyRotation(to: key.publicKey, from: overlap.map(\.publicKey), now: Date())
            logger.notice(
                "signing key rotation in progress: checkpoints are co-signed by the previous keys",
                metadata: [
                    "kiroku.key": "\(signingKeyID(key.publicKey))",
                    "kiroku.overlap": "\(overlap.map { signingKeyID($0.publicKey) })",
                ])
        }
        return Application(
            router: router,
            server: .guarded(
                tls: TLSChannelConfiguration(
                    tlsConfiguration: tls, customAsyncVerificationCallback: { chain in await verifier.verify(chain) }),
                limits: limits, counter: ConnectionCounter(limits: limits), verifier: verifier, peers: peers,
                logger: logger),
            configuration: .init(
                address: .hostname(configuration.host, port: configuration.port), serverName: "kiroku-hub"),
            services: [
                CheckpointService(
                    store: record, origin: configuration.origin, keys: [key] + overlap,
                    interval: .milliseconds(Int64(configuration.checkpointSeconds * 1000)), logger: logger)
            ] + (house.map { houseServices($0, configuration: configuration, logger: logger) } ?? [])
                + ((record as? PostgresRecordStore).map { [PartitionService(store: $0, logger: logger)] } ?? []),
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

    /// The services of what only the SQLite store keeps: the rules, the purge and the alerts.
    static func houseServices(_ store: HubStore, configuration: HubConfiguration, logger: Logger) -> [any Service] {
        [
            RuleService(store: store, settings: configuration.rules, logger: logger),
            PurgeService(
                store: store, policy: configuration.retention,
                interval: .milliseconds(Int64(configuration.purgeHours * 3_600_000)), logger: logger),
        ]
            + (configuration.alerts.map {
                [AlertService(store: store, settings: $0, origin: configuration.origin, logger: logger)]
            } ?? [])
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
            certificate = try Certificate(
                pemEncoded: try String(contentsOfFile: configuration.certificate, encoding: .utf8))
        } catch {
            throw KirokuError(
                .configuration, "the hub certificate \(configuration.certificate) is not a PEM certificate")
        }
        do {
            privateKey = try Certificate.PrivateKey(
                pemEncoded: try String(contentsOfFile: configuration.privateKey, encoding: .utf8))
        } catch {
            throw KirokuError(
                .configuration, "the hub's private key \(configuration.privateKey) is not a PEM private key")
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
                "the certificate \(configuration.certificate) \(what), not a hub; issue the hub's own with 'kirokuctl pki issue hub --dns NAME'"
            )
        }
        guard privateKey.publicKey == certificate.publicKey else {
            throw KirokuError(
                .configuration,
                "the private key \(configuration.privateKey) does not belong to the certificate \(configuration.certificate); give the .key issued with that .crt"
            )
        }
        guard certificate.issuer == ca.subject else {
            throw KirokuError(
                .configuration,
                "the hub certificate \(configuration.certificate) was not issued by the CA \(configuration.ca)")
        }
    }

    /// Loads the Ed25519 receipt key, creating it (mode 0600) on first start.
    public static func loadOrCreateSigningKey(path: String) throws -> Curve25519.Signing.PrivateKey {
        if let data = FileManager.default.contents(atPath: path) {
            let text = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            guard let raw = Data(base64Encoded: text),
                let key = try? Curve25519.Signing.PrivateKey(rawRepresentation: raw)
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
