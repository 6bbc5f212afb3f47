import KirokuProtocol
public import Logging
import NIOConcurrencyHelpers
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
    /// Lines one connection may have waiting for their answers; beyond it the agent stops reading from that
    /// producer until answers go out (and while the producer does not read them), so a producer that
    /// floods the socket cannot grow the agent's memory without bound.
    public static let maxPendingLines = 256
    /// Producers connected at once; a connection beyond it is closed at once.
    public static let maxConnections = 256

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
        // The folder only leads to the socket, whose own mode says who may write events.
        try PrivateFiles.createDirectory(URL(filePath: path).deletingLastPathComponent(), mode: 0o755)
        try Self.refuseLiveSocket(path)
        let committer = self.committer
        let logger = self.logger
        let connections = ConnectionCount(limit: Self.maxConnections)
        let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.backlog, value: 256)
            // A producer that sends its line and shuts down its side (`echo … | socat - UNIX:…`) still
            // reads its answers: the connection closes once every line has been answered.
            .childChannelOption(.allowRemoteHalfClosure, value: true)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        ByteToMessageHandler(BoundedLineDecoder(maxLength: Self.maxLineBytes)))
                    try channel.pipeline.syncOperations.addHandler(
                        IngestHandler(committer: committer, connections: connections, logger: logger))
                }
            }
            .bind(unixDomainSocketPath: path, cleanupExistingSocketFile: true)
            .get()
        chmod(path, mode)
        let bound = Self.inode(path)
        logger.info("ingestion socket listening", metadata: ["kiroku.socket": "\(path)"])
        onListening()
        await withTaskCancellationOrGracefulShutdownHandler {
            try? await server.closeFuture.get()
        } onCancelOrGracefulShutdown: {
            server.close(promise: nil)
        }
        // Only our own socket: another agent's, bound since, is not ours to remove.
        if bound != nil, Self.inode(path) == bound { unlink(path) }
    }

    static func inode(_ path: String) -> UInt64? {
        var info = stat()
        return lstat(path, &info) == 0 ? UInt64(info.st_ino) : nil
    }

    /// Refuses a socket path another live process is listening on (a second agent given the same
    /// configuration must not take over the first one's producers); a stale file left by a stopped agent
    /// is replaced.
    static func refuseLiveSocket(_ path: String) throws {
        var info = stat()
        guard lstat(path, &info) == 0, info.st_mode & S_IFMT == S_IFSOCK else { return }
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return }
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else { return }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (index, byte) in bytes.enumerated() { raw[index] = byte }
        }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        if connected == 0 {
            throw KirokuError(
                .configuration,
                "another process (a running agent?) is listening on the ingestion socket \(path); give each agent its own socket and journal"
            )
        }
    }

    static func answer(_ result: Result<Event, KirokuError>) -> ByteBuffer {
        var out: [UInt8]
        switch result {
        case .success(let event):
            out =
                Array("{\"hash\":\"".utf8) + Array(event.hash.utf8) + Array("\",\"ok\":true,\"seq\":\(event.seq)}".utf8)
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
/// When the producer shuts down its side, the lines it sent are still answered, then the connection closes.
final class IngestHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    let committer: GroupCommitter
    let connections: ConnectionCount
    let logger: Logger
    /// Lines taken and not yet answered; touched on the channel's event loop only.
    private var pending = 0
    private var inputClosed = false
    private var readPaused = false
    private var counted = false

    init(committer: GroupCommitter, connections: ConnectionCount, logger: Logger) {
        self.committer = committer
        self.connections = connections
        self.logger = logger
    }

    func channelActive(context: ChannelHandlerContext) {
        guard connections.add() else {
            logger.warning(
                "ingestion socket: too many producers connected; refused one",
                metadata: ["kiroku.limit": "\(connections.limit)"])
            context.close(promise: nil)
            return
        }
        counted = true
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        if counted {
            counted = false
            connections.remove()
        }
        context.fireChannelInactive()
    }

    /// Reads on only while few lines wait for answers and answers can be written.
    func read(context: ChannelHandlerContext) {
        if pending >= IngestServer.maxPendingLines || !context.channel.isWritable {
            readPaused = true
            return
        }
        context.read()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        resumeReading(context.channel)
        context.fireChannelWritabilityChanged()
    }

    private func resumeReading(_ channel: any Channel) {
        if readPaused, pending < IngestServer.maxPendingLines / 2, channel.isWritable {
            readPaused = false
            channel.read()
        }
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
        submit(draft, context: context, thenClose: false)
    }

    /// Queues a draft (or a refusal) and writes its answer, on this connection's loop, when it is decided.
    private func submit(_ draft: Result<EventDraft, KirokuError>, context: ChannelHandlerContext, thenClose: Bool) {
        pending += 1
        let channel = context.channel
        let handler = NIOLoopBound(self, eventLoop: context.eventLoop)
        committer.enqueue(draft) { result in
            channel.eventLoop.execute {
                let written = channel.writeAndFlush(IngestServer.answer(result))
                handler.value.pending -= 1
                if thenClose || (handler.value.inputClosed && handler.value.pending == 0) {
                    written.whenComplete { _ in channel.close(promise: nil) }
                } else {
                    handler.value.resumeReading(channel)
                }
            }
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, event == .inputClosed {
            inputClosed = true
            if pending == 0 { context.close(promise: nil) }
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if error is LineTooLong {
            // Answered in order, after the lines before it, then the connection closes.
            submit(
                .failure(
                    KirokuError(.malformedRequest, "line longer than \(IngestServer.maxLineBytes) bytes; closing")),
                context: context, thenClose: true)
        } else {
            logger.debug("ingestion connection failed", metadata: ["kiroku.error": "\(error)"])
            context.close(promise: nil)
        }
    }
}

struct LineTooLong: Error {}

/// Producers connected to the socket, up to a limit.
final class ConnectionCount: Sendable {
    let limit: Int
    private let count = NIOLockedValueBox(0)

    init(limit: Int) { self.limit = limit }

    func add() -> Bool {
        count.withLockedValue { count in
            guard count < limit else { return false }
            count += 1
            return true
        }
    }

    func remove() { count.withLockedValue { $0 -= 1 } }
}

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
        while try decode(context: context, buffer: &buffer) == .continue {}
        // A last line without its newline (`printf '{…}' | socat …`) is still a line.
        if seenEOF, buffer.readableBytes > 0 {
            context.fireChannelRead(wrapInboundOut(buffer.readSlice(length: buffer.readableBytes)!))
        }
        return .needMoreData
    }
}
