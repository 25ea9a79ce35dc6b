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
