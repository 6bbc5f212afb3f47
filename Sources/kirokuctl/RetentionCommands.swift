import ArgumentParser
import Crypto
import Foundation
import KirokuClient
import KirokuControl
import KirokuPKI
import KirokuProtocol

/// `kirokuctl holds`: legal holds for investigations (第21).
struct Holds: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Legal holds (第21): events they match are never purged while they stand.",
        subcommands: [List.self, Place.self, Lift.self])

    static func show(_ holds: [LegalHold]) -> String {
        Render.table(
            header: ["id", "subject", "actor", "agent", "from", "to", "reason", "placed by", "placed", "lifted"],
            rows: holds.map { hold in
                [
                    String(hold.id), hold.subject ?? "-", hold.actor ?? "-", hold.agent ?? "-", hold.from ?? "-", hold.to ?? "-",
                    hold.reason, hold.placedBy, hold.placedAt,
                    hold.liftedAt.map { "\($0) by \(hold.liftedBy ?? "?"): \(hold.liftReason ?? "")" } ?? "standing",
                ]
            }, rightAligned: [0])
    }

    struct List: KirokuCommand {
        static let configuration = CommandConfiguration(abstract: "List holds, standing and lifted.")
        @OptionGroup var hubOptions: HubOptions
        func execute() async throws {
            print(Holds.show(try await hubOptions.withQueries { try await $0.holds() }), terminator: "")
        }
    }

    struct Place: KirokuCommand {
        static let configuration = CommandConfiguration(
            abstract: "Place a hold on every event matching all the given criteria (at least one).")
        @OptionGroup var hubOptions: HubOptions
        @Option(help: "Events about this subject.") var subject: String?
        @Option(help: "Events by this actor.") var actor: String?
        @Option(help: "Events from this agent.") var agent: String?
        @Option(help: "From this time (inclusive).") var from: String?
        @Option(help: "Up to this time (exclusive).") var to: String?
        @Option(help: "Why: the investigation and who asked for it (required).") var reason: String

        func execute() async throws {
            var criteria: [String: String] = [:]
            if let subject { criteria["subject"] = subject }
            if let actor { criteria["actor"] = actor }
            if let agent { criteria["agent"] = agent }
            if let from { criteria["from"] = try Query.time(from, "--from") }
            if let to { criteria["to"] = try Query.time(to, "--to") }
            guard !criteria.isEmpty else {
                throw KirokuError(.badQuery, "give at least one of --subject, --actor, --agent, --from, --to")
            }
            let hold = try await hubOptions.withQueries { try await $0.placeHold(criteria, reason: reason) }
            print("hold \(hold.id) placed")
            print(Holds.show([hold]), terminator: "")
        }
    }

    struct Lift: KirokuCommand {
        static let configuration = CommandConfiguration(abstract: "Lift a hold (its events may then be purged).")
        @OptionGroup var hubOptions: HubOptions
        @Argument(help: "The hold's id.") var id: Int64
        @Option(help: "Why it is lifted (required).") var reason: String

        func execute() async throws {
            let hold = try await hubOptions.withQueries { try await $0.liftHold(id: id, reason: reason) }
            print("hold \(hold.id) lifted")
        }
    }
}

/// `kirokuctl retention`: run or preview the purge.
struct Retention: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Retention: purge the content of events past their kind's period (the hub also does it daily).",
        subcommands: [Purge.self])

    struct Purge: KirokuCommand {
        static let configuration = CommandConfiguration(abstract: "Purge now, or with --dry-run only count.")
        @OptionGroup var hubOptions: HubOptions
        @Flag(help: "Only count what would be purged.") var dryRun = false

        func execute() async throws {
            let report = try await hubOptions.withQueries { try await $0.purge(dryRun: dryRun) }
            print(
                Render.table(
                    header: ["kind", "policy", "cutoff", dryRun ? "would purge" : "purged", "held"],
                    rows: report.lines.map { [$0.kind, $0.policy, $0.cutoff, String($0.purged), String($0.held)] },
                    rightAligned: [3, 4]), terminator: "")
            let total = report.lines.reduce(0) { $0 + $1.purged }
            print(dryRun ? "\(total) event(s) would be purged (dry run: nothing changed)" : "\(total) event(s) purged; the purge is recorded in the log")
        }
    }
}
