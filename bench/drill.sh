#!/bin/sh
# bench/drill.sh — the RTO of a restore drill (repo-verify --restore-drill)
# on a pgbench database: a throwaway PostgreSQL 15 cluster, pgbench -i -s
# SCALE, a base backup (base-push --fast, local repository, lz4 +
# AES-256-GCM), then pgbench for SECONDS so that the drill has WAL to
# replay, the WAL archived, the cluster stopped; then the drill, whose
# --json result (RTO, restore, replay, WAL replayed) is printed.
#
#   sh bench/drill.sh [SCALE [SECONDS]]   (defaults 50 and 60; `make` first)
#
# Everything lives in a temporary directory under ${TMPDIR:-/var/tmp},
# removed at the end; run as root, it runs as an unprivileged user.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
scale=${1:-50}
secs=${2:-60}
pgbin=${PG_BINDIR:-/usr/lib/postgresql/15/bin}
case $scale$secs in *[!0-9]*) echo "usage: $0 [SCALE [SECONDS]]" >&2; exit 2 ;; esac
if [ "$(id -u)" = 0 ]; then
  user=${PGARK_TEST_USER:-pgark-test}
  id "$user" >/dev/null 2>&1 ||
    useradd --system --user-group --no-create-home --home-dir /nonexistent --shell /bin/sh "$user"
  exec runuser -u "$user" -- sh "$0" "$@"
fi
B=$top/bin
[ -x "$B/base-push" ] && [ -x "$B/repo-verify" ] || { echo "run make first" >&2; exit 1; }
export PATH="$pgbin:$PATH"
work=$(mktemp -d "${TMPDIR:-/var/tmp}/pgark-drill.XXXXXX")
port=$((30000 + $$ % 20000))
cleanup() {
  [ -f "$work/pg/postmaster.pid" ] && pg_ctl -D "$work/pg" -m immediate stop >/dev/null 2>&1 || true
  if [ -n "${PGARK_BENCH_KEEP:-}" ]; then echo "kept $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
say() { echo "== $*" >&2; }

say "cluster: initdb, pgbench -i -s $scale"
initdb -D "$work/pg" -A trust >/dev/null
cat >>"$work/pg/postgresql.conf" <<CONF
port = $port
listen_addresses = ''
unix_socket_directories = '$work'
archive_mode = on
archive_command = '$B/wal-push --config $work/pgark.conf %p'
max_wal_size = 4GB
CONF
"$B/key-gen" "$work/master.key" 2>/dev/null
mkdir -m 700 "$work/scratch"
cat >"$work/pgark.conf" <<CONF
[repo]
type = local
path = $work/repo
[crypto]
key_file = $work/master.key
[postgres]
pgdata = $work/pg
conninfo = host=$work port=$port dbname=postgres
CONF
"$B/repo-init" --config "$work/pgark.conf" --pgdata "$work/pg" >/dev/null 2>&1
pg_ctl -D "$work/pg" -l "$work/pg.log" -w start >/dev/null
pgbench -q -i -s "$scale" -h "$work" -p "$port" postgres >/dev/null 2>&1
say "base-push --fast"
"$B/base-push" --config "$work/pgark.conf" --fast --progress=off >/dev/null
say "pgbench -T $secs (WAL for the drill to replay)"
pgbench -n -c 2 -T "$secs" -h "$work" -p "$port" postgres >/dev/null 2>&1
psql -X -q -A -t -h "$work" -p "$port" -d postgres -c 'SELECT pg_switch_wal()' >/dev/null
# the archiver done: nothing .ready left
i=0
while ls "$work/pg/pg_wal/archive_status/" | grep -q '\.ready$'; do
  i=$((i + 1)); [ $i -lt 600 ] || { echo "archiving did not finish" >&2; exit 1; }; sleep 0.5
done
pg_ctl -D "$work/pg" -m fast -w stop >/dev/null
du -sh "$work/pg" "$work/repo" >&2
say "repo-verify --restore-drill"
"$B/repo-verify" --config "$work/pgark.conf" --restore-drill --json --progress=off --scratch-dir "$work/scratch"
