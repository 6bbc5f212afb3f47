import GRDB
public import KirokuProtocol

#if canImport(Glibc)
    import Glibc
#endif

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// A journal found corrupt at start: where it was moved, what SQLite reported, and the newest seq that
/// could still be read from it (nil if none could).
public struct CorruptJournal: Sendable, Equatable {
    public var aside: String
    public var problem: String
    public var oldHead: Int64?
}

/// A new chain epoch that must begin at the next contact with the hub.
public struct PendingEpoch: Sendable, Equatable {
    public var reason: String
    public var corrupt: CorruptJournal?
}

/// What starting a new epoch did.
public struct EpochStart: Sendable {
    /// The loss record at the hub's head + 1.
    public var record: Event
    /// Local seqs taken out of the chain (the hub holds other events there, or none) and journalled again,
    /// content unchanged, right after the record.
    public var moved: ClosedRange<Int64>?
    public var movedCount: Int
}

extension Journal {
    // MARK: Corruption at start

    /// SQLite's complaint about the file at `path`, or nil if it is sound (or does not exist yet).
    static func integrityProblem(path: String) throws -> String? {
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        do {
            let queue = try DatabaseQueue(path: path)
            defer { try? queue.close() }
            let lines = try queue.read { db in try String.fetchAll(db, sql: "PRAGMA quick_check(5)") }
            return lines == ["ok"] ? nil : lines.joined(separator: "; ")
        } catch let error as DatabaseError where [.SQLITE_CORRUPT, .SQLITE_NOTADB].contains(error.resultCode) {
            return error.message ?? "\(error.resultCode)"
        }
    }

    /// Moves the journal's files (database, WAL, shared memory) into a new folder beside it, unchanged.
    static func setAside(path: String) throws -> String {
        var stamp = Timestamp(date: Date()).rfc3339
        stamp.removeAll { $0 == ":" || $0 == "-" || $0 == "." }
        let aside = "\(path).corrupt-\(stamp)"
        let name = URL(filePath: path).lastPathComponent
        do {
            try FileManager.default.createDirectory(
                atPath: aside, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
            chmod(aside, 0o700)
            for suffix in ["", "-wal", "-shm"] where FileManager.default.fileExists(atPath: path + suffix) {
                try FileManager.default.moveItem(atPath: path + suffix, toPath: "\(aside)/\(name)\(suffix)")
            }
        } catch {
            throw KirokuError(
                .journal, "the journal \(path) is corrupt and could not be moved aside to \(aside)", underlying: error)
        }
        return aside
    }

    /// The newest seq a corrupt journal still shows, read without writing to it.
    static func readableHead(path: String) -> Int64? {
        var configuration = Configuration()
        configuration.readonly = true
        guard let queue = try? DatabaseQueue(path: path, configuration: configuration) else { return nil }
        defer { try? queue.close() }
        return try? queue.read { db in try Int64.fetchOne(db, sql: "SELECT max(seq) FROM events") }
    }

    func markEpochPending(_ corrupt: CorruptJournal) throws {
        try pool.write { db in
            let values = [
                ("epoch_reason", "journal_corrupt"), ("epoch_aside", corrupt.aside), ("epoch_problem", corrupt.problem),
                ("epoch_old_head", corrupt.oldHead.map { "\($0)" } ?? ""),
            ]
            for (key, value) in values {
                try db.execute(sql: "INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", arguments: [key, value])
            }
        }
    }

    /// The epoch this journal must start at its next contact with the hub, if any.
    public func pendingEpoch() throws -> PendingEpoch? {
        try pool.read(Self.pendingEpoch)
    }

    static func pendingEpoch(_ db: Database) throws -> PendingEpoch? {
        let meta = try Dictionary(
            uniqueKeysWithValues: Row.fetchAll(db, sql: "SELECT key, value FROM meta WHERE key LIKE 'epoch_%'").map {
                ($0[0] as String, $0[1] as String)
            })
        guard let reason = meta["epoch_reason"] else { return nil }
        let corrupt = meta["epoch_aside"].map {
            CorruptJournal(
                aside: $0, problem: meta["epoch_problem"] ?? "",
                oldHead: meta["epoch_old_head"].flatMap { Int64($0) })
        }
        return PendingEpoch(reason: reason, corrupt: corrupt)
    }

    /// The hash of the journal's event `seq`, if it holds it.
    public func hash(seq: Int64) throws -> String? {
        try pool.read { db in try Self.hash(db, seq: seq) }
    }

    static func hash(_ db: Database, seq: Int64) throws -> String? {
        try String.fetchOne(db, sql: "SELECT hash FROM events WHERE seq = ?", arguments: [seq])
    }

    // MARK: A new epoch

    /// Starts a new chain epoch at the hub's head, in one transaction: the journal's events after
    /// `agreedThrough` (the last seq where it and the hub hold the same event) are taken out of the chain
    /// and kept in `orphaned`; the loss record made by `record` is appended at `hubSeq + 1`, linked to the
    /// hub's `hubHash`; then the content of every event taken out is journalled again after it, in the same
    /// order, with new seqs, salts and hashes. Nothing committed is lost in content (invariant 1); the
    /// record maps the old seqs to the new ones. Everything through `hubSeq` counts as delivered.
    public func startEpoch(
        afterHubSeq hubSeq: Int64, hubHash: String, agreedThrough: Int64,
        record: @Sendable (_ moved: ClosedRange<Int64>?, _ movedAsFrom: Int64) -> EventDraft
    ) throws -> EpochStart {
        do {
            return try pool.write { db in
                try startEpoch(db, afterHubSeq: hubSeq, hubHash: hubHash, agreedThrough: agreedThrough, record: record)
            }
        } catch {
            throw commitError(error)
        }
    }

    /// ``startEpoch(afterHubSeq:hubHash:agreedThrough:record:)`` in the caller's transaction.
    func startEpoch(
        _ db: Database, afterHubSeq hubSeq: Int64, hubHash: String, agreedThrough: Int64,
        record: @Sendable (_ moved: ClosedRange<Int64>?, _ movedAsFrom: Int64) -> EventDraft
    ) throws -> EpochStart {
        guard agreedThrough >= 0, agreedThrough <= hubSeq else {
            throw KirokuError(.journal, "no new epoch: agreement at \(agreedThrough) is past the hub's head \(hubSeq)")
        }
        let agent = agentID
        let site = site
        let rows = try Row.fetchAll(
            db, sql: "SELECT seq, hash, body FROM events WHERE seq > ? ORDER BY seq", arguments: [agreedThrough]
        )
        let moved = rows.isEmpty ? nil : (rows.first!["seq"] as Int64)...(rows.last!["seq"] as Int64)
        let epochSeq = hubSeq + 1
        for row in rows {
            try db.execute(
                sql: "INSERT INTO orphaned(epoch_seq, seq, hash, body) VALUES (?, ?, ?, ?)",
                arguments: [epochSeq, row["seq"], row["hash"], row["body"]])
        }
        try db.execute(sql: "DELETE FROM events WHERE seq > ?", arguments: [agreedThrough])
        let prepared = try prepare([record(moved, epochSeq + 1)], now: Date())
        let epoch = try Self.insert(prepared, agent: agent, site: site, db: db, after: (hubSeq, hubHash))[0]
        var again: [(EventDraft, Timestamp)] = []
        again.reserveCapacity(rows.count)
        for row in rows {
            let old = try JSONDecoder().decode(Event.self, from: row["body"] as Data)
            guard let time = Timestamp(rfc3339: old.time) else {
                throw KirokuError(
                    .journal, "event \(old.seq) in the journal has an unreadable time '\(old.time)'")
            }
            again.append(
                (
                    EventDraft(
                        kind: old.kind, action: old.action, actor: old.actor, subject: old.subject,
                        site: old.site,
                        attrs: old.attrs), time
                ))
        }
        _ = try Self.insert(again, agent: agent, site: site, db: db)
        try db.execute(sql: "UPDATE sync SET delivered_through = ? WHERE id = 1", arguments: [hubSeq])
        try db.execute(sql: "DELETE FROM meta WHERE key LIKE 'epoch_%'")
        return EpochStart(record: epoch, moved: moved, movedCount: rows.count)
    }

    /// Events taken out of the chain when epochs began, as they were (for forensics and tests).
    public func orphanedEvents() throws -> [(epochSeq: Int64, event: Event)] {
        try pool.read { db in
            try Row.fetchAll(db, sql: "SELECT epoch_seq, body FROM orphaned ORDER BY epoch_seq, seq").map {
                ($0[0], try JSONDecoder().decode(Event.self, from: $0[1] as Data))
            }
        }
    }
}
