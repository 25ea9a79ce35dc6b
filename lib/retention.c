/*
 * retention.c — see retention.h.
 */
#include "retention.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

enum
{
	P_DAY, P_WEEK, P_MONTH, P_YEAR, NPERIODS
};

static const char *const period_name[NPERIODS] = {"daily", "weekly", "monthly", "yearly"};

/* The period of t as text: 2026-11-27, 2026-W48 (ISO), 2026-11, 2026. */
static void
period_of(int64_t t, int which, char *out, size_t outlen)
{
	time_t		tt = (time_t) t;
	struct tm	tm;
	size_t		len = 0;

	if (gmtime_r(&tt, &tm) != NULL)
		switch (which)
		{
			case P_DAY:
				len = strftime(out, outlen, "%Y-%m-%d", &tm);
				break;
			case P_WEEK:
				len = strftime(out, outlen, "%G-W%V", &tm);
				break;
			case P_MONTH:
				len = strftime(out, outlen, "%Y-%m", &tm);
				break;
			default:
				len = strftime(out, outlen, "%Y", &tm);
				break;
		}
	if (len == 0)
		snprintf(out, outlen, "?");
}

static void
add_why(ret_backup *b, const char *text)
{
	size_t		len = strlen(b->why);

	snprintf(b->why + len, sizeof(b->why) - len, "%s%s", len ? ", " : "", text);
}

int
ret_policy_set(const ret_policy *p)
{
	return p->keep_last > 0 || p->keep_daily > 0 || p->keep_weekly > 0 || p->keep_monthly > 0 ||
		p->keep_yearly > 0 || p->keep_within > 0 || p->pitr_window > 0;
}

void
retention_select(const ret_policy *p, ret_backup *b, size_t n, int64_t now, size_t *wal_from)
{
	const int	counts[NPERIODS] = {p->keep_daily, p->keep_weekly, p->keep_monthly, p->keep_yearly};
	int			taken[NPERIODS] = {0, 0, 0, 0};
	char		last[NPERIODS][16];
	int			nlast = 0;
	size_t		newest_usable = n;
	size_t		pitr = n;

	memset(last, 0, sizeof(last));
	for (size_t i = 0; i < n; i++)
	{
		b[i].keep = 0;
		b[i].by_rule = 0;
		b[i].why[0] = '\0';
	}

	/* newest first: the first backup met in a period is its newest */
	for (size_t k = n; k > 0; k--)
	{
		ret_backup *x = &b[k - 1];

		if (x->pinned)
		{
			x->keep = 1;
			add_why(x, "pinned");
		}
		if (x->state == RET_UNREADABLE)
		{
			x->keep = 1;
			add_why(x, "unreadable: what it references is unknown");
			continue;
		}
		if (x->state != RET_USABLE)
			continue;
		if (newest_usable == n)
		{
			newest_usable = k - 1;
			x->keep = x->by_rule = 1;
			add_why(x, "the newest usable backup");
		}
		if (nlast < p->keep_last)
		{
			nlast++;
			x->keep = x->by_rule = 1;
			{
				char		what[32];

				snprintf(what, sizeof(what), "keep_last %d", nlast);
				add_why(x, what);
			}
		}
		for (int w = 0; w < NPERIODS; w++)
		{
			char		per[16];

			if (taken[w] >= counts[w])
				continue;
			period_of(x->start_time, w, per, sizeof(per));
			if (strcmp(per, last[w]) == 0)
				continue;		/* a newer backup of this period was taken */
			snprintf(last[w], sizeof(last[w]), "%s", per);
			taken[w]++;
			x->keep = x->by_rule = 1;
			{
				char		what[48];

				snprintf(what, sizeof(what), "keep_%s %s", period_name[w], per);
				add_why(x, what);
			}
		}
		if (p->keep_within > 0 && x->start_time >= now - p->keep_within)
		{
			x->keep = x->by_rule = 1;
			add_why(x, "keep_within");
		}
	}

	/* pitr_window: the newest usable backup that stopped at or before
	 * now - window, else the oldest usable one */
	if (p->pitr_window > 0)
	{
		for (size_t i = 0; i < n; i++)
			if (b[i].state == RET_USABLE)
			{
				if (b[i].stop_time <= now - p->pitr_window || pitr == n)
					pitr = i;
				else
					break;
			}
		if (pitr < n)
		{
			b[pitr].keep = b[pitr].by_rule = 1;
			add_why(&b[pitr], "pitr_window starts from it");
		}
	}

	/* a backup whose WAL is missing goes only once a newer usable one exists */
	for (size_t i = 0; i < n; i++)
		if (b[i].state == RET_WAL_MISSING && (newest_usable == n || i > newest_usable))
		{
			b[i].keep = 1;
			add_why(&b[i], "WAL missing, but no newer usable backup exists");
		}

	for (size_t i = 0; i < n; i++)
		if (!b[i].keep)
			snprintf(b[i].why, sizeof(b[i].why), "%s",
					 b[i].state == RET_WAL_MISSING ? "its WAL is missing (it cannot be restored) and a newer "
					 "usable backup exists" : "no rule keeps it");

	*wal_from = pitr;
	if (p->pitr_window <= 0)
		for (size_t i = 0; i < n; i++)
			if (b[i].by_rule && b[i].state == RET_USABLE)
			{
				*wal_from = i;
				break;
			}
}
