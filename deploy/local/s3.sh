#!/usr/bin/env bash
# The local S3-compatible object store for the report center's S3 path:
# moto_server (PyPI moto[server], in memory) on 127.0.0.1:$S3_PORT.
# Sourced by up.sh, and run by the services' S3 test when the port is closed.
# Idempotent: installs moto if missing, starts it only if nothing listens.
# Buckets are made by their users (the test makes its own); nothing persists.

if [ -z "${ROOT:-}" ]; then
  set -euo pipefail
  source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
fi
S3_PORT="${HAOKA_S3_PORT:-9310}"
mkdir -p "$RUN" "$LOG"

have_moto="$(python3 -c "import importlib.metadata as m; print(m.version('moto'))" 2>/dev/null || true)"
if [ "$have_moto" = "$MOTO_VERSION" ] && python3 -c 'import moto.server, flask' 2>/dev/null; then
  unchanged "moto $MOTO_VERSION is installed"
else
  python3 -m pip --version >/dev/null 2>&1 || ensure_pkg pip3 python3-pip
  python3 -m pip install -q "moto[server]==$MOTO_VERSION" 2>/dev/null \
    || python3 -m pip install -q --break-system-packages "moto[server]==$MOTO_VERSION"
  changed "installed moto[server] $MOTO_VERSION"
fi

if port_open "$S3_PORT"; then
  unchanged "an S3 store listens on 127.0.0.1:$S3_PORT"
else
  # setsid + 9>&- : it outlives a test that started it and holds no lock of up.sh.
  setsid nohup python3 -m moto.server -H 127.0.0.1 -p "$S3_PORT" >>"$LOG/moto.log" 2>&1 9>&- </dev/null &
  echo $! >"$RUN/moto.pid"
  wait_port "$S3_PORT" 60 moto_server
  changed "started moto_server (S3) on 127.0.0.1:$S3_PORT (pid $(cat "$RUN/moto.pid"), log var/log/moto.log)"
fi
