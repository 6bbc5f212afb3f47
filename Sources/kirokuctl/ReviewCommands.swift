import ArgumentParser
import Foundation
import KirokuControl
import KirokuProtocol

/// `kirokuctl review`: the 点検 of the record (第20②), recorded in the log as `record/reviewed`.
struct Review: KirokuCommand {
    static let configuration = CommandConfiguration(
        abstract: localized(
            "記録の点検（第20②）：この日までの記録を点検したことを記録する。--list で点検の履歴。",
            en: "The 点検 of the record (第20②): record that you reviewed it through a day; --list shows the reviews."),
        discussion: localized("例：", en: "Example: ") + "kirokuctl review --through 2026/11/30 --note \"11月分 異常なし\"")
    @OptionGroup var hubOptions: HubOptions
    @Option(
        help: .localized(
            "この日まで点検した（2026/11/30、令和8年11月30日。今日まで）。",
            en: "The last day reviewed (2026/11/30, 令和8年11月30日; at most today)."))
    var through: String?
    @Option(help: .localized("所見や気づいたこと（1行）。", en: "What you found or noted (one line).")) var note = ""
    @Flag(help: .localized("点検の履歴を新しい順に表示する。", en: "List the reviews, newest first.")) var list = false

    func execute() async throws {
        if list {
            guard through == nil else {
                throw ValidationError(localized("--list と --through は同時に使えない", en: "--list goes without --through"))
            }
            let all = try await hubOptions.withQueries { try await $0.reviews() }
            print(
                Render.table(
                    header: ["through", "by", "at(JST)", "note"],
                    rows: all.map { [$0.through, $0.by, Render.jst($0.at), $0.note] }),
                terminator: "")
            print(Render.count(all.count, en: "review(s)", ja: "点検"))
            return
        }
        guard let through else {
            throw ValidationError(
                localized("--through で点検した最後の日を指定する", en: "give --through, the last day you reviewed"))
        }
        let made = try await hubOptions.withQueries { try await $0.review(through: through, note: note) }
        print(
            localized(
                "\(made.through) までの点検を \(made.event) として記録しました（\(made.by)）",
                en: "review through \(made.through) recorded as \(made.event) (\(made.by))"))
    }
}
