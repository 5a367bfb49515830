# Shared settings and helpers for the build/ scripts. Sourced, not run.
# shellcheck shell=bash

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_AREA="${NGX_MUSIC_BUILD_AREA:-$ROOT/.build}"
# As root, the embedded PostgreSQL runs as "postgres" and nginx's workers as "nobody": both must
# reach the build area (data directory, temp files). A checkout they cannot enter (a clone in
# root's 0700 home) gets a build area of its own under /var/tmp instead, named after the
# checkout's path, and exported so that every script it runs uses the same one.
if [ -z "${NGX_MUSIC_BUILD_AREA:-}" ] && [ "$(id -u)" = 0 ] && id nobody >/dev/null 2>&1 &&
    ! runuser -u nobody -- test -x "$ROOT" 2>/dev/null; then
    BUILD_AREA="/var/tmp/ngx-music-$(printf '%s' "$ROOT" | sha256sum | cut -c1-12)"
    # /var/tmp is writable by everyone: the directory must be root's own, not a planted one
    mkdir -m 755 "$BUILD_AREA" 2>/dev/null ||
        { [ -d "$BUILD_AREA" ] && ! [ -L "$BUILD_AREA" ] && [ "$(stat -c %u "$BUILD_AREA")" = 0 ]; } ||
        { printf '[%s] error: %s exists and is not a directory of root'"'"'s\n' "$(basename "$0")" "$BUILD_AREA" >&2; exit 1; }
    chmod 755 "$BUILD_AREA"
    printf '[%s] %s cannot be entered by unprivileged users (postgres, nginx workers): build area %s (NGX_MUSIC_BUILD_AREA chooses another)\n' \
        "$(basename "$0")" "$ROOT" "$BUILD_AREA" >&2
    export NGX_MUSIC_BUILD_AREA="$BUILD_AREA"
    # cargo builds the module against the nginx tree there (.cargo/config.toml names .build's)
    export NGINX_BUILD_DIR="${NGINX_BUILD_DIR:-$BUILD_AREA/nginx-src/objs}"
fi
NGINX_VERSION=1.28.3
NGINX_SRC_CRATE_VERSION="1.28.5+1.28.3"
NGINX_PREFIX="$BUILD_AREA/nginx"
NGINX_TREE="$BUILD_AREA/nginx-src"
NGINX_BIN="$NGINX_PREFIX/sbin/nginx"
PGBIN="${PGBIN:-/usr/lib/postgresql/15/bin}"
# configure flags: --with-compat (a dynamic module loads only into an nginx built with it, or
# with the very same flags), threads (PBKDF2 off the event loop), plus what the shipped config
# needs (gzip, auth_basic and stub_status are default or listed); --with-debug keeps
# Test::Nginx's debug error_log usable.
NGINX_CONFIGURE_FLAGS=(
    --with-compat --with-debug --with-threads
    --with-http_stub_status_module --with-http_ssl_module --with-http_realip_module
    --with-http_v2_module --with-stream
)
MODULE_SO="$ROOT/target/release/libngx_music.so"
# The Cargo features of the module that serves (build/run, build/test's release build,
# build/stress, build/distro; the Dockerfile names them too): mimalloc as its allocator.
# build/memcheck, build/asan and build/fuzz build without: they must see every allocation.
SERVE_FEATURES=(--features mimalloc)

log() { printf '[%s] %s\n' "$(basename "$0")" "$*" >&2; }
die() { log "error: $*"; exit 1; }

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# Installs the Debian packages named, those that are missing only.
ensure_packages() {
    local missing=() p
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    log "installing ${missing[*]}"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        "${missing[@]}" >/dev/null
    case " ${missing[*]} " in *" pgbouncer "*) stop_packaged_pgbouncer ;; esac
    case " ${missing[*]} " in *" prometheus "*) stop_packaged_prometheus ;; esac
}

# Debian's pgbouncer package enables and starts a system pgbouncer on localhost:6432 wherever
# services may start; the tests run their own (t/db/pgbouncer.t), so the one that installing
# the package started is stopped and disabled again.
stop_packaged_pgbouncer() {
    if [ -d /run/systemd/system ]; then
        as_root systemctl disable --now pgbouncer.service >/dev/null 2>&1 || true
    elif [ -x /etc/init.d/pgbouncer ]; then
        as_root /etc/init.d/pgbouncer stop >/dev/null 2>&1 || true
        as_root update-rc.d pgbouncer disable >/dev/null 2>&1 || true
    fi
}

# Debian's prometheus package does the same with a system Prometheus on :9090; t/metrics*.t
# run their own on a free port (and use its promtool), so that one is stopped and disabled.
stop_packaged_prometheus() {
    if [ -d /run/systemd/system ]; then
        as_root systemctl disable --now prometheus.service >/dev/null 2>&1 || true
    elif [ -x /etc/init.d/prometheus ]; then
        as_root /etc/init.d/prometheus stop >/dev/null 2>&1 || true
        as_root update-rc.d prometheus disable >/dev/null 2>&1 || true
    fi
}

BUILD_PACKAGES=(build-essential pkg-config libclang-dev libpcre2-dev libssl-dev zlib1g-dev)
PG_PACKAGES=(postgresql-15 postgresql-client-15)
TEST_PACKAGES=(libtest-base-perl libtest-longstring-perl liblist-moreutils-perl
    libhttp-message-perl liburi-perl curl apache2-utils python3-venv pgbouncer prometheus
    python3-django python3-djangorestframework python3-django-cors-headers python3-psycopg2)

# stage_static DIR: a fresh copy of nginx-conf/static in DIR/static, which nginx serves: as root
# its workers run as "nobody", who may not be able to enter the checkout. Prints the path.
stage_static() {
    rm -rf "$1/static"
    cp -R "$ROOT/nginx-conf/static" "$1/static"
    chmod -R u=rwX,go=rX "$1/static"
    printf '%s\n' "$1/static"
}

pid_alive() { [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null; }

# A TCP port free on 127.0.0.1 (the kernel picks it; nothing holds it once printed).
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Stops the process whose pid is in file $1 (TERM, then KILL after $2 seconds).
stop_pidfile() {
    local f=$1 t=${2:-15} pid i
    [ -s "$f" ] || return 0
    pid=$(head -1 "$f")
    pid_alive "$pid" || { rm -f "$f"; return 0; }
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < t * 10; i++)); do pid_alive "$pid" || { rm -f "$f"; return 0; }; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    rm -f "$f"
}

# start_test_pg NAME: a throwaway PostgreSQL for the t/ files (build/pg on a free 127.0.0.1
# port in a temporary directory, then build/bootstrap-db, which honours ADMIN_HASH_ITERATIONS),
# exported as the TEST_NGINX_PG_* variables the tests read. Stopped and removed when the
# calling script exits (INT and TERM included). Used by build/test, build/stress, build/memcheck,
# build/asan.
start_test_pg() {
    TEST_PG_AREA=$(mktemp -d "${TMPDIR:-/tmp}/ngx-music-$1.XXXXXX")
    chmod 755 "$TEST_PG_AREA"
    trap stop_test_pg EXIT
    trap 'exit 130' INT TERM
    local port url
    port=$(free_port)
    url=$("$ROOT/build/pg" start "$TEST_PG_AREA/pg" "$port" | tail -1)
    # with the auth triggers (music_auth_listen): every t/ file, Django's included, runs with them
    MUSIC_AUTH_LISTEN=1 "$ROOT/build/bootstrap-db" "$url"
    export TEST_NGINX_PG_URL="$url" TEST_NGINX_PG_PORT="$port" TEST_NGINX_PG_DATA="$TEST_PG_AREA/pg"
    export TEST_NGINX_PG_SOCKET_DIR="$TEST_PG_AREA/pg.sock"
    export TEST_NGINX_PG_PASSWORD_FILE="$TEST_PG_AREA/pg.password"
}

stop_test_pg() {
    "$ROOT/build/pg" stop "$TEST_PG_AREA/pg" || true
    rm -rf "$TEST_PG_AREA"
}

# export_test_nginx_env [NGINX MODULE]: what the t/ files read besides the database (see
# start_test_pg): the nginx binary to run (default build/nginx's), the module it loads (default
# the release build), random ports for parallel files, the checkout, and where psql is.
export_test_nginx_env() {
    export TEST_NGINX_BINARY="${1:-$NGINX_BIN}"
    export TEST_NGINX_LOAD_MODULES="${2:-$MODULE_SO}"
    export TEST_NGINX_RANDOMIZE=1
    export TEST_NGINX_PROJECT="$ROOT"
    export PGBIN
}
