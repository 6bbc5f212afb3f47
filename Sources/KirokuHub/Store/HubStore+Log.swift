public import Crypto
public import Foundation
import GRDB
public import KirokuProtocol

/// The Merkle log's storage. Leaves are not stored twice: leaf i is SHA-256(0x00 ‖ the hash of the event
/// whose row id is i + 1). Of the complete subtrees above them only every fourth level is kept (levels 4,
/// 8, 12…, in one integer-keyed table, key = level << 40 | index): about one row per 16 events, which keeps
/// the log's cost at ingest small. Any other node is folded from at most 16 kept nodes (or leaves) below
/// it, read in one range query, so a root or proof still reads O(log n) ranges, whatever n (invariant 4).
enum LogTable {
    static let stride = 4

    static func key(_ level: Int, _ index: Int64) -> Int64 { Int64(level) << 40 | index }

    /// Whether the node at `level` is kept in the table.
    static func kept(_ level: Int) -> Bool { level > 0 && level % stride == 0 }

    /// Leaves in the log: every event is one, and row ids are leaf index + 1.
    static func size(_ db: Database) throws -> Int64 {
        let statement = try db.cachedStatement(sql: "SELECT max(id) FROM events")
        return try Int64.fetchOne(statement) ?? 0
    }

    static func source(_ db: Database) -> Merkle.NodeSource {
        { level, index in
            let base = level - level % stride
            let first = index << (level - base)
            let width = Int64(1) << (level - base)
            var hashes: [Merkle.Hash] = []
            hashes.reserveCapacity(Int(width))
            if base == 0 {
                let statement = try db.cachedStatement(
                    sql: "SELECT hash FROM events WHERE id BETWEEN ? AND ? ORDER BY id")
                let rows = try String.fetchCursor(statement, arguments: [first + 1, first + width])
                while let hash = try rows.next() {
                    guard let leaf = Merkle.leafHash(eventHash: hash) else { break }
                    hashes.append(leaf)
                }
            } else {
                let statement = try db.cachedStatement(
                    sql: "SELECT hash FROM merkle WHERE id BETWEEN ? AND ? ORDER BY id")
                let rows = try Data.fetchCursor(statement, arguments: [key(base, first), key(base, first + width - 1)])
                while let data = try rows.next() {
                    guard data.count == 32 else { break }
                    hashes.append(Array(data))
                }
            }
            guard hashes.count == width else {
                throw KirokuError(
                    .internalError, "the Merkle log lacks nodes under \(level)/\(index): the hub database is damaged")
            }
            while hashes.count > 1 {
                hashes = Swift.stride(from: 0, to: hashes.count, by: 2).map {
                    Merkle.nodeHash(hashes[$0], hashes[$0 + 1])
                }
            }
            return hashes[0]
        }
    }

    /// The kept checkpoint of `size` leaves, signed by `sign` and kept now if there is none yet.
    static func keep(
        _ db: Database, size: Int64, root: Merkle.Hash, nowMS: Int64, sign: (Int64, Merkle.Hash) throws -> SignedNote
    ) throws -> String {
        if let held = try String.fetchOne(db, sql: "SELECT note FROM checkpoints WHERE size = ?", arguments: [size]) {
            return held
        }
        let note = try sign(size, root).text
        try db.execute(
            sql: "INSERT INTO checkpoints(size, root, note, issued_ms) VALUES (?, ?, ?, ?)",
            arguments: [size, Data(root), note, nowMS])
        return note
    }

    /// Creates the log and appends every event already held, in the order they were accepted.
    static func migrate(_ db: Database) throws {
        try db.execute(
            sql: """
                CREATE TABLE merkle(id INTEGER PRIMARY KEY, hash BLOB NOT NULL);
                CREATE TABLE checkpoints(
                    size INTEGER PRIMARY KEY,
                    root BLOB NOT NULL,
                    note TEXT NOT NULL,
                    issued_ms INTEGER NOT NULL
                );
                CREATE TABLE cosignatures(
                    size INTEGER NOT NULL REFERENCES checkpoints(size),
                    name TEXT NOT NULL,
                    line TEXT NOT NULL,
                    received_ms INTEGER NOT NULL,
                    PRIMARY KEY (size, name)
                ) WITHOUT ROWID;
                """)
        let count = try Int64.fetchOne(db, sql: "SELECT count(*) FROM events") ?? 0
        let maxID = try Int64.fetchOne(db, sql: "SELECT max(id) FROM events") ?? 0
        guard count == maxID else {
            throw KirokuError(
                .internalError, "event row ids are not 1…\(count); the record cannot be put in a Merkle log")
        }
        var log = try Merkle.Appender(size: 0, source: source(db))
        let insert = try db.makeStatement(sql: "INSERT INTO merkle(id, hash) VALUES (?, ?)")
        let rows = try String.fetchCursor(db, sql: "SELECT hash FROM events ORDER BY id")
        while let hash = try rows.next() {
            guard let leaf = Merkle.leafHash(eventHash: hash) else {
                throw KirokuError(.internalError, "an event hash in the record is not hex")
            }
            try log.append(leaf) { level, index, node in
                if kept(level) { try insert.execute(arguments: [key(level, index), Data(node)]) }
            }
        }
    }
}

/// The batch's last event in the log, as committed (hashes as bytes; the server signs the checkpoint).
public struct LogPosition: Sendable, Equatable {
    public var leafIndex: Int64
    public var treeSize: Int64
    public var root: Merkle.Hash
    public var inclusion: [Merkle.Hash]
}

/// A checkpoint as the hub publishes it: the signed note with every cosignature it has received.
public struct PublishedCheckpoint: Sendable {
    public var checkpoint: Checkpoint
    public var note: SignedNote
    public var issued: Date
}

extension HubStore {
    /// Leaves in the log now.
    public func logSize() async throws -> Int64 {
        try await pool.read { db in try LogTable.size(db) }
    }

    /// The root of the log's first `size` leaves.
    public func root(size: Int64) async throws -> Merkle.Hash {
        try await pool.read { db in
            guard size >= 0, size <= (try LogTable.size(db)) else {
                throw KirokuError(.badQuery, "the log has no tree of size \(size)")
            }
            var prover = Merkle.Prover(size: size, source: LogTable.source(db))
            return try prover.root()
        }
    }

    /// The audit path of `leaf` in the tree of `size` leaves.
    public func inclusionProof(leaf: Int64, size: Int64) async throws -> [Merkle.Hash] {
        try await pool.read { db in
            guard leaf >= 0, leaf < size, size <= (try LogTable.size(db)) else {
                throw KirokuError(.badQuery, "leaf \(leaf) is not in a tree of size \(size) of this log")
            }
            var prover = Merkle.Prover(size: size, source: LogTable.source(db))
            return try prover.inclusion(index: leaf)
        }
    }

    /// The audit paths of many leaves in the tree of `size` leaves, read in one transaction.
    public func inclusionProofs(leaves: [Int64], size: Int64) async throws -> [[Merkle.Hash]] {
        try await pool.read { db in
            guard size <= (try LogTable.size(db)) else {
                throw KirokuError(.badQuery, "the log has no tree of size \(size)")
            }
            var prover = Merkle.Prover(size: size, source: LogTable.source(db))
            return try leaves.map { leaf in
                guard leaf >= 0, leaf < size else {
                    throw KirokuError(.badQuery, "leaf \(leaf) is not in a tree of size \(size)")
                }
                return try prover.inclusion(index: leaf)
            }
        }
    }

    /// The proof that the tree of `to` leaves extends the tree of `from` leaves.
    public func consistencyProof(from: Int64, to: Int64) async throws -> [Merkle.Hash] {
        try await pool.read { db in
            guard from >= 0, from <= to, to <= (try LogTable.size(db)) else {
                throw KirokuError(.badQuery, "no consistency proof from \(from) to \(to) in this log")
            }
            var prover = Merkle.Prover(size: to, source: LogTable.source(db))
            return try prover.consistency(from: from)
        }
    }

    /// Signs and keeps a checkpoint of the log as it is now, unless the newest kept one already covers
    /// every leaf; returns the newest checkpoint either way.
    @discardableResult
    public func issueCheckpoint(origin: String, keys: [Curve25519.Signing.PrivateKey], now: Date = Date()) async throws
        -> PublishedCheckpoint
    {
        let nowMS = Int64(now.timeIntervalSince1970 * 1000)
        try await pool.write { db in
            let size = try LogTable.size(db)
            let newest = try Int64.fetchOne(db, sql: "SELECT max(size) FROM checkpoints")
            guard newest != size else { return }
            var prover = Merkle.Prover(size: size, source: LogTable.source(db))
            let tree = Checkpoint(origin: origin, size: size, root: try prover.root())
            var note = SignedNote(body: tree.body)
            for key in keys { try note.sign(name: origin, key: key) }
            try db.execute(
                sql: "INSERT INTO checkpoints(size, root, note, issued_ms) VALUES (?, ?, ?, ?)",
                arguments: [size, Data(tree.root), note.text, nowMS])
        }
        return try await checkpoint(size: nil)!
    }

    /// A kept checkpoint (the newest if `size` is nil), with its cosignatures; nil if there is none.
    public func checkpoint(size: Int64?) async throws -> PublishedCheckpoint? {
        try await pool.read { db in
            let row =
                if let size {
                    try Row.fetchOne(
                        db, sql: "SELECT size, note, issued_ms FROM checkpoints WHERE size = ?", arguments: [size])
                } else {
                    try Row.fetchOne(
                        db, sql: "SELECT size, note, issued_ms FROM checkpoints ORDER BY size DESC LIMIT 1")
                }
            guard let row else { return nil }
            var note = try SignedNote(text: row["note"])
            let lines = try String.fetchAll(
                db, sql: "SELECT line FROM cosignatures WHERE size = ? ORDER BY name", arguments: [row["size"] as Int64]
            )
            for line in lines { note.signatures += try SignedNote(text: note.body + "\n" + line + "\n").signatures }
            return PublishedCheckpoint(
                checkpoint: try Checkpoint(body: note.body), note: note,
                issued: Date(timeIntervalSince1970: Double(row["issued_ms"] as Int64) / 1000))
        }
    }

    /// The newest checkpoint any witness cosigned, with its cosignatures; nil if none was.
    public func newestCosignedCheckpoint() async throws -> PublishedCheckpoint? {
        guard
            let size = try await pool.read({ db in try Int64.fetchOne(db, sql: "SELECT max(size) FROM cosignatures") })
        else { return nil }
        return try await checkpoint(size: size)
    }

    /// Keeps the cosignatures of a checkpoint this hub issued. `verify` decides which lines are genuine
    /// (the hub checks them against the witness keys it was told about, or at least their form). Returns
    /// how many lines were new.
    public func addCosignatures(_ note: SignedNote, now: Date = Date()) async throws -> Int {
        let tree = try Checkpoint(body: note.body)
        let nowMS = Int64(now.timeIntervalSince1970 * 1000)
        return try await pool.write { db in
            guard
                let held = try String.fetchOne(
                    db, sql: "SELECT note FROM checkpoints WHERE size = ?", arguments: [tree.size]),
                try SignedNote(text: held).body == note.body
            else {
                throw KirokuError(
                    .badCheckpoint, "this hub issued no checkpoint with that body (tree size \(tree.size))")
            }
            var added = 0
            for line in note.signatures where line.blob.count == 76 {
                let text = "— \(line.name) \(Data(line.blob).base64EncodedString())"
                // A line already held unchanged is not counted again; a witness's newer cosignature replaces its old.
                try db.execute(
                    sql: """
                        INSERT INTO cosignatures(size, name, line, received_ms) VALUES (?, ?, ?, ?)
                        ON CONFLICT(size, name) DO UPDATE SET line = excluded.line, received_ms = excluded.received_ms
                        WHERE line IS NOT excluded.line
                        """,
                    arguments: [tree.size, line.name, text, nowMS])
                added += db.changesCount
            }
            return added
        }
    }
}
