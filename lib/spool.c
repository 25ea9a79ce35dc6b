#include "spool.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crypto.h"
#include "util.h"

int
spool_dir(const pgark_config *cfg, const char *purpose, char *out, size_t outlen, pgark_err *err)
{
	char		id[1200 + PATH_MAX];
	uint8_t		h[SHA256_LEN];
	char		hex[2 * SHA256_LEN + 1];
	struct stat sb;

	if (cfg->spool[0] == '\0')
		return 1;
	config_repo_id(cfg, id, sizeof(id));
	/* not sha256_once: a wal-fetch served from the spool uses nothing else
	 * of OpenSSL, and would pay its initialisation for this name */
	sha256_plain(id, strlen(id), h);
	hex_encode(h, 8, hex);
	if ((size_t) snprintf(out, outlen, "%s/%s-%s", cfg->spool, purpose, hex) >= outlen)
		return err_set(err, PGARK_ERR_CONFIG, 0, "[archive] spool path too long: \"%s\"", cfg->spool);
	/* Every directory above must be one that no other user can change: else
	 * someone could swap the spool for their own after it was checked.
	 * Sticky directories (/tmp, /var/tmp) protect our entries in them. */
	{
		char		dir[PATH_MAX];

		snprintf(dir, sizeof(dir), "%s", cfg->spool);
		for (;;)
		{
			char		parent[PATH_MAX];

			if (stat(dir, &sb) == 0 &&
				((sb.st_uid != 0 && sb.st_uid != geteuid()) ||
				 ((sb.st_mode & (S_IWGRP | S_IWOTH)) && !(sb.st_mode & S_ISVTX))))
				return err_set(err, PGARK_ERR_CONFIG, 0,
							   "[archive] spool: \"%s\" is writable by another user (owner uid %u, mode %03o): "
							   "anyone who can change it could make a segment look archived",
							   dir, (unsigned) sb.st_uid, (unsigned) (sb.st_mode & 0777));
			path_dirname(dir, parent, sizeof(parent));
			if (strcmp(parent, dir) == 0)
				break;
			snprintf(dir, sizeof(dir), "%s", parent);
		}
	}
	if (mkdir_p(out, 0700, err) != 0)
	{
		err_prefix(err, "[archive] spool");
		return -1;
	}
	if (lstat(out, &sb) != 0)
		return err_sys(err, PGARK_ERR_IO, "[archive] spool: could not stat \"%s\"", out);
	if (!S_ISDIR(sb.st_mode))
		return err_set(err, PGARK_ERR_CONFIG, 0, "[archive] spool: \"%s\" is not a directory", out);
	if (sb.st_uid != geteuid())
		return err_set(err, PGARK_ERR_CONFIG, 0,
					   "[archive] spool: \"%s\" belongs to uid %u, not to this user (uid %u)",
					   out, (unsigned) sb.st_uid, (unsigned) geteuid());
	if (sb.st_mode & (S_IWGRP | S_IWOTH))
		return err_set(err, PGARK_ERR_CONFIG, 0,
					   "[archive] spool: \"%s\" is writable by group or others (mode %03o): "
					   "anyone who can write there could make a segment look archived",
					   out, (unsigned) (sb.st_mode & 0777));
	return 0;
}

int
spool_lock_take(const char *dir, const char *name, int *fd, pgark_err *err)
{
	char		path[PATH_MAX], pid[32];

	*fd = -1;
	if ((size_t) snprintf(path, sizeof(path), "%s/%s", dir, name) >= sizeof(path))
		return err_set(err, PGARK_ERR_IO, 0, "path too long: %s/%s", dir, name);
	if ((*fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600)) < 0)
		return err_sys(err, PGARK_ERR_IO, "could not open %s", path);
	if (flock(*fd, LOCK_EX | LOCK_NB) != 0)
	{
		int			busy = errno == EWOULDBLOCK;

		if (!busy)
			err_sys(err, PGARK_ERR_IO, "could not lock %s", path);
		close(*fd);
		*fd = -1;
		return busy ? 1 : -1;
	}
	snprintf(pid, sizeof(pid), "%d\n", (int) getpid());
	if (ftruncate(*fd, 0) != 0 || pwrite(*fd, pid, strlen(pid), 0) < 0)
	{
		/* only informative */
	}
	return 0;
}

void
spool_lock_release(int *fd)
{
	if (*fd >= 0)
	{
		(void) ftruncate(*fd, 0);
		close(*fd);
	}
	*fd = -1;
}

int
spool_lock_held(const char *dir, const char *name)
{
	char		path[PATH_MAX];
	int			fd;
	int			held = 0;

	if ((size_t) snprintf(path, sizeof(path), "%s/%s", dir, name) >= sizeof(path))
		return 0;
	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) < 0)
		return 0;
	if (flock(fd, LOCK_SH | LOCK_NB) != 0)
		held = errno == EWOULDBLOCK;
	close(fd);
	return held;
}
