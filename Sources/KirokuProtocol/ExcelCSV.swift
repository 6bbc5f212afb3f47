// Foundation itself, not FoundationEssentials: CP932 (`.shiftJIS`) is decoded by Foundation's own tables.
import Foundation

/// CSV as Excel on Japanese Windows opens it safely: every CSV the project writes (kirokuctl, the console, the
/// registers) goes through here.
public enum ExcelCSV {
    /// Text Excel would run as a formula (`=`, `+`, `-`, `@`, tab, CR first) gets a leading `'`; IDs Excel
    /// would turn into numbers (`000123`, or more than 11 digits) are written `="000123"`.
    public static func text(_ value: String) -> String {
        // A leading `'` is doubled too, so that ``untext(_:)`` gives back exactly what was written.
        if let first = value.first, "=+-@\t\r'".contains(first) {
            return "'" + value
        }
        if !value.isEmpty, value.allSatisfy(\.isASCII), value.allSatisfy(\.isNumber),
            value.first == "0" || value.count > 11
        {
            return "=\"\(value)\""
        }
        return value
    }

    /// Quoted when it holds a comma, a quote or a line break.
    public static func field(_ value: String) -> String {
        if value.contains(where: { $0 == "," || $0 == "\"" || $0 == "\r" || $0 == "\n" }) {
            return "\"" + value.replacing("\"", with: "\"\"") + "\""
        }
        return value
    }

    /// One CRLF line of guarded, quoted cells. The `="000123"` form is written as it is: quoted, Excel and
    /// readers would see the quotes.
    public static func line(_ values: [String]) -> String {
        values.map { value in
            let guarded = text(value)
            return guarded.hasPrefix("=\"") ? guarded : field(guarded)
        }.joined(separator: ",") + "\r\n"
    }

    /// A cell as it was before ``text(_:)`` (for CSVs read back: registers exported, edited, imported).
    public static func untext(_ value: String) -> String {
        if value.hasPrefix("'"), let second = value.dropFirst().first, "=+-@\t\r'".contains(second) {
            return String(value.dropFirst())
        }
        // `="000123"` as a quoted field (`"=""000123"""`, as kirokuctl's CSV writes it) arrives unquoted as this.
        if value.count >= 3, value.hasPrefix("=\""), value.hasSuffix("\"") {
            let inner = value.dropFirst(2).dropLast()
            if !inner.contains("\"") { return String(inner) }
        }
        return value
    }

    /// JIS-style characters that CP932 (Shift_JIS as Windows has it) holds in another form: WAVE DASH as
    /// FULLWIDTH TILDE, MINUS SIGN as FULLWIDTH HYPHEN-MINUS, and the like. Applied before encoding; what still
    /// does not encode is refused by the writer, never written as `?`.
    public static let cp932Forms: [Character: Character] = [
        "〜": "～", "−": "－", "‖": "∥", "¬": "￢", "—": "―", "¢": "￠", "£": "￡",
    ]

    public static func cp932Forms(_ text: String) -> String { String(text.map { cp932Forms[$0] ?? $0 }) }

    /// The text of a CSV as Excel on Japanese Windows saves it: UTF-8 (with or without a BOM) or CP932
    /// (Shift_JIS as Windows has it); nil when it is neither, rather than a guess.
    public static func decode(_ bytes: some Collection<UInt8>) -> String? {
        if let text = String(validating: bytes, as: UTF8.self) { return text }
        return String(data: Data(bytes), encoding: .shiftJIS)
    }

    /// The fields of one CSV line (double quotes for fields with commas or quotes; the `=` Excel puts before
    /// a quoted ID to keep it text is removed).
    public static func fields(_ line: some StringProtocol) -> [String] {
        var out: [String] = []
        var field = ""
        var quoted = false
        var chars = Array(line)[...]
        while let c = chars.popFirst() {
            if quoted {
                if c == "\"" {
                    if chars.first == "\"" {
                        field.append("\"")
                        chars.removeFirst()
                    } else {
                        quoted = false
                    }
                } else {
                    field.append(c)
                }
            } else if c == "\"" {
                quoted = true
            } else if c == "," {
                out.append(field)
                field = ""
            } else if c == "=" && field.isEmpty && chars.first == "\"" {
                continue
            } else {
                field.append(c)
            }
        }
        out.append(field)
        return out
    }

    /// A record refused by ``records(_:_:)``: the line it starts on and why.
    public struct Malformed: Error, Sendable, Equatable {
        public var line: Int
        public var message: String
    }

    /// The records of a CSV as RFC 4180 has them: a quoted cell may hold commas, doubled quotes and line
    /// breaks, so a record is not a line. Each record is handed over with the line it starts on, or as
    /// ``Malformed`` — a quote inside an unquoted cell, text after a closing quote — and reading goes on with
    /// the next line; a quote never closed ends the file as one malformed record. The `=` Excel puts before a
    /// quoted ID is removed. CRLF and LF both end a record; a BOM is skipped.
    public static func records(_ text: some StringProtocol, _ body: (Int, Result<[String], Malformed>) throws -> Void)
        rethrows
    {
        var scalars = Substring(text).unicodeScalars[...]
        if scalars.first == "\u{FEFF}" { scalars.removeFirst() }
        var line = 1
        while !scalars.isEmpty {
            let start = line
            var fields: [String] = []
            var field = String.UnicodeScalarView()
            var quoted = false
            var wasQuoted = false
            var problem: String?
            var ended = false
            while let c = scalars.popFirst() {
                if quoted {
                    if c == "\"" {
                        if scalars.first == "\"" {
                            field.append("\"")
                            scalars.removeFirst()
                        } else {
                            quoted = false
                        }
                    } else {
                        if c == "\n" { line += 1 }
                        field.append(c)
                    }
                    continue
                }
                switch c {
                case ",":
                    fields.append(String(field))
                    field = String.UnicodeScalarView()
                    wasQuoted = false
                case "\r" where scalars.first == "\n":
                    continue
                case "\n":
                    line += 1
                    ended = true
                case "\"":
                    if field.isEmpty && !wasQuoted {
                        quoted = true
                        wasQuoted = true
                    } else if field.count == 1 && field.first == "=" && !wasQuoted {
                        field.removeAll()
                        quoted = true
                        wasQuoted = true
                    } else {
                        problem = problem ?? "a quote inside a cell that does not begin with one"
                        field.append(c)
                    }
                default:
                    if wasQuoted && !quoted { problem = problem ?? "text after a quoted cell's closing quote" }
                    field.append(c)
                }
                if ended { break }
            }
            if quoted { problem = "a quote opened on line \(start) is never closed" }
            fields.append(String(field))
            // A line with nothing on it is no record (a blank line at the end, say).
            if fields == [""] && problem == nil { continue }
            try body(start, problem.map { .failure(Malformed(line: start, message: $0)) } ?? .success(fields))
        }
    }
}
