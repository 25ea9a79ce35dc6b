/*
 * pgdir.h — walking a PostgreSQL data directory for a base backup, with
 * PostgreSQL's own exclusion rules, and checking page checksums.
 *
 * pgdir_walk() reports every directory, file and tablespace link of the data
 * directory and of each tablespace (not the data directory itself), in "path
 * order" (pgdir_pathcmp: path components compared with strcmp, so a
 * directory's contents come right after it and before its next sibling).
 * Paths are relative to the data directory and use '/'; tablespace contents
 * are reported under "pg_tblspc/<oid>/<PG_15_...>/..." with abs naming the
 * real file. global/pg_control comes in its path order: PostgreSQL's
 * basebackup sends it last, which is the caller's business.
 *
 * Excluded, as PostgreSQL 15's basebackup does (src/backend/backup/
 * basebackup.c: excludeDirContents, excludeFiles, sendDir); names are matched
 * in every directory, the data directory's and the tablespaces':
 *   - contents never reported, the directory itself reported as an empty
 *     PGDIR_DIR (also when it is a symbolic link to a directory, e.g.
 *     pg_stat_tmp on a tmpfs; then with the target's mode): pg_dynshmem/,
 *     pg_notify/, pg_replslot/, pg_serial/, pg_snapshots/, pg_stat_tmp/,
 *     pg_subtrans/; and, at the top only, pg_wal/ (directory or initdb -X
 *     link), reported with "pg_wal/archive_status" after it;
 *   - files postmaster.pid, postmaster.opts, backup_label, tablespace_map
 *     (pg_backup_stop returns the real ones), backup_label.old,
 *     tablespace_map.old, backup_manifest, postgresql.auto.conf.tmp,
 *     current_logfiles.tmp, "pg_internal.init*";
 *   - any "pgsql_tmp*" file or directory, with everything under it;
 *   - in database directories (base/<oid>, pg_tblspc/<oid>/PG_.../<oid>):
 *     temporary relations (t<digits>_<relfilenode> and their forks/segments),
 *     and unlogged relations: where "<relfilenode>_init" exists, the other
 *     forks and segments of that relfilenode ("<n>", "<n>.<seg>", "<n>_fsm",
 *     "<n>_vm") are skipped and the "_init" fork is kept;
 *   - in a tablespace's location, everything but this server's version
 *     directory "PG_<major>_*" (<major> from PG_VERSION; if PG_VERSION cannot
 *     be read, nothing is filtered there): other versions' directories are
 *     left over by pg_upgrade;
 *   - symbolic links other than pg_tblspc/<oid> (never followed), sockets,
 *     FIFOs, devices (basebackup skips them with a warning).
 * A pg_tblspc/<oid> that is a directory (an in-place tablespace) is an
 * ordinary PGDIR_DIR and is walked.
 */
#ifndef PGARK_PGDIR_H
#define PGARK_PGDIR_H

#include <limits.h>
#include <stdint.h>
#include <sys/types.h>

#include "err.h"

#define PG_PAGE_SIZE 8192
#define PG_RELSEG_PAGES 131072	/* pages per 1 GiB relation segment */

typedef enum pgdir_kind
{
	PGDIR_DIR,
	PGDIR_FILE,
	PGDIR_TABLESPACE			/* pg_tblspc/<oid> symlink; link_target is where it points */
} pgdir_kind;

typedef struct pgdir_entry
{
	pgdir_kind	kind;
	char		path[PATH_MAX];	/* relative to the data directory */
	char		abs[PATH_MAX];	/* absolute path of the real file or directory */
	mode_t		mode;			/* permission bits (st_mode & 07777) */
	uint64_t	size;			/* files */
	int64_t		mtime;			/* seconds */
	char		link_target[PATH_MAX];	/* PGDIR_TABLESPACE */
	int			is_relation;	/* a file of 8 KiB pages with checksums: "<n>[_fsm|_vm|_init][.<seg>]"
								 * in global/ or a database directory (not pg_control,
								 * pg_filenode.map, PG_VERSION; not ".0" or a segment
								 * past 32767, which PostgreSQL never makes) */
	uint32_t	segno;			/* relation segment number ("16384.3" -> 3), for block numbers */
} pgdir_entry;

/* Return 0 to go on, -1 (err set) to stop the walk with that error. */
typedef int (*pgdir_fn) (void *arg, const pgdir_entry *e, pgark_err *err);

/*
 * Walk pgdata. Files or directories that vanish during the walk (ENOENT) are
 * skipped silently: PostgreSQL drops relations while a backup runs, and WAL
 * replay recreates what matters. Other errors stop the walk with a message
 * naming the path.
 */
int			pgdir_walk(const char *pgdata, pgdir_fn fn, void *arg, pgark_err *err);

/* The order of pgdir_walk: strcmp with '/' below every other character. */
int			pgdir_pathcmp(const char *a, const char *b);

/*
 * PostgreSQL's page checksum (the FNV-1a based algorithm of
 * src/include/storage/checksum_impl.h), for block number blkno
 * (segno * PG_RELSEG_PAGES + page index in the file).
 */
uint16_t	pg_page_checksum(const uint8_t page[PG_PAGE_SIZE], uint32_t blkno);

typedef enum pg_page_state
{
	PG_PAGE_OK,
	PG_PAGE_NEW,				/* all-zero / never initialised: no checksum */
	PG_PAGE_SKIPPED,			/* LSN newer than the backup start: WAL replay rewrites it */
	PG_PAGE_BAD					/* checksum mismatch */
} pg_page_state;

/*
 * Check one page as a base backup must: new pages and pages modified after
 * the backup started (page LSN > start_lsn) are not judged. A page with
 * pd_upper 0 must be all zeros to be new; otherwise it is BAD. A page read
 * while PostgreSQL writes it can come out torn and look BAD: read it again
 * before reporting it (PostgreSQL's basebackup retries once).
 */
pg_page_state pg_page_verify(const uint8_t page[PG_PAGE_SIZE], uint32_t blkno, uint64_t start_lsn);

#endif
