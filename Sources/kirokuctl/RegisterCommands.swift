import ArgumentParser
import Crypto
import Foundation
import KirokuClient
import KirokuControl
import KirokuPKI
import KirokuProtocol

/// `kirokuctl registers`: the paper ledgers as data, in and out as CSV.
struct Registers: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: localized(
            "台帳を CSV で読み込み・書き出す： permits 入退室許可、 cards 操作識別カード、 devices・programs 構成管理簿、 maintenance 作業指示書、 people 職員と役割、 stock 住基カード、 calendar 業務カレンダー、 contracts 委託契約、 watchlist 注意対象者（管理者のみ閲覧）、 assignments 事務分掌、 media 媒体（第15）、 directives 関係部署への指示（第10）。",
            en:
                "Registers (permits: 入退室許可; cards: 操作識別カード; devices, programs: 構成管理簿; maintenance: 作業指示書; people: 職員と役割; stock: 住基カード; calendar: 業務カレンダー; contracts: 委託契約; watchlist: 注意対象者, read only by the 管理者; assignments: 事務分掌; media: 媒体, 第15; directives: 関係部署への指示, 第10), in and out as CSV."
        ),
        subcommands: [Import.self, Export.self])

    struct Import: KirokuCommand {
        static let configuration = CommandConfiguration(
            commandName: "import",
            abstract: localized(
                "台帳を CSV で置き換える（見出し：permits permit_id,person,room,valid_from,valid_to; cards card_id,holder,state,since; devices device_id,agent,vendor,product,serial; programs program_id,agent,subject,sha256,version; maintenance instruction_id,contractor,subject,valid_from,valid_to; people person_id,name,role,left; stock card_no,state,since,location; calendar date,type,name; contracts contract_id,contractor,scope,valid_from,valid_to,structure_confirmed,council_approved,secrecy,no_subcontract,purpose_limit,copy_destroy,accident_report,termination,ownership,other,audit_cycle_days,people; watchlist entry_id,subject,category,valid_from,valid_to; assignments assignment_id,person,scope,valid_from,valid_to; media media_id,content,location,custodian; directives directive_id,department,content,issued,due,answered）。",
                en:
                    "Replace a register with a CSV (headers: permits permit_id,person,room,valid_from,valid_to; cards card_id,holder,state,since; devices device_id,agent,vendor,product,serial; programs program_id,agent,subject,sha256,version; maintenance instruction_id,contractor,subject,valid_from,valid_to; people person_id,name,role,left; stock card_no,state,since,location; calendar date,type,name; contracts contract_id,contractor,scope,valid_from,valid_to,structure_confirmed,council_approved,secrecy,no_subcontract,purpose_limit,copy_destroy,accident_report,termination,ownership,other,audit_cycle_days,people; watchlist entry_id,subject,category,valid_from,valid_to; assignments assignment_id,person,scope,valid_from,valid_to; media media_id,content,location,custodian; directives directive_id,department,content,issued,due,answered)."
            ))
        @OptionGroup var hubOptions: HubOptions
        @Argument(
            help: .localized(
                "permits、cards、devices、programs、maintenance、people、stock、calendar、contracts、watchlist、assignments、media または directives。",
                en:
                    "permits, cards, devices, programs, maintenance, people, stock, calendar, contracts, watchlist, assignments, media or directives."
            )) var register: String
        @Argument(
            help: .localized(
                "CSVファイル：UTF-8（Excel の「CSV UTF-8」）または Shift_JIS/CP932（Excel の「CSV (コンマ区切り)」）。",
                en: "The CSV file: UTF-8 (Excel's 'CSV UTF-8') or Shift_JIS/CP932 (Excel's 'CSV (コンマ区切り)').")) var file:
            String

        func execute() async throws {
            guard let data = FileManager.default.contents(atPath: file) else {
                throw KirokuError(.configuration, "cannot read \(file)")
            }
            let result = try await hubOptions.withQueries { try await $0.importRegister(register, csv: Array(data)) }
            let (added, changed, removed) = (result.added, result.changed, result.removed)
            print(
                localized(
                    "\(register)：追加 \(added) 件、変更 \(changed) 件、削除 \(removed) 件",
                    en: "\(register): \(added) added, \(changed) changed, \(removed) removed"))
        }
    }

    struct Export: KirokuCommand {
        static let configuration = CommandConfiguration(
            commandName: "export",
            abstract: localized("台帳を Excel 用の CSV で出力する。", en: "Print a register as CSV for Excel."))
        @OptionGroup var hubOptions: HubOptions
        @Argument(
            help: .localized(
                "permits、cards、devices、programs、maintenance、people、stock、calendar、contracts、watchlist、assignments、media または directives。",
                en:
                    "permits, cards, devices, programs, maintenance, people, stock, calendar, contracts, watchlist, assignments, media or directives."
            )) var register: String

        func execute() async throws {
            let bytes = try await hubOptions.withQueries { try await $0.exportRegister(register) }
            FileHandle.standardOutput.write(Data(bytes))
        }
    }
}
