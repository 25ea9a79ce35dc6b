/*
 * verify.c — see verify.h.
 */
#include "verify.h"

#include <errno.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "manifest.h"
#include "pack.h"
#include "store.h"
#include "wal.h"
#include "workers.h"

#define RUN_CHUNKS 512			/* 4 MiB of chunks per read */
#define READ_BUF (1024 * 1024)

static void
problem(verify_counts *out, verify_problem_fn fn, void *arg, const char *fmt,...)
	__attribute__((format(printf, 4, 5)));

static void
problem(verify_counts *out, verify_problem_fn fn, void *arg, const char *fmt,...)
{
	char		msg[2048];
	va_list		ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	out->problems++;
	fn(arg, msg);
}

/* An error that says nothing about the repository's content: give up. */
static int
cannot_go_on(const pgark_err *e)
{
	return err_says_nothing_of_object(e);
}

/* Packs already reported: a missing pack breaks every file that uses it,
 * and one line per pack says more than hundreds. */
#define BAD_PACKS 64
typedef struct bad_packs
{
	uint8_t		id[BAD_PACKS][PACK_ID_LEN];
	int			n;
} bad_packs;

static int
bad_pack_seen(bad_packs *bp, const uint8_t pack[PACK_ID_LEN])
{
	for (int i = 0; i < bp->n; i++)
		if (memcmp(bp->id[i], pack, PACK_ID_LEN) == 0)
			return 1;
	if (bp->n < BAD_PACKS)
		memcpy(bp->id[bp->n++], pack, PACK_ID_LEN);
	return 0;
}

/* The chunks of one file, read in runs; 0 when all checked, 1 after a
 * problem (reported), -1 when verification cannot go on. */
static int
verify_file(repo *r, chunk_reader *cr, mf_reader *rd, const char *id, const mf_entry *e, chunk_ref *refs,
			uint8_t *buf, bad_packs *bp, verify_counts *out, verify_problem_fn fn, void *arg, pgark_err *err)
{
	uint64_t	idx = 0;
	uint32_t	lens[RUN_CHUNKS];

	while (idx < e->nchunks)
	{
		uint32_t	got = 0;
		uint64_t	bytes = 0;
		pgark_err	e2;

		err_clear(&e2);
		if (mf_chunks(rd, refs, RUN_CHUNKS, &got, &e2) != 0 || got == 0)
		{
			problem(out, fn, arg, "backup %s: manifest, file %s: %s", id, e->path,
					got == 0 && e2.msg[0] == '\0' ? "fewer chunks than its size needs" : e2.msg);
			return 1;
		}
		for (uint32_t k = 0; k < got; k++)
		{
			uint64_t	off = (idx + k) * PACK_CHUNK_SIZE;

			lens[k] = (uint32_t) (e->size - off < PACK_CHUNK_SIZE ? e->size - off : PACK_CHUNK_SIZE);
			bytes += lens[k];
		}
		/* all of them as one run (an incremental backup's file is ranges of
		 * several packs); only when that fails, range by range, to tell
		 * which pack is at fault */
		if (chunk_read_run(cr, refs, lens, (int) got, buf, &e2) == 0)
		{
			out->bytes += bytes;
			out->chunks += got;
			idx += got;
			continue;
		}
		if (cannot_go_on(&e2))
		{
			*err = e2;
			return -1;
		}
		for (uint32_t k = 0; k < got;)
		{
			uint32_t	n = 1;
			char		pack[128];

			while (k + n < got && chunk_follows(&refs[k + n - 1], &refs[k + n]))
				n++;
			if (chunk_read_run(cr, refs + k, lens + k, (int) n, buf, &e2) != 0)
			{
				if (cannot_go_on(&e2))
				{
					*err = e2;
					return -1;
				}
				pack_object_name(refs[k].pack, pack, sizeof(pack));
				if (bad_pack_seen(bp, refs[k].pack))
					out->problems++;	/* counted, said once per pack */
				else
				{
					store_stat	st;
					pgark_err	e3;
					int			missing = store_head(r->st, pack, &st, &e3) != 0 &&
						e3.kind == PGARK_ERR_NOTFOUND;

					problem(out, fn, arg, "backup %s: file %s, chunks %llu to %llu in %s (%s): %s%s", id, e->path,
							(unsigned long long) (idx + k), (unsigned long long) (idx + k + n - 1), pack,
							missing ? "missing" : "damaged", e2.msg,
							"; other files with chunks in this pack are counted, not listed");
				}
				return 1;
			}
			for (uint32_t i = 0; i < n; i++)
				out->bytes += lens[k + i];
			out->chunks += n;
			k += n;
		}
		idx += got;
	}
	return 0;
}

int
verify_backup(repo *r, const char *backup_id, verify_counts *out, verify_problem_fn fn, void *arg,
			  pgark_err *err)
{
	mf_head		h;
	mf_reader  *rd;
	chunk_reader *cr = NULL;
	workers    *wk = NULL;
	chunk_ref  *refs = NULL;
	uint8_t    *buf = NULL;
	pgark_err	e2;
	bad_packs	bp;
	int			rc = -1;

	bp.n = 0;
	memset(&h, 0, sizeof(h));
	err_clear(&e2);
	if ((rd = mf_open(r, backup_id, &h, &e2)) == NULL)
	{
		if (cannot_go_on(&e2))
		{
			*err = e2;
			return -1;
		}
		problem(out, fn, arg, "backup %s: its manifest cannot be read: %s", backup_id, e2.msg);
		return 0;
	}
	mf_head_free(&h);
	if ((cr = chunk_reader_new(r, err)) == NULL ||
		(wk = workers_new(r->cfg->workers > 0 ? r->cfg->workers : workers_default(), err)) == NULL)
		goto done;
	chunk_reader_set_workers(cr, wk);
	refs = malloc(RUN_CHUNKS * sizeof(*refs));
	buf = malloc((size_t) RUN_CHUNKS * PACK_CHUNK_SIZE);
	if (refs == NULL || buf == NULL)
	{
		err_set(err, PGARK_ERR_INTERNAL, 0, "out of memory");
		goto done;
	}
	for (;;)
	{
		mf_entry   *e;
		int			n = mf_next(rd, &e, &e2);

		if (n == 0)
			break;
		if (n < 0)
		{
			if (cannot_go_on(&e2))
			{
				*err = e2;
				goto done;
			}
			problem(out, fn, arg, "backup %s: manifest: %s", backup_id, e2.msg);
			break;
		}
		if (e->kind != MF_FILE)
			continue;
		n = verify_file(r, cr, rd, backup_id, e, refs, buf, &bp, out, fn, arg, err);
		if (n < 0)
			goto done;
		if (n == 0)
			out->files++;
	}
	rc = 0;
done:
	mf_close(rd);
	chunk_reader_free(cr);
	workers_free(wk);
	free(refs);
	free(buf);
	return rc;
}

/* Read a WAL object to its end: 0 checked, 1 a problem (reported), -1 give up. */
static int
verify_segment(repo *r, const walname *wn, uint8_t *buf, verify_counts *out, verify_problem_fn fn, void *arg,
			   pgark_err *err)
{
	char		name[128];
	store_reader *sr;
	obj_reader *or = NULL;
	uint64_t	total = 0;
	pgark_err	e2;
	int			rc = 1;

	err_clear(&e2);
	walname_object(wn, name, sizeof(name));
	if ((sr = store_get(r->st, name, 0, 0, &e2)) == NULL)
		goto bad;
	if ((or = repo_object_reader(r, store_read_source, sr, &e2)) == NULL)
		goto bad;
	for (;;)
	{
		size_t		got;

		if (obj_reader_read(or, buf, READ_BUF, &got, &e2) != 0)
			goto bad;
		if (got == 0)
			break;
		/* the segment its name says, of this cluster (as wal-fetch checks:
		 * the container does not bind an object to its name) */
		if (total == 0 && wal_check_segment(wn, buf, got, r->meta.sysid, r->meta.wal_seg_size, &e2) != 0)
			goto bad;
		total += got;
	}
	if (total != r->meta.wal_seg_size)
	{
		err_set(&e2, PGARK_ERR_CORRUPT, 0, "%llu bytes, not the segment size %u", (unsigned long long) total,
				r->meta.wal_seg_size);
		goto bad;
	}
	rc = 0;
	goto done;
bad:
	if (cannot_go_on(&e2))
	{
		*err = e2;
		rc = -1;
	}
	else
		problem(out, fn, arg, "WAL segment %s (%s): %s", wn->name, name, e2.msg);
done:
	obj_reader_free(or);
	if (sr)
		store_reader_close(sr);
	return rc;
}

/* Segments from..to of timeline tl: the missing ones reported (as ranges),
 * with full the present ones read. */
static int
check_interval(repo *r, const repo_inventory *inv, const inv_timeline *tl, uint32_t tli, uint64_t from,
			   uint64_t to, int full, uint8_t *buf, verify_counts *out, verify_problem_fn fn, void *arg,
			   pgark_err *err)
{
	uint64_t	s = from;

	while (s <= to)
	{
		const inv_range *rg = inv_range_of(tl, s);

		if (rg == NULL)
		{
			uint64_t	end = to;
			walname		a, b;

			/* missing up to the next range that starts within the interval */
			for (size_t i = 0; tl && i < tl->nranges; i++)
				if (tl->ranges[i].first > s && tl->ranges[i].first - 1 < end)
					end = tl->ranges[i].first - 1;
			walname_segment(tli, s, inv->seg_size, &a);
			walname_segment(tli, end, inv->seg_size, &b);
			problem(out, fn, arg, "WAL gap: %s to %s %s not in the repository", a.name, b.name,
					s == end ? "is" : "are");
			s = end + 1;
			continue;
		}
		for (; s <= to && s <= rg->last; s++)
		{
			walname		wn;

			out->segments++;
			if (!full)
				continue;
			walname_segment(tli, s, inv->seg_size, &wn);
			if (verify_segment(r, &wn, buf, out, fn, arg, err) < 0)
				return -1;
		}
	}
	return 0;
}

int
verify_wal(repo *r, const repo_inventory *inv, const inv_backup *b, int full, char *to, size_t tolen,
		   verify_counts *out, verify_problem_fn fn, void *arg, pgark_err *err)
{
	const inv_timeline *target = NULL;
	uint32_t	chain[256];
	size_t		nchain = 0;
	walname		start;
	uint64_t	from;
	uint8_t    *buf = NULL;
	int			rc = 0;

	to[0] = '\0';
	if (walname_parse(b->start_wal, &start, err) != 0)
	{
		err_clear(err);
		problem(out, fn, arg, "backup %s: its start segment \"%s\" is not a WAL name", b->id, b->start_wal);
		return 0;
	}
	if (b->status == INV_WAL_MISSING)
		problem(out, fn, arg, "backup %s: %s", b->id, b->problem);
	/* a timeline whose history cannot be read may be where this backup's
	 * WAL goes on: say so rather than verify a shorter path */
	for (size_t i = 0; i < inv->ntls; i++)
		if (inv->tls[i].problem[0] && inv->tls[i].tli > start.tli)
			problem(out, fn, arg, "timeline %u: %s", inv->tls[i].tli, inv->tls[i].problem);
	/*
	 * The newest timeline that continues this backup's: it descends from the
	 * backup's timeline, branching off after the backup ended (a timeline
	 * that branched earlier — a restore of an older point promoted into the
	 * same repository — is another history). Else the backup's own.
	 */
	for (size_t i = 0; i < inv->ntls; i++)
		if (inv->tls[i].nranges > 0 && inv_descends(inv, inv->tls[i].tli, start.tli, b->stop_lsn))
			target = &inv->tls[i];	/* sorted by timeline: the last is the newest */
	if (target == NULL)
	{
		problem(out, fn, arg, "backup %s: no WAL of its timeline %u (or of one continuing it) is archived",
				b->id, start.tli);
		return 0;
	}
	{
		walname		last;

		walname_segment(target->tli, target->ranges[target->nranges - 1].last, inv->seg_size, &last);
		snprintf(to, tolen, "%s", last.name);
	}
	/* from the target back to the backup's timeline, through the parents */
	for (uint32_t t = target->tli; nchain < sizeof(chain) / sizeof(chain[0]);)
	{
		chain[nchain++] = t;
		if (t == start.tli)
			break;
		t = inv_timeline_find(inv, t)->parent;	/* inv_descends walked it */
	}
	if (chain[nchain - 1] != start.tli)
	{
		problem(out, fn, arg, "backup %s: too many timelines between it and the newest", b->id);
		return 0;
	}
	if (full && (buf = malloc(READ_BUF)) == NULL)
		return err_set(err, PGARK_ERR_INTERNAL, 0, "out of memory");
	from = walname_segno(&start, inv->seg_size);
	{
		walname		stop;

		/* repo-expire kept only its own WAL, start to stop (it restores
		 * to its end) */
		if (b->consistent_only && walname_parse(b->stop_wal, &stop, err) == 0 && stop.tli == start.tli)
		{
			snprintf(to, tolen, "%s", stop.name);
			rc = check_interval(r, inv, inv_timeline_find(inv, start.tli), start.tli, from,
								walname_segno(&stop, inv->seg_size), full, buf, out, fn, arg, err);
			free(buf);
			return rc;
		}
		err_clear(err);
	}
	/* oldest first: each timeline up to the segment before its child's
	 * switch point (the parent has that one only as .partial; the child's
	 * copy is what recovery reads), the target to its end */
	for (size_t k = nchain; k-- > 0 && rc == 0;)
	{
		const inv_timeline *tl = inv_timeline_find(inv, chain[k]);
		uint64_t	sw = k > 0 ? inv_timeline_find(inv, chain[k - 1])->switch_lsn / inv->seg_size : 0;
		uint64_t	end = k == 0 ? tl->ranges[tl->nranges - 1].last : sw;

		if (k > 0 && end == 0)
			continue;
		if (k > 0)
			end--;
		if (from <= end)
			rc = check_interval(r, inv, tl, chain[k], from, end, full, buf, out, fn, arg, err);
		if (k > 0 && sw > from)
			from = sw;
	}
	free(buf);
	return rc;
}
