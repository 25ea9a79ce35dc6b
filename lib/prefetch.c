#include "prefetch.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "spool.h"
#include "util.h"

#define META_NAME "meta"
#define WANT_NAME "want"
#define LOCK_NAME "helper.lock"
#define MAX_HISTORY_FILE (1024 * 1024)
#define MAX_TIMELINES 256		/* entries of one history we follow */
#define MAX_HISTORY_PROBES 1000 /* newer timelines looked for */

static int
dir_path(const char *dir, const char *name, char *out, size_t outlen, pgark_err *err)
{
	if ((size_t) snprintf(out, outlen, "%s/%s", dir, name) >= outlen)
		return err_set(err, PGARK_ERR_IO, 0, "path too long: %s/%s", dir, name);
	return 0;
}

/* The kernel's id of this boot; "" if unknown (then nothing in the spool is
 * delivered: prefetched files are not fsync'd, so one from before a crash
 * could have the right size and header and unwritten blocks). */
static void
boot_id(char *out, size_t outlen)
{
	int			fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC);
	ssize_t		n = fd >= 0 ? read_full(fd, out, outlen - 1) : -1;

	if (fd >= 0)
		close(fd);
	if (n < 0)
		n = 0;
	out[n] = '\0';
	out[strcspn(out, "\n")] = '\0';
}

/* Small file into buf (NUL-terminated); its length, or -1 with errno. */
static ssize_t
read_small(const char *path, char *buf, size_t buflen)
{
	int			fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	ssize_t		n;

	if (fd < 0)
		return -1;
	n = read_full(fd, buf, buflen - 1);
	close(fd);
	if (n < 0)
		return -1;
	buf[n] = '\0';
	return n;
}

/* Write a small file under its name atomically: a temp name, then rename.
 * Not synced: these files are re-checked, and rewritten by every run. */
static int
write_small(const char *dir, const char *name, const char *text, pgark_err *err)
{
	char		path[PATH_MAX], tmp[PATH_MAX + 64];
	int			fd;

	if (dir_path(dir, name, path, sizeof(path), err) != 0)
		return -1;
	snprintf(tmp, sizeof(tmp), "%s/.%s.pgark-%d.tmp", dir, name, (int) getpid());
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600)) < 0)
		return err_sys(err, PGARK_ERR_IO, "could not create %s", tmp);
	if (write_full(fd, text, strlen(text)) != 0)
	{
		err_sys(err, PGARK_ERR_IO, "could not write %s", tmp);
		close(fd);
		unlink(tmp);
		return -1;
	}
	close(fd);
	if (rename(tmp, path) != 0)
	{
		err_sys(err, PGARK_ERR_IO, "could not rename %s to %s", tmp, path);
		unlink(tmp);
		return -1;
	}
	return 0;
}

int
prefetch_read_meta(const char *dir, prefetch_meta *m, pgark_err *err)
{
	char		path[PATH_MAX], buf[256], boot[40];
	unsigned long long sysid;
	unsigned	seg_size;
	int			off = 0;

	memset(m, 0, sizeof(*m));
	if (dir_path(dir, META_NAME, path, sizeof(path), err) != 0)
		return -1;
	if (read_small(path, buf, sizeof(buf)) < 0)
		return err_sys(err, errno == ENOENT ? PGARK_ERR_NOTFOUND : PGARK_ERR_IO, "could not read %s", path);
	if (sscanf(buf, "pgark prefetch 1\nsysid %llu\nseg_size %u\nboot %n", &sysid, &seg_size, &off) != 2 ||
		off == 0 || !wal_seg_size_valid(seg_size))
		return err_set(err, PGARK_ERR_CORRUPT, 0, "%s is not a prefetch meta file", path);
	snprintf(m->boot_id, sizeof(m->boot_id), "%.*s", (int) strcspn(buf + off, "\n"), buf + off);
	boot_id(boot, sizeof(boot));
	if (boot[0] == '\0')
		return err_set(err, PGARK_ERR_IO, 0,
					   "the boot id (/proc/sys/kernel/random/boot_id) cannot be read: prefetched files, never "
					   "fsync'd, are not used when a reboot cannot be ruled out");
	if (strcmp(boot, m->boot_id) != 0)
		return err_set(err, PGARK_ERR_MISMATCH, 0,
					   "%s was written before the last reboot: its files are not used", path);
	m->sysid = sysid;
	m->seg_size = seg_size;
	return 0;
}

static int
write_meta(const char *dir, const prefetch_meta *m, pgark_err *err)
{
	char		text[256];

	snprintf(text, sizeof(text), "pgark prefetch 1\nsysid %llu\nseg_size %u\nboot %s\n",
			 (unsigned long long) m->sysid, m->seg_size, m->boot_id);
	return write_small(dir, META_NAME, text, err);
}

/* Copy fd's content to dest through a temp file beside it (the spool is on
 * another filesystem than pg_wal). */
static int
copy_to(int fd, const char *dest, mode_t mode, pgark_err *err)
{
	char		dir[PATH_MAX], tmp[PATH_MAX + 64];
	char	   *buf = NULL;
	int			out = -1;
	int			rc = -1;

	path_dirname(dest, dir, sizeof(dir));
	snprintf(tmp, sizeof(tmp), "%s/.%s.pgark-%d.tmp", dir, path_basename(dest), (int) getpid());
	unlink(tmp);
	if ((out = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)) < 0)
		return err_sys(err, PGARK_ERR_IO, "could not create %s", tmp);
	if ((buf = malloc(1024 * 1024)) == NULL)
	{
		err_set(err, PGARK_ERR_INTERNAL, 0, "out of memory");
		goto done;
	}
	if (lseek(fd, 0, SEEK_SET) != 0)
	{
		err_sys(err, PGARK_ERR_IO, "could not seek in a prefetched file");
		goto done;
	}
	for (;;)
	{
		ssize_t		n = read_full(fd, buf, 1024 * 1024);

		if (n < 0)
		{
			err_sys(err, PGARK_ERR_IO, "could not read a prefetched file");
			goto done;
		}
		if (n == 0)
			break;
		if (write_full(out, buf, (size_t) n) != 0)
		{
			err_sys(err, PGARK_ERR_IO, "could not write %s", tmp);
			goto done;
		}
	}
	if (close(out) != 0)
	{
		out = -1;
		err_sys(err, PGARK_ERR_IO, "could not write %s", tmp);
		goto done;
	}
	out = -1;
	if (rename(tmp, dest) != 0)
	{
		err_sys(err, PGARK_ERR_IO, "could not rename %s to %s", tmp, dest);
		goto done;
	}
	rc = 0;
done:
	if (out >= 0)
		close(out);
	if (rc != 0)
		unlink(tmp);
	free(buf);
	return rc;
}

int
prefetch_take(const char *dir, const prefetch_meta *m, const walname *wn, const char *dest,
			  uint64_t *bytes, pgark_err *err)
{
	char		path[PATH_MAX], ddir[PATH_MAX];
	uint8_t		hdr[WAL_LONG_HEADER_LEN];
	struct stat sb, dsb;
	mode_t		mode = 0600;
	int			fd;
	int			rc = 2;

	*bytes = 0;
	if (wn->kind != WAL_SEGMENT)
		return 1;
	if (dir_path(dir, wn->name, path, sizeof(path), err) != 0)
		return 1;
	if (m == NULL)
	{
		/* nothing to check it against: not used, and not left for later */
		return unlink(path) == 0 ? 2 : 1;
	}
	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) < 0)
	{
		if (errno == ENOENT)
			return 1;
		err_sys(err, PGARK_ERR_IO, "could not open the prefetched %s", path);
		unlink(path);
		return 2;
	}
	if (fstat(fd, &sb) != 0)
	{
		err_sys(err, PGARK_ERR_IO, "could not stat the prefetched %s", path);
		goto refuse;
	}
	if (!S_ISREG(sb.st_mode))
	{
		err_set(err, PGARK_ERR_CORRUPT, 0, "the prefetched %s is not a regular file", path);
		goto refuse;
	}
	if ((uint64_t) sb.st_size != m->seg_size)
	{
		err_set(err, PGARK_ERR_CORRUPT, 0, "the prefetched %s is %lld bytes, not the segment size %u",
				path, (long long) sb.st_size, m->seg_size);
		goto refuse;
	}
	if (time(NULL) - sb.st_mtime > PREFETCH_MAX_AGE_SECS)
	{
		err_set(err, PGARK_ERR_CORRUPT, 0, "the prefetched %s is older than %d seconds", path,
				PREFETCH_MAX_AGE_SECS);
		goto refuse;
	}
	if (read_full(fd, hdr, sizeof(hdr)) != (ssize_t) sizeof(hdr))
	{
		err_sys(err, PGARK_ERR_IO, "could not read the prefetched %s", path);
		goto refuse;
	}
	if (wal_check_segment(wn, hdr, sizeof(hdr), m->sysid, m->seg_size, err) != 0)
	{
		err_prefix(err, "the prefetched %s", path);
		goto refuse;
	}
	/* as wal_fetch_file makes it: 0640 where pg_wal allows group access */
	path_dirname(dest, ddir, sizeof(ddir));
	if (stat(ddir, &dsb) == 0 && (dsb.st_mode & S_IRGRP))
		mode = 0640;
	(void) fchmod(fd, mode);
	if (rename(path, dest) == 0)
		rc = 0;
	else if (errno == ENOENT)
		rc = 1;					/* removed meanwhile (a cleanup): fetch it */
	else if (errno == EXDEV)
	{
		if (copy_to(fd, dest, mode, err) != 0)
		{
			close(fd);
			return 1;			/* the file is sound; the repository will do */
		}
		unlink(path);
		rc = 0;
	}
	else
	{
		err_sys(err, PGARK_ERR_IO, "could not rename the prefetched %s to %s", path, dest);
		goto refuse;
	}
	if (rc == 0)
		*bytes = (uint64_t) sb.st_size;
	close(fd);
	return rc;
refuse:
	unlink(path);
	close(fd);
	return 2;
}

/* ".<anything>.pgark-<pid>.tmp": the pid, or 0 if name is not such a name. */
static long
temp_pid(const char *name)
{
	size_t		len = strlen(name);
	const char *p;
	char	   *end;
	long		pid;

	if (name[0] != '.' || len < 5 || strcmp(name + len - 4, ".tmp") != 0)
		return 0;
	if ((p = strstr(name, ".pgark-")) == NULL)
		return 0;
	pid = strtol(p + 7, &end, 10);
	if (pid <= 0 || strcmp(end, ".tmp") != 0)
		return 0;
	return pid;
}

int
prefetch_cleanup(const char *dir, const prefetch_meta *m, const walname *wn)
{
	DIR		   *d = opendir(dir);
	struct dirent *de;
	time_t		now = time(NULL);
	uint64_t	want = m && wn ? walname_segno(wn, m->seg_size) : 0;
	int			removed = 0;

	if (d == NULL)
		return 0;
	while ((de = readdir(d)) != NULL)
	{
		struct stat sb;
		walname		fw;
		pgark_err	ignore;
		long		pid;
		int			old;

		if (fstatat(dirfd(d), de->d_name, &sb, AT_SYMLINK_NOFOLLOW) != 0)
			continue;
		old = now - sb.st_mtime > PREFETCH_MAX_AGE_SECS || sb.st_mtime - now > 60;
		if ((pid = temp_pid(de->d_name)) != 0)
		{
			/* a temp file of a process that is gone (pids are reused: the
			 * age limit catches those) */
			if (pid != (long) getpid() && (old || (kill((pid_t) pid, 0) != 0 && errno == ESRCH)))
				removed += unlinkat(dirfd(d), de->d_name, 0) == 0;
			continue;
		}
		if (walname_parse(de->d_name, &fw, &ignore) != 0 || fw.kind != WAL_SEGMENT)
			continue;
		if (old || (m && wn && walname_segno(&fw, m->seg_size) < want))
			removed += unlinkat(dirfd(d), de->d_name, 0) == 0;
	}
	closedir(d);
	return removed;
}

int
prefetch_set_want(const char *dir, const walname *wn, pgark_err *err)
{
	char		path[PATH_MAX], text[64];
	int			fd;
	int			n;

	/*
	 * In place, not through a temp name: renaming over an existing file
	 * makes ext4 write the new one out first (auto_da_alloc), milliseconds
	 * on every call. Segment names are all 24 characters, so one pwrite of
	 * the same length replaces the whole content and a reader (who reads it
	 * with one read) sees the old name or the new one.
	 */
	if (dir_path(dir, WANT_NAME, path, sizeof(path), err) != 0)
		return -1;
	n = snprintf(text, sizeof(text), "%s\n", wn->name);
	if ((fd = open(path, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600)) < 0)
		return err_sys(err, PGARK_ERR_IO, "could not open %s", path);
	if (pwrite(fd, text, (size_t) n, 0) != n)
	{
		err_sys(err, PGARK_ERR_IO, "could not write %s", path);
		close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

static int
get_want(const char *dir, walname *wn)
{
	char		path[PATH_MAX], buf[64];
	pgark_err	ignore;

	if (dir_path(dir, WANT_NAME, path, sizeof(path), &ignore) != 0 || read_small(path, buf, sizeof(buf)) < 0)
		return -1;
	buf[strcspn(buf, "\n")] = '\0';
	if (walname_parse(buf, wn, &ignore) != 0 || wn->kind != WAL_SEGMENT)
		return -1;
	return 0;
}

int
prefetch_helper_running(const char *dir)
{
	return spool_lock_held(dir, LOCK_NAME);
}

/* The timelines segments after a file of timeline tli may be on, newest
 * first, as PostgreSQL's XLogFileReadAnyTLI looks for them. */
typedef struct tl_plan
{
	uint32_t	from_tli;
	size_t		n;
	wal_tl_entry e[MAX_TIMELINES];
} tl_plan;

/*
 * With recovery_target_timeline = latest, recovery follows the newest
 * timeline whose history holds the current one: look for <tli+1>.history,
 * <tli+2>.history ... in the repository (up to the first missing, as
 * PostgreSQL's findNewestTimeLine does) and keep the newest that descends
 * from tli. Without one, segments stay on tli.
 */
static void
plan_timelines(repo *r, uint32_t tli, tl_plan *plan, prefetch_report_fn report, void *arg)
{
	wal_tl_entry hist[MAX_TIMELINES];

	plan->from_tli = tli;
	plan->n = 1;
	plan->e[0].tli = tli;
	plan->e[0].begin = 0;
	plan->e[0].end = 0;
	for (uint32_t t = tli + 1; t > tli && t - tli <= MAX_HISTORY_PROBES; t++)
	{
		char		name[32];
		walname		hn;
		char	   *text = NULL;
		size_t		len, n;
		pgark_err	err;

		err_clear(&err);
		snprintf(name, sizeof(name), "%08X.history", t);
		if (walname_parse(name, &hn, &err) != 0)
			break;
		if (wal_fetch_mem(r, &hn, MAX_HISTORY_FILE, &text, &len, &err) != 0)
		{
			if (err.kind != PGARK_ERR_NOTFOUND && report)
				report(arg, &hn, NULL, &err);
			break;
		}
		if (wal_history_parse(text, len, t, hist, MAX_TIMELINES, &n, &err) != 0)
		{
			if (report)
				report(arg, &hn, NULL, &err);
		}
		else
		{
			size_t		k = 0;

			for (size_t i = 0; i < n && hist[i].tli >= tli; i++)
				k++;
			/* does t descend from tli? (its history's oldest kept is tli) */
			if (k > 0 && hist[k - 1].tli == tli)
			{
				memcpy(plan->e, hist, k * sizeof(hist[0]));
				plan->n = k;
			}
		}
		free(text);
	}
}

/* Names segment segno may have, in the order recovery asks for them. */
static size_t
candidates(const tl_plan *plan, uint64_t segno, uint32_t seg_size, walname *out, size_t max)
{
	size_t		n = 0;

	for (size_t i = 0; i < plan->n && n < max; i++)
	{
		if (plan->e[i].begin != 0 && segno < plan->e[i].begin / seg_size)
			continue;
		walname_segment(plan->e[i].tli, segno, seg_size, &out[n++]);
	}
	return n;
}

static int
is_candidate(const tl_plan *plan, const walname *fw, uint64_t segno, uint32_t seg_size)
{
	walname		c[8];
	size_t		n = candidates(plan, segno, seg_size, c, 8);

	for (size_t i = 0; i < n; i++)
		if (strcmp(c[i].name, fw->name) == 0)
			return 1;
	return 0;
}

/* Remove every segment outside the window (want, want + ahead] or not
 * named as recovery will ask for it: at most ahead files stay. With plan
 * NULL, remove every prefetched segment (the meta they were checked against
 * changes). */
static void
prune(const char *dir, const tl_plan *plan, uint64_t want, int ahead, uint32_t seg_size)
{
	DIR		   *d = opendir(dir);
	struct dirent *de;

	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL)
	{
		walname		fw;
		pgark_err	ignore;
		uint64_t	s;

		if (walname_parse(de->d_name, &fw, &ignore) != 0 || fw.kind != WAL_SEGMENT)
			continue;
		if (plan != NULL)
		{
			s = walname_segno(&fw, seg_size);
			if (s > want && s <= want + (uint64_t) ahead && is_candidate(plan, &fw, s, seg_size))
				continue;
		}
		(void) unlinkat(dirfd(d), de->d_name, 0);
	}
	closedir(d);
}

static int
present(const char *dir, const walname *wn)
{
	char		path[PATH_MAX];
	struct stat sb;
	pgark_err	ignore;

	return dir_path(dir, wn->name, path, sizeof(path), &ignore) == 0 && lstat(path, &sb) == 0;
}

int
prefetch_run(repo *r, const char *dir, int ahead, double deadline_ms, prefetch_report_fn report, void *arg,
			 pgark_err *err)
{
	tl_plan		plan;
	prefetch_meta m, old;
	pgark_err	ignore;
	uint32_t	seg_size = r->meta.wal_seg_size;
	int			lock = -1;
	int			rc;

	if (ahead <= 0)
		return 0;
	if ((rc = spool_lock_take(dir, LOCK_NAME, &lock, err)) != 0)
		return rc > 0 ? 0 : -1;
	memset(&m, 0, sizeof(m));
	m.sysid = r->meta.sysid;
	m.seg_size = seg_size;
	boot_id(m.boot_id, sizeof(m.boot_id));
	if (prefetch_read_meta(dir, &old, &ignore) != 0 || old.sysid != m.sysid || old.seg_size != m.seg_size)
	{
		/* files checked against other values (or of another boot) go first */
		prune(dir, NULL, 0, 0, 0);
		if (write_meta(dir, &m, err) != 0)
		{
			spool_lock_release(&lock);
			return -1;
		}
	}
	plan.from_tli = 0;
	plan.n = 0;
	for (;;)
	{
		walname		want, next;
		walname		c[8];
		size_t		nc = 0;
		uint64_t	w;
		int			found = 0;

		if (now_ms() > deadline_ms || get_want(dir, &want) != 0)
			break;
		if (plan.n == 0 || plan.from_tli != want.tli)
			plan_timelines(r, want.tli, &plan, report, arg);
		w = walname_segno(&want, seg_size);
		prune(dir, &plan, w, ahead, seg_size);
		for (uint64_t s = w + 1; s <= w + (uint64_t) ahead; s++)
		{
			int			have = 0;

			nc = candidates(&plan, s, seg_size, c, 8);
			for (size_t i = 0; i < nc && !have; i++)
				have = present(dir, &c[i]);
			if (!have)
				break;
			nc = 0;
		}
		if (nc == 0)
		{
			/* The window is full. Recovery will soon ask for the next
			 * segment: wait a little for that rather than leave it to a new
			 * helper (a process, a key unwrap, the .history probes). */
			double		until = now_ms() + PREFETCH_LINGER_MS;
			int			moved = 0;

			while (!moved && now_ms() < until && now_ms() < deadline_ms)
			{
				sleep_ms(20);
				moved = get_want(dir, &next) == 0 && strcmp(next.name, want.name) != 0;
			}
			if (moved)
				continue;

			/* Release the lock, then look at want once more: a wal-fetch
			 * writes want before it looks at the lock, so either it saw the
			 * lock free (and started a helper), or we see its want here. */
			spool_lock_release(&lock);
			if (get_want(dir, &next) != 0 || strcmp(next.name, want.name) == 0)
				return 0;
			if ((rc = spool_lock_take(dir, LOCK_NAME, &lock, err)) != 0)
				return rc > 0 ? 0 : -1;
			continue;
		}
		for (size_t i = 0; i < nc; i++)
		{
			char		path[PATH_MAX];
			wal_fetch_result res;
			pgark_err	ferr;

			err_clear(&ferr);
			if (dir_path(dir, c[i].name, path, sizeof(path), &ferr) != 0 ||
				wal_fetch_file(r, &c[i], path, &res, &ferr) != 0)
			{
				if (ferr.kind == PGARK_ERR_NOTFOUND)
					continue;	/* an older timeline may have it */
				if (report)
					report(arg, &c[i], NULL, &ferr);
				spool_lock_release(&lock);
				return 0;
			}
			if (report)
				report(arg, &c[i], &res, NULL);
			found = 1;
			break;
		}
		if (!found)
			break;				/* the end of the archive, for now */
	}
	spool_lock_release(&lock);
	return 0;
}
