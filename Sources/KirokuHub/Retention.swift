public import Foundation
public import KirokuProtocol

/// How long each kind of event is kept before its payload is purged (invariant 5, docs/ARCHITECTURE.md).
///
/// Written in the hub configuration as `"retention": {"default": "7y", "agent": "1y", "access": "5y"}`: a
/// whole number of years (`y`, calendar years in JST) or days (`d`). Operation history (`operation`) can
/// never be set below seven years (第20②): the hub refuses to start. Kinds not named take `default`.
public struct RetentionPolicy: Sendable, Equatable, Codable {
    public enum Period: Sendable, Equatable, Codable, CustomStringConvertible {
        case years(Int)
        case days(Int)

        public init(_ text: String) throws(KirokuError) {
            guard let unit = text.last, let number = Int(text.dropLast()), number >= 1, number <= 1000 else {
                throw KirokuError(.configuration, "a retention period is like 7y or 400d, not '\(text.prefix(20))'")
            }
            switch unit {
            case "y": self = .years(number)
            case "d": self = .days(number)
            default:
                throw KirokuError(
                    .configuration, "a retention period ends in y (years) or d (days), not '\(text.prefix(20))'")
            }
        }

        public var description: String {
            switch self {
            case .years(let n): "\(n)y"
            case .days(let n): "\(n)d"
            }
        }

        /// At least this many days (a year counted as 365).
        var minimumDays: Int {
            switch self {
            case .years(let n): n * 365
            case .days(let n): n
            }
        }

        /// Events older than this instant are past the period, at `now`.
        public func cutoff(now: Date) -> Date {
            var calendar = Calendar(identifier: .gregorian)
            calendar.timeZone = TimeZone(secondsFromGMT: 9 * 3600)!
            switch self {
            case .years(let n): return calendar.date(byAdding: .year, value: -n, to: now)!
            case .days(let n): return now.addingTimeInterval(-Double(n) * 86_400)
            }
        }

        public init(from decoder: any Decoder) throws {
            let text = try decoder.singleValueContainer().decode(String.self)
            self = try Period(text)
        }

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.singleValueContainer()
            try container.encode(description)
        }
    }

    public var periods: [String: Period]
    public var fallback: Period

    /// Seven years for everything: what 第20② asks of operation history, applied to all kinds.
    public init(periods: [String: Period] = [:], fallback: Period = .years(7)) {
        self.periods = periods
        self.fallback = fallback
    }

    /// Reads `{"default": "7y", "<kind>": "…"}`.
    public init(from decoder: any Decoder) throws {
        let raw = try decoder.singleValueContainer().decode([String: String].self)
        var periods: [String: Period] = [:]
        var fallback = Period.years(7)
        for (name, text) in raw {
            let period = try Period(text)
            if name == "default" { fallback = period } else { periods[name] = period }
        }
        self.init(periods: periods, fallback: fallback)
    }

    public func encode(to encoder: any Encoder) throws {
        var raw = periods.mapValues(\.description)
        raw["default"] = fallback.description
        var container = encoder.singleValueContainer()
        try container.encode(raw)
    }

    public func period(for kind: String) -> Period { periods[kind] ?? fallback }

    /// Refuses unknown kinds, and operation history kept less than seven years.
    public func validate() throws(KirokuError) {
        for kind in periods.keys where EventKind.named(kind) == nil {
            throw KirokuError(.configuration, "retention names an unknown kind '\(kind.prefix(40))'")
        }
        let operation = period(for: "operation")
        if operation.minimumDays < 7 * 365 {
            throw KirokuError(
                .configuration,
                "retention for operation is \(operation); 第20② requires operation history to be kept and analysable for at least 7 years (7y)"
            )
        }
        if period(for: "record").minimumDays < 7 * 365 {
            throw KirokuError(.configuration, "the hub's own records (kind record) are kept at least 7 years")
        }
    }
}
