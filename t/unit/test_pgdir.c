/*
 * test_pgdir.c — walking a data directory (lib/pgdir.h: pgdir_walk,
 * pgdir_pathcmp) with PostgreSQL's base backup exclusions, over a synthetic
 * data directory with every case the rules name: excluded files and
 * directories, unlogged and temporary relations, a tablespace link, an
 * in-place tablespace, pg_wal as a link, files vanishing during the walk.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "pgdir.h"
#include "tap.h"
#include "testutil.h"

static char tmp[1024];
static char data[1200];			/* the data directory */
static char outside[1200];		/* a tablespace location outside it */

/* ------------------------------------------------------------------ building a tree */

/* mkdir base/rel (just base if rel is ""), with exactly that mode. */
static void
mk(const char *base, const char *rel, mode_t mode)
{
	char		path[2048];

	snprintf(path, sizeof(path), "%s%s%s", base, rel[0] ? "/" : "", rel);
	if (mkdir(path, mode) != 0 || chmod(path, mode) != 0)
		bail_out("mkdir %s: %s", path, strerror(errno));
}

/* A file of size bytes (pages of a pattern) under data/. */
static void
put(const char *rel, size_t size, mode_t mode)
{
	char		path[2048];
	uint8_t    *buf = calloc(1, size ? size : 1);

	if (buf == NULL)
		bail_out("out of memory");
	fill_random(buf, size, size + 1);
	snprintf(path, sizeof(path), "%s/%s", data, rel);
	write_file(path, buf, size, mode);
	free(buf);
}

static void
link_to(const char *target, const char *rel)
{
	char		path[2048];

	snprintf(path, sizeof(path), "%s/%s", data, rel);
	if (symlink(target, path) != 0)
		bail_out("symlink %s: %s", path, strerror(errno));
}

static void
build_tree(void)
{
	char		path[2048];
	struct timeval tv[2] = {{1700000000, 0}, {1700000000, 0}};

	snprintf(data, sizeof(data), "%s/data", tmp);
	snprintf(outside, sizeof(outside), "%s/ts", tmp);
	mk(data, "", 0700);
	put("PG_VERSION", 3, 0600);
	snprintf(path, sizeof(path), "%s/PG_VERSION", data);
	write_file(path, "15\n", 3, 0600);
	put("postgresql.conf", 100, 0640);
	put("postgresql.auto.conf", 88, 0600);
	/* excluded files, at the top */
	put("postmaster.pid", 10, 0600);
	put("postmaster.opts", 10, 0600);
	put("backup_label", 10, 0600);
	put("backup_label.old", 10, 0600);
	put("tablespace_map", 10, 0600);
	put("backup_manifest", 10, 0600);
	put("current_logfiles.tmp", 10, 0600);
	put("postgresql.auto.conf.tmp", 10, 0600);

	mk(data, "global", 0700);
	put("global/pg_control", 8192, 0600);
	put("global/1262", 8192, 0600);
	put("global/pg_filenode.map", 512, 0600);
	put("global/pg_internal.init", 100, 0600);
	put("global/pg_internal.init.4242", 100, 0600);

	mk(data, "base", 0700);
	mk(data, "base/1", 0700);
	put("base/1/1259", 2 * 8192, 0600);
	put("base/1/16384", 3 * 8192, 0600);
	put("base/1/16384.1", 8192, 0600);
	put("base/1/16384_fsm", 3 * 8192, 0600);
	put("base/1/16384x", 5, 0600);
	put("base/1/16385", 8192, 0600);		/* unlogged: main, fsm, segment out */
	put("base/1/16385.1", 8192, 0600);
	put("base/1/16385_fsm", 8192, 0600);
	put("base/1/16385_init", 8192, 0600);	/* ... its init fork kept */
	put("base/1/16386.0", 8192, 0600);
	put("base/1/t3_16400", 8192, 0600);	/* temporary relations */
	put("base/1/t3_16400_fsm", 8192, 0600);
	put("base/1/t12_16401.2", 8192, 0600);
	put("base/1/PG_VERSION", 3, 0600);
	put("base/1/pg_filenode.map", 512, 0600);
	put("base/1/pg_internal.init", 100, 0600);
	snprintf(path, sizeof(path), "%s/base/1/1259", data);
	utimes(path, tv);
	mk(data, "base/pgsql_tmp", 0700);
	put("base/pgsql_tmp/pgsql_tmp123.0", 10, 0600);

	mk(data, "pg_wal", 0700);
	put("pg_wal/000000010000000000000001", 4096, 0600);
	mk(data, "pg_wal/archive_status", 0700);
	put("pg_wal/archive_status/000000010000000000000001.ready", 0, 0600);
	mk(data, "pg_replslot", 0700);
	mk(data, "pg_replslot/slot", 0700);
	put("pg_replslot/slot/state", 200, 0600);
	mk(data, "pg_stat", 0700);
	put("pg_stat/pgstat.stat", 300, 0600);
	mk(data, "pg_xact", 0700);
	put("pg_xact/0000", 8192, 0600);

	/* pg_stat_tmp on "a tmpfs": a link to a directory, reported as a directory */
	mk(tmp, "stat_tmp", 0750);
	snprintf(path, sizeof(path), "%s/stat_tmp/x.stat", tmp);
	write_str(path, "x");
	snprintf(path, sizeof(path), "%s/stat_tmp", tmp);
	link_to(path, "pg_stat_tmp");

	/* a tablespace outside: only this major version's directory is ours */
	mk(outside, "", 0700);
	mk(outside, "PG_15_202209061", 0700);
	mk(outside, "PG_15_202209061/1", 0700);
	snprintf(path, sizeof(path), "%s/PG_15_202209061/1/16501", outside);
	write_file(path, "0123456789abcdef", 16, 0600);
	snprintf(path, sizeof(path), "%s/PG_15_202209061/1/16502", outside);
	write_str(path, "unlogged main fork");
	snprintf(path, sizeof(path), "%s/PG_15_202209061/1/16502_init", outside);
	write_str(path, "init fork");
	snprintf(path, sizeof(path), "%s/PG_15_202209061/1/t5_16503", outside);
	write_str(path, "temp");
	mk(outside, "PG_14_202107181", 0700);	/* left by pg_upgrade */
	snprintf(path, sizeof(path), "%s/PG_14_202107181/old", outside);
	write_str(path, "old");
	snprintf(path, sizeof(path), "%s/junk", outside);
	write_str(path, "junk");
	mk(data, "pg_tblspc", 0700);
	link_to(outside, "pg_tblspc/16500");
	/* an in-place tablespace (allow_in_place_tablespaces) */
	mk(data, "pg_tblspc/16600", 0700);
	mk(data, "pg_tblspc/16600/PG_15_202209061", 0700);
	mk(data, "pg_tblspc/16600/PG_15_202209061/5", 0700);
	put("pg_tblspc/16600/PG_15_202209061/5/16601", 8192, 0600);
	put("pg_tblspc/16600/PG_15_202209061/5/16601_vm", 8192, 0600);

	/* other links, and special files: skipped */
	link_to("/etc", "elsewhere");
	link_to("postgresql.conf", "conf_link");
	snprintf(path, sizeof(path), "%s/fifo", data);
	if (mkfifo(path, 0600) != 0)
		bail_out("mkfifo: %s", strerror(errno));

	/* files that vanish during the walk (see record()) */
	mk(data, "vanish", 0700);
	put("vanish/a", 1, 0600);
	put("vanish/b", 1, 0600);
	put("vanish/c", 1, 0600);
	mk(data, "vanish/d", 0700);

	/* path order: a directory's contents before "z-1" and "z.2" */
	mk(data, "z", 0700);
	put("z/a", 1, 0600);
	put("z-1", 1, 0600);
	put("z.2", 1, 0600);
}

/* ------------------------------------------------------------------ recording a walk */

typedef struct rec
{
	pgdir_kind	kind;
	char		path[PATH_MAX];
	char		abs[PATH_MAX];
	char		link[PATH_MAX];
	mode_t		mode;
	uint64_t	size;
	int64_t		mtime;
	int			is_relation;
	uint32_t	segno;
} rec;

typedef struct walk
{
	int			n;
	rec			r[128];
	const char *fail_at;		/* the callback fails at this path */
	int			fail_silently;	/* ... without setting err */
	int			vanish;			/* unlink vanish/b, rmdir vanish/d at vanish/a */
} walk;

static int
record(void *arg, const pgdir_entry *e, pgark_err *err)
{
	walk	   *w = arg;

	if (w->n < 128)
	{
		rec		   *r = &w->r[w->n];

		r->kind = e->kind;
		snprintf(r->path, sizeof(r->path), "%s", e->path);
		snprintf(r->abs, sizeof(r->abs), "%s", e->abs);
		snprintf(r->link, sizeof(r->link), "%s", e->link_target);
		r->mode = e->mode;
		r->size = e->size;
		r->mtime = e->mtime;
		r->is_relation = e->is_relation;
		r->segno = e->segno;
	}
	w->n++;
	if (w->vanish && strcmp(e->path, "vanish/a") == 0)
	{
		char		path[2048];

		snprintf(path, sizeof(path), "%s/vanish/b", data);
		unlink(path);
		snprintf(path, sizeof(path), "%s/vanish/d", data);
		rmdir(path);
	}
	if (w->fail_at && strcmp(e->path, w->fail_at) == 0)
	{
		if (w->fail_silently)
			return -1;
		return err_set(err, PGARK_ERR_NOSPACE, ENOSPC, "test callback stops at %s", e->path);
	}
	return 0;
}

static const rec *
find(const walk *w, const char *path)
{
	for (int i = 0; i < w->n && i < 128; i++)
		if (strcmp(w->r[i].path, path) == 0)
			return &w->r[i];
	return NULL;
}

static char
kind_char(pgdir_kind k)
{
	return k == PGDIR_DIR ? 'D' : k == PGDIR_FILE ? 'F' : k == PGDIR_TABLESPACE ? 'T' : '?';
}

/* "K path" lines of the walk, one string. */
static void
listing(const walk *w, char *out, size_t outlen)
{
	size_t		used = 0;

	out[0] = '\0';
	for (int i = 0; i < w->n && i < 128; i++)
		used += (size_t) snprintf(out + used, used < outlen ? outlen - used : 0, "%c %s\n",
								  kind_char(w->r[i].kind), w->r[i].path);
}

/* ------------------------------------------------------------------ tests */

static void
test_pathcmp(void)
{
	static const char *const ordered[] = {
		"", "a", "a/b", "a/b/c", "a/c", "a-b", "a.c", "a0", "ab",
		"base", "base/1", "base/1/1259", "base/1/16384", "base/1/16384.1", "base/1/16384.2",
		"base/1/16384_fsm", "base/1/16384_init", "base/1/16384_vm", "base/1/16385",
		"base/10", "base/10/1", "base-x", "global", "pg_stat", "pg_stat/x", "pg_stat_tmp",
		"pg_wal", "pg_wal/archive_status", "pg_wal/archive_status/x", "pg_xact",
	};
	size_t		n = sizeof(ordered) / sizeof(ordered[0]);
	int			bad = 0;

	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < n; j++)
		{
			int			c = pgdir_pathcmp(ordered[i], ordered[j]);
			int			want = i < j ? -1 : i > j ? 1 : 0;

			if ((c < 0 ? -1 : c > 0 ? 1 : 0) != want)
			{
				if (bad++ < 5)
					diag("pgdir_pathcmp(\"%s\", \"%s\") = %d", ordered[i], ordered[j], c);
			}
		}
	is_int(bad, 0, "pgdir_pathcmp orders %zu paths as listed, every pair both ways", n);
	ok(pgdir_pathcmp("a", "a/b") < 0 && pgdir_pathcmp("a/b", "a.c") < 0 && pgdir_pathcmp("a", "a.c") < 0,
	   "\"a\" < \"a/b\" < \"a.c\"");
	ok(pgdir_pathcmp("base/1/16384", "base/1/16384.1") < 0 &&
	   pgdir_pathcmp("base/1/16384.1", "base/1/16384_fsm") < 0,
	   "\"base/1/16384\" < \"base/1/16384.1\" < \"base/1/16384_fsm\"");
	ok(pgdir_pathcmp("a/\x01", "a\x01") < 0, "'/' is below even byte 0x01");
	ok(pgdir_pathcmp("a\xff", "a/") > 0 && pgdir_pathcmp("a\xff", "ab") > 0, "bytes compare unsigned");
	is_int(pgdir_pathcmp("base/1", "base/1"), 0, "equal paths compare equal");
}

static const char *const expected_walk =
	"F PG_VERSION\n"
	"D base\n"
	"D base/1\n"
	"F base/1/1259\n"
	"F base/1/16384\n"
	"F base/1/16384.1\n"
	"F base/1/16384_fsm\n"
	"F base/1/16384x\n"
	"F base/1/16385_init\n"
	"F base/1/16386.0\n"
	"F base/1/PG_VERSION\n"
	"F base/1/pg_filenode.map\n"
	"D global\n"
	"F global/1262\n"
	"F global/pg_control\n"
	"F global/pg_filenode.map\n"
	"D pg_replslot\n"
	"D pg_stat\n"
	"F pg_stat/pgstat.stat\n"
	"D pg_stat_tmp\n"
	"D pg_tblspc\n"
	"T pg_tblspc/16500\n"
	"D pg_tblspc/16500/PG_15_202209061\n"
	"D pg_tblspc/16500/PG_15_202209061/1\n"
	"F pg_tblspc/16500/PG_15_202209061/1/16501\n"
	"F pg_tblspc/16500/PG_15_202209061/1/16502_init\n"
	"D pg_tblspc/16600\n"
	"D pg_tblspc/16600/PG_15_202209061\n"
	"D pg_tblspc/16600/PG_15_202209061/5\n"
	"F pg_tblspc/16600/PG_15_202209061/5/16601\n"
	"F pg_tblspc/16600/PG_15_202209061/5/16601_vm\n"
	"D pg_wal\n"
	"D pg_wal/archive_status\n"
	"D pg_xact\n"
	"F pg_xact/0000\n"
	"F postgresql.auto.conf\n"
	"F postgresql.conf\n"
	"D vanish\n"
	"F vanish/a\n"
	"F vanish/c\n"
	"D z\n"
	"F z/a\n"
	"F z-1\n"
	"F z.2\n";

static void
check_relation(const walk *w, const char *path, int is_rel, uint32_t segno)
{
	const rec  *r = find(w, path);

	if (!ok(r != NULL, "%s reported", path))
		return;
	if (is_rel)
		ok(r->is_relation && r->segno == segno, "%s: a relation file, segment %u", path, segno);
	else
		ok(!r->is_relation && r->segno == 0, "%s: not a relation file", path);
	if (r->is_relation != is_rel || r->segno != segno)
		diag("got is_relation %d, segno %u", r->is_relation, r->segno);
}

static void
test_walk(void)
{
	static walk w;
	static char got[8192];
	pgark_err	err;
	char		real_outside[PATH_MAX];
	char		real_data[PATH_MAX];
	char		want[PATH_MAX + 100];
	const rec  *r;
	int			rc;
	int			unordered = 0;

	memset(&w, 0, sizeof(w));
	w.vanish = 1;
	rc = pgdir_walk(data, record, &w, &err);
	if (!is_int(rc, 0, "pgdir_walk over the synthetic data directory"))
		diag("%s", err.msg);
	listing(&w, got, sizeof(got));
	is_str(got, expected_walk, "exactly the entries PostgreSQL's basebackup would send, in path order");

	for (int i = 1; i < w.n && i < 128; i++)
		if (pgdir_pathcmp(w.r[i - 1].path, w.r[i].path) >= 0)
		{
			unordered++;
			diag("\"%s\" reported before \"%s\"", w.r[i - 1].path, w.r[i].path);
		}
	is_int(unordered, 0, "each entry sorts after the previous one (pgdir_pathcmp)");

	/* relation files and segments */
	check_relation(&w, "base/1/1259", 1, 0);
	check_relation(&w, "base/1/16384", 1, 0);
	check_relation(&w, "base/1/16384.1", 1, 1);
	check_relation(&w, "base/1/16384_fsm", 1, 0);
	check_relation(&w, "base/1/16385_init", 1, 0);
	check_relation(&w, "base/1/16384x", 0, 0);
	check_relation(&w, "base/1/16386.0", 0, 0);
	check_relation(&w, "base/1/PG_VERSION", 0, 0);
	check_relation(&w, "base/1/pg_filenode.map", 0, 0);
	check_relation(&w, "global/1262", 1, 0);
	check_relation(&w, "global/pg_control", 0, 0);
	check_relation(&w, "global/pg_filenode.map", 0, 0);
	check_relation(&w, "pg_tblspc/16500/PG_15_202209061/1/16501", 1, 0);
	check_relation(&w, "pg_tblspc/16500/PG_15_202209061/1/16502_init", 1, 0);
	check_relation(&w, "pg_tblspc/16600/PG_15_202209061/5/16601_vm", 1, 0);
	check_relation(&w, "pg_xact/0000", 0, 0);
	check_relation(&w, "pg_stat/pgstat.stat", 0, 0);

	/* sizes, modes, times, absolute paths */
	if (realpath(data, real_data) == NULL || realpath(outside, real_outside) == NULL)
		bail_out("realpath: %s", strerror(errno));
	r = find(&w, "base/1/16384");
	ok(r && r->kind == PGDIR_FILE && r->size == 3 * 8192 && r->mode == 0600,
	   "base/1/16384: a file of 24576 bytes, mode 0600");
	snprintf(want, sizeof(want), "%s/base/1/16384", real_data);
	is_str(r ? r->abs : NULL, want, "... abs is its absolute path");
	r = find(&w, "postgresql.conf");
	ok(r && r->size == 100 && r->mode == 0640, "postgresql.conf: 100 bytes, mode 0640");
	r = find(&w, "base/1/1259");
	is_int(r ? r->mtime : 0, 1700000000, "base/1/1259: mtime in seconds");
	r = find(&w, "base");
	ok(r && r->kind == PGDIR_DIR && r->mode == 0700 && r->size == 0, "base: a directory, mode 0700, size 0");
	r = find(&w, "pg_stat_tmp");
	ok(r && r->kind == PGDIR_DIR && r->mode == 0750,
	   "pg_stat_tmp, a link to a directory: an empty directory with the target's mode 0750");

	/* the tablespace */
	r = find(&w, "pg_tblspc/16500");
	if (ok(r && r->kind == PGDIR_TABLESPACE, "pg_tblspc/16500 is a tablespace"))
	{
		is_str(r->link, outside, "... link_target is what the link says");
		is_str(r->abs, real_outside, "... abs is the directory it resolves to");
		ok(r->mode == 0700 && r->size == 0, "... with the target's mode");
	}
	r = find(&w, "pg_tblspc/16500/PG_15_202209061/1/16501");
	snprintf(want, sizeof(want), "%s/PG_15_202209061/1/16501", real_outside);
	is_str(r ? r->abs : NULL, want, "a tablespace file's abs points into the tablespace");
	ok(r && r->size == 16 && r->kind == PGDIR_FILE, "... 16 bytes");
	r = find(&w, "pg_tblspc/16600");
	ok(r && r->kind == PGDIR_DIR, "an in-place tablespace (a directory in pg_tblspc) is a directory");
}

static void
test_pg_wal_link(void)
{
	static walk w;
	static char got[8192];
	char		path[2048];
	char		cwd[PATH_MAX];
	char		data2[1200];
	char		want[PATH_MAX + 100];
	pgark_err	err;
	const rec  *r;
	int			rc;

	/* initdb -X: pg_wal is a link; no PG_VERSION: tablespace contents unfiltered */
	snprintf(data2, sizeof(data2), "%s/data2", tmp);
	mk(data2, "", 0700);
	mk(tmp, "wal", 0750);
	mk(tmp, "wal/archive_status", 0700);
	snprintf(path, sizeof(path), "%s/wal/000000010000000000000001", tmp);
	write_str(path, "segment");
	snprintf(path, sizeof(path), "%s/wal", tmp);
	snprintf(want, sizeof(want), "%s/pg_wal", data2);
	if (symlink(path, want) != 0)
		bail_out("symlink: %s", strerror(errno));
	snprintf(path, sizeof(path), "%s/pg_tblspc", data2);
	mk(path, "", 0700);
	snprintf(path, sizeof(path), "%s/pg_tblspc/1", data2);
	if (symlink(outside, path) != 0)
		bail_out("symlink: %s", strerror(errno));

	/* a relative data directory gives absolute paths all the same */
	if (getcwd(cwd, sizeof(cwd)) == NULL || chdir(tmp) != 0)
		bail_out("chdir: %s", strerror(errno));
	memset(&w, 0, sizeof(w));
	rc = pgdir_walk("data2", record, &w, &err);
	if (chdir(cwd) != 0)
		bail_out("chdir: %s", strerror(errno));
	if (!is_int(rc, 0, "pgdir_walk over a data directory whose pg_wal is a link (relative path)"))
		diag("%s", err.msg);
	listing(&w, got, sizeof(got));
	is_str(got,
		   "D pg_tblspc\n"
		   "T pg_tblspc/1\n"
		   "D pg_tblspc/1/PG_14_202107181\n"
		   "F pg_tblspc/1/PG_14_202107181/old\n"
		   "D pg_tblspc/1/PG_15_202209061\n"
		   "D pg_tblspc/1/PG_15_202209061/1\n"
		   "F pg_tblspc/1/PG_15_202209061/1/16501\n"
		   "F pg_tblspc/1/PG_15_202209061/1/16502_init\n"
		   "F pg_tblspc/1/junk\n"
		   "D pg_wal\n"
		   "D pg_wal/archive_status\n",
		   "pg_wal link: an empty directory and archive_status/; without PG_VERSION, a tablespace is walked whole");
	r = find(&w, "pg_wal");
	ok(r && r->kind == PGDIR_DIR && r->mode == 0750, "pg_wal has its target's mode (0750)");
	ok(r && r->abs[0] == '/', "abs is absolute for a relative data directory (%s)", r ? r->abs : "");
}

static void
test_errors(void)
{
	static walk w;
	pgark_err	err;
	char		path[2048];
	int			rc;

	/* the callback's error stops the walk and comes back */
	memset(&w, 0, sizeof(w));
	w.fail_at = "base/1/16384";
	rc = pgdir_walk(data, record, &w, &err);
	is_int(rc, -1, "an error from the callback stops the walk");
	is_kind(err, PGARK_ERR_NOSPACE, "... with the callback's error kind");
	like(err.msg, "test callback stops at base/1/16384", "... and message");
	ok(w.n > 0 && strcmp(w.r[w.n - 1].path, "base/1/16384") == 0, "... nothing reported after it");

	memset(&w, 0, sizeof(w));
	w.fail_at = "pg_tblspc/16500";
	w.fail_silently = 1;
	rc = pgdir_walk(data, record, &w, &err);
	ok(rc == -1 && err.kind != PGARK_OK, "a callback failing without a message still gives an error");
	like(err.msg, "pg_tblspc/16500", "... naming where the walk stopped");

	/* no data directory */
	snprintf(path, sizeof(path), "%s/no-such-dir", tmp);
	memset(&w, 0, sizeof(w));
	rc = pgdir_walk(path, record, &w, &err);
	is_int(rc, -1, "a data directory that does not exist: error");
	is_kind(err, PGARK_ERR_NOTFOUND, "... not found");
	like(err.msg, path, "... naming it");
	is_int(w.n, 0, "... nothing reported");

	snprintf(path, sizeof(path), "%s/data/postgresql.conf", tmp);
	rc = pgdir_walk(path, record, &w, &err);
	ok(rc == -1 && strstr(err.msg, "postgresql.conf") != NULL, "a file as data directory: error naming it");

	/* an unreadable directory is an error, not a silent skip */
	if (geteuid() == 0)
		skip(2, "root reads any directory");
	else
	{
		snprintf(path, sizeof(path), "%s/data/pg_xact", tmp);
		chmod(path, 0);
		memset(&w, 0, sizeof(w));
		rc = pgdir_walk(data, record, &w, &err);
		chmod(path, 0700);
		is_int(rc, -1, "an unreadable directory stops the walk");
		like(err.msg, "pg_xact", "... with a message naming it");
	}
}

int
main(void)
{
	make_tmpdir(tmp, sizeof(tmp), "pgdir");
	build_tree();
	test_pathcmp();
	test_walk();
	test_pg_wal_link();
	test_errors();
	rm_rf(tmp);
	return done_testing();
}
