/*
 * test_pgpage.c — PostgreSQL page checksums (lib/pgdir.h: pg_page_checksum,
 * pg_page_verify), checked against pages PostgreSQL wrote itself: a cluster
 * made by `initdb -k` (data checksums on), every page of every relation file
 * pgdir_walk finds in it, and a page corrupted on disk that PostgreSQL's own
 * pg_checksums must find exactly where we do.
 *
 * Needs initdb in PATH (t/run-tests puts PostgreSQL 15's bin first) and a
 * user other than root; otherwise the cluster part is skipped and only the
 * synthetic cases run.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pgdir.h"
#include "tap.h"
#include "testutil.h"
#include "util.h"

static char tmp[1024];
static char pgdata[1200];

/* ------------------------------------------------------------------ page helpers */

static uint16_t
page_u16(const uint8_t *page, size_t off)
{
	uint16_t	v;

	memcpy(&v, page + off, 2);
	return v;
}

static void
page_set_u16(uint8_t *page, size_t off, uint16_t v)
{
	memcpy(page + off, &v, 2);
}

static void
page_set_lsn(uint8_t *page, uint64_t lsn)
{
	uint32_t	hi = (uint32_t) (lsn >> 32);
	uint32_t	lo = (uint32_t) lsn;

	memcpy(page, &hi, 4);
	memcpy(page + 4, &lo, 4);
}

/* A plausible page: random contents, a header, and its right checksum for blkno. */
static void
make_page(uint8_t *page, uint64_t seed, uint32_t blkno)
{
	fill_random(page, PG_PAGE_SIZE, seed);
	page_set_lsn(page, UINT64_C(0x100001234));
	page_set_u16(page, 12, 64);		/* pd_lower */
	page_set_u16(page, 14, 4096);	/* pd_upper */
	page_set_u16(page, 8, pg_page_checksum(page, blkno));
}

static const char *
state_name(pg_page_state s)
{
	switch (s)
	{
		case PG_PAGE_OK: return "ok";
		case PG_PAGE_NEW: return "new";
		case PG_PAGE_SKIPPED: return "skipped";
		case PG_PAGE_BAD: return "bad";
	}
	return "?";
}

#define is_state(got, want, ...) \
	tap_is_str(state_name(got), state_name(want), __FILE__, __LINE__, __VA_ARGS__)

/* ------------------------------------------------------------------ synthetic pages */

static void
test_synthetic(void)
{
	static uint8_t page[PG_PAGE_SIZE];
	static uint8_t copy[PG_PAGE_SIZE];
	uint16_t	sum;

	make_page(page, 42, 7);
	sum = pg_page_checksum(page, 7);
	ok(sum != 0, "a checksum is never 0 (reduced to 1..65535)");
	is_state(pg_page_verify(page, 7, UINT64_MAX), PG_PAGE_OK, "a page with its checksum verifies");

	/*
	 * The value for this page, recorded once this implementation had agreed
	 * with every page of an initdb -k cluster (below): it keeps the algorithm
	 * pinned where initdb is not available.
	 */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	is_uint(sum, 0x203d, "known answer: checksum of the seed-42 page at block 7");
#else
	skip(1, "known answer recorded on a little-endian machine (the sum reads host-order words)");
#endif

	/* the stored pd_checksum is not part of the sum */
	memcpy(copy, page, PG_PAGE_SIZE);
	page_set_u16(copy, 8, (uint16_t) (sum ^ 0x5a5a));
	is_uint(pg_page_checksum(copy, 7), sum, "pd_checksum (bytes 8-9) is taken as zero");
	is_state(pg_page_verify(copy, 7, UINT64_MAX), PG_PAGE_BAD, "a wrong pd_checksum is bad");

	/* ... but everything around it is: pd_flags, the LSN, the last byte */
	memcpy(copy, page, PG_PAGE_SIZE);
	copy[10] ^= 0x01;
	ok(pg_page_checksum(copy, 7) != sum, "pd_flags (bytes 10-11) is checksummed");
	memcpy(copy, page, PG_PAGE_SIZE);
	copy[PG_PAGE_SIZE - 1] ^= 0x80;
	ok(pg_page_checksum(copy, 7) != sum, "the last byte of the page is checksummed");
	is_state(pg_page_verify(copy, 7, UINT64_MAX), PG_PAGE_BAD, "one flipped bit: bad");

	/* block numbers: a page moved elsewhere, or read from another segment */
	ok(pg_page_checksum(page, 8) != sum, "another block number gives another checksum");
	ok(pg_page_checksum(page, 7 + PG_RELSEG_PAGES) != sum,
	   "block 7 of segment 1 (blkno 131079) differs from block 7 of segment 0");
	is_state(pg_page_verify(page, 7 + PG_RELSEG_PAGES, UINT64_MAX), PG_PAGE_BAD,
			 "verified as block 7 of segment .1: bad");
	make_page(page, 43, 3 * PG_RELSEG_PAGES + 5);
	is_state(pg_page_verify(page, 3 * PG_RELSEG_PAGES + 5, UINT64_MAX), PG_PAGE_OK,
			 "a page of segment .3 verifies with blkno 3*131072+5");
	is_state(pg_page_verify(page, 5, UINT64_MAX), PG_PAGE_BAD, "... and not with blkno 5");

	/* new pages */
	memset(copy, 0, PG_PAGE_SIZE);
	is_state(pg_page_verify(copy, 0, UINT64_MAX), PG_PAGE_NEW, "an all-zero page is new");
	is_state(pg_page_verify(copy, 0, 0), PG_PAGE_NEW, "... whatever the start LSN");
	copy[PG_PAGE_SIZE / 2] = 1;
	is_state(pg_page_verify(copy, 0, UINT64_MAX), PG_PAGE_BAD, "pd_upper 0 but not all zeros: bad");
	memcpy(copy, page, PG_PAGE_SIZE);
	page_set_u16(copy, 14, 0);
	is_state(pg_page_verify(copy, 0, UINT64_MAX), PG_PAGE_BAD, "pd_upper 0 on a page of data: bad");

	/* pages changed after the backup started are left to WAL replay */
	make_page(page, 44, 1);
	page_set_lsn(page, UINT64_C(0x200000010));
	page_set_u16(page, 8, pg_page_checksum(page, 1));
	is_state(pg_page_verify(page, 1, UINT64_C(0x200000010)), PG_PAGE_OK, "LSN equal to the start LSN: judged");
	is_state(pg_page_verify(page, 1, UINT64_C(0x20000000F)), PG_PAGE_SKIPPED, "LSN after the start LSN: skipped");
	is_state(pg_page_verify(page, 1, UINT64_C(0x1FFFFFFFF)), PG_PAGE_SKIPPED,
			 "LSN compared as 64 bits (xlogid << 32 | xrecoff)");
	page[100] ^= 1;
	is_state(pg_page_verify(page, 1, UINT64_C(0x200000000)), PG_PAGE_SKIPPED, "a skipped page is not judged");
	is_state(pg_page_verify(page, 1, UINT64_MAX), PG_PAGE_BAD, "... the same page judged is bad");
}

/* ------------------------------------------------------------------ a real cluster */

typedef struct tally
{
	int			files;			/* relation files read */
	int			bad_files;
	long		ok;
	long		fresh;
	long		skipped;
	long		bad;
	long		sum_mismatch;	/* pg_page_checksum != pd_checksum on a non-new page */
	int			nonrel_checked;	/* known non-relation files seen as such */
	int			nonrel_wrong;
	char		first_bad[512];
} tally;

/* Verify every page of file abs, as block segno*131072 + i. */
static void
verify_file(tally *t, const char *abs, const char *path, uint32_t segno)
{
	size_t		len;
	uint8_t    *buf = read_file(abs, &len);

	t->files++;
	if (buf == NULL || len % PG_PAGE_SIZE != 0)
	{
		t->bad_files++;
		snprintf(t->first_bad, sizeof(t->first_bad), "%s: unreadable or not whole pages", path);
		free(buf);
		return;
	}
	for (size_t i = 0; i < len / PG_PAGE_SIZE; i++)
	{
		const uint8_t *page = buf + i * PG_PAGE_SIZE;
		uint32_t	blkno = segno * PG_RELSEG_PAGES + (uint32_t) i;
		pg_page_state s = pg_page_verify(page, blkno, UINT64_MAX);

		if (s == PG_PAGE_OK)
			t->ok++;
		else if (s == PG_PAGE_NEW)
			t->fresh++;
		else if (s == PG_PAGE_SKIPPED)
			t->skipped++;
		else
		{
			t->bad++;
			if (t->first_bad[0] == '\0')
				snprintf(t->first_bad, sizeof(t->first_bad), "%s block %zu: stored %04x, computed %04x",
						 path, i, page_u16(page, 8), pg_page_checksum(page, blkno));
		}
		if (s != PG_PAGE_NEW && pg_page_checksum(page, blkno) != page_u16(page, 8))
			t->sum_mismatch++;
	}
	free(buf);
}

static int
verify_cb(void *arg, const pgdir_entry *e, pgark_err *err)
{
	tally	   *t = arg;
	const char *base = path_basename(e->path);

	(void) err;
	if (e->kind != PGDIR_FILE)
		return 0;
	if (strcmp(base, "pg_control") == 0 || strcmp(base, "pg_filenode.map") == 0 ||
		strcmp(base, "PG_VERSION") == 0)
	{
		t->nonrel_checked++;
		if (e->is_relation)
			t->nonrel_wrong++;
	}
	if (e->is_relation)
		verify_file(t, e->abs, e->path, e->segno);
	return 0;
}

static int
run(const char *cmd)
{
	int			rc = system(cmd);

	return rc == -1 ? -1 : (WIFEXITED(rc) ? WEXITSTATUS(rc) : 128);
}

/* Read page blkno of file path into page; 0 on success. */
static int
read_page(const char *path, uint32_t blkno, uint8_t *page)
{
	size_t		len;
	uint8_t    *buf = read_file(path, &len);
	int			rc = -1;

	if (buf != NULL && len >= (size_t) (blkno + 1) * PG_PAGE_SIZE)
	{
		memcpy(page, buf + (size_t) blkno * PG_PAGE_SIZE, PG_PAGE_SIZE);
		rc = 0;
	}
	free(buf);
	return rc;
}

static void
test_cluster(void)
{
	static uint8_t page[PG_PAGE_SIZE];
	char		cmd[4096];
	char		path[2048];
	tally		t;
	pgark_err	err;
	int			rc;

	if (run("command -v initdb >/dev/null 2>&1") != 0)
	{
		skip(1, "initdb not in PATH: no real pages to check against (run through t/run-tests)");
		return;
	}
	if (geteuid() == 0)
	{
		skip(1, "initdb refuses to run as root (run through t/run-tests, which runs as an unprivileged user)");
		return;
	}
	snprintf(pgdata, sizeof(pgdata), "%s/data", tmp);
	snprintf(cmd, sizeof(cmd), "initdb -D '%s' -k -A trust -N >'%s/initdb.log' 2>&1", pgdata, tmp);
	rc = run(cmd);
	if (!is_int(rc, 0, "initdb -k (data checksums on)"))
	{
		snprintf(cmd, sizeof(cmd), "cat '%s/initdb.log' >&2", tmp);
		(void) run(cmd);
		return;
	}

	/* two catalogs read directly, page by page */
	memset(&t, 0, sizeof(t));
	snprintf(path, sizeof(path), "%s/global/1262", pgdata);
	verify_file(&t, path, "global/1262", 0);
	snprintf(path, sizeof(path), "%s/base/1/1259", pgdata);
	verify_file(&t, path, "base/1/1259", 0);
	ok(t.ok >= 2 && t.bad == 0 && t.bad_files == 0,
	   "pg_database (global/1262) and pg_class (base/1/1259): all %ld pages verify", t.ok);
	if (t.first_bad[0])
		diag("%s", t.first_bad);
	is_int(t.sum_mismatch, 0, "... pg_page_checksum equals the stored pd_checksum on each");

	/* every page of every relation file the walk finds */
	memset(&t, 0, sizeof(t));
	rc = pgdir_walk(pgdata, verify_cb, &t, &err);
	if (!is_int(rc, 0, "pgdir_walk over the initdb cluster"))
		diag("%s", err.msg);
	ok(t.files > 500, "the walk finds the catalogs' relation files (%d)", t.files);
	ok(t.ok > 1000, "pages verified: %ld (new %ld, skipped %ld)", t.ok, t.fresh, t.skipped);
	is_int(t.bad, 0, "no page of a freshly made cluster is bad");
	if (t.first_bad[0])
		diag("first: %s", t.first_bad);
	is_int(t.bad_files, 0, "every relation file is whole pages");
	is_int(t.sum_mismatch, 0, "pg_page_checksum equals pd_checksum on every page");
	ok(t.nonrel_checked >= 3 && t.nonrel_wrong == 0,
	   "pg_control, pg_filenode.map, PG_VERSION are not relation files (%d seen)", t.nonrel_checked);

	/*
	 * Corrupt one byte of block 2 of pg_class on disk: we must call that page
	 * bad and only it, and PostgreSQL's own pg_checksums must agree.
	 */
	snprintf(path, sizeof(path), "%s/base/1/1259", pgdata);
	if (!ok(read_page(path, 2, page) == 0, "pg_class has a block 2"))
		return;
	is_state(pg_page_verify(page, 2, UINT64_MAX), PG_PAGE_OK, "pg_class block 2 verifies");
	is_state(pg_page_verify(page, 1, UINT64_MAX), PG_PAGE_BAD, "... not as block 1 (the block number is mixed in)");
	{
		FILE	   *f = fopen(path, "r+b");
		uint8_t		byte = page[5000] ^ 0x10;
		int			written = f != NULL && fseek(f, 2L * PG_PAGE_SIZE + 5000, SEEK_SET) == 0 &&
			fwrite(&byte, 1, 1, f) == 1;

		if (f != NULL && fclose(f) != 0)
			written = 0;
		if (!ok(written, "flip a bit of pg_class block 2 on disk"))
			return;
	}
	memset(&t, 0, sizeof(t));
	verify_file(&t, path, "base/1/1259", 0);
	is_int(t.bad, 1, "one bad page in pg_class");
	like(t.first_bad, "block 2:", "... block 2");
	snprintf(cmd, sizeof(cmd), "pg_checksums --check -D '%s' >'%s/pgck.log' 2>&1", pgdata, tmp);
	if (run("command -v pg_checksums >/dev/null 2>&1") != 0)
		skip(2, "pg_checksums not in PATH");
	else
	{
		size_t		len;
		char	   *log;

		is_int(run(cmd), 1, "pg_checksums --check fails on the cluster too");
		snprintf(path, sizeof(path), "%s/pgck.log", tmp);
		log = (char *) read_file(path, &len);
		like(log ? log : "", "base/1/1259\", block 2", "... naming base/1/1259 block 2");
		free(log);
	}
}

int
main(void)
{
	make_tmpdir(tmp, sizeof(tmp), "pgpage");
	test_synthetic();
	test_cluster();
	rm_rf(tmp);
	return done_testing();
}
