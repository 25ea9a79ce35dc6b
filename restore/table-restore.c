/*
 * table-restore — tables as they were at a point in time, put into a live
 * database: a scratch instance (lib/scratch.h) recovered to the target,
 * pg_dump -t from it, and the dump restored into the target database in one
 * transaction (or written to --output FILE).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "log.h"
#include "manifest.h"
#include "prog.h"
#include "repo.h"
#include "restore.h"
#include "scratch.h"
#include "util.h"

#define MAX_TABLES 32
#define NAMEDATALEN_MAX 64		/* PostgreSQL names: at most 63 bytes */

typedef struct table
{
	char		schema[NAMEDATALEN_MAX], name[NAMEDATALEN_MAX];	/* in the backup */
	char		dschema[NAMEDATALEN_MAX], dname[NAMEDATALEN_MAX];	/* in the target */
	int			exists;			/* in the target */
	long long	rows;
} table;

static restore_opts ro;
static int	opt_json, ntargets, opt_data_only, opt_schema_only, opt_replace, ntables, wait_timeout;
static int	lock_timeout = 10;		/* seconds; 0: no limit */
static char *opt_into;
static const char *opt_progress, *opt_as, *opt_output, *opt_scratch_dir, *opt_from_db;
static table tables[MAX_TABLES];
static char txpre[32768], txpost[32768];	/* SQL around the dump in the target */

/* "schema.name" (or "name": public) into s and n; -1 if not one */
static int
split_name(const char *arg, char *s, char *n)
{
	const char *dot = strchr(arg, '.');
	size_t		sl = dot ? (size_t) (dot - arg) : 6;
	const char *name = dot ? dot + 1 : arg;

	if ((dot && sl == 0) || name[0] == '\0' || strchr(name, '.') || sl >= NAMEDATALEN_MAX ||
		strlen(name) >= NAMEDATALEN_MAX)
		return -1;
	memcpy(s, dot ? arg : "public", sl);
	s[sl] = '\0';
	strcpy(n, name);
	return 0;
}

/*
 * Overwrite, in place, the password in a connection string of our own
 * argv, so that ps shows it no more (best effort: it shows until we start).
 * key=value: the value after "password ="; a URI: the one after the user
 * name's ':' and "password=" in its parameters.
 */
static void
scrub_password(char *s)
{
	int			uri = strncmp(s, "postgresql://", 13) == 0 || strncmp(s, "postgres://", 11) == 0;

	if (uri)
	{
		char	   *u = strstr(s, "://") + 3;
		char	   *at = strchr(u, '@'), *slash = strchr(u, '/');
		char	   *c = at && (!slash || at < slash) ? memchr(u, ':', (size_t) (at - u)) : NULL;

		if (c)
			for (c++; c < at; c++)
				*c = '*';
	}
	for (char *k = strstr(s, "password"); k; k = strstr(k + 1, "password"))
	{
		char	   *v = k + 8;

		v += strspn(v, " \t\n");
		if (*v != '=')
			continue;
		v++;
		v += strspn(v, " \t\n");
		if (!uri && *v == '\'')
		{
			for (v++; *v && *v != '\''; v++)
			{
				if (*v == '\\' && v[1])
					*v++ = '*';
				*v = '*';
			}
		}
		else
			for (; *v && !strchr(uri ? "&" : " \t\n", *v); v++)
				*v = '*';
	}
}

static int
opt(prog *p, int c, const char *arg)
{
	int			rc = prog_target_option(p, &ro, &ntargets, c, arg);

	if (rc != -2)
		return rc;
	switch (c)
	{
		case 't':
			if (ntables == MAX_TABLES)
				return prog_usage_error(p, "at most %d --table", MAX_TABLES);
			if (split_name(arg, tables[ntables].schema, tables[ntables].name) != 0)
				return prog_usage_error(p, "--table \"%s\": expected schema.name", arg);
			ntables++;
			return -1;
		case 'b':
			ro.backup_id = arg;
			return -1;
		case 1205:
			if ((opt_into = strdup(arg)) == NULL)
				return prog_usage_error(p, "out of memory");
			scrub_password((char *) (uintptr_t) arg);
			return -1;
		case 1206:
			opt_as = arg;
			return -1;
		case 1207:
			opt_data_only = 1;
			return -1;
		case 1208:
			opt_schema_only = 1;
			return -1;
		case 1209:
			opt_replace = 1;
			return -1;
		case 'o':
			opt_output = arg;
			return -1;
		case 1210:
			opt_scratch_dir = arg;
			return -1;
		case 1211:
			opt_from_db = arg;
			return -1;
		case 1212:
			if (strspn(arg, "0123456789") != strlen(arg) || arg[0] == '\0' || strlen(arg) > 7)
				return prog_usage_error(p, "--wait-timeout takes seconds (0: no limit)");
			wait_timeout = atoi(arg);
			return -1;
		case 1215:
			if (strspn(arg, "0123456789") != strlen(arg) || arg[0] == '\0' || strlen(arg) > 7)
				return prog_usage_error(p, "--lock-timeout takes seconds (0: no limit)");
			lock_timeout = atoi(arg);
			return -1;
		case 1213:
			if (strcmp(arg, "on") != 0 && strcmp(arg, "off") != 0)
				return prog_usage_error(p, "--progress takes on or off");
			opt_progress = arg;
			return -1;
		case 1214:
			opt_json = 1;
			return -1;
	}
	return prog_usage_error(p, "unknown option");
}

/* "schema"."name", quotes doubled */
static void
qualified(const char *s, const char *n, char *out, size_t len)
{
	size_t		o = 0;
	const char *parts[2] = {s, n};

	for (int i = 0; i < 2; i++)
	{
		if (i == 1 && o + 1 < len)
			out[o++] = '.';
		if (o + 1 < len)
			out[o++] = '"';
		for (const char *c = parts[i]; *c && o + 3 < len; c++)
		{
			if (*c == '"')
				out[o++] = '"';
			out[o++] = *c;
		}
		if (o + 1 < len)
			out[o++] = '"';
	}
	out[o] = '\0';
}

/* Run one statement with up to two text parameters; the first value of the
 * first row into out ("" if none). */
static int
query1(PGconn *c, const char *sql, const char *p1, const char *p2, char *out, size_t outlen, const char *what,
	   pgark_err *err)
{
	const char *params[2] = {p1, p2};
	PGresult   *res = PQexecParams(c, sql, p2 ? 2 : p1 ? 1 : 0, NULL, params, NULL, NULL, 0);
	int			ok = PQresultStatus(res) == PGRES_TUPLES_OK || PQresultStatus(res) == PGRES_COMMAND_OK;

	if (!ok)
	{
		err_set(err, PGARK_ERR_DB, 0, "%s: %s", what, PQerrorMessage(c));
		PQclear(res);
		return -1;
	}
	if (out)
		snprintf(out, outlen, "%s", PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) > 0 &&
				 !PQgetisnull(res, 0, 0) ? PQgetvalue(res, 0, 0) : "");
	PQclear(res);
	return 0;
}

/* The target: does each destination exist, and may it be replaced? Nothing
 * is changed here. */
static int
check_target(PGconn *c, pgark_err *err)
{
	char		rdonly[8];

	if (query1(c, "SELECT pg_is_in_recovery() OR current_setting('transaction_read_only') = 'on'", NULL, NULL, rdonly,
			   sizeof(rdonly), "checking the target", err) != 0)
		return -1;
	if (strcmp(rdonly, "t") == 0)
		return err_set(err, PGARK_ERR_CONFLICT, 0, "the target database %s is read-only (a standby, or "
					   "default_transaction_read_only): nothing was done", PQdb(c));
	for (int i = 0; i < ntables; i++)
	{
		table	   *t = &tables[i];
		char		q[2 * 4 * NAMEDATALEN_MAX + 8], v[1024];

		qualified(t->dschema, t->dname, q, sizeof(q));
		if (query1(c, "SELECT to_regclass($1) IS NOT NULL", q, NULL, v, sizeof(v), "checking the target", err) != 0)
			return -1;
		t->exists = strcmp(v, "t") == 0;
		if (opt_data_only && !t->exists)
			return err_set(err, PGARK_ERR_NOTFOUND, 0,
						   "--data-only: table %s.%s does not exist in the target database %s (restore it whole, "
						   "or create it first)", t->dschema, t->dname, PQdb(c));
		if (!t->exists || (opt_data_only && !opt_replace))
			continue;
		if (!opt_replace)
			return err_set(err, PGARK_ERR_EXISTS, 0,
						   "table %s.%s exists in the target database %s: give --as NEW_NAME to restore beside it, "
						   "or --replace to replace it (in one transaction)", t->dschema, t->dname, PQdb(c));
		/* DROP TABLE on a partitioned table or an inheritance parent drops
		 * its partitions (children) too, TRUNCATE empties them, and pg_dump
		 * -t dumps none of them: refused, nothing changed */
		if (query1(c, "SELECT (SELECT relkind FROM pg_class WHERE oid = to_regclass($1)) = 'p'"
				   " OR EXISTS (SELECT FROM pg_inherits WHERE inhparent = to_regclass($1))", q, NULL, v, sizeof(v),
				   "checking the target", err) != 0)
			return -1;
		if (strcmp(v, "t") == 0)
			return err_set(err, PGARK_ERR_CONFLICT, 0,
						   "table %s.%s in the target database %s cannot be replaced: it has partitions or "
						   "inheritance children, which --replace would drop or empty with it (and pg_dump -t "
						   "does not include them); nothing was changed (restore with --as NEW_NAME instead)",
						   t->dschema, t->dname, PQdb(c));
		/* what DROP TABLE removes and pg_dump -t does not bring back: the
		 * table's membership of publications, its extended statistics */
		if (!opt_data_only)
		{
			if (query1(c, "SELECT string_agg(x, ', ') FROM ("
					   " SELECT 'publication ' || quote_ident(p.pubname) AS x FROM pg_publication_rel r"
					   " JOIN pg_publication p ON p.oid = r.prpubid WHERE r.prrelid = to_regclass($1)"
					   " UNION ALL SELECT 'statistics object ' || quote_ident(n.nspname) || '.' || quote_ident(stxname)"
					   " FROM pg_statistic_ext s JOIN pg_namespace n ON n.oid = s.stxnamespace"
					   " WHERE s.stxrelid = to_regclass($1)) s", q, NULL, v, sizeof(v), "checking the target",
					   err) != 0)
				return -1;
			if (v[0])
				return err_set(err, PGARK_ERR_CONFLICT, 0,
							   "table %s.%s in the target database %s cannot be replaced: its %s would be lost "
							   "(pg_dump -t does not include them); nothing was changed (remove them and add "
							   "them back afterwards, or restore with --as NEW_NAME or --data-only --replace)",
							   t->dschema, t->dname, PQdb(c), v);
		}
		/* what a DROP (or TRUNCATE) would trip over: say so before any change */
		if (query1(c, "SELECT string_agg(DISTINCT x, ', ') FROM ("
				   " SELECT 'view ' || r.ev_class::regclass::text AS x FROM pg_depend d"
				   " JOIN pg_rewrite r ON d.classid = 'pg_rewrite'::regclass AND d.objid = r.oid"
				   " WHERE d.refclassid = 'pg_class'::regclass AND d.refobjid = to_regclass($1)"
				   " AND r.ev_class <> to_regclass($1) AND $2 = 'f'"
				   " UNION ALL SELECT 'foreign key ' || conname || ' of ' || conrelid::regclass::text"
				   " FROM pg_constraint WHERE contype = 'f' AND confrelid = to_regclass($1)"
				   " AND conrelid <> to_regclass($1)) s", q, opt_data_only ? "t" : "f", v, sizeof(v),
				   "checking the target", err) != 0)
			return -1;
		if (v[0])
			return err_set(err, PGARK_ERR_CONFLICT, 0,
						   "table %s.%s in the target database %s cannot be replaced: %s depend%s on it; nothing "
						   "was changed (restore with --as NEW_NAME instead)", t->dschema, t->dname, PQdb(c), v,
						   strchr(v, ',') ? "" : "s");
	}
	return 0;
}

/* In the scratch instance (thrown away afterwards): give the table its new
 * name, and its indexes and owned sequences names that will not clash with
 * the original's in the target. */
static int
rename_in_scratch(PGconn *c, const table *t, pgark_err *err)
{
	char		sql[8192];
	const char *params[4] = {NULL, t->dname, t->dschema, NULL};
	char		q[2 * 4 * NAMEDATALEN_MAX + 8];
	PGresult   *res;

	qualified(t->schema, t->name, q, sizeof(q));
	params[0] = q;
	params[3] = t->name;
	/* one statement each, built by the server (format %I); first, a
	 * partition is detached and an inheritance child made standalone: the
	 * dump would otherwise attach the copy to the live parent */
	snprintf(sql, sizeof(sql),
			 "SELECT format('ALTER TABLE %%s DETACH PARTITION %%s', h.inhparent::regclass, to_regclass($1))"
			 " FROM pg_inherits h JOIN pg_class c ON c.oid = h.inhrelid"
			 " WHERE h.inhrelid = to_regclass($1) AND c.relispartition"
			 " UNION ALL SELECT format('ALTER TABLE %%s NO INHERIT %%s', to_regclass($1), h.inhparent::regclass)"
			 " FROM pg_inherits h JOIN pg_class c ON c.oid = h.inhrelid"
			 " WHERE h.inhrelid = to_regclass($1) AND NOT c.relispartition"
			 " UNION ALL SELECT format('ALTER INDEX %%I.%%I RENAME TO %%I', n.nspname, i.relname,"
			 "  left(CASE WHEN left(i.relname, length($4)) = $4 THEN $2 || substr(i.relname, length($4) + 1)"
			 "       ELSE $2 || '_' || i.relname END, 63))"
			 " FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_namespace n ON n.oid = i.relnamespace"
			 " WHERE x.indrelid = to_regclass($1)"
			 " UNION ALL SELECT format('ALTER SEQUENCE %%I.%%I RENAME TO %%I', n.nspname, s.relname,"
			 "  left(CASE WHEN left(s.relname, length($4)) = $4 THEN $2 || substr(s.relname, length($4) + 1)"
			 "       ELSE $2 || '_' || s.relname END, 63))"
			 " FROM pg_depend d JOIN pg_class s ON s.oid = d.objid AND s.relkind = 'S'"
			 " JOIN pg_namespace n ON n.oid = s.relnamespace"
			 " WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass"
			 " AND d.refobjid = to_regclass($1) AND d.deptype IN ('a', 'i')"
			 " UNION ALL SELECT format('ALTER TABLE %%s RENAME TO %%I', $1, $2)"
			 " UNION ALL SELECT format('ALTER TABLE %%I.%%I SET SCHEMA %%I', $5, $2, $3) WHERE $3 <> $5");
	{
		const char *p5[5] = {params[0], params[1], params[2], params[3], t->schema};
		static const Oid text5[5] = {25, 25, 25, 25, 25};	/* text */

		res = PQexecParams(c, sql, 5, text5, p5, NULL, NULL, 0);
	}
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
	{
		err_set(err, PGARK_ERR_DB, 0, "renaming %s.%s in the scratch instance: %s", t->schema, t->name,
				PQerrorMessage(c));
		PQclear(res);
		return -1;
	}
	for (int i = 0; i < PQntuples(res); i++)
	{
		PGresult   *r2 = PQexec(c, PQgetvalue(res, i, 0));

		if (PQresultStatus(r2) != PGRES_COMMAND_OK)
		{
			err_set(err, PGARK_ERR_DB, 0, "renaming %s.%s in the scratch instance (%s): %s", t->schema, t->name,
					PQgetvalue(res, i, 0), PQerrorMessage(c));
			PQclear(r2);
			PQclear(res);
			return -1;
		}
		PQclear(r2);
	}
	PQclear(res);
	return 0;
}

static long long
count_rows(PGconn *c, const char *schema, const char *name, pgark_err *err)
{
	char		q[2 * 4 * NAMEDATALEN_MAX + 8], sql[sizeof(q) + 64];
	char		v[64];

	qualified(schema, name, q, sizeof(q));
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM ONLY %s", q);
	if (query1(c, sql, NULL, NULL, v, sizeof(v), "counting rows", err) != 0)
		return -1;
	return atoll(v);
}

/*
 * Run psql (of the scratch instance's version) against the target: the
 * connection settings go through its environment (PG* variables from the
 * target connection's options), never its arguments, so a password stays
 * out of argv. In one transaction: a failure changes nothing.
 */
static int
psql_into(const scratch *s, PQconninfoOption *opts, const char *dbname, const char *pre_sql, const char *file,
		  const char *post_sql, volatile sig_atomic_t *cancel, pgark_err *err)
{
	char		psql[PATH_MAX + 8], envbuf[48][1100];
	const char *env[50];
	char	   *argv[14];
	int			n = 0, ne = 0, rc;

	snprintf(psql, sizeof(psql), "%s/psql", s->bindir);
	for (PQconninfoOption *o = opts; o->keyword; o++)
		if (o->val && o->val[0] && o->envvar && strcmp(o->keyword, "dbname") != 0)
		{
			/* a setting dropped would connect psql elsewhere, or
			 * differently: an error, never silence */
			if (ne == 46 || (size_t) snprintf(envbuf[ne], sizeof(envbuf[ne]), "%s=%s", o->envvar, o->val) >=
				sizeof(envbuf[ne]))
			{
				for (int i = 0; i <= ne && i < 46; i++)
					secure_zero(envbuf[i], sizeof(envbuf[i]));
				return err_set(err, PGARK_ERR_CONFIG, 0, "--into: connection setting %s is too long (or too many "
							   "settings) to pass to psql", o->keyword);
			}
			env[ne] = envbuf[ne];
			ne++;
		}
	snprintf(envbuf[ne], sizeof(envbuf[ne]), "PGDATABASE=%s", dbname);
	env[ne] = envbuf[ne];
	ne++;
	env[ne++] = "PGAPPNAME=pgark table-restore";
	env[ne] = NULL;
	argv[n++] = psql;
	argv[n++] = (char *) (uintptr_t) "-X";
	argv[n++] = (char *) (uintptr_t) "-q";
	argv[n++] = (char *) (uintptr_t) "-v";
	argv[n++] = (char *) (uintptr_t) "ON_ERROR_STOP=1";
	argv[n++] = (char *) (uintptr_t) "--single-transaction";
	if (pre_sql)
	{
		argv[n++] = (char *) (uintptr_t) "-c";
		argv[n++] = (char *) (uintptr_t) pre_sql;
	}
	argv[n++] = (char *) (uintptr_t) "-f";
	argv[n++] = (char *) (uintptr_t) file;
	if (post_sql)
	{
		argv[n++] = (char *) (uintptr_t) "-c";
		argv[n++] = (char *) (uintptr_t) post_sql;
	}
	argv[n] = NULL;
	rc = scratch_exec(psql, argv, env, -1, cancel, err);
	for (int i = 0; i < 48; i++)
		secure_zero(envbuf[i], sizeof(envbuf[i]));
	if (rc < 0 && cancel && *cancel)
		return err_set(err, PGARK_ERR_INTERNAL, EINTR,
					   "interrupted while restoring into the target database %s: psql was stopped, and its "
					   "transaction rolled back unless its COMMIT had already been sent: check the table%s", dbname,
					   ntables > 1 ? "s" : "");
	if (rc < 0)
		return -1;
	if (rc != 0)
		return err_set(err, PGARK_ERR_DB, 0,
					   "restoring into the target database %s failed (psql exit %d, see its messages above); "
					   "it ran in one transaction: nothing was changed", dbname, rc);
	return 0;
}

/* Append to buf (of len, holding o bytes) or fail: -1 when it does not fit */
static int
sql_add(char *buf, size_t len, size_t *o, const char *text)
{
	size_t		l = strlen(text);

	if (*o + l + 1 > len)
		return -1;
	memcpy(buf + *o, text, l + 1);
	*o += l;
	return 0;
}

/*
 * The statements around the dump in the target's transaction. pre: the
 * replaced tables locked first, and their owned sequences' current values
 * kept (transaction-local settings); post: each of those sequences set to
 * the greater of the value kept and the restored one, so that --replace
 * never moves a sequence backwards (ids handed out after the target may be
 * referenced elsewhere); with --data-only, the table's enabled user
 * triggers disabled in pre and enabled again as they were in post.
 */
static int
transaction_sql(PGconn *c, char *pre, size_t prelen, char *post, size_t postlen, pgark_err *err)
{
	size_t		po = strlen(pre), qo = strlen(post);
	char		set[64];
	int			locks = 0;

	/* the locks first, waiting at most --lock-timeout (the dump's own SET
	 * lock_timeout = 0 comes after): queries queue behind a waiting ACCESS
	 * EXCLUSIVE request */
	snprintf(set, sizeof(set), "SET LOCAL lock_timeout = '%ds';", lock_timeout);
	if (sql_add(pre, prelen, &po, set) != 0)
		return err_set(err, PGARK_ERR_INTERNAL, 0, "transaction SQL too long");
	for (int i = 0; i < ntables; i++)
	{
		char		q[2 * 4 * NAMEDATALEN_MAX + 8];

		if (!tables[i].exists || !opt_replace)
			continue;
		qualified(tables[i].dschema, tables[i].dname, q, sizeof(q));
		if (sql_add(pre, prelen, &po, locks++ ? ", ONLY " : "LOCK TABLE ONLY ") != 0 ||
			sql_add(pre, prelen, &po, q) != 0)
			return err_set(err, PGARK_ERR_INTERNAL, 0, "transaction SQL too long");
	}
	if (locks && sql_add(pre, prelen, &po, " IN ACCESS EXCLUSIVE MODE;") != 0)
		return err_set(err, PGARK_ERR_INTERNAL, 0, "transaction SQL too long");
	for (int i = 0; i < ntables; i++)
	{
		const table *t = &tables[i];
		char		q[2 * 4 * NAMEDATALEN_MAX + 8];
		PGresult   *res;
		const char *params[1] = {q};

		if (!t->exists)
			continue;
		qualified(t->dschema, t->dname, q, sizeof(q));
		if (opt_data_only)
		{
			/* the live table's user triggers must not fire for the rows
			 * loaded (audit rows elsewhere...): disabled for the load and
			 * enabled again as they were, in the transaction; the foreign
			 * key triggers (internal) stay */
			res = PQexecParams(c,
							   "SELECT format('ALTER TABLE %s DISABLE TRIGGER %I;', $1::text, tgname),"
							   " format('ALTER TABLE %s ENABLE %sTRIGGER %I;', $1::text,"
							   " CASE tgenabled WHEN 'A' THEN 'ALWAYS ' WHEN 'R' THEN 'REPLICA ' ELSE '' END, tgname)"
							   " FROM pg_trigger WHERE tgrelid = to_regclass($1) AND NOT tgisinternal AND tgenabled <> 'D'",
							   1, NULL, params, NULL, NULL, 0);
			if (PQresultStatus(res) != PGRES_TUPLES_OK)
			{
				err_set(err, PGARK_ERR_DB, 0, "checking the triggers of %s.%s in the target: %s", t->dschema,
						t->dname, PQerrorMessage(c));
				PQclear(res);
				return -1;
			}
			for (int j = 0; j < PQntuples(res); j++)
				if (sql_add(pre, prelen, &po, PQgetvalue(res, j, 0)) != 0 ||
					sql_add(post, postlen, &qo, PQgetvalue(res, j, 1)) != 0)
				{
					PQclear(res);
					return err_set(err, PGARK_ERR_CONFIG, 0, "table %s.%s: too many triggers", t->dschema, t->dname);
				}
			PQclear(res);
			continue;
		}
		if (!opt_replace)
			continue;
		res = PQexecParams(c,
						   "SELECT format('SELECT set_config(''pgark.seq%s'', coalesce(pg_sequence_last_value(%L::regclass),"
						   " 0)::text, true);', s.oid, format('%I.%I', n.nspname, s.relname)),"
						   " format('SELECT setval(c, v, true) FROM (SELECT c, current_setting(''pgark.seq%s'')::bigint v"
						   " FROM (SELECT to_regclass(%L) c) x WHERE c IS NOT NULL) y"
						   " WHERE v > coalesce(pg_sequence_last_value(c), 0);', s.oid, format('%I.%I', n.nspname, s.relname))"
						   " FROM pg_depend d JOIN pg_class s ON s.oid = d.objid AND s.relkind = 'S'"
						   " JOIN pg_namespace n ON n.oid = s.relnamespace"
						   " WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass"
						   " AND d.refobjid = to_regclass($1) AND d.deptype IN ('a', 'i')",
						   1, NULL, params, NULL, NULL, 0);
		if (PQresultStatus(res) != PGRES_TUPLES_OK)
		{
			err_set(err, PGARK_ERR_DB, 0, "checking the sequences of %s.%s in the target: %s", t->dschema, t->dname,
					PQerrorMessage(c));
			PQclear(res);
			return -1;
		}
		for (int j = 0; j < PQntuples(res); j++)
			if (sql_add(pre, prelen, &po, PQgetvalue(res, j, 0)) != 0 ||
				sql_add(post, postlen, &qo, PQgetvalue(res, j, 1)) != 0)
			{
				PQclear(res);
				return err_set(err, PGARK_ERR_CONFIG, 0, "table %s.%s: too many owned sequences", t->dschema,
							   t->dname);
			}
		PQclear(res);
	}
	return 0;
}

/*
 * The dump's table of contents without its SEQUENCE SET entries into
 * listfile: --data-only must not move the live table's sequences (back to
 * their value at the target; setval is not transactional either).
 */
static int
list_without_setval(scratch *s, const char *dumpfile, const char *listfile, pgark_err *err)
{
	char	   *argv[4] = {(char *) (uintptr_t) "pg_restore", (char *) (uintptr_t) "-l", (char *) (uintptr_t) dumpfile,
	NULL};
	char		line[4096];
	FILE	   *in, *out;
	int			fd, rc;

	if ((fd = open(listfile, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) < 0)
		return err_sys(err, PGARK_ERR_IO, "could not create %s", listfile);
	if ((rc = scratch_run(s, argv, NULL, fd, err)) != 0)
	{
		close(fd);
		return rc < 0 ? -1 : err_set(err, PGARK_ERR_DB, 0, "pg_restore -l could not read the dump (exit %d)", rc);
	}
	if (lseek(fd, 0, SEEK_SET) != 0 || (in = fdopen(fd, "r")) == NULL)
	{
		close(fd);
		return err_sys(err, PGARK_ERR_IO, "could not read %s", listfile);
	}
	{
		char		tmp[PATH_MAX + 32];

		snprintf(tmp, sizeof(tmp), "%s.f", listfile);
		if ((out = fopen(tmp, "wx")) == NULL)
		{
			fclose(in);
			return err_sys(err, PGARK_ERR_IO, "could not create %s", tmp);
		}
		while (fgets(line, sizeof(line), in))
		{
			/* "ID; OID OID DESC SCHEMA NAME OWNER": DESC after two numbers */
			const char *d = strstr(line, "; ");
			int			skip = 0;

			if (line[0] != ';' && d)
			{
				d += 2;
				for (int k = 0; k < 2 && d; k++)
				{
					d += strspn(d, "0123456789");
					d = *d == ' ' ? d + 1 : NULL;
				}
				skip = d && strncmp(d, "SEQUENCE SET ", 13) == 0;
			}
			if (!skip)
				fputs(line, out);
		}
		fclose(in);
		if (fclose(out) != 0 || rename(tmp, listfile) != 0)
			return err_sys(err, PGARK_ERR_IO, "could not write %s", listfile);
	}
	return 0;
}

/* pg_dump -Fc of the tables from the scratch instance into fd, the file
 * named path in messages */
static int
dump_tables(scratch *s, const char *db, int fd, const char *path, pgark_err *err)
{
	struct statvfs sv;

	char	   *argv[8 + 2 * MAX_TABLES];
	char		pats[MAX_TABLES][2 * 4 * NAMEDATALEN_MAX + 8];
	char		envdb[NAMEDATALEN_MAX * 4 + 16];
	const char *env[2] = {envdb, NULL};
	int			n = 0, rc;

	snprintf(envdb, sizeof(envdb), "PGDATABASE=%s", db);
	argv[n++] = (char *) (uintptr_t) "pg_dump";
	argv[n++] = (char *) (uintptr_t) "-Fc";
	argv[n++] = (char *) (uintptr_t) "--strict-names";
	if (opt_data_only)
		argv[n++] = (char *) (uintptr_t) "--data-only";
	if (opt_schema_only)
		argv[n++] = (char *) (uintptr_t) "--schema-only";
	for (int i = 0; i < ntables; i++)
	{
		qualified(tables[i].dschema, tables[i].dname, pats[i], sizeof(pats[i]));
		argv[n++] = (char *) (uintptr_t) "-t";
		argv[n++] = pats[i];
	}
	argv[n] = NULL;
	if ((rc = scratch_run(s, argv, env, fd, err)) < 0)
		return -1;
	/* pg_dump's message does not name the file: a full filesystem is
	 * said here, with the file's name (ENOSPC, exit code of no space) */
	if (rc != 0 && fstatvfs(fd, &sv) == 0 && (uint64_t) sv.f_bavail * sv.f_frsize < 64 * 1024)
	{
		errno = ENOSPC;
		return err_sys(err, PGARK_ERR_NOSPACE, "could not write the dump to %s (pg_dump exit %d)", path, rc);
	}
	if (rc != 0)
		return err_set(err, PGARK_ERR_DB, 0, "pg_dump from the scratch instance failed (exit %d, see its messages "
					   "above)", rc);
	if (fsync(fd) != 0)
		return err_sys(err, PGARK_ERR_IO, "could not sync the dump %s", path);
	return 0;
}

int
main(int argc, char **argv)
{
	static const struct option extra[] = {
		{"table", required_argument, NULL, 't'},
		PROG_TARGET_OPTIONS,
		{"backup", required_argument, NULL, 'b'},
		{"into", required_argument, NULL, 1205},
		{"as", required_argument, NULL, 1206},
		{"data-only", no_argument, NULL, 1207},
		{"schema-only", no_argument, NULL, 1208},
		{"replace", no_argument, NULL, 1209},
		{"output", required_argument, NULL, 'o'},
		{"scratch-dir", required_argument, NULL, 1210},
		{"from-db", required_argument, NULL, 1211},
		{"wait-timeout", required_argument, NULL, 1212},
		{"progress", required_argument, NULL, 1213},
		{"json", no_argument, NULL, 1214},
		{"lock-timeout", required_argument, NULL, 1215},
		{NULL, 0, NULL, 0}
	};
	prog		p = {
		.name = "table-restore",
		.kind = PROG_PLAIN,
		.usage = "--table SCHEMA.NAME... TARGET (--into CONNINFO | --output FILE)",
		.help = "Put tables as they were at a point in time into a live database: a scratch\n"
		"instance is restored and recovered to the target in a private directory, the\n"
		"tables are dumped from it (pg_dump) and restored into the target database in\n"
		"one transaction; the scratch instance is then stopped and removed.\n"
		"\nOptions:\n"
		"  -t, --table SCHEMA.NAME     a table to restore (repeatable; NAME alone: public)\n"
		"      --target-time T         as at time T, with a zone: '2026-11-27 12:00:00+00'\n"
		"      --target-lsn L          as at LSN L\n"
		"      --target-xid X          as after transaction X\n"
		"      --target-name N         as at restore point N\n"
		"      --target immediate      as at the end of the backup\n"
		"                              (one target, or none: the end of the archive)\n"
		"  -b, --backup ID|latest      the backup to start from (default: the newest that\n"
		"                              ended before the target)\n"
		"      --into CONNINFO         the database to restore into (a password belongs in\n"
		"                              ~/.pgpass or PGPASSWORD, not here: ps shows it until\n"
		"                              the program starts and blanks it)\n"
		"      --as [SCHEMA.]NAME      restore the (one) table under this name\n"
		"      --replace               replace an existing table (in one transaction)\n"
		"      --data-only             rows only, into the existing table (added to its rows;\n"
		"                              with --replace, instead of them)\n"
		"      --schema-only           the table's definition only, empty\n"
		"  -o, --output FILE           write the dump (pg_dump -Fc, mode 0600) instead\n"
		"      --from-db NAME          the database in the backup (default: --into's)\n"
		"      --scratch-dir DIR       where to make the scratch instance (default:\n"
		"                              [restore] scratch_dir, SPOOL/scratch, $TMPDIR or /tmp)\n"
		"      --wait-timeout SECS     longest wait for recovery to reach the target (0: none)\n"
		"      --lock-timeout SECS     longest wait for the locks on the tables in the target\n"
		"                              (default 10; 0: no limit): then nothing is changed\n"
		"      --progress=on|off       restore progress on stderr (default: on a terminal)\n"
		"      --json                  print a summary as JSON on stdout",
	};
	pgark_err	err;
	repo	   *r = NULL;
	scratch_opts so;
	scratch    *s = NULL;
	prog_progress pp;
	PGconn	   *target = NULL;
	PQconninfoOption *copts = NULL;
	char		cmd[9 * PATH_MAX], tmpout[PATH_MAX + 32] = "", dumpfile[PATH_MAX + 16], sqlfile[PATH_MAX + 16];
	char		fromdb[NAMEDATALEN_MAX * 4] = "postgres", dbname[NAMEDATALEN_MAX * 4] = "";
	char		what[MAX_TABLES * 140] = "";
	volatile sig_atomic_t *cancel;
	int			rc, fd = -1;

	err_clear(&err);
	if ((rc = prog_start(&p, argc, argv, extra, "t:b:o:", opt)) >= 0)
		return rc;
	if (p.argc != 0)
		return prog_usage_error(&p, "unexpected argument \"%s\"", p.argv[0]);
	if (ntables == 0)
		return prog_usage_error(&p, "--table SCHEMA.NAME is required");
	if (!opt_into == !opt_output)
		return prog_usage_error(&p, "give one of --into CONNINFO or --output FILE");
	if (opt_as && ntables != 1)
		return prog_usage_error(&p, "--as names one table: give one --table with it");
	if (opt_data_only && opt_schema_only)
		return prog_usage_error(&p, "--data-only and --schema-only exclude each other");
	if (opt_schema_only && opt_replace)
		return prog_usage_error(&p, "--schema-only with --replace would replace the table with an empty one: "
								"use --as NEW_NAME");
	if (opt_output && (opt_replace || opt_as))
		return prog_usage_error(&p, "--output writes the dump only: --as and --replace are for --into");
	for (int i = 0; i < ntables; i++)
	{
		table	   *t = &tables[i];

		memcpy(t->dschema, t->schema, sizeof(t->dschema));
		memcpy(t->dname, t->name, sizeof(t->dname));
		if (opt_as)
		{
			if (strchr(opt_as, '.') == NULL && strlen(opt_as) < NAMEDATALEN_MAX && opt_as[0])
				snprintf(t->dname, sizeof(t->dname), "%s", opt_as);
			else if (split_name(opt_as, t->dschema, t->dname) != 0)
				return prog_usage_error(&p, "--as \"%s\": expected NAME or SCHEMA.NAME", opt_as);
			if (strcmp(t->dschema, t->schema) == 0 && strcmp(t->dname, t->name) == 0)
				return prog_usage_error(&p, "--as names the table itself: use --replace");
		}
		for (int j = 0; j < i; j++)
			if (strcmp(tables[j].schema, t->schema) == 0 && strcmp(tables[j].name, t->name) == 0)
				return prog_usage_error(&p, "--table %s.%s given twice", t->schema, t->name);
		{
			size_t		w = strlen(what);

			if ((size_t) snprintf(what + w, sizeof(what) - w, "%s%s.%s", i ? "," : "", t->schema, t->name) >=
				sizeof(what) - w)
				return prog_usage_error(&p, "too many --table");
		}
	}
	if ((rc = prog_load_config(&p, &err)) >= 0)
		return rc;
	if (prog_restore_command(&p, cmd, sizeof(cmd), &err) != 0)
		return prog_fail(&p, &err);

	/* the target first: a refusal costs no restore */
	if (opt_into)
	{
		char	   *perr = NULL;

		if ((copts = PQconninfoParse(opt_into, &perr)) == NULL)
		{
			/* libpq's message would quote the string, which may hold a password */
			PQfreemem(perr);
			return prog_usage_error(&p, "--into: not a connection string (key=value ... or a postgresql:// URI)");
		}
		PQconninfoFree(copts);
		target = PQconnectdb(opt_into);
		if (PQstatus(target) != CONNECTION_OK)
		{
			err_set(&err, PGARK_ERR_DB, 0, "could not connect to the target database (--into): %s",
					PQerrorMessage(target));
			copts = NULL;
			goto fail;
		}
		/* what the connection really used, defaults and PG* variables
		 * included: psql gets the same */
		if ((copts = PQconninfo(target)) == NULL)
		{
			err_set(&err, PGARK_ERR_INTERNAL, 0, "out of memory");
			goto fail;
		}
		/* what psql_into cannot pass is found now, before any work */
		{
			int			ne = 0;

			for (PQconninfoOption *o = copts; o->keyword; o++)
				if (o->val && o->val[0] && o->envvar && strcmp(o->keyword, "dbname") != 0 &&
					(++ne > 46 || strlen(o->envvar) + strlen(o->val) + 2 > 1100))
				{
					err_set(&err, PGARK_ERR_CONFIG, 0, "--into: connection setting %s is too long (or too many "
							"settings) to pass to psql", o->keyword);
					goto fail;
				}
		}
		snprintf(dbname, sizeof(dbname), "%s", PQdb(target));
		snprintf(fromdb, sizeof(fromdb), "%s", dbname);
		if (check_target(target, &err) != 0 ||
			transaction_sql(target, txpre, sizeof(txpre), txpost, sizeof(txpost), &err) != 0)
			goto fail;
	}
	if (opt_from_db)
		snprintf(fromdb, sizeof(fromdb), "%s", opt_from_db);
	if (opt_output)
	{
		char		dir[PATH_MAX];

		path_dirname(opt_output, dir, sizeof(dir));
		if (access(opt_output, F_OK) == 0 || errno != ENOENT)
		{
			err_set(&err, PGARK_ERR_EXISTS, 0, "--output %s: the file exists (it is never replaced): remove it or "
					"give another name", opt_output);
			goto fail;
		}
		if ((size_t) snprintf(tmpout, sizeof(tmpout), "%s.tmp.%ld", opt_output, (long) getpid()) >= sizeof(tmpout))
			return prog_usage_error(&p, "--output: path too long");
		if ((fd = open(tmpout, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) < 0)
		{
			err_sys(&err, PGARK_ERR_IO, "could not create %s", tmpout);
			tmpout[0] = '\0';
			goto fail;
		}
	}

	cancel = prog_catch_signals();
	if ((r = repo_open(&p.cfg, &err)) == NULL)
		goto fail;
	scratch_opts_init(&so);
	so.parent_dir = opt_scratch_dir;
	so.ro = ro;
	so.ro.restore_command = cmd;
	so.wait_timeout = wait_timeout;
	so.cancel = cancel;
	prog_progress_init(&pp, "table-restore", opt_progress);
	so.progress = pp.enabled ? prog_progress_cb : NULL;
	so.progress_arg = &pp;
	rc = scratch_start(r, &so, &s, &err);
	prog_progress_end(&pp);
	if (rc != 0)
		goto fail;
	if (s->res.warning[0])
		log_warning("%s", s->res.warning);
	if (s->sweep_warning[0])
		log_warning("%s", s->sweep_warning);
	log_info("scratch instance of backup %s recovered in %s (%.1f s restore, %.1f s replay)", s->res.backup_id,
			 s->dir, s->restore_seconds, s->replay_seconds);

	/* in the scratch instance: the names, and the rows as at the target */
	{
		PGconn	   *c = scratch_connect(s, fromdb, 30);

		if (PQstatus(c) != CONNECTION_OK)
		{
			err_set(&err, PGARK_ERR_DB, 0, "database \"%s\" of the backup (--from-db): %s", fromdb,
					PQerrorMessage(c));
			PQfinish(c);
			goto fail;
		}
		for (int i = 0; i < ntables; i++)
		{
			char		q[2 * 4 * NAMEDATALEN_MAX + 8], v[8];
			table	   *t = &tables[i];

			qualified(t->schema, t->name, q, sizeof(q));
			if (query1(c, "SELECT to_regclass($1) IS NOT NULL", q, NULL, v, sizeof(v), "scratch instance", &err) != 0)
			{
				PQfinish(c);
				goto fail;
			}
			if (strcmp(v, "t") != 0)
			{
				err_set(&err, PGARK_ERR_NOTFOUND, 0, "table %s.%s did not exist in database %s at the target "
						"(%s; backup %s)", t->schema, t->name, fromdb,
						ro.target_value ? ro.target_value : "the end of the archive", s->res.backup_id);
				PQfinish(c);
				goto fail;
			}
			/* the rows dumped (the table's own: pg_dump -t dumps no
			 * partitions or children) are the rows restored: counted here,
			 * not in the target, where a failure after the commit would
			 * report a committed restore as failed */
			if ((opt_as && rename_in_scratch(c, t, &err) != 0) ||
				(t->rows = opt_schema_only ? 0 : count_rows(c, t->dschema, t->dname, &err)) < 0)
			{
				PQfinish(c);
				goto fail;
			}
		}
		PQfinish(c);
	}

	if (opt_output)
	{
		char		dir[PATH_MAX];

		if (dump_tables(s, fromdb, fd, opt_output, &err) != 0)
			goto fail;
		if (close(fd) != 0)
		{
			fd = -1;
			err_sys(&err, PGARK_ERR_IO, "could not write the dump to %s", opt_output);
			goto fail;
		}
		fd = -1;
		path_dirname(opt_output, dir, sizeof(dir));
		/* link, not rename: a file made there meanwhile is not replaced */
		if (link(tmpout, opt_output) != 0)
		{
			err_sys(&err, errno == EEXIST ? PGARK_ERR_EXISTS : PGARK_ERR_IO, "could not create %s", opt_output);
			goto fail;
		}
		(void) unlink(tmpout);
		tmpout[0] = '\0';
		if (fsync_dir(dir, &err) != 0)
		{
			err_prefix(&err, "%s exists, complete, but its directory entry may not be durable (a crash now "
					   "may lose it)", opt_output);
			goto fail;
		}
	}
	else
	{
		char		listfile[PATH_MAX + 16];
		char	   *rargv[12];
		int			n = 0;

		if ((size_t) snprintf(dumpfile, sizeof(dumpfile), "%s/tables.dump", s->dir) >= sizeof(dumpfile) ||
			(size_t) snprintf(sqlfile, sizeof(sqlfile), "%s/tables.sql", s->dir) >= sizeof(sqlfile) ||
			(size_t) snprintf(listfile, sizeof(listfile), "%s/tables.list", s->dir) >= sizeof(listfile))
		{
			err_set(&err, PGARK_ERR_CONFIG, 0, "scratch directory %s: path too long", s->dir);
			goto fail;
		}
		if ((fd = open(dumpfile, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) < 0)
		{
			err_sys(&err, PGARK_ERR_IO, "could not create %s", dumpfile);
			goto fail;
		}
		if (dump_tables(s, fromdb, fd, dumpfile, &err) != 0)
			goto fail;
		if (close(fd) != 0)
		{
			fd = -1;
			err_sys(&err, PGARK_ERR_IO, "could not write the dump to %s", dumpfile);
			goto fail;
		}
		fd = -1;
		/* the SQL of the dump (pg_restore converts; it connects nowhere) */
		rargv[n++] = (char *) (uintptr_t) "pg_restore";
		if (opt_replace && !opt_data_only)
		{
			rargv[n++] = (char *) (uintptr_t) "--clean";
			rargv[n++] = (char *) (uintptr_t) "--if-exists";
		}
		if (opt_data_only)
		{
			if (list_without_setval(s, dumpfile, listfile, &err) != 0)
				goto fail;
			rargv[n++] = (char *) (uintptr_t) "-L";
			rargv[n++] = listfile;
		}
		rargv[n++] = (char *) (uintptr_t) "-f";
		rargv[n++] = sqlfile;
		rargv[n++] = dumpfile;
		rargv[n] = NULL;
		if ((rc = scratch_run(s, rargv, NULL, -1, &err)) < 0)
			goto fail;
		if (rc != 0)
		{
			err_set(&err, PGARK_ERR_DB, 0, "pg_restore could not read the dump (exit %d)", rc);
			goto fail;
		}
		if (opt_replace && opt_data_only)
		{
			size_t		o = strlen(txpre);

			o += (size_t) snprintf(txpre + o, sizeof(txpre) - o, "TRUNCATE TABLE ");

			for (int i = 0; i < ntables; i++)
			{
				char		q[2 * 4 * NAMEDATALEN_MAX + 8];

				qualified(tables[i].dschema, tables[i].dname, q, sizeof(q));
				o += (size_t) snprintf(txpre + o, sizeof(txpre) - o, "%sONLY %s", i ? ", " : "", q);
			}
			snprintf(txpre + o, sizeof(txpre) - o, ";");
		}
		if (psql_into(s, copts, dbname, txpre[0] ? txpre : NULL, sqlfile, txpost[0] ? txpost : NULL, cancel, &err) != 0)
			goto fail;
		/* committed: nothing after this may fail the run */
	}

	{
		uint64_t	total = 0;

		for (int i = 0; i < ntables; i++)
		{
			const table *t = &tables[i];

			total += (uint64_t) t->rows;
			if (opt_output)
				log_info("%s.%s: %lld rows as at %s, in %s", t->schema, t->name, t->rows,
						 ro.target_value ? ro.target_value : "the end of the archive", opt_output);
			else
				log_info("%s.%s restored into %s as %s.%s: %lld rows as at %s%s", t->schema, t->name, dbname,
						 t->dschema, t->dname, t->rows, ro.target_value ? ro.target_value : "the end of the archive",
						 opt_data_only && !opt_replace ? " added" : "");
		}
		prog_audit(&p, "table-restore", what, "ok", opt_output ? opt_output : dbname, total, 0);
		if (opt_json)
		{
			printf("{\"backup_id\":\"%s\",\"restore_seconds\":%.3f,\"replay_seconds\":%.3f,\"tables\":[",
				   s->res.backup_id, s->restore_seconds, s->replay_seconds);
			for (int i = 0; i < ntables; i++)
			{
				char		j[4][6 * NAMEDATALEN_MAX + 8];

				json_escape(tables[i].schema, j[0], sizeof(j[0]));
				json_escape(tables[i].name, j[1], sizeof(j[1]));
				json_escape(tables[i].dschema, j[2], sizeof(j[2]));
				json_escape(tables[i].dname, j[3], sizeof(j[3]));
				printf("%s{\"table\":\"%s.%s\",\"restored_as\":\"%s.%s\",\"rows_restored\":%lld}", i ? "," : "",
					   j[0], j[1], j[2], j[3], tables[i].rows);
			}
			printf("],\"duration_ms\":%.0f}\n", now_ms() - p.t0);
		}
	}
	rc = scratch_stop(s, &err);
	s = NULL;
	if (rc != 0)
		log_warning("%s", err.msg);
	PQfinish(target);
	PQconninfoFree(copts);
	repo_close(r);
	return prog_success(&p);

fail:
	if (fd >= 0)
		close(fd);
	if (tmpout[0])
		(void) unlink(tmpout);
	{
		pgark_err	e2;

		err_clear(&e2);
		if (scratch_stop(s, &e2) != 0)
			log_warning("%s", e2.msg);
	}
	PQfinish(target);
	PQconninfoFree(copts);
	if (r)
		repo_close(r);
	prog_audit(&p, "table-restore", what, err_kind_name(err.kind), err.msg, 0, 0);
	return prog_fail(&p, &err);
}
