/*
 * status.h — results that programs record in the repository for repo-check:
 * status/<kind> (FORMAT.md section 7), one small object per kind, replaced
 * whole by each run ("verify" by repo-verify; later kinds such as a restore
 * drill add their own name). Sealed like every object, so that whoever can
 * write to the storage but holds no key cannot forge an "ok".
 */
#ifndef PGARK_STATUS_H
#define PGARK_STATUS_H

#include <stdint.h>

#include "err.h"
#include "repo.h"

#define STATUS_PREFIX "status/"

typedef struct status_rec
{
	int64_t		time;			/* when the run ended, seconds since the epoch */
	char		result[16];		/* "ok", "damaged" or "incomplete"; a drill: "ok" or "failed" */
	char		checked[128];	/* what was checked, e.g. "backups=1 wal=present" */
	int64_t		problems;		/* problems found */
	char		detail[512];	/* the first problem, or why incomplete; "" */
	char		damaged[1024];	/* ids found damaged and not checked sound since, space-separated;
								 * "+N" last when N more did not fit (status_damaged_*) */
	/* "drill" (repo-verify --restore-drill); written only when backup[0] */
	char		backup[64];		/* the backup restored */
	double		restore_seconds;	/* files restored */
	double		replay_seconds;	/* WAL replayed, until the server accepted queries */
	uint64_t	wal_bytes;		/* from the backup's start LSN to where replay ended */
} status_rec;

/* Store status/<kind>, replacing the previous record. */
int			status_write(repo *r, const char *kind, const status_rec *rec, pgark_err *err);

/* Read status/<kind>: 0, or -1 with NOTFOUND when none was recorded. */
int			status_read(repo *r, const char *kind, status_rec *rec, pgark_err *err);

/* Text form and its parser (exposed for tests). */
int			status_format(const char *kind, const status_rec *rec, char *out, size_t len);
int			status_parse(const char *text, size_t len, const char *kind, status_rec *rec, pgark_err *err);

/*
 * The damaged list (FORMAT.md section 7): ids separated by one space and,
 * when some did not fit, a last token "+N" (N of them). Never silent: an id
 * that does not fit (STATUS_DAMAGED_RESERVE bytes are kept for the token)
 * is counted in N. _has: is id listed; _more: N (0 without the token);
 * _add_more: N += n (ids carried over but unknown); _describe: the list
 * for people, "N more not listed, besides a b" (the count first).
 */
#define STATUS_DAMAGED_RESERVE 24
int			status_damaged_has(const char *list, const char *id);
int64_t		status_damaged_more(const char *list);
void		status_damaged_add(char *list, size_t len, const char *id);
void		status_damaged_add_more(char *list, size_t len, int64_t n);
void		status_damaged_describe(const char *list, char *out, size_t len);

#endif
