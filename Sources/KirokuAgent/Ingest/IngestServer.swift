import KirokuProtocol
public import Logging
import NIOCore
import NIOPosix
public import ServiceLifecycle

#if canImport(Glibc)
import Glibc
#endif

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The local ingestion socket: a Unix domain socket where programs on the terminal (door controllers,
/// card readers, the terminal application) write one JSON event draft per line and read one answer line
/// per event, in order, each sent only after its event is durable:
///
/// ```
/// → {"kind":"access","action":"enter","actor":"P0012","subject":"電算室","attrs":{"method":"card"}}
/// ← {"hash":"9f…","ok":true,"seq":42}
/// ← {"code":"invalid_event","message":"…","ok":false}
/// ```
///
/// Concurrent producers share transactions through the ``GroupCommitter``.
public struct IngestServer: Service {
    /// Longest accepted line, in bytes; a longer line closes the connection with an error answer.
    public static let maxLineBytes = 64 * 1024

    let path: String
    let mode: mode_t
    let committer: GroupCommitter
    let logger: Logger
    let onListening: @Sendable () -> Void

    public init(
        path: String, mode: UInt16 = 0o660, committer: GroupCommitter, logger: Logger,
        onListening: @escaping @Sendable () -> Void = {}
    ) {
        self.path = path
        self.mode = mode_t(mode)
        self.committer = committer
        self.logger = logger
        self.onListening = onListening
    }

    public func run() async throws {
        try FileManager.default.createDirectory(
            at: URL(filePath: path).deletingLastPathComponent(), withIntermediateDirectories: true)
        let committer = self.committer
        let logger = self.logger
        let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.backlog, value: 256)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        ByteToMessageHandler(BoundedLineDecoder(maxLength: Self.maxLineBytes)))
                    try channel.pipeline.syncOperations.addHandler(IngestHandler(committer: committer, logger: logger))
                }
            }
            .bind(unixDomainSocketPath: path, cleanupExistingSocketFile: true)
            .get()
        chmod(path, mode)
        logger.info("ingestion socket listening", metadata: ["kiroku.socket": "\(path)"])
        onListening()
        await withTaskCancellationOrGracefulShutdownHandler {
            try? await server.closeFuture.get()
        } onCancelOrGracefulShutdown: {
            server.close(promise: nil)
        }
        unlink(path)
    }

    static func answer(_ result: Result<Event, KirokuError>) -> ByteBuffer {
        var out: [UInt8]
        switch result {
        case .success(let event):
            out = Array("{\"hash\":\"".utf8) + Array(event.hash.utf8) + Array("\",\"ok\":true,\"seq\":\(event.seq)}".utf8)
        case .failure(let error):
            out = CanonicalJSON.encode(
                .object(["ok": .bool(false), "code": .string(error.code.rawValue), "message": .string(error.message)]))
        }
        out.append(UInt8(ascii: "\n"))
        return ByteBuffer(bytes: out)
    }
}

/// One producer's connection: each line becomes a draft in the committer's queue (or a refusal queued
/// behind it, so answers keep the order of the lines); answers are written when the committer calls back.
final class IngestHandler: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    let committer: GroupCommitter
    let logger: Logger

    init(committer: GroupCommitter, logger: Logger) {
        self.committer = committer
        self.logger = logger
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let line = unwrapInboundIn(data)
        let bytes = line.readableBytesView
        if bytes.allSatisfy({ $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\r") }) { return }
        let draft: Result<EventDraft, KirokuError>
        do {
            let parsed = try EventDraft.parse(bytes)
            try parsed.validateFromProducer()
            draft = .success(parsed)
        } catch {
            draft = .failure(error)
        }
        let channel = context.channel
        committer.enqueue(draft) { result in
            channel.writeAndFlush(IngestServer.answer(result), promise: nil)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        let channel = context.channel
        if error is LineTooLong {
            // Answered in order, after the lines before it, then the connection closes.
            committer.enqueue(
                .failure(KirokuError(.malformedRequest, "line longer than \(IngestServer.maxLineBytes) bytes; closing"))
            ) { result in
                channel.writeAndFlush(IngestServer.answer(result)).whenComplete { _ in channel.close(promise: nil) }
            }
        } else {
            logger.debug("ingestion connection failed", metadata: ["kiroku.error": "\(error)"])
            context.close(promise: nil)
        }
    }
}

struct LineTooLong: Error {}

/// Splits input at `\n` and refuses (closing the connection) a line longer than `maxLength`, so a broken
/// producer cannot make the agent buffer without bound.
struct BoundedLineDecoder: ByteToMessageDecoder {
    typealias InboundOut = ByteBuffer
    let maxLength: Int

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        if let newline = buffer.readableBytesView.firstIndex(of: UInt8(ascii: "\n")) {
            let length = newline - buffer.readerIndex
            guard length <= maxLength else { throw LineTooLong() }
            let line = buffer.readSlice(length: length)!
            buffer.moveReaderIndex(forwardBy: 1)
            context.fireChannelRead(wrapInboundOut(line))
            return .continue
        }
        if buffer.readableBytes > maxLength { throw LineTooLong() }
        return .needMoreData
    }

    mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws
        -> DecodingState
    {
        try decode(context: context, buffer: &buffer)
    }
}
