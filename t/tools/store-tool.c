/*
 * store-tool.c — the repository's objects by name, through the store interface
 * (lib/store.h), whatever the backend: what the cluster tests (t/lib/PgarkTest.pm)
 * use to look at, damage and repair objects of an S3 repository as they do with
 * files of a local one. A test tool, not installed.
 *
 *   store-tool CONFIG get NAME        object bytes to stdout
 *   store-tool CONFIG put NAME        stdin becomes the object (replaces it)
 *   store-tool CONFIG put-new NAME    the same, refused if the name exists
 *   store-tool CONFIG list [PREFIX]   "NAME SIZE" per object, sorted by name
 *   store-tool CONFIG head NAME       "SIZE MTIME"
 *   store-tool CONFIG rm NAME         remove (absent is fine)
 *   store-tool CONFIG seal NAME       stdin (at most 1 MiB) sealed as an object with the
 *                                     repository's cipher and data key (replaces it)
 *   store-tool CONFIG unseal NAME     an object's plaintext to stdout
 *
 * CONFIG is a pgark configuration file; only its [repo] section matters, but
 * it is loaded and validated as the programs do.
 * Exit: 0 done, 1 not found (get, head), 2 usage, 3 exists (put-new), 4 other.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "err.h"
#include "object.h"
#include "repo.h"
#include "store.h"

#define EXIT_NOTFOUND 1
#define EXIT_USAGE 2
#define EXIT_EXISTS 3
#define EXIT_OTHER 4

static const char *usage_text =
	"usage: store-tool CONFIG get NAME [OFFSET LENGTH]\n"
	"       store-tool CONFIG put|put-new|head|seal|unseal NAME\n"
	"       store-tool CONFIG rm NAME [NAME...]   (several: store_remove_many)\n"
	"       store-tool CONFIG list [PREFIX]\n"
	"       store-tool CONFIG fill PREFIX N       (N small objects PREFIX/000000...)\n"
	"       store-tool CONFIG rm-prefix PREFIX    (every object under PREFIX, at once)\n";

static int
fail(const pgark_err *err)
{
	fprintf(stderr, "store-tool: ERROR (%s): %s\n", err_kind_name(err->kind), err->msg);
	if (err->kind == PGARK_ERR_NOTFOUND)
		return EXIT_NOTFOUND;
	if (err->kind == PGARK_ERR_EXISTS)
		return EXIT_EXISTS;
	return EXIT_OTHER;
}

static int
write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0)
	{
		ssize_t		n = write(fd, p, len);

		if (n < 0)
		{
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t) n;
	}
	return 0;
}

static int
cmd_get(store *st, const char *name, uint64_t offset, uint64_t len)
{
	pgark_err	err = {0};
	store_reader *r = store_get(st, name, offset, len, &err);
	static char buf[1 << 16];

	if (r == NULL)
		return fail(&err);
	for (;;)
	{
		size_t		got;

		if (store_read(r, buf, sizeof(buf), &got, &err) != 0)
		{
			store_reader_close(r);
			return fail(&err);
		}
		if (got == 0)
			break;
		if (write_all(STDOUT_FILENO, buf, got) != 0)
		{
			fprintf(stderr, "store-tool: could not write to stdout: %s\n", strerror(errno));
			store_reader_close(r);
			return EXIT_OTHER;
		}
	}
	store_reader_close(r);
	return 0;
}

/* Read stdin to its end, so that a writer into our stdin (the tests'
 * IPC::Run) does not die of EPIPE when we fail before reading it all. */
static void
drain_stdin(void)
{
	static char buf[1 << 16];

	while (read(STDIN_FILENO, buf, sizeof(buf)) > 0 || errno == EINTR)
		errno = 0;
}

static int
cmd_put(store *st, const char *name, int flags)
{
	pgark_err	err = {0};
	store_writer *w = store_put_begin(st, name, &err);
	static char buf[1 << 16];

	if (w == NULL)
	{
		drain_stdin();
		return fail(&err);
	}
	for (;;)
	{
		ssize_t		n = read(STDIN_FILENO, buf, sizeof(buf));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
		{
			fprintf(stderr, "store-tool: could not read stdin: %s\n", strerror(errno));
			store_put_abort(w);
			return EXIT_OTHER;
		}
		if (n == 0)
			break;
		if (store_put_write(w, buf, (size_t) n, &err) != 0)
		{
			store_put_abort(w);
			drain_stdin();
			return fail(&err);
		}
	}
	if (store_put_commit(w, flags, &err) != 0)
		return fail(&err);
	return 0;
}

/* N small objects PREFIX/000000 ... in one process (one connection), for
 * listings of more than one page and deletes of more than one batch. */
static int
cmd_fill(store *st, const char *prefix, long n)
{
	pgark_err	err = {0};

	for (long i = 0; i < n; i++)
	{
		char		name[600];
		int			len = snprintf(name, sizeof(name), "%s/%06ld", prefix, i);

		if (store_put_buf(st, name, name, (size_t) len, 0, &err) != 0)
			return fail(&err);
	}
	return 0;
}

/* Remove every object under PREFIX with one store_remove_many. */
static int	cmd_rm_prefix(store *st, const char *prefix);

typedef struct entry
{
	char	   *name;
	uint64_t	size;
} entry;

typedef struct entries
{
	entry	   *v;
	size_t		n;
	size_t		cap;
} entries;

static int
collect(void *arg, const char *name, const store_stat *sst, pgark_err *err)
{
	entries    *e = arg;

	if (e->n == e->cap)
	{
		size_t		cap = e->cap ? e->cap * 2 : 256;
		entry	   *v = realloc(e->v, cap * sizeof(*v));

		if (v == NULL)
			return err_set(err, PGARK_ERR_INTERNAL, 0, "out of memory");
		e->v = v;
		e->cap = cap;
	}
	e->v[e->n].name = strdup(name);
	if (e->v[e->n].name == NULL)
		return err_set(err, PGARK_ERR_INTERNAL, 0, "out of memory");
	e->v[e->n].size = sst->size;
	e->n++;
	return 0;
}

static int
by_name(const void *a, const void *b)
{
	return strcmp(((const entry *) a)->name, ((const entry *) b)->name);
}

static int
cmd_list(store *st, const char *prefix)
{
	pgark_err	err = {0};
	entries		e = {0};
	int			rc = 0;

	if (store_list(st, prefix, collect, &e, &err) != 0)
		rc = fail(&err);
	else
	{
		if (e.n > 0)			/* (qsort of NULL, even of 0 items, is undefined) */
			qsort(e.v, e.n, sizeof(entry), by_name);
		for (size_t i = 0; i < e.n; i++)
			printf("%s %llu\n", e.v[i].name, (unsigned long long) e.v[i].size);
		if (fflush(stdout) != 0)
			rc = EXIT_OTHER;
	}
	for (size_t i = 0; i < e.n; i++)
		free(e.v[i].name);
	free(e.v);
	return rc;
}

static int
cmd_rm_prefix(store *st, const char *prefix)
{
	pgark_err	err = {0};
	entries		e = {0};
	const char **names = NULL;
	int			rc = 0;

	if (store_list(st, prefix, collect, &e, &err) != 0)
		rc = fail(&err);
	else if (e.n > 0)
	{
		if ((names = malloc(e.n * sizeof(*names))) == NULL)
		{
			fprintf(stderr, "store-tool: out of memory\n");
			rc = EXIT_OTHER;
		}
		else
		{
			for (size_t i = 0; i < e.n; i++)
				names[i] = e.v[i].name;
			if (store_remove_many(st, names, e.n, &err) != 0)
				rc = fail(&err);
		}
	}
	free(names);
	for (size_t i = 0; i < e.n; i++)
		free(e.v[i].name);
	free(e.v);
	return rc;
}

static int
cmd_head(store *st, const char *name)
{
	pgark_err	err = {0};
	store_stat	sst;

	if (store_head(st, name, &sst, &err) != 0)
		return fail(&err);
	printf("%llu %lld\n", (unsigned long long) sst.size, (long long) sst.mtime);
	return fflush(stdout) == 0 ? 0 : EXIT_OTHER;
}

static int
cmd_rm(store *st, const char *name)
{
	pgark_err	err = {0};

	if (store_remove(st, name, &err) != 0)
		return fail(&err);
	return 0;
}

/* seal / unseal: through the repository (its cipher and keys) */
static int
cmd_sealed(const char *config, const char *cmd, const char *name)
{
	pgark_config cfg;
	pgark_err	err;
	repo	   *r;
	char	   *buf = NULL;
	size_t		len = 0;
	int			rc = 0;

	config_defaults(&cfg);
	err_clear(&err);
	if (config_load(&cfg, config, &err) != 0 || (r = repo_open(&cfg, &err)) == NULL)
		return fail(&err);
	if (strcmp(cmd, "seal") == 0)
	{
		/* one byte more than it takes: more input is an error, not cut */
		if ((buf = malloc((1 << 20) + 1)) == NULL)
			return EXIT_OTHER;
		len = fread(buf, 1, (1 << 20) + 1, stdin);
		if (ferror(stdin) || len > (1 << 20))
		{
			fprintf(stderr, "store-tool: seal %s: %s\n", name,
					ferror(stdin) ? "could not read standard input" : "standard input is over 1 MiB (not sealed)");
			rc = EXIT_OTHER;
		}
		else if (repo_put_object(r, name, buf, len, 0, &err) != 0)
			rc = fail(&err);
	}
	else
	{
		/* streamed: a manifest's header gives no length */
		store_reader *sr = store_get(r->st, name, 0, 0, &err);
		obj_reader *or = sr ? repo_object_reader(r, store_read_source, sr, &err) : NULL;
		char		chunk[65536];

		if (or == NULL)
			rc = fail(&err);
		while (rc == 0)
		{
			if (obj_reader_read(or, chunk, sizeof(chunk), &len, &err) != 0)
				rc = fail(&err);
			else if (len == 0)
				break;
			else if (fwrite(chunk, 1, len, stdout) != len)
				rc = EXIT_OTHER;
		}
		obj_reader_free(or);
		store_reader_close(sr);
	}
	free(buf);
	repo_close(r);
	return rc;
}

int
main(int argc, char **argv)
{
	pgark_config cfg;
	pgark_err	err = {0};
	store	   *st;
	const char *cmd;
	const char *arg;
	int			rc;

	if (argc < 3)
	{
		fputs(usage_text, stderr);
		return EXIT_USAGE;
	}
	cmd = argv[2];
	arg = argc >= 4 ? argv[3] : NULL;
	if (strcmp(cmd, "list") == 0 ? argc > 4 :
		strcmp(cmd, "get") == 0 ? (argc != 4 && argc != 6) :
		strcmp(cmd, "rm") == 0 ? argc < 4 :
		strcmp(cmd, "fill") == 0 ? argc != 5 : argc != 4)
	{
		fputs(usage_text, stderr);
		return EXIT_USAGE;
	}
	if (strcmp(cmd, "get") != 0 && strcmp(cmd, "put") != 0 && strcmp(cmd, "put-new") != 0 &&
		strcmp(cmd, "list") != 0 && strcmp(cmd, "head") != 0 && strcmp(cmd, "rm") != 0 &&
		strcmp(cmd, "fill") != 0 && strcmp(cmd, "rm-prefix") != 0 && strcmp(cmd, "seal") != 0 &&
		strcmp(cmd, "unseal") != 0)
	{
		fprintf(stderr, "store-tool: unknown command \"%s\"\n", cmd);
		fputs(usage_text, stderr);
		return EXIT_USAGE;
	}
	/* a reader of stdout that goes away must not kill us silently */
	signal(SIGPIPE, SIG_IGN);

	config_defaults(&cfg);
	if (strcmp(cmd, "seal") == 0 || strcmp(cmd, "unseal") == 0)
		return cmd_sealed(argv[1], cmd, arg);
	if (config_load(&cfg, argv[1], &err) != 0 || (st = store_open(&cfg, &err)) == NULL)
	{
		if (strncmp(cmd, "put", 3) == 0)
			drain_stdin();
		return fail(&err);
	}

	if (strcmp(cmd, "get") == 0)
		rc = cmd_get(st, arg, argc == 6 ? strtoull(argv[4], NULL, 10) : 0,
					 argc == 6 ? strtoull(argv[5], NULL, 10) : 0);
	else if (strcmp(cmd, "fill") == 0)
		rc = cmd_fill(st, arg, strtol(argv[4], NULL, 10));
	else if (strcmp(cmd, "rm-prefix") == 0)
		rc = cmd_rm_prefix(st, arg);
	else if (strcmp(cmd, "rm") == 0 && argc > 4)
	{
		rc = 0;
		if (store_remove_many(st, (const char *const *) (argv + 3), (size_t) (argc - 3), &err) != 0)
			rc = fail(&err);
	}
	else if (strcmp(cmd, "put") == 0)
		rc = cmd_put(st, arg, 0);
	else if (strcmp(cmd, "put-new") == 0)
		rc = cmd_put(st, arg, STORE_NO_OVERWRITE);
	else if (strcmp(cmd, "list") == 0)
		rc = cmd_list(st, arg ? arg : "");
	else if (strcmp(cmd, "head") == 0)
		rc = cmd_head(st, arg);
	else
		rc = cmd_rm(st, arg);
	store_free(st);
	return rc;
}
