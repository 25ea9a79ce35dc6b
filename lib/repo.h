/*
 * repo.h — a repository: its store, its metadata (pgark.repo) and its keys.
 */
#ifndef PGARK_REPO_H
#define PGARK_REPO_H

#include <stdint.h>

#include "config.h"
#include "err.h"
#include "keyring.h"
#include "object.h"
#include "store.h"

#define REPO_META_NAME "pgark.repo"
#define REPO_FORMAT 1

typedef struct repo_meta
{
	int			format;
	uint64_t	sysid;
	int			pg_version;		/* major, e.g. 15 */
	uint32_t	wal_seg_size;
	char		created[32];	/* ISO 8601 UTC */
	obj_cipher	cipher;
	uint8_t		data_key[OBJ_DEK_ID_LEN];	/* DEK for new objects */
} repo_meta;

typedef struct repo
{
	const pgark_config *cfg;
	store	   *st;
	keyring    *kr;
	repo_meta	meta;
	const obj_dek *dek;			/* current data key, loaded on first write */
} repo;

/* Serialise / parse pgark.repo (a small text file; FORMAT.md). */
int			repo_meta_format(const repo_meta *m, char *out, size_t outlen);
int			repo_meta_parse(const char *text, size_t len, repo_meta *m, pgark_err *err);

/*
 * Create the repository described by cfg: the directory (local), the first
 * data key, then pgark.repo last, so a crash leaves no half-initialised
 * repository that others would accept. Refuses an initialised one.
 */
int			repo_create(const pgark_config *cfg, uint64_t sysid, int pg_version,
						uint32_t wal_seg_size, repo_meta *out, pgark_err *err);

/* Open an initialised repository (NOREPO with a hint to run repo-init if not). */
repo	   *repo_open(const pgark_config *cfg, pgark_err *err);
void		repo_close(repo *r);

/*
 * Open an object of this repository for reading. Besides everything the
 * container checks, its cipher must be the repository's: an encrypted
 * repository never accepts an object that claims "none" (anyone able to
 * write to the storage could forge one without any key).
 */
obj_reader *repo_object_reader(repo *r, obj_source_fn src, void *src_arg, pgark_err *err);
/* The same for objects held in memory: a decoder with the repository's keys
 * (one per thread), and obj_decode_open with the cipher check. */
obj_decoder *repo_object_decoder(repo *r, pgark_err *err);
const obj_header *repo_decode_open(repo *r, obj_decoder *d, const uint8_t *obj, size_t len, pgark_err *err);

/* Parameters for writing a new object with the repository's cipher and key. */
int			repo_object_params(repo *r, uint64_t plain_len, obj_params *p, pgark_err *err);

/* A new data key for new objects (key-rotate --new-data-key): stored
 * wrapped, then pgark.repo rewritten to name it (objects name the key that
 * sealed them, so every older key stays in use for its objects). */
int			repo_new_data_key(repo *r, pgark_err *err);

/* Store buf as object name (a small object, sealed with the repository's
 * cipher), durably; flags as store_put_commit's. */
int			repo_put_object(repo *r, const char *name, const void *buf, size_t len, int flags, pgark_err *err);

/* Read a small object whole (at most max bytes of plaintext, else CORRUPT),
 * NUL-terminated; *out is malloc'd. NOTFOUND if it does not exist. */
int			repo_get_object(repo *r, const char *name, size_t max, char **out, size_t *len, pgark_err *err);

#endif
