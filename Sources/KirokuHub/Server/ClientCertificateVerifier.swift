import Foundation
import KirokuPKI
import KirokuProtocol
public import Logging
import NIOSSL
import Prometheus
import SwiftASN1
import Synchronization
public import X509

// `struct stat` belongs to whichever C module of the target declared it first: Glibc, CoreFoundation or,
// since the target also imports Dispatch (through Hummingbird), CDispatch. Importing all that exist keeps
// `stamp(_:)` compiling whatever that order is (MemberImportVisibility).
#if canImport(Glibc)
    import Glibc
#endif
#if canImport(CoreFoundation)
    import CoreFoundation
#endif
#if canImport(CDispatch)
    import CDispatch
#endif

/// Verifies every client certificate during the TLS handshake: chain to the municipality's CA (RFC 5280:
/// signature, validity period, CA constraints), not revoked, and carrying exactly one Kiroku identity.
///
/// Revocation fails closed. The list is read at start (the hub does not start without a good one) and
/// again whenever the file changes; while it is missing, unreadable, malformed, cut short, or drops a
/// serial it held before (a revocation is never undone), every certificate is refused until a good list
/// is read again. ``IdentityMiddleware`` asks again on every request, so a keep-alive connection opened
/// before a revocation is refused at its next request.
public final class ClientCertificateVerifier: Sendable {
    let ca: Certificate
    let revocationList: String
    let logger: Logger
    let metrics: HubMetrics?

    enum ListState: Equatable {
        case good(Set<String>)
        case unusable(String)
    }

    private struct Cache {
        var stamp: [Int]
        var state: ListState
        /// Every serial any good list held: a later list without one of them is refused.
        var everRevoked: Set<String>
    }

    private let cache: Mutex<Cache>
    /// Keeps newly seen revoked serials durably (the hub's store), so that a shrunk list is refused after a
    /// restart as well.
    let remember: @Sendable (Set<String>) throws -> Void

    /// Reads the list once; throws (a `configuration` error naming the problem) if it is not good, or if it
    /// lacks a serial of `remembered` (what earlier lists held).
    public init(
        ca: Certificate, revocationList: String, logger: Logger, metrics: HubMetrics? = nil,
        remembered: Set<String> = [],
        remember: @escaping @Sendable (Set<String>) throws -> Void = { _ in }
    ) throws {
        self.ca = ca
        self.revocationList = revocationList
        self.logger = logger
        self.metrics = metrics
        self.remember = remember
        let stamp = Self.stamp(revocationList)
        let serials = try RevocationList.load(from: URL(filePath: revocationList))
        let lost = remembered.subtracting(serials)
        if let example = lost.sorted().first {
            throw KirokuError(
                .configuration,
                "the revocation list \(revocationList) no longer holds \(lost.count) serial(s) that an earlier list revoked (e.g. \(example)); a revocation is never undone. Restore the CA's revoked.txt"
            )
        }
        try remember(serials.subtracting(remembered))
        cache = Mutex(Cache(stamp: stamp, state: .good(serials), everRevoked: serials.union(remembered)))
        metrics?.revocationListUsable.set(Double(1))
    }

    /// Inode, size, modification and change times: any rewrite or append changes one of them.
    static func stamp(_ path: String) -> [Int] {
        var info = stat()
        guard stat(path, &info) == 0 else { return [-1, Int(errno)] }
        return [
            Int(info.st_ino), Int(info.st_size), info.st_mtim.tv_sec, info.st_mtim.tv_nsec, info.st_ctim.tv_sec,
            info.st_ctim.tv_nsec,
        ]
    }

    /// The list as it stands now, re-read if the file changed.
    func state() -> ListState {
        let stamp = Self.stamp(revocationList)
        let (state, change) = cache.withLock { cache -> (ListState, (old: ListState, new: ListState)?) in
            guard cache.stamp != stamp else { return (cache.state, nil) }
            let old = cache.state
            cache.stamp = stamp
            do {
                let serials = try RevocationList.load(from: URL(filePath: revocationList))
                let lost = cache.everRevoked.subtracting(serials)
                if let example = lost.first {
                    cache.state = .unusable(
                        "the revocation list \(revocationList) no longer holds \(lost.count) serial(s) it revoked before (e.g. \(example)); a revocation is never undone"
                    )
                } else {
                    // Kept durably before it counts as good: a restart must not forget a revocation.
                    try remember(serials.subtracting(cache.everRevoked))
                    cache.state = .good(serials)
                    cache.everRevoked.formUnion(serials)
                }
            } catch {
                cache.state = .unusable((error as? KirokuError)?.message ?? "\(error)")
            }
            return (cache.state, old == cache.state ? nil : (old, cache.state))
        }
        if let change {
            switch (change.old, change.new) {
            case (_, .unusable(let reason)):
                metrics?.revocationListUsable.set(Double(0))
                logger.error(
                    "revocation list unusable: every client certificate is refused until a good list is read again",
                    metadata: ["kiroku.revocation.problem": "\(reason)"])
            case (.unusable, .good(let serials)):
                metrics?.revocationListUsable.set(Double(1))
                logger.notice(
                    "revocation list readable again: clients are admitted",
                    metadata: ["kiroku.revocation.serials": "\(serials.count)"])
            default:
                break
            }
        }
        return state
    }

    /// Why this (parsed) certificate must be refused now, or nil if it may pass.
    func refusal(_ certificate: Certificate) -> String? {
        let now = Date()
        guard certificate.notValidBefore <= now, now <= certificate.notValidAfter else {
            return "certificate outside its validity period"
        }
        return refusal(serial: certificate.serialHex)
    }

    /// Why a certificate with this serial must be refused now, or nil if it may pass.
    func refusal(serial: String) -> String? {
        switch state() {
        case .unusable(let reason):
            return "the revocation list cannot be used (\(reason))"
        case .good(let serials):
            return serials.contains(serial) ? "certificate revoked" : nil
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
        if let refusal = refusal(serial: leaf.serialHex) {
            metrics?.revocationRefusals.increment()
            logger.notice(
                "refused a TLS client: \(refusal)",
                metadata: ["kiroku.peer": "\(who)", "kiroku.serial": "\(leaf.serialHex)"])
            return .failed
        }
        guard leaf.kirokuIdentity != nil else {
            logger.notice(
                "refused a TLS client: no single kiroku:ROLE:ID identity",
                metadata: ["kiroku.serial": "\(leaf.serialHex)"])
            return .failed
        }
        return .certificateVerified
    }
}
