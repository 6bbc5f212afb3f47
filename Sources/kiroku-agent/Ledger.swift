import ArgumentParser
import Foundation
import KirokuAgent
import KirokuProtocol

/// `kiroku-agent ledger`: the paper ledgers people still fill in, as one command each, so that the
/// 入退室管理簿, the 操作識別カード issue book and the 住基カード ledger are journalled with the fields the
/// rules and the 会議 need (PROTOCOL.md §2).
struct Ledger: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: localized(
            "紙の管理簿の記入：入退室、操作識別カード、住基カードの在庫と廃棄、媒体の持出しと返却。",
            en:
                "Paper-ledger entries: room entries and exits, operator cards, 住基カード stock and destruction, media taken out and returned."
        ),
        subcommands: [
            RoomEntry.self, RoomExit.self, CardIssue.self, CardReturn.self, CardRevoke.self, CardLost.self,
            StockIn.self,
            Destroy.self, MediaOut.self, MediaIn.self,
        ])

    /// Journals one ledger entry and prints its seq; exits 0 only once it is durable.
    static func journal(_ common: CommonOptions, _ draft: EventDraft) async throws {
        do {
            var draft = draft
            draft.time = try personTime(draft.time)
            let configuration = try common.load()
            try draft.validateFromProducer()
            let journal = try Journal.open(
                path: configuration.journal, agentID: configuration.agentID, site: configuration.site)
            let event = try await journal.append([draft])[0]
            print(
                localized(
                    "記録しました：連番 \(event.seq) ハッシュ \(event.hash)", en: "committed seq \(event.seq) hash \(event.hash)"))
        } catch let error as KirokuError {
            throw fail(error)
        }
    }

    struct RoomEntry: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "room-entry",
            abstract: localized("入退室管理簿：部屋に入った（第12③）。", en: "入退室管理簿: someone entered a room (第12③)."))
        @OptionGroup var common: CommonOptions
        @Option(help: .localized("入室した人（職員ID）。", en: "Who entered (person id).")) var person: String
        @Option(help: .localized("部屋（入退室許可の台帳のとおり）。", en: "The room (as in the permits register).")) var room: String
        @Option(help: .localized("入室の根拠となった許可。", en: "The permit they entered under.")) var permit: String?
        @Option(
            help: .localized(
                "日時：2026/4/1 9:30、2026-04-01 09:30 または 令和8年4月1日 9:30（JST。省略時は今）。",
                en: "When: 2026/4/1 9:30, 2026-04-01 09:30 or 令和8年4月1日 9:30, JST (default: now).")) var time: String?
        func run() async throws {
            var attrs = ["method": "manual_ledger"]
            if let permit { attrs["permit"] = permit }
            try await Ledger.journal(
                common,
                EventDraft(kind: "access", action: "enter", actor: person, subject: room, attrs: attrs, time: time))
        }
    }

    struct RoomExit: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "room-exit", abstract: localized("入退室管理簿：部屋を出た。", en: "入退室管理簿: someone left a room."))
        @OptionGroup var common: CommonOptions
        @Option(help: .localized("退室した人（職員ID）。", en: "Who left (person id).")) var person: String
        @Option(help: .localized("部屋。", en: "The room.")) var room: String
        @Option(
            help: .localized(
                "日時：2026/4/1 9:30、2026-04-01 09:30 または 令和8年4月1日 9:30（JST。省略時は今）。",
                en: "When: 2026/4/1 9:30, 2026-04-01 09:30 or 令和8年4月1日 9:30, JST (default: now).")) var time: String?
        func run() async throws {
            try await Ledger.journal(
                common,
                EventDraft(
                    kind: "access", action: "exit", actor: person, subject: room, attrs: ["method": "manual_ledger"],
                    time: time))
        }
    }

    /// The 暗証番号管理者's book of operator cards (第16): the card is the actor, the holder the subject.
    struct CardIssue: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "card-issue",
            abstract: localized("操作識別カード：カードを所持者に交付した（第16）。", en: "操作識別カード: a card issued to its holder (第16)."))
        @OptionGroup var common: CommonOptions
        @Option(help: .localized("カードのID。", en: "The card id.")) var card: String
        @Option(help: .localized("受け取る人（職員ID）。", en: "Who receives it (person id).")) var holder: String
        @Option(help: .localized("交付した人（暗証番号管理者の職員ID）。", en: "Who issued it (the 暗証番号管理者's person id).")) var by: String
        func run() async throws {
            try await Ledger.journal(
                common, EventDraft(kind: "card", action: "issue", actor: card, subject: holder, attrs: ["by": by]))
        }
    }

    struct CardReturn: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "card-return",
            abstract: localized("操作識別カード：カードが返却された（異動、退職）。", en: "操作識別カード: a card handed back (transfer, leaving)."))
        @OptionGroup var common: CommonOptions
        @Option(help: .localized("カードのID。", en: "The card id.")) var card: String
        @Option(help: .localized("返却した人。", en: "Who returned it.")) var holder: String
        @Option(help: .localized("回収した人。", en: "Who took it back.")) var by: String
        func run() async throws {
            try await Ledger.journal(
                common, EventDraft(kind: "card", action: "return", actor: card, subject: holder, attrs: ["by": by]))
        }
    }

    struct CardRevoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "card-revoke",
            abstract: localized("操作識別カード：カードを失効させた（理由を添える）。", en: "操作識別カード: a card revoked, with the reason."))
        @OptionGroup var common: CommonOptions
        @Option(help: .localized("カードのID。", en: "The card id.")) var card: String
        @Option(help: .localized("所持者。", en: "Its holder.")) var holder: String
        @Option(help: .localized("失効させた人。", en: "Who revoked it.")) var by: String
        @Option(help: .localized("理由（必須）。", en: "Why (required).")) var reason: String
        func run() async throws {
            try await Ledger.journal(
                common,
                EventDraft(
                    kind: "card", action: "revoke", actor: card, subject: holder, attrs: ["by": by, "reason": reason]))
        }
    }

    struct CardLost: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "card-lost",
            abstract: localized("操作識別カード：カードの紛失が届け出られた。", en: "操作識別カード: a card reported lost."))
        @OptionGroup var common: CommonOptions
        @Option(help: .localized("カードのID。", en: "The card id.")) var card: String
        @Option(help: .localized("届け出た所持者。", en: "Its holder, who reported it.")) var holder: String
        func run() async throws {
            try await Ledger.journal(common, EventDraft(kind: "card", action: "lost", actor: card, subject: holder))
        }
    }

    /// The 住基カード ledger (第18).
    struct StockIn: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "stock-in",
            abstract: localized("住基カード：未使用のカードを在庫に受け入れた（第18①）。", en: "住基カード: blank cards received into stock (第18①)."))
        @OptionGroup var common: CommonOptions
        @Option(help: .localized("枚数。", en: "How many.")) var count: Int
        @Option(help: .localized("ロット番号。", en: "The lot number.")) var lot: String
        @Option(help: .localized("受け取った人（運用管理者）。", en: "Who received them (the 運用管理者).")) var by: String
        func run() async throws {
            guard count > 0 else { throw fail(KirokuError(.invalidEvent, "--count must be at least 1")) }
            try await Ledger.journal(
                common,
                EventDraft(
                    kind: "residentcard", action: "stock_in", actor: by, subject: "住基カード",
                    attrs: ["count": "\(count)", "lot": lot]))
        }
    }

    struct Destroy: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: localized(
                "住基カード：回収したカードを読めなくして廃棄した（方法を添える。第18②）。",
                en: "住基カード: a recovered card made unreadable and destroyed, with the method (第18②)."))
        @OptionGroup var common: CommonOptions
        @Option(help: .localized("カード。", en: "The card.")) var card: String
        @Option(help: .localized("読めなくした方法（裁断、穿孔、溶解…。必須）。", en: "How it was made unreadable (裁断, 穿孔, 溶解…; required)."))
        var method: String
        @Option(help: .localized("廃棄した人（運用管理者）。", en: "Who destroyed it (the 運用管理者).")) var by: String
        @Option(help: .localized("立ち会った人。", en: "Who witnessed it.")) var witness: String?
        func run() async throws {
            guard !method.trimmingCharacters(in: .whitespaces).isEmpty else {
                throw fail(KirokuError(.invalidEvent, "--method must say how the card was made unreadable (第18②)"))
            }
            var attrs = ["method": method]
            if let witness { attrs["witness"] = witness }
            try await Ledger.journal(
                common, EventDraft(kind: "residentcard", action: "destroy", actor: by, subject: card, attrs: attrs))
        }
    }
}

extension Ledger {
    /// The media ledger (第15): data, programs and documents taken out of their designated place, and returned.
    struct MediaOut: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "media-out",
            abstract: localized("媒体の持出し（第15）：保管場所から持ち出した。", en: "Media (第15): taken out of its designated place."))
        @OptionGroup var common: CommonOptions
        @Option(help: .localized("媒体のID（媒体の台帳のとおり）。", en: "The medium's id (as in the media register).")) var medium:
            String
        @Option(help: .localized("持ち出した人（職員ID）。", en: "Who took it out (person id).")) var person: String
        @Option(help: .localized("目的（必須）。", en: "What for (required).")) var purpose: String
        func run() async throws {
            guard !purpose.trimmingCharacters(in: .whitespaces).isEmpty else {
                throw fail(KirokuError(.invalidEvent, "--purpose must say what the medium is taken out for (第15)"))
            }
            try await Ledger.journal(
                common,
                EventDraft(
                    kind: "media", action: "take_out", actor: person, subject: medium, attrs: ["purpose": purpose]))
        }
    }

    struct MediaIn: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "media-in",
            abstract: localized("媒体の返却（第15）：保管場所に戻した。", en: "Media (第15): returned to its designated place."))
        @OptionGroup var common: CommonOptions
        @Option(help: .localized("媒体のID。", en: "The medium's id.")) var medium: String
        @Option(help: .localized("返却した人（職員ID）。", en: "Who returned it (person id).")) var person: String
        func run() async throws {
            try await Ledger.journal(
                common, EventDraft(kind: "media", action: "return", actor: person, subject: medium))
        }
    }
}
