import Foundation
public import KirokuProtocol
import SwiftASN1
public import X509

extension Certificate {
    /// The Kiroku identity in the certificate's SAN URI (`kiroku:ROLE:ID`), or nil if it carries none or
    /// more than one (an ambiguous certificate identifies nobody).
    public var kirokuIdentity: Identity? {
        guard let names = try? extensions.subjectAlternativeNames else { return nil }
        var found: [Identity] = []
        for name in names {
            if case .uniformResourceIdentifier(let uri) = name, let identity = Identity(uri: uri) {
                found.append(identity)
            }
        }
        return found.count == 1 ? found[0] : nil
    }

    /// The serial as Kiroku prints it (see ``CertificateAuthority/serialHex(_:)``).
    public var serialHex: String { CertificateAuthority.serialHex(serialNumber) }
}

/// Reading a certificate file where only its identity is needed (the agent checks its configured id).
public enum CertificateFile {
    /// The Kiroku identity of the PEM certificate at `path` (nil if it carries none or several).
    public static func identity(path: String) throws -> Identity? {
        try Certificate(pemEncoded: String(contentsOfFile: path, encoding: .utf8)).kirokuIdentity
    }
}
