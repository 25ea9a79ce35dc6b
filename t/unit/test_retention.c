/*
 * test_retention.c — retention_select on backup sets with synthetic dates: a
 * table of cases, each a list of backups (start times in UTC, oldest first;
 * a mark for WAL missing, unreadable or pinned), a policy, "now", and which
 * backups must be kept (a string of 0/1, oldest first) and where the WAL
 * that is kept whole starts.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "retention.h"
#include "tap.h"

#define MAXB 64

typedef struct rcase
{
	const char *name;
	const char *backups;		/* "2026-11-27T02:00 ..." each optionally followed by !m, !u or !p */
	ret_policy	policy;
	const char *now;
	const char *keep;			/* '1' kept, '0' expired, oldest first */
	int			wal_from;		/* index, -1 = none */
} rcase;

static int64_t
parse_time(const char *s)
{
	struct tm	tm;

	memset(&tm, 0, sizeof(tm));
	if (sscanf(s, "%4d-%2d-%2dT%2d:%2d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min) != 5)
		return -1;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	return (int64_t) timegm(&tm);
}

#define D (INT64_C(86400))

static const rcase cases[] = {
	{"keep_daily 3 of ten daily backups",
		"2026-11-18T02:00 2026-11-19T02:00 2026-11-20T02:00 2026-11-21T02:00 2026-11-22T02:00 "
		"2026-11-23T02:00 2026-11-24T02:00 2026-11-25T02:00 2026-11-26T02:00 2026-11-27T02:00",
	{0, 3, 0, 0, 0, 0, 0}, "2026-11-27T12:00", "0000000111", 7},
	{"keep_daily 2 with two backups a day keeps the later of each day",
		"2026-11-25T02:00 2026-11-25T14:00 2026-11-26T02:00 2026-11-26T14:00 2026-11-27T02:00 2026-11-27T14:00",
	{0, 2, 0, 0, 0, 0, 0}, "2026-11-27T15:00", "000101", 3},
	{"keep_last 2 and keep_daily 2 overlap",
		"2026-11-25T02:00 2026-11-25T14:00 2026-11-26T02:00 2026-11-26T14:00 2026-11-27T02:00 2026-11-27T14:00",
	{2, 2, 0, 0, 0, 0, 0}, "2026-11-27T15:00", "000111", 3},
	{"keep_weekly 2: the newest of each of the last two ISO weeks (Monday starts a week)",
		"2026-11-08T02:00 2026-11-09T02:00 2026-11-15T02:00 2026-11-16T02:00 2026-11-22T02:00 "
		"2026-11-23T02:00 2026-11-25T02:00",
	{0, 0, 2, 0, 0, 0, 0}, "2026-11-26T00:00", "0000101", 4},
	{"keep_monthly 3 and keep_yearly 2 across a new year",
		"2024-12-31T23:00 2025-11-15T02:00 2025-11-30T02:00 2025-12-01T02:00 2025-12-31T23:59 "
		"2026-01-01T00:01 2026-01-20T02:00",
	{0, 0, 0, 3, 2, 0, 0}, "2026-01-21T00:00", "0010101", 2},
	{"a pause in backups does not expire what came before it",
		"2026-10-01T02:00 2026-10-02T02:00 2026-10-03T02:00 2026-10-04T02:00",
	{0, 3, 0, 0, 0, 7 * D, 0}, "2026-11-27T00:00", "0111", 1},
	{"keep_within 3d",
		"2026-11-20T02:00 2026-11-23T02:00 2026-11-24T01:00 2026-11-24T03:00 2026-11-26T02:00",
	{0, 0, 0, 0, 0, 3 * D, 0}, "2026-11-27T02:00", "00011", 3},
	{"no rule: only the newest usable backup",
		"2026-11-25T02:00 2026-11-26T02:00 2026-11-27T02:00",
	{0, 0, 0, 0, 0, 0, 0}, "2026-11-27T03:00", "001", 2},
	{"a backup whose WAL is missing is not counted, and goes once a newer usable one exists",
		"2026-11-24T02:00 2026-11-25T02:00!m 2026-11-26T02:00 2026-11-27T02:00!m",
	{2, 0, 0, 0, 0, 0, 0}, "2026-11-27T03:00", "1011", 0},
	{"an unreadable backup is always kept",
		"2026-11-24T02:00!u 2026-11-25T02:00 2026-11-26T02:00",
	{1, 0, 0, 0, 0, 0, 0}, "2026-11-27T03:00", "101", 2},
	{"a pinned backup is kept and not counted; WAL after it is not kept for it",
		"2026-01-05T02:00!p 2026-11-25T02:00 2026-11-26T02:00 2026-11-27T02:00",
	{2, 0, 0, 0, 0, 0, 0}, "2026-11-27T03:00", "1011", 2},
	{"a pinned backup newer than the oldest a rule keeps rolls forward with it",
		"2026-11-24T02:00 2026-11-25T02:00!p 2026-11-26T02:00 2026-11-27T02:00",
	{0, 0, 0, 0, 0, 4 * D, 0}, "2026-11-27T03:00", "1111", 0},
	{"pitr_window 2d keeps the newest backup that stopped before its start, and WAL from it",
		"2026-11-22T02:00 2026-11-23T02:00 2026-11-24T02:00 2026-11-25T02:00 2026-11-26T02:00 2026-11-27T02:00",
	{1, 0, 0, 0, 0, 0, 2 * D}, "2026-11-27T12:00", "000101", 3},
	{"pitr_window with monthly backups: WAL from the window's backup, older ones kept for themselves",
		"2026-09-01T02:00 2026-10-01T02:00 2026-11-01T02:00 2026-11-20T02:00 2026-11-26T02:00 2026-11-27T02:00",
	{2, 0, 0, 3, 0, 0, 7 * D}, "2026-11-27T12:00", "110111", 3},
	{"pitr_window longer than the history keeps the oldest usable backup",
		"2026-11-25T02:00!m 2026-11-26T02:00 2026-11-27T02:00",
	{1, 0, 0, 0, 0, 0, 30 * D}, "2026-11-27T12:00", "011", 1},
	{"without pitr_window, WAL is kept from the oldest kept backup",
		"2026-09-01T02:00 2026-10-01T02:00 2026-11-01T02:00 2026-11-27T02:00",
	{1, 0, 0, 2, 0, 0, 0}, "2026-11-27T12:00", "0101", 1},
	{"no usable backup at all: everything kept, no WAL anchor",
		"2026-11-25T02:00!m 2026-11-26T02:00!u",
	{1, 0, 0, 0, 0, 0, 0}, "2026-11-27T12:00", "11", -1},
};

static void
run_case(const rcase *c)
{
	ret_backup	b[MAXB];
	size_t		n = 0;
	char		buf[2048];
	char		got[MAXB + 1];
	size_t		wal_from;
	char	   *save = NULL;

	memset(b, 0, sizeof(b));
	snprintf(buf, sizeof(buf), "%s", c->backups);
	for (char *tok = strtok_r(buf, " ", &save); tok && n < MAXB; tok = strtok_r(NULL, " ", &save))
	{
		char	   *mark = strchr(tok, '!');

		b[n].start_time = parse_time(tok);
		b[n].stop_time = b[n].start_time + 600;
		b[n].state = RET_USABLE;
		if (mark && mark[1] == 'm')
			b[n].state = RET_WAL_MISSING;
		else if (mark && mark[1] == 'u')
			b[n].state = RET_UNREADABLE;
		else if (mark && mark[1] == 'p')
			b[n].pinned = 1;
		n++;
	}
	retention_select(&c->policy, b, n, parse_time(c->now), &wal_from);
	for (size_t i = 0; i < n; i++)
		got[i] = b[i].keep ? '1' : '0';
	got[n] = '\0';
	is_str(got, c->keep, "%s: kept", c->name);
	is_int(wal_from == n ? -1 : (int) wal_from, c->wal_from, "%s: WAL kept whole from", c->name);
	for (size_t i = 0; i < n; i++)
		if (b[i].why[0] == '\0')
			ok(0, "%s: backup %zu has a reason", c->name, i);
}

int
main(void)
{
	ret_policy	none = {0, 0, 0, 0, 0, 0, 0};
	ret_policy	some = {0, 0, 0, 0, 1, 0, 0};
	ret_backup	b[2];
	size_t		wf;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		run_case(&cases[i]);
	ok(!ret_policy_set(&none), "an empty policy is not set");
	ok(ret_policy_set(&some), "keep_yearly alone is a policy");

	/* the reasons name the rules */
	memset(b, 0, sizeof(b));
	b[0].start_time = parse_time("2026-11-26T02:00");
	b[1].start_time = parse_time("2026-11-27T02:00");
	{
		ret_policy	p = {0, 1, 1, 0, 0, 0, 0};

		retention_select(&p, b, 2, parse_time("2026-11-27T12:00"), &wf);
	}
	like(b[1].why, "keep_daily 2026-11-27", "reason names the day");
	like(b[1].why, "keep_weekly 2026-W48", "... and the ISO week");
	like(b[0].why, "no rule keeps it", "an expired backup says why");
	return done_testing();
}
