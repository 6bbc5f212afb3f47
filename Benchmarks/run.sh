#!/usr/bin/env bash
# Builds release (benchmarks are meaningless in debug, docs/ARCHITECTURE.md, stack note 12) and runs kiroku-bench, which prints
# every figure beside a baseline measured in the same run. Arguments go to kiroku-bench:
#   Benchmarks/run.sh                 all benchmarks (1,000,000-event sync)
#   Benchmarks/run.sh sync --count 200000
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release 2>&1 | grep -E '^(error|warning: [^'"'"'])|Compiling|Build complete' | grep -v Compiling || true
"$(swift build -c release --show-bin-path)/kiroku-bench" "$@"
