#!/bin/sh
# bench/basebackup.sh — base backup and restore of a pgbench database, timed in
# one run on one throwaway PostgreSQL 15 cluster, interleaved (the order of
# the tools rotates every round):
#
#   full backup  base-push --fast (a fresh repository every round, so nothing
#                is reused) | pgbackrest backup --type=full | pg_basebackup
#                -Ft -X none | lz4 | openssl enc -aes-256-cbc, then sync
#   restore      pitr-prepare into an empty directory | pgbackrest restore |
#                openssl enc -d | lz4 -d | tar -x, then syncfs
#   incremental  after UPDATEs of 0.1% of pgbench_accounts' rows (random aids)
#                and a new 1000-row table: bytes stored by a second base-push
#                against the first, pgbackrest --type=incr against its full,
#                a --delta restore over the copy of the first backup, and
#                (ROUNDS times, interleaved) a restore of the second backup
#                into an empty directory: its files are new chunks between
#                ones in the first backup's packs
#   memory       peak RSS of base-push and pitr-prepare at SCALE and at a
#                small scale (10, or 1 when SCALE <= 10), on a second cluster
#
#   sh bench/basebackup.sh [SCALE [ROUNDS]]   (defaults 100 and 3; `make` first)
#
# pgark: lz4 + AES-256-GCM, local repository. pgBackRest (Debian's package):
# compress-type=lz4, repo1-cipher-type=aes-256-cbc, process-max=2,
# start-fast=y, its own repository. archive_command runs wal-push and then
# pgbackrest archive-push, so every backup (all three wait for the archiver
# at their stop) pays the same archiving. Everything lives in a temporary
# directory under ${TMPDIR:-/var/tmp}, removed at the end; run as root, the
# script installs pgbackrest if missing and runs as an unprivileged user.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
scale=${1:-100}
rounds=${2:-3}
pgbin=${PG_BINDIR:-/usr/lib/postgresql/15/bin}
case $scale$rounds in *[!0-9]*) echo "usage: $0 [SCALE [ROUNDS]]" >&2; exit 2 ;; esac

if [ "$(id -u)" = 0 ]; then
  if ! command -v pgbackrest >/dev/null 2>&1; then
    echo "installing pgbackrest: apt-get install -y pgbackrest" >&2
    apt-get install -y pgbackrest >/dev/null
  fi
fi
. "$top/bench/lib.sh"
bench_as_user "$@"
command -v pgbackrest >/dev/null 2>&1 ||
  { echo "pgbackrest is missing: install it with  apt-get install -y pgbackrest" >&2; exit 1; }
for t in lz4 openssl perl; do
  command -v $t >/dev/null 2>&1 || { echo "$t is missing" >&2; exit 1; }
done
[ -x /usr/bin/time ] || { echo "/usr/bin/time is missing: apt-get install -y time" >&2; exit 1; }
B=$top/bin
bench_need_pgark base-push pitr-prepare wal-push key-gen repo-init
export PATH="$pgbin:$PATH"
work=$(mktemp -d "${TMPDIR:-/var/tmp}/pgark-bench.XXXXXX")
tstart=$(date +%s)
port=$((30000 + $$ % 20000))
port2=$((port + 1))
cleanup() {
  rc=$?
  [ $rc -eq 0 ] || bench_log_tails "$work"/*.log
  bench_cleanup pg r.delta-pgark small
}
trap cleanup EXIT
trap 'exit 130' INT TERM
psql_p() { psql -X -q -A -t -h "$work" -p "$port" -d postgres "$@"; }
jfield() { sed -n "s/.*\"$1\":\"\{0,1\}\([^,\"}]*\).*/\1/p" "$2"; }
pgbr() { pgbackrest --config="$work/pgbackrest.conf" --stanza=bench "$@"; }
# the newest pgBackRest backup: label type repo-delta repo-size size delta
pgbr_last() {
  pgbr info --output=json | perl -MJSON::PP -e '
    my $j = decode_json(join("", <STDIN>)); my $b = $j->[0]{backup}[-1];
    print join(" ", $b->{label}, $b->{type}, $b->{info}{repository}{delta},
               $b->{info}{repository}{size}, $b->{info}{size}, $b->{info}{delta}), "\n";'
}
mib() { echo "$1" | awk '{printf "%.1f", $1 / 1048576}'; }

echo "command: sh bench/basebackup.sh $scale $rounds"
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.1f GiB RAM", $2 / 1048576}' /proc/meminfo)," \
  "Linux $(uname -r), $(df -T "$work" | awk 'NR==2 {print $2}') filesystem for the cluster, repositories and restores ($work)"
echo "tools: $(postgres --version), pgBackRest $(pgbackrest version | awk '{print $2}'), lz4 $(lz4 --version 2>&1 | sed -n 's/.* v\([0-9.]*\),.*/\1/p'), $(openssl version | cut -d' ' -f1-2), pgark $("$B/base-push" --version 2>&1 | awk '{print $NF}')"

# --- the cluster ------------------------------------------------------------
say "cluster: initdb, pgbench -i -s $scale"
bench_cluster "$work/pg" "$port" "$work"
cat >>"$work/pg/postgresql.conf" <<CONF
archive_mode = on
archive_command = 'test -f $work/archive.off || { $B/wal-push --config $work/pgark.conf %p && pgbackrest --config=$work/pgbackrest.conf --stanza=bench archive-push %p; }'
max_wal_size = 4GB
CONF
# archive.off: the data load is not archived (no backup needs it)
: >"$work/archive.off"

"$B/key-gen" "$work/master.key" 2>/dev/null
# a fresh repository NAME, initialised, then made the one archive_command and
# base-push use (the config file is replaced atomically)
new_repo() {
  cat >"$work/pgark.conf.tmp" <<CONF
[repo]
type = local
path = $work/$1
[crypto]
key_file = $work/master.key
[postgres]
pgdata = $work/pg
conninfo = host=$work port=$port dbname=postgres
CONF
  "$B/repo-init" --config "$work/pgark.conf.tmp" --pgdata "$work/pg" >>"$work/pgark.log" 2>&1
  mv -f "$work/pgark.conf.tmp" "$work/pgark.conf"
}
new_repo repo.0

bench_pgbackrest_conf repo1-retention-full=100 start-fast=y

pg_ctl -D "$work/pg" -l "$work/pg.log" -w start >/dev/null
pgbench -h "$work" -p "$port" -i -s "$scale" -q postgres >"$work/pgbench.log" 2>&1
psql_p -c "CHECKPOINT"
pgbr stanza-create >>"$work/pgbr.log" 2>&1
rm -f "$work/archive.off"
pgbr check >>"$work/pgbr.log" 2>&1   # switches WAL, waits for both archives
nrows=$((scale * 100000))
datasize=$(du -sb --exclude=pg_wal "$work/pg" | cut -f1)
echo "cluster: pgbench scale $scale ($nrows rows), data directory $(mib "$datasize") MiB without pg_wal," \
  "data_checksums $(psql_p -c 'SHOW data_checksums'), files in the page cache"
echo "rounds: $rounds, interleaved, the order of the tools rotating; times in seconds, each operation durable"

order() {
  case $(($1 % 3)) in
    1) echo "pgark pgbr pipe" ;;
    2) echo "pgbr pipe pgark" ;;
    0) echo "pipe pgark pgbr" ;;
  esac
}
timed() {  # NAME CMD...: appends the milliseconds of CMD to t.NAME
  n=$1; shift
  sync
  t0=$(now); "$@"; t1=$(now)
  echo $(((t1 - t0) / 1000000)) >>"$work/t.$n"
}
: >"$work/rss.bp"; : >"$work/rss.pp"; : >"$work/rss.pgbr-backup"; : >"$work/rss.pgbr-restore"

# --- full backups --------------------------------------------------------------
full_pgark() {
  /usr/bin/time -f %M -o "$work/rss" "$B/base-push" --config "$work/pgark.conf" --fast --json \
    >"$work/bp.$1.json" 2>>"$work/pgark.log"
}
full_pgbr() {
  /usr/bin/time -f %M -o "$work/rss" pgbackrest --config="$work/pgbackrest.conf" --stanza=bench \
    backup --type=full >>"$work/pgbr.log" 2>&1
}
full_pipe() {
  { pg_basebackup -h "$work" -p "$port" -Ft -D - -X none -c fast 2>>"$work/pipe.log" || : >"$work/pipe.fail"; } |
    lz4 -q -c | openssl enc -aes-256-cbc -pbkdf2 -pass pass:x >"$work/pipe.tar.lz4.enc"
  sync "$work/pipe.tar.lz4.enc"
  [ ! -f "$work/pipe.fail" ] || { echo "pg_basebackup failed" >&2; exit 1; }
}
i=1
while [ $i -le "$rounds" ]; do
  for tool in $(order $i); do
    say "round $i/$rounds: full backup, $tool"
    case $tool in
      pgark)
        new_repo repo.$i
        # the previous repository, once no archive_command writes into it
        bench_wait_archived "$work/pg"
        rm -rf "$work/repo.$((i - 1))"
        timed full.pgark full_pgark $i
        cat "$work/rss" >>"$work/rss.bp" ;;
      pgbr)
        timed full.pgbr full_pgbr
        cat "$work/rss" >>"$work/rss.pgbr-backup"
        pgbr_last | awk '{print $3}' >>"$work/size.pgbr" ;;
      pipe)
        timed full.pipe full_pipe
        stat -c %s "$work/pipe.tar.lz4.enc" >>"$work/size.pipe" ;;
    esac
  done
  jfield bytes_stored "$work/bp.$i.json" >>"$work/size.pgark"
  i=$((i + 1))
done

# --- restores ---------------------------------------------------------------------
rest_pgark() {
  /usr/bin/time -f %M -o "$work/rss" "$B/pitr-prepare" --config "$work/pgark.conf" \
    --pgdata "$work/r.pgark" --json >"$work/pp.json" 2>>"$work/pgark.log"
}
rest_pgbr() {
  /usr/bin/time -f %M -o "$work/rss" pgbackrest --config="$work/pgbackrest.conf" --stanza=bench \
    --pg1-path="$work/r.pgbr" restore >>"$work/pgbr.log" 2>&1
}
rest_pipe() {
  openssl enc -d -aes-256-cbc -pbkdf2 -pass pass:x <"$work/pipe.tar.lz4.enc" | lz4 -d -q -c |
    tar -xf - -C "$work/r.pipe"
  sync -f "$work/r.pipe"
  [ -f "$work/r.pipe/PG_VERSION" ] || { echo "tar restore failed" >&2; exit 1; }
}
i=1
while [ $i -le "$rounds" ]; do
  for tool in $(order $i); do
    say "round $i/$rounds: restore, $tool"
    case $tool in
      pgark) timed rest.pgark rest_pgark; cat "$work/rss" >>"$work/rss.pp" ;;
      pgbr) mkdir -m 700 "$work/r.pgbr"; timed rest.pgbr rest_pgbr; cat "$work/rss" >>"$work/rss.pgbr-restore" ;;
      pipe) mkdir -m 700 "$work/r.pipe"; timed rest.pipe rest_pipe ;;
    esac
    if [ $i -eq "$rounds" ] && [ $tool != pipe ]; then
      mv "$work/r.$tool" "$work/r.delta-$tool"   # kept for the --delta restores
    else
      rm -rf "$work/r.$tool"
    fi
  done
  i=$((i + 1))
done
rm -f "$work/pipe.tar.lz4.enc"

# --- incremental ------------------------------------------------------------------
nupd=$((nrows / 1000))
say "light OLTP load: UPDATE of $nupd random rows, a new table of 1000 rows, CHECKPOINT"
psql_p -c "UPDATE pgbench_accounts SET abalance = abalance + 1
           WHERE aid IN (SELECT (random() * ($nrows - 1))::int + 1 FROM generate_series(1, $nupd))"
touched=$(psql_p -c "SELECT count(*) FROM pgbench_accounts WHERE abalance <> 0")
psql_p -c "CREATE TABLE bench_new AS SELECT g AS id, md5(g::text) AS v FROM generate_series(1, 1000) g"
psql_p -c "CHECKPOINT"
say "second base-push into the repository of round $rounds"
t0=$(now)
/usr/bin/time -f %M -o "$work/rss" "$B/base-push" --config "$work/pgark.conf" --fast --json \
  >"$work/bp.incr.json" 2>>"$work/pgark.log"
t1=$(now); t_bp2=$(((t1 - t0) / 1000000)); cat "$work/rss" >>"$work/rss.bp"
say "pgbackrest backup --type=incr"
t0=$(now); pgbr backup --type=incr >>"$work/pgbr.log" 2>&1; t1=$(now); t_br2=$(((t1 - t0) / 1000000))
set -- $(pgbr_last)
[ "$2" = incr ] || { echo "pgbackrest made a $2 backup, not incr" >&2; exit 1; }
br_incr=$3
say "pitr-prepare --delta over the restored copy of the first backup"
sync
t0=$(now)
/usr/bin/time -f %M -o "$work/rss" "$B/pitr-prepare" --config "$work/pgark.conf" \
  --pgdata "$work/r.delta-pgark" --delta --json >"$work/pp.delta.json" 2>>"$work/pgark.log"
t1=$(now); t_pp2=$(((t1 - t0) / 1000000)); cat "$work/rss" >>"$work/rss.pp"
say "pgbackrest restore --delta over its restored copy"
sync
t0=$(now)
pgbr --pg1-path="$work/r.delta-pgbr" --delta restore >>"$work/pgbr.log" 2>&1
t1=$(now); t_br3=$(((t1 - t0) / 1000000))
rm -rf "$work/r.delta-pgbr"
i=1
while [ $i -le "$rounds" ]; do
  for tool in $(order $i); do
    [ $tool = pipe ] && continue
    say "round $i/$rounds: restore of the second backup, $tool"
    case $tool in
      pgark) timed incr.pgark "$B/pitr-prepare" --config "$work/pgark.conf" --pgdata "$work/r.incr" \
               --json >"$work/pp.incr.json" 2>>"$work/pgark.log" ;;
      pgbr) mkdir -m 700 "$work/r.incr"; timed incr.pgbr pgbr --pg1-path="$work/r.incr" restore >>"$work/pgbr.log" 2>&1 ;;
    esac
    rm -rf "$work/r.incr"
  done
  i=$((i + 1))
done

# the --delta copy must hold the state of the second backup: start it
say "check: start the --delta copy, compare with the primary"
q="SELECT (SELECT sum(abalance) || '/' || count(*) FROM pgbench_accounts) || ' ' || (SELECT count(*) FROM bench_new)"
expected=$(psql_p -c "$q")
pg_ctl -D "$work/pg" -m fast -w stop >/dev/null
echo "archive_mode = off" >>"$work/r.delta-pgark/postgresql.conf"
pg_ctl -D "$work/r.delta-pgark" -l "$work/restored.log" -w -t 600 start >/dev/null
n=0
until [ "$(psql_p -c "SELECT NOT pg_is_in_recovery()" 2>/dev/null)" = t ]; do
  n=$((n + 1)); [ $n -lt 3000 ] || { echo "recovery of the --delta copy did not finish" >&2; exit 1; }
  sleep 0.1
done
got=$(psql_p -c "$q")
pg_ctl -D "$work/r.delta-pgark" -m fast -w stop >/dev/null
[ "$got" = "$expected" ] || { echo "FAIL: the --delta copy has '$got', the primary '$expected'" >&2; exit 1; }
rm -rf "$work/r.delta-pgark"

# --- memory at a small scale -----------------------------------------------------------
small=10; [ "$scale" -gt 10 ] || small=1
say "memory: a second cluster at scale $small"
bench_cluster "$work/small" "$port2" "$work"
cat >>"$work/small/postgresql.conf" <<CONF
archive_mode = on
archive_command = '$B/wal-push --config $work/small.conf %p'
CONF
cat >"$work/small.conf" <<CONF
[repo]
type = local
path = $work/small.repo
[crypto]
key_file = $work/master.key
[postgres]
pgdata = $work/small
conninfo = host=$work port=$port2 dbname=postgres
CONF
"$B/repo-init" --config "$work/small.conf" --pgdata "$work/small" >>"$work/pgark.log" 2>&1
pg_ctl -D "$work/small" -l "$work/small.log" -w start >/dev/null
pgbench -h "$work" -p "$port2" -i -s "$small" -q postgres >>"$work/pgbench.log" 2>&1
/usr/bin/time -f %M -o "$work/rss.small.bp" "$B/base-push" --config "$work/small.conf" --fast --json \
  >"$work/small.bp.json" 2>>"$work/pgark.log"
pg_ctl -D "$work/small" -m fast -w stop >/dev/null
/usr/bin/time -f %M -o "$work/rss.small.pp" "$B/pitr-prepare" --config "$work/small.conf" \
  --pgdata "$work/small.r" --json >"$work/small.pp.json" 2>>"$work/pgark.log"
smallsize=$(du -sb --exclude=pg_wal "$work/small" | cut -f1)

# --- the table ---------------------------------------------------------------------------
med() { sort -n "$1" | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
stats() { sort -n "$1" | awk '{a[NR]=$1} END {printf "%7.1f  %6.1f-%-7.1f", a[int((NR+1)/2)]/1000, a[1]/1000, a[NR]/1000}'; }
ratio() { echo "$1 $2" | awk '{printf "%5.2fx", $1/$2}'; }
maxkib() { sort -n "$1" | tail -n 1 | awk '{printf "%.1f", $1/1024}'; }

printf '\n%-50s %7s  %-14s %-13s %s\n' "full backup, scale $scale ($(mib "$datasize") MiB)" median "min-max (s)" "vs pgbackrest" "stored (MiB)"
mb=$(med "$work/t.full.pgbr")
for tool in pgark pgbr pipe; do
  case $tool in
    pgark) label="base-push --fast (lz4, AES-256-GCM)" ;;
    pgbr) label="pgbackrest backup --type=full (lz4, aes-cbc, p2)" ;;
    pipe) label="pg_basebackup -Ft | lz4 | openssl enc, sync" ;;
  esac
  printf '%-50s %s %s %18s\n' "$label" "$(stats "$work/t.full.$tool")" "$(ratio "$(med "$work/t.full.$tool")" "$mb")" \
    "$(mib "$(med "$work/size.$tool")")"
done
printf '\n%-50s %7s  %-14s %s\n' "restore into an empty directory" median "min-max (s)" "vs pgbackrest"
mb=$(med "$work/t.rest.pgbr")
for tool in pgark pgbr pipe; do
  case $tool in
    pgark) label="pitr-prepare (syncfs)" ;;
    pgbr) label="pgbackrest restore (process-max 2)" ;;
    pipe) label="openssl enc -d | lz4 -d | tar -x, syncfs" ;;
  esac
  printf '%-50s %s %s\n' "$label" "$(stats "$work/t.rest.$tool")" "$(ratio "$(med "$work/t.rest.$tool")" "$mb")"
done

s1=$(jfield bytes_stored "$work/bp.$rounds.json")
s2=$(jfield bytes_stored "$work/bp.incr.json")
br_full=$(tail -n 1 "$work/size.pgbr")
printf '\nincremental: UPDATE of %s random rows (%s distinct, %s%% of %s), CREATE TABLE of 1000 rows, CHECKPOINT\n' \
  "$nupd" "$touched" "$(echo "$touched $nrows" | awk '{printf "%.2f", 100*$1/$2}')" "$nrows"
printf '%-50s %12s %14s %8s\n' "" "stored (MiB)" "of the full" "time (s)"
printf '%-50s %12s %13s%% %8.1f\n' "base-push, second backup (same repository)" "$(mib "$s2")" \
  "$(echo "$s2 $s1" | awk '{printf "%.2f", 100*$1/$2}')" "$(echo "$t_bp2" | awk '{print $1/1000}')"
printf '%-50s %12s %13s%% %8.1f\n' "pgbackrest backup --type=incr" "$(mib "$br_incr")" \
  "$(echo "$br_incr $br_full" | awk '{printf "%.2f", 100*$1/$2}')" "$(echo "$t_br2" | awk '{print $1/1000}')"
printf '  (second base-push: %s of %s files reused unread; %s new 8 KiB chunks, %s MiB before compression)\n' \
  "$(jfield files_reused "$work/bp.incr.json")" "$(jfield files "$work/bp.incr.json")" "$(jfield chunks_new "$work/bp.incr.json")" \
  "$(mib "$(jfield bytes_new "$work/bp.incr.json")")"
printf '%-50s %12s %14s %8s\n' "restore of the second over a copy of the first" "fetched (MiB)" "files unchanged" "time (s)"
printf '%-50s %12s %14s %8.1f\n' "pitr-prepare --delta" "$(mib "$(jfield bytes_fetched "$work/pp.delta.json")")" \
  "$(jfield files_unchanged "$work/pp.delta.json")/$(jfield files "$work/pp.delta.json")" "$(echo "$t_pp2" | awk '{print $1/1000}')"
printf '%-50s %12s %14s %8.1f\n' "pgbackrest restore --delta" "-" "-" "$(echo "$t_br3" | awk '{print $1/1000}')"
printf '%-50s %7s  %-14s %s\n' "restore of the second into an empty directory" median "min-max (s)" "vs pgbackrest"
printf '%-50s %s %s\n' "pitr-prepare (syncfs)" "$(stats "$work/t.incr.pgark")" \
  "$(ratio "$(med "$work/t.incr.pgark")" "$(med "$work/t.incr.pgbr")")"
printf '%-50s %s %s\n' "pgbackrest restore (of its incr)" "$(stats "$work/t.incr.pgbr")" "$(ratio 1 1)"
printf '  (pitr-prepare: %s MiB fetched)\n' "$(mib "$(jfield bytes_fetched "$work/pp.incr.json")")"
echo "  check: the --delta copy, started, replayed to the end and matches the primary (sum/count, new table): $got"

printf '\n%-50s %14s %14s\n' "peak RSS (MiB)" "scale $scale" "scale $small"
printf '%-50s %14s %14s\n' "" "$(mib "$datasize") MiB" "$(mib "$smallsize") MiB"
printf '%-50s %14s %14s\n' "base-push (max over its runs)" "$(maxkib "$work/rss.bp")" "$(maxkib "$work/rss.small.bp")"
printf '%-50s %14s %14s\n' "pitr-prepare (max over its runs)" "$(maxkib "$work/rss.pp")" "$(maxkib "$work/rss.small.pp")"
printf '%-50s %14s %14s\n' "pgbackrest backup / restore (largest process)" \
  "$(maxkib "$work/rss.pgbr-backup") / $(maxkib "$work/rss.pgbr-restore")" "-"
echo "total run time: $(($(date +%s) - tstart)) s"
