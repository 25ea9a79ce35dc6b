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
 */
#include <spawn.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>

extern char **environ;

int
main(int argc, char **argv)
{
	char	   *sh[] = {"sh", "-c", NULL, NULL};
	struct timespec t0, t1;
	struct rusage ru;
	pid_t		pid;
	int			st;

	if (argc != 2)
	{
		fprintf(stderr, "usage: restore-time LINE\n");
		return 2;
	}
	sh[2] = argv[1];
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (posix_spawn(&pid, "/bin/sh", NULL, NULL, sh, environ) != 0)
	{
		perror("posix_spawn /bin/sh");
		return 2;
	}
	if (wait4(pid, &st, 0, &ru) != pid)
	{
		perror("wait4");
		return 2;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("%lld %ld\n", (long long) (t1.tv_sec - t0.tv_sec) * 1000000 + (t1.tv_nsec - t0.tv_nsec) / 1000,
		   ru.ru_maxrss);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 2;
}
