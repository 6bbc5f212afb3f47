import Foundation
import Hummingbird
import KirokuProtocol

/// The consolidated record (PROTOCOL.md §6): searched by period, kind, action, terminal, actor and subject.
/// An 操作者 or 受託者 reads only their own record.
struct EventController: HubController {
    let core: HubCore

    func addRoutes(to router: Router<HubRequestContext>) {
        router.get("/v1/events") { request, context in
            var parameters: [String: String] = [:]
            for (name, value) in request.uri.queryParameters { parameters[String(name)] = String(value) }
            return try Self.encode(try await self.page(parameters, context))
        }
    }

    /// One page of the events a query selects, limited to what the caller may read.
    func page(_ parameters: [String: String], _ context: HubRequestContext) async throws -> EventPage {
        var parameters = parameters
        try await limitToReader(&parameters, context)
        return try await record.query(try EventQuery(parameters: parameters))
    }
}
