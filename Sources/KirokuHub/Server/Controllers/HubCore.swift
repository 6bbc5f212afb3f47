import Crypto
import Foundation
import Hummingbird
import KirokuProtocol
import NIOCore

/// What every controller shares: the store, the keys, the configuration and metrics, and the one place that
/// says who may do what (PROTOCOL.md §11). API routes and console pages call the same checks.
struct HubCore: Sendable {
    /// The record: events, agents, the Merkle log and its checkpoints (SQLite or PostgreSQL).
    let record: any RecordStore
    /// Everything else the hub keeps (people and the other registers, findings, submissions, holds…): on
    /// SQLite only in this version, so nil on a hub whose record is on PostgreSQL.
    let house: HubStore?
    let key: Curve25519.Signing.PrivateKey
    /// Previous keys still co-signing checkpoints during a rotation.
    let overlapKeys: [Curve25519.Signing.PrivateKey]
    let metrics: HubMetrics
    let configuration: HubConfiguration

    /// The SQLite store that keeps the registers, findings and the rest; on a PostgreSQL hub every route
    /// that needs them is refused with `not_on_this_store` (what the configuration's readers and cosigners may do
    /// there needs only the record).
    var store: HubStore {
        get throws(KirokuError) {
            guard let house else {
                throw KirokuError(
                    .notOnThisStore,
                    "this hub keeps the record on PostgreSQL, which in this version holds events, agents and the Merkle log only; people, registers, findings, reports, retention, submissions and the console's other pages are served by a hub on SQLite"
                )
            }
            return house
        }
    }

    /// The current key first, then those co-signing during a rotation.
    var signingKeys: [Curve25519.Signing.PrivateKey] { [key] + overlapKeys }

    /// One controller per resource; each adds its own routes. The console's pages come last and call the
    /// others' handlers.
    static func controllers(_ core: HubCore) throws -> [any HubController] {
        let findings = FindingController(core: core)
        let retention = RetentionController(core: core)
        let registers = RegisterController(core: core)
        let events = EventController(core: core)
        let agents = AgentController(core: core)
        let log = LogController(core: core)
        let submissions = SubmissionController(core: core)
        return [
            agents, events, PersonController(core: core), log, retention, findings, registers, submissions,
            ShutdownController(core: core),
            ManualController(core: core), ReviewController(core: core),
            try ConsoleController(
                core: core, events: events, agents: agents, findings: findings, log: log, retention: retention,
                registers: registers,
                submissions: submissions),
        ]
    }

    static func require(_ role: Identity.Role, _ context: HubRequestContext) throws -> Identity {
        guard let identity = context.identity else {
            throw KirokuError(.certificateRequired, "a client certificate is required")
        }
        guard identity.role == role else {
            throw KirokuError(
                .wrongRole, "\(identity.uri) may not use this endpoint; it is for \(role.rawValue) certificates")
        }
        if role == .agent && identity.id == AgentID.hub {
            throw KirokuError(
                .wrongRole, "the agent id '\(AgentID.hub)' is the hub's own chain; no agent certificate may use it")
        }
        return identity
    }

    /// A person allowed `permission` by the people register (PROTOCOL.md §11); refused with
    /// `not_permitted` otherwise. While the register is empty (a new hub), every person is allowed.
    @discardableResult
    func authorize(_ permission: Permission, _ context: HubRequestContext) async throws -> Identity {
        let identity = try Self.require(.person, context)
        // With the record on PostgreSQL there is no people register to ask: only the cosigners the hub's
        // configuration names may hand in cosignatures, and only its readers read the whole record. A person it
        // names nowhere is refused everything (not_permitted); what a named person asks beyond that needs what
        // this hub does not keep (not_on_this_store, from `store` below).
        if house == nil, let store = configuration.store {
            let named = store.readers.contains(identity.id) || store.cosigners.contains(identity.id)
            if permission == .cosign || permission == .readRecord || !named {
                guard store.allows(permission, identity.id) else {
                    let (list, who) =
                        permission == .cosign
                        ? ("cosigners", "the 会議's witnesses") : ("readers", "those who read the whole record")
                    throw KirokuError(
                        .notPermitted,
                        "\(identity.id) is not among the \(list) this hub's configuration names (store.\(list), or KIROKU_HUB_STORE_\(list.uppercased())); the 管理者 adds \(who) there"
                    )
                }
                return identity
            }
        }
        try permit(permission, identity, try await store.staff(identity.id, labels: configuration.roleLabels))
        return identity
    }

    /// Whether what the people register says of `identity` allows `permission`; throws `not_permitted` if not.
    func permit(_ permission: Permission, _ identity: Identity, _ lookup: StaffLookup) throws {
        switch lookup {
        case .unenforced:
            return
        case .staff(let staff) where staff.permissions.contains(permission):
            return
        case .staff(let staff):
            let roles = staff.roles.map { configuration.roleLabels.labels[$0]! }.joined(separator: "・")
            throw KirokuError(.notPermitted, "\(identity.id) (\(roles)) may not \(permission)")
        case .unknown:
            throw KirokuError(
                .notPermitted, "\(identity.id) is not in the people register; the 管理者 adds people and their roles")
        case .left(let day):
            throw KirokuError(
                .notPermitted,
                "\(identity.id) left on \(day) (people register); their certificate no longer opens the record")
        }
    }

    /// Who may read events: the whole record, or only their own (operators, contractors; PROTOCOL.md §11).
    /// Returns the actor every query of this person is limited to, or nil for the whole record.
    func readerLimit(_ context: HubRequestContext) async throws -> String? {
        let identity = try Self.require(.person, context)
        if house == nil {
            // No people register to say who reads only their own record: the configuration's readers read it
            // whole, everyone else nothing.
            try await authorize(.readRecord, context)
            return nil
        }
        let lookup = try await store.staff(identity.id, labels: configuration.roleLabels)
        if case .staff(let staff) = lookup, !staff.permissions.contains(.readRecord),
            staff.permissions.contains(.ownRecord)
        {
            return identity.id
        }
        try permit(.readRecord, identity, lookup)
        return nil
    }

    /// Applies ``readerLimit(_:)`` to a query's parameters: an operator asking for someone else is refused.
    func limitToReader(_ parameters: inout [String: String], _ context: HubRequestContext) async throws {
        guard let own = try await readerLimit(context) else { return }
        // Their own id exactly: a prefix or part of it would reach colleagues whose ids begin the same.
        if let match = parameters["actor_match"], match != EventQuery.Match.exact.rawValue {
            throw KirokuError(
                .notPermitted,
                "\(own) may read only their own record; actor_match \(match.prefix(20)) is for those who read the whole record"
            )
        }
        if let asked = parameters["actor"], asked != own {
            throw KirokuError(.notPermitted, "\(own) may read only their own record (actor \(own)), not \(asked)'s")
        }
        parameters["actor"] = own
    }

}

/// The routes of one resource (agents, events, findings…), their handlers typed so that the console's pages
/// call the same code the API does.
protocol HubController: Sendable {
    var core: HubCore { get }
    func addRoutes(to router: Router<HubRequestContext>)
}

extension HubController {
    var store: HubStore { get throws(KirokuError) { try core.store } }
    var record: any RecordStore { core.record }
    var configuration: HubConfiguration { core.configuration }
    var metrics: HubMetrics { core.metrics }
    var key: Curve25519.Signing.PrivateKey { core.key }
    var overlapKeys: [Curve25519.Signing.PrivateKey] { core.overlapKeys }
    var signingKeys: [Curve25519.Signing.PrivateKey] { core.signingKeys }

    @discardableResult
    func authorize(_ permission: Permission, _ context: HubRequestContext) async throws -> Identity {
        try await core.authorize(permission, context)
    }

    func readerLimit(_ context: HubRequestContext) async throws -> String? { try await core.readerLimit(context) }

    func limitToReader(_ parameters: inout [String: String], _ context: HubRequestContext) async throws {
        try await core.limitToReader(&parameters, context)
    }

    static func require(_ role: Identity.Role, _ context: HubRequestContext) throws -> Identity {
        try HubCore.require(role, context)
    }

    static func anyone(_ context: HubRequestContext) throws -> Identity {
        guard let identity = context.identity else {
            throw KirokuError(.certificateRequired, "a client certificate is required")
        }
        return identity
    }

    static func integer(_ request: Request, _ name: String) throws -> Int64 {
        guard let text = request.uri.queryParameters[Substring(name)] else {
            throw KirokuError(.badQuery, "parameter '\(name)' is required")
        }
        guard let value = Int64(String(text)), value >= 0 else {
            throw KirokuError(.badQuery, "\(name) must be a whole number from 0, not '\(text.prefix(30))'")
        }
        return value
    }

    static func text(_ text: String) -> Response {
        Response(
            status: .ok, headers: [.contentType: "text/plain; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(bytes: Array(text.utf8))))
    }

    /// A small JSON object of strings (holds, findings, re-judging). U+0000 is refused, as in events: the
    /// texts are stored, and SQLite's readers would cut them short.
    static func object(_ request: Request) async throws -> [String: String] {
        var request = request
        let body: ByteBuffer
        do {
            body = try await request.collectBody(upTo: 16 * 1024)
        } catch is NIOTooManyBytesError {
            throw KirokuError(.batchTooLarge, "the body is over 16 KiB")
        }
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

    static func encode<T: Encodable>(_ value: T) throws -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let data = try encoder.encode(value)
        return Response(
            status: .ok, headers: [.contentType: "application/json; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    static func json(_ value: JSONValue) -> Response {
        Response(
            status: .ok, headers: [.contentType: "application/json; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(bytes: CanonicalJSON.encode(value))))
    }
}
