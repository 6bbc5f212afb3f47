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
        abstract: localized(
            "受託者：契約、作業指示書、報告の提出（第25、第26）と市による確認。",
            en:
                "Contractors (受託者): contracts, instructions, submissions of reports (第25, 第26) and their review by the city."
        ),
        discussion: localized(
            """
            受託者は自分の職員証明書で、自分の名がある（people 列）委託契約について提出する：
              kirokuctl contractor submit --contract C-2026-01 --type site_audit --note "2026年度上期 実施状況報告" report.pdf
            市（管理者・運用管理者）が受理または差し戻す：
              kirokuctl contractor review 12 --return --reason "第3項の署名がない"
            差し戻された提出物は --previous 12 を付けて再提出する。
            """,
            en: """
                A contractor submits with their own person certificate, for a contract of the contracts register that
                names them (column people):
                  kirokuctl contractor submit --contract C-2026-01 --type site_audit --note "2026年度上期 実施状況報告" report.pdf
                The city (管理者, 運用管理者) accepts or returns it:
                  kirokuctl contractor review 12 --return --reason "第3項の署名がない"
                A returned submission is submitted again with --previous 12.
                """),
        subcommands: [
            Contracts.self, Instructions.self, Submit.self, Submissions.self, Show.self, Fetch.self, Review.self,
        ],
        defaultSubcommand: Submissions.self)

    struct Contracts: KirokuCommand {
        static let configuration = CommandConfiguration(
            abstract: localized(
                "見ることのできる契約（受託者はあなたの名がある契約）。", en: "The contracts you may see (a contractor: those that name you)."))
        @OptionGroup var hubOptions: HubOptions

        func execute() async throws {
            let rows = try await hubOptions.withQueries { try await $0.contracts() }
            print(
                Render.table(
                    header: ["contract", "contractor", "scope", "from", "to", "audit every (days)", "people"],
                    rows: rows.map {
                        [
                            $0["contract_id"], $0["contractor"], $0["scope"], $0["valid_from"], $0["valid_to"],
                            $0["audit_cycle_days"], $0["people"],
                        ]
                        .map { $0 ?? "" }
                    }, rightAligned: [5]), terminator: "")
            print(Render.count(rows.count, en: "contract(s)", ja: "委託契約"))
        }
    }

    struct Instructions: KirokuCommand {
        static let configuration = CommandConfiguration(
            abstract: localized(
                "見ることのできる作業指示書（第26）（受託者は自社あてのもの）。",
                en:
                    "The maintenance instructions (作業指示書, 第26) you may see (a contractor: those issued to your contractor)."
            ))
        @OptionGroup var hubOptions: HubOptions

        func execute() async throws {
            let rows = try await hubOptions.withQueries { try await $0.instructions() }
            print(
                Render.table(
                    header: ["instruction", "contractor", "equipment", "from", "to"],
                    rows: rows.map {
                        [$0["instruction_id"], $0["contractor"], $0["subject"], $0["valid_from"], $0["valid_to"]].map {
                            $0 ?? ""
                        }
                    }),
                terminator: "")
            print(Render.count(rows.count, en: "instruction(s)", ja: "作業指示書"))
        }
    }

    struct Submit: KirokuCommand {
        static let configuration = CommandConfiguration(
            abstract: localized(
                "自分の証明書で、契約についてファイル（PDF、PNG、JPEG、CSV）を提出する。",
                en: "Submit files (PDF, PNG, JPEG, CSV) for a contract under your own certificate."),
            discussion: localized(
                "各ファイルの SHA-256 がログ（contractor/submitted）に記録されるので、何が提出されたかを証拠バンドルで証明できる。",
                en:
                    "Each file's SHA-256 is recorded in the log (contractor/submitted), so an evidence bundle proves what was submitted."
            ))
        @OptionGroup var hubOptions: HubOptions
        @Option(help: .localized("契約（委託契約の台帳）。", en: "The contract (contracts register).")) var contract: String
        @Option(
            help: .localized(
                "site_audit（第25 監査報告）、work_report（第26 作業報告）または incident_report（第24⑸ 事故報告）。",
                en: "site_audit (第25), work_report (第26) or incident_report (第24⑸).")) var type: String
        @Option(help: .localized("作業報告が答える作業指示書。", en: "The maintenance instruction a work report answers."))
        var instruction: String?
        @Option(help: .localized("この提出で置き換える差戻し済みの提出物。", en: "The returned submission this one replaces."))
        var previous: Int64?
        @Option(help: .localized("提出物の内容（必須）。", en: "What the submission is (required).")) var note: String
        @Argument(help: .localized("ファイル。", en: "The files.")) var files: [String]

        func execute() async throws {
            guard let kind = SubmissionType(rawValue: type) else {
                let types = SubmissionType.allCases.map(\.rawValue).joined(separator: ", ")
                throw ValidationError(localized("--type は \(types) のいずれか", en: "--type is \(types)"))
            }
            guard !files.isEmpty, files.count <= SubmissionRequest.maxFiles else {
                throw ValidationError(
                    localized(
                        "ファイルは 1〜\(SubmissionRequest.maxFiles) 個", en: "give 1 to \(SubmissionRequest.maxFiles) files"))
            }
            var parts: [SubmissionRequest.File] = []
            for path in files {
                guard let data = FileManager.default.contents(atPath: path) else {
                    throw KirokuError(.configuration, "cannot read \(path)")
                }
                // Checked here too, so that a wrong file is named before anything is sent.
                guard DocumentType.of([UInt8](data)) != nil else {
                    throw KirokuError(.unsupportedDocument, "\(path) is not a PDF, PNG, JPEG or CSV by its content")
                }
                parts.append(SubmissionRequest.File(name: URL(filePath: path).lastPathComponent, bytes: [UInt8](data)))
            }
            let request = SubmissionRequest(
                contract: contract, type: kind, instruction: instruction, note: note, previous: previous, files: parts)
            let submission = try await hubOptions.withQueries { try await $0.submit(request) }
            print(
                localized(
                    "提出 \(submission.id) を \(Render.jst(submission.submittedAt)) に \(submission.event) として記録しました",
                    en:
                        "submission \(submission.id) recorded as \(submission.event) at \(Render.jst(submission.submittedAt))"
                ))
            for file in submission.files { print(Self.line(file)) }
        }

        /// One file of a submission: its hash, size, type by content and the name it was sent under.
        static func line(_ file: SubmittedFile) -> String {
            "  \(file.sha256)  \(file.size) \(localized("バイト", en: "bytes"))  \(file.type.rawValue)  \(file.name)"
        }
    }

    struct Submissions: KirokuCommand {
        static let configuration = CommandConfiguration(
            abstract: localized("見ることのできる提出物を新しい順に表示する。", en: "List submissions you may see, newest first."))
        @OptionGroup var hubOptions: HubOptions
        @Option(
            help: .localized(
                "submitted（確認待ち）、accepted（受理）、returned（差戻し）または all（すべて）。",
                en: "submitted (awaiting review), accepted, returned or all.")) var status = "all"

        func execute() async throws {
            let found = try await hubOptions.withQueries {
                try await $0.submissions(status: status == "all" ? nil : status)
            }
            print(
                Render.table(
                    header: ["id", "contract", "type", "instruction", "by", "at(JST)", "files", "status", "note"],
                    rows: found.map {
                        [
                            String($0.id), $0.contract, $0.type.rawValue, $0.instruction ?? "", $0.submittedBy,
                            Render.jst($0.submittedAt),
                            String($0.files.count), $0.status, $0.note,
                        ]
                    }, rightAligned: [0, 6]), terminator: "")
            print(Render.count(found.count, en: "submission(s)", ja: "提出"))
        }
    }

    struct Show: KirokuCommand {
        static let configuration = CommandConfiguration(
            abstract: localized(
                "提出物1件：ファイルとその SHA-256、確認の履歴。", en: "One submission: its files with their SHA-256 and its reviews."))
        @OptionGroup var hubOptions: HubOptions
        @Argument(help: .localized("提出物の番号。", en: "The submission's number.")) var id: Int64

        func execute() async throws {
            let s = try await hubOptions.withQueries { try await $0.submission(id) }
            let instruction = s.instruction.map { localized("、作業指示書 \($0)", en: ", instruction \($0)") } ?? ""
            print(
                localized(
                    "提出 \(s.id)：契約 \(s.contract) の\(s.type.label)\(instruction)",
                    en: "submission \(s.id): \(s.type.label) for contract \(s.contract)\(instruction)"))
            print(
                localized(
                    "提出者 \(s.submittedBy)、\(Render.jst(s.submittedAt))。状態 \(Self.status(s.status))。ログでは \(s.event)",
                    en:
                        "submitted by \(s.submittedBy) at \(Render.jst(s.submittedAt)); status \(s.status); in the log as \(s.event)"
                ))
            if let previous = s.previous {
                print(localized("差し戻された提出 \(previous) を置き換える", en: "replaces returned submission \(previous)"))
            }
            print(localized("内容：\(s.note)", en: "note: \(s.note)"))
            for file in s.files { print(Submit.line(file)) }
            for review in s.reviews {
                print(
                    localized(
                        "  \(Self.status(review.decision))　\(review.by)　\(Render.jst(review.at))：\(review.reason)",
                        en: "  \(review.decision) by \(review.by) at \(Render.jst(review.at)): \(review.reason)"))
            }
        }

        /// A submission's status as the city says it.
        static func status(_ status: String) -> String {
            guard prefersJapanese else { return status }
            return ["submitted": "確認待ち", "accepted": "受理", "returned": "差戻し", "accept": "受理", "return": "差戻し"][status]
                ?? status
        }
    }

    struct Fetch: KirokuCommand {
        static let configuration = CommandConfiguration(
            abstract: localized(
                "提出物のファイルをダウンロードする。各ファイルは記録の SHA-256 と照合される。",
                en: "Download a submission's files, each checked against the SHA-256 the record holds."))
        @OptionGroup var hubOptions: HubOptions
        @Argument(help: .localized("提出物の番号。", en: "The submission's number.")) var id: Int64
        @Option(help: .localized("ファイルを書き出すフォルダ。", en: "The folder to write the files to.")) var out = "."

        func execute() async throws {
            try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
            try await hubOptions.withQueries { queries in
                let submission = try await queries.submission(id)
                for (index, file) in submission.files.enumerated() {
                    let bytes = try await queries.file(submission, file)
                    // Saved under a name of our own with the extension of what the file is by content (a
                    // contractor's 'report.bat' that is text is saved as .csv), never over an existing file.
                    let path = URL(filePath: out).appending(
                        path: "\(submission.id)-\(index + 1).\(file.type.fileExtension)"
                    ).path
                    try writeSecret(bytes, to: URL(filePath: path))
                    let name = file.name.unicodeScalars.map {
                        $0.properties.generalCategory == .control ? "?" : String($0)
                    }.joined()
                    print(
                        localized(
                            "\(path)：\(name) — SHA-256 \(file.sha256)（\(submission.event) の記録どおり）",
                            en: "\(path): \(name) — SHA-256 \(file.sha256) as recorded in \(submission.event)"))
                }
            }
        }
    }

    struct Review: KirokuCommand {
        static let configuration = CommandConfiguration(
            abstract: localized(
                "提出物を受理または差戻しする（管理者・運用管理者）。理由を添える。", en: "Accept or return a submission (管理者, 運用管理者), saying why."))
        @OptionGroup var hubOptions: HubOptions
        @Argument(help: .localized("提出物の番号。", en: "The submission's number.")) var id: Int64
        @Flag(name: .customLong("accept"), help: .localized("受理する。", en: "Accept it.")) var accept = false
        @Flag(
            name: .customLong("return"),
            help: .localized("受託者に差し戻す（受託者が再提出する）。", en: "Return it to the contractor, who submits again."))
        var giveBack = false
        @Option(help: .localized("理由（必須。あなたの名前とともに記録される）。", en: "Why (required; recorded with your name).")) var reason:
            String

        func execute() async throws {
            guard accept != giveBack else {
                throw ValidationError(
                    localized("--accept か --return のどちらか一方を指定してください", en: "give one of --accept or --return"))
            }
            let s = try await hubOptions.withQueries {
                try await $0.review(id, decision: accept ? "accept" : "return", reason: reason)
            }
            print(localized("提出 \(s.id)：\(Show.status(s.status))", en: "submission \(s.id) \(s.status)"))
        }
    }
}
