# tests/lib/common.sh: shared by the quick start, the test suite and the
# benchmarks.  Sourced, not run.  Installs what is missing, builds and installs
# the extension, and starts/stops a throwaway PostgreSQL cluster.
#
# PostgreSQL refuses to run as root, so when we are root the cluster runs as
# the unprivileged "postgres" user (created by the Debian package); clients
# (psql, pg_regress, pgbench) run as whoever we are, over a Unix socket in the
# cluster's own temporary directory.

set -euo pipefail

MLOPS_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
PG_MAJOR=${PG_MAJOR:-15}
# PGBIN may name another build of PostgreSQL (a private copy, another major).
PGBIN=${PGBIN:-/usr/lib/postgresql/$PG_MAJOR/bin}
export PATH="$PGBIN:$PATH"

# Debian packages the product, its tests and benchmarks need.  python3-* and
# plpython3 are test oracles and benchmark baselines only: nothing in the
# extension uses Python.
MLOPS_PACKAGES=(
    "postgresql-$PG_MAJOR" "postgresql-server-dev-$PG_MAJOR" "postgresql-$PG_MAJOR-cron"
    libopenblas-dev libjansson-dev libxgboost-dev pkg-config make gcc clang libclang-rt-14-dev
    python3 python3-numpy python3-scipy python3-sklearn python3-xgboost python3-psycopg2 python3-pandas
    "postgresql-plpython3-$PG_MAJOR"
    chromium  # renders the HTML drift report in its test (headless)
)

log() { printf '==> %s\n' "$*" >&2; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

mlops_install_deps() {
    local missing=() p
    for p in "${MLOPS_PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        log "installing Debian packages: ${missing[*]}"
        as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
        # The Debian package would create and start a default cluster; we
        # only want the binaries, so keep it from doing that.
        as_root mkdir -p /etc/postgresql-common/createcluster.d
        echo "create_main_cluster = false" | as_root tee /etc/postgresql-common/createcluster.d/mlops.conf >/dev/null
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
    fi
}

mlops_build_install() {
    log "building and installing mlops"
    make -C "$MLOPS_ROOT" -s WERROR=1 PG_CONFIG="$PGBIN/pg_config" >&2
    as_root make -C "$MLOPS_ROOT" -s install PG_CONFIG="$PGBIN/pg_config" >&2
}

# A free TCP port on loopback, starting from a random point so that parallel
# runs on one machine do not collide.
free_port() {
    local port=$((20000 + RANDOM % 20000)) tries=0
    while (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
        port=$((port + 1)); tries=$((tries + 1))
        [ $tries -lt 200 ] || { echo "no free port" >&2; return 1; }
    done
    echo "$port"
}

CLUSTER_DIR=""
run_as_pg() {
    if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# Start a throwaway cluster with pg_cron preloaded; exports PGHOST, PGPORT,
# PGUSER, PGDATABASE for the clients.  Extra postgresql.conf lines may be
# passed as arguments.
cluster_start() {
    CLUSTER_DIR=$(mktemp -d /tmp/mlops-cluster.XXXXXX)
    chmod 755 "$CLUSTER_DIR"
    [ "$(id -u)" -ne 0 ] || chown postgres: "$CLUSTER_DIR"
    local port; port=$(free_port)
    log "starting a throwaway cluster in $CLUSTER_DIR on port $port"
    run_as_pg "$PGBIN/initdb" -D "$CLUSTER_DIR/data" -U postgres -A trust -E UTF8 \
        --locale=C --no-sync >"$CLUSTER_DIR/initdb.log" 2>&1 \
        || { cat "$CLUSTER_DIR/initdb.log" >&2; return 1; }
    {
        echo "port = $port"
        echo "listen_addresses = '127.0.0.1'"
        echo "unix_socket_directories = '$CLUSTER_DIR'"
        echo "shared_preload_libraries = 'pg_cron'"
        echo "cron.database_name = 'postgres'"
        echo "max_connections = 60"
        echo "fsync = off"
        echo "synchronous_commit = off"
        echo "full_page_writes = off"
        echo "shared_buffers = 512MB"
        echo "max_wal_size = 4GB"
        echo "max_parallel_workers_per_gather = 2"
        for line in "$@"; do echo "$line"; done
    } | run_as_pg tee -a "$CLUSTER_DIR/data/postgresql.conf" >/dev/null
    run_as_pg "$PGBIN/pg_ctl" -D "$CLUSTER_DIR/data" -l "$CLUSTER_DIR/server.log" -w -t 60 start >/dev/null \
        || { cat "$CLUSTER_DIR/server.log" >&2; return 1; }
    export PGHOST="$CLUSTER_DIR" PGPORT="$port" PGUSER=postgres PGDATABASE=postgres
    trap cluster_stop EXIT
}

cluster_stop() {
    [ -n "$CLUSTER_DIR" ] || return 0
    if [ -f "$CLUSTER_DIR/data/postmaster.pid" ]; then
        run_as_pg "$PGBIN/pg_ctl" -D "$CLUSTER_DIR/data" -m immediate -w stop >/dev/null 2>&1 || true
    fi
    if [ -n "${MLOPS_KEEP_LOG:-}" ]; then cp "$CLUSTER_DIR/server.log" "$MLOPS_KEEP_LOG" || true; fi
    rm -rf "$CLUSTER_DIR"
    CLUSTER_DIR=""
}

psql_q() { psql -X -v ON_ERROR_STOP=1 -q "$@"; }
