/*
 * object.c — the one place that knows the bytes of the container.
 * FORMAT.md section "Object container" describes them; t/golden pins them.
 */
#include "object.h"

#include <stdlib.h>
#include <string.h>

#include <lz4.h>

#include "util.h"
#include "workers.h"

#include <openssl/crypto.h>

#define HKDF_INFO "pgark object v1"
#define AAD_LEN (OBJ_HEADER_LEN + 8 + OBJ_FRAME_HDR_LEN)

/* Keying and sealing shared by writer and reader. */
typedef struct obj_crypt
{
	uint8_t		header[OBJ_HEADER_LEN];
	obj_cipher	cipher;
	gcm_ctx    *gcm;
} obj_crypt;

static int
crypt_init(obj_crypt *c, const uint8_t header[OBJ_HEADER_LEN], obj_cipher cipher,
		   const obj_dek *dek, const uint8_t salt[OBJ_SALT_LEN], pgark_err *err)
{
	uint8_t		okey[AES256_KEY_LEN];

	memcpy(c->header, header, OBJ_HEADER_LEN);
	c->cipher = cipher;
	c->gcm = NULL;
	if (cipher == OBJ_CIPHER_NONE)
		return 0;
	if (hkdf_sha256(salt, OBJ_SALT_LEN, dek->key, AES256_KEY_LEN,
					(const uint8_t *) HKDF_INFO, strlen(HKDF_INFO),
					okey, sizeof(okey), err) != 0)
		return -1;
	c->gcm = gcm_new(okey, err);
	secure_zero(okey, sizeof(okey));
	return c->gcm ? 0 : -1;
}

static void
make_aad(const obj_crypt *c, uint64_t frame_no, const uint8_t fh[OBJ_FRAME_HDR_LEN],
		 uint8_t aad[AAD_LEN], uint8_t nonce[GCM_NONCE_LEN])
{
	memcpy(aad, c->header, OBJ_HEADER_LEN);
	put_be64(aad + OBJ_HEADER_LEN, frame_no);
	memcpy(aad + OBJ_HEADER_LEN + 8, fh, OBJ_FRAME_HDR_LEN);
	memset(nonce, 0, 4);
	put_be64(nonce + 4, frame_no);
}

static void
none_tag(const uint8_t aad[AAD_LEN], const uint8_t *payload, size_t len, uint8_t tag[GCM_TAG_LEN])
{
	uint8_t		digest[SHA256_LEN];
	sha256_ctx *s = sha256_new(NULL);

	if (s == NULL)
	{
		/* cannot happen short of OOM; a zero tag then fails verification */
		memset(tag, 0, GCM_TAG_LEN);
		return;
	}
	sha256_update(s, aad, AAD_LEN);
	sha256_update(s, payload, len);
	sha256_final(s, digest);
	sha256_free(s);
	memcpy(tag, digest, GCM_TAG_LEN);
}

/* frame = fh(8) | payload(len) | tag(16); payload is at frame+8 and sealed in place. */
static int
crypt_seal(obj_crypt *c, uint64_t frame_no, uint8_t *frame, size_t len, pgark_err *err)
{
	uint8_t		aad[AAD_LEN];
	uint8_t		nonce[GCM_NONCE_LEN];
	uint8_t    *payload = frame + OBJ_FRAME_HDR_LEN;

	make_aad(c, frame_no, frame, aad, nonce);
	if (c->cipher == OBJ_CIPHER_NONE)
	{
		none_tag(aad, payload, len, payload + len);
		return 0;
	}
	return gcm_seal(c->gcm, nonce, aad, AAD_LEN, payload, len, payload, payload + len, err);
}

static int
crypt_open(obj_crypt *c, uint64_t frame_no, uint8_t *frame, size_t len, pgark_err *err)
{
	uint8_t		aad[AAD_LEN];
	uint8_t		nonce[GCM_NONCE_LEN];
	uint8_t    *payload = frame + OBJ_FRAME_HDR_LEN;

	make_aad(c, frame_no, frame, aad, nonce);
	if (c->cipher == OBJ_CIPHER_NONE)
	{
		uint8_t		tag[GCM_TAG_LEN];

		none_tag(aad, payload, len, tag);
		if (CRYPTO_memcmp(tag, payload + len, GCM_TAG_LEN) != 0)
			return err_set(err, PGARK_ERR_CORRUPT, 0, "checksum mismatch");
		return 0;
	}
	return gcm_open(c->gcm, nonce, aad, AAD_LEN, payload, len, payload, payload + len, err);
}

static void
crypt_free(obj_crypt *c)
{
	gcm_free(c->gcm);
	c->gcm = NULL;
}

int
obj_header_parse(const uint8_t b[OBJ_HEADER_LEN], obj_header *h, pgark_err *err)
{
	if (memcmp(b, OBJ_MAGIC, 8) != 0)
		return err_set(err, PGARK_ERR_CORRUPT, 0, "not a pgark object (bad magic)");
	h->version = get_be16(b + 8);
	if (h->version != OBJ_VERSION)
		return err_set(err, PGARK_ERR_CORRUPT, 0,
					   "unsupported object format version %u (this pgark reads version %d)",
					   h->version, OBJ_VERSION);
	if (b[10] > OBJ_COMP_LZ4)
		return err_set(err, PGARK_ERR_CORRUPT, 0, "unknown compression %u in object header", b[10]);
	if (b[11] > OBJ_CIPHER_AES256GCM)
		return err_set(err, PGARK_ERR_CORRUPT, 0, "unknown cipher %u in object header", b[11]);
	h->compression = (obj_compression) b[10];
	h->cipher = (obj_cipher) b[11];
	h->frame_size = get_be32(b + 12);
	if (h->frame_size < OBJ_MIN_FRAME_SIZE || h->frame_size > OBJ_MAX_FRAME_SIZE)
		return err_set(err, PGARK_ERR_CORRUPT, 0, "invalid frame size %u in object header", h->frame_size);
	h->plain_len = get_be64(b + 16);
	memcpy(h->dek_id, b + 24, OBJ_DEK_ID_LEN);
	memcpy(h->salt, b + 40, OBJ_SALT_LEN);
	for (int i = 72; i < OBJ_HEADER_LEN; i++)
		if (b[i] != 0)
			return err_set(err, PGARK_ERR_CORRUPT, 0, "reserved header bytes are not zero");
	return 0;
}

/* ---------------------------------------------------------------- writer */

struct obj_writer
{
	obj_params	p;
	obj_crypt	c;
	obj_sink_fn sink;
	void	   *sink_arg;
	uint8_t    *plain;			/* frame_size */
	size_t		plain_used;
	uint8_t    *frame;			/* 8 + frame_size + 16 */
	uint64_t	frame_no;
	uint64_t	total;
	uint64_t	stored;
	xxh64_state xx;
	sha256_ctx *sha;
	int			failed;
	/* obj_writer_use_workers: whole frames sealed nslots at a time */
	workers    *wk;
	int			nslots;
	struct seal_slot *slots;
	const uint8_t *batch;		/* the batch's plaintext */
	uint64_t	batch_frame0;	/* frame number of its first frame */
};

/* One frame sealed on a worker: its own cipher context and output buffer. */
typedef struct seal_slot
{
	obj_crypt	c;
	uint8_t    *frame;			/* 8 + frame_size + 16 */
	size_t		len;			/* bytes of frame to emit */
} seal_slot;

static int
writer_emit(obj_writer *w, const uint8_t *buf, size_t len, pgark_err *err)
{
	if (w->sink(w->sink_arg, buf, len, err) != 0)
		return -1;
	sha256_update(w->sha, buf, len);
	w->stored += len;
	return 0;
}

/*
 * Seal one frame of plaintext data into frame (8 + frame_size + 16 bytes):
 * lz4 when it makes the frame smaller, then AES-256-GCM with frame_no as the
 * nonce. *out_len: the bytes to emit. Uses only c, p and frame, so frames can
 * be sealed on several threads, each with its own c.
 */
static int
seal_frame(obj_crypt *c, const obj_params *p, uint64_t frame_no, uint8_t flags, const uint8_t *data,
		   size_t len, uint8_t *frame, size_t *out_len, pgark_err *err)
{
	uint8_t    *fh = frame;
	uint8_t    *payload = frame + OBJ_FRAME_HDR_LEN;
	size_t		plen = len;

	if (!(flags & OBJ_FRAME_LAST) && p->compression == OBJ_COMP_LZ4 && len > 1)
	{
		int			n = LZ4_compress_default((const char *) data, (char *) payload,
											 (int) len, (int) len - 1);

		if (n > 0)
		{
			plen = (size_t) n;
			flags |= OBJ_FRAME_LZ4;
		}
	}
	if (!(flags & OBJ_FRAME_LZ4))
		memcpy(payload, data, len);
	put_be32(fh, (uint32_t) plen);
	fh[4] = flags;
	fh[5] = fh[6] = fh[7] = 0;
	if (crypt_seal(c, frame_no, frame, plen, err) != 0)
		return -1;
	*out_len = OBJ_FRAME_HDR_LEN + plen + GCM_TAG_LEN;
	return 0;
}

static int
writer_frame(obj_writer *w, uint8_t flags, const uint8_t *data, size_t len, pgark_err *err)
{
	size_t		flen;

	if (seal_frame(&w->c, &w->p, w->frame_no, flags, data, len, w->frame, &flen, err) != 0)
		return -1;
	if (writer_emit(w, w->frame, flen, err) != 0)
		return -1;
	w->frame_no++;
	return 0;
}

static int
seal_slot_fn(void *arg, size_t i, pgark_err *err)
{
	obj_writer *w = arg;
	seal_slot  *sl = &w->slots[i];

	return seal_frame(&sl->c, &w->p, w->batch_frame0 + i, 0, w->batch + i * w->p.frame_size,
					  w->p.frame_size, sl->frame, &sl->len, err);
}

/* Seal n whole frames at p on the workers, then emit them in order. */
static int
writer_batch(obj_writer *w, const uint8_t *p, size_t n, pgark_err *err)
{
	w->batch = p;
	w->batch_frame0 = w->frame_no;
	if (workers_for(w->wk, n, seal_slot_fn, w, err) != 0)
		return -1;
	for (size_t i = 0; i < n; i++)
	{
		if (writer_emit(w, w->slots[i].frame, w->slots[i].len, err) != 0)
			return -1;
		w->frame_no++;
	}
	return 0;
}

int
obj_writer_use_workers(obj_writer *w, workers *wk, pgark_err *err)
{
	int			n;

	if (wk == NULL || workers_count(wk) < 2 || w->slots != NULL)
		return 0;
	n = 2 * workers_count(wk);
	if ((w->slots = calloc((size_t) n, sizeof(*w->slots))) == NULL)
		return err_set(err, PGARK_ERR_INTERNAL, 0, "out of memory");
	w->nslots = n;
	for (int i = 0; i < n; i++)
	{
		/* the same object key (same header, data key and salt) per slot */
		if (crypt_init(&w->slots[i].c, w->c.header, w->p.cipher, w->p.dek, w->c.header + 40, err) != 0)
			return -1;
		if ((w->slots[i].frame = malloc(OBJ_FRAME_HDR_LEN + (size_t) w->p.frame_size + GCM_TAG_LEN)) == NULL)
			return err_set(err, PGARK_ERR_INTERNAL, 0, "out of memory");
	}
	w->wk = wk;
	return 0;
}

obj_writer *
obj_writer_new(const obj_params *p, obj_sink_fn sink, void *sink_arg, pgark_err *err)
{
	obj_writer *w = calloc(1, sizeof(*w));
	uint8_t		h[OBJ_HEADER_LEN];
	uint8_t		salt[OBJ_SALT_LEN];

	if (w == NULL)
	{
		err_set(err, PGARK_ERR_INTERNAL, 0, "out of memory");
		return NULL;
	}
	w->p = *p;
	if (w->p.frame_size == 0)
		w->p.frame_size = OBJ_DEFAULT_FRAME_SIZE;
	w->sink = sink;
	w->sink_arg = sink_arg;
	if (w->p.frame_size < OBJ_MIN_FRAME_SIZE || w->p.frame_size > OBJ_MAX_FRAME_SIZE)
	{
		err_set(err, PGARK_ERR_INTERNAL, 0, "invalid frame size %u", w->p.frame_size);
		goto fail;
	}
	if (w->p.cipher == OBJ_CIPHER_AES256GCM && w->p.dek == NULL)
	{
		err_set(err, PGARK_ERR_KEY, 0, "no data key to encrypt with");
		goto fail;
	}
	if (p->salt)
		memcpy(salt, p->salt, OBJ_SALT_LEN);
	else if (random_bytes(salt, OBJ_SALT_LEN, err) != 0)
		goto fail;

	memcpy(h, OBJ_MAGIC, 8);
	put_be16(h + 8, OBJ_VERSION);
	h[10] = (uint8_t) w->p.compression;
	h[11] = (uint8_t) w->p.cipher;
	put_be32(h + 12, w->p.frame_size);
	put_be64(h + 16, w->p.plain_len);
	if (w->p.cipher == OBJ_CIPHER_AES256GCM)
		memcpy(h + 24, w->p.dek->id, OBJ_DEK_ID_LEN);
	else
		memset(h + 24, 0, OBJ_DEK_ID_LEN);
	memcpy(h + 40, salt, OBJ_SALT_LEN);
	memset(h + 72, 0, OBJ_HEADER_LEN - 72);

	if (crypt_init(&w->c, h, w->p.cipher, w->p.dek, salt, err) != 0)
		goto fail;
	w->plain = malloc(w->p.frame_size);
	w->frame = malloc(OBJ_FRAME_HDR_LEN + (size_t) w->p.frame_size + GCM_TAG_LEN);
	w->sha = sha256_new(err);
	if (w->plain == NULL || w->frame == NULL)
		err_set(err, PGARK_ERR_INTERNAL, 0, "out of memory");
	if (w->plain == NULL || w->frame == NULL || w->sha == NULL)
		goto fail;
	xxh64_init(&w->xx, 0);
	if (writer_emit(w, h, OBJ_HEADER_LEN, err) != 0)
		goto fail;
	return w;

fail:
	obj_writer_free(w);
	return NULL;
}

int
obj_writer_write(obj_writer *w, const void *buf, size_t len, pgark_err *err)
{
	const uint8_t *p = buf;

	if (w->failed)
		return err_set(err, PGARK_ERR_INTERNAL, 0, "object writer used after a failure");
	if (w->p.plain_len != OBJ_LEN_UNKNOWN && w->total + len > w->p.plain_len)
	{
		w->failed = 1;
		return err_set(err, PGARK_ERR_MISMATCH, 0,
					   "more data than announced (%llu bytes): the file grew while being stored",
					   (unsigned long long) w->p.plain_len);
	}
	xxh64_update(&w->xx, p, len);
	w->total += len;
	/* runs of whole frames on the workers, nslots at a time */
	while (w->wk != NULL && w->plain_used == 0 && len >= 2 * (size_t) w->p.frame_size)
	{
		size_t		n = len / w->p.frame_size;

		if (n > (size_t) w->nslots)
			n = (size_t) w->nslots;
		if (writer_batch(w, p, n, err) != 0)
			goto fail;
		p += n * w->p.frame_size;
		len -= n * w->p.frame_size;
	}
	while (len > 0)
	{
		size_t		n = w->p.frame_size - w->plain_used;

		if (n > len)
			n = len;
		if (w->plain_used == 0 && n == w->p.frame_size)
		{
			/* whole frame straight from the caller's buffer */
			if (writer_frame(w, 0, p, n, err) != 0)
				goto fail;
		}
		else
		{
			memcpy(w->plain + w->plain_used, p, n);
			w->plain_used += n;
			if (w->plain_used == w->p.frame_size)
			{
				if (writer_frame(w, 0, w->plain, w->plain_used, err) != 0)
					goto fail;
				w->plain_used = 0;
			}
		}
		p += n;
		len -= n;
	}
	return 0;
fail:
	w->failed = 1;
	return -1;
}

int
obj_writer_finish(obj_writer *w, obj_summary *out, pgark_err *err)
{
	uint8_t		tr[OBJ_TRAILER_LEN];
	uint64_t	data_frames;

	if (w->failed)
		return err_set(err, PGARK_ERR_INTERNAL, 0, "object writer used after a failure");
	if (w->p.plain_len != OBJ_LEN_UNKNOWN && w->total != w->p.plain_len)
	{
		w->failed = 1;
		return err_set(err, PGARK_ERR_MISMATCH, 0,
					   "%llu bytes written but %llu announced: the file changed while being stored",
					   (unsigned long long) w->total, (unsigned long long) w->p.plain_len);
	}
	if (w->plain_used > 0)
	{
		if (writer_frame(w, 0, w->plain, w->plain_used, err) != 0)
			goto fail;
		w->plain_used = 0;
	}
	data_frames = w->frame_no;
	put_be64(tr, w->total);
	put_be64(tr + 8, data_frames);
	put_be64(tr + 16, xxh64_digest(&w->xx));
	put_be64(tr + 24, 0);
	if (writer_frame(w, OBJ_FRAME_LAST, tr, sizeof(tr), err) != 0)
		goto fail;
	if (out)
	{
		out->plain_len = w->total;
		out->stored_len = w->stored;
		out->frames = data_frames;
		out->xxh64 = xxh64_digest(&w->xx);
		sha256_final(w->sha, out->sha256);
	}
	w->failed = 1;				/* finished: no more writes */
	return 0;
fail:
	w->failed = 1;
	return -1;
}

void
obj_writer_free(obj_writer *w)
{
	if (w == NULL)
		return;
	crypt_free(&w->c);
	if (w->plain)
		secure_zero(w->plain, w->p.frame_size);
	free(w->plain);
	free(w->frame);
	for (int i = 0; i < w->nslots; i++)
	{
		crypt_free(&w->slots[i].c);
		free(w->slots[i].frame);
	}
	free(w->slots);
	sha256_free(w->sha);
	free(w);
}

/* ---------------------------------------------------------------- reader */

struct obj_reader
{
	obj_source_fn src;
	void	   *src_arg;
	obj_header	h;
	obj_crypt	c;
	uint8_t    *frame;			/* 8 + frame_size + 16 */
	uint8_t    *plain;			/* frame_size */
	size_t		plain_len;
	size_t		plain_off;
	uint64_t	frame_no;
	uint64_t	total;
	size_t		last_data_len;
	int			done;
	int			failed;
	xxh64_state xx;
	sha256_ctx *sha;
	obj_summary sum;
};

/* Read exactly n bytes; *short_read set if the source ended first. */
static int
src_exact(obj_reader *r, uint8_t *buf, size_t n, size_t *got_out, pgark_err *err)
{
	size_t		done = 0;

	while (done < n)
	{
		size_t		got = 0;

		if (r->src(r->src_arg, buf + done, n - done, &got, err) != 0)
			return -1;
		if (got == 0)
			break;
		done += got;
	}
	if (r->sha != NULL)
		sha256_update(r->sha, buf, done);
	r->sum.stored_len += done;
	*got_out = done;
	return 0;
}

obj_reader *
obj_reader_new(obj_source_fn src, void *src_arg, obj_key_fn keys, void *keys_arg, pgark_err *err)
{
	obj_reader *r = calloc(1, sizeof(*r));
	uint8_t		hb[OBJ_HEADER_LEN];
	size_t		got;
	const obj_dek *dek = NULL;

	if (r == NULL)
	{
		err_set(err, PGARK_ERR_INTERNAL, 0, "out of memory");
		return NULL;
	}
	r->src = src;
	r->src_arg = src_arg;
	if ((r->sha = sha256_new(err)) == NULL)
		goto fail;
	if (src_exact(r, hb, OBJ_HEADER_LEN, &got, err) != 0)
		goto fail;
	if (got < OBJ_HEADER_LEN)
	{
		err_set(err, PGARK_ERR_CORRUPT, 0, "object truncated: %zu bytes, shorter than its header", got);
		goto fail;
	}
	if (obj_header_parse(hb, &r->h, err) != 0)
		goto fail;
	if (r->h.cipher == OBJ_CIPHER_AES256GCM)
	{
		if (keys == NULL)
		{
			err_set(err, PGARK_ERR_KEY, 0, "object is encrypted but no key is configured");
			goto fail;
		}
		if ((dek = keys(keys_arg, r->h.dek_id, err)) == NULL)
			goto fail;
	}
	if (crypt_init(&r->c, hb, r->h.cipher, dek, r->h.salt, err) != 0)
		goto fail;
	r->frame = malloc(OBJ_FRAME_HDR_LEN + (size_t) r->h.frame_size + GCM_TAG_LEN);
	r->plain = malloc(r->h.frame_size);
	if (r->frame == NULL || r->plain == NULL)
	{
		err_set(err, PGARK_ERR_INTERNAL, 0, "out of memory");
		goto fail;
	}
	r->last_data_len = r->h.frame_size;
	xxh64_init(&r->xx, 0);
	return r;
fail:
	obj_reader_free(r);
	return NULL;
}

static int
corrupt(obj_reader *r, pgark_err *err, const char *what)
{
	r->failed = 1;
	return err_set(err, PGARK_ERR_CORRUPT, 0, "%s (frame %llu)", what, (unsigned long long) r->frame_no);
}

/* Read, authenticate and decode the next frame into r->plain. */
static int
reader_next_frame(obj_reader *r, pgark_err *err)
{
	uint8_t    *fh = r->frame;
	uint8_t    *payload = r->frame + OBJ_FRAME_HDR_LEN;
	size_t		got;
	uint32_t	plen;
	uint8_t		flags;

	if (src_exact(r, fh, OBJ_FRAME_HDR_LEN, &got, err) != 0)
		return -1;
	if (got == 0)
		return corrupt(r, err, "object truncated: it ends without its trailer");
	if (got < OBJ_FRAME_HDR_LEN)
		return corrupt(r, err, "object truncated inside a frame header");
	plen = get_be32(fh);
	flags = fh[4];
	if (plen > r->h.frame_size)
		return corrupt(r, err, "frame longer than the frame size");
	if ((flags & ~(OBJ_FRAME_LAST | OBJ_FRAME_LZ4)) != 0 || fh[5] || fh[6] || fh[7])
		return corrupt(r, err, "unknown frame flags");
	if (src_exact(r, payload, (size_t) plen + GCM_TAG_LEN, &got, err) != 0)
		return -1;
	if (got < (size_t) plen + GCM_TAG_LEN)
		return corrupt(r, err, "object truncated inside a frame");
	if (crypt_open(&r->c, r->frame_no, r->frame, plen, err) != 0)
	{
		if (err && err->kind == PGARK_ERR_CORRUPT)
			return corrupt(r, err, r->h.cipher == OBJ_CIPHER_NONE
						   ? "frame checksum mismatch: object damaged"
						   : "frame failed authentication: object damaged, or encrypted with another key");
		r->failed = 1;
		return -1;
	}

	if (flags & OBJ_FRAME_LAST)
	{
		uint8_t		extra;
		uint64_t	total, frames, xx;

		if (plen != OBJ_TRAILER_LEN || (flags & OBJ_FRAME_LZ4))
			return corrupt(r, err, "malformed trailer");
		total = get_be64(payload);
		frames = get_be64(payload + 8);
		xx = get_be64(payload + 16);
		if (get_be64(payload + 24) != 0)
			return corrupt(r, err, "malformed trailer");
		if (total != r->total || frames != r->frame_no)
			return corrupt(r, err, "trailer disagrees with the frames read");
		if (r->h.plain_len != OBJ_LEN_UNKNOWN && r->h.plain_len != total)
			return corrupt(r, err, "trailer disagrees with the header's length");
		if (xx != xxh64_digest(&r->xx))
			return corrupt(r, err, "plaintext checksum (XXH64) mismatch");
		if (src_exact(r, &extra, 1, &got, err) != 0)
			return -1;
		if (got != 0)
			return corrupt(r, err, "bytes after the trailer");
		r->sum.plain_len = total;
		r->sum.frames = frames;
		r->sum.xxh64 = xx;
		if (r->sha != NULL)
			sha256_final(r->sha, r->sum.sha256);
		r->done = 1;
		r->plain_len = r->plain_off = 0;
		return 0;
	}

	if (r->last_data_len != r->h.frame_size)
		return corrupt(r, err, "a short data frame is followed by another");
	if (flags & OBJ_FRAME_LZ4)
	{
		int			n = LZ4_decompress_safe((const char *) payload, (char *) r->plain,
											(int) plen, (int) r->h.frame_size);

		if (n <= 0)
			return corrupt(r, err, "lz4 data does not decompress");
		r->plain_len = (size_t) n;
	}
	else
	{
		memcpy(r->plain, payload, plen);
		r->plain_len = plen;
	}
	if (r->plain_len == 0)
		return corrupt(r, err, "empty data frame");
	if (r->h.plain_len != OBJ_LEN_UNKNOWN && r->total + r->plain_len > r->h.plain_len)
		return corrupt(r, err, "more data than the header announces");
	r->last_data_len = r->plain_len;
	r->plain_off = 0;
	r->total += r->plain_len;
	xxh64_update(&r->xx, r->plain, r->plain_len);
	r->frame_no++;
	return 0;
}

int
obj_reader_read(obj_reader *r, void *buf, size_t len, size_t *got, pgark_err *err)
{
	size_t		done = 0;

	*got = 0;
	if (r->failed)
		return err_set(err, PGARK_ERR_CORRUPT, 0, "object reader used after a failure");
	while (done < len && !r->done)
	{
		size_t		n;

		if (r->plain_off == r->plain_len)
		{
			if (reader_next_frame(r, err) != 0)
				return -1;
			continue;
		}
		n = r->plain_len - r->plain_off;
		if (n > len - done)
			n = len - done;
		memcpy((uint8_t *) buf + done, r->plain + r->plain_off, n);
		r->plain_off += n;
		done += n;
	}
	*got = done;
	return 0;
}

void
obj_reader_skip_stored_sha256(obj_reader *r)
{
	sha256_free(r->sha);
	r->sha = NULL;
	memset(r->sum.sha256, 0, sizeof(r->sum.sha256));
}

const obj_header *
obj_reader_header(const obj_reader *r)
{
	return &r->h;
}

const obj_summary *
obj_reader_summary(const obj_reader *r)
{
	return r->done ? &r->sum : NULL;
}

void
obj_reader_free(obj_reader *r)
{
	if (r == NULL)
		return;
	crypt_free(&r->c);
	if (r->plain)
		secure_zero(r->plain, r->h.frame_size);
	if (r->frame)
		secure_zero(r->frame, OBJ_FRAME_HDR_LEN + (size_t) r->h.frame_size + GCM_TAG_LEN);
	free(r->plain);
	free(r->frame);
	sha256_free(r->sha);
	free(r);
}
