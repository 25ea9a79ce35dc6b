#include "status.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util.h"

#define STATUS_MAX 4096

/* one line: control characters become spaces */
static void
one_line(const char *in, char *out, size_t len)
{
	size_t		i;

	for (i = 0; in[i] && i + 1 < len; i++)
		out[i] = ((unsigned char) in[i] < 0x20 || in[i] == 0x7f) ? ' ' : in[i];
	out[i] = '\0';
}

int
status_format(const char *kind, const status_rec *rec, char *out, size_t len)
{
	char		when[40], checked[sizeof(rec->checked)], detail[sizeof(rec->detail)];
	int			n;

	iso8601_from_unix(rec->time, when, sizeof(when));
	one_line(rec->checked, checked, sizeof(checked));
	one_line(rec->detail, detail, sizeof(detail));
	n = snprintf(out, len, "pgark-status 1\nkind %s\ntime %s\nresult %s\nchecked %s\nproblems %lld\ndetail %s\n"
				 "%s%s%s", kind, when, rec->result, checked, (long long) rec->problems, detail,
				 rec->damaged[0] ? "damaged " : "", rec->damaged, rec->damaged[0] ? "\n" : "");
	if (n < 0 || (size_t) n >= len)
		return -1;
	if (rec->backup[0])
	{
		char		id[sizeof(rec->backup)];
		int			m;

		one_line(rec->backup, id, sizeof(id));
		m = snprintf(out + n, len - (size_t) n, "backup %s\nrestore_seconds %.3f\nreplay_seconds %.3f\n"
					 "wal_bytes %llu\n", id, rec->restore_seconds, rec->replay_seconds,
					 (unsigned long long) rec->wal_bytes);
		if (m < 0 || (size_t) m >= len - (size_t) n)
			return -1;
		n += m;
	}
	return n;
}

int
status_parse(const char *text, size_t len, const char *kind, status_rec *rec, pgark_err *err)
{
	char	   *buf, *line, *save = NULL;
	unsigned	seen = 0;
	int			rc = -1;

	memset(rec, 0, sizeof(*rec));
	if ((buf = malloc(len + 1)) == NULL)
		return err_set(err, PGARK_ERR_INTERNAL, 0, "out of memory");
	memcpy(buf, text, len);
	buf[len] = '\0';
	line = strtok_r(buf, "\n", &save);
	if (line == NULL || strcmp(line, "pgark-status 1") != 0)
	{
		err_set(err, PGARK_ERR_CORRUPT, 0, "%s%s is not a status record", STATUS_PREFIX, kind);
		goto done;
	}
	while ((line = strtok_r(NULL, "\n", &save)) != NULL)
	{
		char	   *sp = strchr(line, ' ');
		const char *v = sp ? sp + 1 : "";

		if (sp)
			*sp = '\0';
		/* unknown keys are later additions: ignored */
		if (strcmp(line, "kind") == 0)
		{
			if (strcmp(v, kind) != 0)
			{
				err_set(err, PGARK_ERR_CORRUPT, 0, "%s%s records \"%s\"", STATUS_PREFIX, kind, v);
				goto done;
			}
			seen |= 1;
		}
		else if (strcmp(line, "time") == 0)
		{
			struct tm	tm;
			const char *end;

			memset(&tm, 0, sizeof(tm));
			end = strptime(v, "%Y-%m-%dT%H:%M:%S", &tm);
			if (end == NULL)
				break;
			rec->time = (int64_t) timegm(&tm);
			seen |= 2;
		}
		else if (strcmp(line, "result") == 0)
		{
			snprintf(rec->result, sizeof(rec->result), "%s", v);
			seen |= 4;
		}
		else if (strcmp(line, "checked") == 0)
			snprintf(rec->checked, sizeof(rec->checked), "%s", v);
		else if (strcmp(line, "problems") == 0)
			rec->problems = strtoll(v, NULL, 10);
		else if (strcmp(line, "detail") == 0)
			snprintf(rec->detail, sizeof(rec->detail), "%s", v);
		else if (strcmp(line, "damaged") == 0)
			snprintf(rec->damaged, sizeof(rec->damaged), "%s", v);
		else if (strcmp(line, "backup") == 0)
			snprintf(rec->backup, sizeof(rec->backup), "%s", v);
		else if (strcmp(line, "restore_seconds") == 0)
			rec->restore_seconds = strtod(v, NULL);
		else if (strcmp(line, "replay_seconds") == 0)
			rec->replay_seconds = strtod(v, NULL);
		else if (strcmp(line, "wal_bytes") == 0)
			rec->wal_bytes = strtoull(v, NULL, 10);
	}
	if (seen != 7)
	{
		err_set(err, PGARK_ERR_CORRUPT, 0, "%s%s is incomplete", STATUS_PREFIX, kind);
		goto done;
	}
	rc = 0;
done:
	free(buf);
	return rc;
}

int
status_write(repo *r, const char *kind, const status_rec *rec, pgark_err *err)
{
	char		text[STATUS_MAX], name[128];
	int			n = status_format(kind, rec, text, sizeof(text));

	if (n < 0)
		return err_set(err, PGARK_ERR_INTERNAL, 0, "status record too long");
	snprintf(name, sizeof(name), "%s%s", STATUS_PREFIX, kind);
	/* replaced whole: readers see the old record or the new one */
	if (repo_put_object(r, name, text, (size_t) n, 0, err) != 0)
		return err_prefix(err, "recording %s", name);
	return 0;
}

static int
find_name(void *arg, const char *name, const store_stat *st, pgark_err *err)
{
	const char **want = arg;

	(void) st;
	(void) err;
	if (*want && strcmp(name, *want) == 0)
		*want = NULL;			/* found */
	return 0;
}

int
status_read(repo *r, const char *kind, status_rec *rec, pgark_err *err)
{
	char		name[128], text[STATUS_MAX];
	size_t		have = 0, got;
	store_reader *sr;
	obj_reader *or;
	int			rc = -1;

	snprintf(name, sizeof(name), "%s%s", STATUS_PREFIX, kind);
	{
		/* listed first: on local storage status/ itself is absent until
		 * the first record, which a get would report as damage */
		const char *want = name;

		if (store_list(r->st, name, find_name, &want, err) != 0)
			return err_prefix(err, "looking for %s", name);
		if (want != NULL)
			return err_set(err, PGARK_ERR_NOTFOUND, 0, "%s has not been recorded", name);
	}
	if ((sr = store_get(r->st, name, 0, 0, err)) == NULL)
		return -1;
	if ((or = repo_object_reader(r, store_read_source, sr, err)) == NULL)
	{
		store_reader_close(sr);
		return err_prefix(err, "reading %s", name);
	}
	for (;;)
	{
		if (have == sizeof(text))
		{
			err_set(err, PGARK_ERR_CORRUPT, 0, "%s is too large", name);
			goto done;
		}
		if (obj_reader_read(or, text + have, sizeof(text) - have, &got, err) != 0)
		{
			err_prefix(err, "reading %s", name);
			goto done;
		}
		if (got == 0)
			break;
		have += got;
	}
	rc = status_parse(text, have, kind, rec, err);
done:
	obj_reader_free(or);
	store_reader_close(sr);
	return rc;
}

/* ---- the damaged list: ids, then "+N" when N more did not fit ---- */

/* the length of the ids part of list (before " +N"), and N */
static size_t
damaged_split(const char *list, int64_t *more)
{
	size_t		len = strlen(list);
	const char *last = strrchr(list, ' ');
	const char *tok = last ? last + 1 : list;
	char	   *end;
	long long	n;

	*more = 0;
	if (tok[0] != '+' || !(tok[1] >= '1' && tok[1] <= '9'))
		return len;
	n = strtoll(tok + 1, &end, 10);
	if (*end != '\0' || n <= 0)
		return len;
	*more = (int64_t) n;
	return last ? (size_t) (last - list) : 0;
}

/* a + b for counts (both >= 0), at most INT64_MAX: a crafted or corrupt
 * record's "+N" can be anything up to that */
static int64_t
count_add(int64_t a, int64_t b)
{
	return b > INT64_MAX - a ? INT64_MAX : a + b;
}

static void
damaged_join(char *list, size_t len, size_t ids, int64_t more)
{
	list[ids] = '\0';
	if (more > 0)
		snprintf(list + ids, len - ids, "%s+%" PRId64, ids ? " " : "", more);
}

int
status_damaged_has(const char *list, const char *id)
{
	int64_t		more;
	size_t		ids = damaged_split(list, &more), n = strlen(id);

	for (const char *p = list; (p = strstr(p, id)) != NULL && p + n <= list + ids; p += n)
		if ((p == list || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0'))
			return 1;
	return 0;
}

int64_t
status_damaged_more(const char *list)
{
	int64_t		more;

	(void) damaged_split(list, &more);
	return more;
}

void
status_damaged_add(char *list, size_t len, const char *id)
{
	int64_t		more;
	size_t		ids, n = strlen(id);

	if (n == 0 || status_damaged_has(list, id))
		return;
	ids = damaged_split(list, &more);
	/* room kept for the token: " +" and 19 digits */
	if (len > STATUS_DAMAGED_RESERVE && ids + (ids ? 1 : 0) + n < len - STATUS_DAMAGED_RESERVE)
	{
		snprintf(list + ids, len - ids, "%s%s", ids ? " " : "", id);
		ids += (ids ? 1 : 0) + n;
	}
	else
		more = count_add(more, 1);
	damaged_join(list, len, ids, more);
}

void
status_damaged_add_more(char *list, size_t len, int64_t n)
{
	int64_t		more;
	size_t		ids = damaged_split(list, &more);

	if (n > 0)
		damaged_join(list, len, ids, count_add(more, n));
}

void
status_damaged_describe(const char *list, char *out, size_t len)
{
	int64_t		more;
	size_t		ids = damaged_split(list, &more);

	/* the count first: a message that cuts the list short keeps it */
	if (more > 0 && ids > 0)
		snprintf(out, len, "%" PRId64 " more not listed, besides %.*s", more, (int) ids, list);
	else if (more > 0)
		snprintf(out, len, "%" PRId64 " more not listed", more);
	else
		snprintf(out, len, "%s", list);
}
