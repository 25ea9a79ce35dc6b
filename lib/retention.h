/*
 * retention.h — which backups a retention policy keeps ([retention]), as a
 * pure function of the backups' times so that it can be tested on any set
 * of dates.
 *
 * Rules (a backup is kept if any rule keeps it):
 *  - keep_last N: the newest N usable backups.
 *  - keep_daily / keep_weekly / keep_monthly / keep_yearly N: the newest
 *    usable backup of each of the N most recent days (ISO weeks, months,
 *    years) that have one, by start time in UTC. Periods without a backup
 *    do not count, so a pause in backups never expires what came before it.
 *  - keep_within D: every usable backup started within D of now.
 *  - pitr_window D: point-in-time recovery must reach back to now - D: the
 *    newest usable backup that stopped at or before then is kept (or the
 *    oldest usable one if none is that old), and every segment of WAL from
 *    its start on.
 *  - the newest usable backup, always; a pinned backup, always.
 * A backup that is not usable (its WAL is missing) is never counted; it is
 * kept while no newer usable backup exists. An unreadable one is kept (what
 * it references is unknown).
 */
#ifndef PGARK_RETENTION_H
#define PGARK_RETENTION_H

#include <stddef.h>
#include <stdint.h>

typedef struct ret_policy
{
	int			keep_last, keep_daily, keep_weekly, keep_monthly, keep_yearly;
	int64_t		keep_within;	/* seconds, 0 none */
	int64_t		pitr_window;	/* seconds, 0 none */
} ret_policy;

typedef enum ret_state
{
	RET_USABLE,
	RET_WAL_MISSING,
	RET_UNREADABLE
} ret_state;

typedef struct ret_backup
{
	/* in */
	int64_t		start_time, stop_time;
	ret_state	state;
	int			pinned;
	/* out */
	int			keep;
	int			by_rule;		/* kept by a rule, not only by its pin */
	char		why[160];		/* every rule that keeps it, or why it goes */
} ret_backup;

/* Does the policy set any rule? (Expiring with none would keep only the
 * newest backup: refused by repo-expire.) */
int			ret_policy_set(const ret_policy *p);

/*
 * Decide b[0..n-1] (oldest first). *wal_from: the index of the backup from
 * whose start all WAL is kept — the one pitr_window needs, or without it
 * the oldest usable backup a rule keeps (a pin alone keeps a backup, not
 * the WAL after it) — or n if there is none. It and every newer kept
 * usable backup can be rolled forward; older kept ones restore to their
 * end only.
 */
void		retention_select(const ret_policy *p, ret_backup *b, size_t n, int64_t now, size_t *wal_from);

#endif
