import Crypto
// Foundation (not only FoundationEssentials): directory walking and trimming; GRDB links it anyway.
import Foundation
import KirokuProtocol

#if canImport(Glibc)
    import Glibc
#endif

/// The platform seam of the inventory (第14, 第17): what is attached and installed now, as items keyed so that
/// the same device or program keeps its key between scans (`usb:VENDOR:PRODUCT:SERIAL`, `file:PATH`,
/// `package:NAME`), each with its attributes and a `subject`. ``InventoryMonitor`` compares them with the
/// journal's last inventory and journals the differences; it knows nothing of where they come from.
///
/// The sources here read Linux (sysfs, dpkg). A Windows agent would add its own behind the same protocol —
/// USB devices from SetupAPI (`SetupDiGetClassDevs` with `GUID_DEVINTERFACE_USB_DEVICE`, VID/PID and serial
/// from the instance id), programs from the registry's `Uninstall` keys — and ``InventorySources/configured(_:)``
/// would choose them by platform (Agent/README.md, "Windows").
public protocol InventorySource: Sendable {
    /// Everything present now, by key.
    func items() -> [String: [String: String]]
}

public enum InventorySources {
    /// The sources the agent's `inventory` settings name, on this platform.
    public static func configured(_ settings: InventorySettings) -> [any InventorySource] {
        var sources: [any InventorySource] = []
        if let root = settings.usbDevices { sources.append(SysfsUSBDevices(root: root)) }
        sources += settings.programDirectories.map { ProgramFiles(folder: $0) }
        if let status = settings.dpkgStatus { sources.append(DpkgPackages(status: status)) }
        return sources
    }

    static func read(_ path: String) -> String? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

/// USB devices in Linux's sysfs (`/sys/bus/usb/devices`): every folder with an `idVendor` file, keyed by
/// vendor, product and serial (the port when there is no serial).
public struct SysfsUSBDevices: InventorySource {
    public let root: String

    public func items() -> [String: [String: String]] {
        var out: [String: [String: String]] = [:]
        for name in (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? [] {
            let folder = "\(root)/\(name)"
            guard let vendor = InventorySources.read("\(folder)/idVendor"),
                let product = InventorySources.read("\(folder)/idProduct")
            else { continue }
            let serial = InventorySources.read("\(folder)/serial") ?? ""
            var attrs = ["vendor": vendor, "product": product, "port": name]
            if !serial.isEmpty { attrs["serial"] = serial }
            if let text = InventorySources.read("\(folder)/manufacturer") { attrs["manufacturer"] = text }
            if let text = InventorySources.read("\(folder)/product") { attrs["name"] = text }
            attrs["subject"] = "USB \(vendor):\(product)" + (serial.isEmpty ? "" : " \(serial)")
            out["usb:\(vendor):\(product):\(serial.isEmpty ? name : serial)"] = attrs
        }
        return out
    }
}

/// Regular files under a folder, recursively, with their SHA-256 (symbolic links are not followed).
public struct ProgramFiles: InventorySource {
    public let folder: String

    public func items() -> [String: [String: String]] {
        var out: [String: [String: String]] = [:]
        guard let walker = FileManager.default.enumerator(atPath: folder) else { return out }
        while let relative = walker.nextObject() as? String {
            let path = "\(folder)/\(relative)"
            var info = stat()
            guard lstat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG,
                let data = FileManager.default.contents(atPath: path)
            else { continue }
            out["file:\(path)"] = [
                "sha256": Hex.encode(SHA256.hash(data: data)), "size": "\(data.count)", "subject": path,
            ]
        }
        return out
    }
}

/// Installed packages from dpkg's status file (Debian, Ubuntu).
public struct DpkgPackages: InventorySource {
    public let status: String

    public func items() -> [String: [String: String]] {
        var out: [String: [String: String]] = [:]
        guard let text = InventorySources.read(status) else { return out }
        for stanza in text.split(separator: "\n\n") {
            var fields: [String: String] = [:]
            for line in stanza.split(separator: "\n") where !line.hasPrefix(" ") {
                guard let colon = line.firstIndex(of: ":") else { continue }
                fields[String(line[..<colon])] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            }
            guard let name = fields["Package"], let version = fields["Version"],
                fields["Status"] == "install ok installed"
            else {
                continue
            }
            out["package:\(name)"] = ["version": version, "subject": "package \(name)"]
        }
        return out
    }
}
