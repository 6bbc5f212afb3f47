import Hummingbird
import KirokuProtocol
import Logging
import NIOCore
import ServiceLifecycle

import Foundation

/// Retention and legal holds (PROTOCOL.md §8): read by those who read the record, changed by the 管理者
/// (and 統括者, 副統括者; PROTOCOL.md §11). Every change is also a `record` event in the log.
extension Routes {
    func registerRetention(on router: Router<HubRequestContext>) {
        router.get("/v1/holds") { _, context in
            try await authorize(.readRecord, context)
            return try Self.encode(try await store.holds())
        }
        router.post("/v1/holds") { request, context in
            let person = try await authorize(.manageRetention, context)
            let body = try await Self.object(request)
            func time(_ name: String) throws -> Timestamp? {
                guard let text = body[name] else { return nil }
                guard let time = Timestamp(rfc3339: text) else {
                    throw KirokuError(.badQuery, "\(name) must be RFC 3339 with milliseconds")
                }
                return time
            }
            let hold = try await store.placeHold(
                subject: body["subject"], actor: body["actor"], agent: body["agent"], from: try time("from"),
                to: try time("to"), reason: body["reason"] ?? "", by: person.id)
            return try Self.encode(hold)
        }
        router.post("/v1/holds/:id/lift") { request, context in
            let person = try await authorize(.manageRetention, context)
            guard let id = context.parameters.get("id").flatMap({ Int64($0) }) else {
                throw KirokuError(.badQuery, "the hold id is a number")
            }
            let body = try await Self.object(request)
            return try Self.encode(try await store.liftHold(id: id, reason: body["reason"] ?? "", by: person.id))
        }
        router.get("/v1/retention") { _, context in
            try await authorize(.readRecord, context)
            return try Self.encode(configuration.retention)
        }
        router.post("/v1/retention/purge") { request, context in
            let person = try await authorize(.manageRetention, context)
            let dryRun = request.uri.queryParameters["dry_run"].map { $0 == "1" || $0 == "true" } ?? false
            return try Self.encode(try await store.purge(policy: configuration.retention, by: person.id, dryRun: dryRun))
        }
    }

    /// A small JSON object of strings (holds, findings, re-judging). U+0000 is refused, as in events: the
    /// texts are stored, and SQLite's readers would cut them short.
    static func object(_ request: Request) async throws -> [String: String] {
        var request = request
        let body = try await request.collectBody(upTo: 16 * 1024)
        guard case .object(let members) = try JSONParser.parse(body.readableBytesView) else {
            throw KirokuError(.malformedRequest, "the body must be a JSON object")
        }
        var out: [String: String] = [:]
        for (name, value) in members {
            guard case .string(let text) = value else {
                throw KirokuError(.malformedRequest, "'\(name.prefix(40))' must be a string")
            }
            guard !text.utf8.contains(0), !name.utf8.contains(0) else {
                throw KirokuError(.malformedRequest, "'\(name.prefix(40))' contains U+0000")
            }
            out[name] = text
        }
        return out
    }
}

/// Runs the purge every `interval` (daily by default), as the hub itself.
struct PurgeService: Service {
    let store: HubStore
    let policy: RetentionPolicy
    let interval: Duration
    let logger: Logger

    func run() async throws {
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            do {
                let report = try await store.purge(policy: policy, by: "kiroku-hub")
                let purged = report.lines.reduce(0) { $0 + $1.purged }
                if purged > 0 {
                    logger.notice("retention purge", metadata: ["kiroku.purged": "\(purged)"])
                }
            } catch is CancellationError {
                // Stopping (or the server failed to start): not a failure of this service.
            } catch {
                logger.error("the retention purge failed; it runs again later", metadata: ["kiroku.error": "\(error)"])
            }
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
        }
    }
}
