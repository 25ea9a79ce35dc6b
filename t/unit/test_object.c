/*
 * test_object.c — the object container (lib/object.h): round trips at the
 * frame-size edges and at 16 MiB, summaries, writer refusals, and every kind
 * of damage a stored object can suffer — each single-byte flip, each
 * truncation, appended bytes, swapped, dropped, duplicated and spliced
 * frames, header edits, a wrong key — must make the read fail before the
 * reader reports the end of the object.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crypto.h"
#include "object.h"
#include "tap.h"
#include "testutil.h"
#include "util.h"
#include "workers.h"

#define SMALL_FRAME 64

static obj_dek test_dek;		/* the key objects are written with */
static obj_dek other_dek;		/* same id, another key: a wrong DEK */

/* obj_key_fn: knows exactly one DEK (arg), by id. */
static const obj_dek *
lookup_one(void *arg, const uint8_t id[OBJ_DEK_ID_LEN], pgark_err *err)
{
	const obj_dek *d = arg;

	if (d != NULL && memcmp(d->id, id, OBJ_DEK_ID_LEN) == 0)
		return d;
	err_set(err, PGARK_ERR_KEY, 0, "data key not found");
	return NULL;
}

/* obj_key_fn: returns the DEK (arg) whatever id is asked for. */
static const obj_dek *
lookup_any(void *arg, const uint8_t id[OBJ_DEK_ID_LEN], pgark_err *err)
{
	(void) id;
	(void) err;
	return arg;
}

static obj_params
params(obj_cipher cipher, uint32_t frame_size, uint64_t plain_len)
{
	obj_params	p;

	memset(&p, 0, sizeof(p));
	p.compression = OBJ_COMP_LZ4;
	p.cipher = cipher;
	p.frame_size = frame_size;
	p.plain_len = plain_len;
	p.dek = &test_dek;
	p.salt = NULL;
	return p;
}

/* Write plain[0..n) through a writer in pieces of wchunk; 0 or -1. */
static int
write_object(const obj_params *p, const uint8_t *plain, size_t n, size_t wchunk,
			 membuf *out, obj_summary *sum, pgark_err *err)
{
	obj_writer *w = obj_writer_new(p, mem_sink, out, err);
	size_t		off = 0;
	int			rc = -1;

	if (w == NULL)
		return -1;
	if (wchunk == 0)
		wchunk = n ? n : 1;
	while (off < n)
	{
		size_t		k = n - off < wchunk ? n - off : wchunk;

		if (obj_writer_write(w, plain + off, k, err) != 0)
			goto done;
		off += k;
	}
	rc = obj_writer_finish(w, sum, err);
done:
	obj_writer_free(w);
	return rc;
}

struct read_result
{
	int			rc;				/* 0: end of object reported; -1: failed */
	int			failed_in_new;
	membuf		plain;			/* what the reader returned */
	obj_summary sum;
	obj_header	hdr;
	int			have_sum;
	pgark_err	err;
};

/*
 * obj_decoder, the in-memory twin of the reader, is fed every object the
 * reader is (read_object): it must end the same way — the same plaintext, or
 * the same error kind and message. One decoder per key function and argument,
 * reused from object to object (good and damaged, AES and none, any frame size).
 */
static int	twin_cases, twin_bad;

static obj_decoder *
decoder_for(obj_key_fn keys, void *keys_arg)
{
	static struct
	{
		obj_key_fn	keys;
		void	   *arg;
		obj_decoder *d;
	}			tab[8];
	static int	n;
	pgark_err	err;

	for (int i = 0; i < n; i++)
		if (tab[i].keys == keys && tab[i].arg == keys_arg)
			return tab[i].d;
	if (n == 8 || (tab[n].d = obj_decoder_new(keys, keys_arg, &err)) == NULL)
		bail_out("obj_decoder_new");
	tab[n].keys = keys;
	tab[n].arg = keys_arg;
	return tab[n++].d;
}

typedef struct read_result read_result;
static void decode_twin(const uint8_t *obj, size_t len, obj_key_fn keys, void *keys_arg,
						const read_result *rr, size_t slack);

/* read_object skips the SHA-256 of the stored bytes (obj_reader_skip_stored_sha256) */
static int	skip_stored_sha256;
static int	defer_xxh64;		/* read_object hashes, as wal-fetch does */

/*
 * Read the object obj[0..len) with source pieces of src_chunk (0: as much as
 * asked) into a buffer of rchunk bytes, until the reader reports the end or
 * fails; then decode it with an obj_decoder as well (decode_twin).
 */
static void
read_object(const uint8_t *obj, size_t len, obj_key_fn keys, void *keys_arg,
			size_t src_chunk, size_t rchunk, read_result *res)
{
	memsrc		src = {obj, len, 0, src_chunk};
	obj_reader *r;
	uint8_t    *buf = malloc(rchunk);

	memset(res, 0, sizeof(*res));
	err_clear(&res->err);
	if (buf == NULL)
		bail_out("out of memory");
	res->rc = -1;
	r = obj_reader_new(mem_source, &src, keys, keys_arg, &res->err);
	if (r == NULL)
	{
		res->failed_in_new = 1;
		free(buf);
		return;
	}
	res->hdr = *obj_reader_header(r);
	if (skip_stored_sha256)
		obj_reader_skip_stored_sha256(r);
	if (defer_xxh64)
		obj_reader_defer_xxh64(r);
	for (;;)
	{
		size_t		got = 12345;

		if (obj_reader_read(r, buf, rchunk, &got, &res->err) != 0)
			break;
		if (got == 0 && defer_xxh64)
		{
			if (obj_reader_summary(r) != NULL)
				bail_out("a summary before the caller's XXH64 was checked");
			if (obj_reader_check_hash(r, &res->err) != 0)
				break;
		}
		if (got == 0)
		{
			const obj_summary *s = obj_reader_summary(r);

			res->rc = 0;
			if (s != NULL)
			{
				res->sum = *s;
				res->have_sum = 1;
			}
			break;
		}
		if (got > rchunk)
			bail_out("reader returned more than asked");
		if (defer_xxh64)
			obj_reader_hash(r, buf, got);
		membuf_append(&res->plain, buf, got);
	}
	obj_reader_free(r);
	free(buf);
	/*
	 * Room for what the reader returned, plus what its failing call may have
	 * dropped (less than rchunk), or a little more.
	 */
	decode_twin(obj, len, keys, keys_arg, res, (res->rc == 0 ? 0 : rchunk) + (len + rchunk) % 3 * 5);
}

static void
decode_twin(const uint8_t *obj, size_t len, obj_key_fn keys, void *keys_arg, const read_result *rr,
			size_t slack)
{
	obj_decoder *d = decoder_for(keys, keys_arg);
	size_t		cap = rr->plain.len + slack;
	uint8_t    *out = malloc(cap ? cap : 1);
	size_t		got = 12345;
	pgark_err	err;
	const obj_header *h;
	int			rc = -1, good;

	if (out == NULL)
		bail_out("out of memory");
	err_clear(&err);
	h = obj_decode_open(d, obj, len, &err);
	if (h != NULL)
		rc = obj_decode_read(d, out, cap, &got, &err);
	if (rc == 0)
		good = rr->rc == 0 && got == rr->plain.len && (got == 0 || memcmp(out, rr->plain.buf, got) == 0) &&
			memcmp(h, &rr->hdr, sizeof(*h)) == 0;
	else
		good = rr->rc == -1 && (h == NULL) == (rr->failed_in_new != 0) && err.kind == rr->err.kind &&
			strcmp(err.msg, rr->err.msg) == 0;
	twin_cases++;
	if (!good && twin_bad++ < 10)
		diag("obj_decoder and obj_reader disagree on a %zu-byte object: decoder %d (%s: %s), reader %d (%s: %s)",
			 len, rc, err_kind_name(err.kind), err.msg, rr->rc, err_kind_name(rr->err.kind), rr->err.msg);
	free(out);
}

static uint64_t
frames_for(size_t n, uint32_t frame)
{
	return (n + frame - 1) / frame;
}

/* ------------------------------------------------------------------ round trips */

static void
round_trip(const char *what, obj_cipher cipher, obj_compression comp, uint32_t frame,
		   const uint8_t *plain, size_t n, int len_known, size_t wchunk, size_t src_chunk, size_t rchunk)
{
	obj_params	p = params(cipher, frame, len_known ? n : OBJ_LEN_UNKNOWN);
	membuf		out = {0};
	obj_summary ws;
	pgark_err	err;
	read_result rr;
	uint8_t		sha[SHA256_LEN];
	char		label[200];
	uint32_t	eff_frame = frame ? frame : OBJ_DEFAULT_FRAME_SIZE;

	snprintf(label, sizeof(label), "%s, %zu bytes, %s, %s, frame %u, len %s", what, n,
			 cipher == OBJ_CIPHER_AES256GCM ? "aes" : "none", comp == OBJ_COMP_LZ4 ? "lz4" : "raw",
			 eff_frame, len_known ? "known" : "unknown");
	p.compression = comp;
	err_clear(&err);
	memset(&ws, 0xEE, sizeof(ws));
	if (!is_int(write_object(&p, plain, n, wchunk, &out, &ws, &err), 0, "%s: written", label))
	{
		diag("%s", err.msg);
		membuf_free(&out);
		return;
	}
	/* the writer's summary describes what it emitted */
	sha256_once(out.buf, out.len, sha);
	ok(ws.stored_len == out.len && memcmp(ws.sha256, sha, SHA256_LEN) == 0 &&
	   ws.plain_len == n && ws.xxh64 == xxh64(plain, n, 0) && ws.frames == frames_for(n, eff_frame),
	   "%s: writer summary (stored %llu = %zu emitted, SHA-256 of them, XXH64, %llu frames)",
	   label, (unsigned long long) ws.stored_len, out.len, (unsigned long long) ws.frames);

	read_object(out.buf, out.len, lookup_one, &test_dek, src_chunk, rchunk, &rr);
	if (!is_int(rr.rc, 0, "%s: read back to a verified end", label))
		diag("%s", rr.err.msg);
	is_buf(rr.plain.buf, rr.plain.len, plain, n, "%s: same plaintext", label);
	ok(rr.have_sum && rr.sum.plain_len == ws.plain_len && rr.sum.stored_len == ws.stored_len &&
	   rr.sum.frames == ws.frames && rr.sum.xxh64 == ws.xxh64 &&
	   memcmp(rr.sum.sha256, ws.sha256, SHA256_LEN) == 0,
	   "%s: reader summary equals writer summary", label);
	ok(rr.hdr.version == OBJ_VERSION && rr.hdr.cipher == cipher && rr.hdr.compression == comp &&
	   rr.hdr.frame_size == eff_frame && rr.hdr.plain_len == (len_known ? n : OBJ_LEN_UNKNOWN),
	   "%s: header fields", label);
	membuf_free(&rr.plain);
	membuf_free(&out);
}

static void
test_round_trips(void)
{
	static const size_t sizes[] = {0, 1, SMALL_FRAME - 1, SMALL_FRAME, SMALL_FRAME + 1, 3 * SMALL_FRAME + 5};
	static const size_t wchunks[] = {1, 7, SMALL_FRAME, 0, 100};
	static const size_t srcchunks[] = {1, 5, 0, 13};
	static const size_t rchunks[] = {1, 3, SMALL_FRAME, 1000, 77};
	uint8_t		data[2][3 * SMALL_FRAME + 5];
	int			combo = 0;

	fill_text(data[0], sizeof(data[0]), 1);
	fill_random(data[1], sizeof(data[1]), 2);
	for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++)
		for (int c = 0; c < 2; c++)
			for (int known = 0; known < 2; known++)
				for (int d = 0; d < 2; d++, combo++)
					round_trip(d ? "random" : "text", c ? OBJ_CIPHER_AES256GCM : OBJ_CIPHER_NONE,
							   OBJ_COMP_LZ4, SMALL_FRAME, data[d], sizes[s], known,
							   wchunks[combo % 5], srcchunks[combo % 4], rchunks[combo % 5]);
	/* without compression */
	for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++)
		round_trip("text", OBJ_CIPHER_AES256GCM, OBJ_COMP_NONE, SMALL_FRAME, data[0], sizes[s], 1, 7, 3, 50);

	/* the smallest and largest frame sizes the format allows */
	{
		static const size_t msizes[] = {0, OBJ_MIN_FRAME_SIZE - 1, OBJ_MIN_FRAME_SIZE, OBJ_MIN_FRAME_SIZE + 1, 100};

		for (size_t s = 0; s < sizeof(msizes) / sizeof(msizes[0]); s++)
			for (int c = 0; c < 2; c++)
				round_trip("text, minimum frame size", c ? OBJ_CIPHER_AES256GCM : OBJ_CIPHER_NONE,
						   OBJ_COMP_LZ4, OBJ_MIN_FRAME_SIZE, data[0], msizes[s], 1, 5, 0, 9);
		round_trip("random, maximum frame size", OBJ_CIPHER_AES256GCM, OBJ_COMP_LZ4, OBJ_MAX_FRAME_SIZE,
				   data[1], sizeof(data[1]), 1, 0, 0, 4096);
	}
}

static void
test_big(void)
{
	size_t		n = 16u << 20;
	uint8_t    *plain = malloc(n);
	clock_t		t0 = clock();

	if (plain == NULL)
		bail_out("out of memory");
	fill_random(plain, n, 16);
	round_trip("16 MiB random", OBJ_CIPHER_AES256GCM, OBJ_COMP_LZ4, 0, plain, n, 1, (1u << 20) + 3, 0, 100000);
	fill_text(plain, n, 16);
	/* some structure that is not only words: a counter every 4 KiB */
	for (size_t off = 0; off + 8 <= n; off += 4096)
		put_be64(plain + off, off);
	round_trip("16 MiB compressible", OBJ_CIPHER_AES256GCM, OBJ_COMP_LZ4, 0, plain, n, 1, 65536, 0, 1 << 20);
	round_trip("16 MiB compressible", OBJ_CIPHER_NONE, OBJ_COMP_LZ4, 0, plain, n, 0, 4093, 0, 8191);

	/* compression really happens, and random data costs only the framing */
	{
		obj_params	p = params(OBJ_CIPHER_AES256GCM, 0, n);
		membuf		out = {0};
		obj_summary ws;
		pgark_err	err;

		write_object(&p, plain, n, 0, &out, &ws, &err);
		ok(out.len < n / 2, "compressible 16 MiB stores as %zu bytes (< 1/2)", out.len);
		membuf_free(&out);
		fill_random(plain, n, 17);
		write_object(&p, plain, n, 0, &out, &ws, &err);
		is_uint(out.len, OBJ_HEADER_LEN + 16 * (OBJ_FRAME_HDR_LEN + (1u << 20) + GCM_TAG_LEN) +
				OBJ_FRAME_HDR_LEN + OBJ_TRAILER_LEN + GCM_TAG_LEN,
				"random 16 MiB stores uncompressed: header + 16 frames + trailer");
		membuf_free(&out);
	}
	note("16 MiB round trips took %.1f s of CPU", (double) (clock() - t0) / CLOCKS_PER_SEC);
	free(plain);
}

/* ------------------------------------------------------------------ writer refusals */

static void
test_writer_refusals(void)
{
	uint8_t		data[200];
	membuf		out = {0};
	pgark_err	err;
	obj_params	p;
	obj_writer *w;
	obj_summary sum;

	fill_text(data, sizeof(data), 3);

	/* more bytes than announced */
	p = params(OBJ_CIPHER_AES256GCM, SMALL_FRAME, 100);
	err_clear(&err);
	w = obj_writer_new(&p, mem_sink, &out, &err);
	if (ok(w != NULL, "writer with plain_len 100"))
	{
		is_int(obj_writer_write(w, data, 60, &err), 0, "60 bytes accepted");
		is_int(obj_writer_write(w, data, 41, &err), -1, "41 more (101 > 100) refused");
		is_kind(err, PGARK_ERR_MISMATCH, "... as MISMATCH");
		like(err.msg, "100", "... message names the announced length");
		is_int(obj_writer_write(w, data, 1, &err), -1, "no writes after a failure");
		is_int(obj_writer_finish(w, &sum, &err), -1, "no finish after a failure");
		obj_writer_free(w);
	}
	membuf_free(&out);

	/* exactly announced, in one write that overshoots */
	p = params(OBJ_CIPHER_NONE, SMALL_FRAME, 10);
	is_int(write_object(&p, data, 11, 0, &out, &sum, &err), -1, "11 bytes into plain_len 10 refused (one write)");
	is_kind(err, PGARK_ERR_MISMATCH, "... as MISMATCH");
	membuf_free(&out);

	/* fewer bytes than announced */
	p = params(OBJ_CIPHER_AES256GCM, SMALL_FRAME, 150);
	is_int(write_object(&p, data, 149, 13, &out, &sum, &err), -1, "149 bytes for plain_len 150 refused at finish");
	is_kind(err, PGARK_ERR_MISMATCH, "... as MISMATCH");
	like(err.msg, "149", "... message names what was written");
	membuf_free(&out);
	p = params(OBJ_CIPHER_AES256GCM, SMALL_FRAME, 1);
	is_int(write_object(&p, data, 0, 0, &out, &sum, &err), -1, "0 bytes for plain_len 1 refused");
	membuf_free(&out);

	/* and exactly announced works (also 0 of 0) */
	p = params(OBJ_CIPHER_AES256GCM, SMALL_FRAME, 0);
	is_int(write_object(&p, data, 0, 0, &out, &sum, &err), 0, "0 bytes for plain_len 0 accepted");
	membuf_free(&out);

	/* encryption without a key */
	p = params(OBJ_CIPHER_AES256GCM, SMALL_FRAME, 10);
	p.dek = NULL;
	w = obj_writer_new(&p, mem_sink, &out, &err);
	ok(w == NULL, "AES-256-GCM without a DEK refused");
	is_kind(err, PGARK_ERR_KEY, "... as KEY");
	obj_writer_free(w);
	is_int(out.len, 0, "... and nothing was emitted");
	membuf_free(&out);

	/* frame sizes outside the format's range */
	{
		static const uint32_t bad[] = {OBJ_MIN_FRAME_SIZE - 1, 1, OBJ_MAX_FRAME_SIZE + 1, UINT32_MAX};

		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		{
			p = params(OBJ_CIPHER_NONE, bad[i], 10);
			w = obj_writer_new(&p, mem_sink, &out, &err);
			ok(w == NULL, "frame size %u refused", bad[i]);
			obj_writer_free(w);
			membuf_free(&out);
		}
	}

	/* a failing sink fails the writer, with the sink's error */
	for (int when = 1; when <= 4; when++)
	{
		membuf		full = {0};
		obj_writer *fw;
		int			rc = 0;

		full.fail_after = when;
		p = params(OBJ_CIPHER_AES256GCM, SMALL_FRAME, sizeof(data));
		err_clear(&err);
		fw = obj_writer_new(&p, mem_sink, &full, &err);
		if (fw == NULL)
			rc = -1;
		else
		{
			if (obj_writer_write(fw, data, sizeof(data), &err) != 0 ||
				obj_writer_finish(fw, &sum, &err) != 0)
				rc = -1;
			obj_writer_free(fw);
		}
		ok(rc == -1 && err.kind == PGARK_ERR_NOSPACE, "sink failing at call %d fails the object (%s)",
		   when, err_kind_name(err.kind));
		membuf_free(&full);
	}
	obj_writer_free(NULL);
	obj_reader_free(NULL);
}

/* ------------------------------------------------------------------ damage */

/* Frame boundaries of a well-formed object: start offsets, and the end. */
typedef struct frame_map
{
	size_t		n;				/* frames including the trailer */
	size_t		start[64];
	size_t		end;
} frame_map;

static void
map_frames(const uint8_t *obj, size_t len, frame_map *m)
{
	size_t		off = OBJ_HEADER_LEN;

	m->n = 0;
	while (off < len)
	{
		if (m->n >= 64 || off + OBJ_FRAME_HDR_LEN > len)
			bail_out("cannot map frames of the test object");
		m->start[m->n++] = off;
		off += OBJ_FRAME_HDR_LEN + get_be32(obj + off) + GCM_TAG_LEN;
	}
	if (off != len)
		bail_out("frames do not end at the end of the object");
	m->end = len;
}

static size_t
frame_len(const frame_map *m, size_t i)
{
	return (i + 1 < m->n ? m->start[i + 1] : m->end) - m->start[i];
}

typedef struct damage_ctx
{
	const uint8_t *plain;		/* the object's true plaintext */
	size_t		plain_n;
	obj_key_fn	keys;
	void	   *keys_arg;
	int			allow_key;		/* KEY is an acceptable kind too */
	int			check_prefix;	/* returned plaintext must be a prefix of the truth */
	int			bad;			/* count of undetected / wrongly reported cases */
	int			cases;
} damage_ctx;

/* One damaged object: the read must fail, as CORRUPT (or KEY). */
static int
expect_fail(damage_ctx *dc, const uint8_t *obj, size_t len, const char *what, size_t pos)
{
	read_result rr;
	int			good;

	/* vary how the bytes arrive as well */
	read_object(obj, len, dc->keys, dc->keys_arg, pos % 7, 1 + pos % 97, &rr);
	good = rr.rc == -1 &&
		(rr.err.kind == PGARK_ERR_CORRUPT || (dc->allow_key && rr.err.kind == PGARK_ERR_KEY));
	if (good && dc->check_prefix &&
		(rr.plain.len > dc->plain_n || (rr.plain.len > 0 && memcmp(rr.plain.buf, dc->plain, rr.plain.len) != 0)))
	{
		diag("%s at %zu: the reader returned %zu bytes that are not the object's plaintext", what, pos,
			 rr.plain.len);
		good = 0;
	}
	else if (!good && dc->bad < 10)
		diag("%s at %zu: %s (%s: %s)", what, pos, rr.rc == 0 ? "NOT DETECTED" : "wrong error kind",
			 err_kind_name(rr.err.kind), rr.err.msg);
	dc->cases++;
	if (!good)
		dc->bad++;
	membuf_free(&rr.plain);
	return good;
}

static void
damage_suite(obj_cipher cipher, int len_known)
{
	size_t		n = 3 * SMALL_FRAME + 20;
	uint8_t		plain[3 * SMALL_FRAME + 20];
	uint8_t		other[3 * SMALL_FRAME + 20];
	obj_params	p = params(cipher, SMALL_FRAME, len_known ? n : OBJ_LEN_UNKNOWN);
	membuf		obj = {0}, objb = {0};
	obj_summary sum;
	pgark_err	err;
	frame_map	m, mb;
	uint8_t    *bad;
	damage_ctx	dc;
	const char *cname = cipher == OBJ_CIPHER_AES256GCM ? "aes" : "none";
	const char *lname = len_known ? "known" : "unknown";
	int			aes = cipher == OBJ_CIPHER_AES256GCM;

	/* frames: text, random, text, 20-byte tail */
	fill_text(plain, n, 5);
	fill_random(plain + SMALL_FRAME, SMALL_FRAME, 6);
	if (write_object(&p, plain, n, 0, &obj, &sum, &err) != 0)
		bail_out("cannot write the damage test object: %s", err.msg);
	map_frames(obj.buf, obj.len, &m);
	is_int(m.n, 5, "[%s, len %s] test object: 4 data frames and a trailer (%zu bytes)", cname, lname, obj.len);
	ok((obj.buf[m.start[0] + 4] & OBJ_FRAME_LZ4) && !(obj.buf[m.start[1] + 4] & OBJ_FRAME_LZ4),
	   "[%s, len %s] frame 0 is lz4-compressed, frame 1 (random) is stored raw", cname, lname);

	bad = malloc(obj.len + 256);
	if (bad == NULL)
		bail_out("out of memory");
	memset(&dc, 0, sizeof(dc));
	dc.plain = plain;
	dc.plain_n = n;
	dc.keys = lookup_one;
	dc.keys_arg = &test_dek;
	dc.check_prefix = 1;

	/* the undamaged object reads */
	{
		read_result rr;

		read_object(obj.buf, obj.len, lookup_one, &test_dek, 0, 64, &rr);
		ok(rr.rc == 0 && rr.plain.len == n, "[%s, len %s] undamaged object reads", cname, lname);
		membuf_free(&rr.plain);
	}

	/* every single-byte flip */
	for (int mask = 0; mask < 2; mask++)
	{
		uint8_t		x = mask ? 0x80 : 0x01;

		dc.bad = dc.cases = 0;
		for (size_t i = 0; i < obj.len; i++)
		{
			memcpy(bad, obj.buf, obj.len);
			bad[i] ^= x;
			/*
			 * A flipped DEK id is found as an unknown key; so is cipher
			 * none flipped to AES (its all-zero DEK id is unknown).
			 */
			dc.allow_key = (aes && i >= 24 && i < 24 + OBJ_DEK_ID_LEN) || (!aes && i == 11 && x == 0x01);
			expect_fail(&dc, bad, obj.len, mask ? "flip 0x80" : "flip 0x01", i);
		}
		ok(dc.bad == 0, "[%s, len %s] each of the %d single-byte flips (xor 0x%02x) is detected",
		   cname, lname, dc.cases, x);
	}
	dc.allow_key = 0;

	/* every truncation */
	dc.bad = dc.cases = 0;
	for (size_t l = 0; l < obj.len; l++)
		expect_fail(&dc, obj.buf, l, "truncated to", l);
	ok(dc.bad == 0, "[%s, len %s] each of the %d truncations (0..%zu bytes) is detected",
	   cname, lname, dc.cases, obj.len - 1);

	/* appended bytes */
	dc.bad = dc.cases = 0;
	for (int v = 0; v < 256; v += 85)
	{
		memcpy(bad, obj.buf, obj.len);
		bad[obj.len] = (uint8_t) v;
		expect_fail(&dc, bad, obj.len + 1, "one byte appended", (size_t) v);
	}
	memcpy(bad, obj.buf, obj.len);
	memcpy(bad + obj.len, obj.buf + m.start[4], frame_len(&m, 4));
	expect_fail(&dc, bad, obj.len + frame_len(&m, 4), "trailer repeated", 0);
	ok(dc.bad == 0, "[%s, len %s] appended bytes are detected (%d cases)", cname, lname, dc.cases);

	/* frames swapped: any two of them, data or trailer */
	dc.bad = dc.cases = 0;
	for (size_t a = 0; a < m.n; a++)
		for (size_t b = a + 1; b < m.n; b++)
		{
			size_t		o = 0;

			for (size_t f = 0; f < m.n; f++)
			{
				size_t		src = f == a ? b : f == b ? a : f;

				if (f == 0)
				{
					memcpy(bad, obj.buf, OBJ_HEADER_LEN);
					o = OBJ_HEADER_LEN;
				}
				memcpy(bad + o, obj.buf + m.start[src], frame_len(&m, src));
				o += frame_len(&m, src);
			}
			expect_fail(&dc, bad, o, "frames swapped", a * 10 + b);
		}
	ok(dc.bad == 0, "[%s, len %s] every swap of two frames is detected (%d cases)", cname, lname, dc.cases);

	/* a frame dropped, or duplicated */
	dc.bad = dc.cases = 0;
	for (size_t f = 0; f < m.n; f++)
	{
		size_t		fl = frame_len(&m, f);

		memcpy(bad, obj.buf, m.start[f]);
		memcpy(bad + m.start[f], obj.buf + m.start[f] + fl, obj.len - m.start[f] - fl);
		expect_fail(&dc, bad, obj.len - fl, "frame dropped", f);

		memcpy(bad, obj.buf, m.start[f] + fl);
		memcpy(bad + m.start[f] + fl, obj.buf + m.start[f], obj.len - m.start[f]);
		expect_fail(&dc, bad, obj.len + fl, "frame duplicated", f);
	}
	ok(dc.bad == 0, "[%s, len %s] every dropped or duplicated frame is detected (%d cases)",
	   cname, lname, dc.cases);

	/*
	 * Splicing: a frame from another object under the same DEK, with the same
	 * length and layout (so the frames line up) but its own random salt.
	 */
	memcpy(other, plain, n);
	for (size_t i = 0; i < n; i += 3)
		other[i] ^= 0x20;
	{
		obj_params	pb = p;

		if (write_object(&pb, other, n, 0, &objb, &sum, &err) != 0)
			bail_out("cannot write the second object: %s", err.msg);
	}
	map_frames(objb.buf, objb.len, &mb);
	dc.bad = dc.cases = 0;
	dc.check_prefix = 0;
	for (size_t f = 0; f < m.n && f < mb.n; f++)
	{
		size_t		o = m.start[f];

		memcpy(bad, obj.buf, o);
		memcpy(bad + o, objb.buf + mb.start[f], frame_len(&mb, f));
		o += frame_len(&mb, f);
		memcpy(bad + o, obj.buf + m.start[f] + frame_len(&m, f), obj.len - m.start[f] - frame_len(&m, f));
		o += obj.len - m.start[f] - frame_len(&m, f);
		expect_fail(&dc, bad, o, "frame spliced from another object", f);
	}
	/* the other object's header on this object's frames */
	memcpy(bad, obj.buf, obj.len);
	memcpy(bad, objb.buf, OBJ_HEADER_LEN);
	expect_fail(&dc, bad, obj.len, "header of another object", 0);
	ok(dc.bad == 0, "[%s, len %s] frames and header spliced from another object are detected (%d cases)",
	   cname, lname, dc.cases);
	membuf_free(&objb);

	/*
	 * The same with the SAME salt (identical headers): every frame then
	 * authenticates in its place, and only the trailer's count and XXH64 of
	 * the plaintext can tell — which is what they are there for.
	 */
	{
		uint8_t		salt[OBJ_SALT_LEN];
		obj_params	pa = p, pb = p;
		membuf		a = {0};

		memset(salt, 0x5A, sizeof(salt));
		pa.salt = pb.salt = salt;
		if (write_object(&pa, plain, n, 0, &a, &sum, &err) != 0 ||
			write_object(&pb, other, n, 0, &objb, &sum, &err) != 0)
			bail_out("cannot write same-salt objects: %s", err.msg);
		ok(memcmp(a.buf, objb.buf, OBJ_HEADER_LEN) == 0, "[%s, len %s] same-salt objects share a header",
		   cname, lname);
		map_frames(a.buf, a.len, &m);
		map_frames(objb.buf, objb.len, &mb);
		dc.bad = dc.cases = 0;
		for (size_t f = 0; f < m.n; f++)
		{
			size_t		o = m.start[f];

			memcpy(bad, a.buf, o);
			memcpy(bad + o, objb.buf + mb.start[f], frame_len(&mb, f));
			o += frame_len(&mb, f);
			memcpy(bad + o, a.buf + m.start[f] + frame_len(&m, f), a.len - m.start[f] - frame_len(&m, f));
			o += a.len - m.start[f] - frame_len(&m, f);
			expect_fail(&dc, bad, o, "frame spliced from a same-salt object", f);
		}
		ok(dc.bad == 0, "[%s, len %s] frames spliced between same-salt objects are detected by the trailer (%d cases)",
		   cname, lname, dc.cases);
		membuf_free(&a);
		membuf_free(&objb);
		map_frames(obj.buf, obj.len, &m);
	}
	dc.check_prefix = 1;

	/* header edits: each field set to another value */
	{
		struct
		{
			const char *what;
			size_t		off;
			size_t		len;		/* 1, 2, 4 or 8: a big-endian value; else xor */
			uint64_t	value;
		}			edits[] = {
			{"magic", 0, 1, 'p'},
			{"magic", 7, 1, 'o'},
			{"version 0", 8, 2, 0},
			{"version 2", 8, 2, 2},
			{"version 0x0101", 8, 2, 0x0101},
			{"compression none", 10, 1, OBJ_COMP_NONE},
			{"compression 2", 10, 1, 2},
			{"cipher (other one)", 11, 1, aes ? OBJ_CIPHER_NONE : OBJ_CIPHER_AES256GCM},
			{"cipher 2", 11, 1, 2},
			{"cipher 255", 11, 1, 255},
			{"frame size 128", 12, 4, 128},
			{"frame size 65", 12, 4, 65},
			{"frame size 63", 12, 4, 63},
			{"frame size 32", 12, 4, 32},
			{"frame size minimum", 12, 4, OBJ_MIN_FRAME_SIZE},
			{"frame size below minimum", 12, 4, OBJ_MIN_FRAME_SIZE - 1},
			{"frame size 0", 12, 4, 0},
			{"frame size above maximum", 12, 4, OBJ_MAX_FRAME_SIZE + 1},
			{"frame size 1 MiB", 12, 4, 1 << 20},
			{"plain_len + 1", 16, 8, (len_known ? n : 0) + 1},
			{"plain_len - 1", 16, 8, len_known ? n - 1 : 0},
			{"plain_len 0", 16, 8, 0},
			{"plain_len (the other encoding)", 16, 8, len_known ? OBJ_LEN_UNKNOWN : n},
			{"dek id first byte", 24, 1, 0x42},
			{"dek id last byte", 39, 1, 0x42},
			{"salt first byte", 40, 1, 0x42},
			{"salt last byte", 71, 1, 0x42},
		};

		dc.bad = dc.cases = 0;
		for (size_t e = 0; e < sizeof(edits) / sizeof(edits[0]); e++)
		{
			uint8_t    *f;

			memcpy(bad, obj.buf, obj.len);
			f = bad + edits[e].off;
			switch (edits[e].len)
			{
				case 1:
					if (*f == (uint8_t) edits[e].value)
						edits[e].value ^= 0xFF;
					*f = (uint8_t) edits[e].value;
					break;
				case 2:
					put_be16(f, (uint16_t) edits[e].value);
					break;
				case 4:
					put_be32(f, (uint32_t) edits[e].value);
					break;
				case 8:
					put_be64(f, edits[e].value);
					break;
			}
			if (memcmp(bad, obj.buf, obj.len) == 0)
				bail_out("header edit %s changes nothing", edits[e].what);
			/* an unknown DEK id (or none, for a "now encrypted" object) is a KEY error */
			dc.allow_key = (edits[e].off >= 24 && edits[e].off < 40 && aes) ||
				(edits[e].off == 11 && !aes && edits[e].value == OBJ_CIPHER_AES256GCM);
			expect_fail(&dc, bad, obj.len, edits[e].what, e);
			if (dc.allow_key)
			{
				/* and with a key lookup that hands out the DEK anyway, authentication fails */
				damage_ctx	any = dc;

				any.keys = lookup_any;
				any.allow_key = 0;
				any.bad = 0;
				if (!expect_fail(&any, bad, obj.len, edits[e].what, e))
				{
					diag("... with the right DEK returned for the edited id");
					dc.bad++;
				}
				dc.cases++;
			}
		}
		dc.allow_key = 0;
		for (size_t i = 72; i < OBJ_HEADER_LEN; i++)
		{
			memcpy(bad, obj.buf, obj.len);
			bad[i] = 1;
			expect_fail(&dc, bad, obj.len, "reserved byte set", i);
		}
		ok(dc.bad == 0, "[%s, len %s] each header edit (%d: magic, version, compression, cipher, frame size, "
		   "plain_len, dek id, salt, reserved) is detected", cname, lname, dc.cases);
	}

	/* frame header fields: unknown flags, non-zero padding, LZ4 flag toggled, length edits */
	{
		dc.bad = dc.cases = 0;
		for (size_t f = 0; f < m.n; f++)
		{
			const uint8_t flagvals[] = {0x04, 0x80, OBJ_FRAME_LZ4, OBJ_FRAME_LAST};

			for (size_t k = 0; k < sizeof(flagvals); k++)
			{
				memcpy(bad, obj.buf, obj.len);
				bad[m.start[f] + 4] ^= flagvals[k];
				expect_fail(&dc, bad, obj.len, "frame flag toggled", f * 10 + k);
			}
			for (size_t k = 5; k < 8; k++)
			{
				memcpy(bad, obj.buf, obj.len);
				bad[m.start[f] + k] = 1;
				expect_fail(&dc, bad, obj.len, "frame padding set", f * 10 + k);
			}
			memcpy(bad, obj.buf, obj.len);
			put_be32(bad + m.start[f], get_be32(obj.buf + m.start[f]) + 1);
			expect_fail(&dc, bad, obj.len, "frame length + 1", f);
			memcpy(bad, obj.buf, obj.len);
			put_be32(bad + m.start[f], get_be32(obj.buf + m.start[f]) - 1);
			expect_fail(&dc, bad, obj.len, "frame length - 1", f);
			memcpy(bad, obj.buf, obj.len);
			put_be32(bad + m.start[f], 0);
			expect_fail(&dc, bad, obj.len, "frame length 0", f);
		}
		ok(dc.bad == 0, "[%s, len %s] frame header edits are detected (%d cases)", cname, lname, dc.cases);
	}

	/* keys */
	if (aes)
	{
		read_result rr;

		read_object(obj.buf, obj.len, lookup_one, &other_dek, 0, 100, &rr);
		ok(rr.rc == -1 && rr.err.kind == PGARK_ERR_CORRUPT && rr.plain.len == 0,
		   "[aes, len %s] a wrong DEK (same id, other key) fails authentication, returning nothing", lname);
		like(rr.err.msg, "another key", "... and the message says it may be another key");
		membuf_free(&rr.plain);

		read_object(obj.buf, obj.len, lookup_one, NULL, 0, 100, &rr);
		ok(rr.rc == -1 && rr.failed_in_new && rr.err.kind == PGARK_ERR_KEY,
		   "[aes, len %s] an unknown DEK fails in obj_reader_new as KEY", lname);
		membuf_free(&rr.plain);

		read_object(obj.buf, obj.len, NULL, NULL, 0, 100, &rr);
		ok(rr.rc == -1 && rr.failed_in_new && rr.err.kind == PGARK_ERR_KEY,
		   "[aes, len %s] no key function at all: KEY", lname);
		membuf_free(&rr.plain);
	}
	else
	{
		read_result rr;

		read_object(obj.buf, obj.len, NULL, NULL, 0, 100, &rr);
		ok(rr.rc == 0 && rr.plain.len == n, "[none, len %s] cipher none reads without any key", lname);
		membuf_free(&rr.plain);
	}

	free(bad);
	membuf_free(&obj);
}

#define FOUR_FRAMES (3 * SMALL_FRAME + 20)

/* An encrypted object of FOUR_FRAMES bytes of text (seed), its summary */
static void
four_frame_object(uint8_t plain[FOUR_FRAMES], uint64_t seed, membuf *obj, obj_summary *ws)
{
	obj_params	p = params(OBJ_CIPHER_AES256GCM, SMALL_FRAME, FOUR_FRAMES);
	pgark_err	err;

	fill_text(plain, FOUR_FRAMES, seed);
	err_clear(&err);
	if (write_object(&p, plain, FOUR_FRAMES, 0, obj, ws, &err) != 0)
		bail_out("cannot write the test object: %s", err.msg);
}

/* every flip, truncation, splice ... of damage_suite, both ciphers */
static void
damage_suites(void)
{
	for (int known = 1; known >= 0; known--)
	{
		damage_suite(OBJ_CIPHER_AES256GCM, known);
		damage_suite(OBJ_CIPHER_NONE, known);
	}
}

/*
 * obj_reader_skip_stored_sha256: the same plaintext and checks, the summary
 * without the SHA-256 (all zero); every damage still detected.
 */
static void
test_skip_stored_sha256(void)
{
	size_t		n = FOUR_FRAMES;
	uint8_t		plain[FOUR_FRAMES];
	membuf		obj = {0};
	obj_summary ws;
	read_result rr;
	uint8_t		zero[SHA256_LEN] = {0};

	four_frame_object(plain, 9, &obj, &ws);
	skip_stored_sha256 = 1;
	read_object(obj.buf, obj.len, lookup_one, &test_dek, 0, 1000, &rr);
	ok(rr.rc == 0 && rr.plain.len == n && memcmp(rr.plain.buf, plain, n) == 0,
	   "stored SHA-256 skipped: the object reads back to a verified end, same plaintext");
	ok(rr.have_sum && rr.sum.plain_len == n && rr.sum.stored_len == obj.len && rr.sum.xxh64 == ws.xxh64 &&
	   rr.sum.frames == ws.frames && memcmp(rr.sum.sha256, zero, SHA256_LEN) == 0,
	   "stored SHA-256 skipped: summary without it (all zero), the rest as the writer's");
	membuf_free(&rr.plain);
	damage_suites();			/* every damage still detected */
	skip_stored_sha256 = 0;
	membuf_free(&obj);
}

/* The caller hashes the plaintext (wal-fetch's writing thread): the same
 * verdicts; a wrong hash is the reader's XXH64 mismatch. */
static void
test_defer_xxh64(void)
{
	size_t		n = FOUR_FRAMES;
	uint8_t		plain[FOUR_FRAMES];
	membuf		obj = {0};
	obj_summary ws;
	pgark_err	err;
	read_result rr;

	four_frame_object(plain, 10, &obj, &ws);
	defer_xxh64 = 1;
	for (size_t rchunk = 1; rchunk <= 2 * SMALL_FRAME; rchunk += SMALL_FRAME / 2 - 1)
	{
		read_object(obj.buf, obj.len, lookup_one, &test_dek, 0, rchunk, &rr);
		ok(rr.rc == 0 && rr.plain.len == n && memcmp(rr.plain.buf, plain, n) == 0 &&
		   rr.have_sum && rr.sum.xxh64 == ws.xxh64 && rr.sum.frames == ws.frames,
		   "XXH64 by the caller, reads of %zu: same plaintext, verified end, the writer's summary", rchunk);
		membuf_free(&rr.plain);
	}
	damage_suites();			/* every damage still detected */
	defer_xxh64 = 0;

	/* the caller hashed something else than what it was given */
	{
		memsrc		src = {obj.buf, obj.len, 0, 0};
		obj_reader *r = obj_reader_new(mem_source, &src, lookup_one, &test_dek, &err);
		uint8_t		buf[4 * SMALL_FRAME];
		size_t		got = 0, total = 0;

		if (r == NULL)
			bail_out("reader: %s", err.msg);
		obj_reader_defer_xxh64(r);
		is_int(obj_reader_check_hash(r, &err), -1, "obj_reader_check_hash before the end fails");
		while (obj_reader_read(r, buf, sizeof(buf), &got, &err) == 0 && got > 0)
		{
			buf[0] ^= total == 0;	/* one bit of the first byte */
			obj_reader_hash(r, buf, got);
			total += got;
		}
		ok(got == 0 && total == n, "a damaged hash: the object itself reads to its end");
		ok(obj_reader_summary(r) == NULL, "... with no summary before the check");
		is_int(obj_reader_check_hash(r, &err), -1, "... and the check fails");
		is_kind(err, PGARK_ERR_CORRUPT, "... as CORRUPT");
		like(err.msg, "plaintext checksum (XXH64) mismatch (frame 4)",
			 "... with the reader's own message");
		ok(obj_reader_summary(r) == NULL, "... and no summary after it");
		obj_reader_free(r);
	}
	membuf_free(&obj);
}

/* A reader that failed stays failed; a header parses without keys. */
static void
test_reader_misc(void)
{
	uint8_t		plain[150];
	obj_params	p = params(OBJ_CIPHER_AES256GCM, SMALL_FRAME, sizeof(plain));
	membuf		obj = {0};
	obj_summary sum;
	pgark_err	err;
	obj_header	h;
	uint8_t		salt[OBJ_SALT_LEN];

	fill_text(plain, sizeof(plain), 9);
	for (size_t i = 0; i < sizeof(salt); i++)
		salt[i] = (uint8_t) i;
	p.salt = salt;
	if (write_object(&p, plain, sizeof(plain), 0, &obj, &sum, &err) != 0)
		bail_out("write: %s", err.msg);

	is_int(obj_header_parse(obj.buf, &h, &err), 0, "obj_header_parse on a written header");
	ok(h.version == 1 && h.compression == OBJ_COMP_LZ4 && h.cipher == OBJ_CIPHER_AES256GCM &&
	   h.frame_size == SMALL_FRAME && h.plain_len == sizeof(plain) &&
	   memcmp(h.dek_id, test_dek.id, OBJ_DEK_ID_LEN) == 0 && memcmp(h.salt, salt, OBJ_SALT_LEN) == 0,
	   "... fields as written (version, compression, cipher, frame size, length, DEK id, the fixed salt)");
	is_mem(obj.buf, OBJ_MAGIC, 8, "the object starts with the magic");

	/* the keyless header parser refuses what no pgark writes */
	{
		static const struct
		{
			const char *what;
			size_t		off;
			uint8_t		value;
		}			bad[] = {
			{"bad magic", 3, 'x'}, {"version 2", 9, 2}, {"version 257", 8, 1}, {"compression 2", 10, 2},
			{"cipher 2", 11, 2}, {"frame size 16 MiB + 1", 12, 1}, {"frame size below minimum", 14, 0},
			{"reserved byte 72", 72, 1}, {"reserved byte 79", 79, 0x80},
		};

		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		{
			uint8_t		hb[OBJ_HEADER_LEN];

			memcpy(hb, obj.buf, OBJ_HEADER_LEN);
			hb[bad[i].off] = bad[i].value;
			if (bad[i].off == 12)
				put_be32(hb + 12, OBJ_MAX_FRAME_SIZE + 1);
			if (bad[i].off == 14)
				put_be32(hb + 12, OBJ_MIN_FRAME_SIZE - 1);
			err_clear(&err);
			ok(obj_header_parse(hb, &h, &err) == -1 && err.kind == PGARK_ERR_CORRUPT,
			   "obj_header_parse refuses %s", bad[i].what);
		}
	}

	/* damage in frame 1: frame 0's plaintext is returned, then the failure sticks */
	{
		memsrc		src = {obj.buf, obj.len, 0, 0};
		obj_reader *r;
		uint8_t		buf[SMALL_FRAME];
		size_t		got;
		frame_map	m;
		uint8_t    *bad = malloc(obj.len);

		if (bad == NULL)
			bail_out("out of memory");
		memcpy(bad, obj.buf, obj.len);
		map_frames(bad, obj.len, &m);
		bad[m.start[1] + 10] ^= 1;
		src.buf = bad;
		r = obj_reader_new(mem_source, &src, lookup_one, &test_dek, &err);
		if (ok(r != NULL, "reader on an object damaged in frame 1"))
		{
			ok(obj_reader_read(r, buf, sizeof(buf), &got, &err) == 0 && got == SMALL_FRAME &&
			   memcmp(buf, plain, SMALL_FRAME) == 0, "frame 0 (authentic) is returned");
			ok(obj_reader_summary(r) == NULL, "no summary before the end");
			is_int(obj_reader_read(r, buf, sizeof(buf), &got, &err), -1, "frame 1 fails");
			is_kind(err, PGARK_ERR_CORRUPT, "... as CORRUPT");
			like(err.msg, "frame 1", "... and the message names the frame");
			is_int(got, 0, "... returning nothing");
			is_int(obj_reader_read(r, buf, sizeof(buf), &got, &err), -1, "and the reader stays failed");
			ok(obj_reader_summary(r) == NULL, "... with no summary");
			obj_reader_free(r);
		}
		free(bad);
	}
	membuf_free(&obj);

	/*
	 * A caller's buffer with room for a whole frame gets the plaintext
	 * decoded in place. A stored (incompressible) frame is decrypted there
	 * before its tag is checked: when the tag fails, none of it stays.
	 */
	{
		uint8_t		rnd[3 * SMALL_FRAME];
		obj_params	pr = params(OBJ_CIPHER_AES256GCM, SMALL_FRAME, sizeof(rnd));
		memsrc		src;
		obj_reader *r;
		uint8_t		buf[2 * SMALL_FRAME];
		size_t		got;
		frame_map	m;
		int			wiped = 1;

		fill_random(rnd, sizeof(rnd), 21);
		if (write_object(&pr, rnd, sizeof(rnd), 0, &obj, &sum, &err) != 0)
			bail_out("write: %s", err.msg);
		map_frames(obj.buf, obj.len, &m);
		ok(get_be32(obj.buf + m.start[1]) == SMALL_FRAME && obj.buf[m.start[1] + 4] == 0,
		   "random plaintext: frame 1 is stored, not compressed");
		obj.buf[m.start[2] - 1] ^= 1;	/* frame 1's tag */
		src = (memsrc) {obj.buf, obj.len, 0, 0};
		r = obj_reader_new(mem_source, &src, lookup_one, &test_dek, &err);
		if (ok(r != NULL, "reader on an object whose frame 1 has a damaged tag"))
		{
			memset(buf, 0xA5, sizeof(buf));
			ok(obj_reader_read(r, buf, SMALL_FRAME, &got, &err) == 0 && got == SMALL_FRAME &&
			   memcmp(buf, rnd, SMALL_FRAME) == 0, "frame 0 is read into a buffer of one frame");
			is_int(obj_reader_read(r, buf, sizeof(buf), &got, &err), -1, "frame 1 fails its tag");
			is_kind(err, PGARK_ERR_CORRUPT, "... as CORRUPT");
			for (size_t i = 0; i < SMALL_FRAME; i++)
				wiped &= buf[i] == 0;
			ok(wiped, "... and none of its plaintext is left in the caller's buffer");
			obj_reader_free(r);
		}
		membuf_free(&obj);
	}
}

/* The decoder's own edges: a buffer too small, a read without an open, reuse after failures. */
static void
test_decoder_misc(void)
{
	uint8_t		plain[3 * SMALL_FRAME + 20];
	obj_params	p = params(OBJ_CIPHER_AES256GCM, SMALL_FRAME, sizeof(plain));
	membuf		obj = {0};
	obj_summary sum;
	pgark_err	err;
	obj_decoder *d;
	uint8_t		out[sizeof(plain) + SMALL_FRAME];
	size_t		got;

	fill_text(plain, sizeof(plain), 3);
	if (write_object(&p, plain, sizeof(plain), 0, &obj, &sum, &err) != 0)
		bail_out("write: %s", err.msg);
	if ((d = obj_decoder_new(lookup_one, &test_dek, &err)) == NULL)
		bail_out("obj_decoder_new: %s", err.msg);

	err_clear(&err);
	is_int(obj_decode_read(d, out, sizeof(out), &got, &err), -1, "obj_decode_read before any open fails");
	is_kind(err, PGARK_ERR_INTERNAL, "... as INTERNAL");

	for (size_t cap = sizeof(plain) - SMALL_FRAME - 1; cap <= sizeof(plain) + SMALL_FRAME; cap++)
	{
		int			rc;

		err_clear(&err);
		got = 12345;
		rc = obj_decode_open(d, obj.buf, obj.len, &err) == NULL ? -1 : obj_decode_read(d, out, cap, &got, &err);
		if (cap < sizeof(plain) ? rc != -1 || err.kind != PGARK_ERR_CORRUPT
			: rc != 0 || got != sizeof(plain) || memcmp(out, plain, got) != 0)
		{
			ok(0, "a buffer of %zu bytes for %zu of plaintext: rc %d (%s)", cap, sizeof(plain), rc, err.msg);
			break;
		}
		if (cap == sizeof(plain) - 1)
			like(err.msg, "more than the", "one byte short of the plaintext: CORRUPT, saying so");
		if (cap == sizeof(plain) + SMALL_FRAME)
			ok(1, "buffers of %zu..%zu bytes: refused while smaller than the plaintext (%zu), exact from there",
				 sizeof(plain) - SMALL_FRAME - 1, cap, sizeof(plain));
	}
	err_clear(&err);
	is_int(obj_decode_read(d, out, sizeof(out), &got, &err), -1, "a second read of the same open fails");

	/* the same object again after damaged ones, on the same decoder */
	for (int round = 0; round < 3; round++)
	{
		obj.buf[obj.len - 1 - (size_t) round * 30] ^= 4;
		ok(obj_decode_open(d, obj.buf, obj.len, &err) != NULL &&
		   obj_decode_read(d, out, sizeof(out), &got, &err) == -1 && err.kind == PGARK_ERR_CORRUPT,
		   "damaged copy %d refused", round);
		obj.buf[obj.len - 1 - (size_t) round * 30] ^= 4;
		ok(obj_decode_open(d, obj.buf, obj.len, &err) != NULL &&
		   obj_decode_read(d, out, sizeof(out), &got, &err) == 0 && got == sizeof(plain) &&
		   memcmp(out, plain, got) == 0, "... and the intact object decodes on the same decoder after it");
	}

	/* a damaged trailer: the three data frames were opened into out before
	 * the trailer failed; none of their plaintext may stay there */
	{
		int			left = 0;

		memset(out, 0, sizeof(out));
		obj.buf[obj.len - 1] ^= 4;
		ok(obj_decode_open(d, obj.buf, obj.len, &err) != NULL &&
		   obj_decode_read(d, out, sizeof(out), &got, &err) == -1, "a damaged trailer fails the read");
		obj.buf[obj.len - 1] ^= 4;
		for (size_t i = 0; i < sizeof(out); i++)
			left += out[i] != 0;
		is_int(left, 0, "... and the frames opened before it are gone from the caller's buffer");
	}

	/* a caller's check refused the object after the open: no read */
	ok(obj_decode_open(d, obj.buf, obj.len, &err) != NULL, "open");
	obj_decode_forget(d);
	err_clear(&err);
	is_int(obj_decode_read(d, out, sizeof(out), &got, &err), -1, "obj_decode_forget: the read that follows fails");
	obj_decoder_free(d);
	obj_decoder_free(NULL);
	membuf_free(&obj);
}

/* ------------------------------------------------------------------ parallel sealing */

static int	count_side(void *arg, pgark_err *err);

/*
 * obj_writer_use_workers: the same bytes as the sequential writer (same salt),
 * whatever the thread count, write sizes and tail; and they read back.
 */
static void
test_parallel(void)
{
	const uint32_t frame = 4096;
	const size_t sizes[] = {0, 100, 4096, 8192, 8193, 16 * 4096, 16 * 4096 + 77, 61 * 4096 + 5};
	const size_t wchunks[] = {0, 4096, 3 * 4096, 5000, 9 * 4096};
	uint8_t		salt[OBJ_SALT_LEN];
	size_t		maxn = 61 * 4096 + 5;
	uint8_t    *plain = malloc(maxn);
	int			bad = 0, cases = 0, batched = 0, side_wrong = 0, skipped = 0;

	if (plain == NULL)
		bail_out("out of memory");
	memset(salt, 0x33, sizeof(salt));
	/* half compressible, half not: both kinds of frames */
	for (size_t i = 0; i < maxn; i++)
		plain[i] = (i / 4096) % 2 ? (uint8_t) (i * 2654435761u >> 13) : (uint8_t) (i % 7);
	for (int nthreads = 2; nthreads <= 3; nthreads++)
	{
		pgark_err	err;
		workers    *wk = workers_new(nthreads, &err);

		if (wk == NULL)
			bail_out("workers_new: %s", err.msg);
		for (int c = 0; c < 2; c++)
			for (size_t si = 0; si < sizeof(sizes) / sizeof(sizes[0]); si++)
				for (size_t wi = 0; wi < sizeof(wchunks) / sizeof(wchunks[0]); wi++)
				{
					obj_params	p = params(c ? OBJ_CIPHER_NONE : OBJ_CIPHER_AES256GCM, frame, sizes[si]);
					membuf		seq = {0}, par = {0};
					obj_summary s1, s2;
					obj_writer *w;
					size_t		off = 0, n = sizes[si], wc = wchunks[wi] ? wchunks[wi] : (n ? n : 1);
					int			rc = -1;
					read_result rr;

					p.salt = salt;
					cases++;
					if (write_object(&p, plain, n, wc, &seq, &s1, &err) != 0)
						bail_out("sequential writer: %s", err.msg);
					int			skip_sha = (int) (si % 2);	/* as wal-push does */
					static const uint8_t zero[SHA256_LEN];

					if ((w = obj_writer_new(&p, mem_sink, &par, &err)) == NULL ||
						obj_writer_use_workers(w, wk, &err) != 0)
						bail_out("parallel writer: %s", err.msg);
					if (skip_sha)
					{
						obj_writer_skip_stored_sha256(w);
						skipped++;
					}
					while (off < n)
					{
						size_t		k = n - off < wc ? n - off : wc;

						int			sides = 0;

						/* every other write reads "its next input" beside the sealing */
						if ((off / wc) % 2 ? obj_writer_write(w, plain + off, k, &err) != 0
							: obj_writer_write_side(w, plain + off, k, count_side, &sides, &err) != 0)
							break;
						if ((off / wc) % 2 == 0 && sides != 1)
						{
							side_wrong++;
							diag("side function ran %d times in a write of %zu bytes", sides, k);
						}
						if (k >= 2 * frame)
							batched++;
						off += k;
					}
					if (off == n)
						rc = obj_writer_finish(w, &s2, &err);
					obj_writer_free(w);
					if (rc != 0 || seq.len != par.len || memcmp(seq.buf, par.buf, seq.len) != 0 ||
						memcmp(skip_sha ? zero : s1.sha256, s2.sha256, SHA256_LEN) != 0 || s1.stored_len != s2.stored_len)
					{
						bad++;
						diag("differs: %d threads, cipher %d, %zu bytes in writes of %zu (%s)", nthreads, c, n, wc,
							 rc != 0 ? err.msg : "bytes");
					}
					else
					{
						read_object(par.buf, par.len, lookup_one, &test_dek, 0, 7000, &rr);
						if (rr.rc != 0 || rr.plain.len != n || (n && memcmp(rr.plain.buf, plain, n) != 0))
						{
							bad++;
							diag("does not read back: %d threads, %zu bytes", nthreads, n);
						}
						membuf_free(&rr.plain);
					}
					membuf_free(&seq);
					membuf_free(&par);
				}
		workers_free(wk);
	}
	ok(bad == 0, "frames sealed on 2 and 3 threads: byte-identical to the sequential writer, and read back (%d cases)", cases);
	ok(batched > 0, "... of which %d writes were of at least two whole frames (the parallel path)", batched);
	ok(skipped > 0 && skipped < cases,
	   "... %d of them without the SHA-256 of the stored bytes (obj_writer_skip_stored_sha256): same bytes, "
	   "the summary's sha256 all zero", skipped);
	ok(side_wrong == 0, "obj_writer_write_side runs its side function exactly once per write, batched or not");
	free(plain);
}

static int
count_side(void *arg, pgark_err *err)
{
	(void) err;
	(*(int *) arg)++;
	return 0;
}

static int
failing_side(void *arg, pgark_err *err)
{
	(void) arg;
	return err_set(err, PGARK_ERR_IO, 0, "side failed");
}

/* a sink that fails once it has taken limit bytes */
typedef struct limited_sink
{
	membuf		out;
	size_t		limit;
} limited_sink;

static int
limited_sink_fn(void *arg, const void *buf, size_t len, pgark_err *err)
{
	limited_sink *ls = arg;

	if (ls->out.len + len > ls->limit)
		return err_set(err, PGARK_ERR_NOSPACE, 0, "sink full");
	return mem_sink(&ls->out, buf, len, err);
}

/*
 * With workers, a batch's frames reach the sink during the next write or at
 * finish: a sink failure there still fails the writer (never a finished
 * object with frames missing), and so does the side function's.
 */
static void
test_parallel_failures(void)
{
	const uint32_t frame = 4096;
	const size_t n = 40 * 4096;
	uint8_t    *plain = malloc(n);
	pgark_err	err;
	workers    *wk = workers_new(2, &err);
	int			sink_caught = 0, sink_cases = 0;

	if (plain == NULL || wk == NULL)
		bail_out("out of memory");
	{
		uint64_t	x = 88172645463325252ull;

		for (size_t i = 0; i < n; i++)	/* xorshift: incompressible, frames of known size */
		{
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			plain[i] = (uint8_t) (x >> 24);
		}
	}

	{
		obj_params	p = params(OBJ_CIPHER_AES256GCM, frame, n);
		membuf		out = {0};
		obj_writer *w = obj_writer_new(&p, mem_sink, &out, &err);
		int			rc;

		if (w == NULL || obj_writer_use_workers(w, wk, &err) != 0)
			bail_out("writer: %s", err.msg);
		rc = obj_writer_write_side(w, plain, 8 * frame, failing_side, NULL, &err);
		ok(rc != 0 && err.kind == PGARK_ERR_IO && strstr(err.msg, "side failed") != NULL,
		   "a failing side function fails the write with its own error (%s)", err.msg);
		ok(obj_writer_write(w, plain, frame, &err) != 0 && obj_writer_finish(w, NULL, &err) != 0,
		   "... and the writer refuses further writes and finish");
		obj_writer_free(w);
		membuf_free(&out);
	}

	/* the sink fails at every possible point: the error always surfaces */
	for (size_t limit = 100; limit < n; limit += 9 * 1024)
	{
		obj_params	p = params(OBJ_CIPHER_AES256GCM, frame, n);
		limited_sink ls = {{0}, limit};
		obj_writer *w = obj_writer_new(&p, limited_sink_fn, &ls, &err);
		int			rc = 0;

		if (w == NULL)
		{
			/* the header alone did not fit */
			sink_cases++;
			sink_caught++;
			continue;
		}
		if (obj_writer_use_workers(w, wk, &err) != 0)
			bail_out("writer: %s", err.msg);
		for (size_t off = 0; off < n && rc == 0; off += 10 * frame)
			rc = obj_writer_write(w, plain + off, 10 * frame, &err);
		if (rc == 0)
			rc = obj_writer_finish(w, NULL, &err);
		sink_cases++;
		if (rc != 0 && err.kind == PGARK_ERR_NOSPACE)
			sink_caught++;
		else
			diag("sink limit %zu: rc %d, %s", limit, rc, rc ? err.msg : "finished");
		obj_writer_free(w);
		membuf_free(&ls.out);
	}
	ok(sink_cases > 5 && sink_caught == sink_cases,
	   "a sink failing in a deferred emission fails the write or finish (%d of %d)", sink_caught, sink_cases);
	workers_free(wk);
	free(plain);
}

int
main(void)
{
	unhex("00112233445566778899aabbccddeeff", test_dek.id, OBJ_DEK_ID_LEN);
	unhex("603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4", test_dek.key, AES256_KEY_LEN);
	other_dek = test_dek;
	other_dek.key[31] ^= 1;

	test_round_trips();
	test_big();
	test_writer_refusals();
	for (int c = 0; c < 2; c++)
		for (int known = 1; known >= 0; known--)
			damage_suite(c ? OBJ_CIPHER_NONE : OBJ_CIPHER_AES256GCM, known);
	test_defer_xxh64();
	test_reader_misc();
	test_decoder_misc();
	test_skip_stored_sha256();
	test_parallel();
	test_parallel_failures();
	ok(twin_bad == 0, "obj_decoder ended as obj_reader on each of the %d objects read above "
	   "(same plaintext, or same error kind and message)", twin_cases);
	return done_testing();
}
