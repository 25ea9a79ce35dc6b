/*
 * test_wal.c — WAL file names and segment page headers (lib/wal.h).
 * Timelines are hexadecimal: parsing them as decimal is a bug other archivers
 * shipped (DESIGN.md §3, "Lessons").
 */
#include <stdio.h>
#include <string.h>

#include "tap.h"
#include "testutil.h"
#include "wal.h"

static void
parses(const char *name, walname_kind kind, uint32_t tli, uint32_t log, uint32_t seg, uint32_t off)
{
	walname		wn;
	pgark_err	err;
	int			rc;

	err_clear(&err);
	rc = walname_parse(name, &wn, &err);
	if (!is_int(rc, 0, "\"%s\" parses", name))
	{
		diag("%s", err.msg);
		return;
	}
	ok(wn.kind == kind && wn.tli == tli && (kind == WAL_HISTORY || (wn.log == log && wn.seg == seg)) &&
	   wn.backup_offset == off && strcmp(wn.name, name) == 0,
	   "\"%s\": %s, timeline %u, log %X, seg %X%s", name, walname_kind_str(kind), tli, log, seg,
	   kind == WAL_BACKUP ? ", backup offset" : "");
	if (wn.kind != kind || wn.tli != tli)
		diag("got %s, timeline %u, log %X, seg %X, offset %X", walname_kind_str(wn.kind), wn.tli, wn.log,
			 wn.seg, wn.backup_offset);
}

static void
refused(const char *name, const char *why)
{
	walname		wn;
	pgark_err	err;

	err_clear(&err);
	ok(walname_parse(name, &wn, &err) == -1 && err.kind == PGARK_ERR_BADNAME,
	   "refused: %s (\"%s\")", why, name ? name : "NULL");
	if (name && name[0] && strlen(name) < 40 && !strchr(name, '\n'))
		like(err.msg, name, "... the message quotes the name");
}

static void
test_parse(void)
{
	parses("000000010000000000000001", WAL_SEGMENT, 1, 0, 1, 0);
	parses("00000001000000000000000A", WAL_SEGMENT, 1, 0, 10, 0);
	parses("0000000100000001000000FF", WAL_SEGMENT, 1, 1, 0xFF, 0);
	parses("00000001FFFFFFFF000000FF", WAL_SEGMENT, 1, 0xFFFFFFFF, 0xFF, 0);
	/* timelines above 9 are hex */
	parses("0000000A0000000000000001", WAL_SEGMENT, 10, 0, 1, 0);
	parses("000000100000000000000003", WAL_SEGMENT, 16, 0, 3, 0);
	parses("0000001F00000002000000C0", WAL_SEGMENT, 31, 2, 0xC0, 0);
	parses("FFFFFFFF0000000000000001", WAL_SEGMENT, 0xFFFFFFFF, 0, 1, 0);
	parses("000000010000000000000001.partial", WAL_PARTIAL, 1, 0, 1, 0);
	parses("0000000B00000000000000A0.partial", WAL_PARTIAL, 11, 0, 0xA0, 0);
	parses("000000010000000000000002.00000028.backup", WAL_BACKUP, 1, 0, 2, 0x28);
	parses("0000001000000003000000FE.00FF0A28.backup", WAL_BACKUP, 16, 3, 0xFE, 0xFF0A28);
	parses("00000002.history", WAL_HISTORY, 2, 0, 0, 0);
	parses("0000000A.history", WAL_HISTORY, 10, 0, 0, 0);
	parses("00000010.history", WAL_HISTORY, 16, 0, 0, 0);
	parses("000000FF.history", WAL_HISTORY, 255, 0, 0, 0);

	refused("0000000a0000000000000001", "lower-case hex timeline");
	refused("00000001000000000000000a", "lower-case hex segment");
	refused("0000000a.history", "lower-case hex history");
	refused("00000001000000000000001", "23 digits");
	refused("0000000100000000000000001", "25 digits");
	refused("0000001.history", "7-digit history");
	refused("000000001.history", "9-digit history");
	refused("000000000000000000000001", "timeline 0");
	refused("00000000.history", "timeline 0 history");
	refused("000000000000000000000001.partial", "timeline 0 partial");
	refused("../x", "a path");
	refused("../000000010000000000000001", "a path to a segment");
	refused("pg_wal/000000010000000000000001", "a relative path");
	refused("/000000010000000000000001", "an absolute path");
	refused("", "empty");
	refused(NULL, "NULL");
	refused("000000010000000000000001x", "trailing junk");
	refused("000000010000000000000001\n", "trailing newline");
	refused("000000010000000000000001.partialx", "junk after .partial");
	refused("000000010000000000000001.partia", "truncated .partial");
	refused("000000010000000000000001.gz", "another suffix");
	refused("000000010000000000000001.backup", ".backup without the offset");
	refused("000000010000000000000002.0000002G.backup", "bad hex in the backup offset");
	refused("000000010000000000000002.00000028.backupx", "junk after .backup");
	refused("000000010000000000000002.00000028.partial", "offset with .partial");
	refused("000000010000000000000002_00000028.backup", "no dot before the backup offset");
	refused("00000001.historyx", "junk after .history");
	refused("00000001.HISTORY", "upper-case suffix");
	refused("00000001.history.partial", "history.partial");
	refused("RECOVERYXLOG", "RECOVERYXLOG");
	refused("RECOVERYHISTORY", "RECOVERYHISTORY");
	refused(".history", ".history alone");
	refused(".partial", ".partial alone");
	refused("00000001 000000000000001", "a space inside");
	refused(" 000000010000000000000001", "a leading space");
	refused("000000010000000000000001 ", "a trailing space");
	refused("0000000100000000000000-1", "a minus sign");
	refused("0x0000010000000000000001", "0x prefix");
	refused("000000010000000000000001.partial.partial", "doubled suffix");
	refused("0000000G0000000000000001", "non-hex G");
}

static void
object_is(const char *name, const char *want)
{
	walname		wn;
	pgark_err	err;
	char		out[128];

	if (walname_parse(name, &wn, &err) != 0)
	{
		ok(0, "walname_object(%s): name does not parse: %s", name, err.msg);
		return;
	}
	memset(out, 'X', sizeof(out));
	walname_object(&wn, out, sizeof(out));
	is_str(out, want, "walname_object(%s)", name);
}

static void
test_object_names(void)
{
	object_is("000000010000000000000001", "wal/0000000100000000/000000010000000000000001");
	object_is("0000000A000000FF000000FE", "wal/0000000A000000FF/0000000A000000FF000000FE");
	object_is("000000010000000000000001.partial", "wal/0000000100000000/000000010000000000000001.partial");
	object_is("000000010000000000000002.00000028.backup",
			  "wal/0000000100000000/000000010000000000000002.00000028.backup");
	object_is("00000002.history", "wal/history/00000002.history");
	object_is("0000001A.history", "wal/history/0000001A.history");
}

static void
segno_is(const char *name, uint32_t seg_size, uint64_t want)
{
	walname		wn;
	pgark_err	err;

	if (walname_parse(name, &wn, &err) != 0)
	{
		ok(0, "walname_segno(%s): name does not parse: %s", name, err.msg);
		return;
	}
	is_uint(walname_segno(&wn, seg_size), want, "segno of %s with %u MiB segments", name, seg_size >> 20);
}

static void
test_segno(void)
{
	/* 16 MiB: 256 segments per "log" (xlogid); 1 MiB: 4096; 1 GiB: 4 */
	segno_is("000000010000000000000000", 16u << 20, 0);
	segno_is("000000010000000000000001", 16u << 20, 1);
	segno_is("0000000100000000000000FF", 16u << 20, 255);
	segno_is("000000010000000100000000", 16u << 20, 256);
	segno_is("000000010000000100000002", 16u << 20, 258);
	segno_is("0000000A000000AB00000012", 16u << 20, 0xABu * 256 + 0x12);
	segno_is("000000010000000000000FFF", 1u << 20, 4095);
	segno_is("000000010000000100000002", 1u << 20, 4098);
	segno_is("000000010000000200000003", 1u << 30, 11);
	segno_is("00000001FFFFFFFF000000FF", 16u << 20, UINT64_C(0xFFFFFFFF) * 256 + 255);
	segno_is("000000010000000100000002.partial", 16u << 20, 258);

	ok(wal_seg_size_valid(16u << 20) && wal_seg_size_valid(1u << 20) && wal_seg_size_valid(1u << 30),
	   "1 MiB, 16 MiB, 1 GiB are valid segment sizes");
	ok(!wal_seg_size_valid(0) && !wal_seg_size_valid(1u << 19) && !wal_seg_size_valid(UINT64_C(1) << 31) &&
	   !wal_seg_size_valid((16u << 20) + 8192) && !wal_seg_size_valid(3u << 20),
	   "0, 512 KiB, 2 GiB, 16 MiB + 8 KiB, 3 MiB are not");
}

/* The first 8 KiB page of a segment, as PostgreSQL writes it (host order). */
static void
make_page(uint8_t *page, uint16_t magic, uint16_t info, uint32_t tli, uint64_t pageaddr,
		  uint64_t sysid, uint32_t seg_size)
{
	uint32_t	blcksz = 8192;

	memset(page, 0, 8192);
	memcpy(page + 0, &magic, 2);	/* xlp_magic */
	memcpy(page + 2, &info, 2);	/* xlp_info */
	memcpy(page + 4, &tli, 4);	/* xlp_tli */
	memcpy(page + 8, &pageaddr, 8);	/* xlp_pageaddr */
	/* +16 xlp_rem_len, +20 padding */
	memcpy(page + 24, &sysid, 8);	/* xlp_sysid */
	memcpy(page + 32, &seg_size, 4);	/* xlp_seg_size */
	memcpy(page + 36, &blcksz, 4);	/* xlp_xlog_blcksz */
}

static void
test_check_segment(void)
{
	static uint8_t page[8192];
	const uint64_t sysid = UINT64_C(7310942855117239470);
	const uint32_t seg16 = 16u << 20;
	walname		wn;
	pgark_err	err;
	wal_long_header h;

	if (walname_parse("0000000A000000AB00000012", &wn, &err) != 0)
		bail_out("cannot parse the test name: %s", err.msg);
	/* PostgreSQL 15's XLOG_PAGE_MAGIC is 0xD110 */
	make_page(page, 0xD110, XLP_LONG_HEADER, 10, (UINT64_C(0xAB) * 256 + 0x12) * seg16, sysid, seg16);

	err_clear(&err);
	is_int(wal_parse_long_header(page, sizeof(page), &h, &err), 0, "long page header parses");
	ok(h.magic == 0xD110 && h.info == XLP_LONG_HEADER && h.tli == 10 && h.sysid == sysid &&
	   h.seg_size == seg16 && h.blcksz == 8192 && h.pageaddr == (UINT64_C(0xAB) * 256 + 0x12) * seg16,
	   "... every field");
	if (!is_int(wal_check_segment(&wn, page, sizeof(page), sysid, seg16, &err), 0, "segment checks out"))
		diag("%s", err.msg);
	is_int(wal_check_segment(&wn, page, WAL_LONG_HEADER_LEN, sysid, seg16, &err), 0,
		   "the 40-byte long header alone is enough");

	err_clear(&err);
	is_int(wal_check_segment(&wn, page, sizeof(page), sysid + 1, seg16, &err), -1, "another system identifier");
	is_kind(err, PGARK_ERR_MISMATCH, "... is MISMATCH");
	like(err.msg, "7310942855117239470", "... the message names the segment's system identifier");
	like(err.msg, "7310942855117239471", "... and the repository's");
	like(err.msg, wn.name, "... and the file");

	err_clear(&err);
	is_int(wal_check_segment(&wn, page, sizeof(page), sysid, 1u << 20, &err), -1,
		   "header says 16 MiB, repository 1 MiB");
	is_kind(err, PGARK_ERR_MISMATCH, "... is MISMATCH (wrong size, per wal.h)");

	make_page(page, 0xD110, XLP_LONG_HEADER, 10, (UINT64_C(0xAB) * 256 + 0x13) * seg16, sysid, seg16);
	err_clear(&err);
	is_int(wal_check_segment(&wn, page, sizeof(page), sysid, seg16, &err), -1,
		   "page address of the next segment (a misnamed file)");
	is_kind(err, PGARK_ERR_CORRUPT, "... is CORRUPT");
	like(err.msg, "AB/13000000", "... the message shows the page address found");

	make_page(page, 0xD110, XLP_LONG_HEADER, 10, (UINT64_C(0xAB) * 256 + 0x12) * seg16 + 8192, sysid, seg16);
	is_int(wal_check_segment(&wn, page, sizeof(page), sysid, seg16, &err), -1, "page address of the second page");
	is_kind(err, PGARK_ERR_CORRUPT, "... is CORRUPT");

	make_page(page, 0xD110, 0, 10, (UINT64_C(0xAB) * 256 + 0x12) * seg16, sysid, seg16);
	is_int(wal_check_segment(&wn, page, sizeof(page), sysid, seg16, &err), -1, "no XLP_LONG_HEADER flag");
	is_kind(err, PGARK_ERR_CORRUPT, "... is CORRUPT");
	like(err.msg, wn.name, "... and the message names the file");

	make_page(page, 0x0000, XLP_LONG_HEADER, 10, (UINT64_C(0xAB) * 256 + 0x12) * seg16, sysid, seg16);
	is_int(wal_check_segment(&wn, page, sizeof(page), sysid, seg16, &err), -1, "zero magic (a zero-filled file)");
	is_kind(err, PGARK_ERR_CORRUPT, "... is CORRUPT");

	memset(page, 0, sizeof(page));
	is_int(wal_check_segment(&wn, page, sizeof(page), sysid, seg16, &err), -1, "all zeros");
	is_kind(err, PGARK_ERR_CORRUPT, "... is CORRUPT");

	make_page(page, 0xD110, XLP_LONG_HEADER, 10, (UINT64_C(0xAB) * 256 + 0x12) * seg16, sysid, seg16);
	is_int(wal_check_segment(&wn, page, WAL_LONG_HEADER_LEN - 1, sysid, seg16, &err), -1, "39 bytes");
	is_kind(err, PGARK_ERR_CORRUPT, "... is CORRUPT");
	is_int(wal_check_segment(&wn, page, 0, sysid, seg16, &err), -1, "an empty file");

	/* a .partial is checked like the segment it is part of; 1 MiB segments */
	if (walname_parse("000000010000000100000002.partial", &wn, &err) != 0)
		bail_out("cannot parse partial name");
	make_page(page, 0xD110, XLP_LONG_HEADER | 0x0001, 1, UINT64_C(4098) << 20, sysid, 1u << 20);
	is_int(wal_check_segment(&wn, page, sizeof(page), sysid, 1u << 20, &err), 0,
		   ".partial with 1 MiB segments and another info bit set checks out");
}

static int
history(const char *text, uint32_t tli, wal_tl_entry *e, size_t max, size_t *n, pgark_err *err)
{
	err_clear(err);
	return wal_history_parse(text, strlen(text), tli, e, max, n, err);
}

static void
test_history(void)
{
	wal_tl_entry e[8];
	size_t		n = 99;
	pgark_err	err;
	walname		wn;

	/* what PostgreSQL writes: timeline 3 branched from 2 at 0/5000000,
	 * which branched from 1 at 0/3000060 */
	if (!is_int(history("1\t0/3000060\tno recovery target specified\n\n"
						"2\t0/5000000\tat restore point \"x\"\n", 3, e, 8, &n, &err), 0,
				"a history file of timeline 3 parses"))
		diag("%s", err.msg);
	is_int(n, 3, "... three timelines");
	ok(e[0].tli == 3 && e[0].begin == 0x5000000 && e[0].end == 0, "... newest first: 3 from 0/5000000 on");
	ok(e[1].tli == 2 && e[1].begin == 0x3000060 && e[1].end == 0x5000000, "... 2 from 0/3000060 to 0/5000000");
	ok(e[2].tli == 1 && e[2].begin == 0 && e[2].end == 0x3000060, "... 1 from the start to 0/3000060");

	/* comments, blank lines, leading blanks, no final newline, CRLF, lower
	 * case hex, a high switch point */
	is_int(history("# comment\n  \n\t 1\t1a/FF000000\treason\r\n# end", 2, e, 8, &n, &err), 0,
		   "comments, blank lines, leading white space and lower-case hex are accepted");
	ok(n == 2 && e[0].tli == 2 && e[0].begin == UINT64_C(0x1AFF000000) && e[1].end == UINT64_C(0x1AFF000000),
	   "... switch point 1A/FF000000");
	/* only comments: the timeline alone (as for timeline 1) */
	is_int(history("# nothing\n", 1, e, 8, &n, &err), 0, "no ancestors");
	ok(n == 1 && e[0].tli == 1 && e[0].begin == 0 && e[0].end == 0, "... timeline 1 from the start");
	is_int(history("", 5, e, 8, &n, &err), 0, "an empty file");
	/* timelines are decimal in history files, unlike in file names */
	is_int(history("10\t0/1000000\tx\n", 16, e, 8, &n, &err), 0, "parent timeline 10 is decimal");
	ok(n == 2 && e[1].tli == 10 && e[0].tli == 16, "... timeline 10, child 16");

	is_int(history("x\t0/1\n", 2, e, 8, &n, &err), -1, "refused: no timeline ID");
	is_kind(err, PGARK_ERR_CORRUPT, "... CORRUPT");
	like(err.msg, "line 1", "... the message names the line");
	is_int(history("1\n", 2, e, 8, &n, &err), -1, "refused: no switch point");
	is_int(history("1\t0-1\tx\n", 2, e, 8, &n, &err), -1, "refused: a switch point without '/'");
	is_int(history("1\t0/\tx\n", 2, e, 8, &n, &err), -1, "refused: a switch point without its low half");
	is_int(history("1\t0/1\tx\n1\t0/2\tx\n", 3, e, 8, &n, &err), -1, "refused: timelines not increasing");
	like(err.msg, "line 2", "... the message names the line");
	is_int(history("2\t0/1\tx\n", 2, e, 8, &n, &err), -1, "refused: an ancestor not below the timeline");
	is_int(history("0\t0/1\tx\n", 2, e, 8, &n, &err), -1, "refused: timeline 0");
	is_int(history("4294967296\t0/1\tx\n", 2, e, 8, &n, &err), -1, "refused: a timeline beyond 32 bits");
	is_int(history("1\t100000000/1\tx\n", 2, e, 8, &n, &err), -1, "refused: a switch point beyond 32+32 bits");
	is_int(history("1\t0/1\tx\n2\t0/2\tx\n", 3, e, 2, &n, &err), -1, "refused: more timelines than room");
	is_int(history("1\t0/1\tx\n", 2, e, 2, &n, &err), 0, "... exactly as many fit");
	is_int(history("", 1, e, 0, &n, &err), -1, "no room at all");
	/* not NUL-terminated: the length decides */
	err_clear(&err);
	is_int(wal_history_parse("1\t0/10\tx\n9", 8, 2, e, 8, &n, &err), 0, "only len bytes are read");
	ok(n == 2 && e[1].end == 0x10, "... the line in them");

	/* segment names from numbers, the inverse of walname_segno */
	walname_segment(2, UINT64_C(0x1FF), 16u << 20, &wn);
	is_str(wn.name, "0000000200000001000000FF", "segment 0x1FF of timeline 2, 16 MiB segments");
	is_uint(walname_segno(&wn, 16u << 20), 0x1FF, "... and back");
	walname_segment(0x1A, UINT64_C(4097), 1u << 20, &wn);
	is_str(wn.name, "0000001A0000000100000001", "segment 4097 of timeline 0x1A, 1 MiB segments");
	ok(wn.kind == WAL_SEGMENT && wn.tli == 0x1A && wn.log == 1 && wn.seg == 1, "... parsed fields");
}

int
main(void)
{
	test_parse();
	test_object_names();
	test_segno();
	test_check_segment();
	test_history();
	return done_testing();
}
