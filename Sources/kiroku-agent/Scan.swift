import ArgumentParser
import Foundation
import KirokuAgent
import KirokuProtocol

extension KirokuAgentCommand {
    /// `kiroku-agent scan`: the virus check before a medium or file is used (第19①②), on the record.
    struct Scan: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Scan a medium or file with ClamAV before use and journal the verdict (第19).",
            discussion: """
                Runs the installed clamscan (Debian's clamav) recursively and journals malware/scan (who scanned
                what, the verdict, the engine) and, if a virus is found, malware/detected. Exit status: 0 clean,
                1 a virus was found (do not use the medium; cut the network and report, 第19③④), 2 the scan
                failed (also journalled), 64 clamscan or the path is missing.
                Example: kiroku-agent scan /media/usb0 --medium USB-0007 --actor P0101
                """)
        @OptionGroup var common: CommonOptions
        @Argument(help: "The file or folder to scan (a mounted medium).") var path: String
        @Option(help: "Who scans (the operator's person id).") var actor: String
        @Option(help: "The medium's id in the ledger (e.g. USB-0007); default the path.") var medium: String?

        func run() async throws {
            let status: Int32
            do {
                let configuration = try common.load()
                // Progress on the terminal while a large medium is scanned (not when stderr is a file or pipe).
                let interactive = isatty(STDERR_FILENO) == 1
                var shown = ContinuousClock.now
                let result = try ClamAV.scan(path: path, clamscan: configuration.clamscan, database: configuration.clamavDatabase) { files in
                    guard interactive, ContinuousClock.now - shown >= .seconds(1) else { return }
                    shown = .now
                    FileHandle.standardError.write(Data("\rscanning \(path): \(files) file(s) so far…".utf8))
                }
                if interactive { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
                let journal = try Journal.open(path: configuration.journal, agentID: configuration.agentID, site: configuration.site)
                let drafts = ClamAV.drafts(result, path: path, medium: medium ?? path, actor: actor)
                for draft in drafts { try draft.validateFromProducer() }
                let events = try await journal.append(drafts)
                let seqs = events.map { "\($0.seq)" }.joined(separator: ", ")
                switch result.status {
                case 0:
                    print("clean: \(result.scannedFiles) file(s) scanned by \(result.engine); journalled seq \(seqs)")
                case 1:
                    print("VIRUS FOUND in \(result.detections.count) of \(result.scannedFiles) file(s) — do not use \(medium ?? path); cut the network off and report (第19③④):")
                    for detection in result.detections.prefix(20) { print("  \(detection.path): \(detection.virus)") }
                    print("journalled seq \(seqs)")
                default:
                    FileHandle.standardError.write(Data("kiroku-agent: the scan failed: \(result.errors); journalled seq \(seqs)\n".utf8))
                }
                status = min(result.status, 2)
            } catch let error as KirokuError {
                throw fail(error)
            }
            if status != 0 { throw ExitCode(status) }
        }
    }
}
