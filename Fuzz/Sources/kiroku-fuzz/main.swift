// kiroku-fuzz: fuzzes the hub's input path (JSONParser, Batch.parse, EventDraft.parse, Event.validate)
// against ParserProperties. Two modes, both driven by Scripts/fuzz.sh:
// - libFuzzer (coverage-guided): built with -sanitize=fuzzer -parse-as-library -D KIROKU_LIBFUZZER;
// - a seeded random mutator over Fuzz/corpus (plain build): kiroku-fuzz CORPUS_DIR SECONDS [SEED].

import KirokuProtocol

#if KIROKU_LIBFUZZER
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let bytes = [UInt8](UnsafeRawBufferPointer(start: start, count: count))
    if let problem = ParserProperties.violation(bytes) { fatalError(problem) }
    return 0
}
#else
import Foundation

let arguments = CommandLine.arguments
guard arguments.count >= 3, let seconds = Double(arguments[2]) else {
    print("usage: kiroku-fuzz CORPUS_DIR SECONDS [SEED]")
    exit(64)
}
let seed = arguments.count > 3 ? UInt64(arguments[3]) ?? 1 : UInt64(Date().timeIntervalSince1970)
let files = try FileManager.default.contentsOfDirectory(atPath: arguments[1]).sorted()
let corpus = try files.map { [UInt8](try Data(contentsOf: URL(filePath: arguments[1]).appending(path: $0))) }
var mutator = Mutator(seed: seed, corpus: corpus)
let deadline = Date().addingTimeInterval(seconds)
let crashFile = "kiroku-fuzz-current-input"
var runs = 0
while Date() < deadline {
    let input = mutator.next()
    // Kept on disk so that if the parser traps, the script can show the input that did it.
    _ = FileManager.default.createFile(atPath: crashFile, contents: Data(input))
    if let problem = ParserProperties.violation(input) {
        print("VIOLATION: \(problem); input saved in \(crashFile)")
        exit(1)
    }
    runs += 1
}
try? FileManager.default.removeItem(atPath: crashFile)
print("kiroku-fuzz: \(runs) inputs in \(Int(seconds)) s from \(corpus.count) corpus files, seed \(seed): 0 violations")
#endif
