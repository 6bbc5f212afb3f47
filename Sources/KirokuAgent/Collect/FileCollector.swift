public import KirokuProtocol
public import Logging
public import ServiceLifecycle

#if canImport(Glibc)
    import Glibc
#endif

/// A log file the agent follows (agent configuration `files`): JSON lines shaped like socket lines, or
/// text lines read with a regular expression whose named groups (`time`, `kind`, `action`, `actor`,
/// `subject`; any other name becomes an attribute) fill the event, with fixed `kind`, `action`, `actor`
/// or `subject` for what the line does not say; or ClamAV's own log (`clamav`: clamd's, clamonacc's or
/// `clamscan --log`'s), each `PATH: NAME FOUND` line a `malware/detected` event (第19), other lines skipped;
/// or the system's login records (`wtmp`: `/var/log/wtmp`, binary), each session's start and end an
/// `operation/login` or `logout` by the user on that line (第20), and its failed logins (`btmp`:
/// `/var/log/btmp`), each an `operation/auth_failure` (第22).
public struct FileSource: Sendable, Codable, Equatable {
    public var path: String
    /// `jsonl` or `text`.
    public var format: String
    public var pattern: String?
    public var kind: String?
    public var action: String?
    public var actor: String?
    public var subject: String?

    public init(path: String, format: String, pattern: String? = nil, kind: String? = nil, action: String? = nil) {
        self.path = path
        self.format = format
        self.pattern = pattern
        self.kind = kind
        self.action = action
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case path, format, pattern, kind, action, actor, subject
    }

    public init(from decoder: any Decoder) throws {
        try decoder.refuseUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        path = try c.decode(String.self, forKey: .path)
        format = try c.decode(String.self, forKey: .format)
        pattern = try c.decodeIfPresent(String.self, forKey: .pattern)
        kind = try c.decodeIfPresent(String.self, forKey: .kind)
        action = try c.decodeIfPresent(String.self, forKey: .action)
        actor = try c.decodeIfPresent(String.self, forKey: .actor)
        subject = try c.decodeIfPresent(String.self, forKey: .subject)
    }

    func validate() throws(KirokuError) {
        guard path.hasPrefix("/") else {
            throw KirokuError(.configuration, "files: path must be absolute, not '\(path)'")
        }
        switch format {
        case "jsonl", "clamav", "wtmp", "btmp": break
        case "text":
            guard let pattern, (try? Regex(pattern)) != nil else {
                throw KirokuError(
                    .configuration,
                    "files: \(path) is text and needs a valid 'pattern' (a regular expression with named groups)")
            }
        default:
            throw KirokuError(.configuration, "files: format is jsonl, text, clamav, wtmp or btmp, not '\(format)'")
        }
    }

    /// The event a line describes; nil for an empty line (and, in ClamAV's log, a line that reports no virus).
    func draft(_ line: Substring) throws(KirokuError) -> EventDraft? {
        let text = line.trimmingCharacters(in: " \r\t")
        guard !text.isEmpty else { return nil }
        var draft: EventDraft
        if format == "clamav" {
            guard let found = ClamAV.detection(text) else { return nil }
            draft = EventDraft(
                kind: "malware", action: "detected", actor: actor ?? "ClamAV", subject: found.path,
                attrs: ["virus": found.virus, "engine": "ClamAV", "source": path])
        } else if format == "jsonl" {
            draft = try EventDraft.parse(Array(text.utf8))
        } else {
            guard let regex = try? Regex(pattern ?? ""), let match = try? regex.wholeMatch(in: text) else {
                throw KirokuError(.invalidEvent, "the line does not match the pattern")
            }
            var values: [String: String] = [:]
            for capture in match.output {
                if let name = capture.name, let value = capture.substring { values[name] = String(value) }
            }
            let fixed = ["kind": kind, "action": action, "actor": actor, "subject": subject]
            func value(_ name: String) -> String? { values[name] ?? fixed[name] ?? nil }
            guard let kind = value("kind"), let action = value("action"), let actor = value("actor") else {
                throw KirokuError(
                    .invalidEvent, "the line gives no kind, action or actor, and the configuration fixes none")
            }
            let attrs = values.filter { !["time", "kind", "action", "actor", "subject"].contains($0.key) }
            draft = EventDraft(
                kind: kind, action: action, actor: actor, subject: value("subject") ?? "", attrs: attrs,
                time: values["time"])
        }
        try draft.validateFromProducer()
        return draft
    }
}

extension String {
    fileprivate func trimmingCharacters(in set: String) -> String {
        var view = Substring(self)
        while let first = view.first, set.contains(first) { view.removeFirst() }
        while let last = view.last, set.contains(last) { view.removeLast() }
        return String(view)
    }
}

extension Substring {
    fileprivate func trimmingCharacters(in set: String) -> String { String(self).trimmingCharacters(in: set) }
}

/// Follows the configured files. The read position is kept in the journal, committed in the same
/// transaction as the events read up to it, so a restart (even after `kill -9`) neither skips nor repeats
/// a line. Survives rotation by renaming (finishes `PATH.1` if it is the file it was reading) and by
/// truncation (starts again from the beginning).
public struct FileCollector: Service {
    let journal: Journal
    let sources: [FileSource]
    let interval: Duration
    let doorbell: Doorbell
    let logger: Logger

    public init(journal: Journal, sources: [FileSource], interval: Duration, doorbell: Doorbell, logger: Logger) {
        self.journal = journal
        self.sources = sources
        self.interval = interval
        self.doorbell = doorbell
        self.logger = logger
    }

    public func run() async throws {
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            for source in sources {
                do {
                    while try await collect(source) {}
                } catch {
                    logger.error("cannot follow \(source.path); retrying", metadata: ["kiroku.error": "\(error)"])
                }
            }
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
        }
    }

    /// Reads what is new in one file (at most 1 MiB); returns true if there may be more.
    func collect(_ source: FileSource) async throws -> Bool {
        guard let current = Self.identity(source.path) else { return false }
        var position =
            try await journal.suspending.filePosition(path: source.path)
            ?? FilePosition(path: source.path, inode: current.inode, offset: 0)
        var file = source.path
        var final = false
        if position.inode != current.inode {
            // Rotated. Finish the old file if it was renamed to PATH.1; then start the new one.
            if let old = Self.identity(source.path + ".1"), old.inode == position.inode, old.size > position.offset {
                file = source.path + ".1"
                final = true
            } else {
                if Self.identity(source.path + ".1")?.inode != position.inode {
                    logger.warning(
                        "\(source.path) was replaced and the file it was reading is gone; reading the new one from its start"
                    )
                }
                position = FilePosition(path: source.path, inode: current.inode, offset: 0)
                try await journal.append([], position: position)
            }
        } else if current.size < position.offset {
            logger.notice("\(source.path) was truncated; reading it again from its start")
            position.offset = 0
        }
        let (drafts, consumed, full) = try Self.read(
            source, file: file, offset: position.offset, takeLastLine: final, logger: logger)
        guard consumed > 0 else { return false }
        position.offset += Int64(consumed)
        try await journal.append(drafts, position: position)
        if !drafts.isEmpty { doorbell.ring() }
        return full || final
    }

    /// Up to 1 MiB of complete lines from `offset` (and a last line without a newline if `takeLastLine`),
    /// as drafts; lines that are not events are skipped with a warning. Returns the bytes consumed and
    /// whether the buffer was full.
    static func read(_ source: FileSource, file: String, offset: Int64, takeLastLine: Bool, logger: Logger) throws
        -> (drafts: [EventDraft], consumed: Int, full: Bool)
    {
        let fd = open(file, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return ([], 0, false) }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        let count = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, off_t(offset)) }
        guard count > 0 else { return ([], 0, false) }
        let full = count == buffer.count
        let (drafts, consumed) = RecordFormats.named(source.format).read(
            buffer[0..<count], source: source, fd: fd, offset: offset, takeLast: takeLastLine && !full, full: full,
            file: file, logger: logger)
        return (drafts, consumed, full)
    }

    static func identity(_ path: String) -> (inode: UInt64, size: Int64)? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return (UInt64(info.st_ino), Int64(info.st_size))
    }
}
