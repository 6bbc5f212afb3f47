/// What every test target shares: temporary folders, the built programs, child processes (hub, agent),
/// a PKI made by the test, producers on the agent's socket, and `eventually` (tests wait for conditions,
/// never for time). A library of its own so that the unit, protocol, integration and fault targets use
/// one harness.
public import Foundation
import Hummingbird
public import KirokuAgent
public import KirokuHub
public import KirokuPKI
public import KirokuProtocol
import Logging

#if canImport(Glibc)
    import Glibc
#endif

/// A fresh folder per test, removed at the end unless KIROKU_KEEP_TEST_DIRS is set.
public final class TempDir: @unchecked Sendable {
    public let url: URL
    public var path: String { url.path }

    public init(_ name: String = "kiroku") throws {
        url = URL(filePath: NSTemporaryDirectory()).appending(path: "\(name)-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    public func file(_ name: String) -> String { url.appending(path: name).path }

    deinit {
        if ProcessInfo.processInfo.environment["KIROKU_KEEP_TEST_DIRS"] == nil {
            try? FileManager.default.removeItem(at: url)
        }
    }
}

/// Where the package's executables were built: beside the test bundle.
public enum Binaries {
    public static let directory: URL = {
        if let explicit = ProcessInfo.processInfo.environment["KIROKU_BIN"] { return URL(filePath: explicit) }
        var url = URL(filePath: CommandLine.arguments[0]).deletingLastPathComponent()
        while url.path != "/" {
            if FileManager.default.fileExists(atPath: url.appending(path: "kiroku-hub").path) { return url }
            url = url.deletingLastPathComponent()
        }
        return URL(filePath: FileManager.default.currentDirectoryPath).appending(path: ".build/debug")
    }()

    public static func path(_ name: String) -> String { directory.appending(path: name).path }
}

/// The outcome of running a command to completion.
public struct Outcome: Sendable {
    public var status: Int32
    public var stdout: String
    public var stderr: String
}

/// Starts `process`, one at a time in this test process. Foundation's `Process.run()` on Linux is not safe
/// to call from several threads at once (a run of the suite crashed in its memcpy while programs were
/// started from many Dispatch threads); starting is quick, so it is serialized, and the waiting is not.
///
/// Nor with many descriptors open: it lists `/proc/self/fd` copying 256 bytes of each entry
/// (swift-corelibs-foundation #5472, fixed after this toolchain), so with more than about 1,350 open the last
/// entry of a full `readdir` buffer can sit before an unmapped page, and the whole test process crashed in
/// that memcpy (CI, 2026-12-07) while the load test's 200 in-process agents held about that many. A start
/// waits (up to two minutes) until fewer than ``descriptorCeiling`` are open.
public func spawn(_ process: Process) throws {
    spawnLock.lock()
    defer { spawnLock.unlock() }
    let deadline = ContinuousClock.now + .seconds(120)
    while openDescriptors() > descriptorCeiling && ContinuousClock.now < deadline { usleep(100_000) }
    try process.run()
}

private let spawnLock = NSLock()

/// Below the count at which Foundation's `Process.run()` can crash (``spawn(_:)``).
public let descriptorCeiling = 1000

/// How many descriptors this process has open (entries only counted, never their names copied).
public func openDescriptors() -> Int {
    guard let directory = opendir("/proc/self/fd") else { return 0 }
    defer { closedir(directory) }
    var count = 0
    while readdir(directory) != nil { count += 1 }
    return max(0, count - 2)
}

/// Waits without holding a thread until a program may be started (``spawn(_:)``): async callers use it first, so
/// that Swift's few cooperative threads never sleep in `spawn` while the test holding the descriptors needs them.
public func untilSpawnIsSafe() async {
    let deadline = ContinuousClock.now + .seconds(120)
    while openDescriptors() > descriptorCeiling && ContinuousClock.now < deadline {
        try? await Task.sleep(for: .milliseconds(100))
    }
}

/// Runs a program to completion with optional standard input. The waiting happens on a thread of
/// Dispatch's own, never on one of Swift's cooperative pool (two threads on a two-core machine): a test
/// that waits for a program must not stop every other test's tasks from running.
public func runProgram(
    _ executable: String, _ arguments: [String], stdin: String? = nil, environment: [String: String] = [:]
) async throws -> Outcome {
    try await withCheckedThrowingContinuation { continuation in
        DispatchQueue.global().async {
            continuation.resume(
                with: Result {
                    try runProgramBlocking(executable, arguments, stdin: stdin, environment: environment)
                })
        }
    }
}

/// ``runProgram(_:_:stdin:environment:)`` for code that cannot wait asynchronously (threads, `defer`).
public func runProgramBlocking(
    _ executable: String, _ arguments: [String], stdin: String? = nil, environment: [String: String] = [:]
)
    throws -> Outcome
{
    let process = Process()
    process.executableURL = URL(filePath: executable)
    process.arguments = arguments
    var env = ProcessInfo.processInfo.environment
    // The programs' words are Japanese unless English is asked for; tests say which they expect, whatever
    // the machine's LANG (a test of the default itself passes KIROKU_LANG "").
    if env["KIROKU_LANG"] == nil { env["KIROKU_LANG"] = "ja" }
    for (key, value) in environment { env[key] = value }
    process.environment = env
    let out = Pipe()
    let err = Pipe()
    let input = Pipe()
    process.standardOutput = out
    process.standardError = err
    process.standardInput = input
    try spawn(process)
    if let stdin { input.fileHandleForWriting.write(Data(stdin.utf8)) }
    try input.fileHandleForWriting.close()
    // Read both pipes fully before waiting, so a chatty child cannot block on a full pipe.
    let group = DispatchGroup()
    nonisolated(unsafe) var outData = Data()
    nonisolated(unsafe) var errData = Data()
    group.enter()
    DispatchQueue.global().async {
        outData = out.fileHandleForReading.readDataToEndOfFile()
        group.leave()
    }
    errData = err.fileHandleForReading.readDataToEndOfFile()
    group.wait()
    process.waitUntilExit()
    return Outcome(
        status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
        stderr: String(decoding: errData, as: UTF8.self))
}

/// Polls `condition` until it holds or `timeout` passes; returns whether it held. Tests assert on the
/// condition itself, never on how long it took. The bound is generous (90 s): CI runs the suites side by side
/// on two cores, the 200-agent load test among them, and a passing test never waits it out.
public func eventually(timeout: Duration = .seconds(90), _ condition: () async throws -> Bool) async rethrows -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return true }
        try? await Task.sleep(for: .milliseconds(50))
    }
    return try await condition()
}

/// True once the hub has acknowledged everything in the journal (reads that fail count as not yet).
public func allDelivered(_ journal: Journal) -> Bool {
    (try? journal.progress()).map { $0.deliveredThrough >= $0.headSeq } ?? false
}

/// A CA with a hub certificate for localhost/127.0.0.1, issued by the test.
public struct TestPKI: Sendable {
    public let dir: URL
    public let ca: CertificateAuthority

    /// `issuedAt` backdates every certificate, for agents whose clock will be set back.
    public init(in temp: TempDir, name: String = "pki", issuedAt: Date = Date()) throws {
        dir = temp.url.appending(path: name)
        self.issuedAt = issuedAt
        ca = try CertificateAuthority.initialize(directory: dir, name: "テスト市", now: issuedAt)
        try ca.issue(role: .hub, id: "hub", dnsNames: ["localhost"], ipAddresses: ["127.0.0.1"], now: issuedAt)
    }

    public let issuedAt: Date

    @discardableResult
    public func agent(_ id: String) throws -> IssuedCertificate { try ca.issue(role: .agent, id: id, now: issuedAt) }
    @discardableResult
    public func person(_ id: String) throws -> IssuedCertificate { try ca.issue(role: .person, id: id) }

    public var caPath: String { dir.appending(path: "ca.crt").path }
    public func certPath(_ role: Identity.Role, _ id: String) -> String {
        dir.appending(path: "\(role == .agent ? "agents" : role == .person ? "people" : "hub")/\(id).crt").path
    }
    public func keyPath(_ role: Identity.Role, _ id: String) -> String {
        dir.appending(path: "\(role == .agent ? "agents" : role == .person ? "people" : "hub")/\(id).key").path
    }
}

/// A running child process (hub or agent daemon) with its output collected to a file.
public final class ChildProcess: @unchecked Sendable {
    public let process = Process()
    public let logPath: String

    public init(_ executable: String, _ arguments: [String], log: String, environment: [String: String] = [:]) throws {
        logPath = log
        process.executableURL = URL(filePath: executable)
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        for (key, value) in environment { env[key] = value }
        process.environment = env
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        let handle = try FileHandle(forWritingTo: URL(filePath: log))
        process.standardOutput = handle
        process.standardError = handle
        process.standardInput = FileHandle.nullDevice
        try spawn(process)
    }

    public var pid: Int32 { process.processIdentifier }
    public var isRunning: Bool { process.isRunning }
    public var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// SIGTERM and wait: the graceful path.
    public func stop() {
        if process.isRunning {
            kill(pid, SIGTERM)
            process.waitUntilExit()
        }
    }

    /// SIGKILL and wait: the crash path.
    public func kill9() {
        if process.isRunning {
            kill(pid, SIGKILL)
            process.waitUntilExit()
        }
    }

    deinit { kill9() }
}

/// The hub built in this process by ``HubApp/build(configuration:logger:onListening:)`` — the code
/// `kiroku-hub run` runs — on 127.0.0.1 and a free port, with real mutual TLS: fast for tests of routes and
/// roles, which need no process of their own (restarts, kill -9 and logs need ``HubProcess``).
public final class InProcessHub: Sendable {
    public let port: Int
    public let database: String
    public var url: String { "https://localhost:\(port)" }
    private let server: Task<Void, any Error>

    public init(pki: TestPKI, temp: TempDir, name: String = "hub") async throws {
        database = temp.file("\(name)/record.sqlite")
        try FileManager.default.createDirectory(
            atPath: temp.file(name), withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        var configuration = HubConfiguration(
            ca: pki.caPath, certificate: pki.certPath(.hub, "hub"), privateKey: pki.keyPath(.hub, "hub"))
        configuration.host = "127.0.0.1"
        configuration.port = 0
        configuration.database = database
        configuration.revocationList = pki.dir.appending(path: "revoked.txt").path
        configuration.newRecord = true
        var logger = Logger(label: "kiroku.hub.test")
        logger.logLevel = .warning
        let (ports, listening) = AsyncStream<Int>.makeStream()
        let app = try await HubApp.build(configuration: configuration, logger: logger) { listening.yield($0) }
        // No signal handlers: this is the test runner's process.
        server = Task { try await app.runService(gracefulShutdownSignals: []) }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next() else {
            throw KirokuError(.internalError, "the in-process hub did not start listening")
        }
        self.port = port
    }

    /// Shuts the hub down (gracefully: the services end, the record is closed).
    public func stop() { server.cancel() }

    deinit { server.cancel() }
}

/// A real `kiroku-hub` process on 127.0.0.1 and a free port.
public final class HubProcess: @unchecked Sendable {
    public let child: ChildProcess
    public let port: Int
    public let database: String
    public var url: String { "https://localhost:\(port)" }

    public init(
        pki: TestPKI, temp: TempDir, name: String = "hub", extra: [String] = [], environment: [String: String] = [:],
        newRecord: Bool? = nil
    ) async throws {
        database = temp.file("\(name)/record.sqlite")
        let portFile = temp.file("\(name).port")
        try? FileManager.default.removeItem(atPath: portFile)
        // A restart on the port a stopped hub had (`--port N`) can find it taken for a moment by a client
        // connection of another test (ports of connections and of `--port 0` come from the same range): the
        // hub says so and exits, and is started again, for up to 30 s.
        // A new record only where there is none yet: on SQLite, where the file is not; on PostgreSQL, unless
        // the test says this is a restart (`newRecord: false`), which must find the record it had.
        let first =
            newRecord ?? (environment["KIROKU_HUB_STORE"] != nil || !FileManager.default.fileExists(atPath: database))
            ? ["--new-record"] : []
        var attempts = 0
        var started = false
        var current: ChildProcess?
        repeat {
            attempts += 1
            await untilSpawnIsSafe()
            let child = try ChildProcess(
                Binaries.path("kiroku-hub"),
                [
                    "run", "--host", "127.0.0.1", "--port", "0", "--port-file", portFile, "--database", database,
                    "--ca", pki.caPath, "--cert", pki.certPath(.hub, "hub"), "--key", pki.keyPath(.hub, "hub"),
                    "--revocation-list", pki.dir.appending(path: "revoked.txt").path, "--log-level", "notice",
                ] + first + extra, log: temp.file("\(name).log"), environment: environment)
            current = child
            started = await eventually { FileManager.default.fileExists(atPath: portFile) || !child.isRunning }
            guard !child.isRunning, child.log.contains("is in use"), extra.contains("--port"), attempts < 60 else {
                break
            }
            try? await Task.sleep(for: .milliseconds(500))
        } while true
        child = current!
        guard started, let text = try? String(contentsOfFile: portFile, encoding: .utf8),
            let port = Int(text.trimmingCharacters(in: .whitespacesAndNewlines))
        else {
            throw KirokuError(.internalError, "hub did not start: \(child.log)")
        }
        self.port = port
    }

    public func stop() { child.stop() }
}

/// Writes an agent configuration file for a test agent and returns its path.
public func agentConfig(
    _ id: String, pki: TestPKI, temp: TempDir, hubURL: String, heartbeat: Double = 300, extra: [String: Any] = [:]
) throws -> String {
    var object: [String: Any] = [
        "agent_id": id, "site": "テスト庁舎", "journal": temp.file("\(id)/journal.sqlite"),
        "socket": temp.file("\(id)/ingest.sock"), "hub_url": hubURL, "ca": pki.caPath,
        "certificate": pki.certPath(.agent, id), "private_key": pki.keyPath(.agent, id),
        "heartbeat_seconds": heartbeat, "poll_seconds": 0.2, "backoff_max_seconds": 1,
    ]
    for (key, value) in extra { object[key] = value }
    let path = temp.file("\(id).json")
    try JSONSerialization.data(withJSONObject: object).write(to: URL(filePath: path))
    return path
}

/// A real `kiroku-agent run` daemon.
public final class AgentProcess: @unchecked Sendable {
    public let child: ChildProcess
    public let config: String
    public let socket: String

    public init(config: String, socket: String, temp: TempDir, name: String, environment: [String: String] = [:])
        async throws
    {
        self.config = config
        self.socket = socket
        // A socket file left by a killed agent must not be mistaken for the new one listening.
        try? FileManager.default.removeItem(atPath: socket)
        // Also through the environment: under libfaketime a Swift program sees no arguments at all, and
        // the agent then runs its default subcommand, `run`, configured from KIROKU_AGENT_CONFIG.
        var environment = environment
        environment["KIROKU_AGENT_CONFIG"] = config
        environment["LOG_LEVEL"] = "notice"
        await untilSpawnIsSafe()
        child = try ChildProcess(
            Binaries.path("kiroku-agent"), ["run", "--config", config, "--log-level", "notice"],
            log: temp.file("\(name).log"), environment: environment)
        let childRef = child
        // Ready when a producer can connect: the socket file exists from bind(), before listen().
        let ready = await eventually {
            (FileManager.default.fileExists(atPath: socket) && (try? SocketProducer(path: socket)) != nil)
                || !childRef.isRunning
        }
        guard ready, child.isRunning else { throw KirokuError(.internalError, "agent did not start: \(child.log)") }
    }

    public func stop() { child.stop() }
}

/// A client of the ingestion socket, as a door controller or terminal application would be.
public final class SocketProducer: @unchecked Sendable {
    public let fd: Int32
    private var buffer: [UInt8] = []

    public init(path: String) throws {
        fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (index, byte) in bytes.enumerated() { raw[index] = byte }
        }
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        // (On failure deinit closes fd: every stored property is initialized by then.)
        guard result == 0 else { throw KirokuError(.internalError, "cannot connect to \(path)") }
    }

    /// Sends one line and returns the answer line.
    public func send(_ line: String) throws -> String {
        try write(line)
        return try readLine()
    }

    /// Sends one line without waiting for its answer (a pipelining producer).
    public func write(_ line: String) throws {
        let bytes = Array((line + "\n").utf8)
        // MSG_NOSIGNAL: a peer that closed must be an error here, not a SIGPIPE that kills the test run.
        let sent = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        guard sent == bytes.count else { throw KirokuError(.internalError, "socket write failed") }
    }

    /// Reads the next answer line.
    public func readLine() throws -> String {
        while true {
            if let newline = buffer.firstIndex(of: 10) {
                let answer = String(decoding: buffer[..<newline], as: UTF8.self)
                buffer.removeFirst(newline + 1)
                return answer
            }
            var chunk = [UInt8](repeating: 0, count: 4096)
            let count = read(fd, &chunk, chunk.count)
            guard count > 0 else { throw KirokuError(.internalError, "socket closed") }
            buffer += chunk[0..<count]
        }
    }

    deinit { close(fd) }
}

/// Builds a valid chain of events for an agent, as an agent would, without a journal.
public func makeChain(
    agent: String, count: Int, from seq: Int64 = 1, prev: String = Event.genesis, kind: String = "operation",
    action: String = "lookup"
) -> [Event] {
    var events: [Event] = []
    var previous = prev
    for index in 0..<count {
        let event = Event(
            agent: agent, seq: seq + Int64(index),
            time: "2026-11-27T09:\(String(format: "%02d", index % 60)):00.000+09:00",
            kind: kind, action: action, actor: "P\(1000 + index)", subject: "住民票コード \(index)", site: "本庁舎",
            attrs: ["purpose": "テスト"], salt: Event.randomSalt(), prev: previous
        ).sealed()
        events.append(event)
        previous = event.hash
    }
    return events
}

/// A prover over leaves held in memory (vectors, forged bundles): level L, index i is the root of the
/// 2^L leaves from i · 2^L.
public func memoryProver(_ leaves: [Merkle.Hash]) -> Merkle.Prover {
    Merkle.Prover(size: Int64(leaves.count)) { level, index in
        let width = 1 << level
        return Merkle.root(Array(leaves[(Int(index) * width)..<((Int(index) + 1) * width)]))
    }
}

/// The repository's own files the tests run: the independent Python evidence verifier.
public enum RepositoryFiles {
    public static let root = URL(filePath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    /// `Protocol/verify_evidence.py`, which shares no code with Kiroku.
    public static let pythonVerifier = root.appending(path: "Protocol/verify_evidence.py").path
}

/// Registers that more than one test target loads (the contractors' tests, the console's scene).
public enum SampleRegisters {
    /// Two contracts (第23–第26), one with its 受託者's people.
    public static let contracts = """
        contract_id,contractor,scope,valid_from,valid_to,structure_confirmed,council_approved,secrecy,no_subcontract,purpose_limit,copy_destroy,accident_report,termination,ownership,other,audit_cycle_days,people
        C-1,日本電算,住基端末の保守,2026-04-01,2027-03-31,2026-03-01,2026-03-15,yes,yes,yes,yes,yes,yes,yes,yes,180,V-03;V-04
        C-2,東京保守,電算室の空調,2026/10/1,2027-03-31,2026-09-01,令和8年10月15日,はい,はい,はい,はい,いいえ,はい,はい,○,30,V-09

        """
    /// Two 作業指示書 for the 受託者 of those contracts.
    public static let instructions = """
        instruction_id,contractor,subject,valid_from,valid_to
        指示書-041,日本電算,サーバー1,2026-12-01,2026-12-31
        指示書-042,東京保守,空調,2026-12-01,2026-12-31

        """
}

// MARK: PostgreSQL

/// The PostgreSQL server the tests use: `KIROKU_TEST_POSTGRES`, a URL whose role may create databases, which
/// `Scripts/test.sh` sets after starting a throwaway cluster (`Scripts/postgres.sh`). Without it the tests that
/// need PostgreSQL fail and say so: they are never skipped.
public enum TestPostgres {
    public static func url() throws -> String {
        guard let url = ProcessInfo.processInfo.environment["KIROKU_TEST_POSTGRES"], !url.isEmpty else {
            throw KirokuError(
                .configuration,
                "KIROKU_TEST_POSTGRES is not set: run ./Scripts/test.sh, which starts a throwaway PostgreSQL, or start one with Scripts/postgres.sh"
            )
        }
        return url
    }

    /// A store in the test server's database, under a municipality of its own: tests share one database and
    /// never see each other's rows.
    public static func open(municipality: String = "test-\(UUID().uuidString.prefix(8))") async throws
        -> PostgresRecordStore
    {
        var logger = Logger(label: "kiroku.test.postgres")
        logger.logLevel = .warning
        return try await PostgresRecordStore.open(
            StoreSettings(url: try url(), scope: "record", municipality: municipality), municipality: municipality,
            logger: logger)
    }

    /// A new, empty database on the test server (for hubs that migrate it themselves); returns its URL.
    public static func createDatabase() async throws -> String {
        let base = try url()
        let name = "kiroku_\(UUID().uuidString.prefix(8).lowercased())"
        let outcome = try await runProgram("/usr/bin/env", ["psql", base, "-q", "-c", "CREATE DATABASE \(name)"])
        guard outcome.status == 0 else {
            throw KirokuError(.internalError, "could not create a test database: \(outcome.stderr)")
        }
        return base.replacingOccurrences(of: #"/[^/?]+(\?|$)"#, with: "/\(name)$1", options: .regularExpression)
    }
}

/// The stores every conformance test runs against.
public enum StoreKind: String, CaseIterable, Sendable, CustomStringConvertible {
    case sqlite
    case postgres
    public var description: String { rawValue }
}

/// Runs `body` on a new, empty record store of `kind`, and closes it after.
public func withRecordStore(_ kind: StoreKind, _ body: (any RecordStore) async throws -> Void) async throws {
    switch kind {
    case .sqlite:
        let temp = try TempDir()
        try await body(try HubStore.open(path: temp.file("hub.sqlite")))
    case .postgres:
        let store = try await TestPostgres.open()
        do {
            try await body(store)
            await store.close()
        } catch {
            await store.close()
            throw error
        }
    }
}
