import Foundation
public import KirokuProtocol

/// How the rows of an office system's CSV export become events (Agent/INTEGRATION.md): for each field of
/// an event, the column it comes from or a fixed value, with a table of the export's words (`照会` →
/// `lookup`) and a prefix; the time with the source's date form and time zone; attributes likewise. A
/// profile is data (a JSON file); unknown keys are refused, so a misspelt key never silently drops a column.
public struct ImportProfile: Sendable, Decodable, Equatable {
    /// One field: from `column` (its cell, trimmed) or a fixed `value`; `map` turns the source's words into
    /// the event's (a word not in it refuses the row); `prefix` goes before a non-empty value. An attribute
    /// whose cell is empty is left out, unless `keep_empty` (a purpose column left empty is itself a finding).
    public struct Field: Sendable, Decodable, Equatable {
        public var column: String?
        public var value: String?
        public var map: [String: String]?
        public var prefix: String?
        public var keepEmpty: Bool

        enum CodingKeys: String, CodingKey, CaseIterable {
            case column, value, map, prefix
            case keepEmpty = "keep_empty"
        }

        public init(from decoder: any Decoder) throws {
            try decoder.refuseUnknownKeys(CodingKeys.self)
            let c = try decoder.container(keyedBy: CodingKeys.self)
            column = try c.decodeIfPresent(String.self, forKey: .column)
            value = try c.decodeIfPresent(String.self, forKey: .value)
            map = try c.decodeIfPresent([String: String].self, forKey: .map)
            prefix = try c.decodeIfPresent(String.self, forKey: .prefix)
            keepEmpty = try c.decodeIfPresent(Bool.self, forKey: .keepEmpty) ?? false
            guard (column == nil) != (value == nil) else {
                throw KirokuError(.configuration, "a profile field has either a column or a value")
            }
        }
    }

    /// The event's time: a `column` (and, when the export splits them, a `date_column` before it), read as
    /// people write times (`person`: 2026/4/1 9:30:15, 令和8年4月1日…) or as digits (`compact`:
    /// 20260401093015), in the source's `utc_offset_minutes` (540, JST, by default).
    public struct Time: Sendable, Decodable, Equatable {
        public var column: String
        public var dateColumn: String?
        public var format: String
        public var utcOffsetMinutes: Int

        enum CodingKeys: String, CodingKey, CaseIterable {
            case column, format
            case dateColumn = "date_column"
            case utcOffsetMinutes = "utc_offset_minutes"
        }

        public init(from decoder: any Decoder) throws {
            try decoder.refuseUnknownKeys(CodingKeys.self)
            let c = try decoder.container(keyedBy: CodingKeys.self)
            column = try c.decode(String.self, forKey: .column)
            dateColumn = try c.decodeIfPresent(String.self, forKey: .dateColumn)
            format = try c.decodeIfPresent(String.self, forKey: .format) ?? "person"
            utcOffsetMinutes = try c.decodeIfPresent(Int.self, forKey: .utcOffsetMinutes) ?? Timestamp.jstOffsetMinutes
            guard ["person", "compact"].contains(format) else {
                throw KirokuError(.configuration, "a profile's time format is person or compact, not '\(format)'")
            }
            guard (-720...840).contains(utcOffsetMinutes) else {
                throw KirokuError(.configuration, "utc_offset_minutes is -720 to 840")
            }
        }
    }

    public var profile: String
    public var description: String
    /// `auto` (UTF-8 with or without BOM, else CP932), `utf-8` or `cp932`.
    public var encoding: String
    public var time: Time
    public var kind: Field
    public var action: Field
    public var actor: Field
    public var subject: Field?
    public var site: Field?
    public var attrs: [String: Field]

    enum CodingKeys: String, CodingKey, CaseIterable {
        case profile, description, encoding, time, kind, action, actor, subject, site, attrs
    }

    public init(from decoder: any Decoder) throws {
        try decoder.refuseUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        profile = try c.decode(String.self, forKey: .profile)
        description = try c.decodeIfPresent(String.self, forKey: .description) ?? ""
        encoding = try c.decodeIfPresent(String.self, forKey: .encoding) ?? "auto"
        time = try c.decode(Time.self, forKey: .time)
        kind = try c.decode(Field.self, forKey: .kind)
        action = try c.decode(Field.self, forKey: .action)
        actor = try c.decode(Field.self, forKey: .actor)
        subject = try c.decodeIfPresent(Field.self, forKey: .subject)
        site = try c.decodeIfPresent(Field.self, forKey: .site)
        attrs = try c.decodeIfPresent([String: Field].self, forKey: .attrs) ?? [:]
        guard ["auto", "utf-8", "cp932"].contains(encoding) else {
            throw KirokuError(.configuration, "a profile's encoding is auto, utf-8 or cp932, not '\(encoding)'")
        }
        guard AgentID.isValid(profile) else {
            throw KirokuError(.configuration, "a profile's name is A-Z a-z 0-9 . _ -")
        }
    }

    /// Reads a profile file; every problem is a configuration error naming the file.
    public static func load(path: String) throws(KirokuError) -> ImportProfile {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw KirokuError(.configuration, "cannot read the profile \(path)")
        }
        do {
            return try JSONDecoder().decode(ImportProfile.self, from: data)
        } catch let error as KirokuError {
            throw KirokuError(.configuration, "profile \(path): \(error.message)")
        } catch {
            throw KirokuError(
                .configuration,
                "profile \(path) is not a profile (JSON with profile, time, kind, action, actor): \(error)")
        }
    }

    // MARK: Reading an export

    /// A row refused, where: the line of the file (the header is line 1) and the column.
    public struct Refusal: Error, Sendable, Equatable, CustomStringConvertible {
        public var line: Int
        public var column: String
        public var message: String
        public var description: String { "line \(line), column \(column): \(message)" }
    }

    /// The export's text, as the profile says it is encoded.
    public func text(_ bytes: [UInt8]) throws(KirokuError) -> String {
        let decoded: String? =
            switch encoding {
            case "utf-8": String(validating: bytes, as: UTF8.self)
            case "cp932": String(data: Data(bytes), encoding: .shiftJIS)
            default: ExcelCSV.decode(bytes)
            }
        guard var text = decoded else {
            throw KirokuError(
                .invalidEvent,
                encoding == "auto"
                    ? "the file is neither UTF-8 nor Shift_JIS (CP932)"
                    : "the file is not \(encoding) as the profile \(profile) says")
        }
        if text.hasPrefix("\u{FEFF}") { text.removeFirst() }
        return text
    }

    /// The export read as events, one per data line, in order, with every refused row (for a small file; a
    /// large one is read row by row with ``forEachRow(_:_:)``).
    public func read(_ text: String) throws -> (drafts: [(line: Int, draft: EventDraft)], refused: [Refusal]) {
        var drafts: [(line: Int, draft: EventDraft)] = []
        var refused: [Refusal] = []
        try forEachRow(text) { line, row in
            switch row {
            case .success(let draft): drafts.append((line, draft))
            case .failure(let refusal): refused.append(refusal)
            }
        }
        return (drafts, refused)
    }

    /// Each data line of the export as an event or a refusal, in order, handed to `body` one at a time: a
    /// million-row export never sits in memory as events. The header names the columns; a column the profile
    /// reads that the header lacks refuses the whole file. Each event carries the line it came from
    /// (`attrs.source_line`).
    public func forEachRow(_ text: String, _ body: (Int, Result<EventDraft, Refusal>) throws -> Void) throws {
        // Records as RFC 4180 has them: a quoted cell's line break is part of the cell, never a new row.
        var index: [String: Int]?
        var width = 0
        try ExcelCSV.records(text) { number, record in
            guard let index else {
                guard case .success(let header) = record else {
                    throw KirokuError(.invalidEvent, "the header (line \(number)) is not a CSV line of column names")
                }
                let names = header.map { $0.trimmingCharacters(in: .whitespaces) }
                var positions: [String: Int] = [:]
                for (position, name) in names.enumerated() {
                    guard positions[name] == nil || name.isEmpty else {
                        throw KirokuError(
                            .invalidEvent,
                            "the header names the column \(name) twice; which one is meant cannot be told")
                    }
                    positions[name] = position
                }
                let fields = [kind, action, actor] + [subject, site].compactMap { $0 } + Array(attrs.values)
                let wanted = fields.compactMap(\.column) + [time.column] + [time.dateColumn].compactMap { $0 }
                let missing = wanted.filter { positions[$0] == nil }
                guard missing.isEmpty else {
                    throw KirokuError(
                        .invalidEvent,
                        "the header lacks the column(s) \(missing.joined(separator: ", ")) that the profile \(profile) reads (it has: \(names.joined(separator: ", ")))"
                    )
                }
                (index, width) = (positions, names.count)
                return
            }
            try body(number, row(number, record, index, width))
        }
        guard index != nil else {
            throw KirokuError(.invalidEvent, "the file is empty; its first line names the columns")
        }
    }

    /// One data record as an event, or why it is refused.
    func row(_ number: Int, _ record: Result<[String], ExcelCSV.Malformed>, _ index: [String: Int], _ width: Int)
        -> Result<EventDraft, Refusal>
    {
        let cells: [String]
        switch record {
        case .failure(let malformed): return .failure(Refusal(line: number, column: "-", message: malformed.message))
        case .success(let found):
            guard found.count == width else {
                return .failure(
                    Refusal(line: number, column: "-", message: "\(found.count) cells, the header has \(width)"))
            }
            cells = found
        }
        func cell(_ column: String) -> String {
            ExcelCSV.untext(cells[index[column]!]).trimmingCharacters(in: .whitespaces)
        }
        do throws(Refusal) {
            func value(_ field: Field, _ name: String, required: Bool) throws(Refusal) -> String {
                var text = field.value ?? cell(field.column!)
                if let map = field.map, !(text.isEmpty && !required) {
                    guard let mapped = map[text] else {
                        throw Refusal(
                            line: number, column: field.column ?? name,
                            message: "'\(text.prefix(40))' is not one of \(map.keys.sorted().joined(separator: ", "))")
                    }
                    text = mapped
                }
                if required && text.isEmpty {
                    throw Refusal(line: number, column: field.column ?? name, message: "\(name) is empty")
                }
                if let prefix = field.prefix, !text.isEmpty { text = prefix + text }
                return text
            }
            let when = try stamp(date: time.dateColumn.map(cell), time: cell(time.column), line: number)
            var attributes: [String: String] = [:]
            for (name, field) in attrs {
                let text = try value(field, name, required: false)
                if !text.isEmpty || field.keepEmpty { attributes[name] = text }
            }
            attributes["source_line"] = String(number)
            var about = ""
            if let subject { about = try value(subject, "subject", required: false) }
            var place: String?
            if let site { place = try value(site, "site", required: false) }
            let draft = EventDraft(
                kind: try value(kind, "kind", required: true), action: try value(action, "action", required: true),
                actor: try value(actor, "actor", required: true), subject: about,
                site: place?.isEmpty == false ? place : nil,
                attrs: attributes, time: when.rfc3339)
            do {
                try draft.validateFromProducer()
            } catch {
                throw Refusal(line: number, column: "-", message: error.message)
            }
            // What the event will weigh once sealed (the chain's hashes, salt, agent and time are about
            // 400 bytes more): a row too large is refused here, with its line, not by the journal.
            let size =
                [draft.kind, draft.action, draft.actor, draft.subject, draft.site ?? ""].reduce(0) {
                    $0 + $1.utf8.count
                }
                + draft.attrs.reduce(0) { $0 + $1.key.utf8.count + $1.value.utf8.count + 6 }
            guard size + 400 <= Event.maxBytes else {
                throw Refusal(
                    line: number, column: "-",
                    message: "the event would be about \(size + 400) bytes; the limit is \(Event.maxBytes)")
            }
            return .success(draft)
        } catch {
            return .failure(error)
        }
    }

    /// The instant of a row: its date and time cells in the source's time zone.
    func stamp(date: String?, time text: String, line: Int) throws(Refusal) -> Timestamp {
        let whole = [date, text].compactMap { $0 }.filter { !$0.isEmpty }.joined(separator: " ")
        let column = [time.dateColumn, time.column].compactMap { $0 }.joined(separator: "+")
        // A time with its own offset (RFC 3339, as the wire writes it) is exact; anything else is the source's
        // wall time, which must have a time of day: a date alone would be taken as midnight.
        if time.format == "person", let exact = Timestamp(rfc3339: whole) { return exact }
        guard time.format == "compact" ? whole.count >= 12 : whole.contains(":") || whole.contains("時") else {
            throw Refusal(line: line, column: column, message: "'\(whole.prefix(40))' has no time of day")
        }
        let local =
            time.format == "compact"
            ? Self.compact(whole.replacingOccurrences(of: " ", with: "")) : PersonTime.parse(whole)
        guard let local else {
            throw Refusal(
                line: line, column: column,
                message:
                    "'\(whole.prefix(40))' is not a time (\(time.format == "compact" ? "yyyyMMdd[HHmm[ss]]" : PersonTime.forms))"
            )
        }
        // Read as JST wall time; moved to the source's zone, and kept with its offset.
        let ms = local.epochMilliseconds + Int64(Timestamp.jstOffsetMinutes - time.utcOffsetMinutes) * 60_000
        return Timestamp(epochMilliseconds: ms, offsetMinutes: time.utcOffsetMinutes)
    }

    /// `20260401`, `202604010930` or `20260401093015` as JST wall time.
    static func compact(_ digits: String) -> Timestamp? {
        guard [8, 12, 14].contains(digits.count), digits.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
        let d = Array(digits)
        let date = "\(String(d[0..<4]))-\(String(d[4..<6]))-\(String(d[6..<8]))"
        let clock =
            d.count >= 12
            ? "\(String(d[8..<10])):\(String(d[10..<12])):\(d.count == 14 ? String(d[12..<14]) : "00")" : "00:00:00"
        return Timestamp(rfc3339: "\(date)T\(clock).000+09:00")
    }
}
