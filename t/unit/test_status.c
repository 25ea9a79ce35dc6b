/*
 * test_status.c — status records (FORMAT.md section 7): a drill record's
 * text form byte for byte, its round trip, a verify record without the
 * drill keys, unknown keys ignored, and a record of another kind or
 * without its required keys refused.
 */
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
	return done_testing();
}
