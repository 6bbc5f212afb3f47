#!/usr/bin/env bash
# Fuzzes the hub's input path (JSON parser, batch and draft decoders, event validator) for a bounded time.
#   Scripts/fuzz.sh [SECONDS]            coverage-guided libFuzzer (own build folder .build-fuzz; the first
#                                        build takes several minutes), corpus grown in .build-fuzz/corpus
#   Scripts/fuzz.sh --mutator [SECONDS]  the seeded random mutator on the normal debug build
# A crash or a broken property stops the run and leaves the input that caused it.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" = "--mutator" ]; then
    seconds=${2:-60}
    swift build --product kiroku-fuzz 2>&1 | grep -E '^error' || true
    exec "$(swift build --show-bin-path)/kiroku-fuzz" Fuzz/corpus "$seconds" "${SEED:-$RANDOM}"
fi
seconds=${1:-300}
flags=(-Xswiftc -sanitize=fuzzer -Xswiftc -parse-as-library -Xswiftc -DKIROKU_LIBFUZZER)
swift build --scratch-path .build-fuzz --product kiroku-fuzz "${flags[@]}" 2>&1 | grep -E '^error|Compiling kiroku|Build complete' || true
bin="$(swift build --scratch-path .build-fuzz "${flags[@]}" --show-bin-path)/kiroku-fuzz"
mkdir -p .build-fuzz/corpus .build-fuzz/crashes
cp -n Fuzz/corpus/* .build-fuzz/corpus/ 2>/dev/null || true
exec "$bin" .build-fuzz/corpus -max_total_time="$seconds" -max_len=65536 -artifact_prefix=.build-fuzz/crashes/ -print_final_stats=1
