import Foundation
import KirokuAgent
import KirokuClient
import KirokuControl
import KirokuHub
import KirokuProtocol
import KirokuTestSupport
import Logging
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The agent following log files (issue 4): through rotation, truncation and `kill -9`, every line
/// becomes exactly one event.
@Suite("Collectors: following log files")
struct CollectorTests {
    func append(_ path: String, _ lines: [String]) throws {
        if !FileManager.default.fileExists(atPath: path) {
            _ = FileManager.default.createFile(atPath: path, contents: nil)
        }
        let handle = try #require(FileHandle(forWritingAtPath: path))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data(lines.map { $0 + "\n" }.joined().utf8))
        try handle.close()
    }

    func jsonl(_ range: Range<Int>) -> [String] {
        range.map {
            #"{"kind":"operation","action":"lookup","actor":"P0101","subject":"住民票コード \#($0)","attrs":{"line":"\#($0)"}}"#
        }
    }

    @Test("A JSON-lines log through rename rotation, kill -9, truncation and junk lines: every line exactly once")
    func followJSONLines() async throws {
        let temp = try TempDir("collector")
        let pki = try TestPKI(in: temp)
        try pki.agent("counter-01")
        let hub = try await HubProcess(pki: pki, temp: temp)
        defer { hub.stop() }
        let log = temp.file("app/events.jsonl")
        try FileManager.default.createDirectory(atPath: temp.file("app"), withIntermediateDirectories: true)
        try append(log, jsonl(0..<100))
        let config = try agentConfig(
            "counter-01", pki: pki, temp: temp, hubURL: hub.url,
            extra: ["files": [["path": log, "format": "jsonl"]], "files_poll_seconds": 0.1])
        let socket = temp.file("counter-01/ingest.sock")
        var agent = try await AgentProcess(config: config, socket: socket, temp: temp, name: "agent1")
        let journal = try Journal.open(path: temp.file("counter-01/journal.sqlite"), agentID: "counter-01", site: "")
        func lines() throws -> [Int] { try journal.allEvents().compactMap { $0.attrs["line"].flatMap(Int.init) } }
        #expect(await eventually { (try? lines().count) == 100 })

        // Rotation by renaming: the writer finishes the old file, then a new one starts.
        try FileManager.default.moveItem(atPath: log, toPath: log + ".1")
        try append(log + ".1", jsonl(100..<110))
        try append(log, jsonl(110..<160) + ["this is not an event", ""])
        #expect(await eventually { (try? lines().count) == 160 }, "agent log: \(agent.child.log)")

        // kill -9 while lines keep coming; they are read after the restart, none twice.
        try append(log, jsonl(160..<175))
        agent.child.kill9()
        try append(log, jsonl(175..<190))
        agent = try await AgentProcess(config: config, socket: socket, temp: temp, name: "agent2")
        defer { agent.stop() }
        #expect(await eventually { (try? lines().count) == 190 }, "agent log: \(agent.child.log)")

        // Truncation in place (copytruncate): read again from the start.
        let handle = try #require(FileHandle(forWritingAtPath: log))
        try handle.truncate(atOffset: 0)
        try handle.close()
        try append(log, jsonl(190..<200))
        #expect(await eventually { (try? lines().count) == 200 }, "agent log: \(agent.child.log)")

        let read = try lines()
        #expect(read.sorted() == Array(0..<200), "every line exactly once")
        #expect(await eventually { allDelivered(journal) })
        let held = try await HubStore.open(path: hub.database).eventCount()
        #expect(held == (try journal.progress().headSeq), "the hub holds the whole journal, the 200 lines with it")
    }

    @Test(
        "Inventory (第14, 第17): USB devices attached and removed, programs and packages added, changed and removed; baseline first"
    )
    func inventory() async throws {
        let temp = try TempDir("inventory")
        let pki = try TestPKI(in: temp)
        try pki.agent("counter-01")
        // A stand-in for /sys/bus/usb/devices, a program folder and dpkg's status file.
        let sys = temp.file("sys")
        // The agent scans every second while the test changes things, so each change is made whole at once,
        // as the kernel adds a device's folder and dpkg replaces its status file: a scan sees it before or
        // after, never half made (a half-written folder or file would be one more change, rightly journalled).
        func device(_ port: String, vendor: String, product: String, serial: String?, name: String) throws {
            let staged = temp.file("staged-\(port)")
            try FileManager.default.createDirectory(atPath: staged, withIntermediateDirectories: true)
            for (file, value) in [("idVendor", vendor), ("idProduct", product), ("product", name)]
                + (serial.map { [("serial", $0)] } ?? [])
            {
                try Data((value + "\n").utf8).write(to: URL(filePath: "\(staged)/\(file)"))
            }
            try FileManager.default.moveItem(atPath: staged, toPath: "\(sys)/\(port)")
        }
        func unplug(_ port: String) throws {
            let gone = temp.file("unplugged-\(port)")
            try FileManager.default.moveItem(atPath: "\(sys)/\(port)", toPath: gone)
            try FileManager.default.removeItem(atPath: gone)
        }
        func write(_ text: String, _ path: String) throws {
            // Written beside the watched folders, then renamed over the file: rename(2) replaces it whole.
            let staged = temp.file("staged-file")
            try Data(text.utf8).write(to: URL(filePath: staged))
            #expect(rename(staged, path) == 0, "rename: errno \(errno)")
        }
        try FileManager.default.createDirectory(atPath: sys, withIntermediateDirectories: true)
        try device("1-1", vendor: "0781", product: "5567", serial: "4C530001", name: "Cruzer Blade")
        // a hub, no ids
        try FileManager.default.createDirectory(atPath: "\(sys)/usb1", withIntermediateDirectories: true)
        let programs = temp.file("opt/juki")
        try FileManager.default.createDirectory(atPath: "\(programs)/bin", withIntermediateDirectories: true)
        try Data("v1".utf8).write(to: URL(filePath: "\(programs)/bin/juki-client"))
        try Data("config".utf8).write(to: URL(filePath: "\(programs)/juki.conf"))
        let status = temp.file("dpkg-status")
        try Data(
            "Package: bash\nStatus: install ok installed\nVersion: 5.2.15-2\n\nPackage: telnet\nStatus: deinstall ok config-files\nVersion: 0.17\n"
                .utf8
        )
        .write(to: URL(filePath: status))
        let config = try agentConfig(
            "counter-01", pki: pki, temp: temp, hubURL: "https://127.0.0.1:1",
            extra: [
                "inventory": [
                    "usb_devices": sys, "program_directories": [programs], "dpkg_status": status, "interval_seconds": 1,
                ]
            ])
        let agent = try await AgentProcess(
            config: config, socket: temp.file("counter-01/ingest.sock"), temp: temp, name: "agent")
        defer { agent.stop() }
        let journal = try Journal.open(path: temp.file("counter-01/journal.sqlite"), agentID: "counter-01", site: "")
        func changes() throws -> [String] {
            try journal.allEvents().filter { $0.kind == "config" }.map { "\($0.action) \($0.subject)" }
        }
        #expect(await eventually { (try? changes().count) == 4 }, "agent log: \(agent.child.log)")
        #expect(
            Set(try changes()) == [
                "device_attached USB 0781:5567 4C530001", "program_added \(programs)/bin/juki-client",
                "program_added \(programs)/juki.conf",
                "program_added package bash",
            ])
        // A second stick, the first one pulled, the client updated, the configuration deleted, a package upgraded.
        try device("1-2", vendor: "090c", product: "1000", serial: nil, name: "USB DISK")
        try unplug("1-1")
        try write("v2", "\(programs)/bin/juki-client")
        try FileManager.default.removeItem(atPath: "\(programs)/juki.conf")
        try write("Package: bash\nStatus: install ok installed\nVersion: 5.2.15-3\n", status)
        #expect(
            await eventually { (try? changes().count) == 9 },
            "changes: \((try? changes()) ?? [])\nagent log: \(agent.child.log)")
        let later = Array(try changes().dropFirst(4))
        #expect(
            Set(later) == [
                "device_attached USB 090c:1000", "device_removed USB 0781:5567 4C530001",
                "program_changed \(programs)/bin/juki-client",
                "program_removed \(programs)/juki.conf", "program_changed package bash",
            ])
        let changed = try #require(
            try journal.allEvents().first { $0.action == "program_changed" && $0.subject == "package bash" })
        #expect(changed.attrs["version"] == "5.2.15-3" && changed.attrs["previous_version"] == "5.2.15-2")
        let attached = try #require(
            try journal.allEvents().first { $0.action == "device_attached" && $0.attrs["serial"] == "4C530001" })
        #expect(attached.attrs["name"] == "Cruzer Blade" && attached.attrs["vendor"] == "0781")
        // Nothing changed: a scan journals nothing (the monitor on its own journal, scanned by hand).
        var settings = InventorySettings()
        settings.usbDevices = sys
        settings.programDirectories = [programs]
        settings.dpkgStatus = status
        let own = try Journal.open(path: temp.file("own.sqlite"), agentID: "counter-01", site: "")
        let monitor = InventoryMonitor(
            journal: own, settings: settings, doorbell: Doorbell(), logger: Logger(label: "test"))
        let first = try await monitor.scan()
        let second = try await monitor.scan()
        #expect(first == 3 && second == 0, "the baseline, then nothing")
    }

    @Test(
        "A text log read with a pattern: named groups fill the event, fixed values the rest, non-matching lines skipped"
    )
    func followTextLines() async throws {
        let temp = try TempDir("collector-text")
        let pki = try TestPKI(in: temp)
        try pki.agent("room")
        let log = temp.file("door.log")
        try append(
            log,
            [
                "2026-11-27T09:00:00.000+09:00 P0012 enter 電算室 card=C-1001",
                "2026-11-27T09:30:00.000+09:00 P0012 exit 電算室 card=C-1001",
                "door controller rebooted",
            ])
        let config = try agentConfig(
            "room", pki: pki, temp: temp, hubURL: "https://127.0.0.1:1",
            extra: [
                "files": [
                    [
                        "path": log, "format": "text", "kind": "access",
                        "pattern":
                            #"^(?<time>\S+) (?<actor>P\d+) (?<action>enter|exit) (?<subject>\S+) card=(?<card>\S+)$"#,
                    ]
                ], "files_poll_seconds": 0.1,
            ])
        let agent = try await AgentProcess(
            config: config, socket: temp.file("room/ingest.sock"), temp: temp, name: "agent")
        defer { agent.stop() }
        let journal = try Journal.open(path: temp.file("room/journal.sqlite"), agentID: "room", site: "")
        #expect(await eventually { (try? journal.allEvents().filter { $0.kind == "access" }.count) == 2 })
        let events = try journal.allEvents().filter { $0.kind == "access" }
        #expect(events.map(\.action) == ["enter", "exit"])
        #expect(
            events[0].time == "2026-11-27T09:00:00.000+09:00" && events[0].actor == "P0012"
                && events[0].subject == "電算室")
        #expect(events[0].attrs == ["card": "C-1001"])
        #expect(await eventually { agent.child.log.contains("not an event") })

        // A configuration that cannot work is refused at start, clearly.
        let bad = try agentConfig(
            "room", pki: pki, temp: temp, hubURL: "https://127.0.0.1:1",
            extra: ["files": [["path": log, "format": "text", "pattern": "(unclosed"]]])
        let refused = try await runProgram(Binaries.path("kiroku-agent"), ["run", "--config", bad])
        #expect(refused.status != 0 && refused.stderr.contains("pattern"), "\(refused.stderr)")
    }

    /// The EICAR test file, built here so that no virus scanner flags the repository.
    static let eicar = #"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"#
    static var clamscanPresent: Bool {
        FileManager.default.isExecutableFile(atPath: "/usr/bin/clamscan")
            || ProcessInfo.processInfo.environment["CI"] != nil
    }

    @Test(
        "Virus checks (第19) with the real clamscan and the EICAR test file: scan verdicts journalled, ClamAV's log collected",
        .enabled(if: clamscanPresent, "Debian's clamav is not installed (CI installs it)"))
    func clamav() async throws {
        let temp = try TempDir("clamav")
        let pki = try TestPKI(in: temp)
        try pki.agent("counter-01")
        let media = temp.file("usb0")
        try FileManager.default.createDirectory(atPath: media + "/docs", withIntermediateDirectories: true)
        try Data(Self.eicar.utf8).write(to: URL(filePath: media + "/docs/eicar.com"))
        try Data("転入届 控え\n".utf8).write(to: URL(filePath: media + "/memo.txt"))
        let clean = temp.file("clean")
        try FileManager.default.createDirectory(atPath: clean, withIntermediateDirectories: true)
        try Data("住民票 様式\n".utf8).write(to: URL(filePath: clean + "/form.txt"))
        // ClamAV's signature database needs the network (freshclam); a one-line database with EICAR's
        // standard MD5 and size stands in for it, in ClamAV's own .hdb format.
        let database = temp.file("eicar.hdb")
        try Data("44d88612fea8a8f36de82e1278abb02f:68:Eicar-Test-Signature\n".utf8).write(to: URL(filePath: database))
        let config = try agentConfig(
            "counter-01", pki: pki, temp: temp, hubURL: "https://127.0.0.1:1", extra: ["clamav_database": database])
        let agent = Binaries.path("kiroku-agent")
        let journalPath = temp.file("counter-01/journal.sqlite")

        let infected = try await runProgram(
            agent, ["scan", media, "--medium", "USB-0007", "--actor", "P0101", "--config", config])
        #expect(infected.status == 1, "\(infected.stderr)")
        #expect(infected.stdout.contains("docs/eicar.com: Eicar-Test-Signature") && infected.stdout.contains("第19③④"))
        let journal = try Journal.open(path: journalPath, agentID: "counter-01", site: "")
        var events = try journal.allEvents()
        #expect(events.map(\.action) == ["scan", "detected"])
        #expect(events[0].kind == "malware" && events[0].actor == "P0101" && events[0].subject == "USB-0007")
        #expect(
            events[0].attrs["result"] == "infected" && events[0].attrs["files"] == "2"
                && events[0].attrs["infected"] == "1")
        #expect(events[0].attrs["engine"]?.hasPrefix("ClamAV ") == true)
        #expect(
            events[1].actor == "ClamAV" && events[1].subject == "USB-0007" && events[1].attrs["scanned_by"] == "P0101")
        #expect(events[1].attrs["virus"]?.hasPrefix("Eicar-Test-Signature") == true)
        #expect(events[1].attrs["files"] == media + "/docs/eicar.com")

        let ok = try await runProgram(agent, ["scan", clean, "--actor", "P0102", "--config", config])
        #expect(ok.status == 0 && ok.stdout.hasPrefix("異常なし：1 ファイル"), "\(ok.stdout)\(ok.stderr)")
        events = try journal.allEvents()
        #expect(events.count == 3 && events[2].attrs["result"] == "clean" && events[2].subject == clean)

        // A scan that cannot run its signatures fails, and the failed attempt is on the record.
        let broken = try agentConfig(
            "counter-01", pki: pki, temp: temp, hubURL: "https://127.0.0.1:1",
            extra: ["clamav_database": temp.file("none.hdb")])
        let failed = try await runProgram(agent, ["scan", clean, "--actor", "P0102", "--config", broken])
        #expect(failed.status == 2 && failed.stderr.contains("none.hdb"), "\(failed.stderr)")
        events = try journal.allEvents()
        #expect(
            events.count == 4 && events[3].attrs["result"] == "error"
                && events[3].attrs["error"]?.contains("none.hdb") == true)
        // No scanner, or nothing to scan: refused, nothing journalled.
        let noScanner = try agentConfig(
            "counter-01", pki: pki, temp: temp, hubURL: "https://127.0.0.1:1",
            extra: ["clamscan": "/nonexistent/clamscan"])
        let missing = try await runProgram(agent, ["scan", clean, "--actor", "P0102", "--config", noScanner])
        #expect(missing.status == 64 && missing.stderr.contains("apt install clamav"))
        #expect(
            try await runProgram(agent, ["scan", temp.file("gone"), "--actor", "P0102", "--config", config]).status
                == 64)
        #expect(try journal.allEvents().count == 4)

        // ClamAV's own log: what clamscan --log wrote for real, and clamd's lines with their LogTime prefix.
        let log = temp.file("clamav.log")
        let scanned = try await runProgram(
            "/usr/bin/clamscan", ["--recursive", "--database=\(database)", "--log=\(log)", media])
        #expect(scanned.status == 1)
        try append(
            log,
            [
                "Sat Nov 28 09:12:03 2026 -> /home/P0101/Downloads/invoice.pdf.exe: Win.Trojan.Agent-123(0123456789abcdef0123456789abcdef:4096) FOUND",
                "Sat Nov 28 09:12:04 2026 -> /home/P0101/Downloads/ok.txt: OK",
                "Sat Nov 28 09:13:00 2026 -> SelfCheck: Database status OK.",
            ])
        let follow = try agentConfig(
            "room", pki: pki, temp: temp, hubURL: "https://127.0.0.1:1",
            extra: ["files": [["path": log, "format": "clamav"]], "files_poll_seconds": 0.1])
        try pki.agent("room")
        let daemon = try await AgentProcess(
            config: follow, socket: temp.file("room/ingest.sock"), temp: temp, name: "agent")
        defer { daemon.stop() }
        let followed = try Journal.open(path: temp.file("room/journal.sqlite"), agentID: "room", site: "")
        #expect(await eventually { (try? followed.allEvents().filter { $0.kind == "malware" }.count) == 2 })
        let detected = try followed.allEvents().filter { $0.kind == "malware" }
        #expect(detected.map(\.action) == ["detected", "detected"])
        #expect(
            detected[0].subject == media + "/docs/eicar.com"
                && detected[0].attrs["virus"] == "Eicar-Test-Signature.UNOFFICIAL")
        #expect(
            detected[1].subject == "/home/P0101/Downloads/invoice.pdf.exe"
                && detected[1].attrs["virus"] == "Win.Trojan.Agent-123")
        #expect(!daemon.child.log.contains("not an event"))
    }

    /// One wtmp line in `utmpdump`'s text form (its fields padded as it writes them).
    static func utmp(
        _ type: Int, _ pid: Int, _ id: String, _ user: String, _ line: String, _ host: String, _ utc: String
    ) -> String {
        func pad(_ text: String, _ width: Int) -> String {
            text.padding(toLength: max(width, text.count), withPad: " ", startingAt: 0)
        }
        let address = host.isEmpty ? "0.0.0.0" : host
        return
            "[\(type)] [\(String(format: "%05d", pid))] [\(pad(id, 4))] [\(pad(user, 8))] [\(pad(line, 12))] [\(pad(host, 20))] [\(pad(address, 15))] [\(utc)]"
    }

    /// Appends records to a wtmp file the way the system's own tool writes them (`utmpdump -r`).
    func appendWtmp(_ path: String, _ lines: [String], temp: TempDir) async throws {
        let text = temp.file("utmp.txt")
        try Data(lines.map { $0 + "\n" }.joined().utf8).write(to: URL(filePath: text))
        let binary = temp.file("utmp.bin")
        let made = try await runProgram("/bin/sh", ["-c", "utmpdump -r < '\(text)' > '\(binary)'"])
        let bytes = try Data(contentsOf: URL(filePath: binary))
        #expect(bytes.count == lines.count * 384, "\(made.stderr)")
        if !FileManager.default.fileExists(atPath: path) {
            _ = FileManager.default.createFile(atPath: path, contents: nil)
        }
        let handle = try #require(FileHandle(forWritingAtPath: path))
        try handle.seekToEnd()
        try handle.write(contentsOf: bytes)
        try handle.close()
    }

    @Test(
        "Logins (第20, 第22) from the system's wtmp and btmp: sessions and failed logins, once each, through kill -9; `last` and `lastb` agree",
        .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/utmpdump")))
    func logins() async throws {
        let temp = try TempDir("logins")
        let pki = try TestPKI(in: temp)
        try pki.agent("counter-01")
        let wtmp = temp.file("wtmp")
        try await appendWtmp(
            wtmp,
            [
                // boot: not a session
                Self.utmp(2, 0, "~~", "reboot", "~", "6.1.0", "2026-11-28T00:00:00,000000+00:00"),
                Self.utmp(7, 1201, "ts/1", "P0101", "pts/1", "10.20.0.11", "2026-11-28T00:00:05,123000+00:00"),
                Self.utmp(7, 1302, "tty1", "P0102", "tty1", "", "2026-11-28T00:05:00,000000+00:00"),
                // glibc's logout: no name
                Self.utmp(8, 1201, "ts/1", "", "pts/1", "", "2026-11-28T00:31:00,000000+00:00"),
            ], temp: temp)
        // Failed logins (btmp): someone guessing P0199's password over ssh, and one typed name no one has.
        let btmp = temp.file("btmp")
        try await appendWtmp(
            btmp,
            (0..<5).map {
                Self.utmp(6, 2001 + $0, "", "P0199", "ssh:notty", "10.20.0.99", "2026-11-28T00:0\($0):30,000000+00:00")
            } + [Self.utmp(6, 2100, "", "admin", "ssh:notty", "10.20.0.99", "2026-11-28T00:09:00,000000+00:00")],
            temp: temp)
        // A real hub, so that what the terminal's records show reaches the rules.
        try pki.person("kanri01")
        let hub = try await HubProcess(pki: pki, temp: temp)
        defer { hub.stop() }
        let config = try agentConfig(
            "counter-01", pki: pki, temp: temp, hubURL: hub.url,
            extra: [
                "files": [["path": wtmp, "format": "wtmp"], ["path": btmp, "format": "btmp"]],
                "files_poll_seconds": 0.1,
            ])
        var agent = try await AgentProcess(
            config: config, socket: temp.file("counter-01/ingest.sock"), temp: temp, name: "agent1")
        let journal = try Journal.open(path: temp.file("counter-01/journal.sqlite"), agentID: "counter-01", site: "")
        func sessions() throws -> [Event] {
            try journal.allEvents().filter { $0.kind == "operation" && $0.action != "auth_failure" }
        }
        #expect(await eventually { (try? sessions().count) == 3 })
        #expect(await eventually { (try? journal.allEvents().filter { $0.action == "auth_failure" }.count) == 6 })
        let failures = try journal.allEvents().filter { $0.action == "auth_failure" }
        #expect(failures.map(\.actor) == ["P0199", "P0199", "P0199", "P0199", "P0199", "admin"])
        #expect(
            failures[0].subject == "ssh:notty"
                && failures[0].attrs == ["source": "btmp", "pid": "2001", "host": "10.20.0.99"])
        let lastb = try await runProgram("/usr/bin/lastb", ["-f", btmp, "-w"])
        #expect(lastb.stdout.components(separatedBy: "P0199").count - 1 == 5, "\(lastb.stdout)")
        var events = try sessions()
        #expect(
            events.map { "\($0.action) \($0.actor) \($0.subject)" } == [
                "login P0101 pts/1", "login P0102 tty1", "logout P0101 pts/1",
            ])
        #expect(
            Timestamp(rfc3339: events[0].time)?.epochMilliseconds
                == Timestamp(rfc3339: "2026-11-28T09:00:05.123+09:00")?.epochMilliseconds)
        #expect(events[0].attrs == ["source": "wtmp", "pid": "1201", "host": "10.20.0.11"])

        // kill -9, more sessions meanwhile: the logout of tty1 names P0102 from the record read before.
        agent.child.kill9()
        try await appendWtmp(
            wtmp,
            [
                Self.utmp(8, 1302, "tty1", "", "tty1", "", "2026-11-28T03:00:00,000000+00:00"),
                Self.utmp(7, 1410, "ts/2", "P0103", "pts/2", "10.20.0.12", "2026-11-28T04:00:00,000000+00:00"),
            ], temp: temp)
        agent = try await AgentProcess(
            config: config, socket: temp.file("counter-01/ingest.sock"), temp: temp, name: "agent2")
        defer { agent.stop() }
        #expect(await eventually { (try? sessions().count) == 5 })
        events = try sessions()
        #expect(
            events.suffix(2).map { "\($0.action) \($0.actor) \($0.subject)" } == [
                "logout P0102 tty1", "login P0103 pts/2",
            ])

        // util-linux's `last`, reading the same file, sees the same sessions.
        let last = try await runProgram("/usr/bin/last", ["-f", wtmp, "-w"])
        let seen = last.stdout.split(separator: "\n").compactMap { line -> String? in
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            return fields.count > 2 && fields[0].hasPrefix("P") ? "\(fields[0]) \(fields[1])" : nil
        }
        #expect(
            Set(seen) == Set(events.filter { $0.action == "login" }.map { "\($0.actor) \($0.subject)" }),
            "\(last.stdout)")

        // At the hub: every session and failure once, and the password guessing found as a burst (第22).
        let queries = HubQueries(
            connection: try HubConnection(
                baseURL: hub.url,
                credentials: ClientCredentials(
                    caPath: pki.caPath, certificatePath: pki.certPath(.person, "kanri01"),
                    keyPath: pki.keyPath(.person, "kanri01"))))
        let connection = queries.connection
        defer { Task { await connection.shutdown() } }
        #expect(
            await eventually { (try? await queries.events(["kind": "operation", "limit": "100"]).events.count) == 11 })
        #expect(
            await eventually { (try? await queries.findings(status: nil, rule: "auth_failure_burst").isEmpty) == false }
        )
        let burst = try #require(try await queries.findings(status: nil, rule: "auth_failure_burst").first)
        #expect(burst.article == "第22" && burst.count == 5 && burst.summary.contains("P0199"), "\(burst)")
    }
}
