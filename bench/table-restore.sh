#!/bin/sh
# bench/table-restore.sh — one table as at a point in time, two ways, timed
# on one throwaway PostgreSQL 15 cluster (pgbench, archiving through
# wal-push, one base-push, pgbench traffic before and after the target):
#
#   table-restore --table public.pgbench_accounts --target-time T --output F
#   by hand: pitr-prepare --target-time T --target-action promote into a
#            directory, pg_ctl start (own port, archive_mode off), wait for
#            the promotion, pg_dump -Fc -t public.pgbench_accounts -f F,
#            pg_ctl stop, rm -rf
#
# Both produce the same kind of file (pg_dump -Fc); the row count in each is
# checked (pg_restore into the cluster under two names).
#
#   sh bench/table-restore.sh [SCALE [ROUNDS]]   (defaults 50 and 3; `make` first)
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
scale=${1:-50}
rounds=${2:-3}
pgbin=${PG_BINDIR:-/usr/lib/postgresql/15/bin}
case $scale$rounds in *[!0-9]*) echo "usage: $0 [SCALE [ROUNDS]]" >&2; exit 2 ;; esac
. "$top/bench/lib.sh"
bench_as_user "$@"
B=$top/bin
bench_need_pgark table-restore pitr-prepare base-push wal-push key-gen repo-init
export PATH="$pgbin:$PATH"
# short: the scratch instance's socket lives under it
work=$(mktemp -d /tmp/pgark-trb.XXXXXX)
port=$((30000 + $$ % 20000))
port2=$((port + 1))
trap 'bench_cleanup pg manual' EXIT
trap 'exit 130' INT TERM
psql_p() { psql -X -q -A -t -h "$work" -p "$port" -d postgres "$@"; }
secs() { echo "$1 $2" | awk '{printf "%.1f", ($2 - $1) / 1e9}'; }

echo "command: sh bench/table-restore.sh $scale $rounds"
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.1f GiB RAM", $2 / 1048576}' /proc/meminfo)," \
  "Linux $(uname -r), $(df -T "$work" | awk 'NR==2 {print $2}') filesystem ($work)"
echo "tools: $(postgres --version), pgark $("$B/table-restore" --version 2>&1 | awk '{print $NF}')"

say "cluster: initdb, pgbench -i -s $scale"
bench_cluster "$work/pg" "$port" "$work"
cat >>"$work/pg/postgresql.conf" <<CONF
archive_mode = on
archive_command = '$B/wal-push --config $work/pgark.conf %p'
max_wal_size = 4GB
CONF
bench_pgark_conf "$work/pgark.conf" "$work"
cat >>"$work/pgark.conf" <<CONF
conninfo = host=$work port=$port dbname=postgres
[restore]
scratch_dir = $work/scratch
CONF
"$B/repo-init" --config "$work/pgark.conf" --pgdata "$work/pg" >/dev/null 2>&1
pg_ctl -D "$work/pg" -l "$work/pg.log" -w start >/dev/null
pgbench -h "$work" -p "$port" -i -s "$scale" -q postgres >/dev/null 2>&1
"$B/base-push" --config "$work/pgark.conf" --fast --progress=off >/dev/null 2>&1
pgbench -h "$work" -p "$port" -T 10 -c 2 postgres >/dev/null 2>&1
T=$(psql_p -c "SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00'")
want=$(psql_p -c "SELECT count(*) || ' ' || sum(abalance) FROM pgbench_accounts")
sleep 1
pgbench -h "$work" -p "$port" -T 5 -c 2 postgres >/dev/null 2>&1
psql_p -c "SELECT pg_switch_wal()" >/dev/null
sleep 3
size=$(psql_p -c "SELECT pg_size_pretty(pg_database_size('postgres')) || ', pgbench_accounts ' || pg_size_pretty(pg_total_relation_size('pgbench_accounts'))")
echo "cluster: pgbench scale $scale ($size); target T after 10 s of pgbench past the backup, 5 s more after T"

check() {  # $1 dump file, $2 name: the rows and balance as at T?
  psql_p -c "DROP TABLE IF EXISTS bench_check" >/dev/null 2>&1
  pg_restore -f - "$1" | sed "s/pgbench_accounts/bench_check/g" | psql_p >/dev/null
  got=$(psql_p -c "SELECT count(*) || ' ' || sum(abalance) FROM bench_check")
  [ "$got" = "$want" ] || { echo "$2: got $got, want $want" >&2; exit 1; }
}

tr_times="" man_times=""
for i in $(seq 1 "$rounds"); do
  say "round $i: table-restore"
  rm -f "$work/tr.dump"
  t0=$(now)
  "$B/table-restore" --config "$work/pgark.conf" --progress=off --table public.pgbench_accounts \
    --target-time "$T" --output "$work/tr.dump" 2>"$work/tr.log"
  t1=$(now)
  tr_times="$tr_times $(secs "$t0" "$t1")"
  check "$work/tr.dump" table-restore

  say "round $i: pitr-prepare + pg_ctl start + pg_dump by hand"
  rm -rf "$work/manual" "$work/man.dump"
  t0=$(now)
  "$B/pitr-prepare" --config "$work/pgark.conf" --progress=off --pgdata "$work/manual" \
    --target-time "$T" --target-action promote >/dev/null 2>&1
  cat >>"$work/manual/postgresql.conf" <<CONF
port = $port2
unix_socket_directories = '$work'
archive_mode = off
CONF
  pg_ctl -D "$work/manual" -l "$work/manual.log" start >/dev/null
  until [ "$(psql -X -A -t -h "$work" -p "$port2" -d postgres -c 'SELECT pg_is_in_recovery()' 2>/dev/null)" = f ]; do
    sleep 0.1
  done
  pg_dump -h "$work" -p "$port2" -Fc -t public.pgbench_accounts -f "$work/man.dump" postgres
  pg_ctl -D "$work/manual" -m fast -w stop >/dev/null
  rm -rf "$work/manual"
  t1=$(now)
  man_times="$man_times $(secs "$t0" "$t1")"
  check "$work/man.dump" manual
done
med() { echo "$@" | tr ' ' '\n' | grep . | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)] " (" a[1] "-" a[NR] ")"}'; }
echo "rounds: $rounds; seconds, median (min-max), each including the restore, the replay to T and the dump"
echo "table-restore --output                          $(med $tr_times)"
echo "pitr-prepare + pg_ctl start + pg_dump -t, stop  $(med $man_times)"
sed -n 's/.*scratch instance.*(\(.*\))$/table-restore, last round: \1/p' "$work/tr.log"
echo "both dumps hold $want (rows, sum of abalance) as at T"
