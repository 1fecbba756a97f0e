#!/usr/bin/env bash
# A private PostgreSQL server for tests and benchmarks: Debian's `postgresql` (installed when
# missing), its own data dir under /tmp, its own free port on 127.0.0.1, trust auth for user
# `flock`, fsync on. It never touches the system cluster.
#
# Usage:
#   scripts/postgres.sh start            start if not running; prints the connection URL
#   scripts/postgres.sh stop             stop it (fast shutdown)
#   scripts/postgres.sh status           exit 0 when running
#   scripts/postgres.sh url              prints the connection URL
#   scripts/postgres.sh acquire <pid>    start if needed and register process <pid> as a user
#   scripts/postgres.sh release <pid>    unregister <pid>; stop when no live user remains
#
# Env: FLOCK_PG_DIR (default /tmp/flock-pg), FLOCK_PG_PORT (default: first free port from 55432,
# remembered in $FLOCK_PG_DIR/port). Every command holds an flock on $FLOCK_PG_DIR/lock, so test
# files that start at the same moment share one server.
set -euo pipefail
cd "$(dirname "$0")/.."

DIR="${FLOCK_PG_DIR:-/tmp/flock-pg}"
DATA="$DIR/data"
PGBIN="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)"
cmd="${1:-start}"

if [ -z "$PGBIN" ] || [ ! -x "$PGBIN/postgres" ]; then
  bash scripts/ensure-apt.sh postgresql
  PGBIN="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)"
fi

mkdir -p "$DIR/users"
chmod 755 "$DIR"
exec 9>"$DIR/lock"
/usr/bin/flock 9

# initdb and postgres refuse to run as root: run them as the `postgres` system user then.
as_owner() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

port() {
  if [ -s "$DIR/port" ]; then
    cat "$DIR/port"
    return
  fi
  local p="${FLOCK_PG_PORT:-}"
  if [ -z "$p" ]; then
    for p in $(seq 55432 55632); do
      (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || break
    done
  fi
  echo "$p" >"$DIR/port"
  echo "$p"
}

url() {
  echo "postgres://flock@127.0.0.1:$(port)/postgres"
}

running() {
  [ -f "$DATA/postmaster.pid" ] && as_owner "$PGBIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1
}

start() {
  if [ ! -f "$DATA/PG_VERSION" ]; then
    rm -rf "$DATA"
    mkdir -p "$DATA"
    [ "$(id -u)" -eq 0 ] && chown postgres: "$DATA" "$DIR"
    as_owner "$PGBIN/initdb" -D "$DATA" -U flock --auth=trust --encoding=UTF8 --locale=C.UTF-8 >"$DIR/initdb.log"
  fi
  if ! running; then
    local p
    p="$(port)"
    # max_connections: three coordinators with their pools plus the tests' own clients.
    as_owner "$PGBIN/pg_ctl" -D "$DATA" -l "$DIR/server.log" -w -t 60 \
      -o "-p $p -k $DIR -c listen_addresses=127.0.0.1 -c fsync=on -c max_connections=300" start >/dev/null 9>&-
  fi
  url
}

stop() {
  if running; then as_owner "$PGBIN/pg_ctl" -D "$DATA" -m fast -w stop >/dev/null; fi
}

prune_users() {
  local f
  for f in "$DIR"/users/*; do
    [ -e "$f" ] || continue
    kill -0 "$(basename "$f")" 2>/dev/null || rm -f "$f"
  done
}

case "$cmd" in
  start) start ;;
  stop) stop ;;
  status) running ;;
  url) url ;;
  acquire)
    start
    touch "$DIR/users/${2:?acquire needs a pid}"
    ;;
  release)
    rm -f "$DIR/users/${2:?release needs a pid}"
    prune_users
    if [ -z "$(ls -A "$DIR/users")" ]; then stop; fi
    ;;
  *)
    echo "usage: $0 start|stop|status|url|acquire <pid>|release <pid>" >&2
    exit 2
    ;;
esac
