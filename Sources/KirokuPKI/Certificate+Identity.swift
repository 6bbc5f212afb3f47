public import KirokuProtocol
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
