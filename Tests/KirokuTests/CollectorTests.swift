import Foundation
import KirokuAgent
import KirokuHub
import KirokuProtocol
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
        if !FileManager.default.fileExists(atPath: path) { _ = FileManager.default.createFile(atPath: path, contents: nil) }
        let handle = try #require(FileHandle(forWritingAtPath: path))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data(lines.map { $0 + "\n" }.joined().utf8))
        try handle.close()
    }

    func jsonl(_ range: Range<Int>) -> [String] {
        range.map { #"{"kind":"operation","action":"lookup","actor":"P0101","subject":"住民票コード \#($0)","attrs":{"line":"\#($0)"}}"# }
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

    @Test("Inventory (第14, 第17): USB devices attached and removed, programs and packages added, changed and removed; baseline first")
    func inventory() async throws {
        let temp = try TempDir("inventory")
        let pki = try TestPKI(in: temp)
        try pki.agent("counter-01")
        // A stand-in for /sys/bus/usb/devices, a program folder and dpkg's status file.
        let sys = temp.file("sys")
        func device(_ port: String, vendor: String, product: String, serial: String?, name: String) throws {
            try FileManager.default.createDirectory(atPath: "\(sys)/\(port)", withIntermediateDirectories: true)
            for (file, value) in [("idVendor", vendor), ("idProduct", product), ("product", name)] + (serial.map { [("serial", $0)] } ?? []) {
                try Data((value + "\n").utf8).write(to: URL(filePath: "\(sys)/\(port)/\(file)"))
            }
        }
        try device("1-1", vendor: "0781", product: "5567", serial: "4C530001", name: "Cruzer Blade")
        try FileManager.default.createDirectory(atPath: "\(sys)/usb1", withIntermediateDirectories: true)  // a hub, no ids
        let programs = temp.file("opt/juki")
        try FileManager.default.createDirectory(atPath: "\(programs)/bin", withIntermediateDirectories: true)
        try Data("v1".utf8).write(to: URL(filePath: "\(programs)/bin/juki-client"))
        try Data("config".utf8).write(to: URL(filePath: "\(programs)/juki.conf"))
        let status = temp.file("dpkg-status")
        try Data("Package: bash\nStatus: install ok installed\nVersion: 5.2.15-2\n\nPackage: telnet\nStatus: deinstall ok config-files\nVersion: 0.17\n".utf8)
            .write(to: URL(filePath: status))
        let config = try agentConfig(
            "counter-01", pki: pki, temp: temp, hubURL: "https://127.0.0.1:1",
            extra: ["inventory": ["usb_devices": sys, "program_directories": [programs], "dpkg_status": status, "interval_seconds": 1]])
        let agent = try await AgentProcess(config: config, socket: temp.file("counter-01/ingest.sock"), temp: temp, name: "agent")
        defer { agent.stop() }
        let journal = try Journal.open(path: temp.file("counter-01/journal.sqlite"), agentID: "counter-01", site: "")
        func changes() throws -> [String] {
            try journal.allEvents().filter { $0.kind == "config" }.map { "\($0.action) \($0.subject)" }
        }
        #expect(await eventually { (try? changes().count) == 4 }, "agent log: \(agent.child.log)")
        #expect(Set(try changes()) == [
            "device_attached USB 0781:5567 4C530001", "program_added \(programs)/bin/juki-client", "program_added \(programs)/juki.conf",
            "program_added package bash",
        ])
        // A second stick, the first one pulled, the client updated, the configuration deleted, a package upgraded.
        try device("1-2", vendor: "090c", product: "1000", serial: nil, name: "USB DISK")
        try FileManager.default.removeItem(atPath: "\(sys)/1-1")
        try Data("v2".utf8).write(to: URL(filePath: "\(programs)/bin/juki-client"))
        try FileManager.default.removeItem(atPath: "\(programs)/juki.conf")
        try Data("Package: bash\nStatus: install ok installed\nVersion: 5.2.15-3\n".utf8).write(to: URL(filePath: status))
        #expect(await eventually { (try? changes().count) == 9 }, "agent log: \(agent.child.log)")
        let later = Array(try changes().dropFirst(4))
        #expect(Set(later) == [
            "device_attached USB 090c:1000", "device_removed USB 0781:5567 4C530001", "program_changed \(programs)/bin/juki-client",
            "program_removed \(programs)/juki.conf", "program_changed package bash",
        ])
        let changed = try #require(try journal.allEvents().first { $0.action == "program_changed" && $0.subject == "package bash" })
        #expect(changed.attrs["version"] == "5.2.15-3" && changed.attrs["previous_version"] == "5.2.15-2")
        let attached = try #require(try journal.allEvents().first { $0.action == "device_attached" && $0.attrs["serial"] == "4C530001" })
        #expect(attached.attrs["name"] == "Cruzer Blade" && attached.attrs["vendor"] == "0781")
        // Nothing changed: a scan journals nothing (the monitor on its own journal, scanned by hand).
        var settings = InventorySettings()
        settings.usbDevices = sys
        settings.programDirectories = [programs]
        settings.dpkgStatus = status
        let own = try Journal.open(path: temp.file("own.sqlite"), agentID: "counter-01", site: "")
        let monitor = InventoryMonitor(journal: own, settings: settings, doorbell: Doorbell(), logger: Logger(label: "test"))
        let first = try await monitor.scan()
        let second = try await monitor.scan()
        #expect(first == 3 && second == 0, "the baseline, then nothing")
    }

    @Test("A text log read with a pattern: named groups fill the event, fixed values the rest, non-matching lines skipped")
    func followTextLines() async throws {
        let temp = try TempDir("collector-text")
        let pki = try TestPKI(in: temp)
        try pki.agent("room")
        let log = temp.file("door.log")
        try append(log, [
            "2026-11-27T09:00:00.000+09:00 P0012 enter 電算室 card=C-1001",
            "2026-11-27T09:30:00.000+09:00 P0012 exit 電算室 card=C-1001",
            "door controller rebooted",
        ])
        let config = try agentConfig(
            "room", pki: pki, temp: temp, hubURL: "https://127.0.0.1:1",
            extra: [
                "files": [[
                    "path": log, "format": "text", "kind": "access",
                    "pattern": #"^(?<time>\S+) (?<actor>P\d+) (?<action>enter|exit) (?<subject>\S+) card=(?<card>\S+)$"#,
                ]], "files_poll_seconds": 0.1,
            ])
        let agent = try await AgentProcess(config: config, socket: temp.file("room/ingest.sock"), temp: temp, name: "agent")
        defer { agent.stop() }
        let journal = try Journal.open(path: temp.file("room/journal.sqlite"), agentID: "room", site: "")
        #expect(await eventually { (try? journal.allEvents().filter { $0.kind == "access" }.count) == 2 })
        let events = try journal.allEvents().filter { $0.kind == "access" }
        #expect(events.map(\.action) == ["enter", "exit"])
        #expect(events[0].time == "2026-11-27T09:00:00.000+09:00" && events[0].actor == "P0012" && events[0].subject == "電算室")
        #expect(events[0].attrs == ["card": "C-1001"])
        #expect(agent.child.log.contains("not an event"))

        // A configuration that cannot work is refused at start, clearly.
        let bad = try agentConfig(
            "room", pki: pki, temp: temp, hubURL: "https://127.0.0.1:1",
            extra: ["files": [["path": log, "format": "text", "pattern": "(unclosed"]]])
        let refused = try runProgram(Binaries.path("kiroku-agent"), ["run", "--config", bad])
        #expect(refused.status != 0 && refused.stderr.contains("pattern"), "\(refused.stderr)")
    }
}
