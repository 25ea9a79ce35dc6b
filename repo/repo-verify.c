/*
 * repo-verify — check that backups restore: every chunk of a backup read,
 * decrypted and checked against its id; the WAL from each checked backup's
 * start to the newest archived segment present (following timeline
 * switches), and with --wal decrypted and checked too. Every problem names
 * the backup, file, pack or segment. Exit 0: all checked and sound; 1: a
 * problem found, or verification could not be completed. The result is
 * recorded in the repository as status/verify, for repo-check.
 *
 * --restore-drill: restore a backup on a scratch instance (lib/scratch.h),
 * replay to the end of the archive, run pg_amcheck on every database and a
 * query in each; report the RTO and the WAL replayed; recorded as
 * status/drill.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/wait.h>

#include <libpq-fe.h>

#include "dump.h"
#include "inventory.h"
#include "manifest.h"
#include "prog.h"
#include "repo.h"
#include "scratch.h"
#include "status.h"
#include "util.h"
#include "verify.h"
#include "wal.h"
#include "walarchive.h"

static const char *opt_backup, *opt_scratch_dir, *opt_progress;
static int	opt_all, opt_wal, opt_json, opt_drill;

static int
opt(prog *p, int c, const char *arg)
{
	switch (c)
	{
		case 'b':
			opt_backup = arg;
			break;
		case 1100:
			opt_all = 1;
			break;
		case 1101:
			opt_wal = 1;
			break;
		case 1102:
			opt_json = 1;
			break;
		case 1103:
			opt_drill = 1;
			break;
		case 1104:
			if (arg[0] == '\0')
				return prog_usage_error(p, "--scratch-dir needs a directory");
			opt_scratch_dir = arg;
			break;
		case 1105:
			opt_progress = arg;
			break;
		default:
			return prog_usage_error(p, "unknown option");
	}
	return -1;
}

/* the problems of one section, kept for --json and counted */
typedef struct problems
{
	char	  **msg;
	size_t		n, cap;
} problems;

static void
on_problem_quiet(problems *ps, const char *what)
{
	if (ps->n == ps->cap)
	{
		size_t		cap = ps->cap ? ps->cap * 2 : 16;
		char	  **m = realloc(ps->msg, cap * sizeof(*m));

		if (m == NULL)
			return;				/* counted by the caller all the same */
		ps->msg = m;
		ps->cap = cap;
	}
	if ((ps->msg[ps->n] = strdup(what)) != NULL)
		ps->n++;
}

static void
on_problem(void *arg, const char *what)
{
	if (!opt_json)
		printf("    ! %s\n", what);
	log_debug("%s", what);
	on_problem_quiet(arg, what);
}

static void
problems_json(const problems *ps)
{
	printf("[");
	for (size_t i = 0; i < ps->n; i++)
	{
		char		esc[2048 * 6];

		json_escape(ps->msg[i], esc, sizeof(esc));
		printf("%s\"%s\"", i ? "," : "", esc);
	}
	printf("]");
}

/* status/verify for repo-check; a failure to record it is only a warning
 * (repo-check then finds the previous record too old) */
/*
 * The backups found damaged and not checked sound since: the previous
 * record's (those still in the repository and not checked by this run) and
 * this run's. A run that checks only the newest backup must not clear what
 * an --all run found in an older one.
 */
static char damaged_now[1024];	/* this run's, space-separated */
static char damaged_all[1024];
/* dumps ("dumps/<dir>/<id>" in the lists): what dumps/ holds, which were checked */
static dump_list dumps;
static char *dump_checked;
static int	ndumps_checked;

/*
 * everything: this run checked every backup and every dump (--all, without
 * --backup, to its end): the previous record's "+N" (damaged ids that did
 * not fit, unknown) is over; otherwise it is carried, never lost.
 */
static void
carry_damage(repo *r, const repo_inventory *inv, const char *const *checked, size_t nchecked_ids, int everything)
{
	status_rec	prev;
	pgark_err	err;
	char		buf[sizeof(prev.damaged)], *save = NULL;

	snprintf(damaged_all, sizeof(damaged_all), "%s", damaged_now);
	err_clear(&err);
	if (status_read(r, "verify", &prev, &err) != 0)
		return;
	/* the previous run's unlisted items are most likely this run's own
	 * again: the larger count, not the sum (which grew run after run) */
	if (!everything && status_damaged_more(prev.damaged) > status_damaged_more(damaged_all))
		status_damaged_add_more(damaged_all, sizeof(damaged_all),
								status_damaged_more(prev.damaged) - status_damaged_more(damaged_all));
	snprintf(buf, sizeof(buf), "%s", prev.damaged);
	for (char *id = strtok_r(buf, " ", &save); id; id = strtok_r(NULL, " ", &save))
	{
		int			exists = 0, rechecked = 0;

		for (size_t i = 0; i < inv->nbackups; i++)
			exists |= strcmp(inv->backups[i].id, id) == 0;
		for (size_t i = 0; i < nchecked_ids; i++)
			rechecked |= strcmp(checked[i], id) == 0;
		for (size_t i = 0; i < dumps.n; i++)
		{
			char		name[512];

			snprintf(name, sizeof(name), "%s%s/%s", DUMP_PREFIX, dumps.e[i].dir, dumps.e[i].id);
			if (strcmp(name, id) == 0 && dumps.e[i].has_meta)
			{
				exists = 1;
				rechecked |= dump_checked && dump_checked[i];
			}
		}
		if (exists && !rechecked)
			status_damaged_add(damaged_all, sizeof(damaged_all), id);
	}
}

static void
record(repo *r, const char *result, int nchecked, int64_t nproblems, const char *detail)
{
	status_rec	rec;
	pgark_err	err;

	memset(&rec, 0, sizeof(rec));
	snprintf(rec.damaged, sizeof(rec.damaged), "%s", damaged_all);
	rec.time = (int64_t) time(NULL);
	snprintf(rec.result, sizeof(rec.result), "%s", result);
	snprintf(rec.checked, sizeof(rec.checked), "backups=%d scope=%s wal=%s dumps=%d", nchecked,
			 opt_all ? "all" : opt_backup ? "one" : "newest", opt_wal ? "decrypted" : "present", ndumps_checked);
	rec.problems = nproblems;
	snprintf(rec.detail, sizeof(rec.detail), "%s", detail ? detail : "");
	if (status_write(r, "verify", &rec, &err) != 0)
		log_warning("%s", err.msg);
}

static void
problems_free(problems *ps)
{
	for (size_t i = 0; i < ps->n; i++)
		free(ps->msg[i]);
	free(ps->msg);
	memset(ps, 0, sizeof(*ps));
}

/* ---- --restore-drill */

/*
 * The drill's verdict is recorded (status/drill) when it concerns the
 * backup: restored and checked (ok), or the backup, its WAL or the database
 * it restores to found wanting (failed). A drill that could not run for
 * another reason (interrupted, no space for the scratch directory, the
 * repository unreachable, no server binaries, a usage or configuration
 * error) records nothing: repo-check then sees the previous drill grow old.
 */
static int
drill_blames_backup(pgark_errkind k)
{
	switch (k)
	{
		case PGARK_ERR_CORRUPT:
		case PGARK_ERR_NOTFOUND:
		case PGARK_ERR_MISMATCH:
		case PGARK_ERR_CONFLICT:
		case PGARK_ERR_BADNAME:
		case PGARK_ERR_DB:
			return 1;
		default:
			return 0;
	}
}

/*
 * Whether the drill is being stopped (SIGINT/SIGTERM; systemd signals the
 * whole unit, the server and pg_amcheck included, so whatever failed just
 * before may be our own doing): then err says "interrupted" and nothing is
 * recorded. Checked before every verdict.
 */
static int
drill_cancelled(volatile sig_atomic_t *cancel, pgark_err *err)
{
	if (cancel == NULL || *cancel == 0)
		return 0;
	err_set(err, PGARK_ERR_INTERNAL, EINTR, "interrupted");
	return 1;
}

/* the words of a failure of this host (drill_host_problem) in s */
static int
drill_host_words(const char *s)
{
	static const char *const host[] = {
		"No space left on device", "Disk quota exceeded", "out of memory", "Cannot allocate memory",
		"could not create shared memory segment", "could not map anonymous shared memory", "huge pages",
		"could not create semaphores", "could not create lock file", "could not create any", "could not bind",
		"Too many open files", "too many open files", "Permission denied", "stopped (signal 9)",
		"terminated by signal", "to connect as", "could not load library",
		"extension \"amcheck\" is not available", "could not open extension control file", "command not found",
	};

	for (size_t i = 0; i < sizeof(host) / sizeof(host[0]); i++)
		if (strstr(s, host[i]) != NULL)
			return 1;
	return 0;
}

/* Is l (a line of the scratch server's log tail, its prefix removed) the
 * server's own message, rather than what a program it ran (wal-fetch, the
 * shell) wrote to its stderr? */
static int
drill_server_line(const char *l)
{
	static const char *const level[] = {"LOG:", "FATAL:", "PANIC:", "ERROR:", "WARNING:", "DETAIL:", "HINT:",
		"CONTEXT:", "STATEMENT:"};

	for (size_t i = 0; i < sizeof(level) / sizeof(level[0]); i++)
		if (strncmp(l, level[i], strlen(level[i])) == 0)
			return 1;
	return 0;
}

/*
 * A failure of this host, not of the backup (README, "What is recorded"):
 * the server could not get its resources (disk space, memory, shared
 * memory, huge pages, sockets, files, the lock file), was killed by SIGKILL
 * (the OOM killer) or its restore_command by a signal, found no role to
 * connect as, or a program or the amcheck extension is missing here. Such a
 * drill records nothing. A recovery FATAL about a missing or corrupt WAL
 * record, or a database refusing queries for another reason, stays the
 * backup's. Of the server's log tail ("... log ends: line|line") only the
 * server's own lines count: wal-fetch's warnings there (its audit log or
 * alert failing, "Permission denied") say nothing of why replay stopped.
 */
static int
drill_host_problem(const char *msg)
{
	static const char ends[] = "log ends: ";
	char		buf[sizeof(((pgark_err *) 0)->msg)];
	const char *t = strstr(msg, ends), *l;
	size_t		o;

	if (t == NULL)
		return drill_host_words(msg);
	t += sizeof(ends) - 1;
	o = (size_t) (t - msg) < sizeof(buf) - 1 ? (size_t) (t - msg) : sizeof(buf) - 1;
	memcpy(buf, msg, o);
	buf[o] = '\0';
	for (l = t; *l; l += strcspn(l, "|"), l += *l == '|')
	{
		size_t		n = strcspn(l, "|");

		if (drill_server_line(l) && o + n + 2 < sizeof(buf))
		{
			buf[o++] = '|';
			memcpy(buf + o, l, n);
			o += n;
			buf[o] = '\0';
		}
	}
	return drill_host_words(buf);
}

/* wal-fetch's own error in the server's log tail of msg ("wal-fetch:
 * ERROR: ..." up to the next line), into out; "" if none */
static void
drill_fetch_error(const char *msg, char *out, size_t outlen)
{
	static const char tag[] = "wal-fetch: ERROR: ";
	const char *p = strstr(msg, tag);

	out[0] = '\0';
	if (p != NULL)
	{
		p += sizeof(tag) - 1;
		snprintf(out, outlen, "%.*s", (int) strcspn(p, "|"), p);
	}
}

/*
 * The scratch server stopped because its restore_command (our wal-fetch)
 * failed on a WAL file with EXIT_FETCH_FATAL, which is anything but "not in
 * the repository": the file corrupt or of another cluster (the archive's
 * fault, so the backup's verdict), or the store unreachable, timed out, no
 * space here (not the backup's). Which one is asked again here, by reading
 * that file from the repository and verifying it as wal-fetch does (nothing
 * written), before anything else of the message is looked at. Only the file found damaged (corrupt, of
 * another cluster, a bad name) is the backup's: a file not in the repository
 * is one PostgreSQL asks for although it normally is not there (the next
 * timeline's history, the segment after the archive's last), on which the
 * store failed; a real gap makes wal-fetch exit 1, not EXIT_FETCH_FATAL, and
 * is the WAL reach check's. 1 = not the backup's (err replaced, saying why),
 * 0 = the backup's (err kept), -1 = not such a failure (err kept).
 */
static int
drill_fetch_not_backups(repo *r, volatile sig_atomic_t *cancel, pgark_err *err)
{
	static const char needle[] = "could not restore file \"";
	static const char not_ours[] = "not recorded (a problem of the repository's store or of this host, not of "
		"the backup)";
	const char *p = strstr(err->msg, needle), *q;
	char		name[64], code[64], said[400];
	walname		wn;
	pgark_err	e;
	int			rc;

	if (p == NULL)
		return -1;
	p += sizeof(needle) - 1;
	if ((q = strchr(p, '"')) == NULL || (size_t) (q - p) >= sizeof(name))
		return -1;
	snprintf(name, sizeof(name), "%.*s", (int) (q - p), p);
	snprintf(code, sizeof(code), "exited with exit code %d", EXIT_FETCH_FATAL);
	err_clear(&e);
	if (strstr(q, code) == NULL || walname_parse(name, &wn, &e) != 0)
		return -1;
	drill_fetch_error(err->msg, said, sizeof(said));
	rc = wal_verify_object(r, &wn, cancel, &e);
	if (drill_cancelled(cancel, err))
		return 1;
	if (rc == 0)
	{
		err_set(err, PGARK_ERR_TRANSIENT, 0, "%s: replay stopped when wal-fetch could not fetch %s, which "
				"fetches now%s%.400s%s", not_ours, name, said[0] ? " (wal-fetch said: " : "", said,
				said[0] ? ")" : "");
		return 1;
	}
	if (e.kind == PGARK_ERR_CORRUPT || e.kind == PGARK_ERR_MISMATCH || e.kind == PGARK_ERR_BADNAME)
		return 0;
	if (e.kind == PGARK_ERR_NOTFOUND)
		err_set(err, PGARK_ERR_TRANSIENT, 0, "%s: replay stopped when wal-fetch could not fetch %s%s%.400s, a "
				"file that is not in the repository (PostgreSQL asks for some that normally are not there): "
				"the store failed on it", not_ours, name, said[0] ? ": " : "", said);
	else
		err_set(err, e.kind, e.sys_errno, "%s: replay stopped when wal-fetch could not fetch %s: %s", not_ours,
				name, e.msg);
	return 1;
}

#define DRILL_MAX_DBS 4096

typedef struct drill
{
	char		backup[64];
	double		rto, restore_s, replay_s;	/* rto = restore_s + replay_s */
	double		prepare_s;		/* before the restore (cleanup, disk check, binaries, manifest)
								 * and between the phases: not in the RTO */
	double		check_s;		/* the queries and pg_amcheck */
	uint64_t	start_lsn, end_lsn, wal_bytes;
	int			ndb, ndb_failed;
	int64_t		corruptions;
	int			amcheck_rc;
	char		wal_to[48];		/* the newest archived segment the backup reaches */
	int			wal_short;		/* replay ended before it */
	char		detail[sizeof(((status_rec *) 0)->detail)];
	/* the backups whose drill failed and that no drill of them or of a newer
	 * backup has passed since, for either verdict of this drill */
	char		failed_if_ok[sizeof(((status_rec *) 0)->damaged)];
	char		failed_if_failed[sizeof(((status_rec *) 0)->damaged)];
	problems	dbs;			/* "name" of each database queried */
	problems	db_fail;		/* "name: message" of each that failed */
	problems	found;			/* pg_amcheck's findings, the first DRILL_KEEP */
} drill;

#define DRILL_KEEP 20
#define DRILL_ECHO_LINES 200	/* of pg_amcheck's output, on stderr */

static void
detail_add(char *d, size_t len, const char *what)
{
	size_t		used = strlen(d);

	if (used + 3 < len)
		snprintf(d + used, len - used, "%s%s", used ? "; " : "", what);
}

/* one query in database db (scratch_connect: s->user, s->options, every
 * routing parameter given): 0, or -1 with the server's message in msg */
static int
drill_query(const scratch *s, const char *db, const char *sql, char *out, size_t outlen, char *msg,
			size_t msglen)
{
	PGconn	   *c;
	PGresult   *res;
	int			rc = -1;

	if (out && outlen)
		out[0] = '\0';
	c = scratch_connect(s, db, 30);
	if (c == NULL || PQstatus(c) != CONNECTION_OK)
	{
		snprintf(msg, msglen, "%s", c ? PQerrorMessage(c) : "out of memory");
		PQfinish(c);
		return -1;
	}
	res = PQexec(c, sql);
	if (PQresultStatus(res) == PGRES_TUPLES_OK)
	{
		if (out && outlen && PQntuples(res) > 0)
			snprintf(out, outlen, "%s", PQgetvalue(res, 0, 0));
		rc = 0;
	}
	else
		snprintf(msg, msglen, "%s", PQerrorMessage(c));
	PQclear(res);
	PQfinish(c);
	{
		char	   *nl;

		while ((nl = strchr(msg, '\n')) != NULL)
			*nl = ' ';
	}
	return rc;
}

/* the databases that allow connections, into d->dbs (a bounded number) */
static int
drill_databases(scratch *s, drill *d, pgark_err *err)
{
	PGconn	   *c = scratch_connect(s, "postgres", 30);
	PGresult   *res;

	if (c == NULL || PQstatus(c) != CONNECTION_OK)
	{
		err_set(err, PGARK_ERR_DB, 0, "the restored server does not accept connections: %s",
				c ? PQerrorMessage(c) : "out of memory");
		PQfinish(c);
		return -1;
	}
	res = PQexec(c, "SELECT datname FROM pg_database WHERE datallowconn ORDER BY datname");
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
	{
		err_set(err, PGARK_ERR_DB, 0, "listing the databases of the restored server: %s", PQerrorMessage(c));
		PQclear(res);
		PQfinish(c);
		return -1;
	}
	for (int i = 0; i < PQntuples(res) && i < DRILL_MAX_DBS; i++)
		on_problem_quiet(&d->dbs, PQgetvalue(res, i, 0));
	PQclear(res);
	PQfinish(c);
	return 0;
}

/*
 * pg_amcheck --all (heap and btree, installing amcheck where missing: the
 * scratch instance is thrown away) with its output into a temporary file,
 * read back a line at a time: a finding is a line that does not start with
 * a blank and ends with ':' (`heap table "db.schema.rel", block 0, offset
 * 3:`), its message the indented line after it. Kept: the first finding of
 * each of the first DRILL_KEEP relations, and how many more it has.
 */
static void
drill_finding(drill *d, const char *head, const char *msg, size_t *more)
{
	const char *q = strchr(head, '"');
	size_t		keylen;
	char		what[3072];

	/* the relation: up to the closing quote of its name */
	q = q ? strchr(q + 1, '"') : NULL;
	keylen = q ? (size_t) (q - head) + 1 : strlen(head);
	for (size_t i = 0; i < d->found.n; i++)
		if (strncmp(d->found.msg[i], head, keylen) == 0)
		{
			more[i]++;
			return;
		}
	if (d->found.n >= DRILL_KEEP)
		return;
	snprintf(what, sizeof(what), "%s: %s", head, msg);
	on_problem_quiet(&d->found, what);
}

static int
drill_amcheck(scratch *s, drill *d, pgark_err *err)
{
	char		path[PATH_MAX + 32], line[1024], head[1024] = "";
	char	   *argv[5];
	size_t		more[DRILL_KEEP] = {0}, nlines = 0;
	FILE	   *f;
	int			rc;

	snprintf(path, sizeof(path), "%s/pg_amcheck", s->bindir);
	argv[0] = (char *) "/bin/sh";
	argv[1] = (char *) "-c";
	argv[2] = (char *) "exec \"$0\" --all --install-missing 2>&1";
	argv[3] = path;
	argv[4] = NULL;
	if ((f = tmpfile()) == NULL)
		return err_sys(err, PGARK_ERR_IO, "could not create a temporary file for pg_amcheck's output");
	rc = scratch_run(s, argv, NULL, fileno(f), err);
	if (rc < 0)
	{
		fclose(f);
		return err_prefix(err, "running %s", path);
	}
	if (rc == 128 + SIGTERM || rc == 128 + SIGINT)
	{
		/* stopped with us (systemd signals the whole unit): no verdict */
		fclose(f);
		return err_set(err, PGARK_ERR_INTERNAL, EINTR, "interrupted: %s was killed by signal %d", path, rc - 128);
	}
	d->amcheck_rc = rc;
	if (rc == 126 || rc == 127)
	{
		/* the shell could not run it: this host's installation */
		fclose(f);
		return err_set(err, PGARK_ERR_CONFIG, 0, "%s could not be run (exit %d: %s); install the server's "
					   "contrib programs (pg_amcheck) of version %d", path, rc, rc == 127 ? "not found" :
					   "not executable", s->pg_version);
	}
	rewind(f);
	while (fgets(line, sizeof(line), f) != NULL)
	{
		size_t		n = strcspn(line, "\n");

		if (line[n] != '\n' && !feof(f))
		{
			int			ch;			/* the rest of a long line is skipped */

			while ((ch = fgetc(f)) != EOF && ch != '\n')
				;
		}
		line[n] = '\0';
		if (!opt_json && nlines++ < DRILL_ECHO_LINES)
			fprintf(stderr, "    %s\n", line);
		if (line[0] != ' ' && line[0] != '\t' && n > 0 && line[n - 1] == ':')
		{
			snprintf(head, sizeof(head), "%.*s", (int) (n - 1), line);
			d->corruptions++;
		}
		else if (head[0] && (line[0] == ' ' || line[0] == '\t'))
		{
			drill_finding(d, head, line + strspn(line, " \t"), more);
			head[0] = '\0';		/* its first message line only */
		}
		else if (rc != 0 && strncmp(line, "pg_amcheck:", 11) == 0)
		{
			if (drill_host_problem(line))
			{
				/* the amcheck extension missing here, no space ... */
				fclose(f);
				return err_set(err, PGARK_ERR_CONFIG, 0, "%s could not check the instance, a problem of this "
							   "host (the amcheck extension is in the server's contrib package): %s", path, line);
			}
			if (d->found.n < DRILL_KEEP)
				on_problem_quiet(&d->found, line);
		}
	}
	fclose(f);
	if (!opt_json && nlines > DRILL_ECHO_LINES)
		fprintf(stderr, "    ... (%zu more lines of pg_amcheck's output)\n", nlines - DRILL_ECHO_LINES);
	for (size_t i = 0; i < d->found.n; i++)
		if (more[i])
		{
			size_t		len = strlen(d->found.msg[i]) + 64;
			char	   *m = malloc(len);

			if (m == NULL)
				continue;
			snprintf(m, len, "%s (and %zu more in this relation)", d->found.msg[i], more[i]);
			free(d->found.msg[i]);
			d->found.msg[i] = m;
		}
	return 0;
}

static void
on_problem_sink(void *arg, const char *what)
{
	on_problem_quiet(arg, what);
}

/*
 * Recovery with no target ends where restore_command first finds nothing:
 * at the end of the archive, or at a gap. The end the archive should give
 * is the newest segment verify_wal reaches from the backup (following
 * timeline switches); replay that ended in an earlier segment is a drill
 * that did not replay the archive, named with the first WAL problem.
 */
static void
drill_wal_reach(drill *d, uint32_t seg_size, const problems *wp)
{
	walname	wn;
	pgark_err	err;
	char		at[32], what[1400];

	err_clear(&err);
	if (d->wal_to[0] == '\0' || seg_size == 0 || walname_parse(d->wal_to, &wn, &err) != 0)
		return;
	if (d->end_lsn / seg_size >= walname_segno(&wn, seg_size))
		return;
	d->wal_short = 1;
	lsn_format(d->end_lsn, at, sizeof(at));
	snprintf(what, sizeof(what), "replay ended at %s, before the archive's newest segment %s: %s", at,
			 d->wal_to, wp->n ? wp->msg[0] : "the WAL between was not replayed");
	detail_add(d->detail, sizeof(d->detail), what);
}

/*
 * A failed drill of backup B is cleared only by a passing drill of B or of
 * a backup newer than B (one of an older backup says nothing about B), or
 * by B leaving the repository. The previous record's list (and its backup,
 * if it failed) carried into both of this drill's possible lists.
 */
static void
drill_carry_failed(repo *r, const repo_inventory *inv, drill *d)
{
	status_rec	prev;
	pgark_err	err;
	char		buf[sizeof(prev.damaged) + sizeof(prev.backup) + 2], *save = NULL;
	size_t		me = 0;

	d->failed_if_ok[0] = d->failed_if_failed[0] = '\0';
	for (size_t i = 0; i < inv->nbackups; i++)
		if (strcmp(inv->backups[i].id, d->backup) == 0)
			me = i;
	err_clear(&err);
	if (status_read(r, "drill", &prev, &err) == 0)
	{
		int64_t		more = status_damaged_more(prev.damaged);

		/* ids that did not fit, unknown: cleared only by a pass of the newest backup */
		status_damaged_add_more(d->failed_if_failed, sizeof(d->failed_if_failed), more);
		if (me + 1 < inv->nbackups)
			status_damaged_add_more(d->failed_if_ok, sizeof(d->failed_if_ok), more);
		snprintf(buf, sizeof(buf), "%s %s", prev.damaged, strcmp(prev.result, "ok") != 0 ? prev.backup : "");
		for (char *id = strtok_r(buf, " ", &save); id; id = strtok_r(NULL, " ", &save))
			for (size_t i = 0; i < inv->nbackups; i++)
				if (strcmp(inv->backups[i].id, id) == 0 && i != me)
				{
					status_damaged_add(d->failed_if_failed, sizeof(d->failed_if_failed), id);
					if (i > me)
						status_damaged_add(d->failed_if_ok, sizeof(d->failed_if_ok), id);
				}
	}
	status_damaged_add(d->failed_if_failed, sizeof(d->failed_if_failed), d->backup);
}

static void
drill_record(repo *r, const drill *d, int ok)
{
	status_rec	rec;
	pgark_err	err;

	memset(&rec, 0, sizeof(rec));
	rec.time = (int64_t) time(NULL);
	snprintf(rec.result, sizeof(rec.result), "%s", ok ? "ok" : "failed");
	snprintf(rec.checked, sizeof(rec.checked), "databases=%d amcheck=heap,btree", d->ndb);
	rec.problems = d->corruptions + d->ndb_failed + d->wal_short;
	if (!ok && rec.problems == 0)
		rec.problems = 1;
	snprintf(rec.detail, sizeof(rec.detail), "%s", d->detail);
	snprintf(rec.backup, sizeof(rec.backup), "%s", d->backup);
	snprintf(rec.damaged, sizeof(rec.damaged), "%s", ok ? d->failed_if_ok : d->failed_if_failed);
	rec.restore_seconds = d->restore_s;
	rec.replay_seconds = d->replay_s;
	rec.wal_bytes = d->wal_bytes;
	err_clear(&err);
	if (status_write(r, "drill", &rec, &err) != 0)
		log_warning("%s", err.msg);
}

static void
drill_json(const drill *d, const char *status)
{
	char		id[sizeof(d->backup) * 6], from[32], to[32], det[sizeof(d->detail) * 6];

	json_escape(d->backup, id, sizeof(id));
	json_escape(d->detail, det, sizeof(det));
	lsn_format(d->start_lsn, from, sizeof(from));
	lsn_format(d->end_lsn, to, sizeof(to));
	printf("{\"backup\":\"%s\",\"status\":\"%s\",\"rto_seconds\":%.3f,\"restore_seconds\":%.3f,"
		   "\"replay_seconds\":%.3f,\"prepare_seconds\":%.3f,\"check_seconds\":%.3f,\"start_lsn\":\"%s\","
		   "\"end_lsn\":\"%s\",\"wal_bytes\":%" PRIu64 ",\"databases\":", id, status, d->rto, d->restore_s,
		   d->replay_s, d->prepare_s, d->check_s, from, to, d->wal_bytes);
	problems_json(&d->dbs);
	printf(",\"databases_failed\":");
	problems_json(&d->db_fail);
	printf(",\"amcheck_exit\":%d,\"corruptions\":%" PRId64 ",\"corruption\":", d->amcheck_rc, d->corruptions);
	problems_json(&d->found);
	printf(",\"wal_to\":\"%s\",\"wal_complete\":%s,\"detail\":\"%s\"}\n", d->wal_to,
		   d->wal_short ? "false" : "true", det);
}

static void
drill_free(drill *d)
{
	problems_free(&d->dbs);
	problems_free(&d->db_fail);
	problems_free(&d->found);
}

static int
drill_main(prog *p)
{
	pgark_err	err, serr;
	repo	   *r;
	repo_inventory inv;
	scratch_opts so;
	scratch    *s = NULL;
	drill		d;
	char		rcmd[PATH_MAX * 2 + 64], mib[32], audit[600];
	volatile sig_atomic_t *cancel;
	prog_progress pp;
	double		t0;
	int			ok, nb, backup_major = 0, bindir_major = 0;
	uint32_t	seg_size;
	problems	wal_problems = {0};

	memset(&d, 0, sizeof(d));
	err_clear(&err);
	if ((r = repo_open(&p->cfg, &err)) == NULL)
		return prog_fail(p, &err);
	if (repo_inventory_read(r, &inv, &err) != 0)
	{
		repo_close(r);
		return prog_fail(p, &err);
	}
	/* the backup: --backup ID, else (or "latest") the newest */
	if (inv.nbackups == 0)
		err_set(&err, PGARK_ERR_NOTFOUND, 0, "the repository holds no backup to restore");
	else if (opt_backup && strcmp(opt_backup, "latest") != 0)
	{
		for (size_t i = 0; i < inv.nbackups; i++)
			if (strcmp(inv.backups[i].id, opt_backup) == 0)
				snprintf(d.backup, sizeof(d.backup), "%s", opt_backup);
		if (d.backup[0] == '\0')
			err_set(&err, PGARK_ERR_NOTFOUND, 0, "no backup %s in the repository", opt_backup);
	}
	else
		snprintf(d.backup, sizeof(d.backup), "%s", inv.backups[inv.nbackups - 1].id);
	/* where the archive should take the replay: its newest segment reached
	 * from the backup (a listing, nothing decrypted) */
	for (size_t i = 0; i < inv.nbackups && d.backup[0]; i++)
	{
		verify_counts wc;

		memset(&wc, 0, sizeof(wc));
		if (strcmp(inv.backups[i].id, d.backup) == 0 && inv.backups[i].status != INV_UNREADABLE &&
			verify_wal(r, &inv, &inv.backups[i], 0, d.wal_to, sizeof(d.wal_to), &wc, on_problem_sink, &wal_problems,
					   &err) != 0)
			d.backup[0] = '\0';
	}
	seg_size = inv.seg_size;
	if (d.backup[0])
		drill_carry_failed(r, &inv, &d);
	repo_inventory_free(&inv);
	if (d.backup[0] == '\0' || prog_restore_command(p, rcmd, sizeof(rcmd), &err) != 0)
	{
		problems_free(&wal_problems);
		repo_close(r);
		return prog_fail(p, &err);
	}
	cancel = prog_catch_signals();
	/* the drill's libpq connections (scratch_connect) give every parameter
	 * that routes them, but libpq still reads PGSERVICE (a service that is
	 * not defined fails every connection, even with all parameters given):
	 * none of our PG* variables may reach them (the repository is not
	 * reached through libpq; the programs scratch_run starts never get
	 * them) */
	{
		extern char **environ;

		for (size_t i = 0; environ[i];)
		{
			char		name[256];
			size_t		len = strcspn(environ[i], "=");

			if (strncmp(environ[i], "PG", 2) != 0 || strncmp(environ[i], "PGARK_", 6) == 0 || len > 255)
			{
				i++;
				continue;
			}
			snprintf(name, sizeof(name), "%.*s", (int) len, environ[i]);
			(void) unsetenv(name);
		}
	}
	scratch_opts_init(&so);
	so.parent_dir = opt_scratch_dir;
	so.ro.backup_id = d.backup;
	so.ro.target = TARGET_NONE;	/* the end of the archive */
	so.ro.restore_command = rcmd;
	so.cancel = cancel;
	/* [postgres] bindir, if its server is of the backup's major version
	 * (it may be a newer one, for dump-push's pg_dump): else the backup's
	 * version's where they are installed (scratch.h) */
	so.bindir = NULL;
	if (p->cfg.bindir[0])
	{
		mf_head		h;
		mf_reader  *rd;
		pgark_err	e;

		memset(&h, 0, sizeof(h));
		err_clear(&e);
		if ((rd = mf_open(r, d.backup, &h, &e)) == NULL)
			so.bindir = p->cfg.bindir;	/* scratch_start says why */
		else
		{
			mf_close(rd);
			backup_major = h.pg_version;
			mf_head_free(&h);
			if ((bindir_major = scratch_bindir_major(p->cfg.bindir)) == backup_major)
				so.bindir = p->cfg.bindir;
			else if (bindir_major < 0)
				log_warning("[postgres] bindir: %s/postgres cannot be run; the drill looks for the server "
							"binaries of PostgreSQL %d (the backup's version) elsewhere", p->cfg.bindir,
							backup_major);
			else
				log_warning("[postgres] bindir: %s/postgres is of PostgreSQL %d, the backup of PostgreSQL %d; "
							"the drill looks for PostgreSQL %d's server binaries elsewhere", p->cfg.bindir,
							bindir_major, backup_major, backup_major);
		}
	}
	so.wait_timeout = p->cfg.drill_timeout > INT_MAX ? INT_MAX : (int) p->cfg.drill_timeout;
	prog_progress_init(&pp, "restore drill", opt_progress);
	so.progress = pp.enabled ? prog_progress_cb : NULL;
	so.progress_arg = &pp;
	if (!opt_json)
		fprintf(stderr, "restore drill: backup %s\n", d.backup);
	t0 = now_ms();
	if (scratch_start(r, &so, &s, &err) != 0)
	{
		prog_progress_end(&pp);
		problems_free(&wal_problems);
		if (drill_cancelled(cancel, &err))
			;
		else if (!drill_blames_backup(err.kind))
		{
			if (err.kind == PGARK_ERR_CONFIG && p->cfg.bindir[0] && so.bindir == NULL)
			{
				if (bindir_major < 0)
					err_prefix(&err, "[postgres] bindir %s/postgres cannot be run", p->cfg.bindir);
				else
					err_prefix(&err, "[postgres] bindir %s/postgres is of PostgreSQL %d", p->cfg.bindir,
							   bindir_major);
			}
			err_prefix(&err, "not recorded (not a problem of the backup)");
		}
		/* wal-fetch failing: the file fetched again decides, first */
		else if ((nb = drill_fetch_not_backups(r, cancel, &err)) > 0)
			;
		else if (nb < 0 && drill_host_problem(err.msg))
			err_prefix(&err, "not recorded (a problem of this host, not of the backup)");
		else
		{
			snprintf(d.detail, sizeof(d.detail), "the backup did not restore: %.480s", err.msg);
			d.rto = (now_ms() - t0) / 1000.0;
			drill_record(r, &d, 0);
			if (opt_json)
				drill_json(&d, "failed");
		}
		prog_audit(p, "drill", d.backup, err_kind_name(err.kind), err.msg, 0, 0);
		err_prefix(&err, "restore drill of backup %s", d.backup);
		repo_close(r);
		return prog_fail(p, &err);
	}
	prog_progress_end(&pp);
	/* each phase as scratch_start timed it: the restore, then the server's
	 * start and replay; what came before and between is no restore's time */
	d.restore_s = s->restore_seconds;
	d.replay_s = s->replay_seconds;
	d.rto = d.restore_s + d.replay_s;
	d.prepare_s = (now_ms() - t0) / 1000.0 - d.rto;
	if (d.prepare_s < 0)
		d.prepare_s = 0;
	d.start_lsn = s->start_lsn;
	d.end_lsn = s->end_lsn;
	d.wal_bytes = s->end_lsn > s->start_lsn ? s->end_lsn - s->start_lsn : 0;
	drill_wal_reach(&d, seg_size, &wal_problems);
	problems_free(&wal_problems);

	/* the scratch instance must not archive into the repository */
	{
		char		v[64], msg[512];

		if (drill_query(s, "postgres", "SHOW archive_mode", v, sizeof(v), msg, sizeof(msg)) != 0 ||
			strcmp(v, "off") != 0)
		{
			err_set(&err, PGARK_ERR_INTERNAL, 0, "the scratch instance has archive_mode = \"%s\", not off%s%s",
					v, v[0] ? "" : ": ", v[0] ? "" : msg);
			goto cannot;
		}
	}
	t0 = now_ms();
	if (drill_databases(s, &d, &err) != 0)
		goto failed_db;
	d.ndb = (int) d.dbs.n;
	for (size_t i = 0; i < d.dbs.n; i++)
	{
		char		v[64], msg[512], what[1024];

		if (drill_cancelled(cancel, &err))
			goto cannot;
		if (drill_query(s, d.dbs.msg[i], "SELECT count(*) FROM pg_catalog.pg_class", v, sizeof(v), msg,
						sizeof(msg)) != 0)
		{
			snprintf(what, sizeof(what), "database %s does not accept a query: %s", d.dbs.msg[i], msg);
			on_problem_quiet(&d.db_fail, what);
			d.ndb_failed++;
		}
	}
	if (drill_amcheck(s, &d, &err) != 0)
	{
		(void) drill_cancelled(cancel, &err);
		goto cannot;
	}
	d.check_s = (now_ms() - t0) / 1000.0;
	if (scratch_stop(s, &serr) != 0)
		log_warning("%s", serr.msg);
	s = NULL;

	/* the verdict */
	for (size_t i = 0; i < d.db_fail.n; i++)
		detail_add(d.detail, sizeof(d.detail), d.db_fail.msg[i]);
	if (d.corruptions > 0)
	{
		char		what[64];

		snprintf(what, sizeof(what), "pg_amcheck found %" PRId64 " corruption%s", d.corruptions,
				 d.corruptions == 1 ? "" : "s");
		detail_add(d.detail, sizeof(d.detail), what);
	}
	for (size_t i = 0; i < d.found.n; i++)
		detail_add(d.detail, sizeof(d.detail), d.found.msg[i]);
	if (d.amcheck_rc != 0 && d.corruptions == 0)
	{
		char		what[64];

		snprintf(what, sizeof(what), "pg_amcheck exited with status %d", d.amcheck_rc);
		detail_add(d.detail, sizeof(d.detail), what);
	}
	ok = d.ndb_failed == 0 && d.corruptions == 0 && d.amcheck_rc == 0 && !d.wal_short;
	if (drill_cancelled(cancel, &err))
		goto cannot;
	drill_record(r, &d, ok);
	repo_close(r);
	human_bytes(d.wal_bytes, mib, sizeof(mib));
	if (opt_json)
		drill_json(&d, ok ? "ok" : "failed");
	fprintf(stderr, "restore drill of backup %s: %s\n"
			"  RTO %.1f s (restore %.1f s, server start and WAL replay %.1f s; before them %.1f s, not in the RTO)\n"
			"  WAL replayed: %s (%" PRIu64 " bytes)\n"
			"  databases: %d queried, %d failed; pg_amcheck (heap, btree): %" PRId64 " corruption%s (%.1f s)\n",
			d.backup, ok ? "PASSED" : "FAILED", d.rto, d.restore_s, d.replay_s, d.prepare_s, mib, d.wal_bytes, d.ndb,
			d.ndb_failed, d.corruptions, d.corruptions == 1 ? "" : "s", d.check_s);
	if (!ok)
		fprintf(stderr, "  %s\n", d.detail);
	snprintf(audit, sizeof(audit), "rto=%.1fs wal=%" PRIu64 " %.500s", d.rto, d.wal_bytes, d.detail);
	prog_audit(p, "drill", d.backup, ok ? "ok" : "corrupt", audit, d.wal_bytes, 0);
	drill_free(&d);
	if (!ok)
	{
		err_set(&err, PGARK_ERR_CORRUPT, 0, "restore drill of backup %s failed: %.900s", d.backup, d.detail);
		return prog_fail(p, &err);
	}
	if (fflush(stdout) != 0)
		return 1;
	return prog_success(p);

failed_db:
	/* the restored server stopped answering: the backup's doing, unless we
	 * are being stopped (a server in shutdown refuses connections) */
	if (drill_cancelled(cancel, &err))
		goto cannot;
	if (drill_host_problem(err.msg))
	{
		err_prefix(&err, "not recorded (a problem of this host, not of the backup)");
		goto cannot;
	}
	snprintf(d.detail, sizeof(d.detail), "%.500s", err.msg);
	drill_record(r, &d, 0);
	if (opt_json)
		drill_json(&d, "failed");
cannot:
	if (scratch_stop(s, &serr) != 0)
		log_warning("%s", serr.msg);
	prog_audit(p, "drill", d.backup, err_kind_name(err.kind), err.msg, 0, 0);
	err_prefix(&err, "restore drill of backup %s", d.backup);
	drill_free(&d);
	repo_close(r);
	return prog_fail(p, &err);
}

int
main(int argc, char **argv)
{
	static const struct option extra[] = {
		{"backup", required_argument, NULL, 'b'},
		{"all", no_argument, NULL, 1100},
		{"wal", no_argument, NULL, 1101},
		{"json", no_argument, NULL, 1102},
		{"restore-drill", no_argument, NULL, 1103},
		{"scratch-dir", required_argument, NULL, 1104},
		{"progress", required_argument, NULL, 1105},
		{NULL, 0, NULL, 0}
	};
	prog		p = {
		.name = "repo-verify",
		.kind = PROG_PLAIN,
		.usage = "",
		.help = "Check that backups restore: every chunk of the backup read, decrypted and\n"
		"checked; the WAL from its start to the newest archived segment present,\n"
		"across timeline switches. Without --backup or --all: the newest backup.\n"
		"Logical dumps too (unless --backup): every frame, the sizes and the SHA-256\n"
		"of the newest dump of each database and kind (--all: of every dump).\n"
		"\nOptions:\n"
		"  -b, --backup ID       check this backup\n"
		"      --all             check every backup and every dump\n"
		"      --wal             also decrypt and check every WAL segment needed\n"
		"      --json            print the result as JSON on stdout (schema in the README)\n"
		"\nRestore drill:\n"
		"      --restore-drill   restore the backup (--backup ID or latest; default the\n"
		"                        newest) on a scratch instance, replay to the end of the\n"
		"                        archive, run pg_amcheck (heap, btree) and a query on\n"
		"                        every database; report the RTO and the WAL replayed\n"
		"      --scratch-dir DIR where the scratch directory is made (default [restore]\n"
		"                        scratch_dir, else <[archive] spool>/scratch, else $TMPDIR)\n"
		"      --progress=on|off the restore's progress on stderr (default: on a terminal)",
	};
	pgark_err	err;
	repo	   *r;
	repo_inventory inv;
	int			rc, failed = 0, nchecked = 0, ndamaged = 0;
	const char **checked_ids = NULL;
	int64_t		nproblems = 0;
	char		first_problem[700] = "";

	err_clear(&err);
	if ((rc = prog_start(&p, argc, argv, extra, "b:", opt)) >= 0)
		return rc;
	if (p.argc != 0)
		return prog_usage_error(&p, "unexpected argument \"%s\"", p.argv[0]);
	if (opt_all && opt_backup)
		return prog_usage_error(&p, "--all and --backup exclude each other");
	if (opt_drill && (opt_all || opt_wal))
		return prog_usage_error(&p, "--restore-drill restores one backup: not with --%s", opt_all ? "all" : "wal");
	if (!opt_drill && (opt_scratch_dir || opt_progress))
		return prog_usage_error(&p, "--%s is an option of --restore-drill",
								opt_scratch_dir ? "scratch-dir" : "progress");
	if (opt_progress && strcmp(opt_progress, "on") != 0 && strcmp(opt_progress, "off") != 0)
		return prog_usage_error(&p, "--progress takes on or off");
	if ((rc = prog_load_config(&p, &err)) >= 0)
		return rc;
	if (opt_drill)
		return drill_main(&p);
	if ((r = repo_open(&p.cfg, &err)) == NULL)
		return prog_fail(&p, &err);
	if (repo_inventory_read(r, &inv, &err) != 0)
	{
		repo_close(r);
		return prog_fail(&p, &err);
	}
	if (opt_backup)
	{
		int			found = 0;

		for (size_t i = 0; i < inv.nbackups; i++)
			found |= strcmp(inv.backups[i].id, opt_backup) == 0;
		if (!found)
		{
			err_set(&err, PGARK_ERR_NOTFOUND, 0, "no backup %s in the repository", opt_backup);
			repo_inventory_free(&inv);
			repo_close(r);
			return prog_fail(&p, &err);
		}
	}
	/* with --backup the dumps are not checked, but their names are needed:
	 * the damage recorded of those still there is carried over */
	if (dump_list_read(r, !opt_backup, &dumps, &err) != 0)
	{
		repo_inventory_free(&inv);
		repo_close(r);
		return prog_fail(&p, &err);
	}
	if (inv.nbackups == 0 && dumps.n == 0)
	{
		err_set(&err, PGARK_ERR_NOTFOUND, 0, "the repository holds no backup to verify");
		repo_inventory_free(&inv);
		repo_close(r);
		return prog_fail(&p, &err);
	}
	if ((checked_ids = calloc(inv.nbackups + 1, sizeof(*checked_ids))) == NULL)
	{
		err_set(&err, PGARK_ERR_INTERNAL, 0, "out of memory");
		repo_inventory_free(&inv);
		repo_close(r);
		return prog_fail(&p, &err);
	}
	if (opt_json)
		printf("{\"backups\":[");
	for (size_t i = 0; i < inv.nbackups; i++)
	{
		const inv_backup *b = &inv.backups[i];
		verify_counts bc, wc;
		problems	bp = {0}, wp = {0};
		char		to[48] = "", mib[32];

		if (opt_backup ? strcmp(b->id, opt_backup) != 0 : !opt_all && i + 1 != inv.nbackups)
			continue;
		memset(&bc, 0, sizeof(bc));
		memset(&wc, 0, sizeof(wc));
		if (!opt_json)
			printf("backup %s\n", b->id);
		if (verify_backup(r, b->id, &bc, on_problem, &bp, &err) != 0 ||
			(b->status != INV_UNREADABLE &&
			 verify_wal(r, &inv, b, opt_wal, to, sizeof(to), &wc, on_problem, &wp, &err) != 0))
		{
			if (opt_json)
				printf("]}\n");
			problems_free(&bp);
			problems_free(&wp);
			prog_audit(&p, "verify", b->id, err_kind_name(err.kind), err.msg, 0, 0);
			carry_damage(r, &inv, checked_ids, (size_t) nchecked, 0);
			record(r, damaged_all[0] ? "damaged" : "incomplete", nchecked, nproblems, err.msg);
			free(checked_ids);
			/* (b lives in inv: the message first) */
			err_prefix(&err, "verification of backup %s could not be completed", b->id);
			repo_inventory_free(&inv);
			repo_close(r);
			return prog_fail(&p, &err);
		}
		human_bytes(bc.bytes, mib, sizeof(mib));
		if (opt_json)
		{
			char		id[sizeof(b->id) * 6], from[sizeof(b->start_wal) * 6];

			json_escape(b->id, id, sizeof(id));
			json_escape(b->start_wal, from, sizeof(from));
			printf("%s{\"id\":\"%s\",\"status\":\"%s\",\"files\":%" PRIu64 ",\"chunks\":%" PRIu64
				   ",\"bytes\":%" PRIu64 ",\"problems\":", nchecked ? "," : "", id,
				   bc.problems ? "damaged" : "ok", bc.files, bc.chunks, bc.bytes);
			problems_json(&bp);
			/* the WAL of a backup whose manifest cannot be read is not
			 * checked: "unchecked", never "ok" */
			printf(",\"wal\":{\"from\":\"%s\",\"to\":\"%s\",\"segments\":%" PRIu64 ",\"decrypted\":%s,"
				   "\"status\":\"%s\",\"problems\":", from, to, wc.segments, opt_wal ? "true" : "false",
				   b->status == INV_UNREADABLE ? "unchecked" : wc.problems ? "damaged" : "ok");
			problems_json(&wp);
			printf("}}");
		}
		else
		{
			printf("  data: %s (%" PRIu64 " files, %" PRIu64 " chunks, %s checked)\n",
				   bc.problems ? "DAMAGED" : "ok", bc.files, bc.chunks, mib);
			if (b->status != INV_UNREADABLE)
				printf("  WAL %s to %s: %s (%" PRIu64 " segments%s)\n", b->start_wal, to[0] ? to : "-",
					   wc.problems ? "NOT RESTORABLE" : "ok", wc.segments, opt_wal ? ", each decrypted and checked" : " present");
		}
		prog_audit(&p, "verify", b->id, bc.problems || wc.problems ? "corrupt" : "ok",
				   bp.n ? bp.msg[0] : wp.n ? wp.msg[0] : NULL, bc.bytes, 0);
		if (bc.problems || wc.problems)
		{
			ndamaged++;
			status_damaged_add(damaged_now, sizeof(damaged_now), b->id);
		}
		checked_ids[nchecked] = b->id;
		failed |= bc.problems || wc.problems;
		nproblems += (int64_t) (bc.problems + wc.problems);
		if (first_problem[0] == '\0' && (bc.problems || wc.problems))
			snprintf(first_problem, sizeof(first_problem), "backup %s: %s", b->id,
					 bp.n ? bp.msg[0] : wp.n ? wp.msg[0] : "damaged");
		nchecked++;
		problems_free(&bp);
		problems_free(&wp);
	}
	if (!opt_backup)
	{
		int			bad = 0;

		if ((dump_checked = calloc(dumps.n + 1, 1)) == NULL)
		{
			err_set(&err, PGARK_ERR_INTERNAL, 0, "out of memory");
			goto incomplete;
		}
		if (opt_json)
			printf("],\"dumps\":[");
		for (size_t i = 0; i < dumps.n; i++)
		{
			const dump_entry *e = &dumps.e[i];
			char		name[512];
			const char *problem = NULL;

			/* data without metadata is not a dump (repo-expire removes it) */
			if (!e->has_meta || (e->meta_ok && !opt_all && !dump_list_is_newest(&dumps, i)))
				continue;
			snprintf(name, sizeof(name), "%s%s/%s", DUMP_PREFIX, e->dir, e->id);
			if (!e->meta_ok)
				problem = e->problem;
			else if (dump_read(r, &e->meta, NULL, NULL, &err) != 0)
			{
				if (!dump_err_is_damage(&err))
				{
					if (opt_json)
						printf("]");
					err_prefix(&err, "verification of dump %s could not be completed", name);
					goto incomplete;
				}
				problem = err.msg;
			}
			dump_checked[i] = 1;
			ndumps_checked++;
			prog_audit(&p, "verify", name, problem ? "corrupt" : "ok", problem, e->meta.plain_bytes, 0);
			if (opt_json)
			{
				char		n[sizeof(name) * 6], pr[sizeof(err.msg) * 6];

				json_escape(name, n, sizeof(n));
				json_escape(problem ? problem : "", pr, sizeof(pr));
				printf("%s{\"dump\":\"%s\",\"status\":\"%s\",\"problem\":\"%s\"}", ndumps_checked > 1 ? "," : "",
					   n, problem ? "damaged" : "ok", pr);
			}
			else if (problem)
				printf("    ! dump %s: %s\n", name, problem);
			if (problem)
			{
				bad++;
				failed = 1;
				nproblems++;
				status_damaged_add(damaged_now, sizeof(damaged_now), name);
				if (first_problem[0] == '\0')
					snprintf(first_problem, sizeof(first_problem), "dump %.150s: %.500s", name, problem);
			}
		}
		if (!opt_json)
			printf("dumps: %d checked (%s), %d damaged\n", ndumps_checked, opt_all ? "all" : "the newest of each database and kind", bad);
	}
	carry_damage(r, &inv, checked_ids, (size_t) nchecked, opt_all && !opt_backup);
	if (!failed && damaged_all[0])
	{
		char		list[sizeof(damaged_all) + 64];

		status_damaged_describe(damaged_all, list, sizeof(list));
		snprintf(first_problem, sizeof(first_problem), "not checked since it was found damaged: %.600s", list);
	}
	record(r, failed || damaged_all[0] ? "damaged" : "ok", nchecked, nproblems, first_problem);
	if (opt_json)
		printf("],\"status\":\"%s\"}\n", failed ? "damaged" : "ok");
	else
		printf("%s\n", failed ? "repo-verify: PROBLEMS FOUND (above)" : "repo-verify: ok");
	repo_inventory_free(&inv);
	dump_list_free(&dumps);
	free(dump_checked);
	repo_close(r);
	if (failed)
	{
		char		summary[900], dumps_part[48] = "";

		/* dumps named only where there are some: alerts keep their words */
		if (ndumps_checked > 0)
			snprintf(dumps_part, sizeof(dumps_part), " and %d dump%s", ndumps_checked,
					 ndumps_checked == 1 ? "" : "s");
		snprintf(summary, sizeof(summary), "damage found in %d of %d backup%s%s checked; first: %s",
				 ndamaged, nchecked, nchecked == 1 ? "" : "s", dumps_part, first_problem);
		prog_alert(&p, 1, summary);
	}
	else if (damaged_all[0])
		prog_alert(&p, 1, first_problem);	/* the damage found before is not over */
	else
		prog_alert(&p, 0, NULL);
	free(checked_ids);
	if (fflush(stdout) != 0)
		return 1;
	return failed ? 1 : 0;

incomplete:
	if (opt_json)
		printf("}\n");
	prog_audit(&p, "verify", "dumps/", err_kind_name(err.kind), err.msg, 0, 0);
	carry_damage(r, &inv, checked_ids, (size_t) nchecked, 0);
	record(r, damaged_all[0] ? "damaged" : "incomplete", nchecked, nproblems, err.msg);
	free(checked_ids);
	free(dump_checked);
	dump_list_free(&dumps);
	repo_inventory_free(&inv);
	repo_close(r);
	return prog_fail(&p, &err);
}
