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
            try Self.encode(
                HubKeyAnswer(
                    key: self.key.publicKey.rawRepresentation.base64EncodedString(),
                    keyID: signingKeyID(self.key.publicKey),
                    overlap: self.overlapKeys.map {
                        .init(
                            key: $0.publicKey.rawRepresentation.base64EncodedString(), keyID: signingKeyID($0.publicKey)
                        )
                    }))
        }
        router.get("/v1/me") { _, context in
            let identity = try Self.require(.person, context)
            let labels = self.configuration.roleLabels
            if core.house == nil, let store = configuration.store {
                // A hub on PostgreSQL: what its configuration lets this person do (no people register there).
                let permissions = [Permission.readRecord, .cosign].filter { store.allows($0, identity.id) }
                return try Self.encode(
                    MeAnswer(
                        id: identity.id, status: permissions.isEmpty ? "not_named" : "configured",
                        permissions: permissions.map(\.description),
                        permissionsJapanese: permissions.map(\.japanese)))
            }
            let answer: MeAnswer
            switch try await self.store.staff(identity.id, labels: labels) {
            case .unenforced:
                answer = MeAnswer(id: identity.id, status: "unenforced")
            case .unknown:
                answer = MeAnswer(id: identity.id, status: "unknown")
            case .left(let day):
                answer = MeAnswer(id: identity.id, status: "left", left: day)
            case .staff(let staff):
                // In the same order in both languages, so that a client may show either.
                let permissions = staff.permissions.sorted { $0.description < $1.description }
                answer = MeAnswer(
                    id: identity.id, status: "staff", roles: staff.roles.map { labels.labels[$0]! },
                    permissions: permissions.map(\.description), permissionsJapanese: permissions.map(\.japanese))
            }
            return try Self.encode(answer)
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
