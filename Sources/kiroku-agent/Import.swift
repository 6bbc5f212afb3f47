import ArgumentParser
import Foundation
import KirokuAgent
import KirokuProtocol

extension KirokuAgentCommand {
    /// `kiroku-agent import`: an office system's CSV export (the 住基ネット application's operation history, a
    /// door controller's log, a PC-management export) journalled through a profile, each file once.
    struct Import: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: localized(
                "業務システムの CSV 出力をプロファイルに従って記録として取り込む（同じファイルは一度だけ）。",
                en: "Journal an office system's CSV export through a profile (each file once)."),
            discussion: localized(
                """
                CP932 か UTF-8（BOM・CRLF 可）。誤りのある行は行番号と列名で示し、既定ではファイル全体を取り込まない
                （--partial で正しい行だけ取り込む）。取り込みは agent/imported（SHA-256、行数、取り込んだ人）として記録される。
                例：
                """,
                en: """
                    CP932 or UTF-8 (a BOM and CRLF are fine). A bad row is named with its line and column, and by default
                    nothing of the file is taken (--partial takes the good rows). Each import is journalled as
                    agent/imported (SHA-256, rows, who imported it). Example:
                    """)
                + " kiroku-agent import --profile /etc/kiroku/profiles/juki-operation-history.json --by P0012 操作履歴_20261130.csv"
        )
        @OptionGroup var common: CommonOptions
        @Option(
            help: .localized(
                "プロファイル（JSON。Agent/profiles の例を参照）。", en: "The profile (JSON; see the examples in Agent/profiles)."))
        var profile: String
        @Option(help: .localized("取り込む人（職員ID）。", en: "Who imports (person id).")) var by: String
        @Flag(help: .localized("誤りのある行を除いて、正しい行だけ取り込む。", en: "Take the good rows and leave out the bad ones."))
        var partial = false
        @Argument(help: .localized("取り込む CSV ファイル。", en: "The CSV files to import.")) var files: [String]

        func run() async throws {
            var failed = false
            do {
                let configuration = try common.load()
                let profile = try ImportProfile.load(path: profile)
                guard !by.trimmingCharacters(in: .whitespaces).isEmpty, !by.contains(where: \.isNewline) else {
                    throw KirokuError(.configuration, "--by names the person who imports (their person id)")
                }
                let journal = try Journal.open(
                    path: configuration.journal, agentID: configuration.agentID, site: configuration.site)
                for path in files {
                    guard let data = FileManager.default.contents(atPath: path) else {
                        throw KirokuError(.configuration, "cannot read \(path)")
                    }
                    let bytes = [UInt8](data)
                    let sha256 = SubmittedFile.digest(bytes)
                    let name = URL(filePath: path).lastPathComponent
                    if let earlier = try journal.imported(sha256: sha256) {
                        print(
                            localized(
                                "\(name)：取り込み済み（\(earlier.file)、連番 \(earlier.firstSeq)-\(earlier.lastSeq)、\(earlier.by)）。何も追加していません",
                                en:
                                    "\(name): imported already (as \(earlier.file), seq \(earlier.firstSeq)-\(earlier.lastSeq), by \(earlier.by)); nothing added"
                            ))
                        continue
                    }
                    // Read twice, never held as events (a million-row export): first to check every row — nothing
                    // is taken from a file with a refused row, unless --partial — then row by row into the
                    // journal, in short transactions beside the running daemon. A file the profile does not fit
                    // (encoding, header) is refused, and the next file is read.
                    guard let text = Self.text(bytes, profile, name),
                        let (rows, refused) = Self.check(text, profile, name)
                    else {
                        failed = true
                        continue
                    }
                    guard refused == 0 || (partial && rows > 0) else {
                        let said =
                            rows == 0
                            ? localized("\(name)：取り込める行がありません", en: "\(name): no row can be taken")
                            : localized(
                                "\(name)：\(refused) 行に誤りがあるため、何も取り込んでいません（--partial で正しい行だけ取り込む）",
                                en:
                                    "\(name): \(refused) row(s) refused, so nothing was imported (--partial takes the good rows)"
                            )
                        FileHandle.standardError.write(Data("kiroku-agent: \(said)\n".utf8))
                        failed = true
                        continue
                    }
                    // Progress on a terminal for a large export (not when stderr is a file or a pipe).
                    let interactive = isatty(STDERR_FILENO) == 1
                    let imported = try journal.importFile(
                        sha256: sha256, file: name, profile: profile.profile, refused: refused, by: by,
                        progress: { done in
                            guard interactive, done % 100_000 == 0 else { return }
                            FileHandle.standardError.write(Data("\r\(name): \(done)/\(rows)".utf8))
                        },
                        rows: { emit in
                            try profile.forEachRow(text) { line, row in
                                if case .success(let draft) = row { try emit(line, draft) }
                            }
                        })
                    if interactive { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
                    print(
                        localized(
                            "\(name)：\(imported.rows) 行を取り込みました（連番 \(imported.firstSeq)-\(imported.lastSeq)、拒否 \(refused) 行、SHA-256 \(sha256)）",
                            en:
                                "\(name): \(imported.rows) row(s) imported (seq \(imported.firstSeq)-\(imported.lastSeq), \(refused) refused, SHA-256 \(sha256))"
                        ))
                }
            } catch let error as KirokuError {
                throw fail(error)
            }
            if failed { throw ExitCode(2) }
        }

        /// The file's text as the profile says it is encoded, or nil (said on standard error).
        static func text(_ bytes: [UInt8], _ profile: ImportProfile, _ name: String) -> String? {
            do {
                return try profile.text(bytes)
            } catch {
                FileHandle.standardError.write(Data("kiroku-agent: \(name): \(error.message)\n".utf8))
                return nil
            }
        }

        /// How many rows the file gives and how many it refuses (the first twenty said on standard error, with
        /// line and column), or nil (said) when the profile does not fit the file.
        static func check(_ text: String, _ profile: ImportProfile, _ name: String) -> (rows: Int, refused: Int)? {
            var (rows, refused) = (0, 0)
            do {
                try profile.forEachRow(text) { _, row in
                    switch row {
                    case .success: rows += 1
                    case .failure(let refusal):
                        refused += 1
                        if refused <= 20 {
                            FileHandle.standardError.write(Data("kiroku-agent: \(name): \(refusal)\n".utf8))
                        }
                    }
                }
            } catch {
                FileHandle.standardError.write(
                    Data("kiroku-agent: \(name): \((error as? KirokuError)?.message ?? "\(error)")\n".utf8))
                return nil
            }
            if refused > 20 {
                FileHandle.standardError.write(Data("kiroku-agent: \(name): … \(refused - 20) more refused\n".utf8))
            }
            return (rows, refused)
        }
    }
}
