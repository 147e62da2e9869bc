#!/usr/bin/env bash
# Brings the local haoka stack up: installs and starts whatever is missing
# (MariaDB, RabbitMQ, Redis, OpenSSH), creates the shard databases, the proxy's
# MariaDB account and the schema, loads reference data, starts the SFTP drop on
# 127.0.0.1:2222. Idempotent: a second run changes nothing and prints no "up: +".
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
CHANGES=0
mkdir -p "$RUN" "$LOG"
# One run at a time: a second up.sh waits for the first, then finds nothing to do.
exec 9>"$RUN/up.lock"
flock 9

# --- packages -----------------------------------------------------------------
command -v cargo >/dev/null 2>&1 || die "cargo is missing: install Rust (rustup, 1.85 or newer) first"
ensure_pkg mariadb mariadb-server mariadb-client
ensure_pkg /usr/sbin/mariadbd mariadb-server
ensure_pkg redis-server redis-server
ensure_pkg rabbitmq-server rabbitmq-server
ensure_pkg /usr/sbin/sshd openssh-server
ensure_pkg sftp openssh-client
ensure_pkg ssh-keygen openssh-client
ensure_pkg python3 python3
ensure_pkg sysbench sysbench
ensure_pkg awk gawk
# Client libraries the proxy's compatibility tests drive (JDBC, PyMySQL).
ensure_pkg /usr/share/java/mariadb-java-client.jar libmariadb-java
ensure_pkg javac default-jdk-headless
if ! python3 -c 'import pymysql' 2>/dev/null; then
  ensure_pkg /usr/lib/python3/dist-packages/pymysql/__init__.py python3-pymysql
  python3 -c 'import pymysql' 2>/dev/null || python3 -m pip install -q pymysql
  changed "installed PyMySQL for $(command -v python3)"
fi

# --- servers ------------------------------------------------------------------
if port_open 3306; then
  unchanged "MariaDB answers on 127.0.0.1:3306"
else
  $SUDO mkdir -p /run/mysqld
  $SUDO chown mysql:mysql /run/mysqld 2>/dev/null || true
  $SUDO start-stop-daemon --start --oknodo --background --make-pidfile \
    --pidfile "$RUN/mariadb.pid" --exec /usr/sbin/mariadbd -- --user=mysql --bind-address=127.0.0.1
  wait_port 3306 60 MariaDB
  changed "started MariaDB (pid $(cat "$RUN/mariadb.pid"))"
fi

if port_open 6379; then
  unchanged "Redis answers on 127.0.0.1:6379"
else
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
    --pidfile "$RUN/redis.pid" --logfile "$LOG/redis.log" --dir "$VAR"
  wait_port 6379 20 Redis
  changed "started Redis (pid $(cat "$RUN/redis.pid"))"
fi

if port_open 5672; then
  unchanged "RabbitMQ answers on 127.0.0.1:5672"
else
  $SUDO env RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 rabbitmq-server -detached
  wait_port 5672 120 RabbitMQ
  $SUDO rabbitmqctl eval 'list_to_integer(os:getpid()).' 2>/dev/null | tr -d '\r' >"$RUN/rabbitmq.pid" || true
  changed "started RabbitMQ (pid $(cat "$RUN/rabbitmq.pid"))"
fi

# All local shards share one MariaDB: the proxy's pools (one per shard) need
# more than the default 151 connections.
max_conn="$(mysql_root -N -B -e 'SELECT @@global.max_connections')"
if [ "$max_conn" -lt 2000 ]; then
  mysql_root -e 'SET GLOBAL max_connections = 2000'
  changed "raised MariaDB max_connections from $max_conn to 2000"
else
  unchanged "MariaDB max_connections is $max_conn"
fi

# --- the proxy's MariaDB account ------------------------------------------------
# The account belongs to the machine's MariaDB, so its password lives with the
# machine (not the checkout): every checkout of haoka on this host shares it.
if [ ! -s "$BACKEND_PW_FILE" ]; then
  $SUDO install -d -m 755 "$(dirname "$SECRETS")"
  $SUDO install -d -m 700 -o "$(id -un)" "$SECRETS"
  (umask 077 && head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$BACKEND_PW_FILE")
  changed "generated the proxy's MariaDB password in $BACKEND_PW_FILE"
fi
PW="$(cat "$BACKEND_PW_FILE")"
if mariadb -h127.0.0.1 -P3306 -uhaoka_proxy -p"$PW" -e 'SELECT 1' >/dev/null 2>&1; then
  unchanged "MariaDB account haoka_proxy works"
else
  mysql_root <<SQL
CREATE USER IF NOT EXISTS 'haoka_proxy'@'127.0.0.1' IDENTIFIED BY '$PW';
CREATE USER IF NOT EXISTS 'haoka_proxy'@'localhost' IDENTIFIED BY '$PW';
ALTER USER 'haoka_proxy'@'127.0.0.1' IDENTIFIED BY '$PW';
ALTER USER 'haoka_proxy'@'localhost' IDENTIFIED BY '$PW';
GRANT ALL PRIVILEGES ON \`haoka\\_%\`.* TO 'haoka_proxy'@'127.0.0.1', 'haoka_proxy'@'localhost';
GRANT ALL PRIVILEGES ON \`sbtest\\_%\`.* TO 'haoka_proxy'@'127.0.0.1', 'haoka_proxy'@'localhost';
SQL
  changed "created MariaDB account haoka_proxy"
fi

# --- build ----------------------------------------------------------------------
(cd "$ROOT" && cargo build --release --quiet -p haoka-proxy)
PROXY_BIN="$ROOT/target/release/haoka-proxy"

# --- schema -------------------------------------------------------------------
apply_out="$("$PROXY_BIN" --config "$ROOT/deploy/local/proxy.toml" apply-schema \
  --ddl "$ROOT/schema/ddl" --schema haoka --all-schemas)"
created="$(grep -c '^created ' <<<"$apply_out" || true)"
if [ "$created" -gt 0 ]; then
  changed "schema: $(grep -v '^created ' <<<"$apply_out" | tr '\n' ' ')"
else
  unchanged "schema: every shard database and table exists"
fi

# --- reference data (broadcast tables, on every haoka shard and the global one) --
source "$ROOT/deploy/local/reference.sh"

# --- SFTP drop ----------------------------------------------------------------
source "$ROOT/deploy/local/sftp.sh"

# --- haoka-proxy on 127.0.0.1:3307 --------------------------------------------
PROXY_PID="$RUN/haoka-proxy.pid"
if pid_alive "$PROXY_PID" && ! [ "$PROXY_BIN" -nt "$PROXY_PID" ]; then
  unchanged "haoka-proxy runs on 127.0.0.1:3307 (pid $(cat "$PROXY_PID"))"
else
  if pid_alive "$PROXY_PID"; then
    kill "$(cat "$PROXY_PID")"
    for _ in $(seq 100); do pid_alive "$PROXY_PID" || break; sleep 0.1; done
  fi
  if port_open 3307; then
    # One proxy per machine on 3307: another checkout's hands the port over.
    other="$(pgrep -f "haoka-proxy --config" || true)"
    [ -n "$other" ] || die "127.0.0.1:3307 is taken by a process that is not haoka-proxy"
    kill $other
    for _ in $(seq 100); do port_open 3307 || break; sleep 0.1; done
  fi
  # 9>&- : the proxy must not inherit (and hold) up.sh's lock.
  nohup "$PROXY_BIN" --config "$ROOT/deploy/local/proxy.toml" >>"$LOG/haoka-proxy.log" 2>&1 9>&- &
  echo $! >"$PROXY_PID"
  wait_port 3307 30 haoka-proxy
  changed "started haoka-proxy on 127.0.0.1:3307 (pid $(cat "$PROXY_PID"), log var/log/haoka-proxy.log)"
fi

echo "up: done, $CHANGES change(s)"
