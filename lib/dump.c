/*
 * dump.c — logical dumps: pg_dump streamed into the repository and back
 * (see dump.h; FORMAT.md section 8 is the normative text).
 */
#include "dump.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "backup.h"
#include "util.h"

#define DUMP_META_MAX 4096
#define DUMP_BUF (256 * 1024)
#define DUMP_MAX_ENV 64

const char *
dump_kind_name(dump_kind k)
{
	switch (k)
	{
		case DUMP_FULL:
			return "full";
		case DUMP_SCHEMA:
			return "schema-only";
		case DUMP_GLOBALS:
			return "globals";
	}
	return "?";
}

static int
kind_parse(const char *s, dump_kind *k)
{
	if (strcmp(s, "full") == 0)
		*k = DUMP_FULL;
	else if (strcmp(s, "schema-only") == 0)
		*k = DUMP_SCHEMA;
	else if (strcmp(s, "globals") == 0)
		*k = DUMP_GLOBALS;
	else
		return -1;
	return 0;
}

static int
plain_byte(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
}

int
dump_name_encode(const char *db, char *out, size_t outlen)
{
	size_t		o = 0;

	if (db[0] == '\0' || strlen(db) > DUMP_NAME_MAX)
		return -1;
	for (const unsigned char *s = (const unsigned char *) db; *s; s++)
	{
		if (o + 4 > outlen)
			return -1;
		if (plain_byte(*s))
			out[o++] = (char) *s;
		else
			o += (size_t) snprintf(out + o, outlen - o, "_%02x", *s);
	}
	out[o] = '\0';
	return 0;
}

static int
lower_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

int
dump_name_decode(const char *enc, char *out, size_t outlen)
{
	size_t		o = 0;

	if (enc[0] == '\0')
		return -1;
	for (const char *s = enc; *s;)
	{
		uint8_t		b;
		char		hex[3] = {s[0] ? s[1] : 0, s[0] && s[1] ? s[2] : 0, 0};

		if (o + 1 >= outlen)
			return -1;
		if (plain_byte((unsigned char) *s))
			out[o++] = *s++;
		else if (*s == '_' && lower_hex(s[1]) && lower_hex(s[2]) && hex_decode(hex, &b, 1) == 0 && b != 0 &&
				 !plain_byte(b))
		{
			out[o++] = (char) b;
			s += 3;
		}
		else
			return -1;
	}
	out[o] = '\0';
	return o <= DUMP_NAME_MAX ? 0 : -1;
}

int
dump_dir_of(const dump_meta *m, char *out, size_t outlen)
{
	if (m->kind == DUMP_GLOBALS)
		return snprintf(out, outlen, "%s", DUMP_GLOBALS_DIR) < (int) outlen ? 0 : -1;
	return dump_name_encode(m->database, out, outlen);
}

/* the time of an id's name (YYYYMMDDTHHMMSSZ-...), INT64_MIN if not one */
static int64_t
id_time(const char *id)
{
	char		iso[32];
	int64_t		t;

	if (strlen(id) < 16 || id[8] != 'T' || id[15] != 'Z')
		return INT64_MIN;
	snprintf(iso, sizeof(iso), "%.4s-%.2s-%.2sT%.2s:%.2s:%.2sZ", id, id + 4, id + 6, id + 9, id + 11, id + 13);
	return iso8601_parse(iso, &t) == 0 ? t : INT64_MIN;
}

int
dump_new_id(repo *r, char *out, size_t outlen, pgark_err *err)
{
	dump_list	l = {NULL, 0};
	const char *last = NULL;

	if (dump_list_read(r, 0, &l, err) != 0)
		return -1;
	for (size_t i = 0; i < l.n; i++)
		if (last == NULL || strncmp(l.e[i].id, last, 16) > 0)
			last = l.e[i].id;
	/* newer than every dump there: two runs in one second would otherwise
	 * sort by their random part */
	for (int tries = 0;; tries++)
	{
		backup_make_id(out, outlen, (int64_t) time(NULL));
		if (last == NULL || strncmp(out, last, 16) > 0 || tries >= 20)
			break;				/* (a clock set back: ids out of order) */
		sleep_ms(100);
	}
	dump_list_free(&l);
	return 0;
}

static int
id_valid(const char *id)
{
	if (strlen(id) != DUMP_ID_LEN)
		return 0;
	/* YYYYMMDD T HHMMSS Z - 4 hex */
	for (size_t i = 0; i < DUMP_ID_LEN; i++)
	{
		char		c = id[i];
		int			digit = c >= '0' && c <= '9';

		if (i == 8 ? c != 'T' : i == 15 ? c != 'Z' : i == 16 ? c != '-' :
			i > 16 ? !(digit || (c >= 'a' && c <= 'f')) : !digit)
			return 0;
	}
	return 1;
}

int
dump_meta_format(const dump_meta *m, char *out, size_t outlen)
{
	char		st[40], et[40], sha[2 * SHA256_LEN + 1], db[3 * DUMP_NAME_MAX + 1], ver[sizeof(m->pg_dump_version)];
	int			n;

	iso8601_from_unix(m->start_time, st, sizeof(st));
	iso8601_from_unix(m->end_time, et, sizeof(et));
	hex_encode(m->sha256, SHA256_LEN, sha);
	if (m->kind == DUMP_GLOBALS)
		snprintf(db, sizeof(db), "-");
	else if (dump_name_encode(m->database, db, sizeof(db)) != 0)
		return -1;
	snprintf(ver, sizeof(ver), "%s", m->pg_dump_version);
	for (char *c = ver; *c; c++)
		if ((unsigned char) *c < 0x20 || *c == 0x7f)
			*c = ' ';
	if (ver[0] == '\0')
		snprintf(ver, sizeof(ver), "-");
	n = snprintf(out, outlen,
				 "pgark-dump 1\n"
				 "dump_id %s\n"
				 "database %s\n"
				 "kind %s\n"
				 "format %s\n"
				 "server_version %d\n"
				 "pg_dump_version %s\n"
				 "start_time %s\n"
				 "end_time %s\n"
				 "plain_bytes %" PRIu64 "\n"
				 "stored_bytes %" PRIu64 "\n"
				 "sha256 %s\n"
				 "end\n",
				 m->id, db, dump_kind_name(m->kind), m->kind == DUMP_GLOBALS ? "plain" : "custom",
				 m->server_version, ver, st, et, m->plain_bytes, m->stored_bytes, sha);
	return n > 0 && (size_t) n < outlen ? n : -1;
}

/* the next line "key value": value into val; -1 if it is not that key */
static int
meta_line(const char **pos, const char *end, const char *key, char *val, size_t vallen)
{
	const char *nl = memchr(*pos, '\n', (size_t) (end - *pos));
	size_t		kl = strlen(key), vl;

	if (nl == NULL || (size_t) (nl - *pos) <= kl || strncmp(*pos, key, kl) != 0 || (*pos)[kl] != ' ')
		return -1;
	vl = (size_t) (nl - (*pos + kl + 1));
	if (vl == 0 || vl >= vallen || memchr(*pos + kl + 1, '\0', vl) != NULL)
		return -1;
	memcpy(val, *pos + kl + 1, vl);
	val[vl] = '\0';
	*pos = nl + 1;
	return 0;
}

static int
parse_u64(const char *s, uint64_t *out)
{
	char	   *e;
	unsigned long long v;

	if (!(s[0] >= '0' && s[0] <= '9'))
		return -1;
	errno = 0;
	v = strtoull(s, &e, 10);
	if (errno || *e)
		return -1;
	*out = v;
	return 0;
}

int
dump_meta_parse(const char *text, size_t len, dump_meta *m, pgark_err *err)
{
	const char *p = text, *end = text + len;
	char		v[256];
	uint64_t	u;
	const char *what = "first line";

	memset(m, 0, sizeof(*m));
	if (len < 13 || strncmp(p, "pgark-dump 1\n", 13) != 0)
		goto bad;
	p += 13;
	what = "dump_id";
	if (meta_line(&p, end, "dump_id", v, sizeof(v)) != 0 || !id_valid(v))
		goto bad;
	memcpy(m->id, v, DUMP_ID_LEN + 1);
	what = "database";
	if (meta_line(&p, end, "database", v, sizeof(v)) != 0)
		goto bad;
	{
		char		db[sizeof(v)];

		snprintf(db, sizeof(db), "%s", v);
		what = "kind";
		if (meta_line(&p, end, "kind", v, sizeof(v)) != 0 || kind_parse(v, &m->kind) != 0)
			goto bad;
		what = "database";
		if (m->kind == DUMP_GLOBALS ? strcmp(db, "-") != 0
			: dump_name_decode(db, m->database, sizeof(m->database)) != 0)
			goto bad;
	}
	what = "format";
	if (meta_line(&p, end, "format", v, sizeof(v)) != 0 ||
		strcmp(v, m->kind == DUMP_GLOBALS ? "plain" : "custom") != 0)
		goto bad;
	what = "server_version";
	if (meta_line(&p, end, "server_version", v, sizeof(v)) != 0 || parse_u64(v, &u) != 0 || u > 10000000)
		goto bad;
	m->server_version = (int) u;
	what = "pg_dump_version";
	if (meta_line(&p, end, "pg_dump_version", v, sizeof(v)) != 0)
		goto bad;
	snprintf(m->pg_dump_version, sizeof(m->pg_dump_version), "%s", v);
	what = "start_time";
	if (meta_line(&p, end, "start_time", v, sizeof(v)) != 0 || iso8601_parse(v, &m->start_time) != 0)
		goto bad;
	what = "end_time";
	if (meta_line(&p, end, "end_time", v, sizeof(v)) != 0 || iso8601_parse(v, &m->end_time) != 0)
		goto bad;
	what = "plain_bytes";
	if (meta_line(&p, end, "plain_bytes", v, sizeof(v)) != 0 || parse_u64(v, &m->plain_bytes) != 0)
		goto bad;
	what = "stored_bytes";
	if (meta_line(&p, end, "stored_bytes", v, sizeof(v)) != 0 || parse_u64(v, &m->stored_bytes) != 0)
		goto bad;
	what = "sha256";
	if (meta_line(&p, end, "sha256", v, sizeof(v)) != 0 || strlen(v) != 2 * SHA256_LEN ||
		hex_decode(v, m->sha256, SHA256_LEN) != 0)
		goto bad;
	for (const char *c = v; *c; c++)
		if (*c >= 'A' && *c <= 'F')
			goto bad;
	what = "end";
	if ((size_t) (end - p) != 4 || strncmp(p, "end\n", 4) != 0)
		goto bad;
	return 0;
bad:
	return err_set(err, PGARK_ERR_CORRUPT, 0, "dump metadata: %s missing or malformed", what);
}

/* ---- listing ---- */

typedef struct list_ctx
{
	dump_list  *l;
	size_t		cap;
} list_ctx;

static int
list_cb(void *arg, const char *name, const store_stat *st, pgark_err *err)
{
	list_ctx   *c = arg;
	const char *rest = name + strlen(DUMP_PREFIX);
	const char *s1 = strchr(rest, '/'), *s2, *file;
	size_t		dl, il;
	int			is_meta;
	dump_entry *e = NULL;

	if (strncmp(name, DUMP_PREFIX, strlen(DUMP_PREFIX)) != 0 || s1 == NULL)
		return 0;
	s2 = strchr(s1 + 1, '/');
	if (s2 == NULL)
		return 0;
	file = s2 + 1;
	if (strcmp(file, "meta") == 0)
		is_meta = 1;
	else if (strcmp(file, "data") == 0)
		is_meta = 0;
	else
		return 0;				/* not ours (a version 1 reader ignores it) */
	dl = (size_t) (s1 - rest);
	il = (size_t) (s2 - s1 - 1);
	if (dl == 0 || dl >= sizeof(e->dir) || il == 0 || il >= sizeof(e->id))
		return 0;
	for (size_t i = c->l->n; i-- > 0;)
	{
		dump_entry *x = &c->l->e[i];

		if (strlen(x->dir) == dl && strncmp(x->dir, rest, dl) == 0 && strlen(x->id) == il &&
			strncmp(x->id, s1 + 1, il) == 0)
		{
			e = x;
			break;
		}
	}
	if (e == NULL)
	{
		if (c->l->n == c->cap)
		{
			size_t		cap = c->cap ? 2 * c->cap : 32;
			dump_entry *ne = realloc(c->l->e, cap * sizeof(*ne));

			if (ne == NULL)
				return err_set(err, PGARK_ERR_INTERNAL, 0, "out of memory listing %s", DUMP_PREFIX);
			c->l->e = ne;
			c->cap = cap;
		}
		e = &c->l->e[c->l->n++];
		memset(e, 0, sizeof(*e));
		memcpy(e->dir, rest, dl);
		memcpy(e->id, s1 + 1, il);
	}
	if (is_meta)
	{
		e->has_meta = 1;
		if (!e->has_data)
			e->mtime = st->mtime;
	}
	else
	{
		e->has_data = 1;
		e->mtime = st->mtime;
	}
	return 0;
}

static int
entry_cmp(const void *a, const void *b)
{
	const dump_entry *x = a, *y = b;
	int			c = strcmp(x->dir, y->dir);

	return c ? c : strcmp(x->id, y->id);
}

/* a dump's start time; by its id's name when its metadata is unreadable */
static int64_t
entry_time(const dump_entry *e)
{
	return e->meta_ok ? e->meta.start_time : id_time(e->id);
}

/* by directory, then by start time (ids within one second: each id is
 * newer than every one before it), then id */
static int
entry_cmp_time(const void *a, const void *b)
{
	const dump_entry *x = a, *y = b;
	int			c = strcmp(x->dir, y->dir);
	int64_t		tx, ty;

	if (c)
		return c;
	tx = entry_time(x);
	ty = entry_time(y);
	if (tx != ty)
		return tx < ty ? -1 : 1;
	return strcmp(x->id, y->id);
}

/* src into dst, cut to fit */
static void
copy_cut(char *dst, size_t len, const char *src)
{
	size_t		n = strnlen(src, len - 1);

	memcpy(dst, src, n);
	dst[n] = '\0';
}

/*
 * Read e's meta. -1 (err set) when the failure says nothing of the dump
 * (the store unreachable, the master key): the caller's run stops. A meta
 * gone since the listing is a dump removed meanwhile (repo-expire): no
 * longer a dump, not a damaged one.
 */
int
dump_entry_read_meta(repo *r, dump_entry *e, pgark_err *errout)
{
	char		name[512], *text = NULL;
	size_t		len;
	pgark_err	err;
	char		dir[sizeof(e->dir)];

	err_clear(&err);
	snprintf(name, sizeof(name), "%s%s/%s/meta", DUMP_PREFIX, e->dir, e->id);
	if (repo_get_object(r, name, DUMP_META_MAX, &text, &len, &err) != 0)
	{
		if (err.kind == PGARK_ERR_NOTFOUND)
		{
			e->has_meta = 0;
			return 0;
		}
		if (err_says_nothing_of_object(&err))
		{
			*errout = err;
			return err_prefix(errout, "reading %s", name);
		}
		copy_cut(e->problem, sizeof(e->problem), err.msg);
		return 0;
	}
	if (dump_meta_parse(text, len, &e->meta, &err) != 0)
	{
		err_prefix(&err, "object %s in %s is damaged", name, r->st->where);
		copy_cut(e->problem, sizeof(e->problem), err.msg);
	}
	else if (strcmp(e->meta.id, e->id) != 0 || dump_dir_of(&e->meta, dir, sizeof(dir)) != 0 ||
			 strcmp(dir, e->dir) != 0)
	{
		err_set(&err, PGARK_ERR_CORRUPT, 0, "object %s in %s is damaged: it names another dump", name,
				r->st->where);
		copy_cut(e->problem, sizeof(e->problem), err.msg);
	}
	else
		e->meta_ok = 1;
	free(text);
	return 0;
}

int
dump_list_read(repo *r, int want_meta, dump_list *out, pgark_err *err)
{
	list_ctx	c = {out, 0};

	out->e = NULL;
	out->n = 0;
	if (store_list(r->st, DUMP_PREFIX, list_cb, &c, err) != 0)
	{
		dump_list_free(out);
		return err_prefix(err, "listing %s in %s", DUMP_PREFIX, r->st->where);
	}
	if (out->n > 1)
		qsort(out->e, out->n, sizeof(*out->e), entry_cmp);
	if (want_meta)
	{
		for (size_t i = 0; i < out->n; i++)
			if (out->e[i].has_meta && dump_entry_read_meta(r, &out->e[i], err) != 0)
			{
				dump_list_free(out);
				return -1;
			}
		if (out->n > 1)
			qsort(out->e, out->n, sizeof(*out->e), entry_cmp_time);
	}
	return 0;
}

void
dump_list_free(dump_list *l)
{
	free(l->e);
	l->e = NULL;
	l->n = 0;
}

const dump_entry *
dump_list_find(const dump_list *l, const char *dir, int kind, const char *id)
{
	const dump_entry *best = NULL;

	for (size_t i = 0; i < l->n; i++)
	{
		const dump_entry *e = &l->e[i];

		if (strcmp(e->dir, dir) != 0 || !e->meta_ok)
			continue;
		if (id != NULL)
		{
			if (strcmp(e->id, id) == 0)
				return e;
			continue;
		}
		if (kind >= 0 && (int) e->meta.kind != kind)
			continue;
		best = e;				/* sorted oldest first */
	}
	return best;
}

int
dump_list_is_newest(const dump_list *l, size_t i)
{
	const dump_entry *e = &l->e[i];

	if (!e->meta_ok)
		return 0;
	for (size_t k = i + 1; k < l->n && strcmp(l->e[k].dir, e->dir) == 0; k++)
		if (l->e[k].meta_ok && l->e[k].meta.kind == e->meta.kind)
			return 0;
	return 1;
}

int
dump_expire(repo *r, int keep_last, int64_t keep_within, int64_t now, int dry_run,
			dump_report_fn report, void *arg, size_t *kept, size_t *removed, pgark_err *err)
{
	dump_list	l = {NULL, 0};
	int			rc = -1;

	*kept = *removed = 0;
	if (keep_last <= 0 && keep_within <= 0)
		return 0;
	if (dump_list_read(r, 1, &l, err) != 0)
		return -1;
	for (size_t i = 0; i < l.n; i++)
	{
		const dump_entry *e = &l.e[i];
		char		object[512], why[200] = "";
		int			keep = 0, newer = 0;

		snprintf(object, sizeof(object), "%s%s/%s", DUMP_PREFIX, e->dir, e->id);
		if (!e->has_meta)
		{
			/* not a dump: the data of a dump-push that died before its meta */
			if (e->mtime >= now - DUMP_LEFTOVER_AGE)
				continue;		/* maybe one that is finishing */
			snprintf(why, sizeof(why), "data without metadata (a dump-push that did not finish)");
		}
		else if (!e->meta_ok)
		{
			keep = 1;
			snprintf(why, sizeof(why), "metadata unreadable: kept");
		}
		else
		{
			for (size_t k = i + 1; k < l.n && strcmp(l.e[k].dir, e->dir) == 0; k++)
				newer += l.e[k].meta_ok && l.e[k].has_data && l.e[k].meta.kind == e->meta.kind;
			if (newer == 0)
			{
				keep = 1;
				snprintf(why, sizeof(why), "the newest %s dump", dump_kind_name(e->meta.kind));
			}
			if (keep_last > 0 && newer < keep_last)
			{
				size_t		u = strlen(why);

				keep = 1;
				snprintf(why + u, sizeof(why) - u, "%sdumps_keep_last %d", u ? ", " : "", keep_last);
			}
			if (keep_within > 0 && e->meta.start_time >= now - keep_within)
			{
				size_t		u = strlen(why);

				keep = 1;
				snprintf(why + u, sizeof(why) - u, "%sdumps_keep_within", u ? ", " : "");
			}
			if (!keep)
				snprintf(why, sizeof(why), "%d newer %s dump%s, older than dumps_keep_within", newer,
						 dump_kind_name(e->meta.kind), newer == 1 ? "" : "s");
		}
		if (keep)
			(*kept)++;
		else
		{
			if (!dry_run && dump_remove(r, e->dir, e->id, err) != 0)
				goto done;
			(*removed)++;
		}
		if (report)
			report(arg, object, keep, why);
	}
	rc = 0;
done:
	dump_list_free(&l);
	return rc;
}

/* ---- the server ---- */

static PGconn *
connect_db(const char *conninfo, pgark_err *err)
{
	PGconn	   *conn = PQconnectdb(conninfo);

	if (PQstatus(conn) != CONNECTION_OK)
	{
		char		msg[512];

		snprintf(msg, sizeof(msg), "%s", PQerrorMessage(conn));
		msg[strcspn(msg, "\n")] = '\0';
		err_set(err, PGARK_ERR_DB, 0, "could not connect to PostgreSQL ([postgres] conninfo): %s", msg);
		PQfinish(conn);
		return NULL;
	}
	return conn;
}

void
dump_free_names(char **dbs, size_t n)
{
	for (size_t i = 0; dbs && i < n; i++)
		free(dbs[i]);
	free(dbs);
}

int
dump_server_info(const dump_source *src, int *version_num, char ***dbs, size_t *ndbs, pgark_err *err)
{
	PGconn	   *conn;
	PGresult   *res = NULL;
	int			rc = -1;

	if ((conn = connect_db(src->conninfo, err)) == NULL)
		return -1;
	*version_num = PQserverVersion(conn);
	if (dbs)
	{
		int			n;

		*dbs = NULL;
		*ndbs = 0;
		res = PQexec(conn, "SELECT datname FROM pg_catalog.pg_database "
					 "WHERE datallowconn AND datname <> 'template0' ORDER BY datname");
		if (PQresultStatus(res) != PGRES_TUPLES_OK)
		{
			char		msg[512];

			snprintf(msg, sizeof(msg), "%s", PQerrorMessage(conn));
			msg[strcspn(msg, "\n")] = '\0';
			err_set(err, PGARK_ERR_DB, 0, "listing the databases: %s", msg);
			goto done;
		}
		n = PQntuples(res);
		if ((*dbs = calloc((size_t) n + 1, sizeof(char *))) == NULL)
		{
			err_set(err, PGARK_ERR_INTERNAL, 0, "out of memory");
			goto done;
		}
		for (int i = 0; i < n; i++)
		{
			if (((*dbs)[i] = strdup(PQgetvalue(res, i, 0))) == NULL)
			{
				dump_free_names(*dbs, (size_t) i);
				*dbs = NULL;
				err_set(err, PGARK_ERR_INTERNAL, 0, "out of memory");
				goto done;
			}
		}
		*ndbs = (size_t) n;
	}
	rc = 0;
done:
	PQclear(res);
	PQfinish(conn);
	return rc;
}

/* ---- running pg_dump ---- */

typedef struct child_env
{
	char	   *set[DUMP_MAX_ENV];	/* "NAME=value", malloc'd; hold a password */
	size_t		n;
	char	   *conn;			/* the conninfo for -d without its secrets, malloc'd */
	size_t		connlen, conncap;
	char		maintenance_db[256];
} child_env;

static void
child_env_free(child_env *ce)
{
	for (size_t i = 0; i < ce->n; i++)
	{
		secure_zero(ce->set[i], strlen(ce->set[i]));
		free(ce->set[i]);
	}
	ce->n = 0;
	free(ce->conn);
	ce->conn = NULL;
	ce->connlen = ce->conncap = 0;
}

static int
child_env_add(child_env *ce, const char *name, const char *val, pgark_err *err)
{
	size_t		len = strlen(name) + strlen(val) + 2;

	if (ce->n == DUMP_MAX_ENV)
		return err_set(err, PGARK_ERR_CONFIG, 0, "[postgres] conninfo: too many settings");
	if ((ce->set[ce->n] = malloc(len)) == NULL)
		return err_set(err, PGARK_ERR_INTERNAL, 0, "out of memory");
	snprintf(ce->set[ce->n++], len, "%s=%s", name, val);
	return 0;
}

/* " keyword='value'" appended to ce->conn (' and \ escaped) */
static int
child_conn_add(child_env *ce, const char *kw, const char *val, pgark_err *err)
{
	size_t		need = ce->connlen + strlen(kw) + 2 * strlen(val) + 6;

	if (need > ce->conncap)
	{
		size_t		cap = need * 2;
		char	   *n = realloc(ce->conn, cap);

		if (n == NULL)
			return err_set(err, PGARK_ERR_INTERNAL, 0, "out of memory");
		ce->conn = n;
		ce->conncap = cap;
	}
	ce->connlen += (size_t) sprintf(ce->conn + ce->connlen, "%s%s='", ce->connlen ? " " : "", kw);
	for (const char *c = val; *c; c++)
	{
		if (*c == '\\' || *c == '\'')
			ce->conn[ce->connlen++] = '\\';
		ce->conn[ce->connlen++] = *c;
	}
	ce->conn[ce->connlen++] = '\'';
	ce->conn[ce->connlen] = '\0';
	return 0;
}

/*
 * The conninfo for the child: its settings in a conninfo for -d (explicit
 * settings beat a service file's and the environment's, as they do for
 * our own connection; an environment variable would lose to a service
 * file), the database db first; its secrets (the password) as PG*
 * environment variables, never in argv.
 */
static int
child_env_build(const char *conninfo, const char *db, child_env *ce, pgark_err *err)
{
	char	   *perr = NULL;
	PQconninfoOption *opts = PQconninfoParse(conninfo, &perr);
	int			rc = -1;

	memset(ce, 0, sizeof(*ce));
	if (opts == NULL)
	{
		err_set(err, PGARK_ERR_CONFIG, 0, "[postgres] conninfo: %s", perr ? perr : "out of memory");
		PQfreemem(perr);
		return -1;
	}
	if (db && child_conn_add(ce, "dbname", db, err) != 0)
		goto done;
	for (PQconninfoOption *o = opts; o->keyword; o++)
	{
		if (o->val == NULL || o->val[0] == '\0')
			continue;
		if (strcmp(o->keyword, "dbname") == 0)
		{
			snprintf(ce->maintenance_db, sizeof(ce->maintenance_db), "%s", o->val);
			continue;
		}
		if (o->dispchar == NULL || o->dispchar[0] != '*')
		{
			if (child_conn_add(ce, o->keyword, o->val, err) != 0)
				goto done;
			continue;
		}
		if (o->envvar == NULL)
		{
			err_set(err, PGARK_ERR_CONFIG, 0, "[postgres] conninfo: %s cannot be handed to pg_dump "
					"(it has no environment variable); set it in a service file (PGSERVICEFILE)", o->keyword);
			goto done;
		}
		if (child_env_add(ce, o->envvar, o->val, err) != 0)
			goto done;
	}
	rc = 0;
done:
	/* the parsed options may hold the password */
	for (PQconninfoOption *o = opts; o->keyword; o++)
		if (o->val)
			secure_zero(o->val, strlen(o->val));
	PQconninfoFree(opts);
	if (rc != 0)
		child_env_free(ce);
	return rc;
}

/* Start argv[0] with stdout to a pipe (returned in *fd), stdin /dev/null. */
static pid_t
spawn(char *const argv[], const child_env *ce, int *fd, pgark_err *err)
{
	int			p[2];
	pid_t		pid;

	if (pipe2(p, O_CLOEXEC) != 0)
	{
		err_sys(err, PGARK_ERR_IO, "pipe for %s", argv[0]);
		return -1;
	}
	fflush(NULL);
	pid = fork();
	if (pid < 0)
	{
		err_sys(err, PGARK_ERR_IO, "fork for %s", argv[0]);
		close(p[0]);
		close(p[1]);
		return -1;
	}
	if (pid == 0)
	{
		int			nul = open("/dev/null", O_RDONLY);

		if (nul < 0 || dup2(nul, 0) < 0 || dup2(p[1], 1) < 0)
			_exit(127);
		signal(SIGPIPE, SIG_DFL);
		for (size_t i = 0; ce && i < ce->n; i++)
			if (putenv(ce->set[i]) != 0)
				_exit(127);
		execv(argv[0], argv);
		_exit(127);
	}
	close(p[1]);
	*fd = p[0];
	return pid;
}

static int
wait_child(pid_t pid, const char *what, pgark_err *err)
{
	int			status;

	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return err_sys(err, PGARK_ERR_INTERNAL, "waiting for %s", what);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
		return err_set(err, PGARK_ERR_CONFIG, 0, "%s could not be run (exit 127): is it installed? "
					   "([postgres] bindir)", what);
	if (WIFEXITED(status))
		return err_set(err, PGARK_ERR_DB, 0, "%s failed (exit status %d; its message is above)", what,
					   WEXITSTATUS(status));
	return err_set(err, PGARK_ERR_DB, 0, "%s was killed by signal %d", what, WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

static void
stop_child(pid_t pid)
{
	int			status;

	(void) kill(pid, SIGTERM);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
}

/* "<bindir>/<prog>" */
static int
program_path(const dump_source *src, int server_version, const char *prog, char *out, size_t len, pgark_err *err)
{
	int			n;

	if (src->bindir && src->bindir[0])
		n = snprintf(out, len, "%s/%s", src->bindir, prog);
	else
		n = snprintf(out, len, "/usr/lib/postgresql/%d/bin/%s", server_version / 10000, prog);
	if (n < 0 || (size_t) n >= len)
		return err_set(err, PGARK_ERR_CONFIG, 0, "[postgres] bindir: too long");
	return 0;
}

/* prog --version: its first line; refuse one older than the server */
static int
program_version(const char *path, int server_version, char *out, size_t len, pgark_err *err)
{
	char	   *argv[] = {(char *) path, (char *) "--version", NULL};
	char		buf[256];
	size_t		have = 0;
	int			fd;
	pid_t		pid;
	const char *v;
	int			major;

	if (access(path, X_OK) != 0)
		return err_sys(err, PGARK_ERR_CONFIG, "%s cannot be run (set [postgres] bindir to the directory of "
					   "a pg_dump as new as the server)", path);
	if ((pid = spawn(argv, NULL, &fd, err)) < 0)
		return -1;
	for (;;)
	{
		ssize_t		got = read(fd, buf + have, sizeof(buf) - 1 - have);

		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			break;
		have += (size_t) got;
		if (have == sizeof(buf) - 1)
		{
			/* the rest is not needed; drain it so that the child ends */
			char		sink[256];

			while (read(fd, sink, sizeof(sink)) > 0)
				;
			break;
		}
	}
	close(fd);
	buf[have] = '\0';
	if (wait_child(pid, path, err) != 0)
		return -1;
	buf[strcspn(buf, "\n")] = '\0';
	copy_cut(out, len, buf);
	if ((v = strstr(buf, "(PostgreSQL) ")) == NULL || sscanf(v + 13, "%d", &major) != 1)
		return err_set(err, PGARK_ERR_CONFIG, 0, "%s --version: unexpected answer \"%.80s\"", path, buf);
	if (major < server_version / 10000)
		return err_set(err, PGARK_ERR_CONFIG, 0, "%s is version %d, older than the server (%d): it cannot "
					   "dump it (set [postgres] bindir)", path, major, server_version / 10000);
	return 0;
}

/* pg_dump's WriteInt: a sign byte, then int_size bytes, least significant first */
static int
archive_int(const uint8_t *buf, size_t len, size_t *pos, int int_size, int64_t *v)
{
	uint64_t	u = 0;
	int			neg;

	if (*pos + 1 + (size_t) int_size > len)
		return 0;
	neg = buf[(*pos)++] != 0;
	for (int i = 0; i < int_size; i++)
		u |= (uint64_t) buf[(*pos)++] << (8 * i);
	if (u > INT32_MAX)
		return -1;
	*v = neg ? -(int64_t) u : (int64_t) u;
	return 1;
}

int
dump_archive_dbname(const uint8_t *buf, size_t len, char *out, size_t outlen)
{
	size_t		pos = 11;
	int			vmaj, vmin, int_size, rc;
	int64_t		v;

	if (len < 11)
		return memcmp(buf, "PGDMP", len < 5 ? len : 5) == 0 ? 0 : -1;
	if (memcmp(buf, "PGDMP", 5) != 0)
		return -1;
	vmaj = buf[5];
	vmin = buf[6];
	int_size = buf[8];
	/* custom format (1), an archive version pg_dump has written since 8.0 */
	if (vmaj != 1 || vmin < 10 || int_size < 1 || int_size > 8 || buf[10] != 1)
		return -1;
	/* compression: a byte from 1.15 (PostgreSQL 16) on, an int before */
	if (vmin >= 15)
	{
		if (pos + 1 > len)
			return 0;
		pos++;
	}
	else if ((rc = archive_int(buf, len, &pos, int_size, &v)) != 1)
		return rc;
	/* the creation time: 7 ints */
	for (int i = 0; i < 7; i++)
		if ((rc = archive_int(buf, len, &pos, int_size, &v)) != 1)
			return rc;
	/* the database: WriteStr, a length, then the bytes */
	if ((rc = archive_int(buf, len, &pos, int_size, &v)) != 1)
		return rc;
	if (v < 0 || (size_t) v >= outlen)
		return -1;
	if (pos + (size_t) v > len)
		return len >= DUMP_ARCHIVE_HEAD ? -1 : 0;
	memcpy(out, buf + pos, (size_t) v);
	out[v] = '\0';
	return 1;
}

static int
sink_put(void *arg, const void *buf, size_t len, pgark_err *err)
{
	return store_put_write(arg, buf, len, err);
}

/* the archive must be one of db: a service file or the environment must
 * not have made pg_dump dump another database */
static int
check_head(const uint8_t *head, size_t len, const char *db, const char *prog, pgark_err *err)
{
	char		got[DUMP_NAME_MAX + 1];
	int			rc = dump_archive_dbname(head, len, got, sizeof(got));

	if (rc < 0)
		return err_set(err, PGARK_ERR_DB, 0, "%s did not write a custom-format archive", prog);
	if (rc == 0)
		return err_set(err, PGARK_ERR_DB, 0, "%s wrote a truncated archive header", prog);
	if (strcmp(got, db) != 0)
		return err_set(err, PGARK_ERR_DB, 0, "%s dumped database \"%s\", not \"%s\" (a service file or "
					   "PG* environment variable chose another database?)", prog, got, db);
	return 0;
}

/*
 * A no-overwrite put found its object there. A dump's objects have names
 * no other run uses, so it is our own put whose success was lost and whose
 * retry met it (S3: 412): if it holds exactly what we wrote (size and
 * SHA-256 of the stored bytes; buf, DUMP_BUF bytes, for reading), fine;
 * otherwise CONFLICT, and it is left as it is.
 */
static int
stored_is_ours(repo *r, const char *name, const obj_summary *sum, uint8_t *buf, pgark_err *err)
{
	store_reader *sr;
	sha256_ctx *h;
	uint8_t		sha[SHA256_LEN];
	uint64_t	n = 0;
	int			rc = -1;

	err_clear(err);
	if ((h = sha256_new(err)) == NULL)
		return -1;
	if ((sr = store_get(r->st, name, 0, 0, err)) == NULL)
	{
		sha256_free(h);
		return err_prefix(err, "it was there already; comparing it");
	}
	for (;;)
	{
		size_t		got;

		if (store_read(sr, buf, DUMP_BUF, &got, err) != 0)
		{
			err_prefix(err, "it was there already; comparing it");
			goto done;
		}
		if (got == 0)
			break;
		sha256_update(h, buf, got);
		n += got;
	}
	sha256_final(h, sha);
	if (n != sum->stored_len || memcmp(sha, sum->sha256, SHA256_LEN) != 0)
		err_set(err, PGARK_ERR_CONFLICT, 0, "object %s already exists in %s with other content (not "
				"overwritten)", name, r->st->where);
	else
		rc = 0;
done:
	store_reader_close(sr);
	sha256_free(h);
	return rc;
}

/* The same for the meta: sealed anew by each put, so compared by its plaintext. */
static int
meta_is_ours(repo *r, const char *name, const char *text, size_t len, pgark_err *err)
{
	char	   *have = NULL;
	size_t		hl;
	int			same;

	err_clear(err);
	if (repo_get_object(r, name, DUMP_META_MAX, &have, &hl, err) != 0)
		return err_prefix(err, "it was there already; comparing it");
	same = hl == len && memcmp(have, text, len) == 0;
	free(have);
	if (!same)
		return err_set(err, PGARK_ERR_CONFLICT, 0, "object %s already exists in %s with other content (not "
					   "overwritten)", name, r->st->where);
	return 0;
}

int
dump_push(repo *r, const dump_source *src, int server_version, const char *db, dump_kind kind,
		  const char *id, dump_meta *m, pgark_err *err)
{
	const char *prog = kind == DUMP_GLOBALS ? "pg_dumpall" : "pg_dump";
	char		path[4200], dir[3 * DUMP_NAME_MAX + 1], data[512], meta[512], text[DUMP_META_MAX];
	char	   *argv[10];
	int			argc = 0, fd = -1, rc = -1, n;
	pid_t		pid = -1;
	child_env	ce;
	obj_params	op;
	store_writer *sw = NULL;
	obj_writer *ow = NULL;
	obj_summary sum;
	uint8_t    *buf = NULL, head[DUMP_ARCHIVE_HEAD];
	size_t		head_len = 0;

	memset(m, 0, sizeof(*m));
	memset(&ce, 0, sizeof(ce));
	snprintf(m->id, sizeof(m->id), "%s", id);
	m->kind = kind;
	m->server_version = server_version;
	if (kind != DUMP_GLOBALS)
	{
		if (db == NULL || strlen(db) > DUMP_NAME_MAX)
			return err_set(err, PGARK_ERR_USAGE, 0, "database name missing or too long");
		snprintf(m->database, sizeof(m->database), "%s", db);
	}
	if (dump_dir_of(m, dir, sizeof(dir)) != 0)
		return err_set(err, PGARK_ERR_USAGE, 0, "database name \"%s\" cannot be encoded", db);
	snprintf(data, sizeof(data), "%s%s/%s/data", DUMP_PREFIX, dir, id);
	snprintf(meta, sizeof(meta), "%s%s/%s/meta", DUMP_PREFIX, dir, id);
	if (program_path(src, server_version, prog, path, sizeof(path), err) != 0 ||
		program_version(path, server_version, m->pg_dump_version, sizeof(m->pg_dump_version), err) != 0)
		return -1;
	if (child_env_build(src->conninfo, kind == DUMP_GLOBALS ? NULL : db, &ce, err) != 0)
		return -1;
	argv[argc++] = path;
	argv[argc++] = (char *) "--no-password";
	if (ce.conn)
	{
		/* pg_dumpall ignores a dbname here: -l is its database */
		argv[argc++] = (char *) "-d";
		argv[argc++] = ce.conn;
	}
	if (kind == DUMP_GLOBALS)
	{
		argv[argc++] = (char *) "--globals-only";
		if (ce.maintenance_db[0])
		{
			argv[argc++] = (char *) "-l";
			argv[argc++] = ce.maintenance_db;
		}
	}
	else
	{
		argv[argc++] = (char *) "--format=custom";
		if (kind == DUMP_SCHEMA)
			argv[argc++] = (char *) "--schema-only";
	}
	argv[argc] = NULL;

	if ((buf = malloc(DUMP_BUF)) == NULL)
	{
		err_set(err, PGARK_ERR_INTERNAL, 0, "out of memory");
		goto done;
	}
	m->start_time = (int64_t) time(NULL);
	if (repo_object_params(r, OBJ_LEN_UNKNOWN, &op, err) != 0 ||
		(sw = store_put_begin(r->st, data, err)) == NULL ||
		(ow = obj_writer_new(&op, sink_put, sw, err)) == NULL)
		goto done;
	if ((pid = spawn(argv, &ce, &fd, err)) < 0)
		goto done;
	child_env_free(&ce);
	for (;;)
	{
		ssize_t		got = read(fd, buf, DUMP_BUF);

		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
		{
			err_sys(err, PGARK_ERR_IO, "reading the output of %s", prog);
			goto done;
		}
		if (got == 0)
			break;
		if (head_len < sizeof(head))
		{
			size_t		c = (size_t) got < sizeof(head) - head_len ? (size_t) got : sizeof(head) - head_len;

			memcpy(head + head_len, buf, c);
			head_len += c;
			if (head_len == sizeof(head) && kind != DUMP_GLOBALS && check_head(head, head_len, db, prog, err) != 0)
				goto done;
		}
		m->plain_bytes += (uint64_t) got;
		if (obj_writer_write(ow, buf, (size_t) got, err) != 0)
		{
			err_prefix(err, "storing %s", data);
			goto done;
		}
	}
	close(fd);
	fd = -1;
	/* the exit status before anything is committed */
	n = wait_child(pid, prog, err);
	pid = -1;
	if (n != 0)
		goto done;
	if (m->plain_bytes == 0)
	{
		err_set(err, PGARK_ERR_DB, 0, "%s wrote nothing", prog);
		goto done;
	}
	if (head_len < sizeof(head) && kind != DUMP_GLOBALS && check_head(head, head_len, db, prog, err) != 0)
		goto done;
	if (obj_writer_finish(ow, &sum, err) != 0)
	{
		err_prefix(err, "storing %s", data);
		goto done;
	}
	m->stored_bytes = sum.stored_len;
	memcpy(m->sha256, sum.sha256, SHA256_LEN);
	if (store_put_commit(sw, STORE_NO_OVERWRITE, err) != 0)
	{
		sw = NULL;
		if (err->kind != PGARK_ERR_EXISTS || stored_is_ours(r, data, &sum, buf, err) != 0)
		{
			err_prefix(err, "storing %s", data);
			goto done;
		}
	}
	sw = NULL;
	m->end_time = (int64_t) time(NULL);
	n = dump_meta_format(m, text, sizeof(text));
	if (n < 0)
	{
		err_set(err, PGARK_ERR_INTERNAL, 0, "dump metadata too long");
		goto done;
	}
	/* the commit point: the dump exists from here on */
	if (repo_put_object(r, meta, text, (size_t) n, STORE_NO_OVERWRITE, err) != 0 &&
		(err->kind != PGARK_ERR_EXISTS || meta_is_ours(r, meta, text, (size_t) n, err) != 0))
	{
		err_prefix(err, "storing %s", meta);
		goto done;
	}
	rc = 0;
done:
	if (fd >= 0)
		close(fd);
	if (pid > 0)
		stop_child(pid);
	child_env_free(&ce);
	obj_writer_free(ow);
	store_put_abort(sw);
	free(buf);
	return rc;
}

/* ---- reading ---- */

typedef struct hashing_src
{
	store_reader *sr;
	sha256_ctx *h;
	uint64_t	n;
} hashing_src;

static int
hashing_read(void *arg, void *buf, size_t len, size_t *got, pgark_err *err)
{
	hashing_src *s = arg;

	if (store_read(s->sr, buf, len, got, err) != 0)
		return -1;
	sha256_update(s->h, buf, *got);
	s->n += *got;
	return 0;
}

/*
 * name (a dump's data) is not there: damage if its meta still is; if the
 * meta went too, the dump was removed meanwhile (repo-expire), which says
 * nothing of it: NOTFOUND. A failure to look says nothing either.
 */
static void
data_missing(repo *r, const char *name, pgark_err *err)
{
	char		meta[512];
	size_t		n = strlen(name) - strlen("data");
	store_stat	st;
	pgark_err	e2;

	snprintf(meta, sizeof(meta), "%.*smeta", (int) n, name);
	err_clear(&e2);
	if (store_head(r->st, meta, &st, &e2) == 0)
		err_set(err, PGARK_ERR_CORRUPT, 0, "object %s in %s is missing (its metadata exists)", name,
				r->st->where);
	else if (e2.kind == PGARK_ERR_NOTFOUND)
		err_set(err, PGARK_ERR_NOTFOUND, ENOENT, "dump %.*s in %s was removed while being read "
				"(by repo-expire?)", (int) (n - 1), name, r->st->where);
	else
	{
		*err = e2;
		err_prefix(err, "object %s is missing; looking for its metadata", name);
	}
}

int
dump_read(repo *r, const dump_meta *m, obj_sink_fn sink, void *sink_arg, pgark_err *err)
{
	char		dir[3 * DUMP_NAME_MAX + 1], name[512];
	hashing_src hs = {NULL, NULL, 0};
	obj_reader *or = NULL;
	uint8_t    *buf = NULL, sha[SHA256_LEN];
	uint64_t	plain = 0;
	int			rc = -1;

	if (dump_dir_of(m, dir, sizeof(dir)) != 0)
		return err_set(err, PGARK_ERR_INTERNAL, 0, "dump of an unencodable name");
	snprintf(name, sizeof(name), "%s%s/%s/data", DUMP_PREFIX, dir, m->id);
	if ((buf = malloc(DUMP_BUF)) == NULL)
		return err_set(err, PGARK_ERR_INTERNAL, 0, "out of memory");
	if ((hs.h = sha256_new(err)) == NULL)
		goto done;
	if ((hs.sr = store_get(r->st, name, 0, 0, err)) == NULL)
	{
		if (err->kind == PGARK_ERR_NOTFOUND)
			data_missing(r, name, err);
		goto done;
	}
	if ((or = repo_object_reader(r, hashing_read, &hs, err)) == NULL)
		goto bad;
	for (;;)
	{
		size_t		got;

		if (obj_reader_read(or, buf, DUMP_BUF, &got, err) != 0)
			goto bad;
		if (got == 0)
			break;
		plain += got;
		if (sink && sink(sink_arg, buf, got, err) != 0)
			goto done;
	}
	sha256_final(hs.h, sha);
	if (plain != m->plain_bytes)
	{
		err_set(err, PGARK_ERR_CORRUPT, 0, "%" PRIu64 " bytes of dump, its metadata says %" PRIu64, plain,
				m->plain_bytes);
		goto bad;
	}
	if (hs.n != m->stored_bytes)
	{
		err_set(err, PGARK_ERR_CORRUPT, 0, "%" PRIu64 " bytes stored, its metadata says %" PRIu64, hs.n,
				m->stored_bytes);
		goto bad;
	}
	if (memcmp(sha, m->sha256, SHA256_LEN) != 0)
	{
		err_set(err, PGARK_ERR_CORRUPT, 0, "SHA-256 of the stored bytes differs from its metadata's");
		goto bad;
	}
	rc = 0;
	goto done;
bad:
	if (err->kind == PGARK_ERR_NOTFOUND)
		data_missing(r, name, err);		/* gone midway (a GET per range) */
	else if (err->kind == PGARK_ERR_CORRUPT || err->kind == PGARK_ERR_MISMATCH)
		err_prefix(err, "object %s in %s is damaged", name, r->st->where);
	else
		err_prefix(err, "reading object %s", name);
done:
	obj_reader_free(or);
	store_reader_close(hs.sr);
	sha256_free(hs.h);
	free(buf);
	return rc;
}

int
dump_err_is_damage(const pgark_err *err)
{
	return err->kind == PGARK_ERR_CORRUPT || err->kind == PGARK_ERR_MISMATCH ||
		(err->kind == PGARK_ERR_KEY && !err_says_nothing_of_object(err));
}

int
dump_remove(repo *r, const char *dir, const char *id, pgark_err *err)
{
	char		name[512];

	snprintf(name, sizeof(name), "%s%s/%s/meta", DUMP_PREFIX, dir, id);
	if (store_remove(r->st, name, err) != 0)
		return err_prefix(err, "removing %s", name);
	snprintf(name, sizeof(name), "%s%s/%s/data", DUMP_PREFIX, dir, id);
	if (store_remove(r->st, name, err) != 0)
		return err_prefix(err, "removing %s", name);
	return 0;
}
