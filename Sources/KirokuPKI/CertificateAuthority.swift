import Crypto
public import Foundation
public import KirokuProtocol
import SwiftASN1
public import X509

#if canImport(Glibc)
    import Glibc
#endif

/// The municipality's private certificate authority: one folder holding the CA, every certificate it
/// issued, an inventory and the revocation list the hub watches.
///
/// Layout (all private keys mode 0600):
/// ```
/// DIR/ca.crt, DIR/ca.key           the CA
/// DIR/hub/NAME.crt, .key           hub server certificates
/// DIR/agents/ID.crt, .key          agents
/// DIR/people/ID.crt, .key          people (管理者, 会議 members, auditors)
/// DIR/inventory.jsonl              one line per issued certificate
/// DIR/revoked.txt                  one revoked serial per line (what the hub reads)
/// ```
public struct CertificateAuthority: Sendable {
    public let directory: URL
    public let certificate: Certificate
    let privateKey: P256.Signing.PrivateKey

    /// Default lifetimes, in days.
    public static let caDays = 20 * 365
    public static let leafDays = 2 * 365 + 1

    public var caCertificateURL: URL { directory.appending(path: "ca.crt") }
    public var revocationListURL: URL { directory.appending(path: "revoked.txt") }
    var inventoryURL: URL { directory.appending(path: "inventory.jsonl") }

    /// Creates a new CA in an empty or new folder. Refuses to overwrite an existing CA.
    public static func initialize(
        directory: URL, name: String, days: Int = caDays, now: Date = Date()
    ) throws -> CertificateAuthority {
        let fm = FileManager.default
        let caCert = directory.appending(path: "ca.crt")
        if fm.fileExists(atPath: caCert.path) {
            throw KirokuError(.pki, "a CA already exists in \(directory.path); refusing to replace it")
        }
        // The CA's folder holds its key and every issued key: its owner's alone.
        try PrivateFiles.createDirectory(directory)
        let key = P256.Signing.PrivateKey()
        let subject = try DistinguishedName {
            OrganizationName(name)
            CommonName("\(name) Kiroku CA")
        }
        let certificate = try Certificate(
            version: .v3, serialNumber: .init(), publicKey: .init(key.publicKey),
            notValidBefore: now.addingTimeInterval(-300), notValidAfter: now.addingTimeInterval(Double(days) * 86_400),
            issuer: subject, subject: subject, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0))
                Critical(KeyUsage(keyCertSign: true, cRLSign: true))
                SubjectKeyIdentifier(hash: .init(key.publicKey))
            },
            issuerPrivateKey: .init(key))
        try writeSecret(key.pemRepresentation, to: directory.appending(path: "ca.key"))
        try writePublic(try certificate.serializeAsPEM().pemString, to: caCert)
        if !fm.fileExists(atPath: directory.appending(path: "revoked.txt").path) {
            try writePublic(
                "# Kiroku revocation list: one serial (hex) per line, then # role:id reason time\n",
                to: directory.appending(path: "revoked.txt"))
        }
        return CertificateAuthority(directory: directory, certificate: certificate, privateKey: key)
    }

    /// Opens an existing CA folder.
    public static func open(directory: URL) throws -> CertificateAuthority {
        do {
            let certPEM = try String(contentsOf: directory.appending(path: "ca.crt"), encoding: .utf8)
            let keyPEM = try String(contentsOf: directory.appending(path: "ca.key"), encoding: .utf8)
            return CertificateAuthority(
                directory: directory, certificate: try Certificate(pemEncoded: certPEM),
                privateKey: try P256.Signing.PrivateKey(pemRepresentation: keyPEM))
        } catch {
            throw KirokuError(
                .pki, "cannot open the CA in \(directory.path) (run 'kirokuctl pki init' first?)",
                underlying: error)
        }
    }

    /// Issues a certificate for an agent, a person or a hub, writes `.crt` and `.key` and records it.
    ///
    /// - Parameters:
    ///   - dnsNames, ipAddresses: the hub's names, for agents' hostname verification (hub only).
    ///   - commonName: a human-readable name (a person's 氏名); defaults to the id.
    @discardableResult
    public func issue(
        role: Identity.Role, id: String, commonName: String? = nil, dnsNames: [String] = [],
        ipAddresses: [String] = [], days: Int = leafDays, now: Date = Date()
    ) throws -> IssuedCertificate {
        guard AgentID.isValid(id) else {
            throw KirokuError(.pki, "id '\(id)' must be 1-64 of A-Z a-z 0-9 . _ -")
        }
        if role == .agent && id == AgentID.hub {
            throw KirokuError(.pki, "the agent id '\(id)' is reserved for the hub's own chain; choose another id")
        }
        if role == .hub && dnsNames.isEmpty && ipAddresses.isEmpty {
            throw KirokuError(.pki, "a hub certificate needs at least one --dns name or --ip address")
        }
        var names: [GeneralName] = [.uniformResourceIdentifier(Identity(role: role, id: id).uri)]
        names += dnsNames.map { .dnsName($0) }
        for address in ipAddresses {
            guard let bytes = Self.parseIP(address) else {
                throw KirokuError(.pki, "'\(address)' is not an IPv4 or IPv6 address")
            }
            names.append(.ipAddress(ASN1OctetString(contentBytes: ArraySlice(bytes))))
        }
        let key = P256.Signing.PrivateKey()
        let subject = try DistinguishedName {
            OrganizationName(organizationName)
            OrganizationalUnitName(role.rawValue)
            CommonName(commonName ?? id)
        }
        let usage: [ExtendedKeyUsage.Usage] = role == .hub ? [.serverAuth, .clientAuth] : [.clientAuth]
        let serial = Certificate.SerialNumber()
        let certificate = try Certificate(
            version: .v3, serialNumber: serial, publicKey: .init(key.publicKey),
            notValidBefore: now.addingTimeInterval(-300), notValidAfter: now.addingTimeInterval(Double(days) * 86_400),
            issuer: self.certificate.subject, subject: subject, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                Critical(KeyUsage(digitalSignature: true, keyEncipherment: false))
                try ExtendedKeyUsage(usage)
                SubjectAlternativeNames(names)
                AuthorityKeyIdentifier(
                    keyIdentifier: try self.certificate.extensions.subjectKeyIdentifier?.keyIdentifier)
            },
            issuerPrivateKey: .init(privateKey))
        let folder = directory.appending(path: role.folderName)
        try PrivateFiles.createDirectory(folder)
        let certURL = folder.appending(path: "\(id).crt")
        let keyURL = folder.appending(path: "\(id).key")
        try writeSecret(key.pemRepresentation, to: keyURL, replace: true)
        try Self.writePublic(try certificate.serializeAsPEM().pemString, to: certURL)
        let record = IssuedCertificate(
            serial: Self.serialHex(certificate.serialNumber), role: role, id: id,
            commonName: commonName ?? id, notBefore: Timestamp(date: certificate.notValidBefore),
            notAfter: Timestamp(date: certificate.notValidAfter), certificatePath: certURL.path,
            keyPath: keyURL.path)
        try appendLine(record.inventoryLine, to: inventoryURL)
        return record
    }

    /// Every certificate this CA issued, with whether it is revoked.
    public func list() throws -> [IssuedCertificate] {
        guard let text = try? String(contentsOf: inventoryURL, encoding: .utf8) else { return [] }
        let revoked = RevocationList.read(from: revocationListURL)
        return text.split(separator: "\n").compactMap { line in
            guard var record = IssuedCertificate(inventoryLine: String(line)) else { return nil }
            record.revoked = revoked.contains(record.serial)
            return record
        }
    }

    /// Revokes certificates by serial, or every certificate of one identity. Returns what was revoked.
    /// The hub refuses them from its next TLS handshake on, without a restart.
    public func revoke(serial: String? = nil, identity: Identity? = nil, reason: String, now: Date = Date()) throws
        -> [IssuedCertificate]
    {
        let all = try list()
        let wanted = serial.map(Self.normaliseSerial)
        let targets = all.filter { record in
            !record.revoked
                && ((wanted != nil && record.serial == wanted)
                    || (identity != nil && record.role == identity?.role
                        && record.id == identity?.id))
        }
        if targets.isEmpty {
            if let wanted, all.contains(where: { $0.serial == wanted && $0.revoked }) {
                throw KirokuError(.pki, "certificate \(wanted) is already revoked")
            }
            throw KirokuError(.pki, "no unrevoked certificate matches; 'kirokuctl pki list' shows what was issued")
        }
        let reasonText = reason.replacingOccurrences(of: "\n", with: " ")
        for record in targets {
            try appendLine(
                "\(record.serial) # \(record.role.rawValue):\(record.id) \(reasonText) \(Timestamp(date: now).rfc3339)",
                to: revocationListURL)
        }
        return targets.map {
            var copy = $0; copy.revoked = true; return copy
        }
    }

    var organizationName: String {
        for rdn in certificate.subject {
            for attribute in rdn where attribute.type == .RDNAttributeType.organizationName {
                return String(describing: attribute.value)
            }
        }
        return "Kiroku"
    }

    /// Serial numbers as Kiroku prints and compares them: lowercase hex of every byte, two digits each.
    public static func serialHex(_ serial: Certificate.SerialNumber) -> String {
        Hex.encode(serial.bytes)
    }

    static func normaliseSerial(_ text: String) -> String {
        text.lowercased().filter { $0 != ":" && $0 != " " }
    }

    static func parseIP(_ text: String) -> [UInt8]? {
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 {
            return withUnsafeBytes(of: &v4) { Array($0) }
        }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, text, &v6) == 1 {
            return withUnsafeBytes(of: &v6) { Array($0) }
        }
        return nil
    }

    /// Certificates and the revocation list: 0644 whatever the umask (a umask of 000 must not let anyone
    /// rewrite the revocation list or replace the CA certificate).
    static func writePublic(_ text: String, to url: URL) throws {
        try Data(text.utf8).write(to: url, options: .atomic)
        chmod(url.path, 0o644)
    }
}

extension Identity.Role {
    var folderName: String {
        switch self {
        case .agent: return "agents"
        case .person: return "people"
        case .hub: return "hub"
        }
    }
}

/// One line of the CA's inventory.
public struct IssuedCertificate: Sendable, Hashable {
    public var serial: String
    public var role: Identity.Role
    public var id: String
    public var commonName: String
    public var notBefore: Timestamp
    public var notAfter: Timestamp
    public var certificatePath: String
    public var keyPath: String
    public var revoked = false

    var inventoryLine: String {
        let object: JSONValue = .object([
            "serial": .string(serial), "role": .string(role.rawValue), "id": .string(id),
            "common_name": .string(commonName), "not_before": .string(notBefore.rfc3339),
            "not_after": .string(notAfter.rfc3339), "certificate": .string(certificatePath), "key": .string(keyPath),
        ])
        return String(decoding: CanonicalJSON.encode(object), as: UTF8.self)
    }

    init(
        serial: String, role: Identity.Role, id: String, commonName: String, notBefore: Timestamp, notAfter: Timestamp,
        certificatePath: String, keyPath: String
    ) {
        self.serial = serial
        self.role = role
        self.id = id
        self.commonName = commonName
        self.notBefore = notBefore
        self.notAfter = notAfter
        self.certificatePath = certificatePath
        self.keyPath = keyPath
    }

    init?(inventoryLine: String) {
        guard let object = try? JSONSerialization.jsonObject(with: Data(inventoryLine.utf8)) as? [String: String],
            let serial = object["serial"], let role = object["role"].flatMap(Identity.Role.init(rawValue:)),
            let id = object["id"], let notBefore = object["not_before"].flatMap(Timestamp.init(rfc3339:)),
            let notAfter = object["not_after"].flatMap(Timestamp.init(rfc3339:))
        else { return nil }
        self.init(
            serial: serial, role: role, id: id, commonName: object["common_name"] ?? id, notBefore: notBefore,
            notAfter: notAfter, certificatePath: object["certificate"] ?? "", keyPath: object["key"] ?? "")
    }
}

/// The set of revoked serials, read from the CA's `revoked.txt` (first word of each non-comment line).
public struct RevocationList: Sendable {
    /// The first line `kirokuctl pki init` writes; a list without it was cut short or is not ours.
    public static let header = "# Kiroku revocation list"

    /// Lenient: what `kirokuctl pki list` shows. The hub uses ``load(from:)``.
    public static func read(from url: URL) -> Set<String> {
        guard let text = try? String(contentsOf: url, encoding: .utf8) else { return [] }
        return (try? parse(text, requireHeader: false)) ?? []
    }

    /// Strict, for the hub, which fails closed: a missing or unreadable file, a list that does not start
    /// with ``header`` (emptied or truncated to nothing), whose last line is cut (no final newline: the CA
    /// appends whole lines), or with a line whose serial is not hex, is an error naming the problem.
    public static func load(from url: URL) throws(KirokuError) -> Set<String> {
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw KirokuError(
                .configuration, "cannot read the revocation list \(url.path) (\(String(describing: error).prefix(120)))"
            )
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw KirokuError(.configuration, "the revocation list \(url.path) is not UTF-8 text")
        }
        do {
            return try parse(text, requireHeader: true)
        } catch {
            throw KirokuError(.configuration, "the revocation list \(url.path) \(error.message)")
        }
    }

    /// Lines end in LF or CRLF (a list edited on Windows); they are read as bytes, since Swift reads
    /// "\r\n" as one character and would join a CRLF line with the next. Serials are ASCII hex only (a
    /// full-width ０-９ typed through an input method is refused, not read as something that never matches).
    static func parse(_ text: String, requireHeader: Bool) throws(KirokuError) -> Set<String> {
        let bytes = Array(text.utf8)
        if requireHeader {
            guard text.hasPrefix(header) else {
                throw KirokuError(.configuration, "does not start with the line '\(header)…' (emptied or cut short?)")
            }
            guard bytes.last == UInt8(ascii: "\n") else {
                throw KirokuError(.configuration, "ends in the middle of a line (cut short?)")
            }
        }
        var serials: Set<String> = []
        for (number, line) in bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).enumerated()
        {
            let trimmed = line.drop { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") || $0 == UInt8(ascii: "\r") }
            guard let first = trimmed.first, first != UInt8(ascii: "#") else { continue }
            let word = trimmed.prefix {
                $0 != UInt8(ascii: " ") && $0 != UInt8(ascii: "\t") && $0 != UInt8(ascii: "#")
                    && $0 != UInt8(ascii: "\r")
            }
            let serial = CertificateAuthority.normaliseSerial(String(decoding: word, as: UTF8.self))
            let asciiHex = serial.utf8.allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }
            guard (2...64).contains(serial.utf8.count), serial.utf8.count % 2 == 0, asciiHex else {
                throw KirokuError(
                    .configuration,
                    "line \(number + 1): '\(serial.prefix(20))' is not a certificate serial in hex (0-9, a-f)")
            }
            serials.insert(serial)
        }
        return serials
    }
}

/// Writes a private key with mode 0600 from the start (never world-readable, not even for a moment), and
/// fsyncs it; refuses to overwrite an existing file unless `replace`.
public func writeSecret(_ text: String, to url: URL, replace: Bool = false) throws {
    try writeSecret(Array(text.utf8), to: url, replace: replace)
}

/// The same for bytes (a document fetched from the hub).
public func writeSecret(_ bytes: [UInt8], to url: URL, replace: Bool = false) throws {
    if replace { unlink(url.path) }
    let fd = Glibc.open(url.path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
    guard fd >= 0 else {
        throw KirokuError(.pki, "cannot create \(url.path): \(String(cString: strerror(errno)))")
    }
    defer { close(fd) }
    let written = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
    guard written == bytes.count, fsync(fd) == 0 else {
        throw KirokuError(.pki, "cannot write \(url.path): \(String(cString: strerror(errno)))")
    }
}

func appendLine(_ line: String, to url: URL) throws {
    let fd = Glibc.open(url.path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
    guard fd >= 0 else { throw KirokuError(.pki, "cannot open \(url.path): \(String(cString: strerror(errno)))") }
    defer { close(fd) }
    let bytes = Array((line + "\n").utf8)
    let written = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
    guard written == bytes.count, fsync(fd) == 0 else {
        throw KirokuError(.pki, "cannot append to \(url.path): \(String(cString: strerror(errno)))")
    }
}
