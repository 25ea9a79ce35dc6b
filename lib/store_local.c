/*
 * store_local.c — the POSIX backend: a directory tree.
 *
 * put: write an unnamed file (O_TMPFILE, mode 0600) in the object's directory,
 * fsync it, give it its name with linkat() — which never replaces an existing
 * name, so with STORE_NO_OVERWRITE two writers cannot both win — and fsync
 * the directory. An overwriting put links a temporary name and renames it.
 * A writer killed at any point leaves nothing behind. Filesystems without
 * O_TMPFILE get a named "<dir>/.<name>.<pid>.<random>.tmp" instead, moved with
 * renameat2(RENAME_NOREPLACE) (or link()) / rename(). Directories created on
 * the way are fsync'd into their parents.
 */
#include "store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "crypto.h"
#include "util.h"

typedef struct local_store
{
	store		base;
	char		root[PATH_MAX];
} local_store;

typedef struct local_writer
{
	store	   *st;				/* must be first (see store.c) */
	int			fd;
	int			unnamed;		/* fd is an O_TMPFILE */
	int			tmp_exists;		/* tmp must be removed on failure */
	char		final[PATH_MAX];
	char		tmp[PATH_MAX];
	char		dir[PATH_MAX];
	const char *name;
	char		namebuf[600];
	uint64_t	written;		/* bytes written */
	uint64_t	kicked;			/* of which writeback was started */
} local_writer;

/* Writeback is started every KICK_BYTES, so the fsync at commit finds little
 * left to write (a 32 MiB pack otherwise waits ~20 ms there). */
#define KICK_BYTES (4u * 1024 * 1024)

typedef struct local_reader
{
	store	   *st;				/* must be first */
	int			fd;
	uint64_t	remaining;		/* UINT64_MAX = to end */
	char		name[600];
} local_reader;

static const store_ops local_ops;

static int
full_path(local_store *ls, const char *name, char *out, size_t outlen, pgark_err *err)
{
	if ((size_t) snprintf(out, outlen, "%s/%s", ls->root, name) >= outlen)
		return err_set(err, PGARK_ERR_IO, 0, "path too long for object %s", name);
	return 0;
}

/*
 * Was the directory at path created long enough ago that its entry in its
 * parent is on disk whatever happened to its creator? The filesystem writes
 * metadata out by itself within seconds (ext4 commits its journal every 5 s,
 * XFS its log within 30 s, dirty data expires after 30 s), so after 5 minutes
 * an fsync of the parent has nothing left to do — yet on a busy filesystem
 * each such fsync still waits for a journal commit, 2-4 ms per directory per
 * object. Unknown birth time: not settled.
 */
#define DIR_SETTLED_SECONDS 300

static int
dir_entry_settled(const char *path)
{
	struct statx sx;
	struct timespec now;

	if (statx(AT_FDCWD, path, AT_SYMLINK_NOFOLLOW, STATX_BTIME, &sx) != 0 || !(sx.stx_mask & STATX_BTIME))
		return 0;
	if (clock_gettime(CLOCK_REALTIME, &now) != 0)
		return 0;
	return now.tv_sec - (time_t) sx.stx_btime.tv_sec > DIR_SETTLED_SECONDS;
}

/* Create the directories of name below root, fsyncing each new one (and each
 * young one) into its parent. */
static int
ensure_dirs(local_store *ls, const char *name, pgark_err *err)
{
	char		path[PATH_MAX];
	size_t		rootlen = strlen(ls->root);
	const char *p = name;

	if (rootlen + 1 + strlen(name) >= sizeof(path))
		return err_set(err, PGARK_ERR_IO, 0, "path too long for object %s", name);
	memcpy(path, ls->root, rootlen + 1);
	while ((p = strchr(p, '/')) != NULL)
	{
		size_t		n = rootlen + 1 + (size_t) (p - name);

		snprintf(path, sizeof(path), "%s/%.*s", ls->root, (int) (p - name), name);
		if (mkdir(path, 0700) != 0)
		{
			if (errno != EEXIST)
				return err_sys(err, PGARK_ERR_IO, "could not create directory \"%s\"", path);
			if (dir_entry_settled(path))
			{
				p++;
				continue;
			}
		}
		{
			/* also when it existed but is young: whoever made it may have
			 * died before its entry was durable */
			char		parent[PATH_MAX];

			path_dirname(path, parent, sizeof(parent));
			if (fsync_dir(parent, err) != 0)
				return -1;
		}
		(void) n;
		p++;
	}
	return 0;
}

static store_writer *
local_put_begin(store *st, const char *name, pgark_err *err)
{
	local_store *ls = (local_store *) st;
	local_writer *w = calloc(1, sizeof(*w));
	uint8_t		rnd[6];
	char		rhex[13];

	if (w == NULL)
	{
		err_set(err, PGARK_ERR_INTERNAL, 0, "out of memory");
		return NULL;
	}
	w->st = st;
	w->fd = -1;
	snprintf(w->namebuf, sizeof(w->namebuf), "%s", name);
	w->name = w->namebuf;
	if (full_path(ls, name, w->final, sizeof(w->final), err) != 0 ||
		ensure_dirs(ls, name, err) != 0 ||
		random_bytes(rnd, sizeof(rnd), err) != 0)
		goto fail;
	hex_encode(rnd, sizeof(rnd), rhex);
	path_dirname(w->final, w->dir, sizeof(w->dir));
	if ((size_t) snprintf(w->tmp, sizeof(w->tmp), "%s/.%s.%d.%s.tmp", w->dir,
						  path_basename(w->final), (int) getpid(), rhex) >= sizeof(w->tmp))
	{
		err_set(err, PGARK_ERR_IO, 0, "path too long for object %s", name);
		goto fail;
	}
	/* an unnamed file is given its name through /proc/self/fd: without
	 * /proc (a chroot, a container), use a named temporary file */
	w->fd = access("/proc/self/fd", X_OK) == 0 ? open(w->dir, O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600) : -1;
	if (w->fd < 0 && errno == 0)
		errno = EOPNOTSUPP;
	if (w->fd >= 0)
		w->unnamed = 1;
	else if (errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL || errno == ENOENT || errno == EACCES)
	{
		w->fd = open(w->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		w->tmp_exists = (w->fd >= 0);
	}
	if (w->fd < 0)
	{
		err_sys(err, PGARK_ERR_IO, "could not create a file in \"%s\"", w->dir);
		goto fail;
	}
	return (store_writer *) w;
fail:
	free(w);
	return NULL;
}

static int
local_put_write(store_writer *sw, const void *buf, size_t len, pgark_err *err)
{
	local_writer *w = (local_writer *) sw;

	if (write_full(w->fd, buf, len) != 0)
		return err_sys(err, PGARK_ERR_IO, "could not write object %s in %s", w->name, w->st->where);
	w->written += len;
	if (w->written - w->kicked >= KICK_BYTES)
	{
		/* a hint: failures surface at the fsync */
		(void) sync_file_range(w->fd, (off_t) w->kicked, (off_t) (w->written - w->kicked),
							   SYNC_FILE_RANGE_WRITE);
		w->kicked = w->written;
	}
	return 0;
}

/*
 * A logical dump's directory (dumps/<db>/<dump-id>/) left empty by a
 * removal or an aborted write: removed, best effort (it is never written
 * again, since an id is never reused in its directory).
 */
static void
drop_empty_dump_dir(const char *name, const char *dir)
{
	if (strncmp(name, "dumps/", 6) == 0)
		(void) rmdir(dir);
}

static void
local_put_abort(store_writer *sw)
{
	local_writer *w = (local_writer *) sw;

	if (w->fd >= 0)
		close(w->fd);
	if (w->tmp_exists)
		unlink(w->tmp);
	drop_empty_dump_dir(w->name, w->dir);
	free(w);
}

/* Give the unnamed file its final name (no overwrite), or a temporary one. */
static int
link_unnamed(local_writer *w, const char *to, pgark_err *err)
{
	char		self[64];

	snprintf(self, sizeof(self), "/proc/self/fd/%d", w->fd);
	if (linkat(AT_FDCWD, self, AT_FDCWD, to, AT_SYMLINK_FOLLOW) == 0)
		return 0;
	if (errno == EEXIST)
		return err_set(err, PGARK_ERR_EXISTS, EEXIST, "object %s already exists in %s",
					   w->name, w->st->where);
	return err_sys(err, PGARK_ERR_IO, "could not link object %s into \"%s\"", w->name, w->dir);
}

static int
local_put_commit(store_writer *sw, int flags, pgark_err *err)
{
	local_writer *w = (local_writer *) sw;
	int			rc = -1;

	if (fsync(w->fd) != 0)
	{
		err_sys(err, PGARK_ERR_IO, "could not fsync object %s in %s", w->name, w->st->where);
		goto done;
	}
	if (w->unnamed)
	{
		if (flags & STORE_NO_OVERWRITE)
		{
			if (link_unnamed(w, w->final, err) != 0)
				goto done;
		}
		else
		{
			if (link_unnamed(w, w->tmp, err) != 0)
				goto done;
			w->tmp_exists = 1;
			if (rename(w->tmp, w->final) != 0)
			{
				err_sys(err, PGARK_ERR_IO, "could not rename \"%s\" to \"%s\"", w->tmp, w->final);
				goto done;
			}
			w->tmp_exists = 0;
		}
		goto published;
	}
	if (close(w->fd) != 0)
	{
		w->fd = -1;
		err_sys(err, PGARK_ERR_IO, "could not close \"%s\"", w->tmp);
		goto done;
	}
	w->fd = -1;
	if (flags & STORE_NO_OVERWRITE)
	{
		if (renameat2(AT_FDCWD, w->tmp, AT_FDCWD, w->final, RENAME_NOREPLACE) != 0)
		{
			if (errno == EEXIST)
			{
				err_set(err, PGARK_ERR_EXISTS, EEXIST, "object %s already exists in %s",
						w->name, w->st->where);
				goto done;
			}
			if (errno != EINVAL && errno != ENOSYS)
			{
				err_sys(err, PGARK_ERR_IO, "could not rename \"%s\" to \"%s\"", w->tmp, w->final);
				goto done;
			}
			/* filesystem without RENAME_NOREPLACE: link() is just as atomic */
			if (link(w->tmp, w->final) != 0)
			{
				if (errno == EEXIST)
					err_set(err, PGARK_ERR_EXISTS, EEXIST, "object %s already exists in %s",
							w->name, w->st->where);
				else
					err_sys(err, PGARK_ERR_IO, "could not link \"%s\" to \"%s\"", w->tmp, w->final);
				goto done;
			}
			unlink(w->tmp);
		}
		w->tmp_exists = 0;
	}
	else if (rename(w->tmp, w->final) != 0)
	{
		err_sys(err, PGARK_ERR_IO, "could not rename \"%s\" to \"%s\"", w->tmp, w->final);
		goto done;
	}
	w->tmp_exists = 0;
published:
	if (fsync_dir(w->dir, err) != 0)
		goto done;
	rc = 0;
done:
	if (w->fd >= 0)
		close(w->fd);
	if (w->tmp_exists)
		unlink(w->tmp);
	free(w);
	return rc;
}

static store_reader *
local_get(store *st, const char *name, uint64_t offset, uint64_t len, pgark_err *err)
{
	local_store *ls = (local_store *) st;
	char		path[PATH_MAX];
	local_reader *r;
	int			fd;

	if (full_path(ls, name, path, sizeof(path), err) != 0)
		return NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
	{
		const char *slash = strchr(name, '/');
		char		top[PATH_MAX];
		struct stat sb;

		if (errno != ENOENT)
		{
			err_sys(err, PGARK_ERR_IO, "could not open \"%s\"", path);
			return NULL;
		}
		/* "not found" only if the repository's own directory for it is
		 * there: a missing wal/ (a partial copy, an absent mount) is a
		 * broken repository, and must not read as the end of the archive */
		if (slash && (size_t) snprintf(top, sizeof(top), "%s/%.*s", ls->root, (int) (slash - name), name) < sizeof(top) &&
			stat(top, &sb) != 0)
		{
			err_sys(err, PGARK_ERR_IO, "repository directory %s is missing (object %s)", top, name);
			return NULL;
		}
		err_set(err, PGARK_ERR_NOTFOUND, ENOENT, "object %s not found in %s", name, st->where);
		return NULL;
	}
	if (len > 0)
	{
		struct stat sb;

		if (fstat(fd, &sb) != 0)
		{
			err_sys(err, PGARK_ERR_IO, "could not stat \"%s\"", path);
			close(fd);
			return NULL;
		}
		/* a range the object does not hold: damage, never a short read */
		if (offset > (uint64_t) sb.st_size || len > (uint64_t) sb.st_size - offset)
		{
			err_set(err, PGARK_ERR_CORRUPT, 0, "object %s in %s is shorter than the range asked for (bytes=%llu-%llu)",
					name, st->where, (unsigned long long) offset, (unsigned long long) (offset + len - 1));
			close(fd);
			return NULL;
		}
	}
	if (offset > 0 && lseek(fd, (off_t) offset, SEEK_SET) < 0)
	{
		err_sys(err, PGARK_ERR_IO, "could not seek in \"%s\"", path);
		close(fd);
		return NULL;
	}
	r = calloc(1, sizeof(*r));
	if (r == NULL)
	{
		close(fd);
		err_set(err, PGARK_ERR_INTERNAL, 0, "out of memory");
		return NULL;
	}
	r->st = st;
	r->fd = fd;
	r->remaining = len ? len : UINT64_MAX;
	snprintf(r->name, sizeof(r->name), "%s", name);
	(void) posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	return (store_reader *) r;
}

static int
local_read(store_reader *sr, void *buf, size_t len, size_t *got, pgark_err *err)
{
	local_reader *r = (local_reader *) sr;
	ssize_t		n;

	if ((uint64_t) len > r->remaining)
		len = (size_t) r->remaining;
	*got = 0;
	if (len == 0)
		return 0;
	n = read_full(r->fd, buf, len);
	if (n < 0)
		return err_sys(err, PGARK_ERR_IO, "could not read object %s in %s", r->name, r->st->where);
	if (r->remaining != UINT64_MAX)
		r->remaining -= (uint64_t) n;
	*got = (size_t) n;
	return 0;
}

static void
local_reader_close(store_reader *sr)
{
	local_reader *r = (local_reader *) sr;

	close(r->fd);
	free(r);
}

static int
local_head(store *st, const char *name, store_stat *out, pgark_err *err)
{
	local_store *ls = (local_store *) st;
	char		path[PATH_MAX];
	struct stat sb;

	if (full_path(ls, name, path, sizeof(path), err) != 0)
		return -1;
	if (stat(path, &sb) != 0)
	{
		if (errno == ENOENT)
			return err_set(err, PGARK_ERR_NOTFOUND, ENOENT, "object %s not found in %s", name, st->where);
		return err_sys(err, PGARK_ERR_IO, "could not stat \"%s\"", path);
	}
	if (!S_ISREG(sb.st_mode))
		return err_set(err, PGARK_ERR_IO, 0, "\"%s\" is not a regular file", path);
	if (out)
	{
		out->size = (uint64_t) sb.st_size;
		out->mtime = (int64_t) sb.st_mtime;
	}
	return 0;
}

/* Walk dir (relative name rel, "" for the root), reporting files matching prefix. */
static int
walk(local_store *ls, const char *rel, const char *prefix, store_list_fn fn, void *arg, pgark_err *err)
{
	char		path[PATH_MAX];
	DIR		   *d;
	struct dirent *de;
	int			rc = 0;

	if ((size_t) snprintf(path, sizeof(path), "%s%s%s", ls->root, rel[0] ? "/" : "", rel) >= sizeof(path))
		return err_set(err, PGARK_ERR_IO, 0, "path too long under %s", ls->root);
	d = opendir(path);
	if (d == NULL)
	{
		if (errno == ENOENT)
			return 0;
		return err_sys(err, PGARK_ERR_IO, "could not open directory \"%s\"", path);
	}
	while (rc == 0 && (errno = 0, de = readdir(d)) != NULL)
	{
		char		name[PATH_MAX];
		char		full[PATH_MAX];
		struct stat sb;
		size_t		plen = strlen(prefix);
		size_t		nlen;

		if (de->d_name[0] == '.')
			continue;			/* ., .., and temp files of writers */
		if ((size_t) snprintf(name, sizeof(name), "%s%s%s", rel, rel[0] ? "/" : "", de->d_name) >= sizeof(name))
			continue;
		nlen = strlen(name);
		/* descend only where the prefix can still match */
		if (strncmp(name, prefix, nlen < plen ? nlen : plen) != 0)
			continue;
		if ((size_t) snprintf(full, sizeof(full), "%s/%s", ls->root, name) >= sizeof(full))
			continue;
		if (lstat(full, &sb) != 0)
		{
			if (errno == ENOENT)
				continue;
			rc = err_sys(err, PGARK_ERR_IO, "could not stat \"%s\"", full);
			break;
		}
		if (S_ISDIR(sb.st_mode))
			rc = walk(ls, name, prefix, fn, arg, err);
		else if (S_ISREG(sb.st_mode) && nlen >= plen)
		{
			store_stat st = {(uint64_t) sb.st_size, (int64_t) sb.st_mtime};

			rc = fn(arg, name, &st, err);
		}
	}
	if (rc == 0 && errno != 0 && de == NULL)
		rc = err_sys(err, PGARK_ERR_IO, "could not read directory \"%s\"", path);
	closedir(d);
	return rc;
}

static int
local_list(store *st, const char *prefix, store_list_fn fn, void *arg, pgark_err *err)
{
	return walk((local_store *) st, "", prefix ? prefix : "", fn, arg, err);
}

static int
local_remove(store *st, const char *name, pgark_err *err)
{
	local_store *ls = (local_store *) st;
	char		path[PATH_MAX];
	char		dir[PATH_MAX];

	if (full_path(ls, name, path, sizeof(path), err) != 0)
		return -1;
	if (unlink(path) != 0)
	{
		if (errno == ENOENT)
			return 0;
		return err_sys(err, PGARK_ERR_IO, "could not remove \"%s\"", path);
	}
	path_dirname(path, dir, sizeof(dir));
	if (fsync_dir(dir, err) != 0)
		return -1;
	drop_empty_dump_dir(name, dir);
	return 0;
}

static int
local_sync(store *st, const char *name, pgark_err *err)
{
	local_store *ls = (local_store *) st;
	char		path[PATH_MAX];
	char		dir[PATH_MAX];
	int			fd;

	if (full_path(ls, name, path, sizeof(path), err) != 0)
		return -1;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return err_sys(err, PGARK_ERR_IO, "could not open \"%s\" to fsync it", path);
	if (fsync(fd) != 0)
	{
		err_sys(err, PGARK_ERR_IO, "could not fsync \"%s\"", path);
		close(fd);
		return -1;
	}
	close(fd);
	/* its directory and every one above it, up to the repository's root */
	path_dirname(path, dir, sizeof(dir));
	for (;;)
	{
		if (fsync_dir(dir, err) != 0)
			return -1;
		if (strlen(dir) <= strlen(ls->root))
			break;
		{
			char		up[PATH_MAX];

			path_dirname(dir, up, sizeof(up));
			snprintf(dir, sizeof(dir), "%s", up);
		}
	}
	return 0;
}

static void
local_free(store *st)
{
	free(st);
}

static const store_ops local_ops = {
	.name = "local",
	.put_begin = local_put_begin,
	.put_write = local_put_write,
	.put_commit = local_put_commit,
	.put_abort = local_put_abort,
	.get = local_get,
	.read = local_read,
	.reader_close = local_reader_close,
	.head = local_head,
	.list = local_list,
	.remove = local_remove,
	.sync = local_sync,
	.free = local_free,
};

store *
store_local_open(const char *root, pgark_err *err)
{
	local_store *ls;
	struct stat sb;

	if (root == NULL || root[0] != '/')
	{
		err_set(err, PGARK_ERR_CONFIG, 0, "[repo] path must be an absolute path");
		return NULL;
	}
	if (stat(root, &sb) != 0)
	{
		if (errno == ENOENT)
			err_set(err, PGARK_ERR_NOREPO, ENOENT,
					"repository directory %s does not exist: create the repository with repo-init", root);
		else
			err_sys(err, PGARK_ERR_IO, "could not access repository directory \"%s\"", root);
		return NULL;
	}
	if (!S_ISDIR(sb.st_mode))
	{
		err_set(err, PGARK_ERR_CONFIG, 0, "[repo] path %s is not a directory", root);
		return NULL;
	}
	ls = calloc(1, sizeof(*ls));
	if (ls == NULL)
	{
		err_set(err, PGARK_ERR_INTERNAL, 0, "out of memory");
		return NULL;
	}
	ls->base.ops = &local_ops;
	snprintf(ls->base.where, sizeof(ls->base.where), "%s", root);
	snprintf(ls->root, sizeof(ls->root), "%s", root);
	/* strip trailing slashes */
	for (size_t n = strlen(ls->root); n > 1 && ls->root[n - 1] == '/'; n--)
		ls->root[n - 1] = '\0';
	return &ls->base;
}
