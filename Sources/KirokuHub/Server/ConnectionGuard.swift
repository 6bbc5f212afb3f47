import HTTPTypes
import HummingbirdCore
import HummingbirdTLS
import KirokuPKI
import KirokuProtocol
import Logging
public import NIOCore
import NIOHTTP1
import NIOHTTPTypes
import NIOSSL
import NIOTLS
import SwiftASN1
import Synchronization
import X509

#if canImport(Glibc)
    import Glibc
#endif

/// How many connections the hub holds, and for how long a connection may do nothing useful. Anyone on
/// the network can open a TCP connection and send three bytes of a ClientHello without a certificate:
/// such connections are bounded per source address and in total, and closed when their handshake does not
/// complete in time, so that they cannot use up the descriptors the people and agents need.
public struct ConnectionLimits: Sendable, Equatable {
    /// All connections at once; beyond it a new connection is closed at once.
    public var maxConnections: Int
    /// Connections whose TLS handshake has not completed yet; the rest of ``maxConnections`` is the
    /// reserve that only authenticated clients reach.
    public var maxUnauthenticated: Int
    /// Handshaking connections from one source address.
    public var maxUnauthenticatedPerAddress: Int
    /// Time for the TLS handshake (with the client certificate) to complete.
    public var handshakeTimeout: TimeAmount
    /// Time a connection may stay without a complete request head, body progress or a new request.
    public var idleTimeout: TimeAmount
    /// Time from a request's head to the end of its body: a body trickled a byte at a time is cut.
    public var requestTimeout: TimeAmount
}

/// The live counts behind ``ConnectionLimits``.
final class ConnectionCounter: Sendable {
    let limits: ConnectionLimits
    private struct Counts {
        var total = 0
        var unauthenticated = 0
        var perAddress: [String: Int] = [:]
        var refused = 0
    }
    private let counts = Mutex(Counts())

    init(limits: ConnectionLimits) { self.limits = limits }

    /// Takes a new connection as unauthenticated, or says why not.
    func admit(_ address: String) -> String? {
        counts.withLock { counts in
            let why: String?
            if counts.total >= limits.maxConnections {
                why = "the hub holds its most connections (\(limits.maxConnections))"
            } else if counts.unauthenticated >= limits.maxUnauthenticated {
                why = "\(limits.maxUnauthenticated) connections are still in their TLS handshake"
            } else if counts.perAddress[address, default: 0] >= limits.maxUnauthenticatedPerAddress {
                why = "\(address) has \(limits.maxUnauthenticatedPerAddress) connections in their TLS handshake"
            } else {
                why = nil
            }
            guard why == nil else {
                counts.refused += 1
                return why
            }
            counts.total += 1
            counts.unauthenticated += 1
            counts.perAddress[address, default: 0] += 1
            return nil
        }
    }

    func authenticated(_ address: String) {
        counts.withLock { counts in
            counts.unauthenticated -= 1
            counts.perAddress[address, default: 1] -= 1
            if counts.perAddress[address] == 0 { counts.perAddress[address] = nil }
        }
    }

    func closed(_ address: String, authenticated: Bool) {
        counts.withLock { counts in
            counts.total -= 1
            if !authenticated {
                counts.unauthenticated -= 1
                counts.perAddress[address, default: 1] -= 1
                if counts.perAddress[address] == 0 { counts.perAddress[address] = nil }
            }
        }
    }

    var refused: Int { counts.withLock { $0.refused } }
}

/// First in every connection's pipeline, before TLS: admits the connection against the counts or closes it
/// at once, and gives its place back when it closes.
final class ConnectionAdmission: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    let counter: ConnectionCounter
    let logger: Logger
    private var address = ""
    private var admitted = false
    private(set) var authenticated = false

    init(counter: ConnectionCounter, logger: Logger) {
        self.counter = counter
        self.logger = logger
    }

    func channelActive(context: ChannelHandlerContext) {
        address = context.channel.remoteAddress?.ipAddress ?? "unknown"
        if let why = counter.admit(address) {
            // Logged once in a while, not per connection: a flood must not fill the log either.
            if counter.refused % 100 == 1 {
                logger.warning(
                    "refused connections: \(why)",
                    metadata: ["kiroku.peer.address": "\(address)", "kiroku.refused": "\(counter.refused)"])
            }
            context.close(promise: nil)
            return
        }
        admitted = true
        context.fireChannelActive()
    }

    /// Called by ``ConnectionGuard`` when the handshake (with a verified client certificate) completed.
    func markAuthenticated() {
        guard admitted, !authenticated else { return }
        authenticated = true
        counter.authenticated(address)
    }

    func channelInactive(context: ChannelHandlerContext) {
        if admitted {
            admitted = false
            counter.closed(address, authenticated: authenticated)
        }
        context.fireChannelInactive()
    }
}

/// After TLS and HTTP decoding: closes a connection whose handshake does not complete in time, answers
/// malformed HTTP with the protocol's `{"code","message"}` body (where Hummingbird would send an empty
/// 400), and closes the connection after a response that says `Connection: close` (a certificate revoked
/// while its connection was open).
final class ConnectionGuard: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    let limits: ConnectionLimits
    let verifier: ClientCertificateVerifier
    let peers: ConnectionPeers
    let logger: Logger
    private var deadline: Scheduled<Void>?
    private var requestDeadline: Scheduled<Void>?
    private var requestInFlight = false
    /// The in-flight request's body has been read to its end (a parse error now belongs to the next one).
    private var requestRead = false
    private var closeAfterResponse = false
    private var answeredError = false
    /// Malformed bytes behind a complete request: answered once that request's response is out.
    private var deferredError: (any Error)?

    init(limits: ConnectionLimits, verifier: ClientCertificateVerifier, peers: ConnectionPeers, logger: Logger) {
        self.limits = limits
        self.verifier = verifier
        self.peers = peers
        self.logger = logger
    }

    func handlerAdded(context: ChannelHandlerContext) {
        let channel = context.channel
        deadline = context.eventLoop.scheduleTask(in: limits.handshakeTimeout) { channel.close(promise: nil) }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        deadline?.cancel()
        requestDeadline?.cancel()
        peers.forget(context.channel)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .handshakeCompleted = event as? TLSUserEvent {
            deadline?.cancel()
            deadline = nil
            // A resumed session skips the certificate callback: the certificate is judged again here, before
            // the connection counts as authenticated. It is parsed once, here, for every request the
            // connection will carry (``IdentityMiddleware`` reads it from ``ConnectionPeers``).
            let peer = try? context.pipeline.syncOperations.handler(type: NIOSSLServerHandler.self).peerCertificate
            guard let der = try? peer?.toDERBytes(), let certificate = try? Certificate(derEncoded: der) else {
                logger.notice("closed a connection at its handshake's end: no readable client certificate")
                context.close(promise: nil)
                return
            }
            if let refusal = verifier.refusal(certificate) {
                logger.notice("closed a connection at its handshake's end: \(refusal)")
                context.close(promise: nil)
                return
            }
            if let identity = certificate.kirokuIdentity {
                peers.admit(context.channel, Peer(identity: identity, serial: certificate.serialHex, der: der))
            }
            try? context.pipeline.syncOperations.handler(type: ConnectionAdmission.self).markAuthenticated()
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head:
            requestInFlight = true
            requestRead = false
            let channel = context.channel
            requestDeadline = context.eventLoop.scheduleTask(in: limits.requestTimeout) { channel.close(promise: nil) }
        case .body:
            break
        case .end:
            requestRead = true
            requestDeadline?.cancel()
            requestDeadline = nil
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .head(let response):
            if response.headerFields[.connection]?.lowercased() == "close" { closeAfterResponse = true }
            context.write(data, promise: promise)
        case .body:
            context.write(data, promise: promise)
        case .end:
            requestInFlight = false
            if let error = deferredError {
                context.write(data, promise: promise)
                answer(context: context, error)
                return
            }
            guard closeAfterResponse else {
                context.write(data, promise: promise)
                return
            }
            let written = context.writeAndFlush(data)
            written.cascade(to: promise)
            let channel = context.channel
            written.whenComplete { _ in channel.close(promise: nil) }
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard error is HTTPParserError, !answeredError else {
            context.fireErrorCaught(error)
            return
        }
        if requestInFlight {
            // Behind a request still being answered: if its body was read, the error is the next request's,
            // answered after this one; if not, the route reading the body gets it.
            if requestRead {
                deferredError = error
            } else {
                context.fireErrorCaught(error)
            }
            return
        }
        answer(context: context, error)
    }

    /// Writes the protocol's JSON `malformed_request` answer and closes the connection.
    private func answer(context: ChannelHandlerContext, _ error: any Error) {
        answeredError = true
        let error = KirokuError(
            .malformedRequest, "the request is not valid HTTP/1.1 (\(error)); closing the connection")
        let body = CanonicalJSON.encode(
            .object(["code": .string(error.code.rawValue), "message": .string(error.message)]))
        let head = HTTPResponse(
            status: .badRequest,
            headerFields: [
                .contentType: "application/json; charset=utf-8", .contentLength: "\(body.count)", .connection: "close",
            ])
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.write(wrapOutboundOut(.body(ByteBuffer(bytes: body))), promise: nil)
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in channel.close(promise: nil) }
    }
}

/// The hub's child channel: ``ConnectionAdmission`` in front of TLS, then Hummingbird's TLS and HTTP/1.1
/// channels with ``ConnectionGuard`` and the idle timeout.
struct GuardedChannel<Base: ServerChildChannel>: ServerChildChannel {
    typealias Value = Base.Value
    let base: Base
    let counter: ConnectionCounter
    let logger: Logger

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        channel.eventLoop.makeCompletedFuture {
            try channel.pipeline.syncOperations.addHandler(ConnectionAdmission(counter: counter, logger: self.logger))
        }.flatMap {
            base.setup(channel: channel, logger: logger)
        }
    }

    func handle(value: Value, logger: Logger) async {
        await base.handle(value: value, logger: logger)
    }
}

extension HTTPServerBuilder {
    /// HTTP/1.1 over mutual TLS with the hub's connection limits and timeouts.
    static func guarded(
        tls: TLSChannelConfiguration, limits: ConnectionLimits, counter: ConnectionCounter,
        verifier: ClientCertificateVerifier, peers: ConnectionPeers,
        logger: Logger
    ) -> HTTPServerBuilder {
        .init { responder in
            GuardedChannel(
                base: try TLSChannel(
                    HTTP1Channel(
                        responder: responder,
                        configuration: .init(
                            additionalChannelHandlers: [
                                ConnectionGuard(limits: limits, verifier: verifier, peers: peers, logger: logger)
                            ],
                            idleTimeout: limits.idleTimeout)),
                    configuration: tls),
                counter: counter, logger: logger)
        }
    }
}

/// Raises the soft limit of open descriptors to the hard one, and returns the soft limit now in force.
func raiseDescriptorLimit() -> Int {
    var limit = rlimit()
    guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 1024 }
    if limit.rlim_cur < limit.rlim_max {
        var raised = limit
        raised.rlim_cur = limit.rlim_max
        if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &raised) == 0 { limit = raised }
    }
    return limit.rlim_cur > 1 << 20 ? 1 << 20 : Int(limit.rlim_cur)
}
