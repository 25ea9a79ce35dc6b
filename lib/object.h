/*
 * object.h — the pgark object container (FORMAT.md is the normative text).
 *
 *   header (80 bytes, plaintext, authenticated as AAD of every frame)
 *   data frames: [len u32][flags u8][0 0 0][payload len][tag 16]
 *   trailer frame (flag LAST): encrypted {plaintext length, data frame count,
 *   XXH64 of the plaintext, 0}
 *
 * Each frame holds at most frame_size bytes of plaintext, lz4-compressed when
 * that makes it smaller, then sealed with AES-256-GCM under a per-object key
 * HKDF-SHA256(salt = object salt, ikm = data key, info = "pgark object v1");
 * the nonce is the frame number. With cipher "none" the tag is a truncated
 * SHA-256 of the same authenticated data (detects damage, not tampering).
 *
 * The writer streams into a sink; the reader pulls from a source and only
 * returns plaintext of frames that authenticated, and reports end of object
 * only after the trailer verified. Memory: about 2 frames each.
 */
#ifndef PGARK_OBJECT_H
#define PGARK_OBJECT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "crypto.h"
#include "err.h"

#define OBJ_MAGIC "PGARKOBJ"
#define OBJ_VERSION 1
#define OBJ_HEADER_LEN 80
#define OBJ_FRAME_HDR_LEN 8
#define OBJ_TRAILER_LEN 32
#define OBJ_DEK_ID_LEN 16
#define OBJ_SALT_LEN 32
#define OBJ_LEN_UNKNOWN UINT64_MAX
#define OBJ_DEFAULT_FRAME_SIZE (1024 * 1024)
/* the trailer frame carries OBJ_TRAILER_LEN bytes, so no frame may be smaller */
#define OBJ_MIN_FRAME_SIZE OBJ_TRAILER_LEN
#define OBJ_MAX_FRAME_SIZE (16 * 1024 * 1024)

#define OBJ_FRAME_LAST 0x01
#define OBJ_FRAME_LZ4 0x02

typedef enum obj_compression
{
	OBJ_COMP_NONE = 0,
	OBJ_COMP_LZ4 = 1
} obj_compression;

typedef enum obj_cipher
{
	OBJ_CIPHER_NONE = 0,
	OBJ_CIPHER_AES256GCM = 1
} obj_cipher;

/* A data key as the container needs it. */
typedef struct obj_dek
{
	uint8_t		id[OBJ_DEK_ID_LEN];
	uint8_t		key[AES256_KEY_LEN];
} obj_dek;

typedef struct obj_params
{
	obj_compression compression;
	obj_cipher	cipher;
	uint32_t	frame_size;		/* 0 = OBJ_DEFAULT_FRAME_SIZE */
	uint64_t	plain_len;		/* OBJ_LEN_UNKNOWN if not known in advance */
	const obj_dek *dek;			/* required with AES256GCM, ignored with none */
	const uint8_t *salt;		/* NULL = random; else fresh random bytes from the
								 * caller (drawn for many objects at once), or a
								 * fixed salt in golden tests */
} obj_params;

/* Where written bytes go: return 0 or -1 with err set. */
typedef int (*obj_sink_fn) (void *arg, const void *buf, size_t len, pgark_err *err);
/* Where read bytes come from: read up to len, set *got (0 at end), 0 or -1. */
typedef int (*obj_source_fn) (void *arg, void *buf, size_t len, size_t *got, pgark_err *err);
/* Find a data key by id: return NULL with err set if unknown/unusable. */
typedef const obj_dek *(*obj_key_fn) (void *arg, const uint8_t id[OBJ_DEK_ID_LEN], pgark_err *err);

typedef struct obj_summary
{
	uint64_t	plain_len;		/* bytes of plaintext */
	uint64_t	stored_len;		/* bytes of the object */
	uint64_t	frames;			/* data frames */
	uint64_t	xxh64;			/* of the plaintext */
	uint8_t		sha256[SHA256_LEN];	/* of the stored bytes */
} obj_summary;

/* Parsed header, for tools that inspect objects without keys. */
typedef struct obj_header
{
	uint16_t	version;
	obj_compression compression;
	obj_cipher	cipher;
	uint32_t	frame_size;
	uint64_t	plain_len;
	uint8_t		dek_id[OBJ_DEK_ID_LEN];
	uint8_t		salt[OBJ_SALT_LEN];
} obj_header;

int			obj_header_parse(const uint8_t buf[OBJ_HEADER_LEN], obj_header *h, pgark_err *err);

typedef struct obj_writer obj_writer;

obj_writer *obj_writer_new(const obj_params *p, obj_sink_fn sink, void *sink_arg, pgark_err *err);
int			obj_writer_write(obj_writer *w, const void *buf, size_t len, pgark_err *err);

/*
 * obj_writer_write, and side(side_arg) run once meanwhile: on a worker beside
 * the sealing when the write is sealed on workers (see below), else on this
 * thread before the write's data is sealed. Lets a caller read its next input
 * while this one is sealed. side must not touch buf or the writer; its
 * failure fails the write (and the writer) with side's error.
 */
typedef int (*obj_side_fn) (void *arg, pgark_err *err);
int			obj_writer_write_side(obj_writer *w, const void *buf, size_t len, obj_side_fn side,
								  void *side_arg, pgark_err *err);

/*
 * Seal whole frames on wk's threads from now on: a write of at least two
 * whole frames (with nothing buffered before it) is sealed up to
 * workers_count(wk) frames at a time; a batch's frames go to the sink (in
 * order) while the next batch is sealed, or before any later frame (the
 * trailer's included) — so the sink is called from the workers' threads too,
 * never two calls at once. The bytes are exactly those of the sequential
 * writer. Memory: 2 x that many more frames. wk must outlive the writer;
 * NULL or a single worker: no change.
 */
struct workers;
int			obj_writer_use_workers(obj_writer *w, struct workers *wk, pgark_err *err);
/* Do not compute the SHA-256 of the stored bytes (the summary's sha256 is
 * all zero): for callers that do not record it. The bytes are the same. */
void		obj_writer_skip_stored_sha256(obj_writer *w);
/* Seal the last data frame and the trailer. Fails if plain_len was given and
 * differs from what was written. */
int			obj_writer_finish(obj_writer *w, obj_summary *out, pgark_err *err);
void		obj_writer_free(obj_writer *w);

typedef struct obj_reader obj_reader;

obj_reader *obj_reader_new(obj_source_fn src, void *src_arg, obj_key_fn keys, void *keys_arg,
						   pgark_err *err);
/* Read plaintext. Sets *got; *got == 0 with return 0 means the whole object
 * was read and verified (trailer, length, frame count, XXH64, no trailing
 * bytes). Any damage: -1 with kind CORRUPT (or KEY if the data key is unknown). */
int			obj_reader_read(obj_reader *r, void *buf, size_t len, size_t *got, pgark_err *err);
/* Do not compute the SHA-256 of the stored bytes (the summary's sha256 stays
 * all zero): for callers that do not use it. Every check is still made (the
 * frames are authenticated, the plaintext has its XXH64). */
void		obj_reader_skip_stored_sha256(obj_reader *r);
/*
 * For a caller that hashes the plaintext itself, e.g. on another thread
 * beside the next read (wal-fetch): the reader no longer computes the XXH64
 * of the plaintext. The caller passes every byte obj_reader_read returned,
 * in order, to obj_reader_hash (one call at a time, on any thread), and
 * after the end (got == 0) calls obj_reader_check_hash: 0 if the trailer's
 * XXH64 matches, else -1 with CORRUPT as obj_reader_read would have said it.
 * Until then the end means every frame authenticated and the trailer agrees
 * with them, NOT that the plaintext is verified; obj_reader_summary is NULL.
 * Call before the first read.
 */
void		obj_reader_defer_xxh64(obj_reader *r);
void		obj_reader_hash(obj_reader *r, const void *data, size_t n);
int			obj_reader_check_hash(obj_reader *r, pgark_err *err);
const obj_header *obj_reader_header(const obj_reader *r);
/* Valid after the end was reached (with obj_reader_defer_xxh64: after
 * obj_reader_check_hash passed). */
const obj_summary *obj_reader_summary(const obj_reader *r);
void		obj_reader_free(obj_reader *r);

/*
 * Whole objects held in memory (the chunks of a pack), decoded with the
 * reader's checks, one after the other on the same state: the cipher context
 * is re-keyed rather than rebuilt, buffers are kept (zeroed at free), the
 * plaintext goes straight into the caller's buffer and the SHA-256 of the
 * stored bytes (obj_summary) is not computed. Not thread-safe: one per thread.
 *
 * obj_decode_open parses obj's header and looks up its data key (NULL with
 * err as obj_reader_new); obj[0..len) must stay valid until obj_decode_read,
 * which verifies the whole object and puts its plaintext in out: *got bytes.
 * Damage: -1 with kind CORRUPT, as obj_reader_read; so is more plaintext than
 * cap bytes. After a failure out holds none of the object's plaintext.
 */
typedef struct obj_decoder obj_decoder;

obj_decoder *obj_decoder_new(obj_key_fn keys, void *keys_arg, pgark_err *err);
const obj_header *obj_decode_open(obj_decoder *d, const uint8_t *obj, size_t len, pgark_err *err);
int			obj_decode_read(obj_decoder *d, uint8_t *out, size_t cap, size_t *got, pgark_err *err);
/* Refuse the object of the last obj_decode_open (a caller's own check failed):
 * obj_decode_read fails until the next open. */
void		obj_decode_forget(obj_decoder *d);
void		obj_decoder_free(obj_decoder *d);

#endif
