#!/usr/bin/env bash
# The test command: makes sure the local stack is up, then runs every test suite.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
"$ROOT/deploy/local/up.sh"
cd "$ROOT"
# The portal's client logic (Vitest); its end-to-end suite in Chromium runs
# with the services tests (services/tests/portal_e2e.rs).
(cd portal && npm test --silent)
cargo test --workspace --no-fail-fast
