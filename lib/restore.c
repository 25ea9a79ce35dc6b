/*
 * restore.c — pitr-prepare's work: choose the backup, check the target
 * directory, write every file of the manifest below it (or below the
 * tablespace directories) without ever following a symlink out of them,
 * fetching only differing chunks with --delta, then backup_label,
 * tablespace_map, the recovery settings and the signal file; sync it all.
 */
#include "restore.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "inventory.h"
#include "manifest.h"
#include "pack.h"
#include "pgdir.h"
#include "util.h"
#include "wal.h"
#include "workers.h"

#define RUN_BYTES (4u * 1024 * 1024)
#define RUN_CHUNKS (RUN_BYTES / PACK_CHUNK_SIZE)
#define MAX_TABLESPACES 256

int
parse_target_time(const char *s, int64_t *out)
{
	int			y, mo, d, h, mi, sec, n = 0;
	char		sep;
	struct tm	tm;
	const char *p;
	long		off = 0;

	if (sscanf(s, "%4d-%2d-%2d%c%2d:%2d:%2d%n", &y, &mo, &d, &sep, &h, &mi, &sec, &n) != 7 ||
		(sep != ' ' && sep != 'T'))
		return -1;
	p = s + n;
	if (*p == '.')
	{
		p++;
		if (*p < '0' || *p > '9')
			return -1;
		while (*p >= '0' && *p <= '9')
			p++;
	}
	while (*p == ' ')
		p++;
	if (*p == 'Z' && p[1] == '\0')
		off = 0;
	else if (strcmp(p, "UTC") == 0)
		off = 0;
	else if (*p == '+' || *p == '-')
	{
		int			zh = 0, zm = 0, m = 0;

		if (sscanf(p + 1, "%2d:%2d%n", &zh, &zm, &m) == 2 && p[1 + m] == '\0')
			;
		else if (strlen(p + 1) == 4 && sscanf(p + 1, "%2d%2d%n", &zh, &zm, &m) == 2 && p[1 + m] == '\0')
			;
		else if (strlen(p + 1) <= 2 && sscanf(p + 1, "%2d%n", &zh, &m) == 1 && p[1 + m] == '\0')
			zm = 0;
		else
			return -1;
		if (zh > 15 || zm > 59)
			return -1;
		off = (zh * 3600L + zm * 60L) * (*p == '-' ? -1 : 1);
	}
	else
		return -1;				/* no zone: ambiguous, refused */
	if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
		return -1;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	*out = (int64_t) timegm(&tm) - off;
	return 0;
}

typedef struct tsdir
{
	char		oid[32];
	char		dir[PATH_MAX];
	int			fd;
} tsdir;

typedef struct restore_ctx
{
	repo	   *r;
	const restore_opts *o;
	restore_result *res;
	int			rootfd;
	tsdir		ts[MAX_TABLESPACES];
	int			nts;
	chunk_reader *cr;
	uint8_t		key[32];
	uint8_t    *run;			/* RUN_CHUNKS pages */
	chunk_ref  *win;			/* RUN_CHUNKS chunk references */
	uint8_t    *page;
	uint64_t	total, done;
	char	  **paths;			/* --delta: the manifest's paths, in order */
	size_t		npaths, cappaths;
	mf_entry	control;		/* global/pg_control, written last */
	chunk_ref	control_chunks[1];
	int			have_control;
	struct scout *scout;		/* read-ahead: NULL for none */
} restore_ctx;

/*
 * The read-ahead scout: a second reader of the manifest, walking ahead of
 * the restore's own, that tells the chunk reader which chunks the restore
 * will read next, in the order it will read them: every chunk of every file
 * but global/pg_control's (restored last, read then). A scout that fails
 * just stops: the restore's own reader meets the same error, and reports it.
 */
#define SCOUT_REFS 256

typedef struct scout
{
	mf_reader  *rd;
	mf_head		h;
	chunk_ref	refs[SCOUT_REFS];
	uint32_t	n,
				pos;			/* refs[pos, n) not yet handed over */
	int			in_file;
	int			done;
} scout;

static void
scout_feed(restore_ctx *c)
{
	scout	   *s = c->scout;
	pgark_err	e;

	if (s == NULL || s->done)
		return;
	err_clear(&e);
	while (!s->done && chunk_reader_wants_more(c->cr))
	{
		if (s->pos < s->n)
		{
			size_t		took = chunk_reader_expect(c->cr, s->refs + s->pos, s->n - s->pos, &e);

			s->pos += (uint32_t) took;
			if (e.kind != PGARK_OK)
				s->done = 1;
			else if (took == 0)
				return;			/* no room: next time */
			continue;
		}
		s->pos = s->n = 0;
		if (s->in_file)
		{
			if (mf_chunks(s->rd, s->refs, SCOUT_REFS, &s->n, &e) != 0)
				s->done = 1;
			else if (s->n == 0)
				s->in_file = 0;
		}
		else
		{
			mf_entry   *me;

			if (mf_next(s->rd, &me, &e) != 1)
				s->done = 1;	/* the end, or an error */
			else
				s->in_file = me->kind == MF_FILE &&
					!(strcmp(me->path, "global/pg_control") == 0 && me->nchunks == 1);
		}
	}
}

static int
dir_is_empty(const char *path, int *empty, pgark_err *err)
{
	DIR		   *d = opendir(path);
	struct dirent *de;

	*empty = 1;
	if (d == NULL)
	{
		if (errno == ENOENT)
			return 0;
		return err_sys(err, PGARK_ERR_IO, "could not open directory %s", path);
	}
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
		{
			*empty = 0;
			break;
		}
	closedir(d);
	return 0;
}

/* Remove everything inside dirfd (not following symlinks). */
static int
empty_dir(int dirfd, const char *what, pgark_err *err)
{
	int			fd = dup(dirfd);
	DIR		   *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *de;
	int			rc = 0;

	if (d == NULL)
	{
		if (fd >= 0)
			close(fd);
		return err_sys(err, PGARK_ERR_IO, "could not read directory %s", what);
	}
	rewinddir(d);
	while (rc == 0 && (de = readdir(d)) != NULL)
	{
		struct stat sb;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (fstatat(dirfd, de->d_name, &sb, AT_SYMLINK_NOFOLLOW) != 0)
			continue;
		if (S_ISDIR(sb.st_mode))
		{
			int			sub = openat(dirfd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

			if (sub < 0)
				rc = err_sys(err, PGARK_ERR_IO, "could not open %s/%s", what, de->d_name);
			else
			{
				rc = empty_dir(sub, what, err);
				close(sub);
				if (rc == 0 && unlinkat(dirfd, de->d_name, AT_REMOVEDIR) != 0)
					rc = err_sys(err, PGARK_ERR_IO, "could not remove %s/%s", what, de->d_name);
			}
		}
		else if (unlinkat(dirfd, de->d_name, 0) != 0 && errno != ENOENT)
			rc = err_sys(err, PGARK_ERR_IO, "could not remove %s/%s", what, de->d_name);
	}
	closedir(d);
	return rc;
}

/*
 * Open (creating when asked) the directory rel below rootfd, one component
 * at a time with O_NOFOLLOW: a symlink anywhere on the way is refused, so no
 * manifest path can lead outside the directory being restored.
 */
static int
open_dir_under(int rootfd, const char *rel, int create, pgark_err *err)
{
	char		buf[PATH_MAX];
	char	   *comp, *save = NULL;
	int			fd = dup(rootfd);

	if (fd < 0)
		return err_sys(err, PGARK_ERR_IO, "dup");
	if (rel[0] == '\0')
		return fd;
	snprintf(buf, sizeof(buf), "%s", rel);
	for (comp = strtok_r(buf, "/", &save); comp; comp = strtok_r(NULL, "/", &save))
	{
		int			next = openat(fd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

		if (next < 0 && errno == ENOENT && create)
		{
			if (mkdirat(fd, comp, 0700) != 0 && errno != EEXIST)
			{
				err_sys(err, PGARK_ERR_IO, "could not create directory %s", rel);
				close(fd);
				return -1;
			}
			next = openat(fd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		}
		if (next < 0)
		{
			if (errno == ELOOP || errno == ENOTDIR)
				err_set(err, PGARK_ERR_CORRUPT, errno,
						"refusing to restore %s: a component is a symlink or not a directory (it would lead outside the target)",
						rel);
			else
				err_sys(err, PGARK_ERR_IO, "could not open directory %s", rel);
			close(fd);
			return -1;
		}
		close(fd);
		fd = next;
	}
	return fd;
}

/* Which root a manifest path lives under: the data directory, or a tablespace. */
static int
resolve(restore_ctx *c, const char *path, const char **rel, pgark_err *err)
{
	(void) err;
	if (strncmp(path, "pg_tblspc/", 10) == 0)
	{
		const char *oid = path + 10;
		const char *slash = strchr(oid, '/');

		if (slash)
		{
			for (int i = 0; i < c->nts; i++)
				if (strlen(c->ts[i].oid) == (size_t) (slash - oid) &&
					strncmp(c->ts[i].oid, oid, (size_t) (slash - oid)) == 0)
				{
					*rel = slash + 1;
					return c->ts[i].fd;
				}
			/* not a declared tablespace: an in-place one, inside the data directory */
		}
	}
	*rel = path;
	return c->rootfd;
}

static int
split_parent(const char *rel, char *parent, size_t plen, const char **name)
{
	const char *slash = strrchr(rel, '/');

	if (slash == NULL)
	{
		parent[0] = '\0';
		*name = rel;
		return 0;
	}
	if ((size_t) (slash - rel) >= plen)
		return -1;
	memcpy(parent, rel, (size_t) (slash - rel));
	parent[slash - rel] = '\0';
	*name = slash + 1;
	return 0;
}

static void
progress(restore_ctx *c, uint64_t add)
{
	c->done += add;
	if (c->o->progress)
		c->o->progress(c->o->progress_arg, c->done, c->total);
}

static int
remember_path(restore_ctx *c, const char *path, pgark_err *err)
{
	if (!c->o->delta)
		return 0;
	if (c->npaths == c->cappaths)
	{
		size_t		cap = c->cappaths ? c->cappaths * 2 : 1024;
		char	  **n = realloc(c->paths, cap * sizeof(*n));

		if (n == NULL)
			return err_set(err, PGARK_ERR_INTERNAL, 0, "out of memory");
		c->paths = n;
		c->cappaths = cap;
	}
	if ((c->paths[c->npaths] = strdup(path)) == NULL)
		return err_set(err, PGARK_ERR_INTERNAL, 0, "out of memory");
	c->npaths++;
	return 0;
}

/* Chunk references come from the manifest reader, or from fixed (a copy). */
#define RUN_GROUPS ((RUN_CHUNKS + CHUNK_GROUP - 1) / CHUNK_GROUP)

/*
 * chunk_read_run_to's sink: the groups of a run into the file. One thread
 * writes at a time: a group that is ready while another thread writes is
 * queued for that writer, and its thread goes back to decoding. (Two
 * pwrites into one file contend for its inode lock, and the kernel spins
 * for it: up to a tenth of a restore's CPU time.)
 */
typedef struct file_sink
{
	int			fd;
	uint64_t	off;			/* of the run's first chunk in the file */
	const char *path;
	pthread_mutex_t mu;
	int			writing;
	size_t		head, tail;		/* q[head..tail): groups to write */
	struct
	{
		size_t		i;
		const uint8_t *data;
		size_t		len;
	}			q[RUN_GROUPS];
} file_sink;

static int
sink_file(void *arg, size_t i, const uint8_t *data, size_t len, pgark_err *err)
{
	file_sink  *fs = arg;
	int			rc = 0;

	pthread_mutex_lock(&fs->mu);
	if (fs->tail == RUN_GROUPS)
	{
		pthread_mutex_unlock(&fs->mu);
		return err_set(err, PGARK_ERR_INTERNAL, 0, "more groups in a run than %d", RUN_GROUPS);
	}
	fs->q[fs->tail].i = i;
	fs->q[fs->tail].data = data;
	fs->q[fs->tail].len = len;
	fs->tail++;
	if (fs->writing)
	{
		pthread_mutex_unlock(&fs->mu);
		return 0;				/* the writer writes it before it returns */
	}
	fs->writing = 1;
	while (fs->head < fs->tail)
	{
		size_t		gi = fs->q[fs->head].i;
		const uint8_t *gdata = fs->q[fs->head].data;
		size_t		glen = fs->q[fs->head].len;

		fs->head++;
		pthread_mutex_unlock(&fs->mu);
		if (rc == 0 && pwrite_full(fs->fd, gdata, glen, (off_t) (fs->off + gi * PACK_CHUNK_SIZE)) != 0)
			rc = err_sys(err, PGARK_ERR_IO, "could not write %s", fs->path);
		pthread_mutex_lock(&fs->mu);
	}
	fs->writing = 0;
	pthread_mutex_unlock(&fs->mu);
	return rc;
}

static int
restore_file(restore_ctx *c, const mf_entry *e, mf_reader *rd, const chunk_ref *fixed, pgark_err *err)
{
	uint64_t	wbase = 0;		/* window of references: c->win[0] is chunk wbase */
	uint32_t	wn = 0;
	const char *rel, *name;
	char		parent[PATH_MAX];
	int			root, pfd = -1, fd = -1;
	struct stat sb;
	uint64_t	have = 0;
	int			fetched_any = 0;
	int			rc = -1;
	uint64_t	i = 0;

	if ((root = resolve(c, e->path, &rel, err)) < 0)
		return -1;
	if (split_parent(rel, parent, sizeof(parent), &name) != 0)
		return err_set(err, PGARK_ERR_CORRUPT, 0, "path too long: %s", e->path);
	if ((pfd = open_dir_under(root, parent, 1, err)) < 0)
		return -1;
	fd = openat(pfd, name, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC | (c->o->delta ? 0 : O_TRUNC), 0600);
	if (fd < 0)
	{
		if (errno == ELOOP)
			err_set(err, PGARK_ERR_CORRUPT, ELOOP, "refusing to restore %s over a symlink", e->path);
		else
			err_sys(err, PGARK_ERR_IO, "could not create %s", e->path);
		goto done;
	}
	if (fstat(fd, &sb) != 0)
	{
		err_sys(err, PGARK_ERR_IO, "could not stat %s", e->path);
		goto done;
	}
	if (c->o->delta)
		have = (uint64_t) sb.st_size;

	while (i < e->nchunks)
	{
		/* a run: consecutive chunks of the file to fetch, within the window
		 * of references read from the manifest (from one pack or several:
		 * an incremental backup's file is new chunks between older ones) */
		uint32_t	n = 0;
		uint32_t	lens[RUN_CHUNKS];
		uint64_t	first = i;

		if (i == wbase + wn)
		{
			wbase = i;
			wn = 0;
			if (fixed)
			{
				wn = (uint32_t) (e->nchunks - i < RUN_CHUNKS ? e->nchunks - i : RUN_CHUNKS);
				memcpy(c->win, fixed + i, wn * sizeof(*c->win));
			}
			else if (mf_chunks(rd, c->win, RUN_CHUNKS, &wn, err) != 0)
				goto done;
			if (wn == 0)
			{
				err_set(err, PGARK_ERR_CORRUPT, 0, "the manifest lists fewer chunks than the file's size");
				goto done;
			}
		}
		while (i < e->nchunks && n < RUN_CHUNKS && i < wbase + wn)
		{
			const chunk_ref *ref = &c->win[i - wbase];
			uint64_t	off = i * PACK_CHUNK_SIZE;
			uint32_t	len = (uint32_t) (e->size - off < PACK_CHUNK_SIZE ? e->size - off : PACK_CHUNK_SIZE);

			if (n == 0 && c->o->delta && off + len <= have)
			{
				uint8_t		id[CHUNK_ID_LEN];
				ssize_t		got = pread(fd, c->page, len, (off_t) off);

				if (got == (ssize_t) len && chunk_id(c->key, c->page, len, id, err) == 0 &&
					memcmp(id, ref->id, CHUNK_ID_LEN) == 0)
				{
					i++;
					first = i;
					progress(c, len);
					continue;	/* already right */
				}
			}
			if (n > 0 && c->o->delta && off + len <= have)
				break;			/* let the next round compare it first */
			lens[n++] = len;
			i++;
		}
		if (n == 0)
			continue;
		scout_feed(c);
		{
			/* the run's chunks lie back to back in the file and in c->run
			 * (only a file's last chunk is short, and it ends its run):
			 * the decoding threads write each group of them as it is ready */
			file_sink	fs;
			size_t		bytes = (size_t) (n - 1) * PACK_CHUNK_SIZE + lens[n - 1];
			int			failed;

			fs.fd = fd;
			fs.off = first * PACK_CHUNK_SIZE;
			fs.path = e->path;
			fs.writing = 0;
			fs.head = fs.tail = 0;
			pthread_mutex_init(&fs.mu, NULL);
			failed = chunk_read_run_to(c->cr, &c->win[first - wbase], lens, (int) n, c->run, sink_file, &fs, err);
			pthread_mutex_destroy(&fs.mu);
			if (failed)
				goto done;
			/* start writing the run out now, so the syncfs at the end
			 * waits for little (a hint: failures surface there) */
			(void) sync_file_range(fd, (off_t) (first * PACK_CHUNK_SIZE), (off_t) bytes, SYNC_FILE_RANGE_WRITE);
			progress(c, bytes);
		}
		fetched_any = 1;
	}
	if (ftruncate(fd, (off_t) e->size) != 0)
	{
		err_sys(err, PGARK_ERR_IO, "could not set the size of %s", e->path);
		goto done;
	}
	if (fchmod(fd, e->mode & 0700 ? e->mode & 0700 : 0600) != 0)
	{
		err_sys(err, PGARK_ERR_IO, "could not set the mode of %s", e->path);
		goto done;
	}
	{
		struct timespec ts[2] = {{e->mtime, 0}, {e->mtime, 0}};

		(void) futimens(fd, ts);
	}
	c->res->files++;
	c->res->bytes_written += e->size;
	if (c->o->delta && !fetched_any && (uint64_t) sb.st_size == e->size)
		c->res->files_unchanged++;
	rc = remember_path(c, e->path, err);
done:
	if (fd >= 0)
		close(fd);
	if (pfd >= 0)
		close(pfd);
	if (rc != 0 && strstr(err->msg, e->path) == NULL)
		err_prefix(err, "restoring %s", e->path);
	return rc;
}

static int
restore_dir(restore_ctx *c, const mf_entry *e, pgark_err *err)
{
	const char *rel;
	int			root, fd;

	if (strcmp(e->path, "pg_wal") == 0 || strncmp(e->path, "pg_wal/", 7) == 0)
		return remember_path(c, e->path, err);	/* pg_wal is prepared apart (it may be a symlink) */
	if ((root = resolve(c, e->path, &rel, err)) < 0)
		return -1;
	if ((fd = open_dir_under(root, rel, 1, err)) < 0)
		return -1;
	(void) fchmod(fd, 0700);
	close(fd);
	return remember_path(c, e->path, err);
}

static int
restore_tablespace(restore_ctx *c, const mf_entry *e, pgark_err *err)
{
	const char *oid = e->path + 10;
	const char *dir = e->target;
	int			empty;
	tsdir	   *t;

	if (strncmp(e->path, "pg_tblspc/", 10) != 0 || strchr(oid, '/') || oid[0] == '\0' ||
		strspn(oid, "0123456789") != strlen(oid))
		return err_set(err, PGARK_ERR_CORRUPT, 0, "malformed tablespace entry %s", e->path);
	if (c->nts == MAX_TABLESPACES)
		return err_set(err, PGARK_ERR_USAGE, 0, "more than %d tablespaces", MAX_TABLESPACES);
	for (int i = 0; i < c->o->ntsmap; i++)
		if (strcmp(c->o->tsmap_oid[i], oid) == 0)
			dir = c->o->tsmap_dir[i];
	if (dir[0] != '/')
		return err_set(err, PGARK_ERR_USAGE, 0, "tablespace %s: %s is not an absolute path", oid, dir);
	if (dir_is_empty(dir, &empty, err) != 0)
		return -1;
	if (!empty && !c->o->delta)
		return err_set(err, PGARK_ERR_EXISTS, 0,
					   "tablespace %s would be restored into %s, which is not empty (%s)", oid, dir,
					   dir == e->target ? "give it an empty directory with --tablespace-map OID=DIR, or use --delta"
					   : "give an empty or new directory");
	if (!empty && dir == e->target)
	{
		/* --delta into the backup's own location is only safe if it is this
		 * copy's tablespace: where its pg_tblspc/<oid> link points. Else it
		 * may be the live cluster's, on this very host. */
		char		link[PATH_MAX], a[PATH_MAX], b[PATH_MAX];

		snprintf(link, sizeof(link), "%s/pg_tblspc/%s", c->o->pgdata, oid);
		if (realpath(link, a) == NULL || realpath(dir, b) == NULL || strcmp(a, b) != 0)
			return err_set(err, PGARK_ERR_EXISTS, 0,
						   "tablespace %s: %s is not empty and is not where %s/pg_tblspc/%s points, so it may be "
						   "another cluster's: refusing to write into it (give --tablespace-map %s=DIR)",
						   oid, dir, c->o->pgdata, oid, oid);
	}
	if (mkdir_p(dir, 0700, err) != 0)
		return -1;
	t = &c->ts[c->nts];
	snprintf(t->oid, sizeof(t->oid), "%s", oid);
	snprintf(t->dir, sizeof(t->dir), "%s", dir);
	t->fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (t->fd < 0)
		return err_sys(err, PGARK_ERR_IO, "could not open tablespace directory %s", dir);
	c->nts++;
	return remember_path(c, e->path, err);
}

static int
write_file_at(int dirfd, const char *name, const char *data, size_t len, pgark_err *err)
{
	char		tmp[NAME_MAX + 1];
	int			fd;

	snprintf(tmp, sizeof(tmp), ".%s.pgark.tmp", name);
	fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return err_sys(err, PGARK_ERR_IO, "could not create %s", name);
	if (write_full(fd, data, len) != 0 || fsync(fd) != 0)
	{
		err_sys(err, PGARK_ERR_IO, "could not write %s", name);
		close(fd);
		unlinkat(dirfd, tmp, 0);
		return -1;
	}
	close(fd);
	if (renameat(dirfd, tmp, dirfd, name) != 0)
	{
		err_sys(err, PGARK_ERR_IO, "could not rename %s", name);
		unlinkat(dirfd, tmp, 0);
		return -1;
	}
	return 0;
}

/* A postgresql.conf string value: ' and \ doubled. Values are bounded by
 * PATH_MAX-sized inputs, so out (12288) never truncates a real one. */
static void
conf_quote(const char *in, char *out, size_t outlen)
{
	size_t		o = 0;

	for (; *in && o + 3 < outlen; in++)
	{
		if (*in == '\'' || *in == '\\')
			out[o++] = *in;
		out[o++] = *in;
	}
	out[o] = '\0';
}

static int
write_recovery_conf(restore_ctx *c, const char *backup_id, pgark_err *err)
{
	const restore_opts *o = c->o;
	FILE	   *in;
	char	   *buf = NULL;
	size_t		cap = 0, len = 0;
	char		line[8192], q[12288];
	int			fd = openat(c->rootfd, "postgresql.auto.conf", O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	int			rc;

	/* keep the backup's settings, but comment out recovery settings they
	 * might carry: ours below must be the only ones */
	in = fd >= 0 ? fdopen(fd, "r") : NULL;
	while (in && fgets(line, sizeof(line), in))
	{
		const char *p = line;
		size_t		n;
		int			recovery;

		while (*p == ' ' || *p == '\t')
			p++;
		recovery = strncmp(p, "restore_command", 15) == 0 || strncmp(p, "recovery_target", 15) == 0;
		n = strlen(line) + (recovery ? 10 : 0);
		if (len + n + 1 > cap)
		{
			char	   *nb = realloc(buf, (len + n + 1) * 2);

			if (nb == NULL)
			{
				fclose(in);
				free(buf);
				return err_set(err, PGARK_ERR_INTERNAL, 0, "out of memory");
			}
			buf = nb;
			cap = (len + n + 1) * 2;
		}
		len += (size_t) snprintf(buf + len, cap - len, "%s%s", recovery ? "# pgark: " : "", line);
	}
	if (in)
		fclose(in);
	else if (fd >= 0)
		close(fd);
	{
		char		block[32768];
		size_t		b = 0;

		conf_quote(o->restore_command, q, sizeof(q));
		b += (size_t) snprintf(block + b, sizeof(block) - b,
							   "%s# Recovery settings written by pitr-prepare (pgark) for backup %s\n"
							   "restore_command = '%s'\n", len && buf[len - 1] != '\n' ? "\n" : "", backup_id, q);
		{
			static const char *const keys[] = {"", "recovery_target_time", "recovery_target_lsn",
			"recovery_target_xid", "recovery_target_name", "recovery_target"};

			/* every recovery setting is given here, so none left in
			 * postgresql.conf or an included file can take effect (the last
			 * value of a setting wins; the other targets are emptied before
			 * ours is set, as PostgreSQL allows only one) */
			for (int k = 1; k <= 5; k++)
				if (k != (int) o->target)
					b += (size_t) snprintf(block + b, sizeof(block) - b, "%s = ''\n", keys[k]);
			if (o->target != TARGET_NONE)
			{
				conf_quote(o->target == TARGET_IMMEDIATE ? "immediate" : o->target_value, q, sizeof(q));
				b += (size_t) snprintf(block + b, sizeof(block) - b, "%s = '%s'\n", keys[o->target], q);
			}
			b += (size_t) snprintf(block + b, sizeof(block) - b,
								   "recovery_target_inclusive = 'on'\nrecovery_target_action = '%s'\n",
								   o->target_action ? o->target_action : "pause");
			conf_quote(o->target_timeline ? o->target_timeline : "latest", q, sizeof(q));
			b += (size_t) snprintf(block + b, sizeof(block) - b, "recovery_target_timeline = '%s'\n", q);
		}
		if (b >= sizeof(block))
		{
			free(buf);
			return err_set(err, PGARK_ERR_USAGE, 0, "recovery settings too long");
		}
		{
			char	   *nb = realloc(buf, len + b + 1);

			if (nb == NULL)
			{
				free(buf);
				return err_set(err, PGARK_ERR_INTERNAL, 0, "out of memory");
			}
			buf = nb;
			memcpy(buf + len, block, b + 1);
			len += b;
		}
	}
	rc = write_file_at(c->rootfd, "postgresql.auto.conf", buf, len, err);
	free(buf);
	return rc;
}

/* tablespace_map lines are "<oid> <path>": point remapped ones at their new home */
static int
write_tablespace_map(restore_ctx *c, const char *map, pgark_err *err)
{
	char	   *out;
	size_t		cap = strlen(map) + (size_t) c->nts * (2 * PATH_MAX + 32) + 1, o = 0;
	const char *p = map;
	int			rc;

	if (map[0] == '\0')
	{
		if (unlinkat(c->rootfd, "tablespace_map", 0) != 0 && errno != ENOENT)
			return err_sys(err, PGARK_ERR_IO, "could not remove a stale tablespace_map");
		return 0;
	}
	if ((out = malloc(cap)) == NULL)
		return err_set(err, PGARK_ERR_INTERNAL, 0, "out of memory");
	while (*p)
	{
		const char *nl = strchr(p, '\n');
		size_t		n = nl ? (size_t) (nl - p) : strlen(p);
		const char *sp = memchr(p, ' ', n);
		const char *dir = NULL;

		if (sp)
			for (int i = 0; i < c->nts; i++)
				if (strlen(c->ts[i].oid) == (size_t) (sp - p) && strncmp(c->ts[i].oid, p, (size_t) (sp - p)) == 0)
					dir = c->ts[i].dir;
		if (dir)
		{
			/* "<oid> <path>", the path escaped as PostgreSQL writes it */
			o += (size_t) snprintf(out + o, cap - o, "%.*s ", (int) (sp - p), p);
			for (const char *d = dir; *d && o + 3 < cap; d++)
			{
				if (*d == '\\' || *d == '\n' || *d == '\r')
					out[o++] = '\\';
				out[o++] = *d;
			}
			out[o++] = '\n';
		}
		else if (o + n + 2 < cap)
			o += (size_t) snprintf(out + o, cap - o, "%.*s\n", (int) n, p);
		p += n + (nl ? 1 : 0);
	}
	rc = write_file_at(c->rootfd, "tablespace_map", out, o, err);
	free(out);
	return rc;
}

static int
prepare_pg_wal(restore_ctx *c, pgark_err *err)
{
	int			fd = openat(c->rootfd, "pg_wal", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int			afd;

	/* pg_wal may be a symlink to another disk (initdb -X): follow that one */
	if (fd < 0 && errno == ENOENT)
	{
		if (mkdirat(c->rootfd, "pg_wal", 0700) != 0)
			return err_sys(err, PGARK_ERR_IO, "could not create pg_wal");
		fd = openat(c->rootfd, "pg_wal", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	}
	if (fd < 0)
		return err_sys(err, PGARK_ERR_IO, "could not open pg_wal");
	/* stale WAL of an older incarnation must never be replayed instead of the archive */
	if (empty_dir(fd, "pg_wal", err) != 0)
	{
		close(fd);
		return -1;
	}
	if (mkdirat(fd, "archive_status", 0700) != 0 && errno != EEXIST)
	{
		close(fd);
		return err_sys(err, PGARK_ERR_IO, "could not create pg_wal/archive_status");
	}
	afd = openat(fd, "archive_status", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (afd >= 0)
		close(afd);
	close(fd);
	return 0;
}

static int
cmp_path(const void *a, const void *b)
{
	return pgdir_pathcmp(*(char *const *) a, *(char *const *) b);
}

/* --delta: remove what the backup does not have (below the data directory,
 * not in pg_wal, not through symlinks). */
static int
remove_extra(restore_ctx *c, int dirfd, const char *prefix, pgark_err *err)
{
	int			fd = dup(dirfd);
	DIR		   *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *de;
	int			rc = 0;

	if (d == NULL)
	{
		if (fd >= 0)
			close(fd);
		return err_sys(err, PGARK_ERR_IO, "could not read directory %s", prefix[0] ? prefix : c->o->pgdata);
	}
	while (rc == 0 && (de = readdir(d)) != NULL)
	{
		char		path[PATH_MAX];
		char	   *key = path;
		struct stat sb;
		int			known;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		snprintf(path, sizeof(path), "%s%s%s", prefix, prefix[0] ? "/" : "", de->d_name);
		if (strcmp(path, "pg_wal") == 0 || strcmp(path, "postgresql.auto.conf") == 0)
			continue;
		known = bsearch(&key, c->paths, c->npaths, sizeof(*c->paths), cmp_path) != NULL;
		if (fstatat(dirfd, de->d_name, &sb, AT_SYMLINK_NOFOLLOW) != 0)
			continue;
		if (S_ISDIR(sb.st_mode) && known)
		{
			int			sub = openat(dirfd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

			if (sub >= 0)
			{
				rc = remove_extra(c, sub, path, err);
				close(sub);
			}
		}
		else if (!known && !(S_ISLNK(sb.st_mode) && strncmp(path, "pg_tblspc/", 10) == 0))
		{
			if (S_ISDIR(sb.st_mode))
			{
				int			sub = openat(dirfd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

				if (sub >= 0)
				{
					rc = empty_dir(sub, path, err);
					close(sub);
				}
				if (rc == 0 && unlinkat(dirfd, de->d_name, AT_REMOVEDIR) != 0)
					rc = err_sys(err, PGARK_ERR_IO, "could not remove %s", path);
			}
			else if (unlinkat(dirfd, de->d_name, 0) != 0 && errno != ENOENT)
				rc = err_sys(err, PGARK_ERR_IO, "could not remove %s", path);
		}
	}
	closedir(d);
	return rc;
}

/*
 * Where is restore point `name`? Look through the archived segments at or
 * after from_lsn for its WAL record: an XLogRecord header with rmgr XLOG (0)
 * and info XLOG_RESTORE_POINT (0x70), whose main data (block id 0xFF, length
 * 72) is a timestamp and the NUL-terminated name. Returns 1 and the record's
 * LSN, 0 if not found, -1 on error. (A record split across a page boundary
 * is not recognised; the caller then falls back to the newest backup.)
 */
typedef struct rp_search
{
	repo	   *r;
	const char *name;
	uint64_t	from_lsn;
	uint64_t	from_segno;
	uint64_t	found_lsn;
	int			found;
	uint8_t    *buf;
} rp_search;

static int
rp_scan_segment(void *arg, const char *objname, const store_stat *st, pgark_err *err)
{
	rp_search  *s = arg;
	walname		wn;
	pgark_err	ignore;
	store_reader *sr;
	obj_reader *or;
	size_t		have = 0, got, nlen = strlen(s->name);
	uint32_t	segsize = s->r->meta.wal_seg_size;

	(void) st;
	if (walname_parse(path_basename(objname), &wn, &ignore) != 0 || wn.kind != WAL_SEGMENT ||
		walname_segno(&wn, segsize) < s->from_segno)
		return 0;
	if ((sr = store_get(s->r->st, objname, 0, 0, err)) == NULL)
		return -1;
	if ((or = repo_object_reader(s->r, store_read_source, sr, err)) == NULL)
	{
		store_reader_close(sr);
		return -1;
	}
	while (have < segsize)
	{
		if (obj_reader_read(or, s->buf + have, segsize - have, &got, err) != 0)
		{
			obj_reader_free(or);
			store_reader_close(sr);
			return err_prefix(err, "reading %s to find restore point \"%s\"", objname, s->name);
		}
		if (got == 0)
			break;
		have += got;
	}
	obj_reader_free(or);
	store_reader_close(sr);
	/* records are 8-byte aligned: check each aligned position */
	for (size_t off = 0; off + 26 + 8 + nlen + 1 <= have; off += 8)
	{
		const uint8_t *p = s->buf + off;

		if ((p[16] & 0xF0) == 0x70 && p[17] == 0 && p[24] == 0xFF && p[25] == 72 &&
			memcmp(p + 34, s->name, nlen) == 0 && p[34 + nlen] == 0)
		{
			uint64_t	lsn = walname_segno(&wn, segsize) * segsize + off;

			if (lsn < s->from_lsn)
				continue;		/* before the backup ended: of no use to it */
			if (!s->found || lsn < s->found_lsn)
				s->found_lsn = lsn;
			s->found = 1;
		}
	}
	return 0;
}

static int
find_restore_point(repo *r, const char *name, uint64_t from_lsn, uint64_t *lsn, pgark_err *err)
{
	rp_search	s;
	int			rc;

	if (strlen(name) >= 64)
		return 0;
	memset(&s, 0, sizeof(s));
	s.r = r;
	s.name = name;
	s.from_lsn = from_lsn;
	s.from_segno = from_lsn / r->meta.wal_seg_size;
	if ((s.buf = malloc(r->meta.wal_seg_size)) == NULL)
		return err_set(err, PGARK_ERR_INTERNAL, 0, "out of memory");
	rc = store_list(r->st, "wal/", rp_scan_segment, &s, err);
	free(s.buf);
	if (rc != 0)
		return -1;
	*lsn = s.found_lsn;
	return s.found;
}

int
restore_choose_backup(repo *r, const restore_opts *o, char *id, size_t idlen, char *res_warning,
					  size_t res_warning_len, pgark_err *err)
{
	char	  **ids = NULL;
	size_t		n = 0;
	int			rc = -1;

	if (mf_list_backups(r, &ids, &n, err) != 0)
		return -1;
	if (n == 0)
	{
		err_set(err, PGARK_ERR_NOTFOUND, 0, "there is no backup in %s (run base-push)", r->st->where);
		goto done;
	}
	if (o->backup_id && strcmp(o->backup_id, "latest") != 0)
	{
		snprintf(id, idlen, "%s", o->backup_id);
		rc = 0;
		goto done;
	}
	if (o->backup_id)
	{
		snprintf(id, idlen, "%s", ids[n - 1]);
		rc = 0;
		goto done;
	}
	for (size_t i = n; i > 0; i--)
	{
		mf_head		h;
		mf_reader  *rd = mf_open(r, ids[i - 1], &h, err);
		int			fits;

		if (rd == NULL)
		{
			/* a damaged manifest must not stop a restore from an older backup */
			snprintf(res_warning, res_warning_len, "backup %s skipped: %s", ids[i - 1], err->msg);
			err_clear(err);
			if (i == 1)
				err_set(err, PGARK_ERR_NOTFOUND, 0, "no readable backup ends before the target (%s)", res_warning);
			continue;
		}
		if (o->target == TARGET_TIME)
			fits = h.stop_time + 1 <= o->target_time;
		else if (o->target == TARGET_LSN)
			fits = h.stop_lsn <= o->target_lsn;
		else if (o->target == TARGET_XID)
			/* the backup must end before the transaction does; unknown (no
			 * snapshot recorded): take it, as for the newest */
			fits = mf_xid_finished_at_stop(&h, o->target_xid) != 1;
		else if (o->target == TARGET_NAME)
		{
			uint64_t	rp;
			int			f = find_restore_point(r, o->target_value, h.stop_lsn, &rp, err);

			if (f < 0)
			{
				mf_head_free(&h);
				mf_close(rd);
				goto done;
			}
			/* found after this backup's end: this is the one; not found
			 * after the oldest either: the newest, and let recovery judge */
			fits = f == 1 || i == 1;
			if (!f && i == 1)
			{
				snprintf(id, idlen, "%s", ids[n - 1]);
				mf_head_free(&h);
				mf_close(rd);
				rc = 0;
				goto done;
			}
		}
		else
			fits = 1;			/* no target, immediate, a name: the newest readable */
		if (!fits && i == 1)
		{
			char		t[32], l[32];

			iso8601_from_unix(h.stop_time, t, sizeof(t));
			lsn_format(h.stop_lsn, l, sizeof(l));
			err_set(err, PGARK_ERR_NOTFOUND, 0,
					"no backup ended before the target %s: the oldest backup, %s, ended at %s (LSN %s)",
					o->target_value, ids[0], t, l);
		}
		mf_head_free(&h);
		mf_close(rd);
		if (fits)
		{
			snprintf(id, idlen, "%s", ids[i - 1]);
			rc = 0;
			goto done;
		}
	}
done:
	mf_free_list(ids, n);
	return rc;
}

static int
postmaster_running(const char *pgdata, long *pid)
{
	char		path[PATH_MAX];
	FILE	   *f;

	snprintf(path, sizeof(path), "%s/postmaster.pid", pgdata);
	if ((f = fopen(path, "r")) == NULL)
		return 0;
	if (fscanf(f, "%ld", pid) != 1 || *pid <= 0)
	{
		fclose(f);
		return 0;
	}
	fclose(f);
	return kill((pid_t) *pid, 0) == 0 || errno == EPERM;
}

/*
 * A target after the end of a backup whose later WAL repo-expire removed
 * (status/retention lists it as consistent_only) cannot be reached: refuse
 * it here, naming the window, rather than let recovery stop short of it.
 */
static int
check_target_in_window(repo *r, const restore_opts *o, const char *id, mf_head *h, pgark_err *err)
{
	int			past,
				co;
	char		t[32], l[32], w[32] = "";
	repo_inventory inv;

	if (o->target == TARGET_TIME)
		past = o->target_time > h->stop_time;
	else if (o->target == TARGET_LSN)
		past = o->target_lsn > h->stop_lsn;
	else if (o->target == TARGET_XID)
		past = mf_xid_finished_at_stop(h, o->target_xid) == 0;
	else if (o->target == TARGET_NAME)
		past = o->backup_id == NULL;
	else
		past = 0;
	if (!past)
		return 0;
	if ((co = inv_consistent_only(r, id, err)) <= 0)
		return co;
	iso8601_from_unix(h->stop_time, t, sizeof(t));
	lsn_format(h->stop_lsn, l, sizeof(l));
	if (repo_inventory_read(r, &inv, err) == 0 && inv.earliest >= 0)
		iso8601_from_unix(inv.earliest, w, sizeof(w));
	repo_inventory_free(&inv);
	err_clear(err);
	return err_set(err, PGARK_ERR_NOTFOUND, 0,
				   "the target %s is outside the point-in-time window: backup %s restores only to its end "
				   "(%s, LSN %s), repo-expire having removed the WAL after it ([retention]); %s%s%s"
				   "or restore that backup to its end with --backup %s --target immediate",
				   o->target_value ? o->target_value : "given", id, t, l,
				   w[0] ? "the window starts at " : "", w, w[0] ? ": choose a target after that, " : "", id);
}

int
restore_run(repo *r, const restore_opts *o, restore_result *res, pgark_err *err)
{
	restore_ctx c;
	mf_reader  *rd = NULL;
	scout	   *sc = NULL;
	mf_head		h;
	mf_entry   *e;
	int			empty, got;
	long		pid;
	int			rc = -1;
	workers    *wk = NULL;

	memset(&c, 0, sizeof(c));
	memset(res, 0, sizeof(*res));
	memset(&h, 0, sizeof(h));
	c.r = r;
	c.o = o;
	c.res = res;
	c.rootfd = -1;

	if (o->pgdata == NULL || o->pgdata[0] != '/')
		return err_set(err, PGARK_ERR_USAGE, 0, "--pgdata must be an absolute path");
	if (postmaster_running(o->pgdata, &pid))
		return err_set(err, PGARK_ERR_EXISTS, 0,
					   "a postmaster (pid %ld) is running in %s: stop it first", pid, o->pgdata);
	if (dir_is_empty(o->pgdata, &empty, err) != 0)
		return -1;
	if (!empty && !o->delta && !o->force)
		return err_set(err, PGARK_ERR_EXISTS, 0,
					   "%s is not empty: restore over it with --delta (fetches only what differs), "
					   "or --force to replace everything in it", o->pgdata);
	if (restore_choose_backup(r, o, res->backup_id, sizeof(res->backup_id), res->warning, sizeof(res->warning), err) != 0)
		return -1;
	if ((rd = mf_open(r, res->backup_id, &h, err)) == NULL)
		return -1;
	iso8601_from_unix(h.stop_time, res->stop_time, sizeof(res->stop_time));
	if (h.pg_version != r->meta.pg_version)
	{
		err_set(err, PGARK_ERR_CORRUPT, 0, "backup %s is of PostgreSQL %d", res->backup_id, h.pg_version);
		goto done;
	}
	if (check_target_in_window(r, o, res->backup_id, &h, err) != 0)
		goto done;
	if (mkdir_p(o->pgdata, 0700, err) != 0)
		goto done;
	if ((c.rootfd = open(o->pgdata, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
	{
		err_sys(err, PGARK_ERR_IO, "could not open %s", o->pgdata);
		goto done;
	}
	if (fchmod(c.rootfd, 0700) != 0)
	{
		err_sys(err, PGARK_ERR_IO, "could not set mode 0700 on %s", o->pgdata);
		goto done;
	}
	if (!empty && o->force && !o->delta && empty_dir(c.rootfd, o->pgdata, err) != 0)
		goto done;
	if ((c.cr = chunk_reader_new(r, err)) == NULL || chunk_key(r, c.key, err) != 0)
		goto done;
	/* chunks of a run are decrypted, decompressed and checked on every thread */
	if ((wk = workers_new(r->cfg->workers > 0 ? r->cfg->workers : workers_default(), err)) == NULL)
		goto done;
	chunk_reader_set_workers(c.cr, wk);
	/*
	 * A whole restore reads every chunk in the manifest's order: a scout
	 * reads the manifest ahead and the chunk reader downloads what comes
	 * next on [repo] transfers more connections. Not with --delta, which
	 * only learns what to fetch by reading the files in DIR.
	 */
	if (!o->delta)
	{
		if (chunk_reader_readahead(c.cr, r->cfg, r->cfg->s3_transfers, err) != 0)
			goto done;
		if ((sc = calloc(1, sizeof(*sc))) == NULL)
		{
			err_set(err, PGARK_ERR_INTERNAL, 0, "out of memory");
			goto done;
		}
		if ((sc->rd = mf_open(r, res->backup_id, &sc->h, err)) == NULL)
			goto done;
		c.scout = sc;
	}
	res->workers = workers_count(wk);
	c.run = malloc(RUN_BYTES);
	c.page = malloc(PACK_CHUNK_SIZE);
	c.win = malloc(RUN_CHUNKS * sizeof(*c.win));
	if (c.run == NULL || c.page == NULL || c.win == NULL)
	{
		err_set(err, PGARK_ERR_INTERNAL, 0, "out of memory");
		goto done;
	}
	c.total = h.bytes_total;
	if (o->delta)
	{
		struct stat sb;
		int			g;

		/* a symlinked pg_wal would have us empty a directory outside DIR,
		 * perhaps a live cluster's WAL */
		if (fstatat(c.rootfd, "pg_wal", &sb, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(sb.st_mode))
		{
			err_set(err, PGARK_ERR_EXISTS, 0,
					"%s/pg_wal is a symlink: --delta will not empty a directory outside %s; "
					"empty its target yourself and replace the link by a directory, or restore into an empty directory",
					o->pgdata, o->pgdata);
			goto done;
		}
		/* from here until the restore completes, the directory must not be
		 * startable: no pg_control, no stale backup_label */
		if ((g = open_dir_under(c.rootfd, "global", 0, err)) >= 0)
		{
			if (unlinkat(g, "pg_control", 0) != 0 && errno != ENOENT)
			{
				err_sys(err, PGARK_ERR_IO, "could not remove %s/global/pg_control", o->pgdata);
				close(g);
				goto done;
			}
			(void) fsync(g);
			close(g);
		}
		err_clear(err);
		(void) unlinkat(c.rootfd, "backup_label", 0);
	}

	while ((got = mf_next(rd, &e, err)) == 1)
	{
		int			r2 = 0;

		if (o->cancel && *o->cancel)
		{
			err_set(err, PGARK_ERR_INTERNAL, EINTR, "interrupted while restoring into %s", o->pgdata);
			goto done;
		}

		switch (e->kind)
		{
			case MF_DIR:
				r2 = restore_dir(&c, e, err);
				break;
			case MF_TABLESPACE:
				r2 = restore_tablespace(&c, e, err);
				break;
			case MF_FILE:
				if (strcmp(e->path, "global/pg_control") == 0 && e->nchunks == 1)
				{
					/* last of all: until it exists, PostgreSQL will not
					 * start on a directory this restore has not finished */
					uint32_t	one = 0;

					c.control = *e;
					r2 = mf_chunks(rd, c.control_chunks, 1, &one, err);
					if (r2 == 0 && one != 1)
						r2 = err_set(err, PGARK_ERR_CORRUPT, 0, "global/pg_control without its chunk");
					c.have_control = 1;
					if (r2 == 0)
						r2 = remember_path(&c, e->path, err);
				}
				else
					r2 = restore_file(&c, e, rd, NULL, err);
				break;
		}
		if (r2 != 0)
			goto done;
	}
	if (got < 0)
		goto done;
	if (o->delta)
	{
		qsort(c.paths, c.npaths, sizeof(*c.paths), cmp_path);
		if (remove_extra(&c, c.rootfd, "", err) != 0)
			goto done;
		for (int i = 0; i < c.nts; i++)
		{
			char		prefix[64];

			snprintf(prefix, sizeof(prefix), "pg_tblspc/%s", c.ts[i].oid);
			if (remove_extra(&c, c.ts[i].fd, prefix, err) != 0)
				goto done;
		}
	}
	if (prepare_pg_wal(&c, err) != 0 ||
		write_file_at(c.rootfd, "backup_label", h.backup_label, strlen(h.backup_label), err) != 0 ||
		write_tablespace_map(&c, h.tablespace_map, err) != 0 ||
		write_recovery_conf(&c, res->backup_id, err) != 0 ||
		write_file_at(c.rootfd, o->standby ? "standby.signal" : "recovery.signal", "", 0, err) != 0)
		goto done;
	(void) unlinkat(c.rootfd, o->standby ? "recovery.signal" : "standby.signal", 0);
	(void) unlinkat(c.rootfd, "postmaster.pid", 0);
	if (!c.have_control)
	{
		err_set(err, PGARK_ERR_CORRUPT, 0, "backup %s has no global/pg_control", res->backup_id);
		goto done;
	}
	if (syncfs(c.rootfd) != 0 || restore_file(&c, &c.control, NULL, c.control_chunks, err) != 0)
	{
		if (err->kind == PGARK_OK)
			err_sys(err, PGARK_ERR_IO, "could not sync %s", o->pgdata);
		goto done;
	}
	/* everything written reaches the disk before we say it is done */
	if (syncfs(c.rootfd) != 0)
	{
		err_sys(err, PGARK_ERR_IO, "could not sync %s", o->pgdata);
		goto done;
	}
	for (int i = 0; i < c.nts; i++)
		if (syncfs(c.ts[i].fd) != 0)
		{
			err_sys(err, PGARK_ERR_IO, "could not sync %s", c.ts[i].dir);
			goto done;
		}
	res->bytes_fetched = chunk_reader_bytes(c.cr);
	rc = 0;
done:
	mf_head_free(&h);
	mf_close(rd);
	if (sc)
	{
		mf_head_free(&sc->h);
		mf_close(sc->rd);
		free(sc);
	}
	chunk_reader_free(c.cr);
	workers_free(wk);
	if (c.rootfd >= 0)
		close(c.rootfd);
	for (int i = 0; i < c.nts; i++)
		close(c.ts[i].fd);
	for (size_t i = 0; i < c.npaths; i++)
		free(c.paths[i]);
	free(c.paths);
	free(c.run);
	free(c.page);
	free(c.win);
	secure_zero(c.key, sizeof(c.key));
	return rc;
}
