import Foundation
import Hummingbird
import KirokuProtocol
import Logging
import NIOCore
import ServiceLifecycle

/// Retention and legal holds (PROTOCOL.md §8): read by those who read the record, changed by the 管理者
/// (and 統括者, 副統括者; PROTOCOL.md §11). Every change is also a `record` event in the log.
struct RetentionController: HubController {
    let core: HubCore

    func addRoutes(to router: Router<HubRequestContext>) {
        router.get("/v1/holds") { _, context in
            try await authorize(.readRecord, context)
            return try Self.encode(try await store.holds())
        }
        router.post("/v1/holds") { request, context in
            try Self.encode(try await self.placeHold(try await Self.object(request), context))
        }
        router.post("/v1/holds/:id/lift") { request, context in
            guard let id = context.parameters.get("id").flatMap({ Int64($0) }) else {
                throw KirokuError(.badQuery, "the hold id is a number")
            }
            let body = try await Self.object(request)
            return try Self.encode(try await self.liftHold(id, reason: body["reason"] ?? "", context))
        }
        router.get("/v1/retention") { _, context in
            try await authorize(.readRecord, context)
            // Only where the purge runs: on a hub whose record is on PostgreSQL it does not (not_on_this_store).
            _ = try store
            return try Self.encode(configuration.retention)
        }
        router.post("/v1/retention/purge") { request, context in
            let person = try await authorize(.manageRetention, context)
            let dryRun = request.uri.queryParameters["dry_run"].map { $0 == "1" || $0 == "true" } ?? false
            return try Self.encode(
                try await store.purge(policy: configuration.retention, by: person.id, dryRun: dryRun))
        }
    }

    /// Places a hold as the caller: `subject`, `actor`, `agent`, `from`, `to` (RFC 3339) and `reason`.
    func placeHold(_ body: [String: String], _ context: HubRequestContext) async throws -> LegalHold {
        let person = try await authorize(.manageRetention, context)
        func time(_ name: String) throws -> Timestamp? {
            guard let text = body[name] else { return nil }
            guard let time = Timestamp(rfc3339: text) else {
                throw KirokuError(.badQuery, "\(name) must be RFC 3339 with milliseconds")
            }
            return time
        }
        return try await store.placeHold(
            subject: body["subject"], actor: body["actor"], agent: body["agent"], from: try time("from"),
            to: try time("to"),
            reason: body["reason"] ?? "", by: person.id)
    }

    /// Lifts a hold as the caller, with their reason.
    func liftHold(_ id: Int64, reason: String, _ context: HubRequestContext) async throws -> LegalHold {
        let person = try await authorize(.manageRetention, context)
        return try await store.liftHold(id: id, reason: reason, by: person.id)
    }
}
