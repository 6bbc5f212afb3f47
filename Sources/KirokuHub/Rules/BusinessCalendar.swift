import Foundation
import KirokuProtocol

/// The municipality's business calendar, in JST: opening hours on weekdays, and the days the office is
/// closed — weekends, 祝日 (given as data: they change by law and by year) and 年末年始 (12/29–1/3).
///
/// Configured as `"calendar": {"hours": "08:30-17:15", "holidays": ["2027-01-01", …], "year_end": true}`.
public struct BusinessCalendar: Sendable, Equatable, Codable {
    public var opens: Int
    public var closes: Int
    public var holidays: Set<String>
    public var yearEnd: Bool
    /// Days the office is open although it would be closed (a Sunday opening), from the calendar register.
    public var openDays: Set<String> = []

    /// 08:30–17:15 on weekdays, 年末年始 closed, no 祝日 until configured.
    public init(opens: Int = 8 * 60 + 30, closes: Int = 17 * 60 + 15, holidays: Set<String> = [], yearEnd: Bool = true)
    {
        self.opens = opens
        self.closes = closes
        self.holidays = holidays
        self.yearEnd = yearEnd
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case hours, holidays
        case yearEnd = "year_end"
    }

    public init(from decoder: any Decoder) throws {
        try decoder.refuseUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init()
        if let hours = try c.decodeIfPresent(String.self, forKey: .hours) {
            let parts = hours.split(separator: "-").map { $0.split(separator: ":").compactMap { Int($0) } }
            guard parts.count == 2,
                parts.allSatisfy({ $0.count == 2 && (0..<24).contains($0[0]) && (0..<60).contains($0[1]) })
            else {
                throw DecodingError.dataCorruptedError(
                    forKey: .hours, in: c, debugDescription: "hours are like 08:30-17:15")
            }
            opens = parts[0][0] * 60 + parts[0][1]
            closes = parts[1][0] * 60 + parts[1][1]
        }
        let days = try c.decodeIfPresent([String].self, forKey: .holidays) ?? []
        for day in days where Self.parse(day) == nil {
            throw DecodingError.dataCorruptedError(
                forKey: .holidays, in: c, debugDescription: "a holiday is YYYY-MM-DD, not \(day)")
        }
        holidays = Set(days)
        yearEnd = try c.decodeIfPresent(Bool.self, forKey: .yearEnd) ?? true
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(
            String(format: "%02d:%02d-%02d:%02d", opens / 60, opens % 60, closes / 60, closes % 60), forKey: .hours)
        try c.encode(holidays.sorted(), forKey: .holidays)
        try c.encode(yearEnd, forKey: .yearEnd)
    }

    static func parse(_ day: String) -> (Int, Int, Int)? {
        let parts = day.split(separator: "-").compactMap { Int($0) }
        guard day.count == 10, parts.count == 3, (1...12).contains(parts[1]), (1...31).contains(parts[2]) else {
            return nil
        }
        return (parts[0], parts[1], parts[2])
    }

    /// The JST calendar day of an instant, `YYYY-MM-DD`.
    public static func day(_ ms: Int64) -> String {
        let c = components(ms)
        return "\(c.year)-\(c.month < 10 ? "0" : "")\(c.month)-\(c.day < 10 ? "0" : "")\(c.day)"
    }

    /// Civil date, weekday (1 = Sunday … 7 = Saturday) and minute of the day in JST, by arithmetic: JST has
    /// no daylight saving time, and Foundation's Calendar cost more than every rule together.
    static func components(_ ms: Int64) -> (year: Int, month: Int, day: Int, weekday: Int, minute: Int) {
        let local = ms + 9 * 3_600_000
        var days = local / 86_400_000
        var rest = local % 86_400_000
        if rest < 0 {
            rest += 86_400_000
            days -= 1
        }
        let (year, month, day) = Timestamp.civil(fromDays: days)
        let weekday = Int(((days % 7) + 11) % 7) + 1  // 1970-01-01 was a Thursday
        return (Int(year), Int(month), Int(day), weekday, Int(rest / 60_000))
    }

    /// This calendar with the days of the calendar register (業務カレンダー) added: `holiday` rows closed,
    /// `open` rows open.
    public func adding(register rows: [[String: String]]) -> BusinessCalendar {
        var calendar = self
        for row in rows {
            guard let date = row["date"] else { continue }
            if row["type"] == "open" { calendar.openDays.insert(date) } else { calendar.holidays.insert(date) }
        }
        return calendar
    }

    /// Whether the office is closed all day (weekend, 祝日, 年末年始).
    public func isClosedDay(_ ms: Int64) -> Bool {
        if !openDays.isEmpty && openDays.contains(Self.day(ms)) { return false }
        let c = Self.components(ms)
        if c.weekday == 1 || c.weekday == 7 { return true }
        if yearEnd && ((c.month == 12 && c.day >= 29) || (c.month == 1 && c.day <= 3)) { return true }
        return !holidays.isEmpty && holidays.contains(Self.day(ms))
    }

    /// Whether an instant is within business hours.
    public func isOpen(_ ms: Int64) -> Bool {
        guard !isClosedDay(ms) else { return false }
        let minute = Self.components(ms).minute
        return minute >= opens && minute < closes
    }
}
