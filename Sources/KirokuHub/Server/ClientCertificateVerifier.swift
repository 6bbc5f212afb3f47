import SwiftASN1
import KirokuProtocol
import KirokuPKI
public import Logging
import NIOSSL
import Synchronization
public import X509

import Foundation

/// Verifies every client certificate during the TLS handshake: chain to the municipality's CA (RFC 5280:
/// signature, validity period, CA constraints), not revoked, and carrying exactly one Kiroku identity.
/// The revocation list file is re-read whenever it changes, so a revoked certificate is refused from the
/// next connection on, without a restart.
public final class ClientCertificateVerifier: Sendable {
    let ca: Certificate
    let revocationList: String?
    let logger: Logger
    private let cache = Mutex<(stamp: String, serials: Set<String>)>(("", []))

    public init(ca: Certificate, revocationList: String?, logger: Logger) {
        self.ca = ca
        self.revocationList = revocationList
        self.logger = logger
    }

    /// The revoked serials, re-read if the file's size or modification time changed.
    public func revokedSerials() -> Set<String> {
        guard let path = revocationList else { return [] }
        let attributes = try? FileManager.default.attributesOfItem(atPath: path)
        let stamp = "\(attributes?[.modificationDate] ?? "none")|\(attributes?[.size] ?? 0)"
        return cache.withLock { cache in
            if cache.stamp != stamp {
                cache = (stamp, RevocationList.read(from: URL(filePath: path)))
            }
            return cache.serials
        }
    }

    func verify(_ chain: [NIOSSLCertificate]) async -> NIOSSLVerificationResult {
        guard let first = chain.first, let leaf = try? Certificate(derEncoded: first.toDERBytes()) else {
            logger.notice("refused a TLS client: no readable certificate")
            return .failed
        }
        let intermediates = chain.dropFirst().compactMap { try? Certificate(derEncoded: $0.toDERBytes()) }
        var verifier = Verifier(rootCertificates: CertificateStore([ca])) {
            RFC5280Policy()
        }
        let result = await verifier.validate(leaf: leaf, intermediates: CertificateStore(intermediates))
        let who = leaf.kirokuIdentity?.uri ?? "no kiroku identity"
        guard case .validCertificate = result else {
            logger.notice(
                "refused a TLS client: certificate does not chain to the CA or is outside its validity",
                metadata: ["kiroku.peer": "\(who)", "kiroku.serial": "\(leaf.serialHex)"])
            return .failed
        }
        if revokedSerials().contains(leaf.serialHex) {
            logger.notice(
                "refused a TLS client: certificate revoked",
                metadata: ["kiroku.peer": "\(who)", "kiroku.serial": "\(leaf.serialHex)"])
            return .failed
        }
        guard leaf.kirokuIdentity != nil else {
            logger.notice("refused a TLS client: no single kiroku:ROLE:ID identity", metadata: ["kiroku.serial": "\(leaf.serialHex)"])
            return .failed
        }
        return .certificateVerified
    }
}
