/*
 * backup.c — base backup: pg_backup_start in a session held open; the data
 * directory walked with PostgreSQL's exclusions (pgdir); each file either
 * reused from the previous backup's manifest (same size and mtime, older than
 * that backup's start) or read in 8 KiB chunks, each chunk stored only if the
 * repository lacks it; pg_backup_stop(false); every segment from the start
 * to the stop awaited in the repository; packs committed; the manifest
 * written last.
 */
#include "backup.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "expire.h"
#include "manifest.h"
#include "pack.h"
#include "pg.h"
#include "pgdir.h"
#include "util.h"
#include "wal.h"
#include "workers.h"

#define READ_BUF (1024 * 1024)
#define BUF_CHUNKS (READ_BUF / PACK_CHUNK_SIZE)
#define DEDUP_SLOTS (1u << 16)	/* recent chunks, for duplicates inside a backup */

typedef struct dedup_slot
{
	int			used;
	chunk_ref	ref;
} dedup_slot;

typedef struct backup_ctx
{
	repo	   *r;
	const backup_opts *o;
	backup_result *res;
	uint8_t		key[32];
	pack_writer *pw;
	mf_writer  *mw;
	uint64_t	start_lsn;
	int			checksums;
	/* the previous backup, read alongside the walk (same order) */
	mf_reader  *prev;
	mf_head		prev_head;
	mf_entry   *prev_e;			/* current entry of prev, NULL at its end */
	int			prev_done;
	uint8_t    *buf;
	chunk_ref  *pbuf;			/* a window of the previous file's chunks */
	uint64_t	pbase;			/* index of pbuf[0] */
	uint32_t	pn;				/* valid entries in pbuf */
	dedup_slot *dedup;
	uint64_t	total, done;
	char		pgdata[PATH_MAX];
	/* one read buffer's chunks, hashed and encoded on `workers` threads */
	workers    *wk;
	size_t		nchunks;		/* in the current buffer */
	size_t		lens[BUF_CHUNKS];
	uint8_t		ids[BUF_CHUNKS][CHUNK_ID_LEN];
	int			todo[BUF_CHUNKS];	/* -1: known (refs[i]), else index of the
									 * first new chunk with this id */
	chunk_ref	refs[BUF_CHUNKS];
	uint8_t		salts[BUF_CHUNKS][OBJ_SALT_LEN];	/* drawn once per buffer */
	uint8_t    *enc;			/* BUF_CHUNKS x CHUNK_ENCODED_MAX */
	size_t		enclen[BUF_CHUNKS];
	double		marker_at;		/* when base/<id>/running was last written (now_ms) */
	int			marker;			/* it exists */
} backup_ctx;

#define MARKER_REFRESH_MS (10 * 60 * 1000.0)

/* keep base/<id>/running fresh while the backup runs (see expire.h) */
static int
marker_refresh(backup_ctx *c, pgark_err *err)
{
	if (now_ms() - c->marker_at < MARKER_REFRESH_MS)
		return 0;
	if (backup_marker_put(c->r, c->res->backup_id, err) != 0)
		return -1;
	c->marker_at = now_ms();
	return 0;
}

static void prev_drop(backup_ctx *c, pgark_err *err);

/* Advance the previous manifest to the first entry at or after path. */
static int
prev_seek(backup_ctx *c, const char *path, pgark_err *err)
{
	while (c->prev && !c->prev_done)
	{
		if (c->prev_e && pgdir_pathcmp(c->prev_e->path, path) >= 0)
			return 0;
		{
			int			rc = mf_next(c->prev, &c->prev_e, err);

			c->pbase = 0;
			c->pn = 0;
			if (rc < 0)
			{
				prev_drop(c, err);
				return 0;
			}
			if (rc == 0)
			{
				c->prev_done = 1;
				c->prev_e = NULL;
			}
		}
	}
	return 0;
}

static const mf_entry *
prev_file(backup_ctx *c, const char *path)
{
	if (c->prev_e && c->prev_e->kind == MF_FILE && strcmp(c->prev_e->path, path) == 0)
		return c->prev_e;
	return NULL;
}

#define PREV_WINDOW 1024

static void
prev_drop(backup_ctx *c, pgark_err *err)
{
	/* what was read of it stays valid (every frame is authenticated); the
	 * rest of this backup reads files instead */
	snprintf(c->res->warning, sizeof(c->res->warning),
			 "the previous backup's manifest is damaged, so its unchanged files are read again: %s", err->msg);
	err_clear(err);
	c->prev_done = 1;
	c->prev_e = NULL;
}

/* Chunk idx of the previous backup's copy of the current file (read in
 * order, idx never decreasing), or NULL. */
static const chunk_ref *
prev_chunk(backup_ctx *c, const mf_entry *pf, uint64_t idx, pgark_err *err)
{
	if (pf == NULL || c->prev_e != pf || idx >= pf->nchunks || idx < c->pbase)
		return NULL;
	while (idx >= c->pbase + c->pn)
	{
		c->pbase += c->pn;
		c->pn = 0;
		if (mf_chunks(c->prev, c->pbuf, PREV_WINDOW, &c->pn, err) != 0)
		{
			prev_drop(c, err);
			return NULL;
		}
		if (c->pn == 0)
			return NULL;
	}
	return &c->pbuf[idx - c->pbase];
}

static dedup_slot *
dedup_find(backup_ctx *c, const uint8_t id[CHUNK_ID_LEN])
{
	uint32_t	h;

	memcpy(&h, id, sizeof(h));
	return &c->dedup[h & (DEDUP_SLOTS - 1)];
}

static void
progress(backup_ctx *c, uint64_t add)
{
	c->done += add;
	if (c->o->progress)
		c->o->progress(c->o->progress_arg, c->done, c->total);
}

/*
 * Wait until every WAL segment from the backup's start segment to its stop
 * segment is in the repository: without all of them the backup cannot be
 * made consistent. (PostgreSQL's own wait, pg_backup_stop(true), looks at
 * archive_status once a second, so it cost a second even when the archiver
 * took 50 ms; and with wal-push's look-ahead a later segment can be stored
 * while an earlier one still fails, so the stop segment alone proves
 * nothing.) The repository is asked every few milliseconds at first, then
 * every 200 ms, for at most [backup] archive_timeout seconds; a store that
 * does not answer is asked again until then.
 */
static int
await_backup_wal(repo *r, pg_session *sess, const char *start_wal, const char *stop_wal, pgark_err *err)
{
	walname		first, last;
	uint64_t	seg, end;
	double		t0 = now_ms();
	unsigned long pause_ms = 2;
	char		why[600] = "";

	if (walname_parse(start_wal, &first, err) != 0 || walname_parse(stop_wal, &last, err) != 0)
		return err_prefix(err, "the backup's start or stop segment");
	seg = walname_segno(&first, r->meta.wal_seg_size);
	end = walname_segno(&last, r->meta.wal_seg_size);
	if (first.tli != last.tli || seg > end)
		seg = end;				/* cannot be on a primary: check the stop segment */
	while (seg <= end)
	{
		walname		wn;
		char		obj[128], report[512];
		store_stat	st;

		if (first.tli == last.tli)
			walname_segment(last.tli, seg, r->meta.wal_seg_size, &wn);
		else
			wn = last;
		walname_object(&wn, obj, sizeof(obj));
		if (store_head(r->st, obj, &st, err) == 0)
		{
			seg++;
			continue;
		}
		if (err->kind != PGARK_ERR_NOTFOUND && err->kind != PGARK_ERR_TRANSIENT)
			return err_prefix(err, "looking for the backup's WAL segment %s in the repository", wn.name);
		if (err->kind == PGARK_ERR_TRANSIENT)
			snprintf(why, sizeof(why), " (the last answer: %.500s)", err->msg);
		if (now_ms() - t0 >= r->cfg->archive_timeout * 1000.0)
		{
			pg_archiver_report(sess, report, sizeof(report));
			return err_set(err, PGARK_ERR_TRANSIENT, 0,
						   "the backup's WAL segment %s (of %s to %s) did not reach the repository within %d s "
						   "([backup] archive_timeout)%s; is archive_command wal-push into this repository, "
						   "and does it work? %s", wn.name, start_wal, stop_wal, r->cfg->archive_timeout, why,
						   report[0] ? report : "(pg_stat_archiver could not be read)");
		}
		sleep_ms(pause_ms);
		pause_ms = pause_ms * 2 > 200 ? 200 : pause_ms * 2;
	}
	err_clear(err);
	return 0;
}

static int
hash_one(void *arg, size_t i, pgark_err *err)
{
	backup_ctx *c = arg;

	return chunk_id(c->key, c->buf + i * PACK_CHUNK_SIZE, c->lens[i], c->ids[i], err);
}

static int
encode(backup_ctx *c, size_t i, pgark_err *err)
{
	return chunk_encode(c->r, c->buf + i * PACK_CHUNK_SIZE, c->lens[i], c->salts[i],
						c->enc + i * CHUNK_ENCODED_MAX, CHUNK_ENCODED_MAX, &c->enclen[i], err);
}

static int
encode_one(void *arg, size_t i, pgark_err *err)
{
	backup_ctx *c = arg;

	return c->todo[i] == (int) i ? encode(c, i, err) : 0;
}

/* both in one pass, for a file the previous backup did not have */
static int
hash_encode_one(void *arg, size_t i, pgark_err *err)
{
	return hash_one(arg, i, err) != 0 ? -1 : encode(arg, i, err);
}

/*
 * Store the chunks of c->buf (or find them): the ids on every thread; then,
 * in order, each chunk either found (the previous backup's copy of this file
 * at the same index, or a recent duplicate) or new; the new ones encoded on
 * every thread; then appended to the pack in order, so the pack's layout is
 * the same whatever the number of threads. Fills c->refs. A file the
 * previous backup lacks is mostly new: its chunks are hashed and encoded in
 * one pass (a duplicate's encoding is then thrown away), which saves the
 * threads a rendezvous per buffer.
 */
static int
put_chunks(backup_ctx *c, const mf_entry *pf, uint64_t first_idx, pgark_err *err)
{
	int			encoded = pf == NULL;

	if (random_bytes(&c->salts[0][0], c->nchunks * OBJ_SALT_LEN, err) != 0 ||
		workers_for(c->wk, c->nchunks, encoded ? hash_encode_one : hash_one, c, err) != 0)
		return -1;
	for (size_t i = 0; i < c->nchunks; i++)
	{
		const chunk_ref *pc = prev_chunk(c, pf, first_idx + i, err);
		dedup_slot *slot;

		c->todo[i] = -1;
		if (pc && memcmp(pc->id, c->ids[i], CHUNK_ID_LEN) == 0)
		{
			c->refs[i] = *pc;
			continue;
		}
		slot = dedup_find(c, c->ids[i]);
		if (slot->used && memcmp(slot->ref.id, c->ids[i], CHUNK_ID_LEN) == 0)
		{
			c->refs[i] = slot->ref;
			continue;
		}
		/* new: unless an earlier new chunk of this buffer has the same id */
		c->todo[i] = (int) i;
		for (size_t j = 0; j < i; j++)
			if (c->todo[j] == (int) j && memcmp(c->ids[j], c->ids[i], CHUNK_ID_LEN) == 0)
			{
				c->todo[i] = (int) j;
				break;
			}
	}
	if (!encoded && workers_for(c->wk, c->nchunks, encode_one, c, err) != 0)
		return -1;
	for (size_t i = 0; i < c->nchunks; i++)
	{
		if (c->todo[i] == (int) i)
		{
			dedup_slot *slot = dedup_find(c, c->ids[i]);

			if (pack_add_encoded(c->pw, c->ids[i], c->enc + i * CHUNK_ENCODED_MAX, c->enclen[i],
								 &c->refs[i], err) != 0)
				return -1;
			slot->used = 1;
			slot->ref = c->refs[i];
			c->res->chunks_new++;
			c->res->bytes_new += c->lens[i];
		}
		else
		{
			if (c->todo[i] >= 0)
				c->refs[i] = c->refs[c->todo[i]];
			c->res->chunks_reused++;
			c->res->bytes_reused += c->lens[i];
		}
	}
	return 0;
}

static void
check_pages(backup_ctx *c, const pgdir_entry *e, int fd, const uint8_t *data, size_t len, uint64_t file_off)
{
	for (size_t off = 0; off + PG_PAGE_SIZE <= len; off += PG_PAGE_SIZE)
	{
		uint32_t	blk = e->segno * PG_RELSEG_PAGES + (uint32_t) ((file_off + off) / PG_PAGE_SIZE);
		uint8_t		again[PG_PAGE_SIZE];

		if (pg_page_verify(data + off, blk, c->start_lsn) != PG_PAGE_BAD)
			continue;
		/* read while PostgreSQL was writing it? A torn read heals on a
		 * second look (then its LSN is new, or the checksum matches) */
		if (pread(fd, again, PG_PAGE_SIZE, (off_t) (file_off + off)) == PG_PAGE_SIZE &&
			pg_page_verify(again, blk, c->start_lsn) != PG_PAGE_BAD)
			continue;
		{
			c->res->bad_checksums++;
			if (c->o->bad_page)
				c->o->bad_page(c->o->bad_page_arg, e->path, blk);
		}
	}
}

static int
backup_file(backup_ctx *c, const pgdir_entry *e, pgark_err *err)
{
	const mf_entry *pf;
	int			fd;
	uint64_t	off = 0;
	uint64_t	n = 0;
	int			shrank = 0;

	if (prev_seek(c, e->path, err) != 0)
		return -1;
	pf = prev_file(c, e->path);
	c->res->files++;
	c->res->bytes_total += e->size;

	/* unchanged since before the previous backup started: reuse its chunks */
	if (pf && !c->o->full_read && pf->size == e->size && pf->mtime == e->mtime &&
		e->mtime < c->prev_head.start_time)
	{
		c->res->files_reused++;
		c->res->bytes_reused += e->size;
		c->res->chunks_reused += pf->nchunks;
		progress(c, e->size);
		if (mf_file_begin(c->mw, e->path, e->mode, pf->size, pf->mtime, err) != 0)
			return -1;
		for (uint64_t i = 0; i < pf->nchunks; i++)
		{
			const chunk_ref *pc = prev_chunk(c, pf, i, err);

			if (pc == NULL)
				return err_set(err, PGARK_ERR_CORRUPT, 0,
							   "the previous backup's manifest broke off inside %s (%s); "
							   "run base-push --full-read to back up without trusting it", e->path, c->res->warning);
			if (mf_file_chunk(c->mw, pc, err) != 0)
				return -1;
		}
		return mf_file_end(c->mw, err);
	}

	fd = open(e->abs, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
	{
		if (errno == ENOENT)
		{
			/* dropped while the backup runs: WAL replay knows */
			c->res->files--;
			c->res->bytes_total -= e->size;
			return 0;
		}
		return err_sys(err, PGARK_ERR_IO, "could not open %s", e->abs);
	}
	(void) posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	if (mf_file_begin(c->mw, e->path, e->mode, e->size, e->mtime, err) != 0)
		goto fail;
	/* read exactly the size seen by the walk: a file that grows is taken to
	 * that size (WAL replay brings the rest); one that shrinks is padded
	 * with zeros, as PostgreSQL's own base backup does (replay truncates it) */
	while (off < e->size)
	{
		size_t		want = e->size - off < READ_BUF ? (size_t) (e->size - off) : READ_BUF;
		ssize_t		got = shrank ? 0 : read_full(fd, c->buf, want);

		if (got < 0)
		{
			err_sys(err, PGARK_ERR_IO, "could not read %s", e->abs);
			goto fail;
		}
		c->res->bytes_read += (uint64_t) got;
		if ((size_t) got < want)
		{
			shrank = 1;
			memset(c->buf + got, 0, want - (size_t) got);
		}
		if (c->checksums && e->is_relation && got > 0)
			check_pages(c, e, fd, c->buf, (size_t) got, off);
		c->nchunks = 0;
		for (size_t p = 0; p < want; p += PACK_CHUNK_SIZE)
			c->lens[c->nchunks++] = want - p < PACK_CHUNK_SIZE ? want - p : PACK_CHUNK_SIZE;
		if (put_chunks(c, pf, n, err) != 0)
			goto fail;
		for (size_t i = 0; i < c->nchunks; i++)
			if (mf_file_chunk(c->mw, &c->refs[i], err) != 0)
				goto fail;
		n += c->nchunks;
		off += want;
		progress(c, want);
	}
	close(fd);
	return mf_file_end(c->mw, err);
fail:
	close(fd);
	return err_prefix(err, "backing up %s", e->path);
}

static int
walk_cb(void *arg, const pgdir_entry *e, pgark_err *err)
{
	backup_ctx *c = arg;

	if (marker_refresh(c, err) != 0)
		return -1;
	switch (e->kind)
	{
		case PGDIR_DIR:
			return mf_add_dir(c->mw, e->path, e->mode, err);
		case PGDIR_TABLESPACE:
			return mf_add_tablespace(c->mw, e->path, e->link_target, err);
		case PGDIR_FILE:
			return backup_file(c, e, err);
	}
	return 0;
}

static int
size_cb(void *arg, const pgdir_entry *e, pgark_err *err)
{
	(void) err;
	if (e->kind == PGDIR_FILE)
		*(uint64_t *) arg += e->size;
	return 0;
}

void
backup_make_id(char *out, size_t outlen, int64_t t)
{
	struct tm	tm;
	time_t		tt = (time_t) t;
	uint8_t		rnd[2] = {0, 0};
	char		ts[32];

	gmtime_r(&tt, &tm);
	strftime(ts, sizeof(ts), "%Y%m%dT%H%M%SZ", &tm);
	(void) random_bytes(rnd, sizeof(rnd), NULL);
	snprintf(out, outlen, "%s-%02x%02x", ts, rnd[0], rnd[1]);
}

static uint32_t
label_timeline(const char *label)
{
	const char *p = strstr(label, "START TIMELINE: ");
	unsigned	tli = 0;

	if (p && sscanf(p + 16, "%u", &tli) == 1)
		return tli;
	return 0;
}

static void
label_start_wal(const char *label, char *out, size_t outlen)
{
	const char *p = strstr(label, "(file ");

	out[0] = '\0';
	if (p)
		snprintf(out, outlen, "%.24s", p + 6);
}

int
backup_run(repo *r, const backup_opts *o, backup_result *res, pgark_err *err)
{
	backup_ctx	c;
	pg_session *sess = NULL;
	pg_server_facts facts;
	mf_head		head;
	char	  **ids = NULL;
	size_t		nids = 0;
	int			in_backup = 0;
	char	   *labelfile = NULL, *spcmap = NULL, *snapshot = NULL;
	int			rc = -1;

	memset(&c, 0, sizeof(c));
	memset(res, 0, sizeof(*res));
	memset(&head, 0, sizeof(head));
	c.r = r;
	c.o = o;
	c.res = res;

	if (r->cfg->conninfo[0] == '\0')
		return err_set(err, PGARK_ERR_CONFIG, 0, "base-push needs [postgres] conninfo to reach the server");
	if ((sess = pg_session_open(r->cfg->conninfo, err)) == NULL || pg_session_facts(sess, &facts, err) != 0)
		goto done;
	if (facts.sys.sysid != r->meta.sysid)
	{
		err_set(err, PGARK_ERR_MISMATCH, 0,
				"the server is database system %llu, but repository %s holds system %llu: refusing to mix clusters",
				(unsigned long long) facts.sys.sysid, r->st->where, (unsigned long long) r->meta.sysid);
		goto done;
	}
	if (facts.sys.pg_version != r->meta.pg_version)
	{
		err_set(err, PGARK_ERR_MISMATCH, 0, "the server runs PostgreSQL %d, the repository holds version %d",
				facts.sys.pg_version, r->meta.pg_version);
		goto done;
	}
	if (facts.in_recovery)
	{
		err_set(err, PGARK_ERR_DB, 0, "the server is in recovery: base-push backs up a primary");
		goto done;
	}
	if (r->cfg->pgdata[0] && strcmp(r->cfg->pgdata, facts.data_directory) != 0)
	{
		char		a[PATH_MAX], b[PATH_MAX];

		if (realpath(r->cfg->pgdata, a) == NULL || realpath(facts.data_directory, b) == NULL ||
			strcmp(a, b) != 0)
		{
			err_set(err, PGARK_ERR_CONFIG, 0, "[postgres] pgdata is %s but the server's data_directory is %s",
					r->cfg->pgdata, facts.data_directory);
			goto done;
		}
	}
	snprintf(c.pgdata, sizeof(c.pgdata), "%s", facts.data_directory);
	c.checksums = facts.data_checksums;
	res->data_checksums = facts.data_checksums;

	if (chunk_key(r, c.key, err) != 0 ||
		(c.pw = pack_writer_new(r, 0, err)) == NULL ||
		(c.mw = mf_writer_new(r->cfg->spool, err)) == NULL)
		goto done;
	c.buf = malloc(READ_BUF);
	c.pbuf = malloc(PREV_WINDOW * sizeof(*c.pbuf));
	c.dedup = calloc(DEDUP_SLOTS, sizeof(*c.dedup));
	c.enc = malloc((size_t) BUF_CHUNKS * CHUNK_ENCODED_MAX);
	if (c.buf == NULL || c.dedup == NULL || c.pbuf == NULL || c.enc == NULL)
	{
		err_set(err, PGARK_ERR_INTERNAL, 0, "out of memory");
		goto done;
	}
	/* (the data key is loaded by chunk_key above: the threads only read it) */
	if ((c.wk = workers_new(r->cfg->workers > 0 ? r->cfg->workers : workers_default(), err)) == NULL)
		goto done;
	res->workers = workers_count(c.wk);

	/* announce the backup before choosing the one it builds on and before
	 * its first pack, so that repo-expire sweeps none of them meanwhile */
	/* ids sort by time: one newer than every backup there (two backups in
	 * one second would otherwise sort by their random part) */
	if (mf_list_backups(r, &ids, &nids, err) != 0)
		goto done;
	for (int tries = 0;; tries++)
	{
		res->start_time = (int64_t) time(NULL);
		backup_make_id(res->backup_id, sizeof(res->backup_id), res->start_time);
		if (nids == 0 || strncmp(res->backup_id, ids[nids - 1], 16) > 0 || tries >= 20)
			break;				/* (a clock set back: ids out of order, as before) */
		sleep_ms(100);
	}
	mf_free_list(ids, nids);
	ids = NULL;
	nids = 0;
	if (backup_marker_put(r, res->backup_id, err) != 0)
		goto done;
	c.marker = 1;
	c.marker_at = now_ms();

	/* the newest readable backup, to reuse what did not change; one that
	 * cannot be read is reported, never a reason not to back up */
	if (mf_list_backups(r, &ids, &nids, err) != 0)
		goto done;
	for (size_t i = nids; i > 0 && c.prev == NULL; i--)
	{
		c.prev = mf_open(r, ids[i - 1], &c.prev_head, err);
		if (c.prev == NULL)
		{
			snprintf(res->warning, sizeof(res->warning),
					 "backup %s cannot be read, so its unchanged files are read again: %s", ids[i - 1], err->msg);
			err_clear(err);
		}
	}

	if (o->progress && pgdir_walk(c.pgdata, size_cb, &c.total, err) != 0)
		goto done;

	{
		char		label[300];

		snprintf(label, sizeof(label), "pgark %s%s%s", res->backup_id, o->label ? " " : "", o->label ? o->label : "");
		if (pg_backup_begin(sess, label, o->fast, &c.start_lsn, err) != 0)
			goto done;
		in_backup = 1;
	}
	res->start_lsn = c.start_lsn;

	if (pgdir_walk(c.pgdata, walk_cb, &c, err) != 0)
		goto done;

	{
		char		stop_wal[64];

		in_backup = 0;
		if (pg_backup_end(sess, &res->stop_lsn, stop_wal, sizeof(stop_wal), &labelfile, &spcmap, &snapshot,
						  err) != 0)
			goto done;
		snprintf(head.stop_snapshot, sizeof(head.stop_snapshot), "%s", strlen(snapshot) < sizeof(head.stop_snapshot) ? snapshot : "");
		res->stop_time = (int64_t) time(NULL);
		res->timeline = label_timeline(labelfile);
		if (res->timeline == 0)
		{
			err_set(err, PGARK_ERR_DB, 0, "backup_label without START TIMELINE");
			goto done;
		}
		{
			char		start_wal[32];

			label_start_wal(labelfile, start_wal, sizeof(start_wal));
			if (await_backup_wal(r, sess, start_wal, stop_wal, err) != 0)
				goto done;
		}
		snprintf(head.stop_wal, sizeof(head.stop_wal), "%.24s", stop_wal);
	}
	if (pack_flush(c.pw, err) != 0)
		goto done;
	/* every pack stored (uploads may have run in the background) before the
	 * manifest that refers to them */
	if (store_drain(r->st, err) != 0)
	{
		err_prefix(err, "storing the backup's packs");
		goto done;
	}
	res->bytes_stored = pack_writer_bytes(c.pw);

	snprintf(head.backup_id, sizeof(head.backup_id), "%s", res->backup_id);
	head.sysid = r->meta.sysid;
	head.pg_version = r->meta.pg_version;
	head.timeline = res->timeline;
	head.start_lsn = res->start_lsn;
	head.stop_lsn = res->stop_lsn;
	label_start_wal(labelfile, head.start_wal, sizeof(head.start_wal));
	head.start_time = res->start_time;
	head.stop_time = res->stop_time;
	snprintf(head.label, sizeof(head.label), "%s", o->label ? o->label : "");
	head.chunk_size = PACK_CHUNK_SIZE;
	head.files = res->files;
	head.bytes_total = res->bytes_total;
	head.bytes_stored = res->bytes_stored;
	head.bytes_reused = res->bytes_reused;
	head.bad_checksums = res->bad_checksums;
	head.backup_label = labelfile;
	head.tablespace_map = spcmap;
	if (backup_marker_check(r, res->backup_id, err) != 0 || mf_writer_commit(c.mw, r, &head, err) != 0)
		goto done;
	rc = 0;
done:
	if (c.marker)
	{
		pgark_err	e2;

		/* a marker left behind is removed by repo-expire */
		err_clear(&e2);
		if (backup_marker_remove(r, res->backup_id, &e2) != 0 && rc == 0 && res->warning[0] == '\0')
			snprintf(res->warning, sizeof(res->warning), "%s", e2.msg);
	}
	/* on failure while in backup mode, closing the session is enough: the
	 * server ends a backup whose session goes (pg_backup_stop would wait
	 * for the archiver, which may be what failed) */
	(void) in_backup;
	pg_session_close(sess);
	free(labelfile);
	free(spcmap);
	free(snapshot);
	mf_close(c.prev);
	mf_head_free(&c.prev_head);
	mf_writer_free(c.mw);
	pack_writer_free(c.pw);
	mf_free_list(ids, nids);
	workers_free(c.wk);
	free(c.enc);
	free(c.buf);
	free(c.pbuf);
	free(c.dedup);
	secure_zero(c.key, sizeof(c.key));
	return rc;
}
