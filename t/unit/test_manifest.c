/*
 * test_manifest — base backup manifests (lib/manifest.h) and chunk packs
 * (lib/pack.h) on a local repository: a round trip of every entry kind, the
 * pack references, and every unsafe path a tampered manifest could carry
 * refused by the reader before anything is restored.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "manifest.h"
#include "pack.h"
#include "repo.h"
#include "testutil.h"
#include "util.h"
#include "workers.h"

static char dir[PATH_MAX - 64];
static pgark_config cfg;

static repo *
open_repo(const char *cipher)
{
	static int	nrepo;
	pgark_err	err;
	char		key[PATH_MAX];
	repo	   *r;

	err_clear(&err);
	nrepo++;
	config_defaults(&cfg);
	snprintf(cfg.repo_path, sizeof(cfg.repo_path), "%s/repo-%s-%d", dir, cipher, nrepo);
	snprintf(cfg.cipher, sizeof(cfg.cipher), "%s", cipher);
	snprintf(key, sizeof(key), "%s/key-%s-%d", dir, cipher, nrepo);
	if (strcmp(cipher, "none") != 0)
	{
		if (kek_generate_file(key, &err) != 0)
			bail_out("key: %s", err.msg);
		snprintf(cfg.key_file, sizeof(cfg.key_file), "%s", key);
	}
	if (repo_create(&cfg, 4242, 15, 16 * 1024 * 1024, NULL, &err) != 0)
		bail_out("repo_create: %s", err.msg);
	if ((r = repo_open(&cfg, &err)) == NULL)
		bail_out("repo_open: %s", err.msg);
	return r;
}

static void
fill_head(mf_head *h, const char *id)
{
	memset(h, 0, sizeof(*h));
	snprintf(h->backup_id, sizeof(h->backup_id), "%s", id);
	h->sysid = 4242;
	h->pg_version = 15;
	h->timeline = 10;			/* hex A: decimal in the manifest */
	h->start_lsn = UINT64_C(0x100000028);
	h->stop_lsn = UINT64_C(0x1000000F0);
	snprintf(h->start_wal, sizeof(h->start_wal), "0000000A0000000100000000");
	snprintf(h->stop_wal, sizeof(h->stop_wal), "0000000A0000000100000000");
	h->start_time = 1795000000;
	h->stop_time = 1795000042;
	snprintf(h->label, sizeof(h->label), "nightly run #7 (cron)");
	h->chunk_size = PACK_CHUNK_SIZE;
	h->files = 2;
	h->backup_label = strdup("START WAL LOCATION: 1/28 (file 0000000A0000000100000000)\nSTART TIMELINE: 10\n");
	h->tablespace_map = strdup("16500 /srv/ts one\n");
}

static void
test_round_trip(const char *cipher)
{
	repo	   *r = open_repo(cipher);
	pgark_err	err;
	pack_writer *pw;
	mf_writer  *mw;
	mf_reader  *rd;
	mf_head		h, got;
	mf_entry   *e;
	uint8_t		key[32], data[3 * PACK_CHUNK_SIZE + 100], out[4 * PACK_CHUNK_SIZE];
	chunk_ref	refs[4];
	uint32_t	lens[4];
	chunk_reader *cr;
	char	  **ids;
	size_t		nids;

	note("round trip, cipher %s", cipher);
	err_clear(&err);
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t) (i * 7 + i / 8192);
	ok(chunk_key(r, key, &err) == 0, "chunk key");
	pw = pack_writer_new(r, 0, &err);
	for (int i = 0; i < 4; i++)
	{
		uint8_t		id[CHUNK_ID_LEN];

		lens[i] = i < 3 ? PACK_CHUNK_SIZE : 100;
		chunk_id(key, data + i * PACK_CHUNK_SIZE, lens[i], id, &err);
		is_int(pack_add(pw, id, data + i * PACK_CHUNK_SIZE, lens[i], &refs[i], &err), 0, "pack_add %d", i);
	}
	ok(refs[1].offset == refs[0].offset + refs[0].len, "chunks lie back to back in the pack");
	is_int(pack_flush(pw, &err), 0, "pack committed");
	pack_writer_free(pw);

	cr = chunk_reader_new(r, &err);
	if (!is_int(chunk_read_run(cr, refs, lens, 4, out, &err), 0, "read the run back"))
		diag("%s", err.msg);
	ok(memcmp(out, data, PACK_CHUNK_SIZE) == 0 && memcmp(out + 3 * PACK_CHUNK_SIZE, data + 3 * PACK_CHUNK_SIZE, 100) == 0,
	   "chunks come back exactly");
	{
		chunk_ref	bad = refs[2];

		bad.id[0] ^= 1;
		is_int(chunk_read_run(cr, &bad, &lens[2], 1, out, &err), -1, "a chunk whose id does not match is refused");
		like(err.msg, "does not match its id", "... saying so");
		bad = refs[2];
		lens[2]--;
		is_int(chunk_read_run(cr, &bad, &lens[2], 1, out, &err), -1, "a chunk of another length is refused");
		lens[2]++;
	}
	chunk_reader_free(cr);

	mw = mf_writer_new(dir, &err);
	ok(mw != NULL, "manifest writer");
	is_int(mf_add_dir(mw, "base", 0700, &err), 0, "dir");
	is_int(mf_add_tablespace(mw, "pg_tblspc/16500", "/srv/ts one", &err), 0, "tablespace with a space");
	is_int(mf_add_file(mw, "base/1/16384", 0600, 3 * PACK_CHUNK_SIZE + 100, 1794999000, 4, refs, &err), 0, "file");
	is_int(mf_add_file(mw, "base/1/empty file%", 0600, 0, 1794999001, 0, NULL, &err), 0, "empty file, odd name");
	fill_head(&h, "20261127T000000Z-abcd");
	if (!is_int(mf_writer_commit(mw, r, &h, &err), 0, "manifest committed"))
		diag("%s", err.msg);
	mf_writer_free(mw);

	rd = mf_open(r, "20261127T000000Z-abcd", &got, &err);
	if (!ok(rd != NULL, "manifest opens"))
		diag("%s", err.msg);
	if (rd == NULL)
		return;
	is_str(got.backup_id, h.backup_id, "backup_id");
	is_uint(got.timeline, 10, "timeline");
	is_uint(got.start_lsn, h.start_lsn, "start_lsn");
	is_uint(got.stop_lsn, h.stop_lsn, "stop_lsn");
	is_int(got.stop_time, h.stop_time, "stop_time");
	is_str(got.label, h.label, "label with spaces and punctuation");
	is_str(got.backup_label, h.backup_label, "backup_label byte for byte");
	is_str(got.tablespace_map, h.tablespace_map, "tablespace_map byte for byte");
	is_int(mf_next(rd, &e, &err), 1, "entry 1");
	ok(e->kind == MF_DIR && strcmp(e->path, "base") == 0 && e->mode == 0700, "dir base 0700");
	is_int(mf_next(rd, &e, &err), 1, "entry 2");
	ok(e->kind == MF_TABLESPACE && strcmp(e->target, "/srv/ts one") == 0, "tablespace target");
	is_int(mf_next(rd, &e, &err), 1, "entry 3");
	ok(e->kind == MF_FILE && e->nchunks == 4 && e->size == 3 * PACK_CHUNK_SIZE + 100, "file with 4 chunks");
	{
		int			same = 1;
		chunk_ref	win[3];
		uint32_t	ngot, total = 0;

		/* streamed in windows of 3; compared field by field (padding) */
		while (mf_chunks(rd, win, 3, &ngot, &err) == 0 && ngot > 0)
		{
			for (uint32_t i = 0; i < ngot && total + i < 4; i++)
				same &= memcmp(win[i].id, refs[total + i].id, CHUNK_ID_LEN) == 0 &&
					memcmp(win[i].pack, refs[total + i].pack, PACK_ID_LEN) == 0 &&
					win[i].offset == refs[total + i].offset && win[i].len == refs[total + i].len;
			total += ngot;
		}
		is_uint(total, 4, "four chunk references streamed");
		ok(same, "chunk references identical");
	}
	is_int(mf_next(rd, &e, &err), 1, "entry 4");
	is_str(e->path, "base/1/empty file%", "escaped name comes back");
	if (!is_int(mf_next(rd, &e, &err), 0, "verified end"))
		diag("%s", err.msg);
	mf_close(rd);
	mf_head_free(&got);
	mf_head_free(&h);

	ok(mf_list_backups(r, &ids, &nids, &err) == 0 && nids == 1 && strcmp(ids[0], "20261127T000000Z-abcd") == 0,
	   "listed");
	mf_free_list(ids, nids);
	repo_close(r);
}

/* A manifest holding one file at path; does the reader accept it? */
static int
reader_accepts(repo *r, const char *path, pgark_err *err)
{
	static int	n;
	mf_writer  *mw = mf_writer_new(dir, err);
	mf_head		h, got;
	mf_reader  *rd;
	mf_entry   *e;
	char		id[64];
	int			rc;

	snprintf(id, sizeof(id), "20261127T0000%02dZ-0000", n++);
	mf_add_file(mw, path, 0600, 0, 0, 0, NULL, err);
	fill_head(&h, id);
	if (mf_writer_commit(mw, r, &h, err) != 0)
		bail_out("commit: %s", err->msg);
	mf_writer_free(mw);
	mf_head_free(&h);
	if ((rd = mf_open(r, id, &got, err)) == NULL)
		return 0;
	rc = mf_next(rd, &e, err);
	mf_close(rd);
	mf_head_free(&got);
	return rc == 1;
}

static void
test_unsafe_paths(void)
{
	repo	   *r = open_repo("aes-256-gcm");
	pgark_err	err;
	static const char *const bad[] = {
		"../etc/passwd", "base/../../x", "/etc/passwd", "base/./1", "base//1", "base/", ".",
		"..", "a/..", "base/1\n/x", "tab\there", "del\x7f"
	};

	err_clear(&err);
	if (!ok(reader_accepts(r, "base/1/16384", &err), "a normal path is accepted"))
		diag("%s", err.msg);
	ok(reader_accepts(r, "global/pg_control", &err), "global/pg_control accepted");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
	{
		ok(!reader_accepts(r, bad[i], &err), "unsafe path %zu refused", i);
		like(err.msg, "not safe to restore", "... as not safe to restore");
		is_kind(err, PGARK_ERR_CORRUPT, "... kind corrupt");
	}
	ok(mf_path_safe("pg_tblspc/16500/PG_15_202209061/1/16501"), "tablespace path is safe");
	ok(!mf_path_safe(""), "empty path is not");
	repo_close(r);
}

static void
test_chunk_lines(void)
{
	const char *hex = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
	char		line[256];
	uint8_t		id[CHUNK_ID_LEN];
	unsigned long long pn = 0, off = 0, len = 0;
	static const char *const bad[] = {
		"", "c", "c ", "x 0011 1 2 3", "c 0011 1 2 3",
		"c %s", "c %s 1", "c %s 1 2", "c %s 1 2 ", "c %s  1 2 3", "c %s 1 2 3 ", "c %s 1 2 3x",
		"c %s -1 2 3", "c %s +1 2 3", "c %s 1 2 3 4", "c %s 1 18446744073709551616 3",
		"c %sff 1 2 3", "C %s 1 2 3", " c %s 1 2 3", "c %s\t1 2 3",
	};

	snprintf(line, sizeof(line), "c %s 7 1048576 1234", hex);
	is_int(mf_parse_chunk_line(line, id, &pn, &off, &len), 0, "a chunk line parses");
	ok(pn == 7 && off == 1048576 && len == 1234, "... pack 7, offset 1048576, length 1234");
	ok(id[0] == 0x00 && id[1] == 0x11 && id[15] == 0xff && id[31] == 0xff, "... and its id");
	snprintf(line, sizeof(line), "c %s 0 18446744073709551615 8192", hex);
	is_int(mf_parse_chunk_line(line, id, &pn, &off, &len), 0, "the largest offset parses");
	ok(off == UINT64_MAX, "... exactly");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
	{
		/* "%s" in bad[i] stands for the id */
		const char *at = strstr(bad[i], "%s");

		if (at)
			snprintf(line, sizeof(line), "%.*s%s%s", (int) (at - bad[i]), bad[i], hex, at + 2);
		else
			snprintf(line, sizeof(line), "%s", bad[i]);
		is_int(mf_parse_chunk_line(line, id, &pn, &off, &len), -1, "malformed chunk line %zu refused: \"%s\"", i, line);
	}
	memcpy(line, "c ", 2);
	snprintf(line + 2, sizeof(line) - 2, "%s 1 2 3", hex);
	line[10] = 'g';
	is_int(mf_parse_chunk_line(line, id, &pn, &off, &len), -1, "a chunk line with a non-hex id refused");
	/* hex_decode: every byte value in each place of the id, against the definition */
	{
		int			wrong = 0;

		for (int c = 0; c < 256; c++)
			for (int at = 0; at < 2; at++)
			{
				char		h[2 * CHUNK_ID_LEN + 1];
				int			v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
					: c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
				int			rc;

				memcpy(h, hex, sizeof(h));
				h[2 * 5 + at] = (char) c;
				rc = c == 0 ? -2 : hex_decode(h, id, CHUNK_ID_LEN);
				if (c == 0)
					continue;	/* the string ends there: a short id */
				if (v < 0 ? rc != -1 : rc != 0 || id[5] != (at ? (0x55 & 0xf0) | v : (v << 4) | 0x05) ||
					id[4] != 0x44 || id[6] != 0x66)
					wrong++;
			}
		memcpy(line, hex, 2 * CHUNK_ID_LEN + 1);
		line[2 * CHUNK_ID_LEN - 1] = '\0';
		ok(wrong == 0 && hex_decode(line, id, CHUNK_ID_LEN) == -1,
		   "hex_decode: 0-9, a-f, A-F decode in either digit of a byte, any other byte and a short string fail");
	}
}

static void
test_lsn(void)
{
	uint64_t	l;
	char		s[32];

	ok(lsn_parse("0/3000060", &l) == 0 && l == 0x3000060, "lsn 0/3000060");
	ok(lsn_parse("1A/FF", &l) == 0 && l == ((UINT64_C(0x1A) << 32) | 0xFF), "lsn 1A/FF");
	ok(lsn_parse("0/3000060x", &l) != 0, "trailing junk refused");
	ok(lsn_parse("3000060", &l) != 0, "no slash refused");
	lsn_format(UINT64_C(0x1A000000FF), s, sizeof(s));
	is_str(s, "1A/FF", "format");
}

/* Chunk i of data (lens[i] bytes at i * PACK_CHUNK_SIZE) for i < n stored
 * in one pack, back to back; refs filled. */
static void
store_chunks(repo *r, const uint8_t *data, const uint32_t *lens, int n, chunk_ref *refs)
{
	pgark_err	err;
	uint8_t		key[32];
	pack_writer *pw;

	err_clear(&err);
	if (chunk_key(r, key, &err) != 0 || (pw = pack_writer_new(r, 0, &err)) == NULL)
		bail_out("pack writer: %s", err.msg);
	for (int i = 0; i < n; i++)
	{
		uint8_t		id[CHUNK_ID_LEN];

		if (chunk_id(key, data + (size_t) i * PACK_CHUNK_SIZE, lens[i], id, &err) != 0 ||
			pack_add(pw, id, data + (size_t) i * PACK_CHUNK_SIZE, lens[i], &refs[i], &err) != 0)
			bail_out("pack_add: %s", err.msg);
	}
	is_int(pack_flush(pw, &err), 0, "a pack of %d chunks committed", n);
	pack_writer_free(pw);
}

/*
 * Restores read packs through a cache of 1 MiB blocks: runs served in pack
 * order, backwards (every block evicted in between), across block
 * boundaries and at random must all come back exactly; a truncated pack is
 * refused, never served short.
 */
static void
test_chunk_cache(void)
{
	repo	   *r = open_repo("aes-256-gcm");
	pgark_err	err;
	enum
	{
	NCHUNK = 2200				/* ~18 MiB of incompressible chunks: more than the cache */
	};
	uint8_t    *data = malloc((size_t) NCHUNK * PACK_CHUNK_SIZE);
	chunk_ref  *refs = calloc(NCHUNK, sizeof(chunk_ref));
	uint32_t   *lens = calloc(NCHUNK, sizeof(uint32_t));
	uint8_t    *out = malloc(4 * PACK_CHUNK_SIZE);
	chunk_reader *cr;
	int			bad = 0;
	unsigned int seed = 7;

	note("pack reads through the block cache");
	err_clear(&err);
	if (data == NULL || refs == NULL || lens == NULL || out == NULL)
		bail_out("out of memory");
	for (size_t i = 0; i < (size_t) NCHUNK * PACK_CHUNK_SIZE; i++)
		data[i] = (uint8_t) (rand_r(&seed) >> 7);
	for (int i = 0; i < NCHUNK; i++)
		lens[i] = PACK_CHUNK_SIZE - (uint32_t) (i % 3) * 1000;
	store_chunks(r, data, lens, NCHUNK, refs);

	cr = chunk_reader_new(r, &err);
	/* in order, one chunk at a time */
	for (int i = 0; i < NCHUNK && !bad; i++)
		if (chunk_read_run(cr, &refs[i], &lens[i], 1, out, &err) != 0 ||
			memcmp(out, data + (size_t) i * PACK_CHUNK_SIZE, lens[i]) != 0)
			bad = i + 1;
	is_int(bad, 0, "every chunk in pack order comes back exactly");
	ok(chunk_reader_bytes(cr) < (uint64_t) NCHUNK * PACK_CHUNK_SIZE * 11 / 10,
	   "... fetching each block about once (%llu bytes)", (unsigned long long) chunk_reader_bytes(cr));
	/* backwards, runs of four (crossing block boundaries) */
	for (int i = NCHUNK - 4; i >= 0 && !bad; i -= 4)
	{
		if (chunk_read_run(cr, &refs[i], &lens[i], 4, out, &err) != 0)
			bad = i + 1;
		for (int k = 0; k < 4 && !bad; k++)
			if (memcmp(out + (size_t) k * PACK_CHUNK_SIZE, data + (size_t) (i + k) * PACK_CHUNK_SIZE, lens[i + k]) != 0)
				bad = i + 1;
	}
	is_int(bad, 0, "runs of four, backwards, come back exactly");
	/* at random */
	for (int n = 0; n < 3000 && !bad; n++)
	{
		int			i = (int) (rand_r(&seed) % NCHUNK);

		if (chunk_read_run(cr, &refs[i], &lens[i], 1, out, &err) != 0 ||
			memcmp(out, data + (size_t) i * PACK_CHUNK_SIZE, lens[i]) != 0)
			bad = i + 1;
	}
	is_int(bad, 0, "3000 chunks at random come back exactly");
	chunk_reader_free(cr);

	/* the pack truncated: its last chunks are refused, not served short */
	{
		char		name[128], path[PATH_MAX + 200];
		FILE	   *f;
		long		sz;

		pack_object_name(refs[0].pack, name, sizeof(name));
		snprintf(path, sizeof(path), "%s/%s", cfg.repo_path, name);
		if ((f = fopen(path, "r+")) == NULL)
			bail_out("open %s", path);
		fseek(f, 0, SEEK_END);
		sz = ftell(f);
		if (ftruncate(fileno(f), sz - 100) != 0)
			bail_out("truncate %s", path);
		fclose(f);
		cr = chunk_reader_new(r, &err);
		is_int(chunk_read_run(cr, &refs[0], &lens[0], 1, out, &err), 0, "truncated pack: its first chunk still reads");
		is_int(chunk_read_run(cr, &refs[NCHUNK - 1], &lens[NCHUNK - 1], 1, out, &err), -1,
			   "truncated pack: its last chunk is refused");
		is_kind(err, PGARK_ERR_CORRUPT, "... as corrupt");
		like(err.msg, "shorter than its chunks say", "... saying the pack is short");
		chunk_reader_free(cr);
	}
	free(data);
	free(refs);
	free(lens);
	free(out);
	repo_close(r);
}

/* chunk_read_run_to's sink for the test: copies each group into place and
 * notes where groups started; fails for the group at fail_at */
typedef struct sink_log
{
	pthread_mutex_t mu;
	uint8_t    *copy;
	int			calls;
	size_t		starts[16];
	size_t		lens[16];
	size_t		fail_at;
} sink_log;

static int
sink_copy(void *arg, size_t i, const uint8_t *data, size_t len, pgark_err *err)
{
	sink_log   *s = arg;

	if (i == s->fail_at)
		return err_set(err, PGARK_ERR_NOSPACE, ENOSPC, "sink full at chunk %zu", i);
	memcpy(s->copy + i * PACK_CHUNK_SIZE, data, len);
	pthread_mutex_lock(&s->mu);
	if (s->calls < 16)
	{
		s->starts[s->calls] = i;
		s->lens[s->calls] = len;
	}
	s->calls++;
	pthread_mutex_unlock(&s->mu);
	return 0;
}

/* random plaintext for n chunks, room to read them back, a sink log */
typedef struct run_fixture
{
	uint8_t    *data;
	uint8_t    *out;
	sink_log	s;
} run_fixture;

static void
run_fixture_init(run_fixture *f, size_t n, unsigned int seed)
{
	memset(f, 0, sizeof(*f));
	pthread_mutex_init(&f->s.mu, NULL);
	f->s.fail_at = (size_t) -1;
	f->data = malloc(n * PACK_CHUNK_SIZE);
	f->out = malloc(n * PACK_CHUNK_SIZE);
	f->s.copy = calloc(n, PACK_CHUNK_SIZE);
	if (f->data == NULL || f->out == NULL || f->s.copy == NULL)
		bail_out("out of memory");
	for (size_t i = 0; i < n * PACK_CHUNK_SIZE; i++)
		f->data[i] = (uint8_t) (rand_r(&seed) >> 9);
}

static void
run_fixture_free(run_fixture *f)
{
	pthread_mutex_destroy(&f->s.mu);
	free(f->s.copy);
	free(f->data);
	free(f->out);
}

/*
 * A run read through a sink, on three threads: every group of CHUNK_GROUP
 * chunks reaches the sink once, back to back, exactly; a failing sink fails
 * the run with its error; a short chunk inside a run is refused.
 */
static void
test_run_to_sink(void)
{
	enum
	{
	N = 3 * CHUNK_GROUP + 4
	};
	repo	   *r = open_repo("aes-256-gcm");
	pgark_err	err;
	run_fixture f;
	uint8_t    *data, *out;
	chunk_ref	refs[N];
	uint32_t	lens[N];
	chunk_reader *cr;
	workers    *wk;
	sink_log   *s = &f.s;
	size_t		total = 0;
	int			seen[4] = {0};

	note("a run read through a sink, on threads");
	err_clear(&err);
	run_fixture_init(&f, N, 11);
	data = f.data;
	out = f.out;
	for (int i = 0; i < N; i++)
	{
		lens[i] = i == N - 1 ? 500 : PACK_CHUNK_SIZE;
		total += lens[i];
	}
	store_chunks(r, data, lens, N, refs);
	cr = chunk_reader_new(r, &err);
	wk = workers_new(3, &err);
	chunk_reader_set_workers(cr, wk);

	s->fail_at = (size_t) -1;
	if (!is_int(chunk_read_run_to(cr, refs, lens, N, out, sink_copy, s, &err), 0, "the run read through the sink"))
		diag("%s", err.msg);
	is_int(s->calls, 4, "... in 4 groups");
	for (int k = 0; k < s->calls && k < 4; k++)
	{
		size_t		g = s->starts[k] / CHUNK_GROUP;
		size_t		want = g < 3 ? (size_t) CHUNK_GROUP * PACK_CHUNK_SIZE : 3 * PACK_CHUNK_SIZE + 500;

		if (s->starts[k] % CHUNK_GROUP == 0 && g < 4 && s->lens[k] == want)
			seen[g]++;
	}
	ok(seen[0] == 1 && seen[1] == 1 && seen[2] == 1 && seen[3] == 1,
	   "... each starting at a multiple of %d, with its chunks' bytes back to back", CHUNK_GROUP);
	ok(memcmp(s->copy, data, total) == 0, "... the sink got every byte exactly");
	ok(memcmp(out, data, total) == 0, "... and so did out");

	s->fail_at = 2 * CHUNK_GROUP;
	is_int(chunk_read_run_to(cr, refs, lens, N, out, sink_copy, s, &err), -1, "a failing sink fails the run");
	like(err.msg, "sink full at chunk 64", "... with the sink's error");
	is_kind(err, PGARK_ERR_NOSPACE, "... and its kind");

	s->fail_at = (size_t) -1;
	lens[5]--;
	is_int(chunk_read_run_to(cr, refs, lens, N, out, sink_copy, s, &err), -1,
		   "a chunk of another length inside a run is refused");
	lens[5]++;

	chunk_reader_free(cr);
	workers_free(wk);
	run_fixture_free(&f);
	repo_close(r);
}

/* xor x into byte off of the pack file that holds ref */
static void
flip_pack_byte(const chunk_ref *ref, uint64_t off, uint8_t x)
{
	char		name[128], path[PATH_MAX + 200];
	FILE	   *f;
	int			c;

	pack_object_name(ref->pack, name, sizeof(name));
	snprintf(path, sizeof(path), "%s/%s", cfg.repo_path, name);
	if ((f = fopen(path, "r+")) == NULL || fseek(f, (long) off, SEEK_SET) != 0 || (c = fgetc(f)) == EOF ||
		fseek(f, (long) off, SEEK_SET) != 0 || fputc(c ^ x, f) == EOF || fclose(f) != 0)
		bail_out("cannot flip a byte of %s", path);
}

/*
 * A run whose chunks lie in several ranges of two packs (an incremental
 * backup's file: new chunks between older ones), some of them across the
 * cache's 1 MiB blocks, some backwards in their pack, one chunk twice (a
 * page that repeats): it reads back exactly, on threads, through the sink;
 * damage in one range fails the run and names that range's pack.
 */
static void
test_run_across_packs(void)
{
	enum
	{
	N = 300
	};
	repo	   *r = open_repo("aes-256-gcm");
	pgark_err	err;
	run_fixture f;
	uint8_t    *data, *out, *want = malloc((size_t) N * PACK_CHUNK_SIZE);
	size_t		total = (size_t) (N - 1) * PACK_CHUNK_SIZE + 700;
	chunk_ref	in_a[N], in_b[N], refs[N];
	uint32_t	lens[N];
	chunk_reader *cr;
	workers    *wk;
	sink_log   *s = &f.s;
	char		name_b[128];
	int			ranges = 0, first_b = -1;

	note("a run across ranges of two packs");
	err_clear(&err);
	run_fixture_init(&f, N, 5);
	data = f.data;
	out = f.out;
	for (int i = 0; i < N; i++)
		lens[i] = i == N - 1 ? 700 : PACK_CHUNK_SIZE;
	store_chunks(r, data, lens, N, in_a);
	store_chunks(r, data, lens, N, in_b);
	if (want == NULL)
		bail_out("out of memory");
	/*
	 * Chunk i of the run is stored chunk src: i itself from pack A, but from
	 * pack B for the 7th to 9th of every 10; chunk 12 is chunk 11 again; the
	 * 39 before the last are A's in reverse order (one range each).
	 */
	for (int i = 0; i < N; i++)
	{
		int			src = i >= N - 40 && i < N - 1 ? (N - 40) + (N - 2) - i : i == 12 ? 11 : i;

		refs[i] = i % 10 >= 7 && i < N - 40 ? in_b[src] : in_a[src];
		memcpy(want + (size_t) i * PACK_CHUNK_SIZE, data + (size_t) src * PACK_CHUNK_SIZE, lens[i]);
		if (i > 0 && (memcmp(refs[i].pack, refs[i - 1].pack, PACK_ID_LEN) != 0 ||
					  refs[i].offset != refs[i - 1].offset + refs[i - 1].len))
			ranges++;
		if (first_b < 0 && memcmp(refs[i].pack, in_b[0].pack, PACK_ID_LEN) == 0)
			first_b = i;
	}
	ok(memcmp(in_a[0].pack, in_b[0].pack, PACK_ID_LEN) != 0 && ranges == 93 && first_b == 7,
	   "two packs, the run in %d ranges", ranges + 1);
	cr = chunk_reader_new(r, &err);
	wk = workers_new(2, &err);
	chunk_reader_set_workers(cr, wk);

	s->fail_at = (size_t) -1;
	if (!is_int(chunk_read_run_to(cr, refs, lens, N, out, sink_copy, s, &err), 0, "the run reads"))
		diag("%s", err.msg);
	ok(memcmp(out, want, total) == 0 && memcmp(s->copy, want, total) == 0, "... exactly, through the sink too");

	/* (a new reader each time: the last one holds the packs' blocks) */
	chunk_reader_free(cr);
	flip_pack_byte(&refs[first_b], refs[first_b].offset + refs[first_b].len / 2, 0x04);
	cr = chunk_reader_new(r, &err);
	chunk_reader_set_workers(cr, wk);
	is_int(chunk_read_run_to(cr, refs, lens, N, out, sink_copy, s, &err), -1, "a damaged chunk in pack B fails the run");
	is_kind(err, PGARK_ERR_CORRUPT, "... as damage");
	pack_object_name(in_b[0].pack, name_b, sizeof(name_b));
	like(err.msg, name_b, "... naming pack B");
	chunk_reader_free(cr);
	flip_pack_byte(&refs[first_b], refs[first_b].offset + refs[first_b].len / 2, 0x04);
	cr = chunk_reader_new(r, &err);
	chunk_reader_set_workers(cr, wk);
	if (!is_int(chunk_read_run_to(cr, refs, lens, N, out, NULL, NULL, &err), 0, "mended, the run reads again"))
		diag("%s", err.msg);

	chunk_reader_free(cr);
	workers_free(wk);
	free(want);
	run_fixture_free(&f);
	repo_close(r);
}

/*
 * Damaged chunks as the restore decodes them (in memory, decoders reused
 * across chunks and threads): every kind of damage is refused as CORRUPT,
 * naming the pack and the chunk, and the intact chunks around it still read.
 */
static void
test_chunk_damage(const char *cipher, int threads)
{
	repo	   *r = open_repo(cipher);
	pgark_err	err;
	pack_writer *pw;
	uint8_t		key[32], data[4 * PACK_CHUNK_SIZE], out[4 * PACK_CHUNK_SIZE];
	chunk_ref	refs[4], bad;
	uint32_t	lens[4];
	chunk_reader *cr;
	workers    *wk = NULL;
	int			nbad = 0, cases = 0;

	note("chunk damage, cipher %s, %d decoding threads", cipher, threads);
	err_clear(&err);
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t) (i % 3 == 0 ? i * 2654435761u >> 11 : i / 100);
	if (chunk_key(r, key, &err) != 0 || (pw = pack_writer_new(r, 0, &err)) == NULL)
		bail_out("chunk key / pack writer: %s", err.msg);
	for (int i = 0; i < 4; i++)
	{
		uint8_t		id[CHUNK_ID_LEN];

		lens[i] = i < 3 ? PACK_CHUNK_SIZE : 3000;
		if (chunk_id(key, data + i * PACK_CHUNK_SIZE, lens[i], id, &err) != 0 ||
			pack_add(pw, id, data + i * PACK_CHUNK_SIZE, lens[i], &refs[i], &err) != 0)
			bail_out("pack_add: %s", err.msg);
	}
	if (pack_flush(pw, &err) != 0)
		bail_out("pack_flush: %s", err.msg);
	pack_writer_free(pw);
	if (threads > 1 && (wk = workers_new(threads, &err)) == NULL)
		bail_out("workers_new: %s", err.msg);

	/* each byte of chunk 1's object flipped (header, frame header, payload, tag, trailer) */
	for (uint32_t b = 0; b < refs[1].len; b += (b < 100 || b + 60 > refs[1].len) ? 1 : 97)
	{
		flip_pack_byte(&refs[1], refs[1].offset + b, 0x10);
		cr = chunk_reader_new(r, &err);
		chunk_reader_set_workers(cr, wk);
		err_clear(&err);
		/* (a flipped data key id: a key the repository does not have) */
		if (chunk_read_run(cr, refs, lens, 4, out, &err) != -1 ||
			(err.kind != PGARK_ERR_CORRUPT &&
			 !(err.kind == PGARK_ERR_KEY && strcmp(cipher, "none") != 0 && b >= 24 && b < 24 + OBJ_DEK_ID_LEN)) ||
			strstr(err.msg, "chunk at offset") == NULL)
		{
			if (nbad++ < 5)
				diag("byte %u of chunk 1 flipped: %s (%s)", b, err_kind_name(err.kind), err.msg);
		}
		else if (chunk_read_run(cr, &refs[2], &lens[2], 2, out, &err) != 0 ||
				 memcmp(out, data + 2 * PACK_CHUNK_SIZE, PACK_CHUNK_SIZE + 3000) != 0)
		{
			if (nbad++ < 5)
				diag("byte %u of chunk 1 flipped: chunks 2 and 3 no longer read (%s)", b, err.msg);
		}
		cases++;
		chunk_reader_free(cr);
		flip_pack_byte(&refs[1], refs[1].offset + b, 0x10);
	}
	ok(nbad == 0, "[%s, %d threads] each of %d flipped bytes of a chunk fails its run as CORRUPT "
	   "(KEY in its data key id), the next chunks still read", cipher, threads, cases);

	cr = chunk_reader_new(r, &err);
	chunk_reader_set_workers(cr, wk);
	if (!is_int(chunk_read_run(cr, refs, lens, 4, out, &err), 0, "[%s] the intact run reads", cipher))
		diag("%s", err.msg);
	ok(memcmp(out, data, 3 * PACK_CHUNK_SIZE + 3000) == 0, "... exactly");

	/* the object cut short, or running into the next one; another length; another id */
	{
		struct
		{
			const char *what;
			int			dlen;
			int			dplain;
			int			did;
		}			cuts[] = {
			{"one byte short (truncated trailer)", -1, 0, 0},
			{"cut inside a frame", -(int) (refs[1].len / 2), 0, 0},
			{"cut to its header", -(int) (refs[1].len - 80), 0, 0},
			{"one byte of the next chunk after it (extra bytes)", 1, 0, 0},
			{"the manifest's length one less", 0, -1, 0},
			{"another chunk id", 0, 0, 1},
		};

		for (size_t c = 0; c < sizeof(cuts) / sizeof(cuts[0]); c++)
		{
			uint32_t	l = lens[1] + (uint32_t) cuts[c].dplain;

			bad = refs[1];
			bad.len = (uint32_t) ((int) bad.len + cuts[c].dlen);
			bad.id[5] ^= (uint8_t) cuts[c].did;
			err_clear(&err);
			ok(chunk_read_run(cr, &bad, &l, 1, out, &err) == -1 && err.kind == PGARK_ERR_CORRUPT,
			   "[%s] chunk %s: CORRUPT (%s)", cipher, cuts[c].what, err.msg);
		}
	}
	chunk_reader_free(cr);
	workers_free(wk);
	repo_close(r);
}

/* A pack of one cipher read by a repository of the other: refused (no key, or a forged "none"). */
static void
test_chunk_cipher(void)
{
	pgark_err	err;
	repo	   *ra = open_repo("aes-256-gcm");
	char		apath[PATH_MAX];
	repo	   *rn;
	pack_writer *pw;
	uint8_t		key[32], data[PACK_CHUNK_SIZE], out[PACK_CHUNK_SIZE], id[CHUNK_ID_LEN];
	chunk_ref	ref;
	uint32_t	len = PACK_CHUNK_SIZE;
	chunk_reader *cr;
	char		name[128], from[PATH_MAX + 200], to[PATH_MAX + 200], cmd[4 * PATH_MAX + 1000];

	snprintf(apath, sizeof(apath), "%s", cfg.repo_path);
	rn = open_repo("none");
	memset(data, 'n', sizeof(data));
	if (chunk_key(rn, key, &err) != 0 || chunk_id(key, data, len, id, &err) != 0 ||
		(pw = pack_writer_new(rn, 0, &err)) == NULL || pack_add(pw, id, data, len, &ref, &err) != 0 ||
		pack_flush(pw, &err) != 0)
		bail_out("none pack: %s", err.msg);
	pack_writer_free(pw);
	/* the unencrypted pack planted in the encrypted repository */
	pack_object_name(ref.pack, name, sizeof(name));
	snprintf(from, sizeof(from), "%s/%s", cfg.repo_path, name);
	snprintf(to, sizeof(to), "%s/%s", apath, name);
	snprintf(cmd, sizeof(cmd), "mkdir -p \"$(dirname '%s')\" && cp '%s' '%s'", to, from, to);
	if (system(cmd) != 0)
		bail_out("cannot copy the pack: %s", cmd);
	cr = chunk_reader_new(ra, &err);
	err_clear(&err);
	ok(chunk_read_run(cr, &ref, &len, 1, out, &err) == -1 && err.kind == PGARK_ERR_CORRUPT,
	   "an unencrypted chunk in an encrypted repository is refused as CORRUPT");
	like(err.msg, "NOT encrypted", "... saying it is not encrypted (%s)", err.msg);
	chunk_reader_free(cr);
	repo_close(rn);
	repo_close(ra);
}

int
main(void)
{
	make_tmpdir(dir, sizeof(dir), "manifest");
	test_round_trip("aes-256-gcm");
	test_round_trip("none");
	test_unsafe_paths();
	test_lsn();
	test_chunk_lines();
	test_run_to_sink();
	test_chunk_cache();
	test_run_across_packs();
	test_chunk_damage("aes-256-gcm", 1);
	test_chunk_damage("aes-256-gcm", 2);
	test_chunk_damage("none", 2);
	test_chunk_cipher();
	rm_rf(dir);
	return done_testing();
}
