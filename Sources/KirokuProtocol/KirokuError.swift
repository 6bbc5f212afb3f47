#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// A stable, machine-readable error code shared by the hub's HTTP error bodies, the agent and `kirokuctl`.
///
/// Codes never change meaning once shipped; `Protocol/PROTOCOL.md` lists them all with their HTTP status.
public struct ErrorCode: RawRepresentable, Hashable, Sendable, Codable, CustomStringConvertible {
    public var rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    public var description: String { rawValue }

    /// The body is not valid JSON, or a field has the wrong type, or a required field is missing.
    public static let malformedRequest = ErrorCode(rawValue: "malformed_request")
    /// The event or message names a schema version this hub does not speak.
    public static let unsupportedVersion = ErrorCode(rawValue: "unsupported_version")
    /// An event field breaks the schema (unknown kind or action, bad time, bad hex, too long).
    public static let invalidEvent = ErrorCode(rawValue: "invalid_event")
    /// An event's `hash` is not the SHA-256 of its canonical form.
    public static let hashMismatch = ErrorCode(rawValue: "hash_mismatch")
    /// An event's `prev` does not equal its predecessor's hash.
    public static let chainBroken = ErrorCode(rawValue: "chain_broken")
    /// The batch starts after the hub's last sequence number: events in between are missing.
    public static let sequenceGap = ErrorCode(rawValue: "sequence_gap")
    /// Sequence numbers inside the batch are not consecutive and increasing.
    public static let sequenceOrder = ErrorCode(rawValue: "sequence_order")
    /// A different event already holds this `(agent, seq)`: quarantined, never merged.
    public static let fork = ErrorCode(rawValue: "fork")
    /// The batch names an agent other than the one in the client certificate.
    public static let agentMismatch = ErrorCode(rawValue: "agent_mismatch")
    /// The batch has too many events or too many bytes (after decompression).
    public static let batchTooLarge = ErrorCode(rawValue: "batch_too_large")
    /// A single event is larger than the protocol allows.
    public static let eventTooLarge = ErrorCode(rawValue: "event_too_large")
    /// The batch contains no events.
    public static let emptyBatch = ErrorCode(rawValue: "empty_batch")
    /// `Content-Encoding` is neither absent, `gzip` nor `deflate`.
    public static let unsupportedEncoding = ErrorCode(rawValue: "unsupported_encoding")
    /// A write to the API with a body type it does not take (a form's, or none).
    public static let unsupportedMediaType = ErrorCode(rawValue: "unsupported_media_type")
    /// A submitted file that is not a PDF, PNG, JPEG or CSV by its content, or larger than the hub takes.
    public static let unsupportedDocument = ErrorCode(rawValue: "unsupported_document")
    /// A stored document no longer has the SHA-256 the record holds for it: altered or damaged on the hub's
    /// disk. It is not served.
    public static let documentCorrupt = ErrorCode(rawValue: "document_corrupt")
    /// The compressed body could not be inflated.
    public static let badCompression = ErrorCode(rawValue: "bad_compression")
    /// The client presented no certificate, or one without a Kiroku identity.
    public static let certificateRequired = ErrorCode(rawValue: "certificate_required")
    /// The certificate's role may not use this endpoint (an agent querying, a person sending batches).
    public static let wrongRole = ErrorCode(rawValue: "wrong_role")
    /// The client certificate was revoked after this connection was opened (the next connection is refused
    /// during the TLS handshake).
    public static let certificateRevoked = ErrorCode(rawValue: "certificate_revoked")
    /// A request that changes something came from another site's page (a browser sends the person's
    /// certificate with it): refused.
    public static let crossSiteRequest = ErrorCode(rawValue: "cross_site_request")
    /// The hub cannot read a good revocation list, and so admits no certificate until it can.
    public static let revocationUnavailable = ErrorCode(rawValue: "revocation_unavailable")
    /// The hub cannot reach the database its record is kept in (PostgreSQL): nothing was changed; try again.
    public static let storeUnavailable = ErrorCode(rawValue: "store_unavailable")
    /// A person certificate whose holder's roles (the people register) do not allow this, or who is not in
    /// the register or has left.
    public static let notPermitted = ErrorCode(rawValue: "not_permitted")
    /// A query parameter is not understood.
    public static let badQuery = ErrorCode(rawValue: "bad_query")
    /// No such endpoint.
    public static let notFound = ErrorCode(rawValue: "not_found")
    /// The hub keeps its record on a store that does not hold what was asked for (in this version a hub on
    /// PostgreSQL keeps events, agents and the Merkle log only).
    public static let notOnThisStore = ErrorCode(rawValue: "not_on_this_store")
    /// The hub failed internally; nothing was changed.
    public static let internalError = ErrorCode(rawValue: "internal")

    // Codes used on the terminal side (agent and kirokuctl), never sent by the hub.

    /// A configuration value is missing or wrong.
    public static let configuration = ErrorCode(rawValue: "configuration")
    /// The local journal could not be opened or written.
    public static let journal = ErrorCode(rawValue: "journal")
    /// The journal's disk is full: the event was not recorded (the agent journals a loss record later).
    public static let diskFull = ErrorCode(rawValue: "disk_full")
    /// The file was imported into the journal before (by its SHA-256): nothing was added.
    public static let alreadyImported = ErrorCode(rawValue: "already_imported")
    /// The hub could not be reached or answered something unexpected.
    public static let hubUnavailable = ErrorCode(rawValue: "hub_unavailable")
    /// The hub's receipt did not verify.
    public static let badReceipt = ErrorCode(rawValue: "bad_receipt")
    /// A PKI operation failed (missing CA, unknown serial...).
    public static let pki = ErrorCode(rawValue: "pki")
    /// A checkpoint or signed note is malformed, or its signature does not verify.
    public static let badCheckpoint = ErrorCode(rawValue: "bad_checkpoint")
    /// A Merkle proof does not verify: the record is not what the checkpoint commits to.
    public static let badProof = ErrorCode(rawValue: "bad_proof")
    /// Two checkpoints of one log that cannot both be true: a split view or a rewritten history.
    public static let inconsistentLog = ErrorCode(rawValue: "inconsistent_log")

    /// The HTTP status the hub answers with for this code.
    public var httpStatus: Int {
        switch self {
        case .malformedRequest, .unsupportedVersion, .sequenceOrder, .emptyBatch, .badCompression, .badQuery:
            return 400
        case .certificateRequired: return 401
        case .agentMismatch, .wrongRole, .notPermitted, .certificateRevoked, .crossSiteRequest: return 403
        case .notFound: return 404
        case .chainBroken, .sequenceGap, .fork: return 409
        case .batchTooLarge, .eventTooLarge: return 413
        case .unsupportedEncoding, .unsupportedMediaType, .unsupportedDocument: return 415
        case .invalidEvent, .hashMismatch, .badCheckpoint: return 422
        case .revocationUnavailable, .storeUnavailable: return 503
        case .notOnThisStore: return 501
        default: return 500
        }
    }
}

/// An error a person can act on: a stable code, a message saying what went wrong and what to do, and the
/// underlying cause if there is one. Messages never contain event payloads or secrets.
public struct KirokuError: Error, Sendable, CustomStringConvertible {
    public var code: ErrorCode
    public var message: String
    public var underlying: (any Error & Sendable)?

    public init(_ code: ErrorCode, _ message: String, underlying: (any Error & Sendable)? = nil) {
        self.code = code
        self.message = message
        self.underlying = underlying
    }

    public var description: String {
        if let underlying {
            return "\(code.rawValue): \(message) (\(underlying))"
        }
        return "\(code.rawValue): \(message)"
    }

    /// The one error body shape of every endpoint: `{"code": "...", "message": "..."}`.
    public var body: ErrorBody { ErrorBody(code: code, message: message) }
}

/// The JSON body of every error answer.
public struct ErrorBody: Codable, Sendable, Equatable {
    public var code: ErrorCode
    public var message: String
    public init(code: ErrorCode, message: String) {
        self.code = code
        self.message = message
    }
}

/// Reads a component's JSON configuration file, with a `configuration` error naming the file and what is
/// wrong with it (never its contents: the file may name secrets' paths, not hold them, but be safe).
/// Unknown keys are refused (``Swift/Decoder/refuseUnknownKeys(_:)``): a misspelt key must not turn a
/// protection off silently.
public func loadConfiguration<T: Decodable>(_ type: T.Type, file: String) throws -> T {
    let data: Data
    do {
        data = try Data(contentsOf: URL(filePath: file))
    } catch {
        throw KirokuError(.configuration, "cannot read configuration file \(file)", underlying: error)
    }
    do {
        let value = try JSONDecoder().decode(T.self, from: data)
        // Foundation keeps one of two equal keys silently: a corrected key appended at the end of the file
        // would be ignored. Refused instead.
        if let duplicate = duplicateKey(in: Array(data)) {
            throw KirokuError(.configuration, "the key '\(duplicate.prefix(80))' is given twice; keep one")
        }
        return value
    } catch let error as KirokuError {
        throw KirokuError(.configuration, "configuration file \(file): \(error.message)")
    } catch DecodingError.keyNotFound(let key, let context) {
        let path = configurationPath(context.codingPath + [key])
        throw KirokuError(.configuration, "configuration file \(file) lacks the required key '\(path)'")
    } catch DecodingError.typeMismatch(_, let context) {
        throw KirokuError(
            .configuration, "configuration file \(file): '\(configurationPath(context.codingPath))' has the wrong type")
    } catch DecodingError.dataCorrupted(let context) where !context.codingPath.isEmpty {
        throw KirokuError(
            .configuration,
            "configuration file \(file): '\(configurationPath(context.codingPath))': \(context.debugDescription)")
    } catch {
        throw KirokuError(.configuration, "configuration file \(file) is not valid JSON")
    }
}

/// `files.0.kind`: where in a configuration file a key is.
func configurationPath(_ path: [any CodingKey]) -> String {
    path.map { $0.intValue.map(String.init) ?? $0.stringValue }.joined(separator: ".")
}

/// Any key of a JSON object, to list the keys a configuration file really has.
public struct AnyCodingKey: CodingKey, Sendable {
    public var stringValue: String
    public var intValue: Int?
    public init(stringValue: String) { self.stringValue = stringValue }
    public init?(intValue: Int) {
        self.stringValue = "\(intValue)"
        self.intValue = intValue
    }
}

extension Decoder {
    /// Refuses an object key that `Keys` does not name, with the nearest known key: configuration is read
    /// fail-closed, so `revocaton_list` stops the program instead of turning revocation off.
    public func refuseUnknownKeys<Keys: CodingKey & CaseIterable>(_ keys: Keys.Type) throws {
        let known = Keys.allCases.map(\.stringValue)
        for key in try container(keyedBy: AnyCodingKey.self).allKeys where !known.contains(key.stringValue) {
            let path = configurationPath(codingPath + [key])
            let hint =
                nearestKey(to: key.stringValue, among: known).map { "; did you mean '\($0)'?" }
                ?? "; known keys are \(known.joined(separator: ", "))"
            throw KirokuError(.configuration, "unknown key '\(path.prefix(80))'\(hint)")
        }
    }
}

/// The known key closest to `key` by edit distance, if it is close enough to be a slip of the keyboard.
public func nearestKey(to key: String, among known: [String]) -> String? {
    let typed = Array(key.lowercased())
    var best: (key: String, distance: Int)?
    for candidate in known {
        let target = Array(candidate)
        // Levenshtein distance, one row at a time.
        var row = Array(0...target.count)
        for (i, a) in typed.enumerated() {
            var next = [i + 1] + Array(repeating: 0, count: target.count)
            for (j, b) in target.enumerated() {
                next[j + 1] = Swift.min(row[j + 1] + 1, next[j] + 1, row[j] + (a == b ? 0 : 1))
            }
            row = next
        }
        if best == nil || row[target.count] < best!.distance { best = (candidate, row[target.count]) }
    }
    guard let best, best.distance <= Swift.max(2, best.key.count / 3) else { return nil }
    return best.key
}

/// The first object key given twice in the same object of a JSON document (compared after unescaping), or
/// nil. The document is assumed to be valid JSON (checked by a decoder first).
func duplicateKey(in bytes: [UInt8]) -> String? {
    var objects: [(keys: Set<String>, expectKey: Bool)?] = []  // nil entries are arrays
    var index = 0
    while index < bytes.count {
        switch bytes[index] {
        case UInt8(ascii: "{"):
            objects.append((keys: [], expectKey: true))
        case UInt8(ascii: "["):
            objects.append(nil)
        case UInt8(ascii: "}"), UInt8(ascii: "]"):
            if !objects.isEmpty { objects.removeLast() }
        case UInt8(ascii: ","):
            if let last = objects.last, last != nil { objects[objects.count - 1]!.expectKey = true }
        case UInt8(ascii: ":"):
            if let last = objects.last, last != nil { objects[objects.count - 1]!.expectKey = false }
        case UInt8(ascii: "\""):
            var end = index + 1
            while end < bytes.count && bytes[end] != UInt8(ascii: "\"") {
                end += bytes[end] == UInt8(ascii: "\\") ? 2 : 1
            }
            if let last = objects.last, let object = last, object.expectKey {
                let literal = Data(bytes[index...min(end, bytes.count - 1)])
                let key =
                    (try? JSONDecoder().decode(String.self, from: literal)) ?? String(decoding: literal, as: UTF8.self)
                if object.keys.contains(key) { return key }
                objects[objects.count - 1]!.keys.insert(key)
            }
            index = end
        default:
            break
        }
        index += 1
    }
    return nil
}
