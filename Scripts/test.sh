#!/usr/bin/env bash
# The whole test suite: the language-neutral vector check, the style lint, then one build of everything (library, the
# three binaries the integration tests run, and the tests), a throwaway PostgreSQL cluster, then Swift Testing without
# rebuilding.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 Protocol/check_vectors.py
# House style (.swift-format), enforced: a finding stops the run before the build. `swift format format -i -r`
# over the same paths fixes nearly all of them (see CONTRIBUTING.md).
swift format lint --strict --parallel -r Package.swift Sources Tests Benchmarks Fuzz
swift build --build-tests
log=$(mktemp)
pgdir=
cleanup() {
    rm -f "$log"
    if [ -n "$pgdir" ]; then Scripts/postgres.sh stop "$pgdir"; fi
}
trap cleanup EXIT
# The PostgreSQL store's tests run against a throwaway cluster started here (or the server KIROKU_TEST_POSTGRES
# names). Without PostgreSQL installed they fail and say so; they are never skipped.
if [ -z "${KIROKU_TEST_POSTGRES:-}" ]; then
    pgdir=$(mktemp -d /tmp/kiroku-pg.XXXXXX)
    eval "$(Scripts/postgres.sh start "$pgdir")"
fi
status=0
swift test --skip-build "$@" 2>&1 | tee "$log" || status=$?
# One summary of the fault scenarios (each test printed its row), then the runner's own closing line again.
if grep -q '^FAULT |' "$log"; then
    echo
    echo "Fault scenarios: scenario | produced | acknowledged | at hub | lost | duplicated | verdict"
    grep '^FAULT |' "$log" | sed 's/^FAULT | //'
    grep '^LOAD |' "$log" | sed 's/^LOAD | /load: /' || true
    grep -E '(Test run with .* (passed|failed)|Executed .* tests)' "$log" | tail -1
fi
exit $status
