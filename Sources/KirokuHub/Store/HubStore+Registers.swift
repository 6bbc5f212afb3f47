import Crypto
public import Foundation
import GRDB
public import KirokuProtocol

/// The paper ledgers as data (issue 4): registers kept on the hub, imported from and exported to CSV (they
/// exist today as spreadsheets), each import recorded as a `record/register_imported` event in the log.
///
/// Two registers so far, each a CSV with a header row (UTF-8, a BOM and CRLF accepted):
/// - `permits` (入退室許可, 第12②): `permit_id,person,room,valid_from,valid_to` (dates `YYYY-MM-DD`, JST,
///   both inclusive; `valid_to` may be empty for open-ended);
/// - `cards` (操作識別カード, 第16): `card_id,holder,state,since` (state `active`, `revoked`, `lost` or
///   `returned`; `since` the date the state began);
/// - `devices` (構成管理簿 様式第1号, 第14): `device_id,agent,vendor,product,serial` — approved USB devices
///   per terminal (`agent` `*` for every terminal; `serial` empty for any);
/// - `programs` (構成管理簿, 第14⑤, 第17): `program_id,agent,subject,sha256,version` — approved programs:
///   `subject` a file path or `package NAME`, with the SHA-256 or the version it must have (empty for any);
/// - `maintenance` (作業指示書, 第26): `instruction_id,contractor,subject,valid_from,valid_to` — the
///   maintenance instructions issued to contractors (`subject` the equipment, empty for any);
/// - `people` (職員): `person_id,name,role,left` — `role` one or more of ``StaffRole`` by label or id
///   (`管理者;会議`), which decides what their person certificate may do (``Permission``); `left` the date
///   someone left (transfer, retirement), empty while they are here;
/// - `stock` (住基カード, 第18): `card_no,state,since,location` — each 住基カード by number, `state` `stock`
///   (交付前, kept locked), `issued`, `recovered` (回収) or `destroyed`;
/// - `calendar` (業務カレンダー): `date,type,name` — days the office is closed (`holiday`: 祝日, 閉庁日)
///   or open although it would be closed (`open`: a Sunday opening); added to the configured calendar;
/// - `contracts` (委託契約, 第23–第25): `contract_id,contractor,scope,valid_from,valid_to,structure_confirmed,
///   council_approved,` the eight clauses of 第24 as `yes`/`no` (``Register/contractClauses``)`,
///   audit_cycle_days,people` — the date the contractor's 管理体制 was confirmed (第23⑴) and the
///   個人情報保護運営審議会 approved the work (第23⑵), how often a site-audit report is due (第25; 0 for none)
///   and the contractor's people (`;` between person ids), who may submit for the contract;
/// - `watchlist` (注意対象者, 第20①): `entry_id,subject,category,valid_from,valid_to`;
/// - `assignments` (事務分掌, 第20①): `assignment_id,person,scope,valid_from,valid_to` — where a person's
///   work is: `scope` a terminal (agent id) or a section (the `site` its agents stamp on events);
/// - `media` (媒体, 第15): `media_id,content,location,custodian` — data, programs and documents on media and
///   the place each is kept;
/// - `directives` (関係部署への指示, 第10): `directive_id,department,content,issued,due,answered` — the
///   統括者's instructions after the 会議, and the day each department answered (empty until it has).
public enum Register: String, Sendable, CaseIterable {
    case permits, cards, devices, programs, maintenance, people, stock, calendar, contracts, watchlist, assignments,
        media, directives

    /// Registers only those who may replace them may read: the watch-list names residents under DV support
    /// measures; it is referred to by its entry ids everywhere else (findings, the log, reports).
    public var isConfidential: Bool { self == .watchlist }

    /// The watch-list's categories (第20①), with the names the 管理者 uses.
    public static let watchCategories: [String: String] = [
        "staff_family": "職員本人・親族", "public_figure": "著名人", "dv_support": "DV等支援措置対象者",
    ]

    /// The eight matters 第24 requires a contract to settle, as the contracts register's columns, with the
    /// standard's words.
    public static let contractClauses: [(column: String, article: String, label: String)] = [
        ("secrecy", "第24⑴", "秘密保持の義務"), ("no_subcontract", "第24⑵", "再委託の禁止"),
        ("purpose_limit", "第24⑶", "目的外使用及び第三者への提供の禁止"), ("copy_destroy", "第24⑷", "複写及び破棄"),
        ("accident_report", "第24⑸", "事故発生時の報告義務"), ("termination", "第24⑹", "契約解除等及び損害賠償"),
        ("ownership", "第24⑺", "個人情報の帰属及びプログラムの所有権"), ("other", "第24⑻", "その他必要と認めること"),
    ]

    /// The CSV header: the first column is the key.
    public var columns: [String] {
        switch self {
        case .permits: ["permit_id", "person", "room", "valid_from", "valid_to"]
        case .cards: ["card_id", "holder", "state", "since"]
        case .devices: ["device_id", "agent", "vendor", "product", "serial"]
        case .programs: ["program_id", "agent", "subject", "sha256", "version"]
        case .maintenance: ["instruction_id", "contractor", "subject", "valid_from", "valid_to"]
        case .people: ["person_id", "name", "role", "left"]
        case .stock: ["card_no", "state", "since", "location"]
        case .calendar: ["date", "type", "name"]
        case .watchlist: ["entry_id", "subject", "category", "valid_from", "valid_to"]
        case .assignments: ["assignment_id", "person", "scope", "valid_from", "valid_to"]
        case .media: ["media_id", "content", "location", "custodian"]
        case .directives: ["directive_id", "department", "content", "issued", "due", "answered"]
        case .contracts:
            ["contract_id", "contractor", "scope", "valid_from", "valid_to", "structure_confirmed", "council_approved"]
                + Self.contractClauses.map(\.column) + ["audit_cycle_days", "people"]
        }
    }
}

/// What the people register says of a person certificate's holder.
public enum StaffLookup: Sendable, Equatable {
    /// The people register is empty (a new hub): roles are not enforced yet, every person may do everything.
    case unenforced
    /// Not in the people register.
    case unknown
    /// Left on that date (異動, 退職).
    case left(String)
    case staff(Staff)
}

/// One row of a register, as strings by column.
public typealias RegisterRow = [String: String]

extension HubStore {
    static func migrateRegisters(_ db: Database) throws {
        try db.execute(
            sql: """
                CREATE TABLE registers(
                    register TEXT NOT NULL,
                    key TEXT NOT NULL,
                    fields TEXT NOT NULL,
                    PRIMARY KEY (register, key)
                ) WITHOUT ROWID;
                """)
    }

    /// A row valid from a date on, to a date or open-ended (`valid_to` empty).
    static func openEnded(_ row: RegisterRow, line: Int) throws(KirokuError) {
        guard BusinessCalendar.parse(row["valid_from"] ?? "") != nil,
            (row["valid_to"] ?? "").isEmpty || BusinessCalendar.parse(row["valid_to"]!) != nil
        else {
            throw KirokuError(.badQuery, "line \(line): valid_from is a date YYYY-MM-DD; valid_to one too, or empty")
        }
    }

    /// Parses a register's CSV; every problem is reported with its line, and nothing is imported.
    public static func parseRegister(_ register: Register, csv: String, labels: RoleLabels = RoleLabels())
        throws(KirokuError)
        -> [RegisterRow]
    {
        let (rows, refused) = try parseRegisterLines(register, csv: csv, labels: labels)
        guard let first = refused.first else { return rows }
        let more =
            refused.count > 1
            ? " (and \(refused.count - 1) more line(s) refused: \(refused.dropFirst().prefix(10).map { String($0.line) }.joined(separator: ", ")))"
            : ""
        throw KirokuError(.badQuery, first.message + more)
    }

    /// A register's text from the bytes of its CSV: UTF-8 (with or without a BOM) or CP932, what Excel on
    /// Japanese Windows saves; anything else is refused rather than guessed.
    public static func decodeRegisterCSV(_ bytes: some Collection<UInt8>) throws(KirokuError) -> String {
        if let text = ExcelCSV.decode(bytes) { return text }
        throw KirokuError(
            .malformedRequest,
            "the CSV is neither UTF-8 nor Shift_JIS (CP932); save it from Excel as 'CSV UTF-8' or 'CSV (コンマ区切り)'")
    }

    /// Every row of a register's CSV, and every line refused with why (`line N: …`). A header without the
    /// register's columns refuses the whole file.
    public static func parseRegisterLines(_ register: Register, csv: String, labels: RoleLabels = RoleLabels())
        throws(KirokuError)
        -> (rows: [RegisterRow], refused: [(line: Int, message: String)])
    {
        var refused: [(line: Int, message: String)] = []
        var text = csv
        if text.hasPrefix("\u{FEFF}") { text.removeFirst() }
        var lines = text.replacingOccurrences(of: "\r\n", with: "\n").split(
            separator: "\n", omittingEmptySubsequences: false
        )
        .map(String.init)
        while lines.last == "" { lines.removeLast() }
        guard let header = lines.first else {
            throw KirokuError(.badQuery, "the CSV is empty; its first line names the columns")
        }
        let names = ExcelCSV.fields(header)
        for column in register.columns where !names.contains(column) {
            throw KirokuError(
                .badQuery,
                "line 1: the \(register.rawValue) register needs a column '\(column)' (\(register.columns.joined(separator: ",")))"
            )
        }
        var rows: [RegisterRow] = []
        var keys = Set<String>()
        for (index, line) in lines.enumerated().dropFirst() {
            do throws(KirokuError) {
                let values = ExcelCSV.fields(line).map(ExcelCSV.untext)
                guard values.count == names.count else {
                    throw KirokuError(
                        .badQuery, "line \(index + 1): \(values.count) fields, the header has \(names.count)")
                }
                var row: RegisterRow = [:]
                for (name, value) in zip(names, values) where register.columns.contains(name) {
                    // Control characters are no part of a register and do not survive SQLite's C strings (a NUL
                    // would cut a key short): refused, with where.
                    if let bad = value.unicodeScalars.first(where: {
                        ($0.value < 0x20 && $0 != "\t") || $0.value == 0x7F
                    }) {
                        throw KirokuError(
                            .badQuery,
                            "line \(index + 1): \(name) contains a control character (U+\(String(format: "%04X", bad.value)))"
                        )
                    }
                    row[name] = value.trimmingCharacters(in: .whitespaces)
                    // Excel re-saves an exported 2026-04-01 as 2026/4/1; dates are kept as YYYY-MM-DD.
                    if [
                        "valid_from", "valid_to", "since", "left", "date", "structure_confirmed", "council_approved",
                        "issued", "due", "answered",
                    ].contains(name), let typed = row[name], !typed.isEmpty,
                        BusinessCalendar.parse(typed) == nil, let time = PersonTime.parse(typed)
                    {
                        let jst = time.withOffset(minutes: Timestamp.jstOffsetMinutes).rfc3339
                        if jst.dropFirst(10).hasPrefix("T00:00:00.000") { row[name] = String(jst.prefix(10)) }
                    }
                }
                let key = row[register.columns[0]] ?? ""
                guard !key.isEmpty else {
                    throw KirokuError(.badQuery, "line \(index + 1): \(register.columns[0]) is empty")
                }
                guard keys.insert(key).inserted else {
                    throw KirokuError(.badQuery, "line \(index + 1): \(key) appears twice")
                }
                switch register {
                case .permits:
                    guard !(row["person"] ?? "").isEmpty, !(row["room"] ?? "").isEmpty else {
                        throw KirokuError(.badQuery, "line \(index + 1): person and room are required")
                    }
                    try Self.openEnded(row, line: index + 1)
                case .cards:
                    guard !(row["holder"] ?? "").isEmpty else {
                        throw KirokuError(.badQuery, "line \(index + 1): holder is required")
                    }
                    guard ["active", "revoked", "lost", "returned"].contains(row["state"] ?? "") else {
                        throw KirokuError(.badQuery, "line \(index + 1): state is active, revoked, lost or returned")
                    }
                    guard BusinessCalendar.parse(row["since"] ?? "") != nil else {
                        throw KirokuError(.badQuery, "line \(index + 1): since is a date YYYY-MM-DD")
                    }
                case .devices:
                    guard !(row["agent"] ?? "").isEmpty,
                        Hex.isLowercaseHex((row["vendor"] ?? "").lowercased(), length: 4),
                        Hex.isLowercaseHex((row["product"] ?? "").lowercased(), length: 4)
                    else {
                        throw KirokuError(
                            .badQuery,
                            "line \(index + 1): agent (or *) is required; vendor and product are 4 hex digits")
                    }
                    row["vendor"] = row["vendor"]?.lowercased()
                    row["product"] = row["product"]?.lowercased()
                case .maintenance:
                    guard !(row["contractor"] ?? "").isEmpty else {
                        throw KirokuError(.badQuery, "line \(index + 1): contractor is required")
                    }
                    guard BusinessCalendar.parse(row["valid_from"] ?? "") != nil,
                        BusinessCalendar.parse(row["valid_to"] ?? "") != nil,
                        row["valid_from"]! <= row["valid_to"]!
                    else {
                        throw KirokuError(
                            .badQuery, "line \(index + 1): valid_from and valid_to are dates YYYY-MM-DD, in order")
                    }
                case .people:
                    guard (row["left"] ?? "").isEmpty || BusinessCalendar.parse(row["left"]!) != nil else {
                        throw KirokuError(.badQuery, "line \(index + 1): left is a date YYYY-MM-DD, or empty")
                    }
                    guard labels.roles(row["role"] ?? "") != nil else {
                        throw KirokuError(
                            .badQuery,
                            "line \(index + 1): role '\(row["role"] ?? "")' is not one of \(labels.known) (';' between several)"
                        )
                    }
                case .stock:
                    guard ["stock", "issued", "recovered", "destroyed"].contains(row["state"] ?? "") else {
                        throw KirokuError(
                            .badQuery, "line \(index + 1): state is stock, issued, recovered or destroyed")
                    }
                    guard BusinessCalendar.parse(row["since"] ?? "") != nil else {
                        throw KirokuError(.badQuery, "line \(index + 1): since is a date YYYY-MM-DD")
                    }
                case .calendar:
                    guard BusinessCalendar.parse(row["date"] ?? "") != nil else {
                        throw KirokuError(.badQuery, "line \(index + 1): date is YYYY-MM-DD")
                    }
                    guard ["holiday", "open"].contains(row["type"] ?? "") else {
                        throw KirokuError(.badQuery, "line \(index + 1): type is holiday (closed) or open")
                    }
                case .media:
                    guard !(row["location"] ?? "").isEmpty else {
                        throw KirokuError(
                            .badQuery, "line \(index + 1): location (where the medium is kept, 第15) is required")
                    }
                case .directives:
                    guard !(row["department"] ?? "").isEmpty else {
                        throw KirokuError(.badQuery, "line \(index + 1): department is required")
                    }
                    guard let issued = BusinessCalendar.parse(row["issued"] ?? "").map({ _ in row["issued"]! }),
                        let due = BusinessCalendar.parse(row["due"] ?? "").map({ _ in row["due"]! }), issued <= due
                    else {
                        throw KirokuError(.badQuery, "line \(index + 1): issued and due are dates YYYY-MM-DD, in order")
                    }
                    guard (row["answered"] ?? "").isEmpty || BusinessCalendar.parse(row["answered"]!) != nil else {
                        throw KirokuError(
                            .badQuery, "line \(index + 1): answered is a date YYYY-MM-DD, or empty until answered")
                    }
                case .assignments:
                    guard !(row["person"] ?? "").isEmpty, !(row["scope"] ?? "").isEmpty else {
                        throw KirokuError(
                            .badQuery,
                            "line \(index + 1): person and scope (a terminal's agent id or a section's site) are required"
                        )
                    }
                    try Self.openEnded(row, line: index + 1)
                case .watchlist:
                    guard !(row["subject"] ?? "").isEmpty else {
                        throw KirokuError(
                            .badQuery, "line \(index + 1): subject is required (as the lookups record it)")
                    }
                    guard let category = row["category"],
                        Register.watchCategories[category] != nil
                            || Register.watchCategories.values.contains(category)
                    else {
                        throw KirokuError(
                            .badQuery,
                            "line \(index + 1): category is \(Register.watchCategories.map { "\($0.key) (\($0.value))" }.sorted().joined(separator: ", "))"
                        )
                    }
                    row["category"] = Register.watchCategories.first { $0.value == category }?.key ?? category
                    for column in ["valid_from", "valid_to"] where !(row[column] ?? "").isEmpty {
                        guard BusinessCalendar.parse(row[column]!) != nil else {
                            throw KirokuError(.badQuery, "line \(index + 1): \(column) is a date YYYY-MM-DD, or empty")
                        }
                    }
                case .contracts:
                    guard !(row["contractor"] ?? "").isEmpty else {
                        throw KirokuError(.badQuery, "line \(index + 1): contractor is required")
                    }
                    guard BusinessCalendar.parse(row["valid_from"] ?? "") != nil,
                        BusinessCalendar.parse(row["valid_to"] ?? "") != nil,
                        row["valid_from"]! <= row["valid_to"]!
                    else {
                        throw KirokuError(
                            .badQuery, "line \(index + 1): valid_from and valid_to are dates YYYY-MM-DD, in order")
                    }
                    for column in ["structure_confirmed", "council_approved"] where !(row[column] ?? "").isEmpty {
                        guard BusinessCalendar.parse(row[column]!) != nil else {
                            throw KirokuError(
                                .badQuery,
                                "line \(index + 1): \(column) is a date YYYY-MM-DD, or empty while it has not happened")
                        }
                    }
                    for clause in Register.contractClauses {
                        guard let yes = Self.yesNo(row[clause.column] ?? "") else {
                            throw KirokuError(
                                .badQuery,
                                "line \(index + 1): \(clause.column) (\(clause.article) \(clause.label)) is yes or no")
                        }
                        row[clause.column] = yes ? "yes" : "no"
                    }
                    let cycle = row["audit_cycle_days"] ?? ""
                    guard cycle.isEmpty || (Int(cycle).map { (0...3660).contains($0) } ?? false) else {
                        throw KirokuError(
                            .badQuery,
                            "line \(index + 1): audit_cycle_days is a number of days (0 for no periodic audit)")
                    }
                    row["audit_cycle_days"] = cycle.isEmpty ? "0" : String(Int(cycle)!)
                    row["people"] = Self.people(row["people"] ?? "").joined(separator: ";")
                case .programs:
                    guard !(row["agent"] ?? "").isEmpty, !(row["subject"] ?? "").isEmpty else {
                        throw KirokuError(.badQuery, "line \(index + 1): agent (or *) and subject are required")
                    }
                    guard (row["sha256"] ?? "").isEmpty || Hex.isLowercaseHex(row["sha256"]!.lowercased(), length: 64)
                    else {
                        throw KirokuError(.badQuery, "line \(index + 1): sha256 is 64 hex digits, or empty")
                    }
                    row["sha256"] = row["sha256"]?.lowercased()
                }
                rows.append(row)
            } catch {
                refused.append((index + 1, error.message))
            }
        }
        return (rows, refused)
    }

    /// A yes/no cell as people fill it in: `yes`/`no`, `はい`/`いいえ`, `有`/`無`, `○`/`×`, `1`/`0`.
    static func yesNo(_ cell: String) -> Bool? {
        switch cell.trimmingCharacters(in: .whitespaces).lowercased() {
        case "yes", "y", "true", "1", "はい", "有", "あり", "○", "〇": true
        case "no", "n", "false", "0", "いいえ", "無", "なし", "×", "": false
        default: nil
        }
    }

    /// The person ids of a `people` cell (`;` between them, also `、` or `,` as typed).
    public static func people(_ cell: String) -> [String] {
        cell.split(whereSeparator: { $0 == ";" || $0 == "、" || $0 == "；" }).map {
            $0.trimmingCharacters(in: .whitespaces)
        }.filter { !$0.isEmpty }
    }

    /// Replaces a register with the rows of a CSV, recording what changed as `record/register_imported`.
    /// `check` sees the parsed rows before anything is written and may refuse them (the hub refuses a
    /// people register that would take away the importer's own right to change it).
    /// `expectedHeld`, from a preview (``previewRegister(_:csv:labels:)``), refuses the import if the register
    /// changed since: what was previewed is what is committed.
    public func importRegister(
        _ register: Register, csv: String, by person: String, labels: RoleLabels = RoleLabels(), now: Date = Date(),
        expectedHeld: String? = nil, check: ([RegisterRow]) throws -> Void = { _ in }
    ) async throws -> (added: Int, changed: Int, removed: Int) {
        let rows = try Self.parseRegister(register, csv: csv, labels: labels)
        try check(rows)
        return try await pool.write { db in
            var held: [String: String] = [:]
            for row in try GRDB.Row.fetchAll(
                db, sql: "SELECT key, fields FROM registers WHERE register = ?", arguments: [register.rawValue])
            {
                held[row[0]] = row[1]
            }
            if let expectedHeld, Self.registerDigest(held) != expectedHeld {
                throw KirokuError(
                    .badQuery,
                    "the \(register.rawValue) register changed after the preview; nothing was imported, preview it again"
                )
            }
            var added: [String] = []
            var changed: [String] = []
            var seen = Set<String>()
            var contents: [String: String] = [:]
            for row in rows {
                let key = row[register.columns[0]]!
                seen.insert(key)
                let fields = String(
                    decoding: CanonicalJSON.encode(.object(row.mapValues(JSONValue.string))), as: UTF8.self)
                contents[key] = fields
                if let old = held[key] {
                    guard old != fields else { continue }
                    changed.append(key)
                } else {
                    added.append(key)
                }
                try db.execute(
                    sql: "INSERT OR REPLACE INTO registers(register, key, fields) VALUES (?, ?, ?)",
                    arguments: [register.rawValue, key, fields])
            }
            let removed = held.keys.filter { !seen.contains($0) }.sorted()
            for key in removed {
                try db.execute(
                    sql: "DELETE FROM registers WHERE register = ? AND key = ?", arguments: [register.rawValue, key])
            }
            // Which rows changed, by key, and a digest of the whole register as it now stands (SHA-256 of
            // each row's canonical JSON in key order, one per line): the log says what each import did,
            // and a register exported later can be matched to the import that made it.
            var attrs = [
                "rows": "\(rows.count)", "added": "\(added.count)", "changed": "\(changed.count)",
                "removed": "\(removed.count)",
                "sha256": Self.registerDigest(contents),
            ]
            for (name, keys) in [("added_keys", added), ("changed_keys", changed), ("removed_keys", removed)]
            where !keys.isEmpty {
                attrs[name] = Self.keyList(keys)
            }
            let evidence = try HubRecords.append(
                [("register_imported", person, register.rawValue, attrs)], now: now, db: db)
            // A permit or instruction valid from before today was written after the fact (事後許可, 第9②).
            let rowsByKey = Dictionary(
                rows.map { ($0[register.columns[0]]!, $0) }, uniquingKeysWith: { _, last in last })
            let before = held.compactMapValues { fields -> RegisterRow? in
                guard case .object(let object)? = try? JSONParser.parse(Array(fields.utf8)) else { return nil }
                return object.compactMapValues { if case .string(let text) = $0 { text } else { nil } }
            }
            try RuleEngine.backdated(
                db, register: register, rows: rowsByKey.filter { added.contains($0.key) || changed.contains($0.key) },
                before: before,
                by: person, evidence: evidence, nowMS: Int64(now.timeIntervalSince1970 * 1000))
            return (added.count, changed.count, removed.count)
        }
    }

    /// People whose `role` the labels no longer name (the hub's `role_labels` changed after the register was
    /// loaded): they would be refused everything. As `person_id: role`.
    public func peopleWithUnknownRoles(labels: RoleLabels) throws -> [String] {
        try pool.read { db in
            try Self.rows(.people, db: db).filter { labels.roles($0["role"] ?? "") == nil }
                .map { "\($0["person_id"] ?? "?"): \($0["role"] ?? "")" }
        }
    }

    /// What a person certificate may do, from the people register (``StaffLookup``).
    public func staff(_ id: String, labels: RoleLabels, now: Date = Date()) async throws -> StaffLookup {
        try await pool.read { db in
            guard try Bool.fetchOne(db, sql: "SELECT EXISTS(SELECT 1 FROM registers WHERE register = 'people')") == true
            else {
                return .unenforced
            }
            guard
                let fields = try String.fetchOne(
                    db, sql: "SELECT fields FROM registers WHERE register = 'people' AND key = ?", arguments: [id]),
                let row = try? JSONDecoder().decode(RegisterRow.self, from: Data(fields.utf8))
            else { return .unknown }
            if let left = row["left"], !left.isEmpty,
                left <= BusinessCalendar.day(Int64(now.timeIntervalSince1970 * 1000))
            {
                return .left(left)
            }
            return .staff(Staff(id: id, roles: labels.roles(row["role"] ?? "") ?? []))
        }
    }

    /// SHA-256 over the rows' canonical JSON in key order, one per line.
    static func registerDigest(_ contents: [String: String]) -> String {
        var hasher = SHA256()
        for key in contents.keys.sorted() { hasher.update(data: Array((contents[key]! + "\n").utf8)) }
        return Hex.encode(hasher.finalize())
    }

    /// Keys for a record's attribute: as many as fit an attribute (1,024 bytes), then how many more.
    static func keyList(_ keys: [String]) -> String {
        var text = ""
        for (index, key) in keys.enumerated() {
            if text.utf8.count + key.utf8.count > 960 { return text + " … (+\(keys.count - index) more)" }
            text += (text.isEmpty ? "" : ", ") + key
        }
        return text
    }

    /// A register's rows, by key.
    public func register(_ register: Register) async throws -> [RegisterRow] {
        try await pool.read { db in try Self.rows(register, db: db) }
    }

    static func rows(_ register: Register, db: Database) throws -> [RegisterRow] {
        try String.fetchAll(
            db, sql: "SELECT fields FROM registers WHERE register = ? ORDER BY key", arguments: [register.rawValue]
        )
        .map { (try? JSONDecoder().decode(RegisterRow.self, from: Data($0.utf8))) ?? [:] }
    }

    /// The register as CSV for Excel (UTF-8 with BOM, CRLF).
    /// The register as CSV for Excel (UTF-8 with BOM, CRLF; formulas and zero-led ids guarded as everywhere,
    /// and read back as they were when imported again).
    public func exportRegister(_ register: Register) async throws -> String {
        let rows = try await self.register(register)
        return "\u{FEFF}" + register.columns.joined(separator: ",") + "\r\n"
            + rows.map { row in ExcelCSV.line(register.columns.map { row[$0] ?? "" }) }.joined()
    }

    /// What importing a CSV would do, without doing it: the rows added, changed (before and after) and
    /// removed, every refused line, and a digest of the register as it stands, which the import checks.
    public func previewRegister(_ register: Register, csv: String, labels: RoleLabels = RoleLabels()) async throws
        -> RegisterPreview
    {
        let (rows, refused) = try Self.parseRegisterLines(register, csv: csv, labels: labels)
        let held = try await pool.read { db in
            var held: [String: String] = [:]
            for row in try GRDB.Row.fetchAll(
                db, sql: "SELECT key, fields FROM registers WHERE register = ?", arguments: [register.rawValue])
            {
                held[row[0]] = row[1]
            }
            return held
        }
        func decode(_ fields: String) -> RegisterRow {
            guard case .object(let members)? = try? JSONParser.parse(Array(fields.utf8)) else { return [:] }
            return members.compactMapValues { if case .string(let text) = $0 { text } else { nil } }
        }
        var preview = RegisterPreview(heldDigest: Self.registerDigest(held), rows: rows.count, refused: refused)
        var seen = Set<String>()
        for row in rows {
            let key = row[register.columns[0]]!
            seen.insert(key)
            let fields = String(decoding: CanonicalJSON.encode(.object(row.mapValues(JSONValue.string))), as: UTF8.self)
            if let old = held[key] {
                if old != fields { preview.changed.append((decode(old), row)) }
            } else {
                preview.added.append(row)
            }
        }
        preview.removed = held.keys.filter { !seen.contains($0) }.sorted().map { decode(held[$0]!) }
        return preview
    }
}

/// What a register import would change (the console shows it before anything is committed).
public struct RegisterPreview: Sendable {
    public var heldDigest: String
    public var rows: Int
    public var refused: [(line: Int, message: String)]
    public var added: [RegisterRow] = []
    public var changed: [(before: RegisterRow, after: RegisterRow)] = []
    public var removed: [RegisterRow] = []
}
