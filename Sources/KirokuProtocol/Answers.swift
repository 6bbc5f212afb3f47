/// The hub's small answers to people, as typed messages: the hub encodes them, `KirokuControl` decodes
/// them, and PROTOCOL.md names their fields. Keys are snake_case on the wire.

/// `GET /v1/hub/key`: the receipt key in force and the keys of the overlap (a rotation's old keys).
public struct HubKeyAnswer: Codable, Sendable, Equatable {
    public struct Key: Codable, Sendable, Equatable {
        /// Ed25519 public key, base64.
        public var key: String
        public var keyID: String

        public init(key: String, keyID: String) {
            self.key = key
            self.keyID = keyID
        }

        enum CodingKeys: String, CodingKey {
            case key
            case keyID = "key_id"
        }
    }

    public var algorithm = "ed25519"
    public var key: String
    public var keyID: String
    public var overlap: [Key]

    public init(key: String, keyID: String, overlap: [Key]) {
        self.key = key
        self.keyID = keyID
        self.overlap = overlap
    }

    enum CodingKeys: String, CodingKey {
        case algorithm, key, overlap
        case keyID = "key_id"
    }
}

/// `GET /v1/me`: who the hub takes this certificate for, and what the people register lets them do.
public struct MeAnswer: Codable, Sendable, Equatable {
    public var id: String
    /// `unenforced` (empty people register), `staff`, `unknown` or `left`.
    public var status: String
    public var roles: [String]?
    public var permissions: [String]?
    /// The same permissions in Japanese, in the same order (hubs before 2026-11-30 do not send it).
    public var permissionsJapanese: [String]?
    /// The day a person who left stopped being staff.
    public var left: String?

    public init(
        id: String, status: String, roles: [String]? = nil, permissions: [String]? = nil,
        permissionsJapanese: [String]? = nil, left: String? = nil
    ) {
        self.id = id
        self.status = status
        self.roles = roles
        self.permissions = permissions
        self.permissionsJapanese = permissionsJapanese
        self.left = left
    }

    enum CodingKeys: String, CodingKey {
        case id, status, roles, permissions, left
        case permissionsJapanese = "permissions_ja"
    }
}

/// `GET /v1/log/consistency?from=M&to=N`: the proof that the tree of `to` leaves extends the one of `from`.
public struct ConsistencyAnswer: Codable, Sendable, Equatable {
    public var from: Int64
    public var to: Int64
    /// Lowercase hex hashes.
    public var proof: [String]

    public init(from: Int64, to: Int64, proof: [String]) {
        self.from = from
        self.to = to
        self.proof = proof
    }
}

/// `GET /v1/log/inclusion?leaf=I&size=N`: the audit path of leaf `leafIndex` in the tree of `treeSize`.
public struct InclusionAnswer: Codable, Sendable, Equatable {
    public var leafIndex: Int64
    public var treeSize: Int64
    /// Lowercase hex hashes.
    public var inclusion: [String]

    public init(leafIndex: Int64, treeSize: Int64, inclusion: [String]) {
        self.leafIndex = leafIndex
        self.treeSize = treeSize
        self.inclusion = inclusion
    }

    enum CodingKeys: String, CodingKey {
        case inclusion
        case leafIndex = "leaf_index"
        case treeSize = "tree_size"
    }
}

/// `POST /v1/log/cosignature`: how many new cosignature lines the hub kept.
public struct CosignatureAnswer: Codable, Sendable, Equatable {
    public var stored: Int

    public init(stored: Int) { self.stored = stored }
}

/// `POST /v1/rules/rejudge`: a day judged again against the registers as they now stand.
public struct RejudgeAnswer: Codable, Sendable, Equatable {
    public var day: String
    public var found: Int
    public var resolved: Int

    public init(day: String, found: Int, resolved: Int) {
        self.day = day
        self.found = found
        self.resolved = resolved
    }
}

/// `PUT /v1/registers/NAME`: what replacing a register with a CSV changed.
public struct RegisterImportAnswer: Codable, Sendable, Equatable {
    public var added: Int
    public var changed: Int
    public var removed: Int

    public init(added: Int, changed: Int, removed: Int) {
        self.added = added
        self.changed = changed
        self.removed = removed
    }
}
