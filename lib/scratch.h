/*
 * scratch.h — a scratch instance: a backup restored into a private
 * temporary directory and started there, on a Unix socket only, with
 * archiving off, recovered to a point in time and promoted, so that work
 * (pg_dump, pg_amcheck, psql ...) can be run against it; then shut down and
 * removed.
 *
 * Safety: the instance never writes to the repository (archive_mode off,
 * archive_command / archive_library / archive_cleanup_command /
 * recovery_end_command emptied on the command line, which overrides
 * postgresql.conf and postgresql.auto.conf), never listens on TCP
 * (listen_addresses ''), loads no library (shared_preload_libraries and the
 * like emptied), follows no primary (primary_conninfo ''), waits for no
 * synchronous standby, and its tablespaces are restored inside the scratch
 * directory, never where the live cluster has them. Its configuration
 * (postgresql.conf, pg_hba.conf with "local all all trust", pg_ident.conf)
 * is its own, in the scratch directory, whose socket directory is mode 0700.
 *
 * The server process gets SIGQUIT if the process that started it dies
 * (PR_SET_PDEATHSIG), and runs in its own process group (a terminal's ^C
 * reaches only the program, which then stops it). A scratch directory is
 * <parent>/pgark-scratch-<uid>/<pid>-<random>: the per-user subdirectory is
 * mode 0700, a real directory owned by us (else refused, as is a parent
 * writable by others and not sticky); the run holds flock(LOCK_EX) on
 * <dir>/lock; scratch_start removes the directories of the per-user
 * subdirectory whose lock is free (a run killed with -9), never following a
 * symlink.
 */
#ifndef PGARK_SCRATCH_H
#define PGARK_SCRATCH_H

#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <sys/types.h>

#include <libpq-fe.h>

#include "err.h"
#include "repo.h"
#include "restore.h"

typedef struct scratch_opts
{
	const char *parent_dir;		/* where the scratch directory is made; NULL or "" =
								 * [restore] scratch_dir, else <[archive] spool>/scratch,
								 * else $TMPDIR, else /tmp */
	restore_opts ro;			/* backup_id and the target fields as pitr-prepare's, and
								 * restore_command (required: the program's wal-fetch, see
								 * prog_restore_command in common/prog.h); pgdata, tsmap,
								 * target_action (promote), standby, delta and force are set
								 * by scratch_start */
	const char *bindir;			/* NULL = the server binaries of the backup's major version:
								 * /usr/lib/postgresql/<major>/bin, /usr/pgsql-<major>/bin,
								 * else `pg_config --bindir` (PATH) if of that version */
	int			wait_timeout;	/* seconds to wait for recovery to reach its target; 0 = no limit */
	volatile sig_atomic_t *cancel;	/* set (non-zero) by a SIGINT/SIGTERM handler: the restore
									 * (between files) and every wait return a PGARK_ERR_INTERNAL
									 * error "interrupted" and clean up; NULL = never */
	uint64_t	reserve;		/* bytes needed beyond the backup's size (replayed WAL,
								 * work); UINT64_MAX = [restore] scratch_reserve */
	const char *user;			/* the role to connect as; NULL or "" = [restore] scratch_user,
								 * if that is "" too: the OS user's, else
								 * "postgres", and if that is not a superuser the backup's
								 * bootstrap superuser (oid 10); if neither role exists,
								 * that one too, its name asked of a single-user backend
								 * (the server stopped after promotion and started again) */
	progress_fn progress;		/* the restore's progress; may be NULL */
	void	   *progress_arg;
} scratch_opts;

/* The defaults: everything 0/NULL, reserve = UINT64_MAX. */
void		scratch_opts_init(scratch_opts *o);

typedef struct scratch
{
	char		dir[PATH_MAX];	/* the whole scratch directory */
	char		pgdata[PATH_MAX];	/* <dir>/data */
	char		sockdir[PATH_MAX];	/* <dir>/sock, mode 0700 */
	char		logfile[PATH_MAX];	/* <dir>/server.log */
	int			port;			/* names the socket only (no TCP) */
	char		user[64];		/* the role connected as: a superuser (see scratch_opts.user) */
	char		conninfo[PATH_MAX + 1024];	/* "host='<sockdir>' hostaddr='' port=<p> dbname=postgres
										 * user='<u>' options='<options>' sslmode=disable ..."
										 * (as scratch_connect) */
	char		bindir[PATH_MAX];
	int			pg_version;		/* major */
	restore_result res;			/* of the restore */
	uint64_t	bytes_needed;	/* what the disk check asked for */
	uint64_t	start_lsn;		/* the backup's start (redo) LSN */
	uint64_t	end_lsn;		/* where replay ended ("redo done at"; else the insert LSN
								 * after promotion) */
	double		restore_seconds;	/* laying the files */
	double		replay_seconds; /* starting the server until it accepted connections read-write */
	pid_t		postmaster;		/* 0 once stopped */
	volatile sig_atomic_t *cancel;
	int			lock_fd;		/* flock(LOCK_EX) on <dir>/lock while the run lives; -1 none */
	char		sweep_warning[1100];	/* what the sweep of stale directories left alone
										 * (could not remove, not ours), for the caller to
										 * log; "" = nothing */
	int			user_given;		/* scratch_opts.user was set: no other role is tried */
	char		options[512];	/* the client options every connection to the instance must
								 * pass (libpq options= / PGOPTIONS; scratch_run does): they
								 * undo the backup's ALTER DATABASE/ROLE ... SET settings
								 * that would break the work (default_transaction_read_only,
								 * statement_timeout, lock_timeout, idle timeouts,
								 * session/local_preload_libraries, default/temp tablespaces) */
} scratch;

/*
 * Check the disk space (the backup's size plus reserve, against the free
 * space of the parent directory), restore into a fresh private directory,
 * start the server, wait until recovery has reached its target (or the end
 * of the archive) and the server accepts connections read-write
 * (recovery_target_action promote). On any failure, cancellation included,
 * it has already cleaned up (no directory, no process); a server that
 * stopped on its own has the tail of its log in the message.
 */
int			scratch_start(repo *r, const scratch_opts *o, scratch **out, pgark_err *err);

/*
 * A connection to database dbname (NULL: postgres) of the instance, as
 * s->user with s->options, every routing parameter given (host the socket
 * directory, hostaddr '', sslmode/gssencmode/channel_binding disable,
 * requirepeer '', target_session_attrs any) so that no PG* variable of the
 * environment can redirect or break it; connect_timeout <= 0: 30 s. Check
 * PQstatus; PQfinish it. s->conninfo holds the same for database postgres.
 */
PGconn	   *scratch_connect(const scratch *s, const char *dbname, int connect_timeout);

/*
 * Shut the server down (fast; immediate after 30 s; SIGKILL to its process
 * group after 10 s more), remove the directory and free s. s == NULL is a
 * no-op. Returns -1 if something could not be removed (the message names it);
 * s is freed all the same.
 */
int			scratch_stop(scratch *s, pgark_err *err);

/*
 * Run a client program (argv[0] a name looked up in s->bindir, or a path)
 * against the instance: PGHOST, PGPORT, PGUSER, PGDATABASE and PGOPTIONS
 * (s->options) set for it,
 * plus envp_extra ("NAME=value", NULL-terminated, may be NULL); its stdout
 * goes to out_fd (-1: /dev/null), its stderr is ours. Returns its exit status
 * (0-255; 128+N if killed by signal N other than SIGINT/SIGTERM), or -1 with
 * err if it could not be run, or was interrupted (as scratch_exec).
 */
int			scratch_run(scratch *s, char *const argv[], const char *const envp_extra[], int out_fd,
						pgark_err *err);

/*
 * The runner under scratch_run, for a program aimed elsewhere (a restore
 * into the live database): run path with argv, every PG* variable of ours
 * removed from its environment (PGARK_* kept) and env ("NAME=value",
 * NULL-terminated) added; stdin /dev/null, stdout out_fd (-1: /dev/null),
 * stderr ours. Returns its exit status (128+N if killed by signal N), or -1
 * with err: if cancel is set at any point (the program is sent SIGTERM,
 * SIGKILL after 5 s) or the program was killed by SIGINT or SIGTERM, err is
 * PGARK_ERR_INTERNAL with sys_errno EINTR, "interrupted while <prog> ran".
 */
int			scratch_exec(const char *path, char *const argv[], const char *const env[], int out_fd,
						 volatile sig_atomic_t *cancel, pgark_err *err);

/*
 * For tests. scratch_single_answer: the bootstrap superuser's name from a
 * single-user backend's output to scratch.c's query (its length given, so
 * any byte of it is read whole); 0, or -1 if there is none or it does not
 * fit in len. scratch_log_tail: the last lines of a scratch server's log on
 * one line ("|" between), without the lines that never say why it stopped
 * and without their "<time> [<pid>] " prefix; "" if it cannot be read.
 */
int			scratch_single_answer(const char *out, char *name, size_t len);
void		scratch_log_tail(const char *logfile, char *out, size_t outlen);

/*
 * Remove the scratch directories in <parent>/pgark-scratch-<uid> whose lock
 * is free (stopping a server left running in one: only if <dir>/data is a
 * real directory of ours and the postmaster.pid's process is ours and works
 * in it). Returns the number removed (a directory that cannot be removed, or
 * is not ours, is skipped and err holds the first such problem), -1 if the
 * per-user subdirectory is unsafe (see above). scratch_start does it;
 * exposed for tools and tests.
 */
int			scratch_sweep(const char *parent, pgark_err *err);

/* The major version of <bindir>/postgres (its --version), or -1 when it
 * cannot be run or says no version. */
int			scratch_bindir_major(const char *bindir);

#endif
