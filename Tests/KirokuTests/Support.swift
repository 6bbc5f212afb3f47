import Foundation
import KirokuAgent
import KirokuPKI
import KirokuProtocol
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// A fresh folder per test, removed at the end unless KIROKU_KEEP_TEST_DIRS is set.
final class TempDir: @unchecked Sendable {
    let url: URL
    var path: String { url.path }

    init(_ name: String = "kiroku") throws {
        url = URL(filePath: NSTemporaryDirectory()).appending(path: "\(name)-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    func file(_ name: String) -> String { url.appending(path: name).path }

    deinit {
        if ProcessInfo.processInfo.environment["KIROKU_KEEP_TEST_DIRS"] == nil {
            try? FileManager.default.removeItem(at: url)
        }
    }
}

/// Where the package's executables were built: beside the test bundle.
enum Binaries {
    static let directory: URL = {
        if let explicit = ProcessInfo.processInfo.environment["KIROKU_BIN"] { return URL(filePath: explicit) }
        var url = URL(filePath: CommandLine.arguments[0]).deletingLastPathComponent()
        while url.path != "/" {
            if FileManager.default.fileExists(atPath: url.appending(path: "kiroku-hub").path) { return url }
            url = url.deletingLastPathComponent()
        }
        return URL(filePath: FileManager.default.currentDirectoryPath).appending(path: ".build/debug")
    }()

    static func path(_ name: String) -> String { directory.appending(path: name).path }
}

/// The outcome of running a command to completion.
struct Outcome: Sendable {
    var status: Int32
    var stdout: String
    var stderr: String
}

/// Runs a program to completion with optional standard input.
func runProgram(_ executable: String, _ arguments: [String], stdin: String? = nil, environment: [String: String] = [:])
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
    try process.run()
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
/// condition itself, never on how long it took.
func eventually(timeout: Duration = .seconds(30), _ condition: () async throws -> Bool) async rethrows -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return true }
        try? await Task.sleep(for: .milliseconds(50))
    }
    return try await condition()
}

/// True once the hub has acknowledged everything in the journal (reads that fail count as not yet).
func allDelivered(_ journal: Journal) -> Bool {
    (try? journal.progress()).map { $0.deliveredThrough >= $0.headSeq } ?? false
}

/// A CA with a hub certificate for localhost/127.0.0.1, issued by the test.
struct TestPKI: Sendable {
    let dir: URL
    let ca: CertificateAuthority

    /// `issuedAt` backdates every certificate, for agents whose clock will be set back.
    init(in temp: TempDir, name: String = "pki", issuedAt: Date = Date()) throws {
        dir = temp.url.appending(path: name)
        self.issuedAt = issuedAt
        ca = try CertificateAuthority.initialize(directory: dir, name: "テスト市", now: issuedAt)
        try ca.issue(role: .hub, id: "hub", dnsNames: ["localhost"], ipAddresses: ["127.0.0.1"], now: issuedAt)
    }

    let issuedAt: Date

    @discardableResult
    func agent(_ id: String) throws -> IssuedCertificate { try ca.issue(role: .agent, id: id, now: issuedAt) }
    @discardableResult
    func person(_ id: String) throws -> IssuedCertificate { try ca.issue(role: .person, id: id) }

    var caPath: String { dir.appending(path: "ca.crt").path }
    func certPath(_ role: Identity.Role, _ id: String) -> String {
        dir.appending(path: "\(role == .agent ? "agents" : role == .person ? "people" : "hub")/\(id).crt").path
    }
    func keyPath(_ role: Identity.Role, _ id: String) -> String {
        dir.appending(path: "\(role == .agent ? "agents" : role == .person ? "people" : "hub")/\(id).key").path
    }
}

/// A running child process (hub or agent daemon) with its output collected to a file.
final class ChildProcess: @unchecked Sendable {
    let process = Process()
    let logPath: String

    init(_ executable: String, _ arguments: [String], log: String, environment: [String: String] = [:]) throws {
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
        try process.run()
    }

    var pid: Int32 { process.processIdentifier }
    var isRunning: Bool { process.isRunning }
    var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// SIGTERM and wait: the graceful path.
    func stop() {
        if process.isRunning {
            kill(pid, SIGTERM)
            process.waitUntilExit()
        }
    }

    /// SIGKILL and wait: the crash path.
    func kill9() {
        if process.isRunning {
            kill(pid, SIGKILL)
            process.waitUntilExit()
        }
    }

    deinit { kill9() }
}

/// A real `kiroku-hub` process on 127.0.0.1 and a free port.
final class HubProcess: @unchecked Sendable {
    let child: ChildProcess
    let port: Int
    let database: String
    var url: String { "https://localhost:\(port)" }

    init(pki: TestPKI, temp: TempDir, name: String = "hub", extra: [String] = []) async throws {
        database = temp.file("\(name)/record.sqlite")
        let portFile = temp.file("\(name).port")
        try? FileManager.default.removeItem(atPath: portFile)
        child = try ChildProcess(
            Binaries.path("kiroku-hub"),
            [
                "run", "--host", "127.0.0.1", "--port", "0", "--port-file", portFile, "--database", database,
                "--ca", pki.caPath, "--cert", pki.certPath(.hub, "hub"), "--key", pki.keyPath(.hub, "hub"),
                "--revocation-list", pki.dir.appending(path: "revoked.txt").path, "--log-level", "notice",
            ] + extra, log: temp.file("\(name).log"))
        let childRef = child
        let started = await eventually(timeout: .seconds(60)) {
            FileManager.default.fileExists(atPath: portFile) || !childRef.isRunning
        }
        guard started, let text = try? String(contentsOfFile: portFile, encoding: .utf8),
            let port = Int(text.trimmingCharacters(in: .whitespacesAndNewlines))
        else {
            throw KirokuError(.internalError, "hub did not start: \(child.log)")
        }
        self.port = port
    }

    func stop() { child.stop() }
}

/// Writes an agent configuration file for a test agent and returns its path.
func agentConfig(
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
final class AgentProcess: @unchecked Sendable {
    let child: ChildProcess
    let config: String
    let socket: String

    init(config: String, socket: String, temp: TempDir, name: String, environment: [String: String] = [:]) async throws
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
        child = try ChildProcess(
            Binaries.path("kiroku-agent"), ["run", "--config", config, "--log-level", "notice"],
            log: temp.file("\(name).log"), environment: environment)
        let childRef = child
        // Ready when a producer can connect: the socket file exists from bind(), before listen().
        let ready = await eventually(timeout: .seconds(60)) {
            (FileManager.default.fileExists(atPath: socket) && (try? SocketProducer(path: socket)) != nil)
                || !childRef.isRunning
        }
        guard ready, child.isRunning else { throw KirokuError(.internalError, "agent did not start: \(child.log)") }
    }

    func stop() { child.stop() }
}

/// A client of the ingestion socket, as a door controller or terminal application would be.
final class SocketProducer: @unchecked Sendable {
    let fd: Int32
    private var buffer: [UInt8] = []

    init(path: String) throws {
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
    func send(_ line: String) throws -> String {
        try write(line)
        return try readLine()
    }

    /// Sends one line without waiting for its answer (a pipelining producer).
    func write(_ line: String) throws {
        let bytes = Array((line + "\n").utf8)
        // MSG_NOSIGNAL: a peer that closed must be an error here, not a SIGPIPE that kills the test run.
        let sent = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        guard sent == bytes.count else { throw KirokuError(.internalError, "socket write failed") }
    }

    /// Reads the next answer line.
    func readLine() throws -> String {
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
func makeChain(
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
