import Foundation
import Hummingbird
import KirokuProtocol
import NIOCore
import NIOPosix

/// The 対応マニュアル of incident types (PROTOCOL.md §13): registered by the 管理者, read by those who read
/// the record, shown with the findings on incidents.
struct ManualController: HubController {
    let core: HubCore

    func addRoutes(to router: Router<HubRequestContext>) {
        router.get("/v1/manuals") { _, context in
            try await authorize(.readRecord, context)
            return try Self.encode(try await store.manuals())
        }
        router.get("/v1/manuals/:type/file") { _, context in
            try await authorize(.readRecord, context)
            let type = context.parameters.get("type") ?? ""
            guard let manual = try await store.manuals().first(where: { $0.type == type }) else {
                throw KirokuError(.notFound, "no manual is registered for \(type.prefix(40))")
            }
            let documents = configuration.documentStore
            let sha256 = manual.file.sha256
            let bytes = try await NIOThreadPool.singleton.runIfActive { try documents.get(sha256) }
            return Response(
                status: .ok,
                headers: [
                    .contentType: manual.file.type.rawValue,
                    .contentDisposition:
                        "attachment; filename=\"manual-\(manual.type).\(manual.file.type.fileExtension)\"",
                ],
                body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
        }
        router.post("/v1/manuals/:type") { request, context in
            let person = try await authorize(.registerManuals, context)
            let type = context.parameters.get("type") ?? ""
            guard HubStore.manualTypes[type] != nil else {
                throw KirokuError(
                    .notFound, "manuals are kept for \(HubStore.manualTypes.keys.sorted().joined(separator: ", "))")
            }
            var request = request
            let body: ByteBuffer
            do {
                body = try await request.collectBody(upTo: configuration.maxSubmissionBytes / 3 * 4 + 64 * 1024)
            } catch is NIOTooManyBytesError {
                throw KirokuError(
                    .unsupportedDocument,
                    "the manual is over max_submission_bytes (\(configuration.maxSubmissionBytes) bytes)")
            }
            guard let file = try? JSONDecoder().decode(SubmissionRequest.File.self, from: Data(body.readableBytesView))
            else {
                throw KirokuError(.malformedRequest, "the body is {\"name\", \"content\": BASE64}")
            }
            let checked = try SubmissionController.decode([file], limit: configuration.maxSubmissionBytes)[0]
            let kept = try await SubmissionController(core: core).keep(checked)
            return try Self.encode(try await store.registerManual(type: type, file: kept, by: person.id))
        }
    }
}
