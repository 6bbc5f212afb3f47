import Crypto
import Foundation
import KirokuProtocol
import NIOCore

/// The token every console form carries: an HMAC of the person's certificate under a key derived from the
/// hub's signing key. A page on another site that makes the browser post a form (with the certificate
/// attached) cannot know it; it survives restarts and needs no session store; another person's token is
/// refused because it is bound to their certificate, not this one.
struct ConsoleToken: Sendable {
    let key: SymmetricKey

    init(signingKey: Curve25519.Signing.PrivateKey) {
        key = SymmetricKey(
            data: SHA256.hash(data: Array("kiroku-console-form-token/v1\n".utf8) + Array(signingKey.rawRepresentation)))
    }

    func make(certificateDigest: [UInt8]) -> String {
        Data(HMAC<SHA256>.authenticationCode(for: certificateDigest, using: key)).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
    }

    func check(_ presented: String, certificateDigest: [UInt8]) -> Bool {
        guard !certificateDigest.isEmpty,
            let code = Data(
                base64Encoded: presented.replacingOccurrences(of: "-", with: "+").replacingOccurrences(
                    of: "_", with: "/"))
        else { return false }
        return HMAC<SHA256>.isValidAuthenticationCode(code, authenticating: certificateDigest, using: key)
    }
}

/// `application/x-www-form-urlencoded`, as browsers send forms. A name given twice keeps its first value.
enum ConsoleForm {
    /// Empty fields are left out. A value that does not decode (bad percent-encoding, not UTF-8) or holds
    /// U+0000 is refused: dropping it would widen a search without saying so.
    static func parse(_ body: String) throws(KirokuError) -> [String: String] {
        var out: [String: String] = [:]
        for pair in body.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            func decode(_ text: Substring) throws(KirokuError) -> String {
                guard let decoded = String(text).replacingOccurrences(of: "+", with: " ").removingPercentEncoding,
                    !decoded.utf8.contains(0)
                else {
                    throw KirokuError(
                        .badQuery, "the field '\(parts[0].prefix(30))' is not readable text (its encoding is broken)")
                }
                return decoded
            }
            let name = try decode(parts[0])
            let value = parts.count > 1 ? try decode(parts[1]).trimmingCharacters(in: .whitespacesAndNewlines) : ""
            guard !name.isEmpty, !value.isEmpty, out[name] == nil else { continue }
            out[name] = value
        }
        return out
    }
}

/// `multipart/form-data`, as browsers send a form with a file: each part's name and its bytes. Only what
/// the console's upload form sends is understood (a name, an optional filename, the content).
enum ConsoleMultipart {
    static func boundary(_ contentType: String?) -> String? {
        guard let contentType, contentType.lowercased().hasPrefix("multipart/form-data") else { return nil }
        for parameter in contentType.split(separator: ";").dropFirst() {
            let pair = parameter.trimmingCharacters(in: .whitespaces).split(separator: "=", maxSplits: 1)
            if pair.count == 2, pair[0].lowercased() == "boundary" {
                let boundary = String(pair[1]).trimmingCharacters(in: CharacterSet(charactersIn: "\""))
                // RFC 2046: 1 to 70 characters. A longer one only makes the scan slower.
                return (1...70).contains(boundary.utf8.count) ? boundary : nil
            }
        }
        return nil
    }

    /// The first part of each name (a form's fields).
    static func parse(_ body: [UInt8], boundary: String) -> [String: [UInt8]] {
        var first: [String: [UInt8]] = [:]
        for part in parts(body, boundary: boundary) where first[part.name] == nil { first[part.name] = part.bytes }
        return first
    }

    /// Every part in order, with the file name a file input gave it (several files under one name).
    static func parts(_ body: [UInt8], boundary: String) -> [(name: String, filename: String?, bytes: [UInt8])] {
        let delimiter = Array("--\(boundary)".utf8)
        var parts: [(name: String, filename: String?, bytes: [UInt8])] = []
        var positions: [Int] = []
        var index = 0
        while index + delimiter.count <= body.count {
            // Compared in place, no copy per candidate.
            if body[index] == delimiter[0], body[index..<(index + delimiter.count)].elementsEqual(delimiter) {
                positions.append(index)
                index += delimiter.count
            } else {
                index += 1
            }
        }
        for (start, end) in zip(positions, positions.dropFirst()) {
            var part = Array(body[(start + delimiter.count)..<end])
            // CRLF after the delimiter, and before the next one.
            if part.starts(with: [13, 10]) { part.removeFirst(2) }
            if part.suffix(2) == [13, 10] { part.removeLast(2) }
            guard
                let split = (0..<max(0, part.count - 3)).first(where: {
                    part[$0..<($0 + 4)].elementsEqual([13, 10, 13, 10])
                })
            else {
                continue
            }
            let head = String(decoding: part[..<split], as: UTF8.self)
            guard let name = head.firstMatch(of: /[^e]name="([^"]*)"/)?.1 else { continue }
            let filename = head.firstMatch(of: /filename="([^"]*)"/).map { String($0.1) }
            parts.append((String(name), filename, Array(part[(split + 4)...])))
        }
        return parts
    }
}

/// The console's CSV of events: Japanese headers, CRLF, quoted where needed; UTF-8 with a BOM (Excel opens
/// it as UTF-8) or CP932, what Excel on Japanese Windows writes and reads by default.
enum ConsoleCSV {
    static let header = ["日時(JST)", "端末", "連番", "種別", "操作", "操作者", "操作者氏名", "対象", "場所", "属性", "ハッシュ"]

    static func fields(_ event: Event, names: [String: String]) -> [String] {
        [
            Timestamp(rfc3339: event.time)?.withOffset(minutes: Timestamp.jstOffsetMinutes).displayText ?? event.time,
            event.agent,
            String(event.seq), event.kind, event.action, event.actor, names[event.actor] ?? "", event.subject,
            event.site,
            CanonicalJSON.sortedKeys(event.attrs.keys).map { "\($0)=\(event.attrs[$0]!)" }.joined(separator: " "),
            event.hash,
        ]
    }

    static func line(_ fields: [String]) -> String { ExcelCSV.line(fields) }

    /// Refuses a row CP932 cannot hold, naming its row, column and the first character that will not go.
    static func checkCP932(_ fields: [String], row: Int) throws {
        for (column, field) in fields.enumerated() {
            let mapped = ExcelCSV.cp932Forms(field)
            guard mapped.data(using: .shiftJIS) == nil else { continue }
            let bad =
                mapped.first { String($0).data(using: .shiftJIS) == nil }.map { character in
                    character.unicodeScalars.map { String(format: "U+%04X", $0.value) }.joined(separator: " ")
                } ?? "?"
            throw KirokuError(
                .badQuery,
                "row \(row), column \(column + 1) (\(header[column])) has \(bad), which Shift_JIS (CP932) cannot hold; export as UTF-8 instead"
            )
        }
    }

    /// One line in the chosen encoding. A CP932 line that will not encode (an event that arrived after the
    /// check) throws: the download then fails visibly rather than mixing encodings.
    static func encode(_ fields: [String], cp932: Bool, bom: Bool) throws -> ByteBuffer {
        let text = line(fields)
        guard cp932 else { return ByteBuffer(bytes: (bom ? [0xEF, 0xBB, 0xBF] : []) + Array(text.utf8)) }
        guard let data = ExcelCSV.cp932Forms(text).data(using: .shiftJIS) else {
            throw KirokuError(.badQuery, "a row that arrived during the export cannot be written in Shift_JIS (CP932)")
        }
        return ByteBuffer(bytes: data)
    }
}
