#!/usr/bin/env bash
# Builds release (benchmarks are meaningless in debug, docs/ARCHITECTURE.md, stack note 12) and runs kiroku-bench, which prints
# every figure beside a baseline measured in the same run. Arguments go to kiroku-bench:
#   Benchmarks/run.sh                 all benchmarks (1,000,000-event sync)
#   Benchmarks/run.sh sync --count 200000
#   Benchmarks/run.sh postgres        the PostgreSQL store's ingest (a throwaway cluster unless KIROKU_BENCH_POSTGRES
#                                     names one); `queries --count N`: the 管理者's queries on both stores
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release 2>&1 | grep -E '^(error|warning: [^'"'"'])|Compiling|Build complete' | grep -v Compiling || true
if { [ "${1:-}" = postgres ] || [ "${1:-}" = queries ]; } && [ -z "${KIROKU_BENCH_POSTGRES:-}" ]; then
    pgdir=$(mktemp -d /tmp/kiroku-bench-pg.XXXXXX)
    trap 'Scripts/postgres.sh stop "$pgdir"' EXIT
    eval "$(Scripts/postgres.sh start "$pgdir" | sed 's/KIROKU_TEST_POSTGRES/KIROKU_BENCH_POSTGRES/')"
fi
"$(swift build -c release --show-bin-path)/kiroku-bench" "$@"
