public import Foundation
import GRDB
public import KirokuProtocol

#if canImport(Glibc)
    import Glibc
#endif

/// Documents kept by their SHA-256 in a folder beside the record (`documents/` next to the database, 0700,
/// files 0600): what a contractor submits (第25, 第26) and, later, the 対応マニュアル of incidents. A file is
/// written to a temporary name, synced and renamed before the event naming its hash is committed, so the
/// record never names a file that is not on disk; the same file submitted twice is kept once. Reading
/// checks the hash again: a file altered or damaged on the hub's disk is refused (`document_corrupt`), never
/// served as the document the record names.
public struct DocumentStore: Sendable {
    public let folder: URL

    public init(folder: URL) {
        self.folder = folder
    }

    /// Beside the database `path`.
    public init(besideDatabase path: String) {
        folder = URL(filePath: path).deletingLastPathComponent().appending(path: "documents")
    }

    func url(_ sha256: String) -> URL { folder.appending(path: sha256) }

    /// Keeps `bytes` durably; returns their SHA-256.
    @discardableResult
    public func put(_ bytes: [UInt8]) throws -> String {
        let digest = SubmittedFile.digest(bytes)
        try PrivateFiles.createDirectory(folder)
        let target = url(digest).path
        if (try? get(digest)) != nil { return digest }
        let temporary = folder.appending(path: ".\(digest).\(UUID().uuidString)").path
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw KirokuError(.internalError, "cannot create \(temporary): \(String(cString: strerror(errno)))")
        }
        var written = 0
        let ok = bytes.withUnsafeBytes { buffer -> Bool in
            while written < buffer.count {
                let n = write(fd, buffer.baseAddress! + written, buffer.count - written)
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else { return false }
                written += n
            }
            return fsync(fd) == 0
        }
        close(fd)
        guard ok, rename(temporary, target) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(temporary)
            throw KirokuError(.internalError, "cannot store a document in \(folder.path): \(reason)")
        }
        // The rename itself made durable: the folder's entry synced.
        let directory = open(folder.path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if directory >= 0 {
            fsync(directory)
            close(directory)
        }
        return digest
    }

    /// The document with this SHA-256, checked against it.
    public func get(_ sha256: String) throws -> [UInt8] {
        guard Hex.isLowercaseHex(sha256, length: 64) else {
            throw KirokuError(.notFound, "a document is named by its SHA-256 (64 hex digits)")
        }
        // The record names it, so a missing file is as wrong as an altered one. (The folder is the hub's
        // business; the message names the document only.)
        guard let data = FileManager.default.contents(atPath: url(sha256).path) else {
            throw KirokuError(
                .documentCorrupt,
                "the stored document \(sha256) is missing from the hub's documents folder; restore it from a backup")
        }
        let bytes = [UInt8](data)
        guard SubmittedFile.digest(bytes) == sha256 else {
            throw KirokuError(
                .documentCorrupt,
                "the stored document \(sha256) no longer has that SHA-256 (altered or damaged on the hub); restore it from a backup"
            )
        }
        return bytes
    }
}

/// What a person may see of contracts and submissions: all (those who read the record), or only the
/// contracts that name them (a 受託者).
public enum ContractScope: Sendable, Equatable {
    case all
    case namedOn(String)
}

extension HubStore {
    static func migrateSubmissions(_ db: Database) throws {
        try db.execute(
            sql: """
                CREATE TABLE submissions(
                    id INTEGER PRIMARY KEY,
                    contract TEXT NOT NULL,
                    type TEXT NOT NULL,
                    instruction TEXT,
                    note TEXT NOT NULL,
                    submitted_by TEXT NOT NULL,
                    submitted_ms INTEGER NOT NULL,
                    status TEXT NOT NULL,
                    previous INTEGER REFERENCES submissions(id),
                    files TEXT NOT NULL,
                    event TEXT NOT NULL
                );
                CREATE INDEX submissions_by_contract ON submissions(contract, type, submitted_ms);
                CREATE TABLE submission_reviews(
                    id INTEGER PRIMARY KEY,
                    submission INTEGER NOT NULL REFERENCES submissions(id),
                    decision TEXT NOT NULL,
                    by TEXT NOT NULL,
                    at_ms INTEGER NOT NULL,
                    reason TEXT NOT NULL
                );
                CREATE INDEX submission_reviews_by_submission ON submission_reviews(submission, id);
                """)
    }

    /// The contracts a scope may see.
    public func contracts(_ scope: ContractScope) async throws -> [RegisterRow] {
        let rows = try await register(.contracts)
        guard case .namedOn(let person) = scope else { return rows }
        return rows.filter { Self.people($0["people"] ?? "").contains(person) }
    }

    /// The maintenance instructions (作業指示書) a scope may see: a 受託者 those issued to the contractors of
    /// the contracts that name them.
    public func instructions(_ scope: ContractScope) async throws -> [RegisterRow] {
        let rows = try await register(.maintenance)
        guard case .namedOn = scope else { return rows }
        let contractors = Set(try await contracts(scope).compactMap { $0["contractor"] })
        return rows.filter { contractors.contains($0["contractor"] ?? "") }
    }

    /// Records a submission made under `person`'s certificate: the files are already kept (``DocumentStore``),
    /// `files` names them. The submission and its `contractor/submitted` event are one transaction. A contract
    /// that does not name the person, an instruction not issued to the contract's contractor, or a `previous`
    /// that is not a returned submission of the same contract and type is refused with nothing recorded.
    /// Whether `person` may submit `request` as the record stands, with nothing written: the hub calls it
    /// before it keeps any file, so that a refused submission leaves nothing on the hub's disk either.
    public func checkSubmission(_ request: SubmissionRequest, by person: String, now: Date = Date()) async throws {
        try Self.checkNote(request.note)
        try await pool.read { db in _ = try Self.check(request, by: person, now: now, db: db) }
    }

    /// Text a person typed on one line, without control characters (C0, DEL, C1): what the hub keeps of notes
    /// and reasons reaches terminals and mail, where such characters would act rather than show.
    static func isOneLine(_ text: String) -> Bool {
        !text.unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x7F || (0x80...0x9F).contains($0.value) }
    }

    static func checkNote(_ note: String) throws {
        let note = note.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !note.isEmpty else { throw KirokuError(.badQuery, "a note is required: what the submission is") }
        guard note.utf8.count <= 1000 else {
            throw KirokuError(
                .badQuery, "the note is \(note.utf8.count) bytes; at most 1000 (about 330 Japanese characters)")
        }
        guard isOneLine(note) else {
            throw KirokuError(.badQuery, "the note is one line of text without control characters")
        }
    }

    /// The contract the submission is for, if `person` may make it; refused with why otherwise.
    static func check(_ request: SubmissionRequest, by person: String, now: Date, db: Database) throws -> RegisterRow {
        // One answer for a contract that does not exist and one that does not name the person: a 受託者
        // learns nothing of other contracts by trying ids.
        guard let contract = try Self.rows(.contracts, db: db).first(where: { $0["contract_id"] == request.contract }),
            Self.people(contract["people"] ?? "").contains(person)
        else {
            throw KirokuError(
                .notPermitted,
                "no contract \(request.contract.prefix(80)) names \(person) (contracts register, column people)")
        }
        // Reports trail the work: taken from the contract's start until 90 days after its end.
        let today = BusinessCalendar.day(Int64(now.timeIntervalSince1970 * 1000))
        let end =
            (contract["valid_to"] ?? "").isEmpty
            ? "9999-12-31"
            : BusinessCalendar.day(
                (Timestamp(rfc3339: "\(contract["valid_to"]!)T00:00:00.000+09:00")?.epochMilliseconds ?? 0) + 90
                    * 86_400_000)
        guard (contract["valid_from"] ?? "") <= today, today <= end else {
            throw KirokuError(
                .badQuery,
                "contract \(request.contract) runs \(contract["valid_from"] ?? "")–\(contract["valid_to"] ?? ""); submissions are taken from its start until 90 days after its end"
            )
        }
        let instruction = request.instruction.flatMap { $0.isEmpty ? nil : $0 }
        if request.type == .workReport && instruction == nil {
            throw KirokuError(.badQuery, "a work report (第26) names the instruction it answers (--instruction)")
        }
        if let instruction {
            guard
                let issued = try Self.rows(.maintenance, db: db).first(where: { $0["instruction_id"] == instruction }),
                issued["contractor"] == contract["contractor"]
            else {
                throw KirokuError(
                    .notPermitted,
                    "instruction \(instruction.prefix(80)) was not issued to \(contract["contractor"] ?? "") (maintenance register)"
                )
            }
        }
        if let previous = request.previous {
            let row = try Row.fetchOne(
                db, sql: "SELECT contract, type, status FROM submissions WHERE id = ?", arguments: [previous])
            guard let row, (row[0] as String) == request.contract, (row[1] as String) == request.type.rawValue,
                (row[2] as String) == "returned"
            else {
                throw KirokuError(
                    .badQuery,
                    "submission \(previous) is not a returned \(request.type.rawValue) of contract \(request.contract)")
            }
            guard
                try Int64.fetchOne(db, sql: "SELECT id FROM submissions WHERE previous = ?", arguments: [previous])
                    == nil
            else {
                throw KirokuError(.badQuery, "submission \(previous) was already submitted again")
            }
        }
        return contract
    }

    /// Records a submission made under `person`'s certificate: the files are already kept (``DocumentStore``),
    /// `files` names them. The submission and its `contractor/submitted` event are one transaction. A contract
    /// that does not name the person, an instruction not issued to the contract's contractor, or a `previous`
    /// that is not a returned submission of the same contract and type is refused with nothing recorded.
    public func submit(
        _ request: SubmissionRequest, files: [SubmittedFile], by person: String, now: Date = Date()
    ) async throws -> Submission {
        try Self.checkNote(request.note)
        let note = request.note.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !files.isEmpty, files.count <= SubmissionRequest.maxFiles else {
            throw KirokuError(.badQuery, "a submission has 1 to \(SubmissionRequest.maxFiles) files")
        }
        let id: Int64 = try await pool.write { db in
            let contract = try Self.check(request, by: person, now: now, db: db)
            let instruction = request.instruction.flatMap { $0.isEmpty ? nil : $0 }
            var attrs = [
                "type": request.type.rawValue, "note": String(note.prefix(300)),
                "contractor": contract["contractor"] ?? "",
            ]
            if let instruction { attrs["instruction"] = instruction }
            if let previous = request.previous { attrs["previous"] = String(previous) }
            for (index, file) in files.enumerated() { attrs["file\(index + 1)"] = file.attribute }
            let refs = try HubRecords.append(
                [("submitted", person, request.contract, attrs)], kind: "contractor", now: now, db: db)
            try db.execute(
                sql: """
                    INSERT INTO submissions(contract, type, instruction, note, submitted_by, submitted_ms, status, previous, files, event)
                    VALUES (?, ?, ?, ?, ?, ?, 'submitted', ?, ?, ?)
                    """,
                arguments: [
                    request.contract, request.type.rawValue, instruction, note, person,
                    Int64(now.timeIntervalSince1970 * 1000),
                    request.previous, String(decoding: try JSONEncoder().encode(files), as: UTF8.self), refs[0],
                ])
            return db.lastInsertedRowID
        }
        return try await submission(id, scope: .all)!
    }

    /// The city's review of a submission (管理者 or 運用管理者): `accepted` or `returned`, with a reason, recorded
    /// as `contractor/reviewed`. Only a submission awaiting review can be reviewed.
    public func review(_ id: Int64, decision: String, reason: String, by person: String, now: Date = Date())
        async throws -> Submission
    {
        guard ["accepted", "returned"].contains(decision) else {
            throw KirokuError(.badQuery, "a review accepts or returns")
        }
        let reason = reason.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !reason.isEmpty, reason.utf8.count <= 1000 else {
            throw KirokuError(.badQuery, "a reason is required (at most 1000 bytes)")
        }
        guard Self.isOneLine(reason) else {
            throw KirokuError(.badQuery, "the reason is one line of text without control characters")
        }
        try await pool.write { db in
            guard
                let row = try Row.fetchOne(
                    db, sql: "SELECT contract, type, status, submitted_by FROM submissions WHERE id = ?",
                    arguments: [id])
            else {
                throw KirokuError(.notFound, "no submission \(id)")
            }
            guard (row[2] as String) == "submitted" else {
                throw KirokuError(
                    .badQuery,
                    "submission \(id) was already \(row[2] as String); a returned one is submitted again by the contractor"
                )
            }
            guard (row[3] as String) != person else {
                throw KirokuError(.notPermitted, "\(person) submitted \(id) and may not review it")
            }
            let nowMS = Int64(now.timeIntervalSince1970 * 1000)
            try db.execute(sql: "UPDATE submissions SET status = ? WHERE id = ?", arguments: [decision, id])
            try db.execute(
                sql: "INSERT INTO submission_reviews(submission, decision, by, at_ms, reason) VALUES (?, ?, ?, ?, ?)",
                arguments: [id, decision, person, nowMS, reason])
            try HubRecords.append(
                [
                    (
                        "reviewed", person, row[0],
                        [
                            "submission": String(id), "decision": decision, "reason": String(reason.prefix(300)),
                            "type": row[1],
                        ]
                    )
                ],
                kind: "contractor", now: now, db: db)
        }
        return try await submission(id, scope: .all)!
    }

    /// The submissions a scope may see, newest first.
    public func submissions(_ scope: ContractScope, status: String? = nil, limit: Int = 500) async throws
        -> [Submission]
    {
        let visible: Set<String>? =
            if case .namedOn = scope { Set(try await contracts(scope).compactMap { $0["contract_id"] }) } else { nil }
        return try await pool.read { db in
            var sql = "SELECT * FROM submissions"
            var arguments: [(any DatabaseValueConvertible)?] = []
            if let status {
                sql += " WHERE status = ?"
                arguments.append(status)
            }
            sql += " ORDER BY id DESC"
            let rows = try Row.fetchAll(db, sql: sql, arguments: StatementArguments(arguments))
            return try rows.filter { visible?.contains($0["contract"]) ?? true }.prefix(limit).map {
                try Self.submission($0, db: db)
            }
        }
    }

    /// One submission, if the scope may see it.
    public func submission(_ id: Int64, scope: ContractScope) async throws -> Submission? {
        let visible: Set<String>? =
            if case .namedOn = scope { Set(try await contracts(scope).compactMap { $0["contract_id"] }) } else { nil }
        return try await pool.read { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT * FROM submissions WHERE id = ?", arguments: [id]),
                visible?.contains(row["contract"]) ?? true
            else { return nil }
            return try Self.submission(row, db: db)
        }
    }

    static func submission(_ row: Row, db: Database) throws -> Submission {
        let id: Int64 = row["id"]
        let reviews = try Row.fetchAll(
            db, sql: "SELECT decision, by, at_ms, reason FROM submission_reviews WHERE submission = ? ORDER BY id",
            arguments: [id]
        ).map { SubmissionReview(decision: $0[0], by: $0[1], at: Self.jst($0[2]), reason: $0[3]) }
        return Submission(
            id: id, contract: row["contract"], type: SubmissionType(rawValue: row["type"]) ?? .siteAudit,
            instruction: row["instruction"],
            note: row["note"], submittedBy: row["submitted_by"], submittedAt: Self.jst(row["submitted_ms"]),
            status: row["status"],
            previous: row["previous"],
            files: try JSONDecoder().decode([SubmittedFile].self, from: Data((row["files"] as String).utf8)),
            event: row["event"], reviews: reviews)
    }

    static func jst(_ ms: Int64) -> String {
        Timestamp(epochMilliseconds: ms, offsetMinutes: Timestamp.jstOffsetMinutes).rfc3339
    }
}
