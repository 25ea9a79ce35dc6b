#include "pg.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "util.h"
#include "wal.h"

static int
query_one(PGconn *conn, const char *sql, char *out, size_t outlen, pgark_err *err)
{
	PGresult   *res = PQexec(conn, sql);
	int			rc = -1;

	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1 || PQgetisnull(res, 0, 0))
		err_set(err, PGARK_ERR_DB, 0, "query \"%s\" failed: %s", sql, PQerrorMessage(conn));
	else
	{
		snprintf(out, outlen, "%s", PQgetvalue(res, 0, 0));
		rc = 0;
	}
	PQclear(res);
	return rc;
}

int
pg_system_from_server(const char *conninfo, pg_system *out, pgark_err *err)
{
	PGconn	   *conn = PQconnectdb(conninfo);
	char		v[64];
	int			rc = -1;
	unsigned long long u;

	if (PQstatus(conn) != CONNECTION_OK)
	{
		/* PQerrorMessage never includes the password */
		char		msg[512];

		snprintf(msg, sizeof(msg), "%s", PQerrorMessage(conn));
		msg[strcspn(msg, "\n")] = '\0';
		err_set(err, PGARK_ERR_DB, 0, "could not connect to PostgreSQL ([postgres] conninfo): %s", msg);
		goto done;
	}
	if (query_one(conn, "SELECT system_identifier FROM pg_catalog.pg_control_system()", v, sizeof(v), err) != 0)
		goto done;
	if (sscanf(v, "%llu", &u) != 1)
		goto bad;
	out->sysid = u;
	if (query_one(conn, "SELECT pg_catalog.current_setting('server_version_num')", v, sizeof(v), err) != 0)
		goto done;
	if (sscanf(v, "%llu", &u) != 1)
		goto bad;
	out->pg_version = (int) (u / 10000);
	if (query_one(conn, "SELECT setting FROM pg_catalog.pg_settings WHERE name = 'wal_segment_size'",
				  v, sizeof(v), err) != 0)
		goto done;
	if (sscanf(v, "%llu", &u) != 1 || !wal_seg_size_valid(u))
		goto bad;
	out->wal_seg_size = (uint32_t) u;
	rc = 0;
	goto done;
bad:
	err_set(err, PGARK_ERR_DB, 0, "unexpected answer from the server: \"%s\"", v);
done:
	PQfinish(conn);
	return rc;
}

int
pg_system_from_pgdata(const char *pgdata, pg_system *out, pgark_err *err)
{
	char		path[PATH_MAX];
	uint8_t		buf[WAL_LONG_HEADER_LEN];
	int			fd;
	ssize_t		n;
	FILE	   *fp;
	DIR		   *d;
	struct dirent *de;
	int			found = 0;

	snprintf(path, sizeof(path), "%s/global/pg_control", pgdata);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return err_sys(err, PGARK_ERR_IO, "could not open %s (is [postgres] pgdata a data directory?)", path);
	n = read_full(fd, buf, 8);
	close(fd);
	if (n != 8)
		return err_set(err, PGARK_ERR_IO, 0, "could not read the system identifier from %s", path);
	memcpy(&out->sysid, buf, 8);

	snprintf(path, sizeof(path), "%s/PG_VERSION", pgdata);
	if ((fp = fopen(path, "r")) == NULL)
		return err_sys(err, PGARK_ERR_IO, "could not open %s", path);
	if (fscanf(fp, "%d", &out->pg_version) != 1)
	{
		fclose(fp);
		return err_set(err, PGARK_ERR_IO, 0, "could not read the version from %s", path);
	}
	fclose(fp);

	snprintf(path, sizeof(path), "%s/pg_wal", pgdata);
	if ((d = opendir(path)) == NULL)
		return err_sys(err, PGARK_ERR_IO, "could not open %s", path);
	while (!found && (de = readdir(d)) != NULL)
	{
		walname	wn;
		wal_long_header h;
		char		seg[PATH_MAX];
		pgark_err	ignore;

		if (walname_parse(de->d_name, &wn, &ignore) != 0 || wn.kind != WAL_SEGMENT)
			continue;
		if ((size_t) snprintf(seg, sizeof(seg), "%s/%s", path, de->d_name) >= sizeof(seg))
			continue;
		if ((fd = open(seg, O_RDONLY | O_CLOEXEC)) < 0)
			continue;
		n = read_full(fd, buf, sizeof(buf));
		close(fd);
		if (n == (ssize_t) sizeof(buf) && wal_parse_long_header(buf, sizeof(buf), &h, &ignore) == 0 &&
			h.sysid == out->sysid && wal_seg_size_valid(h.seg_size))
		{
			out->wal_seg_size = h.seg_size;
			found = 1;
		}
	}
	closedir(d);
	if (!found)
		return err_set(err, PGARK_ERR_IO, 0,
					   "could not find the WAL segment size: no readable segment of this system in %s", path);
	return 0;
}

struct pg_session
{
	PGconn	   *conn;
};

static int
conn_error(PGconn *conn, const char *what, pgark_err *err)
{
	char		msg[512];

	snprintf(msg, sizeof(msg), "%s", PQerrorMessage(conn));
	msg[strcspn(msg, "\n")] = '\0';
	return err_set(err, PGARK_ERR_DB, 0, "%s: %s", what, msg);
}

pg_session *
pg_session_open(const char *conninfo, pgark_err *err)
{
	pg_session *s = calloc(1, sizeof(*s));

	if (s == NULL)
	{
		err_set(err, PGARK_ERR_INTERNAL, 0, "out of memory");
		return NULL;
	}
	s->conn = PQconnectdb(conninfo);
	if (PQstatus(s->conn) != CONNECTION_OK)
	{
		conn_error(s->conn, "could not connect to PostgreSQL ([postgres] conninfo)", err);
		pg_session_close(s);
		return NULL;
	}
	return s;
}

void
pg_session_close(pg_session *s)
{
	if (s == NULL)
		return;
	PQfinish(s->conn);
	free(s);
}

int
pg_session_facts(pg_session *s, pg_server_facts *out, pgark_err *err)
{
	PGresult   *res;
	int			rc = -1;
	unsigned long long sysid, ver, seg;

	memset(out, 0, sizeof(*out));
	res = PQexec(s->conn,
				 "SELECT (SELECT system_identifier FROM pg_catalog.pg_control_system()),"
				 " pg_catalog.current_setting('server_version_num'),"
				 " (SELECT setting FROM pg_catalog.pg_settings WHERE name = 'wal_segment_size'),"
				 " pg_catalog.current_setting('data_directory'),"
				 " pg_catalog.current_setting('data_checksums'),"
				 " pg_catalog.pg_is_in_recovery()");
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1)
	{
		conn_error(s->conn, "could not read the server's settings (is the role a superuser or granted pg_read_all_settings?)", err);
		goto done;
	}
	if (sscanf(PQgetvalue(res, 0, 0), "%llu", &sysid) != 1 ||
		sscanf(PQgetvalue(res, 0, 1), "%llu", &ver) != 1 ||
		sscanf(PQgetvalue(res, 0, 2), "%llu", &seg) != 1)
	{
		err_set(err, PGARK_ERR_DB, 0, "unexpected answer from the server");
		goto done;
	}
	out->sys.sysid = sysid;
	out->sys.pg_version = (int) (ver / 10000);
	out->sys.wal_seg_size = (uint32_t) seg;
	snprintf(out->data_directory, sizeof(out->data_directory), "%s", PQgetvalue(res, 0, 3));
	out->data_checksums = strcmp(PQgetvalue(res, 0, 4), "on") == 0;
	out->in_recovery = strcmp(PQgetvalue(res, 0, 5), "t") == 0;
	rc = 0;
done:
	PQclear(res);
	return rc;
}

static int
parse_lsn_text(const char *s, uint64_t *lsn)
{
	unsigned	hi, lo;

	if (sscanf(s, "%X/%X", &hi, &lo) != 2)
		return -1;
	*lsn = ((uint64_t) hi << 32) | lo;
	return 0;
}

int
pg_backup_begin(pg_session *s, const char *label, int fast, uint64_t *start_lsn, pgark_err *err)
{
	const char *params[2] = {label, fast ? "true" : "false"};
	PGresult   *res = PQexecParams(s->conn, "SELECT pg_catalog.pg_backup_start($1, $2::boolean)",
								   2, NULL, params, NULL, NULL, 0);
	int			rc = -1;

	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1)
		conn_error(s->conn, "pg_backup_start failed", err);
	else if (parse_lsn_text(PQgetvalue(res, 0, 0), start_lsn) != 0)
		err_set(err, PGARK_ERR_DB, 0, "pg_backup_start returned \"%s\"", PQgetvalue(res, 0, 0));
	else
		rc = 0;
	PQclear(res);
	return rc;
}

int
pg_backup_end(pg_session *s, uint64_t *stop_lsn, char *stop_wal, size_t stop_wal_len,
			  char **labelfile, char **spcmapfile, char **snapshot, pgark_err *err)
{
	PGresult   *res = PQexec(s->conn,
							 "SELECT lsn, pg_catalog.pg_walfile_name(lsn), labelfile, spcmapfile "
							 "FROM pg_catalog.pg_backup_stop(false)");
	PGresult   *snap = NULL;
	int			rc = -1;

	*labelfile = *spcmapfile = *snapshot = NULL;
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1)
		conn_error(s->conn, "pg_backup_stop failed", err);
	else if (parse_lsn_text(PQgetvalue(res, 0, 0), stop_lsn) != 0)
		err_set(err, PGARK_ERR_DB, 0, "pg_backup_stop returned \"%s\"", PQgetvalue(res, 0, 0));
	/* a snapshot taken in a statement of its own, after the stop returned,
	 * tells later which transactions had finished before this backup ended
	 * (one in the same statement would be taken before the stop) */
	else if ((snap = PQexec(s->conn, "SELECT pg_catalog.pg_current_snapshot()::text")) == NULL ||
			 PQresultStatus(snap) != PGRES_TUPLES_OK || PQntuples(snap) != 1)
		conn_error(s->conn, "could not read the transaction snapshot after pg_backup_stop", err);
	else if ((*labelfile = strdup(PQgetvalue(res, 0, 2))) == NULL ||
			 (*spcmapfile = strdup(PQgetisnull(res, 0, 3) ? "" : PQgetvalue(res, 0, 3))) == NULL ||
			 (*snapshot = strdup(PQgetvalue(snap, 0, 0))) == NULL)
		err_set(err, PGARK_ERR_INTERNAL, 0, "out of memory");
	else
	{
		snprintf(stop_wal, stop_wal_len, "%s", PQgetvalue(res, 0, 1));
		rc = 0;
	}
	if (rc != 0)
	{
		free(*labelfile);
		free(*spcmapfile);
		free(*snapshot);
		*labelfile = *spcmapfile = *snapshot = NULL;
	}
	PQclear(snap);
	PQclear(res);
	return rc;
}

void
pg_archiver_report(pg_session *s, char *out, size_t len)
{
	PGresult   *res = PQexec(s->conn,
							 "SELECT coalesce(last_archived_wal, 'nothing'), coalesce(last_archived_time::text, '-'), "
							 "failed_count, coalesce(last_failed_wal, '-'), coalesce(last_failed_time::text, '-') "
							 "FROM pg_catalog.pg_stat_archiver");

	out[0] = '\0';
	if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1)
	{
		if (strcmp(PQgetvalue(res, 0, 2), "0") == 0)
			snprintf(out, len, "pg_stat_archiver: last archived %s at %s, no failures",
					 PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1));
		else
			snprintf(out, len, "pg_stat_archiver: last archived %s at %s; %s failures, the last for %s at %s",
					 PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1), PQgetvalue(res, 0, 2),
					 PQgetvalue(res, 0, 3), PQgetvalue(res, 0, 4));
	}
	PQclear(res);
}

/* a bigint column, or -1 when NULL */
static int64_t
col_i64(const PGresult *res, int col)
{
	return PQgetisnull(res, 0, col) ? -1 : strtoll(PQgetvalue(res, 0, col), NULL, 10);
}

int
pg_archiver_read(const char *conninfo, pg_archiver_state *out, pgark_err *err)
{
	pg_session *s;
	PGresult   *res;
	int			rc = -1;

	memset(out, 0, sizeof(*out));
	out->last_archived_time = out->last_failed_time = out->oldest_ready = -1;
	if ((s = pg_session_open(conninfo, err)) == NULL)
		return -1;
	res = PQexec(s->conn,
				 "SELECT pg_catalog.pg_is_in_recovery(), pg_catalog.current_setting('archive_mode'), "
				 "a.last_archived_wal, extract(epoch FROM a.last_archived_time)::bigint, a.failed_count, "
				 "a.last_failed_wal, extract(epoch FROM a.last_failed_time)::bigint, "
				 "extract(epoch FROM pg_catalog.now())::bigint, "
				 "CASE WHEN pg_catalog.pg_is_in_recovery() THEN NULL "
				 "ELSE pg_catalog.pg_walfile_name(pg_catalog.pg_current_wal_lsn()) END "
				 "FROM pg_catalog.pg_stat_archiver a");
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1)
	{
		conn_error(s->conn, "could not read pg_stat_archiver", err);
		PQclear(res);
		goto done;
	}
	out->in_recovery = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	snprintf(out->archive_mode, sizeof(out->archive_mode), "%s", PQgetvalue(res, 0, 1));
	snprintf(out->last_archived_wal, sizeof(out->last_archived_wal), "%s", PQgetvalue(res, 0, 2));
	out->last_archived_time = col_i64(res, 3);
	out->failed_count = col_i64(res, 4);
	snprintf(out->last_failed_wal, sizeof(out->last_failed_wal), "%s", PQgetvalue(res, 0, 5));
	out->last_failed_time = col_i64(res, 6);
	out->now = col_i64(res, 7);
	snprintf(out->current_wal, sizeof(out->current_wal), "%s", PQgetvalue(res, 0, 8));
	PQclear(res);

	/* what waits: needs superuser or pg_monitor; without it, the caller
	 * falls back on pg_stat_archiver alone */
	res = PQexec(s->conn,
				 "SELECT count(*), extract(epoch FROM min(modification))::bigint "
				 "FROM pg_catalog.pg_ls_archive_statusdir() WHERE name LIKE '%.ready'");
	if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1)
	{
		out->ready_known = 1;
		out->ready_count = col_i64(res, 0);
		out->oldest_ready = col_i64(res, 1);
	}
	PQclear(res);
	rc = 0;
done:
	pg_session_close(s);
	return rc;
}
