/*
 * base-push — a base backup of the running cluster into the repository.
 * For cron: nightly, or more often (unchanged files cost nothing).
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "backup.h"
#include "manifest.h"
#include "prog.h"
#include "repo.h"
#include "util.h"

static int	opt_fast, opt_full_read, opt_json;
static const char *opt_label, *opt_progress;
static prog *the_prog;

static int
opt(prog *p, int c, const char *arg)
{
	switch (c)
	{
		case 'f':
			opt_fast = 1;
			break;
		case 1100:
			opt_full_read = 1;
			break;
		case 'l':
			opt_label = arg;
			break;
		case 1101:
			if (strcmp(arg, "on") != 0 && strcmp(arg, "off") != 0)
				return prog_usage_error(p, "--progress takes on or off");
			opt_progress = arg;
			break;
		case 1102:
			opt_json = 1;
			break;
		default:
			return prog_usage_error(p, "unknown option");
	}
	return -1;
}

static void
bad_page(void *arg, const char *path, uint32_t block)
{
	char		what[PATH_MAX + 64];

	(void) arg;
	snprintf(what, sizeof(what), "%s block %u", path, block);
	log_warning("page checksum mismatch in %s (the page is backed up as it is; check the server's storage)", what);
	prog_audit(the_prog, "bad-page", what, "corrupt", "page checksum mismatch", 0, 0);
}

int
main(int argc, char **argv)
{
	static const struct option extra[] = {
		{"fast", no_argument, NULL, 'f'},
		{"full-read", no_argument, NULL, 1100},
		{"label", required_argument, NULL, 'l'},
		{"progress", required_argument, NULL, 1101},
		{"json", no_argument, NULL, 1102},
		{NULL, 0, NULL, 0}
	};
	prog		p = {
		.name = "base-push",
		.kind = PROG_PLAIN,
		.usage = "",
		.help = "Take a base backup of the running cluster ([postgres] conninfo and pgdata)\n"
		"into the repository. Files unchanged since the previous backup are not read\n"
		"again; changed ones are stored per 8 KiB page, only the pages that changed.\n"
		"\nOptions:\n"
		"  -f, --fast            start with an immediate checkpoint\n"
		"      --full-read       read every file, even those unchanged since the last backup\n"
		"  -l, --label TEXT      a label kept with the backup\n"
		"      --progress=on|off progress on stderr (default: on a terminal)\n"
		"      --json            print a summary as JSON on stdout",
	};
	pgark_err	err;
	repo	   *r;
	backup_opts bo;
	backup_result res;
	prog_progress pp;
	int			rc;

	err_clear(&err);
	the_prog = &p;
	if ((rc = prog_start(&p, argc, argv, extra, "fl:", opt)) >= 0)
		return rc;
	if (p.argc != 0)
		return prog_usage_error(&p, "unexpected argument \"%s\"", p.argv[0]);
	if ((rc = prog_load_config(&p, &err)) >= 0)
		return rc;
	if ((r = repo_open(&p.cfg, &err)) == NULL)
		return prog_fail(&p, &err);
	prog_progress_init(&pp, "base-push", opt_progress);
	memset(&bo, 0, sizeof(bo));
	bo.fast = opt_fast;
	bo.full_read = opt_full_read;
	bo.label = opt_label;
	bo.progress = pp.enabled ? prog_progress_cb : NULL;
	bo.progress_arg = &pp;
	bo.bad_page = bad_page;
	if (backup_run(r, &bo, &res, &err) != 0)
	{
		prog_progress_end(&pp);
		prog_audit(&p, "backup", res.backup_id[0] ? res.backup_id : "-", err_kind_name(err.kind), err.msg, 0, 0);
		repo_close(r);
		return prog_fail(&p, &err);
	}
	prog_progress_end(&pp);
	if (res.warning[0])
		log_warning("%s", res.warning);
	prog_audit(&p, "backup", res.backup_id, "ok", res.bad_checksums ? "bad page checksums found" : NULL,
			   res.bytes_total, res.bytes_stored);
	{
		char		a[32], b[32], sl[32], el[32], st[32], et[32];

		human_bytes(res.bytes_total, a, sizeof(a));
		human_bytes(res.bytes_stored, b, sizeof(b));
		lsn_format(res.start_lsn, sl, sizeof(sl));
		lsn_format(res.stop_lsn, el, sizeof(el));
		iso8601_from_unix(res.start_time, st, sizeof(st));
		iso8601_from_unix(res.stop_time, et, sizeof(et));
		log_info("backup %s: %" PRIu64 " files, %s, %s stored (%" PRIu64 " files unchanged), WAL %s to %s, "
				 "timeline %u, %.1f s%s",
				 res.backup_id, res.files, a, b, res.files_reused, sl, el, res.timeline,
				 (now_ms() - p.t0) / 1000.0,
				 res.bad_checksums ? "; PAGES WITH BAD CHECKSUMS were found (see the warnings)" : "");
		if (opt_json)
			printf("{\"backup_id\":\"%s\",\"start_lsn\":\"%s\",\"stop_lsn\":\"%s\",\"timeline\":%u,"
				   "\"start_time\":\"%s\",\"stop_time\":\"%s\",\"files\":%" PRIu64 ",\"files_reused\":%" PRIu64 ","
				   "\"bytes_total\":%" PRIu64 ",\"bytes_read\":%" PRIu64 ",\"bytes_new\":%" PRIu64 ","
				   "\"bytes_stored\":%" PRIu64 ",\"bytes_reused\":%" PRIu64 ","
				   "\"chunks_new\":%" PRIu64 ",\"chunks_reused\":%" PRIu64 ",\"bad_checksums\":%" PRIu64 ","
				   "\"data_checksums\":%s,\"duration_ms\":%.0f}\n",
				   res.backup_id, sl, el, res.timeline, st, et, res.files, res.files_reused, res.bytes_total,
				   res.bytes_read, res.bytes_new, res.bytes_stored, res.bytes_reused, res.chunks_new, res.chunks_reused, res.bad_checksums,
				   res.data_checksums ? "true" : "false", now_ms() - p.t0);
	}
	repo_close(r);
	return prog_success(&p);
}
