# Sourced by up.sh: the operator portal (portal/, Vue + Vite) built into
# portal/dist, which haoka-server serves ([portal] dir in server.toml).
# `npm ci` runs when node_modules is missing or the lockfile changed, the
# build when any input changed: a hash of the inputs is kept in var/, so a
# second up.sh run rebuilds nothing.

PORTAL="$ROOT/portal"

node_major="$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)"
[ "$node_major" -ge 18 ] || die "Node.js 18 or newer is needed for the portal (found $(node --version 2>/dev/null || echo none))"

# sha256 over the named files (paths relative to portal/, so the hash does
# not depend on where the checkout is).
portal_hash() {
  (cd "$PORTAL" && find "$@" -type f -print0 | sort -z | xargs -0 sha256sum) | sha256sum | cut -d' ' -f1
}

lock_want="$(portal_hash package.json package-lock.json .npmrc)"
lock_stamp="$VAR/portal-npm.stamp"
if [ -d "$PORTAL/node_modules" ] && [ "$(cat "$lock_stamp" 2>/dev/null)" = "$lock_want" ]; then
  unchanged "portal packages are installed (portal/node_modules)"
else
  # No browser downloads: the tests use Debian's chromium.
  (cd "$PORTAL" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error) \
    >"$LOG/portal-npm.log" 2>&1 || die "npm ci in portal/ failed (see var/log/portal-npm.log)"
  echo "$lock_want" >"$lock_stamp"
  changed "installed the portal's npm packages (npm ci)"
fi

build_want="$(portal_hash package.json package-lock.json index.html vite.config.ts tsconfig.json scripts src)-$(
  sha256sum "$ROOT/schema/reference/provinces.csv" "$ROOT/schema/reference/cities.csv" | cut -d' ' -f1 | tr -d '\n')"
build_stamp="$VAR/portal-build.stamp"
if [ -f "$PORTAL/dist/index.html" ] && [ "$(cat "$build_stamp" 2>/dev/null)" = "$build_want" ]; then
  unchanged "the portal is built (portal/dist)"
else
  (cd "$PORTAL" && npm run --silent build) >"$LOG/portal-build.log" 2>&1 \
    || die "the portal build failed (see var/log/portal-build.log)"
  echo "$build_want" >"$build_stamp"
  changed "built the portal into portal/dist ($(grep -o 'initial JS+CSS.*' "$LOG/portal-build.log"))"
fi
