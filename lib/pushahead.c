#include "pushahead.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "spool.h"
#include "util.h"
#include "workers.h"

#define RECORD_MAGIC "pgark push record 2"
#define HELPER_LOCK "helper.lock"
#define CLAIM_PREFIX "claim-"
#define RECORD_MAX 1024

/* The identity of a local file as the record binds it. */
static void
file_identity(const struct stat *sb, char *out, size_t outlen)
{
	snprintf(out, outlen, "%llu %llu %lld %lld.%09ld %lld.%09ld",
			 (unsigned long long) sb->st_dev, (unsigned long long) sb->st_ino,
			 (long long) sb->st_size,
			 (long long) sb->st_mtim.tv_sec, (long) sb->st_mtim.tv_nsec,
			 (long long) sb->st_ctim.tv_sec, (long) sb->st_ctim.tv_nsec);
}

static int
record_path(const char *dir, const char *name, char *out, size_t outlen)
{
	return (size_t) snprintf(out, outlen, "%s/%s", dir, name) >= outlen ? -1 : 0;
}

/* ---- records in memory (the archive library) ---- */

#define MEMO_MAX (2 * PUSH_AHEAD_MAX)

typedef struct memo_entry
{
	int			used;
	char		name[25];
	char		object[128];
	uint64_t	stored;
	int64_t		obj_mtime;
	char		ident[256];
} memo_entry;

struct push_memo
{
	pthread_mutex_t mu;			/* record_write runs on look-ahead threads */
	memo_entry	e[MEMO_MAX];
};

push_memo *
push_memo_new(pgark_err *err)
{
	push_memo  *m = calloc(1, sizeof(*m));

	if (m == NULL)
	{
		err_set(err, PGARK_ERR_INTERNAL, 0, "out of memory");
		return NULL;
	}
	pthread_mutex_init(&m->mu, NULL);
	return m;
}

void
push_memo_free(push_memo *m)
{
	if (m == NULL)
		return;
	pthread_mutex_destroy(&m->mu);
	free(m);
}

/* the entry for name, or NULL; the caller holds m->mu */
static memo_entry *
memo_find(push_memo *m, const char *name)
{
	for (int i = 0; i < MEMO_MAX; i++)
		if (m->e[i].used && strcmp(m->e[i].name, name) == 0)
			return &m->e[i];
	return NULL;
}

/* ---- records, in either place ---- */

/* Forget name's record. */
static void
record_remove(const push_records *recs, const char *name)
{
	char		path[PATH_MAX];

	if (recs->memo != NULL)
	{
		memo_entry *e;

		pthread_mutex_lock(&recs->memo->mu);
		if ((e = memo_find(recs->memo, name)) != NULL)
			e->used = 0;
		pthread_mutex_unlock(&recs->memo->mu);
	}
	else if (record_path(recs->dir, name, path, sizeof(path)) == 0)
		unlink(path);
}

/*
 * Read name's record: 0 with the object, stored size and file identity,
 * 1 if there is none or it is not a well-formed record (it is then removed).
 */
static int
record_read(const push_records *recs, const char *name, char *object, size_t objlen, uint64_t *stored,
			int64_t *obj_mtime, char *ident, size_t identlen)
{
	char		path[PATH_MAX], buf[RECORD_MAX + 1];
	char		obj[256], id[256];
	unsigned long long sz;
	long long	mt;
	int			fd;
	ssize_t		n;

	if (recs->memo != NULL)
	{
		memo_entry *e;
		int			rc = 1;

		pthread_mutex_lock(&recs->memo->mu);
		if ((e = memo_find(recs->memo, name)) != NULL && strlen(e->object) < objlen &&
			strlen(e->ident) < identlen)
		{
			snprintf(object, objlen, "%s", e->object);
			snprintf(ident, identlen, "%s", e->ident);
			*stored = e->stored;
			*obj_mtime = e->obj_mtime;
			rc = 0;
		}
		pthread_mutex_unlock(&recs->memo->mu);
		return rc;
	}
	if (record_path(recs->dir, name, path, sizeof(path)) != 0)
		return 1;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0)
		return 1;
	n = read_full(fd, buf, RECORD_MAX);
	close(fd);
	if (n <= 0 || n >= RECORD_MAX)
		goto bad;
	buf[n] = '\0';
	if (sscanf(buf, RECORD_MAGIC "\nobject %255s\nstored %llu\nmtime %lld\nfile %255[0-9 .]\n", obj, &sz, &mt,
			   id) != 4 ||
		strlen(obj) >= objlen || strlen(id) >= identlen)
		goto bad;
	snprintf(object, objlen, "%s", obj);
	snprintf(ident, identlen, "%s", id);
	*stored = sz;
	*obj_mtime = mt;
	return 0;
bad:
	unlink(path);
	return 1;
}

/* A record for name, written after its object is durable. Not fsync'd: a
 * record lost in a crash only means the segment is pushed again. */
static int
record_write(const push_records *recs, const char *name, const struct stat *sb, const wal_push_result *res,
			 int64_t obj_mtime, pgark_err *err)
{
	char		path[PATH_MAX], tmp[PATH_MAX], ident[256], text[RECORD_MAX];
	int			fd, len;

	file_identity(sb, ident, sizeof(ident));
	if (recs->memo != NULL)
	{
		memo_entry *e;

		if (strlen(name) >= sizeof(e->name) || strlen(res->object) >= sizeof(e->object))
			return err_set(err, PGARK_ERR_INTERNAL, 0, "look-ahead record for %s: name too long", name);
		pthread_mutex_lock(&recs->memo->mu);
		if ((e = memo_find(recs->memo, name)) == NULL)
			for (int i = 0; i < MEMO_MAX && e == NULL; i++)
				if (!recs->memo->e[i].used)
					e = &recs->memo->e[i];
		if (e != NULL)
		{
			e->used = 1;
			snprintf(e->name, sizeof(e->name), "%s", name);
			snprintf(e->object, sizeof(e->object), "%s", res->object);
			snprintf(e->ident, sizeof(e->ident), "%s", ident);
			e->stored = res->stored;
			e->obj_mtime = obj_mtime;
		}
		pthread_mutex_unlock(&recs->memo->mu);
		if (e == NULL)
			return err_set(err, PGARK_ERR_INTERNAL, 0, "look-ahead record for %s: no room (%d records kept)",
						   name, MEMO_MAX);
		return 0;
	}
	len = snprintf(text, sizeof(text), RECORD_MAGIC "\nobject %s\nstored %llu\nmtime %lld\nfile %s\n",
				   res->object, (unsigned long long) res->stored, (long long) obj_mtime, ident);
	if (len < 0 || (size_t) len >= sizeof(text) || record_path(recs->dir, name, path, sizeof(path)) != 0 ||
		(size_t) snprintf(tmp, sizeof(tmp), "%s/.%s.%d.tmp", recs->dir, name, (int) getpid()) >= sizeof(tmp))
		return err_set(err, PGARK_ERR_INTERNAL, 0, "look-ahead record for %s: path too long", name);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600)) < 0)
		return err_sys(err, PGARK_ERR_IO, "could not create look-ahead record %s", tmp);
	if (write_full(fd, text, (size_t) len) != 0)
	{
		err_sys(err, PGARK_ERR_IO, "could not write look-ahead record %s", tmp);
		close(fd);
		unlink(tmp);
		return -1;
	}
	if (close(fd) != 0 || rename(tmp, path) != 0)
	{
		err_sys(err, PGARK_ERR_IO, "could not write look-ahead record %s", path);
		unlink(tmp);
		return -1;
	}
	return 0;
}

/* How many more records there is room for: in memory MEMO_MAX in all; in
 * a directory, no limit of ours (a full disk fails the record's write). */
static int
records_room(const push_records *recs)
{
	int			room = 0;

	if (recs->memo == NULL)
		return INT_MAX;
	pthread_mutex_lock(&recs->memo->mu);
	for (int i = 0; i < MEMO_MAX; i++)
		room += !recs->memo->e[i].used;
	pthread_mutex_unlock(&recs->memo->mu);
	return room;
}

/* Is there a record for name (well-formed or not)? */
static int
record_exists(const push_records *recs, const char *name)
{
	char		path[PATH_MAX];
	struct stat sb;
	int			found;

	if (recs->memo != NULL)
	{
		pthread_mutex_lock(&recs->memo->mu);
		found = memo_find(recs->memo, name) != NULL;
		pthread_mutex_unlock(&recs->memo->mu);
		return found;
	}
	return record_path(recs->dir, name, path, sizeof(path)) == 0 && lstat(path, &sb) == 0;
}

/* Does the record for name match the file at path as it is now? */
static int
record_matches_file(const push_records *recs, const char *name, const char *path, char *object, size_t objlen,
					uint64_t *stored, int64_t *obj_mtime)
{
	char		rec_ident[256], now_ident[256];
	struct stat sb;

	if (record_read(recs, name, object, objlen, stored, obj_mtime, rec_ident, sizeof(rec_ident)) != 0)
		return 0;
	if (stat(path, &sb) != 0 || !S_ISREG(sb.st_mode))
		return 0;
	file_identity(&sb, now_ident, sizeof(now_ident));
	return strcmp(rec_ident, now_ident) == 0;
}

int
push_record_confirm(repo *r, const push_records *recs, const char *path, const walname *wn,
					wal_push_result *res, pgark_err *err)
{
	char		object[256];
	uint64_t	stored;
	int64_t		obj_mtime;
	store_stat	hs;

	memset(res, 0, sizeof(*res));
	walname_object(wn, res->object, sizeof(res->object));
	if (!record_exists(recs, wn->name))
		return 0;				/* nothing to remove (a helper may be writing it now) */
	if (!record_matches_file(recs, wn->name, path, object, sizeof(object), &stored, &obj_mtime) ||
		strcmp(object, res->object) != 0)
	{
		record_remove(recs, wn->name);
		return 0;
	}
	/* the record alone proves nothing: the store must still hold the object */
	if (store_head(r->st, res->object, &hs, err) != 0)
	{
		if (err->kind != PGARK_ERR_NOTFOUND)
			return -1;
		err_clear(err);
		record_remove(recs, wn->name);
		return 0;
	}
	/* the same object, not one deleted and stored again with other content
	 * of the same size (a rolled-back storage snapshot, another writer) */
	if (hs.size != stored || hs.mtime != obj_mtime)
	{
		record_remove(recs, wn->name);
		return 0;
	}
	record_remove(recs, wn->name);
	res->outcome = WAL_PUSH_STORED;
	res->bytes = r->meta.wal_seg_size;
	res->stored = stored;
	return 1;
}

/* ---- the parallel push ---- */

typedef struct ahead_ctx
{
	repo	   *r;
	const push_records *recs;
	char		waldir[PATH_MAX];
	/* with own, item 0 is the segment PostgreSQL asked for (no record; its
	 * result in res0) and 1.. the look-ahead (ahead->items[i - 1]); without,
	 * every item is one of ahead->items[i], recorded */
	int			own;
	walname		wn[PUSH_AHEAD_MAX + 1];
	/* a helper's spool directory: each item's claim file is removed there
	 * once the item is done, recorded or not */
	const char *claims;
	wal_push_result *res0;
	push_ahead_result *ahead;
	/* one store connection per thread at a time */
	pthread_mutex_t mu;
	int			nstores;
	store	   *stores[WORKERS_MAX];
	int			busy[WORKERS_MAX];
} ahead_ctx;

static store *
take_store(ahead_ctx *c, int *slot, pgark_err *err)
{
	store	   *st = NULL;

	*slot = -1;
	pthread_mutex_lock(&c->mu);
	for (int i = 0; i < c->nstores && *slot < 0; i++)
		if (!c->busy[i])
		{
			c->busy[i] = 1;
			*slot = i;
			st = c->stores[i];
		}
	pthread_mutex_unlock(&c->mu);
	if (*slot < 0)
	{
		err_set(err, PGARK_ERR_INTERNAL, 0, "no free store connection for look-ahead");
		return NULL;
	}
	if (st == NULL)
	{
		/* opened on first use, outside the lock */
		st = store_open(c->r->cfg, err);
		pthread_mutex_lock(&c->mu);
		if (st == NULL)
			c->busy[*slot] = 0;
		else
			c->stores[*slot] = st;
		pthread_mutex_unlock(&c->mu);
	}
	return st;
}

static void
give_store(ahead_ctx *c, int slot)
{
	pthread_mutex_lock(&c->mu);
	c->busy[slot] = 0;
	pthread_mutex_unlock(&c->mu);
}

/* Record look-ahead item it (its segment at path, just stored): bound to
 * the file that was read (its identity when it was opened, and still the one
 * at path) and to the object as it is stored now (size and modification
 * time). */
static void
record_item(ahead_ctx *c, push_ahead_item *it, const walname *wn, const char *path)
{
	struct stat sb;
	char		was[256], now[256];
	store_stat	hs;
	store	   *st;
	int			slot, rc;

	if (stat(path, &sb) != 0)
	{
		err_sys(&it->err, PGARK_ERR_IO, "could not stat %s", path);
		return;
	}
	file_identity(&it->res.file, was, sizeof(was));
	file_identity(&sb, now, sizeof(now));
	if (strcmp(was, now) != 0)
	{
		err_set(&it->err, PGARK_ERR_MISMATCH, 0, "%s changed while it was stored: no record", path);
		return;
	}
	if ((st = take_store(c, &slot, &it->err)) == NULL)
		return;
	rc = store_head(st, it->res.object, &hs, &it->err);
	give_store(c, slot);
	if (rc != 0)
		return;
	/* the size as stored now: for a push that found the object already
	 * there (identical), the other writer's; for one that stored it, its
	 * own, or the object changed since */
	if (it->res.outcome == WAL_PUSH_STORED && hs.size != it->res.stored)
	{
		err_set(&it->err, PGARK_ERR_MISMATCH, 0, "%s changed in the repository right after it was stored: no record",
				it->res.object);
		return;
	}
	{
		wal_push_result rec = it->res;

		rec.stored = hs.size;
		if (record_write(c->recs, wn->name, &sb, &rec, hs.mtime, &it->err) == 0)
			it->recorded = 1;
	}
}

/* Is name still .ready in waldir? (A look-ahead for one that is not is
 * pointless: PostgreSQL archived it meanwhile, and may recycle its file.) */
static int
still_ready(const char *waldir, const char *name)
{
	char		p[PATH_MAX];
	struct stat sb;

	return (size_t) snprintf(p, sizeof(p), "%s/archive_status/%s.ready", waldir, name) < sizeof(p) &&
		lstat(p, &sb) == 0;
}

static void
claim_path(const char *dir, const char *name, char *out, size_t outlen)
{
	snprintf(out, outlen, "%s/" CLAIM_PREFIX "%s", dir, name);
}

static int
push_one(void *arg, size_t i, pgark_err *err)
{
	ahead_ctx  *c = arg;
	char		path[PATH_MAX];
	int			slot = -1;
	repo		tr;
	store	   *st;
	int			own = c->own && i == 0;
	push_ahead_item *it = own ? NULL : &c->ahead->items[i - (size_t) c->own];
	wal_push_result *res = own ? c->res0 : &it->res;
	pgark_err  *e = own ? err : &it->err;
	int			rc = -1;

	if (it != NULL && !still_ready(c->waldir, c->wn[i].name))
		goto unclaim;			/* not run: nothing to report */
	if (it != NULL)
		it->ran = 1;
	if ((size_t) snprintf(path, sizeof(path), "%s/%s", c->waldir, c->wn[i].name) >= sizeof(path))
		err_set(e, PGARK_ERR_INTERNAL, 0, "path too long: %s/%s", c->waldir, c->wn[i].name);
	else if ((st = take_store(c, &slot, e)) != NULL)
	{
		/* the keyring is shared (it locks itself); the connection is this thread's */
		tr = *c->r;
		tr.st = st;
		rc = wal_push_file(&tr, path, &c->wn[i], res, e);
		give_store(c, slot);
	}
	if (own)
		return rc;
	if (rc == 0)
	{
		it->ok = 1;
		if (still_ready(c->waldir, c->wn[i].name))
			record_item(c, it, &c->wn[i], path);
		else
			err_set(&it->err, PGARK_ERR_NOTFOUND, 0, "%s is no longer .ready (archived meanwhile): no record",
					c->wn[i].name);
	}
unclaim:
	if (c->claims != NULL)
	{
		char		cp[PATH_MAX];

		claim_path(c->claims, c->wn[i].name, cp, sizeof(cp));
		unlink(cp);
	}
	return 0;
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp((const char *) a, (const char *) b);
}

/* names[0..n) as a max-heap: restore it below i */
static void
heap_down(char (*names)[41], int n, int i)
{
	for (;;)
	{
		int			l = 2 * i + 1, r = l + 1, m = i;
		char		t[41];

		if (l < n && strcmp(names[l], names[m]) > 0)
			m = l;
		if (r < n && strcmp(names[r], names[m]) > 0)
			m = r;
		if (m == i)
			return;
		memcpy(t, names[i], sizeof(t));
		memcpy(names[i], names[m], sizeof(t));
		memcpy(names[m], t, sizeof(t));
		i = m;
	}
}

/*
 * The .ready segments beside wn, sorted, into names: the max oldest (the
 * first in PostgreSQL's order) when there are more. Also removes records
 * (and leftover temporary records) whose segment is no longer .ready; with
 * more than max .ready, only those up to the last name listed (beyond it,
 * what cannot be judged is kept).
 */
static int
list_ready(const char *waldir, const push_records *recs, char (*names)[41], int max, int *count, pgark_err *err)
{
	char		status[PATH_MAX];
	DIR		   *d;
	struct dirent *de;
	int			n = 0, partial = 0;
	struct timespec scan_start;

	*count = 0;
	/* file times come from a coarse clock, up to a tick behind this one */
	clock_gettime(CLOCK_REALTIME, &scan_start);
	scan_start.tv_nsec -= 20 * 1000 * 1000;
	if (scan_start.tv_nsec < 0)
	{
		scan_start.tv_nsec += 1000 * 1000 * 1000;
		scan_start.tv_sec--;
	}
	if ((size_t) snprintf(status, sizeof(status), "%s/archive_status", waldir) >= sizeof(status))
		return err_set(err, PGARK_ERR_INTERNAL, 0, "path too long: %s/archive_status", waldir);
	if ((d = opendir(status)) == NULL)
		return err_sys(err, PGARK_ERR_IO, "could not open %s", status);
	while ((de = readdir(d)) != NULL)
	{
		size_t		len = strlen(de->d_name);

		if (len != 24 + 6 || strcmp(de->d_name + 24, ".ready") != 0)
			continue;
		if (n < max)
		{
			memcpy(names[n], de->d_name, 24);
			names[n][24] = '\0';
			if (++n == max)
				for (int i = max / 2 - 1; i >= 0; i--)
					heap_down(names, n, i);
		}
		else
		{
			/* full: keep the max smallest (the heap's top is the largest) */
			partial = 1;
			if (strncmp(de->d_name, names[0], 24) < 0)
			{
				memcpy(names[0], de->d_name, 24);
				names[0][24] = '\0';
				heap_down(names, n, 0);
			}
		}
	}
	closedir(d);
	qsort(names, (size_t) n, sizeof(names[0]), cmp_str);
	*count = n;

	/* records of segments PostgreSQL has marked .done (or removed) */
	if (recs->memo != NULL)
	{
		pthread_mutex_lock(&recs->memo->mu);
		for (int i = 0; i < MEMO_MAX; i++)
			if (recs->memo->e[i].used && (!partial || strcmp(recs->memo->e[i].name, names[n - 1]) <= 0) &&
				bsearch(recs->memo->e[i].name, names, (size_t) n, sizeof(names[0]), cmp_str) == NULL)
				recs->memo->e[i].used = 0;
		pthread_mutex_unlock(&recs->memo->mu);
	}
	else if ((d = opendir(recs->dir)) != NULL)
	{
		time_t		now = time(NULL);

		while ((de = readdir(d)) != NULL)
		{
			char		p[PATH_MAX];
			struct stat sb;
			char		key[41];

			if (de->d_name[0] == '.' && strstr(de->d_name, ".tmp") != NULL)
			{
				/* a killed wal-push's half-written record */
				if ((size_t) snprintf(p, sizeof(p), "%s/%s", recs->dir, de->d_name) < sizeof(p) &&
					lstat(p, &sb) == 0 && now - sb.st_mtime > 60)
					unlink(p);
				continue;
			}
			if (strlen(de->d_name) != 24)
				continue;
			memcpy(key, de->d_name, 25);
			if (bsearch(key, names, (size_t) n, sizeof(names[0]), cmp_str) != NULL)
				continue;
			if (partial && strcmp(key, names[n - 1]) > 0)
				continue;		/* beyond the list: cannot be judged */
			/* a record written since the scan began (20 ms of margin) may
			 * be of a segment that became .ready after it: kept */
			if ((size_t) snprintf(p, sizeof(p), "%s/%s", recs->dir, de->d_name) < sizeof(p) &&
				lstat(p, &sb) == 0 &&
				(sb.st_mtim.tv_sec < scan_start.tv_sec ||
				 (sb.st_mtim.tv_sec == scan_start.tv_sec && sb.st_mtim.tv_nsec < scan_start.tv_nsec)))
				unlink(p);
		}
		closedir(d);
	}
	return 0;
}

#define READY_SCAN_MAX 4096

int
push_ahead_threads(const pgark_config *cfg)
{
	int			n = cfg->s3_transfers;

	if (strcmp(cfg->repo_type, "local") == 0)
	{
		int			local = cfg->workers > 0 ? cfg->workers : 2 * workers_default();

		if (local > 4)
			local = 4;			/* each holds about 4 MiB; the CPUs are shared */
		if (n < local)
			n = local;
	}
	return n;
}

/*
 * Look-ahead candidates into c->wn[first..] and ahead->items[..].name: the
 * .ready segments in PostgreSQL's order, other than exclude and after floor
 * (when given), without a record that still matches their file; at most n.
 * *more: there are further ones. Returns how many. A failure to list them
 * only means no look-ahead this time.
 */
static int
select_candidates(ahead_ctx *c, char (*ready)[41], const char *exclude, const char *floor, int first, int n,
				  int *more)
{
	int			nready = 0, k = 0;
	pgark_err	lerr;

	*more = 0;
	err_clear(&lerr);
	if (n <= 0 || list_ready(c->waldir, c->recs, ready, READY_SCAN_MAX, &nready, &lerr) != 0)
		return 0;
	/* no more than can be recorded (records of segments no longer .ready
	 * were just dropped): a segment stored without a record is only stored
	 * again by its own call */
	if (n > records_room(c->recs))
		n = records_room(c->recs);
	for (int i = 0; i < nready; i++)
	{
		char		p[PATH_MAX], obj[256];
		uint64_t	stored;
		int64_t		mt;
		walname		cand;

		if ((exclude != NULL && strcmp(ready[i], exclude) == 0) ||
			(floor != NULL && strcmp(ready[i], floor) <= 0) ||
			walname_parse(ready[i], &cand, &lerr) != 0 || cand.kind != WAL_SEGMENT)
		{
			err_clear(&lerr);
			continue;
		}
		if ((size_t) snprintf(p, sizeof(p), "%s/%s", c->waldir, ready[i]) >= sizeof(p) ||
			access(p, F_OK) != 0)
			continue;
		if (record_matches_file(c->recs, ready[i], p, obj, sizeof(obj), &stored, &mt))
			continue;
		if (k == n)
		{
			*more = 1;
			break;
		}
		c->wn[first + k] = cand;
		snprintf(c->ahead->items[k].name, sizeof(c->ahead->items[0].name), "%s", ready[i]);
		k++;
	}
	return k;
}

static ahead_ctx *
ctx_new(repo *r, const push_records *recs, const char *path, push_ahead_result *ahead, char (**ready)[41],
		pgark_err *err)
{
	ahead_ctx  *c = calloc(1, sizeof(*c));

	*ready = NULL;
	if (c == NULL || (*ready = calloc(READY_SCAN_MAX, sizeof(**ready))) == NULL)
	{
		free(c);
		err_set(err, PGARK_ERR_INTERNAL, 0, "out of memory");
		return NULL;
	}
	c->r = r;
	c->recs = recs;
	c->ahead = ahead;
	path_dirname(path, c->waldir, sizeof(c->waldir));
	pthread_mutex_init(&c->mu, NULL);
	return c;
}

static void
ctx_free(ahead_ctx *c, char (*ready)[41])
{
	if (c == NULL)
		return;
	for (int i = 0; i < c->nstores; i++)
		store_free(c->stores[i]);
	pthread_mutex_destroy(&c->mu);
	free(ready);
	free(c);
}

/* Push c's nitems items on up to threads threads (with store connections
 * of their own, opened on first use and kept in c: a helper's rounds reuse
 * them; ctx_free closes them). */
static int
run_items(ahead_ctx *c, int nitems, int threads, pgark_err *err)
{
	workers    *w;
	obj_params	params;
	int			rc;
	int			want = threads < nitems ? threads : nitems;

	/* every connection is free again between rounds (workers_for joined) */
	if (c->nstores < want)
		c->nstores = want;
	/* load the data key once, before the threads share the keyring's store */
	if (repo_object_params(c->r, c->r->meta.wal_seg_size, &params, err) != 0)
		return -1;
	if ((w = workers_new(want, err)) == NULL)
		return -1;
	rc = workers_for(w, (size_t) nitems, push_one, c, err);
	workers_free(w);
	return rc;
}

static int
clamp_threads(int threads)
{
	return threads < 1 ? 1 : threads > WORKERS_MAX ? WORKERS_MAX : threads;
}

int
wal_push_ahead(repo *r, const push_records *recs, const char *path, const walname *wn, int n, int threads,
			   workers *wk, push_ahead_started_fn started, void *started_arg, wal_push_result *res,
			   push_ahead_result *ahead, pgark_err *err)
{
	ahead_ctx  *c;
	char		(*ready)[41];
	int			nitems;
	int			rc = -1;

	memset(ahead, 0, sizeof(*ahead));
	memset(res, 0, sizeof(*res));
	if (n > PUSH_AHEAD_MAX)
		n = PUSH_AHEAD_MAX;
	if ((c = ctx_new(r, recs, path, ahead, &ready, err)) == NULL)
		return -1;
	c->own = 1;
	c->res0 = res;
	c->wn[0] = *wn;
	ahead->nitems = select_candidates(c, ready, wn->name, NULL, 1, n, &ahead->more);
	nitems = ahead->nitems + 1;
	if (started != NULL)
		started(started_arg, ahead);
	if (nitems == 1)
		/* nothing to look ahead for: the one segment's frames in parallel */
		rc = wk != NULL ? wal_push_file_wk(r, path, wn, wk, res, err) : wal_push_one(r, path, wn, res, err);
	else
		rc = run_items(c, nitems, clamp_threads(threads), err);
	ctx_free(c, ready);
	return rc;
}

int
push_ahead_describe(const push_ahead_item *it, push_ahead_report *out)
{
	memset(out, 0, sizeof(*out));
	if (!it->ran)
		return 0;
	out->object = it->res.object[0] ? it->res.object : it->name;
	out->bytes = it->res.bytes;
	if (it->ok)
	{
		out->result = it->res.outcome == WAL_PUSH_STORED ? "ok" : "exists";
		out->detail = it->recorded ? NULL : it->err.msg;
		out->stored = it->res.stored;
	}
	else
	{
		out->result = err_kind_name(it->err.kind);
		out->detail = it->err.msg;
	}
	out->warn = !it->ok || !it->recorded;
	return 1;
}

/* ---- the helper ---- */

int
push_helper_running(const char *dir)
{
	return spool_lock_held(dir, HELPER_LOCK);
}

#define HELPER_ROUNDS_MAX 64

int
push_helper_lock(const char *dir, int *fd, pgark_err *err)
{
	int			rc = 1;

	/* a call probing the lock holds it shared for a moment: try again */
	for (int i = 0; i < 5 && rc == 1; i++)
	{
		if (i > 0)
			usleep(2000);
		rc = spool_lock_take(dir, HELPER_LOCK, fd, err);
	}
	return rc;
}

int
push_helper_run(repo *r, const char *dir, const char *path, const char *floor, int n, int threads,
				push_helper_report_fn report, void *arg, pgark_err *err)
{
	push_records recs = {.dir = dir};
	push_ahead_result *ahead = NULL;
	ahead_ctx  *c = NULL;
	char		(*ready)[41] = NULL;
	char		last[41];
	int			rc;

	/* claims left by a helper that died: ours now */
	{
		DIR		   *d = opendir(dir);
		struct dirent *de;

		while (d != NULL && (de = readdir(d)) != NULL)
		{
			char		p[PATH_MAX];

			if (strncmp(de->d_name, CLAIM_PREFIX, strlen(CLAIM_PREFIX)) == 0 &&
				(size_t) snprintf(p, sizeof(p), "%s/%s", dir, de->d_name) < sizeof(p))
				unlink(p);
		}
		if (d != NULL)
			closedir(d);
	}
	if (n > PUSH_AHEAD_MAX)
		n = PUSH_AHEAD_MAX;
	rc = -1;
	if ((ahead = malloc(sizeof(*ahead))) == NULL)
	{
		err_set(err, PGARK_ERR_INTERNAL, 0, "out of memory");
		goto done;
	}
	memset(ahead, 0, sizeof(*ahead));
	if ((c = ctx_new(r, &recs, path, ahead, &ready, err)) == NULL)
		goto done;
	c->claims = dir;
	snprintf(last, sizeof(last), "%s", floor);
	for (int round = 0; round < HELPER_ROUNDS_MAX; round++)
	{
		int			more, k, ok;

		memset(ahead, 0, sizeof(*ahead));
		if ((k = select_candidates(c, ready, NULL, last, 0, n, &more)) == 0)
			break;
		ahead->nitems = k;
		/* claimed before any is pushed: a call for one of them waits for
		 * its record instead of pushing it too */
		for (int i = 0; i < k; i++)
		{
			char		cp[PATH_MAX];
			int			fd;

			claim_path(dir, ahead->items[i].name, cp, sizeof(cp));
			if ((fd = open(cp, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600)) >= 0)
				close(fd);
		}
		if (run_items(c, k, clamp_threads(threads), err) != 0)
			goto done;
		ok = 0;
		for (int i = 0; i < k; i++)
		{
			report(arg, &ahead->items[i]);
			ok += ahead->items[i].ok;
		}
		/* not one stored (the repository unreachable, full, refusing):
		 * the calls themselves are told why, without waiting for us */
		if (ok == 0)
			break;
		snprintf(last, sizeof(last), "%s", ahead->items[k - 1].name);
	}
	rc = 0;
done:
	ctx_free(c, ready);
	free(ahead);
	return rc;
}

int
push_wait_helper(repo *r, const char *dir, const char *path, const walname *wn, double max_ms,
				 wal_push_result *res, pgark_err *err)
{
	push_records recs = {.dir = dir};
	char		cp[PATH_MAX];
	struct stat sb;
	double		t0 = now_ms();

	claim_path(dir, wn->name, cp, sizeof(cp));
	for (int i = 0;; i++)
	{
		int			c = push_record_confirm(r, &recs, path, wn, res, err);
		double		waited = now_ms() - t0;

		if (c != 0)
			return c;
		if (lstat(cp, &sb) != 0)
			/* not claimed, or done: its record (if any) was written before */
			return push_record_confirm(r, &recs, path, wn, res, err);
		if ((i % 10 == 0 && !push_helper_running(dir)) || waited > max_ms)
			return 0;
		/* a segment takes the helper some 10-50 ms: poll at 1 ms at first,
		 * then less often */
		usleep(waited < 200 ? 1000 : 10000);
	}
}
