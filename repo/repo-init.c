/*
 * repo-init — create a repository: format, system identifier, PostgreSQL
 * version and WAL segment size (from the server, or from the data
 * directory), and the first data key, wrapped by the master key.
 */
#include <stdio.h>
#include <string.h>

#include "pg.h"
#include "prog.h"
#include "repo.h"
#include "util.h"

static const char *opt_pgdata;
static const char *opt_conninfo;

static int
opt(prog *p, int c, const char *arg)
{
	(void) p;
	if (c == 'D')
		opt_pgdata = arg;
	else if (c == 'd')
		opt_conninfo = arg;
	else
		return prog_usage_error(p, "unknown option");
	return -1;
}

int
main(int argc, char **argv)
{
	static const struct option extra[] = {
		{"pgdata", required_argument, NULL, 'D'},
		{"conninfo", required_argument, NULL, 'd'},
		{NULL, 0, NULL, 0}
	};
	prog		p = {
		.name = "repo-init",
		.kind = PROG_PLAIN,
		.usage = "",
		.help = "Create the repository named by [repo]: record the format version, the\n"
		"cluster's system identifier, PostgreSQL version and WAL segment size, and\n"
		"create the first data key (wrapped by the master key).\n"
		"The cluster is read from the running server ([postgres] conninfo) if set,\n"
		"else from the data directory ([postgres] pgdata).\n"
		"\nOptions:\n"
		"  -D, --pgdata DIR      read the cluster's identity from this data directory\n"
		"  -d, --conninfo STR    read it from this server (libpq connection string)",
	};
	pgark_err	err;
	pg_system	sys;
	repo_meta	m;
	int			rc;
	const char *from;
	char		where[1200];

	err_clear(&err);
	if ((rc = prog_start(&p, argc, argv, extra, "D:d:", opt)) >= 0)
		return rc;
	if (p.argc != 0)
		return prog_usage_error(&p, "unexpected argument \"%s\"", p.argv[0]);
	if ((rc = prog_load_config(&p, &err)) >= 0)
		return rc;
	if (opt_pgdata)
		snprintf(p.cfg.pgdata, sizeof(p.cfg.pgdata), "%s", opt_pgdata);
	if (opt_conninfo)
		snprintf(p.cfg.conninfo, sizeof(p.cfg.conninfo), "%s", opt_conninfo);

	if (p.cfg.conninfo[0] && !opt_pgdata)
	{
		from = "the server ([postgres] conninfo)";
		rc = pg_system_from_server(p.cfg.conninfo, &sys, &err);
	}
	else if (p.cfg.pgdata[0])
	{
		from = p.cfg.pgdata;
		rc = pg_system_from_pgdata(p.cfg.pgdata, &sys, &err);
	}
	else
	{
		err_set(&err, PGARK_ERR_CONFIG, 0,
				"repo-init needs the cluster: set [postgres] conninfo or pgdata (or --conninfo / --pgdata)");
		return prog_fail(&p, &err);
	}
	if (rc != 0)
		return prog_fail(&p, &err);
	config_repo_where(&p.cfg, where, sizeof(where));
	if (repo_create(&p.cfg, sys.sysid, sys.pg_version, sys.wal_seg_size, &m, &err) != 0)
	{
		prog_audit(&p, "init", where, err_kind_name(err.kind), err.msg, 0, 0);
		return prog_fail(&p, &err);
	}
	{
		char		dek[2 * OBJ_DEK_ID_LEN + 1];

		hex_encode(m.data_key, OBJ_DEK_ID_LEN, dek);
		log_info("initialised repository %s for database system %llu (PostgreSQL %d, WAL segments of %u MiB, read from %s); "
				 "cipher %s%s%s",
				 where, (unsigned long long) m.sysid, m.pg_version, m.wal_seg_size >> 20, from,
				 m.cipher == OBJ_CIPHER_NONE ? "none (NOT ENCRYPTED)" : "aes-256-gcm, data key ",
				 m.cipher == OBJ_CIPHER_NONE ? "" : dek, "");
	}
	prog_audit(&p, "init", where, "ok", NULL, 0, 0);
	return prog_success(&p);
}
