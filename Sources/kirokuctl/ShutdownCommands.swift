import ArgumentParser
import Foundation
import KirokuClient
import KirokuControl
import KirokuProtocol

/// `kirokuctl shutdowns`: shutdowns declared in advance (第30, planned maintenance), so that the terminals
/// they name are not taken for lost.
struct Shutdowns: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Shutdowns declared in advance (第30, maintenance, planned power cuts): the terminals are quiet on purpose.",
        subcommands: [Declare.self, List.self], defaultSubcommand: List.self)

    struct Declare: KirokuCommand {
        static let configuration = CommandConfiguration(
            abstract: "Declare a shutdown (管理者, 運用管理者); recorded as record/shutdown_declared.",
            discussion: "Example: kirokuctl shutdowns declare --agents counter-01,counter-02 --from \"2026-12-05 18:00\" --to \"2026-12-06 12:00\" --reason \"電源設備点検 (管理者指示)\"")
        @OptionGroup var hubOptions: HubOptions
        @Option(help: "Agent ids, comma-separated, or * for every terminal.") var agents: String
        @Option(help: "From (JST, as people type it: 2026-12-05 18:00, 令和8年12月5日 18:00).") var from: String
        @Option(help: "To (JST).") var to: String
        @Option(help: "Why, on whose instruction (required).") var reason: String

        func execute() async throws {
            let declared = try await hubOptions.withQueries {
                try await $0.declareShutdown(agents: agents.split(separator: ",").map(String.init), from: from, to: to, reason: reason)
            }
            print("shutdown \(declared.id): \(declared.agents.joined(separator: ", ")) from \(Render.jst(declared.from)) to \(Render.jst(declared.to))")
        }
    }

    struct List: KirokuCommand {
        static let configuration = CommandConfiguration(abstract: "List declared shutdowns, newest first.")
        @OptionGroup var hubOptions: HubOptions

        func execute() async throws {
            let all = try await hubOptions.withQueries { try await $0.shutdowns() }
            print(
                Render.table(
                    header: ["id", "agents", "from(JST)", "to(JST)", "by", "reason"],
                    rows: all.map { [String($0.id), $0.agents.joined(separator: ","), Render.jst($0.from), Render.jst($0.to), $0.declaredBy, $0.reason] },
                    rightAligned: [0]), terminator: "")
            print("\(all.count) shutdown(s)")
        }
    }
}
