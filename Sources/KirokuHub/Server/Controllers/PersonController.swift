import Crypto
import Foundation
import Hummingbird
import KirokuProtocol
import NIOCore

/// Who is asking and what they may do, the hub's receipt key, and the metrics.
struct PersonController: HubController {
    let core: HubCore

    func addRoutes(to router: Router<HubRequestContext>) {
        router.get("/v1/hub/key") { _, _ in
            Self.json(
                .object([
                    "algorithm": .string("ed25519"),
                    "key": .string(self.key.publicKey.rawRepresentation.base64EncodedString()),
                    "key_id": .string(signingKeyID(self.key.publicKey)),
                    "overlap": .array(
                        self.overlapKeys.map {
                            .object([
                                "key": .string($0.publicKey.rawRepresentation.base64EncodedString()),
                                "key_id": .string(signingKeyID($0.publicKey)),
                            ])
                        }),
                ]))
        }
        router.get("/v1/me") { _, context in
            let identity = try Self.require(.person, context)
            let labels = self.configuration.roleLabels
            var answer: [String: JSONValue] = ["id": .string(identity.id)]
            switch try await self.store.staff(identity.id, labels: labels) {
            case .unenforced:
                answer["status"] = .string("unenforced")
            case .unknown:
                answer["status"] = .string("unknown")
            case .left(let day):
                answer["status"] = .string("left")
                answer["left"] = .string(day)
            case .staff(let staff):
                answer["status"] = .string("staff")
                answer["roles"] = .array(staff.roles.map { .string(labels.labels[$0]!) })
                // In the same order in both languages, so that a client may show either.
                let permissions = staff.permissions.sorted { $0.description < $1.description }
                answer["permissions"] = .array(permissions.map { .string($0.description) })
                answer["permissions_ja"] = .array(permissions.map { .string($0.japanese) })
            }
            return Self.json(.object(answer))
        }
        router.get("/metrics") { _, context in
            try await self.authorize(.readRecord, context)
            // Open findings by severity and article, read from the record at each scrape (zeros included, so
            // that an alert rule sees a series go to zero rather than vanish).
            var open: [String: Int] = [:]
            for (rule, count) in try await store.openFindingCounts() {
                guard let info = RuleInfo.named(rule) else { continue }
                open["\(info.severity)|\(info.article)", default: 0] += count
            }
            var text =
                "# HELP kiroku_findings_open Open findings (not acknowledged or resolved), by severity and article of the standard\n"
            text += "# TYPE kiroku_findings_open gauge\n"
            for key in Set(RuleInfo.all.map { "\($0.severity)|\($0.article)" }).sorted() {
                let parts = key.split(separator: "|")
                text += "kiroku_findings_open{severity=\"\(parts[0])\",article=\"\(parts[1])\"} \(open[key] ?? 0)\n"
            }
            return Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
                body: .init(byteBuffer: ByteBuffer(bytes: self.metrics.render() + Array(text.utf8))))
        }
    }
}
