/// 和暦: the Japanese eras as data, so that a new era is one more line here (and a test at its boundary).
/// Each era starts on its day in the Gregorian calendar; its first year is 元年 (year 1). The 年度 (fiscal
/// year) runs from 1 April to 31 March and is named by the year it starts in.
public enum Wareki {
    public struct Era: Sendable, Equatable {
        public var name: String
        /// The one-letter abbreviation forms use (`R8.4.1`).
        public var letter: Character
        public var start: (year: Int, month: Int, day: Int)

        public static func == (a: Era, b: Era) -> Bool { a.name == b.name }
    }

    /// 明治 (from the Gregorian calendar's adoption for dates, 1873, forms use 明治 from its start) to 令和.
    public static let eras: [Era] = [
        Era(name: "明治", letter: "M", start: (1868, 10, 23)),
        Era(name: "大正", letter: "T", start: (1912, 7, 30)),
        Era(name: "昭和", letter: "S", start: (1926, 12, 25)),
        Era(name: "平成", letter: "H", start: (1989, 1, 8)),
        Era(name: "令和", letter: "R", start: (2019, 5, 1)),
    ]

    /// The era a Gregorian date falls in, and its year in that era; nil before 明治.
    public static func era(year: Int, month: Int, day: Int) -> (era: Era, year: Int)? {
        let date = year * 10_000 + month * 100 + day
        guard let era = eras.last(where: { $0.start.year * 10_000 + $0.start.month * 100 + $0.start.day <= date })
        else {
            return nil
        }
        return (era, year - era.start.year + 1)
    }

    /// `令和8年4月1日`, `令和元年5月1日`; the Gregorian date unchanged before 明治.
    public static func date(year: Int, month: Int, day: Int) -> String {
        guard let (era, eraYear) = era(year: year, month: month, day: day) else { return "\(year)年\(month)月\(day)日" }
        return "\(era.name)\(eraYear == 1 ? "元" : String(eraYear))年\(month)月\(day)日"
    }

    /// The Gregorian year of `eraYear` of the era named `name` (`令和`) or lettered (`R`), if the era had
    /// such a year (令和 has no year before its first; 平成31 ends on 30 April 2019).
    public static func gregorianYear(era name: String, year eraYear: Int) -> Int? {
        guard eraYear >= 1,
            let index = eras.firstIndex(where: { $0.name == name || String($0.letter) == name.uppercased() })
        else { return nil }
        let year = eras[index].start.year + eraYear - 1
        if index + 1 < eras.count, year > eras[index + 1].start.year { return nil }
        // The newest era has no end yet; a year in it past 99 is a typing error, not a date.
        if eraYear > 99 { return nil }
        return year
    }

    /// Whether the date is one the era named actually covers (平成31年5月1日 is not).
    public static func covers(era name: String, year: Int, month: Int, day: Int) -> Bool {
        guard let found = era(year: year, month: month, day: day) else { return false }
        return found.era.name == name || String(found.era.letter) == name.uppercased()
    }

    /// The 年度 a date falls in (April–March), as the Gregorian year it starts in.
    public static func fiscalYear(year: Int, month: Int) -> Int { month >= 4 ? year : year - 1 }

    /// `令和8年度`. A fiscal year in which the era changed is named by the new era (2019 is 令和元年度, as the
    /// government renamed 平成31年度), unless the new era began after it ended.
    public static func fiscalYearName(_ fiscalYear: Int) -> String {
        for (month, day, yearOffset) in [(3, 31, 1), (4, 1, 0)] {
            if let (era, _) = era(year: fiscalYear + yearOffset, month: month, day: day) {
                let eraYear = fiscalYear - era.start.year + 1
                if eraYear >= 1 { return "\(era.name)\(eraYear == 1 ? "元" : String(eraYear))年度" }
            }
        }
        return "\(fiscalYear)年度"
    }
}
