import ArgumentParser
import Foundation
import KirokuClient
import KirokuControl
import KirokuProtocol

/// `kirokuctl report`: the 会議's report for a period, as the hub makes it (the same document as the console's
/// 会議資料), written as HTML for A4 printing or as PDF through headless Chromium.
struct Report: KirokuCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: localized(
            "期間の会議資料を HTML または PDF（A4）で作る。", en: "The 会議's report (会議資料) for a period, as HTML or PDF (A4)."),
        discussion: """
            kirokuctl report --fiscal-year 2026 --half 2 --format pdf --out 令和8年度第2回.pdf
            kirokuctl report --month 2026-11 --out 2026-11.html
            kirokuctl report --from 2026/4/1 --to 2026/7/1 --meeting 令和8年度臨時 --out 臨時.html
            \(localized("PDF には Debian の chromium と fonts-ipaexfont が要る", en: "PDF needs Debian's chromium and fonts-ipaexfont")) \
            (apt-get install chromium fonts-ipaexfont).
            """)
    @OptionGroup var hubOptions: HubOptions
    @Option(help: .localized("月（YYYY-MM）。", en: "A month, YYYY-MM.")) var month: String?
    @Option(
        help: .localized(
            "年度（4月に始まる年で指定。令和8年度なら 2026）。", en: "A 年度 by the year it starts in (April), e.g. 2026 for 令和8年度."))
    var fiscalYear: Int?
    @Option(
        help: .localized(
            "--fiscal-year と合わせて：1（4月〜9月、第1回）または 2（10月〜3月、第2回）。",
            en: "With --fiscal-year: 1 (April–September, 第1回) or 2 (October–March, 第2回).")) var half: Int?
    @Option(help: .localized("この日から（2026/4/1、令和8年4月1日、R8.4.1）。", en: "From this day (2026/4/1, 令和8年4月1日, R8.4.1)."))
    var from: String?
    @Option(help: .localized("この日まで（含まない）。", en: "Up to this day (not included).")) var to: String?
    @Option(help: .localized("会議の回。表題の前に付く（例：令和8年度第2回）。", en: "The meeting, put before the title (e.g. 令和8年度第2回)."))
    var meeting: String?
    @Option(help: .localized("html または pdf。", en: "html or pdf.")) var format: String = "html"
    @Option(help: .localized("書き出すファイル。", en: "The file to write.")) var out: String
    @Option(help: .localized("PDFの印刷に使う Chromium。", en: "The Chromium to print PDF with.")) var chromium: String =
        "/usr/bin/chromium"
    @Option(
        help: .localized(
            "報告の期間の記録を証拠バンドルとしても書く（報告に印刷するチェックポイントで証明）。期間が長いと大きくなる。",
            en:
                "Also write an evidence bundle of the report's events (its period, proven in the checkpoint it prints); large for a long period."
        ))
    var evidence: String?

    func execute() async throws {
        guard format == "html" || format == "pdf" else { throw KirokuError(.badQuery, "--format is html or pdf") }
        if format == "pdf", !FileManager.default.isExecutableFile(atPath: chromium) {
            throw KirokuError(
                .configuration,
                "PDF is printed by headless Chromium, and \(chromium) is not there: install it with 'apt-get install chromium fonts-ipaexfont' (Debian), or give --chromium PATH, or use --format html and print from a browser"
            )
        }
        var query: [String: String] = [:]
        if let month { query["month"] = month }
        if let fiscalYear { query["fiscal_year"] = String(fiscalYear) }
        if let half { query["half"] = String(half) }
        if let from { query["from"] = from }
        if let to { query["to"] = to }
        if let meeting { query["meeting"] = meeting }
        FileHandle.standardError.write(
            Data("kirokuctl: \(localized("ハブが資料を作っています…", en: "the hub is making the report…"))\n".utf8))
        let html = try await hubOptions.withQueries { queries in
            let html = try await queries.report(query)
            if let evidence {
                // The hub names the period and the checkpoint it counted in (a meta element of the report).
                let text = String(decoding: html, as: UTF8.self)
                guard
                    let meta = text.firstMatch(
                        of: /<meta name="kiroku-report" content="from=([^;"]+);to=([^;"]+);checkpoint=([0-9]+)">/)
                else {
                    throw KirokuError(
                        .hubUnavailable, "the hub's report does not name its period and checkpoint; update the hub")
                }
                try await Export.write(
                    [
                        "from": String(meta.1), "to": String(meta.2), "checkpoint": String(meta.3),
                        "limit": String(EventQuery.maxLimit),
                    ],
                    to: evidence, queries)
            }
            return html
        }
        guard format == "pdf" else {
            try Data(html).write(to: URL(filePath: out), options: .atomic)
            print(
                localized(
                    "\(out) に書きました（HTML、A4縦。ブラウザから印刷するか、--format pdf を使う）",
                    en: "wrote \(out) (HTML, A4 portrait; print it from a browser, or use --format pdf)"))
            return
        }
        // The report names staff and incidents: its working copy is the invoker's alone (0700), removed after.
        let folder = FileManager.default.temporaryDirectory.appending(path: "kiroku-report-\(UUID().uuidString)")
        try PrivateFiles.createDirectory(folder)
        defer { try? FileManager.default.removeItem(at: folder) }
        let page = folder.appending(path: "report.html")
        try Data(html).write(to: page)
        let target = URL(filePath: out, relativeTo: URL(filePath: FileManager.default.currentDirectoryPath + "/"))
            .standardizedFileURL
        FileHandle.standardError.write(
            Data(
                "kirokuctl: \(localized("\(chromium) で PDF に印刷しています…", en: "printing to PDF with \(chromium)…"))\n".utf8
            ))
        let process = Process()
        process.executableURL = URL(filePath: chromium)
        process.arguments = [
            "--headless", "--no-sandbox", "--disable-gpu", "--no-pdf-header-footer",
            "--user-data-dir=\(folder.appending(path: "profile").path)",
            "--print-to-pdf=\(target.path)", page.absoluteString,
        ]
        let log = folder.appending(path: "chromium.log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        let handle = try FileHandle(forWritingTo: log)
        process.standardOutput = handle
        process.standardError = handle
        try? FileManager.default.removeItem(at: target)
        try process.run()
        // Chromium that hangs (a broken profile, a missing display library) is stopped after two minutes.
        let deadline = ContinuousClock.now + .seconds(120)
        while process.isRunning && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(100)) }
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
            throw KirokuError(
                .internalError, "Chromium did not finish printing the report within two minutes; nothing was written")
        }
        guard process.terminationStatus == 0, FileManager.default.fileExists(atPath: target.path) else {
            let said = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
            throw KirokuError(
                .internalError,
                "Chromium could not print the report (status \(process.terminationStatus)): \(said.suffix(600))")
        }
        print(localized("\(out) に書きました（PDF、A4縦）", en: "wrote \(out) (PDF, A4 portrait)"))
    }
}
