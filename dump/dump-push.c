/*
 * dump-push — logical dumps into the repository: pg_dump -Fc of one
 * database (--db) or of every database that accepts connections (--all,
 * with the globals of pg_dumpall --globals-only), streamed through the
 * object pipeline into dumps/; nothing is written to local disk. A dump
 * whose pg_dump fails or is cut leaves nothing. Exit 0: every dump stored.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dump.h"
#include "pg.h"
#include "prog.h"
#include "repo.h"
#include "util.h"

static const char *opt_db;
static int	opt_all, opt_globals, opt_schema, opt_json;

static int
opt(prog *p, int c, const char *arg)
{
	switch (c)
	{
		case 'd':
			if (opt_db)
				return prog_usage_error(p, "--db given twice (use --all for every database)");
			opt_db = arg;
			break;
		case 1300:
			opt_all = 1;
			break;
		case 1301:
			opt_globals = 1;
			break;
		case 1302:
			opt_schema = 1;
			break;
		case 1303:
			opt_json = 1;
			break;
		default:
			return prog_usage_error(p, "unknown option");
	}
	return -1;
}

static int	json_first = 1;

static void
report(prog *p, const dump_meta *m, const char *dir)
{
	char		object[512], sz[32], sd[32];

	snprintf(object, sizeof(object), "%s%s/%s", DUMP_PREFIX, dir, m->id);
	human_bytes(m->plain_bytes, sz, sizeof(sz));
	human_bytes(m->stored_bytes, sd, sizeof(sd));
	log_info("stored %s dump %s of %s%s%s: %s, %s stored", dump_kind_name(m->kind), m->id,
			 m->kind == DUMP_GLOBALS ? "the globals" : "database \"",
			 m->kind == DUMP_GLOBALS ? "" : m->database, m->kind == DUMP_GLOBALS ? "" : "\"", sz, sd);
	prog_audit(p, "dump", object, "ok", dump_kind_name(m->kind), m->plain_bytes, m->stored_bytes);
	if (opt_json)
	{
		char		db[6 * DUMP_NAME_MAX + 1];

		json_escape(m->database, db, sizeof(db));
		printf("%s{\"database\":%s%s%s,\"kind\":\"%s\",\"object\":\"%s\",\"plain_bytes\":%" PRIu64
			   ",\"stored_bytes\":%" PRIu64 "}", json_first ? "" : ",", m->kind == DUMP_GLOBALS ? "" : "\"",
			   m->kind == DUMP_GLOBALS ? "null" : db, m->kind == DUMP_GLOBALS ? "" : "\"", dump_kind_name(m->kind),
			   object, m->plain_bytes, m->stored_bytes);
		json_first = 0;
	}
}

int
main(int argc, char **argv)
{
	static const struct option extra[] = {
		{"db", required_argument, NULL, 'd'},
		{"all", no_argument, NULL, 1300},
		{"globals", no_argument, NULL, 1301},
		{"schema-only", no_argument, NULL, 1302},
		{"json", no_argument, NULL, 1303},
		{NULL, 0, NULL, 0}
	};
	prog		p = {
		.name = "dump-push",
		.kind = PROG_PLAIN,
		.usage = "--db NAME | --all | --globals",
		.help = "Store a logical dump (pg_dump -Fc) of a database in the repository, streamed:\n"
		"nothing is written to local disk. Connects with [postgres] conninfo.\n"
		"\nOptions:\n"
		"  -d, --db NAME         dump this database\n"
		"      --all             every database that accepts connections (not template0),\n"
		"                        and the globals; one dump id for the whole run\n"
		"      --globals         the roles and tablespaces (pg_dumpall --globals-only),\n"
		"                        alone or with --db\n"
		"      --schema-only     the definitions without the data (pg_dump --schema-only)\n"
		"      --json            print what was stored as JSON on stdout",
	};
	pgark_err	err;
	repo	   *r = NULL;
	dump_source src;
	char	  **dbs = NULL;
	size_t		ndbs = 0;
	int			rc, version;
	char		id[DUMP_ID_LEN + 1];
	dump_kind	kind;

	err_clear(&err);
	if ((rc = prog_start(&p, argc, argv, extra, "d:", opt)) >= 0)
		return rc;
	if (p.argc != 0)
		return prog_usage_error(&p, "unexpected argument \"%s\"", p.argv[0]);
	if (opt_all && opt_db)
		return prog_usage_error(&p, "--db and --all exclude each other");
	if (!opt_all && !opt_db && !opt_globals)
		return prog_usage_error(&p, "say what to dump: --db NAME, --all or --globals");
	if (opt_db && (opt_db[0] == '\0' || strlen(opt_db) > DUMP_NAME_MAX))
		return prog_usage_error(&p, "--db: a database name has 1 to %d bytes", DUMP_NAME_MAX);
	if (opt_schema && !opt_all && !opt_db)
		return prog_usage_error(&p, "--schema-only needs --db or --all (the globals have no data)");
	kind = opt_schema ? DUMP_SCHEMA : DUMP_FULL;
	if ((rc = prog_load_config(&p, &err)) >= 0)
		return rc;
	if (p.cfg.conninfo[0] == '\0')
	{
		err_set(&err, PGARK_ERR_CONFIG, 0, "[postgres] conninfo is not set: dump-push needs the server");
		return prog_fail(&p, &err);
	}
	src.conninfo = p.cfg.conninfo;
	src.bindir = p.cfg.bindir;
	if ((r = repo_open(&p.cfg, &err)) == NULL)
		return prog_fail(&p, &err);
	{
		/* the repository's cluster only: another one must not write here */
		pg_system	sys;

		if (pg_system_from_server(src.conninfo, &sys, &err) != 0)
			goto fail;
		if (sys.sysid != r->meta.sysid)
		{
			err_set(&err, PGARK_ERR_MISMATCH, 0, "the server ([postgres] conninfo) has system identifier %" PRIu64
					", the repository %s belongs to %" PRIu64, sys.sysid, r->st->where, r->meta.sysid);
			goto fail;
		}
	}
	if (dump_server_info(&src, &version, opt_all ? &dbs : NULL, &ndbs, &err) != 0)
		goto fail;
	if (dump_new_id(r, id, sizeof(id), &err) != 0)
		goto fail;
	if (opt_json)
		printf("{\"dump_id\":\"%s\",\"dumps\":[", id);
	for (size_t i = 0; i < (opt_all ? ndbs : opt_db ? 1 : 0); i++)
	{
		const char *db = opt_all ? dbs[i] : opt_db;
		dump_meta	m;
		char		dir[3 * DUMP_NAME_MAX + 1];

		if (dump_push(r, &src, version, db, kind, id, &m, &err) != 0)
		{
			err_prefix(&err, "dump of database \"%s\" (nothing of it was stored)", db);
			goto fail_json;
		}
		(void) dump_dir_of(&m, dir, sizeof(dir));
		report(&p, &m, dir);
	}
	if (opt_all || opt_globals)
	{
		dump_meta	m;

		if (dump_push(r, &src, version, NULL, DUMP_GLOBALS, id, &m, &err) != 0)
		{
			err_prefix(&err, "dump of the globals (nothing of it was stored)");
			goto fail_json;
		}
		report(&p, &m, DUMP_GLOBALS_DIR);
	}
	if (opt_json)
		printf("]}\n");
	dump_free_names(dbs, ndbs);
	repo_close(r);
	return fflush(stdout) == 0 ? prog_success(&p) : 1;

fail_json:
	if (opt_json)
		printf("]}\n");
fail:
	prog_audit(&p, "dump", "-", err_kind_name(err.kind), err.msg, 0, 0);
	dump_free_names(dbs, ndbs);
	repo_close(r);
	return prog_fail(&p, &err);
}
