/*
 * pg.h — what pgark learns from PostgreSQL: over libpq from a running server,
 * or from the files of a data directory.
 */
#ifndef PGARK_PG_H
#define PGARK_PG_H

#include <stdint.h>

#include "err.h"

typedef struct pg_system
{
	uint64_t	sysid;
	int			pg_version;		/* major version */
	uint32_t	wal_seg_size;
} pg_system;

/* From the server: pg_control_system(), server_version_num, wal_segment_size. */
int			pg_system_from_server(const char *conninfo, pg_system *out, pgark_err *err);

/* From a data directory: global/pg_control (system identifier), PG_VERSION,
 * and the segment size from the page header of a segment in pg_wal/. */
int			pg_system_from_pgdata(const char *pgdata, pg_system *out, pgark_err *err);

/* A session with the server, for base backups (pg_backup_start and
 * pg_backup_stop must run in the same session). */
typedef struct pg_session pg_session;

pg_session *pg_session_open(const char *conninfo, pgark_err *err);
void		pg_session_close(pg_session *s);

typedef struct pg_server_facts
{
	pg_system	sys;
	char		data_directory[4096];
	int			data_checksums;
	int			in_recovery;
} pg_server_facts;

int			pg_session_facts(pg_session *s, pg_server_facts *out, pgark_err *err);
/* pg_backup_start(label, fast): the start LSN. */
int			pg_backup_begin(pg_session *s, const char *label, int fast, uint64_t *start_lsn, pgark_err *err);
/* pg_backup_stop(false): does not wait for the archiver (the caller waits for
 * the stop segment in the repository itself). Returns the stop LSN, its WAL
 * file name, and malloc'd backup_label / tablespace_map. */
int			pg_backup_end(pg_session *s, uint64_t *stop_lsn, char *stop_wal, size_t stop_wal_len,
						  char **labelfile, char **spcmapfile, char **snapshot, pgark_err *err);
/* What pg_stat_archiver says, for a message: "last archived X at T;
 * N failures, the last for Y at T", or "" if it cannot be read. */
void		pg_archiver_report(pg_session *s, char *out, size_t len);

/* The archiver as the server sees it (repo-check). Times are seconds since
 * the epoch, -1 when the server reports none. */
typedef struct pg_archiver_state
{
	int			in_recovery;
	char		archive_mode[16];	/* off, on, always */
	char		last_archived_wal[64];	/* "" none */
	int64_t		last_archived_time;
	int64_t		failed_count;
	char		last_failed_wal[64];
	int64_t		last_failed_time;
	int64_t		now;			/* the server's clock */
	char		current_wal[64];	/* pg_walfile_name(pg_current_wal_lsn()); "" in recovery */
	/* pg_wal/archive_status/ through pg_ls_archive_statusdir() (superuser
	 * or pg_monitor): ready_known = 0 when it could not be read */
	int			ready_known;
	int64_t		ready_count;	/* segments waiting (.ready) */
	int64_t		oldest_ready;	/* when the oldest of them was completed; -1 none */
} pg_archiver_state;

int			pg_archiver_read(const char *conninfo, pg_archiver_state *out, pgark_err *err);

#endif
