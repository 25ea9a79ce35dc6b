#include "pack.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "crypto.h"
#include "object.h"
#include "util.h"
#include "workers.h"

#define CHUNK_KEY_INFO "pgark chunk id v1"
#define RUN_MAX_BYTES (8u * 1024 * 1024)
/*
 * Restores read packs through a small cache of aligned blocks: a run of
 * chunks is served from the BLOCK_BYTES blocks that hold it, missing ones
 * fetched with one ranged read per contiguous span. Files are written into
 * packs in the order they are restored, so the next files' runs come from
 * memory: on object storage, one request per MiB instead of one per small
 * file. Memory: CACHE_BLOCKS blocks.
 */
#define BLOCK_BYTES (1024u * 1024)
#define CACHE_BLOCKS 12
#define RA_SPAN_BLOCKS (RA_SPAN_BYTES / BLOCK_BYTES)
#define RA_MAX_CONNS 16

int
chunk_key(repo *r, uint8_t key[32], pgark_err *err)
{
	obj_params	p;

	if (r->meta.cipher == OBJ_CIPHER_NONE)
	{
		/* unencrypted repositories (tests, benchmarks): a fixed key */
		memset(key, 0, 32);
		return 0;
	}
	if (repo_object_params(r, 0, &p, err) != 0)
		return -1;
	return hkdf_sha256(NULL, 0, p.dek->key, AES256_KEY_LEN, (const uint8_t *) CHUNK_KEY_INFO,
					   strlen(CHUNK_KEY_INFO), key, 32, err);
}

int
chunk_id(const uint8_t key[32], const void *data, size_t len, uint8_t id[CHUNK_ID_LEN], pgark_err *err)
{
	return hmac_sha256(key, 32, data, len, id, err);
}

void
pack_object_name(const uint8_t pack[PACK_ID_LEN], char *out, size_t outlen)
{
	char		hex[2 * PACK_ID_LEN + 1];

	hex_encode(pack, PACK_ID_LEN, hex);
	snprintf(out, outlen, "packs/%.2s/%s", hex, hex);
}

/* ------------------------------------------------------------ writer */

typedef struct idx_entry
{
	uint8_t		id[CHUNK_ID_LEN];
	uint64_t	offset;
	uint32_t	len;
} idx_entry;

struct pack_writer
{
	repo	   *r;
	uint64_t	target;
	store_writer *sw;			/* open pack, or NULL */
	uint8_t		pack[PACK_ID_LEN];
	uint64_t	offset;			/* bytes in the open pack */
	uint64_t	total;			/* stored bytes, all packs */
	idx_entry  *idx;
	size_t		nidx, capidx;
	/* chunks gathered into one store write per WBUF_BYTES (a chunk stores
	 * in about 1.5 KiB: a write each would be a system call per chunk) */
	uint8_t    *wbuf;
	size_t		wlen;
};

#define WBUF_BYTES (1024u * 1024)

static int
wbuf_flush(pack_writer *pw, pgark_err *err)
{
	if (pw->wlen > 0 && store_put_write(pw->sw, pw->wbuf, pw->wlen, err) != 0)
		return -1;
	pw->wlen = 0;
	return 0;
}

typedef struct count_sink
{
	store_writer *sw;
	uint64_t	n;
} count_sink;

static int
sink_count(void *arg, const void *buf, size_t len, pgark_err *err)
{
	count_sink *c = arg;

	if (store_put_write(c->sw, buf, len, err) != 0)
		return -1;
	c->n += len;
	return 0;
}

pack_writer *
pack_writer_new(repo *r, uint64_t target_size, pgark_err *err)
{
	pack_writer *pw = calloc(1, sizeof(*pw));

	if (pw == NULL)
	{
		err_set(err, PGARK_ERR_INTERNAL, 0, "out of memory");
		return NULL;
	}
	pw->r = r;
	pw->target = target_size ? target_size : PACK_TARGET_SIZE;
	if ((pw->wbuf = malloc(WBUF_BYTES)) == NULL)
	{
		free(pw);
		err_set(err, PGARK_ERR_INTERNAL, 0, "out of memory");
		return NULL;
	}
	return pw;
}

static int
write_index(pack_writer *pw, pgark_err *err)
{
	char		name[128];
	obj_params	p;
	store_writer *sw = NULL;
	obj_writer *ow = NULL;
	count_sink	cs;
	int			rc = -1;

	pack_object_name(pw->pack, name, sizeof(name));
	strncat(name, ".idx", sizeof(name) - strlen(name) - 1);
	if (repo_object_params(pw->r, OBJ_LEN_UNKNOWN, &p, err) != 0 ||
		(sw = store_put_begin(pw->r->st, name, err)) == NULL)
		goto done;
	cs.sw = sw;
	cs.n = 0;
	if ((ow = obj_writer_new(&p, sink_count, &cs, err)) == NULL)
		goto done;
	{
		const char *head = "pgark-pack-index 1\n";

		if (obj_writer_write(ow, head, strlen(head), err) != 0)
			goto done;
	}
	for (size_t i = 0; i < pw->nidx; i++)
	{
		char		line[160], hex[2 * CHUNK_ID_LEN + 1];
		int			n;

		hex_encode(pw->idx[i].id, CHUNK_ID_LEN, hex);
		n = snprintf(line, sizeof(line), "%s %llu %u\n", hex, (unsigned long long) pw->idx[i].offset,
					 pw->idx[i].len);
		if (obj_writer_write(ow, line, (size_t) n, err) != 0)
			goto done;
	}
	if (obj_writer_finish(ow, NULL, err) != 0)
		goto done;
	/* in the background where the store can: the caller drains the store
	 * before it commits a manifest that refers to the pack */
	rc = store_put_commit_async(sw, STORE_NO_OVERWRITE | STORE_OWN_NAME, err);
	sw = NULL;
done:
	obj_writer_free(ow);
	store_put_abort(sw);
	return rc;
}

int
pack_flush(pack_writer *pw, pgark_err *err)
{
	store_writer *sw = pw->sw;

	if (sw == NULL)
		return 0;
	if (wbuf_flush(pw, err) != 0)
		return err_prefix(err, "storing a pack");
	pw->sw = NULL;
	if (store_put_commit_async(sw, STORE_NO_OVERWRITE | STORE_OWN_NAME, err) != 0)
		return err_prefix(err, "storing a pack");
	if (write_index(pw, err) != 0)
		return err_prefix(err, "storing a pack index");
	pw->nidx = 0;
	pw->offset = 0;
	return 0;
}

typedef struct mem_sink
{
	uint8_t    *out;
	size_t		cap;
	size_t		n;
} mem_sink;

static int
sink_mem(void *arg, const void *buf, size_t len, pgark_err *err)
{
	mem_sink   *m = arg;

	if (len > m->cap - m->n)
		return err_set(err, PGARK_ERR_INTERNAL, 0, "an encoded chunk is larger than %zu bytes", m->cap);
	memcpy(m->out + m->n, buf, len);
	m->n += len;
	return 0;
}

int
chunk_encode(repo *r, const void *data, size_t len, const uint8_t *salt, uint8_t *out, size_t cap,
			 size_t *outlen, pgark_err *err)
{
	obj_params	p;
	obj_writer *ow;
	mem_sink	ms = {out, cap, 0};

	if (repo_object_params(r, len, &p, err) != 0)
		return -1;
	p.frame_size = PACK_CHUNK_SIZE;
	p.salt = salt;
	if ((ow = obj_writer_new(&p, sink_mem, &ms, err)) == NULL)
		return -1;
	if (obj_writer_write(ow, data, len, err) != 0 || obj_writer_finish(ow, NULL, err) != 0)
	{
		obj_writer_free(ow);
		return -1;
	}
	obj_writer_free(ow);
	*outlen = ms.n;
	return 0;
}

int
pack_add_encoded(pack_writer *pw, const uint8_t id[CHUNK_ID_LEN], const uint8_t *obj, size_t objlen,
				 chunk_ref *ref, pgark_err *err)
{
	if (pw->sw == NULL)
	{
		char		name[128];

		if (random_bytes(pw->pack, PACK_ID_LEN, err) != 0)
			return -1;
		pack_object_name(pw->pack, name, sizeof(name));
		if ((pw->sw = store_put_begin(pw->r->st, name, err)) == NULL)
			return -1;
		pw->offset = 0;
		pw->nidx = 0;
		pw->wlen = 0;
	}
	if (pw->wlen + objlen > WBUF_BYTES && wbuf_flush(pw, err) != 0)
		return -1;
	if (objlen > WBUF_BYTES)
	{
		if (store_put_write(pw->sw, obj, objlen, err) != 0)
			return -1;
	}
	else
	{
		memcpy(pw->wbuf + pw->wlen, obj, objlen);
		pw->wlen += objlen;
	}
	memcpy(ref->id, id, CHUNK_ID_LEN);
	memcpy(ref->pack, pw->pack, PACK_ID_LEN);
	ref->offset = pw->offset;
	ref->len = (uint32_t) objlen;
	if (pw->nidx == pw->capidx)
	{
		size_t		cap = pw->capidx ? pw->capidx * 2 : 1024;
		idx_entry  *n = realloc(pw->idx, cap * sizeof(*n));

		if (n == NULL)
			return err_set(err, PGARK_ERR_INTERNAL, 0, "out of memory");
		pw->idx = n;
		pw->capidx = cap;
	}
	memcpy(pw->idx[pw->nidx].id, id, CHUNK_ID_LEN);
	pw->idx[pw->nidx].offset = pw->offset;
	pw->idx[pw->nidx].len = ref->len;
	pw->nidx++;
	pw->offset += objlen;
	pw->total += objlen;
	if (pw->offset >= pw->target)
		return pack_flush(pw, err);
	return 0;
}

int
pack_add(pack_writer *pw, const uint8_t id[CHUNK_ID_LEN], const void *data, size_t len,
		 chunk_ref *ref, pgark_err *err)
{
	uint8_t		obj[CHUNK_ENCODED_MAX];
	size_t		n;

	if (len > PACK_CHUNK_SIZE)
		return err_set(err, PGARK_ERR_INTERNAL, 0, "a chunk of %zu bytes", len);
	if (chunk_encode(pw->r, data, len, NULL, obj, sizeof(obj), &n, err) != 0)
		return -1;
	return pack_add_encoded(pw, id, obj, n, ref, err);
}

uint64_t
pack_writer_bytes(const pack_writer *pw)
{
	return pw->total;
}

void
pack_writer_free(pack_writer *pw)
{
	if (pw == NULL)
		return;
	store_put_abort(pw->sw);
	free(pw->idx);
	free(pw->wbuf);
	free(pw);
}

/* ------------------------------------------------------------ reader */

typedef struct pack_size
{
	uint8_t		pack[PACK_ID_LEN];
	uint64_t	size;
	int			used;
} pack_size;

typedef struct cache_block
{
	uint8_t		pack[PACK_ID_LEN];
	uint64_t	index;			/* offset / BLOCK_BYTES */
	uint32_t	len;			/* bytes held (the pack's last block is short) */
	uint64_t	last_use;		/* 0: empty */
	uint8_t    *data;
} cache_block;

/* A span of blocks read ahead. */
typedef enum ra_state
{
	RA_EMPTY,
	RA_QUEUED,
	RA_FETCHING,
	RA_READY,
	RA_FAILED
} ra_state;

typedef struct ra_slot
{
	ra_state	state;
	int			dropped;		/* no longer wanted: empty it when its fetch ends */
	uint8_t		pack[PACK_ID_LEN];
	uint64_t	first;			/* block index */
	uint32_t	nblocks;
	size_t		len;			/* bytes (the pack's last span is short) */
	uint64_t	seq;			/* queue order */
	uint8_t    *data;
} ra_slot;

typedef struct ra_conn
{
	struct chunk_reader *cr;
	store	   *st;
	pthread_t	th;
	int			started;
} ra_conn;

#define CHUNK_KEYS 64			/* more than DATA_KEYS_MAX */

struct chunk_reader
{
	repo	   *r;
	uint8_t		key[32];		/* the chunk id key of the current data key */
	/* the chunk id key of each data key met: a chunk's id was computed with
	 * the key derived from the data key current when it was stored, which
	 * is the one that sealed it (key-rotate --new-data-key) */
	pthread_mutex_t kmu;
	struct
	{
		uint8_t		dek_id[OBJ_DEK_ID_LEN];
		uint8_t		key[32];
	}			keys[CHUNK_KEYS];
	int			nkeys;
	/* decoders not in use (under kmu): one per decoding thread at most */
	struct chunk_dec *decs[WORKERS_MAX + 1];
	int			ndecs;
	uint8_t    *buf;			/* a range that spans blocks, assembled */
	uint8_t    *gather;			/* a run of several ranges, back to back */
	size_t		gather_cap;
	size_t		cap;
	uint8_t    *span;			/* a fetch of several blocks */
	size_t		span_cap;
	cache_block blocks[CACHE_BLOCKS];
	uint64_t	clock;
	pack_size  *sizes;			/* open addressing by the pack id's first bytes */
	size_t		nsizes;
	size_t		sizes_cap;		/* a power of two */
	uint64_t	fetched;
	workers    *wk;				/* decode on these threads, or NULL */

	/* read-ahead (nconns 0: none); slot states and the counters under mu */
	int			nconns;
	ra_conn		conns[RA_MAX_CONNS];
	ra_slot    *slots;
	int			nslots;
	pthread_mutex_t mu;
	pthread_cond_t work;		/* a slot was queued, or stop */
	pthread_cond_t done;		/* a fetch ended */
	int			stop;
	uint64_t	seq;
};

static void
count_fetched(chunk_reader *cr, uint64_t n)
{
	if (cr->nconns)
		pthread_mutex_lock(&cr->mu);
	cr->fetched += n;
	if (cr->nconns)
		pthread_mutex_unlock(&cr->mu);
}

/* Bytes [off, off + want) of a pack into buf, with one ranged read. */
static int
read_range(store *st, const char *name, uint64_t off, size_t want, uint8_t *buf, pgark_err *err)
{
	size_t		used = 0;
	store_reader *sr;

	if ((sr = store_get(st, name, off, want, err)) == NULL)
	{
		if (err->kind == PGARK_ERR_NOTFOUND)
			err_set(err, PGARK_ERR_CORRUPT, 0, "pack %s is missing from the repository", name);
		return -1;
	}
	while (used < want)
	{
		size_t		got;

		if (store_read(sr, buf + used, want - used, &got, err) != 0)
		{
			store_reader_close(sr);
			return -1;
		}
		if (got == 0)
			break;
		used += got;
	}
	store_reader_close(sr);
	if (used != want)
		return err_set(err, PGARK_ERR_CORRUPT, 0, "pack %s is shorter than its chunks say", name);
	return 0;
}

void
chunk_reader_set_workers(chunk_reader *cr, workers *wk)
{
	cr->wk = wk;
}

/* The size of a pack object (one HEAD per pack, remembered). */
static int
pack_object_size(chunk_reader *cr, const uint8_t pack[PACK_ID_LEN], uint64_t *size, pgark_err *err)
{
	uint64_t	h;
	size_t		i;
	char		name[128];
	store_stat	st;

	memcpy(&h, pack, sizeof(h));
	if (cr->sizes_cap)
		for (i = (size_t) h & (cr->sizes_cap - 1); cr->sizes[i].used; i = (i + 1) & (cr->sizes_cap - 1))
			if (memcmp(cr->sizes[i].pack, pack, PACK_ID_LEN) == 0)
			{
				*size = cr->sizes[i].size;
				return 0;
			}
	pack_object_name(pack, name, sizeof(name));
	if (store_head(cr->r->st, name, &st, err) != 0)
	{
		if (err->kind == PGARK_ERR_NOTFOUND)
			err_set(err, PGARK_ERR_CORRUPT, 0, "pack %s is missing from the repository", name);
		return -1;
	}
	if ((cr->nsizes + 1) * 2 > cr->sizes_cap)
	{
		size_t		ncap = cr->sizes_cap ? cr->sizes_cap * 2 : 64;
		pack_size  *n = calloc(ncap, sizeof(*n));

		if (n == NULL)
			return err_set(err, PGARK_ERR_INTERNAL, 0, "out of memory");
		for (size_t j = 0; j < cr->sizes_cap; j++)
			if (cr->sizes[j].used)
			{
				uint64_t	hj;
				size_t		k;

				memcpy(&hj, cr->sizes[j].pack, sizeof(hj));
				for (k = (size_t) hj & (ncap - 1); n[k].used; k = (k + 1) & (ncap - 1))
					;
				n[k] = cr->sizes[j];
			}
		free(cr->sizes);
		cr->sizes = n;
		cr->sizes_cap = ncap;
	}
	for (i = (size_t) h & (cr->sizes_cap - 1); cr->sizes[i].used; i = (i + 1) & (cr->sizes_cap - 1))
		;
	memcpy(cr->sizes[i].pack, pack, PACK_ID_LEN);
	cr->sizes[i].size = st.size;
	cr->sizes[i].used = 1;
	cr->nsizes++;
	*size = st.size;
	return 0;
}

static cache_block *
cache_find(chunk_reader *cr, const uint8_t pack[PACK_ID_LEN], uint64_t index)
{
	for (int i = 0; i < CACHE_BLOCKS; i++)
	{
		cache_block *b = &cr->blocks[i];

		if (b->last_use && b->index == index && memcmp(b->pack, pack, PACK_ID_LEN) == 0)
		{
			b->last_use = ++cr->clock;
			return b;
		}
	}
	return NULL;
}

/* The least recently used block, emptied, for reuse. */
static cache_block *
cache_victim(chunk_reader *cr, pgark_err *err)
{
	cache_block *v = &cr->blocks[0];

	for (int i = 1; i < CACHE_BLOCKS; i++)
		if (cr->blocks[i].last_use < v->last_use)
			v = &cr->blocks[i];
	if (v->data == NULL && (v->data = malloc(BLOCK_BYTES)) == NULL)
	{
		err_set(err, PGARK_ERR_INTERNAL, 0, "out of memory");
		return NULL;
	}
	v->last_use = 0;
	return v;
}

/* Put block i of a pack, len bytes at data, into the cache. */
static int
cache_put(chunk_reader *cr, const uint8_t pack[PACK_ID_LEN], uint64_t i, const uint8_t *data, size_t len,
		  pgark_err *err)
{
	cache_block *b = cache_victim(cr, err);

	if (b == NULL)
		return -1;
	memcpy(b->data, data, len);
	memcpy(b->pack, pack, PACK_ID_LEN);
	b->index = i;
	b->len = (uint32_t) len;
	b->last_use = ++cr->clock;
	return 0;
}

/* Fetch blocks [first, last] of a pack (none of them cached) with one read. */
static int
fetch_blocks(chunk_reader *cr, const uint8_t pack[PACK_ID_LEN], const char *name, uint64_t psize,
			 uint64_t first, uint64_t last, pgark_err *err)
{
	uint64_t	off = first * BLOCK_BYTES;
	uint64_t	end = (last + 1) * BLOCK_BYTES;
	size_t		want;

	if (end > psize)
		end = psize;
	want = (size_t) (end - off);
	if (cr->span_cap < want)
	{
		uint8_t    *b = realloc(cr->span, want);

		if (b == NULL)
			return err_set(err, PGARK_ERR_INTERNAL, 0, "out of memory");
		cr->span = b;
		cr->span_cap = want;
	}
	if (read_range(cr->r->st, name, off, want, cr->span, err) != 0)
		return -1;
	count_fetched(cr, want);
	for (uint64_t i = first; i <= last && (i - first) * BLOCK_BYTES < want; i++)
	{
		size_t		boff = (size_t) ((i - first) * BLOCK_BYTES);

		if (cache_put(cr, pack, i, cr->span + boff, want - boff < BLOCK_BYTES ? want - boff : BLOCK_BYTES,
					  err) != 0)
			return -1;
	}
	return 0;
}

/* ------------------------------------------------------------ read-ahead */

static void *
ra_main(void *arg)
{
	ra_conn    *c = arg;
	chunk_reader *cr = c->cr;

	pthread_mutex_lock(&cr->mu);
	for (;;)
	{
		ra_slot    *s = NULL;
		char		name[128];
		uint64_t	off;
		size_t		len;
		pgark_err	e;
		int			rc;

		while (!cr->stop)
		{
			s = NULL;
			for (int i = 0; i < cr->nslots; i++)
				if (cr->slots[i].state == RA_QUEUED && (s == NULL || cr->slots[i].seq < s->seq))
					s = &cr->slots[i];
			if (s != NULL)
				break;
			pthread_cond_wait(&cr->work, &cr->mu);
		}
		if (cr->stop)
			break;
		s->state = RA_FETCHING;
		pack_object_name(s->pack, name, sizeof(name));
		off = s->first * BLOCK_BYTES;
		len = s->len;
		pthread_mutex_unlock(&cr->mu);

		/* the slot's data is ours while it is RA_FETCHING */
		err_clear(&e);
		rc = read_range(c->st, name, off, len, s->data, &e);

		pthread_mutex_lock(&cr->mu);
		if (rc == 0)
			cr->fetched += len;
		if (s->dropped)
		{
			s->dropped = 0;
			s->state = RA_EMPTY;
		}
		else
			s->state = rc == 0 ? RA_READY : RA_FAILED;
		pthread_cond_broadcast(&cr->done);
	}
	pthread_mutex_unlock(&cr->mu);
	return NULL;
}

static void
ra_stop(chunk_reader *cr)
{
	if (cr->nconns == 0)
		return;
	pthread_mutex_lock(&cr->mu);
	cr->stop = 1;
	pthread_cond_broadcast(&cr->work);
	pthread_mutex_unlock(&cr->mu);
	for (int i = 0; i < cr->nconns; i++)
	{
		if (cr->conns[i].started)
			pthread_join(cr->conns[i].th, NULL);
		store_free(cr->conns[i].st);
	}
	for (int i = 0; i < cr->nslots; i++)
		free(cr->slots[i].data);
	free(cr->slots);
	pthread_cond_destroy(&cr->work);
	pthread_cond_destroy(&cr->done);
	pthread_mutex_destroy(&cr->mu);
	cr->nconns = 0;
}

int
chunk_reader_readahead(chunk_reader *cr, const pgark_config *cfg, int conns, pgark_err *err)
{
	if (cr->nconns || conns <= 0)
		return 0;
	if (conns > RA_MAX_CONNS)
		conns = RA_MAX_CONNS;
	if ((cr->slots = calloc((size_t) conns * 2, sizeof(*cr->slots))) == NULL)
		return err_set(err, PGARK_ERR_INTERNAL, 0, "out of memory");
	cr->nslots = conns * 2;
	for (int i = 0; i < cr->nslots; i++)
		if ((cr->slots[i].data = malloc(RA_SPAN_BYTES)) == NULL)
		{
			for (int j = 0; j < i; j++)
				free(cr->slots[j].data);
			free(cr->slots);
			cr->slots = NULL;
			cr->nslots = 0;
			return err_set(err, PGARK_ERR_INTERNAL, 0, "out of memory");
		}
	pthread_mutex_init(&cr->mu, NULL);
	pthread_cond_init(&cr->work, NULL);
	pthread_cond_init(&cr->done, NULL);
	cr->stop = 0;
	cr->nconns = conns;
	for (int i = 0; i < conns; i++)
	{
		ra_conn    *c = &cr->conns[i];
		int			e;

		c->cr = cr;
		if ((c->st = store_open(cfg, err)) == NULL)
		{
			err_prefix(err, "read-ahead connection %d", i + 1);
			ra_stop(cr);
			return -1;
		}
		if ((e = pthread_create(&c->th, NULL, ra_main, c)) != 0)
		{
			err_set(err, PGARK_ERR_INTERNAL, e, "could not start a read-ahead thread");
			ra_stop(cr);
			return -1;
		}
		c->started = 1;
	}
	return 0;
}

/* The slot holding block i of a pack, or NULL; under mu. */
static ra_slot *
ra_find(chunk_reader *cr, const uint8_t pack[PACK_ID_LEN], uint64_t i)
{
	for (int k = 0; k < cr->nslots; k++)
	{
		ra_slot    *s = &cr->slots[k];

		if (s->state != RA_EMPTY && !s->dropped && i >= s->first && i < s->first + s->nblocks &&
			memcmp(s->pack, pack, PACK_ID_LEN) == 0)
			return s;
	}
	return NULL;
}

/* Let go of a slot; under mu. */
static void
ra_release(ra_slot *s)
{
	if (s->state == RA_FETCHING)
		s->dropped = 1;			/* emptied when its fetch ends */
	else
		s->state = RA_EMPTY;
}

/*
 * Blocks [first, last] of a pack that were read ahead: wait for their spans
 * and move them into the cache. Returns how many spans were used.
 */
static int
ra_collect(chunk_reader *cr, const uint8_t pack[PACK_ID_LEN], uint64_t first, uint64_t last, pgark_err *err)
{
	int			used = 0;

	pthread_mutex_lock(&cr->mu);
	for (uint64_t i = first; i <= last; i++)
	{
		ra_slot    *s;

		if (cache_find(cr, pack, i) != NULL || (s = ra_find(cr, pack, i)) == NULL)
			continue;
		while (s->state == RA_QUEUED || s->state == RA_FETCHING)
			pthread_cond_wait(&cr->done, &cr->mu);
		if (s->state == RA_READY)
		{
			/* spans queued before this one were passed by: not needed */
			for (int k = 0; k < cr->nslots; k++)
				if (&cr->slots[k] != s && cr->slots[k].state != RA_EMPTY && !cr->slots[k].dropped &&
					cr->slots[k].seq < s->seq)
					ra_release(&cr->slots[k]);
			for (uint32_t k = 0; k < s->nblocks; k++)
			{
				size_t		boff = (size_t) k * BLOCK_BYTES;

				if (cache_find(cr, pack, s->first + k) != NULL)
					continue;
				if (cache_put(cr, pack, s->first + k, s->data + boff,
							  s->len - boff < BLOCK_BYTES ? s->len - boff : BLOCK_BYTES, err) != 0)
				{
					pthread_mutex_unlock(&cr->mu);
					return -1;
				}
			}
			used++;
		}
		/* a failed span is read again by the caller, which reports why */
		s->state = RA_EMPTY;
	}
	pthread_mutex_unlock(&cr->mu);
	return used;
}

/* Is there room to queue more read-ahead? */
int
chunk_reader_wants_more(chunk_reader *cr)
{
	int			room = 0;

	if (cr->nconns == 0)
		return 0;
	pthread_mutex_lock(&cr->mu);
	for (int k = 0; k < cr->nslots && !room; k++)
		room = cr->slots[k].state == RA_EMPTY && !cr->slots[k].dropped;
	pthread_mutex_unlock(&cr->mu);
	return room;
}

/* Queue block b of a pack of psize bytes: extend the newest span if it is
 * still waiting and ends just before b, else a free slot; -1: none free. */
static int
ra_queue_block(chunk_reader *cr, const uint8_t pack[PACK_ID_LEN], uint64_t psize, uint64_t b)
{
	ra_slot    *tail = NULL,
			   *s = NULL;

	for (int k = 0; k < cr->nslots; k++)
		if (cr->slots[k].state != RA_EMPTY && !cr->slots[k].dropped &&
			(tail == NULL || cr->slots[k].seq > tail->seq))
			tail = &cr->slots[k];
	if (tail != NULL && tail->state == RA_QUEUED && tail->first + tail->nblocks == b &&
		tail->nblocks < RA_SPAN_BLOCKS && memcmp(tail->pack, pack, PACK_ID_LEN) == 0)
	{
		tail->nblocks++;
		tail->len = (size_t) (((b + 1) * BLOCK_BYTES < psize ? (b + 1) * BLOCK_BYTES : psize) -
							  tail->first * BLOCK_BYTES);
		return 0;
	}
	for (int k = 0; k < cr->nslots && s == NULL; k++)
		if (cr->slots[k].state == RA_EMPTY && !cr->slots[k].dropped)
			s = &cr->slots[k];
	if (s == NULL)
		return -1;
	memcpy(s->pack, pack, PACK_ID_LEN);
	s->first = b;
	s->nblocks = 1;
	s->len = (size_t) ((b + 1) * BLOCK_BYTES < psize ? BLOCK_BYTES : psize - b * BLOCK_BYTES);
	s->seq = ++cr->seq;
	s->state = RA_QUEUED;
	return 0;
}

size_t
chunk_reader_expect(chunk_reader *cr, const chunk_ref *refs, size_t n, pgark_err *err)
{
	size_t		took;

	if (cr->nconns == 0)
		return n;
	for (took = 0; took < n; took++)
	{
		const chunk_ref *ref = &refs[took];
		uint64_t	psize;
		uint64_t	first = ref->offset / BLOCK_BYTES;
		uint64_t	last;
		int			full = 0;

		/* the pack's size bounds its last span (a HEAD, once per pack) */
		if (pack_object_size(cr, ref->pack, &psize, err) != 0)
			break;
		if (ref->len == 0 || ref->offset + ref->len > psize)
			continue;			/* damaged: the restore's own read reports it */
		last = (ref->offset + ref->len - 1) / BLOCK_BYTES;
		pthread_mutex_lock(&cr->mu);
		/* room for all of its blocks, or it waits for the next call whole */
		{
			int			need = 0,
						freeslots = 0;

			for (uint64_t b = first; b <= last; b++)
				if (ra_find(cr, ref->pack, b) == NULL && cache_find(cr, ref->pack, b) == NULL)
					need++;
			for (int k = 0; k < cr->nslots; k++)
				if (cr->slots[k].state == RA_EMPTY && !cr->slots[k].dropped)
					freeslots++;
			full = need > freeslots;
		}
		if (!full)
			for (uint64_t b = first; b <= last; b++)
				if (ra_find(cr, ref->pack, b) == NULL && cache_find(cr, ref->pack, b) == NULL)
					(void) ra_queue_block(cr, ref->pack, psize, b);
		pthread_cond_broadcast(&cr->work);
		pthread_mutex_unlock(&cr->mu);
		if (full)
			break;
	}
	return took;
}

/* Point *out at bytes [off, off + len) of a pack, through the cache. */
static int
cache_read(chunk_reader *cr, const uint8_t pack[PACK_ID_LEN], uint64_t off, uint64_t len,
		   const uint8_t **out, pgark_err *err)
{
	char		name[128];
	uint64_t	psize = 0;
	uint64_t	first = off / BLOCK_BYTES;
	uint64_t	last = (off + len - 1) / BLOCK_BYTES;
	size_t		copied = 0;

	pack_object_name(pack, name, sizeof(name));
	if (pack_object_size(cr, pack, &psize, err) != 0)
		return -1;
	if (len == 0 || off + len > psize)
		return err_set(err, PGARK_ERR_CORRUPT, 0, "pack %s is shorter than its chunks say", name);
	if (cr->nconns && ra_collect(cr, pack, first, last, err) < 0)
		return -1;
	/* fetch what is missing, contiguous missing blocks in one read */
	for (uint64_t i = first; i <= last;)
	{
		uint64_t	j = i;

		if (cache_find(cr, pack, i) != NULL)
		{
			i++;
			continue;
		}
		while (j + 1 <= last && cache_find(cr, pack, j + 1) == NULL)
			j++;
		if (fetch_blocks(cr, pack, name, psize, i, j, err) != 0)
			return -1;
		i = j + 1;
	}
	if (first == last)
	{
		cache_block *b = cache_find(cr, pack, first);

		if (b == NULL || off - first * BLOCK_BYTES + len > b->len)
			return err_set(err, PGARK_ERR_INTERNAL, 0, "pack cache: block of %s missing", name);
		*out = b->data + (off - first * BLOCK_BYTES);
		return 0;
	}
	if (cr->cap < len)
	{
		uint8_t    *nb = realloc(cr->buf, len);

		if (nb == NULL)
			return err_set(err, PGARK_ERR_INTERNAL, 0, "out of memory");
		cr->buf = nb;
		cr->cap = len;
	}
	for (uint64_t i = first; i <= last; i++)
	{
		cache_block *b = cache_find(cr, pack, i);
		uint64_t	bstart = i * BLOCK_BYTES;
		uint64_t	from = off > bstart ? off - bstart : 0;
		uint64_t	to = off + len - bstart < BLOCK_BYTES ? off + len - bstart : BLOCK_BYTES;

		/* a run longer than the cache cannot all be cached at once */
		if (b == NULL)
		{
			if (fetch_blocks(cr, pack, name, psize, i, i, err) != 0 ||
				(b = cache_find(cr, pack, i)) == NULL)
				return -1;
		}
		if (to > b->len)
			return err_set(err, PGARK_ERR_CORRUPT, 0, "pack %s is shorter than its chunks say", name);
		memcpy(cr->buf + copied, b->data + from, (size_t) (to - from));
		copied += (size_t) (to - from);
	}
	*out = cr->buf;
	return 0;
}

chunk_reader *
chunk_reader_new(repo *r, pgark_err *err)
{
	chunk_reader *cr = calloc(1, sizeof(*cr));

	if (cr == NULL)
	{
		err_set(err, PGARK_ERR_INTERNAL, 0, "out of memory");
		return NULL;
	}
	cr->r = r;
	pthread_mutex_init(&cr->kmu, NULL);
	if (chunk_key(r, cr->key, err) != 0)
	{
		pthread_mutex_destroy(&cr->kmu);
		free(cr);
		return NULL;
	}
	return cr;
}

/* The chunk id key of the data key that sealed a chunk (h: its header). */
static int
chunk_key_of(chunk_reader *cr, const obj_header *h, uint8_t key[32], pgark_err *err)
{
	const obj_dek *dek;
	int			rc = 0;

	if (h->cipher == OBJ_CIPHER_NONE)
	{
		memset(key, 0, 32);
		return 0;
	}
	pthread_mutex_lock(&cr->kmu);
	for (int i = 0; i < cr->nkeys; i++)
		if (memcmp(cr->keys[i].dek_id, h->dek_id, OBJ_DEK_ID_LEN) == 0)
		{
			memcpy(key, cr->keys[i].key, 32);
			pthread_mutex_unlock(&cr->kmu);
			return 0;
		}
	if ((dek = keyring_get_dek(cr->r->kr, h->dek_id, err)) == NULL ||
		hkdf_sha256(NULL, 0, dek->key, AES256_KEY_LEN, (const uint8_t *) CHUNK_KEY_INFO,
					strlen(CHUNK_KEY_INFO), key, 32, err) != 0)
		rc = -1;
	else if (cr->nkeys < CHUNK_KEYS)
	{
		memcpy(cr->keys[cr->nkeys].dek_id, h->dek_id, OBJ_DEK_ID_LEN);
		memcpy(cr->keys[cr->nkeys].key, key, 32);
		cr->nkeys++;
	}
	pthread_mutex_unlock(&cr->kmu);
	return rc;
}

/*
 * What one decoding thread keeps from chunk to chunk: its decoder, and the
 * chunk id key of the data key of the last chunk (chunks of a backup share
 * one: no lookup under kmu per chunk).
 */
typedef struct chunk_dec
{
	obj_decoder *od;
	int			have_key;
	uint8_t		dek_id[OBJ_DEK_ID_LEN];
	uint8_t		key[32];
} chunk_dec;

static void
chunk_dec_free(chunk_dec *cd)
{
	if (cd == NULL)
		return;
	obj_decoder_free(cd->od);
	secure_zero(cd, sizeof(*cd));
	free(cd);
}

/* A decoder for this thread: one put back by another, or a new one. */
static chunk_dec *
decoder_get(chunk_reader *cr, pgark_err *err)
{
	chunk_dec  *cd = NULL;

	pthread_mutex_lock(&cr->kmu);
	if (cr->ndecs > 0)
		cd = cr->decs[--cr->ndecs];
	pthread_mutex_unlock(&cr->kmu);
	if (cd != NULL)
		return cd;
	if ((cd = calloc(1, sizeof(*cd))) == NULL)
	{
		err_set(err, PGARK_ERR_INTERNAL, 0, "out of memory");
		return NULL;
	}
	if ((cd->od = repo_object_decoder(cr->r, err)) == NULL)
	{
		free(cd);
		return NULL;
	}
	return cd;
}

static void
decoder_put(chunk_reader *cr, chunk_dec *cd)
{
	pthread_mutex_lock(&cr->kmu);
	if (cr->ndecs < (int) (sizeof(cr->decs) / sizeof(cr->decs[0])))
	{
		cr->decs[cr->ndecs++] = cd;
		cd = NULL;
	}
	pthread_mutex_unlock(&cr->kmu);
	chunk_dec_free(cd);
}

typedef struct decode_ctx
{
	chunk_reader *cr;
	const chunk_ref *refs;
	const uint32_t *plain_lens;
	const uint8_t *run;
	size_t	   *offs;
	uint8_t    *out;
	int			n;
	chunk_sink_fn sink;
	void	   *sink_arg;
} decode_ctx;

/* Chunk i of a run: decrypt, decompress, check its length and id. */
static int
decode_chunk(decode_ctx *d, chunk_dec *cd, size_t i, pgark_err *err)
{
	const obj_header *h = repo_decode_open(d->cr->r, cd->od, d->run + d->offs[i], d->refs[i].len, err);
	uint8_t    *dst = d->out + i * PACK_CHUNK_SIZE;
	size_t		have;
	uint8_t		id[CHUNK_ID_LEN];

	if (h == NULL)
		goto damaged;
	/* the chunk id key: the same as the last chunk's, or looked up */
	if (!cd->have_key || memcmp(cd->dek_id, h->dek_id, OBJ_DEK_ID_LEN) != 0)
	{
		cd->have_key = 0;
		if (chunk_key_of(d->cr, h, cd->key, err) != 0)
			return -1;			/* a key problem, not damage */
		memcpy(cd->dek_id, h->dek_id, OBJ_DEK_ID_LEN);
		cd->have_key = 1;
	}
	/* a chunk is never larger than PACK_CHUNK_SIZE: more is damage */
	if (obj_decode_read(cd->od, dst, PACK_CHUNK_SIZE, &have, err) != 0)
		goto damaged;
	if (have != d->plain_lens[i])
	{
		err_set(err, PGARK_ERR_CORRUPT, 0, "chunk holds %zu bytes, the manifest says %u", have, d->plain_lens[i]);
		goto damaged;
	}
	if (chunk_id(cd->key, dst, have, id, err) != 0)
		return -1;
	if (CRYPTO_memcmp(id, d->refs[i].id, CHUNK_ID_LEN) != 0)
	{
		err_set(err, PGARK_ERR_CORRUPT, 0, "chunk content does not match its id");
		goto damaged;
	}
	return 0;
damaged:
	{
		char		name[128];

		pack_object_name(d->refs[i].pack, name, sizeof(name));
		return err_prefix(err, "pack %s, chunk at offset %llu", name, (unsigned long long) d->refs[i].offset);
	}
}

static int
decode_one(void *arg, size_t i, pgark_err *err)
{
	decode_ctx *d = arg;
	chunk_dec  *cd = decoder_get(d->cr, err);
	int			rc;

	if (cd == NULL)
		return -1;
	rc = decode_chunk(d, cd, i, err);
	decoder_put(d->cr, cd);
	return rc;
}

/* Group g of a run: its chunks decoded, then handed to the sink. */
static int
decode_group(void *arg, size_t g, pgark_err *err)
{
	decode_ctx *d = arg;
	size_t		first = g * CHUNK_GROUP;
	size_t		end = first + CHUNK_GROUP < (size_t) d->n ? first + CHUNK_GROUP : (size_t) d->n;
	size_t		bytes = 0;
	chunk_dec  *cd = decoder_get(d->cr, err);
	int			rc = 0;

	if (cd == NULL)
		return -1;
	for (size_t i = first; i < end && rc == 0; i++)
	{
		if ((rc = decode_chunk(d, cd, i, err)) != 0)
			break;
		/* only a run's last chunk may be short: the group is contiguous */
		if (i + 1 < end && d->plain_lens[i] != PACK_CHUNK_SIZE)
			rc = err_set(err, PGARK_ERR_INTERNAL, 0, "a short chunk inside a run");
		bytes += d->plain_lens[i];
	}
	decoder_put(d->cr, cd);
	if (rc != 0)
		return -1;
	return d->sink(d->sink_arg, first, d->out + first * PACK_CHUNK_SIZE, bytes, err);
}

int
chunk_read_run(chunk_reader *cr, const chunk_ref *refs, const uint32_t *plain_lens, int n,
			   uint8_t *out, pgark_err *err)
{
	return chunk_read_run_to(cr, refs, plain_lens, n, out, NULL, NULL, err);
}

int
chunk_follows(const chunk_ref *a, const chunk_ref *b)
{
	return memcmp(b->pack, a->pack, PACK_ID_LEN) == 0 && b->offset == a->offset + a->len;
}

int
chunk_read_run_to(chunk_reader *cr, const chunk_ref *refs, const uint32_t *plain_lens, int n,
				  uint8_t *out, chunk_sink_fn sink, void *sink_arg, pgark_err *err)
{
	uint64_t	total = 0;
	size_t		used = 0,
				gathered = 0;
	const uint8_t *run = NULL;
	int			rc = 0,
				ranges = 1;

	for (int i = 0; i < n; i++)
	{
		total += refs[i].len;
		if (i > 0 && !chunk_follows(&refs[i - 1], &refs[i]))
			ranges++;
	}
	if (total > RUN_MAX_BYTES + PACK_CHUNK_SIZE * 2)
		return err_set(err, PGARK_ERR_INTERNAL, 0, "chunk run too long");
	if (ranges > 1 && cr->gather_cap < total)
	{
		uint8_t    *nb = realloc(cr->gather, total);

		if (nb == NULL)
			return err_set(err, PGARK_ERR_INTERNAL, 0, "out of memory");
		cr->gather = nb;
		cr->gather_cap = total;
	}
	/*
	 * The run's stored bytes, range by range (chunks back to back in one
	 * pack): one range is decoded where it lies; several (a file whose
	 * unchanged chunks lie in older packs between its new ones) are gathered
	 * back to back first, so that the run still goes to the decoding threads
	 * whole.
	 */
	for (int i = 0, j; i < n; i = j)
	{
		uint64_t	len = refs[i].len;
		const uint8_t *p = NULL;

		for (j = i + 1; j < n && chunk_follows(&refs[j - 1], &refs[j]); j++)
			len += refs[j].len;
		if (cache_read(cr, refs[i].pack, refs[i].offset, len, &p, err) != 0)
			return -1;
		if (ranges == 1)
		{
			run = p;
			break;
		}
		memcpy(cr->gather + gathered, p, len);
		gathered += len;
		run = cr->gather;
	}

	{
		decode_ctx	d = {cr, refs, plain_lens, run, NULL, out, n, sink, sink_arg};
		workers_fn	fn = sink ? decode_group : decode_one;
		size_t		items = sink ? ((size_t) n + CHUNK_GROUP - 1) / CHUNK_GROUP : (size_t) n;

		if ((d.offs = malloc((size_t) n * sizeof(size_t))) == NULL)
			return err_set(err, PGARK_ERR_INTERNAL, 0, "out of memory");
		for (int i = 0; i < n; i++)
		{
			d.offs[i] = used;
			used += refs[i].len;
		}
		if (cr->wk)
			rc = workers_for(cr->wk, items, fn, &d, err);
		else
			for (size_t i = 0; i < items && rc == 0; i++)
				rc = fn(&d, i, err);
		free(d.offs);
	}
	return rc;
}

uint64_t
chunk_reader_bytes(chunk_reader *cr)
{
	uint64_t	n;

	if (cr->nconns)
		pthread_mutex_lock(&cr->mu);
	n = cr->fetched;
	if (cr->nconns)
		pthread_mutex_unlock(&cr->mu);
	return n;
}

void
chunk_reader_free(chunk_reader *cr)
{
	if (cr == NULL)
		return;
	ra_stop(cr);
	secure_zero(cr->key, sizeof(cr->key));
	secure_zero(cr->keys, sizeof(cr->keys));
	for (int i = 0; i < cr->ndecs; i++)
		chunk_dec_free(cr->decs[i]);
	pthread_mutex_destroy(&cr->kmu);
	for (int i = 0; i < CACHE_BLOCKS; i++)
		free(cr->blocks[i].data);
	free(cr->span);
	free(cr->sizes);
	free(cr->buf);
	free(cr->gather);
	free(cr);
}
