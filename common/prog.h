/*
 * prog.h — what every pgark program shares: option parsing (--config,
 * --help, --version, -v, -q), loading the configuration, and the one table
 * that maps library error kinds to exit codes.
 */
#ifndef PGARK_PROG_H
#define PGARK_PROG_H

#include <getopt.h>
#include <signal.h>

#include "config.h"
#include "err.h"
#include "log.h"
#include "restore.h"

/* wal-fetch: any failure other than "not in the repository" must exceed 125
 * so that PostgreSQL stops recovery instead of ending it (and promoting). */
#define EXIT_FETCH_FATAL 200

typedef enum prog_kind
{
	PROG_PLAIN,					/* 0 ok, 1 failed, 2 usage */
	PROG_WAL_PUSH,				/* 0 stored, 1 anything else (never above 125) */
	PROG_WAL_FETCH,				/* 0 delivered, 1 not found, EXIT_FETCH_FATAL otherwise */
	PROG_NAGIOS					/* repo-check: 0-2 its result; any error, usage too: 3 UNKNOWN */
} prog_kind;

typedef struct prog
{
	const char *name;
	prog_kind	kind;
	const char *usage;			/* "NAME DEST" */
	const char *help;			/* description and program options */
	const char *config_path;
	pgark_config cfg;
	int			verbosity;		/* -1 quiet, 0, 1 verbose */
	int			argc;			/* positional arguments */
	char	  **argv;
	int			standby;		/* wal-fetch: standby.signal present */
	double		t0;
	int			cfg_loaded;		/* cfg holds a validated configuration */
	const char *alert_signature;	/* what kind of failure (alert_report_sig); NULL: any */
} prog;

typedef int (*prog_opt_fn) (prog *p, int opt, const char *arg);

/*
 * Parse the command line. Common options are handled here; others (extra,
 * with their short letters in extra_short) go to fn. Returns -1 to go on,
 * else the exit code to return now (0 after --help/--version).
 */
int			prog_start(prog *p, int argc, char **argv, const struct option *extra,
					   const char *extra_short, prog_opt_fn fn);

/* Load and validate the configuration; on failure returns the exit code. */
int			prog_load_config(prog *p, pgark_err *err);

/* Exit code for an error, per program kind (the one table). */
int			prog_exit_code(const prog *p, const pgark_err *err);

/* Log err, alert ([alert], see prog_alert) unless it is a usage error or
 * wal-fetch's "not found" (the normal end of the archive), and return its
 * exit code. */
int			prog_fail(prog *p, const pgark_err *err);

/*
 * Report this run's outcome to [alert] (lib/alert.h), keyed by (p->name,
 * repository): failing = 1 with a one-line summary (no secrets: it goes into
 * the webhook's JSON and the e-mail), or failing = 0 for a success (summary
 * may be NULL). The first failure sends "failing", a still-failing run sends
 * a reminder once per [alert] repeat_after, the first success after a
 * failure sends "recovered". Without [alert] settings it does nothing; a
 * success without a failure on record costs one stat(). Delivery problems
 * are logged as warnings: the caller's exit code never depends on it.
 * Call it at most once per run; prog_fail already calls it (failing = 1)
 * and prog_success (failing = 0). repo-check: failing = status >= WARNING.
 * If the configuration was not loaded yet, a failure loads it quietly (an
 * unloadable configuration alerts nobody).
 */
void		prog_alert(prog *p, int failing, const char *summary);

/* A run that succeeded: prog_alert(p, 0, NULL); returns 0. */
int			prog_success(prog *p);

/* Usage error: print message and usage; returns the usage exit code. */
int			prog_usage_error(prog *p, const char *fmt,...) __attribute__((format(printf, 2, 3)));

/* Append an audit record if [log] audit is set; a failure is only a warning. */
/*
 * Start this program again as a helper, detached: "NAME [--config FILE] OPT
 * ARG1 [ARG2]", in a new session (signals to PostgreSQL's process groups do
 * not reach it), stdin, stdout and stderr on /dev/null (what it does goes to
 * the audit log; nobody waits for its output), no other descriptor
 * inherited, signals unblocked. Not waited for: the caller exits soon, and
 * the helper, adopted by init, is nobody's zombie. A fresh process: no store
 * connection, no key material of the caller's. A failure to start one is
 * only logged (debug).
 */
void		prog_spawn_helper(prog *p, const char *opt, const char *arg1, const char *arg2);
void		prog_audit(prog *p, const char *action, const char *object, const char *result,
					   const char *detail, uint64_t bytes, uint64_t stored);

/* Progress on stderr ("--progress=on|off"; default on when stderr is a
 * terminal): bytes done / total, rate and ETA, at most twice a second. */
typedef struct prog_progress
{
	int			enabled;
	double		t0, last;
	const char *what;
} prog_progress;

void		prog_progress_init(prog_progress *pp, const char *what, const char *setting);
void		prog_progress_cb(void *arg, uint64_t done, uint64_t total);
void		prog_progress_end(prog_progress *pp);

/* The recovery target options of pitr-prepare and table-restore (option
 * codes 1200-1204), for their struct option tables. */
#define PROG_TARGET_OPTIONS \
	{"target-time", required_argument, NULL, 1200}, \
	{"target-lsn", required_argument, NULL, 1201}, \
	{"target-xid", required_argument, NULL, 1202}, \
	{"target-name", required_argument, NULL, 1203}, \
	{"target", required_argument, NULL, 1204}

/* Handle option c if it is one of PROG_TARGET_OPTIONS: sets ro's target
 * (one only: *ntargets counts them). Returns -1 to go on, an exit code
 * (usage error), or -2 if c is not a target option. */
int			prog_target_option(prog *p, restore_opts *ro, int *ntargets, int c, const char *arg);

/* restore_command for a recovery through this installation's wal-fetch (the
 * directory of the running program) with this run's configuration file,
 * shell-quoted: "<dir>/wal-fetch --config <conf> %f %p". */
int			prog_restore_command(prog *p, char *out, size_t outlen, pgark_err *err);

/*
 * Catch SIGINT, SIGTERM and SIGHUP (no SA_RESTART): each sets the returned
 * flag, which the library's waits watch (scratch_opts.cancel), so that a run
 * interrupted cleans up and fails with "interrupted". A second signal of the
 * same kind is not caught again: it ends the program the default way.
 */
volatile sig_atomic_t *prog_catch_signals(void);

/* Human size: "1.5 GiB" */
void		human_bytes(uint64_t n, char *out, size_t outlen);

#endif
