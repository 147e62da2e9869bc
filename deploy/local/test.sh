#!/usr/bin/env bash
# The test command: makes sure the local stack is up, then runs every test suite.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
"$ROOT/deploy/local/up.sh"
cd "$ROOT"
cargo test --workspace --no-fail-fast
