/*
 * scratch.c — a backup restored, started and recovered in a private
 * temporary directory, then stopped and removed (see scratch.h).
 */
#include "scratch.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "manifest.h"
#include "util.h"

#define SCRATCH_PREFIX "pgark-scratch-"

void
scratch_opts_init(scratch_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->reserve = UINT64_MAX;
}

/* a then b into out; -1 if it does not fit */
static int
join(char *out, size_t len, const char *a, const char *b)
{
	return (size_t) snprintf(out, len, "%s%s", a, b) < len ? 0 : -1;
}

static int
cancelled(volatile sig_atomic_t *c)
{
	return c != NULL && *c != 0;
}

/* Remove name in dirfd and, for a directory, everything in it, never
 * following a symlink. */
static int
rm_at(int dfd, const char *name, const char *where, pgark_err *err)
{
	struct stat sb;
	int			fd;
	DIR		   *d;
	struct dirent *de;
	int			rc = 0;

	if (fstatat(dfd, name, &sb, AT_SYMLINK_NOFOLLOW) != 0)
		return errno == ENOENT ? 0 : err_sys(err, PGARK_ERR_IO, "could not stat %s/%s", where, name);
	if (!S_ISDIR(sb.st_mode))
	{
		if (unlinkat(dfd, name, 0) != 0 && errno != ENOENT)
			return err_sys(err, PGARK_ERR_IO, "could not remove %s/%s", where, name);
		return 0;
	}
	if ((fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0)
		return err_sys(err, PGARK_ERR_IO, "could not open %s/%s", where, name);
	if ((d = fdopendir(fd)) == NULL)
	{
		close(fd);
		return err_sys(err, PGARK_ERR_IO, "could not read %s/%s", where, name);
	}
	while (rc == 0 && (de = readdir(d)) != NULL)
	{
		char		sub[PATH_MAX];

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", where, name);
		rc = rm_at(dirfd(d), de->d_name, sub, err);
	}
	closedir(d);
	if (rc == 0 && unlinkat(dfd, name, AT_REMOVEDIR) != 0 && errno != ENOENT)
		return err_sys(err, PGARK_ERR_IO, "could not remove %s/%s", where, name);
	return rc;
}

static int
rm_tree(const char *path, pgark_err *err)
{
	char		parent[PATH_MAX];
	int			fd, rc;

	path_dirname(path, parent, sizeof(parent));
	if ((fd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return err_sys(err, PGARK_ERR_IO, "could not open %s", parent);
	rc = rm_at(fd, path_basename(path), parent, err);
	if (rc == 0)
		(void) fsync(fd);
	close(fd);
	return rc;
}

/* In a child before exec: close every descriptor from 3 up, whatever its
 * number (close_range; else a loop up to the descriptor limit). */
static void
close_from3(void)
{
	long		max;

#ifdef SYS_close_range
	if (syscall(SYS_close_range, 3U, ~0U, 0U) == 0)
		return;
#endif
	max = sysconf(_SC_OPEN_MAX);
	if (max < 0 || max > 1048576)
		max = 1048576;
	for (long fd = 3; fd < max; fd++)
		(void) close((int) fd);
}

/* In a child before exec: every signal as by default and none blocked. A
 * signal ignored by whoever started us (SIGINT for a job started with & by
 * a shell, SIGHUP under nohup) would stay ignored across exec: a server or
 * client we start must stop on the SIGINT/SIGTERM we or the user send. */
static void
child_default_signals(void)
{
	static const int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGPIPE, SIGCHLD, SIGUSR1, SIGUSR2};
	sigset_t	none;

	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		(void) signal(sigs[i], SIG_DFL);
	sigemptyset(&none);
	(void) sigprocmask(SIG_SETMASK, &none, NULL);
}

/* Wait up to ms for child pid to end (reaped); 1 if it ended. */
static int
wait_child(pid_t pid, int ms, int *status)
{
	double		t0 = now_ms();

	for (;;)
	{
		pid_t		w = waitpid(pid, status, WNOHANG);

		if (w == pid || (w < 0 && errno == ECHILD))
			return 1;
		if (now_ms() - t0 >= ms)
			return 0;
		sleep_ms(20);
	}
}

/* wait_child, ending early (-1, the child left running) when the cancel
 * flag is set */
static int
wait_child_cancel(pid_t pid, int ms, int *status, volatile sig_atomic_t *cancel)
{
	double		t0 = now_ms();

	for (;;)
	{
		int			left = ms - (int) (now_ms() - t0);

		if (cancelled(cancel))
			return -1;
		if (wait_child(pid, left < 100 ? (left > 0 ? left : 0) : 100, status))
			return 1;
		if (left <= 100)
			return 0;
	}
}

/* Wait up to ms for a process that is not our child to end. */
static int
wait_gone(pid_t pid, int ms)
{
	double		t0 = now_ms();

	while (kill(pid, 0) == 0 || errno == EPERM)
	{
		if (now_ms() - t0 >= ms)
			return 0;
		sleep_ms(50);
	}
	return 1;
}

/* A line of the server log that says nothing about why it stopped (what
 * every failed start-up ends with, and the refusals of our connection
 * attempts): left out of the tail, so that the cause fits. */
static int
log_noise(const char *l)
{
	static const char *const noise[] = {"terminating any other active server processes",
		"shutting down due to startup process failure", "aborting startup due to startup process failure",
		"database system is shut down",
		/* our own connection attempts while it starts */
		"the database system is starting up", "the database system is in recovery mode",
		"the database system is not yet accepting connections", "the database system is not accepting connections",
		NULL};

	const char *p;

	for (int i = 0; noise[i]; i++)
		if (strstr(l, noise[i]) != NULL)
			return 1;
	/* "startup process (PID n) exited with exit code 1" follows its own
	 * message; "... was terminated by signal 9: Killed" is the cause */
	return (p = strstr(l, "startup process (PID ")) != NULL && strstr(p, ") exited with exit code ") != NULL;
}

/* The last lines of the server log, on one line ("|" between lines),
 * without the lines of log_noise and without the "<time> [<pid>] " prefix
 * (start_server sets log_line_prefix '%m [%p] '), into out. */
static void
log_tail(const char *logfile, char *out, size_t outlen)
{
	/* enough for the cause behind a few seconds of refused connections */
	char		buf[65536];
	const char *line[128];
	int			fd = open(logfile, O_RDONLY | O_CLOEXEC);
	off_t		end;
	ssize_t		n;
	size_t		o = 0, nlines = 0, first, total = 0;
	char	   *p;
	int			noise = 0;

	out[0] = '\0';
	if (fd < 0 || outlen == 0)
	{
		if (fd >= 0)
			close(fd);
		return;
	}
	end = lseek(fd, 0, SEEK_END);
	if (end < 0 || lseek(fd, end > (off_t) sizeof(buf) - 1 ? end - (off_t) sizeof(buf) + 1 : 0, SEEK_SET) < 0 ||
		(n = read_full(fd, buf, sizeof(buf) - 1)) <= 0)
	{
		close(fd);
		return;
	}
	close(fd);
	buf[n] = '\0';
	p = buf;
	/* begin at a whole line (if there is a line end to begin after) */
	if (end > (off_t) n && (p = strchr(buf, '\n')) != NULL && p[1] != '\0')
		p++;
	else
		p = buf;
	while (p && *p)
	{
		char	   *nl = strchr(p, '\n'), *q;

		if (nl)
			*nl = '\0';
		/* the prefix: a time, then "[pid] " */
		if (*p >= '0' && *p <= '9' && (q = strstr(p, "] ")) != NULL && q - p < 48)
			p = q + 2;
		/* a left out line's DETAIL too */
		if (*p && (log_noise(p) || (noise && strncmp(p, "DETAIL:  ", 9) == 0)))
			noise = 1;
		else if (*p)
		{
			noise = 0;
			if (nlines == sizeof(line) / sizeof(line[0]))
			{
				memmove(line, line + 1, sizeof(line) - sizeof(line[0]));
				nlines--;
			}
			line[nlines++] = p;
		}
		p = nl ? nl + 1 : NULL;
	}
	if (nlines == 0)
		return;
	/* as many of the last lines as fit (at least the last one, cut) */
	first = nlines;
	while (first > 0 && total + strlen(line[first - 1]) + 1 < outlen)
		total += strlen(line[--first]) + 1;
	if (first == nlines)
		first = nlines - 1;
	for (size_t i = first; i < nlines; i++)
	{
		if (i > first && o + 1 < outlen)
			out[o++] = '|';
		for (const char *c = line[i]; *c && o + 1 < outlen; c++)
			out[o++] = *c;
	}
	out[o] = '\0';
}

void
scratch_log_tail(const char *logfile, char *out, size_t outlen)
{
	log_tail(logfile, out, outlen);
}

/* Run path with one argument, its stdout (the first len-1 bytes) into out. */
static int
capture(const char *path, const char *arg, int search, char *out, size_t len)
{
	int			pfd[2], status;
	pid_t		pid;
	ssize_t		n;

	out[0] = '\0';
	if (pipe2(pfd, O_CLOEXEC) != 0)
		return -1;
	if ((pid = fork()) < 0)
	{
		close(pfd[0]);
		close(pfd[1]);
		return -1;
	}
	if (pid == 0)
	{
		int			nul = open("/dev/null", O_RDWR);

		(void) setenv("LC_ALL", "C", 1);	/* pg_controldata's labels untranslated */
		dup2(pfd[1], 1);
		if (nul >= 0)
		{
			dup2(nul, 0);
			dup2(nul, 2);
		}
		if (search)
			execlp(path, path, arg, (char *) NULL);
		else
			execl(path, path, arg, (char *) NULL);
		_exit(127);
	}
	close(pfd[1]);
	n = read_full(pfd[0], out, len - 1);
	close(pfd[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	out[n > 0 ? n : 0] = '\0';
	if (n > 0 && out[n - 1] == '\n')
		out[n - 1] = '\0';
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

int
scratch_bindir_major(const char *bindir)
{
	char		path[PATH_MAX], out[256];
	const char *v;

	if ((size_t) snprintf(path, sizeof(path), "%s/postgres", bindir) >= sizeof(path) ||
		access(path, X_OK) != 0 || capture(path, "--version", 0, out, sizeof(out)) != 0 ||
		(v = strstr(out, "(PostgreSQL) ")) == NULL)
		return -1;
	return atoi(v + 13);
}

static int
find_bindir(const char *given, int major, char *out, size_t outlen, pgark_err *err)
{
	char		cand[3][PATH_MAX];
	int			n = 0, m;

	if (given && given[0])
	{
		if ((m = scratch_bindir_major(given)) != major)
			return err_set(err, PGARK_ERR_CONFIG, 0, "%s/postgres %s, the backup is of PostgreSQL %d", given,
						   m < 0 ? "cannot be run" : "is of another major version", major);
		snprintf(out, outlen, "%s", given);
		return 0;
	}
	snprintf(cand[n++], PATH_MAX, "/usr/lib/postgresql/%d/bin", major);
	snprintf(cand[n++], PATH_MAX, "/usr/pgsql-%d/bin", major);
	if (capture("pg_config", "--bindir", 1, cand[n], PATH_MAX) == 0)
		n++;
	for (int i = 0; i < n; i++)
		if (scratch_bindir_major(cand[i]) == major && join(out, outlen, cand[i], "") == 0)
			return 0;
	return err_set(err, PGARK_ERR_CONFIG, 0,
				   "no server binaries of PostgreSQL %d (the backup's version) in /usr/lib/postgresql/%d/bin, "
				   "/usr/pgsql-%d/bin or pg_config --bindir: install them", major, major, major);
}

/* Stop a server left in a stale scratch directory (dfd, opened without
 * following a symlink): only if <dir>/data is a real directory of ours (not
 * a symlink) and the process named by its postmaster.pid is ours and works
 * in that very directory (same device and inode). */
static void
stop_stale(int dfd)
{
	char		path[64], buf[32];
	struct stat dsb, csb, psb;
	long		pid = 0;
	ssize_t		n;
	int			datafd, pfd;

	if ((datafd = openat(dfd, "data", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0)
		return;
	if (fstat(datafd, &dsb) != 0 || !S_ISDIR(dsb.st_mode) || dsb.st_uid != geteuid() ||
		(pfd = openat(datafd, "postmaster.pid", O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) < 0)
	{
		close(datafd);
		return;
	}
	close(datafd);
	n = read(pfd, buf, sizeof(buf) - 1);
	close(pfd);
	if (n <= 0)
		return;
	buf[n] = '\0';
	pid = strtol(buf, NULL, 10);
	if (pid <= 1 || pid > INT_MAX)
		return;
	snprintf(path, sizeof(path), "/proc/%ld", pid);
	if (stat(path, &psb) != 0 || psb.st_uid != geteuid())
		return;
	snprintf(path, sizeof(path), "/proc/%ld/cwd", pid);
	if (stat(path, &csb) != 0 || csb.st_dev != dsb.st_dev || csb.st_ino != dsb.st_ino)
		return;
	(void) kill((pid_t) pid, SIGQUIT);
	if (!wait_gone((pid_t) pid, 10000))
	{
		(void) kill(-(pid_t) pid, SIGKILL);
		(void) kill((pid_t) pid, SIGKILL);
		(void) wait_gone((pid_t) pid, 5000);
	}
}

/*
 * The private directory of this OS user in parent, <parent>/pgark-scratch-<uid>
 * (made mode 0700 if missing): a real directory (not a symlink), owned by us,
 * mode 0700. parent must be a directory that others cannot write to, unless
 * it is sticky (/tmp). Returns an open descriptor of it, its path in out.
 */
static int
private_dir(const char *parent, int create, char *out, size_t outlen, pgark_err *err)
{
	struct stat sb;
	int			fd;

	if (stat(parent, &sb) != 0)
		return err_sys(err, PGARK_ERR_IO, "could not stat scratch directory %s", parent);
	if (!S_ISDIR(sb.st_mode))
		return err_set(err, PGARK_ERR_CONFIG, 0, "scratch directory %s is not a directory", parent);
	if ((sb.st_mode & (S_IWGRP | S_IWOTH)) != 0 && (sb.st_mode & S_ISVTX) == 0)
		return err_set(err, PGARK_ERR_CONFIG, 0,
					   "scratch directory %s is writable by other users and not sticky: "
					   "set [restore] scratch_dir or --scratch-dir to a directory of this user", parent);
	if ((size_t) snprintf(out, outlen, "%s/" SCRATCH_PREFIX "%lu", parent, (unsigned long) geteuid()) >= outlen)
		return err_set(err, PGARK_ERR_CONFIG, 0, "scratch directory %s: path too long", parent);
	if (create && mkdir(out, 0700) != 0 && errno != EEXIST)
		return err_sys(err, PGARK_ERR_IO, "could not create %s", out);
	if ((fd = open(out, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0)
		return err_sys(err, errno == ENOENT ? PGARK_ERR_NOTFOUND : PGARK_ERR_CONFIG,
					   "could not open %s (it must be a directory, not a symlink)", out);
	if (fstat(fd, &sb) != 0 || sb.st_uid != geteuid() || (sb.st_mode & 077) != 0)
	{
		close(fd);
		return err_set(err, PGARK_ERR_CONFIG, 0, "%s must be a directory owned by uid %lu with mode 0700 "
					   "(remove it, or set [restore] scratch_dir elsewhere)", out, (unsigned long) geteuid());
	}
	return fd;
}

int
scratch_sweep(const char *parent, pgark_err *err)
{
	char		priv[PATH_MAX];
	int			pfd, removed = 0, skipped = 0;
	DIR		   *d;
	struct dirent *de;
	pgark_err	e1;

	err_clear(&e1);
	if ((pfd = private_dir(parent, 0, priv, sizeof(priv), &e1)) < 0)
	{
		if (e1.kind == PGARK_ERR_NOTFOUND || (e1.kind == PGARK_ERR_IO && e1.sys_errno == ENOENT))
			return 0;
		*err = e1;
		return -1;
	}
	if ((d = fdopendir(pfd)) == NULL)
	{
		close(pfd);
		return err_sys(err, PGARK_ERR_IO, "could not read %s", priv);
	}
	while ((de = readdir(d)) != NULL)
	{
		char	   *end;
		long		pid;
		int			dfd, lfd;
		struct stat sb;

		if (de->d_name[0] < '1' || de->d_name[0] > '9')
			continue;
		pid = strtol(de->d_name, &end, 10);
		if (pid <= 0 || *end != '-')
			continue;
		if ((dfd = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0)
		{
			if (skipped++ == 0)
				err_sys(err, PGARK_ERR_IO, "left %s/%s alone: not a directory of ours", priv, de->d_name);
			continue;
		}
		if (fstat(dfd, &sb) != 0 || sb.st_uid != geteuid())
		{
			close(dfd);
			if (skipped++ == 0)
				err_set(err, PGARK_ERR_IO, 0, "left %s/%s alone: not owned by uid %lu", priv, de->d_name,
						(unsigned long) geteuid());
			continue;
		}
		/* a live run holds its lock; without one (a run between mkdtemp and
		 * its lock), its process must be gone */
		if ((lfd = openat(dfd, "lock", O_RDWR | O_NOFOLLOW | O_CLOEXEC)) >= 0)
		{
			if (flock(lfd, LOCK_EX | LOCK_NB) != 0)
			{
				close(lfd);
				close(dfd);
				continue;
			}
		}
		else if (kill((pid_t) pid, 0) == 0 || errno == EPERM)
		{
			close(dfd);
			continue;
		}
		stop_stale(dfd);
		close(dfd);
		{
			pgark_err	e2;

			err_clear(&e2);
			if (rm_at(dirfd(d), de->d_name, priv, &e2) != 0)
			{
				if (skipped++ == 0)
					*err = e2;
			}
			else
				removed++;
		}
		if (lfd >= 0)
			close(lfd);
	}
	closedir(d);
	return removed;
}

static int
write_small(const char *path, const char *text, pgark_err *err)
{
	int			fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);

	if (fd < 0)
		return err_sys(err, PGARK_ERR_IO, "could not create %s", path);
	if (write_full(fd, text, strlen(text)) != 0)
	{
		err_sys(err, PGARK_ERR_IO, "could not write %s", path);
		close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

static int
parent_dir(repo *r, const scratch_opts *o, char *out, size_t outlen, pgark_err *err)
{
	const pgark_config *cfg = r->cfg;
	const char *tmp = getenv("TMPDIR");
	int			n;

	if (o->parent_dir && o->parent_dir[0])
		n = snprintf(out, outlen, "%s", o->parent_dir);
	else if (cfg->scratch_dir[0])
		n = snprintf(out, outlen, "%s", cfg->scratch_dir);
	else if (cfg->spool[0])
		n = snprintf(out, outlen, "%s/scratch", cfg->spool);
	else
		n = snprintf(out, outlen, "%s", tmp && tmp[0] == '/' ? tmp : "/tmp");
	if (n < 0 || (size_t) n >= outlen - 64)
		return err_set(err, PGARK_ERR_CONFIG, 0, "[restore] scratch_dir: path too long");
	if (out[0] != '/')
		return err_set(err, PGARK_ERR_CONFIG, 0, "scratch directory %s is not an absolute path", out);
	return mkdir_p(out, 0700, err);
}

static int
check_space(const char *parent, const char *backup_id, uint64_t files, uint64_t reserve, uint64_t *needed,
			pgark_err *err)
{
	struct statvfs sv;
	uint64_t	avail;

	*needed = files + reserve;
	if (statvfs(parent, &sv) != 0)
		return err_sys(err, PGARK_ERR_IO, "could not read the free space of %s", parent);
	avail = (uint64_t) sv.f_bavail * sv.f_frsize;
	if (*needed > avail)
		return err_set(err, PGARK_ERR_NOSPACE, ENOSPC,
					   "scratch directory %s: restoring backup %s needs %" PRIu64 " bytes (%" PRIu64
					   " of files + %" PRIu64 " reserve, [restore] scratch_reserve), only %" PRIu64
					   " are available (set [restore] scratch_dir or --scratch-dir to a larger file system)",
					   parent, backup_id, *needed, files, reserve, avail);
	return 0;
}

/* The server's own configuration: everything that could make it act outside
 * the scratch directory is set on the command line too (it wins over
 * postgresql.conf and postgresql.auto.conf). */
static int
write_config(scratch *s, pgark_err *err)
{
	char		path[PATH_MAX + 32];

	snprintf(path, sizeof(path), "%s/postgresql.conf", s->dir);
	if (write_small(path, "# pgark scratch instance: its settings are given on the server's command line\n",
					err) != 0)
		return -1;
	snprintf(path, sizeof(path), "%s/pg_hba.conf", s->dir);
	if (write_small(path, "# pgark scratch instance: the socket directory is private (mode 0700)\n"
					"local all all trust\n", err) != 0)
		return -1;
	snprintf(path, sizeof(path), "%s/pg_ident.conf", s->dir);
	return write_small(path, "", err);
}

/*
 * The backup's postgresql.auto.conf (ALTER SYSTEM: external_pid_file,
 * recovery_min_apply_delay, huge_pages, ...) must not apply: keep only the
 * recovery block the restore wrote at its end; the original is kept beside
 * it as postgresql.auto.conf.from-backup (the server never reads it).
 */
static int
own_auto_conf(scratch *s, pgark_err *err)
{
	static const char mark[] = "# Recovery settings written by pitr-prepare (pgark)";
	char		path[PATH_MAX + 32], orig[PATH_MAX + 48], *buf, *blk = NULL;
	FILE	   *f;
	long		len;
	int			rc;

	snprintf(path, sizeof(path), "%s/postgresql.auto.conf", s->pgdata);
	snprintf(orig, sizeof(orig), "%s/postgresql.auto.conf.from-backup", s->pgdata);
	if ((f = fopen(path, "re")) == NULL)
		return err_sys(err, PGARK_ERR_IO, "could not read %s", path);
	if (fseek(f, 0, SEEK_END) != 0 || (len = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0 ||
		(buf = malloc((size_t) len + 1)) == NULL)
	{
		fclose(f);
		return err_set(err, PGARK_ERR_IO, 0, "could not read %s", path);
	}
	if (fread(buf, 1, (size_t) len, f) != (size_t) len)
	{
		fclose(f);
		free(buf);
		return err_set(err, PGARK_ERR_IO, 0, "could not read %s", path);
	}
	fclose(f);
	buf[len] = '\0';
	for (char *p = strstr(buf, mark); p; p = strstr(p + 1, mark))
		blk = p;
	if (blk == NULL)
	{
		free(buf);
		return err_set(err, PGARK_ERR_INTERNAL, 0, "%s: the restore wrote no recovery settings", path);
	}
	if (rename(path, orig) != 0)
	{
		free(buf);
		return err_sys(err, PGARK_ERR_IO, "could not rename %s", path);
	}
	rc = write_small(path, blk, err);
	free(buf);
	return rc;
}

/*
 * Settings recovery needs at least as high as the backup's server had
 * (replaying a PREPARE TRANSACTION needs a free slot), from pg_controldata;
 * PostgreSQL's defaults if it cannot tell.
 */
static void
control_settings(const scratch *s, int *prepared, int *locks)
{
	char		path[PATH_MAX + 32], out[8192];
	const char *v;

	*prepared = 0;
	*locks = 64;
	snprintf(path, sizeof(path), "%s/pg_controldata", s->bindir);
	if (capture(path, s->pgdata, 0, out, sizeof(out)) != 0)
		return;
	if ((v = strstr(out, "max_prepared_xacts setting:")) != NULL)
		*prepared = atoi(v + 27);
	if ((v = strstr(out, "max_locks_per_xact setting:")) != NULL && atoi(v + 27) > 64)
		*locks = atoi(v + 27);
}

/* The settings a scratch server runs with, the postmaster's and a
 * single-user backend's alike (only the socket's are the postmaster's
 * alone): "-c" and "name=value" pairs appended to argv at *n, their text
 * in set. */
#define SERVER_NSET 40
typedef char server_set[PATH_MAX + 64];

static void
server_settings(const scratch *s, int single, server_set *set, const char **argv, int *n)
{
	int			k = 0, prepared, locks;

#define SET(...) do { snprintf(set[k], sizeof(set[k]), __VA_ARGS__); argv[(*n)++] = "-c"; argv[(*n)++] = set[k++]; } while (0)
	SET("config_file=%s/postgresql.conf", s->dir);
	SET("hba_file=%s/pg_hba.conf", s->dir);
	SET("ident_file=%s/pg_ident.conf", s->dir);
	if (!single)
	{
		SET("listen_addresses=");
		SET("port=%d", s->port);
		SET("unix_socket_directories=%s", s->sockdir);
		SET("unix_socket_permissions=0700");
	}
	SET("archive_mode=off");
	SET("archive_command=");
	SET("archive_library=");
	SET("archive_cleanup_command=");
	SET("recovery_end_command=");
	SET("primary_conninfo=");
	SET("primary_slot_name=");
	SET("synchronous_standby_names=");
	SET("shared_preload_libraries=");
	SET("session_preload_libraries=");
	SET("local_preload_libraries=");
	SET("hot_standby=off");
	SET("max_connections=20");
	SET("shared_buffers=32MB");
	SET("fsync=off");
	SET("autovacuum=off");
	SET("max_wal_senders=0");
	/* not empty: PostgreSQL would log that it cannot write "" */
	SET("external_pid_file=%s/postmaster.ext.pid", s->dir);
	SET("recovery_min_apply_delay=0");
	SET("huge_pages=off");
	/* a prepared transaction of the backup needs a slot in either */
	control_settings(s, &prepared, &locks);
	SET("max_prepared_transactions=%d", prepared);
	SET("max_locks_per_transaction=%d", locks);
	SET("ssl=off");
	SET("logging_collector=off");
	SET("log_destination=stderr");
	SET("log_line_prefix=%%m [%%p] ");	/* log_tail's */
	SET("lc_messages=C");		/* the messages log_tail and redo_done_lsn read */
	SET("cluster_name=pgark-scratch");
	SET("jit=off");
#undef SET
}

static int
start_server(scratch *s, pgark_err *err)
{
	char		postgres[PATH_MAX + 16];
	server_set	set[SERVER_NSET];
	const char *argv[2 * SERVER_NSET + 8];
	int			n = 0, logfd;
	pid_t		pid, parent;

	snprintf(postgres, sizeof(postgres), "%s/postgres", s->bindir);
	argv[n++] = postgres;
	argv[n++] = "-D";
	argv[n++] = s->pgdata;
	server_settings(s, 0, set, argv, &n);
	argv[n] = NULL;

	if ((logfd = open(s->logfile, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600)) < 0)
		return err_sys(err, PGARK_ERR_IO, "could not create %s", s->logfile);
	parent = getpid();
	if ((pid = fork()) < 0)
	{
		close(logfd);
		return err_sys(err, PGARK_ERR_INTERNAL, "could not start %s", postgres);
	}
	if (pid == 0)
	{
		int			nul = open("/dev/null", O_RDONLY);
		/* its own process group: a terminal's ^C is the program's to handle */
		(void) setpgid(0, 0);
		/* the program killed (-9): immediate shutdown */
		(void) prctl(PR_SET_PDEATHSIG, SIGQUIT);
		if (getppid() != parent)
			_exit(1);			/* it died before the line above */
		child_default_signals();
		if (nul >= 0)
			dup2(nul, 0);
		dup2(logfd, 1);
		dup2(logfd, 2);
		close_from3();
		execv(postgres, (char *const *) argv);
		_exit(127);
	}
	close(logfd);
	s->postmaster = pid;
	return 0;
}

/*
 * Settings of the backup's databases and roles (ALTER DATABASE/ROLE ... SET)
 * apply to every session but rank below a client's options: these undo the
 * ones that would break or redirect our work.
 */
#define CLIENT_OPTIONS_USER "-c default_transaction_read_only=off -c statement_timeout=0 -c lock_timeout=0 " \
	"-c idle_in_transaction_session_timeout=0 -c idle_session_timeout=0 " \
	"-c local_preload_libraries= -c default_tablespace= -c temp_tablespaces="
/* a superuser's only (a connection of another role with it is refused) */
#define CLIENT_OPTIONS CLIENT_OPTIONS_USER " -c session_preload_libraries="

/* v quoted for a libpq connection string into out at *o */
static void
ci_quote(char *out, size_t len, size_t *o, const char *v)
{
	if (*o + 1 < len)
		out[(*o)++] = '\'';
	for (; *v && *o + 3 < len; v++)
	{
		if (*v == '\'' || *v == '\\')
			out[(*o)++] = '\\';
		out[(*o)++] = *v;
	}
	if (*o + 1 < len)
		out[(*o)++] = '\'';
	out[*o] = '\0';
}

/*
 * Every parameter that decides where and how libpq connects is given, so no
 * PG* variable of the environment (PGHOSTADDR, PGSERVICE's entries,
 * PGCHANNELBINDING, PGTARGETSESSIONATTRS, ...) can redirect or break it. A
 * connection string, not PQconnectdbParams: that one takes an empty value
 * (hostaddr, requirepeer) as not given, and the environment's instead.
 */
static void
build_conninfo(const scratch *s, const char *dbname, int connect_timeout, char *out, size_t len)
{
	size_t		o = (size_t) snprintf(out, len, "host=");

	ci_quote(out, len, &o, s->sockdir);
	o += (size_t) snprintf(out + o, len - o, " hostaddr='' port=%d dbname=", s->port);
	ci_quote(out, len, &o, dbname && dbname[0] ? dbname : "postgres");
	o += (size_t) snprintf(out + o, len - o, " user=");
	ci_quote(out, len, &o, s->user);
	o += (size_t) snprintf(out + o, len - o, " options=");
	ci_quote(out, len, &o, s->options);
	snprintf(out + o, len - o, " sslmode=disable gssencmode=disable channel_binding=disable requirepeer='' "
			 "target_session_attrs=any connect_timeout=%d", connect_timeout > 0 ? connect_timeout : 30);
}

static void
set_conninfo(scratch *s)
{
	snprintf(s->options, sizeof(s->options), "%s", CLIENT_OPTIONS);
	build_conninfo(s, "postgres", 30, s->conninfo, sizeof(s->conninfo));
}

PGconn *
scratch_connect(const scratch *s, const char *dbname, int connect_timeout)
{
	char		ci[sizeof(s->conninfo) + 4 * 64];

	build_conninfo(s, dbname, connect_timeout, ci, sizeof(ci));
	return PQconnectdb(ci);
}

/* Connect; a scratch instance of a cluster made by another OS user has no
 * role of ours: then "postgres". */
static PGconn *
try_connect(scratch *s)
{
	PGconn	   *c = scratch_connect(s, "postgres", 30);

	if (PQstatus(c) != CONNECTION_OK && !s->user_given && strcmp(s->user, "postgres") != 0 &&
		strstr(PQerrorMessage(c), "role \"") != NULL)
	{
		PQfinish(c);
		snprintf(s->user, sizeof(s->user), "postgres");
		set_conninfo(s);
		c = scratch_connect(s, "postgres", 30);
	}
	return c;
}

/* Where replay ended, from the server log's "redo done at X/Y". */
static void
redo_done_lsn(scratch *s)
{
	FILE	   *f = fopen(s->logfile, "re");
	char		line[2048];

	if (f == NULL)
		return;
	while (fgets(line, sizeof(line), f))
	{
		const char *p = strstr(line, "redo done at ");
		char		l[32];

		if (p && sscanf(p + 13, "%31s", l) == 1)
			(void) lsn_parse(l, &s->end_lsn);
	}
	fclose(f);
}

/*
 * The name of the backup's bootstrap superuser (oid 10), when no role we
 * know of exists to ask with: the server is stopped (fast), a single-user
 * backend asked (it runs as the bootstrap superuser whatever its name), and
 * the server started again. Only after promotion (hot_standby is off, so a
 * connection is refused for its role only once recovery has ended).
 */
/*
 * The single-user backend's answer to bootstrap_name's query, in out (as
 * "<n> = \"pgark:<octets>:<name>\"\t(typeid ..."): the name, its length
 * given so that any byte of it (':', '"', a newline) is read as it is.
 * 0, or -1 if out has no such answer or the name does not fit in len.
 */
int
scratch_single_answer(const char *out, char *name, size_t len)
{
	const char *b = strstr(out, "= \"pgark:");
	char	   *e;
	unsigned long n;

	if (b == NULL || b[9] < '0' || b[9] > '9')
		return -1;
	errno = 0;
	n = strtoul(b + 9, &e, 10);
	if (errno != 0 || *e != ':' || n == 0 || n >= len || strnlen(e + 1, n) < n)
		return -1;
	memcpy(name, e + 1, n);
	name[n] = '\0';
	return 0;
}

/*
 * The name of the backup's bootstrap superuser (oid 10), when no role we
 * know of exists to ask with: the server is stopped (fast), a single-user
 * backend asked (it runs as the bootstrap superuser whatever its name), and
 * the server started again. Only after promotion (hot_standby is off, so a
 * connection is refused for its role only once recovery has ended). ms: how
 * long each wait may take.
 */
static int
bootstrap_name(scratch *s, char *name, size_t len, int ms, pgark_err *err)
{
	static const char query[] = "SELECT 'pgark:' || octet_length(rolname::text) || ':' || rolname::text "
		"FROM pg_catalog.pg_authid WHERE oid = 10\n";
	char		postgres[PATH_MAX + 16], in[PATH_MAX + 16], out[PATH_MAX + 16];
	char		buf[8192];
	server_set	set[SERVER_NSET];
	const char *argv[2 * SERVER_NSET + 8];
	int			n = 0, status, ifd = -1, ofd = -1, logfd = -1, w;
	ssize_t		got;
	pid_t		pid, parent = getpid();

	(void) kill(s->postmaster, SIGINT);	/* fast shutdown */
	if ((w = wait_child_cancel(s->postmaster, ms, &status, s->cancel)) < 0)
		return err_set(err, PGARK_ERR_INTERNAL, EINTR, "interrupted while the scratch instance in %s stopped "
					   "(to ask a single-user backend for the bootstrap superuser's name)", s->dir);
	if (w == 0)
		return err_set(err, PGARK_ERR_INTERNAL, ETIMEDOUT, "scratch instance in %s: the server did not stop "
					   "within %d s (to ask a single-user backend for the bootstrap superuser's name)", s->dir,
					   ms / 1000);
	s->postmaster = 0;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
	{
		char		tail[600];

		log_tail(s->logfile, tail, sizeof(tail));
		return err_set(err, PGARK_ERR_DB, 0, "scratch instance in %s: the server's fast shutdown (to ask a "
					   "single-user backend for the bootstrap superuser's name) ended with %s %d; its log "
					   "ends: %s", s->dir, WIFSIGNALED(status) ? "signal" : "exit",
					   WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status), tail);
	}
	snprintf(postgres, sizeof(postgres), "%s/postgres", s->bindir);
	snprintf(in, sizeof(in), "%s/single.in", s->dir);
	snprintf(out, sizeof(out), "%s/single.out", s->dir);
	if ((ifd = open(in, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) < 0 ||
		write_full(ifd, query, sizeof(query) - 1) != 0 || lseek(ifd, 0, SEEK_SET) != 0 ||
		(ofd = open(out, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) < 0 ||
		(logfd = open(s->logfile, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600)) < 0)
	{
		err_sys(err, PGARK_ERR_IO, "scratch instance in %s: could not prepare a single-user backend", s->dir);
		goto done;
	}
	argv[n++] = postgres;
	argv[n++] = "--single";
	argv[n++] = "-D";
	argv[n++] = s->pgdata;
	server_settings(s, 1, set, argv, &n);
	argv[n++] = "template1";
	argv[n] = NULL;
	if ((pid = fork()) < 0)
	{
		err_sys(err, PGARK_ERR_INTERNAL, "could not start %s --single", postgres);
		goto done;
	}
	if (pid == 0)
	{
		(void) setpgid(0, 0);
		(void) prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(1);
		child_default_signals();
		dup2(ifd, 0);
		dup2(ofd, 1);
		dup2(logfd, 2);
		close_from3();
		execv(postgres, (char *const *) argv);
		_exit(127);
	}
	if ((w = wait_child_cancel(pid, ms, &status, s->cancel)) <= 0)
	{
		(void) kill(pid, SIGKILL);
		(void) waitpid(pid, &status, 0);
		if (w < 0)
			err_set(err, PGARK_ERR_INTERNAL, EINTR, "interrupted while a single-user backend of the scratch "
					"instance in %s was asked for the bootstrap superuser's name", s->dir);
		else
			err_set(err, PGARK_ERR_INTERNAL, ETIMEDOUT, "scratch instance in %s: the single-user backend (asked "
					"for the bootstrap superuser's name) did not end within %d s", s->dir, ms / 1000);
		goto done;
	}
	got = pread(ofd, buf, sizeof(buf) - 1, 0);
	buf[got > 0 ? got : 0] = '\0';
	if (scratch_single_answer(buf, name, len) != 0)
	{
		char		tail[600];

		log_tail(s->logfile, tail, sizeof(tail));
		err_set(err, PGARK_ERR_DB, 0, "scratch instance in %s: a single-user backend did not tell the bootstrap "
				"superuser's name (exit %d); the log ends: %s", s->dir,
				WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status), tail);
		goto done;
	}
	close(ifd);
	close(ofd);
	close(logfd);
	(void) unlink(in);
	(void) unlink(out);
	if (cancelled(s->cancel))
		return err_set(err, PGARK_ERR_INTERNAL, EINTR, "interrupted while the scratch instance in %s was asked "
					   "for the bootstrap superuser's name", s->dir);
	return start_server(s, err);

done:
	if (ifd >= 0)
		close(ifd);
	if (ofd >= 0)
		close(ofd);
	if (logfd >= 0)
		close(logfd);
	return -1;
}

static int
wait_ready(scratch *s, int timeout, pgark_err *err)
{
	double		t0 = now_ms();
	char		tail[760];		/* with the text around it, within a message */
	int			asked_bootstrap = 0;

	for (;;)
	{
		int			status;
		pid_t		w;

		if (cancelled(s->cancel))
			return err_set(err, PGARK_ERR_INTERNAL, EINTR, "interrupted while the scratch instance in %s recovered",
						   s->dir);
		w = waitpid(s->postmaster, &status, WNOHANG);
		if (w == s->postmaster || (w < 0 && errno == ECHILD))
		{
			s->postmaster = 0;
			log_tail(s->logfile, tail, sizeof(tail));
			/* the path cut short: the log's last line (its FATAL, which the
			 * restore drill reads) must fit in the message */
			return err_set(err, PGARK_ERR_DB, 0,
						   "the scratch server (%.120s/postgres) stopped (%s %d) before recovery reached its "
						   "target; its log ends: %s", s->bindir, WIFSIGNALED(status) ? "signal" : "exit",
						   WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status), tail);
		}
		if (timeout > 0 && now_ms() - t0 > timeout * 1000.0)
		{
			log_tail(s->logfile, tail, sizeof(tail));
			return err_set(err, PGARK_ERR_TRANSIENT, ETIMEDOUT,
						   "the scratch instance in %.120s did not reach its recovery target within %d s; "
						   "its log ends: %s", s->dir, timeout, tail);
		}
		if (PQping(s->conninfo) == PQPING_OK)
		{
			PGconn	   *c = try_connect(s);
			PGresult   *res = NULL;
			int			done = 0;

			if (PQstatus(c) == CONNECTION_OK &&
				(res = PQexec(c, "SELECT pg_is_in_recovery(), "
							  "CASE WHEN pg_is_in_recovery() THEN NULL ELSE pg_current_wal_insert_lsn() END, "
							  "(SELECT rolsuper FROM pg_roles WHERE rolname = current_user), "
							  "(SELECT rolname FROM pg_roles WHERE oid = 10)")) != NULL &&
				PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1 &&
				strcmp(PQgetvalue(res, 0, 0), "f") == 0)
			{
				(void) lsn_parse(PQgetvalue(res, 0, 1), &s->end_lsn);
				done = 1;
				if (strcmp(PQgetvalue(res, 0, 2), "t") != 0)
				{
					/* not a superuser (pg_amcheck, pg_dump need one): the
					 * bootstrap superuser (oid 10) instead */
					char		was[sizeof(s->user)];
					PGconn	   *c2;

					snprintf(was, sizeof(was), "%s", s->user);
					if (s->user_given || strlen(PQgetvalue(res, 0, 3)) >= sizeof(s->user))
						c2 = NULL;
					else
					{
						snprintf(s->user, sizeof(s->user), "%s", PQgetvalue(res, 0, 3));
						set_conninfo(s);
						c2 = scratch_connect(s, "postgres", 30);
					}
					if (c2 == NULL || PQstatus(c2) != CONNECTION_OK)
					{
						err_set(err, PGARK_ERR_CONFIG, 0, "scratch instance in %s: role \"%s\" is not a superuser "
								"and the backup's bootstrap superuser \"%s\" cannot connect%s%s (a problem of "
								"this host's setup, not of the backup)", s->dir, was, PQgetvalue(res, 0, 3),
								c2 ? ": " : "", c2 ? PQerrorMessage(c2) : "");
						PQfinish(c2);
						PQclear(res);
						PQfinish(c);
						return -1;
					}
					PQfinish(c2);
				}
			}
			else if (PQstatus(c) != CONNECTION_OK &&
					 strstr(PQerrorMessage(c), "permission denied to set parameter") != NULL)
			{
				/* not a superuser (session_preload_libraries is a
				 * superuser's): the bootstrap superuser's name, from a
				 * connection without that option */
				char		was[sizeof(s->user)], name[sizeof(s->user)] = "";
				PGconn	   *c2 = NULL;
				PGresult   *r2 = NULL;

				snprintf(was, sizeof(was), "%s", s->user);
				if (!s->user_given)
				{
					snprintf(s->options, sizeof(s->options), "%s", CLIENT_OPTIONS_USER);
					c2 = scratch_connect(s, "postgres", 30);
					if (PQstatus(c2) == CONNECTION_OK &&
						(r2 = PQexec(c2, "SELECT rolname FROM pg_roles WHERE oid = 10")) != NULL &&
						PQresultStatus(r2) == PGRES_TUPLES_OK && PQntuples(r2) == 1 &&
						strlen(PQgetvalue(r2, 0, 0)) < sizeof(name))
						snprintf(name, sizeof(name), "%s", PQgetvalue(r2, 0, 0));
					PQclear(r2);
					PQfinish(c2);
				}
				if (name[0] == '\0' || strcmp(name, was) == 0)
				{
					err_set(err, PGARK_ERR_CONFIG, 0, "scratch instance in %s: role \"%s\" is not a superuser "
							"(set [restore] scratch_user to a superuser of the backup's cluster; a problem of "
							"this host's setup, not of the backup): %s", s->dir, was, PQerrorMessage(c));
					PQfinish(c);
					return -1;
				}
				snprintf(s->user, sizeof(s->user), "%s", name);
				set_conninfo(s);	/* tried at the next turn */
			}
			else if (PQstatus(c) != CONNECTION_OK && strstr(PQerrorMessage(c), "role \"") != NULL &&
					 !s->user_given && !asked_bootstrap)
			{
				/* neither the OS user's role nor "postgres": the bootstrap
				 * superuser, whose name a single-user backend tells */
				char		name[sizeof(s->user)];

				PQfinish(c);
				asked_bootstrap = 1;
				double		left = timeout > 0 ? timeout * 1000.0 - (now_ms() - t0) : 60000.0;

				if (bootstrap_name(s, name, sizeof(name), left > 60000.0 ? 60000 : left < 1000.0 ? 1000 : (int) left,
								   err) != 0)
					return -1;
				snprintf(s->user, sizeof(s->user), "%s", name);
				set_conninfo(s);
				sleep_ms(100);
				continue;
			}
			else if (PQstatus(c) != CONNECTION_OK && strstr(PQerrorMessage(c), "role \"") != NULL)
			{
				/* it accepts connections, but has neither role: not the
				 * backup's fault (PGARK_ERR_CONFIG, which a drill does not
				 * record) */
				if (asked_bootstrap)
					err_set(err, PGARK_ERR_CONFIG, 0, "scratch instance in %s: the backup's bootstrap superuser "
							"\"%s\" (named by a single-user backend) cannot connect (a problem of this host's "
							"setup, not of the backup): %s", s->dir, s->user, PQerrorMessage(c));
				else
					err_set(err, PGARK_ERR_CONFIG, 0, "scratch instance in %s: the backup's cluster has no role "
							"%s%s%s to connect as (a problem of this host's setup, not of the backup): %s", s->dir,
							s->user_given ? "\"" : "named after this OS user or \"postgres\"",
							s->user_given ? s->user : "", s->user_given ? "\"" : "", PQerrorMessage(c));
				PQfinish(c);
				return -1;
			}
			else if (PQstatus(c) == CONNECTION_OK && res && PQresultStatus(res) != PGRES_TUPLES_OK)
			{
				err_set(err, PGARK_ERR_DB, 0, "scratch instance in %s: %s", s->dir, PQerrorMessage(c));
				PQclear(res);
				PQfinish(c);
				return -1;
			}
			PQclear(res);
			PQfinish(c);
			if (done)
			{
				redo_done_lsn(s);
				return 0;
			}
		}
		sleep_ms(100);
	}
}

int
scratch_start(repo *r, const scratch_opts *o, scratch **out, pgark_err *err)
{
	scratch    *s;
	restore_opts ro = o->ro;
	char		id[64], warning[1200], parent[PATH_MAX], priv[PATH_MAX], tmpl[PATH_MAX + 64];
	char		ts_oid[RESTORE_MAX_TSMAP][16], ts_dir[RESTORE_MAX_TSMAP][PATH_MAX];
	mf_head		h;
	mf_reader  *rd;
	uint64_t	reserve = o->reserve == UINT64_MAX ? r->cfg->scratch_reserve : o->reserve;
	double		t;
	struct passwd *pw;

	*out = NULL;
	if (ro.restore_command == NULL || ro.restore_command[0] == '\0')
		return err_set(err, PGARK_ERR_USAGE, 0, "scratch instance: no restore_command");
	if (restore_choose_backup(r, &ro, id, sizeof(id), warning, sizeof(warning), err) != 0)
		return -1;
	memset(&h, 0, sizeof(h));
	if ((rd = mf_open(r, id, &h, err)) == NULL)
		return -1;
	mf_close(rd);
	if ((s = calloc(1, sizeof(*s))) == NULL)
	{
		mf_head_free(&h);
		return err_set(err, PGARK_ERR_INTERNAL, 0, "out of memory");
	}
	s->lock_fd = -1;
	s->cancel = o->cancel;
	s->pg_version = h.pg_version;
	s->start_lsn = h.start_lsn;
	if (parent_dir(r, o, parent, sizeof(parent), err) != 0 ||
		find_bindir(o->bindir, h.pg_version, s->bindir, sizeof(s->bindir), err) != 0)
		goto fail_nodir;
	{
		int			pfd = private_dir(parent, 1, priv, sizeof(priv), err);

		if (pfd < 0)
			goto fail_nodir;
		close(pfd);
	}
	{
		pgark_err	e2;

		err_clear(&e2);
		/* best effort: a leftover is not this run's failure */
		if (scratch_sweep(parent, &e2) < 0 || e2.msg[0])
			snprintf(s->sweep_warning, sizeof(s->sweep_warning), "stale scratch directories: %s", e2.msg);
	}
	if (check_space(parent, id, h.bytes_total, reserve, &s->bytes_needed, err) != 0)
		goto fail_nodir;
	snprintf(tmpl, sizeof(tmpl), "%s/%ld-XXXXXX", priv, (long) getpid());
	if (mkdtemp(tmpl) == NULL)
	{
		err_sys(err, PGARK_ERR_IO, "could not create a scratch directory in %s", priv);
		goto fail_nodir;
	}
	{
		/* held for the run's lifetime: the sweep leaves a locked directory
		 * alone (no child inherits it: O_CLOEXEC) */
		char		lock[PATH_MAX + 80];

		snprintf(lock, sizeof(lock), "%s/lock", tmpl);
		if ((s->lock_fd = open(lock, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600)) < 0 ||
			flock(s->lock_fd, LOCK_EX) != 0)
		{
			err_sys(err, PGARK_ERR_IO, "could not lock %s", lock);
			if (s->lock_fd >= 0)
			{
				close(s->lock_fd);
				(void) unlink(lock);
			}
			s->lock_fd = -1;
			(void) rmdir(tmpl);
			goto fail_nodir;
		}
	}
	if (join(s->dir, sizeof(s->dir), tmpl, "") != 0 || join(s->pgdata, sizeof(s->pgdata), tmpl, "/data") != 0 ||
		join(s->sockdir, sizeof(s->sockdir), tmpl, "/sock") != 0 ||
		join(s->logfile, sizeof(s->logfile), tmpl, "/server.log") != 0)
	{
		err_set(err, PGARK_ERR_CONFIG, 0, "scratch directory %s: path too long", tmpl);
		s->dir[0] = '\0';
		goto fail_nodir;
	}
	/* a Unix socket's path is at most 107 bytes: <sockdir>/.s.PGSQL.<port> */
	if (strlen(s->sockdir) + 16 > 107)
	{
		err_set(err, PGARK_ERR_CONFIG, 0, "scratch directory %s: the path is too long for a Unix socket in it "
				"(at most 107 bytes with /sock/.s.PGSQL.NNNNN): set [restore] scratch_dir or --scratch-dir "
				"to a shorter path", s->dir);
		goto fail;
	}
	if (mkdir(s->sockdir, 0700) != 0)
	{
		err_sys(err, PGARK_ERR_IO, "could not create %s", s->sockdir);
		goto fail;
	}

	/* every tablespace restored inside the scratch directory, never where
	 * the live cluster keeps it: tablespace_map lines are "<oid> <path>" */
	ro.ntsmap = 0;
	for (const char *p = h.tablespace_map; p && *p;)
	{
		const char *nl = strchr(p, '\n');
		size_t		len = strspn(p, "0123456789");

		if (len > 0 && len < sizeof(ts_oid[0]) && p[len] == ' ')
		{
			if (ro.ntsmap == RESTORE_MAX_TSMAP)
			{
				err_set(err, PGARK_ERR_USAGE, 0, "backup %s has more than %d tablespaces", id, RESTORE_MAX_TSMAP);
				goto fail;
			}
			memcpy(ts_oid[ro.ntsmap], p, len);
			ts_oid[ro.ntsmap][len] = '\0';
			if ((size_t) snprintf(ts_dir[ro.ntsmap], sizeof(ts_dir[0]), "%s/tablespaces/%s", s->dir,
								  ts_oid[ro.ntsmap]) >= sizeof(ts_dir[0]))
			{
				err_set(err, PGARK_ERR_CONFIG, 0, "scratch directory %s: path too long", s->dir);
				goto fail;
			}
			if (mkdir_p(ts_dir[ro.ntsmap], 0700, err) != 0)
				goto fail;
			ro.tsmap_oid[ro.ntsmap] = ts_oid[ro.ntsmap];
			ro.tsmap_dir[ro.ntsmap] = ts_dir[ro.ntsmap];
			ro.ntsmap++;
		}
		p = nl ? nl + 1 : NULL;
	}
	/* the restore places a tablespace where the manifest's entry says unless
	 * it is remapped: every one must be, before anything is written */
	{
		mf_head		h2;
		mf_entry   *e;
		int			got;

		memset(&h2, 0, sizeof(h2));
		if ((rd = mf_open(r, id, &h2, err)) == NULL)
			goto fail;
		while ((got = mf_next(rd, &e, err)) == 1)
		{
			int			mapped = 0;

			if (e->kind != MF_TABLESPACE)
				continue;
			for (int i = 0; i < ro.ntsmap; i++)
				mapped |= strncmp(e->path, "pg_tblspc/", 10) == 0 && strcmp(e->path + 10, ro.tsmap_oid[i]) == 0;
			if (!mapped)
			{
				err_set(err, PGARK_ERR_CORRUPT, 0, "backup %s: tablespace %s (at %s) is not in the backup's "
						"tablespace_map, so it cannot be restored inside the scratch directory: refused",
						id, e->path, e->target);
				got = -1;
				break;
			}
		}
		mf_close(rd);
		mf_head_free(&h2);
		if (got != 0)
			goto fail;
	}
	ro.pgdata = s->pgdata;
	ro.backup_id = id;
	ro.target_action = "promote";
	ro.standby = 0;
	ro.delta = 0;
	ro.force = 0;
	ro.progress = o->progress;
	ro.progress_arg = o->progress_arg;
	ro.cancel = o->cancel;
	t = now_ms();
	if (restore_run(r, &ro, &s->res, err) != 0)
		goto fail;
	if (warning[0] && !s->res.warning[0])
		snprintf(s->res.warning, sizeof(s->res.warning), "%s", warning);
	s->restore_seconds = (now_ms() - t) / 1000.0;
	if (cancelled(s->cancel))
	{
		err_set(err, PGARK_ERR_INTERNAL, EINTR, "interrupted while restoring into the scratch directory %s", s->dir);
		goto fail;
	}
	if (write_config(s, err) != 0 || own_auto_conf(s, err) != 0)
		goto fail;
	pw = getpwuid(geteuid());
	{
		const char *u = o->user && o->user[0] ? o->user : r->cfg->scratch_user;

		s->user_given = u[0] != '\0';
		if (s->user_given && strlen(u) >= sizeof(s->user))
		{
			err_set(err, PGARK_ERR_CONFIG, 0, "[restore] scratch_user: role name %s too long", u);
			goto fail;
		}
		snprintf(s->user, sizeof(s->user), "%s", u);
	}
	if (!s->user_given)
		snprintf(s->user, sizeof(s->user), "%s",
			 pw && pw->pw_name && strlen(pw->pw_name) < sizeof(s->user) ? pw->pw_name : "postgres");
	/* the port only names the socket in a directory of our own */
	s->port = 40000 + (int) (getpid() % 20000);
	set_conninfo(s);
	t = now_ms();
	if (start_server(s, err) != 0 || wait_ready(s, o->wait_timeout, err) != 0)
		goto fail;
	s->replay_seconds = (now_ms() - t) / 1000.0;
	mf_head_free(&h);
	*out = s;
	return 0;

fail:
	{
		pgark_err	e2;

		err_clear(&e2);
		s->cancel = NULL;
		/* the first error is the one to report */
		(void) scratch_stop(s, &e2);
		s = NULL;
	}
fail_nodir:
	mf_head_free(&h);
	if (s && s->lock_fd >= 0)
	{
		char		lock[PATH_MAX + 80];

		snprintf(lock, sizeof(lock), "%s/lock", tmpl);
		(void) unlink(lock);
		(void) rmdir(tmpl);
		close(s->lock_fd);
	}
	free(s);
	return -1;
}

int
scratch_stop(scratch *s, pgark_err *err)
{
	int			rc = 0;

	if (s == NULL)
		return 0;
	if (s->postmaster > 0)
	{
		int			status;

		(void) kill(s->postmaster, SIGINT);	/* fast shutdown */
		if (!wait_child(s->postmaster, 30000, &status))
		{
			(void) kill(s->postmaster, SIGQUIT);	/* immediate */
			if (!wait_child(s->postmaster, 10000, &status))
			{
				(void) kill(-s->postmaster, SIGKILL);
				(void) kill(s->postmaster, SIGKILL);
				(void) wait_child(s->postmaster, 10000, &status);
			}
		}
		s->postmaster = 0;
	}
	if (s->dir[0] && rm_tree(s->dir, err) != 0)
		rc = -1;
	if (s->lock_fd >= 0)
		close(s->lock_fd);
	free(s);
	return rc;
}

int
scratch_exec(const char *path, char *const argv[], const char *const env[], int out_fd,
			 volatile sig_atomic_t *cancel, pgark_err *err)
{
	pid_t		pid;
	int			status;

	if (access(path, X_OK) != 0)
		return err_sys(err, PGARK_ERR_CONFIG, "cannot run %s", path);
	if ((pid = fork()) < 0)
		return err_sys(err, PGARK_ERR_INTERNAL, "could not start %s", path);
	if (pid == 0)
	{
		extern char **environ;
		int			nul = open("/dev/null", O_RDWR);

		/* no PG* setting of ours may send it elsewhere (PGHOSTADDR,
		 * PGSERVICE, ...) */
		for (size_t i = 0; environ[i];)
		{
			if (strncmp(environ[i], "PG", 2) == 0 && strncmp(environ[i], "PGARK_", 6) != 0)
			{
				char		name[256];
				size_t		len = strcspn(environ[i], "=");

				snprintf(name, sizeof(name), "%.*s", (int) (len < 255 ? len : 255), environ[i]);
				(void) unsetenv(name);
				continue;
			}
			i++;
		}
		for (int i = 0; env && env[i]; i++)
			(void) putenv((char *) (uintptr_t) env[i]);
		if (nul >= 0)
			dup2(nul, 0);
		dup2(out_fd >= 0 ? out_fd : nul, 1);
		close_from3();
		child_default_signals();
		execv(path, argv);
		_exit(127);
	}
	for (;;)
	{
		pid_t		w = waitpid(pid, &status, WNOHANG);

		if (w == pid)
			break;
		if (w < 0 && errno != EINTR)
			return err_sys(err, PGARK_ERR_INTERNAL, "could not wait for %s", path);
		if (cancelled(cancel))
		{
			(void) kill(pid, SIGTERM);
			if (!wait_child(pid, 5000, &status))
			{
				(void) kill(pid, SIGKILL);
				(void) wait_child(pid, 5000, &status);
			}
			return err_set(err, PGARK_ERR_INTERNAL, EINTR, "interrupted while %s ran", path_basename(path));
		}
		sleep_ms(20);
	}
	/* killed by SIGINT/SIGTERM (the terminal's ^C, systemd stopping the
	 * unit: our own handler may not have run yet), or cancelled meanwhile:
	 * an interruption, not the program's verdict */
	if (cancelled(cancel) || (WIFSIGNALED(status) && (WTERMSIG(status) == SIGINT || WTERMSIG(status) == SIGTERM)))
		return err_set(err, PGARK_ERR_INTERNAL, EINTR, "interrupted while %s ran", path_basename(path));
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return WEXITSTATUS(status);
}

int
scratch_run(scratch *s, char *const argv[], const char *const envp_extra[], int out_fd, pgark_err *err)
{
	char		prog[PATH_MAX + 64], host[PATH_MAX + 16], port[32], user[96], opts[sizeof(s->options) + 16];
	const char *env[64] = {host, port, user, "PGDATABASE=postgres", opts};
	int			n = 5;

	if (argv == NULL || argv[0] == NULL)
		return err_set(err, PGARK_ERR_USAGE, 0, "scratch_run: no program");
	if ((size_t) snprintf(prog, sizeof(prog), "%s%s%s", strchr(argv[0], '/') ? "" : s->bindir,
						  strchr(argv[0], '/') ? "" : "/", argv[0]) >= sizeof(prog) ||
		join(host, sizeof(host), "PGHOST=", s->sockdir) != 0)
		return err_set(err, PGARK_ERR_USAGE, 0, "scratch_run: path too long");
	snprintf(port, sizeof(port), "PGPORT=%d", s->port);
	snprintf(user, sizeof(user), "PGUSER=%s", s->user);
	snprintf(opts, sizeof(opts), "PGOPTIONS=%s", s->options);
	for (int i = 0; envp_extra && envp_extra[i] && n < 63; i++)
		env[n++] = envp_extra[i];
	env[n] = NULL;
	return scratch_exec(prog, argv, env, out_fd, s->cancel, err);
}
