#!/usr/bin/env bash
# Stops only what up.sh started, by the pid files it left in var/run.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
stopped=0
for name in haoka-batch haoka-server haoka-proxy sshd rabbitmq redis mariadb; do
  pidfile="$RUN/$name.pid"
  [ -f "$pidfile" ] || continue
  if pid_alive "$pidfile"; then
    $SUDO kill "$(cat "$pidfile")"
    for _ in $(seq 50); do pid_alive "$pidfile" || break; sleep 0.1; done
    echo "down: stopped $name (pid $(cat "$pidfile"))"
    stopped=$((stopped + 1))
  fi
  rm -f "$pidfile"
done
echo "down: done, $stopped process(es) stopped"
