/*
 * inventory.h — what a repository holds, for repo-list (and the tools that
 * build on it): the backups (oldest first), the archived WAL of every
 * timeline as contiguous ranges with the gaps between them, the timelines'
 * ancestry (their .history files), and the window a point-in-time restore
 * can reach.
 *
 * Memory: the manifests' heads one at a time, and 24 bytes per archived WAL
 * segment while the listing is sorted (a year of a segment a minute: about
 * 12 MiB); the result keeps only ranges.
 */
#ifndef PGARK_INVENTORY_H
#define PGARK_INVENTORY_H

#include <stdint.h>

#include "err.h"
#include "repo.h"

typedef enum inv_status
{
	INV_OK,						/* manifest readable, its WAL start..stop archived */
	INV_WAL_MISSING,			/* a segment from its start to its stop is missing */
	INV_UNREADABLE				/* the manifest cannot be read */
} inv_status;

typedef struct inv_backup
{
	char		id[64];
	char		label[256];
	inv_status	status;
	char		problem[1200];	/* why not INV_OK, else "" */
	int64_t		start_time, stop_time;	/* seconds since the epoch, UTC */
	uint64_t	start_lsn, stop_lsn;
	uint32_t	timeline;
	char		start_wal[32], stop_wal[32];
	uint64_t	bytes_total;	/* the files it covers: what a restore writes */
	uint64_t	bytes_stored;	/* what it added to the repository */
	int			pinned;			/* base/<id>/pin exists (repo-pin) */
	/* repo-expire removed the WAL after its stop (status/retention): it
	 * restores to its end only */
	int			consistent_only;
} inv_backup;

/* segments first..last of one timeline, all archived */
typedef struct inv_range
{
	uint64_t	first, last;	/* segment numbers */
	int64_t		last_mtime;		/* when the range's last segment was stored */
} inv_range;

typedef struct inv_timeline
{
	uint32_t	tli;
	uint64_t	segments;		/* archived segments */
	inv_range  *ranges;			/* in order; gaps lie between them */
	size_t		nranges;
	int			has_history;	/* a .history file is archived */
	uint32_t	parent;			/* from it: the timeline it branched from (0: none) */
	uint64_t	switch_lsn;		/* and where */
	char		problem[600];	/* its .history cannot be read: why; else "" */
} inv_timeline;

typedef struct repo_inventory
{
	uint32_t	seg_size;
	inv_backup *backups;		/* oldest first (by id: ids start with the time) */
	size_t		nbackups;
	inv_timeline *tls;			/* by timeline */
	size_t		ntls;
	/*
	 * The window of point-in-time recovery: its end is the time the newest
	 * segment reachable from a usable backup without a gap (following
	 * timeline switches made after that backup ended) was stored — an upper
	 * bound: its records are older; its start is the stop time of the
	 * oldest usable backup whose reach connects to that end (a gap splits
	 * the window: targets before it and after the backup before it are
	 * not restorable). -1: no usable backup.
	 */
	int64_t		earliest, latest;
} repo_inventory;

#define RETENTION_RECORD "status/retention"
#define RETENTION_RECORD_MAX (1024 * 1024)

int			repo_inventory_read(repo *r, repo_inventory *inv, pgark_err *err);

/* Does status/retention list backup id as restorable to its end only (the
 * WAL after its stop segment removed by repo-expire)? 1, 0, or -1 when the
 * record cannot be read for a reason that says nothing of it. */
int			inv_consistent_only(repo *r, const char *id, pgark_err *err);
void		repo_inventory_free(repo_inventory *inv);

const char *inv_status_str(inv_status s);
/* Timeline tli of inv, or NULL; the range of tl holding segno, or NULL. */
const inv_timeline *inv_timeline_find(const repo_inventory *inv, uint32_t tli);
const inv_range *inv_range_of(const inv_timeline *tl, uint64_t segno);
/* Does timeline tli descend from base (or is it base), every switch on the
 * way at or after min_lsn? */
int			inv_descends(const repo_inventory *inv, uint32_t tli, uint32_t base, uint64_t min_lsn);

#endif
