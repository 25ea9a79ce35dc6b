/*
 * repo-verify — check that backups restore: every chunk of a backup read,
 * decrypted and checked against its id; the WAL from each checked backup's
 * start to the newest archived segment present (following timeline
 * switches), and with --wal decrypted and checked too. Every problem names
 * the backup, file, pack or segment. Exit 0: all checked and sound; 1: a
 * problem found, or verification could not be completed. The result is
 * recorded in the repository as status/verify, for repo-check.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dump.h"
#include "inventory.h"
#include "prog.h"
#include "repo.h"
#include "status.h"
#include "util.h"
#include "verify.h"

static const char *opt_backup;
static int	opt_all, opt_wal, opt_json;

static int
opt(prog *p, int c, const char *arg)
{
	switch (c)
	{
		case 'b':
			opt_backup = arg;
			break;
		case 1100:
			opt_all = 1;
			break;
		case 1101:
			opt_wal = 1;
			break;
		case 1102:
			opt_json = 1;
			break;
		default:
			return prog_usage_error(p, "unknown option");
	}
	return -1;
}

/* the problems of one section, kept for --json and counted */
typedef struct problems
{
	char	  **msg;
	size_t		n, cap;
} problems;

static void
on_problem(void *arg, const char *what)
{
	problems   *ps = arg;

	if (!opt_json)
		printf("    ! %s\n", what);
	log_debug("%s", what);
	if (ps->n == ps->cap)
	{
		size_t		cap = ps->cap ? ps->cap * 2 : 16;
		char	  **m = realloc(ps->msg, cap * sizeof(*m));

		if (m == NULL)
			return;				/* counted by the caller all the same */
		ps->msg = m;
		ps->cap = cap;
	}
	if ((ps->msg[ps->n] = strdup(what)) != NULL)
		ps->n++;
}

static void
problems_json(const problems *ps)
{
	printf("[");
	for (size_t i = 0; i < ps->n; i++)
	{
		char		esc[2048 * 6];

		json_escape(ps->msg[i], esc, sizeof(esc));
		printf("%s\"%s\"", i ? "," : "", esc);
	}
	printf("]");
}

/* status/verify for repo-check; a failure to record it is only a warning
 * (repo-check then finds the previous record too old) */
/*
 * The backups found damaged and not checked sound since: the previous
 * record's (those still in the repository and not checked by this run) and
 * this run's. A run that checks only the newest backup must not clear what
 * an --all run found in an older one.
 */
static char damaged_now[1024];	/* this run's, space-separated */
static char damaged_all[1024];
/* dumps ("dumps/<dir>/<id>" in the lists): what dumps/ holds, which were checked */
static dump_list dumps;
static char *dump_checked;
static int	ndumps_checked;

static int
id_in(const char *list, const char *id)
{
	size_t		n = strlen(id);

	for (const char *p = list; (p = strstr(p, id)) != NULL; p += n)
		if ((p == list || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0'))
			return 1;
	return 0;
}

static void
id_add(char *list, size_t len, const char *id)
{
	size_t		used = strlen(list);

	if (!id_in(list, id) && used + strlen(id) + 2 < len)
		snprintf(list + used, len - used, "%s%s", used ? " " : "", id);
}

static void
carry_damage(repo *r, const repo_inventory *inv, const char *const *checked, size_t nchecked_ids)
{
	status_rec	prev;
	pgark_err	err;
	char		buf[sizeof(prev.damaged)], *save = NULL;

	snprintf(damaged_all, sizeof(damaged_all), "%s", damaged_now);
	err_clear(&err);
	if (status_read(r, "verify", &prev, &err) != 0)
		return;
	snprintf(buf, sizeof(buf), "%s", prev.damaged);
	for (char *id = strtok_r(buf, " ", &save); id; id = strtok_r(NULL, " ", &save))
	{
		int			exists = 0, rechecked = 0;

		for (size_t i = 0; i < inv->nbackups; i++)
			exists |= strcmp(inv->backups[i].id, id) == 0;
		for (size_t i = 0; i < nchecked_ids; i++)
			rechecked |= strcmp(checked[i], id) == 0;
		for (size_t i = 0; i < dumps.n; i++)
		{
			char		name[512];

			snprintf(name, sizeof(name), "%s%s/%s", DUMP_PREFIX, dumps.e[i].dir, dumps.e[i].id);
			if (strcmp(name, id) == 0 && dumps.e[i].has_meta)
			{
				exists = 1;
				rechecked |= dump_checked && dump_checked[i];
			}
		}
		if (exists && !rechecked)
			id_add(damaged_all, sizeof(damaged_all), id);
	}
}

static void
record(repo *r, const char *result, int nchecked, int64_t nproblems, const char *detail)
{
	status_rec	rec;
	pgark_err	err;

	memset(&rec, 0, sizeof(rec));
	snprintf(rec.damaged, sizeof(rec.damaged), "%s", damaged_all);
	rec.time = (int64_t) time(NULL);
	snprintf(rec.result, sizeof(rec.result), "%s", result);
	snprintf(rec.checked, sizeof(rec.checked), "backups=%d scope=%s wal=%s dumps=%d", nchecked,
			 opt_all ? "all" : opt_backup ? "one" : "newest", opt_wal ? "decrypted" : "present", ndumps_checked);
	rec.problems = nproblems;
	snprintf(rec.detail, sizeof(rec.detail), "%s", detail ? detail : "");
	if (status_write(r, "verify", &rec, &err) != 0)
		log_warning("%s", err.msg);
}

static void
problems_free(problems *ps)
{
	for (size_t i = 0; i < ps->n; i++)
		free(ps->msg[i]);
	free(ps->msg);
	memset(ps, 0, sizeof(*ps));
}

int
main(int argc, char **argv)
{
	static const struct option extra[] = {
		{"backup", required_argument, NULL, 'b'},
		{"all", no_argument, NULL, 1100},
		{"wal", no_argument, NULL, 1101},
		{"json", no_argument, NULL, 1102},
		{NULL, 0, NULL, 0}
	};
	prog		p = {
		.name = "repo-verify",
		.kind = PROG_PLAIN,
		.usage = "",
		.help = "Check that backups restore: every chunk of the backup read, decrypted and\n"
		"checked; the WAL from its start to the newest archived segment present,\n"
		"across timeline switches. Without --backup or --all: the newest backup.\n"
		"Logical dumps too (unless --backup): every frame, the sizes and the SHA-256\n"
		"of the newest dump of each database and kind (--all: of every dump).\n"
		"\nOptions:\n"
		"  -b, --backup ID       check this backup\n"
		"      --all             check every backup and every dump\n"
		"      --wal             also decrypt and check every WAL segment needed\n"
		"      --json            print the result as JSON on stdout (schema in the README)",
	};
	pgark_err	err;
	repo	   *r;
	repo_inventory inv;
	int			rc, failed = 0, nchecked = 0, ndamaged = 0;
	const char **checked_ids = NULL;
	int64_t		nproblems = 0;
	char		first_problem[700] = "";

	err_clear(&err);
	if ((rc = prog_start(&p, argc, argv, extra, "b:", opt)) >= 0)
		return rc;
	if (p.argc != 0)
		return prog_usage_error(&p, "unexpected argument \"%s\"", p.argv[0]);
	if (opt_all && opt_backup)
		return prog_usage_error(&p, "--all and --backup exclude each other");
	if ((rc = prog_load_config(&p, &err)) >= 0)
		return rc;
	if ((r = repo_open(&p.cfg, &err)) == NULL)
		return prog_fail(&p, &err);
	if (repo_inventory_read(r, &inv, &err) != 0)
	{
		repo_close(r);
		return prog_fail(&p, &err);
	}
	if (opt_backup)
	{
		int			found = 0;

		for (size_t i = 0; i < inv.nbackups; i++)
			found |= strcmp(inv.backups[i].id, opt_backup) == 0;
		if (!found)
		{
			err_set(&err, PGARK_ERR_NOTFOUND, 0, "no backup %s in the repository", opt_backup);
			repo_inventory_free(&inv);
			repo_close(r);
			return prog_fail(&p, &err);
		}
	}
	/* with --backup the dumps are not checked, but their names are needed:
	 * the damage recorded of those still there is carried over */
	if (dump_list_read(r, !opt_backup, &dumps, &err) != 0)
	{
		repo_inventory_free(&inv);
		repo_close(r);
		return prog_fail(&p, &err);
	}
	if (inv.nbackups == 0 && dumps.n == 0)
	{
		err_set(&err, PGARK_ERR_NOTFOUND, 0, "the repository holds no backup to verify");
		repo_inventory_free(&inv);
		repo_close(r);
		return prog_fail(&p, &err);
	}
	if ((checked_ids = calloc(inv.nbackups + 1, sizeof(*checked_ids))) == NULL)
	{
		err_set(&err, PGARK_ERR_INTERNAL, 0, "out of memory");
		repo_inventory_free(&inv);
		repo_close(r);
		return prog_fail(&p, &err);
	}
	if (opt_json)
		printf("{\"backups\":[");
	for (size_t i = 0; i < inv.nbackups; i++)
	{
		const inv_backup *b = &inv.backups[i];
		verify_counts bc, wc;
		problems	bp = {0}, wp = {0};
		char		to[48] = "", mib[32];

		if (opt_backup ? strcmp(b->id, opt_backup) != 0 : !opt_all && i + 1 != inv.nbackups)
			continue;
		memset(&bc, 0, sizeof(bc));
		memset(&wc, 0, sizeof(wc));
		if (!opt_json)
			printf("backup %s\n", b->id);
		if (verify_backup(r, b->id, &bc, on_problem, &bp, &err) != 0 ||
			(b->status != INV_UNREADABLE &&
			 verify_wal(r, &inv, b, opt_wal, to, sizeof(to), &wc, on_problem, &wp, &err) != 0))
		{
			if (opt_json)
				printf("]}\n");
			problems_free(&bp);
			problems_free(&wp);
			prog_audit(&p, "verify", b->id, err_kind_name(err.kind), err.msg, 0, 0);
			carry_damage(r, &inv, checked_ids, (size_t) nchecked);
			record(r, damaged_all[0] ? "damaged" : "incomplete", nchecked, nproblems, err.msg);
			free(checked_ids);
			/* (b lives in inv: the message first) */
			err_prefix(&err, "verification of backup %s could not be completed", b->id);
			repo_inventory_free(&inv);
			repo_close(r);
			return prog_fail(&p, &err);
		}
		human_bytes(bc.bytes, mib, sizeof(mib));
		if (opt_json)
		{
			char		id[sizeof(b->id) * 6], from[sizeof(b->start_wal) * 6];

			json_escape(b->id, id, sizeof(id));
			json_escape(b->start_wal, from, sizeof(from));
			printf("%s{\"id\":\"%s\",\"status\":\"%s\",\"files\":%" PRIu64 ",\"chunks\":%" PRIu64
				   ",\"bytes\":%" PRIu64 ",\"problems\":", nchecked ? "," : "", id,
				   bc.problems ? "damaged" : "ok", bc.files, bc.chunks, bc.bytes);
			problems_json(&bp);
			/* the WAL of a backup whose manifest cannot be read is not
			 * checked: "unchecked", never "ok" */
			printf(",\"wal\":{\"from\":\"%s\",\"to\":\"%s\",\"segments\":%" PRIu64 ",\"decrypted\":%s,"
				   "\"status\":\"%s\",\"problems\":", from, to, wc.segments, opt_wal ? "true" : "false",
				   b->status == INV_UNREADABLE ? "unchecked" : wc.problems ? "damaged" : "ok");
			problems_json(&wp);
			printf("}}");
		}
		else
		{
			printf("  data: %s (%" PRIu64 " files, %" PRIu64 " chunks, %s checked)\n",
				   bc.problems ? "DAMAGED" : "ok", bc.files, bc.chunks, mib);
			if (b->status != INV_UNREADABLE)
				printf("  WAL %s to %s: %s (%" PRIu64 " segments%s)\n", b->start_wal, to[0] ? to : "-",
					   wc.problems ? "NOT RESTORABLE" : "ok", wc.segments, opt_wal ? ", each decrypted and checked" : " present");
		}
		prog_audit(&p, "verify", b->id, bc.problems || wc.problems ? "corrupt" : "ok",
				   bp.n ? bp.msg[0] : wp.n ? wp.msg[0] : NULL, bc.bytes, 0);
		if (bc.problems || wc.problems)
		{
			ndamaged++;
			id_add(damaged_now, sizeof(damaged_now), b->id);
		}
		checked_ids[nchecked] = b->id;
		failed |= bc.problems || wc.problems;
		nproblems += (int64_t) (bc.problems + wc.problems);
		if (first_problem[0] == '\0' && (bc.problems || wc.problems))
			snprintf(first_problem, sizeof(first_problem), "backup %s: %s", b->id,
					 bp.n ? bp.msg[0] : wp.n ? wp.msg[0] : "damaged");
		nchecked++;
		problems_free(&bp);
		problems_free(&wp);
	}
	if (!opt_backup)
	{
		int			bad = 0;

		if ((dump_checked = calloc(dumps.n + 1, 1)) == NULL)
		{
			err_set(&err, PGARK_ERR_INTERNAL, 0, "out of memory");
			goto incomplete;
		}
		if (opt_json)
			printf("],\"dumps\":[");
		for (size_t i = 0; i < dumps.n; i++)
		{
			const dump_entry *e = &dumps.e[i];
			char		name[512];
			const char *problem = NULL;

			/* data without metadata is not a dump (repo-expire removes it) */
			if (!e->has_meta || (e->meta_ok && !opt_all && !dump_list_is_newest(&dumps, i)))
				continue;
			snprintf(name, sizeof(name), "%s%s/%s", DUMP_PREFIX, e->dir, e->id);
			if (!e->meta_ok)
				problem = e->problem;
			else if (dump_read(r, &e->meta, NULL, NULL, &err) != 0)
			{
				if (err.kind != PGARK_ERR_CORRUPT && err.kind != PGARK_ERR_MISMATCH && err.kind != PGARK_ERR_KEY)
				{
					if (opt_json)
						printf("]");
					err_prefix(&err, "verification of dump %s could not be completed", name);
					goto incomplete;
				}
				problem = err.msg;
			}
			dump_checked[i] = 1;
			ndumps_checked++;
			prog_audit(&p, "verify", name, problem ? "corrupt" : "ok", problem, e->meta.plain_bytes, 0);
			if (opt_json)
			{
				char		n[sizeof(name) * 6], pr[sizeof(err.msg) * 6];

				json_escape(name, n, sizeof(n));
				json_escape(problem ? problem : "", pr, sizeof(pr));
				printf("%s{\"dump\":\"%s\",\"status\":\"%s\",\"problem\":\"%s\"}", ndumps_checked > 1 ? "," : "",
					   n, problem ? "damaged" : "ok", pr);
			}
			else if (problem)
				printf("    ! dump %s: %s\n", name, problem);
			if (problem)
			{
				bad++;
				failed = 1;
				nproblems++;
				id_add(damaged_now, sizeof(damaged_now), name);
				if (first_problem[0] == '\0')
					snprintf(first_problem, sizeof(first_problem), "dump %.150s: %.500s", name, problem);
			}
		}
		if (!opt_json)
			printf("dumps: %d checked (%s), %d damaged\n", ndumps_checked, opt_all ? "all" : "the newest of each database and kind", bad);
	}
	carry_damage(r, &inv, checked_ids, (size_t) nchecked);
	if (!failed && damaged_all[0])
		snprintf(first_problem, sizeof(first_problem), "not checked since it was found damaged: backup %.600s",
				 damaged_all);
	record(r, failed || damaged_all[0] ? "damaged" : "ok", nchecked, nproblems, first_problem);
	if (opt_json)
		printf("],\"status\":\"%s\"}\n", failed ? "damaged" : "ok");
	else
		printf("%s\n", failed ? "repo-verify: PROBLEMS FOUND (above)" : "repo-verify: ok");
	repo_inventory_free(&inv);
	dump_list_free(&dumps);
	free(dump_checked);
	repo_close(r);
	if (failed)
	{
		char		summary[900];

		snprintf(summary, sizeof(summary), "damage found in %d of %d backup%s and %d dump%s checked; first: %s",
				 ndamaged, nchecked, nchecked == 1 ? "" : "s", ndumps_checked, ndumps_checked == 1 ? "" : "s",
				 first_problem);
		prog_alert(&p, 1, summary);
	}
	else if (damaged_all[0])
		prog_alert(&p, 1, first_problem);	/* the damage found before is not over */
	else
		prog_alert(&p, 0, NULL);
	free(checked_ids);
	if (fflush(stdout) != 0)
		return 1;
	return failed ? 1 : 0;

incomplete:
	if (opt_json)
		printf("}\n");
	prog_audit(&p, "verify", "dumps/", err_kind_name(err.kind), err.msg, 0, 0);
	carry_damage(r, &inv, checked_ids, (size_t) nchecked);
	record(r, damaged_all[0] ? "damaged" : "incomplete", nchecked, nproblems, err.msg);
	free(checked_ids);
	free(dump_checked);
	dump_list_free(&dumps);
	repo_inventory_free(&inv);
	repo_close(r);
	return prog_fail(&p, &err);
}
