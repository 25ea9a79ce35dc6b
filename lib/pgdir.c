/*
 * pgdir.c — walking a PostgreSQL data directory with PostgreSQL's base backup
 * exclusion rules, and PostgreSQL's page checksum.
 *
 * The walk reads one directory at a time into a name list, sorts it with
 * strcmp and handles the names in that order, descending into each
 * subdirectory before the next sibling: since a name never holds '/', that is
 * exactly pgdir_pathcmp order. Memory is one name list per directory level.
 *
 * The rules are those of PostgreSQL 15's src/backend/backup/basebackup.c
 * (sendDir): names checked before anything else, at every depth; unlogged and
 * temporary relations only in database directories; pg_wal only at the top;
 * symbolic links followed only in pg_tblspc/.
 */
#include "pgdir.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

/* ------------------------------------------------------------------ order */

/* '/' sorts below every other byte except the terminating NUL. */
static int
path_key(unsigned char c)
{
	if (c == '/')
		return 1;
	return c < '/' && c != 0 ? c + 1 : c;
}

int
pgdir_pathcmp(const char *a, const char *b)
{
	const unsigned char *p = (const unsigned char *) a;
	const unsigned char *q = (const unsigned char *) b;

	while (*p != '\0' && *p == *q)
	{
		p++;
		q++;
	}
	return path_key(*p) - path_key(*q);
}

/* ------------------------------------------------------------------ names */

/* Names excluded wherever they appear (excludeFiles and PG_TEMP_FILE_PREFIX). */
static const char *const exclude_files[] = {
	"postgresql.auto.conf.tmp",
	"current_logfiles.tmp",
	"backup_label",
	"tablespace_map",
	"backup_manifest",
	"postmaster.pid",
	"postmaster.opts",
	"backup_label.old",
	"tablespace_map.old",
	NULL
};
static const char *const exclude_prefixes[] = {
	"pg_internal.init",			/* the relcache file and its temporary copies */
	"pgsql_tmp",				/* temporary files and directories */
	NULL
};

/* Directories kept, as empty directories, wherever they appear (excludeDirContents). */
static const char *const exclude_dir_contents[] = {
	"pg_stat_tmp",
	"pg_replslot",
	"pg_dynshmem",
	"pg_notify",
	"pg_serial",
	"pg_snapshots",
	"pg_subtrans",
	NULL
};

static int
in_list(const char *name, const char *const *list)
{
	for (int i = 0; list[i] != NULL; i++)
		if (strcmp(name, list[i]) == 0)
			return 1;
	return 0;
}

static int
excluded_name(const char *name)
{
	if (in_list(name, exclude_files))
		return 1;
	for (int i = 0; exclude_prefixes[i] != NULL; i++)
		if (strncmp(name, exclude_prefixes[i], strlen(exclude_prefixes[i])) == 0)
			return 1;
	return 0;
}

static size_t
digits(const char *s)
{
	size_t		n = 0;

	while (s[n] >= '0' && s[n] <= '9')
		n++;
	return n;
}

static int
all_digits(const char *s)
{
	return s[0] != '\0' && s[digits(s)] == '\0';
}

#define OIDCHARS 10				/* digits of the largest OID */
#define MAX_SEGNO (UINT32_C(0xFFFFFFFF) / PG_RELSEG_PAGES)	/* block numbers are 32 bits */

typedef enum relfork
{
	FORK_MAIN,
	FORK_FSM,
	FORK_VM,
	FORK_INIT
} relfork;

typedef struct relfile
{
	size_t		numlen;			/* digits of the relfilenode */
	relfork		fork;
	int			has_seg;		/* a ".N" suffix */
	int			seg_ok;			/* N is a usable segment number (1..MAX_SEGNO) */
	uint32_t	segno;
} relfile;

/*
 * "<relfilenode>[_fsm|_vm|_init][.<segment>]", as PostgreSQL's
 * parse_filename_for_nontemp_relation() accepts it.
 */
static int
parse_relfile(const char *name, relfile *rf)
{
	static const struct
	{
		const char *suffix;
		relfork		fork;
	}			forks[] = {
		{"_fsm", FORK_FSM}, {"_vm", FORK_VM}, {"_init", FORK_INIT}
	};
	const char *p = name;

	memset(rf, 0, sizeof(*rf));
	rf->numlen = digits(p);
	if (rf->numlen == 0 || rf->numlen > OIDCHARS)
		return 0;
	p += rf->numlen;
	rf->fork = FORK_MAIN;
	if (*p == '_')
	{
		size_t		i;

		for (i = 0; i < sizeof(forks) / sizeof(forks[0]); i++)
		{
			size_t		len = strlen(forks[i].suffix);

			if (strncmp(p, forks[i].suffix, len) == 0)
			{
				rf->fork = forks[i].fork;
				p += len;
				break;
			}
		}
		if (i == sizeof(forks) / sizeof(forks[0]))
			return 0;
	}
	if (*p == '.')
	{
		size_t		n = digits(p + 1);
		uint64_t	v = 0;

		if (n == 0)
			return 0;
		for (size_t i = 1; i <= n && v <= MAX_SEGNO; i++)
			v = v * 10 + (uint64_t) (p[i] - '0');
		rf->has_seg = 1;
		rf->seg_ok = (v >= 1 && v <= MAX_SEGNO);
		rf->segno = rf->seg_ok ? (uint32_t) v : 0;
		p += 1 + n;
	}
	return *p == '\0';
}

/* "t<backend>_<relfilenode>[_fork][.seg]": a temporary relation (looks_like_temp_rel_name). */
static int
is_temp_relfile(const char *name)
{
	relfile		rf;
	size_t		n;

	if (name[0] != 't')
		return 0;
	n = digits(name + 1);
	if (n == 0 || name[1 + n] != '_')
		return 0;
	return parse_relfile(name + 2 + n, &rf);
}

/* ------------------------------------------------------------------ name lists */

typedef struct namelist
{
	char	   *buf;			/* the names, NUL-terminated, one after another */
	size_t		len;
	size_t		cap;
	size_t	   *offs;			/* where each name starts in buf */
	char	  **names;			/* sorted, once read */
	size_t		n;
	size_t		cap_n;
} namelist;

static void
namelist_free(namelist *nl)
{
	free(nl->buf);
	free(nl->offs);
	free(nl->names);
	memset(nl, 0, sizeof(*nl));
}

static int
namelist_add(namelist *nl, const char *name)
{
	size_t		len = strlen(name) + 1;

	if (nl->len + len > nl->cap)
	{
		size_t		cap = nl->cap ? nl->cap * 2 : 4096;
		char	   *nb;

		while (cap < nl->len + len)
			cap *= 2;
		nb = realloc(nl->buf, cap);
		if (nb == NULL)
			return -1;
		nl->buf = nb;
		nl->cap = cap;
	}
	if (nl->n == nl->cap_n)
	{
		size_t		cap = nl->cap_n ? nl->cap_n * 2 : 64;
		size_t	   *no = realloc(nl->offs, cap * sizeof(*no));

		if (no == NULL)
			return -1;
		nl->offs = no;
		nl->cap_n = cap;
	}
	memcpy(nl->buf + nl->len, name, len);
	nl->offs[nl->n++] = nl->len;
	nl->len += len;
	return 0;
}

static int
cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

/*
 * Read the names of directory abs (without "." and ".."), sorted with strcmp.
 * Returns 0, 1 if the directory does not exist (any more), -1 on error.
 */
static int
namelist_read(namelist *nl, const char *abs, pgark_err *err)
{
	DIR		   *d;
	struct dirent *de;
	int			rc = -1;

	memset(nl, 0, sizeof(*nl));
	d = opendir(abs);
	if (d == NULL)
	{
		if (errno == ENOENT)
			return 1;
		return err_sys(err, PGARK_ERR_IO, "could not open directory \"%s\"", abs);
	}
	for (;;)
	{
		errno = 0;
		de = readdir(d);
		if (de == NULL)
			break;
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (namelist_add(nl, de->d_name) != 0)
		{
			err_set(err, PGARK_ERR_INTERNAL, ENOMEM, "out of memory reading directory \"%s\"", abs);
			goto done;
		}
	}
	if (errno != 0)
	{
		err_sys(err, PGARK_ERR_IO, "could not read directory \"%s\"", abs);
		goto done;
	}
	nl->names = malloc((nl->n ? nl->n : 1) * sizeof(char *));
	if (nl->names == NULL)
	{
		err_set(err, PGARK_ERR_INTERNAL, ENOMEM, "out of memory reading directory \"%s\"", abs);
		goto done;
	}
	for (size_t i = 0; i < nl->n; i++)
		nl->names[i] = nl->buf + nl->offs[i];
	qsort(nl->names, nl->n, sizeof(char *), cmp_names);
	rc = 0;
done:
	closedir(d);
	if (rc != 0)
		namelist_free(nl);
	return rc;
}

static int
namelist_has(const namelist *nl, const char *name)
{
	const char *key = name;

	return bsearch(&key, nl->names, nl->n, sizeof(char *), cmp_names) != NULL;
}

/* ------------------------------------------------------------------ the walk */

/* What a directory is, which decides the rules for its entries. */
typedef enum dirkind
{
	DK_ROOT,					/* the data directory */
	DK_PLAIN,
	DK_BASE,					/* base/ */
	DK_GLOBAL,					/* global/: relation files, no database directory */
	DK_TBLSPC,					/* pg_tblspc/: symbolic links are tablespaces */
	DK_SPCROOT,					/* pg_tblspc/<oid>: a tablespace's location */
	DK_SPCVER,					/* pg_tblspc/<oid>/PG_<major>_<catversion> */
	DK_DB						/* base/<oid> or pg_tblspc/<oid>/PG_.../<oid> */
} dirkind;

typedef struct walker
{
	pgdir_fn	fn;
	void	   *arg;
	pgark_err  *err;
	char		rel[PATH_MAX];	/* the current path, relative to the data directory */
	char		abs[PATH_MAX];	/* and where it really is */
	char		spcver_prefix[32];	/* "PG_15_", or "" if PG_VERSION was not read */
	pgdir_entry e;
} walker;

static dirkind
child_kind(dirkind parent, const char *name)
{
	switch (parent)
	{
		case DK_ROOT:
			if (strcmp(name, "base") == 0)
				return DK_BASE;
			if (strcmp(name, "global") == 0)
				return DK_GLOBAL;
			if (strcmp(name, "pg_tblspc") == 0)
				return DK_TBLSPC;
			return DK_PLAIN;
		case DK_BASE:
			return all_digits(name) ? DK_DB : DK_PLAIN;
		case DK_TBLSPC:
			return DK_SPCROOT;
		case DK_SPCROOT:
			return strncmp(name, "PG_", 3) == 0 ? DK_SPCVER : DK_PLAIN;
		case DK_SPCVER:
			return all_digits(name) ? DK_DB : DK_PLAIN;
		case DK_PLAIN:
		case DK_GLOBAL:
		case DK_DB:
			break;
	}
	return DK_PLAIN;
}

/*
 * Append "/name" (just "name" at the top) to w->rel, and set w->abs to
 * "abs_dir/name"; -1 (err set) if a path gets too long. walk_list() cuts
 * w->rel back after each entry.
 */
static int
push_name(walker *w, const char *abs_dir, const char *name)
{
	size_t		rel_len = strlen(w->rel);
	size_t		name_len = strlen(name);
	size_t		abs_len = strlen(abs_dir);

	if (rel_len + 1 + name_len >= sizeof(w->rel) || abs_len + 1 + name_len >= sizeof(w->abs))
		return err_set(w->err, PGARK_ERR_IO, ENAMETOOLONG, "path too long: \"%s/%s\"", abs_dir, name);
	if (w->abs != abs_dir)
		memcpy(w->abs, abs_dir, abs_len);
	w->abs[abs_len] = '/';
	memcpy(w->abs + abs_len + 1, name, name_len + 1);
	if (rel_len > 0)
		w->rel[rel_len] = '/';
	memcpy(w->rel + rel_len + (rel_len > 0), name, name_len + 1);
	return 0;
}

static int
report(walker *w, pgdir_kind kind, const struct stat *st, const char *link_target,
	   const relfile *rf)
{
	pgdir_entry *e = &w->e;

	e->kind = kind;
	memcpy(e->path, w->rel, strlen(w->rel) + 1);
	memcpy(e->abs, w->abs, strlen(w->abs) + 1);
	e->mode = st->st_mode & 07777;
	e->size = kind == PGDIR_FILE ? (uint64_t) st->st_size : 0;
	e->mtime = (int64_t) st->st_mtime;
	snprintf(e->link_target, sizeof(e->link_target), "%s", link_target ? link_target : "");
	e->is_relation = rf != NULL && (!rf->has_seg || rf->seg_ok);
	e->segno = e->is_relation ? rf->segno : 0;
	if (w->fn(w->arg, e, w->err) != 0)
	{
		if (w->err->kind == PGARK_OK)
			err_set(w->err, PGARK_ERR_INTERNAL, 0, "walk of the data directory stopped at \"%s\"", e->path);
		return -1;
	}
	return 0;
}

/*
 * A directory whose contents are not backed up, or a link to one (pg_wal made
 * by initdb -X, pg_stat_tmp on a tmpfs): reported as a directory with the
 * target's permissions, as PostgreSQL's convert_link_to_directory() does.
 */
static void
as_directory(const char *abs, struct stat *st)
{
	struct stat target;

	if (S_ISDIR(st->st_mode))
		return;
	if (stat(abs, &target) == 0 && S_ISDIR(target.st_mode))
		*st = target;
	else
	{
		st->st_mode = S_IFDIR | 0700;
		st->st_size = 0;
	}
}

static int	walk_list(walker *w, dirkind kind, const char *abs_dir, const namelist *nl);

/* pg_wal, at the top: kept empty, with archive_status/ (w->rel, w->abs name it). */
static int
walk_pg_wal(walker *w, struct stat *st)
{
	char		abs_dir[PATH_MAX];

	as_directory(w->abs, st);
	if (report(w, PGDIR_DIR, st, NULL, NULL) != 0)
		return -1;
	memcpy(abs_dir, w->abs, strlen(w->abs) + 1);
	if (push_name(w, abs_dir, "archive_status") != 0)
		return -1;
	return report(w, PGDIR_DIR, st, NULL, NULL);
}

/* pg_tblspc/<oid> is a symbolic link (w->rel, w->abs name it): a tablespace. */
static int
walk_tablespace(walker *w)
{
	char		target[PATH_MAX];
	char		real[PATH_MAX];
	struct stat st;
	namelist	nl;
	ssize_t		n;
	int			rc;

	n = readlink(w->abs, target, sizeof(target));
	if (n < 0)
	{
		if (errno == ENOENT)
			return 0;
		return err_sys(w->err, PGARK_ERR_IO, "could not read symbolic link \"%s\"", w->abs);
	}
	if ((size_t) n >= sizeof(target))
		return err_set(w->err, PGARK_ERR_IO, ENAMETOOLONG, "symbolic link \"%s\": target too long", w->abs);
	target[n] = '\0';
	if (realpath(w->abs, real) == NULL || stat(real, &st) != 0)
	{
		if (errno == ENOENT)
			return 0;			/* dropped while we walk */
		return err_sys(w->err, PGARK_ERR_IO, "could not follow tablespace link \"%s\" to \"%s\"",
					   w->abs, target);
	}
	if (!S_ISDIR(st.st_mode))
		return err_set(w->err, PGARK_ERR_IO, ENOTDIR,
					   "tablespace link \"%s\" points to \"%s\", which is not a directory", w->abs, target);
	rc = namelist_read(&nl, real, w->err);
	if (rc != 0)
		return rc > 0 ? 0 : -1;
	memcpy(w->abs, real, strlen(real) + 1);
	rc = report(w, PGDIR_TABLESPACE, &st, target, NULL);
	if (rc == 0)
		rc = walk_list(w, DK_SPCROOT, real, &nl);
	namelist_free(&nl);
	return rc;
}

/* A directory (w->rel, w->abs name it) of kind kind: itself, then its entries. */
static int
walk_subdir(walker *w, dirkind kind, const struct stat *st)
{
	char		abs_dir[PATH_MAX];
	namelist	nl;
	int			rc;

	memcpy(abs_dir, w->abs, strlen(w->abs) + 1);
	rc = namelist_read(&nl, abs_dir, w->err);
	if (rc != 0)
		return rc > 0 ? 0 : -1;	/* 1: it vanished */
	rc = report(w, PGDIR_DIR, st, NULL, NULL);
	if (rc == 0)
		rc = walk_list(w, kind, abs_dir, &nl);
	namelist_free(&nl);
	return rc;
}

/* One name of directory abs_dir (of kind parent, listed in nl). */
static int
walk_entry(walker *w, dirkind parent, const char *abs_dir, const namelist *nl, const char *name)
{
	struct stat st;
	relfile		rf;
	int			is_rel = 0;

	if (excluded_name(name))
		return 0;
	if (parent == DK_SPCROOT && w->spcver_prefix[0] != '\0' &&
		strncmp(name, w->spcver_prefix, strlen(w->spcver_prefix)) != 0)
		return 0;				/* not this server's version directory (pg_upgrade leftovers) */
	if (parent == DK_DB)
	{
		if (is_temp_relfile(name))
			return 0;
		if (parse_relfile(name, &rf))
		{
			if (rf.fork != FORK_INIT)
			{
				char		init[OIDCHARS + 8];

				snprintf(init, sizeof(init), "%.*s_init", (int) rf.numlen, name);
				if (namelist_has(nl, init))
					return 0;	/* an unlogged relation: only its init fork is kept */
			}
			is_rel = 1;
		}
	}
	else if (parent == DK_GLOBAL)
		is_rel = parse_relfile(name, &rf);

	if (push_name(w, abs_dir, name) != 0)
		return -1;
	if (lstat(w->abs, &st) != 0)
	{
		if (errno == ENOENT)
			return 0;			/* dropped while we walk */
		return err_sys(w->err, PGARK_ERR_IO, "could not stat \"%s\"", w->abs);
	}

	if (in_list(name, exclude_dir_contents) && (S_ISDIR(st.st_mode) || S_ISLNK(st.st_mode)))
	{
		as_directory(w->abs, &st);
		return report(w, PGDIR_DIR, &st, NULL, NULL);
	}
	if (parent == DK_ROOT && strcmp(name, "pg_wal") == 0)
		return walk_pg_wal(w, &st);
	if (parent == DK_TBLSPC && S_ISLNK(st.st_mode))
		return walk_tablespace(w);
	if (S_ISDIR(st.st_mode))
		return walk_subdir(w, child_kind(parent, name), &st);
	if (S_ISREG(st.st_mode))
		return report(w, PGDIR_FILE, &st, NULL, is_rel ? &rf : NULL);

	/*
	 * Sockets, FIFOs, devices, and symbolic links outside pg_tblspc/: skipped.
	 * PostgreSQL's basebackup skips them too ("skipping special file"), with a
	 * warning we have no channel for. Links are never followed: that could
	 * take the backup anywhere, and a restore could not recreate them.
	 */
	return 0;
}

/* The entries nl of directory abs_dir, whose own path is w->rel. */
static int
walk_list(walker *w, dirkind kind, const char *abs_dir, const namelist *nl)
{
	size_t		rel_len = strlen(w->rel);
	int			rc = 0;

	for (size_t i = 0; i < nl->n && rc == 0; i++)
	{
		rc = walk_entry(w, kind, abs_dir, nl, nl->names[i]);
		w->rel[rel_len] = '\0';
	}
	return rc;
}

/* "PG_<major>_" from PG_VERSION, the prefix of the tablespace directory this server uses. */
static void
read_spcver_prefix(walker *w, const char *pgdata)
{
	char		path[PATH_MAX];
	char		buf[16];
	ssize_t		n;
	size_t		len;
	int			fd;

	w->spcver_prefix[0] = '\0';
	if ((size_t) snprintf(path, sizeof(path), "%s/PG_VERSION", pgdata) >= sizeof(path))
		return;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	n = read_full(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return;
	buf[n] = '\0';
	len = strspn(buf, "0123456789.");
	if (len == 0 || len > 8 || (buf[len] != '\n' && buf[len] != '\0'))
		return;
	snprintf(w->spcver_prefix, sizeof(w->spcver_prefix), "PG_%.*s_", (int) len, buf);
}

int
pgdir_walk(const char *pgdata, pgdir_fn fn, void *arg, pgark_err *err)
{
	walker	   *w = NULL;
	namelist	nl;
	char		root[PATH_MAX];
	struct stat st;
	int			rc = -1;

	err_clear(err);
	if (realpath(pgdata, root) == NULL)
		return err_sys(err, errno == ENOENT ? PGARK_ERR_NOTFOUND : PGARK_ERR_IO,
					   "data directory \"%s\"", pgdata);
	if (stat(root, &st) != 0)
		return err_sys(err, PGARK_ERR_IO, "could not stat data directory \"%s\"", pgdata);
	if (!S_ISDIR(st.st_mode))
		return err_set(err, PGARK_ERR_IO, ENOTDIR, "data directory \"%s\" is not a directory", pgdata);
	w = calloc(1, sizeof(*w));
	if (w == NULL)
		return err_set(err, PGARK_ERR_INTERNAL, ENOMEM, "out of memory");
	w->fn = fn;
	w->arg = arg;
	w->err = err;
	read_spcver_prefix(w, root);
	rc = namelist_read(&nl, root, err);
	if (rc > 0)
		rc = err_set(err, PGARK_ERR_NOTFOUND, ENOENT, "data directory \"%s\" went away", pgdata);
	if (rc != 0)
		goto done;
	rc = walk_list(w, DK_ROOT, root, &nl);
	namelist_free(&nl);
done:
	free(w);
	return rc;
}

/* ------------------------------------------------------------------ pages */

#define N_SUMS 32
#define FNV_PRIME UINT32_C(16777619)

/* The initial values of the 32 parallel sums (checksum_impl.h). */
static const uint32_t checksum_base_offsets[N_SUMS] = {
	0x5B1F36E9, 0xB8525960, 0x02AB50AA, 0x1DE66D2A,
	0x79FF467A, 0x9BB9F8A3, 0x217E7CD2, 0x83E13D2C,
	0xF8D4474F, 0xE39EB970, 0x42C6AE16, 0x993216FA,
	0x7B093B5D, 0x98DAFF3C, 0xF718902A, 0x0B1C9CDB,
	0xE58F764B, 0x187636BC, 0x5D7B3BB1, 0xE73DE7DE,
	0x92BEC979, 0xCCA6C0B2, 0x304A0979, 0x85AA43D4,
	0x783125BB, 0x6CA8EAA2, 0xE407EAC6, 0x4B5CFC3E,
	0x9FBF8C76, 0x15CA20BE, 0xF2CA9FD3, 0x959BD756
};

static inline uint32_t
checksum_mix(uint32_t sum, uint32_t value)
{
	uint32_t	t = sum ^ value;

	return (t * FNV_PRIME) ^ (t >> 17);
}

/* The page is 64 rows of 32 host-order words; column j feeds sum j. */
static inline void
checksum_row(uint32_t sums[N_SUMS], const uint8_t *row)
{
	for (int j = 0; j < N_SUMS; j++)
	{
		uint32_t	v;

		memcpy(&v, row + 4 * j, 4);
		sums[j] = checksum_mix(sums[j], v);
	}
}

#define PD_CHECKSUM_OFF 8
#define PD_UPPER_OFF 14
#define ROW_BYTES (N_SUMS * 4)

uint16_t
pg_page_checksum(const uint8_t page[PG_PAGE_SIZE], uint32_t blkno)
{
	uint32_t	sums[N_SUMS];
	uint8_t		first[ROW_BYTES];
	uint32_t	result = 0;

	memcpy(sums, checksum_base_offsets, sizeof(sums));
	/* the first row with pd_checksum taken as zero */
	memcpy(first, page, ROW_BYTES);
	memset(first + PD_CHECKSUM_OFF, 0, 2);
	checksum_row(sums, first);
	for (size_t off = ROW_BYTES; off < PG_PAGE_SIZE; off += ROW_BYTES)
		checksum_row(sums, page + off);
	/* two rounds of zeros to mix the last words in */
	for (int i = 0; i < 2; i++)
		for (int j = 0; j < N_SUMS; j++)
			sums[j] = checksum_mix(sums[j], 0);
	for (int j = 0; j < N_SUMS; j++)
		result ^= sums[j];
	result ^= blkno;			/* a page moved to another block fails */
	return (uint16_t) (result % 65535 + 1);
}

pg_page_state
pg_page_verify(const uint8_t page[PG_PAGE_SIZE], uint32_t blkno, uint64_t start_lsn)
{
	uint16_t	upper;
	uint16_t	stored;
	uint32_t	xlogid;
	uint32_t	xrecoff;
	uint64_t	lsn;

	memcpy(&upper, page + PD_UPPER_OFF, 2);
	if (upper == 0)
	{
		/* a new page must be all zeros (PageIsVerifiedExtended) */
		for (size_t i = 0; i < PG_PAGE_SIZE; i++)
			if (page[i] != 0)
				return PG_PAGE_BAD;
		return PG_PAGE_NEW;
	}
	memcpy(&xlogid, page, 4);
	memcpy(&xrecoff, page + 4, 4);
	lsn = ((uint64_t) xlogid << 32) | xrecoff;
	if (lsn > start_lsn)
		return PG_PAGE_SKIPPED;
	memcpy(&stored, page + PD_CHECKSUM_OFF, 2);
	return pg_page_checksum(page, blkno) == stored ? PG_PAGE_OK : PG_PAGE_BAD;
}
