import Foundation
public import KirokuProtocol

/// Virus checks with ClamAV (第19): `kiroku-agent scan` runs the installed `clamscan` on a medium or file
/// before it is used and journals the result; the file collector's `clamav` format turns ClamAV's own log
/// (clamd, clamonacc, `clamscan --log`) into `malware/detected` events.
public enum ClamAV {
    public struct Detection: Sendable, Equatable {
        public var path: String
        public var virus: String
    }

    /// The detection a ClamAV log or output line reports, if any: `PATH: NAME FOUND`, optionally after
    /// clamd's `LogTime` prefix (`Sat Nov 28 02:40:31 2026 -> `) and with ExtendedDetectionInfo's
    /// `NAME(HASH:SIZE)`.
    public static func detection(_ line: some StringProtocol) -> Detection? {
        var text = Substring(line)
        guard text.hasSuffix(" FOUND") else { return nil }
        text = text.dropLast(" FOUND".count)
        if let arrow = text.range(of: " -> ") { text = text[arrow.upperBound...] }
        guard let colon = text.range(of: ": ", options: .backwards) else { return nil }
        let path = String(text[..<colon.lowerBound])
        var virus = text[colon.upperBound...]
        if virus.hasSuffix(")"), let open = virus.lastIndex(of: "(") { virus = virus[..<open] }
        guard !path.isEmpty, !virus.isEmpty, !virus.contains(" ") else { return nil }
        return Detection(path: path, virus: String(virus))
    }

    public struct ScanResult: Sendable {
        /// `ClamAV 1.4.6/27471/…` as `clamscan --version` says.
        public var engine: String
        public var scannedFiles: Int
        public var detections: [Detection]
        /// clamscan's exit status: 0 nothing found, 1 a virus found, 2 an error.
        public var status: Int32
        /// What clamscan said about errors (empty if none).
        public var errors: String

        public var result: String { status == 0 ? "clean" : status == 1 ? "infected" : "error" }
    }

    /// Runs `clamscan -r` on `path` and reads its verdict. `progress` is called with the number of files
    /// scanned so far as clamscan reports them (a large medium takes minutes).
    public static func scan(
        path: String, clamscan: String, database: String?, progress: (Int) -> Void = { _ in }
    ) throws(KirokuError) -> ScanResult {
        guard FileManager.default.isExecutableFile(atPath: clamscan) else {
            throw KirokuError(
                .configuration,
                "ClamAV's clamscan is not at \(clamscan): install Debian's clamav (apt install clamav, then freshclam) or set 'clamscan'"
            )
        }
        guard FileManager.default.fileExists(atPath: path) else {
            throw KirokuError(.configuration, "nothing to scan at \(path)")
        }
        var arguments = ["--recursive", "--stdout"]
        if let database { arguments.append("--database=\(database)") }
        let version = try run(clamscan, ["--version"])
        var seen = 0
        let scan = try run(clamscan, arguments + ["--", path]) { line in
            if line.hasSuffix(": OK") || line.hasSuffix(" FOUND") {
                seen += 1
                progress(seen)
            }
        }
        var result = ScanResult(
            engine: version.output.trimmingCharacters(in: .whitespacesAndNewlines), scannedFiles: 0, detections: [],
            status: scan.status, errors: "")
        var errors: [String] = []
        for line in scan.output.split(separator: "\n") {
            if let found = detection(line) {
                result.detections.append(found)
            } else if line.hasPrefix("Scanned files: ") {
                result.scannedFiles = Int(line.dropFirst("Scanned files: ".count)) ?? 0
            } else if line.hasSuffix(" ERROR") || line.contains("ERROR:") || line.contains("LibClamAV Error") {
                errors.append(String(line))
            }
        }
        if scan.status >= 2 && errors.isEmpty { errors.append("clamscan exited with status \(scan.status)") }
        result.errors = errors.prefix(5).joined(separator: "; ")
        return result
    }

    /// The events a scan leaves in the journal: `malware/scan` with the verdict, by the person who scanned
    /// (第19①②), and, if something was found, `malware/detected` naming the medium, the viruses and files.
    public static func drafts(_ result: ScanResult, path: String, medium: String, actor: String) -> [EventDraft] {
        var scan = [
            "result": result.result, "engine": result.engine, "path": path, "files": "\(result.scannedFiles)",
            "infected": "\(result.detections.count)",
        ]
        if !result.errors.isEmpty { scan["error"] = String(result.errors.prefix(1000)) }
        var drafts = [EventDraft(kind: "malware", action: "scan", actor: actor, subject: medium, attrs: scan)]
        if !result.detections.isEmpty {
            var viruses: [String] = []
            for detection in result.detections where !viruses.contains(detection.virus) {
                viruses.append(detection.virus)
            }
            drafts.append(
                EventDraft(
                    kind: "malware", action: "detected", actor: "ClamAV", subject: medium,
                    attrs: [
                        "virus": viruses.prefix(10).joined(separator: ", "), "infected": "\(result.detections.count)",
                        "files": String(result.detections.map(\.path).joined(separator: "; ").prefix(2000)),
                        "scanned_by": actor, "engine": result.engine,
                    ]))
        }
        return drafts
    }

    /// Runs a program and collects its output (stdout and stderr together), handing each line to `line`
    /// as it comes; only lines that are not `…: OK` are kept.
    static func run(_ executable: String, _ arguments: [String], line: (Substring) -> Void = { _ in })
        throws(KirokuError)
        -> (output: String, status: Int32)
    {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        process.standardInput = FileHandle.nullDevice
        do {
            try process.run()
        } catch {
            throw KirokuError(.configuration, "cannot run \(executable): \(error)")
        }
        var kept = ""
        var pending: [UInt8] = []
        let reader = pipe.fileHandleForReading
        while true {
            let chunk = reader.availableData
            if chunk.isEmpty { break }
            pending.append(contentsOf: chunk)
            while let newline = pending.firstIndex(of: 10) {
                let text = String(decoding: pending[..<newline], as: UTF8.self)
                pending.removeSubrange(...newline)
                line(Substring(text))
                if !text.hasSuffix(": OK") { kept += text + "\n" }
            }
        }
        if !pending.isEmpty { kept += String(decoding: pending, as: UTF8.self) }
        process.waitUntilExit()
        return (kept, process.terminationStatus)
    }
}
