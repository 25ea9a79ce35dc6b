/*
 * prefetch.h — wal-fetch's prefetch ([archive] fetch_ahead; DESIGN.md §5).
 *
 * After wal-fetch delivered segment N, a detached helper fetches the segments
 * after N into the spool's "fetch" directory (spool.h), and the calls for
 * them move the file into place without touching the repository. The
 * directory holds:
 *
 *   <segment name>  a prefetched segment. It gets this name only once it is
 *                   complete and verified (wal_fetch_file), so a killed helper
 *                   leaves no half-written file under a segment's name
 *   meta            the repository's system identifier and segment size, and
 *                   the boot the helper ran in, written by the helper: a file
 *                   is delivered only if its page header matches them, and
 *                   never one prefetched before a reboot (unsynced data)
 *   want            the name wal-fetch was last asked for: the helper's window
 *                   is the fetch_ahead segments after it
 *   helper.lock     flock()ed by the running helper (one per directory)
 *
 * Nothing here is trusted more than a re-check allows: a file that fails it
 * is removed, and wal-fetch fetches from the repository as without a spool.
 */
#ifndef PGARK_PREFETCH_H
#define PGARK_PREFETCH_H

#include <stdint.h>

#include "err.h"
#include "repo.h"
#include "wal.h"
#include "walarchive.h"

/* A prefetched file or temp file older than this is not used, and removed. */
#define PREFETCH_MAX_AGE_SECS (10 * 60)

/* How long a helper whose window is full waits for recovery to ask for a
 * newer segment before it exits. */
#define PREFETCH_LINGER_MS 2000.0

typedef struct prefetch_meta
{
	uint64_t	sysid;
	uint32_t	seg_size;
	char		boot_id[40];
} prefetch_meta;

/* 0, or -1 if missing, unreadable, malformed or of another boot. */
int			prefetch_read_meta(const char *dir, prefetch_meta *m, pgark_err *err);

/*
 * Deliver the prefetched dir/<wn->name> to dest: a regular file of the
 * segment size whose page header is wn's and the repository's (m), moved
 * (renamed; copied if dest is on another filesystem). Returns 0 delivered
 * (*bytes set), 1 not there, 2 there but refused and removed (err says why).
 * With m NULL (no valid meta) a file there is removed unused.
 */
int			prefetch_take(const char *dir, const prefetch_meta *m, const walname *wn, const char *dest,
						  uint64_t *bytes, pgark_err *err);

/*
 * Remove what recovery no longer needs: segments before wn's (any timeline;
 * only if m is known), files older than PREFETCH_MAX_AGE_SECS, and temp files
 * of processes that are gone. Returns the number of files removed.
 */
int			prefetch_cleanup(const char *dir, const prefetch_meta *m, const walname *wn);

/* Record wn as the last name asked for (the helper's window). */
int			prefetch_set_want(const char *dir, const walname *wn, pgark_err *err);

/* 1 if a helper holds the lock of dir, else 0. */
int			prefetch_helper_running(const char *dir);

typedef void (*prefetch_report_fn) (void *arg, const walname *wn, const wal_fetch_result *res,
									const pgark_err *err);

/*
 * The helper: take the lock (return 0 at once if another helper has it),
 * write meta, then keep the window full — the fetch_ahead segments after the
 * wanted one, named as recovery will ask for them (following the timelines
 * of newer .history files in the repository, as PostgreSQL's
 * recovery_target_timeline = latest does) — removing every segment outside
 * it, until the window is full and no newer name was wanted for
 * PREFETCH_LINGER_MS, the end of the archive is reached, or deadline_ms
 * (now_ms) passes. report (may be NULL)
 * is called for every segment fetched or failed. -1 only if it cannot start;
 * a segment that fails to fetch ends the run (after report).
 */
int			prefetch_run(repo *r, const char *dir, int ahead, double deadline_ms, prefetch_report_fn report,
						 void *arg, pgark_err *err);

#endif
