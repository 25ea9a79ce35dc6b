/*
 * test_store.c — the store interface over the local backend (lib/store.h).
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "store.h"
#include "tap.h"
#include "testutil.h"

static char dir[1024];

typedef struct listing
{
	int			n;
	char		names[64][128];
	uint64_t	sizes[64];
} listing;

static int
collect(void *arg, const char *name, const store_stat *st, pgark_err *err)
{
	listing    *l = arg;

	(void) err;
	if (l->n < 64)
	{
		snprintf(l->names[l->n], sizeof(l->names[0]), "%s", name);
		l->sizes[l->n] = st->size;
		l->n++;
	}
	return 0;
}

static int
has(const listing *l, const char *name)
{
	for (int i = 0; i < l->n; i++)
		if (strcmp(l->names[i], name) == 0)
			return 1;
	return 0;
}

static int
list(store *st, const char *prefix, listing *l)
{
	pgark_err	err;

	memset(l, 0, sizeof(*l));
	return store_list(st, prefix, collect, l, &err);
}

/* Count entries named .*.tmp anywhere under path. */
static int
count_temp_files(const char *path)
{
	DIR		   *d = opendir(path);
	struct dirent *de;
	int			n = 0;

	if (d == NULL)
		return 0;
	while ((de = readdir(d)) != NULL)
	{
		char		sub[2048];
		size_t		len = strlen(de->d_name);

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name);
		if (de->d_name[0] == '.' && len > 4 && strcmp(de->d_name + len - 4, ".tmp") == 0)
			n++;
		else if (de->d_type == DT_DIR)
			n += count_temp_files(sub);
	}
	closedir(d);
	return n;
}

static int
get_all(store *st, const char *name, uint64_t off, uint64_t len, membuf *out, pgark_err *err)
{
	store_reader *r = store_get(st, name, off, len, err);
	uint8_t		buf[7];

	if (r == NULL)
		return -1;
	for (;;)
	{
		size_t		got;

		if (store_read(r, buf, sizeof(buf), &got, err) != 0)
		{
			store_reader_close(r);
			return -1;
		}
		if (got == 0)
			break;
		membuf_append(out, buf, got);
	}
	store_reader_close(r);
	return 0;
}

static void
test_names(void)
{
	static const char *const good[] = {
		"a", "pgark.repo", "wal/0000000100000000/000000010000000000000001", "keys/00ff",
		"base/2026-11-27_0240/manifest", "a-b_c.d", "A/B/C/D/E/F", "x..y", "a/b.",
	};
	static const char *const bad[] = {
		"../x", "/x", "a//b", "a/", ".hidden", "a/../b", "a/./b", "a/.b", "..", ".", "",
		"a b", " a", "a\tb", "a\nb", "a\\b", "a/b c/d", "wal/*", "a:b", "é",
	};
	char		longname[600];

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		ok(store_name_valid(good[i]), "valid name \"%s\"", good[i]);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ok(!store_name_valid(bad[i]), "invalid name \"%s\"", bad[i]);
	ok(!store_name_valid(NULL), "NULL is not a name");
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	ok(!store_name_valid(longname), "a 599-character name is refused");
}

static void
test_basic(store *st)
{
	pgark_err	err;
	membuf		got = {0};
	store_stat	ss;
	listing		l;
	const char *text = "hello, repository";
	uint8_t    *buf;
	size_t		len;

	err_clear(&err);
	is_int(store_put_buf(st, "a/b/c", text, strlen(text), 0, &err), 0, "put a/b/c (creating directories)");
	is_int(get_all(st, "a/b/c", 0, 0, &got, &err), 0, "get a/b/c");
	is_buf(got.buf, got.len, text, strlen(text), "... same bytes");
	membuf_free(&got);
	is_int(store_head(st, "a/b/c", &ss, &err), 0, "head a/b/c");
	is_uint(ss.size, strlen(text), "... size");
	ok(ss.mtime > 1600000000, "... a plausible mtime");
	{
		char		path[2048];
		struct stat sb;

		snprintf(path, sizeof(path), "%s/a/b/c", dir);
		ok(stat(path, &sb) == 0 && S_ISREG(sb.st_mode), "it is the file <root>/a/b/c");
		is_int(sb.st_mode & 077, 0, "... not readable by group or others");
	}

	/* overwrite allowed without the flag */
	is_int(store_put_buf(st, "a/b/c", "v2", 2, 0, &err), 0, "put again without NO_OVERWRITE replaces");
	is_int(store_get_buf(st, "a/b/c", 100, &buf, &len, &err), 0, "get_buf");
	is_buf(buf, len, "v2", 2, "... new content");
	free(buf);

	/* NO_OVERWRITE */
	err_clear(&err);
	is_int(store_put_buf(st, "a/b/c", "v3", 2, STORE_NO_OVERWRITE, &err), -1, "NO_OVERWRITE on an existing name fails");
	is_kind(err, PGARK_ERR_EXISTS, "... as EXISTS");
	like(err.msg, "a/b/c", "... naming the object");
	store_get_buf(st, "a/b/c", 100, &buf, &len, &err);
	is_buf(buf, len, "v2", 2, "... and the old content is unchanged");
	free(buf);
	is_int(store_put_buf(st, "a/b/new", "n", 1, STORE_NO_OVERWRITE, &err), 0, "NO_OVERWRITE on a new name works");
	is_int(count_temp_files(dir), 0, "no temp files left behind");

	/* empty object */
	is_int(store_put_buf(st, "empty", "", 0, 0, &err), 0, "put an empty object");
	is_int(store_head(st, "empty", &ss, &err), 0, "head it");
	is_uint(ss.size, 0, "... size 0");

	/* missing */
	err_clear(&err);
	ok(store_get(st, "a/such/object", 0, 0, &err) == NULL, "get of a missing name fails");
	is_kind(err, PGARK_ERR_NOTFOUND, "... as NOTFOUND (its top directory a/ exists)");
	like(err.msg, "a/such/object", "... naming it");
	err_clear(&err);
	ok(store_get(st, "gone/object", 0, 0, &err) == NULL, "get below a missing top directory fails");
	is_kind(err, PGARK_ERR_IO, "... as IO, not NOTFOUND: a repository directory is missing");
	like(err.msg, "is missing", "... saying so");
	err_clear(&err);
	is_int(store_head(st, "nothing", &ss, &err), -1, "head of a missing name fails");
	is_kind(err, PGARK_ERR_NOTFOUND, "... as NOTFOUND");
	is_int(store_get_buf(st, "nothing", 10, &buf, &len, &err), -1, "get_buf of a missing name fails");
	is_kind(err, PGARK_ERR_NOTFOUND, "... as NOTFOUND");
	ok(buf == NULL && len == 0, "... with no buffer");

	/* list */
	store_put_buf(st, "wal/0000000100000000/000000010000000000000001", "1", 1, 0, &err);
	store_put_buf(st, "wal/0000000100000000/000000010000000000000002", "22", 2, 0, &err);
	store_put_buf(st, "wal/0000000200000000/000000020000000000000001", "333", 3, 0, &err);
	store_put_buf(st, "wal/history/00000002.history", "h", 1, 0, &err);
	store_put_buf(st, "walrus", "w", 1, 0, &err);
	is_int(list(st, "", &l), 0, "list everything");
	is_int(l.n, 8, "... 8 objects");
	ok(has(&l, "a/b/c") && has(&l, "a/b/new") && has(&l, "empty") && has(&l, "walrus") &&
	   has(&l, "wal/history/00000002.history"), "... by their names");
	is_int(list(st, "wal/", &l), 0, "list wal/");
	is_int(l.n, 4, "... 4 objects (not walrus)");
	is_int(list(st, "wal/00000001", &l), 0, "list wal/00000001 (a prefix inside a directory name)");
	ok(l.n == 2 && has(&l, "wal/0000000100000000/000000010000000000000002"), "... the 2 of timeline 1");
	for (int i = 0; i < l.n; i++)
		if (strcmp(l.names[i], "wal/0000000100000000/000000010000000000000002") == 0)
			is_uint(l.sizes[i], 2, "... with their sizes");
	is_int(list(st, "wal/0000000100000000/000000010000000000000001", &l), 0, "list with a full name as prefix");
	is_int(l.n, 1, "... exactly that one");
	is_int(list(st, "nothing/here", &l), 0, "list a prefix that matches nothing");
	is_int(l.n, 0, "... empty");
	is_int(list(st, "wal", &l), 0, "list 'wal'");
	is_int(l.n, 5, "... includes walrus");

	/* remove */
	is_int(store_remove(st, "walrus", &err), 0, "remove walrus");
	err_clear(&err);
	is_int(store_head(st, "walrus", &ss, &err), -1, "... gone");
	is_kind(err, PGARK_ERR_NOTFOUND, "... NOTFOUND");
	is_int(store_remove(st, "walrus", &err), 0, "removing a missing name is not an error");

	/* names are checked at every entry point */
	{
		static const char *const bad[] = {"../escape", "/etc/passwd", "a//b", ".hidden"};

		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		{
			int			refused_all;

			refused_all = store_put_begin(st, bad[i], &err) == NULL &&
				store_get(st, bad[i], 0, 0, &err) == NULL &&
				store_head(st, bad[i], &ss, &err) == -1 &&
				store_remove(st, bad[i], &err) == -1 &&
				store_put_buf(st, bad[i], "x", 1, 0, &err) == -1;
			ok(refused_all, "put, get, head, remove all refuse \"%s\"", bad[i]);
		}
		ok(access("/tmp/../escape", F_OK) != 0, "nothing escaped the root");
	}
}

static void
test_abort(store *st)
{
	pgark_err	err;
	store_writer *w;
	listing		l, before;
	store_stat	ss;

	list(st, "", &before);
	err_clear(&err);
	w = store_put_begin(st, "aborted/object", &err);
	if (!ok(w != NULL, "put_begin"))
		return;
	is_int(store_put_write(w, "partial data", 12, &err), 0, "write some");
	ok(count_temp_files(dir) == 0, "nothing named exists while writing (an unnamed O_TMPFILE)");
	list(st, "", &l);
	is_int(l.n, before.n, "... and list does not show it");
	ok(!has(&l, "aborted/object"), "... nor the final name");
	is_int(store_head(st, "aborted/object", &ss, &err), -1, "head does not see it before commit");
	store_put_abort(w);
	is_int(store_head(st, "aborted/object", &ss, &err), -1, "after abort: no object");
	is_int(count_temp_files(dir), 0, "after abort: no .*.tmp file left in the directory");
	list(st, "", &l);
	is_int(l.n, before.n, "after abort: list unchanged");
	store_put_abort(NULL);

	/* a failed NO_OVERWRITE commit leaves no temp file either */
	w = store_put_begin(st, "a/b/c", &err);
	store_put_write(w, "zzz", 3, &err);
	is_int(store_put_commit(w, STORE_NO_OVERWRITE, &err), -1, "NO_OVERWRITE commit over an existing name fails");
	is_int(count_temp_files(dir), 0, "... and leaves no temp file");

	/* commit makes it visible */
	w = store_put_begin(st, "committed", &err);
	store_put_write(w, "abc", 3, &err);
	store_put_write(w, "def", 3, &err);
	is_int(store_head(st, "committed", &ss, &err), -1, "not visible before commit");
	is_int(store_put_commit(w, STORE_NO_OVERWRITE, &err), 0, "commit");
	is_int(store_head(st, "committed", &ss, &err), 0, "visible after commit");
	is_uint(ss.size, 6, "... all 6 bytes");
}

static void
test_ranges(store *st)
{
	pgark_err	err;
	uint8_t		data[1000];
	membuf		got = {0};

	fill_random(data, sizeof(data), 42);
	store_put_buf(st, "ranged", data, sizeof(data), 0, &err);
	is_int(get_all(st, "ranged", 100, 50, &got, &err), 0, "range get (100, 50)");
	is_buf(got.buf, got.len, data + 100, 50, "... the 50 bytes at 100");
	membuf_free(&got);
	is_int(get_all(st, "ranged", 900, 0, &got, &err), 0, "range get (900, to the end)");
	is_buf(got.buf, got.len, data + 900, 100, "... the last 100 bytes");
	membuf_free(&got);
	/* a range the object does not hold is damage, never a short read (as on S3) */
	is_int(get_all(st, "ranged", 990, 50, &got, &err), -1, "range get past the end: refused");
	is_kind(err, PGARK_ERR_CORRUPT, "... as corrupt");
	is_int(got.len, 0, "... nothing delivered");
	membuf_free(&got);
	is_int(get_all(st, "ranged", 0, 1, &got, &err), 0, "range get (0, 1)");
	is_buf(got.buf, got.len, data, 1, "... one byte");
	membuf_free(&got);
	is_int(get_all(st, "ranged", 2000, 10, &got, &err), -1, "range starting past the end: refused");
	is_kind(err, PGARK_ERR_CORRUPT, "... as corrupt");
	membuf_free(&got);
	is_int(get_all(st, "ranged", 1000, 0, &got, &err), 0, "range from the end, to the end: empty");
	is_int(got.len, 0, "... nothing");
	membuf_free(&got);
}

static void
test_get_buf(store *st)
{
	pgark_err	err;
	uint8_t		data[100];
	uint8_t    *buf;
	size_t		len;

	fill_random(data, sizeof(data), 7);
	store_put_buf(st, "hundred", data, sizeof(data), 0, &err);
	is_int(store_get_buf(st, "hundred", 100, &buf, &len, &err), 0, "get_buf with maxlen = size");
	is_buf(buf, len, data, 100, "... whole");
	free(buf);
	is_int(store_get_buf(st, "hundred", 1000, &buf, &len, &err), 0, "get_buf with maxlen > size");
	is_int(len, 100, "... 100 bytes");
	free(buf);
	err_clear(&err);
	is_int(store_get_buf(st, "hundred", 99, &buf, &len, &err), -1, "get_buf with maxlen = size - 1 fails");
	is_kind(err, PGARK_ERR_CORRUPT, "... as CORRUPT");
	like(err.msg, "hundred", "... naming the object");
	ok(buf == NULL && len == 0, "... with no buffer");
	is_int(store_get_buf(st, "hundred", 0, &buf, &len, &err), -1, "get_buf with maxlen 0 fails");
	store_put_buf(st, "zero", "", 0, 0, &err);
	is_int(store_get_buf(st, "zero", 0, &buf, &len, &err), 0, "an empty object fits maxlen 0");
	is_int(len, 0, "... 0 bytes");
	free(buf);
}

static void
test_open(void)
{
	pgark_err	err;
	store	   *st;
	char		path[2048];

	err_clear(&err);
	ok(store_local_open("relative/path", &err) == NULL, "a relative root is refused");
	snprintf(path, sizeof(path), "%s/does-not-exist", dir);
	st = store_local_open(path, &err);
	ok(st == NULL && err.kind == PGARK_ERR_NOREPO, "a missing root is NOREPO");
	like(err.msg, "repo-init", "... saying to run repo-init");
	snprintf(path, sizeof(path), "%s/file", dir);
	write_str(path, "x");
	ok(store_local_open(path, &err) == NULL, "a file as root is refused");

	/* a trailing slash on the root is fine */
	snprintf(path, sizeof(path), "%s/", dir);
	st = store_local_open(path, &err);
	if (ok(st != NULL, "a root with a trailing slash opens"))
	{
		store_stat	ss;

		is_int(store_head(st, "a/b/c", &ss, &err), 0, "... and sees the same objects");
		store_free(st);
	}
	store_free(NULL);
}

int
main(void)
{
	pgark_err	err;
	store	   *st;

	make_tmpdir(dir, sizeof(dir), "store");
	test_names();
	st = store_local_open(dir, &err);
	if (st == NULL)
		bail_out("store_local_open(%s): %s", dir, err.msg);
	test_basic(st);
	test_abort(st);
	test_ranges(st);
	test_get_buf(st);
	store_free(st);
	test_open();
	rm_rf(dir);
	return done_testing();
}
