import ArgumentParser
import Foundation
import KirokuClient
import KirokuControl
import KirokuPKI
import KirokuProtocol

/// `kirokuctl contractor`: a 受託者's submissions under their own certificate (第25, 第26), and the city's
/// review of them.
struct Contractor: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Contractors (受託者): contracts, instructions, submissions of reports (第25, 第26) and their review by the city.",
        discussion: """
            A contractor submits with their own person certificate, for a contract of the contracts register that
            names them (column people):
              kirokuctl contractor submit --contract C-2026-01 --type site_audit --note "2026年度上期 実施状況報告" report.pdf
            The city (管理者, 運用管理者) accepts or returns it:
              kirokuctl contractor review 12 --return --reason "第3項の署名がない"
            A returned submission is submitted again with --previous 12.
            """,
        subcommands: [Contracts.self, Instructions.self, Submit.self, Submissions.self, Show.self, Fetch.self, Review.self],
        defaultSubcommand: Submissions.self)

    struct Contracts: KirokuCommand {
        static let configuration = CommandConfiguration(abstract: "The contracts you may see (a contractor: those that name you).")
        @OptionGroup var hubOptions: HubOptions

        func execute() async throws {
            let rows = try await hubOptions.withQueries { try await $0.contracts() }
            print(
                Render.table(
                    header: ["contract", "contractor", "scope", "from", "to", "audit every (days)", "people"],
                    rows: rows.map {
                        [$0["contract_id"], $0["contractor"], $0["scope"], $0["valid_from"], $0["valid_to"], $0["audit_cycle_days"], $0["people"]]
                            .map { $0 ?? "" }
                    }, rightAligned: [5]), terminator: "")
            print(Render.count(rows.count, en: "contract(s)", ja: "委託契約"))
        }
    }

    struct Instructions: KirokuCommand {
        static let configuration = CommandConfiguration(
            abstract: "The maintenance instructions (作業指示書, 第26) you may see (a contractor: those issued to your contractor).")
        @OptionGroup var hubOptions: HubOptions

        func execute() async throws {
            let rows = try await hubOptions.withQueries { try await $0.instructions() }
            print(
                Render.table(
                    header: ["instruction", "contractor", "equipment", "from", "to"],
                    rows: rows.map { [$0["instruction_id"], $0["contractor"], $0["subject"], $0["valid_from"], $0["valid_to"]].map { $0 ?? "" } }),
                terminator: "")
            print(Render.count(rows.count, en: "instruction(s)", ja: "作業指示書"))
        }
    }

    struct Submit: KirokuCommand {
        static let configuration = CommandConfiguration(
            abstract: "Submit files (PDF, PNG, JPEG, CSV) for a contract under your own certificate.",
            discussion: "Each file's SHA-256 is recorded in the log (contractor/submitted), so an evidence bundle proves what was submitted.")
        @OptionGroup var hubOptions: HubOptions
        @Option(help: "The contract (contracts register).") var contract: String
        @Option(help: "site_audit (第25), work_report (第26) or incident_report (第24⑸).") var type: String
        @Option(help: "The maintenance instruction a work report answers.") var instruction: String?
        @Option(help: "The returned submission this one replaces.") var previous: Int64?
        @Option(help: "What the submission is (required).") var note: String
        @Argument(help: "The files.") var files: [String]

        func execute() async throws {
            guard let kind = SubmissionType(rawValue: type) else {
                throw ValidationError("--type is \(SubmissionType.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            guard !files.isEmpty, files.count <= SubmissionRequest.maxFiles else {
                throw ValidationError("give 1 to \(SubmissionRequest.maxFiles) files")
            }
            var parts: [SubmissionRequest.File] = []
            for path in files {
                guard let data = FileManager.default.contents(atPath: path) else { throw KirokuError(.configuration, "cannot read \(path)") }
                // Checked here too, so that a wrong file is named before anything is sent.
                guard DocumentType.of([UInt8](data)) != nil else {
                    throw KirokuError(.unsupportedDocument, "\(path) is not a PDF, PNG, JPEG or CSV by its content")
                }
                parts.append(SubmissionRequest.File(name: URL(filePath: path).lastPathComponent, bytes: [UInt8](data)))
            }
            let request = SubmissionRequest(contract: contract, type: kind, instruction: instruction, note: note, previous: previous, files: parts)
            let submission = try await hubOptions.withQueries { try await $0.submit(request) }
            print("submission \(submission.id) recorded as \(submission.event) at \(Render.jst(submission.submittedAt))")
            for file in submission.files { print("  \(file.sha256)  \(file.size) bytes  \(file.type.rawValue)  \(file.name)") }
        }
    }

    struct Submissions: KirokuCommand {
        static let configuration = CommandConfiguration(abstract: "List submissions you may see, newest first.")
        @OptionGroup var hubOptions: HubOptions
        @Option(help: "submitted (awaiting review), accepted, returned or all.") var status = "all"

        func execute() async throws {
            let found = try await hubOptions.withQueries { try await $0.submissions(status: status == "all" ? nil : status) }
            print(
                Render.table(
                    header: ["id", "contract", "type", "instruction", "by", "at(JST)", "files", "status", "note"],
                    rows: found.map {
                        [
                            String($0.id), $0.contract, $0.type.rawValue, $0.instruction ?? "", $0.submittedBy, Render.jst($0.submittedAt),
                            String($0.files.count), $0.status, $0.note,
                        ]
                    }, rightAligned: [0, 6]), terminator: "")
            print(Render.count(found.count, en: "submission(s)", ja: "提出"))
        }
    }

    struct Show: KirokuCommand {
        static let configuration = CommandConfiguration(abstract: "One submission: its files with their SHA-256 and its reviews.")
        @OptionGroup var hubOptions: HubOptions
        @Argument(help: "The submission's number.") var id: Int64

        func execute() async throws {
            let s = try await hubOptions.withQueries { try await $0.submission(id) }
            print("submission \(s.id): \(s.type.label) for contract \(s.contract)\(s.instruction.map { ", instruction \($0)" } ?? "")")
            print("submitted by \(s.submittedBy) at \(Render.jst(s.submittedAt)); status \(s.status); in the log as \(s.event)")
            if let previous = s.previous { print("replaces returned submission \(previous)") }
            print("note: \(s.note)")
            for file in s.files { print("  \(file.sha256)  \(file.size) bytes  \(file.type.rawValue)  \(file.name)") }
            for review in s.reviews { print("  \(review.decision) by \(review.by) at \(Render.jst(review.at)): \(review.reason)") }
        }
    }

    struct Fetch: KirokuCommand {
        static let configuration = CommandConfiguration(
            abstract: "Download a submission's files, each checked against the SHA-256 the record holds.")
        @OptionGroup var hubOptions: HubOptions
        @Argument(help: "The submission's number.") var id: Int64
        @Option(help: "The folder to write the files to.") var out = "."

        func execute() async throws {
            try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
            try await hubOptions.withQueries { queries in
                let submission = try await queries.submission(id)
                for (index, file) in submission.files.enumerated() {
                    let bytes = try await queries.file(submission, file)
                    // Saved under a name of our own with the extension of what the file is by content (a
                    // contractor's 'report.bat' that is text is saved as .csv), never over an existing file.
                    let path = URL(filePath: out).appending(path: "\(submission.id)-\(index + 1).\(file.type.fileExtension)").path
                    try writeSecret(bytes, to: URL(filePath: path))
                    print("\(path): \(file.name.unicodeScalars.map { $0.properties.generalCategory == .control ? "?" : String($0) }.joined()) — SHA-256 \(file.sha256) as recorded in \(submission.event)")
                }
            }
        }
    }

    struct Review: KirokuCommand {
        static let configuration = CommandConfiguration(abstract: "Accept or return a submission (管理者, 運用管理者), saying why.")
        @OptionGroup var hubOptions: HubOptions
        @Argument(help: "The submission's number.") var id: Int64
        @Flag(name: .customLong("accept"), help: "Accept it.") var accept = false
        @Flag(name: .customLong("return"), help: "Return it to the contractor, who submits again.") var giveBack = false
        @Option(help: "Why (required; recorded with your name).") var reason: String

        func execute() async throws {
            guard accept != giveBack else { throw ValidationError("give one of --accept or --return") }
            let s = try await hubOptions.withQueries { try await $0.review(id, decision: accept ? "accept" : "return", reason: reason) }
            print("submission \(s.id) \(s.status)")
        }
    }
}
