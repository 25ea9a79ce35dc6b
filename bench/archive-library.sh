#!/bin/sh
# bench/archive-library.sh — time per WAL segment archived by PostgreSQL's own
# archiver through pgark_archive.so (archive_library) against archive_command
# = wal-push, same segments, same repository, interleaved rounds; each with
# look-ahead ([archive] push_ahead = 16: the library keeps its records in
# the archiver's memory, wal-push in [archive] spool) and without
# (push_ahead = 0, one segment per call).
#
#   sh bench/archive-library.sh [ROUNDS] [SEGMENTS]   (default 5 rounds of 64; run `make` first)
#
# A throwaway cluster makes SEGMENTS segments of real pgbench WAL with
# archiving held back (.ready piles up; synchronous_commit = off, only to make
# them faster). Each round then empties the
# repository's WAL, marks those segments .ready again, wakes the archiver and
# waits until it has archived them all. Per round and method: the wall time
# from the wake-up to the last .done, divided by SEGMENTS ("per segment"),
# and the audit log's own duration_ms summed over the round's calls and
# divided by SEGMENTS (time inside wal-push's main() or inside the library's
# callback). Every push is durable; local repository.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
rounds=${1:-5}
nseg=${2:-64}
pgbin=${PG_BINDIR:-/usr/lib/postgresql/15/bin}

. "$top/bench/lib.sh"
bench_as_user "$@"
bench_need_pgark wal-push key-gen repo-init
[ -f "$top/bin/pgark_archive.so" ] ||
  { echo "run make first (bin/pgark_archive.so needs postgresql-server-dev-15)" >&2; exit 1; }
export PATH="$pgbin:$PATH"
work=$(mktemp -d "${TMPDIR:-/var/tmp}/pgark-bench.XXXXXX")
port=$((30000 + $$ % 20000))
trap 'bench_cleanup pg' EXIT
trap 'exit 130' INT TERM
sql() { psql -X -A -t -q -h "$work" -p "$port" -d postgres -c "$1"; }
die() { echo "archive-library.sh: $*" >&2; exit 1; }
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

# --- pgark ------------------------------------------------------------------
bench_cluster "$work/pg" "$port" "$work"
bench_pgark_conf "$work/pgark.conf" "$work"
cat >>"$work/pgark.conf" <<CONF
[log]
audit = $work/audit.jsonl
CONF
"$top/bin/repo-init" --config "$work/pgark.conf" 2>/dev/null
# look-ahead (the default push_ahead = 16; wal-push also needs a spool) and
# one segment per call
{ cat "$work/pgark.conf"; printf '[archive]\nspool = %s\npush_ahead = 16\n' "$work/spool"; } >"$work/ahead.conf"
{ cat "$work/pgark.conf"; printf '[archive]\npush_ahead = 0\n'; } >"$work/sync.conf"

# --- real WAL, archiving held back -----------------------------------------------
cat >>"$work/pg/postgresql.conf" <<CONF
wal_keep_size = 8GB
max_wal_size = 8GB
checkpoint_timeout = 1h
archive_mode = on
archive_command = ''
pgark.config = '$work/sync.conf'
synchronous_commit = off
CONF
pg_ctl -D "$work/pg" -l "$work/pg.log" -w start >/dev/null || die "the cluster did not start: $(tail -n 5 "$work/pg.log")"
pgbench -h "$work" -p "$port" -i -s 10 -q postgres >"$work/pgbench.out" 2>&1 || die "pgbench -i failed: $(tail -n 5 "$work/pgbench.out")"
first=$(sql "SELECT pg_walfile_name(pg_current_wal_lsn())")
while :; do
  n=$(ls "$work/pg/pg_wal/archive_status" | grep -c '\.ready$' || true)
  [ "$n" -ge $((nseg + 4)) ] && break
  pgbench -h "$work" -p "$port" -T 5 -c 4 -j 2 postgres >"$work/pgbench.out" 2>&1 ||
    die "pgbench failed: $(tail -n 5 "$work/pgbench.out")"
done
sql "SELECT pg_switch_wal()" >/dev/null
# the last nseg complete segments of pgbench traffic are the ones measured;
# everything else is archived (marked .done) once and stays so
segs=$(ls "$work/pg/pg_wal/archive_status" | sed -n 's/^\([0-9A-F]\{24\}\)\.ready$/\1/p' | sort | tail -n "$nseg")
for f in "$work"/pg/pg_wal/archive_status/*.ready; do
  mv "$f" "${f%.ready}.done"
done
echo "segments: $nseg of 16 MiB of pgbench WAL (scale 10), $rounds rounds per method, interleaved" >&2

archiver_pid() { sql "SELECT coalesce(max(pid), 0) FROM pg_stat_activity WHERE backend_type = 'archiver'"; }
# use METHOD: library, library-sync, command or command-sync (the archiver
# restarts on a change of archive_library, at most once per 10 s)
use() {
  old=$(archiver_pid)
  case $1 in *-sync) conf=$work/sync.conf ;; *) conf=$work/ahead.conf ;; esac
  if [ "${1%-sync}" = library ]; then
    sql "ALTER SYSTEM SET archive_library = '$top/bin/pgark_archive.so'" >/dev/null
    sql "ALTER SYSTEM SET archive_command = ''" >/dev/null
    sql "ALTER SYSTEM SET pgark.config = '$conf'" >/dev/null
  else
    sql "ALTER SYSTEM SET archive_library = ''" >/dev/null
    sql "ALTER SYSTEM SET archive_command = '$top/bin/wal-push --config $conf %p'" >/dev/null
  fi
  sql "SELECT pg_reload_conf()" >/dev/null
  if [ "${1%-sync}" != "${current%-sync}" ]; then
    deadline=$(( $(date +%s) + 120 ))
    while :; do
      p=$(archiver_pid); [ "$p" != 0 ] && [ "$p" != "$old" ] && break
      [ "$(date +%s)" -lt "$deadline" ] || die "no new archiver for $1 within 120 s: $(tail -n 5 "$work/pg.log")"
      sleep 0.2
    done
  fi
  current=$1
}
current=none

round() {
  method=$1
  use "$method"
  rm -f "$work"/repo/wal/*/*   # the objects only: their directory exists in real life
  lines=$(wc -l <"$work/audit.jsonl" 2>/dev/null || echo 0)
  for s in $segs; do mv "$work/pg/pg_wal/archive_status/$s.done" "$work/pg/pg_wal/archive_status/$s.ready"; done
  t0=$(now_ms)
  sql "SELECT pg_reload_conf()" >/dev/null      # wakes the archiver
  deadline=$(( $(date +%s) + 600 ))
  while ls "$work/pg/pg_wal/archive_status" | grep -q '\.ready$'; do
    [ "$(date +%s)" -lt "$deadline" ] || die "$method: segments still .ready after 600 s: $(tail -n 5 "$work/pg.log")"
    sleep 0.01
  done
  t1=$(now_ms)
  tail -n +$((lines + 1)) "$work/audit.jsonl" >"$work/round.jsonl"
  # one "push" record per segment PostgreSQL asked for (look-ahead adds
  # "push-ahead" records, and its calls find their segment stored)
  ok=$(grep '"action":"push"' "$work/round.jsonl" | grep -c '"result":"ok"' || true)
  [ "$ok" = "$nseg" ] || { echo "round: $ok of $nseg pushed with result ok ($method)" >&2; exit 1; }
  # the time inside pgark per segment: every call's duration_ms summed
  inside=$(grep '"action":"push"' "$work/round.jsonl" | sed -n 's/.*"duration_ms":\([0-9.]*\).*/\1/p' |
    awk -v n="$nseg" '{s += $1} END {printf "%.1f", s / n}')
  echo "$(( (t1 - t0) * 1000 / nseg )) $inside" >>"$work/t.$method"
}

methods="library library-sync command command-sync"
for m in $methods; do : >"$work/t.$m"; done
i=0
while [ $i -lt "$rounds" ]; do
  # the order alternates; the two library methods side by side (one archiver restart per switch)
  if [ $((i % 2)) = 0 ]; then order="library library-sync command command-sync"; else order="command-sync command library-sync library"; fi
  for m in $order; do round "$m"; done
  i=$((i + 1))
done

# per segment: microseconds in column 1; pgark's own time per segment in column 2
stats() { cut -d' ' -f"$2" "$1" | sort -n | awk -v d="$3" '{a[NR]=$1/d} END {printf "%8.1f  %6.1f-%-7.1f", a[int((NR+1)/2)], a[1], a[NR]}'; }
med() { cut -d' ' -f1 "$1" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
label() {
  case $1 in
    library) echo "archive_library, look-ahead (push_ahead 16)" ;;
    library-sync) echo "archive_library, one segment per call" ;;
    command) echo "wal-push, look-ahead (push_ahead 16, spool)" ;;
    command-sync) echo "wal-push, one segment per call (sync)" ;;
  esac
}
printf '\n%-46s %8s  %-14s %s\n' "one 16 MiB segment through the archiver" "median" "min-max (ms)" "ratio"
for m in $methods; do
  printf '%-46s %s %5.2fx wal-push sync\n' "$(label $m)" "$(stats "$work/t.$m" 1 1000)" \
    "$(echo "$(med "$work/t.$m") $(med "$work/t.command-sync")" | awk '{print $1/$2}')"
done
printf '\n%-46s %8s  %s\n' "inside pgark per segment (audit duration_ms)" "median" "min-max (ms)"
for m in $methods; do
  printf '%-46s %s\n' "$(label $m)" "$(stats "$work/t.$m" 2 1 | sed 's/ *$//')"
done
echo
echo "command: sh bench/archive-library.sh $rounds $nseg"
echo "machine: $(nproc) cores, $(uname -r), $(df -T "$work" | awk 'NR==2 {print $2}') filesystem for the cluster and the repository"
echo "tools: $(postgres --version), pgark $(sed -n 's/^VERSION *= *//p' "$top/Makefile")"
