/*
 * walarchive.h — one WAL file in, one WAL file out: the unit of work of
 * wal-push and wal-fetch, testable alone; programs orchestrate around it.
 */
#ifndef PGARK_WALARCHIVE_H
#define PGARK_WALARCHIVE_H

#include <signal.h>
#include <stdint.h>
#include <sys/stat.h>

#include "err.h"
#include "repo.h"
#include "wal.h"
#include "workers.h"

typedef enum wal_push_outcome
{
	WAL_PUSH_STORED,			/* newly stored, durable */
	WAL_PUSH_IDENTICAL			/* already archived with identical content */
} wal_push_outcome;

typedef struct wal_push_result
{
	wal_push_outcome outcome;
	char		object[128];
	uint64_t	bytes;
	uint64_t	stored;
	struct stat file;			/* fstat of the file read (when it was opened) */
} wal_push_result;

/*
 * Store the file at path (already name-checked as wn) durably under its
 * object name. Segments and .partial files must be of the repository's
 * segment size and carry its system identifier and their own page address.
 * An object already present is compared by content: identical is success,
 * different is PGARK_ERR_CONFLICT and nothing is written.
 */
int			wal_push_file(repo *r, const char *path, const walname *wn, wal_push_result *res,
						  pgark_err *err);
/* The same, sealing the object's frames on wk's threads (NULL: none). */
int			wal_push_file_wk(repo *r, const char *path, const walname *wn, workers *wk,
							 wal_push_result *res, pgark_err *err);
/*
 * The same for one file alone: a segment's (or .partial's) frames sealed on
 * threads started for it ([backup] workers, else one per CPU, at most 4: a
 * 16 MiB segment is 16 frames); without threads if they cannot start.
 */
int			wal_push_one(repo *r, const char *path, const walname *wn, wal_push_result *res,
						 pgark_err *err);
/* The thread count wal_push_one uses (for a caller that keeps a pool), and
 * how long they poll between a segment's batches (workers_set_spin). */
int			wal_push_threads(const pgark_config *cfg);
#define WAL_PUSH_SPIN_US 300

typedef struct wal_fetch_result
{
	char		object[128];
	uint64_t	bytes;
	uint64_t	stored;
} wal_fetch_result;

/*
 * Fetch wn into dest: written to a temporary file beside dest, verified
 * (every frame authenticated, trailer, length, checksum, and for segments the
 * size, system identifier and page address), then renamed onto dest. Nothing
 * is left at dest on failure. PGARK_ERR_NOTFOUND if the repository lacks it.
 */
int			wal_fetch_file(repo *r, const walname *wn, const char *dest, wal_fetch_result *res,
						   pgark_err *err);

/*
 * Read wn's object to its end and verify it as wal_fetch_file does, writing
 * nothing: 0, or -1 with err (NOTFOUND if the repository lacks it, CORRUPT
 * or MISMATCH if it is damaged, "interrupted" when *cancel is set).
 */
int			wal_verify_object(repo *r, const walname *wn, const volatile sig_atomic_t *cancel,
							  pgark_err *err);

/*
 * Fetch a small WAL file (a .history) into memory: *out (malloc'd,
 * NUL-terminated, the caller frees) and *len. Verified like wal_fetch_file;
 * PGARK_ERR_NOTFOUND if the repository lacks it, CORRUPT above max bytes.
 */
int			wal_fetch_mem(repo *r, const walname *wn, size_t max, char **out, size_t *len,
						  pgark_err *err);

#endif
