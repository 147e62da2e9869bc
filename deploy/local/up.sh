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
# kubectl renders the Kustomize overlays (deploy/k8s/check.py); Debian's own
# kubernetes-client is old, so a kubectl already on the machine is kept.
ensure_pkg kubectl kubernetes-client
# promtool checks the alerting rules and dashboard queries (deploy/grafana/check.py).
ensure_pkg promtool prometheus
# Client libraries the proxy's compatibility tests drive (JDBC, PyMySQL; more below).
ensure_pkg /usr/share/java/mariadb-java-client.jar libmariadb-java
ensure_pkg javac default-jdk-headless
# The operator portal is built with Node/npm; its end-to-end tests drive
# Debian's Chromium (CJK fonts so the screenshots show the Chinese UI).
ensure_pkg node nodejs
ensure_pkg npm npm
ensure_pkg /usr/bin/chromium chromium
ensure_pkg /usr/share/fonts/truetype/wqy/wqy-microhei.ttc fonts-wqy-microhei
if ! python3 -c 'import pymysql' 2>/dev/null; then
  ensure_pkg /usr/lib/python3/dist-packages/pymysql/__init__.py python3-pymysql
  python3 -c 'import pymysql' 2>/dev/null || python3 -m pip install -q pymysql
  changed "installed PyMySQL for $(command -v python3)"
fi
# schemathesis fuzzes the server's OpenAPI document in the tests.
st_have="$(python3 -c 'import importlib.metadata as m; print(m.version("schemathesis"))' 2>/dev/null || true)"
if [ "$st_have" = "$SCHEMATHESIS_VERSION" ] && command -v schemathesis >/dev/null 2>&1; then
  unchanged "schemathesis $st_have is installed"
else
  python3 -m pip --version >/dev/null 2>&1 || ensure_pkg pip3 python3-pip
  # Debian's own python3 wants --break-system-packages for a user-wide install.
  python3 -m pip install -q "schemathesis==$SCHEMATHESIS_VERSION" 2>/dev/null \
    || python3 -m pip install -q --break-system-packages "schemathesis==$SCHEMATHESIS_VERSION"
  if command -v pyenv >/dev/null 2>&1; then pyenv rehash; fi
  command -v schemathesis >/dev/null 2>&1 || die "schemathesis is installed but not on PATH"
  changed "installed schemathesis $SCHEMATHESIS_VERSION"
fi

# Drivers the proxy's driver tests run (proxy/tests/e2e_drivers.rs).
pip_version() { python3 -c "import importlib.metadata as m; print(m.version('$1'))" 2>/dev/null || true; }
# ...the OpenAPI 3.1 validator the services' document test runs, and the
# static checks of deploy/docker and deploy/k8s (deploy/tests/tests/static_deploy.rs).
for spec in "mysql-connector-python==$MYSQL_CONNECTOR_PYTHON_VERSION" "sqlalchemy==$SQLALCHEMY_VERSION" \
  "openapi-spec-validator==$OPENAPI_SPEC_VALIDATOR_VERSION" \
  "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION" "dockerfile==$DOCKERFILE_PARSER_VERSION"; do
  name="${spec%%==*}"
  want="${spec##*==}"
  if [ "$(pip_version "$name")" = "$want" ]; then
    unchanged "$name $want is installed"
  else
    python3 -m pip --version >/dev/null 2>&1 || ensure_pkg pip3 python3-pip
    python3 -m pip install -q "$spec" 2>/dev/null \
      || python3 -m pip install -q --break-system-packages "$spec"
    changed "installed $name $want"
  fi
done
ensure_pkg node nodejs
ensure_pkg npm npm
DRIVERS="$ROOT/proxy/tests/drivers"
locked_mysql2="$(node -p "require('$DRIVERS/package-lock.json').packages['node_modules/mysql2'].version")"
have_mysql2="$(node -p "require('$DRIVERS/node_modules/mysql2/package.json').version" 2>/dev/null || true)"
if [ "$have_mysql2" = "$locked_mysql2" ]; then
  unchanged "node mysql2 $have_mysql2 is installed in proxy/tests/drivers"
else
  (cd "$DRIVERS" && npm ci --no-audit --no-fund --silent)
  changed "installed node mysql2 $locked_mysql2 in proxy/tests/drivers (npm ci)"
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
# The proxy keeps up to 256 prepared statements per backend connection; with
# hundreds of pooled connections the default server-wide cap (16382) runs out
# (ERR 1461) long before the connection limit does.
max_stmt="$(mysql_root -N -B -e 'SELECT @@global.max_prepared_stmt_count')"
if [ "$max_stmt" -lt 1048576 ]; then
  mysql_root -e 'SET GLOBAL max_prepared_stmt_count = 1048576'
  changed "raised MariaDB max_prepared_stmt_count from $max_stmt to 1048576"
else
  unchanged "MariaDB max_prepared_stmt_count is $max_stmt"
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
(cd "$ROOT" && cargo build --release --quiet -p haoka-proxy -p haoka-services -p haoka-batch)
PROXY_BIN="$ROOT/target/release/haoka-proxy"
SERVER_BIN="$ROOT/target/release/haoka-server"

# --- the operator portal (portal/dist, served by haoka-server) ------------------
source "$ROOT/deploy/local/portal.sh"

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

# --- S3-compatible store (moto) on 127.0.0.1:9310 for the report center's S3 test
source "$ROOT/deploy/local/s3.sh"

# --- haoka-proxy on 127.0.0.1:3307 --------------------------------------------
RESTART_IF_NEWER="$ROOT/deploy/local/proxy.toml $ROOT/schema/rules.toml" \
  ensure_daemon haoka-proxy 3307 "$PROXY_BIN" --config "$ROOT/deploy/local/proxy.toml"

# --- haoka-server on 127.0.0.1:8080 -------------------------------------------
# The seal key protects channel API secrets at rest; like the proxy's
# password it belongs to the machine's databases, not to the checkout.
if [ ! -s "$SEAL_KEY_FILE" ]; then
  (umask 077 && head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$SEAL_KEY_FILE")
  changed "generated the server's seal key in $SEAL_KEY_FILE"
fi
SERVER_CONF="$ROOT/deploy/local/server.toml"
# The initial administrator: created once; its password is printed once and
# kept only in a root-only file.
if [ -s "$ADMIN_PW_FILE" ]; then
  unchanged "administrator 'admin' exists (password in $ADMIN_PW_FILE)"
else
  admin_pw="$("$SERVER_BIN" --config "$SERVER_CONF" create-admin --staff-no admin)"
  if [ -n "$admin_pw" ]; then
    (umask 077 && printf '%s\n' "$admin_pw" >"$ADMIN_PW_FILE")
    changed "created administrator 'admin' with password $admin_pw (printed once; kept in $ADMIN_PW_FILE)"
  else
    unchanged "administrator 'admin' exists (its password was printed when it was created)"
  fi
fi
RESTART_IF_NEWER="$SERVER_CONF" ensure_daemon haoka-server 8080 "$SERVER_BIN" --config "$SERVER_CONF"

# --- demo data, through the API (deploy/local/demo.py; HAOKA_NO_DEMO=1 skips) --
if [ "${HAOKA_NO_DEMO:-}" = 1 ]; then
  unchanged "demo data skipped (HAOKA_NO_DEMO=1)"
else
  demo_out="$(HAOKA_SECRETS_DIR="$SECRETS" python3 "$ROOT/deploy/local/demo.py")" || die "demo data: see above"
  printf '%s\n' "$demo_out"
  if grep -q '^up: +' <<<"$demo_out"; then CHANGES=$((CHANGES + 1)); fi
fi

# --- haoka-batch (metrics on 127.0.0.1:9320) -----------------------------------
# Watches the SFTP drop and the upload drop; works as the administrator.
mkdir -p /var/lib/haoka/batch-store
RESTART_IF_NEWER="$ROOT/deploy/local/batch.toml" \
  ensure_daemon haoka-batch 9320 "$ROOT/target/release/haoka-batch" --config "$ROOT/deploy/local/batch.toml"

echo "up: done, $CHANGES change(s)"
