/*
 * wal-push — archive_command: store one WAL file durably in the repository.
 *
 *   archive_command = 'wal-push --config /etc/pgark/pgark.conf %p'
 *
 * Exit 0 only once the file is durably stored (or was already archived with
 * identical content); 1 for every failure, so PostgreSQL keeps the file and
 * retries. Never above 125.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "prog.h"
#include "pushahead.h"
#include "repo.h"
#include "spool.h"
#include "util.h"
#include "wal.h"
#include "walarchive.h"

#define OPT_PUSH_HELPER 2000

/* how long a call waits for the look-ahead helper to store its segment
 * before it stores it itself (both then store the same bytes: safe) */
#define HELPER_WAIT_MS (120 * 1000.0)

static int	push_helper_mode;

static int
push_opt(prog *p, int opt, const char *arg)
{
	(void) arg;
	if (opt == OPT_PUSH_HELPER)
	{
		push_helper_mode = 1;
		return -1;
	}
	return prog_usage_error(p, "unknown option");
}

/* A look-ahead push's outcome: audited ("push-ahead"), and a warning unless
 * it was stored and recorded. */
static void
ahead_report(void *arg, const push_ahead_item *it)
{
	prog	   *p = arg;
	push_ahead_report d;

	if (!push_ahead_describe(it, &d))
		return;
	prog_audit(p, "push-ahead", d.object, d.result, d.detail, d.bytes, d.stored);
	if (d.warn)
		log_warning("look-ahead for %s: %s (PostgreSQL's own call for it will push it)", it->name, it->err.msg);
}

typedef struct helper_start
{
	prog	   *p;
	const char *spool;
	const char *path;
} helper_start;

/* More segments wait than this call takes: a helper stores those after the
 * last it took, unless one already runs. */
static void
ahead_started(void *arg, const push_ahead_result *ahead)
{
	helper_start *hs = arg;

	if (hs->p->cfg.push_helper && ahead->more && ahead->nitems > 0 && !push_helper_running(hs->spool))
		prog_spawn_helper(hs->p, "--push-helper", ahead->items[ahead->nitems - 1].name, hs->path);
}

/* wal-push --push-helper AFTER WALPATH: the detached look-ahead helper, for
 * the segments .ready after AFTER beside WALPATH. Always exit 0: what it
 * does is in the audit log. */
static int
helper_main(prog *p)
{
	pgark_err	err;
	char		spool[PATH_MAX], path[PATH_MAX];
	walname		floor;
	repo	   *r;
	int			lock = -1;
	char		cwd[PATH_MAX];

	err_clear(&err);
	if (p->argc != 2 || walname_parse(p->argv[0], &floor, &err) != 0 ||
		(p->argv[1][0] != '/' && getcwd(cwd, sizeof(cwd)) == NULL) ||
		path_resolve(p->argv[1][0] == '/' ? NULL : cwd, p->argv[1], path, sizeof(path)) != 0)
		return prog_usage_error(p, "--push-helper: expected the last segment taken and a WAL file path");
	if (prog_load_config(p, &err) >= 0)
		return 0;
	if (p->cfg.push_ahead <= 0 || !p->cfg.push_helper || spool_dir(&p->cfg, "push", spool, sizeof(spool), &err) != 0)
		return 0;
	/* one helper at a time, decided before anything costly is opened */
	if (push_helper_lock(spool, &lock, &err) != 0)
		return 0;
	if ((r = repo_open(&p->cfg, &err)) == NULL)
		prog_audit(p, "push-ahead", floor.name, err_kind_name(err.kind), err.msg, 0, 0);
	/* every path it uses from here on is absolute (PATH made so above; a
	 * key_command ran from where the call's would): not to keep the data
	 * directory, PostgreSQL's working directory, as its own */
	else if (chdir("/") != 0)
		prog_audit(p, "push-ahead", floor.name, err_kind_name(PGARK_ERR_IO), "could not change to the directory \"/\"", 0, 0);
	else if (push_helper_run(r, spool, path, floor.name, p->cfg.push_ahead, push_ahead_threads(&p->cfg),
							 ahead_report, p, &err) < 0)
		prog_audit(p, "push-ahead", floor.name, err_kind_name(err.kind), err.msg, 0, 0);
	repo_close(r);
	spool_lock_release(&lock);
	return 0;
}

int
main(int argc, char **argv)
{
	prog		p = {
		.name = "wal-push",
		.kind = PROG_WAL_PUSH,
		.usage = "WALPATH",
		.help = "Store one WAL file (segment, .partial, .backup or .history) in the repository,\n"
		"compressed, encrypted and durable. For archive_command = 'wal-push %p'.\n"
		"A relative WALPATH is taken from the working directory, which PostgreSQL\n"
		"sets to its data directory.\n"
		"Exit status: 0 stored (or already archived, identical); 1 any failure.",
	};
	pgark_err	err;
	walname		wn;
	char		path[PATH_MAX];
	const char *arg;
	repo	   *r = NULL;
	wal_push_result res;
	push_ahead_result *ahead = NULL;
	char		spool[PATH_MAX];
	push_records recs = {.dir = spool};
	helper_start hs = {&p, spool, path};
	static const struct option opts[] = {
		{"push-helper", no_argument, NULL, OPT_PUSH_HELPER},
		{NULL, 0, NULL, 0}
	};
	int			look_ahead = 0;
	int			rc;

	err_clear(&err);
	if ((rc = prog_start(&p, argc, argv, opts, "", push_opt)) >= 0)
		return rc;
	if (push_helper_mode)
		return helper_main(&p);
	if (p.argc != 1)
		return prog_usage_error(&p, "expected one WAL file path (%%p)");
	arg = p.argv[0];
	/* the name is checked before any I/O */
	if (walname_parse(path_basename(arg), &wn, &err) != 0)
		return prog_fail(&p, &err);
	if ((rc = prog_load_config(&p, &err)) >= 0)
		return rc;
	/* PostgreSQL runs archive_command in the data directory: a relative %p
	 * is relative to the working directory, whatever [postgres] pgdata says */
	if (path_resolve(NULL, arg, path, sizeof(path)) != 0)
		return prog_usage_error(&p, "path too long: %s", arg);

	/* Look-ahead is for segments only, and only with a usable spool; any
	 * trouble with it leaves the plain synchronous push. */
	if (wn.kind == WAL_SEGMENT && p.cfg.push_ahead > 0)
	{
		int			s = spool_dir(&p.cfg, "push", spool, sizeof(spool), &err);

		if (s < 0)
		{
			log_warning("look-ahead is off for this call: %s", err.msg);
			err_clear(&err);
		}
		look_ahead = s == 0;
	}

	if ((r = repo_open(&p.cfg, &err)) == NULL)
	{
		prog_audit(&p, "push", wn.name, err_kind_name(err.kind), err.msg, 0, 0);
		return prog_fail(&p, &err);
	}
	if (look_ahead)
	{
		/* stored by an earlier call's look-ahead? Confirmed against the
		 * store, never on the record's word alone */
		int			c = push_record_confirm(r, &recs, path, &wn, &res, &err);

		/* a helper is storing it: its record is on the way */
		if (c == 0 && push_helper_running(spool))
			c = push_wait_helper(r, spool, path, &wn, HELPER_WAIT_MS, &res, &err);
		if (c == 1)
		{
			prog_audit(&p, "push", res.object, "ok", "stored ahead by an earlier wal-push", res.bytes, res.stored);
			log_debug("%s was stored ahead (%.1f ms)", wn.name, now_ms() - p.t0);
			repo_close(r);
			return prog_success(&p);
		}
		if (c < 0)
		{
			log_warning("could not confirm the look-ahead record of %s, pushing it again: %s", wn.name, err.msg);
			err_clear(&err);
		}
		if ((ahead = malloc(sizeof(*ahead))) == NULL)
			look_ahead = 0;
	}
	if (look_ahead)
	{
		rc = wal_push_ahead(r, &recs, path, &wn, p.cfg.push_ahead, push_ahead_threads(&p.cfg), NULL,
							ahead_started, &hs, &res, ahead, &err);
		for (int i = 0; i < ahead->nitems; i++)
			ahead_report(&p, &ahead->items[i]);
		free(ahead);
	}
	else
		rc = wal_push_one(r, path, &wn, &res, &err);
	if (rc != 0)
	{
		prog_audit(&p, "push", res.object[0] ? res.object : wn.name, err_kind_name(err.kind), err.msg, res.bytes, 0);
		if (err.kind == PGARK_ERR_CONFLICT || err.kind == PGARK_ERR_MISMATCH)
		{
			log_error("%s", err.msg);
			log_error("%s stays in pg_wal and PostgreSQL will retry; it was not stored. "
					  "Find out which cluster wrote %s before anything else.", wn.name, res.object);
			prog_alert(&p, 1, err.msg);
			repo_close(r);
			return prog_exit_code(&p, &err);
		}
		repo_close(r);
		return prog_fail(&p, &err);
	}
	prog_audit(&p, "push", res.object, res.outcome == WAL_PUSH_STORED ? "ok" : "exists",
			   res.outcome == WAL_PUSH_STORED ? NULL : "already archived with identical content",
			   res.bytes, res.stored);
	if (res.outcome == WAL_PUSH_STORED)
		log_debug("stored %s as %s (%llu bytes, %llu stored, %.1f ms)", wn.name, res.object,
				  (unsigned long long) res.bytes, (unsigned long long) res.stored, now_ms() - p.t0);
	else
		log_info("%s was already archived with identical content", wn.name);
	repo_close(r);
	return prog_success(&p);
}
