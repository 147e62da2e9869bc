# Shared helpers for deploy/local/*.sh (sourced, not run).
# Every action that changes the machine prints "up: + ..."; a check that finds
# things already right prints "up: = ...". A second run of up.sh prints no "+".

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VAR="$ROOT/var"
RUN="$VAR/run"
LOG="$VAR/log"
# Machine-level secrets (shared by every checkout on this host).
SECRETS=/var/lib/haoka/secrets
BACKEND_PW_FILE="$SECRETS/proxy-backend.password"
SEAL_KEY_FILE="$SECRETS/server-seal.key"
ADMIN_PW_FILE="$SECRETS/admin.password"
# The PyPI schemathesis the API tests run (services/tests/schemathesis.rs).
SCHEMATHESIS_VERSION=4.32.5
# PyPI drivers the proxy's driver tests run (proxy/tests/e2e_drivers.rs); node
# mysql2 comes from proxy/tests/drivers/package-lock.json.
MYSQL_CONNECTOR_PYTHON_VERSION=26.10.0
SQLALCHEMY_VERSION=2.1.9
# The services' tests validate the OpenAPI document with it (services/src/openapi.rs, every center).
OPENAPI_SPEC_VALIDATOR_VERSION=0.9.0
# PyPI checkers of the container and Kubernetes files (deploy/tests/tests/static_deploy.rs).
KUBERNETES_VALIDATE_VERSION=1.37.0
DOCKERFILE_PARSER_VERSION=3.4.0
# The S3-compatible store the report center's S3 test runs against (deploy/local/s3.sh).
MOTO_VERSION=5.2.1
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

changed() { echo "up: + $*"; CHANGES=$((${CHANGES:-0} + 1)); }
unchanged() { echo "up: = $*"; }
die() { echo "up: ! $*" >&2; exit 1; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_port() { # port seconds what
  local i
  for ((i = 0; i < $2 * 10; i++)); do
    port_open "$1" && return 0
    sleep 0.1
  done
  die "$3 did not open 127.0.0.1:$1 within $2 s (see $LOG)"
}

pid_alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

APT_UPDATED=""
ensure_pkg() { # command package...
  local cmd=$1
  shift
  if command -v "$cmd" >/dev/null 2>&1 || [ -e "$cmd" ]; then
    return 0
  fi
  if [ -z "$APT_UPDATED" ]; then
    $SUDO apt-get update -q >/dev/null
    APT_UPDATED=1
  fi
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "$@" >/dev/null
  changed "installed $*"
}

# The root MariaDB client: the unix socket as root (fresh Debian), else TCP with
# an empty root password (CI machines).
mysql_root() {
  if $SUDO mariadb -uroot -e 'SELECT 1' >/dev/null 2>&1; then
    $SUDO mariadb -uroot "$@"
  else
    mariadb -h127.0.0.1 -P3306 -uroot "$@"
  fi
}

# Starts (or keeps) a daemon of ours on a loopback port: restarted only when
# its binary is newer than its pid file; a copy from another checkout on the
# same port hands it over.
ensure_daemon() { # name port binary args...
  local name=$1 port=$2 bin=$3
  shift 3
  local pidfile="$RUN/$name.pid"
  # Restarted when its binary or a file it reads at start (RESTART_IF_NEWER:
  # configs, the sharding rules) changed since it started.
  local stale="" f
  [ "$bin" -nt "$pidfile" ] && stale="$bin"
  for f in ${RESTART_IF_NEWER:-}; do
    [ -e "$f" ] && [ "$f" -nt "$pidfile" ] && stale="$f"
  done
  if pid_alive "$pidfile" && [ -z "$stale" ]; then
    unchanged "$name runs on 127.0.0.1:$port (pid $(cat "$pidfile"))"
    return 0
  fi
  if pid_alive "$pidfile"; then
    kill "$(cat "$pidfile")"
    for _ in $(seq 100); do pid_alive "$pidfile" || break; sleep 0.1; done
  fi
  if port_open "$port"; then
    local other
    other="$(pgrep -f "$name --config" || true)"
    [ -n "$other" ] || die "127.0.0.1:$port is taken by a process that is not $name"
    kill $other
    for _ in $(seq 100); do port_open "$port" || break; sleep 0.1; done
  fi
  # 9>&- : the daemon must not inherit (and hold) up.sh's lock.
  nohup "$bin" "$@" >>"$LOG/$name.log" 2>&1 9>&- &
  echo $! >"$pidfile"
  wait_port "$port" 60 "$name"
  changed "started $name on 127.0.0.1:$port (pid $(cat "$pidfile"), log var/log/$name.log)"
}
