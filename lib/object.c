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
	if (cipher == OBJ_CIPHER_NONE)
		return 0;				/* a context from an earlier object is kept */
	if (hkdf_sha256(salt, OBJ_SALT_LEN, dek->key, AES256_KEY_LEN,
					(const uint8_t *) HKDF_INFO, strlen(HKDF_INFO),
					okey, sizeof(okey), err) != 0)
		return -1;
	/* c zeroed, or an obj_decoder's, re-keyed for its next object */
	if (c->gcm != NULL)
		gcm_rekey(c->gcm, okey);
	else
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

/* Open one frame: fh its header, payload (len bytes) and tag at in, the
 * plaintext to out (len bytes; may be in). */
static int
crypt_open(obj_crypt *c, uint64_t frame_no, const uint8_t *fh, const uint8_t *in, size_t len,
		   uint8_t *out, pgark_err *err)
{
	uint8_t		aad[AAD_LEN];
	uint8_t		nonce[GCM_NONCE_LEN];

	make_aad(c, frame_no, fh, aad, nonce);
	if (c->cipher == OBJ_CIPHER_NONE)
	{
		uint8_t		tag[GCM_TAG_LEN];

		none_tag(aad, in, len, tag);
		if (CRYPTO_memcmp(tag, in + len, GCM_TAG_LEN) != 0)
			return err_set(err, PGARK_ERR_CORRUPT, 0, "checksum mismatch");
		if (out != in && len > 0)
			memcpy(out, in, len);
		return 0;
	}
	return gcm_open(c->gcm, nonce, aad, AAD_LEN, in, len, out, in + len, err);
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
	size_t		frame_used;		/* the most of frame ever written: zeroed at free */
	uint64_t	frame_no;
	uint64_t	total;
	uint64_t	stored;
	xxh64_state xx;
	sha256_ctx *sha;
	int			failed;
	/*
	 * obj_writer_use_workers: whole frames sealed nslots at a time into one
	 * of two sets of slots; a batch's frames are emitted while the next
	 * batch is sealed (or before any other frame, or at finish)
	 */
	workers    *wk;
	int			nslots;
	struct seal_slot *slots;	/* 2 x nslots */
	int			set;			/* the set the next batch seals into */
	size_t		npend;			/* frames of the other set awaiting emission */
	const uint8_t *batch;		/* the batch's plaintext */
	size_t		nbatch;			/* its whole frames */
	uint64_t	batch_frame0;	/* frame number of its first frame */
	obj_side_fn side;			/* run once beside the first batch of a write */
	void	   *side_arg;
};

/* One frame sealed on a worker: its own cipher context and output buffer. */
typedef struct seal_slot
{
	obj_crypt	c;
	uint8_t    *frame;			/* 8 + frame_size + 16 */
	size_t		len;			/* bytes of frame to emit */
	size_t		used;			/* the most of frame ever written: zeroed at free */
} seal_slot;

static int
writer_emit(obj_writer *w, const uint8_t *buf, size_t len, pgark_err *err)
{
	if (w->sink(w->sink_arg, buf, len, err) != 0)
		return -1;
	if (w->sha != NULL)
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
	*out_len = OBJ_FRAME_HDR_LEN + plen + GCM_TAG_LEN;	/* also what was written, on failure */
	return crypt_seal(c, frame_no, frame, plen, err);
}

/* Emit the frames of the last batch, if any are still waiting (in order). */
static int
writer_emit_pending(obj_writer *w, pgark_err *err)
{
	seal_slot  *set;
	size_t		n = w->npend;

	if (n == 0)
		return 0;				/* (and w->slots may be NULL) */
	set = w->slots + (w->set ^ 1) * w->nslots;
	w->npend = 0;
	for (size_t i = 0; i < n; i++)
		if (writer_emit(w, set[i].frame, set[i].len, err) != 0)
			return -1;
	return 0;
}

static int
writer_frame(obj_writer *w, uint8_t flags, const uint8_t *data, size_t len, pgark_err *err)
{
	size_t		flen;

	int			rc;

	if (writer_emit_pending(w, err) != 0)
		return -1;
	rc = seal_frame(&w->c, &w->p, w->frame_no, flags, data, len, w->frame, &flen, err);
	if (flen > w->frame_used)
		w->frame_used = flen;
	if (rc != 0)
		return -1;
	if (writer_emit(w, w->frame, flen, err) != 0)
		return -1;
	w->frame_no++;
	return 0;
}

/*
 * Item i of a batch: with a side function, item 0 runs it (only in the first
 * batch of a write); the next item adds the batch to the XXH64 and emits the
 * previous batch's frames; the rest seal one frame each. The serial work
 * (reading the next input, hashing, writing out) so overlaps the sealing.
 */
static int
batch_item_fn(void *arg, size_t i, pgark_err *err)
{
	obj_writer *w = arg;
	seal_slot  *sl;
	int			rc;

	if (w->side != NULL)
	{
		if (i == 0)
			return w->side(w->side_arg, err);
		i--;
	}
	if (i == 0)
	{
		xxh64_update(&w->xx, w->batch, w->nbatch * w->p.frame_size);
		return writer_emit_pending(w, err);
	}
	i--;
	sl = &w->slots[(size_t) w->set * (size_t) w->nslots + i];
	rc = seal_frame(&sl->c, &w->p, w->batch_frame0 + i, 0, w->batch + i * w->p.frame_size,
					w->p.frame_size, sl->frame, &sl->len, err);
	if (sl->len > sl->used)
		sl->used = sl->len;
	return rc;
}

/* Seal n whole frames at p on the workers; they are emitted later, in order. */
static int
writer_batch(obj_writer *w, const uint8_t *p, size_t n, pgark_err *err)
{
	w->batch = p;
	w->nbatch = n;
	w->batch_frame0 = w->frame_no;
	if (workers_for(w->wk, n + 1 + (w->side != NULL), batch_item_fn, w, err) != 0)
		return -1;
	w->side = NULL;
	w->frame_no += n;
	w->npend = n;
	w->set ^= 1;
	return 0;
}

int
obj_writer_use_workers(obj_writer *w, workers *wk, pgark_err *err)
{
	int			n;

	if (wk == NULL || workers_count(wk) < 2 || w->slots != NULL)
		return 0;
	n = workers_count(wk);
	if ((w->slots = calloc(2 * (size_t) n, sizeof(*w->slots))) == NULL)
		return err_set(err, PGARK_ERR_INTERNAL, 0, "out of memory");
	w->nslots = n;
	for (int i = 0; i < 2 * n; i++)
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
	return obj_writer_write_side(w, buf, len, NULL, NULL, err);
}

int
obj_writer_write_side(obj_writer *w, const void *buf, size_t len, obj_side_fn side, void *side_arg,
					  pgark_err *err)
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
	w->total += len;
	/* runs of whole frames on the workers, nslots at a time (they add
	 * themselves to the XXH64, in order) */
	w->side = side;
	w->side_arg = side_arg;
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
	/* no batch ran it: on this thread, now */
	if (w->side != NULL)
	{
		w->side = NULL;
		if (side(side_arg, err) != 0)
			goto fail;
	}
	xxh64_update(&w->xx, p, len);
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
		if (w->sha != NULL)
			sha256_final(w->sha, out->sha256);
		else
			memset(out->sha256, 0, sizeof(out->sha256));
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
	/* sealed frames; plaintext with cipher none, or after a failed seal */
	if (w->frame)
		secure_zero(w->frame, w->frame_used);
	free(w->frame);
	for (int i = 0; i < 2 * w->nslots; i++)
	{
		crypt_free(&w->slots[i].c);
		if (w->slots[i].frame)
			secure_zero(w->slots[i].frame, w->slots[i].used);
		free(w->slots[i].frame);
	}
	free(w->slots);
	sha256_free(w->sha);
	free(w);
}

/* ---------------------------------------------------------------- reader */

/*
 * The checks of one object's frames, in order: every check a reader does is
 * here, shared by obj_reader (bytes pulled from a source) and obj_decoder
 * (a whole object in memory). The callers only move bytes.
 */
typedef struct frame_check
{
	obj_header	h;
	obj_crypt	c;
	uint64_t	frame_no;
	uint64_t	total;
	size_t		last_data_len;
	xxh64_state xx;
	int			defer_xx;		/* the caller hashes (obj_reader_defer_xxh64) */
	uint64_t	trailer_xx;		/* then the trailer's XXH64, kept for it */
} frame_check;

#define XXH64_MISMATCH "plaintext checksum (XXH64) mismatch"

static int
check_corrupt(const frame_check *f, pgark_err *err, const char *what)
{
	return err_set(err, PGARK_ERR_CORRUPT, 0, "%s (frame %llu)", what, (unsigned long long) f->frame_no);
}

/* The header: got bytes of it at hb (the object may be shorter); then its
 * data key looked up and the object key derived. */
static int
check_begin(frame_check *f, const uint8_t *hb, size_t got, obj_key_fn keys, void *keys_arg, pgark_err *err)
{
	const obj_dek *dek = NULL;

	if (got < OBJ_HEADER_LEN)
		return err_set(err, PGARK_ERR_CORRUPT, 0, "object truncated: %zu bytes, shorter than its header", got);
	if (obj_header_parse(hb, &f->h, err) != 0)
		return -1;
	if (f->h.cipher == OBJ_CIPHER_AES256GCM)
	{
		if (keys == NULL)
			return err_set(err, PGARK_ERR_KEY, 0, "object is encrypted but no key is configured");
		if ((dek = keys(keys_arg, f->h.dek_id, err)) == NULL)
			return -1;
	}
	if (crypt_init(&f->c, hb, f->h.cipher, dek, f->h.salt, err) != 0)
		return -1;
	f->frame_no = 0;
	f->total = 0;
	f->last_data_len = f->h.frame_size;
	xxh64_init(&f->xx, 0);
	return 0;
}

/* A frame header, got bytes of it at fh: its payload length and flags. */
static int
check_frame_header(const frame_check *f, const uint8_t *fh, size_t got, uint32_t *plen, uint8_t *flags,
				   pgark_err *err)
{
	if (got == 0)
		return check_corrupt(f, err, "object truncated: it ends without its trailer");
	if (got < OBJ_FRAME_HDR_LEN)
		return check_corrupt(f, err, "object truncated inside a frame header");
	*plen = get_be32(fh);
	*flags = fh[4];
	if (*plen > f->h.frame_size)
		return check_corrupt(f, err, "frame longer than the frame size");
	if ((*flags & ~(OBJ_FRAME_LAST | OBJ_FRAME_LZ4)) != 0 || fh[5] || fh[6] || fh[7])
		return check_corrupt(f, err, "unknown frame flags");
	return 0;
}

/*
 * The rest of the frame whose header fh passed: got bytes of payload and tag
 * at in. A compressed frame or the trailer is opened into work (plen bytes;
 * may be in), a stored frame straight into out; a data frame's plaintext ends
 * in out (room for frame_size bytes), *out_len bytes. The trailer sets *last
 * once it agrees with the frames (the caller then checks that nothing
 * follows, with check_end).
 */
static int
check_frame_body(frame_check *f, const uint8_t *fh, uint32_t plen, uint8_t flags, const uint8_t *in,
				 size_t got, uint8_t *work, uint8_t *out, size_t *out_len, int *last, pgark_err *err)
{
	uint8_t    *dec = (flags & (OBJ_FRAME_LAST | OBJ_FRAME_LZ4)) ? work : out;
	size_t		n;

	*last = 0;
	if (got < (size_t) plen + GCM_TAG_LEN)
		return check_corrupt(f, err, "object truncated inside a frame");
	if (crypt_open(&f->c, f->frame_no, fh, in, plen, dec, err) != 0)
	{
		if (err && err->kind == PGARK_ERR_CORRUPT)
			return check_corrupt(f, err, f->h.cipher == OBJ_CIPHER_NONE
								 ? "frame checksum mismatch: object damaged"
								 : "frame failed authentication: object damaged, or encrypted with another key");
		return -1;
	}

	if (flags & OBJ_FRAME_LAST)
	{
		uint64_t	total, frames, xx;

		if (plen != OBJ_TRAILER_LEN || (flags & OBJ_FRAME_LZ4))
			return check_corrupt(f, err, "malformed trailer");
		total = get_be64(dec);
		frames = get_be64(dec + 8);
		xx = get_be64(dec + 16);
		if (get_be64(dec + 24) != 0)
			return check_corrupt(f, err, "malformed trailer");
		if (total != f->total || frames != f->frame_no)
			return check_corrupt(f, err, "trailer disagrees with the frames read");
		if (f->h.plain_len != OBJ_LEN_UNKNOWN && f->h.plain_len != total)
			return check_corrupt(f, err, "trailer disagrees with the header's length");
		if (f->defer_xx)
			f->trailer_xx = xx;
		else if (xx != xxh64_digest(&f->xx))
			return check_corrupt(f, err, XXH64_MISMATCH);
		*out_len = 0;
		*last = 1;
		return 0;
	}

	if (f->last_data_len != f->h.frame_size)
		return check_corrupt(f, err, "a short data frame is followed by another");
	if (flags & OBJ_FRAME_LZ4)
	{
		int			got_lz4 = LZ4_decompress_safe((const char *) dec, (char *) out,
												  (int) plen, (int) f->h.frame_size);

		if (got_lz4 <= 0)
			return check_corrupt(f, err, "lz4 data does not decompress");
		n = (size_t) got_lz4;
	}
	else
		n = plen;
	if (n == 0)
		return check_corrupt(f, err, "empty data frame");
	if (f->h.plain_len != OBJ_LEN_UNKNOWN && f->total + n > f->h.plain_len)
		return check_corrupt(f, err, "more data than the header announces");
	f->last_data_len = n;
	f->total += n;
	if (!f->defer_xx)
		xxh64_update(&f->xx, out, n);
	f->frame_no++;
	*out_len = n;
	return 0;
}

/* After the trailer: extra bytes follow it (0 or more). */
static int
check_end(const frame_check *f, size_t extra, pgark_err *err)
{
	return extra != 0 ? check_corrupt(f, err, "bytes after the trailer") : 0;
}

struct obj_reader
{
	obj_source_fn src;
	void	   *src_arg;
	frame_check f;
	uint8_t    *frame;			/* 8 + frame_size + 16 */
	size_t		frame_used;		/* how much of it was ever filled (zeroed at free) */
	uint8_t    *plain;			/* frame_size, once a caller's buffer had less room */
	size_t		plain_len;
	size_t		plain_off;
	int			done;
	int			failed;
	sha256_ctx *sha;
	obj_summary sum;
	xxh64_state caller_xx;		/* obj_reader_hash's, with f.defer_xx */
	int			hash_checked;	/* obj_reader_check_hash passed */
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
	if (check_begin(&r->f, hb, got, keys, keys_arg, err) != 0)
		goto fail;
	r->frame = malloc(OBJ_FRAME_HDR_LEN + (size_t) r->f.h.frame_size + GCM_TAG_LEN);
	if (r->frame == NULL)
	{
		err_set(err, PGARK_ERR_INTERNAL, 0, "out of memory");
		goto fail;
	}
	return r;
fail:
	obj_reader_free(r);
	return NULL;
}

/* Read, authenticate and decode the next frame into out (room for
 * frame_size bytes): *out_len bytes, 0 after the trailer. */
static int
reader_next_frame(obj_reader *r, uint8_t *out, size_t *out_len, pgark_err *err)
{
	uint8_t    *fh = r->frame;
	uint8_t    *payload = r->frame + OBJ_FRAME_HDR_LEN;
	size_t		got;
	uint32_t	plen;
	uint8_t		flags;
	int			last;

	if (src_exact(r, fh, OBJ_FRAME_HDR_LEN, &got, err) != 0)
		return -1;
	if (check_frame_header(&r->f, fh, got, &plen, &flags, err) != 0)
		goto failed;
	if (src_exact(r, payload, (size_t) plen + GCM_TAG_LEN, &got, err) != 0)
		return -1;
	if (OBJ_FRAME_HDR_LEN + got > r->frame_used)
		r->frame_used = OBJ_FRAME_HDR_LEN + got;
	if (check_frame_body(&r->f, fh, plen, flags, payload, got, payload, out, out_len, &last, err) != 0)
		goto failed;
	if (last)
	{
		uint8_t		extra;

		if (src_exact(r, &extra, 1, &got, err) != 0)
			return -1;
		if (check_end(&r->f, got, err) != 0)
			goto failed;
		r->sum.plain_len = r->f.total;
		r->sum.frames = r->f.frame_no;
		r->sum.xxh64 = r->f.defer_xx ? r->f.trailer_xx : xxh64_digest(&r->f.xx);
		if (r->sha != NULL)
			sha256_final(r->sha, r->sum.sha256);
		r->done = 1;
	}
	return 0;
failed:
	r->failed = 1;
	return -1;
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

		if (r->plain_off == r->plain_len && len - done >= r->f.h.frame_size)
		{
			/* room for a whole frame: decoded in place, no copy (16 MiB
			 * less to copy for a WAL segment read 1 MiB at a time) */
			if (reader_next_frame(r, (uint8_t *) buf + done, &n, err) != 0)
			{
				/* nothing of a frame that failed stays with the caller */
				secure_zero((uint8_t *) buf + done, r->f.h.frame_size);
				return -1;
			}
			done += n;
			continue;
		}
		if (r->plain_off == r->plain_len)
		{
			if (r->plain == NULL && (r->plain = malloc(r->f.h.frame_size)) == NULL)
				return err_set(err, PGARK_ERR_INTERNAL, 0, "out of memory");
			r->plain_off = r->plain_len = 0;
			if (reader_next_frame(r, r->plain, &r->plain_len, err) != 0)
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
obj_writer_skip_stored_sha256(obj_writer *w)
{
	sha256_free(w->sha);
	w->sha = NULL;
}

void
obj_reader_skip_stored_sha256(obj_reader *r)
{
	sha256_free(r->sha);
	r->sha = NULL;
	memset(r->sum.sha256, 0, sizeof(r->sum.sha256));
}

void
obj_reader_defer_xxh64(obj_reader *r)
{
	r->f.defer_xx = 1;
	xxh64_init(&r->caller_xx, 0);
}

void
obj_reader_hash(obj_reader *r, const void *data, size_t n)
{
	xxh64_update(&r->caller_xx, data, n);
}

int
obj_reader_check_hash(obj_reader *r, pgark_err *err)
{
	if (!r->done || r->failed)
		return err_set(err, PGARK_ERR_INTERNAL, 0, "object not read to its end");
	if (r->f.defer_xx && xxh64_digest(&r->caller_xx) != r->f.trailer_xx)
	{
		r->failed = 1;
		return check_corrupt(&r->f, err, XXH64_MISMATCH);
	}
	r->hash_checked = 1;
	return 0;
}

const obj_header *
obj_reader_header(const obj_reader *r)
{
	return &r->f.h;
}

const obj_summary *
obj_reader_summary(const obj_reader *r)
{
	return r->done && (!r->f.defer_xx || r->hash_checked) ? &r->sum : NULL;
}

void
obj_reader_free(obj_reader *r)
{
	if (r == NULL)
		return;
	crypt_free(&r->f.c);
	if (r->plain)
		secure_zero(r->plain, r->f.h.frame_size);
	if (r->frame)
		secure_zero(r->frame, r->frame_used);	/* the rest was never written */
	free(r->plain);
	free(r->frame);
	sha256_free(r->sha);
	free(r);
}

/* ---------------------------------------------------------------- decoder */

struct obj_decoder
{
	obj_key_fn	keys;
	void	   *keys_arg;
	frame_check f;
	const uint8_t *obj;			/* the object of obj_decode_open */
	size_t		len;
	int			opened;
	uint8_t    *work;			/* compressed payloads and trailers, opened */
	size_t		work_cap;
	uint8_t    *plain;			/* a frame that may not fit the caller's buffer */
	size_t		plain_cap;
};

obj_decoder *
obj_decoder_new(obj_key_fn keys, void *keys_arg, pgark_err *err)
{
	obj_decoder *d = calloc(1, sizeof(*d));

	if (d == NULL)
	{
		err_set(err, PGARK_ERR_INTERNAL, 0, "out of memory");
		return NULL;
	}
	d->keys = keys;
	d->keys_arg = keys_arg;
	return d;
}

/* *buf of at least need bytes (its old contents zeroed and dropped). */
static int
decoder_room(uint8_t **buf, size_t *cap, size_t need, pgark_err *err)
{
	uint8_t    *n;

	if (*cap >= need)
		return 0;
	if ((n = malloc(need)) == NULL)
		return err_set(err, PGARK_ERR_INTERNAL, 0, "out of memory");
	secure_zero(*buf, *cap);
	free(*buf);
	*buf = n;
	*cap = need;
	return 0;
}

const obj_header *
obj_decode_open(obj_decoder *d, const uint8_t *obj, size_t len, pgark_err *err)
{
	d->opened = 0;
	if (check_begin(&d->f, obj, len, d->keys, d->keys_arg, err) != 0 ||
		decoder_room(&d->work, &d->work_cap, d->f.h.frame_size, err) != 0)
		return NULL;
	d->obj = obj;
	d->len = len;
	d->opened = 1;
	return &d->f.h;
}

int
obj_decode_read(obj_decoder *d, uint8_t *out, size_t cap, size_t *got, pgark_err *err)
{
	size_t		pos = OBJ_HEADER_LEN;
	size_t		have = 0;

	*got = 0;
	if (!d->opened)
		return err_set(err, PGARK_ERR_INTERNAL, 0, "obj_decode_read without a successful obj_decode_open");
	d->opened = 0;				/* one read per open */
	for (;;)
	{
		const uint8_t *fh = d->obj + pos;
		size_t		left = d->len - pos;
		uint32_t	plen;
		uint8_t		flags;
		uint8_t    *dst;
		size_t		n, body;
		int			last;

		if (check_frame_header(&d->f, fh, left < OBJ_FRAME_HDR_LEN ? left : OBJ_FRAME_HDR_LEN,
							   &plen, &flags, err) != 0)
			goto fail;
		pos += OBJ_FRAME_HDR_LEN;
		left -= OBJ_FRAME_HDR_LEN;
		body = left < (size_t) plen + GCM_TAG_LEN ? left : (size_t) plen + GCM_TAG_LEN;
		/* straight into the caller's buffer when a whole frame fits */
		if (cap - have >= d->f.h.frame_size)
			dst = out + have;
		else if (decoder_room(&d->plain, &d->plain_cap, d->f.h.frame_size, err) != 0)
			goto fail;
		else
			dst = d->plain;
		if (check_frame_body(&d->f, fh, plen, flags, d->obj + pos, body, d->work, dst, &n, &last, err) != 0)
			goto fail;
		pos += body;
		if (last)
			break;
		if (dst == d->plain)
		{
			if (n > cap - have)
			{
				err_set(err, PGARK_ERR_CORRUPT, 0, "object holds more than the %zu bytes expected", cap);
				goto fail;
			}
			memcpy(out + have, dst, n);
		}
		have += n;
	}
	if (check_end(&d->f, d->len - pos, err) != 0)
		goto fail;
	*got = have;
	return 0;
fail:
	/* frames opened into out before one failed: never leave plaintext
	 * that did not authenticate, or that belongs to a damaged object */
	secure_zero(out, cap - have > d->f.h.frame_size ? have + d->f.h.frame_size : cap);
	return -1;
}

void
obj_decode_forget(obj_decoder *d)
{
	d->opened = 0;
}

void
obj_decoder_free(obj_decoder *d)
{
	if (d == NULL)
		return;
	crypt_free(&d->f.c);
	secure_zero(d->work, d->work_cap);
	secure_zero(d->plain, d->plain_cap);
	free(d->work);
	free(d->plain);
	free(d);
}
