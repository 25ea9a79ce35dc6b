/*
 * wal-fetch — restore_command: fetch, verify and deliver one WAL file.
 *
 *   restore_command = 'wal-fetch --config /etc/pgark/pgark.conf %f %p'
 *
 * Exit 0 delivered; 1 the file is not in the repository (the normal end of
 * the archive); EXIT_FETCH_FATAL (200) for anything else, so that PostgreSQL
 * stops recovery rather than ending it early and promoting. Under
 * standby.signal a transient storage fault exits 1: a standby retries.
 */
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "prog.h"
#include "repo.h"
#include "util.h"
#include "wal.h"
#include "walarchive.h"

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
	pgark_err	err;
	walname		wn;
	char		dest[PATH_MAX];
	repo	   *r = NULL;
	wal_fetch_result res;
	int			rc;

	err_clear(&err);
	if ((rc = prog_start(&p, argc, argv, NULL, NULL, NULL)) >= 0)
		return rc;
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
			return prog_exit_code(&p, &err);
		}
		prog_audit(&p, "fetch", res.object[0] ? res.object : wn.name, err_kind_name(err.kind), err.msg, 0, 0);
		log_error("%s", err.msg);
		if (prog_exit_code(&p, &err) > 125)
			log_error("recovery must stop here rather than end early: fix the cause, then start the server again "
					  "and recovery resumes from this point");
		return prog_exit_code(&p, &err);
	}
	prog_audit(&p, "fetch", res.object, "ok", NULL, res.bytes, res.stored);
	log_debug("delivered %s to %s (%llu bytes, %.1f ms)", wn.name, dest,
			  (unsigned long long) res.bytes, now_ms() - p.t0);
	repo_close(r);
	return 0;
}
