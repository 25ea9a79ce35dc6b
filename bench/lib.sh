# bench/lib.sh — what the bench scripts share. Each script sets `top` (the
# project's top directory) and sources this file:  . "$top/bench/lib.sh"
# (sh has no local variables: the functions' own are named _bench_*)

# As root, re-run the calling script as the unprivileged user pgark-test
# (PGARK_TEST_USER; created if missing), since initdb refuses root. The
# settings that steer a run go along.
bench_as_user() {
  [ "$(id -u)" = 0 ] || return 0
  _bench_user=${PGARK_TEST_USER:-pgark-test}
  id "$_bench_user" >/dev/null 2>&1 ||
    useradd --system --user-group --no-create-home --home-dir /nonexistent --shell /bin/sh "$_bench_user"
  exec runuser -u "$_bench_user" -- env ${TMPDIR:+TMPDIR="$TMPDIR"} ${PG_BINDIR:+PG_BINDIR="$PG_BINDIR"} \
    ${PGARK_BENCH_KEEP:+PGARK_BENCH_KEEP="$PGARK_BENCH_KEEP"} ${PGARK_PUSH_AHEAD:+PGARK_PUSH_AHEAD="$PGARK_PUSH_AHEAD"} \
    ${S3_SERVER_CACHE:+S3_SERVER_CACHE="$S3_SERVER_CACHE"} sh "$0" "$@"
}

# bench_need_pgark PROGRAM...: each must be built in bin/
bench_need_pgark() {
  for _bench_p in "$@"; do
    [ -x "$top/bin/$_bench_p" ] || { echo "run make first ($top/bin/$_bench_p is missing)" >&2; exit 1; }
  done
}

say() { echo "== $*" >&2; }
now() { date +%s%N; }

# bench_cluster DIR PORT SOCKETDIR: initdb DIR (trust), listening only on
# SOCKETDIR's Unix socket at PORT; the caller appends what else it needs.
bench_cluster() {
  initdb -D "$1" -A trust >/dev/null
  cat >>"$1/postgresql.conf" <<CONF
port = $2
listen_addresses = ''
unix_socket_directories = '$3'
CONF
}

# bench_pgark_conf FILE WORK: a master key WORK/master.key (made if missing)
# and FILE naming a local repository WORK/repo and the cluster WORK/pg; the
# caller appends further sections.
bench_pgark_conf() {
  [ -f "$2/master.key" ] || "$top/bin/key-gen" "$2/master.key" 2>/dev/null
  cat >"$1" <<CONF
[repo]
type = local
path = $2/repo
[crypto]
key_file = $2/master.key
[postgres]
pgdata = $2/pg
CONF
}

# bench_cleanup SUBDIR...: stop the clusters in $work/SUBDIR (immediate),
# then remove $work, or keep it when PGARK_BENCH_KEEP is set
bench_cleanup() {
  for _bench_d in "$@"; do
    [ -f "$work/$_bench_d/postmaster.pid" ] && pg_ctl -D "$work/$_bench_d" -m immediate stop >/dev/null 2>&1 || true
  done
  if [ -n "${PGARK_BENCH_KEEP:-}" ]; then
    echo "kept $work" >&2
  else
    # a child of a stopped server may still be writing: once more after a second
    rm -rf "$work" 2>/dev/null || { sleep 1; rm -rf "$work"; }
  fi
}

# bench_log_tails FILE...: the last lines of each FILE that exists, on stderr
# (for a run that failed)
bench_log_tails() {
  for _bench_f in "$@"; do
    [ -f "$_bench_f" ] && { echo "--- $_bench_f (last lines)" >&2; tail -n 15 "$_bench_f" >&2; }
  done
  return 0
}

# bench_pgbackrest_conf LINE...: $work/pgbackrest.conf (mode 0600) for the
# stanza "bench" on $work/pg (socket $work, port $port), repository
# $work/pgbr-repo with lz4 and aes-256-cbc under a random passphrase,
# process-max 2, and each LINE added to [global]; the directories it names
# are made.
bench_pgbackrest_conf() {
  mkdir -m 700 "$work/pgbr-repo" "$work/pgbr-log" "$work/pgbr-lock" "$work/pgbr-spool"
  {
    echo "[global]"
    echo "repo1-path=$work/pgbr-repo"
    echo "repo1-cipher-type=aes-256-cbc"
    echo "repo1-cipher-pass=bench-passphrase-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
    echo "compress-type=lz4"
    echo "process-max=2"
    for _bench_l in "$@"; do echo "$_bench_l"; done
    echo "log-path=$work/pgbr-log"
    echo "lock-path=$work/pgbr-lock"
    echo "spool-path=$work/pgbr-spool"
    echo "log-level-console=warn"
    echo "log-level-file=info"
    echo
    echo "[bench]"
    echo "pg1-path=$work/pg"
    echo "pg1-socket-path=$work"
    echo "pg1-port=$port"
  } >"$work/pgbackrest.conf"
  chmod 600 "$work/pgbackrest.conf"
}

# bench_wait_archived PGDATA: wait (at most 300 s) until the archiver has
# nothing .ready left, so that no archive_command still writes
bench_wait_archived() {
  _bench_n=0
  while ls "$1/pg_wal/archive_status/" | grep -q '\.ready$'; do
    _bench_n=$((_bench_n + 1)); [ $_bench_n -lt 600 ] || { echo "archiving did not finish in 300 s" >&2; exit 1; }; sleep 0.5
  done
}
