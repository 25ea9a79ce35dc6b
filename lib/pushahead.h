/*
 * pushahead.h — wal-push's look-ahead. Called for segment S, wal-push also
 * stores the segments already .ready in pg_wal/archive_status, in parallel,
 * and leaves a record of each durable success in the spool; PostgreSQL's own
 * call for such a segment then only confirms the record and returns.
 *
 * A record is written only after its object is durable, names the object and
 * its stored size, and binds the local file (device, inode, size, mtime,
 * ctime). It is honoured only while the local file is that same file and the
 * store still has the object at that size: a record whose object is gone
 * (a repository restored from elsewhere, a spool that outlived it) or whose
 * file changed is thrown away and the segment pushed again. Look-ahead never
 * writes archive_status: PostgreSQL marks a segment .done only after its own
 * call for it returned 0, so it never skips one.
 */
#ifndef PGARK_PUSHAHEAD_H
#define PGARK_PUSHAHEAD_H

#include "err.h"
#include "repo.h"
#include "wal.h"
#include "walarchive.h"
#include "workers.h"

#define PUSH_AHEAD_MAX 64

/*
 * Where records are kept: files in a spool directory (wal-push: a record
 * must outlive the process that wrote it), or a push_memo in memory (the
 * archive library: the archiver process lives on between calls, and its
 * records die with it). Exactly one of the two is set.
 */
typedef struct push_memo push_memo;
typedef struct push_records
{
	const char *dir;
	push_memo  *memo;
} push_records;

push_memo  *push_memo_new(pgark_err *err);
void		push_memo_free(push_memo *m);

typedef struct push_ahead_item
{
	char		name[41];
	int			ran;			/* tried (not once the segment asked for failed) */
	int			ok;				/* stored (or identical) and recorded */
	int			recorded;		/* the record was written */
	wal_push_result res;
	pgark_err	err;			/* when !ok, or when the record failed */
} push_ahead_item;

typedef struct push_ahead_result
{
	int			nitems;
	int			more;			/* further candidates than were taken */
	push_ahead_item items[PUSH_AHEAD_MAX];
} push_ahead_result;

/*
 * How one look-ahead item is reported, the same by wal-push and the archive
 * library: its audit record ("push-ahead": object, result, detail, bytes,
 * stored) and, when warn is set, a warning that item->err.msg says why and
 * that PostgreSQL's own call for it will push it. Returns 0 for an item
 * never tried (nothing to report), 1 otherwise.
 */
typedef struct push_ahead_report
{
	const char *object;
	const char *result;
	const char *detail;
	uint64_t	bytes;
	uint64_t	stored;
	int			warn;
} push_ahead_report;

int			push_ahead_describe(const push_ahead_item *it, push_ahead_report *out);

/* Told which segments were taken (before any is pushed). */
typedef void (*push_ahead_started_fn) (void *arg, const push_ahead_result *ahead);

/*
 * Is the WAL file at path (named wn) already stored by an earlier look-ahead?
 * 1: a record matches the file and the store has its object at the recorded
 * size (res->object and res->stored filled; the record is consumed). 0: no
 * usable record (a stale one is removed). -1: the check itself failed (err);
 * callers then push as usual.
 */
int			push_record_confirm(repo *r, const push_records *recs, const char *path, const walname *wn,
								wal_push_result *res, pgark_err *err);

/*
 * Push path (named wn) and up to n of the other segments .ready beside it,
 * on up to threads store connections at once. The return value, res and err
 * are those of path's own push, exactly as wal_push_file gives them; the
 * look-ahead's outcome per segment is in ahead (its failures are left for
 * PostgreSQL's own call and never change the return value). Records go to
 * recs. Also removes records whose segment is no longer .ready. When there
 * is nothing to look ahead for, path alone is pushed with its frames sealed
 * on wk's threads (NULL: on threads of its own).
 */
int			wal_push_ahead(repo *r, const push_records *recs, const char *path, const walname *wn, int n,
						   int threads, workers *wk, push_ahead_started_fn started, void *started_arg,
						   wal_push_result *res, push_ahead_result *ahead, pgark_err *err);

/*
 * The look-ahead helper (wal-push, spool records only). When a call finds
 * more segments .ready than it takes, a detached helper stores the rest
 * while PostgreSQL works through the calls already answered:
 *
 * push_helper_run, its caller holding dir's helper lock (push_helper_lock)
 * for its life, round after round takes up to n .ready
 * segments after floor (path names one file in pg_wal) without a matching
 * record, claims them (a file per segment in dir, removed once its push is
 * done and recorded, or failed), stores them on up to threads threads with
 * a record each, and reports each; it ends when none is left, after a
 * round that stored none, or after 64 rounds. Only the records speak for what it stored: a helper killed at
 * any point leaves at most claims, which a call ignores once no helper
 * holds the lock.
 *
 * push_wait_helper: while a helper holds the lock and claims wn, wait (up
 * to max_ms) for its record; then as push_record_confirm. 0 means: push it
 * yourself.
 */
typedef void (*push_helper_report_fn) (void *arg, const push_ahead_item *item);
int			push_helper_running(const char *dir);
/* Take dir's helper lock, to hold (*fd) for the helper's life: 0, 1 if
 * another process has it, -1 error. Before anything costly is opened. */
int			push_helper_lock(const char *dir, int *fd, pgark_err *err);
int			push_helper_run(repo *r, const char *dir, const char *path, const char *floor, int n, int threads,
							push_helper_report_fn report, void *arg, pgark_err *err);
int			push_wait_helper(repo *r, const char *dir, const char *path, const walname *wn, double max_ms,
							 wal_push_result *res, pgark_err *err);

/* How many segments look-ahead pushes at once for cfg: [repo] transfers;
 * on a local repository at least [backup] workers, or when that is not set
 * two per CPU, up to 4 either way, so that one thread seals while another
 * waits for its fsync. */
int			push_ahead_threads(const pgark_config *cfg);

#endif
