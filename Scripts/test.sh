#!/usr/bin/env bash
# The whole test suite: the language-neutral vector check, then one build of everything (library, the
# three binaries the integration tests run, and the tests), then Swift Testing without rebuilding.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 Protocol/check_vectors.py
swift build --build-tests
swift test --skip-build "$@"
