#!/bin/sh
# bench/s3.sh — pgark on an S3 repository against the same on a local one, in
# one run, interleaved (the order rotating every round):
#
#   wal-push     one 16 MiB WAL segment (real pgbench WAL; the cluster is
#                stopped meanwhile) into a local repository (ext4, durable) |
#                the S3 test server over http | the same over https (its CA
#                in [repo] ca_file); each push preceded, untimed, by removing
#                only the object (rm; on S3 t/tools/store-tool CONFIG rm NAME),
#                as in production where the repository exists
#   base-push    --fast, full (a fresh repository every round: a new directory,
#                on S3 a new prefix), of a pgbench scale-SCALE cluster, local |
#                S3 over http; archive_command pushes into the same repository
#                (base-push checks its stop segment is there), so each backup
#                pays its archiving, as in bench/basebackup.sh
#   pitr-prepare of the last of those backups into an empty directory, local |
#                S3 over http; each also with --delta, which reads on one
#                connection without read-ahead (into an empty directory it
#                fetches the same bytes): what the [repo] transfers read-ahead
#                connections bring
#   requests     the S3 server logs one line per request ("info: PATH STATUS
#                TIME SIZE"; its other lines, "Stored object ..." and the like,
#                are not counted): the lines an operation added (read once the
#                log stops growing) are its requests; and the objects
#                (store-tool list) an S3 backup leaves, both per GiB of the
#                database
#   memory       peak RSS (/usr/bin/time -f %M) of every timed run
#
#   sh bench/s3.sh [ROUNDS [SCALE [BACKUP_ROUNDS]]]
#                (defaults 11, 50 and 3; run `make` and `make t/tools/store-tool` first)
#
# The S3 server is t/s3/'s test server: @20minutes/s3rver (Node.js) on
# loopback, sharing the machine's cores with pgark, and it does not fsync; so
# the S3 figures hold its CPU cost and none of a network's latency or a real
# store's durability. They show what pgark's S3 path costs on top of the work
# a local repository does, and how many requests and objects it makes, which
# is what object storage bills. Everything lives in a temporary directory
# under ${TMPDIR:-/var/tmp}, removed at the end (PGARK_BENCH_KEEP=1 keeps it);
# run as root, the script installs the server's npm dependencies (t/s3/README.md:
# npm ci into .cache/s3-test-server, or $S3_SERVER_CACHE) and runs as an
# unprivileged user.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
rounds=${1:-11}
scale=${2:-50}
brounds=${3:-3}
pgbin=${PG_BINDIR:-/usr/lib/postgresql/15/bin}
case $rounds$scale$brounds in *[!0-9]*) echo "usage: $0 [ROUNDS [SCALE [BACKUP_ROUNDS]]]" >&2; exit 2 ;; esac
[ "$rounds" -ge 1 ] && [ "$scale" -ge 1 ] && [ "$brounds" -ge 1 ] ||
  { echo "usage: $0 [ROUNDS [SCALE [BACKUP_ROUNDS]]] (each at least 1)" >&2; exit 2; }
export S3_SERVER_CACHE=${S3_SERVER_CACHE:-$top/.cache/s3-test-server}

if [ "$(id -u)" = 0 ]; then
  for c in node npm curl; do
    command -v $c >/dev/null 2>&1 || { echo "$c is missing: sh mk/deps.sh check installs it" >&2; exit 1; }
  done
  # the npm dependencies, once, as root; the unprivileged user only reads them
  "$top/t/s3/start-s3-server" --install-only
  chmod -R go+rX "$S3_SERVER_CACHE"
fi
. "$top/bench/lib.sh"
bench_as_user "$@"
for c in node npm curl openssl; do
  command -v $c >/dev/null 2>&1 || { echo "$c is missing" >&2; exit 1; }
done
[ -x /usr/bin/time ] || { echo "/usr/bin/time is missing: apt-get install -y time" >&2; exit 1; }
B=$top/bin
ST=$top/t/tools/store-tool
bench_need_pgark wal-push base-push pitr-prepare repo-init key-gen
[ -x "$ST" ] || { echo "run make t/tools/store-tool first" >&2; exit 1; }
export PATH="$pgbin:$PATH"
work=$(mktemp -d "${TMPDIR:-/var/tmp}/pgark-bench.XXXXXX")
tstart=$(date +%s)
load0=$(cut -d' ' -f1 /proc/loadavg)
port=$((30000 + $$ % 20000))
s3pids=""
cleanup() {
  rc=$?
  [ $rc -eq 0 ] || bench_log_tails "$work"/*.log "$work"/s3-*/server.log
  [ -f "$work/pg/postmaster.pid" ] && pg_ctl -D "$work/pg" -m immediate stop >/dev/null 2>&1 || true
  for p in $s3pids; do "$top/t/s3/stop-s3-server" "$p" >/dev/null 2>&1 || true; done
  bench_cleanup
}
trap cleanup EXIT
trap 'exit 130' INT TERM
psql_p() { psql -X -q -A -t -h "$work" -p "$port" -d postgres "$@"; }
jfield() { sed -n "s/.*\"$1\":\"\{0,1\}\([^,\"}]*\).*/\1/p" "$2"; }
mib() { echo "$1" | awk '{printf "%.1f", $1 / 1048576}'; }

echo "command: sh bench/s3.sh $rounds $scale $brounds"
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.1f GiB RAM", $2 / 1048576}' /proc/meminfo)," \
  "Linux $(uname -r), $(df -T "$work" | awk 'NR==2 {print $2}') filesystem for the cluster, the local repositories, the S3 server's data and the restores"
echo "tools: $(postgres --version), pgark $("$B/base-push" --version 2>&1 | awk '{print $NF}'), $(curl --version | head -n 1 | cut -d' ' -f1-2 | sed 's/curl/libcurl/'), $(openssl version | cut -d' ' -f1-2), node $(node --version), @20minutes/s3rver $(node -p "require('$S3_SERVER_CACHE/node_modules/@20minutes/s3rver/package.json').version")"
echo "S3 server: s3rver (Node.js, t/s3/) on loopback, no fsync; its own CPU cost is part of every S3 figure ($(nproc) cores shared with pgark and PostgreSQL)"

# --- the S3 servers: http and https, a bucket each ------------------------------------
# start_s3 NAME [--tls]: sets <NAME>_endpoint, _ca, _log; creates the bucket bench
start_s3() {
  name=$1; shift
  endpoint="" region="" access_key="" secret_key="" pid="" ca_cert="" log=""
  eval "$("$top/t/s3/start-s3-server" --data-dir "$work/s3-$name/data" --state-dir "$work/s3-$name" "$@")"
  s3pids="$s3pids $pid"
  code=$(curl -sS -o "$work/s3-$name/create-bucket.out" -w '%{http_code}' ${ca_cert:+--cacert "$ca_cert"} \
    --aws-sigv4 "aws:amz:$region:s3" --user "$access_key:$secret_key" \
    -H "x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" \
    -X PUT "$endpoint/bench") || code="curl failed"
  [ "$code" = 200 ] || { echo "could not create the bucket bench at $endpoint: $code" >&2; exit 1; }
  eval "${name}_endpoint=\$endpoint ${name}_ca=\$ca_cert ${name}_log=\$log ${name}_pid=\$pid"
}
say "S3 test servers (http, https)"
start_s3 http
start_s3 https --tls

# s3_conf FILE SERVER PREFIX [CONNINFO]: a configuration of an S3 repository,
# mode 0600 (it holds the secret key)
s3_conf() {
  f=$1 srv=$2 prefix=$3 ci=${4:-}
  eval "ep=\$${srv}_endpoint ca=\$${srv}_ca"
  {
    echo "[repo]"
    echo "type = s3"
    echo "endpoint = $ep"
    echo "bucket = bench"
    echo "region = us-east-1"
    echo "prefix = $prefix"
    echo "uri_style = path"
    echo "access_key = S3RVER"
    echo "secret_key = S3RVER"
    [ -z "$ca" ] || echo "ca_file = $ca"
    echo "[crypto]"
    echo "key_file = $work/master.key"
    echo "[postgres]"
    echo "pgdata = $work/pg"
    [ -z "$ci" ] || echo "conninfo = $ci"
  } >"$f.tmp"
  chmod 600 "$f.tmp"
  mv -f "$f.tmp" "$f"
}
# local_conf FILE DIR [CONNINFO]
local_conf() {
  {
    echo "[repo]"
    echo "type = local"
    echo "path = $2"
    echo "[crypto]"
    echo "key_file = $work/master.key"
    echo "[postgres]"
    echo "pgdata = $work/pg"
    [ -z "${3:-}" ] || echo "conninfo = $3"
  } >"$1.tmp"
  mv -f "$1.tmp" "$1"
}
conninfo="host=$work port=$port dbname=postgres"
# lines of a server's log once it has stopped growing: a request is logged
# when its answer is sent, which may be just after the client has it
loglines() {
  n=$(wc -l <"$1")
  while sleep 0.05; m=$(wc -l <"$1"); [ "$m" != "$n" ]; do n=$m; done
  echo "$n"
}
# the requests among a server's log lines on stdin ("info: PATH STATUS TIME
# SIZE" each; s3rver's other lines say what it stored or listed), without
# colours: "STATUS PATH" each
requests() {
  sed 's/\x1b\[[0-9;]*m//g' | sed -n 's/^info: *\([^ ]*\) \([1-5][0-9][0-9]\) [0-9.]*m\{0,1\}s .*/\2 \1/p'
}

# --- the cluster, real WAL ---------------------------------------------------------------
say "cluster: initdb, pgbench -i -s $scale, pgbench -T 15"
bench_cluster "$work/pg" "$port" "$work"
cat >>"$work/pg/postgresql.conf" <<CONF
archive_mode = on
archive_command = 'test -f $work/archive.off || $B/wal-push --config $work/pgark.conf %p'
max_wal_size = 4GB
wal_keep_size = 4GB
CONF
# archive.off: the data load and the pgbench run are not archived
: >"$work/archive.off"
"$B/key-gen" "$work/master.key" 2>/dev/null
pg_ctl -D "$work/pg" -l "$work/pg.log" -w start >/dev/null
pgbench -h "$work" -p "$port" -i -s "$scale" -q postgres >"$work/pgbench.log" 2>&1
psql_p -c "CHECKPOINT"
pgbench -h "$work" -p "$port" -T 15 -c 2 postgres >>"$work/pgbench.log" 2>&1
psql_p -c "SELECT pg_switch_wal()" >/dev/null
current=$(psql_p -c "SELECT pg_walfile_name(pg_current_wal_lsn())")
mkdir "$work/segs"
# the last full segments: pgbench traffic
segs=$(cd "$work/pg/pg_wal" && for f in 00000001????????????????; do
  [ "$f" \< "$current" ] && echo "$f"; done | tail -n 4)
[ -n "$segs" ] || { echo "no full WAL segment before $current" >&2; exit 1; }
for s in $segs; do cp "$work/pg/pg_wal/$s" "$work/segs/"; done
nrows=$((scale * 100000))
datasize=$(du -sb --exclude=pg_wal "$work/pg" | cut -f1)
gib=$(echo "$datasize" | awk '{print $1 / 1073741824}')
pg_ctl -D "$work/pg" -m fast -w stop >/dev/null
echo "cluster: pgbench scale $scale ($nrows rows), data directory $(mib "$datasize") MiB without pg_wal," \
  "files in the page cache; WAL: the last $(echo $segs | wc -w) full 16 MiB segments of pgbench -T 15 -c 2 on it"
echo "rounds: wal-push $rounds x $(echo $segs | wc -w) segments, base-push and pitr-prepare $brounds;" \
  "interleaved, the order rotating; each operation durable (pgark's fsyncs; the S3 server does not fsync), sync before each"

order() {
  case $(($1 % 3)) in
    1) echo "local http https" ;;
    2) echo "http https local" ;;
    0) echo "https local http" ;;
  esac
}
# timed NAME CMD...: appends the microseconds of CMD to t.NAME
timed() {
  n=$1; shift
  sync
  t0=$(now); "$@"; t1=$(now)
  echo $(((t1 - t0) / 1000)) >>"$work/t.$n"
}
# CPU time (user + system, in clock ticks) a process has used so far
cputicks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
tck=$(getconf CLK_TCK)
# counted NAME SERVER CMD...: timed; the number of requests SERVER logged
# meanwhile appended to r.NAME, the requests themselves in req.NAME (the last
# run), the server's CPU time (ms) to cpu.NAME
counted() {
  n=$1; eval "lg=\$${2}_log sp=\$${2}_pid"; shift 2
  l0=$(loglines "$lg")
  c0=$(cputicks "$sp")
  timed "$n" "$@"
  l1=$(loglines "$lg")
  echo $((($(cputicks "$sp") - c0) * 1000 / tck)) >>"$work/cpu.$n"
  sed -n "$((l0 + 1)),${l1}p" "$lg" | requests >"$work/req.$n"
  wc -l <"$work/req.$n" >>"$work/r.$n"
}

# --- wal-push ----------------------------------------------------------------------------
say "wal-push: $rounds rounds of $(echo $segs | wc -w) segments"
local_conf "$work/wal.local.conf" "$work/wal.repo"
s3_conf "$work/wal.http.conf" http wal
s3_conf "$work/wal.https.conf" https wal
for t in local http https; do
  "$B/repo-init" --config "$work/wal.$t.conf" >>"$work/pgark.log" 2>&1
done
: >"$work/wal.objects"
wal_push() {
  /usr/bin/time -f %M -o "$work/rss" "$B/wal-push" --config "$work/wal.$1.conf" "$work/segs/$2" 2>>"$work/pgark.log"
  cat "$work/rss" >>"$work/rss.wal.$1"
}
# the object only (its directory, on S3 its prefix, exists in real life)
wal_unpush() {
  case $1 in
    local) rm -f "$work"/wal.repo/wal/*/* ;;
    *) "$ST" "$work/wal.$1.conf" list wal/ | while read -r name size; do
         "$ST" "$work/wal.$1.conf" rm "$name"
       done ;;
  esac
}
: >"$work/r.wal.http"
i=1
while [ $i -le "$rounds" ]; do
  for s in $segs; do
    for t in $(order $i); do
      wal_unpush $t
      case $t in
        local) timed wal.local wal_push local "$s" ;;
        *) counted wal.$t $t wal_push $t "$s" ;;
      esac
    done
  done
  i=$((i + 1))
done
"$ST" "$work/wal.http.conf" list wal/ >"$work/wal.objects"

# --- base-push -----------------------------------------------------------------------------
say "base-push: $brounds rounds, local and S3 (http)"
rm -f "$work/archive.off"
pg_ctl -D "$work/pg" -l "$work/pg.log" -w start >/dev/null
# new_repo local|http N: a fresh repository, made the one archive_command and
# base-push use (the config file is replaced atomically)
new_repo() {
  case $1 in
    local) local_conf "$work/pgark.conf.new" "$work/repo.$2" "$conninfo" ;;
    http) s3_conf "$work/pgark.conf.new" http "bp$2" "$conninfo" ;;
  esac
  "$B/repo-init" --config "$work/pgark.conf.new" --pgdata "$work/pg" >>"$work/pgark.log" 2>&1
  cp -p "$work/pgark.conf.new" "$work/$1.conf"
  mv -f "$work/pgark.conf.new" "$work/pgark.conf"
}
# a first segment through the archiver, untimed: it starts the archiver's loop
new_repo local 0
psql_p -c "SELECT pg_switch_wal()" >/dev/null
base_push() {
  /usr/bin/time -f %M -o "$work/rss" "$B/base-push" --config "$work/pgark.conf" --fast --json \
    >"$work/bp.$1.json" 2>>"$work/pgark.log"
  cat "$work/rss" >>"$work/rss.bp.$1"
}
i=1
while [ $i -le "$brounds" ]; do
  for t in $(order $i); do
    [ $t = https ] && continue
    say "round $i/$brounds: base-push, $t"
    case $t in
      local)
        new_repo local $i
        # the previous repository, once no archive_command writes into it
        bench_wait_archived "$work/pg"
        rm -rf "$work/repo.$((i - 1))"
        timed bp.local base_push local ;;
      http)
        new_repo http $i
        counted bp.http http base_push http ;;
    esac
    jfield bytes_stored "$work/bp.$t.json" >>"$work/size.$t"
  done
  i=$((i + 1))
done
pg_ctl -D "$work/pg" -m fast -w stop >/dev/null
# what the last S3 backup's repository holds: repo-init's objects, the backup,
# the WAL archived while it ran
"$ST" "$work/http.conf" list >"$work/bp.objects"

# --- pitr-prepare ------------------------------------------------------------------------
say "pitr-prepare: $brounds rounds, local and S3 (http)"
# restore CONF [--delta]
restore() {
  /usr/bin/time -f %M -o "$work/rss" "$B/pitr-prepare" --config "$work/$1.conf" \
    --pgdata "$work/r.$1" --json ${2:+"$2"} >"$work/pp.$1${2:+1}.json" 2>>"$work/pgark.log"
  cat "$work/rss" >>"$work/rss.pp.$1${2:+1}"
}
i=1
while [ $i -le "$brounds" ]; do
  for t in $(order $i); do
    [ $t = https ] && continue
    for d in "" --delta; do
      say "round $i/$brounds: pitr-prepare $d, $t"
      case $t in
        local) timed pp.local${d:+1} restore local $d ;;
        http) counted pp.http${d:+1} http restore http $d ;;
      esac
      [ -f "$work/r.$t/PG_VERSION" ] || { echo "pitr-prepare from $t restored no PG_VERSION" >&2; exit 1; }
      rm -rf "$work/r.$t"
    done
  done
  i=$((i + 1))
done

# --- the tables ---------------------------------------------------------------------------
med() { sort -n "$1" | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
# stats FILE DIV: median and min-max of FILE's microseconds divided by DIV
stats() { sort -n "$1" | awk -v d="$2" '{a[NR]=$1} END {printf "%8.1f  %6.1f-%-7.1f", a[int((NR+1)/2)]/d, a[1]/d, a[NR]/d}'; }
ratio() { echo "$1 $2" | awk '{printf "%5.2fx", $1/$2}'; }
maxmib() { sort -n "$1" | tail -n 1 | awk '{printf "%.1f", $1/1024}'; }
rsum() { awk '{s+=$1} END {print s+0}' "$1"; }
mean() { awk '{s+=$1} END {printf "%.0f", s/NR}' "$1"; }
rrange() { sort -n "$1" | awk '{a[NR]=$1} END {if (a[1]==a[NR]) print a[1]; else print a[1] "-" a[NR]}'; }
pergib() { echo "$1 $gib" | awk '{printf "%.0f", $1/$2}'; }
mibps() { echo "$datasize $(med "$1")" | awk '{printf "%.1f", $1 / 1048576 / ($2 / 1000000)}'; }
# the answers' statuses in req.NAME: "206 x1204, 200 x3"
statuses() { awk '{print $1}' "$work/req.$1" | sort | uniq -c | sort -rn | awk '{printf "%s%s x%s", (NR>1 ? ", " : ""), $2, $1}'; }

printf '\n%-46s %8s  %-14s %-9s %11s %22s\n' "one 16 MiB WAL segment (lz4, AES-256-GCM)" median "min-max (ms)" "vs local" "S3 requests" "server CPU (ms, mean)"
ml=$(med "$work/t.wal.local")
for t in local http https; do
  case $t in
    local) label="wal-push, local repository (ext4, fsync)"; req="-"; cpu="-" ;;
    http) label="wal-push, S3 over http"; req=$(rrange "$work/r.wal.$t"); cpu=$(mean "$work/cpu.wal.$t") ;;
    https) label="wal-push, S3 over https (ca_file)"; req=$(rrange "$work/r.wal.$t"); cpu=$(mean "$work/cpu.wal.$t") ;;
  esac
  printf '%-46s %s %-9s %11s %22s\n' "$label" "$(stats "$work/t.wal.$t" 1000)" "$(ratio "$(med "$work/t.wal.$t")" "$ml")" "$req" "$cpu"
done
nw=$(wc -l <"$work/r.wal.http")
echo "  requests of one push (status object): $(sed 's|^\([0-9]*\) [a-z]*/wal/|\1 |; s|wal/[0-9A-F]\{16\}/|wal/.../|; s|keys/[0-9a-f]*|keys/KEY|' \
  "$work/req.wal.http" | paste -sd, - | sed 's/,/, /g')"
echo "  (206: a ranged GET; 404: the segment's name checked first, HEAD; 200: its PUT)"
printf '  %s requests over %s pushes (http), %s over %s (https): %s per GiB of WAL (64 segments)\n' \
  "$(rsum "$work/r.wal.http")" "$nw" "$(rsum "$work/r.wal.https")" "$(wc -l <"$work/r.wal.https")" \
  "$(echo "$(rsum "$work/r.wal.http") $nw" | awk '{printf "%.0f", 64*$1/$2}')"
printf '  objects stored per segment: %s (%s MiB of 16 after lz4), 64 per GiB of WAL\n' "$(wc -l <"$work/wal.objects")" \
  "$(awk '{s+=$2} END {printf "%.1f", s/1048576}' "$work/wal.objects")"

printf '\n%-46s %8s  %-14s %-9s %6s %13s\n' "full backup, scale $scale ($(mib "$datasize") MiB)" median "min-max (s)" "vs local" "MiB/s" "stored (MiB)"
ml=$(med "$work/t.bp.local")
for t in local http; do
  case $t in
    local) label="base-push --fast, local repository" ;;
    http) label="base-push --fast, S3 over http" ;;
  esac
  printf '%-46s %s %-9s %6s %13s\n' "$label" "$(stats "$work/t.bp.$t" 1000000)" "$(ratio "$(med "$work/t.bp.$t")" "$ml")" \
    "$(mibps "$work/t.bp.$t")" "$(mib "$(med "$work/size.$t")")"
done
printf '\n%-46s %8s  %-14s %-9s %6s\n' "restore into an empty directory" median "min-max (s)" "vs local" "MiB/s"
ml=$(med "$work/t.pp.local")
for t in local local1 http http1; do
  case $t in
    local) label="pitr-prepare, local repository (syncfs)" ;;
    local1) label="  the same, one reader (--delta)" ;;
    http) label="pitr-prepare, S3 over http (syncfs)" ;;
    http1) label="  the same, one connection (--delta)" ;;
  esac
  printf '%-46s %s %-9s %6s\n' "$label" "$(stats "$work/t.pp.$t" 1000000)" "$(ratio "$(med "$work/t.pp.$t")" "$ml")" \
    "$(mibps "$work/t.pp.$t")"
done
echo "  (pitr-prepare reads ahead on [repo] transfers = 2 connections besides its own; fetched:" \
  "$(sed -n 's/.*"bytes_fetched":\([0-9]*\).*/\1/p' "$work/pp.http.json" | awk '{printf "%.1f", $1/1048576}') MiB," \
  "with --delta $(sed -n 's/.*"bytes_fetched":\([0-9]*\).*/\1/p' "$work/pp.http1.json" | awk '{printf "%.1f", $1/1048576}') MiB)"

nobj=$(wc -l <"$work/bp.objects")
printf '\n%-46s %14s %14s %15s   %s\n' "S3, scale $scale (http)" "per operation" "per GiB of db" "server CPU (s)" "statuses (the last run)"
printf '%-46s %14s %14s %15s   %s\n' "base-push requests (with its archiving)" "$(rrange "$work/r.bp.http")" \
  "$(pergib "$(med "$work/r.bp.http")")" "$(med "$work/cpu.bp.http" | awk '{printf "%.1f", $1/1000}')" "$(statuses bp.http)"
printf '%-46s %14s %14s %15s   %s\n' "pitr-prepare requests" "$(rrange "$work/r.pp.http")" \
  "$(pergib "$(med "$work/r.pp.http")")" "$(med "$work/cpu.pp.http" | awk '{printf "%.1f", $1/1000}')" "$(statuses pp.http)"
printf '%-46s %14s %14s %15s   %s MiB\n' "objects in the backup's repository" "$nobj" "$(pergib "$nobj")" "-" \
  "$(awk '{s+=$2} END {printf "%.1f", s/1048576}' "$work/bp.objects")"
echo "  (by folder: $(sed 's|/.*||' "$work/bp.objects" | sort | uniq -c | awk '{printf "%s%s %s", (NR>1 ? ", " : ""), $1, $2}');" \
  "wal/: what the archiver pushed during the backup, and its .backup file;" \
  "the largest object $(sort -k2,2n "$work/bp.objects" | tail -n 1 | awk '{printf "%.1f", $2/1048576}') MiB, multipart above [repo] multipart_threshold, default 64 MiB)"

printf '\n%-46s %10s %10s %10s\n' "peak RSS (MiB, max over runs)" "local" "S3 http" "S3 https"
printf '%-46s %10s %10s %10s\n' "wal-push" "$(maxmib "$work/rss.wal.local")" "$(maxmib "$work/rss.wal.http")" "$(maxmib "$work/rss.wal.https")"
printf '%-46s %10s %10s %10s\n' "base-push" "$(maxmib "$work/rss.bp.local")" "$(maxmib "$work/rss.bp.http")" "-"
printf '%-46s %10s %10s %10s\n' "pitr-prepare" "$(maxmib "$work/rss.pp.local")" "$(maxmib "$work/rss.pp.http")" "-"
printf '%-46s %10s %10s %10s\n' "pitr-prepare --delta (no read-ahead)" "$(maxmib "$work/rss.pp.local1")" "$(maxmib "$work/rss.pp.http1")" "-"
echo "total run time: $(($(date +%s) - tstart)) s; load average (1 min): $load0 at the start, $(cut -d' ' -f1 /proc/loadavg) at the end"
