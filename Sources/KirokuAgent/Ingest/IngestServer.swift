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
/// per event, sent only after the event is durable:
///
/// ```
/// → {"kind":"access","action":"enter","actor":"P0012","subject":"電算室","attrs":{"method":"card"}}
/// ← {"ok":true,"seq":42,"hash":"9f…"}
/// ← {"ok":false,"code":"invalid_event","message":"…"}
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
        let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.backlog, value: 256)
            .bind(unixDomainSocketPath: path, cleanupExistingSocketFile: true) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        ByteToMessageHandler(BoundedLineDecoder(maxLength: Self.maxLineBytes)))
                    return try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        chmod(path, mode)
        logger.info("ingestion socket listening", metadata: ["kiroku.socket": "\(path)"])
        onListening()
        try await withGracefulShutdownHandler {
            try await withThrowingDiscardingTaskGroup { group in
                try await server.executeThenClose { connections in
                    for try await connection in connections {
                        group.addTask { await self.serve(connection) }
                    }
                }
            }
        } onGracefulShutdown: {
            server.channel.close(promise: nil)
        }
        unlink(path)
    }

    private func serve(_ connection: NIOAsyncChannel<ByteBuffer, ByteBuffer>) async {
        do {
            try await connection.executeThenClose { lines, answers in
                do {
                    for try await var line in lines {
                        let bytes = line.readBytes(length: line.readableBytes) ?? []
                        if bytes.allSatisfy({ $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\r") }) { continue }
                        try await answers.write(await handle(bytes))
                    }
                } catch is LineTooLong {
                    try await answers.write(
                        Self.answer(KirokuError(.malformedRequest, "line longer than \(Self.maxLineBytes) bytes; closing")))
                }
            }
        } catch {
            logger.debug("ingestion connection ended", metadata: ["kiroku.error": "\(error)"])
        }
    }

    private func handle(_ bytes: [UInt8]) async -> ByteBuffer {
        let draft: EventDraft
        do {
            draft = try EventDraft.parse(bytes)
        } catch {
            return Self.answer(error)
        }
        do {
            let event = try await committer.submit(draft)
            var out: [UInt8] = Array("{\"hash\":\"".utf8)
            out += Array(event.hash.utf8)
            out += Array("\",\"ok\":true,\"seq\":\(event.seq)}\n".utf8)
            return ByteBuffer(bytes: out)
        } catch let error as KirokuError {
            return Self.answer(error)
        } catch {
            return Self.answer(KirokuError(.journal, "could not commit: \(error)"))
        }
    }

    static func answer(_ error: KirokuError) -> ByteBuffer {
        var out = CanonicalJSON.encode(
            .object(["ok": .bool(false), "code": .string(error.code.rawValue), "message": .string(error.message)]))
        out.append(UInt8(ascii: "\n"))
        return ByteBuffer(bytes: out)
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
