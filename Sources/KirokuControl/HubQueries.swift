public import KirokuClient
public import KirokuProtocol

import Foundation

/// The people's side of the hub API (person certificates only).
public struct HubQueries: Sendable {
    let connection: HubConnection

    public init(connection: HubConnection) {
        self.connection = connection
    }

    /// One page of `GET /v1/events`.
    public func events(_ parameters: [String: String]) async throws -> EventPage {
        try await connection.get(EventPage.self, "/v1/events" + Self.queryString(parameters))
    }

    /// `GET /v1/agents`.
    public func agents() async throws -> [AgentHealth] {
        try await connection.get(AgentHealthList.self, "/v1/agents").agents
    }

    static func queryString(_ parameters: [String: String]) -> String {
        guard !parameters.isEmpty else { return "" }
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return "?" + parameters.sorted { $0.key < $1.key }.map { key, value in
            "\(key)=\(value.addingPercentEncoding(withAllowedCharacters: allowed) ?? value)"
        }.joined(separator: "&")
    }
}
