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
        if !value.isEmpty, value.allSatisfy(\.isASCII), value.allSatisfy(\.isNumber), value.first == "0" || value.count > 11 {
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
        if value.hasPrefix("'"), let second = value.dropFirst().first, "=+-@\t\r'".contains(second) { return String(value.dropFirst()) }
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
}
