/*
 * store.h — object storage, one interface for every backend.
 *
 * Names are relative, '/'-separated, made of [A-Za-z0-9._-] components that do
 * not start with '.'; store_name_valid() says which are allowed, and every
 * entry point refuses others (no "..", no absolute paths).
 *
 * Contract of every backend:
 *  - put: data streamed through a writer is invisible under its name until
 *    store_writer_commit() returns 0, and is then durable (on local storage:
 *    the file fsync'd before it is renamed into place, the directory after).
 *    With STORE_NO_OVERWRITE, commit fails with PGARK_ERR_EXISTS if the name
 *    exists, atomically (two racing writers: exactly one wins).  Abort, or a
 *    crash at any point, leaves nothing under the name.
 *  - get: a reader of the whole object or of a range; PGARK_ERR_NOTFOUND if
 *    the object does not exist, PGARK_ERR_CORRUPT if it does not hold the
 *    whole range (never a short read).
 *  - head: size of an object, or PGARK_ERR_NOTFOUND. On S3 a HEAD of an
 *    object in a bucket that does not exist is also a bodiless 404, hence
 *    NOTFOUND: where "absent" would be taken as fine, ask with get, whose
 *    answer tells NoSuchKey (NOTFOUND) from NoSuchBucket (an error).
 *  - list: every object whose name starts with prefix, in no promised order.
 *  - remove: deleting a name that does not exist is not an error.
 *  - a store is used by one thread at a time (open one per thread).
 *  - sync: make an existing object durable (whoever wrote it may have died
 *    before it was): before trusting an object found already present.
 */
#ifndef PGARK_STORE_H
#define PGARK_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "err.h"

#define STORE_NO_OVERWRITE 0x01
/*
 * With STORE_NO_OVERWRITE: the name is this writer's alone (a random or
 * per-run name, as a pack's or a manifest's), so an object found there after
 * a completion whose answer was lost is the writer's own when it has the
 * size written. Without it, a commit that finds an object there fails with
 * PGARK_ERR_EXISTS and the caller compares the content (a WAL segment's name
 * is shared by every archiver that may push it).
 */
#define STORE_OWN_NAME 0x02

typedef struct store store;
typedef struct store_writer store_writer;
typedef struct store_reader store_reader;

typedef struct store_stat
{
	uint64_t	size;
	int64_t		mtime;			/* seconds since the epoch */
} store_stat;

typedef int (*store_list_fn) (void *arg, const char *name, const store_stat *st, pgark_err *err);

/* The driver table; backends live in store_<name>.c. */
typedef struct store_ops
{
	const char *name;
	store_writer *(*put_begin) (store *st, const char *name, pgark_err *err);
	int			(*put_write) (store_writer *w, const void *buf, size_t len, pgark_err *err);
	int			(*put_commit) (store_writer *w, int flags, pgark_err *err);
	/* may return before the object is stored; NULL: put_commit */
	int			(*put_commit_async) (store_writer *w, int flags, pgark_err *err);
	/* wait for every async commit; NULL: nothing to wait for */
	int			(*drain) (store *st, pgark_err *err);
	void		(*put_abort) (store_writer *w);
	store_reader *(*get) (store *st, const char *name, uint64_t offset, uint64_t len, pgark_err *err);
	int			(*read) (store_reader *r, void *buf, size_t len, size_t *got, pgark_err *err);
	void		(*reader_close) (store_reader *r);
	int			(*head) (store *st, const char *name, store_stat *out, pgark_err *err);
	int			(*list) (store *st, const char *prefix, store_list_fn fn, void *arg, pgark_err *err);
	int			(*remove) (store *st, const char *name, pgark_err *err);
	/* many names at once (S3 DeleteObjects); NULL: store.c calls remove for each */
	int			(*remove_many) (store *st, const char *const *names, size_t n, pgark_err *err);
	int			(*sync) (store *st, const char *name, pgark_err *err);
	void		(*free) (store *st);
} store_ops;

struct store
{
	const store_ops *ops;
	char		where[1024];	/* for messages: "/var/lib/pgark" or "s3://bucket/prefix" */
};

/* Open the backend named by [repo] type. */
store	   *store_open(const pgark_config *cfg, pgark_err *err);
store	   *store_local_open(const char *root, pgark_err *err);
store	   *store_s3_open(const pgark_config *cfg, pgark_err *err);
void		store_free(store *st);

int			store_name_valid(const char *name);

store_writer *store_put_begin(store *st, const char *name, pgark_err *err);
int			store_put_write(store_writer *w, const void *buf, size_t len, pgark_err *err);
/* Commit consumes the writer whatever the result. */
int			store_put_commit(store_writer *w, int flags, pgark_err *err);
void		store_put_abort(store_writer *w);

/*
 * A commit that may return before the object is stored, so that uploads
 * overlap with the caller's work (S3: [repo] transfers background uploads,
 * each on its own connection). 0 means accepted; the outcome comes from
 * store_drain(), which must return 0 before anything that refers to the
 * object (a manifest) is committed. Blocks while `transfers` uploads are in
 * flight. After a failure, later async commits fail at once and queued ones
 * are aborted. Local storage commits at once.
 */
int			store_put_commit_async(store_writer *w, int flags, pgark_err *err);
int			store_drain(store *st, pgark_err *err);

/* len 0 = to the end. */
store_reader *store_get(store *st, const char *name, uint64_t offset, uint64_t len, pgark_err *err);
int			store_read(store_reader *r, void *buf, size_t len, size_t *got, pgark_err *err);
/* store_read with a void * reader: an obj_source_fn over a store_reader. */
int			store_read_source(void *reader, void *buf, size_t len, size_t *got, pgark_err *err);
void		store_reader_close(store_reader *r);

int			store_head(store *st, const char *name, store_stat *out, pgark_err *err);
int			store_list(store *st, const char *prefix, store_list_fn fn, void *arg, pgark_err *err);
int			store_remove(store *st, const char *name, pgark_err *err);
/* Remove n names, in batches where the backend has them; missing names are not an error. */
int			store_remove_many(store *st, const char *const *names, size_t n, pgark_err *err);
int			store_sync(store *st, const char *name, pgark_err *err);

/* Small objects whole (at most maxlen bytes, else CORRUPT). *out is malloc'd. */
int			store_put_buf(store *st, const char *name, const void *buf, size_t len, int flags,
						  pgark_err *err);
int			store_get_buf(store *st, const char *name, size_t maxlen, uint8_t **out, size_t *outlen,
						  pgark_err *err);

#endif
