/*
 * restore.h — lay a base backup into a data directory and write the recovery
 * settings for a point in time (the work of pitr-prepare).
 */
#ifndef PGARK_RESTORE_H
#define PGARK_RESTORE_H

#include <signal.h>
#include <stdint.h>

#include "backup.h"
#include "err.h"
#include "repo.h"

typedef enum restore_target
{
	TARGET_NONE,				/* the end of the archive */
	TARGET_TIME,
	TARGET_LSN,
	TARGET_XID,
	TARGET_NAME,
	TARGET_IMMEDIATE
} restore_target;

#define RESTORE_MAX_TSMAP 32

typedef struct restore_opts
{
	const char *pgdata;
	const char *backup_id;		/* NULL: choose by target; "latest": the newest */
	restore_target target;
	const char *target_value;	/* as given, for recovery_target_* */
	int64_t		target_time;	/* TARGET_TIME, parsed */
	uint64_t	target_lsn;		/* TARGET_LSN, parsed */
	uint64_t	target_xid;		/* TARGET_XID, parsed */
	const char *target_action;	/* promote, pause, shutdown or NULL */
	const char *target_timeline;	/* latest, current, N or NULL */
	int			delta;
	int			force;
	int			standby;
	int			ntsmap;
	const char *tsmap_oid[RESTORE_MAX_TSMAP];
	const char *tsmap_dir[RESTORE_MAX_TSMAP];
	const char *restore_command;	/* full restore_command value */
	progress_fn progress;
	void	   *progress_arg;
	volatile sig_atomic_t *cancel;	/* non-zero: stop between files, "interrupted"; may be NULL */
} restore_opts;

typedef struct restore_result
{
	char		backup_id[64];
	uint64_t	files, files_unchanged;
	uint64_t	bytes_written;	/* size of the files restored */
	uint64_t	bytes_fetched;	/* stored bytes read from the repository */
	char		stop_time[32];
	char		warning[1200];	/* e.g. a damaged backup that was skipped, or "" */
	int			workers;		/* threads that decoded chunks */
} restore_result;

int			restore_run(repo *r, const restore_opts *o, restore_result *res, pgark_err *err);

/* The backup restore_run would restore for o (o->backup_id, "latest", else
 * the newest that ended before the target) into id; a damaged manifest
 * skipped is described in warning. No backup fits: NOTFOUND, the message
 * names the oldest backup and when it ended. */
int			restore_choose_backup(repo *r, const restore_opts *o, char *id, size_t idlen, char *warning,
								  size_t warning_len, pgark_err *err);

/* Parse a recovery target time: ISO 8601 / PostgreSQL style with a zone
 * ("2026-11-27 12:00:00+00", "...T12:00:00.5Z", "+05:30"). */
int			parse_target_time(const char *s, int64_t *out);

#endif
