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
