#if canImport(FoundationEssentials)
    public import FoundationEssentials
#else
    public import Foundation
#endif

/// An RFC 3339 instant with millisecond precision and the UTC offset it was written with.
///
/// Kiroku's only wire form is `YYYY-MM-DDTHH:MM:SS.sss` followed by `Z` or `±HH:MM`: exactly three fraction
/// digits, so that the same instant written by the same clock always has the same bytes (the hash covers
/// the text as written). Comparison and ordering use `epochMilliseconds`.
public struct Timestamp: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// Milliseconds since 1970-01-01T00:00:00Z.
    public var epochMilliseconds: Int64
    /// The offset from UTC, in minutes, that the writer's clock used.
    public var offsetMinutes: Int

    public init(epochMilliseconds: Int64, offsetMinutes: Int = 0) {
        self.epochMilliseconds = epochMilliseconds
        self.offsetMinutes = offsetMinutes
    }

    public static func < (lhs: Timestamp, rhs: Timestamp) -> Bool { lhs.epochMilliseconds < rhs.epochMilliseconds }

    /// Japan Standard Time (UTC+09:00), the offset the 管理者 and the 会議 read times in.
    public static let jstOffsetMinutes = 9 * 60

    /// The same instant written with another offset.
    public func withOffset(minutes: Int) -> Timestamp {
        Timestamp(epochMilliseconds: epochMilliseconds, offsetMinutes: minutes)
    }

    /// The wire form, e.g. `2026-11-27T09:30:00.000+09:00`.
    public var description: String { rfc3339 }

    /// The wire form, e.g. `2026-11-27T09:30:00.000+09:00`.
    public var rfc3339: String {
        let local = epochMilliseconds + Int64(offsetMinutes) * 60_000
        var days = local / 86_400_000
        var millisOfDay = local % 86_400_000
        if millisOfDay < 0 {
            millisOfDay += 86_400_000
            days -= 1
        }
        let (year, month, day) = Self.civil(fromDays: days)
        let hour = millisOfDay / 3_600_000
        let minute = millisOfDay / 60_000 % 60
        let second = millisOfDay / 1000 % 60
        let milli = millisOfDay % 1000
        var text = "\(pad(year, 4))-\(pad(month, 2))-\(pad(day, 2))T"
        text += "\(pad(hour, 2)):\(pad(minute, 2)):\(pad(second, 2)).\(pad(milli, 3))"
        if offsetMinutes == 0 {
            text += "Z"
        } else {
            let sign = offsetMinutes < 0 ? "-" : "+"
            let magnitude = abs(offsetMinutes)
            text += "\(sign)\(pad(Int64(magnitude / 60), 2)):\(pad(Int64(magnitude % 60), 2))"
        }
        return text
    }

    /// `YYYY-MM-DD HH:MM:SS` in the timestamp's own offset, for tables people read.
    public var displayText: String {
        let text = withOffset(minutes: offsetMinutes).rfc3339
        let chars = Array(text)
        return String(chars[0..<10]) + " " + String(chars[11..<19])
    }

    /// Parses the strict wire form; nil for anything else (no lowercase `t`/`z`, no missing fraction).
    public init?(rfc3339 text: String) {
        let b = Array(text.utf8)
        guard b.count == 24 || b.count == 29 else { return nil }
        func digits(_ start: Int, _ count: Int) -> Int64? {
            var value: Int64 = 0
            for index in start..<(start + count) {
                let byte = b[index]
                guard byte >= 48, byte <= 57 else { return nil }
                value = value * 10 + Int64(byte - 48)
            }
            return value
        }
        guard b[4] == UInt8(ascii: "-"), b[7] == UInt8(ascii: "-"), b[10] == UInt8(ascii: "T"),
            b[13] == UInt8(ascii: ":"), b[16] == UInt8(ascii: ":"), b[19] == UInt8(ascii: "."),
            let year = digits(0, 4), let month = digits(5, 2), let day = digits(8, 2),
            let hour = digits(11, 2), let minute = digits(14, 2), let second = digits(17, 2),
            let milli = digits(20, 3)
        else { return nil }
        guard (1...12).contains(month), day >= 1, day <= Self.daysIn(month: month, year: year),
            hour < 24, minute < 60, second < 60
        else { return nil }
        var offset = 0
        if b.count == 24 {
            guard b[23] == UInt8(ascii: "Z") else { return nil }
        } else {
            guard b[23] == UInt8(ascii: "+") || b[23] == UInt8(ascii: "-"), b[26] == UInt8(ascii: ":"),
                let offsetHours = digits(24, 2), let offsetMinutes = digits(27, 2),
                offsetHours < 24, offsetMinutes < 60
            else { return nil }
            offset = Int(offsetHours * 60 + offsetMinutes) * (b[23] == UInt8(ascii: "-") ? -1 : 1)
            if offset == 0 && b[23] == UInt8(ascii: "-") { return nil }  // "-00:00" means unknown offset
        }
        let days = Self.days(fromCivil: year, month, day)
        let local = days * 86_400_000 + hour * 3_600_000 + minute * 60_000 + second * 1000 + milli
        self.epochMilliseconds = local - Int64(offset) * 60_000
        self.offsetMinutes = offset
    }

    static func daysIn(month: Int64, year: Int64) -> Int64 {
        switch month {
        case 2: return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
    static func days(fromCivil year: Int64, _ month: Int64, _ day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = (month + 9) % 12
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    /// The proleptic Gregorian (year, month, day) of a count of days since 1970-01-01.
    public static func civil(fromDays days: Int64) -> (Int64, Int64, Int64) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (month <= 2 ? yoe + era * 400 + 1 : yoe + era * 400, month, day)
    }
}

extension Timestamp {
    /// The instant of a Foundation date (truncated to the millisecond), written with the given offset.
    public init(date: Date, offsetMinutes: Int = 0) {
        self.init(
            epochMilliseconds: Int64((date.timeIntervalSince1970 * 1000).rounded(.down)), offsetMinutes: offsetMinutes)
    }

    /// Now, written with this machine's UTC offset (the agent's wall clock).
    public static func localNow(_ date: Date = Date()) -> Timestamp {
        Timestamp(date: date, offsetMinutes: TimeZone.current.secondsFromGMT(for: date) / 60)
    }
}

private func pad(_ value: Int64, _ width: Int) -> String {
    let text = String(value)
    return text.count >= width ? text : String(repeating: "0", count: width - text.count) + text
}
