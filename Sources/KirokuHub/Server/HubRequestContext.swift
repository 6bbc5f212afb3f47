import Crypto
import Foundation
import HTTPTypes
public import Hummingbird
import KirokuPKI
public import KirokuProtocol
import Logging
public import NIOCore
import NIOSSL
import SwiftASN1
import Synchronization
import X509

/// The request context of the hub: keeps the connection's channel so the client certificate can be read
/// (docs/ARCHITECTURE.md, stack note 3: `nioSSL_peerValidatedCertificateChain()` is nil under Hummingbird; the channel's
/// `nioSSL_peerCertificate()` works), and carries the caller's identity once a middleware has read it.
public struct HubRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    public let channel: any Channel
    /// Who is calling, from the certificate's SAN URI. Set by ``IdentityMiddleware``.
    public var identity: Identity?
    /// The caller's certificate (DER), as the TLS layer received it.
    public var certificateDER: [UInt8] = []
    /// SHA-256 of the caller's certificate: what the console's form tokens are bound to. Computed when a
    /// form needs it, not on every request (agents' batches never do).
    public var certificateDigest: [UInt8] { certificateDER.isEmpty ? [] : Array(SHA256.hash(data: certificateDER)) }

    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.channel = source.channel
    }

    /// Bodies are bounded per endpoint; this is the outer bound.
    public var maxUploadSize: Int { 64 * 1024 * 1024 }
}

/// The caller of a connection, as its certificate said at the end of the TLS handshake.
struct Peer: Sendable {
    let identity: Identity
    let serial: String
    let der: [UInt8]
}

/// The callers of the open connections, each read from its certificate once, when its handshake completed
/// (``ConnectionGuard``), and forgotten when the connection's pipeline is torn down — so a channel's entry
/// never outlives it, and a request never parses a certificate again.
final class ConnectionPeers: Sendable {
    private let peers = Mutex<[ObjectIdentifier: Peer]>([:])

    func admit(_ channel: any Channel, _ peer: Peer) { peers.withLock { $0[ObjectIdentifier(channel)] = peer } }
    func forget(_ channel: any Channel) { _ = peers.withLock { $0.removeValue(forKey: ObjectIdentifier(channel)) } }
    func peer(of channel: any Channel) -> Peer? { peers.withLock { $0[ObjectIdentifier(channel)] } }
    var count: Int { peers.withLock { $0.count } }
}

/// Gives each request its caller's identity, taken once per connection (``ConnectionPeers``). The TLS
/// layer has already verified the chain against the CA and the revocation list
/// (``ClientCertificateVerifier``). Every request is checked against the revocation list as it stands
/// now, so a keep-alive connection opened before a revocation does not outlive it: the request is refused
/// and the connection closed.
struct IdentityMiddleware: RouterMiddleware {
    typealias Context = HubRequestContext
    let verifier: ClientCertificateVerifier
    let peers: ConnectionPeers

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        var context = context
        guard let peer = peers.peer(of: context.channel) else {
            throw KirokuError(.certificateRequired, "a client certificate with a kiroku:ROLE:ID identity is required")
        }
        let identity = peer.identity
        if let refusal = verifier.refusal(serial: peer.serial) {
            context.logger.notice(
                "refused a request on an open connection: \(refusal)", metadata: ["kiroku.peer": "\(identity.uri)"])
            throw KirokuError(
                refusal == "certificate revoked" ? .certificateRevoked : .revocationUnavailable,
                refusal == "certificate revoked"
                    ? "\(identity.uri) was revoked; this connection is closed"
                    : "the hub cannot read its revocation list and admits nobody until it can; this connection is closed"
            )
        }
        context.identity = identity
        context.certificateDER = peer.der
        context.logger[metadataKey: "kiroku.peer"] = "\(identity.uri)"
        return try await next(request, context)
    }
}

/// A browser that holds a person's certificate sends it with a form another site's page posts to the hub.
/// Anything but a read is refused when the browser says it comes from elsewhere (`Sec-Fetch-Site`) or
/// names another origin (`Origin`); `kirokuctl` and agents send neither header. API writes must also carry
/// a content type no form can send; console forms carry a token bound to the certificate (``ConsoleToken``).
struct CrossSiteMiddleware: RouterMiddleware {
    typealias Context = HubRequestContext

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        if request.method != .get && request.method != .head {
            let site = HTTPField.Name("Sec-Fetch-Site").flatMap { request.headers[$0] }?.lowercased()
            let origin = request.headers[.origin]
            let host = request.head.authority
            if let site, site != "same-origin" && site != "none" {
                throw KirokuError(
                    .crossSiteRequest,
                    "a request from another site (\(site.prefix(20))) may not change anything on the hub")
            }
            if let origin, origin != "https://\(host ?? "")" {
                throw KirokuError(
                    .crossSiteRequest, "a request from \(origin.prefix(80)) may not change anything on the hub")
            }
        }
        // The router takes `//v1/holds` as `/v1/holds`: judge the path as it routes.
        let segments = request.uri.path.split(separator: "/")
        if request.method != .get && request.method != .head && segments.first == "v1" {
            // The API takes only bodies a cross-site form or a no-CORS fetch cannot send (those can send
            // only form encodings and text/plain), so that a browser never carries a certificate into it.
            let type = request.headers[.contentType].map {
                ($0.split(separator: ";").first.map(String.init) ?? "").trimmingCharacters(in: .whitespaces)
                    .lowercased()
            }
            let expected =
                segments == ["v1", "log", "cosignature"]
                ? SignedNote.mediaType : request.method == .put ? "text/csv" : "application/json"
            guard type == expected else {
                throw KirokuError(
                    .unsupportedMediaType,
                    "\(request.method) \(request.uri.path.prefix(60)) takes Content-Type: \(expected), not \(type.map { "'\($0.prefix(40))'" } ?? "none")"
                )
            }
        }
        return try await next(request, context)
    }
}

/// Every answer: never sniffed as another type, and not cached unless it says so (the record, evidence and
/// registers hold residents' data; only the console's stylesheet may be cached).
struct SecurityHeadersMiddleware: RouterMiddleware {
    typealias Context = HubRequestContext

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        var response = try await next(request, context)
        if response.headers[.cacheControl] == nil { response.headers[.cacheControl] = "no-store" }
        response.headers[HTTPField.Name("X-Content-Type-Options")!] = "nosniff"
        return response
    }
}

/// Answers every error with the one body shape `{code, message}` and the code's HTTP status.
struct ErrorMiddleware: RouterMiddleware {
    typealias Context = HubRequestContext
    let onError: @Sendable (ErrorCode) -> Void

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        do {
            return try await next(request, context)
        } catch let error as KirokuError {
            onError(error.code)
            if error.code == .internalError {
                context.logger.error("internal error", metadata: ["kiroku.error": "\(error)"])
            }
            // Rendered by Hummingbird through ``KirokuError``'s `HTTPResponseError` conformance.
            throw error
        } catch let error as HTTPError {
            let code: ErrorCode
            switch error.status.code {
            case 404: code = .notFound
            case 413: code = .batchTooLarge
            case 405: code = .notFound
            default: code = error.status.code < 500 ? .malformedRequest : .internalError
            }
            onError(code)
            let message =
                code == .notFound
                ? "no such endpoint: \(request.method) \(request.uri.path)" : (error.body ?? "request refused")
            // Hummingbird's own refusals keep their status (405 is not a 404) with the protocol's body.
            var response = Self.response(
                KirokuError(code, message), path: request.uri.path, json: Self.wantsJSON(request))
            response.status = error.status
            return response
        } catch {
            onError(.internalError)
            context.logger.error("internal error", metadata: ["kiroku.error": "\(error)"])
            throw KirokuError(.internalError, "the hub failed internally; nothing was changed")
        }
    }

    /// A refusal of a console page (anything outside `/v1` and `/metrics`) as a small Japanese page, with the
    /// console's headers; the API's as `{code, message}`.
    static func response(_ error: KirokuError, path: String, json: Bool = false) -> Response {
        let segments = path.split(separator: "/")
        guard !json, let first = segments.first, first != "v1", first != "metrics" else { return response(error) }
        func escape(_ text: String) -> String {
            text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
                .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
        }
        let page = """
            <!DOCTYPE html><html lang="ja"><head><meta charset="utf-8"><title>要求を受け付けられません — 記録 Kiroku</title>
            <link rel="stylesheet" href="/console.css"></head><body><main><h1>要求を受け付けられません</h1>
            <div class="error"><p><strong>\(error.code.japanese)</strong></p><p class="detail">\(escape(error.message)) <code>\(error.code.rawValue)</code></p></div>
            <p><a href="/">ダッシュボードへ</a> · <a href="/events">記録の検索へ</a></p></main></body></html>
            """
        var response = Response(
            status: .init(code: error.code.httpStatus),
            headers: ConsoleController.pageHeaders("text/html; charset=utf-8"),
            body: .init(byteBuffer: ByteBuffer(string: page)))
        if [.certificateRevoked, .revocationUnavailable, .batchTooLarge, .unsupportedMediaType].contains(error.code) {
            response.headers[.connection] = "close"
        }
        return response
    }

    /// `X-Kiroku-Errors: json`: a program fetching a console document wants refusals as `{code, message}`.
    static func wantsJSON(_ request: Request) -> Bool {
        HTTPField.Name("X-Kiroku-Errors").flatMap { request.headers[$0] } == "json"
    }

    static func response(_ error: KirokuError) -> Response {
        let body = CanonicalJSON.encode(
            .object(["code": .string(error.code.rawValue), "message": .string(error.message)]))
        var headers: HTTPFields = [.contentType: "application/json; charset=utf-8", .cacheControl: "no-store"]
        headers[HTTPField.Name("X-Content-Type-Options")!] = "nosniff"
        // The connection ends after these: a revoked client, and a body too large to read on.
        // A refused write's body is not read either: the client may still be sending it.
        if [.certificateRevoked, .revocationUnavailable, .batchTooLarge, .unsupportedMediaType].contains(error.code) {
            headers[.connection] = "close"
        }
        return Response(
            status: .init(code: error.code.httpStatus), headers: headers,
            body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }
}

/// Every ``KirokuError`` a route or middleware throws is answered the same way, by Hummingbird's error
/// protocol: `{code, message}` with the code's status for the API (and for a program that asks for it with
/// `X-Kiroku-Errors: json`), a small Japanese page for the console.
extension KirokuError: HTTPResponseError {
    public var status: HTTPResponse.Status { .init(code: code.httpStatus) }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        ErrorMiddleware.response(self, path: request.uri.path, json: ErrorMiddleware.wantsJSON(request))
    }
}
