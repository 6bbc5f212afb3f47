import KirokuProtocol
import Logging

/// How the bytes of a followed file become events: the platform seam of the file sources. Lines of text
/// (`jsonl`, `text`, `clamav`) are the same everywhere; `struct utmp` records (`wtmp`, `btmp`) are Linux's
/// login records — a Windows agent reads logins from the Security event log instead, through a collector of
/// its own (Agent/README.md, "Windows"). ``FileCollector`` keeps the position and the rotation; a format only
/// says which bytes make whole records and what they mean.
protocol RecordFormat: Sendable {
    /// The events of the whole records at the start of `bytes` (read at `offset` of `file`, open as `fd`) and
    /// the bytes they took; `takeLast` takes a last record cut short (the end of a rotated file), `full` says
    /// the buffer was full.
    func read(
        _ bytes: ArraySlice<UInt8>, source: FileSource, fd: Int32, offset: Int64, takeLast: Bool, full: Bool,
        file: String, logger: Logger
    ) -> (drafts: [EventDraft], consumed: Int)
}

enum RecordFormats {
    /// The format a source names (``FileSource/validate()`` has checked the name).
    static func named(_ format: String) -> any RecordFormat {
        switch format {
        case "wtmp": UtmpRecords(failures: false)
        case "btmp": UtmpRecords(failures: true)
        default: TextLines()
        }
    }
}

/// Lines ending in LF, each an event or nothing (``FileSource/draft(_:)``); lines that are not events are
/// skipped with a warning.
struct TextLines: RecordFormat {
    func read(
        _ bytes: ArraySlice<UInt8>, source: FileSource, fd: Int32, offset: Int64, takeLast: Bool, full: Bool,
        file: String, logger: Logger
    ) -> (drafts: [EventDraft], consumed: Int) {
        var consumed = (bytes.lastIndex(of: 10).map { $0 - bytes.startIndex } ?? -1) + 1
        if takeLast { consumed = bytes.count }
        if consumed == 0 && full { consumed = bytes.count }  // one line over 1 MiB: refused below
        guard consumed > 0 else { return ([], 0) }
        var drafts: [EventDraft] = []
        var refused = 0
        for line in String(decoding: bytes.prefix(consumed), as: UTF8.self).split(separator: "\n") {
            do {
                if let draft = try source.draft(line) { drafts.append(draft) }
            } catch {
                refused += 1
                if refused <= 3 {
                    logger.warning(
                        "a line of \(file) is not an event; skipped", metadata: ["kiroku.error": "\(error.message)"])
                }
            }
        }
        return (drafts, consumed)
    }
}

/// Linux's `struct utmp` records (``Logins``): whole 384-byte records only.
struct UtmpRecords: RecordFormat {
    let failures: Bool

    func read(
        _ bytes: ArraySlice<UInt8>, source: FileSource, fd: Int32, offset: Int64, takeLast: Bool, full: Bool,
        file: String, logger: Logger
    ) -> (drafts: [EventDraft], consumed: Int) {
        let consumed = bytes.count / Logins.recordSize * Logins.recordSize
        return (Logins.drafts(bytes.prefix(consumed), fd: fd, offset: offset, failures: failures), consumed)
    }
}
