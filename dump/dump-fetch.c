/*
 * dump-fetch — a logical dump back out of the repository, for pg_restore
 * (or psql, for the globals): streamed to stdout (never a terminal) or to
 * --output FILE (written whole, fsync'd, renamed into place, mode 0600).
 * Every frame is authenticated on the way and the sizes and SHA-256 of the
 * stored bytes are checked against the dump's metadata at the end: a
 * stream cannot be taken back, so damage found midway exits 1 and the
 * output must not be used (scripts: set -o pipefail).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dump.h"
#include "prog.h"
#include "repo.h"
#include "util.h"

static const char *opt_db, *opt_id, *opt_output;
static int	opt_globals, opt_schema;

static int
opt(prog *p, int c, const char *arg)
{
	switch (c)
	{
		case 'd':
			opt_db = arg;
			break;
		case 'o':
			opt_output = arg;
			break;
		case 1400:
			opt_id = arg;
			break;
		case 1401:
			opt_globals = 1;
			break;
		case 1402:
			opt_schema = 1;
			break;
		default:
			return prog_usage_error(p, "unknown option");
	}
	return -1;
}

static int
sink_fd(void *arg, const void *buf, size_t len, pgark_err *err)
{
	const char *what = opt_output ? opt_output : "standard output";

	if (write_full(*(int *) arg, buf, len) != 0)
		return err_sys(err, PGARK_ERR_IO, "writing %s", what);
	return 0;
}

int
main(int argc, char **argv)
{
	static const struct option extra[] = {
		{"db", required_argument, NULL, 'd'},
		{"output", required_argument, NULL, 'o'},
		{"id", required_argument, NULL, 1400},
		{"globals", no_argument, NULL, 1401},
		{"schema-only", no_argument, NULL, 1402},
		{NULL, 0, NULL, 0}
	};
	prog		p = {
		.name = "dump-fetch",
		.kind = PROG_PLAIN,
		.usage = "--db NAME | --globals",
		.help = "Write a logical dump from the repository to standard output (not a terminal)\n"
		"or to a file: pg_dump's custom format for pg_restore, or (--globals) SQL for psql.\n"
		"Exit 0 only if the whole dump was delivered and verified; any other status\n"
		"means the output is incomplete or damaged and must not be used.\n"
		"\nOptions:\n"
		"  -d, --db NAME         the dump of this database\n"
		"      --globals         the roles and tablespaces (pg_dumpall --globals-only)\n"
		"      --id ID|latest    this dump (default: the newest)\n"
		"      --schema-only     the newest schema-only dump (default: the newest full one)\n"
		"  -o, --output FILE     write FILE (mode 0600, complete or not at all)",
	};
	pgark_err	err;
	repo	   *r = NULL;
	dump_list	l = {NULL, 0};
	const dump_entry *e;
	dump_meta	want;
	char		dir[3 * DUMP_NAME_MAX + 1], tmp[4200] = "", object[512] = "";
	int			rc, fd = -1;

	err_clear(&err);
	if ((rc = prog_start(&p, argc, argv, extra, "d:o:", opt)) >= 0)
		return rc;
	if (p.argc != 0)
		return prog_usage_error(&p, "unexpected argument \"%s\"", p.argv[0]);
	if (!!opt_db + opt_globals != 1)
		return prog_usage_error(&p, "name one dump: --db NAME or --globals");
	if (opt_globals && opt_schema)
		return prog_usage_error(&p, "--schema-only does not go with --globals");
	if (opt_id && strcmp(opt_id, "latest") == 0)
		opt_id = NULL;
	memset(&want, 0, sizeof(want));
	want.kind = opt_globals ? DUMP_GLOBALS : opt_schema ? DUMP_SCHEMA : DUMP_FULL;
	if (opt_db)
	{
		if (opt_db[0] == '\0' || strlen(opt_db) > DUMP_NAME_MAX)
			return prog_usage_error(&p, "--db: a database name has 1 to %d bytes", DUMP_NAME_MAX);
		snprintf(want.database, sizeof(want.database), "%s", opt_db);
	}
	if (dump_dir_of(&want, dir, sizeof(dir)) != 0)
		return prog_usage_error(&p, "--db: \"%s\" cannot be a database name", opt_db);
	if (opt_output == NULL && isatty(STDOUT_FILENO))
		return prog_usage_error(&p, "standard output is a terminal: redirect it, or use --output FILE");
	if ((rc = prog_load_config(&p, &err)) >= 0)
		return rc;
	if ((r = repo_open(&p.cfg, &err)) == NULL)
		return prog_fail(&p, &err);
	if (dump_list_read(r, 1, &l, &err) != 0)
		goto fail;
	e = dump_list_find(&l, dir, opt_id ? -1 : (int) want.kind, opt_id);
	/*
	 * A damaged metadata object must not pass for "no dump", nor let an
	 * older dump stand in for the newest: its kind is unknown, so any
	 * newer one stops us.
	 */
	for (size_t i = 0; i < l.n; i++)
		if (strcmp(l.e[i].dir, dir) == 0 && l.e[i].has_meta && !l.e[i].meta_ok &&
			(opt_id ? strcmp(l.e[i].id, opt_id) == 0 : e == NULL || strcmp(l.e[i].id, e->id) > 0))
		{
			err_set(&err, PGARK_ERR_CORRUPT, 0, "%s", l.e[i].problem);
			goto fail;
		}
	if (e == NULL)
	{
		err_set(&err, PGARK_ERR_NOTFOUND, 0, "no %s dump of %s%s%s%s%s in %s", opt_id ? "" : dump_kind_name(want.kind),
				opt_globals ? "the globals" : "database \"", opt_globals ? "" : opt_db, opt_globals ? "" : "\"",
				opt_id ? " with id " : "", opt_id ? opt_id : "", r->st->where);
		goto fail;
	}
	if (opt_id && opt_schema && e->meta.kind != DUMP_SCHEMA)
	{
		err_set(&err, PGARK_ERR_USAGE, 0, "dump %s is a %s dump, not schema-only", e->id, dump_kind_name(e->meta.kind));
		goto fail;
	}
	if (opt_id && !opt_schema && e->meta.kind == DUMP_SCHEMA)
	{
		/* without the data: never delivered to one who asked for a full dump */
		err_set(&err, PGARK_ERR_USAGE, 0, "dump %s is a schema-only dump: give --schema-only to fetch it", e->id);
		goto fail;
	}
	snprintf(object, sizeof(object), "%s%s/%s", DUMP_PREFIX, dir, e->id);
	if (opt_output)
	{
		char		d[4096];

		path_dirname(opt_output, d, sizeof(d));
		if (snprintf(tmp, sizeof(tmp), "%s/.%s.pgark-XXXXXX", d, path_basename(opt_output)) >= (int) sizeof(tmp))
		{
			err_set(&err, PGARK_ERR_USAGE, 0, "--output: path too long");
			tmp[0] = '\0';
			goto fail;
		}
		if ((fd = mkstemp(tmp)) < 0)
		{
			err_sys(&err, PGARK_ERR_IO, "creating a temporary file beside %s", opt_output);
			tmp[0] = '\0';
			goto fail;
		}
		if (fchmod(fd, 0600) != 0)
		{
			err_sys(&err, PGARK_ERR_IO, "chmod %s", tmp);
			goto fail;
		}
	}
	else
		fd = STDOUT_FILENO;
	if (dump_read(r, &e->meta, sink_fd, &fd, &err) != 0)
	{
		if (!opt_output)
			err_prefix(&err, "the dump written to standard output is incomplete or damaged: do not use it");
		goto fail;
	}
	if (opt_output)
	{
		if (fsync(fd) != 0)
		{
			err_sys(&err, PGARK_ERR_IO, "fsync %s", tmp);
			goto fail;
		}
		if (close(fd) != 0)
		{
			fd = -1;
			err_sys(&err, PGARK_ERR_IO, "closing %s", tmp);
			goto fail;
		}
		fd = -1;
		if (rename(tmp, opt_output) != 0)
		{
			err_sys(&err, PGARK_ERR_IO, "renaming %s to %s", tmp, opt_output);
			goto fail;
		}
		tmp[0] = '\0';
		{
			char		d[4096];

			path_dirname(opt_output, d, sizeof(d));
			if (fsync_dir(d, &err) != 0)
				goto fail;
		}
	}
	log_info("fetched %s dump %s of %s%s%s (%" PRIu64 " bytes, verified)", dump_kind_name(e->meta.kind), e->id,
			 opt_globals ? "the globals" : "database \"", opt_globals ? "" : opt_db, opt_globals ? "" : "\"",
			 e->meta.plain_bytes);
	prog_audit(&p, "dump-fetch", object, "ok", NULL, e->meta.plain_bytes, e->meta.stored_bytes);
	dump_list_free(&l);
	repo_close(r);
	return prog_success(&p);

fail:
	if (opt_output && fd >= 0)
		close(fd);
	if (tmp[0])
		(void) unlink(tmp);
	prog_audit(&p, "dump-fetch", object[0] ? object : "-", err_kind_name(err.kind), err.msg, 0, 0);
	dump_list_free(&l);
	repo_close(r);
	return prog_fail(&p, &err);
}
