import AsyncHTTPClient
import KirokuProtocol
import NIOCore
public import NIOHTTP1
import NIOSSL

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// Where a client's certificate, key and trust anchor live.
public struct ClientCredentials: Sendable, Hashable {
    /// The municipality's CA certificate (PEM): the only trust root for the hub's certificate.
    public var caPath: String
    /// This client's certificate (PEM).
    public var certificatePath: String
    /// This client's private key (PEM). Never logged.
    public var keyPath: String

    public init(caPath: String, certificatePath: String, keyPath: String) {
        self.caPath = caPath
        self.certificatePath = certificatePath
        self.keyPath = keyPath
    }
}

/// An HTTPS connection to the hub with mutual TLS: the client presents its certificate and checks the
/// hub's against the municipality's CA and the hub's name (docs/ARCHITECTURE.md, stack note 2: full verification on clients).
public final class HubConnection: Sendable {
    public let baseURL: String
    let http: HTTPClient

    public init(baseURL: String, credentials: ClientCredentials, timeout: Duration = .seconds(30)) throws {
        var tls = TLSConfiguration.makeClientConfiguration()
        do {
            tls.certificateChain = try NIOSSLCertificate.fromPEMFile(credentials.certificatePath).map {
                .certificate($0)
            }
            tls.privateKey = .privateKey(try NIOSSLPrivateKey(file: credentials.keyPath, format: .pem))
            tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(credentials.caPath))
        } catch {
            throw KirokuError(
                .configuration,
                "cannot load TLS material (ca \(credentials.caPath), certificate \(credentials.certificatePath), key \(credentials.keyPath))",
                underlying: error)
        }
        tls.certificateVerification = .fullVerification
        tls.minimumTLSVersion = .tlsv12
        let seconds = Int64(timeout.components.seconds)
        var configuration = HTTPClient.Configuration(
            tlsConfiguration: tls,
            timeout: .init(connect: .seconds(min(seconds, 10)), read: .seconds(seconds)))
        configuration.httpVersion = .http1Only
        self.http = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
    }

    /// Closes the connection pool. Call once, when done.
    public func shutdown() async {
        try? await http.shutdown()
    }

    /// Sends a request and returns the body of a 2xx answer; a non-2xx answer becomes the hub's own
    /// `KirokuError` (its stable code and message), a transport failure `hub_unavailable`.
    public func request(
        _ method: HTTPMethod, _ path: String, body: [UInt8]? = nil, headers: [(String, String)] = [],
        maxResponseBytes: Int = 64 * 1024 * 1024
    ) async throws -> [UInt8] {
        var request = HTTPClientRequest(url: baseURL + path)
        request.method = method
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        // Writes are JSON unless said otherwise (the hub refuses a write without a type no form can send).
        if method != .GET, method != .HEAD, !request.headers.contains(name: "Content-Type") {
            request.headers.add(name: "Content-Type", value: "application/json")
        }
        if let body {
            request.body = .bytes(ByteBuffer(bytes: body))
        }
        let status: Int
        let bytes: [UInt8]
        do {
            let response = try await http.execute(request, timeout: .seconds(120))
            status = Int(response.status.code)
            var buffer = try await response.body.collect(upTo: maxResponseBytes)
            bytes = buffer.readBytes(length: buffer.readableBytes) ?? []
        } catch {
            throw KirokuError(
                .hubUnavailable, "cannot reach the hub at \(baseURL): \(Self.describe(error))", underlying: error)
        }
        guard (200..<300).contains(status) else {
            if let body = try? JSONDecoder().decode(ErrorBody.self, from: Data(bytes)) {
                throw KirokuError(body.code, body.message)
            }
            throw KirokuError(.hubUnavailable, "the hub answered HTTP \(status) without a Kiroku error body")
        }
        return bytes
    }

    /// GET and decode JSON.
    public func get<T: Decodable>(_ type: T.Type, _ path: String) async throws -> T {
        let bytes = try await request(.GET, path)
        do {
            return try JSONDecoder().decode(T.self, from: Data(bytes))
        } catch {
            throw KirokuError(.hubUnavailable, "the hub's answer to \(path) could not be read", underlying: error)
        }
    }

    static func describe(_ error: any Error) -> String {
        if let error = error as? HTTPClientError { return String(describing: error) }
        if let error = error as? NIOSSLError { return "TLS: \(error)" }
        if let error = error as? BoringSSLError { return "TLS: \(error)" }
        return String(describing: error)
    }
}
