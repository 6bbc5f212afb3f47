import Foundation
import Hummingbird
import KirokuProtocol

/// Shutdowns declared in advance (PROTOCOL.md §14, 第30): terminals they name are quiet on purpose.
struct ShutdownController: HubController {
    let core: HubCore

    func addRoutes(to router: Router<HubRequestContext>) {
        router.get("/v1/shutdowns") { _, context in
            try await authorize(.readRecord, context)
            return try Self.encode(try await store.shutdowns())
        }
        router.post("/v1/shutdowns") { request, context in
            try Self.encode(try await declare(try await Self.object(request), context))
        }
    }

    /// Declares a shutdown as the caller: `agents` (comma-separated ids, or `*`), `from`, `to` (as people type
    /// times: `2026-12-05 18:00`, `令和8年12月5日 18:00`…, JST) and `reason`.
    func declare(_ body: [String: String], _ context: HubRequestContext) async throws -> DeclaredShutdown {
        let person = try await authorize(.declareShutdowns, context)
        func time(_ name: String) throws -> Timestamp {
            guard let text = body[name], let time = PersonTime.parse(text) else {
                throw KirokuError(
                    .badQuery,
                    "\(name) is a time such as 2026-12-05 18:00 (JST), not '\((body[name] ?? "").prefix(40))'")
            }
            return time
        }
        let agents = (body["agents"] ?? "").split(separator: ",").map(String.init)
        return try await store.declareShutdown(
            agents: agents, from: try time("from"), to: try time("to"), reason: body["reason"] ?? "", by: person.id)
    }
}
