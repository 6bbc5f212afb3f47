import Foundation
import Hummingbird
import KirokuProtocol

/// The 点検 of the record (PROTOCOL.md §16, 第20②): who reviewed it, through which day.
struct ReviewController: HubController {
    let core: HubCore

    func addRoutes(to router: Router<HubRequestContext>) {
        router.get("/v1/reviews") { _, context in
            try await authorize(.readRecord, context)
            return try Self.encode(try await store.reviews())
        }
        router.post("/v1/reviews") { request, context in
            try Self.encode(try await record(try await Self.object(request), context))
        }
    }

    /// Records a review as the caller: `through` (a day as people type it: `2026-11-30`, `2026/11/30`,
    /// `令和8年11月30日`) and an optional `note`.
    func record(_ body: [String: String], _ context: HubRequestContext) async throws -> RecordReview {
        let person = try await authorize(.actOnFindings, context)
        guard let text = body["through"], let through = PersonTime.parse(text) else {
            throw KirokuError(
                .badQuery,
                "through is a day such as 2026-11-30, 2026/11/30 or 令和8年11月30日, not '\((body["through"] ?? "").prefix(40))'"
            )
        }
        return try await store.review(through: through, note: body["note"] ?? "", by: person.id)
    }
}
