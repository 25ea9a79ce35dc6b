/*
 * pack.h — chunks and pack objects (FORMAT.md "Base backups").
 *
 * A chunk is at most PACK_CHUNK_SIZE (8 KiB, one PostgreSQL page) of a file,
 * named by HMAC-SHA256(chunk key, plaintext) so equal content is stored once.
 * Each chunk is stored as a complete container object (its own salt, key,
 * authentication and trailer), and chunks are concatenated into pack objects
 * of about PACK_TARGET_SIZE, packs/<2 hex>/<32 hex>, so that object storage
 * sees few large objects while a restore reads any chunk with one range read.
 * Each pack has an index, packs/<..>/<id>.idx: an object listing its chunks.
 */
#ifndef PGARK_PACK_H
#define PGARK_PACK_H

#include <stdint.h>

#include "err.h"
#include "repo.h"

#define PACK_CHUNK_SIZE 8192
#define PACK_TARGET_SIZE (32 * 1024 * 1024)
#define PACK_ID_LEN 16
#define CHUNK_ID_LEN 32

typedef struct chunk_ref
{
	uint8_t		id[CHUNK_ID_LEN];
	uint8_t		pack[PACK_ID_LEN];
	uint64_t	offset;			/* of the chunk object in the pack */
	uint32_t	len;			/* stored length of the chunk object */
} chunk_ref;

/* The key that names chunks (derived from the repository's data key). */
int			chunk_key(repo *r, uint8_t key[32], pgark_err *err);
int			chunk_id(const uint8_t key[32], const void *data, size_t len, uint8_t id[CHUNK_ID_LEN],
					 pgark_err *err);

void		pack_object_name(const uint8_t pack[PACK_ID_LEN], char *out, size_t outlen);

typedef struct pack_writer pack_writer;

pack_writer *pack_writer_new(repo *r, uint64_t target_size, pgark_err *err);
/* Store one chunk (id already computed) in the current pack; fills ref. */
int			pack_add(pack_writer *pw, const uint8_t id[CHUNK_ID_LEN], const void *data, size_t len,
					 chunk_ref *ref, pgark_err *err);

/*
 * pack_add in two steps, so that the costly one runs on many threads:
 * chunk_encode (thread-safe: the chunk as its own object — lz4, AES-256-GCM —
 * into out, at most CHUNK_ENCODED_MAX bytes; salt: OBJ_SALT_LEN fresh random
 * bytes, or NULL to draw them), then pack_add_encoded, in the
 * order the chunks are to lie in the pack.
 */
#define CHUNK_ENCODED_MAX (2 * PACK_CHUNK_SIZE + 1024)
int			chunk_encode(repo *r, const void *data, size_t len, const uint8_t *salt,
						 uint8_t *out, size_t cap, size_t *outlen,
						 pgark_err *err);
int			pack_add_encoded(pack_writer *pw, const uint8_t id[CHUNK_ID_LEN], const uint8_t *obj, size_t objlen,
							 chunk_ref *ref, pgark_err *err);
/* Commit the open pack (and its index); pack_add commits full packs by
 * itself. Commits may run in the background (store_put_commit_async): call
 * store_drain() before anything references the packs durably. */
int			pack_flush(pack_writer *pw, pgark_err *err);
uint64_t	pack_writer_bytes(const pack_writer *pw);	/* stored bytes so far */
void		pack_writer_free(pack_writer *pw);	/* aborts an uncommitted pack */

/*
 * Read chunks: fetch a run of chunk objects (each range of them stored back
 * to back in one pack in one read; a run may span several ranges and packs),
 * decode each, and check its length and its id (the HMAC of what came out).
 * out receives the plaintexts, each at i * PACK_CHUNK_SIZE.
 */
typedef struct chunk_reader chunk_reader;

/* Is b stored right after a, in the same pack (one range read)? */
int			chunk_follows(const chunk_ref *a, const chunk_ref *b);

chunk_reader *chunk_reader_new(repo *r, pgark_err *err);
int			chunk_read_run(chunk_reader *cr, const chunk_ref *refs, const uint32_t *plain_lens, int n,
						   uint8_t *out, pgark_err *err);
/*
 * The same, and each group of up to CHUNK_GROUP consecutive chunks, once
 * decoded and checked, handed to sink(arg, i, data, len): i the index of its
 * first chunk in the run, data = out + i * PACK_CHUNK_SIZE, len the group's
 * plaintext bytes (chunks back to back). sink runs on the decoding threads,
 * groups in any order, so it must be thread-safe (a pwrite). A failed sink
 * fails the run.
 */
#define CHUNK_GROUP 32
typedef int (*chunk_sink_fn) (void *arg, size_t i, const uint8_t *data, size_t len, pgark_err *err);
int			chunk_read_run_to(chunk_reader *cr, const chunk_ref *refs, const uint32_t *plain_lens, int n,
							  uint8_t *out, chunk_sink_fn sink, void *sink_arg, pgark_err *err);
/* Stored bytes fetched (read-ahead included, used or not). */
uint64_t	chunk_reader_bytes(chunk_reader *cr);
/* Decode the chunks of a run on these threads (the repository's data key
 * must be loaded first: chunk_reader_new does). NULL: in the caller. */
struct workers;
void		chunk_reader_set_workers(chunk_reader *cr, struct workers *wk);

/*
 * Read ahead: conns threads, each on its own connection to the store (opened
 * from cfg), fetch the blocks of the chunks the caller says it will read
 * next (chunk_reader_expect, in the order it will read them), while it
 * decodes and writes the ones before: downloads run in parallel and overlap
 * with the rest of the restore, and nothing is fetched that is not needed.
 * Contiguous blocks go in one ranged read of up to RA_SPAN_BYTES. Memory:
 * 2 * conns spans. A failed read-ahead is dropped: the block is then read
 * by chunk_read_run itself, which reports the error.
 */
#define RA_SPAN_BYTES (4u * 1024 * 1024)
int			chunk_reader_readahead(chunk_reader *cr, const pgark_config *cfg, int conns, pgark_err *err);
/* Is there room to queue more? (0 without read-ahead) */
int			chunk_reader_wants_more(chunk_reader *cr);
/* Queue the blocks of these chunks (those already cached or queued are
 * skipped). Returns how many chunks were taken (all of them without
 * read-ahead), fewer when there is no room left; stops early on an error
 * (a pack's size: the restore's own read will report it). */
size_t		chunk_reader_expect(chunk_reader *cr, const chunk_ref *refs, size_t n, pgark_err *err);
void		chunk_reader_free(chunk_reader *cr);

#endif
