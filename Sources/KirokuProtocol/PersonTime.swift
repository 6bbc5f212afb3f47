#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// Times as people type them at a command line, read in JST: what Excel writes (`2026/4/1`), ISO dates
/// (`2026-04-01`), 和暦 (`令和8年4月1日`, `令和元年5月1日`), each optionally with a time (`9:30`, `09:30:15`,
/// `09:30:15.250`, after a space or `T`), full-width digits as an input method gives them, or the wire's
/// own RFC 3339 form. The wire keeps its one strict form (PROTOCOL.md §1); this is only for input.
public enum PersonTime {
    /// What to tell someone whose text was not understood.
    public static let forms =
        "a date like 2026/4/1, 2026-04-01, 令和8年4月1日 or R8.4.1 (JST), optionally with a time like 9:30 or 09:30:15"

    public static func parse(_ input: String) -> Timestamp? {
        if let exact = Timestamp(rfc3339: input) { return exact }
        // Full-width digits and punctuation (０-９, ／, －, ：, ．, 全角スペース) as their ASCII forms.
        var text = String(
            String.UnicodeScalarView(
                input.unicodeScalars.map { scalar in
                    switch scalar.value {
                    case 0xFF10...0xFF19, 0xFF0F, 0xFF0D, 0xFF1A, 0xFF0E: Unicode.Scalar(scalar.value - 0xFEE0)!
                    case 0x3000: " "
                    default: scalar
                    }
                }))
        while text.first == " " { text.removeFirst() }
        while text.last == " " { text.removeLast() }
        // An era by name (令和8年4月1日, 令和元年5月1日) or letter (R8.4.1, H31.4.30), from the era table.
        var era: String?
        var eraLetter = false
        if let named = Wareki.eras.first(where: { text.hasPrefix($0.name) }) {
            text.removeFirst(named.name.count)
            era = named.name
        } else if let lettered = Wareki.eras.first(where: { text.uppercased().hasPrefix(String($0.letter)) }),
            text.dropFirst().first?.isNumber == true || text.dropFirst().first == "元"
        {
            text.removeFirst()
            era = lettered.name
            eraLetter = true
        }
        if era != nil, text.hasPrefix("元") {
            text.replaceSubrange(text.startIndex...text.startIndex, with: "1")
        }
        // The date part: Y{-/.年}M{-/.月}D[日], then an optional time.
        let scalars = Array(text.unicodeScalars)
        var index = 0
        func number(maxDigits: Int) -> Int? {
            var value = 0
            var digits = 0
            while index < scalars.count, digits < maxDigits, (0x30...0x39).contains(scalars[index].value) {
                value = value * 10 + Int(scalars[index].value - 0x30)
                digits += 1
                index += 1
            }
            return digits == 0 ? nil : value
        }
        func separator(_ allowed: Set<Character>) -> Bool {
            guard index < scalars.count, allowed.contains(Character(scalars[index])) else { return false }
            index += 1
            return true
        }
        guard var year = number(maxDigits: 4) else { return nil }
        if let era {
            guard let gregorian = Wareki.gregorianYear(era: era, year: year) else { return nil }
            year = gregorian
        } else if year < 1000 {
            return nil
        }
        // 年月日 with an era's name, and with a Western year too (2026年4月1日).
        let named = (era != nil && !eraLetter) || (era == nil && index < scalars.count && scalars[index] == "年")
        let dateSeparators: Set<Character> = named ? ["年"] : ["-", "/", "."]
        guard separator(dateSeparators), let month = number(maxDigits: 2),
            separator(named ? ["月"] : dateSeparators), let day = number(maxDigits: 2)
        else { return nil }
        if named { _ = separator(["日"]) }
        // 平成31年5月1日 does not exist: 令和 had begun.
        if let era, !Wareki.covers(era: era, year: year, month: month, day: day) { return nil }
        var hour = 0
        var minute = 0
        var second = 0
        var milli = 0
        if index < scalars.count {
            guard separator([" ", "T"]) else { return nil }
            while separator([" "]) {}
            guard let h = number(maxDigits: 2), separator([":"]), let m = number(maxDigits: 2) else { return nil }
            (hour, minute) = (h, m)
            if separator([":"]) {
                guard let s = number(maxDigits: 2) else { return nil }
                second = s
                if separator(["."]) {
                    let start = index
                    guard let fraction = number(maxDigits: 3), index - start == 3 else { return nil }
                    milli = fraction
                }
            }
            guard index == scalars.count else { return nil }
        }
        func pad(_ value: Int, _ width: Int) -> String {
            let digits = String(value)
            return String(repeating: "0", count: max(0, width - digits.count)) + digits
        }
        return Timestamp(
            rfc3339:
                "\(pad(year, 4))-\(pad(month, 2))-\(pad(day, 2))T\(pad(hour, 2)):\(pad(minute, 2)):\(pad(second, 2)).\(pad(milli, 3))+09:00"
        )
    }
}
