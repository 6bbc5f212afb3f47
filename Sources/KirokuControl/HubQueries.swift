import Foundation
public import KirokuClient
public import KirokuProtocol
import NIOHTTP1

/// The people's side of the hub API (person certificates only).
public struct HubQueries: Sendable {
    public let connection: HubConnection

    public init(connection: HubConnection) {
        self.connection = connection
    }

    /// One page of `GET /v1/events`.
    public func events(_ query: EventQuery) async throws -> EventPage {
        try await events(query.parameters)
    }

    /// One page of `GET /v1/events`, with parameters as given (tests send what no ``EventQuery`` would).
    public func events(_ parameters: [String: String]) async throws -> EventPage {
        try await connection.get(EventPage.self, "/v1/events" + Self.queryString(parameters))
    }

    /// `GET /v1/agents`.
    public func agents() async throws -> [AgentHealth] {
        try await connection.get(AgentHealthList.self, "/v1/agents").agents
    }

    /// `GET /v1/me`: who the hub takes this certificate for (status, roles, permissions).
    public func me() async throws -> MeAnswer {
        try await connection.get(MeAnswer.self, "/v1/me")
    }

    /// `GET /v1/hub/key`: the receipt key in force and the overlap's keys.
    public func hubKey() async throws -> HubKeyAnswer {
        try await connection.get(HubKeyAnswer.self, "/v1/hub/key")
    }

    /// One page of `GET /v1/evidence`, as the hub sent it (with `checkpoint` to pin the tree).
    public func evidence(_ parameters: [String: String]) async throws -> [UInt8] {
        try await connection.request(.GET, "/v1/evidence" + Self.queryString(parameters))
    }

    /// The 会議's report for a period (`month`, `fiscal_year` and `half`, or `from` and `to`; `meeting`), as the
    /// hub renders it: one HTML document for A4 printing.
    public func report(_ parameters: [String: String]) async throws -> [UInt8] {
        try await connection.request(
            .GET, "/report" + Self.queryString(parameters), headers: [("X-Kiroku-Errors", "json")])
    }

    /// The newest published checkpoint (or the one of `size`), as signed-note text.
    public func checkpoint(size: Int64? = nil) async throws -> String {
        let path = "/v1/log/checkpoint" + (size.map { "?size=\($0)" } ?? "")
        return String(decoding: try await connection.request(.GET, path), as: UTF8.self)
    }

    /// Asks the hub to publish a checkpoint now (if the log grew) and returns the newest.
    public func publishCheckpoint() async throws -> String {
        String(decoding: try await connection.request(.POST, "/v1/log/checkpoint"), as: UTF8.self)
    }

    /// The proof that the tree of `to` leaves extends the tree of `from` leaves.
    public func consistency(from: Int64, to: Int64) async throws -> [Merkle.Hash] {
        let answer = try await connection.get(ConsistencyAnswer.self, "/v1/log/consistency?from=\(from)&to=\(to)")
        let proof = answer.proof.compactMap { Hex.isLowercaseHex($0, length: 64) ? Hex.decode($0) : nil }
        guard proof.count == answer.proof.count else {
            throw KirokuError(.badProof, "the hub's consistency proof is not a list of hex hashes")
        }
        return proof
    }

    /// Hands the hub a checkpoint with cosignature lines to keep and serve.
    @discardableResult
    public func submitCosignature(_ note: SignedNote) async throws -> Int {
        let bytes = try await connection.request(
            .POST, "/v1/log/cosignature", body: Array(note.text.utf8), headers: [("Content-Type", SignedNote.mediaType)]
        )
        return try JSONDecoder().decode(CosignatureAnswer.self, from: Data(bytes)).stored
    }

    /// Every legal hold, standing or lifted.
    public func holds() async throws -> [LegalHold] {
        try await connection.get([LegalHold].self, "/v1/holds")
    }

    /// Places a legal hold; `criteria` holds any of subject, actor, agent, from, to.
    public func placeHold(_ criteria: [String: String], reason: String) async throws -> LegalHold {
        var body = criteria.mapValues(JSONValue.string)
        body["reason"] = .string(reason)
        let bytes = try await connection.request(.POST, "/v1/holds", body: CanonicalJSON.encode(.object(body)))
        return try JSONDecoder().decode(LegalHold.self, from: Data(bytes))
    }

    public func liftHold(id: Int64, reason: String) async throws -> LegalHold {
        let bytes = try await connection.request(
            .POST, "/v1/holds/\(id)/lift", body: CanonicalJSON.encode(.object(["reason": .string(reason)])))
        return try JSONDecoder().decode(LegalHold.self, from: Data(bytes))
    }

    /// Runs the retention purge now (or only counts, with `dryRun`).
    public func purge(dryRun: Bool) async throws -> PurgeReport {
        let bytes = try await connection.request(.POST, "/v1/retention/purge" + (dryRun ? "?dry_run=1" : ""))
        return try JSONDecoder().decode(PurgeReport.self, from: Data(bytes))
    }

    /// Findings (`status` open, acknowledged, resolved; nil for all).
    public func findings(status: String?, rule: String?) async throws -> [Finding] {
        var parameters: [String: String] = [:]
        if let status { parameters["status"] = status }
        if let rule { parameters["rule"] = rule }
        return try await connection.get([Finding].self, "/v1/findings" + Self.queryString(parameters))
    }

    /// Acknowledges (`acknowledge`) or resolves (`resolve`) a finding, saying why.
    public func act(onFinding id: Int64, _ verb: String, reason: String) async throws -> Finding {
        let bytes = try await connection.request(
            .POST, "/v1/findings/\(id)/\(verb)", body: CanonicalJSON.encode(.object(["reason": .string(reason)])))
        return try JSONDecoder().decode(Finding.self, from: Data(bytes))
    }

    /// Judges one day again against the registers as they now stand.
    public func rejudge(day: String) async throws -> RejudgeAnswer {
        let bytes = try await connection.request(
            .POST, "/v1/rules/rejudge", body: CanonicalJSON.encode(.object(["day": .string(day)])))
        return try JSONDecoder().decode(RejudgeAnswer.self, from: Data(bytes))
    }

    /// Replaces a register (`permits`, `cards`) with a CSV; answers how many rows were added, changed, removed.
    public func importRegister(_ name: String, csv: [UInt8]) async throws -> RegisterImportAnswer {
        let bytes = try await connection.request(
            .PUT, "/v1/registers/\(name)", body: csv, headers: [("Content-Type", "text/csv")])
        return try JSONDecoder().decode(RegisterImportAnswer.self, from: Data(bytes))
    }

    /// A register as CSV for Excel.
    public func exportRegister(_ name: String) async throws -> [UInt8] {
        try await connection.request(.GET, "/v1/registers/\(name)/csv")
    }

    // MARK: Contractors (PROTOCOL.md §13)

    /// The contracts register rows the caller may see (a 受託者: those naming them).
    public func contracts() async throws -> [[String: String]] {
        try await connection.get([[String: String]].self, "/v1/contracts")
    }

    /// The maintenance instructions the caller may see (a 受託者: those issued to their contractor).
    public func instructions() async throws -> [[String: String]] {
        try await connection.get([[String: String]].self, "/v1/instructions")
    }

    /// Submissions (`status` submitted, accepted, returned; nil for all), newest first.
    public func submissions(status: String?) async throws -> [Submission] {
        try await connection.get(
            [Submission].self, "/v1/submissions" + Self.queryString(status.map { ["status": $0] } ?? [:]))
    }

    public func submission(_ id: Int64) async throws -> Submission {
        try await connection.get(Submission.self, "/v1/submissions/\(id)")
    }

    /// Submits files for a contract under the caller's certificate.
    public func submit(_ request: SubmissionRequest) async throws -> Submission {
        let bytes = try await connection.request(
            .POST, "/v1/submissions", body: Array(try JSONEncoder().encode(request)))
        return try JSONDecoder().decode(Submission.self, from: Data(bytes))
    }

    /// A submitted file's bytes, checked against the SHA-256 the record holds for it (`document_corrupt` if
    /// they differ: the hub's copy was altered or damaged, or the transfer was).
    public func file(_ submission: Submission, _ file: SubmittedFile) async throws -> [UInt8] {
        try await document("/v1/submissions/\(submission.id)/files/\(file.sha256)", file)
    }

    /// A kept document's bytes from `path`, checked against the SHA-256 the record holds for `file`.
    func document(_ path: String, _ file: SubmittedFile) async throws -> [UInt8] {
        let bytes = try await connection.request(.GET, path, maxResponseBytes: max(Int(file.size) + 1, 64 * 1024))
        guard SubmittedFile.digest(bytes) == file.sha256 else {
            throw KirokuError(
                .documentCorrupt, "\(file.name) as received does not have the SHA-256 the record holds (\(file.sha256))"
            )
        }
        return bytes
    }

    /// Accepts (`accept`) or returns (`return`) a submission, saying why.
    public func review(_ id: Int64, decision: String, reason: String) async throws -> Submission {
        let bytes = try await connection.request(
            .POST, "/v1/submissions/\(id)/review",
            body: CanonicalJSON.encode(.object(["decision": .string(decision), "reason": .string(reason)])))
        return try JSONDecoder().decode(Submission.self, from: Data(bytes))
    }

    /// Registers the 対応マニュアル of an incident type; answers the manual as the hub keeps it (JSON).
    public func registerManual(type: String, name: String, bytes: [UInt8]) async throws -> IncidentManual {
        let answer = try await connection.request(
            .POST, "/v1/manuals/\(type)",
            body: Array(try JSONEncoder().encode(SubmissionRequest.File(name: name, bytes: bytes))))
        return try JSONDecoder().decode(IncidentManual.self, from: Data(answer))
    }

    public func manuals() async throws -> [IncidentManual] {
        try await connection.get([IncidentManual].self, "/v1/manuals")
    }

    /// A manual's bytes, checked against the SHA-256 the record holds for it.
    public func manualFile(_ manual: IncidentManual) async throws -> [UInt8] {
        try await document("/v1/manuals/\(manual.type)/file", manual.file)
    }

    // MARK: Shutdowns (PROTOCOL.md §14)

    /// Declares a shutdown of `agents` (ids, or `*`) from `from` to `to` (as people type times, JST).
    public func declareShutdown(agents: [String], from: String, to: String, reason: String) async throws
        -> DeclaredShutdown
    {
        let body: JSONValue = .object([
            "agents": .string(agents.joined(separator: ",")), "from": .string(from), "to": .string(to),
            "reason": .string(reason),
        ])
        let bytes = try await connection.request(.POST, "/v1/shutdowns", body: CanonicalJSON.encode(body))
        return try JSONDecoder().decode(DeclaredShutdown.self, from: Data(bytes))
    }

    public func shutdowns() async throws -> [DeclaredShutdown] {
        try await connection.get([DeclaredShutdown].self, "/v1/shutdowns")
    }

    /// `POST /v1/reviews`: records a 点検 of the record through a day (as people type it).
    public func review(through: String, note: String) async throws -> RecordReview {
        let body: JSONValue = .object(["through": .string(through), "note": .string(note)])
        let bytes = try await connection.request(.POST, "/v1/reviews", body: CanonicalJSON.encode(body))
        return try JSONDecoder().decode(RecordReview.self, from: Data(bytes))
    }

    public func reviews() async throws -> [RecordReview] {
        try await connection.get([RecordReview].self, "/v1/reviews")
    }

    static func queryString(_ parameters: [String: String]) -> String {
        parameters.isEmpty ? "" : "?" + QueryString.encode(parameters)
    }
}
