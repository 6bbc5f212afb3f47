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
                sha256: $0["sha256"], file: $0["file"], rows: $0["rows"], firstSeq: $0["first_seq"], lastSeq: $0["last_seq"],
                by: $0["by"], atMS: $0["at_ms"])
        }
    }

    /// Journals a file's rows and then `agent/imported` (who, the file, its SHA-256, how many rows were
    /// taken and refused, the profile) in one durable transaction, in chunks of 5,000 as `rows` hands them
    /// over; `rows` returns how many it refused, or throws to take nothing (the transaction is rolled back):
    /// all of it or, after a crash or a refusal, none of it. A file already imported is refused
    /// (`already_imported`), nothing added.
    public func importFile(
        sha256: String, file: String, profile: String, by person: String, now: Date = Date(),
        progress: @escaping (Int) -> Void = { _ in }, rows: (_ emit: (EventDraft) throws -> Void) throws -> Int
    ) throws -> ImportedFile {
        let stamp = Timestamp.localNow(now)
        let agent = agentID
        let site = site
        do {
            return try pool.write { db in
                if let earlier = try Self.imported(sha256, db) {
                    throw KirokuError(
                        .alreadyImported,
                        "\(file) was imported already (as \(earlier.file), seq \(earlier.firstSeq)-\(earlier.lastSeq), by \(earlier.by)); nothing was added")
                }
                var first: Int64?
                var done = 0
                var prepared: [(EventDraft, Timestamp)] = []
                prepared.reserveCapacity(5000)
                func flush() throws {
                    guard !prepared.isEmpty else { return }
                    let events = try Self.insert(prepared, agent: agent, site: site, db: db)
                    first = first ?? events.first?.seq
                    done += events.count
                    prepared.removeAll(keepingCapacity: true)
                    progress(done)
                }
                let refused = try rows { draft in
                    try draft.validateFromProducer()
                    prepared.append((draft, draft.time.flatMap(Timestamp.init(rfc3339:)) ?? stamp))
                    if prepared.count == 5000 { try flush() }
                }
                try flush()
                let record = EventDraft(
                    kind: EventKind.agent.name, action: "imported", actor: person, subject: file,
                    attrs: ["sha256": sha256, "rows": String(done), "refused": String(refused), "profile": profile])
                let marker = try Self.insert([(record, stamp)], agent: agent, site: site, db: db)[0]
                let imported = ImportedFile(
                    sha256: sha256, file: file, rows: done, firstSeq: first ?? marker.seq, lastSeq: marker.seq, by: person,
                    atMS: stamp.epochMilliseconds)
                try db.execute(
                    sql: "INSERT INTO imports(sha256, file, rows, first_seq, last_seq, by, at_ms) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    arguments: [sha256, file, imported.rows, imported.firstSeq, imported.lastSeq, person, imported.atMS])
                return imported
            }
        } catch {
            throw commitError(error)
        }
    }
}
