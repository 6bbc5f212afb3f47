import Foundation

/// The language people read: Japanese unless `KIROKU_LANG`, `LC_ALL` or `LANG` (in that order) says English
/// (`en`, `en_US.UTF-8`). The programs' `--lang ja|en` sets `KIROKU_LANG` (``takeFlag(from:)``). Help texts,
/// what a command reports it did, headers, counts and the meaning of each error follow it; the data does not.
public enum Language {
    public static var prefersJapanese: Bool {
        let environment = ProcessInfo.processInfo.environment
        // The first of them that is set and not empty (an empty variable says nothing).
        let language =
            ["KIROKU_LANG", "LC_ALL", "LANG"].lazy.compactMap { environment[$0] }.first { !$0.isEmpty } ?? ""
        return !language.lowercased().hasPrefix("en")
    }

    /// One text in both languages, as ``prefersJapanese`` says.
    public static func localized(_ japanese: String, en english: String) -> String {
        prefersJapanese ? japanese : english
    }

    /// Takes `--lang ja|en` (or `--lang=…`) out of a command line, wherever it stands, and keeps it as
    /// `KIROKU_LANG` for everything that prints afterwards (help included: ArgumentParser reads the help
    /// texts only once it parses). Nil when the value is neither `ja` nor `en`.
    public static func takeFlag(from arguments: [String]) -> [String]? {
        var arguments = arguments
        guard let index = arguments.firstIndex(where: { $0 == "--lang" || $0.hasPrefix("--lang=") }) else {
            return arguments
        }
        let value: String
        if arguments[index] == "--lang" {
            guard index + 1 < arguments.count else { return nil }
            value = arguments[index + 1]
            arguments.removeSubrange(index...(index + 1))
        } else {
            value = String(arguments[index].dropFirst("--lang=".count))
            arguments.remove(at: index)
        }
        guard ["ja", "en"].contains(value) else { return nil }
        setenv("KIROKU_LANG", value, 1)
        return arguments
    }

    /// This process's arguments with `--lang` taken out (``takeFlag(from:)``); a value other than `ja` or
    /// `en` stops the program with a usage error (64) naming it.
    public static func commandLine(program: String) -> [String] {
        guard let arguments = takeFlag(from: Array(CommandLine.arguments.dropFirst())) else {
            FileHandle.standardError.write(Data("\(program): --lang is ja or en\n".utf8))
            exit(64)
        }
        return arguments
    }
}
