#!/bin/sh
# bench/archive.sh — WAL archiving and fetching, pgark against pgBackRest and a
# plain pipeline, in one run on real WAL from pgbench, interleaved (the order
# of the tools rotates every round and every segment):
#
#   push     one 16 MiB segment, synchronous, durable, into a local repository
#            on the same filesystem: wal-push | pgbackrest archive-push
#            (archive-async=n) | lz4 -1 | openssl enc -aes-256-cbc -pbkdf2 |
#            tee FILE | sha256sum, then sync FILE DIR (fsync of both). Before
#            each pgark or pgBackRest push (untimed) only the archived object
#            is removed (pgBackRest's by glob: its name carries a SHA-1), so
#            every push does the full work, as in production
#   burst    SEGMENTS (64) segments made .ready at once in the cluster's
#            pg_wal/archive_status, acknowledged one after the other the way
#            PostgreSQL's archiver calls archive_command (and renames .ready to
#            .done): pgbackrest archive-push with archive-async=y,
#            process-max=2, spool-path (its first call starts the async
#            process, which pushes every .ready it finds; later calls find
#            their .ok in the spool) | wal-push with [archive] push_ahead =
#            16 ($PGARK_PUSH_AHEAD) and a spool (a call that finds segments
#            .ready stores them too, on [repo] transfers = 2 threads, and
#            records them; the calls for them confirm the record and return)
#   fetch    one segment back into a file: wal-fetch | wal-fetch finding it
#            already prefetched (fetch_ahead = 4; before it, untimed, the
#            prefetch helper as the call for the segment before starts it)
#            | pgbackrest archive-get
#            (same repository contents as pushed above) | openssl enc -d |
#            lz4 -d > DEST, with and without sync DEST (neither wal-fetch nor
#            archive-get fsyncs what it writes: PostgreSQL does not need it)
#   timing   every push and fetch (and every call of a burst) is run as
#            PostgreSQL runs archive_command and restore_command, /bin/sh -c
#            LINE, and timed from the shell's spawn to its exit by
#            bench/restore-time.c (no /usr/bin/time and no date process
#            inside the interval); a burst from the first spawn to the
#            last call's exit, the .ready renamed .done after each call by
#            restore-time itself, as the archiver does it (no mv process)
#   limits   lz4 -1 of one segment (lz4 -b1), openssl speed of aes-256-gcm,
#            aes-256-cbc and sha256 at 16384-byte blocks, dd of 16 MiB with
#            conv=fsync
#   memory   peak RSS of every timed wal-push, wal-fetch, pgbackrest
#            archive-push and archive-get (wait4's, of the shell and the
#            command)
#
#   sh bench/archive.sh [ROUNDS [SEGMENTS]]   (defaults 5 and 64; `make` first)
#
# pgark: lz4 + AES-256-GCM (each frame authenticated; no SHA-256 of a WAL object). pgBackRest (Debian's package):
# compress-type=lz4 (level 1), repo1-cipher-type=aes-256-cbc. Times include
# process start-up, as archive_command and restore_command pay it; `sync`
# (untimed) before each timed operation. The WAL: a pgbench -i of a scale
# that gives enough segments (COPY and index builds), then pgbench -c 2 runs;
# the push and fetch rounds use the last 4 full segments (pgbench traffic),
# the burst the last SEGMENTS. Everything lives in a temporary directory
# under ${TMPDIR:-/var/tmp}, removed at the end (PGARK_BENCH_KEEP=1 keeps it);
# run as root, the script runs as an unprivileged user (initdb refuses root).
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
rounds=${1:-5}
nseg=${2:-64}
pgbin=${PG_BINDIR:-/usr/lib/postgresql/15/bin}
case $rounds$nseg in *[!0-9]*) echo "usage: $0 [ROUNDS [SEGMENTS]]" >&2; exit 2 ;; esac
[ "$rounds" -ge 1 ] && [ "$nseg" -ge 4 ] ||
  { echo "usage: $0 [ROUNDS [SEGMENTS]] (ROUNDS at least 1, SEGMENTS at least 4)" >&2; exit 2; }

need() {  # COMMAND PACKAGE: exit 2 naming the Debian package if COMMAND is missing
  command -v "$1" >/dev/null 2>&1 ||
    { echo "$1 is missing: install it with  apt-get install -y $2" >&2; exit 2; }
}
need pgbackrest pgbackrest
need lz4 lz4
need openssl openssl
need sha256sum coreutils
need dd coreutils
need awk mawk
need cc gcc
for p in initdb pg_ctl postgres psql pgbench; do
  [ -x "$pgbin/$p" ] || command -v $p >/dev/null 2>&1 ||
    { echo "$p (PostgreSQL 15) is missing: install it with  apt-get install -y postgresql-15 postgresql-client-15" >&2; exit 2; }
done
. "$top/bench/lib.sh"
B=$top/bin
bench_need_pgark wal-push wal-fetch key-gen repo-init
bench_as_user "$@"
export PATH="$pgbin:$PATH"
work=$(mktemp -d "${TMPDIR:-/var/tmp}/pgark-bench.XXXXXX")
tstart=$(date +%s)
load0=$(cut -d' ' -f1-3 /proc/loadavg)
port=$((30000 + $$ % 20000))
# wait (at most 60 s) for a pgBackRest async archive-push of this run to end
# untimed: neither pgBackRest's async archive-push nor pgark's look-ahead
# helper (a burst's last calls may return before either has exited) is left
# running into the next timed operation
wait_async() {
  n=0
  while pgrep -u "$(id -u)" -f "pgbackrest --config=$work/.*archive-push:async" >/dev/null 2>&1 ||
        pgrep -u "$(id -u)" -f "archive-push:async.*$work" >/dev/null 2>&1 ||
        pgrep -u "$(id -u)" -f "wal-push --config $work/.* --push-helper" >/dev/null 2>&1; do
    n=$((n + 1)); [ $n -lt 600 ] || return 1
    sleep 0.1
  done
}
cleanup() {
  rc=$?
  [ $rc -eq 0 ] || bench_log_tails "$work"/*.log "$work"/pgbr-log/*.log
  [ -f "$work/pg/postmaster.pid" ] && pg_ctl -D "$work/pg" -m immediate stop >/dev/null 2>&1 || true
  wait_async || true
  bench_cleanup
}
trap cleanup EXIT
trap 'exit 130' INT TERM
cc -O2 -std=c11 -D_GNU_SOURCE -o "$work/restore-time" "$top/bench/restore-time.c"
psql_p() { psql -X -q -A -t -h "$work" -p "$port" -d postgres "$@"; }
pgbr() { pgbackrest --config="$work/pgbackrest.conf" --stanza=bench "$@"; }
segno() { echo $((0x$(echo "$1" | cut -c9-16) * 256 + 0x$(echo "$1" | cut -c17-24))); }
mbps() { awk -v b="$1" -v ms="$2" 'BEGIN {printf "%.0f", b / 1048576 / (ms / 1000)}'; }

echo "command: sh bench/archive.sh $rounds $nseg"
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.1f GiB RAM", $2 / 1048576}' /proc/meminfo)," \
  "Linux $(uname -r), $(df -T "$work" | awk 'NR==2 {print $2}') filesystem for pg_wal and the three repositories ($work)"
echo "tools: $(postgres --version), pgBackRest $(pgbackrest version | awk '{print $2}'), lz4 $(lz4 --version 2>&1 | sed -n 's/.* v\([0-9.]*\),.*/\1/p'), $(openssl version | cut -d' ' -f1-2), pgark $("$B/wal-push" --version 2>&1 | awk '{print $NF}')"
echo "load average at start: $load0"

# --- real WAL ------------------------------------------------------------------
scale=$((nseg * 3 / 4)); [ $scale -ge 5 ] || scale=5
say "WAL: initdb, pgbench -i -s $scale, then pgbench -c 2 until $nseg full segments (the last 4 of pgbench traffic)"
bench_cluster "$work/pg" "$port" "$work"
cat >>"$work/pg/postgresql.conf" <<CONF
archive_mode = off
max_wal_size = 4GB
wal_keep_size = $(((nseg + 32) * 16))MB
CONF
pg_ctl -D "$work/pg" -l "$work/pg.log" -w start >/dev/null
pgbench -h "$work" -p "$port" -i -s "$scale" -q postgres >"$work/pgbench.log" 2>&1
psql_p -c "CHECKPOINT"
s0=$(segno "$(psql_p -c "SELECT pg_walfile_name(pg_current_wal_lsn())")")
full_before() {  # the full segments in pg_wal before the current one
  cur=$(psql_p -c "SELECT pg_walfile_name(pg_current_wal_lsn())")
  (cd "$work/pg/pg_wal" && for f in 00000001????????????????; do [ "$f" \< "$cur" ] && echo "$f"; done)
}
t=0
while :; do
  pgbench -h "$work" -p "$port" -T 10 -c 2 -j 2 postgres >>"$work/pgbench.log" 2>&1
  t=$((t + 10))
  cur=$(psql_p -c "SELECT pg_walfile_name(pg_current_wal_lsn())")
  [ $(($(segno "$cur") - s0)) -ge 5 ] && [ "$(full_before | wc -l)" -ge "$nseg" ] && break
  [ $t -lt 600 ] || { echo "pgbench made too little WAL in 600 s" >&2; exit 1; }
done
psql_p -c "SELECT pg_switch_wal()" >/dev/null
# pgBackRest's stanza (it reads pg_control and asks the running server)
bench_pgbackrest_conf archive-async=n
pgbr stanza-create >>"$work/pgbr.log" 2>&1
all=$(full_before | tail -n "$nseg")
segs=$(echo "$all" | tail -n 4)
pg_ctl -D "$work/pg" -m fast -w stop >/dev/null
W=$work/pg/pg_wal          # the cluster is stopped: its pg_wal is the archiver's
mkdir -p "$W/archive_status"
rm -f "$W"/archive_status/*
echo "WAL: pgbench -i -s $scale, then pgbench -c 2 -j 2 for $t s; push and fetch: the last 4 full segments" \
  "($(echo $segs | cut -c1-24) ..., pgbench traffic), burst: the last $nseg ($(echo "$all" | head -n 1) to $(echo "$all" | tail -n 1)), in the page cache"
echo "rounds: $rounds, interleaved, the order rotating every round and segment; times in ms, process start-up included, sync (untimed) before each"
echo "timing: every call as PostgreSQL makes it, /bin/sh -c LINE, from spawn to exit (bench/restore-time.c; RSS from wait4); the burst: until the last of its calls, made one after the other so, returned (each .ready renamed .done in between, as the archiver does)"

# --- repositories ----------------------------------------------------------------
bench_pgark_conf "$work/pgark.conf" "$work"
cat >>"$work/pgark.conf" <<CONF
[archive]
spool = $work/pgark-spool
push_ahead = ${PGARK_PUSH_AHEAD:-16}
fetch_ahead = 0
CONF
sed 's/^fetch_ahead = 0$/fetch_ahead = 4/' "$work/pgark.conf" >"$work/pgark-pf.conf"
"$B/repo-init" --config "$work/pgark.conf" --pgdata "$work/pg" >>"$work/pgark.log" 2>&1
od -An -N32 -tx1 /dev/urandom | tr -d ' \n' >"$work/pipe.pass"
mkdir -p "$work/pipe-repo" "$work/dest"

# --- machine limits ------------------------------------------------------------------
say "machine limits"
one=$(echo $segs | cut -d' ' -f1)
lz4b=$(lz4 -b1 -e1 -i1 "$W/$one" 2>&1 | tr '\r' '\n' | grep ' -> ' | tail -n 1 |
  sed 's/.*: *\([0-9]*\) -> *\([0-9]*\) (\([0-9.]*\)), *\([0-9.]*\) MB\/s *, *\([0-9.]*\) MB\/s.*/\4 MB\/s compress, \5 MB\/s decompress, ratio \3/')
speed() { openssl speed -mr -seconds 1 -bytes 16384 -evp "$1" 2>/dev/null | awk -F: '/^\+F:/ {printf "%.0f", $NF / 1e6}'; }
gcm=$(speed aes-256-gcm); cbc=$(speed aes-256-cbc); sha=$(speed sha256)
cbcd=$(openssl speed -mr -seconds 1 -bytes 16384 -decrypt -evp aes-256-cbc 2>/dev/null | awk -F: '/^\+F:/ {printf "%.0f", $NF / 1e6}')
: >"$work/t.dd"
for k in 1 2 3; do
  sync; t0=$(now)
  dd if=/dev/zero of="$work/dd.out" bs=1M count=16 conv=fsync status=none
  t1=$(now); echo $(((t1 - t0) / 1000)) >>"$work/t.dd"; rm -f "$work/dd.out"
done
sync; t0=$(now); lz4 -1 -q -c "$W/$one" >/dev/null; t1=$(now); lz4ms=$(((t1 - t0) / 1000))
sync; t0=$(now); sha256sum "$W/$one" >/dev/null; t1=$(now); shams=$(((t1 - t0) / 1000))

# --- the tools ---------------------------------------------------------------------------
pgbr_obj() { echo "$work/pgbr-repo/archive/bench/15-1/$(echo "$1" | cut -c1-16)/$1"; }
rm_pgark() { rm -f "$work/repo/wal/$(echo "$1" | cut -c1-16)/$1"; }
rm_pgbr() { rm -f "$(pgbr_obj "$1")"-*; }
# Every push and fetch row: a command line that timed_sh runs as PostgreSQL
# runs archive_command and restore_command (system(): /bin/sh -c LINE), timed
# from the spawn of the shell to its exit, the peak RSS from wait4 (no
# /usr/bin/time, whose own fork and exec, about 1 ms, weighed on the 3-5 ms
# of a prefetched call). Paths are single-quoted: $work and $top must not
# contain a single quote.
case "$work$top" in *"'"*) echo "a single quote in $work or $top: not supported" >&2; exit 2 ;; esac
push_pgark() {
  echo "'$B/wal-push' --config '$work/pgark.conf' '$W/$1' >>'$work/pgark.log' 2>&1"
}
push_pgbr() {
  echo "pgbackrest --config='$work/pgbackrest.conf' --stanza=bench archive-push '$W/$1' >>'$work/pgbr.log' 2>&1"
}
push_pipe() {
  echo "lz4 -1 -q -c '$W/$1' | openssl enc -aes-256-cbc -pbkdf2 -pass file:'$work/pipe.pass' |" \
    "tee '$work/pipe-repo/$1.lz4.enc' | sha256sum >'$work/pipe-repo/$1.sha256' &&" \
    "sync '$work/pipe-repo/$1.lz4.enc' '$work/pipe-repo'"
}
fetch_pgark() {
  echo "'$B/wal-fetch' --config '$work/pgark.conf' $1 '$work/dest/pgark' >>'$work/pgark.log' 2>&1"
}
prevname() {  # the segment before NAME (16 MiB segments)
  n=$(($(segno "$1") - 1))
  printf '%s%08X%08X' "$(echo "$1" | cut -c1-8)" $((n / 256)) $((n % 256))
}
wait_prefetch() {  # untimed: the helper the timed call started has ended
  k=0
  while pgrep -u "$(id -u)" -f -- "--config $work/pgark-pf.conf --prefetch-helper" >/dev/null 2>&1; do
    k=$((k + 1)); [ $k -lt 200 ] || break
    sleep 0.05
  done
}
prefetch_prepare() {  # untimed: as recovery does, the segment before NAME fetched (from the
  # repository: the spool emptied), which starts the helper; then wait until NAME is in the spool
  pv=$(prevname "$1")
  rm -f "$work"/pgark-spool/fetch-*/0*
  [ -f "$work/repo/wal/$(echo "$pv" | cut -c1-16)/$pv" ] || "$B/wal-push" --config "$work/pgark.conf" "$W/$pv" 2>>"$work/pgark.log"
  "$B/wal-fetch" --config "$work/pgark-pf.conf" "$pv" "$work/dest/prev" 2>>"$work/pgark.log"
  k=0
  until ls "$work"/pgark-spool/fetch-*/"$1" >/dev/null 2>&1; do
    k=$((k + 1)); [ $k -lt 200 ] || { echo "prefetch: $1 was not fetched ahead in 10 s" >&2; exit 1; }
    sleep 0.05
  done
  wait_prefetch
}
fetch_pgarkpf() {
  echo "'$B/wal-fetch' --config '$work/pgark-pf.conf' $1 '$work/dest/pgarkpf' >>'$work/pgark.log' 2>&1"
}
fetch_pgbr() {
  echo "pgbackrest --config='$work/pgbackrest.conf' --stanza=bench archive-get $1 '$work/dest/pgbr' >>'$work/pgbr.log' 2>&1"
}
fetch_pipe() {
  echo "openssl enc -d -aes-256-cbc -pbkdf2 -pass file:'$work/pipe.pass' <'$work/pipe-repo/$1.lz4.enc' | lz4 -d -q -c >'$work/dest/pipe'"
}
fetch_pipesync() {
  echo "$(fetch_pipe "$1") && mv '$work/dest/pipe' '$work/dest/pipesync' && sync '$work/dest/pipesync'"
}

# timed_sh NAME LINE: /bin/sh -c LINE (bench/restore-time.c), its
# microseconds appended to t.NAME, its peak RSS (KiB) written to rss; fails
# as LINE fails
timed_sh() {
  sync
  "$work/restore-time" "$2" >"$work/rt.out"
  read -r us kib <"$work/rt.out"
  echo "$us" >>"$work/t.$1"
  echo "$kib" >"$work/rss"
}
rot() {  # K WORD...: the words rotated left by K
  k=$1; shift
  echo "$@" | awk -v k="$k" '{for (i = 0; i < NF; i++) printf "%s%s", $((i + k) % NF + 1), (i < NF - 1 ? " " : "\n")}'
}
for f in rss.push.pgark rss.push.pgbr rss.fetch.pgark rss.fetch.pgbr rss.burst.pgark rss.fetch.pgarkpf; do : >"$work/$f"; done

# the burst: each call as the archiver makes it (/bin/sh -c LINE), one after
# the other, the .ready renamed .done after each as the archiver does (a
# rename inside bench/restore-time.c, not an mv process), timed from the
# first spawn to the last rename; also wal-push's largest RSS
burst_run() {  # TOOL LINE (%f: the segment's name)
  sync
  "$work/restore-time" --archiver "$W/archive_status" "$2" $all >"$work/rt.out" || return 1
  read -r us kib <"$work/rt.out"
  echo "$us" >>"$work/t.burst.$1"
  [ "$1" = pgark ] && echo "$kib" >>"$work/rss.burst.pgark"
  return 0
}
burst_pgark() {
  burst_run pgark "'$B/wal-push' --config '$work/pgark.conf' '$W/%f' >>'$work/pgark.log' 2>&1"
}
burst_pgbr() {
  burst_run pgbr "pgbackrest --config='$work/pgbackrest.conf' --stanza=bench --archive-async=y archive-push '$W/%f' >>'$work/pgbr.log' 2>&1"
}
burst_prepare() {  # untimed: the objects removed, the segments .ready
  wait_async || { echo "pgBackRest's async archive-push or pgark's look-ahead helper did not end" >&2; exit 1; }
  for s in $all; do
    case $1 in pgark) rm_pgark "$s" ;; pgbr) rm_pgbr "$s" ;; esac
  done
  rm -f "$W"/archive_status/* "$work"/pgbr-spool/archive/bench/out/* "$work"/pgark-spool/push-*/*
  for s in $all; do : >"$W/archive_status/$s.ready"; done
}
burst_check() {  # every segment in the repository
  for s in $all; do
    case $1 in
      pgark) [ -f "$work/repo/wal/$(echo "$s" | cut -c1-16)/$s" ] ;;
      pgbr) ls "$(pgbr_obj "$s")"-* >/dev/null 2>&1 ;;
    esac || { echo "burst $1: $s is not in the repository" >&2; exit 1; }
  done
}

# --- rounds ---------------------------------------------------------------------------------
i=1
while [ $i -le "$rounds" ]; do
  j=0
  for s in $segs; do
    say "round $i/$rounds: push and fetch $s"
    for tool in $(rot $((i + j)) pgark pgbr pipe); do
      case $tool in
        pgark) rm_pgark "$s"; timed_sh push.pgark "$(push_pgark "$s")"; cat "$work/rss" >>"$work/rss.push.pgark" ;;
        pgbr) rm_pgbr "$s"; timed_sh push.pgbr "$(push_pgbr "$s")"; cat "$work/rss" >>"$work/rss.push.pgbr" ;;
        pipe) rm -f "$work/pipe-repo/$s".*; timed_sh push.pipe "$(push_pipe "$s")" ;;
      esac
    done
    for tool in $(rot $((i + j)) pgark pgarkpf pgbr pipe pipesync); do
      rm -f "$work/dest/$tool"
      [ $tool = pgarkpf ] && prefetch_prepare "$s"
      timed_sh fetch.$tool "$(fetch_$tool "$s")"
      case $tool in pgark|pgarkpf|pgbr) cat "$work/rss" >>"$work/rss.fetch.$tool" ;; esac
      [ $tool = pgarkpf ] && wait_prefetch
      cmp -s "$work/dest/$tool" "$W/$s" || { echo "fetch $tool: $s differs from the original" >&2; exit 1; }
    done
    j=$((j + 1))
  done
  for tool in $(rot $i pgark pgbr); do
    say "round $i/$rounds: burst of $nseg segments, $tool"
    burst_prepare $tool
    burst_$tool || { echo "burst $tool: a call failed" >&2; exit 1; }
    burst_check $tool
  done
  i=$((i + 1))
done
wait_async || true
load1=$(cut -d' ' -f1-3 /proc/loadavg)

# --- the table --------------------------------------------------------------------------------
med() { sort -n "$1" | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
stats() { sort -n "$1" | awk -v d="$2" '{a[NR]=$1} END {printf "%8.1f  %8.1f-%-8.1f", a[int((NR+1)/2)]/d, a[1]/d, a[NR]/d}'; }
ratio() { echo "$1 $2" | awk '{printf "%5.2fx", $1/$2}'; }
maxmib() { [ -s "$1" ] && sort -n "$1" | tail -n 1 | awk '{printf "%.1f", $1/1024}' || echo -; }
row() {  # LABEL FILE DIVISOR REF RSSFILE
  printf '%-56s %s %-8s %8s\n' "$1" "$(stats "$2" "$3")" "$(ratio "$(med "$2")" "$4")" "$5"
}
ns=$(wc -l <"$work/t.push.pgark")
printf '\n%-56s %8s  %-17s %-8s %8s\n' "push one 16 MiB segment, durable ($ns runs each)" median "min-max (ms)" "vs pgbr" "RSS MiB"
ref=$(med "$work/t.push.pgbr")
row "wal-push (lz4, AES-256-GCM)" "$work/t.push.pgark" 1000 "$ref" "$(maxmib "$work/rss.push.pgark")"
row "pgbackrest archive-push (lz4, aes-256-cbc, sync)" "$work/t.push.pgbr" 1000 "$ref" "$(maxmib "$work/rss.push.pgbr")"
row "lz4 -1 | openssl enc aes-256-cbc | tee | sha256sum; sync" "$work/t.push.pipe" 1000 "$ref" "-"

printf '\n%-56s %8s  %-17s %-8s %8s\n' "burst: $nseg segments .ready at once ($rounds runs each)" median "min-max (ms)" "vs pgbr" "MiB/s"
ref=$(med "$work/t.burst.pgbr")
row "wal-push x $nseg, look-ahead (push_ahead ${PGARK_PUSH_AHEAD:-16})" "$work/t.burst.pgark" 1000 "$ref" \
  "$(mbps $((nseg * 16777216)) "$(med "$work/t.burst.pgark" | awk '{print $1/1000}')")"
row "pgbackrest archive-push async, process-max 2" "$work/t.burst.pgbr" 1000 "$ref" \
  "$(mbps $((nseg * 16777216)) "$(med "$work/t.burst.pgbr" | awk '{print $1/1000}')")"
printf '  (time until the last of the %s calls returned 0; per segment: pgark %.1f ms, pgBackRest async %.1f ms)\n' "$nseg" \
  "$(med "$work/t.burst.pgark" | awk -v n="$nseg" '{print $1/1000/n}')" "$(med "$work/t.burst.pgbr" | awk -v n="$nseg" '{print $1/1000/n}')"

printf '\n%-56s %8s  %-17s %-8s %8s\n' "fetch one segment into a file ($ns runs each)" median "min-max (ms)" "vs pgbr" "RSS MiB"
ref=$(med "$work/t.fetch.pgbr")
row "wal-fetch (verifies; no fsync of DEST)" "$work/t.fetch.pgark" 1000 "$ref" "$(maxmib "$work/rss.fetch.pgark")"
row "wal-fetch, segment already prefetched (fetch_ahead 4)" "$work/t.fetch.pgarkpf" 1000 "$ref" "$(maxmib "$work/rss.fetch.pgarkpf")"
row "pgbackrest archive-get (no fsync of DEST)" "$work/t.fetch.pgbr" 1000 "$ref" "$(maxmib "$work/rss.fetch.pgbr")"
row "openssl enc -d | lz4 -d > DEST" "$work/t.fetch.pipe" 1000 "$ref" "-"
row "openssl enc -d | lz4 -d > DEST; sync DEST" "$work/t.fetch.pipesync" 1000 "$ref" "-"

sz_pgark=$(for s in $segs; do stat -c %s "$work/repo/wal/$(echo "$s" | cut -c1-16)/$s"; done | awk '{s+=$1} END {printf "%.1f", s/NR/1048576}')
sz_pgbr=$(for s in $segs; do stat -c %s "$(pgbr_obj "$s")"-*; done | awk '{s+=$1} END {printf "%.1f", s/NR/1048576}')
sz_pipe=$(for s in $segs; do stat -c %s "$work/pipe-repo/$s.lz4.enc"; done | awk '{s+=$1} END {printf "%.1f", s/NR/1048576}')
echo "  stored per segment (mean of the 4): pgark $sz_pgark MiB, pgBackRest $sz_pgbr MiB, pipeline $sz_pipe MiB"
echo "  peak RSS of wal-push in the bursts: $(maxmib "$work/rss.burst.pgark") MiB"

echo
echo "machine limits (one process, one core):"
echo "  lz4 -b1 of one segment: $lz4b; lz4 -1 -c of it: $(echo $lz4ms | awk '{printf "%.1f", $1/1000}') ms"
echo "  openssl speed -evp, 16384-byte blocks: aes-256-gcm $gcm MB/s, aes-256-cbc $cbc MB/s (decrypt $cbcd MB/s), sha256 $sha MB/s;" \
  "sha256sum of one segment: $(echo $shams | awk '{printf "%.1f", $1/1000}') ms"
echo "  dd of 16 MiB, conv=fsync: median $(med "$work/t.dd" | awk '{printf "%.1f", $1/1000}') ms ($(sort -n "$work/t.dd" | awk '{a[NR]=$1} END {printf "%.1f-%.1f", a[1]/1000, a[NR]/1000}') over 3)"
echo "load average at start: $load0, at end: $load1"
echo "total run time: $(($(date +%s) - tstart)) s"
