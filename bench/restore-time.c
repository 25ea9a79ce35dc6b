/*
 * bench/restore-time.c — run LINE as PostgreSQL runs restore_command
 * (/bin/sh -c LINE, as system() does) and print the microseconds from the
 * spawn of the shell to its exit, then the peak RSS in KiB that wait4
 * reports for it and what it waited for. A small C program rather than
 * /usr/bin/time (whose own fork and exec, about 1 ms, weighs on a 3-5 ms
 * call) or a script interpreter (a child spawned from a big process starts
 * with that process's peak RSS on record). Exit status: LINE's.
 *
 *   restore-time LINE    (compiled by bench/archive.sh into its work directory)
 *
 * As PostgreSQL's archiver works through a backlog, for a burst:
 *
 *   restore-time --archiver STATUSDIR LINE NAME...
 *
 * runs LINE for each NAME in turn, %f in it replaced by the NAME, and after
 * each exit 0 renames STATUSDIR/NAME.ready to NAME.done, as the archiver
 * does between calls (a rename, not a process). Prints the microseconds from
 * the first spawn to the last rename, then the largest peak RSS of the
 * calls; stops at the first call that fails, with its status.
 */
#include <limits.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>

extern char **environ;

/* LINE with every %f replaced by name, into out; -1 if too long */
static int
expand(const char *line, const char *name, char *out, size_t outlen)
{
	size_t		o = 0, nl = strlen(name);

	for (const char *p = line; *p; p++)
	{
		if (p[0] == '%' && p[1] == 'f')
		{
			if (o + nl >= outlen)
				return -1;
			memcpy(out + o, name, nl);
			o += nl;
			p++;
		}
		else
		{
			if (o + 1 >= outlen)
				return -1;
			out[o++] = *p;
		}
	}
	out[o] = '\0';
	return 0;
}

/* run LINE through /bin/sh -c; its wait status, its rusage in ru; -1 on a
 * failure to spawn or wait */
static int
run(char *line, struct rusage *ru)
{
	char	   *sh[] = {"sh", "-c", line, NULL};
	pid_t		pid;
	int			st;

	if (posix_spawn(&pid, "/bin/sh", NULL, NULL, sh, environ) != 0)
	{
		perror("posix_spawn /bin/sh");
		return -1;
	}
	if (wait4(pid, &st, 0, ru) != pid)
	{
		perror("wait4");
		return -1;
	}
	return st;
}

static int
archiver(int argc, char **argv)
{
	struct timespec t0, t1;
	struct rusage ru;
	long		maxrss = 0;
	char		cmd[8192], from[PATH_MAX], to[PATH_MAX];

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 4; i < argc; i++)
	{
		int			st;

		if (expand(argv[3], argv[i], cmd, sizeof(cmd)) != 0 ||
			(size_t) snprintf(from, sizeof(from), "%s/%s.ready", argv[2], argv[i]) >= sizeof(from) ||
			(size_t) snprintf(to, sizeof(to), "%s/%s.done", argv[2], argv[i]) >= sizeof(to))
		{
			fprintf(stderr, "restore-time: command line or path too long\n");
			return 2;
		}
		if ((st = run(cmd, &ru)) < 0)
			return 2;
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		{
			fprintf(stderr, "restore-time: the call for %s failed\n", argv[i]);
			return WIFEXITED(st) ? WEXITSTATUS(st) : 2;
		}
		if (ru.ru_maxrss > maxrss)
			maxrss = ru.ru_maxrss;
		if (rename(from, to) != 0)
		{
			perror(from);
			return 2;
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("%lld %ld\n", (long long) (t1.tv_sec - t0.tv_sec) * 1000000 + (t1.tv_nsec - t0.tv_nsec) / 1000,
		   maxrss);
	return 0;
}

int
main(int argc, char **argv)
{
	struct timespec t0, t1;
	struct rusage ru;
	int			st;

	if (argc >= 4 && strcmp(argv[1], "--archiver") == 0)
		return archiver(argc, argv);
	if (argc != 2)
	{
		fprintf(stderr, "usage: restore-time LINE | restore-time --archiver STATUSDIR LINE NAME...\n");
		return 2;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if ((st = run(argv[1], &ru)) < 0)
		return 2;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("%lld %ld\n", (long long) (t1.tv_sec - t0.tv_sec) * 1000000 + (t1.tv_nsec - t0.tv_nsec) / 1000,
		   ru.ru_maxrss);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 2;
}
