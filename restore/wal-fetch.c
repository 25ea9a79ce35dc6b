/*
 * wal-fetch — restore_command: fetch, verify and deliver one WAL file.
 *
 *   restore_command = 'wal-fetch --config /etc/pgark/pgark.conf %f %p'
 *
 * Exit 0 delivered; 1 the file is not in the repository (the normal end of
 * the archive); EXIT_FETCH_FATAL (200) for anything else, so that PostgreSQL
 * stops recovery rather than ending it early and promoting. Under
 * standby.signal a transient storage fault exits 1: a standby retries.
 *
 * Prefetch ([archive] spool and fetch_ahead; lib/prefetch.h): a segment is
 * first looked for in the spool, before the repository is even opened; after
 * a segment was delivered, a detached helper (this program again, with the
 * hidden option --prefetch-helper) fetches the next ones into the spool.
 * Nothing about the helper changes this call's exit status.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "alert.h"
#include "crypto.h"
#include "prefetch.h"
#include "prog.h"
#include "repo.h"
#include "spool.h"
#include "util.h"
#include "wal.h"
#include "walarchive.h"

#define OPT_PREFETCH_HELPER 2000

/* how long one helper may run, at most: a standby that keeps asking starts
 * new ones */
#define HELPER_MAX_MS (10 * 60 * 1000.0)

static int	prefetch_helper_mode;

static int
fetch_opt(prog *p, int opt, const char *arg)
{
	(void) arg;
	if (opt == OPT_PREFETCH_HELPER)
	{
		prefetch_helper_mode = 1;
		return -1;
	}
	return prog_usage_error(p, "unknown option");
}

/* After wn was delivered: move the helper's window and make sure one runs. */
static void
start_prefetch(prog *p, const char *dir, const walname *wn)
{
	pgark_err	err;

	err_clear(&err);
	/* want first, then the lock: see prefetch_run */
	if (prefetch_set_want(dir, wn, &err) != 0)
	{
		log_warning("prefetch: %s", err.msg);
		return;
	}
	if (!prefetch_helper_running(dir))
		prog_spawn_helper(p, "--prefetch-helper", wn->name, NULL);
}

static void
helper_report(void *arg, const walname *wn, const wal_fetch_result *res, const pgark_err *err)
{
	prog	   *p = arg;
	char		object[128];

	walname_object(wn, object, sizeof(object));
	if (res)
		prog_audit(p, "prefetch", res->object, "ok", NULL, res->bytes, res->stored);
	else
		prog_audit(p, "prefetch", object, err_kind_name(err->kind), err->msg, 0, 0);
}

/* wal-fetch --prefetch-helper NAME: the detached helper. Always exit 0. */
static int
helper_main(prog *p)
{
	pgark_err	err;
	char		dir[PATH_MAX];
	repo	   *r;

	err_clear(&err);
	if (p->cfg.fetch_ahead <= 0 || spool_dir(&p->cfg, "fetch", dir, sizeof(dir), &err) != 0)
		return 0;
	if ((r = repo_open(&p->cfg, &err)) == NULL)
	{
		prog_audit(p, "prefetch", p->argv[0], err_kind_name(err.kind), err.msg, 0, 0);
		return 0;
	}
	/* every path it uses from here on is absolute (a key_command ran where
	 * the call's would): not to keep the data directory, PostgreSQL's working
	 * directory, as its own */
	if (chdir("/") != 0)
		prog_audit(p, "prefetch", p->argv[0], err_kind_name(PGARK_ERR_IO), "could not change to the directory \"/\"",
				   0, 0);
	else if (prefetch_run(r, dir, p->cfg.fetch_ahead, now_ms() + HELPER_MAX_MS, helper_report, p, &err) != 0)
		prog_audit(p, "prefetch", p->argv[0], err_kind_name(err.kind), err.msg, 0, 0);
	repo_close(r);
	return 0;
}

int
main(int argc, char **argv)
{
	prog		p = {
		.name = "wal-fetch",
		.kind = PROG_WAL_FETCH,
		.usage = "WALNAME DEST",
		.help = "Fetch one WAL file from the repository, verify it, and write it to DEST.\n"
		"For restore_command = 'wal-fetch %f %p'.\n"
		"Exit status: 0 delivered; 1 not in the repository; 200 any other failure\n"
		"(PostgreSQL then stops recovery instead of ending it early).",
	};
	static const struct option opts[] = {
		{"prefetch-helper", no_argument, NULL, OPT_PREFETCH_HELPER},
		{NULL, 0, NULL, 0}
	};
	pgark_err	err;
	walname		wn;
	char		dest[PATH_MAX];
	char		fdir[PATH_MAX];
	int			prefetch = 0;	/* fdir is the spool's fetch directory */
	repo	   *r = NULL;
	wal_fetch_result res;
	int			rc;

	err_clear(&err);
	if ((rc = prog_start(&p, argc, argv, opts, "", fetch_opt)) >= 0)
		return rc;
	if (prefetch_helper_mode)
	{
		if (p.argc != 1 || walname_parse(p.argv[0], &wn, &err) != 0)
			return prog_usage_error(&p, "--prefetch-helper: expected the WAL file name last delivered");
		if ((rc = prog_load_config(&p, &err)) >= 0)
			return 0;
		return helper_main(&p);
	}
	if (p.argc != 2)
		return prog_usage_error(&p, "expected a WAL file name (%%f) and a destination path (%%p)");
	if (walname_parse(p.argv[0], &wn, &err) != 0)
		return prog_fail(&p, &err);
	if ((rc = prog_load_config(&p, &err)) >= 0)
		return rc;
	/* PostgreSQL runs restore_command in the data directory being recovered:
	 * relative paths (DEST, standby.signal) are taken from there, never from
	 * [postgres] pgdata, which may name another cluster sharing this config */
	if (path_resolve(NULL, p.argv[1], dest, sizeof(dest)) != 0)
		return prog_usage_error(&p, "path too long: %s", p.argv[1]);
	p.standby = access("standby.signal", F_OK) == 0;

	if (wn.kind == WAL_SEGMENT && p.cfg.fetch_ahead > 0)
	{
		pgark_err	serr;

		err_clear(&serr);
		rc = spool_dir(&p.cfg, "fetch", fdir, sizeof(fdir), &serr);
		if (rc < 0)
			log_warning("prefetch is off: %s", serr.msg);
		prefetch = rc == 0;
	}
	if (prefetch)
	{
		/* Served from the spool: no repository, no key, no round trip. On
		 * any doubt the file is gone and the repository decides, as if
		 * there were no spool. */
		prefetch_meta pm;
		pgark_err	serr;
		uint64_t	bytes;
		int			have_meta;

		err_clear(&serr);
		have_meta = prefetch_read_meta(fdir, &pm, &serr) == 0;
		(void) prefetch_cleanup(fdir, have_meta ? &pm : NULL, &wn);
		err_clear(&serr);
		rc = prefetch_take(fdir, have_meta ? &pm : NULL, &wn, dest, &bytes, &serr);
		if (rc == 0)
		{
			char		object[128];

			walname_object(&wn, object, sizeof(object));
			prog_audit(&p, "fetch", object, "ok", "prefetched", bytes, 0);
			start_prefetch(&p, fdir, &wn);
			log_debug("delivered %s to %s from the spool (%.1f ms)", wn.name, dest, now_ms() - p.t0);
			return prog_success(&p);
		}
		if (rc == 2 && have_meta)
			log_warning("not using a prefetched file: %s", serr.msg);
	}

	/* from here on OpenSSL is used, and nothing it holds needs freeing
	 * before this process exits; only by pgark's own code unless libcurl
	 * may be loaded (an S3 repository, alerts) */
	crypto_program_init(strcmp(p.cfg.repo_type, "local") == 0 && !alert_enabled(&p.cfg));
	if ((r = repo_open(&p.cfg, &err)) == NULL)
	{
		prog_audit(&p, "fetch", wn.name, err_kind_name(err.kind), err.msg, 0, 0);
		return prog_fail(&p, &err);
	}
	if (wal_fetch_file(r, &wn, dest, &res, &err) != 0)
	{
		repo_close(r);
		if (err.kind == PGARK_ERR_NOTFOUND)
		{
			log_debug("%s is not in the repository", wn.name);
			/* the repository answered: a failure on record is over (a
			 * standby at the end of the archive only ever gets this) */
			prog_alert(&p, 0, NULL);
			return prog_exit_code(&p, &err);
		}
		prog_audit(&p, "fetch", res.object[0] ? res.object : wn.name, err_kind_name(err.kind), err.msg, 0, 0);
		log_error("%s", err.msg);
		prog_alert(&p, 1, err.msg);
		if (prog_exit_code(&p, &err) > 125)
			log_error("recovery must stop here rather than end early: fix the cause, then start the server again "
					  "and recovery resumes from this point");
		return prog_exit_code(&p, &err);
	}
	prog_audit(&p, "fetch", res.object, "ok", NULL, res.bytes, res.stored);
	log_debug("delivered %s to %s (%llu bytes, %.1f ms)", wn.name, dest,
			  (unsigned long long) res.bytes, now_ms() - p.t0);
	repo_close(r);
	if (prefetch)
		start_prefetch(&p, fdir, &wn);
	return prog_success(&p);
}
