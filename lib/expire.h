/*
 * expire.h — retention: remove the backups a [retention] policy no longer
 * keeps, the WAL no kept backup and no point-in-time window needs, and the
 * packs no manifest refers to.
 *
 * Order, so that an interruption at any point leaves a consistent
 * repository that the next run finishes: a backup's manifest goes first (a
 * backup exists exactly when its manifest does), then the rest of its
 * directory; WAL and packs are then chosen again from what is left, so a
 * second run simply finds less to do.
 *
 * Running backups: base-push writes base/<id>/running before it chooses the
 * backup it builds on and before its first pack, refreshes it while it
 * runs, and removes it after its manifest. Expire lists the packs first and
 * base/ after: a pack it saw was written before any backup it may belong to
 * could have been missed, so while a running backup is seen, no pack is
 * removed. A marker is live while its process runs (same host: the pid and
 * the process's start time), or, from another host, while it was refreshed
 * within EXPIRE_STALE_AFTER.
 *
 * Concurrent expires: locks/expire, created only if absent (atomically on
 * both backends); held by a process that is gone (same host) or not
 * refreshed within EXPIRE_STALE_AFTER (another host), it is taken over.
 */
#ifndef PGARK_EXPIRE_H
#define PGARK_EXPIRE_H

#include <stdint.h>

#include "err.h"
#include "repo.h"
#include "retention.h"

#define EXPIRE_STALE_AFTER (6 * 3600)	/* seconds */
#define EXPIRE_LOCK_NAME "locks/expire"

/* base-push: write (or refresh) base/<id>/running; check that it is still
 * there (CONFLICT if a repo-expire took the backup for dead); remove it. */
int			backup_marker_put(repo *r, const char *backup_id, pgark_err *err);
int			backup_marker_check(repo *r, const char *backup_id, pgark_err *err);
int			backup_marker_remove(repo *r, const char *backup_id, pgark_err *err);

/* Take the expire lock (CONFLICT naming the holder if another has it);
 * refresh it; release it. */
int			expire_lock(repo *r, pgark_err *err);
int			expire_lock_refresh(repo *r, pgark_err *err);
int			expire_unlock(repo *r, pgark_err *err);

typedef enum expire_kind
{
	EXP_BACKUP,
	EXP_WAL,
	EXP_PACK,
	EXP_MARKER
} expire_kind;

/* Called for every backup (kept or not, with why) and for every object
 * removed (or, dry run, to be removed). */
typedef void (*expire_report_fn) (void *arg, expire_kind kind, const char *name, int keep, const char *why);

typedef struct expire_opts
{
	ret_policy	policy;
	int64_t		now;			/* seconds since the epoch */
	int			dry_run;
	expire_report_fn report;
	void	   *arg;
} expire_opts;

typedef struct expire_result
{
	size_t		backups_kept, backups_expired;
	uint64_t	wal_removed, wal_kept;	/* objects under wal/ (history files always kept) */
	uint64_t	wal_bytes_removed;
	char		wal_from[32];	/* first segment kept with everything after it; "" none */
	uint64_t	packs_removed, packs_kept, pack_bytes_removed;
	size_t		markers_removed;
	int			sweep_skipped;	/* packs were not swept: why in sweep_note */
	char		sweep_note[1024];
} expire_result;

int			repo_expire(repo *r, const expire_opts *o, expire_result *res, pgark_err *err);

#endif
