/*
 * inventory.c — see inventory.h.
 */
#include "inventory.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "manifest.h"
#include "util.h"
#include "wal.h"
#include "walarchive.h"

#define HISTORY_MAX (64 * 1024)	/* as wal-fetch allows a .history file */
#define HISTORY_ENTRIES 1024

typedef struct seg_item
{
	uint64_t	segno;
	int64_t		mtime;
	uint32_t	tli;
} seg_item;

typedef struct listing
{
	uint32_t	seg_size;
	seg_item   *segs;
	size_t		nsegs, cap;
	uint32_t   *hist;			/* timelines with a .history object */
	size_t		nhist, caphist;
} listing;

static int
grow(void **p, size_t *cap, size_t n, size_t size, pgark_err *err)
{
	void	   *q;
	size_t		c;

	if (n < *cap)
		return 0;
	c = *cap ? *cap * 2 : 256;
	if ((q = realloc(*p, c * size)) == NULL)
		return err_set(err, PGARK_ERR_INTERNAL, 0, "out of memory listing the repository's WAL");
	*p = q;
	*cap = c;
	return 0;
}

/* every object under wal/: segments and .history files are kept; other
 * names (.partial, .backup, anything unknown) do not make WAL continuous */
static int
collect(void *arg, const char *name, const store_stat *st, pgark_err *err)
{
	listing    *l = arg;
	walname		wn;
	pgark_err	ignore;

	if (walname_parse(path_basename(name), &wn, &ignore) != 0)
		return 0;
	if (wn.kind == WAL_SEGMENT)
	{
		if (grow((void **) &l->segs, &l->cap, l->nsegs, sizeof(seg_item), err) != 0)
			return -1;
		l->segs[l->nsegs].segno = walname_segno(&wn, l->seg_size);
		l->segs[l->nsegs].mtime = st->mtime;
		l->segs[l->nsegs].tli = wn.tli;
		l->nsegs++;
	}
	else if (wn.kind == WAL_HISTORY)
	{
		if (grow((void **) &l->hist, &l->caphist, l->nhist, sizeof(uint32_t), err) != 0)
			return -1;
		l->hist[l->nhist++] = wn.tli;
	}
	return 0;
}

static int
cmp_seg(const void *a, const void *b)
{
	const seg_item *x = a, *y = b;

	if (x->tli != y->tli)
		return x->tli < y->tli ? -1 : 1;
	if (x->segno != y->segno)
		return x->segno < y->segno ? -1 : 1;
	return 0;
}

static inv_timeline *
timeline_get(repo_inventory *inv, uint32_t tli, size_t *cap, pgark_err *err)
{
	for (size_t i = 0; i < inv->ntls; i++)
		if (inv->tls[i].tli == tli)
			return &inv->tls[i];
	if (grow((void **) &inv->tls, cap, inv->ntls, sizeof(inv_timeline), err) != 0)
		return NULL;
	memset(&inv->tls[inv->ntls], 0, sizeof(inv_timeline));
	inv->tls[inv->ntls].tli = tli;
	return &inv->tls[inv->ntls++];
}

static int
cmp_tl(const void *a, const void *b)
{
	const inv_timeline *x = a, *y = b;

	return x->tli < y->tli ? -1 : x->tli > y->tli;
}

/* The sorted segments as ranges per timeline. */
static int
build_ranges(repo_inventory *inv, listing *l, size_t *captl, pgark_err *err)
{
	size_t		caprange = 0;
	inv_timeline *tl = NULL;

	if (l->nsegs > 1)
		qsort(l->segs, l->nsegs, sizeof(seg_item), cmp_seg);
	for (size_t i = 0; i < l->nsegs; i++)
	{
		seg_item   *s = &l->segs[i];

		if (tl == NULL || tl->tli != s->tli)
		{
			if ((tl = timeline_get(inv, s->tli, captl, err)) == NULL)
				return -1;
			caprange = 0;
		}
		if (tl->nranges > 0 && tl->ranges[tl->nranges - 1].last == s->segno)
			continue;			/* the same segment twice: cannot be, but harmless */
		tl->segments++;
		if (tl->nranges > 0 && tl->ranges[tl->nranges - 1].last + 1 == s->segno)
		{
			tl->ranges[tl->nranges - 1].last = s->segno;
			tl->ranges[tl->nranges - 1].last_mtime = s->mtime;
			continue;
		}
		if (grow((void **) &tl->ranges, &caprange, tl->nranges, sizeof(inv_range), err) != 0)
			return -1;
		tl->ranges[tl->nranges].first = tl->ranges[tl->nranges].last = s->segno;
		tl->ranges[tl->nranges].last_mtime = s->mtime;
		tl->nranges++;
	}
	return 0;
}

/* Each archived .history file: which timeline it branched from, and where. */
static int
read_histories(repo *r, repo_inventory *inv, listing *l, size_t *captl, pgark_err *err)
{
	wal_tl_entry *e = malloc(HISTORY_ENTRIES * sizeof(*e));

	if (e == NULL)
		return err_set(err, PGARK_ERR_INTERNAL, 0, "out of memory");
	for (size_t i = 0; i < l->nhist; i++)
	{
		walname		wn;
		char		name[24], *text = NULL;
		size_t		len, n;
		inv_timeline *tl;

		pgark_err	e2;
		int			bad;

		snprintf(name, sizeof(name), "%08X.history", l->hist[i]);
		if (walname_parse(name, &wn, err) != 0 || (tl = timeline_get(inv, wn.tli, captl, err)) == NULL)
		{
			free(e);
			return -1;
		}
		err_clear(&e2);
		bad = wal_fetch_mem(r, &wn, HISTORY_MAX, &text, &len, &e2) != 0 ||
			wal_history_parse(text, len, wn.tli, e, HISTORY_ENTRIES, &n, &e2) != 0;
		free(text);
		tl->has_history = 1;
		if (bad)
		{
			/* the store or the key failing says nothing about the
			 * timeline: stop; a damaged file is that timeline's problem */
			if (err_says_nothing_of_object(&e2))
			{
				*err = e2;
				free(e);
				return err_prefix(err, "reading the history of timeline %u (%s)", wn.tli, name);
			}
			snprintf(tl->problem, sizeof(tl->problem), "its history (%s) cannot be read: %.500s", name, e2.msg);
			continue;
		}
		if (n >= 2)
		{
			tl->parent = e[1].tli;
			tl->switch_lsn = e[0].begin;
		}
	}
	free(e);
	return 0;
}

const inv_timeline *
inv_timeline_find(const repo_inventory *inv, uint32_t tli)
{
	for (size_t i = 0; i < inv->ntls; i++)
		if (inv->tls[i].tli == tli)
			return &inv->tls[i];
	return NULL;
}

const inv_range *
inv_range_of(const inv_timeline *tl, uint64_t segno)
{
	if (tl == NULL)
		return NULL;
	for (size_t i = 0; i < tl->nranges; i++)
		if (tl->ranges[i].first <= segno && segno <= tl->ranges[i].last)
			return &tl->ranges[i];
	return NULL;
}

int
inv_descends(const repo_inventory *inv, uint32_t tli, uint32_t base, uint64_t min_lsn)
{
	while (tli != base)
	{
		const inv_timeline *tl = inv_timeline_find(inv, tli);

		/* parents have lower numbers: the walk ends */
		if (tl == NULL || tl->parent == 0 || tl->parent >= tli || tl->switch_lsn < min_lsn)
			return 0;
		tli = tl->parent;
	}
	return 1;
}

/*
 * The newest storing time reachable without a gap from segment segno of
 * timeline tli, following every timeline that branched off at or after
 * min_lsn inside the reach: its first segment is the one holding the switch
 * point, which the parent has only as .partial, so it may lie just past the
 * parent's range. -1 if segno itself is missing.
 */
static int64_t
reach(const repo_inventory *inv, uint32_t tli, uint64_t segno, uint64_t min_lsn)
{
	const inv_range *rg = inv_range_of(inv_timeline_find(inv, tli), segno);
	int64_t		best;

	if (rg == NULL)
		return -1;
	best = rg->last_mtime;
	for (size_t i = 0; i < inv->ntls; i++)
	{
		const inv_timeline *c = &inv->tls[i];
		uint64_t	sw = c->switch_lsn / inv->seg_size;

		/* children have higher numbers: no cycle */
		if (c->parent == tli && c->tli > tli && c->switch_lsn >= min_lsn && sw >= segno && sw <= rg->last + 1)
		{
			int64_t		t = reach(inv, c->tli, sw, c->switch_lsn);

			if (t > best)
				best = t;
		}
	}
	return best;
}

/* name as a segment name, or -1 */
static int
segment_name(const char *name, walname *wn)
{
	pgark_err	ignore;

	return walname_parse(name, wn, &ignore) != 0 || wn->kind != WAL_SEGMENT ? -1 : 0;
}

/* Is all WAL from the backup's start to its stop archived? */
static void
check_backup_wal(const repo_inventory *inv, inv_backup *b)
{
	walname		s, e;
	const inv_range *rs, *re;

	if (segment_name(b->start_wal, &s) != 0 || segment_name(b->stop_wal, &e) != 0)
	{
		b->status = INV_UNREADABLE;
		snprintf(b->problem, sizeof(b->problem), "its manifest names no valid start or stop segment");
		return;
	}
	rs = inv_range_of(inv_timeline_find(inv, s.tli), walname_segno(&s, inv->seg_size));
	re = inv_range_of(inv_timeline_find(inv, e.tli), walname_segno(&e, inv->seg_size));
	if (rs == NULL || re == NULL || (s.tli == e.tli && rs != re))
	{
		b->status = INV_WAL_MISSING;
		snprintf(b->problem, sizeof(b->problem),
				 "WAL from %s to %s is not all archived: the backup cannot be made consistent",
				 b->start_wal, b->stop_wal);
	}
}

static int
read_backups(repo *r, repo_inventory *inv, pgark_err *err)
{
	char	  **ids = NULL;
	size_t		n = 0;

	if (mf_list_backups(r, &ids, &n, err) != 0)
		return err_prefix(err, "listing the backups");
	if (n > 0 && (inv->backups = calloc(n, sizeof(inv_backup))) == NULL)
	{
		mf_free_list(ids, n);
		return err_set(err, PGARK_ERR_INTERNAL, 0, "out of memory");
	}
	for (size_t i = 0; i < n; i++)
	{
		inv_backup *b = &inv->backups[inv->nbackups++];
		mf_head		h;
		mf_reader  *rd;
		pgark_err	e;

		snprintf(b->id, sizeof(b->id), "%s", ids[i]);
		err_clear(&e);
		{
			char		pin[128];
			store_stat	st;

			snprintf(pin, sizeof(pin), "base/%s/pin", ids[i]);
			if (store_head(r->st, pin, &st, &e) == 0)
				b->pinned = 1;
			else if (e.kind != PGARK_ERR_NOTFOUND)
			{
				*err = e;
				err_prefix(err, "looking for the pin of backup %s", ids[i]);
				mf_free_list(ids, n);
				return -1;
			}
			err_clear(&e);
		}
		memset(&h, 0, sizeof(h));
		if ((rd = mf_open(r, ids[i], &h, &e)) == NULL)
		{
			if (err_says_nothing_of_object(&e))
			{
				*err = e;
				err_prefix(err, "reading the manifest of backup %s", ids[i]);
				mf_free_list(ids, n);
				return -1;
			}
			b->status = INV_UNREADABLE;
			snprintf(b->problem, sizeof(b->problem), "its manifest cannot be read: %s", e.msg);
			continue;
		}
		mf_close(rd);
		snprintf(b->label, sizeof(b->label), "%s", h.label);
		b->start_time = h.start_time;
		b->stop_time = h.stop_time;
		b->start_lsn = h.start_lsn;
		b->stop_lsn = h.stop_lsn;
		b->timeline = h.timeline;
		snprintf(b->start_wal, sizeof(b->start_wal), "%s", h.start_wal);
		snprintf(b->stop_wal, sizeof(b->stop_wal), "%s", h.stop_wal);
		b->bytes_total = h.bytes_total;
		b->bytes_stored = h.bytes_stored;
		mf_head_free(&h);
		check_backup_wal(inv, b);
	}
	mf_free_list(ids, n);
	return 0;
}

/* See repo_inventory's earliest and latest. */
static void
compute_window(repo_inventory *inv)
{
	int64_t    *reached = calloc(inv->nbackups ? inv->nbackups : 1, sizeof(int64_t));
	size_t		top = 0;
	int			any = 0;

	if (reached == NULL)
		return;					/* no window: reported as none */
	for (size_t i = 0; i < inv->nbackups; i++)
	{
		inv_backup *b = &inv->backups[i];
		walname		e;

		reached[i] = -1;
		if (b->status != INV_OK || segment_name(b->stop_wal, &e) != 0)
			continue;
		reached[i] = reach(inv, e.tli, walname_segno(&e, inv->seg_size), b->stop_lsn);
		if (reached[i] < b->stop_time && reached[i] >= 0)
			reached[i] = b->stop_time;	/* stored in the same second */
		if (reached[i] >= 0 && (!any || reached[i] > reached[top]))
		{
			top = i;
			any = 1;
		}
	}
	if (any)
	{
		int			grew = 1;

		inv->latest = reached[top];
		inv->earliest = inv->backups[top].stop_time;
		/* older backups whose reach meets the window extend it back */
		while (grew)
		{
			grew = 0;
			for (size_t i = 0; i < inv->nbackups; i++)
				if (reached[i] >= 0 && inv->backups[i].stop_time < inv->earliest && reached[i] >= inv->earliest)
				{
					inv->earliest = inv->backups[i].stop_time;
					grew = 1;
				}
		}
	}
	free(reached);
}

/* status/retention (FORMAT.md section 7) whole, or *text NULL when there is
 * none or it is damaged (then every backup counts as whole). */
static int
retention_text(repo *r, char **text, pgark_err *err)
{
	size_t		len;

	*text = NULL;
	if (repo_get_object(r, RETENTION_RECORD, RETENTION_RECORD_MAX, text, &len, err) != 0)
	{
		*text = NULL;
		if (err_says_nothing_of_object(err))
			return err_prefix(err, "reading %s", RETENTION_RECORD);
		err_clear(err);
		return 0;
	}
	if (strncmp(*text, "pgark-status 1\n", 15) != 0 || strstr(*text, "\nkind retention\n") == NULL)
	{
		free(*text);
		*text = NULL;
	}
	return 0;
}

static int
listed_consistent_only(const char *text, const char *id)
{
	char		line[96];

	snprintf(line, sizeof(line), "\nconsistent_only %s\n", id);
	return text != NULL && strstr(text, line) != NULL;
}

/* its consistent_only lines */
static int
read_retention(repo *r, repo_inventory *inv, pgark_err *err)
{
	char	   *text;

	if (retention_text(r, &text, err) != 0)
		return -1;
	for (size_t i = 0; i < inv->nbackups; i++)
		inv->backups[i].consistent_only = listed_consistent_only(text, inv->backups[i].id);
	free(text);
	return 0;
}

int
inv_consistent_only(repo *r, const char *id, pgark_err *err)
{
	char	   *text;
	int			yes;

	if (retention_text(r, &text, err) != 0)
		return -1;
	yes = listed_consistent_only(text, id);
	free(text);
	return yes;
}

int
repo_inventory_read(repo *r, repo_inventory *inv, pgark_err *err)
{
	listing		l;
	size_t		captl = 0;
	int			rc = -1;

	memset(inv, 0, sizeof(*inv));
	memset(&l, 0, sizeof(l));
	inv->seg_size = l.seg_size = r->meta.wal_seg_size;
	inv->earliest = inv->latest = -1;
	if (store_list(r->st, "wal/", collect, &l, err) != 0)
	{
		err_prefix(err, "listing the repository's WAL");
		goto done;
	}
	if (build_ranges(inv, &l, &captl, err) != 0 || read_histories(r, inv, &l, &captl, err) != 0)
		goto done;
	if (inv->ntls > 1)
		qsort(inv->tls, inv->ntls, sizeof(inv_timeline), cmp_tl);
	if (read_backups(r, inv, err) != 0 || read_retention(r, inv, err) != 0)
		goto done;
	compute_window(inv);
	rc = 0;
done:
	free(l.segs);
	free(l.hist);
	if (rc != 0)
		repo_inventory_free(inv);
	return rc;
}

void
repo_inventory_free(repo_inventory *inv)
{
	for (size_t i = 0; i < inv->ntls; i++)
		free(inv->tls[i].ranges);
	free(inv->tls);
	free(inv->backups);
	memset(inv, 0, sizeof(*inv));
}

const char *
inv_status_str(inv_status s)
{
	switch (s)
	{
		case INV_OK:
			return "ok";
		case INV_WAL_MISSING:
			return "wal-missing";
		case INV_UNREADABLE:
			return "unreadable";
	}
	return "?";
}
