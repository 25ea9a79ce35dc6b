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
. "$top/bench/lib.sh"
bench_as_user "$@"
B=$top/bin
bench_need_pgark base-push repo-verify key-gen repo-init wal-push
export PATH="$pgbin:$PATH"
work=$(mktemp -d "${TMPDIR:-/var/tmp}/pgark-drill.XXXXXX")
port=$((30000 + $$ % 20000))
trap 'bench_cleanup pg' EXIT
trap 'exit 130' INT TERM

say "cluster: initdb, pgbench -i -s $scale"
bench_cluster "$work/pg" "$port" "$work"
cat >>"$work/pg/postgresql.conf" <<CONF
archive_mode = on
archive_command = '$B/wal-push --config $work/pgark.conf %p'
max_wal_size = 4GB
CONF
mkdir -m 700 "$work/scratch"
bench_pgark_conf "$work/pgark.conf" "$work"
cat >>"$work/pgark.conf" <<CONF
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
bench_wait_archived "$work/pg"
pg_ctl -D "$work/pg" -m fast -w stop >/dev/null
du -sh "$work/pg" "$work/repo" >&2
say "repo-verify --restore-drill"
"$B/repo-verify" --config "$work/pgark.conf" --restore-drill --json --progress=off --scratch-dir "$work/scratch"
