import Hummingbird
import KirokuProtocol
import NIOCore

import Foundation

/// The registers (PROTOCOL.md §10): read as JSON or CSV, replaced by importing a CSV.
extension Routes {
    func registerRegisters(on router: Router<HubRequestContext>) {
        router.get("/v1/registers/:name") { _, context in
            _ = try Self.require(.person, context)
            return try Self.encode(try await store.register(try Self.register(context)))
        }
        router.get("/v1/registers/:name/csv") { _, context in
            _ = try Self.require(.person, context)
            let csv = try await store.exportRegister(try Self.register(context))
            return Response(
                status: .ok, headers: [.contentType: "text/csv; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(bytes: Array(csv.utf8))))
        }
        router.put("/v1/registers/:name") { request, context in
            let person = try Self.require(.person, context)
            let register = try Self.register(context)
            var request = request
            let body = try await request.collectBody(upTo: 16 * 1024 * 1024)
            guard let csv = String(validating: body.readableBytesView, as: UTF8.self) else {
                throw KirokuError(.malformedRequest, "the CSV must be UTF-8 (save it from Excel as 'CSV UTF-8')")
            }
            let result = try await store.importRegister(register, csv: csv, by: person.id)
            return Self.json(
                .object([
                    "added": .integer(Int64(result.added)), "changed": .integer(Int64(result.changed)),
                    "removed": .integer(Int64(result.removed)),
                ]))
        }
    }

    static func register(_ context: HubRequestContext) throws -> Register {
        guard let name = context.parameters.get("name"), let register = Register(rawValue: name) else {
            throw KirokuError(.notFound, "registers: \(Register.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return register
    }
}
