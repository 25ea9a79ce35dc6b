/*
 * expire.c — see expire.h.
 */
#include "expire.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "inventory.h"
#include "manifest.h"
#include "pack.h"
#include "util.h"
#include "wal.h"

#define OWNER_MAX 1024
#define REMOVE_BATCH 1000

/* ------------------------------------------------------------ owners */

/* A process's start time in clock ticks since boot (field 22 of
 * /proc/PID/stat), 0 if unknown: with the pid, it names one process even
 * after the pid is reused. */
static unsigned long long
proc_start(long pid)
{
	char		path[64], buf[1024];
	FILE	   *f;
	size_t		n;
	char	   *p;
	unsigned long long v = 0;

	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	if ((f = fopen(path, "re")) == NULL)
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* the command name may hold spaces and ')': fields follow the last ')' */
	if ((p = strrchr(buf, ')')) == NULL)
		return 0;
	p++;
	for (int field = 3; field < 22 && p != NULL; field++)
		p = strchr(p + 1, ' ');
	if (p == NULL || sscanf(p + 1, "%llu", &v) != 1)
		return 0;
	return v;
}

static void
hostname(char *out, size_t len)
{
	if (gethostname(out, len) != 0)
		snprintf(out, len, "unknown");
	out[len - 1] = '\0';
	for (char *p = out; *p; p++)
		if (*p < 0x21 || *p > 0x7e)
			*p = '_';
}

/* "<magic>\nhost H\npid P\nstart S\ntime T\n" for this process */
static int
owner_text(const char *magic, char *out, size_t len)
{
	char		host[256], now[32];
	long		pid = (long) getpid();

	hostname(host, sizeof(host));
	iso8601_now(now, sizeof(now));
	return snprintf(out, len, "%s\nhost %s\npid %ld\nstart %llu\ntime %s\n", magic, host, pid,
					proc_start(pid), now);
}

/*
 * Is the owner that wrote text (stored at mtime) still there? On this host:
 * while its process runs (the pid with the same start time); from another
 * host: while it was written within EXPIRE_STALE_AFTER. who: "host H pid P
 * since T" for messages.
 */
static int
owner_live(const char *text, int64_t mtime, int64_t now, char *who, size_t wholen)
{
	char		host[256] = "", me[256], since[64] = "?";
	long		pid = 0;
	unsigned long long start = 0;
	const char *p;

	if ((p = strstr(text, "\nhost ")) != NULL)
		sscanf(p, "\nhost %255s", host);
	if ((p = strstr(text, "\npid ")) != NULL)
		sscanf(p, "\npid %ld", &pid);
	if ((p = strstr(text, "\nstart ")) != NULL)
		sscanf(p, "\nstart %llu", &start);
	if ((p = strstr(text, "\ntime ")) != NULL)
		sscanf(p, "\ntime %63s", since);
	snprintf(who, wholen, "host %s, pid %ld, since %s", host[0] ? host : "?", pid, since);
	hostname(me, sizeof(me));
	if (host[0] != '\0' && strcmp(host, me) == 0 && pid > 0)
	{
		if (kill((pid_t) pid, 0) != 0 && errno == ESRCH)
			return 0;
		/* the pid runs: the same process only if it started when the
		 * owner did (0: unknown, taken as the same) */
		return start == 0 || proc_start(pid) == 0 || proc_start(pid) == start;
	}
	return now - mtime < EXPIRE_STALE_AFTER;
}

/* ------------------------------------------------------------ markers, lock */

static void
marker_name(const char *backup_id, char *out, size_t len)
{
	snprintf(out, len, "base/%s/running", backup_id);
}

int
backup_marker_put(repo *r, const char *backup_id, pgark_err *err)
{
	char		name[128], text[OWNER_MAX];
	int			n = owner_text("pgark-running 1", text, sizeof(text));

	marker_name(backup_id, name, sizeof(name));
	if (repo_put_object(r, name, text, (size_t) n, 0, err) != 0)
		return err_prefix(err, "writing %s (which keeps repo-expire from removing this backup's packs)", name);
	return 0;
}

int
backup_marker_remove(repo *r, const char *backup_id, pgark_err *err)
{
	char		name[128];

	marker_name(backup_id, name, sizeof(name));
	if (store_remove(r->st, name, err) != 0)
		return err_prefix(err, "removing %s", name);
	return 0;
}

int
expire_lock(repo *r, pgark_err *err)
{
	char		text[OWNER_MAX];
	int			n = owner_text("pgark-lock 1", text, sizeof(text));

	for (int attempt = 0; attempt < 3; attempt++)
	{
		char	   *held = NULL;
		size_t		len;
		store_stat	st;
		char		who[512];
		int			live;

		if (repo_put_object(r, EXPIRE_LOCK_NAME, text, (size_t) n, STORE_NO_OVERWRITE, err) == 0)
			return 0;
		if (err->kind != PGARK_ERR_EXISTS)
			return err_prefix(err, "taking the expire lock %s", EXPIRE_LOCK_NAME);
		err_clear(err);
		if (store_head(r->st, EXPIRE_LOCK_NAME, &st, err) != 0 ||
			repo_get_object(r, EXPIRE_LOCK_NAME, OWNER_MAX, &held, &len, err) != 0)
		{
			if (err->kind == PGARK_ERR_NOTFOUND)
			{
				err_clear(err);
				continue;		/* released meanwhile */
			}
			return err_prefix(err, "reading the expire lock %s", EXPIRE_LOCK_NAME);
		}
		live = owner_live(held, st.mtime, (int64_t) time(NULL), who, sizeof(who));
		free(held);
		if (live)
			return err_set(err, PGARK_ERR_CONFLICT, 0,
						   "another repo-expire is running on %s (%s holds %s); nothing was removed",
						   r->st->where, who, EXPIRE_LOCK_NAME);
		/* its holder is gone: take it over */
		if (store_remove(r->st, EXPIRE_LOCK_NAME, err) != 0)
			return err_prefix(err, "removing the stale expire lock %s (%s)", EXPIRE_LOCK_NAME, who);
	}
	return err_set(err, PGARK_ERR_CONFLICT, 0, "the expire lock %s on %s changes hands too often: "
				   "another repo-expire is starting", EXPIRE_LOCK_NAME, r->st->where);
}

int
expire_lock_refresh(repo *r, pgark_err *err)
{
	char		text[OWNER_MAX];
	int			n = owner_text("pgark-lock 1", text, sizeof(text));

	if (repo_put_object(r, EXPIRE_LOCK_NAME, text, (size_t) n, 0, err) != 0)
		return err_prefix(err, "refreshing the expire lock %s", EXPIRE_LOCK_NAME);
	return 0;
}

int
expire_unlock(repo *r, pgark_err *err)
{
	if (store_remove(r->st, EXPIRE_LOCK_NAME, err) != 0)
		return err_prefix(err, "removing the expire lock %s", EXPIRE_LOCK_NAME);
	return 0;
}

/* ------------------------------------------------------------ listings */

typedef struct name_list
{
	char	  **names;
	int64_t    *mtimes;
	uint64_t   *sizes;
	size_t		n, cap;
} name_list;

static int
names_add(void *arg, const char *name, const store_stat *st, pgark_err *err)
{
	name_list  *l = arg;

	if (l->n == l->cap)
	{
		size_t		cap = l->cap ? l->cap * 2 : 256;
		char	  **a = realloc(l->names, cap * sizeof(*a));
		int64_t    *m;
		uint64_t   *s;

		if (a != NULL)
			l->names = a;
		m = realloc(l->mtimes, cap * sizeof(*m));
		if (m != NULL)
			l->mtimes = m;
		s = realloc(l->sizes, cap * sizeof(*s));
		if (s != NULL)
			l->sizes = s;
		if (a == NULL || m == NULL || s == NULL)
			return err_set(err, PGARK_ERR_INTERNAL, 0, "out of memory listing the repository");
		l->cap = cap;
	}
	if ((l->names[l->n] = strdup(name)) == NULL)
		return err_set(err, PGARK_ERR_INTERNAL, 0, "out of memory listing the repository");
	l->mtimes[l->n] = st->mtime;
	l->sizes[l->n] = st->size;
	l->n++;
	return 0;
}

static void
names_free(name_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->names[i]);
	free(l->names);
	free(l->mtimes);
	free(l->sizes);
	memset(l, 0, sizeof(*l));
}

static int
list_names(repo *r, const char *prefix, name_list *l, pgark_err *err)
{
	memset(l, 0, sizeof(*l));
	if (store_list(r->st, prefix, names_add, l, err) != 0)
	{
		names_free(l);
		return err_prefix(err, "listing %s in %s", prefix, r->st->where);
	}
	return 0;
}

/* Remove names[0..n-1] in batches (nothing in a dry run). */
static int
remove_names(repo *r, const expire_opts *o, char **names, size_t n, pgark_err *err)
{
	if (o->dry_run)
		return 0;
	for (size_t i = 0; i < n; i += REMOVE_BATCH)
	{
		size_t		k = n - i < REMOVE_BATCH ? n - i : REMOVE_BATCH;

		if (store_remove_many(r->st, (const char *const *) names + i, k, err) != 0)
			return err_prefix(err, "removing %s and others", names[i]);
	}
	return 0;
}

/* "base/<id>/<leaf>": copies id, returns the leaf, or NULL */
static const char *
base_entry(const char *name, char *id, size_t idlen)
{
	const char *p = name + 5, *slash;

	if (strncmp(name, "base/", 5) != 0 || (slash = strchr(p, '/')) == NULL || (size_t) (slash - p) >= idlen)
		return NULL;
	memcpy(id, p, (size_t) (slash - p));
	id[slash - p] = '\0';
	return slash + 1;
}

/* ------------------------------------------------------------ backups */

static int
remove_backup(repo *r, const expire_opts *o, const char *id, const name_list *base, pgark_err *err)
{
	char		name[128];
	char	  **rest;
	size_t		nrest = 0;
	store_stat	st;
	int			rc;

	if (o->dry_run)
		return 0;
	/* pinned since the policy was applied: keep it */
	snprintf(name, sizeof(name), "base/%s/pin", id);
	if (store_head(r->st, name, &st, err) == 0)
		return 1;
	if (err->kind != PGARK_ERR_NOTFOUND)
		return err_prefix(err, "looking for the pin of backup %s", id);
	err_clear(err);
	/* the manifest first: from then on the backup does not exist */
	snprintf(name, sizeof(name), "base/%s/manifest", id);
	if (store_remove(r->st, name, err) != 0)
		return err_prefix(err, "removing %s", name);
	if ((rest = calloc(base->n + 1, sizeof(*rest))) == NULL)
		return err_set(err, PGARK_ERR_INTERNAL, 0, "out of memory");
	for (size_t i = 0; i < base->n; i++)
	{
		char		bid[64];
		const char *leaf = base_entry(base->names[i], bid, sizeof(bid));

		if (leaf != NULL && strcmp(bid, id) == 0 && strcmp(leaf, "manifest") != 0)
			rest[nrest++] = base->names[i];
	}
	rc = remove_names(r, o, rest, nrest, err);
	free(rest);
	return rc;
}

/* ------------------------------------------------------------ WAL */

typedef struct seg_span
{
	uint64_t	first, last;
} seg_span;

static int
wal_sweep(repo *r, const expire_opts *o, const repo_inventory *inv, const ret_backup *rb, size_t wal_from,
		  expire_result *res, pgark_err *err)
{
	name_list	wal;
	seg_span   *keep = NULL;
	size_t		nkeep = 0;
	uint64_t	from;
	walname		wn;
	char	  **doomed = NULL;
	size_t		ndoomed = 0;
	int			rc = -1;

	if (wal_from >= inv->nbackups)
		return 0;				/* no usable backup to measure from: keep all */
	if (walname_parse(inv->backups[wal_from].start_wal, &wn, err) != 0)
		return err_prefix(err, "backup %s", inv->backups[wal_from].id);
	from = walname_segno(&wn, inv->seg_size);
	snprintf(res->wal_from, sizeof(res->wal_from), "%s", inv->backups[wal_from].start_wal);

	/* what each kept backup needs to be consistent: its start to its stop */
	if ((keep = calloc(inv->nbackups + 1, sizeof(*keep))) == NULL)
		return err_set(err, PGARK_ERR_INTERNAL, 0, "out of memory");
	for (size_t i = 0; i < inv->nbackups; i++)
	{
		walname		s, e;
		pgark_err	ignore;

		if (!rb[i].keep)
			continue;
		if (walname_parse(inv->backups[i].start_wal, &s, &ignore) != 0 ||
			walname_parse(inv->backups[i].stop_wal, &e, &ignore) != 0)
		{
			if (inv->backups[i].status != INV_UNREADABLE)
			{
				free(keep);
				return err_set(err, PGARK_ERR_CORRUPT, 0, "backup %s names no valid start or stop segment",
							   inv->backups[i].id);
			}
			/* unreadable: its WAL is unknown, so keep all WAL */
			free(keep);
			snprintf(res->wal_from, sizeof(res->wal_from), "%s", "");
			return 0;
		}
		keep[nkeep].first = walname_segno(&s, inv->seg_size);
		keep[nkeep].last = walname_segno(&e, inv->seg_size);
		nkeep++;
	}

	/* the record first: verify and repo-list must know, from the first
	 * segment removed on, that the gaps before it are retention's */
	if (from > inv->wal_retained_from && !o->dry_run)
	{
		char		text[256], now[40];
		int			n;

		iso8601_now(now, sizeof(now));
		n = snprintf(text, sizeof(text), "pgark-status 1\nkind retention\ntime %s\nresult ok\nwal_from %s\n",
					 now, inv->backups[wal_from].start_wal);
		if (repo_put_object(r, RETENTION_RECORD, text, (size_t) n, 0, err) != 0)
		{
			free(keep);
			return err_prefix(err, "writing %s", RETENTION_RECORD);
		}
	}
	if (from < inv->wal_retained_from)
		from = inv->wal_retained_from;	/* what is gone stays gone */
	if (list_names(r, "wal/", &wal, err) != 0)
	{
		free(keep);
		return -1;
	}
	if ((doomed = calloc(wal.n + 1, sizeof(*doomed))) == NULL)
	{
		err_set(err, PGARK_ERR_INTERNAL, 0, "out of memory");
		goto done;
	}
	for (size_t i = 0; i < wal.n; i++)
	{
		pgark_err	ignore;
		uint64_t	seg;
		int			needed = 0;

		if (walname_parse(path_basename(wal.names[i]), &wn, &ignore) != 0 || wn.kind == WAL_HISTORY)
			continue;			/* history files are small and always kept */
		seg = walname_segno(&wn, inv->seg_size);
		if (seg >= from)
			needed = 1;
		for (size_t k = 0; k < nkeep && !needed; k++)
			if (seg >= keep[k].first && seg <= keep[k].last)
				needed = 1;
		if (needed)
		{
			res->wal_kept++;
			continue;
		}
		doomed[ndoomed++] = wal.names[i];
		res->wal_removed++;
		res->wal_bytes_removed += wal.sizes[i];
		if (o->report)
			o->report(o->arg, EXP_WAL, wal.names[i], 0, "older than every kept backup and the window");
	}
	rc = remove_names(r, o, doomed, ndoomed, err);
done:
	free(doomed);
	free(keep);
	names_free(&wal);
	return rc;
}

/* ------------------------------------------------------------ packs */

typedef struct pack_ref
{
	uint8_t		id[PACK_ID_LEN];
} pack_ref;

static int
cmp_pack(const void *a, const void *b)
{
	return memcmp(a, b, PACK_ID_LEN);
}

/* "packs/xx/<32 hex>" or the same + ".idx": the pack id, else -1 */
static int
pack_entry(const char *name, uint8_t id[PACK_ID_LEN])
{
	size_t		len = strlen(name);

	if (strncmp(name, "packs/", 6) != 0 || (len != 6 + 3 + 32 && len != 6 + 3 + 32 + 4) || name[8] != '/' ||
		(len > 41 && strcmp(name + 41, ".idx") != 0) || strncmp(name + 6, name + 9, 2) != 0)
		return -1;
	{
		char		hex[33];

		memcpy(hex, name + 9, 32);
		hex[32] = '\0';
		return hex_decode(hex, id, PACK_ID_LEN);
	}
}

static int
is_expired(const char *id, const ret_backup *rb, const repo_inventory *inv)
{
	for (size_t i = 0; i < inv->nbackups; i++)
		if (!rb[i].keep && strcmp(inv->backups[i].id, id) == 0)
			return 1;
	return 0;
}

static int
skip_sweep(expire_result *res, const char *why)
{
	res->sweep_skipped = 1;
	snprintf(res->sweep_note, sizeof(res->sweep_note), "%s", why);
	return 0;
}

static int
pack_sweep(repo *r, const expire_opts *o, const repo_inventory *inv, const ret_backup *rb,
		   expire_result *res, pgark_err *err)
{
	name_list	packs, base;
	pack_ref   *refs = NULL;
	size_t		nrefs = 0, caprefs = 0;
	char	  **doomed = NULL, **stale = NULL;
	size_t		ndoomed = 0, nstale = 0;
	int			rc = -1;

	memset(&base, 0, sizeof(base));
	/* the packs first, base/ after: see expire.h */
	if (list_names(r, "packs/", &packs, err) != 0)
		return -1;
	if (list_names(r, "base/", &base, err) != 0)
		goto done;
	if ((stale = calloc(base.n + 1, sizeof(*stale))) == NULL ||
		(doomed = calloc(packs.n + 1, sizeof(*doomed))) == NULL)
	{
		err_set(err, PGARK_ERR_INTERNAL, 0, "out of memory");
		goto done;
	}

	/* running backups */
	for (size_t i = 0; i < base.n; i++)
	{
		char		id[64], mf[128], *text = NULL, who[512], why[700];
		const char *leaf = base_entry(base.names[i], id, sizeof(id));
		size_t		len;
		int			finished = 0;

		if (leaf == NULL || strcmp(leaf, "running") != 0)
			continue;
		snprintf(mf, sizeof(mf), "base/%s/manifest", id);
		for (size_t k = 0; k < base.n; k++)
			if (strcmp(base.names[k], mf) == 0)
				finished = 1;
		if (finished)
		{
			stale[nstale++] = base.names[i];	/* its backup is complete */
			continue;
		}
		if (repo_get_object(r, base.names[i], OWNER_MAX, &text, &len, err) != 0)
		{
			if (err->kind != PGARK_ERR_NOTFOUND)
				goto done;
			err_clear(err);		/* it finished meanwhile */
			continue;
		}
		if (owner_live(text, base.mtimes[i], o->now, who, sizeof(who)))
		{
			free(text);
			snprintf(why, sizeof(why), "backup %s is running (%.500s): packs are swept by a later run", id, who);
			rc = skip_sweep(res, why);
			goto done;
		}
		free(text);
		stale[nstale++] = base.names[i];
		if (o->report)
			o->report(o->arg, EXP_MARKER, base.names[i], 0, "its backup died before finishing");
	}

	/* what every remaining manifest refers to */
	for (size_t i = 0; i < base.n; i++)
	{
		char		id[64], why[900];
		const char *leaf = base_entry(base.names[i], id, sizeof(id));
		mf_head		h;
		mf_reader  *rd;
		mf_entry   *e;
		int			more;

		if (leaf == NULL || strcmp(leaf, "manifest") != 0 || is_expired(id, rb, inv))
			continue;
		memset(&h, 0, sizeof(h));
		more = -1;
		if ((rd = mf_open(r, id, &h, err)) != NULL)
		{
			mf_head_free(&h);
			while ((more = mf_next(rd, &e, err)) == 1)
				;
		}
		if (more < 0)
		{
			mf_close(rd);
			if (err->kind == PGARK_ERR_TRANSIENT || err->kind == PGARK_ERR_KEY || err->kind == PGARK_ERR_INTERNAL)
				goto done;
			snprintf(why, sizeof(why), "the manifest of backup %s cannot be read (%.700s): what it refers "
					 "to is unknown", id, err->msg);
			err_clear(err);
			rc = skip_sweep(res, why);
			goto done;
		}
		for (size_t k = 0; k < mf_npacks(rd); k++)
		{
			if (nrefs == caprefs)
			{
				size_t		cap = caprefs ? caprefs * 2 : 1024;
				pack_ref   *n = realloc(refs, cap * sizeof(*n));

				if (n == NULL)
				{
					mf_close(rd);
					err_set(err, PGARK_ERR_INTERNAL, 0, "out of memory");
					goto done;
				}
				refs = n;
				caprefs = cap;
			}
			memcpy(refs[nrefs++].id, mf_pack_id(rd, k), PACK_ID_LEN);
		}
		mf_close(rd);
	}
	if (nrefs > 1)
		qsort(refs, nrefs, sizeof(*refs), cmp_pack);

	for (size_t i = 0; i < packs.n; i++)
	{
		pack_ref	p = {{0}};
		int			is_idx = strlen(packs.names[i]) > 41;

		if (pack_entry(packs.names[i], p.id) != 0)
			continue;			/* not ours: left alone */
		if (nrefs > 0 && bsearch(&p, refs, nrefs, sizeof(*refs), cmp_pack) != NULL)
		{
			if (!is_idx)
				res->packs_kept++;
			continue;
		}
		doomed[ndoomed++] = packs.names[i];
		res->pack_bytes_removed += packs.sizes[i];
		if (!is_idx)
			res->packs_removed++;
		if (o->report)
			o->report(o->arg, EXP_PACK, packs.names[i], 0, "no backup refers to it");
	}
	if (remove_names(r, o, doomed, ndoomed, err) != 0 || remove_names(r, o, stale, nstale, err) != 0)
		goto done;
	res->markers_removed = nstale;
	rc = 0;
done:
	free(refs);
	free(doomed);
	free(stale);
	names_free(&packs);
	names_free(&base);
	return rc;
}

/* ------------------------------------------------------------ all */

int
repo_expire(repo *r, const expire_opts *o, expire_result *res, pgark_err *err)
{
	repo_inventory inv;
	ret_backup *rb = NULL;
	size_t		wal_from;
	name_list	base;
	int			rc = -1;

	memset(res, 0, sizeof(*res));
	memset(&base, 0, sizeof(base));
	if (!ret_policy_set(&o->policy))
		return err_set(err, PGARK_ERR_CONFIG, 0, "no retention policy: set at least one of [retention] "
					   "keep_last, keep_daily, keep_weekly, keep_monthly, keep_yearly, keep_within, pitr_window");
	if (repo_inventory_read(r, &inv, err) != 0)
		return -1;
	if ((rb = calloc(inv.nbackups + 1, sizeof(*rb))) == NULL)
	{
		err_set(err, PGARK_ERR_INTERNAL, 0, "out of memory");
		goto done;
	}
	for (size_t i = 0; i < inv.nbackups; i++)
	{
		rb[i].start_time = inv.backups[i].start_time;
		rb[i].stop_time = inv.backups[i].stop_time;
		rb[i].pinned = inv.backups[i].pinned;
		rb[i].state = inv.backups[i].status == INV_OK ? RET_USABLE :
			inv.backups[i].status == INV_WAL_MISSING ? RET_WAL_MISSING : RET_UNREADABLE;
	}
	retention_select(&o->policy, rb, inv.nbackups, o->now, &wal_from);

	if (list_names(r, "base/", &base, err) != 0)
		goto done;
	for (size_t i = 0; i < inv.nbackups; i++)
	{
		int			k;

		if (rb[i].keep)
		{
			res->backups_kept++;
			if (o->report)
				o->report(o->arg, EXP_BACKUP, inv.backups[i].id, 1, rb[i].why);
			continue;
		}
		if ((k = remove_backup(r, o, inv.backups[i].id, &base, err)) < 0)
			goto done;
		if (k == 1)
		{
			rb[i].keep = 1;
			snprintf(rb[i].why, sizeof(rb[i].why), "pinned while repo-expire ran");
			res->backups_kept++;
			if (o->report)
				o->report(o->arg, EXP_BACKUP, inv.backups[i].id, 1, rb[i].why);
			continue;
		}
		res->backups_expired++;
		if (o->report)
			o->report(o->arg, EXP_BACKUP, inv.backups[i].id, 0, rb[i].why);
	}
	if (!o->dry_run && expire_lock_refresh(r, err) != 0)
		goto done;
	if (wal_sweep(r, o, &inv, rb, wal_from, res, err) != 0)
		goto done;
	if (!o->dry_run && expire_lock_refresh(r, err) != 0)
		goto done;
	if (pack_sweep(r, o, &inv, rb, res, err) != 0)
		goto done;
	rc = 0;
done:
	names_free(&base);
	free(rb);
	repo_inventory_free(&inv);
	return rc;
}
