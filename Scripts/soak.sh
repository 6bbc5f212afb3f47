#!/usr/bin/env bash
# The long, bounded runs of issue 3: the fault scenarios again and again (cut points and kill timings are
# random, so each round differs), then coverage-guided fuzzing, for about MINUTES in all (default 30).
#   Scripts/soak.sh [MINUTES]
# Stops at the first failing round and leaves its log; prints one summary line per round.
set -euo pipefail
cd "$(dirname "$0")/.."
minutes=${1:-30}
fuzz_seconds=$(( minutes * 60 / 4 ))
deadline=$(( $(date +%s) + minutes * 60 - fuzz_seconds ))
swift build --build-tests 2>&1 | grep -E '^error|Build complete' || true
logs=$(mktemp -d)
round=0
while [ "$(date +%s)" -lt "$deadline" ]; do
    round=$((round + 1))
    log="$logs/round-$round.log"
    if ! swift test --skip-build --filter 'FaultTests|LoadTests' > "$log" 2>&1; then
        echo "round $round FAILED; log: $log"
        grep -E 'recorded an issue|FAULT' "$log" | head -20
        exit 1
    fi
    rows=$(grep -c '^FAULT |' "$log" || true)
    failed=$(grep '^FAULT |' "$log" | grep -vc 'PASS$' || true)
    echo "round $round: $rows fault scenarios, $failed not PASS"
    [ "$failed" = 0 ] || { grep '^FAULT |' "$log"; exit 1; }
done
echo "fault rounds: $round passed, 0 failed"
Scripts/fuzz.sh "$fuzz_seconds"
