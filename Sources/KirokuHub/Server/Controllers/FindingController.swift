import Foundation
import Hummingbird
import KirokuProtocol
import Logging
import ServiceLifecycle

/// Findings (PROTOCOL.md §9): listed, acknowledged and resolved by people, each action recorded.
struct FindingController: HubController {
    let core: HubCore

    func addRoutes(to router: Router<HubRequestContext>) {
        router.get("/v1/rules") { _, context in
            _ = try Self.require(.person, context)
            // Only where the rules run: a PostgreSQL hub judges nothing, and says so (not_on_this_store) to those
            // it lets read at all; the others are refused as on every route there.
            if (try? store) == nil {
                try await authorize(.readRecord, context)
                _ = try store
            }
            return try Self.encode(RuleInfo.all)
        }
        router.get("/v1/findings") { request, context in
            try await authorize(.readRecord, context)
            let named = request.uri.queryParameters["status"].map(String.init)
            let status = FindingStatus(parameter: named)
            guard named == nil || status != nil else {
                throw KirokuError(.badQuery, "status is open, acknowledged or resolved")
            }
            let ruleName = request.uri.queryParameters["rule"].map(String.init)
            let rule = ruleName.flatMap(RuleID.init(rawValue:))
            guard ruleName == nil || rule != nil else {
                throw KirokuError(.badQuery, "unknown rule; GET /v1/rules lists them")
            }
            return try Self.encode(try await self.list(status: status, rule: rule, context))
        }
        router.post("/v1/rules/rejudge") { request, context in
            let person = try await authorize(.actOnFindings, context)
            let body = try await Self.object(request)
            guard let day = body["day"] else {
                throw KirokuError(.badQuery, "the body names the day to judge again: {\"day\": \"YYYY-MM-DD\"}")
            }
            let result = try await store.rejudge(day: day, settings: configuration.rules, by: person.id)
            return try Self.encode(RejudgeAnswer(day: day, found: result.found, resolved: result.resolved))
        }
        for (path, status) in [("acknowledge", FindingStatus.acknowledged), ("resolve", .resolved)] {
            router.post("/v1/findings/:id/\(path)") { request, context in
                guard let id = context.parameters.get("id").flatMap({ Int64($0) }) else {
                    throw KirokuError(.badQuery, "the finding id is a number")
                }
                let body = try await Self.object(request)
                return try Self.encode(
                    try await self.act(on: id, status: status, reason: body["reason"] ?? "", context))
            }
        }
    }

    /// Findings, newest first, for those who read the whole record.
    func list(
        status: FindingStatus?, rule: RuleID?, id: Int64? = nil, rules: [RuleID]? = nil, seenSince: Int64? = nil,
        seenBefore: Int64? = nil,
        limit: Int = 10_000, _ context: HubRequestContext
    ) async throws -> [Finding] {
        try await authorize(.readRecord, context)
        return try await store.findings(
            status: status, rule: rule, id: id, rules: rules, seenSince: seenSince, seenBefore: seenBefore, limit: limit
        )
    }

    /// Acknowledges or resolves a finding as the caller, now, with their reason.
    func act(on id: Int64, status: FindingStatus, reason: String, _ context: HubRequestContext) async throws -> Finding
    {
        let person = try await authorize(.actOnFindings, context)
        return try await store.act(onFinding: id, status: status, reason: reason, by: person.id)
    }
}
