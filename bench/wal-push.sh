#!/bin/sh
# bench/wal-push.sh — time wal-push for one 16 MiB WAL segment (lz4 +
# AES-256-GCM, local repository, durable) beside `cp` + fsync of the
# same segment and a plain `lz4 | openssl enc | sha256sum` pipeline, in one
# run, interleaved. Prints a table: median, min-max (ms), and peak RSS.
#
#   sh bench/wal-push.sh [ROUNDS]        (default 21; run `make` first)
#
# The segments are real WAL: a pgbench run on a throwaway cluster.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
rounds=${1:-21}
pgbin=${PG_BINDIR:-/usr/lib/postgresql/15/bin}

. "$top/bench/lib.sh"
bench_as_user "$@"
bench_need_pgark wal-push key-gen repo-init
export PATH="$pgbin:$PATH"
work=$(mktemp -d "${TMPDIR:-/var/tmp}/pgark-bench.XXXXXX")
port=$((30000 + $$ % 20000))
trap 'bench_cleanup pg' EXIT
trap 'exit 130' INT TERM

# --- real WAL -------------------------------------------------------------
bench_cluster "$work/pg" "$port" "$work"
cat >>"$work/pg/postgresql.conf" <<CONF
wal_keep_size = 4GB
CONF
pg_ctl -D "$work/pg" -l "$work/pg.log" -w start >/dev/null
pgbench -h "$work" -p "$port" -i -s 10 -q postgres >/dev/null 2>&1
pgbench -h "$work" -p "$port" -T 15 -c 2 postgres >/dev/null 2>&1
psql -X -q -h "$work" -p "$port" -d postgres -c "SELECT pg_switch_wal()" >/dev/null
current=$(psql -X -A -t -h "$work" -p "$port" -d postgres -c "SELECT pg_walfile_name(pg_current_wal_lsn())")
pg_ctl -D "$work/pg" -m fast -w stop >/dev/null
mkdir "$work/segs"
for f in "$work"/pg/pg_wal/0000000100000000000000??; do
  [ "$(basename "$f")" \< "$current" ] && cp "$f" "$work/segs/"
done
segs=$(ls "$work/segs" | tail -n 4)   # the last full segments: pgbench traffic
echo "segments: $(echo $segs | wc -w) of 16 MiB from pgbench (scale 10, 15 s), ${rounds} rounds each" >&2

# --- tools ------------------------------------------------------------------
bench_pgark_conf "$work/pgark.conf" "$work"
"$top/bin/repo-init" --config "$work/pgark.conf" 2>/dev/null
key=$(od -An -tx1 "$work/master.key" | tr -d ' \n')
mkdir -p "$work/cp" "$work/pipe"

ms() { date +%s%N; }
run_pgark() {
  rm -f "$work"/repo/wal/*/*  # the object only: its directory exists in real life
  /usr/bin/time -f %M -o "$work/rss" "$top/bin/wal-push" --config "$work/pgark.conf" "$work/segs/$1"
}
run_cp() {
  rm -f "$work/cp/$1"
  cp "$work/segs/$1" "$work/cp/$1" && sync "$work/cp/$1" && sync "$work/cp"
}
run_pipe() {
  lz4 -1 -q -c "$work/segs/$1" |
    openssl enc -aes-256-ctr -K "$key" -iv 00000000000000000000000000000000 |
    tee "$work/pipe/$1" | sha256sum >/dev/null
  sync "$work/pipe/$1" && sync "$work/pipe"
}

: >"$work/t.pgark"; : >"$work/t.cp"; : >"$work/t.pipe"; : >"$work/rss.all"
i=0
while [ $i -lt "$rounds" ]; do
  for s in $segs; do
    for tool in pgark cp pipe; do
      t0=$(ms); run_$tool "$s"; t1=$(ms)
      echo $(( (t1 - t0) / 1000 )) >>"$work/t.$tool"
      [ $tool = pgark ] && cat "$work/rss" >>"$work/rss.all"
    done
  done
  i=$((i + 1))
done

stats() { sort -n "$1" | awk '{a[NR]=$1} END {printf "%8.1f  %6.1f-%-7.1f", a[int((NR+1)/2)]/1000, a[1]/1000, a[NR]/1000}'; }
printf '\n%-44s %8s  %-14s %s\n' "one 16 MiB WAL segment, durable" "median" "min-max (ms)" "ratio"
med_cp=$(sort -n "$work/t.cp" | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
for tool in pgark cp pipe; do
  case $tool in
    pgark) label="wal-push (lz4 + AES-256-GCM)" ;;
    cp) label="cp + fsync (no compression, no encryption)" ;;
    pipe) label="lz4 | openssl enc | sha256sum, fsync" ;;
  esac
  med=$(sort -n "$work/t.$tool" | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
  printf '%-44s %s %5.2fx cp\n' "$label" "$(stats "$work/t.$tool")" "$(echo "$med $med_cp" | awk '{print $1/$2}')"
done
printf '\nwal-push peak RSS: %s KiB (max over %s runs)\n' "$(sort -n "$work/rss.all" | tail -n 1)" "$(wc -l <"$work/rss.all")"
stored=$(du -sb "$work/pipe" | cut -f1)
echo "machine: $(nproc) cores, $(uname -r), $(df -T "$work" | awk 'NR==2 {print $2}') filesystem for the repository"
