import Crypto
import Foundation
import KirokuClient
import KirokuProtocol
import KirokuTestSupport
import NIOHTTP1
import SwiftASN1
import Testing
import X509

@testable import KirokuPKI

#if canImport(Glibc)
    import Glibc
#endif

/// What a hostile newcomer found (fail-open revocation, a readable record, a socket that did not answer,
/// a wrong id that stranded events, HTTP not as the standard says), each tried again with real processes
/// and clients no one here wrote.
@Suite("Hardening: fail closed, keep the record private, answer as the standards say")
struct HardeningTests {
    func curl(_ hub: HubProcess, _ pki: TestPKI, _ id: String, role: Identity.Role = .person, path: String = "/v1/me")
        async throws -> Outcome
    {
        try await runProgram(
            "/usr/bin/curl",
            [
                "-sS", "--max-time", "20", "--cacert", pki.caPath, "--cert", pki.certPath(role, id), "--key",
                pki.keyPath(role, id), "-w", "\n%{http_code}", "\(hub.url)\(path)",
            ])
    }

    /// `openssl s_client` on one connection, kept open, with a certificate of `pki`.
    func sClient(port: Int, _ pki: TestPKI, _ role: Identity.Role, _ id: String) throws -> Interactive {
        try Interactive(
            "/usr/bin/openssl",
            [
                "s_client", "-connect", "127.0.0.1:\(port)", "-CAfile", pki.caPath, "-cert", pki.certPath(role, id),
                "-key",
                pki.keyPath(role, id), "-quiet",
            ])
    }

    func writeJSON(_ object: [String: Any], _ path: String) throws {
        try JSONSerialization.data(withJSONObject: object).write(to: URL(filePath: path))
    }

    @Test("A misspelt configuration key stops hub and agent with the key and the nearest known one")
    func unknownKeys() async throws {
        let temp = try TempDir("keys")
        let pki = try TestPKI(in: temp)
        try pki.agent("counter-01")
        var hub: [String: Any] = [
            "ca": pki.caPath, "certificate": pki.certPath(.hub, "hub"), "private_key": pki.keyPath(.hub, "hub"),
            "database": temp.file("hub/record.sqlite"), "revocaton_list": pki.dir.appending(path: "revoked.txt").path,
        ]
        try writeJSON(hub, temp.file("hub.json"))
        let misspelt = try await runProgram(Binaries.path("kiroku-hub"), ["run", "--config", temp.file("hub.json")])
        #expect(misspelt.status == 2)
        #expect(
            misspelt.stderr.contains("unknown key 'revocaton_list'; did you mean 'revocation_list'?"),
            "\(misspelt.stderr)")
        #expect(!FileManager.default.fileExists(atPath: temp.file("hub/record.sqlite")))

        hub["revocaton_list"] = nil
        hub["rules"] = ["bulk_lookup_per_hour": 10]
        try writeJSON(hub, temp.file("hub.json"))
        let nested = try await runProgram(Binaries.path("kiroku-hub"), ["run", "--config", temp.file("hub.json")])
        #expect(
            nested.stderr.contains("unknown key 'rules.bulk_lookup_per_hour'; did you mean 'bulk_lookups_per_hour'?"),
            "\(nested.stderr)")

        // Without a revocation list, or naming one that is not there: the hub does not start.
        hub["rules"] = nil
        try writeJSON(hub, temp.file("hub.json"))
        let none = try await runProgram(Binaries.path("kiroku-hub"), ["run", "--config", temp.file("hub.json")])
        #expect(none.status == 2)
        #expect(none.stderr.contains("revocation_list is required"), "\(none.stderr)")
        hub["revocation_list"] = temp.file("missing/revoked.txt")
        try writeJSON(hub, temp.file("hub.json"))
        let missing = try await runProgram(Binaries.path("kiroku-hub"), ["run", "--config", temp.file("hub.json")])
        #expect(missing.status == 2)
        #expect(
            missing.stderr.contains("revocation_list file \(temp.file("missing/revoked.txt")) does not exist"),
            "\(missing.stderr)")
        // A list cut short (the CA's header gone): refused at start too.
        try Data("0a1b2c\n".utf8).write(to: URL(filePath: temp.file("cut.txt")))
        hub["revocation_list"] = temp.file("cut.txt")
        try writeJSON(hub, temp.file("hub.json"))
        let cut = try await runProgram(
            Binaries.path("kiroku-hub"), ["run", "--config", temp.file("hub.json"), "--new-record"])
        #expect(cut.status == 2)
        #expect(cut.stderr.contains("does not start with the line '# Kiroku revocation list"), "\(cut.stderr)")

        // A key given twice (a correction appended at the end): refused, not one of them silently kept.
        try Data(
            #"{"ca": "\#(pki.caPath)", "certificate": "x", "private_key": "y", "revocation_list": "z", "port": 1, "port": 2}"#
                .utf8
        )
        .write(to: URL(filePath: temp.file("twice.json")))
        let twice = try await runProgram(Binaries.path("kiroku-hub"), ["run", "--config", temp.file("twice.json")])
        #expect(twice.status == 2 && twice.stderr.contains("the key 'port' is given twice"), "\(twice.stderr)")

        let config = try agentConfig(
            "counter-01", pki: pki, temp: temp, hubURL: "https://localhost:1", extra: ["hearbeat_seconds": 5])
        let agent = try await runProgram(Binaries.path("kiroku-agent"), ["run", "--config", config])
        #expect(agent.status == 64)
        #expect(
            agent.stderr.contains("unknown key 'hearbeat_seconds'; did you mean 'heartbeat_seconds'?"),
            "\(agent.stderr)")
        let fileKey = try agentConfig(
            "counter-01", pki: pki, temp: temp, hubURL: "https://localhost:1",
            extra: ["files": [["path": "/var/log/x.jsonl", "format": "jsonl", "knd": "access"]]])
        let nestedAgent = try await runProgram(Binaries.path("kiroku-agent"), ["run", "--config", fileKey])
        #expect(nestedAgent.stderr.contains("unknown key 'files.0.knd'; did you mean 'kind'?"), "\(nestedAgent.stderr)")
        // A value out of range, and a certificate path that names nothing: a sentence each, no library text.
        let longStop = try agentConfig(
            "counter-01", pki: pki, temp: temp, hubURL: "https://localhost:1", extra: ["stop_flush_seconds": 100])
        let stop = try await runProgram(Binaries.path("kiroku-agent"), ["run", "--config", longStop])
        #expect(stop.status != 0 && stop.stderr.contains("stop_flush_seconds must be 0 to 80"), "\(stop.stderr)")
        let noCertificate = try agentConfig(
            "counter-01", pki: pki, temp: temp, hubURL: "https://localhost:1",
            extra: ["certificate": temp.file("nowhere.crt")])
        let nowhere = try await runProgram(Binaries.path("kiroku-agent"), ["run", "--config", noCertificate])
        #expect(
            nowhere.status != 0
                && nowhere.stderr.contains("the agent certificate \(temp.file("nowhere.crt")) does not exist")
                && !nowhere.stderr.contains("NSCocoaErrorDomain"), "\(nowhere.stderr)")
    }

    @Test("Revocation fails closed: a missing, cut or shrunk list refuses everyone until a good one is back")
    func revocationFailsClosed() async throws {
        let temp = try TempDir("revfail")
        let pki = try TestPKI(in: temp)
        try pki.person("kanri01")
        try pki.person("kaigi01")
        let hub = try await HubProcess(pki: pki, temp: temp)
        defer { hub.stop() }
        let list = pki.dir.appending(path: "revoked.txt").path
        let good = try String(contentsOfFile: list, encoding: .utf8)
        #expect(try await curl(hub, pki, "kanri01").stdout.hasSuffix("\n200"))

        // Emptied (a restore gone wrong): nobody is admitted, and the log says why.
        try Data().write(to: URL(filePath: list))
        let emptied = try await curl(hub, pki, "kanri01")
        #expect(!emptied.stdout.hasSuffix("\n200"), "\(emptied.stdout)")
        #expect(await eventually { hub.child.log.contains("revocation list unusable") })
        // Removed altogether.
        try FileManager.default.removeItem(atPath: list)
        #expect(!(try await curl(hub, pki, "kanri01").stdout.hasSuffix("\n200")))
        // Cut in the middle of a line.
        try Data((good + "0a1b").utf8).write(to: URL(filePath: list))
        #expect(!(try await curl(hub, pki, "kanri01").stdout.hasSuffix("\n200")))
        // A good list again: admitted without a restart, and the metrics saw the refusals.
        try Data(good.utf8).write(to: URL(filePath: list))
        #expect(try await curl(hub, pki, "kanri01").stdout.hasSuffix("\n200"))
        #expect(await eventually { hub.child.log.contains("revocation list readable again") })
        let metrics = try await curl(hub, pki, "kanri01", path: "/metrics").stdout
        #expect(metrics.contains("kiroku_revocation_list_usable_bool 1"))
        #expect(metrics.contains("kiroku_revocation_refusals_total 3"), "\(metrics)")

        // kaigi01 revoked; a list that later forgets it refuses everyone (a revocation is never undone).
        _ = try pki.ca.revoke(identity: Identity(role: .person, id: "kaigi01"), reason: "card lost")
        #expect(!(try await curl(hub, pki, "kaigi01").stdout.hasSuffix("\n200")))
        #expect(try await curl(hub, pki, "kanri01").stdout.hasSuffix("\n200"))
        let revoked = try String(contentsOfFile: list, encoding: .utf8)
        try Data(good.utf8).write(to: URL(filePath: list))
        #expect(!(try await curl(hub, pki, "kanri01").stdout.hasSuffix("\n200")))
        #expect(!(try await curl(hub, pki, "kaigi01").stdout.hasSuffix("\n200")))
        #expect(await eventually { hub.child.log.contains("no longer holds 1 serial(s) it revoked before") })
        try Data(revoked.utf8).write(to: URL(filePath: list))
        #expect(try await curl(hub, pki, "kanri01").stdout.hasSuffix("\n200"))
        #expect(!(try await curl(hub, pki, "kaigi01").stdout.hasSuffix("\n200")))
    }

    @Test(
        "A keep-alive connection opened before a revocation is refused at its next request and closed (openssl s_client)"
    )
    func keepAliveAcrossRevocation() async throws {
        let temp = try TempDir("revkeep")
        let pki = try TestPKI(in: temp)
        try pki.person("kaigi01")
        let hub = try await HubProcess(pki: pki, temp: temp)
        defer { hub.stop() }
        let client = try sClient(port: hub.port, pki, .person, "kaigi01")
        defer { client.stop() }
        let request = "GET /v1/me HTTP/1.1\r\nHost: localhost\r\n\r\n"
        client.send(request)
        #expect(await eventually { client.output.contains("HTTP/1.1 200") }, "\(client.output)")
        _ = try pki.ca.revoke(identity: Identity(role: .person, id: "kaigi01"), reason: "退職")
        client.send(request)
        #expect(await eventually { client.output.contains("\"code\":\"certificate_revoked\"") }, "\(client.output)")
        #expect(client.output.contains("HTTP/1.1 403"))
        // The hub closed the connection: s_client ends by itself.
        #expect(await eventually { !client.isRunning })
    }

    @Test("The record, the journal, their WAL and SHM, keys and folders are the owner's alone under umask 022")
    func privateFiles() async throws {
        umask(0o022)
        let temp = try TempDir("modes")
        let pki = try TestPKI(in: temp)
        try pki.agent("counter-01")
        let hub = try await HubProcess(pki: pki, temp: temp)
        defer { hub.stop() }
        let config = try agentConfig("counter-01", pki: pki, temp: temp, hubURL: hub.url)
        let agent = try await AgentProcess(
            config: config, socket: temp.file("counter-01/ingest.sock"), temp: temp, name: "agent")
        defer { agent.stop() }
        let producer = try SocketProducer(path: agent.socket)
        #expect(
            try producer.send(#"{"kind":"access","action":"enter","actor":"P0012","subject":"電算室"}"#).contains(
                "\"ok\":true"))
        let files = [
            temp.file("hub"), hub.database, hub.database + "-wal", hub.database + "-shm",
            temp.file("hub/receipt-signing.key"),
            temp.file("counter-01"), temp.file("counter-01/journal.sqlite"), temp.file("counter-01/journal.sqlite-wal"),
            temp.file("counter-01/journal.sqlite-shm"),
        ]
        #expect(await eventually { files.allSatisfy { FileManager.default.fileExists(atPath: $0) } })
        func mode(_ path: String) throws -> Int {
            try #require(FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int)
        }
        for file in files {
            let bits = try mode(file)
            #expect(bits & 0o077 == 0, "\(file) is mode \(String(bits, radix: 8))")
        }
        // The socket keeps its configured mode: producers in the group may write events.
        #expect(try mode(agent.socket) == 0o660)
    }

    @Test("Keys others may read are refused by hub and agent, with the chmod that fixes it")
    func readableKeys() async throws {
        let temp = try TempDir("keymodes")
        let pki = try TestPKI(in: temp)
        try pki.agent("counter-01")
        chmod(pki.keyPath(.hub, "hub"), 0o644)
        let hub = try await runProgram(Binaries.path("kiroku-hub"), hubArguments(pki, temp))
        #expect(hub.status == 2)
        #expect(
            hub.stderr.contains("may be read by others (mode 644); run 'chmod 600 \(pki.keyPath(.hub, "hub"))'"),
            "\(hub.stderr)")
        #expect(!FileManager.default.fileExists(atPath: temp.file("hub/record.sqlite")))

        chmod(pki.keyPath(.agent, "counter-01"), 0o640)
        let config = try agentConfig("counter-01", pki: pki, temp: temp, hubURL: "https://localhost:1")
        let agent = try await runProgram(Binaries.path("kiroku-agent"), ["run", "--config", config])
        #expect(agent.status == 64)
        #expect(agent.stderr.contains("run 'chmod 600 \(pki.keyPath(.agent, "counter-01"))'"), "\(agent.stderr)")
    }

    @Test(
        "The hub refuses another role's certificate, a key that is not its certificate's, with words a person can act on"
    )
    func hubStartupErrors() async throws {
        let temp = try TempDir("hubstart")
        let pki = try TestPKI(in: temp)
        try pki.agent("counter-01")
        func start(cert: String, key: String) async throws -> Outcome {
            try await runProgram(Binaries.path("kiroku-hub"), hubArguments(pki, temp, cert: cert, key: key))
        }
        let agentCert = try await start(
            cert: pki.certPath(.agent, "counter-01"), key: pki.keyPath(.agent, "counter-01"))
        #expect(agentCert.status == 2)
        #expect(agentCert.stderr.contains("is for kiroku:agent:counter-01, not a hub"), "\(agentCert.stderr)")
        let mismatch = try await start(cert: pki.certPath(.hub, "hub"), key: pki.keyPath(.agent, "counter-01"))
        #expect(mismatch.status == 2)
        #expect(mismatch.stderr.contains("does not belong to the certificate"), "\(mismatch.stderr)")
    }

    @Test(
        "The agent takes its id from its certificate, refuses a different one before journalling, and refuses a live agent's socket"
    )
    func agentIdentity() async throws {
        let temp = try TempDir("agentid")
        let pki = try TestPKI(in: temp)
        try pki.agent("counter-01")
        try pki.agent("counter-02")
        let hub = try await HubProcess(pki: pki, temp: temp)
        defer { hub.stop() }
        var wrong = try agentConfig(
            "counter-01", pki: pki, temp: temp, hubURL: hub.url, extra: ["agent_id": "counter-99"])
        let refused = try await runProgram(Binaries.path("kiroku-agent"), ["run", "--config", wrong])
        #expect(refused.status == 64)
        #expect(
            refused.stderr.contains("agent_id 'counter-99' differs from the certificate's id 'counter-01'"),
            "\(refused.stderr)")
        #expect(!FileManager.default.fileExists(atPath: temp.file("counter-01/journal.sqlite")))
        let record = try await runProgram(
            Binaries.path("kiroku-agent"),
            [
                "record", "--config", wrong, "--kind", "access", "--action", "enter", "--actor", "P0012", "--subject",
                "電算室",
            ])
        #expect(record.status == 64)
        #expect(!FileManager.default.fileExists(atPath: temp.file("counter-01/journal.sqlite")))

        // Without agent_id: the certificate's id, and events reach the hub under it.
        let config = try agentConfig("counter-01", pki: pki, temp: temp, hubURL: hub.url)
        var object = try #require(
            JSONSerialization.jsonObject(with: Data(contentsOf: URL(filePath: config))) as? [String: Any])
        object["agent_id"] = nil
        try writeJSON(object, config)
        let agent = try await AgentProcess(
            config: config, socket: temp.file("counter-01/ingest.sock"), temp: temp, name: "agent")
        defer { agent.stop() }
        let producer = try SocketProducer(path: agent.socket)
        #expect(
            try producer.send(#"{"kind":"access","action":"enter","actor":"P0012","subject":"電算室"}"#).contains(
                "\"ok\":true"))

        // A second agent given the first one's socket: refused, and the first keeps its socket.
        wrong = try agentConfig(
            "counter-02", pki: pki, temp: temp, hubURL: hub.url, extra: ["socket": temp.file("counter-01/ingest.sock")])
        let second = try await runProgram(Binaries.path("kiroku-agent"), ["run", "--config", wrong])
        #expect(second.status != 0)
        #expect(second.stderr.contains("is listening on the ingestion socket"), "\(second.stderr)")
        #expect(FileManager.default.fileExists(atPath: agent.socket))
        let again = try SocketProducer(path: agent.socket)
        #expect(
            try again.send(#"{"kind":"access","action":"exit","actor":"P0012","subject":"電算室"}"#).contains(
                "\"ok\":true"))
    }

    @Test(
        "The agent id 'hub' is the hub's own: the CA will not issue it, and the hub refuses a forged one on agent endpoints"
    )
    func reservedHubID() async throws {
        let temp = try TempDir("hubid")
        let pki = try TestPKI(in: temp)
        #expect(throws: KirokuError.self) { try pki.ca.issue(role: .agent, id: "hub") }
        // Forged with the CA's own key, as a careless or hostile CA operator could.
        let key = P256.Signing.PrivateKey()
        let forged = try Certificate(
            version: .v3, serialNumber: .init(), publicKey: .init(key.publicKey),
            notValidBefore: Date().addingTimeInterval(-300),
            notValidAfter: Date().addingTimeInterval(86_400), issuer: pki.ca.certificate.subject,
            subject: try DistinguishedName { CommonName("hub") }, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                try ExtendedKeyUsage([.clientAuth])
                SubjectAlternativeNames([.uniformResourceIdentifier("kiroku:agent:hub")])
            }, issuerPrivateKey: .init(pki.ca.privateKey))
        try writeSecret(key.pemRepresentation, to: URL(filePath: temp.file("forged.key")))
        try Data(try forged.serializeAsPEM().pemString.utf8).write(to: URL(filePath: temp.file("forged.crt")))
        let hub = try await HubProcess(pki: pki, temp: temp)
        defer { hub.stop() }
        let state = try await runProgram(
            "/usr/bin/curl",
            [
                "-sS", "--max-time", "20", "--cacert", pki.caPath, "--cert", temp.file("forged.crt"), "--key",
                temp.file("forged.key"),
                "-w", "\n%{http_code}", "\(hub.url)/v1/agent/state",
            ])
        #expect(state.stdout.hasSuffix("\n403"), "\(state.stdout)")
        #expect(state.stdout.contains("\"code\":\"wrong_role\""))
    }

    @Test("The docs' socat one-liners print the answer (the producer half-closes; the agent still answers)")
    func socatOneLiners() async throws {
        guard getuid() == 0, FileManager.default.fileExists(atPath: "/usr/bin/socat") else {
            Issue.record("needs root (the docs' socket is /run/kiroku-agent/ingest.sock) and socat")
            return
        }
        let readme = try String(contentsOfFile: "README.md", encoding: .utf8)
        let integration = try String(contentsOfFile: "Agent/INTEGRATION.md", encoding: .utf8)
        let readmeLine = try #require(readme.split(separator: "\n").first { $0.contains("| socat ") })
        // INTEGRATION.md writes it over two lines joined by a backslash.
        let lines = integration.split(separator: "\n", omittingEmptySubsequences: false)
        let start = try #require(lines.firstIndex { $0.hasPrefix("printf ") && $0.hasSuffix("\\") })
        let integrationLine = lines[start].dropLast() + lines[start + 1]
        #expect(integrationLine.contains("socat"))

        let temp = try TempDir("socat")
        let pki = try TestPKI(in: temp)
        try pki.agent("counter-01")
        let socket = "/run/kiroku-agent/ingest.sock"
        let config = try agentConfig(
            "counter-01", pki: pki, temp: temp, hubURL: "https://localhost:1", extra: ["socket": socket])
        let agent = try await AgentProcess(config: config, socket: socket, temp: temp, name: "agent")
        defer { agent.stop() }
        for line in [String(readmeLine), String(integrationLine)] {
            let outcome = try await runProgram("/bin/bash", ["-c", line])
            #expect(outcome.status == 0, "\(line): \(outcome.stderr)")
            #expect(outcome.stdout.hasPrefix("{\"hash\":\""), "\(line) printed: \(outcome.stdout)")
            #expect(outcome.stdout.contains("\"ok\":true"))
        }
        // Without a final newline, and two lines in one go: each answered, in order.
        let two = try await runProgram(
            "/bin/bash",
            [
                "-c",
                #"printf '%s\n%s' '{"kind":"access","action":"enter","actor":"P1","subject":"電算室"}' '{"kind":"nope"}' | socat -t 10 - UNIX-CONNECT:/run/kiroku-agent/ingest.sock"#,
            ])
        let answers = two.stdout.split(separator: "\n")
        #expect(answers.count == 2, "\(two.stdout)")
        #expect(answers.first?.contains("\"ok\":true") == true)
        #expect(answers.last?.contains("\"ok\":false") == true)
    }

    @Test(
        "Content-Encoding as RFC 9110 says: deflate is zlib; raw, cut, trailing-garbage or garbage streams are bad_compression"
    )
    func compression() async throws {
        let temp = try TempDir("encoding")
        let pki = try TestPKI(in: temp)
        try pki.agent("counter-01")
        let hub = try await HubProcess(pki: pki, temp: temp)
        defer { hub.stop() }
        let connection = try HubConnection(
            baseURL: hub.url,
            credentials: ClientCredentials(
                caPath: pki.caPath, certificatePath: pki.certPath(.agent, "counter-01"),
                keyPath: pki.keyPath(.agent, "counter-01")))
        defer { Task { await connection.shutdown() } }
        func post(_ body: [UInt8], _ encoding: String) async -> ErrorCode? {
            do {
                _ = try await connection.request(
                    .POST, "/v1/agent/batches", body: body, headers: [("Content-Encoding", encoding)])
                return nil
            } catch let error as KirokuError { return error.code } catch { return .internalError }
        }
        let chain = makeChain(agent: "counter-01", count: 4)
        func batch(_ events: ArraySlice<Event>) -> [UInt8] {
            Batch.encodeBody(
                agent: "counter-01", sentAt: "2026-11-27T09:00:00.000+09:00", headSeq: 4,
                canonicalEvents: events.map { $0.canonicalBytes(includingHash: true) })
        }
        func python(_ code: String, _ input: [UInt8]) async throws -> [UInt8] {
            let path = temp.file("in-\(UUID().uuidString.prefix(6))")
            try Data(input).write(to: URL(filePath: path))
            let outcome = try await runProgram(
                "/usr/bin/env",
                ["python3", "-c", "import sys, zlib, gzip; d = open(sys.argv[1], 'rb').read(); \(code)", path])
            try #require(outcome.status == 0, "\(outcome.stderr)")
            return [UInt8](try Data(contentsOf: URL(filePath: path + ".out")))
        }
        let write = "open(sys.argv[1] + '.out', 'wb').write"
        let first = batch(chain[0..<2])
        // Raw DEFLATE (what was accepted before) is not the zlib format: refused.
        let raw = try await python(
            "c = zlib.compressobj(9, zlib.DEFLATED, -15); \(write)(c.compress(d) + c.flush())", first)
        #expect(await post(raw, "deflate") == .badCompression)
        // zlib: taken.
        #expect(await post(try await python("\(write)(zlib.compress(d))", first), "deflate") == nil)
        let second = try await python("\(write)(gzip.compress(d))", batch(chain[2..<4]))
        // gzip cut before its CRC and length, cut inside its stream, or with bytes after it: refused, nothing taken.
        #expect(await post(Array(second.dropLast(8)), "gzip") == .badCompression)
        #expect(await post(Array(second.dropLast(30)), "gzip") == .badCompression)
        #expect(await post(second + Array("garbage".utf8), "gzip") == .badCompression)
        var flipped = second
        flipped[flipped.count - 6] ^= 0xFF  // the CRC-32
        #expect(await post(flipped, "gzip") == .badCompression)
        #expect(await post(Array("not zlib".utf8), "deflate") == .badCompression)
        let head = try await connection.get(AgentState.self, "/v1/agent/state")
        #expect(head.lastSeq == 2)
        // The whole gzip stream: taken.
        #expect(await post(second, "gzip") == nil)
    }
}

extension HardeningTests {
    @Test(
        "Clients without certificates cannot lock people out: a descriptor-limited hub (prlimit) under 300 stalled handshakes still serves a person; slow heads and silent bodies are cut"
    )
    func slowClients() async throws {
        let temp = try TempDir("slow")
        let pki = try TestPKI(in: temp)
        try pki.person("kanri01")
        try pki.agent("counter-01")
        let portFile = temp.file("hub.port")
        try writeJSON(
            [
                "ca": pki.caPath, "certificate": pki.certPath(.hub, "hub"), "private_key": pki.keyPath(.hub, "hub"),
                "revocation_list": pki.dir.appending(path: "revoked.txt").path,
                "database": temp.file("hub/record.sqlite"),
                "host": "127.0.0.1", "port": 0, "port_file": portFile, "handshake_timeout_seconds": 2,
                "idle_timeout_seconds": 3, "request_timeout_seconds": 4, "max_unauthenticated_per_address": 20,
            ], temp.file("hub.json"))
        await untilSpawnIsSafe()
        let child = try ChildProcess(
            "/usr/bin/prlimit",
            [
                "--nofile=256:256", Binaries.path("kiroku-hub"), "run", "--config", temp.file("hub.json"),
                "--log-level", "notice", "--new-record",
            ],
            log: temp.file("hub.log"))
        defer { child.stop() }
        #expect(
            await eventually {
                FileManager.default.fileExists(atPath: portFile) || !child.isRunning
            })
        let port = try #require(
            Int(String(contentsOfFile: portFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)))
        // The hub says what it got: 256 descriptors, 128 connections, 64 handshaking, 20 per address.
        #expect(await eventually { child.log.contains("kiroku.descriptors=256") }, "\(child.log)")
        #expect(await eventually { child.log.contains("kiroku.connections.max=128") })

        // 300 connections from 127.0.0.2 that send three bytes of a ClientHello and stall.
        var stalled: [Int32] = []
        defer { for fd in stalled { close(fd) } }
        for _ in 0..<300 {
            let fd = try rawConnect(from: "127.0.0.2", to: port)
            _ = [UInt8]([0x16, 0x03, 0x01]).withUnsafeBytes { send(fd, $0.baseAddress, 3, Int32(MSG_NOSIGNAL)) }
            stalled.append(fd)
        }
        // A person is still served, while they stall.
        let hub = HubAddress(port: port)
        let served = try await runProgram(
            "/usr/bin/curl",
            [
                "-sS", "--max-time", "20", "--cacert", pki.caPath, "--cert", pki.certPath(.person, "kanri01"), "--key",
                pki.keyPath(.person, "kanri01"), "-w", "\n%{http_code}", "\(hub.url)/v1/me",
            ])
        #expect(served.stdout.hasSuffix("\n200"), "\(served.stdout) \(served.stderr)")
        // All but the 20 the per-address cap admitted were closed at once; those 20 at their handshake deadline.
        #expect(await eventually { stalled.filter(isClosed).count >= 280 })
        #expect(await eventually { stalled.allSatisfy(isClosed) })
        #expect(await eventually { child.log.contains("refused connections") })

        // An authenticated client that sends half a request head, then nothing: closed at the idle timeout.
        let slow = try sClient(port: port, pki, .person, "kanri01")
        defer { slow.stop() }
        slow.send("GET /v1/me HTTP/1.1\r\nHost: loc")
        #expect(await eventually { !slow.isRunning }, "\(slow.output)")
        #expect(!slow.output.contains("HTTP/1.1 200"))

        // Content-Length: 10 GB, then silence: refused at once, before any byte of the body.
        let huge = try sClient(port: port, pki, .agent, "counter-01")
        defer { huge.stop() }
        huge.send(
            "POST /v1/agent/batches HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 10000000000\r\n\r\n"
        )
        #expect(await eventually { huge.output.contains("\"code\":\"batch_too_large\"") }, "\(huge.output)")
        #expect(huge.output.contains("HTTP/1.1 413") && huge.output.lowercased().contains("connection: close"))
        // The hub closes it at once, although the client goes on sending (faster than the idle timeout).
        for _ in 0..<40 where huge.isRunning {
            huge.send(String(repeating: "a", count: 100))
            try await Task.sleep(for: .milliseconds(250))
        }
        #expect(!huge.isRunning, "the connection stayed open for the body of a refused request")

        // A body trickled a byte at a time keeps the idle timeout away, not the request timeout: cut.
        let trickle = try sClient(port: port, pki, .agent, "counter-01")
        defer { trickle.stop() }
        trickle.send(
            "POST /v1/agent/batches HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
        )
        var trickled = 0
        while trickle.isRunning && trickled < 120 {
            trickle.send("a")
            trickled += 1
            try await Task.sleep(for: .milliseconds(250))
        }
        #expect(!trickle.isRunning, "a body trickled for \(trickled / 4) s was never cut")
        #expect(!trickle.output.contains("HTTP/1.1 200"))
    }

    @Test("The tests' own hub restart on a fixed port waits out a moment's holder of it, as CI's parallel tests can be")
    func restartWaitsForItsPort() async throws {
        let temp = try TempDir("port-holder")
        let pki = try TestPKI(in: temp)
        // Another program holds a port for three seconds (as a client connection of another test might).
        await untilSpawnIsSafe()
        let holder = try ChildProcess(
            "/usr/bin/env",
            [
                "python3", "-c",
                "import socket, time; s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(); print(s.getsockname()[1], flush=True); time.sleep(3)",
            ], log: temp.file("holder.log"))
        defer { holder.stop() }
        #expect(await eventually { Int(holder.log.trimmingCharacters(in: .whitespacesAndNewlines)) != nil })
        let port = try #require(Int(holder.log.trimmingCharacters(in: .whitespacesAndNewlines)))
        let hub = try await HubProcess(pki: pki, temp: temp, extra: ["--port", "\(port)"])
        defer { hub.stop() }
        #expect(hub.port == port && !holder.isRunning)
    }

    @Test(
        "Malformed HTTP gets the protocol's JSON error body and a closed connection; a port in use and a file that is not a record are said in words"
    )
    func malformedHTTP() async throws {
        let temp = try TempDir("badhttp")
        let pki = try TestPKI(in: temp)
        try pki.person("kanri01")
        let hub = try await HubProcess(pki: pki, temp: temp)
        defer { hub.stop() }
        let manyHeaders = (0..<10_000).map { "X-\($0): a\r\n" }.joined()
        let cases = [
            (
                "Content-Length with chunked",
                "POST /v1/me HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
            ),
            ("10,000 headers", "GET /v1/me HTTP/1.1\r\nHost: x\r\n\(manyHeaders)\r\n"),
            ("garbage", "\u{01}\u{02} hello there\r\n\r\n"),
            (
                "a 100 KiB header",
                "GET /v1/me HTTP/1.1\r\nHost: x\r\nX-Big: \(String(repeating: "a", count: 100 * 1024))\r\n\r\n"
            ),
        ]
        for (name, request) in cases {
            let client = try sClient(port: hub.port, pki, .person, "kanri01")
            defer { client.stop() }
            client.send(request)
            #expect(await eventually { !client.isRunning }, "\(name): the connection stays open")
            #expect(client.output.contains("HTTP/1.1 400"), "\(name): \(client.output.prefix(300))")
            #expect(client.output.contains("\"code\":\"malformed_request\""), "\(name): \(client.output.prefix(300))")
        }
        // Malformed bytes right behind a good request: the good one is answered, then the JSON refusal.
        let pipelined = try sClient(port: hub.port, pki, .person, "kanri01")
        defer { pipelined.stop() }
        pipelined.send("GET /v1/me HTTP/1.1\r\nHost: x\r\n\r\n\u{01}\u{02} garbage\r\n\r\n")
        #expect(await eventually { !pipelined.isRunning }, "\(pipelined.output)")
        #expect(
            pipelined.output.contains("HTTP/1.1 200") && pipelined.output.contains("\"code\":\"malformed_request\""),
            "\(pipelined.output)")
        // The hub still serves.
        #expect(try await curl(hub, pki, "kanri01").stdout.hasSuffix("\n200"))

        // A second hub on the first one's port: a sentence, not a stack of errors.
        let second = try await runProgram(
            Binaries.path("kiroku-hub"),
            [
                "run", "--new-record", "--host", "127.0.0.1", "--port", "\(hub.port)", "--database",
                temp.file("hub2/record.sqlite"), "--ca",
                pki.caPath, "--cert", pki.certPath(.hub, "hub"), "--key", pki.keyPath(.hub, "hub"), "--revocation-list",
                pki.dir.appending(path: "revoked.txt").path, "--log-level", "notice",
            ])
        #expect(second.status == 2)
        #expect(
            second.stderr.contains("port \(hub.port) on 127.0.0.1 is in use (another kiroku-hub running?)"),
            "\(second.stderr)")
        #expect(!second.stderr.contains("CancellationError"))

        // A database path naming a file that is not a record: SQLite's words and what to check, not GRDB's
        // statement; the file is left as it was.
        let notRecord = temp.file("not-a-record.sqlite")
        try Data("これは記録ではありません\n".utf8).write(to: URL(filePath: notRecord))
        let third = try await runProgram(
            Binaries.path("kiroku-hub"),
            [
                "run", "--host", "127.0.0.1", "--port", "0", "--database", notRecord, "--ca", pki.caPath, "--cert",
                pki.certPath(.hub, "hub"), "--key", pki.keyPath(.hub, "hub"), "--revocation-list",
                pki.dir.appending(path: "revoked.txt").path,
            ])
        #expect(third.status != 0)
        #expect(
            third.stderr.contains("cannot open the hub database \(notRecord): file is not a database")
                && third.stderr.contains("check the path (--database)") && !third.stderr.contains("while executing")
                && third.stderr.contains("設定に誤りがあります"), "\(third.stderr)")
        #expect(try String(contentsOfFile: notRecord, encoding: .utf8) == "これは記録ではありません\n")
    }
}

extension HardeningTests {
    @Test(
        "A hub that finds no record stops and says how to begin one; kiroku-hub init begins it once, prints the key, and the hub runs on it"
    )
    func noRecordNoStart() async throws {
        let temp = try TempDir("no-record")
        let pki = try TestPKI(in: temp)
        try pki.person("kaigi01")
        let hub = Binaries.path("kiroku-hub")
        let database = temp.file("hub/record.sqlite")
        let settings = Array(hubArguments(pki, temp).dropFirst().dropLast())  // neither run nor --new-record
        #expect(settings.contains(database) && !settings.contains("--new-record"))
        // A mistyped path: nothing is created, and the words say what to do either way.
        let refused = try await runProgram(hub, ["run"] + settings)
        #expect(refused.status == 2, "\(refused.stderr)")
        #expect(
            refused.stderr.contains(
                "no record is at \(database): if this is the hub's first start, create it with `kiroku-hub init`")
                && refused.stderr.contains("otherwise check --database"), "\(refused.stderr)")
        #expect(!FileManager.default.fileExists(atPath: database))
        #expect(!FileManager.default.fileExists(atPath: temp.file("hub/receipt-signing.key")))
        // A link to a volume that is not mounted is no record: nothing is created where it points.
        try FileManager.default.createDirectory(atPath: temp.file("hub"), withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(
            atPath: database, withDestinationPath: temp.file("unmounted/record.sqlite"))
        #expect(try await runProgram(hub, ["run"] + settings).stderr.contains("no record is at"))
        #expect(!FileManager.default.fileExists(atPath: temp.file("unmounted")))
        try FileManager.default.removeItem(atPath: database)
        // An empty file (a first start stopped before SQLite wrote) is no record either, and is left alone; with
        // a write-ahead log beside it, it is a damaged record, not a new one.
        try Data().write(to: URL(filePath: database))
        #expect(try await runProgram(hub, ["run"] + settings).stderr.contains("no record is at"))
        #expect(try Data(contentsOf: URL(filePath: database)).isEmpty)
        try Data("wal".utf8).write(to: URL(filePath: database + "-wal"))
        for command in ["run", "init"] {
            let damaged = try await runProgram(hub, [command] + settings)
            #expect(damaged.status == 2 && damaged.stderr.contains("this is a damaged record, not a new one"))
        }
        try FileManager.default.removeItem(atPath: database + "-wal")

        let made = try await runProgram(hub, ["init", "--lang", "en"] + settings)
        #expect(made.status == 0, "\(made.stderr)")
        #expect(made.stdout.contains("A new, empty record was created: \(database)"), "\(made.stdout)")
        let printed = made.stdout.split(separator: "\n").first { $0.hasPrefix("The hub's signing key (public): ") }
            .map { String($0.dropFirst("The hub's signing key (public): ".count).prefix { $0 != " " }) }
        for file in [database, temp.file("hub/receipt-signing.key")] {
            let mode = try FileManager.default.attributesOfItem(atPath: file)[.posixPermissions] as? Int
            #expect(mode == 0o600, "\(file): \(String(mode ?? 0, radix: 8))")
        }
        // Again: refused, the record and the key left as they were.
        let before = try Data(contentsOf: URL(filePath: database))
        let keyBefore = try Data(contentsOf: URL(filePath: temp.file("hub/receipt-signing.key")))
        let again = try await runProgram(hub, ["init"] + settings)
        #expect(again.status == 2 && again.stderr.contains("a record is already at \(database); nothing was changed"))
        #expect(try Data(contentsOf: URL(filePath: database)) == before)
        #expect(try Data(contentsOf: URL(filePath: temp.file("hub/receipt-signing.key"))) == keyBefore)

        // The hub runs on it without --new-record, signing with the key init printed.
        let running = try await HubProcess(pki: pki, temp: temp)
        defer { running.stop() }
        #expect(!running.child.log.contains("new, empty record"), "\(running.child.log)")
        let key = try await runProgram(
            Binaries.path("kirokuctl"), ["log", "key", "--hub", running.url, "--pki", pki.dir.path, "--as", "kaigi01"])
        #expect(printed != nil && key.stdout.hasPrefix(printed ?? "-"), "\(key.stdout) / \(made.stdout)")
    }

    /// `kiroku-hub run` on a free port with the test CA, its hub certificate (or `cert`/`key`) and list.
    func hubArguments(_ pki: TestPKI, _ temp: TempDir, list: String? = nil, cert: String? = nil, key: String? = nil)
        -> [String]
    {
        [
            "run", "--host", "127.0.0.1", "--port", "0", "--port-file", temp.file("hub.port"), "--database",
            temp.file("hub/record.sqlite"), "--ca", pki.caPath, "--cert", cert ?? pki.certPath(.hub, "hub"), "--key",
            key ?? pki.keyPath(.hub, "hub"), "--revocation-list", list ?? pki.dir.appending(path: "revoked.txt").path,
            "--log-level", "notice", "--new-record",
        ]
    }

    @Test(
        "A form another site's page posts with a person's certificate (a browser sends it along) changes nothing (curl as that browser)"
    )
    func crossSitePost() async throws {
        let temp = try TempDir("xsite")
        let pki = try TestPKI(in: temp)
        try pki.person("kanri01")
        let hub = try await HubProcess(pki: pki, temp: temp)
        defer { hub.stop() }
        func request(_ method: String, _ path: String, headers: [String]) async throws -> Outcome {
            try await runProgram(
                "/usr/bin/curl",
                [
                    "-sS", "--max-time", "20", "--cacert", pki.caPath, "--cert", pki.certPath(.person, "kanri01"),
                    "--key",
                    pki.keyPath(.person, "kanri01"), "-w", "\n%{http_code}", "-X", method, "-H",
                    "Content-Type: text/plain",
                    "--data", #"{"subject":"住民票コード 1","reason":"forged"}"#,
                ] + headers.flatMap { ["-H", $0] } + ["\(hub.url)\(path)"])
        }
        for headers in [
            ["Sec-Fetch-Site: cross-site", "Origin: https://evil.example"], ["Origin: https://evil.example"],
            ["Sec-Fetch-Site: same-site"],
        ] {
            let forged = try await request("POST", "/v1/holds", headers: headers)
            #expect(
                forged.stdout.hasSuffix("\n403") && forged.stdout.contains("\"code\":\"cross_site_request\""),
                "\(headers): \(forged.stdout)")
        }
        let holds = try await curl(hub, pki, "kanri01", path: "/v1/holds")
        #expect(holds.stdout.hasSuffix("\n200") && !holds.stdout.contains("forged"), "\(holds.stdout)")
        // From the hub's own origin the request is judged on its merits, not refused as cross-site.
        let own = try await request(
            "POST", "/v1/holds", headers: ["Sec-Fetch-Site: same-origin", "Origin: \(hub.url)"])
        #expect(!own.stdout.contains("cross_site_request"), "\(own.stdout)")
    }

    @Test(
        "Revocation lists as people edit them: CRLF lines do not hide the next serial; full-width digits are refused; a shrunk list is refused after a restart too"
    )
    func revocationListForms() async throws {
        let temp = try TempDir("revforms")
        let pki = try TestPKI(in: temp)
        try pki.agent("a1")
        try pki.agent("a2")
        try pki.person("kanri01")
        let list = pki.dir.appending(path: "revoked.txt").path
        // The header saved with a Windows line ending, then two revocations appended by the CA.
        let header = try String(contentsOfFile: list, encoding: .utf8)
        try Data(header.replacingOccurrences(of: "\n", with: "\r\n").utf8).write(to: URL(filePath: list))
        _ = try pki.ca.revoke(identity: Identity(role: .agent, id: "a1"), reason: "lost")
        _ = try pki.ca.revoke(identity: Identity(role: .agent, id: "a2"), reason: "lost")
        var hub = try await HubProcess(pki: pki, temp: temp)
        for id in ["a1", "a2"] {
            let outcome = try await curl(hub, pki, id, role: .agent, path: "/v1/agent/state")
            #expect(!outcome.stdout.hasSuffix("\n200"), "\(id) is revoked: \(outcome.stdout)")
        }
        #expect(try await curl(hub, pki, "kanri01").stdout.hasSuffix("\n200"))
        hub.stop()

        // A list that lost a1 and a2 since: refused at start, not only while running.
        let full = try String(contentsOfFile: list, encoding: .utf8)
        try Data(header.utf8).write(to: URL(filePath: list))
        let shrunk = try await runProgram(Binaries.path("kiroku-hub"), hubArguments(pki, temp))
        #expect(shrunk.status == 2)
        #expect(shrunk.stderr.contains("no longer holds 2 serial(s) that an earlier list revoked"), "\(shrunk.stderr)")

        // A serial typed with full-width digits never matches a certificate: refused, not read.
        let wide = temp.file("wide.txt")
        try Data((header + "ｆ０９ｅ１２\n").utf8).write(to: URL(filePath: wide))
        let refused = try await runProgram(Binaries.path("kiroku-hub"), hubArguments(pki, temp, list: wide))
        #expect(refused.status == 2)
        #expect(refused.stderr.contains("is not a certificate serial in hex (0-9, a-f)"), "\(refused.stderr)")

        // The whole list with CRLF line endings (edited on Windows) is read as it is.
        let crlf = full.replacingOccurrences(of: "\r\n", with: "\n").replacingOccurrences(of: "\n", with: "\r\n")
        try Data(crlf.utf8).write(to: URL(filePath: list))
        hub = try await HubProcess(pki: pki, temp: temp)
        defer { hub.stop() }
        #expect(!(try await curl(hub, pki, "a1", role: .agent, path: "/v1/agent/state").stdout.hasSuffix("\n200")))
        #expect(try await curl(hub, pki, "kanri01").stdout.hasSuffix("\n200"))
    }

    @Test(
        "A TLS session resumed after its certificate was revoked is closed at the handshake's end (openssl s_client -sess_in)"
    )
    func resumedSession() async throws {
        let temp = try TempDir("resume")
        let pki = try TestPKI(in: temp)
        try pki.person("kaigi01")
        let hub = try await HubProcess(pki: pki, temp: temp)
        defer { hub.stop() }
        let session = temp.file("session.pem")
        func connect(_ extra: [String]) async throws -> Outcome {
            try await runProgram(
                "/usr/bin/openssl",
                [
                    "s_client", "-connect", "127.0.0.1:\(hub.port)", "-CAfile", pki.caPath, "-cert",
                    pki.certPath(.person, "kaigi01"),
                    "-key", pki.keyPath(.person, "kaigi01"), "-ign_eof",
                ] + extra, stdin: "GET /v1/me HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        }
        let first = try await connect(["-sess_out", session])
        #expect(first.stdout.contains("HTTP/1.1 200"), "\(first.stdout)")
        // Resumed before the revocation: served, and it really was a resumption.
        let resumed = try await connect(["-sess_in", session])
        #expect(
            resumed.stdout.contains("Reused"),
            "the hub must offer resumption for this test to mean anything: \(resumed.stdout)")
        _ = try pki.ca.revoke(identity: Identity(role: .person, id: "kaigi01"), reason: "退職")
        let after = try await connect(["-sess_in", session])
        #expect(!after.stdout.contains("HTTP/1.1"), "\(after.stdout)")
        #expect(
            await eventually {
                hub.child.log.contains("closed a connection at its handshake's end: certificate revoked")
            }, "\(hub.child.log)")
    }

    @Test(
        "A producer that floods the socket and never reads its answers cannot grow the agent's memory; others are still answered"
    )
    func socketFlood() async throws {
        let temp = try TempDir("flood")
        let pki = try TestPKI(in: temp)
        try pki.agent("counter-01")
        let config = try agentConfig("counter-01", pki: pki, temp: temp, hubURL: "https://localhost:1")
        let agent = try await AgentProcess(
            config: config, socket: temp.file("counter-01/ingest.sock"), temp: temp, name: "agent")
        defer { agent.stop() }
        func rss() throws -> Int {
            let status = try String(contentsOfFile: "/proc/\(agent.child.pid)/status", encoding: .utf8)
            let line = try #require(status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") })
            return Int(line.split(separator: " ").dropFirst().first ?? "0") ?? 0  // kB
        }
        let before = try rss()
        // 32 MB of bad lines, sent for at most 20 seconds, answers never read; the agent stops reading.
        let flood = try await runProgram(
            "/usr/bin/env",
            [
                "python3", "-c",
                """
                import socket, sys, time
                s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.settimeout(2)
                chunk, sent, end = b"x\\n" * 65536, 0, time.time() + 20
                while sent < 32 << 20 and time.time() < end:
                    try:
                        sent += s.send(chunk)
                    except socket.timeout:
                        break
                print(sent)
                """, agent.socket,
            ])
        let sent = Int(flood.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
        #expect(sent > 0, "\(flood.stderr)")
        #expect(sent < 32 << 20, "the agent kept reading \(sent) bytes from a producer that reads nothing")
        let grown = try rss() - before
        #expect(grown < 100_000, "the agent grew by \(grown) kB")
        let other = try SocketProducer(path: agent.socket)
        #expect(
            try other.send(#"{"kind":"access","action":"enter","actor":"P0012","subject":"電算室"}"#).contains(
                "\"ok\":true"))
    }

    @Test(
        "Under umask 000, kirokuctl pki and kiroku-hub keygen still make private folders and files only they may change"
    )
    func umaskZero() async throws {
        let temp = try TempDir("umask0")
        let ctl = Binaries.path("kirokuctl")
        let dir = temp.file("pki")
        let script = """
            umask 000
            '\(ctl)' pki init --dir '\(dir)' --name 稲城市 && '\(ctl)' pki issue agent --dir '\(dir)' --id counter-01 \\
              && '\(ctl)' pki revoke --dir '\(dir)' --role agent --id counter-01 --reason test \\
              && '\(Binaries.path("kiroku-hub"))' keygen --out '\(temp.file("keys/next.key"))'
            """
        let outcome = try await runProgram("/bin/bash", ["-c", script])
        #expect(outcome.status == 0, "\(outcome.stderr)")
        func mode(_ path: String) throws -> Int {
            try #require(FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int)
        }
        for (path, expected) in [
            (dir, 0o700), ("\(dir)/agents", 0o700), ("\(dir)/ca.key", 0o600), ("\(dir)/agents/counter-01.key", 0o600),
            ("\(dir)/ca.crt", 0o644), ("\(dir)/revoked.txt", 0o644), ("\(dir)/agents/counter-01.crt", 0o644),
            (temp.file("keys"), 0o700), (temp.file("keys/next.key"), 0o600),
        ] {
            let bits = try mode(path)
            #expect(bits == expected, "\(path) is \(String(bits, radix: 8))")
        }
    }
}

struct HubAddress {
    let port: Int
    var url: String { "https://localhost:\(port)" }
}

/// A TCP connection to 127.0.0.1:`port` from the loopback address `source` (another address than the
/// person's, as an attacker elsewhere on the network would have).
func rawConnect(from source: String, to port: Int) throws -> Int32 {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw KirokuError(.internalError, "socket() failed") }
    func address(_ text: String, _ port: Int) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        inet_pton(AF_INET, text, &address.sin_addr)
        return address
    }
    var local = address(source, 0)
    var remote = address("127.0.0.1", port)
    let bound = withUnsafePointer(to: &local) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    let connected = withUnsafePointer(to: &remote) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
        }
    }
    guard bound == 0, connected == 0 else {
        close(fd)
        throw KirokuError(.internalError, "cannot connect from \(source) to port \(port)")
    }
    return fd
}

/// Whether the peer has closed this connection (a read returns end of file or a reset) without blocking.
func isClosed(_ fd: Int32) -> Bool {
    var byte: UInt8 = 0
    let count = recv(fd, &byte, 1, Int32(MSG_DONTWAIT))
    return count == 0 || (count < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
}

/// A program talked to over its standard input while its output is collected (openssl s_client on one
/// keep-alive connection).
final class Interactive: @unchecked Sendable {
    let process = Process()
    private let input = Pipe()
    private let collected = Collected()

    final class Collected: @unchecked Sendable {
        private let lock = NSLock()
        private var data = Data()
        func append(_ more: Data) { lock.withLock { data.append(more) } }
        var text: String { lock.withLock { String(decoding: data, as: UTF8.self) } }
    }

    init(_ executable: String, _ arguments: [String]) throws {
        process.executableURL = URL(filePath: executable)
        process.arguments = arguments
        let output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = output
        let collected = self.collected
        output.fileHandleForReading.readabilityHandler = { handle in
            let data = handle.availableData
            collected.append(data)
        }
        try spawn(process)
    }

    var output: String { collected.text }
    var isRunning: Bool { process.isRunning }

    func send(_ text: String) { input.fileHandleForWriting.write(Data(text.utf8)) }

    func stop() {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }
}
