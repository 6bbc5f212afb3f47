/// What a finding says, in Japanese and in English, each sentence written from the same fields (the
/// actor, the day, the count…) in its own language's order, never one translated from the other. Stored
/// side by side (`summary`, `summary_ja`); the console and the report show the Japanese, the API both.
struct FindingText: Sendable, Equatable {
    var en: String
    var ja: String

    init(en: String, ja: String) {
        self.en = en
        self.ja = ja
    }

    /// Several problems of one finding, joined in each language.
    init(joining parts: [FindingText]) {
        en = parts.map(\.en).joined(separator: "; ")
        ja = parts.map(\.ja).joined(separator: "、")
    }

    /// `prefix: problems` in each language.
    func after(_ prefix: FindingText) -> FindingText {
        FindingText(en: "\(prefix.en): \(en)", ja: "\(prefix.ja): \(ja)")
    }
}
