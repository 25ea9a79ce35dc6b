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

#endif
