import Foundation
import Hummingbird
import KirokuProtocol
import NIOCore

/// The registers (PROTOCOL.md §10): read as JSON or CSV, replaced by importing a CSV.
struct RegisterController: HubController {
    let core: HubCore

    func addRoutes(to router: Router<HubRequestContext>) {
        router.get("/v1/registers/:name") { _, context in
            let register = try Self.register(context)
            try await authorize(Self.readPermission(register), context)
            return try Self.encode(try await store.register(register))
        }
        router.get("/v1/registers/:name/csv") { _, context in
            let register = try Self.register(context)
            try await authorize(Self.readPermission(register), context)
            let csv = try await store.exportRegister(register)
            return Response(
                status: .ok,
                headers: [
                    .contentType: "text/csv; charset=utf-8",
                    .contentDisposition: "attachment; filename=\"kiroku-register-\(register.rawValue).csv\"",
                ],
                body: .init(byteBuffer: ByteBuffer(bytes: Array(csv.utf8))))
        }
        router.put("/v1/registers/:name") { request, context in
            let register = try Self.register(context)
            try await authorize(.writeRegister(register), context)
            var request = request
            let body = try await request.collectBody(upTo: 16 * 1024 * 1024)
            let result = try await self.importCSV(register, Array(body.readableBytesView), expectedHeld: nil, context)
            return try Self.encode(
                RegisterImportAnswer(added: result.added, changed: result.changed, removed: result.removed))
        }
    }

    /// Replaces a register with a CSV (UTF-8 or CP932) as the caller. `expectedHeld` (from a preview)
    /// refuses it if the register changed since.
    func importCSV(_ register: Register, _ bytes: [UInt8], expectedHeld: String?, _ context: HubRequestContext)
        async throws
        -> (added: Int, changed: Int, removed: Int)
    {
        let person = try await authorize(.writeRegister(register), context)
        let csv = try HubStore.decodeRegisterCSV(bytes)
        return try await store.importRegister(
            register, csv: csv, by: person.id, labels: configuration.roleLabels, expectedHeld: expectedHeld
        ) { rows in try self.keepsImporter(register, rows, person) }
    }

    /// What importing the CSV would change, for the caller to confirm; a people register that would lock
    /// them out is refused here already.
    func preview(_ register: Register, _ bytes: [UInt8], _ context: HubRequestContext) async throws -> (
        csv: String, preview: RegisterPreview
    ) {
        let person = try await authorize(.writeRegister(register), context)
        let csv = try HubStore.decodeRegisterCSV(bytes)
        let preview = try await store.previewRegister(register, csv: csv, labels: configuration.roleLabels)
        if preview.refused.isEmpty {
            try keepsImporter(
                register, try HubStore.parseRegister(register, csv: csv, labels: configuration.roleLabels), person)
        }
        return (csv, preview)
    }

    /// Whoever replaces the people register must stay able to replace it: a CSV that leaves out its
    /// importer (or takes away their role) would lock the 管理者 out of their own hub.
    func keepsImporter(_ register: Register, _ rows: [RegisterRow], _ person: Identity) throws {
        guard register == .people else { return }
        let labels = configuration.roleLabels
        let own = rows.first { $0["person_id"] == person.id }
        let roles = own.flatMap { labels.roles($0["role"] ?? "") } ?? []
        guard own?["left"] ?? "" == "", Staff(id: person.id, roles: roles).permissions.contains(.writeRegister(.people))
        else {
            throw KirokuError(
                .notPermitted,
                "this people register would lock \(person.id) out: list \(person.id) in it as \(labels.labels[.administrator]!) (or \(labels.labels[.chief]!), \(labels.labels[.deputyChief]!)); nothing was changed"
            )
        }
    }

    /// Who may read a register: those who read the record, or for a confidential one (the watch-list) only
    /// those who may replace it.
    static func readPermission(_ register: Register) -> Permission {
        register.isConfidential ? .writeRegister(register) : .readRecord
    }

    static func register(_ context: HubRequestContext) throws -> Register {
        guard let name = context.parameters.get("name")?.removingPercentEncoding,
            let register = Register(rawValue: name)
        else {
            throw KirokuError(.notFound, "registers: \(Register.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return register
    }
}
