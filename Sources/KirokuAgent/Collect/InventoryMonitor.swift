import Foundation
import GRDB
public import KirokuProtocol
public import Logging
public import ServiceLifecycle

/// What the inventory monitor watches (agent configuration `inventory`), for 第14 and 第17: USB devices
/// attached and removed, and programs added, changed or removed.
public struct InventorySettings: Sendable, Codable, Equatable {
    /// The sysfs folder of USB devices; nil to not watch devices. Typically `/sys/bus/usb/devices`.
    public var usbDevices: String?
    /// Folders whose files are fingerprinted (SHA-256), recursively.
    public var programDirectories: [String] = []
    /// dpkg's status file, for installed packages; nil to not watch packages.
    public var dpkgStatus: String?
    public var intervalSeconds = 60.0

    public init() {}

    enum CodingKeys: String, CodingKey, CaseIterable {
        case usbDevices = "usb_devices"
        case programDirectories = "program_directories"
        case dpkgStatus = "dpkg_status"
        case intervalSeconds = "interval_seconds"
    }

    public init(from decoder: any Decoder) throws {
        try decoder.refuseUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        usbDevices = try c.decodeIfPresent(String.self, forKey: .usbDevices)
        programDirectories = try c.decodeIfPresent([String].self, forKey: .programDirectories) ?? []
        dpkgStatus = try c.decodeIfPresent(String.self, forKey: .dpkgStatus)
        intervalSeconds = try c.decodeIfPresent(Double.self, forKey: .intervalSeconds) ?? 60
    }

    var isEnabled: Bool { usbDevices != nil || !programDirectories.isEmpty || dpkgStatus != nil }
}

/// Compares the devices and programs present now with the journal's last inventory and journals the
/// differences as `config` events (device_attached/removed, program_added/changed/removed), in the same
/// transaction as the new inventory: a crash neither loses nor repeats a change. The first scan journals
/// everything present as added: the baseline of the 構成管理簿.
public struct InventoryMonitor: Service {
    let journal: Journal
    let settings: InventorySettings
    let doorbell: Doorbell
    let logger: Logger

    public init(journal: Journal, settings: InventorySettings, doorbell: Doorbell, logger: Logger) {
        self.journal = journal
        self.settings = settings
        self.doorbell = doorbell
        self.logger = logger
    }

    public func run() async throws {
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            do {
                let changes = try await scan()
                if changes > 0 {
                    doorbell.ring()
                    logger.info("inventory changed", metadata: ["kiroku.changes": "\(changes)"])
                }
            } catch {
                logger.error("inventory scan failed; retrying", metadata: ["kiroku.error": "\(error)"])
            }
            try? await cancelWhenGracefulShutdown {
                try await Task.sleep(for: .milliseconds(Int64(settings.intervalSeconds * 1000)))
            }
        }
    }

    /// One scan; returns how many changes were journalled.
    @discardableResult
    public func scan() async throws -> Int {
        var now: [String: [String: String]] = [:]
        for source in InventorySources.configured(settings) { now.merge(source.items()) { a, _ in a } }
        return try await journal.replaceInventory(now) { key, before, after in
            let device = key.hasPrefix("usb:")
            let action: String
            var attrs = after ?? before ?? [:]
            switch (before, after) {
            case (nil, _?): action = device ? "device_attached" : "program_added"
            case (_?, nil): action = device ? "device_removed" : "program_removed"
            default:
                action = "program_changed"
                for (name, value) in before ?? [:] where after?[name] != value { attrs["previous_\(name)"] = value }
            }
            let subject = attrs["subject"] ?? key
            attrs.removeValue(forKey: "subject")
            return EventDraft(kind: "config", action: action, actor: "kiroku-agent", subject: subject, attrs: attrs)
        }
    }
}

extension Journal {
    /// Replaces the stored inventory with `now` and journals one event per difference (made by `event`
    /// from the key, what was there and what is there), in one transaction. Returns how many.
    func replaceInventory(
        _ now: [String: [String: String]],
        event: @escaping @Sendable (String, [String: String]?, [String: String]?) -> EventDraft
    ) async throws -> Int {
        let agent = agentID
        let site = site
        let stamp = Timestamp.localNow()
        do {
            return try await pool.write { db in
                var before: [String: [String: String]] = [:]
                for row in try Row.fetchAll(db, sql: "SELECT key, value FROM inventory") {
                    before[row[0]] =
                        (try? JSONDecoder().decode([String: String].self, from: Data((row[1] as String).utf8))) ?? [:]
                }
                var drafts: [EventDraft] = []
                for key in Set(before.keys).union(now.keys).sorted() where before[key] != now[key] {
                    drafts.append(event(key, before[key], now[key]))
                    if let value = now[key] {
                        let text = String(
                            decoding: CanonicalJSON.encode(.object(value.mapValues(JSONValue.string))), as: UTF8.self)
                        try db.execute(
                            sql: "INSERT OR REPLACE INTO inventory(key, value) VALUES (?, ?)", arguments: [key, text])
                    } else {
                        try db.execute(sql: "DELETE FROM inventory WHERE key = ?", arguments: [key])
                    }
                }
                for draft in drafts { try draft.validate() }
                _ = try Self.insert(drafts.map { ($0, stamp) }, agent: agent, site: site, db: db)
                return drafts.count
            }
        } catch {
            throw commitError(error)
        }
    }
}
