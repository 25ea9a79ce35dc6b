#include "walarchive.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

#define IO_CHUNK (1024 * 1024)
#define MAX_SMALL_WAL_FILE (64 * 1024 * 1024)	/* .history, .backup */

static int
sink_store(void *arg, const void *buf, size_t len, pgark_err *err)
{
	return store_put_write((store_writer *) arg, buf, len, err);
}

/* Compare the archived object with the local file (fd, size). 0 identical,
 * -1 with CONFLICT if different, other kinds if the object cannot be read. */
static int
compare_archived(repo *r, const char *object, int fd, uint64_t size, pgark_err *err)
{
	store_reader *sr = NULL;
	obj_reader *or = NULL;
	uint8_t    *a = NULL, *b = NULL;
	uint64_t	off = 0;
	int			rc = -1;

	if ((sr = store_get(r->st, object, 0, 0, err)) == NULL)
		goto done;
	if ((or = repo_object_reader(r, store_read_source, sr, err)) == NULL)
		goto read_failed;
	a = malloc(IO_CHUNK);
	b = malloc(IO_CHUNK);
	if (a == NULL || b == NULL)
	{
		err_set(err, PGARK_ERR_INTERNAL, 0, "out of memory");
		goto done;
	}
	for (;;)
	{
		size_t		got;
		ssize_t		n;

		if (obj_reader_read(or, a, IO_CHUNK, &got, err) != 0)
			goto read_failed;
		if (got == 0)
			break;
		n = pread(fd, b, got, (off_t) off);
		if (n < 0)
		{
			err_sys(err, PGARK_ERR_IO, "could not read the local file to compare");
			goto done;
		}
		if ((size_t) n != got || memcmp(a, b, got) != 0)
			goto differ;
		off += got;
	}
	if (off != size)
		goto differ;
	rc = 0;
	goto done;
differ:
	err_set(err, PGARK_ERR_CONFLICT, 0,
			"%s is already archived with DIFFERENT content; refusing to overwrite it "
			"(two clusters archiving into one repository, or a reused name after a restore?)",
			object);
	goto done;
read_failed:
	err_prefix(err, "%s is already archived but the archived copy cannot be read back to compare", object);
done:
	free(a);
	free(b);
	obj_reader_free(or);
	store_reader_close(sr);
	return rc;
}

/* The next piece of a WAL file being pushed, read beside the sealing of the
 * previous one (obj_writer_write_side). */
typedef struct wal_read_ahead
{
	int			fd;
	const char *path;
	uint8_t    *buf;			/* where the next piece goes */
	size_t		cap;
	size_t		got;			/* its length: 0 at the end of the file */
} wal_read_ahead;

static int
read_next(void *arg, pgark_err *err)
{
	wal_read_ahead *ra = arg;
	ssize_t		n = read_full(ra->fd, ra->buf, ra->cap);

	if (n < 0)
		return err_sys(err, PGARK_ERR_IO, "could not read WAL file %s", ra->path);
	ra->got = (size_t) n;
	return 0;
}

int
wal_push_threads(const pgark_config *cfg)
{
	int			n = cfg->workers > 0 ? cfg->workers : workers_default();

	return n > 4 ? 4 : n;
}

int
wal_push_one(repo *r, const char *path, const walname *wn, wal_push_result *res, pgark_err *err)
{
	workers    *wk = NULL;
	int			rc;

	if (wn->kind == WAL_SEGMENT || wn->kind == WAL_PARTIAL)
	{
		wk = workers_new(wal_push_threads(r->cfg), err);
		err_clear(err);			/* no threads: the same work on this one */
		workers_set_spin(wk, WAL_PUSH_SPIN_US);
	}
	rc = wal_push_file_wk(r, path, wn, wk, res, err);
	workers_free(wk);
	return rc;
}

int
wal_push_file(repo *r, const char *path, const walname *wn, wal_push_result *res, pgark_err *err)
{
	return wal_push_file_wk(r, path, wn, NULL, res, err);
}

int
wal_push_file_wk(repo *r, const char *path, const walname *wn, workers *wk, wal_push_result *res,
				 pgark_err *err)
{
	size_t		chunk = IO_CHUNK;
	int			fd = -1;
	struct stat sb, sb2;
	uint8_t    *buf = NULL;
	store_writer *sw = NULL;
	obj_writer *ow = NULL;
	obj_params	params;
	obj_summary sum;
	store_stat	hs;
	int			segment_like = (wn->kind == WAL_SEGMENT || wn->kind == WAL_PARTIAL);
	int			rc = -1;

	memset(res, 0, sizeof(*res));
	walname_object(wn, res->object, sizeof(res->object));

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
	{
		if (errno == ENOENT)
			err_set(err, PGARK_ERR_NOTFOUND, ENOENT, "WAL file %s does not exist", path);
		else
			err_sys(err, PGARK_ERR_IO, "could not open WAL file %s", path);
		goto done;
	}
	if (fstat(fd, &sb) != 0)
	{
		err_sys(err, PGARK_ERR_IO, "could not stat WAL file %s", path);
		goto done;
	}
	if (!S_ISREG(sb.st_mode))
	{
		err_set(err, PGARK_ERR_IO, 0, "%s is not a regular file", path);
		goto done;
	}
	res->file = sb;
	if (segment_like)
	{
		uint8_t		hdr[WAL_LONG_HEADER_LEN];

		if ((uint64_t) sb.st_size != r->meta.wal_seg_size)
		{
			err_set(err, PGARK_ERR_MISMATCH, 0,
					"WAL file %s is %lld bytes, not the segment size %u: refusing a truncated or foreign segment",
					path, (long long) sb.st_size, r->meta.wal_seg_size);
			goto done;
		}
		if (read_full(fd, hdr, sizeof(hdr)) != (ssize_t) sizeof(hdr))
		{
			err_sys(err, PGARK_ERR_IO, "could not read WAL file %s", path);
			goto done;
		}
		if (wal_check_segment(wn, hdr, sizeof(hdr), r->meta.sysid, r->meta.wal_seg_size, err) != 0)
			goto done;
		if (lseek(fd, 0, SEEK_SET) != 0)
		{
			err_sys(err, PGARK_ERR_IO, "could not seek in WAL file %s", path);
			goto done;
		}
	}
	else if (sb.st_size > MAX_SMALL_WAL_FILE)
	{
		err_set(err, PGARK_ERR_MISMATCH, 0, "%s is %lld bytes: too large for a %s file",
				path, (long long) sb.st_size, walname_kind_str(wn->kind));
		goto done;
	}
	res->bytes = (uint64_t) sb.st_size;

	/* Already there? Then the content decides (the rare case: a retry after
	 * a crash between storing and PostgreSQL's .done, or a second archiver). */
	if (store_head(r->st, res->object, &hs, err) == 0)
	{
		if (compare_archived(r, res->object, fd, (uint64_t) sb.st_size, err) != 0)
			goto done;
		/* the push that stored it may have died before it was durable */
		if (store_sync(r->st, res->object, err) != 0)
			goto done;
		res->outcome = WAL_PUSH_IDENTICAL;
		res->stored = hs.size;
		rc = 0;
		goto done;
	}
	if (err->kind != PGARK_ERR_NOTFOUND)
		goto done;
	err_clear(err);

	if (repo_object_params(r, (uint64_t) sb.st_size, &params, err) != 0)
		goto done;
	(void) posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	/* with workers, read as many whole frames at once as they seal at once */
	if (wk != NULL && workers_count(wk) > 1)
		chunk = (size_t) workers_count(wk) *
			(params.frame_size ? params.frame_size : OBJ_DEFAULT_FRAME_SIZE);
	/* two buffers: the next one is read while the workers seal this one */
	if ((buf = alloc_bulk(2 * chunk)) == NULL)
	{
		err_set(err, PGARK_ERR_INTERNAL, 0, "out of memory");
		goto done;
	}
	if ((sw = store_put_begin(r->st, res->object, err)) == NULL)
		goto done;
	if ((ow = obj_writer_new(&params, sink_store, sw, err)) == NULL)
		goto done;
	/* a WAL object's SHA-256 is recorded nowhere (FORMAT.md 3.5: frame tags
	 * and trailer verify it; S3 hashes what it is sent on its own) */
	obj_writer_skip_stored_sha256(ow);
	if (chunk > IO_CHUNK && obj_writer_use_workers(ow, wk, err) != 0)
		goto done;
	{
		wal_read_ahead ra = {fd, path, buf, chunk, 0};

		if (read_next(&ra, err) != 0)
			goto done;
		while (ra.got > 0)
		{
			const uint8_t *cur = ra.buf;
			size_t		n = ra.got;

			ra.buf = (cur == buf) ? buf + chunk : buf;
			if (obj_writer_write_side(ow, cur, n, read_next, &ra, err) != 0)
				goto done;
		}
	}
	/* Nothing may have written or renamed the file while it was read (a
	 * segment PostgreSQL no longer protects, recycled under a reader that
	 * outlived its call): else what was read may mix two segments. A
	 * write changes mtime, a rename ctime. */
	if (fstat(fd, &sb2) != 0 || sb2.st_size != sb.st_size)
	{
		err_set(err, PGARK_ERR_MISMATCH, 0, "WAL file %s changed size while being archived", path);
		goto done;
	}
	if (sb2.st_mtim.tv_sec != sb.st_mtim.tv_sec || sb2.st_mtim.tv_nsec != sb.st_mtim.tv_nsec ||
		sb2.st_ctim.tv_sec != sb.st_ctim.tv_sec || sb2.st_ctim.tv_nsec != sb.st_ctim.tv_nsec)
	{
		err_set(err, PGARK_ERR_MISMATCH, 0,
				"WAL file %s was written or renamed while being archived (recycled by PostgreSQL?): not stored",
				path);
		goto done;
	}
	/* fails (MISMATCH) unless exactly st_size bytes were written */
	if (obj_writer_finish(ow, &sum, err) != 0)
		goto done;
	if (store_put_commit(sw, STORE_NO_OVERWRITE, err) != 0)
	{
		sw = NULL;
		if (err->kind == PGARK_ERR_EXISTS)
		{
			/* another wal-push stored it meanwhile: same rule as above */
			err_clear(err);
			if (compare_archived(r, res->object, fd, (uint64_t) sb.st_size, err) != 0 ||
				store_sync(r->st, res->object, err) != 0)
				goto done;
			res->outcome = WAL_PUSH_IDENTICAL;
			res->stored = sum.stored_len;
			rc = 0;
		}
		goto done;
	}
	sw = NULL;
	res->outcome = WAL_PUSH_STORED;
	res->stored = sum.stored_len;
	rc = 0;
done:
	obj_writer_free(ow);
	store_put_abort(sw);
	free(buf);
	if (fd >= 0)
		close(fd);
	return rc;
}

/* why a WAL object read failed, prefixed with its name (and "is damaged"
 * when it is) */
static void
wal_object_err(repo *r, const char *object, pgark_err *err)
{
	if (err->kind == PGARK_ERR_CORRUPT || err->kind == PGARK_ERR_MISMATCH)
		err_prefix(err, "archived object %s in %s is damaged", object, r->st->where);
	else
		err_prefix(err, "archived object %s", object);
}

/*
 * Why reading an object that was there when it was opened failed. "Not
 * found" now means it was removed meanwhile (a later ranged GET of a large
 * object answered 404), never that the archive lacks the file: told as
 * wal-fetch's "not found", it would end an archive recovery early, as if the
 * WAL ended there. A transient fault instead: exit 200 in archive recovery,
 * a retry on a standby.
 */
static void
wal_object_read_err(repo *r, const char *object, pgark_err *err)
{
	if (err->kind == PGARK_ERR_NOTFOUND)
	{
		err->kind = PGARK_ERR_TRANSIENT;
		err_prefix(err, "it was there when its reading began, then no longer (removed meanwhile?)");
	}
	wal_object_err(r, object, err);
}

/* The reader of wn's object over sr, an open store reader of it: its
 * header read and its key looked up, the header's length checked for a
 * segment; NULL with err set. */
static obj_reader *
wal_object_reader(repo *r, const walname *wn, const char *object, store_reader *sr, pgark_err *err)
{
	obj_reader *or;

	if ((or = repo_object_reader(r, store_read_source, sr, err)) == NULL)
	{
		wal_object_err(r, object, err);
		return NULL;
	}
	/* nobody here uses the stored bytes' SHA-256 (the frames are
	 * authenticated, the plaintext has its XXH64): 1.5-2 ms a segment */
	obj_reader_skip_stored_sha256(or);
	if ((wn->kind == WAL_SEGMENT || wn->kind == WAL_PARTIAL) &&
		obj_reader_header(or)->plain_len != r->meta.wal_seg_size)
	{
		err_set(err, PGARK_ERR_CORRUPT, 0, "header says %llu bytes, not the segment size %u",
				(unsigned long long) obj_reader_header(or)->plain_len, r->meta.wal_seg_size);
		wal_object_err(r, object, err);
		obj_reader_free(or);
		return NULL;
	}
	return or;
}

/* The reader of wn's object (in *sr its store reader, closed by the caller);
 * NULL with err set (NOTFOUND as the store says it, unprefixed). */
static obj_reader *
wal_object_open(repo *r, const walname *wn, const char *object, store_reader **sr, pgark_err *err)
{
	if ((*sr = store_get(r->st, object, 0, 0, err)) == NULL)
		return NULL;
	return wal_object_reader(r, wn, object, *sr, err);
}

/* the first WAL_LONG_HEADER_LEN bytes of what is read, gathered in hdr:
 * the new count */
static size_t
wal_hdr_take(uint8_t *hdr, size_t have, const uint8_t *buf, size_t got)
{
	size_t		n;

	if (have >= WAL_LONG_HEADER_LEN)
		return have;
	n = WAL_LONG_HEADER_LEN - have < got ? WAL_LONG_HEADER_LEN - have : got;
	memcpy(hdr + have, buf, n);
	return have + n;
}

/* After the whole object was read (the reader verified every frame and
 * the trailer): the WAL itself, for a segment its size and first page */
static int
wal_object_check(repo *r, const walname *wn, uint64_t total, const uint8_t *hdr, size_t hdr_have,
				 pgark_err *err)
{
	if (wn->kind != WAL_SEGMENT && wn->kind != WAL_PARTIAL)
		return 0;
	if (total != r->meta.wal_seg_size)
		return err_set(err, PGARK_ERR_CORRUPT, 0, "%llu bytes, not the segment size %u",
					   (unsigned long long) total, r->meta.wal_seg_size);
	return wal_check_segment(wn, hdr, hdr_have, r->meta.sysid, r->meta.wal_seg_size, err);
}

int
wal_verify_object(repo *r, const walname *wn, const volatile sig_atomic_t *cancel, pgark_err *err)
{
	store_reader *sr = NULL;
	obj_reader *or;
	uint8_t    *buf = NULL, hdr[WAL_LONG_HEADER_LEN];
	char		object[128];
	size_t		hdr_have = 0;
	uint64_t	total = 0;
	int			rc = -1;

	walname_object(wn, object, sizeof(object));
	if ((or = wal_object_open(r, wn, object, &sr, err)) == NULL)
		goto done;
	if ((buf = malloc(IO_CHUNK)) == NULL)
	{
		err_set(err, PGARK_ERR_INTERNAL, 0, "out of memory");
		goto done;
	}
	for (;;)
	{
		size_t		got;

		if (cancel != NULL && *cancel)
		{
			err_set(err, PGARK_ERR_INTERNAL, EINTR, "interrupted");
			goto done;
		}
		if (obj_reader_read(or, buf, IO_CHUNK, &got, err) != 0)
			goto bad_object;
		if (got == 0)
			break;
		hdr_have = wal_hdr_take(hdr, hdr_have, buf, got);
		total += got;
	}
	if (wal_object_check(r, wn, total, hdr, hdr_have, err) != 0)
		goto bad_object;
	rc = 0;
	goto done;
bad_object:
	wal_object_read_err(r, object, err);
done:
	free(buf);
	obj_reader_free(or);
	store_reader_close(sr);
	return rc;
}

/*
 * wal_fetch_file's copy, a pipeline of two threads over a ring of
 * FETCH_BUFS chunks (without a second thread, the first runs it alone on a
 * ring of one chunk: decode, hash, write in turn). One thread opens the object (its header, its key:
 * OpenSSL's initialisation, about 1 ms, comes with the first use) while
 * the other reserves the file's blocks and faults the ring's pages in.
 *
 * Then the work is shared: decoding a frame into the ring, hashing (XXH64)
 * and writing each decoded chunk each need a token (one thread at a time
 * each, so that chunks are decoded, hashed and written in order), and
 * either thread takes the next task whose token is free, in this order of
 * preference: decoding, hashing, writing (fetch_task). A thread that is
 * not yet running (woken on a busy CPU: measured 1-2 ms late on a loaded
 * machine) or that was preempted then costs the time of its work, not a
 * stall of the whole ring until it runs again; in the worst case one thread
 * does everything, as it does without a second thread.
 *
 * Errors: the object is decoded to its end (or its failure) whatever a
 * write meets, so that damage is always the one reported (the reader's
 * error wins). After a failed write the chunks are only freed, and the
 * write's error is reported once the object proved sound, its XXH64 and
 * the WAL's header and size included (wal_fetch_file). The temporary file
 * is made before the object's header is read: a DEST that cannot be
 * written is told even for a damaged object or a missing key.
 */
#define FETCH_BUFS 4

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23	/* Linux 5.14; older kernels: EINVAL */
#endif

typedef struct fetch_pipe
{
	/* the object, opened by the decoder (fetch_open) */
	repo	   *r;
	const walname *wn;
	const char *object;
	store_reader *sr;
	obj_reader *or;
	/* DEST */
	int			fd;
	uint64_t	prealloc;		/* bytes to reserve first, or 0 */
	const char *dest;
	uint8_t    *buf[FETCH_BUFS];
	size_t		got[FETCH_BUFS];
	unsigned	nbufs;			/* of them in use: 1 on one thread, where the
								 * chunk just decoded is hashed and written
								 * while still in the CPU's cache */
	/* total and the WAL header, from the decoder */
	uint64_t	total;
	uint8_t		hdr[WAL_LONG_HEADER_LEN];
	size_t		hdr_have;
	/* the writing token holder's: the blocks reserved; a write failed, and
	 * why */
	int			prepared;
	int			write_failed;
	pgark_err	write_err;
	/* the ring and the tokens, under mu */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int			opened;			/* fetch_open succeeded */
	uint64_t	decoded;		/* chunks decoded: slot decoded % nbufs next */
	uint64_t	hashed;			/* chunks added to the XXH64 */
	uint64_t	written;		/* chunks written (or dropped after a failure) */
	int			decoding;		/* a thread holds the token */
	int			hashing;
	int			writing;
	int			decode_over;	/* the object's end was reached, or reading failed */
	int			read_failed;	/* and read_err says why */
	pgark_err	read_err;
} fetch_pipe;

/* The decoder's first step: the object's header read and its key
 * unwrapped, the first use of OpenSSL in wal-fetch (its initialisation,
 * about 1 ms), while the other thread, if any, gets DEST and the ring
 * ready. */
static int
fetch_open(fetch_pipe *fp, pgark_err *err)
{
	if ((fp->or = wal_object_reader(fp->r, fp->wn, fp->object, fp->sr, err)) == NULL)
		return -1;
	/* the plaintext's XXH64 on the writing side, checked once all is
	 * written, before DEST gets its name: about 1 ms of a segment off the
	 * decoding side */
	obj_reader_defer_xxh64(fp->or);
	return 0;
}

/* The decoder's next chunk: 0, with got 0 at the end of the object. */
static int
fetch_decode(fetch_pipe *fp, uint8_t *buf, size_t *got, pgark_err *err)
{
	if (obj_reader_read(fp->or, buf, IO_CHUNK, got, err) != 0)
		return -1;
	fp->hdr_have = wal_hdr_take(fp->hdr, fp->hdr_have, buf, *got);
	fp->total += *got;
	return 0;
}

/*
 * The blocks of a whole segment at once: the buffered writes then find them
 * allocated rather than reserving them page by page (ext4: 2.9 -> 2.1 ms of
 * CPU for 16 MiB in 1 MiB writes). KEEP_SIZE: the size stays what was
 * written. Only a hint: where it fails (ENOSPC, a filesystem without it),
 * the writes say what is wrong, as before.
 */
static void
fetch_prealloc(fetch_pipe *fp)
{
	if (!fp->prepared && fp->prealloc > 0)
		(void) fallocate(fp->fd, FALLOC_FL_KEEP_SIZE, 0, (off_t) fp->prealloc);
	fp->prepared = 1;
}

/* One chunk written (with the writing token). */
static int
fetch_write(fetch_pipe *fp, const uint8_t *buf, size_t len, pgark_err *err)
{
	fetch_prealloc(fp);
	if (write_full(fp->fd, buf, len) != 0)
		return err_sys(err, PGARK_ERR_IO, "could not write the file fetched for %s", fp->dest);
	return 0;
}

/*
 * With mu held: the next task any thread may take, done with mu released
 * (held again on return); 0 if there is none now. In order of preference:
 * decoding (the longest of the three: about 2.6 ms of a segment, against
 * 1.3 for the XXH64 and 1.7 for the writes), hashing, writing. err: this
 * thread's scratch (a decoding failure goes to fp->read_err).
 */
static int
fetch_task(fetch_pipe *fp, pgark_err *err)
{
	uint64_t	freed = fp->hashed < fp->written ? fp->hashed : fp->written;

	if (fp->opened && !fp->decoding && !fp->decode_over && fp->decoded - freed < fp->nbufs)
	{
		size_t		slot = fp->decoded % fp->nbufs;
		size_t		got = 0;
		int			rc;

		fp->decoding = 1;
		pthread_mutex_unlock(&fp->mu);
		rc = fetch_decode(fp, fp->buf[slot], &got, err);
		pthread_mutex_lock(&fp->mu);
		fp->decoding = 0;
		if (rc != 0)
		{
			fp->read_failed = 1;
			fp->read_err = *err;
		}
		if (rc != 0 || got == 0)
			fp->decode_over = 1;
		else
		{
			fp->got[slot] = got;
			fp->decoded++;
		}
	}
	else if (!fp->hashing && fp->hashed < fp->decoded)
	{
		size_t		slot = fp->hashed % fp->nbufs;

		fp->hashing = 1;
		pthread_mutex_unlock(&fp->mu);
		obj_reader_hash(fp->or, fp->buf[slot], fp->got[slot]);
		pthread_mutex_lock(&fp->mu);
		fp->hashing = 0;
		fp->hashed++;
	}
	else if (!fp->writing && fp->written < fp->decoded)
	{
		size_t		slot = fp->written % fp->nbufs;

		fp->writing = 1;
		pthread_mutex_unlock(&fp->mu);
		if (!fp->write_failed && fetch_write(fp, fp->buf[slot], fp->got[slot], &fp->write_err) != 0)
			fp->write_failed = 1;
		pthread_mutex_lock(&fp->mu);
		fp->writing = 0;
		fp->written++;
	}
	else
		return 0;
	pthread_cond_broadcast(&fp->cv);
	return 1;
}

/* workers_for items 0 and 1, the two threads (see fetch_pipe); item 0
 * alone, without a second thread, does all of it in turn */
static int
fetch_side(void *arg, size_t i, pgark_err *err)
{
	fetch_pipe *fp = arg;
	pgark_err	scratch;
	int			rc = 0;

	if (i == 1)
	{
		/*
		 * While the other opens the object: the segment's blocks, and the
		 * ring's pages, which the decoding would otherwise fault in (the
		 * kernel zeroing 4 MiB) on the way to its first chunks.
		 * MADV_POPULATE_WRITE only faults in what is not there yet: the
		 * ring may already be written into. A hint (Linux 5.14), its
		 * failure ignored. Only for a segment: a history or backup-label
		 * file of a few hundred bytes needs none of it.
		 */
		if (fp->prealloc > 0)
			(void) madvise(fp->buf[0], FETCH_BUFS * IO_CHUNK, MADV_POPULATE_WRITE);
		pthread_mutex_lock(&fp->mu);
		if (!fp->writing && !fp->prepared)
		{
			fp->writing = 1;
			pthread_mutex_unlock(&fp->mu);
			fetch_prealloc(fp);
			pthread_mutex_lock(&fp->mu);
			fp->writing = 0;
			pthread_cond_broadcast(&fp->cv);
		}
	}
	else
	{
		rc = fetch_open(fp, err);
		pthread_mutex_lock(&fp->mu);
		if (rc != 0)
			fp->read_failed = fp->decode_over = 1;
		else
			fp->opened = 1;
		pthread_cond_broadcast(&fp->cv);
	}
	while (!fp->read_failed)	/* after which nothing written is of any use */
	{
		if (fetch_task(fp, &scratch))
			continue;
		if (fp->decode_over && fp->hashed == fp->decoded && fp->written == fp->decoded)
			break;
		pthread_cond_wait(&fp->cv, &fp->mu);
	}
	/* a failure to read, met by either thread, is item 0's to report (the
	 * lowest item's error is workers_for's) */
	if (i == 0 && rc == 0 && fp->read_failed)
	{
		*err = fp->read_err;
		rc = -1;
	}
	pthread_mutex_unlock(&fp->mu);
	return rc;
}

int
wal_fetch_file(repo *r, const walname *wn, const char *dest, wal_fetch_result *res, pgark_err *err)
{
	store_reader *sr = NULL;
	obj_reader *or = NULL;
	fetch_pipe	fp = {0};
	workers    *wk = NULL;
	char		dir[PATH_MAX], tmp[PATH_MAX];
	int			fd = -1;
	int			copied;
	int			unnamed = 0;	/* fd is an O_TMPFILE */
	int			tmp_named = 0;	/* tmp exists and must go on failure */
	int			published = 0;
	int			rc = -1;

	memset(res, 0, sizeof(*res));
	walname_object(wn, res->object, sizeof(res->object));

	/* the object first: where the archive ends (a standby asks again and
	 * again), nothing else is done */
	if ((sr = store_get(r->st, res->object, 0, 0, err)) == NULL)
		goto done;				/* NOTFOUND passes through */

	path_dirname(dest, dir, sizeof(dir));
	if ((size_t) snprintf(tmp, sizeof(tmp), "%s/.%s.pgark-%d.tmp", dir, path_basename(dest),
						  (int) getpid()) >= sizeof(tmp))
	{
		tmp[0] = '\0';
		err_set(err, PGARK_ERR_IO, 0, "destination path too long: %s", dest);
		goto done;
	}
	/* An unnamed file: if this process dies, nothing is left in pg_wal. It
	 * gets a name only once complete and verified (publish_file). */
	errno = EOPNOTSUPP;
	fd = access("/proc/self/fd", X_OK) == 0 ? open(dir, O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600) : -1;
	if (fd >= 0)
		unnamed = 1;
	else if (errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL || errno == ENOENT || errno == EACCES)
	{
		unlink(tmp);			/* a leftover of a killed earlier run with our pid */
		fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	}
	if (fd < 0)
	{
		err_sys(err, PGARK_ERR_IO, "could not create a file in %s", dir);
		goto done;
	}
	if (!unnamed)
		tmp_named = 1;
	{
		/* as PostgreSQL makes its own files: 0640 where the cluster allows
		 * group access (pg_wal mode 0750), else 0600 */
		struct stat dsb;

		if (fstatat(AT_FDCWD, dir, &dsb, 0) == 0 && (dsb.st_mode & S_IRGRP))
			(void) fchmod(fd, 0640);
	}
	/* each chunk is decoded while those before are written, on two threads
	 * when there are (fetch_pipe) */
	fp.r = r;
	fp.wn = wn;
	fp.object = res->object;
	fp.sr = sr;
	fp.fd = fd;
	fp.dest = dest;
	if ((fp.buf[0] = alloc_bulk(FETCH_BUFS * IO_CHUNK)) == NULL)
	{
		err_set(err, PGARK_ERR_INTERNAL, 0, "out of memory");
		goto done;
	}
	for (int i = 1; i < FETCH_BUFS; i++)
		fp.buf[i] = fp.buf[0] + (size_t) i * IO_CHUNK;
	if (wal_push_threads(r->cfg) > 1)
	{
		wk = workers_new(2, err);
		err_clear(err);			/* no thread: the same work on this one */
	}
	if (wn->kind == WAL_SEGMENT || wn->kind == WAL_PARTIAL)
		fp.prealloc = r->meta.wal_seg_size;
	pthread_mutex_init(&fp.mu, NULL);
	pthread_cond_init(&fp.cv, NULL);
	fp.nbufs = wk != NULL && workers_count(wk) == 2 ? FETCH_BUFS : 1;
	if (fp.nbufs > 1)
		copied = workers_for(wk, 2, fetch_side, &fp, err);	/* only the reader's */
	else
		copied = fetch_side(&fp, 0, err);
	pthread_mutex_destroy(&fp.mu);
	pthread_cond_destroy(&fp.cv);
	or = fp.or;
	if (copied != 0)
	{
		if (or != NULL && fp.read_failed)
			goto bad_object;
		goto done;				/* not opened: told as wal_object_reader tells it */
	}
	/* the reader has verified every frame and the trailer, and with it the
	 * XXH64 of all that was decoded; now the WAL itself. Before any failed
	 * write is told: an object that is not this segment (another's bytes
	 * under its name) is damage, which a standby must not retry as if the
	 * disk were full. */
	if (obj_reader_check_hash(or, err) != 0 ||
		wal_object_check(r, wn, fp.total, fp.hdr, fp.hdr_have, err) != 0)
		goto bad_object;
	if (fp.write_failed)
	{
		*err = fp.write_err;	/* the object is sound: the write's error */
		goto done;
	}
	if (unnamed)
	{
		char		self[64];

		/* PostgreSQL removes DEST before calling restore_command, so this
		 * link usually publishes the file at once; else through a temp name */
		snprintf(self, sizeof(self), "/proc/self/fd/%d", fd);
		if (linkat(AT_FDCWD, self, AT_FDCWD, dest, AT_SYMLINK_FOLLOW) == 0)
			published = 1;
		else if (errno != EEXIST)
		{
			err_sys(err, PGARK_ERR_IO, "could not link the fetched file to %s", dest);
			goto done;
		}
		else
		{
			unlink(tmp);
			if (linkat(AT_FDCWD, self, AT_FDCWD, tmp, AT_SYMLINK_FOLLOW) != 0)
			{
				err_sys(err, PGARK_ERR_IO, "could not link the fetched file to %s", tmp);
				goto done;
			}
			tmp_named = 1;
		}
	}
	if (close(fd) != 0)
	{
		fd = -1;
		err_sys(err, PGARK_ERR_IO, "could not close the file fetched for %s", dest);
		goto done;
	}
	fd = -1;
	if (!published && rename(tmp, dest) != 0)
	{
		err_sys(err, PGARK_ERR_IO, "could not rename %s to %s", tmp, dest);
		goto done;
	}
	tmp_named = 0;
	res->bytes = fp.total;
	res->stored = obj_reader_summary(or)->stored_len;
	rc = 0;
	goto done;
bad_object:
	wal_object_read_err(r, res->object, err);
done:
	if (fd >= 0)
		close(fd);
	if (tmp_named)
		unlink(tmp);
	workers_free(wk);
	free(fp.buf[0]);
	obj_reader_free(or);
	store_reader_close(sr);
	return rc;
}

int
wal_fetch_mem(repo *r, const walname *wn, size_t max, char **out, size_t *len, pgark_err *err)
{
	char		object[128];

	walname_object(wn, object, sizeof(object));
	return repo_get_object(r, object, max, out, len, err);
}
