#include "prog.h"

#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "alert.h"
#include "manifest.h"
#include "util.h"

#ifndef PGARK_VERSION
#define PGARK_VERSION "0.0.0"
#endif

static void
print_help(const prog *p)
{
	printf("Usage: %s [OPTION]... %s\n\n%s\n", p->name, p->usage, p->help);
	printf("\nCommon options:\n"
		   "  -c, --config FILE   configuration file (default: $PGARK_CONFIG, then %s)\n"
		   "  -v, --verbose       more messages\n"
		   "  -q, --quiet         errors only\n"
		   "      --help          show this help and exit\n"
		   "      --version       show the version and exit\n"
		   "\nEvery setting can also be given as PGARK_<SECTION>_<KEY> in the environment,\n"
		   "e.g. PGARK_REPO_PATH=/var/lib/pgark.\n", PGARK_DEFAULT_CONFIG);
}

int
prog_start(prog *p, int argc, char **argv, const struct option *extra, const char *extra_short,
		   prog_opt_fn fn)
{
	struct option opts[32];
	char		shortopts[64];
	int			n = 0;
	int			c;
	static const struct option common[] = {
		{"config", required_argument, NULL, 'c'},
		{"verbose", no_argument, NULL, 'v'},
		{"quiet", no_argument, NULL, 'q'},
		{"help", no_argument, NULL, 1000},
		{"version", no_argument, NULL, 1001},
	};

	p->t0 = now_ms();
	log_init(p->name, LOG_LEVEL_INFO);
	{
		/* a core dump of a process holding keys would carry them to disk */
		struct rlimit nocore = {0, 0};

		(void) setrlimit(RLIMIT_CORE, &nocore);
	}
	for (size_t i = 0; i < sizeof(common) / sizeof(common[0]); i++)
		opts[n++] = common[i];
	for (int i = 0; extra && extra[i].name && n < 31; i++)
		opts[n++] = extra[i];
	memset(&opts[n], 0, sizeof(opts[n]));
	snprintf(shortopts, sizeof(shortopts), "+c:vq%s", extra_short ? extra_short : "");

	opterr = 0;
	while ((c = getopt_long(argc, argv, shortopts, opts, NULL)) != -1)
	{
		switch (c)
		{
			case 'c':
				p->config_path = optarg;
				break;
			case 'v':
				p->verbosity = 1;
				break;
			case 'q':
				p->verbosity = -1;
				break;
			case 1000:
				print_help(p);
				return 0;
			case 1001:
				printf("%s (pgark) %s\n", p->name, PGARK_VERSION);
				return 0;
			case '?':
				return prog_usage_error(p, "unknown or incomplete option \"%s\"", argv[optind - 1]);
			default:
				if (fn == NULL)
					return prog_usage_error(p, "unknown option");
				{
					int			rc = fn(p, c, optarg);

					if (rc >= 0)
						return rc;
				}
		}
	}
	p->argc = argc - optind;
	p->argv = argv + optind;
	if (p->verbosity > 0)
		log_set_level(LOG_LEVEL_DEBUG);
	else if (p->verbosity < 0)
		log_set_level(LOG_LEVEL_ERROR);
	return -1;
}

int
prog_load_config(prog *p, pgark_err *err)
{
	if (config_load(&p->cfg, p->config_path, err) != 0)
		return prog_fail(p, err);
	p->cfg_loaded = 1;
	if (p->verbosity == 0)
		log_set_level(p->cfg.log_level);
	return -1;
}

int
prog_exit_code(const prog *p, const pgark_err *err)
{
	pgark_errkind k = err ? err->kind : PGARK_ERR_INTERNAL;

	if (k == PGARK_OK)
		return 0;
	switch (p->kind)
	{
		case PROG_WAL_PUSH:
			/* PostgreSQL retries on any non-zero status; above 125 would
			 * make the archiver process exit, so it is never used */
			return 1;
		case PROG_WAL_FETCH:
			if (k == PGARK_ERR_NOTFOUND)
				return 1;
			if (k == PGARK_ERR_TRANSIENT && p->standby)
				return 1;	/* a standby retries by itself */
			return EXIT_FETCH_FATAL;
		case PROG_PLAIN:
			return k == PGARK_ERR_USAGE ? 2 : 1;
		case PROG_NAGIOS:
			return 3;

	}
	return 1;
}

int
prog_fail(prog *p, const pgark_err *err)
{
	const char *msg = err->msg[0] ? err->msg : err_kind_name(err->kind);

	log_error("%s", msg);
	/* Nagios shows the first line of standard output */
	if (p->kind == PROG_NAGIOS)
	{
		printf("PGARK UNKNOWN - %s\n", msg);
		fflush(stdout);
	}
	if (err->kind != PGARK_ERR_USAGE && !(p->kind == PROG_WAL_FETCH && err->kind == PGARK_ERR_NOTFOUND))
		prog_alert(p, 1, msg);
	return prog_exit_code(p, err);
}

void
prog_alert(prog *p, int failing, const char *summary)
{
	pgark_err	err;
	alert_status sent;

	if (!p->cfg_loaded)
	{
		/* a failure before the configuration was read (a bad WAL name):
		 * read it now, to know where alerts go; a success needs none */
		if (!failing)
			return;
		err_clear(&err);
		if (config_load(&p->cfg, p->config_path, &err) != 0)
			return;
		p->cfg_loaded = 1;
	}
	err_clear(&err);
	if (alert_report_sig(&p->cfg, p->name, failing, summary, p->alert_signature, &sent, &err) != 0)
		log_warning("%s", err.msg);
	else if (sent != ALERT_NONE)
		log_info("alert sent (%s)", alert_status_name(sent));
}

int
prog_success(prog *p)
{
	prog_alert(p, 0, NULL);
	return 0;
}

int
prog_usage_error(prog *p, const char *fmt,...)
{
	char		msg[512];
	va_list		ap;
	pgark_err	err;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_error("%s", msg);
	fprintf(stderr, "Usage: %s [OPTION]... %s\nTry \"%s --help\" for more information.\n",
			p->name, p->usage, p->name);
	err_set(&err, PGARK_ERR_USAGE, 0, "%s", msg);
	return prog_exit_code(p, &err);
}

void
prog_audit(prog *p, const char *action, const char *object, const char *result, const char *detail,
		   uint64_t bytes, uint64_t stored)
{
	audit_rec	rec = {
		.program = p->name,
		.action = action,
		.object = object,
		.result = result,
		.detail = detail,
		.bytes = bytes,
		.stored = stored,
		.duration_ms = now_ms() - p->t0,
	};
	pgark_err	err;

	if (p->cfg.audit[0] == '\0')
		return;
	if (audit_append(p->cfg.audit, &rec, &err) != 0)
		log_warning("%s", err.msg);
}

void
human_bytes(uint64_t n, char *out, size_t outlen)
{
	static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
	double		v = (double) n;
	int			u = 0;

	while (v >= 1024 && u < 4)
	{
		v /= 1024;
		u++;
	}
	snprintf(out, outlen, u ? "%.1f %s" : "%.0f %s", v, units[u]);
}

void
prog_progress_init(prog_progress *pp, const char *what, const char *setting)
{
	memset(pp, 0, sizeof(*pp));
	pp->what = what;
	if (setting == NULL)
		pp->enabled = isatty(STDERR_FILENO);
	else
		pp->enabled = strcmp(setting, "on") == 0;
	pp->t0 = pp->last = now_ms();
}

void
prog_progress_cb(void *arg, uint64_t done, uint64_t total)
{
	prog_progress *pp = arg;
	double		now = now_ms();
	double		secs = (now - pp->t0) / 1000.0;
	char		d[32], t[32], rate[32], eta[32] = "";

	if (!pp->enabled || (now - pp->last < 500 && done < total))
		return;
	pp->last = now;
	human_bytes(done, d, sizeof(d));
	human_bytes(total, t, sizeof(t));
	human_bytes(secs > 0 ? (uint64_t) ((double) done / secs) : 0, rate, sizeof(rate));
	if (done > 0 && total > done && secs > 0)
	{
		double		left = secs * (double) (total - done) / (double) done;

		snprintf(eta, sizeof(eta), ", ETA %d:%02d", (int) left / 60, (int) left % 60);
	}
	fprintf(stderr, "\r%s: %s / %s (%d%%), %s/s%s   ", pp->what, d, t,
			total ? (int) (100.0 * (double) done / (double) total) : 100, rate, eta);
	fflush(stderr);
}

void
prog_progress_end(prog_progress *pp)
{
	if (pp->enabled)
		fputc('\n', stderr);
}

/* Quote for a shell command line when needed: '...', with ' as '\''. */
static int
shell_word(const char *in, char *out, size_t outlen)
{
	size_t		o = 0;

	if (strspn(in, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789/._-+=:,@") == strlen(in))
		return (size_t) snprintf(out, outlen, "%s", in) < outlen ? 0 : -1;
	out[o++] = '\'';
	for (; *in; in++)
	{
		if (o + 6 >= outlen)
			return -1;
		if (*in == '\'')
		{
			memcpy(out + o, "'\\''", 4);
			o += 4;
		}
		else
			out[o++] = *in;
	}
	out[o++] = '\'';
	out[o] = '\0';
	return 0;
}

int
prog_restore_command(prog *p, char *out, size_t outlen, pgark_err *err)
{
	char		exe[PATH_MAX], dir[PATH_MAX], conf[PATH_MAX], wf[PATH_MAX + 16];
	char		w1[4 * PATH_MAX], w2[4 * PATH_MAX];
	ssize_t		n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	if (n <= 0)
		return err_set(err, PGARK_ERR_IO, 0, "could not find this program's own path (/proc/self/exe)");
	exe[n] = '\0';
	path_dirname(exe, dir, sizeof(dir));
	if (realpath(p->cfg.source, conf) == NULL)
		snprintf(conf, sizeof(conf), "%s", p->cfg.source);
	snprintf(wf, sizeof(wf), "%s/wal-fetch", dir);
	if (shell_word(wf, w1, sizeof(w1)) != 0 || shell_word(conf, w2, sizeof(w2)) != 0 ||
		(size_t) snprintf(out, outlen, "%s --config %s %%f %%p", w1, w2) >= outlen)
		return err_set(err, PGARK_ERR_USAGE, 0, "installation or configuration path too long");
	return 0;
}

static volatile sig_atomic_t caught_signal;

static void
on_signal(int sig)
{
	caught_signal = sig;
}

volatile sig_atomic_t *
prog_catch_signals(void)
{
	static const int sigs[] = {SIGINT, SIGTERM, SIGHUP};

	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
	{
		struct sigaction sa;

		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = on_signal;
		sigemptyset(&sa.sa_mask);
		sa.sa_flags = SA_RESETHAND;
		(void) sigaction(sigs[i], &sa, NULL);
	}
	return &caught_signal;
}

int
prog_target_option(prog *p, restore_opts *ro, int *ntargets, int c, const char *arg)
{
	restore_target t;

	switch (c)
	{
		case 1200:
			if (parse_target_time(arg, &ro->target_time) != 0)
				return prog_usage_error(p, "--target-time \"%s\": expected a time with a zone, "
										"e.g. '2026-11-27 12:00:00+00' (a time without a zone is ambiguous)", arg);
			t = TARGET_TIME;
			break;
		case 1201:
			if (lsn_parse(arg, &ro->target_lsn) != 0)
				return prog_usage_error(p, "--target-lsn \"%s\": expected an LSN like 0/3000060", arg);
			t = TARGET_LSN;
			break;
		case 1202:
			if (strspn(arg, "0123456789") != strlen(arg) || arg[0] == '\0' || strlen(arg) > 19)
				return prog_usage_error(p, "--target-xid \"%s\": expected a transaction id", arg);
			ro->target_xid = strtoull(arg, NULL, 10);
			t = TARGET_XID;
			break;
		case 1203:
			if (arg[0] == '\0')
				return prog_usage_error(p, "--target-name needs a restore point name");
			t = TARGET_NAME;
			break;
		case 1204:
			if (strcmp(arg, "immediate") != 0)
				return prog_usage_error(p, "--target takes only \"immediate\"");
			t = TARGET_IMMEDIATE;
			break;
		default:
			return -2;
	}
	if ((*ntargets)++ > 0)
		return prog_usage_error(p, "give one recovery target (--target-time, --target-lsn, --target-xid, "
								"--target-name or --target immediate)");
	ro->target = t;
	ro->target_value = arg;
	return -1;
}

/* posix_spawn rather than fork: the caller does not copy its address space,
 * it only waits for the exec. */
void
prog_spawn_helper(prog *p, const char *opt, const char *arg1, const char *arg2)
{
	extern char **environ;
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t	none, dfl;
	const char *argv[8];
	int			n = 0;
	pid_t		pid;
	int			rc;

	/* A detached process is adopted by PID 1. Where that is PostgreSQL's
	 * postmaster (a container started without an init), a helper that died
	 * by a signal (the OOM killer) would count as a crashed server process
	 * and restart every backend: no helper there. */
	{
		char		comm[32] = "";
		FILE	   *f = fopen("/proc/1/comm", "re");

		if (f != NULL)
		{
			if (fgets(comm, sizeof(comm), f) == NULL)
				comm[0] = '\0';
			fclose(f);
		}
		if (strcmp(comm, "postgres\n") == 0 || strcmp(comm, "postmaster\n") == 0)
		{
			log_debug("%s: no helper: PID 1 is PostgreSQL (a container without an init)", opt);
			return;
		}
	}
	argv[n++] = p->name;
	if (p->config_path)
	{
		argv[n++] = "--config";
		argv[n++] = p->config_path;
	}
	argv[n++] = opt;
	argv[n++] = arg1;
	if (arg2 != NULL)
		argv[n++] = arg2;
	argv[n] = NULL;
	/* every disposition the caller inherited (PostgreSQL's archiver ignores
	 * SIGPIPE and others) back to the default */
	sigemptyset(&none);
	sigfillset(&dfl);
	sigdelset(&dfl, SIGKILL);
	sigdelset(&dfl, SIGSTOP);
	if (posix_spawn_file_actions_init(&fa) != 0)
		return;
	if (posix_spawnattr_init(&attr) != 0)
	{
		posix_spawn_file_actions_destroy(&fa);
		return;
	}
	if ((rc = posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDWR, 0)) != 0 ||
		(rc = posix_spawn_file_actions_adddup2(&fa, STDIN_FILENO, STDOUT_FILENO)) != 0 ||
		(rc = posix_spawn_file_actions_adddup2(&fa, STDIN_FILENO, STDERR_FILENO)) != 0 ||
		(rc = posix_spawn_file_actions_addclosefrom_np(&fa, 3)) != 0 ||
		(rc = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK |
									   POSIX_SPAWN_SETSIGDEF)) != 0 ||
		(rc = posix_spawnattr_setsigmask(&attr, &none)) != 0 ||
		(rc = posix_spawnattr_setsigdefault(&attr, &dfl)) != 0 ||
		(rc = posix_spawn(&pid, "/proc/self/exe", &fa, &attr, (char *const *) argv, environ)) != 0)
		log_debug("%s: could not start a helper: %s", opt, strerror(rc));
	posix_spawnattr_destroy(&attr);
	posix_spawn_file_actions_destroy(&fa);
}
