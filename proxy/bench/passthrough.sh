#!/usr/bin/env bash
# Passthrough overhead benchmark: sysbench oltp_point_select against MariaDB
# directly, then through the passthrough proxy on 127.0.0.1:3399; prints both
# QPS, the ratio and the proxy's CPU seconds per query. Then, as a floor
# reference, through a protocol-blind TCP relay (`haoka-loadtest relay`) on
# 3398: the cost of the extra hop itself, with zero parsing.
#
# Usage: proxy/bench/passthrough.sh [extra sysbench args, e.g. --db-ps-mode=disable]
# Env: THREADS (32), TIME (20), MYSQL_HOST/MYSQL_PORT (127.0.0.1/3306).
set -euo pipefail
cd "$(dirname "$0")/../.."

THREADS=${THREADS:-32}
TIME=${TIME:-20}
HOST=${MYSQL_HOST:-127.0.0.1}
PORT=${MYSQL_PORT:-3306}
PROXY_PORT=${PROXY_PORT:-3399}
DB=proto_sbtest
EXTRA=("$@")

command -v sysbench >/dev/null || { echo "sysbench missing: apt-get install -y sysbench" >&2; exit 1; }
cargo build --release -q -p haoka-proxy --example passthrough
cargo build --release -q -p haoka-loadtest
BIN=target/release/examples/passthrough

mariadb -h"$HOST" -P"$PORT" -uroot -e "CREATE DATABASE IF NOT EXISTS $DB"
SB=(sysbench oltp_point_select --mysql-user=root --mysql-password= --mysql-db=$DB
    --tables=4 --table-size=10000 --threads="$THREADS" --time="$TIME" --report-interval=0)

# Prepare once, directly on MariaDB.
if ! mariadb -h"$HOST" -P"$PORT" -uroot -N -e "SELECT COUNT(*) FROM $DB.sbtest4" 2>/dev/null | grep -q 10000; then
    "${SB[@]}" --mysql-host="$HOST" --mysql-port="$PORT" cleanup >/dev/null 2>&1 || true
    "${SB[@]}" --mysql-host="$HOST" --mysql-port="$PORT" prepare >/dev/null
fi

qps_of() { awk '/queries:/ { gsub(/[()]/, "", $3); print $3 }'; }

echo "== direct MariaDB ($THREADS threads, ${TIME}s ${EXTRA[*]:-})"
direct=$("${SB[@]}" "${EXTRA[@]}" --mysql-host="$HOST" --mysql-port="$PORT" run | qps_of)
echo "direct QPS: $direct"

"$BIN" "127.0.0.1:$PROXY_PORT" "$HOST:$PORT" 2>/tmp/passthrough-bench.log &
PID=$!
RELAY_PID=
trap 'kill $PID $RELAY_PID 2>/dev/null || true' EXIT
for _ in $(seq 50); do
    mariadb -h127.0.0.1 -P"$PROXY_PORT" -uroot -e "SELECT 1" >/dev/null 2>&1 && break
    sleep 0.1
done

cpu() { awk '{ print $14 + $15 }' "/proc/$PID/stat"; }
tck=$(getconf CLK_TCK)
before=$(cpu)
out=$("${SB[@]}" "${EXTRA[@]}" --mysql-host=127.0.0.1 --mysql-port="$PROXY_PORT" run)
after=$(cpu)
proxied=$(echo "$out" | qps_of)
queries=$(echo "$out" | awk '/total:/ && !done { print $2; done=1 }')
echo "proxied QPS: $proxied"
awk -v d="$direct" -v p="$proxied" -v b="$before" -v a="$after" -v t="$tck" -v q="$queries" 'BEGIN {
    printf "ratio proxied/direct: %.3f\n", p / d;
    cpu = (a - b) / t;
    printf "proxy CPU: %.2f s for %d queries = %.1f us/query\n", cpu, q, cpu / q * 1e6;
}'

kill $PID
target/release/haoka-loadtest relay "127.0.0.1:3398" "$HOST:$PORT" &
RELAY_PID=$!
sleep 0.3
relay=$("${SB[@]}" "${EXTRA[@]}" --mysql-host=127.0.0.1 --mysql-port=3398 run | qps_of)
echo "tcp relay QPS (floor reference): $relay"
awk -v d="$direct" -v p="$proxied" -v r="$relay" 'BEGIN {
    printf "ratio relay/direct: %.3f   passthrough/relay: %.3f\n", r / d, p / r;
}'
