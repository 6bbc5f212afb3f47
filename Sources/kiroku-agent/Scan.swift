import ArgumentParser
import Foundation
import KirokuAgent
import KirokuProtocol

extension KirokuAgentCommand {
    /// `kiroku-agent scan`: the virus check before a medium or file is used (第19①②), on the record.
    struct Scan: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: localized(
                "媒体やファイルを使う前に ClamAV で検査し、結果を記録する（第19）。",
                en: "Scan a medium or file with ClamAV before use and journal the verdict (第19)."),
            discussion: """
                \(localized(
                    """
                    インストールされた clamscan（Debian の clamav）で再帰的に検査し、malware/scan（誰が何を検査したか、結果、エンジン）を記録する。
                    ウイルスが見つかれば malware/detected も記録する。終了状態：0 異常なし、1 ウイルスあり（媒体を使わず、
                    ネットワークを切って報告する。第19③④）、2 検査の失敗（これも記録される）、64 clamscan かパスがない。
                    例：
                    """,
                    en: """
                        Runs the installed clamscan (Debian's clamav) recursively and journals malware/scan (who scanned
                        what, the verdict, the engine) and, if a virus is found, malware/detected. Exit status: 0 clean,
                        1 a virus was found (do not use the medium; cut the network and report, 第19③④), 2 the scan
                        failed (also journalled), 64 clamscan or the path is missing.
                        Example:
                        """))
                kiroku-agent scan /media/usb0 --medium USB-0007 --actor P0101
                """)
        @OptionGroup var common: CommonOptions
        @Argument(help: .localized("検査するファイルまたはフォルダ（マウントした媒体）。", en: "The file or folder to scan (a mounted medium)."))
        var path: String
        @Option(help: .localized("検査する人（操作者の職員ID）。", en: "Who scans (the operator's person id).")) var actor: String
        @Option(
            help: .localized(
                "管理簿での媒体のID（例：USB-0007）。省略時はパス。", en: "The medium's id in the ledger (e.g. USB-0007); default the path."
            )) var medium: String?

        func run() async throws {
            let status: Int32
            do {
                let configuration = try common.load()
                // Progress on the terminal while a large medium is scanned (not when stderr is a file or pipe).
                let interactive = isatty(STDERR_FILENO) == 1
                var shown = ContinuousClock.now
                let result = try ClamAV.scan(
                    path: path, clamscan: configuration.clamscan, database: configuration.clamavDatabase
                ) { files in
                    guard interactive, ContinuousClock.now - shown >= .seconds(1) else { return }
                    shown = .now
                    FileHandle.standardError.write(
                        Data(
                            ("\r"
                                + localized(
                                    "\(path) を検査中：これまで \(files) ファイル…", en: "scanning \(path): \(files) file(s) so far…"
                                )).utf8))
                }
                if interactive { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
                let journal = try Journal.open(
                    path: configuration.journal, agentID: configuration.agentID, site: configuration.site)
                let drafts = ClamAV.drafts(result, path: path, medium: medium ?? path, actor: actor)
                for draft in drafts { try draft.validateFromProducer() }
                let events = try await journal.append(drafts)
                let seqs = events.map { "\($0.seq)" }.joined(separator: ", ")
                switch result.status {
                case 0:
                    print(
                        localized(
                            "異常なし：\(result.scannedFiles) ファイルを \(result.engine) で検査。連番 \(seqs) に記録",
                            en:
                                "clean: \(result.scannedFiles) file(s) scanned by \(result.engine); journalled seq \(seqs)"
                        ))
                case 1:
                    // "VIRUS FOUND" in both languages: what the person at the terminal must not miss.
                    let medium = medium ?? path
                    let (found, scanned) = (result.detections.count, result.scannedFiles)
                    print(
                        localized(
                            "VIRUS FOUND（ウイルス検出）：\(scanned) ファイル中 \(found) — \(medium) を使わず、ネットワークを切って報告すること（第19③④）：",
                            en:
                                "VIRUS FOUND in \(found) of \(scanned) file(s) — do not use \(medium); cut the network off and report (第19③④):"
                        ))
                    for detection in result.detections.prefix(20) { print("  \(detection.path): \(detection.virus)") }
                    print(localized("連番 \(seqs) に記録", en: "journalled seq \(seqs)"))
                default:
                    let said = localized(
                        "検査に失敗しました：\(result.errors)。連番 \(seqs) に記録",
                        en: "the scan failed: \(result.errors); journalled seq \(seqs)")
                    FileHandle.standardError.write(Data("kiroku-agent: \(said)\n".utf8))
                }
                status = min(result.status, 2)
            } catch let error as KirokuError {
                throw fail(error)
            }
            if status != 0 { throw ExitCode(status) }
        }
    }
}
