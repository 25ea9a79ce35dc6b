/*
 * pitr-prepare — lay a base backup into a data directory and write the
 * recovery settings for a point in time; then `pg_ctl start` replays the
 * archive through wal-fetch up to the target.
 */
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "manifest.h"
#include "prog.h"
#include "repo.h"
#include "restore.h"
#include "util.h"

static restore_opts ro;
static int	opt_json, ntargets;
static const char *opt_progress;

static int
opt(prog *p, int c, const char *arg)
{
	int			rc = prog_target_option(p, &ro, &ntargets, c, arg);

	if (rc != -2)
		return rc;
	switch (c)
	{
		case 'D':
			ro.pgdata = arg;
			return -1;
		case 1205:
			if (strcmp(arg, "promote") != 0 && strcmp(arg, "pause") != 0 && strcmp(arg, "shutdown") != 0)
				return prog_usage_error(p, "--target-action takes promote, pause or shutdown");
			ro.target_action = arg;
			return -1;
		case 1206:
			if (strcmp(arg, "latest") != 0 && strcmp(arg, "current") != 0 &&
				(arg[0] == '\0' || strspn(arg, "0123456789") != strlen(arg)))
				return prog_usage_error(p, "--target-timeline takes latest, current or a timeline number");
			ro.target_timeline = arg;
			return -1;
		case 'b':
			ro.backup_id = arg;
			return -1;
		case 1207:
			ro.delta = 1;
			return -1;
		case 1208:
			ro.force = 1;
			return -1;
		case 1209:
			ro.standby = 1;
			return -1;
		case 'T':
			{
				const char *eq = strchr(arg, '=');

				if (eq == NULL || eq == arg || eq[1] != '/' || ro.ntsmap == RESTORE_MAX_TSMAP)
					return prog_usage_error(p, "--tablespace-map takes OID=/absolute/dir");
				ro.tsmap_oid[ro.ntsmap] = strndup(arg, (size_t) (eq - arg));
				ro.tsmap_dir[ro.ntsmap++] = eq + 1;
				return -1;
			}
		case 1210:
			if (strcmp(arg, "on") != 0 && strcmp(arg, "off") != 0)
				return prog_usage_error(p, "--progress takes on or off");
			opt_progress = arg;
			return -1;
		case 1211:
			opt_json = 1;
			return -1;
	}
	return prog_usage_error(p, "unknown option");
}

int
main(int argc, char **argv)
{
	static const struct option extra[] = {
		{"pgdata", required_argument, NULL, 'D'},
		PROG_TARGET_OPTIONS,
		{"target-action", required_argument, NULL, 1205},
		{"target-timeline", required_argument, NULL, 1206},
		{"backup", required_argument, NULL, 'b'},
		{"delta", no_argument, NULL, 1207},
		{"force", no_argument, NULL, 1208},
		{"standby", no_argument, NULL, 1209},
		{"tablespace-map", required_argument, NULL, 'T'},
		{"progress", required_argument, NULL, 1210},
		{"json", no_argument, NULL, 1211},
		{NULL, 0, NULL, 0}
	};
	prog		p = {
		.name = "pitr-prepare",
		.kind = PROG_PLAIN,
		.usage = "--pgdata DIR [TARGET]",
		.help = "Restore a base backup into DIR and write the recovery settings, so that\n"
		"`pg_ctl -D DIR start` replays the archive (through wal-fetch) to the target.\n"
		"\nOptions:\n"
		"  -D, --pgdata DIR            where to restore (empty or absent; see --delta)\n"
		"      --target-time T         stop at time T, with a zone: '2026-11-27 12:00:00+00'\n"
		"      --target-lsn L          stop at LSN L\n"
		"      --target-xid X          stop after transaction X\n"
		"      --target-name N         stop at restore point N (pg_create_restore_point)\n"
		"      --target immediate      stop as soon as the backup is consistent\n"
		"                              (no target: replay to the end of the archive)\n"
		"      --target-action A       promote, pause or shutdown at the target\n"
		"      --target-timeline TL    latest (default), current, or a number\n"
		"  -b, --backup ID|latest      the backup to restore (default: the newest that\n"
		"                              ended before the target)\n"
		"      --delta                 restore over an existing stopped copy, fetching only\n"
		"                              the chunks that differ\n"
		"      --force                 replace everything in a non-empty DIR\n"
		"      --standby               write standby.signal instead of recovery.signal\n"
		"  -T, --tablespace-map OID=DIR  restore tablespace OID into DIR\n"
		"      --progress=on|off       progress on stderr (default: on a terminal)\n"
		"      --json                  print a summary as JSON on stdout",
	};
	pgark_err	err;
	repo	   *r;
	restore_result res;
	prog_progress pp;
	char		cmd[9 * PATH_MAX];
	char		pgdata[PATH_MAX];
	int			rc;

	err_clear(&err);
	if ((rc = prog_start(&p, argc, argv, extra, "D:b:T:", opt)) >= 0)
		return rc;
	if (p.argc != 0)
		return prog_usage_error(&p, "unexpected argument \"%s\"", p.argv[0]);
	if (ro.pgdata == NULL)
		return prog_usage_error(&p, "--pgdata DIR is required");
	if (ro.delta && ro.force)
		return prog_usage_error(&p, "--delta and --force exclude each other");
	if (ro.target_action && ro.target == TARGET_NONE)
		return prog_usage_error(&p, "--target-action needs a recovery target");
	if ((rc = prog_load_config(&p, &err)) >= 0)
		return rc;
	if (ro.pgdata[0] != '/')
	{
		char		cwd[PATH_MAX];

		if (getcwd(cwd, sizeof(cwd)) == NULL ||
			(size_t) snprintf(pgdata, sizeof(pgdata), "%s/%s", cwd, ro.pgdata) >= sizeof(pgdata))
			return prog_usage_error(&p, "--pgdata: path too long");
		ro.pgdata = pgdata;
	}

	/* restore_command: this installation's wal-fetch, with the same config */
	if (prog_restore_command(&p, cmd, sizeof(cmd), &err) != 0)
		return prog_fail(&p, &err);
	ro.restore_command = cmd;

	if ((r = repo_open(&p.cfg, &err)) == NULL)
		return prog_fail(&p, &err);
	prog_progress_init(&pp, "pitr-prepare", opt_progress);
	ro.progress = pp.enabled ? prog_progress_cb : NULL;
	ro.progress_arg = &pp;
	if (restore_run(r, &ro, &res, &err) != 0)
	{
		prog_progress_end(&pp);
		prog_audit(&p, "restore", res.backup_id[0] ? res.backup_id : "-", err_kind_name(err.kind), err.msg, 0, 0);
		repo_close(r);
		return prog_fail(&p, &err);
	}
	prog_progress_end(&pp);
	if (res.warning[0])
		log_warning("%s", res.warning);
	prog_audit(&p, "restore", res.backup_id, "ok", ro.pgdata, res.bytes_written, res.bytes_fetched);
	{
		char		a[32], b[32];

		human_bytes(res.bytes_written, a, sizeof(a));
		human_bytes(res.bytes_fetched, b, sizeof(b));
		log_info("restored backup %s (ended %s) into %s: %" PRIu64 " files, %s (%s fetched%s), %.1f s; "
				 "start the server to replay the archive%s%s",
				 res.backup_id, res.stop_time, ro.pgdata, res.files, a, b,
				 ro.delta ? ", --delta" : "", (now_ms() - p.t0) / 1000.0,
				 ro.target != TARGET_NONE ? " to " : " to its end", ro.target != TARGET_NONE ? ro.target_value : "");
		if (opt_json)
			printf("{\"backup_id\":\"%s\",\"pgdata\":\"%s\",\"files\":%" PRIu64 ",\"files_unchanged\":%" PRIu64 ","
				   "\"bytes_written\":%" PRIu64 ",\"bytes_fetched\":%" PRIu64 ",\"duration_ms\":%.0f}\n",
				   res.backup_id, ro.pgdata, res.files, res.files_unchanged, res.bytes_written,
				   res.bytes_fetched, now_ms() - p.t0);
	}
	repo_close(r);
	return prog_success(&p);
}
