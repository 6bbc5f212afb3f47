import Hummingbird
import KirokuProtocol
import Logging
import ServiceLifecycle

import Foundation

/// Findings (PROTOCOL.md §9): listed, acknowledged and resolved by people, each action recorded.
extension Routes {
    func registerFindings(on router: Router<HubRequestContext>) {
        router.get("/v1/rules") { _, context in
            _ = try Self.require(.person, context)
            return try Self.encode(RuleInfo.all)
        }
        router.get("/v1/findings") { request, context in
            try await authorize(.readRecord, context)
            let status = request.uri.queryParameters["status"].map(String.init)
            guard status == nil || ["open", "acknowledged", "resolved"].contains(status!) else {
                throw KirokuError(.badQuery, "status is open, acknowledged or resolved")
            }
            let rule = request.uri.queryParameters["rule"].map(String.init)
            guard rule == nil || RuleInfo.named(rule!) != nil else {
                throw KirokuError(.badQuery, "unknown rule; GET /v1/rules lists them")
            }
            return try Self.encode(try await store.findings(status: status, rule: rule))
        }
        router.post("/v1/rules/rejudge") { request, context in
            let person = try await authorize(.actOnFindings, context)
            let body = try await Self.object(request)
            guard let day = body["day"] else { throw KirokuError(.badQuery, "the body names the day to judge again: {\"day\": \"YYYY-MM-DD\"}") }
            let result = try await store.rejudge(day: day, settings: configuration.rules, by: person.id)
            return Self.json(
                .object(["day": .string(day), "found": .integer(Int64(result.found)), "resolved": .integer(Int64(result.resolved))]))
        }
        for (path, status) in [("acknowledge", "acknowledged"), ("resolve", "resolved")] {
            router.post("/v1/findings/:id/\(path)") { request, context in
                let person = try await authorize(.actOnFindings, context)
                guard let id = context.parameters.get("id").flatMap({ Int64($0) }) else {
                    throw KirokuError(.badQuery, "the finding id is a number")
                }
                let body = try await Self.object(request)
                return try Self.encode(try await store.act(onFinding: id, status: status, reason: body["reason"] ?? "", by: person.id))
            }
        }
    }
}

/// Evaluates the rules as events arrive (polling the record every half second) and the time-driven
/// checks every minute.
struct RuleService: Service {
    let store: HubStore
    let settings: RuleSettings
    let logger: Logger

    func run() async throws {
        var lastSweep = ContinuousClock.now - .seconds(3600)
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            do {
                if ContinuousClock.now - lastSweep >= .seconds(60) {
                    try await store.evaluateRules(settings)
                    lastSweep = .now
                } else {
                    try await store.evaluatePendingRules(settings)
                }
            } catch is CancellationError {
                // Stopping (or the server failed to start): not a failure of this service.
            } catch {
                logger.error("rule evaluation failed; it is retried", metadata: ["kiroku.error": "\(error)"])
            }
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: .milliseconds(500)) }
        }
    }
}
