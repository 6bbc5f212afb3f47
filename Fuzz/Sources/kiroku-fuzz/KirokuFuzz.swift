// kiroku-fuzz: fuzzes the hub's input path (JSONParser, Batch.parse, EventDraft.parse, Event.validate)
// against ParserProperties. Two modes, both driven by Scripts/fuzz.sh:
// - libFuzzer (coverage-guided): built with -sanitize=fuzzer -parse-as-library -D KIROKU_LIBFUZZER;
// - a seeded random mutator over Fuzz/corpus (plain build): kiroku-fuzz CORPUS_DIR SECONDS [SEED].
// (No main.swift: top-level code is not allowed under -parse-as-library, even in an inactive #if.)

import KirokuProtocol

#if KIROKU_LIBFUZZER
    @_cdecl("LLVMFuzzerTestOneInput")
    public func fuzzOne(_ start: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
        let bytes = start.map { [UInt8](UnsafeBufferPointer(start: $0, count: count)) } ?? []
        if let problem = ParserProperties.violation(bytes) { fatalError(problem) }
        return 0
    }

    @_silgen_name("LLVMFuzzerRunDriver")
    func runFuzzerDriver(
        _ argc: UnsafeMutablePointer<CInt>,
        _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
        _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
    ) -> CInt

    /// SwiftPM links executables with `main` pointing at `<module>_main`; hand control to libFuzzer's driver.
    @_cdecl("kiroku_fuzz_main")
    public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
        var count = argc
        var values = argv
        return runFuzzerDriver(&count, &values, fuzzOne)
    }
#else
    import Foundation

    @main
    struct KirokuFuzz {
        static func main() throws {
            let arguments = CommandLine.arguments
            guard arguments.count >= 3, let seconds = Double(arguments[2]) else {
                print("usage: kiroku-fuzz CORPUS_DIR SECONDS [SEED]")
                exit(64)
            }
            let seed = arguments.count > 3 ? UInt64(arguments[3]) ?? 1 : UInt64(Date().timeIntervalSince1970)
            let folder = URL(filePath: arguments[1])
            let files = try FileManager.default.contentsOfDirectory(atPath: folder.path).sorted()
            let corpus = try files.map { [UInt8](try Data(contentsOf: folder.appending(path: $0))) }
            var mutator = Mutator(seed: seed, corpus: corpus)
            let deadline = Date().addingTimeInterval(seconds)
            let crashFile = "kiroku-fuzz-current-input"
            var runs = 0
            while Date() < deadline {
                let input = mutator.next()
                // Kept on disk so that if the parser traps, the input that did it is there to see.
                _ = FileManager.default.createFile(atPath: crashFile, contents: Data(input))
                if let problem = ParserProperties.violation(input) {
                    print("VIOLATION: \(problem); input saved in \(crashFile)")
                    exit(1)
                }
                runs += 1
            }
            try? FileManager.default.removeItem(atPath: crashFile)
            print(
                "kiroku-fuzz: \(runs) inputs in \(Int(seconds)) s from \(corpus.count) corpus files, seed \(seed): 0 violations"
            )
        }
    }
#endif
