/*
 * verify.h — is what the repository holds restorable? For repo-verify.
 *
 * verify_backup reads a backup's manifest to its verified end and every
 * chunk it references: each pack read, each chunk decrypted (AES-256-GCM
 * authenticates it), decompressed, its length and its id (the HMAC of its
 * plaintext) checked — what a restore would do, without writing anything.
 * verify_wal checks that the archive holds every segment from a backup's
 * start to the newest archived segment, following timeline switches, and
 * with full set, that each of them decrypts and checks.
 *
 * Problems go to a callback, each naming the object, file or segment; the
 * functions return -1 only when they cannot go on (the store unreachable,
 * out of memory). Memory: a run of chunks (4 MiB) and the inventory.
 */
#ifndef PGARK_VERIFY_H
#define PGARK_VERIFY_H

#include <stdint.h>

#include "err.h"
#include "inventory.h"
#include "repo.h"

typedef void (*verify_problem_fn) (void *arg, const char *what);

typedef struct verify_counts
{
	uint64_t	files;			/* files whose every chunk was read */
	uint64_t	chunks;			/* chunks decrypted and checked */
	uint64_t	bytes;			/* their plaintext */
	uint64_t	segments;		/* WAL segments (checked, or found with full unset) */
	uint64_t	problems;
} verify_counts;

int			verify_backup(repo *r, const char *backup_id, verify_counts *out,
						  verify_problem_fn fn, void *arg, pgark_err *err);

/* WAL needed by backup b (an INV_OK or INV_WAL_MISSING entry of inv) from
 * its start to the newest segment of the newest timeline; *to receives that
 * segment's name ("" if none). */
int			verify_wal(repo *r, const repo_inventory *inv, const inv_backup *b, int full,
					   char *to, size_t tolen, verify_counts *out, verify_problem_fn fn, void *arg,
					   pgark_err *err);

#endif
