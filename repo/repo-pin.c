/*
 * repo-pin ID [--reason TEXT] / repo-unpin ID — keep a backup whatever the
 * retention policy says (repo-expire never removes a pinned backup or what
 * it needs), or let it go again. A pin is the object base/<id>/pin
 * (FORMAT.md); repo-list shows it. Built twice: the program's name decides.
 */
#include <stdio.h>
#include <string.h>

#include "manifest.h"
#include "prog.h"
#include "repo.h"
#include "store.h"
#include "util.h"

static const char *opt_reason;

static int
opt(prog *p, int c, const char *arg)
{
	if (c == 'r')
		opt_reason = arg;
	else
		return prog_usage_error(p, "unknown option");
	return -1;
}

int
main(int argc, char **argv)
{
	static const struct option extra[] = {
		{"reason", required_argument, NULL, 'r'},
		{NULL, 0, NULL, 0}
	};
	int			pin = strcmp(path_basename(argv[0]), "repo-unpin") != 0;
	prog		p = {
		.name = pin ? "repo-pin" : "repo-unpin",
		.kind = PROG_PLAIN,
		.usage = "BACKUP-ID",
		.help = pin ? "Pin a backup: repo-expire never removes it, nor what it needs.\n"
		"\nOptions:\n"
		"  -r, --reason TEXT     why (kept with the pin)"
		: "Unpin a backup: the retention policy applies to it again.",
	};
	pgark_err	err;
	repo	   *r;
	char		obj[160], man[160];
	store_stat	st;
	int			rc;
	const char *id;

	err_clear(&err);
	if ((rc = prog_start(&p, argc, argv, extra, pin ? "r:" : "", opt)) >= 0)
		return rc;
	if (p.argc != 1)
		return prog_usage_error(&p, "expected one backup id");
	id = p.argv[0];
	/* base-push's ids: letters, digits, '-', '_' and '.' (never first) */
	if (strlen(id) >= 64 || id[0] == '.' || id[0] == '\0' ||
		strspn(id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.") != strlen(id))
		return prog_usage_error(&p, "\"%s\" is not a backup id", id);
	if ((rc = prog_load_config(&p, &err)) >= 0)
		return rc;
	if ((r = repo_open(&p.cfg, &err)) == NULL)
		return prog_fail(&p, &err);
	snprintf(man, sizeof(man), "base/%s/manifest", id);
	snprintf(obj, sizeof(obj), "base/%s/pin", id);
	if (store_head(r->st, man, &st, &err) != 0)
	{
		if (err.kind == PGARK_ERR_NOTFOUND)
			err_set(&err, PGARK_ERR_NOTFOUND, 0, "no backup %s in the repository", id);
		rc = prog_fail(&p, &err);
	}
	else if (pin)
	{
		char		text[1200], now[40], reason[1001];

		/* one line: control characters become spaces */
		snprintf(reason, sizeof(reason), "%s", opt_reason ? opt_reason : "");
		for (char *c = reason; *c; c++)
			if ((unsigned char) *c < 0x20 || *c == 0x7f)
				*c = ' ';
		iso8601_now(now, sizeof(now));
		snprintf(text, sizeof(text), "pgark-pin 1\ntime %s\nreason %s\n", now, reason);
		if (repo_put_object(r, obj, text, strlen(text), STORE_NO_OVERWRITE, &err) != 0 &&
			err.kind != PGARK_ERR_EXISTS)
			rc = prog_fail(&p, &err);
		else if (store_head(r->st, man, &st, &err) != 0)
		{
			/* a repo-expire removed it between our look and the pin */
			pgark_err	e2;

			err_clear(&e2);
			(void) store_remove(r->st, obj, &e2);
			if (err.kind == PGARK_ERR_NOTFOUND)
				err_set(&err, PGARK_ERR_NOTFOUND, 0, "backup %s was removed (by repo-expire) while it was "
						"being pinned: it is not pinned", id);
			rc = prog_fail(&p, &err);
		}
		else
		{
			log_info(err.kind == PGARK_ERR_EXISTS ? "backup %s was already pinned (its pin keeps its first reason)"
					 : "pinned backup %s", id);
			prog_audit(&p, "pin", id, "ok", reason, 0, 0);
			rc = 0;
		}
	}
	else
	{
		if (store_remove(r->st, obj, &err) != 0 && err.kind != PGARK_ERR_NOTFOUND)
			rc = prog_fail(&p, &err);
		else
		{
			log_info(err.kind == PGARK_ERR_NOTFOUND ? "backup %s was not pinned" : "unpinned backup %s", id);
			prog_audit(&p, "unpin", id, "ok", NULL, 0, 0);
			rc = 0;
		}
	}
	repo_close(r);
	if (rc == 0)
		prog_success(&p);
	return rc;
}
