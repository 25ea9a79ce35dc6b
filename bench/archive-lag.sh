#!/bin/sh
# bench/archive-lag.sh — does archiving keep up with pgbench at full speed?
# One cluster (synchronous_commit = off), then for each archiver in turn
# (interleaved over ROUNDS): archive_command switched by a reload, the table
# emptied, CHECKPOINT, pgbench -c CLIENTS -j 2 -T SECONDS running a script
# that inserts 2000 rows of 200 bytes per transaction (WAL as fast as the
# machine writes it; pgbench's own TPC-B makes too little here to matter), and every 0.5 s the number of .ready files in
# pg_wal/archive_status (how far the archiver is behind) and the size of
# pg_wal. After pgbench: the time until no .ready is left (the drain).
#
#   pgark look-ahead   wal-push, [archive] push_ahead = 16 and a spool
#   pgark plain        wal-push, push_ahead = 0 (one segment per call)
#   pgBackRest async   pgbackrest archive-push, archive-async=y, process-max=2,
#                      lz4 + aes-256-cbc
#
#   sh bench/archive-lag.sh [SECONDS [CLIENTS [ROUNDS]]]   (defaults 60, 2, 1; `make` first)
#
# Both on the same 2 cores as the server and pgbench: archiving competes with
# the load it archives, as on a real server. Local repositories on the same
# filesystem. Everything in a temporary directory under ${TMPDIR:-/var/tmp},
# removed at the end (PGARK_BENCH_KEEP=1 keeps it). As root it re-runs itself
# as the unprivileged user pgark-test (initdb refuses root).
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
secs=${1:-60}
clients=${2:-2}
rounds=${3:-1}
pgbin=${PG_BINDIR:-/usr/lib/postgresql/15/bin}
case $secs$clients$rounds in *[!0-9]*) echo "usage: $0 [SECONDS [CLIENTS [ROUNDS]]]" >&2; exit 2 ;; esac
command -v pgbackrest >/dev/null 2>&1 ||
  { echo "pgbackrest is missing: install it with  apt-get install -y pgbackrest" >&2; exit 2; }
for p in initdb pg_ctl postgres psql pgbench; do
  [ -x "$pgbin/$p" ] || { echo "$p (PostgreSQL 15) is missing: install it with  apt-get install -y postgresql-15 postgresql-client-15" >&2; exit 2; }
done
. "$top/bench/lib.sh"
B=$top/bin
bench_need_pgark wal-push key-gen repo-init
bench_as_user "$@"
export PATH="$pgbin:$PATH"
work=$(mktemp -d "${TMPDIR:-/var/tmp}/pgark-lag.XXXXXX")
load0=$(cut -d' ' -f1-3 /proc/loadavg)
port=$((30000 + $$ % 20000))
trap 'bench_cleanup pg' EXIT
trap 'exit 130' INT TERM
psql_p() { psql -X -q -A -t -h "$work" -p "$port" -d postgres "$@"; }
nready() { ls "$work/pg/pg_wal/archive_status" | grep -c '\.ready$' || true; }

echo "command: sh bench/archive-lag.sh $secs $clients $rounds"
echo "machine: $(nproc) cores, Linux $(uname -r), $(df -T "$work" | awk 'NR==2 {print $2}') filesystem ($work)"
echo "load average at start: $load0"

bench_cluster "$work/pg" "$port" "$work"
cat >>"$work/pg/postgresql.conf" <<CONF
archive_mode = on
archive_command = '/bin/true'
max_wal_size = 1GB
checkpoint_timeout = 30min
# WAL as fast as the 2 cores allow: commits do not wait for the disk
synchronous_commit = off
CONF
pg_ctl -D "$work/pg" -l "$work/pg.log" -w start >/dev/null
psql_p -c "CREATE TABLE lag (id int, pad text)" >/dev/null
echo "INSERT INTO lag SELECT g, repeat('x', 200) FROM generate_series(1, 2000) g;" >"$work/insert.sql"

"$B/key-gen" "$work/master.key" 2>/dev/null
for m in ahead plain; do
  cat >"$work/$m.conf" <<CONF
[repo]
type = local
path = $work/repo
[crypto]
key_file = $work/master.key
[postgres]
pgdata = $work/pg
[archive]
spool = $work/spool
push_ahead = $([ $m = ahead ] && echo 16 || echo 0)
CONF
done
"$B/repo-init" --config "$work/ahead.conf" --pgdata "$work/pg" >>"$work/pgark.log" 2>&1
bench_pgbackrest_conf archive-async=y
pgbackrest --config="$work/pgbackrest.conf" --stanza=bench stanza-create >>"$work/pgbr.log" 2>&1

command_of() {
  case $1 in
    ahead|plain) echo "$B/wal-push --config $work/$1.conf %p" ;;
    pgbr) echo "pgbackrest --config=$work/pgbackrest.conf --stanza=bench archive-push %p" ;;
  esac
}
drain() {  # wait until nothing is .ready; print the seconds it took
  t0=$(date +%s%N)
  while [ "$(nready)" -gt 0 ]; do
    sleep 0.2
    [ $(( ($(date +%s%N) - t0) / 1000000000 )) -lt 600 ] || { echo "the archiver did not catch up in 600 s" >&2; exit 1; }
  done
  echo $(( ($(date +%s%N) - t0) / 1000000 ))
}
: >"$work/rows"
i=1
while [ "$i" -le "$rounds" ]; do
  for m in ahead plain pgbr; do
    say "round $i/$rounds: $m, pgbench -c $clients for $secs s"
    psql_p -c "ALTER SYSTEM SET archive_command = '$(command_of $m)'" -c "SELECT pg_reload_conf()" >/dev/null
    sleep 1
    psql_p -c "TRUNCATE lag" -c "SELECT pg_switch_wal()" -c "CHECKPOINT" >/dev/null
    drain >/dev/null
    lsn0=$(psql_p -c "SELECT pg_current_wal_lsn()")
    f0=$(psql_p -c "SELECT failed_count FROM pg_stat_archiver")
    pgbench -h "$work" -p "$port" -c "$clients" -j 2 -T "$secs" -n -f "$work/insert.sql" postgres >"$work/pgbench.$m.log" 2>&1 &
    bp=$!
    : >"$work/samples.$m"
    while kill -0 $bp 2>/dev/null; do
      echo "$(nready) $(du -sm "$work/pg/pg_wal" 2>/dev/null | cut -f1)" >>"$work/samples.$m"
      sleep 0.5
    done
    wait $bp || { cat "$work/pgbench.$m.log" >&2; exit 1; }
    mib=$(psql_p -c "SELECT round(pg_wal_lsn_diff(pg_current_wal_lsn(), '$lsn0') / 1048576)")
    tps=$(sed -n 's/^tps = \([0-9.]*\).*/\1/p' "$work/pgbench.$m.log" | head -n 1)
    d=$(drain)
    f1=$(psql_p -c "SELECT failed_count FROM pg_stat_archiver")
    sort -n "$work/samples.$m" | awk -v m="$m" -v mib="$mib" -v s="$secs" -v tps="$tps" -v d="$d" -v f=$((f1 - f0)) '
      { r[NR] = $1; if ($1 > mx) mx = $1; if ($2 > w) w = $2 }
      END { printf "%s %.1f %s %d %d %d %.1f %d\n", m, mib / s, tps, r[int((NR + 1) / 2)], mx, w, d / 1000, f }' >>"$work/rows"
  done
  i=$((i + 1))
done

label() {
  case $1 in
    ahead) echo "pgark wal-push, push_ahead 16" ;;
    plain) echo "pgark wal-push, push_ahead 0" ;;
    pgbr) echo "pgbackrest archive-push async, process-max 2" ;;
  esac
}
printf '\n%-46s %9s %8s %13s %12s %8s %9s %6s\n' "archiver ($rounds round(s) of $secs s, $clients clients)" \
  "WAL MiB/s" "tps" ".ready med" ".ready max" "pg_wal MiB" "drain s" "fails"
while read -r m rate tps med mx w d f; do
  printf '%-46s %9s %8.0f %13s %12s %8s %9s %6s\n' "$(label "$m")" "$rate" "$tps" "$med" "$mx" "$w" "$d" "$f"
done <"$work/rows"
echo "  .ready: segments PostgreSQL has finished and not yet seen archived (sampled every 0.5 s); pg_wal: its peak size"
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
