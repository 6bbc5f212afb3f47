import ArgumentParser
import KirokuProtocol

/// One text a person reads, in both languages (``Language``): help, and what a command says it did.
func localized(_ japanese: String, en english: String) -> String { Language.localized(japanese, en: english) }

extension ArgumentHelp {
    /// An option's help in both languages.
    static func localized(_ japanese: String, en english: String) -> ArgumentHelp {
        ArgumentHelp(Language.localized(japanese, en: english))
    }
}
