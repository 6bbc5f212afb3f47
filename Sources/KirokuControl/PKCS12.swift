import Crypto
import Foundation
import KirokuProtocol
import NIOSSL

#if canImport(Glibc)
    import Glibc
#endif

/// A person's certificate and key as one PKCS#12 file (`.p12`), the form browsers and Windows import, with
/// the CA certificate beside them. Protected by a passphrase; written mode 0600.
public enum PKCS12Export {
    /// Writes `out` from PEM files. With no passphrase given, one is made (20 characters from an alphabet
    /// without look-alikes) and returned, to be handed to the person separately from the file.
    @discardableResult
    public static func write(
        certificatePath: String, keyPath: String, caPath: String, to out: String, passphrase: String?
    ) throws
        -> String
    {
        let phrase = passphrase ?? makePassphrase()
        guard phrase.count >= 8 else { throw KirokuError(.pki, "the passphrase must be at least 8 characters") }
        let bytes: [UInt8]
        do {
            let chain = try NIOSSLCertificate.fromPEMFile(certificatePath) + NIOSSLCertificate.fromPEMFile(caPath)
            let key = try NIOSSLPrivateKey(file: keyPath, format: .pem)
            bytes = try NIOSSLPKCS12Bundle(certificateChain: chain, privateKey: key).serialize(
                passphrase: Array(phrase.utf8))
        } catch {
            throw KirokuError(.pki, "cannot make a PKCS#12 file from \(certificatePath) and \(keyPath): \(error)")
        }
        let previous = umask(0o077)
        defer { umask(previous) }
        guard FileManager.default.createFile(atPath: out, contents: Data(bytes), attributes: [.posixPermissions: 0o600])
        else {
            throw KirokuError(.pki, "cannot write \(out)")
        }
        try? FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: out)
        return phrase
    }

    static func makePassphrase() -> String {
        let alphabet = Array("abcdefghijkmnpqrstuvwxyzACDEFGHJKLMNPQRSTUVWXYZ23456789")
        var generator = SystemRandomNumberGenerator()
        return String((0..<20).map { _ in alphabet[Int(generator.next(upperBound: UInt64(alphabet.count)))] })
    }
}
