/*
 * repo-list — what the repository holds: its backups (oldest first), the
 * archived WAL of each timeline with its gaps, and the window a
 * point-in-time restore can reach. A table by default; --json for scripts
 * (the schema is in the README and stays stable: fields are only added).
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "dump.h"
#include "inventory.h"
#include "manifest.h"
#include "prog.h"
#include "repo.h"
#include "util.h"
#include "wal.h"

static int	opt_json;

static int
opt(prog *p, int c, const char *arg)
{
	(void) arg;
	if (c == 1100)
		opt_json = 1;
	else
		return prog_usage_error(p, "unknown option");
	return -1;
}

static void
segname(const repo_inventory *inv, uint32_t tli, uint64_t segno, char *out, size_t len)
{
	walname		wn;

	walname_segment(tli, segno, inv->seg_size, &wn);
	snprintf(out, len, "%s", wn.name);
}

/* an ISO 8601 time in quotes, or null */
static void
json_time(int64_t t, char *out, size_t len)
{
	char		iso[40];

	if (t < 0)
	{
		snprintf(out, len, "null");
		return;
	}
	iso8601_from_unix(t, iso, sizeof(iso));
	snprintf(out, len, "\"%s\"", iso);
}

static void
print_json(const repo_inventory *inv)
{
	char		a[48], b[48];

	printf("{\"backups\":[");
	for (size_t i = 0; i < inv->nbackups; i++)
	{
		const inv_backup *bk = &inv->backups[i];
		char		label[sizeof(bk->label) * 6], problem[sizeof(bk->problem) * 6];
		char		id[sizeof(bk->id) * 6], sw[sizeof(bk->start_wal) * 6], ew[sizeof(bk->stop_wal) * 6];
		char		sl[32], el[32];

		/* every string escaped: an id is whatever name base/ holds */
		json_escape(bk->label, label, sizeof(label));
		json_escape(bk->problem, problem, sizeof(problem));
		json_escape(bk->id, id, sizeof(id));
		json_escape(bk->start_wal, sw, sizeof(sw));
		json_escape(bk->stop_wal, ew, sizeof(ew));
		lsn_format(bk->start_lsn, sl, sizeof(sl));
		lsn_format(bk->stop_lsn, el, sizeof(el));
		if (bk->status == INV_UNREADABLE && bk->stop_time == 0)
		{
			printf("%s{\"id\":\"%s\",\"status\":\"%s\",\"problem\":\"%s\",\"pinned\":%s}",
				   i ? "," : "", id, inv_status_str(bk->status), problem, bk->pinned ? "true" : "false");
			continue;
		}
		json_time(bk->start_time, a, sizeof(a));
		json_time(bk->stop_time, b, sizeof(b));
		printf("%s{\"id\":\"%s\",\"start_time\":%s,\"stop_time\":%s,\"start_lsn\":\"%s\",\"stop_lsn\":\"%s\","
			   "\"timeline\":%u,\"start_wal\":\"%s\",\"stop_wal\":\"%s\",\"bytes_read\":%" PRIu64 ","
			   "\"bytes_stored\":%" PRIu64 ",\"pinned\":%s,\"label\":\"%s\",\"status\":\"%s\",\"problem\":\"%s\"}",
			   i ? "," : "", id, a, b, sl, el, bk->timeline, sw, ew,
			   bk->bytes_total, bk->bytes_stored, bk->pinned ? "true" : "false", label, inv_status_str(bk->status),
			   problem);
	}
	printf("],\"wal\":[");
	for (size_t i = 0; i < inv->ntls; i++)
	{
		const inv_timeline *tl = &inv->tls[i];
		char		first[48] = "", last[48] = "", sw[32];

		if (tl->nranges > 0)
		{
			segname(inv, tl->tli, tl->ranges[0].first, first, sizeof(first));
			segname(inv, tl->tli, tl->ranges[tl->nranges - 1].last, last, sizeof(last));
		}
		printf("%s{\"timeline\":%u,\"first\":%s%s%s,\"last\":%s%s%s,\"segments\":%" PRIu64 ",\"gaps\":[",
			   i ? "," : "", tl->tli, first[0] ? "\"" : "", first[0] ? first : "null", first[0] ? "\"" : "",
			   last[0] ? "\"" : "", last[0] ? last : "null", last[0] ? "\"" : "", tl->segments);
		for (size_t k = 1; k < tl->nranges; k++)
		{
			segname(inv, tl->tli, tl->ranges[k - 1].last + 1, a, sizeof(a));
			segname(inv, tl->tli, tl->ranges[k].first - 1, b, sizeof(b));
			printf("%s{\"first\":\"%s\",\"last\":\"%s\"}", k > 1 ? "," : "", a, b);
		}
		printf("]");
		if (tl->parent)
		{
			lsn_format(tl->switch_lsn, sw, sizeof(sw));
			printf(",\"parent\":%u,\"switch_lsn\":\"%s\"", tl->parent, sw);
		}
		if (tl->problem[0])
		{
			char		esc[sizeof(tl->problem) * 6];

			json_escape(tl->problem, esc, sizeof(esc));
			printf(",\"problem\":\"%s\"", esc);
		}
		printf("}");
	}
	json_time(inv->earliest, a, sizeof(a));
	json_time(inv->latest, b, sizeof(b));
	printf("],\"window\":{\"earliest\":%s,\"latest\":%s}", a, b);
}

static const char *
dump_status(const dump_entry *e)
{
	return e->meta_ok ? "ok" : e->has_meta ? "unreadable" : "incomplete";
}

static void
dumps_json(const dump_list *l)
{
	printf(",\"dumps\":[");
	for (size_t i = 0; i < l->n; i++)
	{
		const dump_entry *e = &l->e[i];
		const dump_meta *m = &e->meta;
		char		dir[sizeof(e->dir) * 6], id[sizeof(e->id) * 6], problem[sizeof(e->problem) * 6];

		json_escape(e->dir, dir, sizeof(dir));
		json_escape(e->id, id, sizeof(id));
		json_escape(e->problem, problem, sizeof(problem));
		printf("%s{\"dir\":\"%s\",\"id\":\"%s\",\"status\":\"%s\"", i ? "," : "", dir, id, dump_status(e));
		if (e->meta_ok)
		{
			char		db[sizeof(m->database) * 6], ver[sizeof(m->pg_dump_version) * 6], st[48], et[48];
			char		sha[2 * SHA256_LEN + 1];

			json_escape(m->database, db, sizeof(db));
			json_escape(m->pg_dump_version, ver, sizeof(ver));
			json_time(m->start_time, st, sizeof(st));
			json_time(m->end_time, et, sizeof(et));
			hex_encode(m->sha256, SHA256_LEN, sha);
			printf(",\"database\":%s%s%s,\"kind\":\"%s\",\"start_time\":%s,\"end_time\":%s,"
				   "\"server_version\":%d,\"pg_dump_version\":\"%s\",\"plain_bytes\":%" PRIu64
				   ",\"stored_bytes\":%" PRIu64 ",\"sha256\":\"%s\"",
				   m->kind == DUMP_GLOBALS ? "" : "\"", m->kind == DUMP_GLOBALS ? "null" : db,
				   m->kind == DUMP_GLOBALS ? "" : "\"", dump_kind_name(m->kind), st, et, m->server_version, ver,
				   m->plain_bytes, m->stored_bytes, sha);
		}
		if (e->problem[0])
			printf(",\"problem\":\"%s\"", problem);
		printf("}");
	}
	printf("]");
}

static void
dumps_table(const dump_list *l)
{
	printf("\n");
	if (l->n == 0)
	{
		printf("dumps: none\n");
		return;
	}
	printf("dumps:\n%-24s %-21s %-11s %-20s %10s %10s  %s\n", "database", "dump id", "kind", "start (UTC)", "size",
		   "stored", "status");
	for (size_t i = 0; i < l->n; i++)
	{
		const dump_entry *e = &l->e[i];
		const dump_meta *m = &e->meta;
		char		db[sizeof(m->database) + 16], st[40] = "-", sz[32] = "-", sd[32] = "-";

		if (e->meta_ok)
		{
			/* a database name may hold anything: no control bytes on a terminal */
			snprintf(db, sizeof(db), "%s", m->kind == DUMP_GLOBALS ? "(globals)" : m->database);
			for (char *c = db; *c; c++)
				if ((unsigned char) *c < 0x20 || *c == 0x7f)
					*c = '?';
			iso8601_from_unix(m->start_time, st, sizeof(st));
			human_bytes(m->plain_bytes, sz, sizeof(sz));
			human_bytes(m->stored_bytes, sd, sizeof(sd));
		}
		else
			snprintf(db, sizeof(db), "%.40s", e->dir);
		printf("%-24s %-21s %-11s %-20s %10s %10s  %s\n", db, e->id, e->meta_ok ? dump_kind_name(m->kind) : "-", st,
			   sz, sd, dump_status(e));
		if (e->problem[0])
			printf("    ! %s\n", e->problem);
		else if (!e->has_meta)
			printf("    ! data without metadata: not a dump (a dump-push that did not finish)\n");
	}
}

static void
print_table(const repo_inventory *inv, const char *where)
{
	printf("repository %s, WAL segments of %u MiB\n\n", where, inv->seg_size >> 20);
	if (inv->nbackups == 0)
		printf("backups: none\n");
	else
	{
		printf("%-24s %-20s %-20s %4s %-12s %-12s %10s %10s  %s\n", "backup", "start (UTC)", "stop (UTC)",
			   "tli", "start LSN", "stop LSN", "size", "stored", "status");
		for (size_t i = 0; i < inv->nbackups; i++)
		{
			const inv_backup *bk = &inv->backups[i];
			char		st[40] = "-", et[40] = "-", sl[32] = "-", el[32] = "-", sz[32] = "-", sd[32] = "-";

			if (bk->stop_time > 0)
			{
				iso8601_from_unix(bk->start_time, st, sizeof(st));
				iso8601_from_unix(bk->stop_time, et, sizeof(et));
				lsn_format(bk->start_lsn, sl, sizeof(sl));
				lsn_format(bk->stop_lsn, el, sizeof(el));
				human_bytes(bk->bytes_total, sz, sizeof(sz));
				human_bytes(bk->bytes_stored, sd, sizeof(sd));
			}
			printf("%-24s %-20s %-20s %4u %-12s %-12s %10s %10s  %s%s\n", bk->id, st, et, bk->timeline, sl, el, sz,
				   sd, inv_status_str(bk->status), bk->pinned ? ", pinned" : "");
			if (bk->label[0])
				printf("    label: %s\n", bk->label);
			if (bk->problem[0])
				printf("    ! %s\n", bk->problem);
		}
	}
	printf("\n");
	if (inv->ntls == 0)
		printf("WAL: none archived\n");
	for (size_t i = 0; i < inv->ntls; i++)
	{
		const inv_timeline *tl = &inv->tls[i];
		char		a[48], b[48];

		printf("timeline %u", tl->tli);
		if (tl->parent)
		{
			lsn_format(tl->switch_lsn, a, sizeof(a));
			printf(" (from timeline %u at %s)", tl->parent, a);
		}
		if (tl->problem[0])
			printf(" ! %s", tl->problem);
		if (tl->nranges == 0)
		{
			printf(": no segments\n");
			continue;
		}
		segname(inv, tl->tli, tl->ranges[0].first, a, sizeof(a));
		segname(inv, tl->tli, tl->ranges[tl->nranges - 1].last, b, sizeof(b));
		printf(": %s to %s, %" PRIu64 " segment%s, %zu gap%s\n", a, b, tl->segments, tl->segments == 1 ? "" : "s",
			   tl->nranges - 1, tl->nranges == 2 ? "" : "s");
		for (size_t k = 1; k < tl->nranges; k++)
		{
			segname(inv, tl->tli, tl->ranges[k - 1].last + 1, a, sizeof(a));
			segname(inv, tl->tli, tl->ranges[k].first - 1, b, sizeof(b));
			printf("    ! missing %s to %s\n", a, b);
		}
	}
	if (inv->earliest < 0)
		printf("\nrestorable window: none (no backup with all of its WAL)\n");
	else
	{
		char		a[40], b[40];

		iso8601_from_unix(inv->earliest, a, sizeof(a));
		iso8601_from_unix(inv->latest, b, sizeof(b));
		printf("\nrestorable window: %s to %s (the end: when the newest reachable segment was archived)\n", a, b);
	}
}

int
main(int argc, char **argv)
{
	static const struct option extra[] = {
		{"json", no_argument, NULL, 1100},
		{NULL, 0, NULL, 0}
	};
	prog		p = {
		.name = "repo-list",
		.kind = PROG_PLAIN,
		.usage = "",
		.help = "List the repository's backups (oldest first), the archived WAL of each\n"
		"timeline with its gaps, the window a point-in-time restore can reach, and\n"
		"the logical dumps (dump-push).\n"
		"\nOptions:\n"
		"      --json            print it as JSON on stdout (schema in the README)",
	};
	pgark_err	err;
	repo	   *r;
	repo_inventory inv;
	dump_list	dumps = {NULL, 0};
	int			rc;
	char		where[1200];

	err_clear(&err);
	if ((rc = prog_start(&p, argc, argv, extra, "", opt)) >= 0)
		return rc;
	if (p.argc != 0)
		return prog_usage_error(&p, "unexpected argument \"%s\"", p.argv[0]);
	if ((rc = prog_load_config(&p, &err)) >= 0)
		return rc;
	if ((r = repo_open(&p.cfg, &err)) == NULL)
		return prog_fail(&p, &err);
	if (repo_inventory_read(r, &inv, &err) != 0)
	{
		repo_close(r);
		return prog_fail(&p, &err);
	}
	config_repo_where(&p.cfg, where, sizeof(where));
	if (dump_list_read(r, 1, &dumps, &err) != 0)
	{
		repo_inventory_free(&inv);
		repo_close(r);
		return prog_fail(&p, &err);
	}
	if (opt_json)
	{
		print_json(&inv);
		dumps_json(&dumps);
		printf("}\n");
	}
	else
	{
		print_table(&inv, where);
		dumps_table(&dumps);
	}
	dump_list_free(&dumps);
	repo_inventory_free(&inv);
	repo_close(r);
	return fflush(stdout) == 0 ? prog_success(&p) : 1;
}
