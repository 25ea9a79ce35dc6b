/*
 * test_scratch.c — scratch_exec: a child's exit status; a child killed by
 * SIGINT or SIGTERM (a terminal's ^C, systemd stopping the unit), or the
 * cancel flag set at any point, is "interrupted" (-1, EINTR), never an exit
 * status a caller could blame on the work; no descriptor of ours, however
 * high its number, reaches the child.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "scratch.h"
#include "tap.h"

static int
sh(const char *script, volatile sig_atomic_t *cancel, pgark_err *err)
{
	char	   *argv[] = {(char *) "sh", (char *) "-c", (char *) (uintptr_t) script, NULL};

	err_clear(err);
	return scratch_exec("/bin/sh", argv, NULL, -1, cancel, err);
}

int
main(void)
{
	pgark_err	err;
	volatile sig_atomic_t cancel = 0;

	is_int(sh("exit 3", &cancel, &err), 3, "exit 3: 3");
	is_int(sh("exit 0", NULL, &err), 0, "exit 0: 0");
	is_int(sh("kill -TERM $$", &cancel, &err), -1, "killed by SIGTERM: -1");
	is_int(err.sys_errno, EINTR, "... EINTR");
	like(err.msg, "interrupted", "... interrupted");
	is_int(sh("kill -INT $$", &cancel, &err), -1, "killed by SIGINT: -1");
	like(err.msg, "interrupted", "... interrupted");
	/* started in the background by a shell (SIGINT ignored, inherited
	 * across exec): the child must still stop on SIGINT */
	(void) signal(SIGINT, SIG_IGN);
	(void) signal(SIGHUP, SIG_IGN);
	is_int(sh("kill -INT $$", &cancel, &err), -1, "SIGINT ignored by the caller: the child still killed by it: -1");
	is_int(sh("kill -HUP $$", &cancel, &err), 128 + SIGHUP, "SIGHUP ignored by the caller: the child killed by it");
	(void) signal(SIGINT, SIG_DFL);
	(void) signal(SIGHUP, SIG_DFL);
	is_int(sh("kill -KILL $$", &cancel, &err), 128 + SIGKILL, "killed by SIGKILL: 128+9 (not an interruption)");
	{
		struct rlimit rl;
		int			fd = open("/dev/null", O_RDONLY);

		if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_max > 5000)
		{
			rl.rlim_cur = rl.rlim_max;
			(void) setrlimit(RLIMIT_NOFILE, &rl);
		}
		if (ok(fd >= 0 && dup2(fd, 4000) == 4000, "a descriptor numbered 4000, not close-on-exec"))
			is_int(sh("test ! -e /proc/$$/fd/4000", &cancel, &err), 0, "... closed in the child");
		else
			ok(0, "no descriptor 4000 (RLIMIT_NOFILE)");
		close(4000);
		close(fd);
	}
	cancel = 1;
	is_int(sh("exit 0", &cancel, &err), -1, "cancel set (the child ended first all the same): -1");
	like(err.msg, "interrupted", "... interrupted");

	/* the single-user backend's answer: the name's length decides */
	{
		char		name[64];

		is_int(scratch_single_answer("backend> \t 1: ?column? = \"pgark:7:we:\"ird\"\t(typeid = 25)\n",
									 name, sizeof(name)), 0, "a name holding ':\"': read");
		is_str(name, "we:\"ird", "... whole");
		is_int(scratch_single_answer(" 1: ?column? = \"pgark:6:a:\"b:\"\"\t(typeid = 25)", name, sizeof(name)), 0,
			   "a name ending in ':\"': read");
		is_str(name, "a:\"b:\"", "... whole");
		is_int(scratch_single_answer(" 1: ?column? = \"pgark:3:a\nb\"", name, sizeof(name)), 0, "a newline in it");
		is_str(name, "a\nb", "... kept");
		is_int(scratch_single_answer(" 1: ?column? = \"pgark:9:short\"", name, sizeof(name)), -1,
			   "a length past the output: -1");
		is_int(scratch_single_answer(" 1: ?column? = \"pgark:x:y\"", name, sizeof(name)), -1, "no length: -1");
		is_int(scratch_single_answer("FATAL:  something", name, sizeof(name)), -1, "no answer: -1");
		is_int(scratch_single_answer(" = \"pgark:70:xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"",
									 name, sizeof(name)), -1, "a name longer than the buffer: -1");
	}

	/* the log tail */
	{
		char		path[] = "/tmp/pgark-test-scratch-log-XXXXXX", tail[800];
		int			lfd = mkstemp(path);
		FILE	   *f = lfd >= 0 ? fdopen(lfd, "w") : NULL;

		if (!ok(f != NULL, "a log file"))
			return done_testing();
		fprintf(f, "2026-01-01 00:00:00.000 UTC [10] LOG:  startup process (PID 11) was terminated by signal 9: "
				"Killed\n");
		fprintf(f, "2026-01-01 00:00:00.000 UTC [10] LOG:  startup process (PID 11) exited with exit code 1\n");
		fprintf(f, "2026-01-01 00:00:00.000 UTC [10] LOG:  database system is shut down\n");
		fclose(f);
		scratch_log_tail(path, tail, sizeof(tail));
		like(tail, "startup process (PID 11) was terminated by signal 9: Killed", "the startup process killed: kept");
		unlike(tail, "exited with exit code", "its exit code: left out");
		unlike(tail, "shut down", "the shutdown: left out");

		/* the cause, then ~30 KiB of refused connections */
		f = fopen(path, "w");
		fprintf(f, "2026-01-01 00:00:00.000 UTC [10] FATAL:  the real cause\n");
		for (int i = 0; i < 300; i++)
			fprintf(f, "2026-01-01 00:00:00.000 UTC [%d] FATAL:  the database system is not yet accepting "
					"connections\n2026-01-01 00:00:00.000 UTC [%d] DETAIL:  Consistent recovery state has not "
					"been yet reached.\n", 100 + i, 100 + i);
		fclose(f);
		scratch_log_tail(path, tail, sizeof(tail));
		like(tail, "the real cause", "the cause behind 30 KiB of refused connections: kept");

		/* a last line of 70 KiB without a line end */
		f = fopen(path, "w");
		for (int i = 0; i < 70000; i++)
			fputc('x', f);
		fclose(f);
		scratch_log_tail(path, tail, sizeof(tail));
		like(tail, "xxxxxxxx", "a line longer than what is read, without a line end: not empty");
		unlink(path);
	}
	return done_testing();
}
