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

/*
 * Where pids mean the same processes as here: the boot (its random id) and
 * the pid namespace. Two machines of one host name (cloned VMs), or a
 * container sharing the host name but not its pids, differ in these.
 */
static void
pid_realm(char *out, size_t len)
{
	char		boot[64] = "?", ns[64] = "?";
	FILE	   *f;

	if ((f = fopen("/proc/sys/kernel/random/boot_id", "re")) != NULL)
	{
		if (fscanf(f, "%63s", boot) != 1)
			snprintf(boot, sizeof(boot), "?");
		fclose(f);
	}
	{
		ssize_t		n = readlink("/proc/self/ns/pid", ns, sizeof(ns) - 1);

		ns[n > 0 ? n : 0] = '\0';
		if (n <= 0)
			snprintf(ns, sizeof(ns), "?");
	}
	for (char *p = ns; *p; p++)
		if (*p == ' ')
			*p = '_';
	snprintf(out, len, "%s/%s", boot, ns);
}

/* "<magic>\nhost H\npid P\nstart S\ntime T\nrealm R\n" for this process */
static int
owner_text(const char *magic, char *out, size_t len)
{
	char		host[256], now[32], realm[160];
	long		pid = (long) getpid();

	hostname(host, sizeof(host));
	iso8601_now(now, sizeof(now));
	pid_realm(realm, sizeof(realm));
	return snprintf(out, len, "%s\nhost %s\npid %ld\nstart %llu\ntime %s\nrealm %s\n", magic, host, pid,
					proc_start(pid), now, realm);
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
	char		host[256] = "", me[256], since[64] = "?", realm[160] = "", myrealm[160];
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
	if ((p = strstr(text, "\nrealm ")) != NULL)
		sscanf(p, "\nrealm %159s", realm);
	snprintf(who, wholen, "host %s, pid %ld, since %s", host[0] ? host : "?", pid, since);
	hostname(me, sizeof(me));
	pid_realm(myrealm, sizeof(myrealm));
	/* its pid means a process here only on this host, this boot, in this
	 * pid namespace; anywhere else only the time it was written tells */
	if (host[0] != '\0' && strcmp(host, me) == 0 && pid > 0 && strcmp(realm, myrealm) == 0 &&
		strchr(myrealm, '?') == NULL)
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
backup_marker_check(repo *r, const char *backup_id, pgark_err *err)
{
	char		name[128];
	store_stat	st;

	marker_name(backup_id, name, sizeof(name));
	if (store_head(r->st, name, &st, err) == 0)
		return 0;
	if (err->kind == PGARK_ERR_NOTFOUND)
		return err_set(err, PGARK_ERR_CONFLICT, 0, "%s disappeared while the backup ran: a repo-expire took "
					   "it for dead and may have removed its packs, so the backup was not stored; run "
					   "base-push again", name);
	return err_prefix(err, "looking for %s", name);
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
		if (live)
		{
			free(held);
			return err_set(err, PGARK_ERR_CONFLICT, 0,
						   "another repo-expire is running on %s (%s holds %s); nothing was removed",
						   r->st->where, who, EXPIRE_LOCK_NAME);
		}
		/* its holder is gone: take it over, unless another run did first */
		{
			char	   *again = NULL;
			size_t		len2;
			int			same;

			if (repo_get_object(r, EXPIRE_LOCK_NAME, OWNER_MAX, &again, &len2, err) != 0)
			{
				free(held);
				if (err->kind != PGARK_ERR_NOTFOUND)
					return err_prefix(err, "reading the expire lock %s", EXPIRE_LOCK_NAME);
				err_clear(err);
				continue;
			}
			same = strcmp(again, held) == 0;
			free(again);
			free(held);
			if (!same)
				continue;
		}
		if (store_remove(r->st, EXPIRE_LOCK_NAME, err) != 0)
			return err_prefix(err, "removing the stale expire lock %s (%s)", EXPIRE_LOCK_NAME, who);
	}
	return err_set(err, PGARK_ERR_CONFLICT, 0, "the expire lock %s on %s changes hands too often: "
				   "another repo-expire is starting", EXPIRE_LOCK_NAME, r->st->where);
}

/* Is the lock still this process's? (Another run may have taken it over
 * after judging it stale.) CONFLICT naming the holder if not. */
static int
lock_is_ours(repo *r, pgark_err *err)
{
	char	   *held = NULL, mine[OWNER_MAX], who[512];
	size_t		len;
	const char *a, *b;
	int			same;

	owner_text("pgark-lock 1", mine, sizeof(mine));
	if (repo_get_object(r, EXPIRE_LOCK_NAME, OWNER_MAX, &held, &len, err) != 0)
	{
		if (err->kind == PGARK_ERR_NOTFOUND)
			return err_set(err, PGARK_ERR_CONFLICT, 0, "the expire lock %s was removed by someone else while "
						   "this repo-expire ran: stopping", EXPIRE_LOCK_NAME);
		return err_prefix(err, "reading the expire lock %s", EXPIRE_LOCK_NAME);
	}
	/* the same host, pid, process start and realm; the time differs */
	a = strstr(held, "\ntime ");
	b = strstr(mine, "\ntime ");
	same = a != NULL && b != NULL && a - held == b - mine && strncmp(held, mine, (size_t) (a - held)) == 0 &&
		strstr(held, "\nrealm ") != NULL && strcmp(strstr(held, "\nrealm "), strstr(mine, "\nrealm ")) == 0;
	if (!same)
	{
		owner_live(held, 0, 0, who, sizeof(who));
		free(held);
		return err_set(err, PGARK_ERR_CONFLICT, 0, "the expire lock %s was taken over by another repo-expire "
					   "(%s) while this one ran: stopping", EXPIRE_LOCK_NAME, who);
	}
	free(held);
	return 0;
}

int
expire_lock_refresh(repo *r, pgark_err *err)
{
	char		text[OWNER_MAX];
	int			n = owner_text("pgark-lock 1", text, sizeof(text));

	if (lock_is_ours(r, err) != 0)
		return -1;
	if (repo_put_object(r, EXPIRE_LOCK_NAME, text, (size_t) n, 0, err) != 0)
		return err_prefix(err, "refreshing the expire lock %s", EXPIRE_LOCK_NAME);
	return 0;
}

int
expire_unlock(repo *r, pgark_err *err)
{
	if (lock_is_ours(r, err) != 0)
		return -1;
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
	uint32_t	tli;
	uint64_t	first, last;
} seg_span;

/* what is kept of one timeline's WAL besides the kept backups' own */
typedef struct tl_keep
{
	uint32_t	tli;
	uint64_t	from;			/* every segment from here on (UINT64_MAX: none) */
	int			known;			/* a rule below decided; else all of it is kept */
} tl_keep;

static tl_keep *
keep_of(tl_keep *k, size_t n, uint32_t tli)
{
	for (size_t i = 0; i < n; i++)
		if (k[i].tli == tli)
			return &k[i];
	return NULL;
}

static void
keep_from(tl_keep *k, size_t n, uint32_t tli, uint64_t seg)
{
	tl_keep    *t = keep_of(k, n, tli);

	if (t != NULL)
	{
		if (!t->known || seg < t->from)
			t->from = seg;
		t->known = 1;
	}
}

/*
 * Decide, timeline by timeline, what WAL the kept backups need:
 *  - each kept backup: its own start to stop segment, on its timeline;
 *  - every kept usable backup from the one WAL is kept whole from (wal_from)
 *    on: its timeline from its start segment on, and every timeline that
 *    continues it (branched at or after its start) from the same segment;
 *  - a timeline those leave (an ancestor): from the point they branched
 *    off, so what follows the fork on it (a history abandoned by a restore
 *    or a failover) stays;
 *  - any other timeline (one no kept backup leads to, e.g. a restore's new
 *    timeline without a backup yet): all of it.
 */
static int
wal_plan(const repo_inventory *inv, const ret_backup *rb, size_t wal_from, seg_span *spans, size_t *nspans,
		 tl_keep *k, pgark_err *err)
{
	*nspans = 0;
	for (size_t i = 0; i < inv->ntls; i++)
	{
		k[i].tli = inv->tls[i].tli;
		k[i].from = UINT64_MAX;
		k[i].known = 0;
		if (inv->tls[i].problem[0])
			return 1;			/* a timeline's history unknown: keep all */
	}
	for (size_t i = 0; i < inv->nbackups; i++)
	{
		const inv_backup *b = &inv->backups[i];
		walname		s, e;
		pgark_err	ignore;

		if (!rb[i].keep)
			continue;
		if (b->status == INV_UNREADABLE)
			return 1;			/* what WAL it needs is unknown: keep all */
		if (walname_parse(b->start_wal, &s, &ignore) != 0 || walname_parse(b->stop_wal, &e, &ignore) != 0)
			return err_set(err, PGARK_ERR_CORRUPT, 0, "backup %s names no valid start or stop segment", b->id);
		spans[*nspans].tli = s.tli;
		spans[*nspans].first = walname_segno(&s, inv->seg_size);
		spans[*nspans].last = walname_segno(&e, inv->seg_size);
		(*nspans)++;
		if (i < wal_from || b->status != INV_OK)
			continue;
		keep_from(k, inv->ntls, s.tli, walname_segno(&s, inv->seg_size));
		for (size_t t = 0; t < inv->ntls; t++)
			if (inv->tls[t].tli != s.tli && inv_descends(inv, inv->tls[t].tli, s.tli, b->start_lsn))
				keep_from(k, inv->ntls, inv->tls[t].tli, walname_segno(&s, inv->seg_size));
	}
	/* ancestors of a timeline kept whole from somewhere: from the fork on */
	for (size_t i = 0; i < inv->ntls; i++)
	{
		const inv_timeline *c = &inv->tls[i];

		if (!k[i].known || k[i].from == UINT64_MAX)
			continue;
		for (int depth = 0; c->parent != 0 && depth < 256; depth++)
		{
			const inv_timeline *p = inv_timeline_find(inv, c->parent);
			tl_keep    *pk;

			if (p == NULL || (pk = keep_of(k, inv->ntls, p->tli)) == NULL)
				break;
			if (!pk->known || pk->from > c->switch_lsn / inv->seg_size)
			{
				pk->from = c->switch_lsn / inv->seg_size;
				pk->known = 1;
			}
			c = p;
		}
	}
	return 0;
}

static int
wal_sweep(repo *r, const expire_opts *o, const repo_inventory *inv, const ret_backup *rb, size_t wal_from,
		  expire_result *res, pgark_err *err)
{
	name_list	wal;
	seg_span   *spans = NULL;
	size_t		nspans = 0;
	tl_keep    *keep = NULL;
	char	  **doomed = NULL;
	size_t		ndoomed = 0;
	int			rc = -1, all;

	memset(&wal, 0, sizeof(wal));
	if (wal_from >= inv->nbackups)
		return 0;				/* no usable backup to measure from: keep all */
	if ((spans = calloc(inv->nbackups + 1, sizeof(*spans))) == NULL ||
		(keep = calloc(inv->ntls + 1, sizeof(*keep))) == NULL)
	{
		err_set(err, PGARK_ERR_INTERNAL, 0, "out of memory");
		goto done;
	}
	if ((all = wal_plan(inv, rb, wal_from, spans, &nspans, keep, err)) < 0)
		goto done;
	if (all)
	{
		rc = 0;
		goto done;
	}
	snprintf(res->wal_from, sizeof(res->wal_from), "%s", inv->backups[wal_from].start_wal);

	/* the record first: verify must know, from the first segment removed
	 * on, which backups restore to their end only */
	if (!o->dry_run)
	{
		size_t		cap = 128 + inv->nbackups * 96, n;
		char	   *text = malloc(cap), now[40];

		if (text == NULL)
		{
			err_set(err, PGARK_ERR_INTERNAL, 0, "out of memory");
			goto done;
		}
		iso8601_now(now, sizeof(now));
		n = (size_t) snprintf(text, cap, "pgark-status 1\nkind retention\ntime %s\nresult ok\nwal_from %s\n", now,
							  inv->backups[wal_from].start_wal);
		for (size_t i = 0; i < inv->nbackups && n < cap; i++)
			if (rb[i].keep && (inv->backups[i].consistent_only || i < wal_from))
				n += (size_t) snprintf(text + n, cap - n, "consistent_only %s\n", inv->backups[i].id);
		if (n >= cap || n > RETENTION_RECORD_MAX)
		{
			free(text);
			err_set(err, PGARK_ERR_INTERNAL, 0, "%s would be too long", RETENTION_RECORD);
			goto done;
		}
		rc = repo_put_object(r, RETENTION_RECORD, text, n, 0, err);
		free(text);
		if (rc != 0)
		{
			err_prefix(err, "writing %s", RETENTION_RECORD);
			goto done;
		}
		rc = -1;
	}

	if (list_names(r, "wal/", &wal, err) != 0)
		goto done;
	if ((doomed = calloc(wal.n + 1, sizeof(*doomed))) == NULL)
	{
		err_set(err, PGARK_ERR_INTERNAL, 0, "out of memory");
		goto done;
	}
	for (size_t i = 0; i < wal.n; i++)
	{
		pgark_err	ignore;
		walname		wn;
		uint64_t	seg;
		int			needed = 0;
		const tl_keep *tk;

		if (walname_parse(path_basename(wal.names[i]), &wn, &ignore) != 0 || wn.kind == WAL_HISTORY)
			continue;			/* history files are small and always kept */
		seg = walname_segno(&wn, inv->seg_size);
		tk = keep_of(keep, inv->ntls, wn.tli);
		if (tk == NULL || !tk->known || seg >= tk->from)
			needed = 1;
		for (size_t k = 0; k < nspans && !needed; k++)
			if (spans[k].tli == wn.tli && seg >= spans[k].first && seg <= spans[k].last)
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
			o->report(o->arg, EXP_WAL, wal.names[i], 0, "no kept backup or the window needs it");
	}
	rc = remove_names(r, o, doomed, ndoomed, err);
done:
	free(doomed);
	free(spans);
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
			/* it finished after base/ was listed: its manifest, which refers
			 * to packs listed above, is not in this run's listing */
			err_clear(err);
			snprintf(why, sizeof(why), "backup %s finished while this run looked: packs are swept by a later run",
					 id);
			rc = skip_sweep(res, why);
			goto done;
		}
		if (owner_live(text, base.mtimes[i], o->now, who, sizeof(who)))
		{
			free(text);
			snprintf(why, sizeof(why), "backup %s is running (%.500s): packs are swept by a later run", id, who);
			rc = skip_sweep(res, why);
			goto done;
		}
		free(text);
		{
			store_stat	mst;

			/* gone because it finished (manifest first, then the marker,
			 * then exit) after base/ was listed: not dead */
			if (store_head(r->st, mf, &mst, err) == 0)
			{
				snprintf(why, sizeof(why), "backup %s finished while this run looked: packs are swept by a "
						 "later run", id);
				rc = skip_sweep(res, why);
				goto done;
			}
			if (err->kind != PGARK_ERR_NOTFOUND)
				goto done;
			err_clear(err);
		}
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
			if (err_says_nothing_of_object(err))
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
	/* the markers first: a base-push wrongly taken for dead then finds its
	 * marker gone and fails instead of committing a manifest without packs */
	if (remove_names(r, o, stale, nstale, err) != 0 || remove_names(r, o, doomed, ndoomed, err) != 0)
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
