import GRDB
public import KirokuProtocol

#if canImport(FoundationEssentials)
    public import FoundationEssentials
#else
    public import Foundation
#endif

/// A file imported into the journal (`kiroku-agent import`): each file once, by its SHA-256.
public struct ImportedFile: Sendable, Equatable {
    public var sha256: String
    public var file: String
    public var rows: Int
    public var firstSeq: Int64
    public var lastSeq: Int64
    public var by: String
    public var atMS: Int64
}

extension Journal {
    static func migrateImports(_ db: Database) throws {
        // Kept after the events themselves are pruned: importing the same export again adds nothing, years later too.
        try db.execute(
            sql: """
                CREATE TABLE imports(
                    sha256 TEXT PRIMARY KEY, file TEXT NOT NULL, rows INTEGER NOT NULL, first_seq INTEGER NOT NULL,
                    last_seq INTEGER NOT NULL, by TEXT NOT NULL, at_ms INTEGER NOT NULL
                ) WITHOUT ROWID
                """)
    }

    /// The import of a file with this SHA-256, if there was one.
    public func imported(sha256: String) throws -> ImportedFile? {
        try pool.read { db in try Self.imported(sha256, db) }
    }

    static func imported(_ sha256: String, _ db: Database) throws -> ImportedFile? {
        try Row.fetchOne(db, sql: "SELECT * FROM imports WHERE sha256 = ?", arguments: [sha256]).map {
            ImportedFile(
                sha256: $0["sha256"], file: $0["file"], rows: $0["rows"], firstSeq: $0["first_seq"],
                lastSeq: $0["last_seq"],
                by: $0["by"], atMS: $0["at_ms"])
        }
    }

    static func migrateImportProgress(_ db: Database) throws {
        // How far an import has come: rows are committed in chunks (the writer is never held for long: the
        // daemon journals beside an import), and an import cut short by a crash resumes after the last line
        // committed, never repeating one.
        try db.execute(
            sql: """
                CREATE TABLE import_progress(
                    sha256 TEXT PRIMARY KEY, through_line INTEGER NOT NULL, first_seq INTEGER NOT NULL, taken INTEGER NOT NULL
                ) WITHOUT ROWID
                """)
    }

    /// Journals a file's rows, in transactions of 5,000, and then `agent/imported` (who, the file, its SHA-256,
    /// how many rows were taken and refused, the profile) with the file's entry in `imports`. `rows` hands over
    /// each row with its line, in order; an import cut short (a crash, a full disk) is taken up again by the
    /// next run over the same file after the last line committed, so no row is journalled twice. A file
    /// already imported is refused (`already_imported`), nothing added. The caller checks the rows before
    /// (nothing is taken from a file with a refused row, unless it says otherwise).
    public func importFile(
        sha256: String, file: String, profile: String, refused: Int, by person: String, now: Date = Date(),
        progress: @escaping (Int) -> Void = { _ in }, rows: (_ emit: (Int, EventDraft) throws -> Void) throws -> Void
    ) throws -> ImportedFile {
        let stamp = Timestamp.localNow(now)
        let agent = agentID
        let site = site
        let marker = EventDraft(
            kind: EventKind.agent.name, action: "imported", actor: person, subject: file,
            attrs: ["sha256": sha256, "refused": String(refused), "profile": profile])
        try marker.validate()
        let resumed = try pool.read { db -> (through: Int, first: Int64, taken: Int)? in
            if let earlier = try Self.imported(sha256, db) {
                throw KirokuError(
                    .alreadyImported,
                    "\(file) was imported already (as \(earlier.file), seq \(earlier.firstSeq)-\(earlier.lastSeq), by \(earlier.by)); nothing was added"
                )
            }
            return try Row.fetchOne(
                db, sql: "SELECT through_line, first_seq, taken FROM import_progress WHERE sha256 = ?",
                arguments: [sha256]
            )
            .map { ($0[0], $0[1], $0[2]) }
        }
        var first = resumed?.first
        var taken = resumed?.taken ?? 0
        var chunk: [(EventDraft, Timestamp)] = []
        var through = resumed?.through ?? 0
        chunk.reserveCapacity(5000)
        func flush() throws {
            guard !chunk.isEmpty else { return }
            let (prepared, line) = (chunk, through)
            do {
                try pool.write { db in
                    let events = try Self.insert(prepared, agent: agent, site: site, db: db)
                    first = first ?? events.first?.seq
                    try db.execute(
                        sql:
                            "INSERT OR REPLACE INTO import_progress(sha256, through_line, first_seq, taken) VALUES (?, ?, ?, ?)",
                        arguments: [sha256, line, first!, taken + events.count])
                }
            } catch {
                throw commitError(error)
            }
            taken += chunk.count
            chunk.removeAll(keepingCapacity: true)
            progress(taken)
        }
        let skip = through
        try rows { line, draft in
            guard line > skip else { return }
            try draft.validateFromProducer()
            chunk.append((draft, draft.time.flatMap(Timestamp.init(rfc3339:)) ?? stamp))
            through = line
            if chunk.count == 5000 { try flush() }
        }
        do {
            return try pool.write { db in
                let tail = try Self.insert(chunk, agent: agent, site: site, db: db)
                first = first ?? tail.first?.seq
                var record = marker
                record.attrs["rows"] = String(taken + tail.count)
                let sealed = try Self.insert([(record, stamp)], agent: agent, site: site, db: db)[0]
                let imported = ImportedFile(
                    sha256: sha256, file: file, rows: taken + tail.count, firstSeq: first ?? sealed.seq,
                    lastSeq: sealed.seq, by: person,
                    atMS: stamp.epochMilliseconds)
                try db.execute(
                    sql:
                        "INSERT INTO imports(sha256, file, rows, first_seq, last_seq, by, at_ms) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    arguments: [
                        sha256, file, imported.rows, imported.firstSeq, imported.lastSeq, person, imported.atMS,
                    ])
                try db.execute(sql: "DELETE FROM import_progress WHERE sha256 = ?", arguments: [sha256])
                return imported
            }
        } catch {
            throw commitError(error)
        }
    }
}
