/*
 * test_status.c — status records (FORMAT.md section 7): a drill record's
 * text form byte for byte, its round trip, a verify record without the
 * drill keys, unknown keys ignored, and a record of another kind or
 * without its required keys refused; the damaged list: ids while they
 * fit, then "+N" counting every one that did not, carried and described.
 */
#include <stdio.h>
#include <string.h>

#include "status.h"
#include "tap.h"

int
main(void)
{
	status_rec	rec, back;
	pgark_err	err;
	char		text[4096];
	int			n;

	memset(&rec, 0, sizeof(rec));
	rec.time = 1795746600;		/* 2026-11-27T02:30:00Z */
	strcpy(rec.result, "failed");
	strcpy(rec.checked, "databases=3 amcheck=heap,btree");
	rec.problems = 2;
	strcpy(rec.detail, "pg_amcheck found 2 corruptions; heap table \"app.public.t\", block 0, offset 1:\nxmin");
	strcpy(rec.backup, "20261127T020000Z-abcd");
	rec.restore_seconds = 12.3456;
	rec.replay_seconds = 7.5;
	rec.wal_bytes = 123456789;
	n = status_format("drill", &rec, text, sizeof(text));
	is_str(text, "pgark-status 1\nkind drill\ntime 2026-11-27T02:30:00Z\nresult failed\n"
		   "checked databases=3 amcheck=heap,btree\nproblems 2\n"
		   "detail pg_amcheck found 2 corruptions; heap table \"app.public.t\", block 0, offset 1: xmin\n"
		   "backup 20261127T020000Z-abcd\nrestore_seconds 12.346\nreplay_seconds 7.500\nwal_bytes 123456789\n",
		   "a drill record, byte for byte (a newline in the detail made a space)");
	is_int(n, (int) strlen(text), "its length returned");
	err_clear(&err);
	is_int(status_parse(text, (size_t) n, "drill", &back, &err), 0, "parsed back");
	is_str(back.backup, rec.backup, "... the backup");
	ok(back.restore_seconds > 12.345 && back.restore_seconds < 12.347, "... restore_seconds");
	ok(back.replay_seconds == 7.5, "... replay_seconds");
	is_uint(back.wal_bytes, 123456789, "... wal_bytes");
	is_str(back.result, "failed", "... the result");
	ok(back.time == rec.time, "... the time");
	ok(status_format("drill", &rec, text, 200) < 0, "a buffer too small: -1");

	memset(&rec, 0, sizeof(rec));
	rec.time = 1795746600;
	strcpy(rec.result, "ok");
	n = status_format("verify", &rec, text, sizeof(text));
	ok(n > 0 && strstr(text, "backup ") == NULL && strstr(text, "wal_bytes") == NULL,
	   "a record without a backup has no drill keys");
	{
		const char *later = "pgark-status 1\nkind drill\ntime 2026-11-27T02:30:00Z\nresult ok\nnew_key 1\n"
			"backup b\n";

		is_int(status_parse(later, strlen(later), "drill", &back, &err), 0, "an unknown key ignored");
		is_str(back.backup, "b", "... the others read");
	}
	{
		const char *other = "pgark-status 1\nkind verify\ntime 2026-11-27T02:30:00Z\nresult ok\n";
		const char *partial = "pgark-status 1\nkind drill\nresult ok\n";

		is_int(status_parse(other, strlen(other), "drill", &back, &err), -1, "another kind refused");
		like(err.msg, "status/drill records \"verify\"", "... saying so");
		is_int(status_parse(partial, strlen(partial), "drill", &back, &err), -1, "no time: refused");
		like(err.msg, "incomplete", "... incomplete");
	}
	{
		char		list[sizeof(rec.damaged)], id[64], desc[sizeof(list) + 64], want[sizeof(list)];
		size_t		fit = 0;
		int			i;

		list[0] = '\0';
		status_damaged_add(list, sizeof(list), "20261127T020000Z-abcd");
		status_damaged_add(list, sizeof(list), "dumps/shop/20261127T020000Z-abcd");
		status_damaged_add(list, sizeof(list), "20261127T020000Z-abcd");
		is_str(list, "20261127T020000Z-abcd dumps/shop/20261127T020000Z-abcd", "two ids, the repeated one once");
		is_int(status_damaged_more(list), 0, "... no +N");
		ok(status_damaged_has(list, "dumps/shop/20261127T020000Z-abcd") && !status_damaged_has(list, "dumps/shop"),
		   "... a whole id found, a part of one not");
		/* 100 ids of 29 bytes: about 33 fit in 1023 bytes */
		list[0] = '\0';
		for (i = 0; i < 100; i++)
		{
			snprintf(id, sizeof(id), "dumps/db/20261127T0200%02dZ-abcd", i);
			status_damaged_add(list, sizeof(list), id);
			if (status_damaged_more(list) == 0)
				fit = (size_t) i + 1;
		}
		ok(fit > 30 && fit < 40, "100 ids of 29 bytes: %zu listed", fit);
		is_int(status_damaged_more(list), 100 - (long long) fit, "... and the token counts the others");
		ok(strlen(list) < sizeof(list) - 1, "... within the record's field (%zu bytes)", strlen(list));
		snprintf(want, sizeof(want), " +%d", 100 - (int) fit);
		ok(strlen(list) > strlen(want) && strcmp(list + strlen(list) - strlen(want), want) == 0,
		   "... the list ends with \"%s\"", want);
		status_damaged_add(list, sizeof(list), "dumps/db/20261127T020000Z-abcd");
		is_int(status_damaged_more(list), 100 - (long long) fit, "a listed id added again: not counted");
		ok(!status_damaged_has(list, "+67") && !status_damaged_has(list, want + 1), "the token is not an id");
		status_damaged_add_more(list, sizeof(list), 5);
		is_int(status_damaged_more(list), 105 - (long long) fit, "+5 carried over");
		status_damaged_describe(list, desc, sizeof(desc));
		snprintf(want, sizeof(want), "%d more not listed, besides dumps/db/", 105 - (int) fit);
		like(desc, want, "described for people: \"%s\"", want);
		ok(strstr(desc, "+") == NULL, "... without the raw token");

		/* the record round trip keeps it */
		memset(&rec, 0, sizeof(rec));
		rec.time = 1795746600;
		strcpy(rec.result, "damaged");
		snprintf(rec.damaged, sizeof(rec.damaged), "%s", list);
		n = status_format("verify", &rec, text, sizeof(text));
		ok(n > 0, "a record with a full list formatted");
		is_int(status_parse(text, (size_t) n, "verify", &back, &err), 0, "... parsed");
		is_str(back.damaged, list, "... the list and its token whole");

		/* only the token: every id dropped (none fits a tiny list) */
		{
			char		tiny[STATUS_DAMAGED_RESERVE + 8] = "";

			status_damaged_add(tiny, sizeof(tiny), "20261127T020000Z-abcd");
			status_damaged_add(tiny, sizeof(tiny), "20261127T020001Z-abcd");
			is_str(tiny, "+2", "nothing fits: \"+2\" alone");
			status_damaged_describe(tiny, desc, sizeof(desc));
			is_str(desc, "2 more not listed", "... described");
		}
		is_int(status_damaged_more("20261127T020000Z-abcd +x"), 0, "\"+x\" is no token");
		is_int(status_damaged_more("+07"), 0, "nor is a leading zero");

		/* a crafted or corrupt record's count: saturates, never overflows
		 * (UBSan in SANITIZE=1 builds catches a signed overflow here) */
		{
			char		big[STATUS_DAMAGED_RESERVE + 64] = "a +9223372036854775807";

			status_damaged_add(big, sizeof(big), "20261127T020000Z-abcd");
			is_int(status_damaged_more(big), INT64_MAX, "\"+INT64_MAX\" plus one more id: stays INT64_MAX");
			status_damaged_add_more(big, sizeof(big), 1000);
			is_int(status_damaged_more(big), INT64_MAX, "... plus 1000 carried over: the same");
			snprintf(big, sizeof(big), "+99999999999999999999999");
			is_int(status_damaged_more(big), INT64_MAX, "a count past INT64_MAX reads as INT64_MAX");
			status_damaged_add(big, sizeof(big), "20261127T020000Z-abcd");
			is_int(status_damaged_more(big), INT64_MAX, "... and stays there when an id is added");
		}
		{
			char		tiny[STATUS_DAMAGED_RESERVE + 8] = "+9223372036854775807";

			status_damaged_add(tiny, sizeof(tiny), "20261127T020000Z-abcd");
			is_str(tiny, "+9223372036854775807", "an id that does not fit, counted onto INT64_MAX: the same");
		}
	}
	return done_testing();
}
