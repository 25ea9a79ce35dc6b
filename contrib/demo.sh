#!/bin/sh
# contrib/demo.sh — what `make demo` runs: a throwaway PostgreSQL 15 cluster
# archiving its WAL through wal-push into an encrypted local repository, base
# backups with base-push, a mistake, then a point-in-time restore with
# pitr-prepare to just before it, and proof that the data is exactly what
# was committed at the target.
# Everything happens in a temporary directory, removed at the end.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
pgbin=${PG_BINDIR:-/usr/lib/postgresql/15/bin}

if [ "$(id -u)" = 0 ]; then
  # initdb refuses to run as root: run the demo as an unprivileged user
  user=${PGARK_TEST_USER:-pgark-test}
  id "$user" >/dev/null 2>&1 ||
    useradd --system --user-group --no-create-home --home-dir /nonexistent --shell /bin/sh "$user"
  exec runuser -u "$user" -- sh "$0" "$@"
fi

step() { printf '\n== %s\n' "$*"; }
B=$top/bin
export PATH="$pgbin:$PATH"
work=$(mktemp -d "${TMPDIR:-/tmp}/pgark-demo.XXXXXX")
port=$((20000 + $$ % 20000))
cleanup() {
  rc=$?
  if [ $rc -ne 0 ]; then
    for f in "$work"/*.log; do
      [ -f "$f" ] && { echo "--- $f (last lines)" >&2; tail -n 15 "$f" >&2; }
    done
  fi
  pg_ctl -D "$work/primary" -m immediate stop >/dev/null 2>&1 || true
  pg_ctl -D "$work/restored" -m immediate stop >/dev/null 2>&1 || true
  if [ -n "${PGARK_DEMO_KEEP:-}" ]; then echo "kept $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT INT TERM
psql_p() { psql -X -q -A -t -h "$work" -p "$port" -d postgres "$@"; }

step "1. A throwaway cluster in $work/primary"
initdb -D "$work/primary" -A trust >/dev/null
cat >>"$work/primary/postgresql.conf" <<CONF
port = $port
listen_addresses = ''
unix_socket_directories = '$work'
archive_mode = on
archive_command = '$B/wal-push --config $work/pgark.conf %p'
wal_keep_size = 1GB
CONF

step "2. A master key (key-gen) and an encrypted repository (repo-init)"
"$B/key-gen" "$work/master.key"
cat >"$work/pgark.conf" <<CONF
[repo]
type = local
path = $work/repo
[crypto]
key_file = $work/master.key
[postgres]
pgdata = $work/primary
conninfo = host=$work port=$port dbname=postgres
[log]
audit = $work/audit.jsonl
CONF
"$B/repo-init" --config "$work/pgark.conf" --pgdata "$work/primary"
echo "   repository: $(cat "$work/repo/pgark.repo" | grep -v '^#' | tr '\n' ' ')"

step "3. Start it; archive_command = 'wal-push %p'"
pg_ctl -D "$work/primary" -l "$work/primary.log" -w start >/dev/null
echo "   started on socket $work, port $port"

step "4. pgbench data, then a base backup (base-push)"
pgbench -h "$work" -p "$port" -i -s 5 -q postgres >/dev/null 2>&1
"$B/base-push" --config "$work/pgark.conf" --fast

step "5. Transactions we want back, a recorded point in time, then a mistake"
pgbench -h "$work" -p "$port" -T 5 -c 2 postgres >/dev/null 2>&1
psql_p -c "CREATE TABLE proof AS SELECT g AS id, md5(g::text) AS v FROM generate_series(1, 50000) g"
sleep 1
target=$(psql_p -c "SELECT now()")
expected=$(psql_p -c "SELECT md5(string_agg(aid || ':' || abalance, ',' ORDER BY aid)) FROM pgbench_accounts")
expected_proof=$(psql_p -c "SELECT md5(string_agg(id || v, ',' ORDER BY id)) FROM proof")
sleep 1
echo "   target time: $target"
echo "   pgbench_accounts checksum at the target: $expected"
psql_p -c "DROP TABLE proof; UPDATE pgbench_accounts SET abalance = 0"
echo "   then: DROP TABLE proof; UPDATE pgbench_accounts SET abalance = 0   (the mistake)"
pgbench -h "$work" -p "$port" -T 3 -c 2 postgres >/dev/null 2>&1
"$B/base-push" --config "$work/pgark.conf" --fast
last=$(psql_p -c "SELECT pg_walfile_name(pg_current_wal_lsn())")
psql_p -c "SELECT pg_switch_wal()" >/dev/null
i=0
until [ "$(psql_p -c "SELECT last_archived_wal >= '$last' FROM pg_stat_archiver")" = t ]; do
  i=$((i + 1)); [ $i -lt 600 ] || { echo "archiving did not catch up" >&2; exit 1; }
  sleep 0.1
done
echo "   archiver: $(psql_p -c "SELECT archived_count || ' archived, ' || failed_count || ' failed' FROM pg_stat_archiver")"

step "6. What the repository holds: compressed, encrypted, deduplicated"
nseg=$(find "$work/repo/wal" -type f -name '????????????????????????' | wc -l)
stored=$(find "$work/repo/wal" -type f -printf '%s\n' | awk '{s+=$1} END {print s}')
echo "   WAL: $nseg segments, $((nseg * 16)) MiB stored in $((stored / 1048576)) MiB"
echo "   base backups: $(ls "$work/repo/base" | tr '\n' ' ')in $(du -sm "$work/repo/packs" | cut -f1) MiB of packs"
if grep -rqa "pgbench_accounts" "$work/repo"; then
  echo "   FAIL: plaintext found in the repository" >&2; exit 1
fi
echo "   no plaintext: 'pgbench_accounts' appears in no object"
n=0
for obj in $(find "$work/repo/wal" -type f -name '????????????????????????' | sort); do
  seg=$(basename "$obj")
  [ -f "$work/primary/pg_wal/$seg" ] || continue
  "$B/wal-fetch" --config "$work/pgark.conf" "$seg" "$work/fetched"
  cmp -s "$work/fetched" "$work/primary/pg_wal/$seg" || { echo "   FAIL: $seg differs" >&2; exit 1; }
  n=$((n + 1))
done
echo "   $n archived segments fetched back (wal-fetch): verified and byte-identical to pg_wal"

step "7. Point-in-time restore to the target (pitr-prepare), then start the copy"
pg_ctl -D "$work/primary" -m fast -w stop >/dev/null
"$B/pitr-prepare" --config "$work/pgark.conf" --pgdata "$work/restored" \
  --target-time "$target" --target-action promote
pg_ctl -D "$work/restored" -l "$work/restored.log" -w -t 300 start >/dev/null
i=0
until [ "$(psql_p -c "SELECT NOT pg_is_in_recovery()" 2>/dev/null)" = t ]; do
  i=$((i + 1)); [ $i -lt 3000 ] || { echo "recovery did not finish" >&2; exit 1; }
  sleep 0.1
done
got=$(psql_p -c "SELECT md5(string_agg(aid || ':' || abalance, ',' ORDER BY aid)) FROM pgbench_accounts")
got_proof=$(psql_p -c "SELECT md5(string_agg(id || v, ',' ORDER BY id)) FROM proof")
echo "   replayed $(grep -c 'restored log file' "$work/restored.log") WAL files from the repository, stopped at the target"
echo "   pgbench_accounts checksum restored: $got"
echo "   table proof is back: $(psql_p -c "SELECT count(*) FROM proof") rows"
[ "$got" = "$expected" ] && [ "$got_proof" = "$expected_proof" ] || { echo "   FAIL: data differs" >&2; exit 1; }

step "8. The audit log (one JSON line per operation), last two lines"
tail -n 2 "$work/audit.jsonl" | sed 's/^/   /'

printf '\nDemo passed: the cluster was restored to %s, exactly as it was then.\n' "$target"
