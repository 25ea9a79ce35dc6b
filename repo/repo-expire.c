/*
 * repo-expire — apply the [retention] policy: remove the backups it no
 * longer keeps, then the WAL no kept backup and no point-in-time window
 * needs, then the packs no manifest refers to (lib/expire.c). --dry-run
 * shows what would go and why, removing nothing.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dump.h"
#include "expire.h"
#include "prog.h"
#include "repo.h"
#include "util.h"

static int	opt_dry_run, opt_json;
static const char *opt_now;

static int
opt(prog *p, int c, const char *arg)
{
	switch (c)
	{
		case 'n':
			opt_dry_run = 1;
			break;
		case 1201:
			opt_json = 1;
			break;
		case 1202:
			opt_now = arg;
			break;
		default:
			return prog_usage_error(p, "unknown option");
	}
	return -1;
}

typedef struct report_ctx
{
	prog	   *p;
	int			first;			/* no JSON item printed yet */
	uint64_t	wal_shown;
	char		wal_first[160], wal_last[160];
} report_ctx;

static const char *const kind_name[] = {"backup", "wal", "pack", "marker"};

static void
report(void *arg, expire_kind kind, const char *name, int keep, const char *why)
{
	report_ctx *rc = arg;

	if (kind == EXP_BACKUP && !keep && !opt_dry_run)
		prog_audit(rc->p, "expire", name, "ok", why, 0, 0);
	if (opt_json)
	{
		char		n[400], w[400];

		json_escape(name, n, sizeof(n));
		json_escape(why, w, sizeof(w));
		printf("%s{\"kind\":\"%s\",\"name\":\"%s\",\"action\":\"%s\",\"why\":\"%s\"}", rc->first ? "" : ",",
			   kind_name[kind], n, keep ? "keep" : opt_dry_run ? "would-remove" : "remove", w);
		rc->first = 0;
		return;
	}
	if (kind == EXP_BACKUP)
	{
		printf("backup %-24s %-13s %s\n", name, keep ? "keep" : opt_dry_run ? "would remove" : "removed", why);
		return;
	}
	if (kind == EXP_WAL)
	{
		/* WAL can be thousands of files: the first and last, unless -v */
		if (rc->wal_shown++ == 0)
			snprintf(rc->wal_first, sizeof(rc->wal_first), "%s", name);
		snprintf(rc->wal_last, sizeof(rc->wal_last), "%s", name);
		if (rc->p->verbosity > 0)
			printf("wal    %s %s\n", name, opt_dry_run ? "would be removed" : "removed");
		return;
	}
	if (rc->p->verbosity > 0 || kind == EXP_MARKER)
		printf("%-6s %s %s: %s\n", kind_name[kind], name, opt_dry_run ? "would be removed" : "removed", why);
}

static void
report_dump(void *arg, const char *name, int keep, const char *why)
{
	report_ctx *rc = arg;

	if (!keep && !opt_dry_run)
		prog_audit(rc->p, "expire", name, "ok", why, 0, 0);
	if (opt_json)
	{
		char		n[1200], w[400];

		json_escape(name, n, sizeof(n));
		json_escape(why, w, sizeof(w));
		printf("%s{\"kind\":\"dump\",\"name\":\"%s\",\"action\":\"%s\",\"why\":\"%s\"}", rc->first ? "" : ",",
			   n, keep ? "keep" : opt_dry_run ? "would-remove" : "remove", w);
		rc->first = 0;
		return;
	}
	printf("dump   %-40s %-13s %s\n", name, keep ? "keep" : opt_dry_run ? "would remove" : "removed", why);
}

int
main(int argc, char **argv)
{
	static const struct option extra[] = {
		{"dry-run", no_argument, NULL, 'n'},
		{"json", no_argument, NULL, 1201},
		{"now", required_argument, NULL, 1202},
		{NULL, 0, NULL, 0}
	};
	prog		p = {
		.name = "repo-expire",
		.kind = PROG_PLAIN,
		.usage = "",
		.help = "Apply the [retention] policy: remove the backups it does not keep, the WAL that no kept\n"
		"backup and no point-in-time window needs, the packs no backup refers to, and the\n"
		"logical dumps dumps_keep_last / dumps_keep_within do not keep.\n"
		"\nOptions:\n"
		"  -n, --dry-run         show what would be removed and why; remove nothing\n"
		"      --json            print every decision as JSON on stdout (schema in the README)\n"
		"      --now TIME        with --dry-run: apply the policy as at TIME (YYYY-MM-DDTHH:MM:SSZ)",
	};
	pgark_err	err;
	repo	   *r;
	expire_opts o;
	expire_result res;
	report_ctx	rctx;
	int			rc, locked = 0;
	size_t		dumps_kept = 0, dumps_removed = 0;
	double		t0 = now_ms();

	err_clear(&err);
	if ((rc = prog_start(&p, argc, argv, extra, "n", opt)) >= 0)
		return rc;
	if (p.argc != 0)
		return prog_usage_error(&p, "no arguments expected");
	memset(&o, 0, sizeof(o));
	o.now = (int64_t) time(NULL);
	if (opt_now != NULL)
	{
		if (!opt_dry_run)
			return prog_usage_error(&p, "--now only goes with --dry-run (a policy applied to another time "
									"must never remove anything)");
		if (iso8601_parse(opt_now, &o.now) != 0)
			return prog_usage_error(&p, "\"%s\" is not a time like 2026-11-27T02:00:00Z", opt_now);
	}
	if ((rc = prog_load_config(&p, &err)) >= 0)
		return rc;
	o.policy.keep_last = p.cfg.keep_last;
	o.policy.keep_daily = p.cfg.keep_daily;
	o.policy.keep_weekly = p.cfg.keep_weekly;
	o.policy.keep_monthly = p.cfg.keep_monthly;
	o.policy.keep_yearly = p.cfg.keep_yearly;
	o.policy.keep_within = p.cfg.keep_within;
	o.policy.pitr_window = p.cfg.pitr_window;
	o.dry_run = opt_dry_run;
	o.report = report;
	o.arg = &rctx;
	memset(&rctx, 0, sizeof(rctx));
	rctx.p = &p;
	rctx.first = 1;
	if (!ret_policy_set(&o.policy) && p.cfg.dumps_keep_last == 0 && p.cfg.dumps_keep_within == 0)
	{
		err_set(&err, PGARK_ERR_CONFIG, 0, "no retention policy: set at least one of [retention] keep_last, "
				"keep_daily, keep_weekly, keep_monthly, keep_yearly, keep_within, pitr_window "
				"(or, for logical dumps only, dumps_keep_last, dumps_keep_within)");
		return prog_fail(&p, &err);
	}
	if ((r = repo_open(&p.cfg, &err)) == NULL)
		return prog_fail(&p, &err);
	if (!opt_dry_run)
	{
		if (expire_lock(r, &err) != 0)
		{
			prog_audit(&p, "expire", EXPIRE_LOCK_NAME, err_kind_name(err.kind), err.msg, 0, 0);
			rc = prog_fail(&p, &err);
			repo_close(r);
			return rc;
		}
		locked = 1;
	}
	if (opt_json)
		printf("{\"dry_run\":%s,\"items\":[", opt_dry_run ? "true" : "false");
	memset(&res, 0, sizeof(res));
	/* backups, WAL and packs only under a policy for them */
	rc = ret_policy_set(&o.policy) ? repo_expire(r, &o, &res, &err) : 0;
	if (!ret_policy_set(&o.policy))
	{
		/* nothing was swept: say so rather than "swept, 0 in use" */
		res.sweep_skipped = 1;
		snprintf(res.sweep_note, sizeof(res.sweep_note),
				 "no [retention] rule for backups, WAL and packs: none of them considered");
	}
	if (rc == 0)
		rc = dump_expire(r, p.cfg.dumps_keep_last, p.cfg.dumps_keep_within, o.now, opt_dry_run, report_dump, &rctx,
						 &dumps_kept, &dumps_removed, &err);
	if (rc != 0)
	{
		if (opt_json)
			printf("]}\n");
		prog_audit(&p, "expire", "-", err_kind_name(err.kind), err.msg, 0, 0);
		rc = prog_fail(&p, &err);
	}
	else
	{
		char		walb[32], packb[32];

		human_bytes(res.wal_bytes_removed, walb, sizeof(walb));
		human_bytes(res.pack_bytes_removed, packb, sizeof(packb));
		if (opt_json)
		{
			char		note[1100];

			json_escape(res.sweep_note, note, sizeof(note));
			printf("],\"backups_kept\":%zu,\"backups_removed\":%zu,\"wal_kept_from\":%s%s%s,"
				   "\"wal_removed\":%" PRIu64 ",\"wal_bytes_removed\":%" PRIu64 ",\"packs_removed\":%" PRIu64
				   ",\"pack_bytes_removed\":%" PRIu64 ",\"packs_kept\":%" PRIu64 ",\"packs_swept\":%s,"
				   "\"sweep_note\":\"%s\",\"dumps_kept\":%zu,\"dumps_removed\":%zu}\n",
				   res.backups_kept, res.backups_expired, res.wal_from[0] ? "\"" : "",
				   res.wal_from[0] ? res.wal_from : "null", res.wal_from[0] ? "\"" : "", res.wal_removed,
				   res.wal_bytes_removed, res.packs_removed, res.pack_bytes_removed, res.packs_kept,
				   res.sweep_skipped ? "false" : "true", note, dumps_kept, dumps_removed);
		}
		else
		{
			const char *verb = opt_dry_run ? "would remove" : "removed";

			if (!ret_policy_set(&o.policy))
				printf("backups, WAL, packs: untouched (no [retention] rule for them)\n");
			else if (res.wal_from[0])
				printf("WAL: kept whole from %s on; %s %" PRIu64 " older files (%s)%s%s%s%s\n", res.wal_from, verb,
					   res.wal_removed, walb, rctx.wal_shown ? ": " : "", rctx.wal_shown ? path_basename(rctx.wal_first) : "",
					   rctx.wal_shown > 1 ? " ... " : "", rctx.wal_shown > 1 ? path_basename(rctx.wal_last) : "");
			else
				printf("WAL: all kept (no usable backup to measure from, or one whose WAL is unknown)\n");
			if (!ret_policy_set(&o.policy))
				;				/* said above */
			else if (res.sweep_skipped)
				printf("packs: not swept: %s\n", res.sweep_note);
			else
				printf("packs: %s %" PRIu64 " (%s), %" PRIu64 " in use\n", verb, res.packs_removed, packb,
					   res.packs_kept);
			if (ret_policy_set(&o.policy))
				printf("backups: %zu kept, %zu %s%s\n", res.backups_kept, res.backups_expired, verb,
					   opt_dry_run ? " (dry run: nothing was removed)" : "");
			if (p.cfg.dumps_keep_last || p.cfg.dumps_keep_within)
				printf("dumps: %zu kept, %zu %s%s\n", dumps_kept, dumps_removed, verb,
					   opt_dry_run ? " (dry run: nothing was removed)" : "");
			else
				printf("dumps: all kept (no [retention] dumps_keep_last or dumps_keep_within)\n");
		}
		if (!opt_dry_run)
		{
			char		detail[1400];

			snprintf(detail, sizeof(detail), "%zu backups removed, %" PRIu64 " WAL files, %" PRIu64 " packs, %zu dumps%s%.1000s",
					 res.backups_expired, res.wal_removed, res.packs_removed, dumps_removed,
					 res.sweep_skipped ? "; packs not swept: " : "", res.sweep_note);
			prog_audit(&p, "expire", "-", "ok", detail, res.wal_bytes_removed + res.pack_bytes_removed, 0);
		}
		log_debug("repo-expire took %.0f ms", now_ms() - t0);
	}
	if (rc == 0)
		prog_success(&p);
	if (locked)
	{
		pgark_err	e2;

		err_clear(&e2);
		if (expire_unlock(r, &e2) != 0)
			log_warning("%s", e2.msg);
	}
	repo_close(r);
	return rc;
}
