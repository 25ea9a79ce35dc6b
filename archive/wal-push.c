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
#include <string.h>

#include "prog.h"
#include "repo.h"
#include "util.h"
#include "wal.h"
#include "walarchive.h"

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
	int			rc;

	err_clear(&err);
	if ((rc = prog_start(&p, argc, argv, NULL, NULL, NULL)) >= 0)
		return rc;
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

	if ((r = repo_open(&p.cfg, &err)) == NULL)
	{
		prog_audit(&p, "push", wn.name, err_kind_name(err.kind), err.msg, 0, 0);
		return prog_fail(&p, &err);
	}
	if (wal_push_file(r, path, &wn, &res, &err) != 0)
	{
		prog_audit(&p, "push", res.object[0] ? res.object : wn.name, err_kind_name(err.kind), err.msg, res.bytes, 0);
		if (err.kind == PGARK_ERR_CONFLICT || err.kind == PGARK_ERR_MISMATCH)
		{
			log_error("%s", err.msg);
			log_error("%s stays in pg_wal and PostgreSQL will retry; nothing in the repository was changed. "
					  "Find out which cluster wrote %s before anything else.", wn.name, res.object);
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
	return 0;
}
