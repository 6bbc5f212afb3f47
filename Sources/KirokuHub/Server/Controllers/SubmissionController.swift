import Foundation
import Hummingbird
import KirokuProtocol
import NIOCore
import NIOPosix

/// Contractors' submissions (PROTOCOL.md §13): a 受託者 submits under their own certificate for a contract
/// that names them; the city (管理者, 運用管理者) accepts or returns. A 受託者 sees the contracts that name
/// them, the instructions issued to their contractor and those contracts' submissions, nothing else.
struct SubmissionController: HubController {
    let core: HubCore

    var documents: DocumentStore { configuration.documentStore }

    func addRoutes(to router: Router<HubRequestContext>) {
        router.get("/v1/contracts") { _, context in
            try Self.encode(try await store.contracts(try await scope(context).scope))
        }
        router.get("/v1/instructions") { _, context in
            try Self.encode(try await store.instructions(try await scope(context).scope))
        }
        router.get("/v1/submissions") { request, context in
            let status = request.uri.queryParameters["status"].map(String.init)
            if let status, !["submitted", "accepted", "returned"].contains(status) {
                throw KirokuError(.badQuery, "status is submitted, accepted or returned")
            }
            return try Self.encode(try await store.submissions(try await scope(context).scope, status: status))
        }
        router.get("/v1/submissions/:id") { _, context in
            try Self.encode(try await submission(context))
        }
        router.get("/v1/submissions/:id/files/:sha256") { _, context in
            let submission = try await submission(context)
            let (file, bytes) = try await file(of: submission, context.parameters.get("sha256") ?? "")
            return Response(
                status: .ok,
                headers: [
                    .contentType: file.type.rawValue,
                    .contentDisposition: "attachment; filename=\"\(file.sha256).\(file.type.fileExtension)\"",
                ],
                body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
        }
        router.post("/v1/submissions") { request, context in
            // Who may not submit is refused before up to 43 MB are read.
            try await authorize(.submitDocuments, context)
            var request = request
            let limit = configuration.maxSubmissionBytes / 3 * 4 + 1024 * 1024
            let body: ByteBuffer
            do {
                body = try await request.collectBody(upTo: limit)
            } catch is NIOTooManyBytesError {
                throw KirokuError(
                    .unsupportedDocument,
                    "the submission is over max_submission_bytes (\(configuration.maxSubmissionBytes) bytes)")
            }
            // The hub's own parser first: a duplicated member (which Foundation would settle silently by
            // keeping the last) or one the protocol does not have is refused, not ignored.
            guard case .object(let members) = try JSONParser.parse(body.readableBytesView) else {
                throw KirokuError(.malformedRequest, "the body is a JSON object")
            }
            if let unknown = members.keys.first(where: {
                !["contract", "type", "instruction", "note", "previous", "files"].contains($0)
            }) {
                throw KirokuError(.malformedRequest, "a submission has no member '\(unknown.prefix(40))'")
            }
            let submission: SubmissionRequest
            do {
                submission = try JSONDecoder().decode(SubmissionRequest.self, from: Data(body.readableBytesView))
            } catch {
                throw KirokuError(
                    .malformedRequest,
                    "the body is {contract, type (\(SubmissionType.allCases.map(\.rawValue).joined(separator: ", "))), instruction, note, previous, files: [{name, content (base64)}]}"
                )
            }
            return try Self.encode(try await submit(submission, context))
        }
        router.post("/v1/submissions/:id/review") { request, context in
            let body = try await Self.object(request)
            let decision: String =
                switch body["decision"] {
                case "accept", "accepted": "accepted"
                case "return", "returned": "returned"
                default: throw KirokuError(.badQuery, "decision is accept or return")
                }
            return try Self.encode(
                try await review(try Self.id(context), decision: decision, reason: body["reason"] ?? "", context))
        }
    }

    /// Who is asking, and what they may see: everything if they read the record, else the contracts that
    /// name them if they may submit; anyone else is refused.
    func scope(_ context: HubRequestContext) async throws -> (identity: Identity, scope: ContractScope) {
        let identity = try Self.require(.person, context)
        let lookup = try await store.staff(identity.id, labels: configuration.roleLabels)
        if case .staff(let staff) = lookup, !staff.permissions.contains(.readRecord),
            staff.permissions.contains(.submitDocuments)
        {
            return (identity, .namedOn(identity.id))
        }
        try core.permit(.readRecord, identity, lookup)
        return (identity, .all)
    }

    func submission(_ context: HubRequestContext) async throws -> Submission {
        let id = try Self.id(context)
        guard let found = try await store.submission(id, scope: try await scope(context).scope) else {
            throw KirokuError(.notFound, "no submission \(id) that you may see")
        }
        return found
    }

    /// A file of a submission, read back and checked against the hash the record holds.
    func file(of submission: Submission, _ sha256: String) async throws -> (SubmittedFile, [UInt8]) {
        guard let file = submission.files.first(where: { $0.sha256 == sha256 }) else {
            throw KirokuError(.notFound, "submission \(submission.id) has no file \(sha256.prefix(64))")
        }
        let kept = documents
        return (file, try await NIOThreadPool.singleton.runIfActive { try kept.get(file.sha256) })
    }

    /// Checks each file by its content, keeps it by its hash, and records the submission.
    func submit(_ request: SubmissionRequest, _ context: HubRequestContext) async throws -> Submission {
        let person = try await authorize(.submitDocuments, context)
        guard !request.files.isEmpty, request.files.count <= SubmissionRequest.maxFiles else {
            throw KirokuError(.badQuery, "a submission has 1 to \(SubmissionRequest.maxFiles) files")
        }
        // Everything that could refuse it, before a byte is kept: a refused submission leaves nothing behind.
        try await store.checkSubmission(request, by: person.id)
        // Every file decoded and checked before any is kept (a refused one leaves nothing behind); kept before
        // the event that names them is committed (the record never names a missing file).
        let decoded = try Self.decode(request.files, limit: configuration.maxSubmissionBytes)
        var files: [SubmittedFile] = []
        for file in decoded { files.append(try await keep(file)) }
        return try await store.submit(request, files: files, by: person.id)
    }

    func review(_ id: Int64, decision: String, reason: String, _ context: HubRequestContext) async throws -> Submission
    {
        let person = try await authorize(.reviewSubmissions, context)
        return try await store.review(id, decision: decision, reason: reason, by: person.id)
    }

    /// The files of a request as bytes, each checked by content, `limit` bytes together at most.
    static func decode(_ files: [SubmissionRequest.File], limit: Int) throws -> [(
        name: String, bytes: [UInt8], type: DocumentType
    )] {
        var decoded: [(name: String, bytes: [UInt8], type: DocumentType)] = []
        var total = 0
        for file in files {
            let name = fileName(file.name)
            guard let data = Data(base64Encoded: file.content) else {
                throw KirokuError(.malformedRequest, "the content of \(name) is not base64")
            }
            let bytes = [UInt8](data)
            total += bytes.count
            guard total <= limit else {
                throw KirokuError(
                    .unsupportedDocument, "the files are over max_submission_bytes (\(limit) bytes) together")
            }
            guard let type = DocumentType.of(bytes) else {
                throw KirokuError(
                    .unsupportedDocument,
                    "\(name) is not a PDF, PNG, JPEG or CSV by its content (whatever its name says)")
            }
            decoded.append((name, bytes, type))
        }
        return decoded
    }

    /// Keeps a file ``decode(_:limit:)`` checked in the document store — writing, syncing and hashing up to 32 MiB on the blocking
    /// pool, not the async threads — and says what the record names it by. Submissions and manuals alike.
    func keep(_ file: (name: String, bytes: [UInt8], type: DocumentType)) async throws -> SubmittedFile {
        let kept = documents
        let bytes = file.bytes
        let digest = try await NIOThreadPool.singleton.runIfActive { try kept.put(bytes) }
        return SubmittedFile(name: file.name, sha256: digest, size: Int64(bytes.count), type: file.type)
    }

    /// The name a file was submitted under, for people: its last path component, without control
    /// characters or the direction marks that make `invoice‮fdp.bat` read as a PDF, at most 120 characters.
    static func fileName(_ name: String) -> String {
        let last = name.split(whereSeparator: { $0 == "/" || $0 == "\\" }).last.map(String.init) ?? ""
        let clean = String(
            String.UnicodeScalarView(
                last.unicodeScalars.filter {
                    $0.value >= 0x20 && $0.value != 0x7F && !(0x80...0x9F).contains($0.value)
                        && !(0x200E...0x200F).contains($0.value)
                        && !(0x202A...0x202E).contains($0.value) && !(0x2066...0x2069).contains($0.value)
                }))
        let trimmed = String(clean.trimmingCharacters(in: .whitespaces).prefix(120))
        return trimmed.isEmpty ? "file" : trimmed
    }

    static func id(_ context: HubRequestContext) throws -> Int64 {
        guard let text = context.parameters.get("id"), let id = Int64(text), id > 0 else {
            throw KirokuError(.notFound, "a submission is named by its number")
        }
        return id
    }
}
